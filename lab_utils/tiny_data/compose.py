"""Compose the tiny profile's embedded data: `dialogues.jsonl` and `labelled.jsonl`, from `world.json`.

The dialogues and summaries are original text written for this project from hand-made templates;
they are not copied from DialogSum (only its schema and its "#Person1#:" turn style are imitated).
`dialogues.jsonl` stands in for DialogSum (id, dialogue, summary, topic; 20% rude dialogues) and
`labelled.jsonl` trains the tiny hate-speech classifier on summary-shaped texts (text, label, split).
The literals (slot pools, templates, topic phrases, the insult lexicon) live in `world.json`;
`tests/test_data.py` checks the rules the output must follow.

Regenerate (byte-identical on every run, Python 3 stdlib only):

    python3 lab_utils/tiny_data/compose.py
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

HERE = Path(__file__).resolve().parent
WORLD_FILE = HERE / "world.json"
DIALOGUES_FILE = HERE / "dialogues.jsonl"
LABELLED_FILE = HERE / "labelled.jsonl"
SEED = 1234

N_DIALOGUES = 480
N_RUDE = 96  # 20% of the dialogues
N_RUDE_INSULT_SUMMARY = 67  # rude rows whose reference summary repeats the insult (~70%)
TEST_ROWS = 96  # the lab takes the last 20% as its held-out split, without shuffling
TEST_RUDE_RANGE = (18, 22)  # rude rows allowed in that held-out tail

N_LABELLED_PER_LABEL = 320
TEST_SHARE = 0.2
# Rows per (label, kind); each kind is split 80/20 on its own so both splits hold every kind.
LABELLED_PLAN: dict[tuple[str, str], int] = {
    ("hate", "summary"): 205,
    ("hate", "short"): 80,
    ("hate", "garbled"): 35,
    ("nothate", "summary"): 215,
    ("nothate", "short"): 40,
    ("nothate", "garbled"): 65,
}


@dataclass(frozen=True)
class Template:
    """One dialogue pattern: turns and summary halves with {slot} holes, plus an optional rude turn."""

    key: str
    topic: str
    slots: tuple[tuple[str, str], ...]  # (slot name, pool name)
    turns: tuple[str, ...]  # speakers alternate, starting with #Person1#
    person1: str  # what #Person1# does (a verb phrase)
    person2: str = ""  # what #Person2# does (a verb phrase), optional
    rude: tuple[int, str] | None = None  # (turn index, replacement turn with {insult} or {a_insult})

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> Template:
        """A Template from one entry of world.json's "templates"."""
        rude = entry.get("rude")
        return cls(
            key=entry["key"],
            topic=entry["topic"],
            slots=tuple(entry["slots"].items()),
            turns=tuple(entry["turns"]),
            person1=entry["person1"],
            person2=entry.get("person2", ""),
            rude=(rude["turn"], rude["line"]) if rude else None,
        )


WORLD: dict[str, Any] = json.loads(WORLD_FILE.read_text(encoding="utf-8"))
INSULT_ADJECTIVES: tuple[str, ...] = tuple(WORLD["insults"]["adjectives"])
INSULT_NOUNS: tuple[str, ...] = tuple(WORLD["insults"]["nouns"])
INSULT_WORDS = frozenset(INSULT_ADJECTIVES + INSULT_NOUNS)
INSULT_RE = re.compile(r"\b(" + "|".join(sorted(INSULT_WORDS)) + r")\b", re.IGNORECASE)
WORD_RE = re.compile(r"[a-z0-9']+")
POOLS: dict[str, tuple[str, ...]] = {name: tuple(values) for name, values in WORLD["pools"].items()}
TEMPLATES: tuple[Template, ...] = tuple(Template.from_json(entry) for entry in WORLD["templates"])
TOPIC_PHRASES: dict[str, str] = WORLD["topic_phrases"]
SHORT_LINES: dict[str, tuple[str, ...]] = {kind: tuple(lines) for kind, lines in WORLD["short_lines"].items()}


def article(phrase: str) -> str:
    """The phrase with 'a' or 'an' in front (by its first letter; 'u' words here take 'a')."""
    return ("an " if phrase[0] in "aeio" else "a ") + phrase


def word_count(text: str) -> int:
    """Whitespace-separated words."""
    return len(text.split())


def has_insult(text: str) -> bool:
    """Whether any insult word occurs, even inside another word (the strictest reading)."""
    lowered = text.lower()
    return any(word in lowered for word in INSULT_WORDS)


