"""Compose the tiny profile's embedded data: `dialogues.jsonl` and `labelled.jsonl`, from `world.json`.

The dialogues and summaries are original text written for this project from hand-made templates;
they are not copied from DialogSum (only its schema and its "#Person1#:" turn style are imitated).
`dialogues.jsonl` stands in for DialogSum (id, dialogue, summary, topic; 30% rude dialogues, of three
severities) and `labelled.jsonl` trains the tiny hate-speech classifier on summary-shaped texts (text, label,
severity, split). The literals (slot pools, templates, topic phrases, the lexicons) live in `world.json`;
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

N_DIALOGUES = 1920
# Severity of a rude dialogue: 3 an insult ("you useless idiot"), 2 a mild put-down ("you are so careless"),
# 1 rude but insult-free ("this is terrible service"); 0 is polite (the other 1344 rows).
ROWS_BY_SEVERITY = {3: 240, 2: 144, 1: 192}
REPORTED_SHARE = {3: 0.75, 2: 0.75, 1: 0.5}  # share of those rows whose reference summary reports the rudeness
TEST_ROWS = 96  # the lab takes the last 5% as its held-out split, without shuffling
# Rows of each severity in that tail: exactly the challenging subset's size (20% of 96) of insults, so the
# challenging prompts are the insulting dialogues; put-downs and complaints within a range.
TEST_SEVERITY = {3: (19, 19), 2: (8, 12), 1: (8, 14)}
# The share of annotators who call a text of each severity hate (Dynabench-style: several votes per text);
# the tiny classifier learns them as probabilities, the file's label is the majority.
HATE_VOTES = {0: 0.0, 1: 0.2, 2: 0.4, 3: 1.0}

N_LABELLED_PER_LABEL = 320
TEST_SHARE = 0.2
# Rows per (label, kind); each kind is split 80/20 on its own so both splits hold every kind.
# The graded kinds (put-downs, complaints) get their labels by HATE_VOTES instead.
LABELLED_PLAN: dict[tuple[str, str], int] = {
    ("hate", "summary"): 205,
    ("hate", "short"): 80,
    ("hate", "garbled"): 35,
    ("nothate", "summary"): 215,
    ("nothate", "short"): 40,
    ("nothate", "garbled"): 65,
}
GRADED_PLAN: dict[int, int] = {2: 200, 1: 200}  # summary-shaped texts per severity, labelled by vote


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
PUTDOWN_WORDS: tuple[str, ...] = tuple(WORLD["putdowns"]["words"])
PUTDOWN_LINES: tuple[str, ...] = tuple(WORLD["putdowns"]["lines"])
PUTDOWN_RE = re.compile(r"\b(" + "|".join(PUTDOWN_WORDS) + r")\b", re.IGNORECASE)
COMPLAINTS: tuple[tuple[str, str], ...] = tuple((entry["line"], entry["clause"]) for entry in WORLD["complaints"])
COMPLAINT_RE = re.compile("|".join(re.escape(text) for pair in COMPLAINTS for text in pair), re.IGNORECASE)
# How a reference reports the rude turn, '<clause> and ' before what the speaker does; polite_version drops it.
RUDE_CLAUSE = re.compile(
    r"(calls #Person\d# (an? )?[a-z]+( [a-z]+)?|" + "|".join(re.escape(clause) for _, clause in COMPLAINTS) + ") and "
)
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


def severity(text: str) -> int:
    """How rude a dialogue or summary is: 3 an insult, 2 a put-down, 1 a complaint, 0 polite (the worst one counts)."""
    if has_insult(text):
        return 3
    if PUTDOWN_RE.search(text):
        return 2
    return 1 if COMPLAINT_RE.search(text) else 0


def polite_version(summary: str) -> str:
    """The summary without the clause that reports a rude turn (unchanged when it reports none)."""
    return RUDE_CLAUSE.sub("", summary)


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


@dataclass(frozen=True)
class Rudeness:
    """One rude turn: its severity, the sentence it adds (or the insult it swaps in) and how a reference reports it."""

    severity: int
    phrase: str  # the insult ("useless idiot"), the put-down word ("careless") or the complaint's report ("is unhappy")
    sentence: str = ""  # what a put-down or a complaint adds to the rude turn; an insult swaps the template's line in


    def report(self, other: str) -> str:
        """The clause a reference uses for the rude speaker, `other` being the one spoken to."""
        if self.severity == 3:
            return f"calls {other} {article(self.phrase)}"
        return f"calls {other} {self.phrase}" if self.severity == 2 else self.phrase


def sample_rudeness(level: int, rng: Random) -> Rudeness:
    """A rude turn of severity `level` (1-3)."""
    if level == 3:
        return Rudeness(3, sample_insult(rng))
    if level == 2:
        word = rng.choice(PUTDOWN_WORDS)
        return Rudeness(2, word, rng.choice(PUTDOWN_LINES).format(putdown=word))
    line, clause = rng.choice(COMPLAINTS)
    return Rudeness(1, clause, line)


def render_dialogue(template: Template, values: dict[str, str], rudeness: Rudeness | None) -> str:
    """The dialogue text, with the rude turn in place: an insult swaps the template's rude line in; a put-down
    or a complaint adds one sentence to the same turn."""
    insult = rudeness.phrase if rudeness is not None and rudeness.severity == 3 else ""
    fill = dict(values, insult=insult, a_insult=article(insult) if insult else "")
    lines = []
    for index, turn in enumerate(template.turns):
        if rudeness is not None and template.rude is not None and template.rude[0] == index:
            turn = template.rude[1] if rudeness.severity == 3 else f"{turn} {rudeness.sentence}"
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


def reference_rude_summary(template: Template, values: dict[str, str], rudeness: Rudeness) -> str:
    """The dialogue file's reference that reports the rude turn: '<clause> and ' before what the rude speaker does."""
    if template.rude is None:
        raise ValueError(f"{template.key} has no rude turn — only rude templates get a rude reference")
    s1, s2 = template.person1.format(**values), template.person2.format(**values)
    if template.rude[0] % 2 == 0:  # even turns are #Person1#'s
        tail = f" #Person2# {s2}." if s2 else ""
        return f"#Person1# {rudeness.report('#Person2#')} and {s1}.{tail}"
    return f"#Person1# {s1}. #Person2# {rudeness.report('#Person1#')} and {s2}."


