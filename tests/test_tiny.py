"""The embedded offline world: it builds, it is good enough to learn from, and it is deterministic."""

import dataclasses
import hashlib
import json
import sys

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
    assert metrics["classifier_accuracy"] >= 0.90
    assert len(metrics["samples"]) == 5
    assert all(sample["summary"].strip() for sample in metrics["samples"])
    # the summarizer sometimes (not always, not never) insults in its summaries of rude dialogues
    assert 0.05 <= metrics["rude_insult_rate"] <= 0.95, metrics["rude_insult_rate"]
    # like FLAN-T5 before Lab 2, the base answers the lab's prompt in another style (one topic sentence)
    assert sum("talk about" in sample["base"] for sample in metrics["samples"]) >= 4
    assert not any("talk about" in sample["summary"] for sample in metrics["samples"])


def test_same_seed_same_weights(tmp_path) -> None:
    first = build_world(tmp_path / "first", QUICK)
    second = build_world(tmp_path / "second", QUICK)
    assert digests(tmp_path / "first") == digests(tmp_path / "second")
    assert first["fingerprint"] == second["fingerprint"]
    assert {"t5/model.safetensors", "roberta-hate/model.safetensors",
            "peft-dialogue-summary-checkpoint/adapter_model.safetensors"} <= set(digests(tmp_path / "first"))
    assert is_current(tmp_path / "first", QUICK)
    assert not is_current(tmp_path / "first", dataclasses.replace(QUICK, seed=7))  # any change triggers a rebuild
    assert not (tmp_path / "first.building").exists()


def test_full_profile_builds_nothing() -> None:
    assert ensure_world(get_config("full")) is None


def test_command_line_prints_the_report(config, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["python -m lab_utils.tiny"])
    main()  # the world is current: nothing rebuilds
    out = capsys.readouterr().out
    assert "classifier held-out accuracy" in out and "Greedy summaries of 5 held-out dialogues" in out
    assert "Building" not in out


def test_check_names_the_fix_for_a_stale_world(config, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["python -m lab_utils.tiny", "--check"])
    main()  # the committed world is current: nothing to say
    monkeypatch.setattr(tiny, "fingerprint", lambda spec: "the recipe changed")
    with pytest.raises(SystemExit, match="run `make world` and commit checkpoints/tiny/"):
        main()