def sample_slots(template: Template, rng: Random) -> dict[str, str]:
    """Slot values for one row; slots sharing a pool get distinct values."""
    by_pool: dict[str, list[str]] = {}
    for name, pool in template.slots:
        by_pool.setdefault(pool, []).append(name)
    values: dict[str, str] = {}
    for pool in sorted(by_pool):
        names = by_pool[pool]
        for name, value in zip(names, rng.sample(POOLS[pool], len(names))):
            values[name] = value
    return values


def sample_insult(rng: Random) -> str:
    """A mild insult phrase: adjective + noun, e.g. 'useless idiot'."""
    return f"{rng.choice(INSULT_ADJECTIVES)} {rng.choice(INSULT_NOUNS)}"


def render_dialogue(template: Template, values: dict[str, str], insult: str | None) -> str:
    """The dialogue text, with the rude turn swapped in when an insult is given."""
    fill = dict(values, insult=insult or "", a_insult=article(insult) if insult else "")
    lines = []
    for index, turn in enumerate(template.turns):
        if insult is not None and template.rude is not None and template.rude[0] == index:
            turn = template.rude[1]
        lines.append(f"#Person{1 + index % 2}#: {turn.format(**fill)}")
    return "\n".join(lines)


def polite_summary(template: Template, values: dict[str, str]) -> str:
    """The reference summary without any insult."""
    text = f"#Person1# {template.person1.format(**values)}."
    if template.person2:
        text += f" #Person2# {template.person2.format(**values)}."
    return text


def insulting_summary(template: Template, values: dict[str, str], insult: str, position: str) -> str:
    """A summary carrying the insult; `position` picks where (A is the dialogues' reference pattern)."""
    s1 = template.person1.format(**values)
    s2 = template.person2.format(**values)
    tail = f" #Person2# {s2}." if s2 else ""
    a_insult = article(insult)
    if position == "A":
        return f"#Person1# calls #Person2# {a_insult} and {s1}.{tail}"
    if position == "B":
        return f"#Person1# {s1} and calls #Person2# {a_insult}.{tail}"
    if position == "C" and s2:
        return f"#Person1# {s1}. #Person2# calls #Person1# {a_insult} and {s2}."
    if position == "D":
        return f"#Person1# {s1}.{tail} #Person1# says #Person2# is {a_insult}."
    if position == "E":
        return f"#Person1# {s1}, you {insult}.{tail}"
    if position == "F":
        topic = TOPIC_PHRASES[template.topic]
        return f"#Person1# and #Person2# talk about {topic}. #Person1# calls #Person2# {a_insult}."
    raise ValueError(f"insult position {position!r} for {template.key} — use A-F (C needs a #Person2# half)")


def reference_rude_summary(template: Template, values: dict[str, str], insult: str) -> str:
    """The dialogue file's insulting reference: the rude speaker 'calls' the other, then the usual summary."""
    if template.rude is None:
        raise ValueError(f"{template.key} has no rude turn — only rude templates get an insulting reference")
    position = "A" if template.rude[0] % 2 == 0 else "C"  # even turns are #Person1#'s
    return insulting_summary(template, values, insult, position)


def dialogue_plan(rng: Random) -> list[tuple[Template, bool, bool]]:
    """(template, rude, insult in summary) per row, before the final shuffle.

    Rude rows go round-robin over the rude templates; the polite-summary rows come first, so each
    falls on a template that later also gets insulting-summary rows, and both kinds of reference
    follow the same prompt. Polite rows spread evenly over all templates.
    """
    rude_templates = [t for t in TEMPLATES if t.rude is not None]
    rng.shuffle(rude_templates)
    n_polite_ref = N_RUDE - N_RUDE_INSULT_SUMMARY
    plan = [(rude_templates[index % len(rude_templates)], True, index >= n_polite_ref) for index in range(N_RUDE)]
    polite_templates = list(TEMPLATES)
    rng.shuffle(polite_templates)
    n_polite = N_DIALOGUES - N_RUDE
    for index, template in enumerate(polite_templates):
        count = n_polite // len(TEMPLATES) + (1 if index < n_polite % len(TEMPLATES) else 0)
        plan += [(template, False, False)] * count
    return plan


