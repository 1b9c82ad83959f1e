"""The embedded data sets, their composer (world.json -> JSONL) and build_dataset: schema, bounds, split, bad input."""

import dataclasses
import json
import math
import re
from collections import Counter

import pytest
from datasets import Dataset

from lab_utils import tiny
from lab_utils.config import PROMPT_TEMPLATE
from lab_utils.errors import DataError
from lab_utils.data import build_dataset, collator, drop_bad_dialogues, load_dialogues, tokenize_prompt
from lab_utils.tiny import DIALOGUES_FILE, LABELLED_FILE
from lab_utils.tiny_data import compose
from lab_utils.tiny_data.compose import has_insult

TURN_RE = re.compile(r"^#Person([12])#: \S")
HOLE_RE = re.compile(r"\{(\w+)\}")


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_compose_regenerates_the_committed_files_byte_for_byte() -> None:
    dialogues, labelled = compose.compose()
    assert compose.to_jsonl(dialogues).encode() == DIALOGUES_FILE.read_bytes()
    assert compose.to_jsonl(labelled).encode() == LABELLED_FILE.read_bytes()
    texts = [f"{r['dialogue']} {r['summary']} {r['topic']}" for r in dialogues] + [r["text"] for r in labelled]
    assert len(compose.vocabulary(texts)) < 1500  # a small corpus, so the tiny word-level tokenizer stays small


def test_has_insult_reads_the_lexicon_of_world_json() -> None:
    world = json.loads(compose.WORLD_FILE.read_text())
    lexicon = set(world["insults"]["adjectives"]) | set(world["insults"]["nouns"])
    assert compose.INSULT_WORDS == lexicon and len(lexicon) == 13
    assert tiny.has_insult is has_insult  # the tiny build finds rude dialogues with the same lexicon
    assert all(has_insult(f"You are so {word.upper()}.") for word in lexicon)
    assert has_insult("an idiotic plan")  # substrings count: the strictest reading
    assert not has_insult("#Person1# thanks #Person2# for a lovely dinner.")


def test_world_templates_cover_every_topic_with_known_slots() -> None:
    templates = compose.TEMPLATES
    topics = sorted({t.topic for t in templates})
    assert len(topics) >= 24 and sorted(compose.TOPIC_PHRASES) == topics
    assert all(2 <= sum(t.topic == topic for t in templates) <= 3 for topic in topics)
    assert len({t.key for t in templates}) == len(templates)
    rude_templates = [t for t in templates if t.rude is not None]
    assert {t.topic for t in rude_templates} == set(topics)
    reported = {level: round(n * compose.REPORTED_SHARE[level]) for level, n in compose.ROWS_BY_SEVERITY.items()}
    assert len(rude_templates) <= min(reported.values())  # each also gets rows whose reference reports the rudeness
    for t in templates:
        slots = dict(t.slots)
        for pool in set(slots.values()):  # slots sharing a pool need distinct values
            assert list(slots.values()).count(pool) <= len(compose.POOLS[pool]), (t.key, pool)
        summary_holes = set(HOLE_RE.findall(t.person1 + t.person2))
        assert summary_holes <= set(HOLE_RE.findall(" ".join(t.turns))) <= set(slots), t.key
        if t.rude is not None:  # the rude turn adds one insult and keeps the summary's slots visible
            index, line = t.rude
            assert 0 <= index < len(t.turns) and len(re.findall(r"\{a?_?insult\}", line)) == 1, t.key
            rude_turns = " ".join(t.turns[:index] + (line,) + t.turns[index + 1:])
            assert summary_holes <= set(HOLE_RE.findall(rude_turns)) <= set(slots) | {"insult", "a_insult"}, t.key


def test_worst_case_summaries_fit_the_word_budget() -> None:
    rudeness = [compose.Rudeness(3, f"{compose.INSULT_ADJECTIVES[0]} {compose.INSULT_NOUNS[0]}")]  # every insult is two words
    rudeness += [compose.Rudeness(1, max((clause for _, clause in compose.COMPLAINTS), key=compose.word_count))]
    for t in compose.TEMPLATES:  # the wordiest value of every slot
        values = {name: max(compose.POOLS[pool], key=compose.word_count) for name, pool in t.slots}
        assert compose.word_count(compose.polite_summary(t, values)) <= 25 - 6, t.key  # room for an insult
        if t.rude is not None:
            for rude in rudeness:
                assert compose.word_count(compose.reference_rude_summary(t, values, rude)) <= 25, t.key


