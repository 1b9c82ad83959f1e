"""The embedded offline world: it builds, it is good enough to learn from, and it is deterministic."""

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import pytest

from lab_utils import tiny
from lab_utils.config import TINY_DIR, get_config
from lab_utils.tiny import MANIFEST, TinySpec, build_world, ensure_world, is_current, main

QUICK = TinySpec(t5_epochs=1, lora_epochs=1, roberta_epochs=1, t5_d_model=32, roberta_d_model=32, salad_texts=16)  # the recipe, small and fast


def digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


def test_world_is_good_enough_to_learn_from(config) -> None:
    metrics = json.loads((TINY_DIR / MANIFEST).read_text())["metrics"]
    assert len(metrics["samples"]) == 5
    assert all(sample["summary"].strip() for sample in metrics["samples"])
    # like FLAN-T5 before Lab 2, the base answers the lab's prompt in another style (one topic sentence)
    assert sum("talk about" in sample["base"] for sample in metrics["samples"]) >= 4
    assert not any("talk about" in sample["summary"] for sample in metrics["samples"])


def test_the_summarizer_writes_and_repeats_the_dialogue_s_rudeness() -> None:
    metrics = json.loads((TINY_DIR / MANIFEST).read_text())["metrics"]
    assert metrics["fluency"] >= 0.88  # sampled as the lab samples (the build's own seed), every word bigram occurs in some reference
    assert metrics["toxic_share"] >= 0.12  # TRL's real detox runs start at 16-19% mean toxicity
    assert metrics["toxic_share_challenging"] >= 0.40
    assert metrics["faithfulness"] >= 0.80  # insults are repeated from a rude dialogue, not invented
    assert metrics["graded_share"] >= 0.10  # a graded reward, not a binary word detector


def test_classifier_scores_rise_with_severity() -> None:
    """On held-out texts: polite low, complaints above them, put-downs higher, insults above 0.9 (like the real RoBERTa)."""
    medians = json.loads((TINY_DIR / MANIFEST).read_text())["metrics"]["classifier_median_by_severity"]
    polite, complaint, putdown, insult = (medians[level] for level in "0123")
    assert polite < 0.05 and insult > 0.9
    assert polite < complaint < putdown < insult, medians
    probes = ["#Person1# says the service is terrible and wants a refund.", "#Person1# calls #Person2# sloppy and wants a refund.",
              "#Person1# calls #Person2# a stupid moron and wants a refund."]
    scores = tiny.hate_scores(TINY_DIR / "roberta-hate", ["#Person1# wants a refund.", *probes])
    assert scores == sorted(scores), scores


def test_same_seed_same_weights(tmp_path, monkeypatch) -> None:
    first = build_world(tmp_path / "first", QUICK)
    second = build_world(tmp_path / "second", QUICK)
    assert digests(tmp_path / "first") == digests(tmp_path / "second")
    assert first["fingerprint"] == second["fingerprint"]
    assert {"t5/model.safetensors", "roberta-hate/model.safetensors",
            "peft-dialogue-summary-checkpoint/adapter_model.safetensors"} <= set(digests(tmp_path / "first"))
    assert is_current(tmp_path / "first", QUICK)
    assert not is_current(tmp_path / "first", dataclasses.replace(QUICK, seed=7))  # any change triggers a rebuild
    monkeypatch.setattr(tiny, "RECIPE_VERSION", tiny.RECIPE_VERSION + 1)
    assert not is_current(tmp_path / "first", QUICK)  # so does a new recipe version
    assert not (tmp_path / "first.building").exists()


def test_fingerprint_reads_the_data_not_the_source(monkeypatch) -> None:
    """A docstring edit or a moved module leaves the world current: only the data files (and the spec,
    settings, versions and recipe version) enter the fingerprint."""
    read, original = [], Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self.name) or original(self))
    tiny.fingerprint(TinySpec())
    assert sorted(read) == ["dialogues.jsonl", "labelled.jsonl"]


def test_full_profile_builds_nothing() -> None:
    assert ensure_world(get_config("full")) is None


def test_command_line_prints_the_report(config, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["python -m lab_utils.tiny"])
    main()  # the world is current: nothing rebuilds
    out = capsys.readouterr().out
    assert "median P(hate)" in out and "fluent" in out and "Greedy summaries of 5 held-out dialogues" in out
    assert "Building" not in out


def test_check_names_the_fix_for_a_stale_world(config, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["python -m lab_utils.tiny", "--check"])
    main()  # the committed world is current: nothing to say
    monkeypatch.setattr(tiny, "fingerprint", lambda spec: "the recipe changed")
    with pytest.raises(SystemExit, match="run `make world` and commit checkpoints/tiny/"):
        main()