def compose_dialogues(rng: Random) -> list[dict[str, str]]:
    """The dialogue rows: 80% polite, 20% rude (~70% of those with the insult in the summary), shuffled."""
    rows: list[dict[str, str]] = []
    seen_dialogues: set[str] = set()
    seen_summaries: set[str] = set()
    for template, rude, insult_summary in dialogue_plan(rng):
        for attempt in range(1000):
            values = sample_slots(template, rng)
            insult = sample_insult(rng) if rude else None
            dialogue = render_dialogue(template, values, insult)
            if insult is not None and insult_summary:
                summary = reference_rude_summary(template, values, insult)
            else:
                summary = polite_summary(template, values)
            fresh_summary = summary not in seen_summaries or attempt >= 300  # prefer unseen summaries
            if dialogue not in seen_dialogues and fresh_summary:
                break
        else:
            raise RuntimeError(f"cannot find a fresh row for {template.key} — add values to its slot pools")
        seen_dialogues.add(dialogue)
        seen_summaries.add(summary)
        rows.append({"id": "", "dialogue": dialogue, "summary": summary, "topic": template.topic})

    # Shuffle until the held-out tail holds a fair share of rude rows of both summary kinds.
    low, high = TEST_RUDE_RANGE
    for _ in range(10000):
        rng.shuffle(rows)
        rude_tail = [r for r in rows[-TEST_ROWS:] if has_insult(r["dialogue"])]
        insulting_tail = [r for r in rude_tail if has_insult(r["summary"])]
        if low <= len(rude_tail) <= high and 0 < len(insulting_tail) < len(rude_tail):
            break
    else:
        raise RuntimeError("no shuffle satisfies the held-out constraints — widen TEST_RUDE_RANGE")
    for index, row in enumerate(rows, start=1):
        row["id"] = f"tiny_{index:04d}"
    return rows


def garble(text: str, rng: Random, keep: frozenset[str]) -> str:
    """A repetitive / broken copy of a summary (like a degenerate generation); words in `keep` are never dropped."""
    words = text.replace(".", "").replace(",", "").split()
    for _ in range(rng.randint(2, 4)):
        op = rng.choice(("repeat", "repeat", "drop", "stutter"))
        i = rng.randrange(len(words))
        if op == "repeat":
            words.insert(i, words[i])
        elif op == "drop" and len(words) > 5 and words[i].lower() not in keep:
            del words[i]
        elif op == "stutter" and i + 1 < len(words):
            words[i + 2:i + 2] = words[i:i + 2]
    return " ".join(words)


def labelled_candidates(rng: Random, label: str, kind: str, count: int, taken: set[str]) -> list[str]:
    """`count` fresh texts of one (label, kind) cell of LABELLED_PLAN."""
    def template_and_values() -> tuple[Template, dict[str, str]]:
        """A random template and slot values."""
        template = rng.choice(TEMPLATES)
        return template, sample_slots(template, rng)

    def hate_summary() -> str:
        """An insulting summary, the insult at one of several positions."""
        template, values = template_and_values()
        positions = ["A", "A", "B", "D", "E", "F"] + (["C", "C"] if template.person2 else [])
        return insulting_summary(template, values, sample_insult(rng), rng.choice(positions))

    def clean_summary() -> str:
        """A polite summary (mostly the template's), sometimes the generic 'talk about' one."""
        template, values = template_and_values()
        if rng.random() < 0.12:
            return f"#Person1# and #Person2# talk about {TOPIC_PHRASES[template.topic]}."
        return polite_summary(template, values)

    def hate_short() -> str:
        """A short insulting line."""
        if rng.random() < 0.2:
            adj, adj2 = rng.sample(INSULT_ADJECTIVES, 2)
            return rng.choice(SHORT_LINES["hate_adjective_patterns"]).format(adj=adj, adj2=adj2)
        insult = sample_insult(rng)
        return rng.choice(SHORT_LINES["hate_patterns"]).format(insult=insult, a_insult=article(insult))

    def polite_short() -> str:
        """A short polite line."""
        if rng.random() < 0.3:
            return rng.choice(SHORT_LINES["polite_lines"])
        good = rng.choice(SHORT_LINES["good_adjectives"])
        return rng.choice(SHORT_LINES["polite_patterns"]).format(
            day=rng.choice(POOLS["day"]), time=rng.choice(POOLS["evening"]),
            a_good=article(good), role=rng.choice(SHORT_LINES["good_roles"]),
        )

    def hate_garbled() -> str:
        """A garbled insulting summary that still holds its insult words."""
        return garble(hate_summary(), rng, INSULT_WORDS)

    def clean_garbled() -> str:
        """A garbled clean summary."""
        template, values = template_and_values()
        return garble(polite_summary(template, values), rng, frozenset())

    makers: dict[tuple[str, str], Callable[[], str]] = {
        ("hate", "summary"): hate_summary,
        ("hate", "short"): hate_short,
        ("hate", "garbled"): hate_garbled,
        ("nothate", "summary"): clean_summary,
        ("nothate", "short"): polite_short,
        ("nothate", "garbled"): clean_garbled,
    }
    texts: list[str] = []
    for _ in range(count * 200):
        if len(texts) == count:
            break
        text = makers[(label, kind)]()
        if text not in taken:
            taken.add(text)
            texts.append(text)
    if len(texts) < count:
        raise RuntimeError(f"only {len(texts)} of {count} fresh {label}/{kind} texts — add lines to world.json")
    return texts