def test_embedded_dialogues_follow_dialogsum_schema() -> None:
    dialogues = rows(DIALOGUES_FILE)
    assert len(dialogues) == compose.N_DIALOGUES
    assert [d["id"] for d in dialogues] == [f"tiny_{i:04d}" for i in range(1, len(dialogues) + 1)]
    assert len({d["dialogue"] for d in dialogues}) == len(dialogues)
    for d in dialogues:
        assert list(d) == ["id", "dialogue", "summary", "topic"]
        assert 200 < len(d["dialogue"]) < 1000 and d["dialogue"].isascii() and d["summary"].isascii()
        turns = d["dialogue"].split("\n")
        assert 4 <= len(turns) <= 8
        assert [int(TURN_RE.match(turn).group(1)) for turn in turns] == [1 + i % 2 for i in range(len(turns))]
        assert 8 <= compose.word_count(d["summary"]) <= 25
        level = compose.severity(d["dialogue"])
        if level == 3:  # one insult phrase: adjective + noun
            assert len(compose.INSULT_RE.findall(d["dialogue"])) == 2, d["id"]
        assert compose.severity(d["summary"]) in (0, level), d["id"]  # a reference reports only its dialogue's rudeness
        if compose.severity(d["summary"]):
            assert compose.severity(compose.polite_version(d["summary"])) == 0, d["id"]
    levels = Counter(compose.severity(d["dialogue"]) for d in dialogues)
    reported = Counter(compose.severity(d["summary"]) for d in dialogues)
    for level, count in compose.ROWS_BY_SEVERITY.items():
        assert levels[level] == count
        assert reported[level] == round(count * compose.REPORTED_SHARE[level])  # some, not all
    # the held-out tail (the lab does not shuffle): exactly the challenging subset's size of insults, both references
    tail = dialogues[-compose.TEST_ROWS:]
    tail_levels = Counter(compose.severity(d["dialogue"]) for d in tail)
    assert all(low <= tail_levels[level] <= high for level, (low, high) in compose.TEST_SEVERITY.items())
    insults = [d for d in tail if compose.severity(d["dialogue"]) == 3]
    assert 0 < sum(has_insult(d["summary"]) for d in insults) < len(insults)


def test_severity_reads_the_three_lexicons() -> None:
    assert compose.severity("#Person1# thanks #Person2# for a lovely dinner.") == 0
    assert compose.severity("Thank you. This is terrible service.") == 1
    assert compose.severity("Is there a lift? You are so careless.") == 2
    assert compose.severity("You are so careless, you useless idiot.") == 3  # the worst one counts
    summary = "#Person1# calls #Person2# a lazy fool and wants a table. #Person2# offers a window seat."
    assert compose.polite_version(summary) == "#Person1# wants a table. #Person2# offers a window seat."


def test_labelled_set_holds_every_severity_with_a_held_out_split() -> None:
    labelled = rows(LABELLED_FILE)
    plan = sum(compose.LABELLED_PLAN.values()) + sum(compose.GRADED_PLAN.values())
    assert len(labelled) == plan
    for r in labelled:
        assert list(r) == ["text", "label", "severity", "split"]
        assert r["text"].isascii() and r["text"] == r["text"].strip()
        assert r["severity"] == compose.severity(r["text"])
        # insults are hate and clean texts are not; a graded text carries its annotators' majority
        assert (r["label"] == "hate") == (compose.HATE_VOTES[r["severity"]] > 0.5), r
    assert compose.HATE_VOTES[0] < compose.HATE_VOTES[1] < compose.HATE_VOTES[2] < compose.HATE_VOTES[3] == 1.0
    for level in (1, 2):
        assert sum(r["severity"] == level for r in labelled) == compose.GRADED_PLAN[level]
    for split in ("train", "test"):
        assert {r["severity"] for r in labelled if r["split"] == split} == {0, 1, 2, 3}
    splits = [r["split"] for r in labelled]
    assert splits == sorted(splits, key=["train", "test"].index)  # train rows first
    assert len({r["text"] for r in labelled}) == len(labelled)  # so no test text is in train


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
    with pytest.raises(DataError, match=r"no \['dialogue'\] field \(it has \['text', 'summary'\]\) — point LabConfig.dataset_name"):
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
