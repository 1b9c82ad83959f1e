"""The embedded data sets and build_dataset: schema, bounds, prompt text, split, bad input."""

import dataclasses
import json
import math

import pytest
from datasets import Dataset

from lab_utils.config import PROMPT_TEMPLATE
from lab_utils.data import build_dataset, collator, drop_bad_dialogues, load_dialogues, tokenize_prompt
from lab_utils.tiny import DIALOGUES_FILE, LABELLED_FILE

INSULTS = ("idiot", "stupid", "useless", "moron", "clown", "fool", "pathetic", "dumb", "lazy", "worthless", "loser")


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_embedded_dialogues_follow_dialogsum_schema() -> None:
    dialogues = rows(DIALOGUES_FILE)
    assert len(dialogues) >= 200
    assert len({d["id"] for d in dialogues}) == len(dialogues)
    for d in dialogues:
        assert list(d)[:4] == ["id", "dialogue", "summary", "topic"]
        assert 200 < len(d["dialogue"]) <= 1000
        assert d["dialogue"].startswith("#Person1#: ") and "\n#Person2#: " in d["dialogue"]
    rude = [d for d in dialogues if any(word in d["dialogue"].lower() for word in INSULTS)]
    assert 0.15 <= len(rude) / len(dialogues) <= 0.25
    rude_summaries = [d for d in rude if any(word in d["summary"].lower() for word in INSULTS)]
    assert 0.5 <= len(rude_summaries) / len(rude) < 1.0  # some, not all, rude references carry the insult


def test_labelled_set_is_balanced_with_a_held_out_split() -> None:
    labelled = rows(LABELLED_FILE)
    assert len(labelled) >= 400
    for split in ("train", "test"):
        labels = [r["label"] for r in labelled if r["split"] == split]
        assert labels.count("hate") == labels.count("nothate") > 0
    train = {r["text"] for r in labelled if r["split"] == "train"}
    assert not train & {r["text"] for r in labelled if r["split"] == "test"}


def test_build_dataset_on_the_embedded_world(config, tokenizer, prompts) -> None:
    total = len(load_dialogues(config))
    assert len(prompts["test"]) == math.ceil(total * config.test_size)
    assert len(prompts["train"]) + len(prompts["test"]) == total
    row = prompts["train"][0]
    assert row["query"].startswith("Summarize the following conversation. #Person1#:")
    assert row["query"].endswith("Summary:</s>")
    assert row["input_ids"].tolist() == tokenizer.encode(PROMPT_TEMPLATE.format(dialogue=row["dialogue"]))
    # no shuffle: the test split is the tail of the file
    assert prompts["test"][len(prompts["test"]) - 1]["id"] == load_dialogues(config)[total - 1]["id"]


def test_length_bounds_are_exclusive_below_inclusive_above(config, tokenizer, capsys) -> None:
    lengths = [200, 201, 500, 1000, 1001, 150]
    raw = Dataset.from_dict(
        {
            "id": [f"d{i}" for i in range(len(lengths))],
            "dialogue": ["#Person1#: " + "a" * (n - 11) for n in lengths],
            "summary": ["s"] * len(lengths),
            "topic": ["t"] * len(lengths),
        }
    )
    built = build_dataset(config, tokenizer, dataset=raw)
    kept = sorted(len(d) for split in built.values() for d in split["dialogue"])
    assert kept == [201, 500, 1000]
    assert len(built["test"]) == 1 and len(built["train"]) == 2


def test_bad_rows_are_dropped_and_counted(config, tokenizer, capsys) -> None:
    good = "#Person1#: " + "hello there " * 30
    raw = Dataset.from_dict({"dialogue": [good, None, "", "   ", good], "summary": ["s"] * 5})
    kept, dropped = drop_bad_dialogues(raw)
    assert (len(kept), dropped) == (2, 3)
    build_dataset(config, tokenizer, dataset=raw)
    assert "Dropped 3 row(s)" in capsys.readouterr().out


def test_missing_dialogue_field_names_the_fields(config, tokenizer) -> None:
    raw = Dataset.from_dict({"text": ["x" * 300], "summary": ["s"]})
    with pytest.raises(ValueError, match=r"no 'dialogue' field \(it has \['text', 'summary'\]\)"):
        build_dataset(config, tokenizer, dataset=raw)


def test_token_budget_truncates_the_dialogue_but_keeps_the_suffix(config, tokenizer) -> None:
    dialogue = "#Person1#: " + " ".join(["table"] * 300)
    ids = tokenize_prompt(dialogue, config, tokenizer, token_budget=50)
    assert len(ids) == 50
    assert tokenizer.decode(ids).endswith("table Summary:</s>")
    budgeted = dataclasses.replace(config, prompt_token_budget=(30, 40))
    built = build_dataset(budgeted, tokenizer)
    assert max(len(ids) for ids in built["train"]["input_ids"]) < 40


def test_collator_keeps_lists() -> None:
    batch = collator([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    assert batch == {"a": [1, 2], "b": ["x", "y"]}