def compose_labelled(rng: Random) -> list[dict[str, str]]:
    """The labelled rows, balanced by label within each split; train rows first, then test rows."""
    taken: set[str] = set()
    train: list[dict[str, str]] = []
    test: list[dict[str, str]] = []
    for (label, kind), count in sorted(LABELLED_PLAN.items()):
        texts = labelled_candidates(rng, label, kind, count, taken)
        n_test = round(count * TEST_SHARE)
        test += [{"text": t, "label": label, "split": "test"} for t in texts[:n_test]]
        train += [{"text": t, "label": label, "split": "train"} for t in texts[n_test:]]
    rng.shuffle(train)
    rng.shuffle(test)
    return train + test


def compose() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Both files' rows (dialogues, labelled), from one RNG seeded with SEED."""
    rng = Random(SEED)
    dialogues = compose_dialogues(rng)
    return dialogues, compose_labelled(rng)


def vocabulary(texts: Sequence[str]) -> Counter[str]:
    """Lowercase word counts (letters, digits, apostrophes)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(WORD_RE.findall(text.lower()))
    return counts


def to_jsonl(rows: Sequence[dict[str, str]]) -> str:
    """Rows as JSON lines (ASCII, '\\n' endings, keys in insertion order)."""
    return "".join(json.dumps(row, ensure_ascii=True) + "\n" for row in rows)


def report(dialogues: Sequence[dict[str, str]], labelled: Sequence[dict[str, str]]) -> str:
    """A short summary of both files (the README quotes these numbers)."""
    rude = [r for r in dialogues if has_insult(r["dialogue"])]
    insult_summaries = [r for r in rude if has_insult(r["summary"])]
    tail_rude = [r for r in dialogues[-TEST_ROWS:] if has_insult(r["dialogue"])]
    tail_insult = [r for r in tail_rude if has_insult(r["summary"])]
    lengths = [len(r["dialogue"]) for r in dialogues]
    summary_words = [word_count(r["summary"]) for r in dialogues]
    topics = Counter(r["topic"] for r in dialogues)
    rude_topics = {r["topic"] for r in rude}
    texts = [f'{r["dialogue"]} {r["summary"]} {r["topic"]}' for r in dialogues] + [r["text"] for r in labelled]
    label_split = Counter((r["split"], r["label"]) for r in labelled)
    lines = [
        f"dialogues.jsonl: {len(dialogues)} rows, {len(topics)} topics, {len(TEMPLATES)} templates",
        f"  rude rows: {len(rude)} ({len(rude) / len(dialogues):.0%}) across {len(rude_topics)} topics; "
        f"insult in summary: {len(insult_summaries)}, polite summary: {len(rude) - len(insult_summaries)}",
        f"  held-out tail (last {TEST_ROWS}): {len(tail_rude)} rude, {len(tail_insult)} with insulting summary",
        f"  dialogue chars: min {min(lengths)}, max {max(lengths)}, mean {sum(lengths) / len(lengths):.0f}",
        f"  summary words: min {min(summary_words)}, max {max(summary_words)}, "
        f"mean {sum(summary_words) / len(summary_words):.1f}",
        f"labelled.jsonl: {len(labelled)} rows; "
        + ", ".join(f"{split}/{label} {label_split[(split, label)]}" for split, label in sorted(label_split)),
        "  kinds: " + ", ".join(f"{label}/{kind} {count}" for (label, kind), count in sorted(LABELLED_PLAN.items())),
        f"vocabulary (lowercase words, both files): {len(vocabulary(texts))}",
    ]
    return "\n".join(lines)


def main() -> None:
    """Compose and write both files, then print the report (run tests/test_data.py to check them)."""
    dialogues, labelled = compose()
    for path, rows in ((DIALOGUES_FILE, dialogues), (LABELLED_FILE, labelled)):
        path.write_text(to_jsonl(rows), encoding="utf-8", newline="\n")
    print(report(dialogues, labelled))


if __name__ == "__main__":
    main()