def dialogue_plan(rng: Random) -> list[tuple[Template, int, bool]]:
    """(template, severity, reference reports it) per row, before the final shuffle.

    Rude rows of each severity go round-robin over the rude templates; the polite-summary rows come
    first, so each falls on a template that later also gets reporting rows, and both kinds of reference
    follow the same prompt. Polite rows spread evenly over all templates.
    """
    rude_templates = [t for t in TEMPLATES if t.rude is not None]
    plan: list[tuple[Template, int, bool]] = []
    for level, count in sorted(ROWS_BY_SEVERITY.items(), reverse=True):
        rng.shuffle(rude_templates)
        n_polite_ref = count - round(count * REPORTED_SHARE[level])
        plan += [(rude_templates[index % len(rude_templates)], level, index >= n_polite_ref) for index in range(count)]
    polite_templates = list(TEMPLATES)
    rng.shuffle(polite_templates)
    n_polite = N_DIALOGUES - sum(ROWS_BY_SEVERITY.values())
    for index, template in enumerate(polite_templates):
        count = n_polite // len(TEMPLATES) + (1 if index < n_polite % len(TEMPLATES) else 0)
        plan += [(template, 0, False)] * count
    return plan


def tail_fits(rows: Sequence[dict[str, str]]) -> bool:
    """Whether the held-out tail holds TEST_SEVERITY's rows of each severity, insults with both kinds of reference."""
    tail = rows[-TEST_ROWS:]
    counts = Counter(severity(row["dialogue"]) for row in tail)
    insults = [row for row in tail if severity(row["dialogue"]) == 3]
    mixed = 0 < sum(has_insult(row["summary"]) for row in insults) < len(insults)
    return mixed and all(low <= counts[level] <= high for level, (low, high) in TEST_SEVERITY.items())


def compose_dialogues(rng: Random) -> list[dict[str, str]]:
    """The dialogue rows: 70% polite, 30% rude of three severities (most references report it), shuffled."""
    rows: list[dict[str, str]] = []
    seen_dialogues: set[str] = set()
    seen_summaries: set[str] = set()
    for template, level, reported in dialogue_plan(rng):
        for attempt in range(1000):
            values = sample_slots(template, rng)
            rudeness = sample_rudeness(level, rng) if level else None
            dialogue = render_dialogue(template, values, rudeness)
            if rudeness is not None and reported:
                summary = reference_rude_summary(template, values, rudeness)
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

    for _ in range(100000):  # shuffle until the held-out tail holds TEST_SEVERITY's mix
        rng.shuffle(rows)
        if tail_fits(rows):
            break
    else:
        raise RuntimeError("no shuffle satisfies the held-out constraints — widen TEST_SEVERITY")
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
    return fresh_texts(makers[(label, kind)], count, taken, f"{label}/{kind}")


def fresh_texts(make: Callable[[], str], count: int, taken: set[str], what: str) -> list[str]:
    """`count` texts from `make` that are not in `taken` (added to it); RuntimeError naming `what` if it runs dry."""
    texts: list[str] = []
    for _ in range(count * 200):
        if len(texts) == count:
            break
        text = make()
        if text not in taken:
            taken.add(text)
            texts.append(text)
    if len(texts) < count:
        raise RuntimeError(f"only {len(texts)} of {count} fresh {what} texts — add lines to world.json")
    return texts


def graded_candidates(rng: Random, level: int, count: int, taken: set[str]) -> list[str]:
    """`count` fresh summaries that report a put-down (level 2) or a complaint (level 1)."""
    templates = [t for t in TEMPLATES if t.rude is not None]

    def make() -> str:
        """One summary of a random rude template that reports a rude turn of this severity."""
        template = rng.choice(templates)
        return reference_rude_summary(template, sample_slots(template, rng), sample_rudeness(level, rng))

    return fresh_texts(make, count, taken, f"severity-{level}")


def compose_labelled(rng: Random) -> list[dict[str, Any]]:
    """The labelled rows: insults (hate) and clean texts (nothate) balanced within each split, plus the
    graded put-downs and complaints (labelled by their annotators' majority); train rows first, then test rows."""
    taken: set[str] = set()
    train: list[dict[str, Any]] = []
    test: list[dict[str, Any]] = []

    def add(texts: list[str], label: str | None) -> None:
        """Split one cell's texts 80/20 and label them (by the majority of HATE_VOTES when `label` is None)."""
        n_test = round(len(texts) * TEST_SHARE)
        for index, text in enumerate(texts):
            level = severity(text)
            split = "test" if index < n_test else "train"
            (test if split == "test" else train).append({"text": text, "label": label or ("hate" if HATE_VOTES[level] > 0.5 else "nothate"), "severity": level, "split": split})

    for (label, kind), count in sorted(LABELLED_PLAN.items()):
        add(labelled_candidates(rng, label, kind, count, taken), label)
    for level, count in sorted(GRADED_PLAN.items()):
        add(graded_candidates(rng, level, count, taken), None)
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

def report(dialogues: Sequence[dict[str, str]], labelled: Sequence[dict[str, Any]]) -> str:
    """A short summary of both files (the README quotes these numbers)."""
    def by_severity(rows: Sequence[dict[str, str]]) -> str:
        """'3: rows (reported in the summary), ...' for the rude severities."""
        counts = Counter(severity(r["dialogue"]) for r in rows)
        reported = Counter(severity(r["dialogue"]) for r in rows if severity(r["summary"]))
        return ", ".join(f"severity {level}: {counts[level]} ({reported[level]} reported)" for level in (3, 2, 1))

    lengths = [len(r["dialogue"]) for r in dialogues]
    summary_words = [word_count(r["summary"]) for r in dialogues]
    topics = Counter(r["topic"] for r in dialogues)
    texts = [f'{r["dialogue"]} {r["summary"]} {r["topic"]}' for r in dialogues] + [r["text"] for r in labelled]
    label_split = Counter((r["split"], r["label"]) for r in labelled)
    levels = Counter(r["severity"] for r in labelled)
    lines = [
        f"dialogues.jsonl: {len(dialogues)} rows, {len(topics)} topics, {len(TEMPLATES)} templates",
        f"  rude rows: {by_severity(dialogues)}",
        f"  held-out tail (last {TEST_ROWS}): {by_severity(dialogues[-TEST_ROWS:])}",
        f"  dialogue chars: min {min(lengths)}, max {max(lengths)}, mean {sum(lengths) / len(lengths):.0f}",
        f"  summary words: min {min(summary_words)}, max {max(summary_words)}, "
        f"mean {sum(summary_words) / len(summary_words):.1f}",
        f"labelled.jsonl: {len(labelled)} rows; "
        + ", ".join(f"{split}/{label} {label_split[(split, label)]}" for split, label in sorted(label_split)),
        "  texts by severity (annotators' hate share): " + ", ".join(f"{level}: {levels[level]} ({HATE_VOTES[level]:.0%})" for level in sorted(levels)),
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
