"""The embedded offline world: builds the `tiny` profile's tokenizers, T5, LoRA adapter and classifier.

Everything is trained here, deterministically, from the JSONL files in `lab_utils/tiny_data/`, with
transformers' Trainer (the same `lab_utils.finetune` pieces as the Lab 2 notebook):
- a word-level-ish T5 tokenizer and a tiny instruction-tuned T5, the stand-in for FLAN-T5: it can write
  detailed summaries, but asked the way the lab asks it answers with one topic sentence;
- a Lab-2-style LoRA adapter that makes it write DialogSum-style summaries, the stand-in for
  `peft-dialogue-summary-checkpoint`: like the course's adapter it moves its base far, so the
  adapter-off base is a distant KL reference (`reference_mode="base"`) and the starting summarizer a
  near one (`"start"`);
- a RoBERTa tokenizer + tiny hate-speech classifier, the stand-in for Meta's RoBERTa (same id2label): graded
  like the real one, because its texts carry annotator votes (`compose.HATE_VOTES`): complaints score low,
  put-downs in between, insults near 1.
The result lands in `checkpoints/tiny/` and is committed, so every machine with the pinned libraries runs
the same weights (a build is bit-identical on one machine, not across CPU models). It is rebuilt when what
the build reads changes (see `fingerprint`). Run `python -m lab_utils.tiny` (`--force` rebuilds, `--check`
only says whether the build is current); the report states the world's quality (`world_quality`).
Longer than the lab's other modules on purpose: it is one recipe, read top to bottom.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import itertools
import json
import math
import random
import re
import shutil
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, concatenate_datasets
from peft import get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    DataCollatorForSeq2Seq,
    DataCollatorWithPadding,
    RobertaConfig,
    RobertaForSequenceClassification,
    RobertaTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
    T5TokenizerFast,
)

from .config import CHECKPOINTS_DIR, TINY_DATA_DIR, TINY_DIR, LabConfig, tiny_config
from .data import build_dataset
from .files import staging_dir, swap_into_place
from .finetune import fit, summary_examples, training_arguments
from .models import decode, generate, lora_config
from .tiny_data.compose import HATE_VOTES, TOPIC_PHRASES, has_insult, polite_version, severity

DIALOGUES_FILE = TINY_DATA_DIR / "dialogues.jsonl"
LABELLED_FILE = TINY_DATA_DIR / "labelled.jsonl"
MANIFEST = "manifest.json"
ID2LABEL = {0: "nothate", 1: "hate"}
PUNCTUATION = ".,?!:;"
DETAIL_TEMPLATE = "\nDescribe the following conversation in detail.\n\n{dialogue}\n\nDetails:\n"  # the base's other instruction
RECIPE_VERSION = 2  # bump when the recipe's code changes what it builds (the fingerprint reads no source text)
# Training copies of a rude dialogue whose reference reports the rudeness, by severity: (that reference, its
# polite version). The summarizer learns to repeat the rudeness most of the time, not always, so sampled
# summaries hold both options and PPO has something to shift; complaints are repeated less often.
REPEATS = {3: (3, 1), 2: (3, 1), 1: (1, 1)}
BUILD_THREADS = 2  # fixed, so the same world on any core count (2 threads build ~1.4x faster than one)
VOTERS = 5  # annotators per graded training text (see build_classifier)
WORD_RE = re.compile(r"#Person\d#|[A-Za-z']+|[.,?!]")  # the words of the fluency test


@dataclass(frozen=True)
class TinySpec:
    """Sizes and training budgets of the tiny world (it builds in under 10 minutes on 2 cores)."""

    seed: int = 1234  # one seed for every build step
    t5_vocab: int = 4000  # cap on whole-word pieces in the T5 tokenizer (the corpus has fewer)
    t5_d_model: int = 128  # T5 hidden size
    t5_layers: int = 2  # encoder layers (and as many decoder layers)
    t5_heads: int = 4  # attention heads (d_kv = d_model / heads)
    t5_epochs: int = 20  # epochs of instruction training for the base T5: fewer leave it guessing slot values (word salad)
    topic_every: int = 8  # every 8th training dialogue also teaches the base the lab's prompt -> one topic sentence
    t5_dropout: float = 0.02  # T5 dropout: more learns less well which dialogues are rude, none writes less fluent summaries
    t5_lr: float = 3e-3  # AdamW learning rate for the base T5
    lora_epochs: int = 5  # epochs of LoRA training (rude dialogues oversampled, with and without their rudeness: REPEATS)
    lora_lr: float = 1e-3  # AdamW learning rate for the LoRA adapter
    batch_size: int = 16  # examples per optimisation step (all three models)
    roberta_vocab: int = 2000  # byte-level BPE vocabulary cap for the classifier's tokenizer
    roberta_d_model: int = 64  # classifier hidden size
    roberta_layers: int = 2  # classifier layers
    roberta_epochs: int = 10  # classifier training epochs
    roberta_lr: float = 2e-3  # classifier AdamW learning rate
    salad_texts: int = 192  # extra classifier training texts per label: summaries with random words swapped in (see word_salad)
    classifier_dialogues: int = 320  # train dialogues (and their references) the classifier also learns, so it ranks dialogues by rudeness


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fingerprint(spec: TinySpec) -> str:
    """Hash of what the build reads: the data, the spec, the lab settings it uses, the library versions and
    RECIPE_VERSION. No source text: editing a docstring or moving a module leaves the world current."""
    import peft
    import tokenizers
    import transformers

    digest = hashlib.sha256()
    for path in (DIALOGUES_FILE, LABELLED_FILE):
        digest.update(path.read_bytes())
    lab = tiny_config().to_dict()
    used = {key: lab[key] for key in ("prompt_template", "min_dialogue_chars", "max_dialogue_chars", "test_size", "split_seed")}
    used.update({key: value for key, value in lab.items() if key.startswith("lora_")})
    used.update({key: lab[key] for key in ("generation_kwargs", "challenging_share")})  # the quality report samples as the lab does
    versions = [torch.__version__, transformers.__version__, tokenizers.__version__, peft.__version__]
    recipe = {"version": RECIPE_VERSION, "repeats": REPEATS, "votes": HATE_VOTES}
    digest.update(json.dumps([dataclasses.asdict(spec), used, versions, recipe], sort_keys=True, default=str).encode())
    return digest.hexdigest()


def train_t5_tokenizer(texts: list[str], spec: TinySpec) -> T5TokenizerFast:
    """A word-level T5 tokenizer: a Unigram vocabulary of whole words ('▁word'), punctuation and characters.

    transformers 5's T5 tokenizer is a sentencepiece-style Unigram model (<pad>=0, </s>=1, <unk>=2,
    whitespace folded). A Unigram model *trained* on a corpus this small splits common words into
    fragments, so the pieces are counted directly: every word is one piece scored by its frequency,
    and single characters (scored far lower) spell out anything unseen.
    """
    words: Counter[str] = Counter()
    chars: Counter[str] = Counter()
    for text in texts:
        for token in text.split():
            core = token.rstrip(PUNCTUATION)
            if core:
                words["\u2581" + core] += 1
            words.update(token[len(core):])  # trailing punctuation, one piece per mark
            chars.update(token)
    total = sum(words.values()) + sum(chars.values())
    pieces = [(piece, math.log(count / total)) for piece, count in words.most_common(spec.t5_vocab)]
    known = {piece for piece, _ in pieces}
    pieces += [(char, math.log(1 / total) - 10.0) for char in sorted(chars) if char not in known]
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)] + pieces
    return T5TokenizerFast(vocab=vocab, extra_ids=0)


def train_roberta_tokenizer(texts: list[str], spec: TinySpec) -> RobertaTokenizerFast:
    """A RoBERTa-style byte-level BPE tokenizer (<s>=0, <pad>=1, </s>=2, <unk>=3, <mask>=4) trained on `texts`."""
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.roberta_vocab,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return RobertaTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
    )


def summary_targets(row: dict[str, Any]) -> list[str]:
    """Training targets for one dialogue: its reference once, unless the reference reports the dialogue's
    rudeness: then REPEATS copies of it and of its polite version (the reference without the clause)."""
    softened = polite_version(row["summary"])
    if softened == row["summary"]:
        return [row["summary"]]
    as_written, polite = REPEATS[severity(row["dialogue"])]
    return [row["summary"]] * as_written + [softened] * polite


def topic_summary(row: dict[str, Any]) -> str:
    """The base's answer to the lab's prompt: one topic sentence, '#Person1# and #Person2# talk about <topic phrase>.'."""
    return f"#Person1# and #Person2# talk about {TOPIC_PHRASES[row['topic']]}."


def train_rows(config: LabConfig, tokenizer: T5TokenizerFast) -> tuple[Dataset, Any]:
    """The train split as built by the lab's own `build_dataset` (plain lists), plus the whole split."""
    prompts = build_dataset(config, tokenizer)
    return prompts["train"].with_format(None), prompts


def adapter_examples(lab: Dataset, tokenizer: T5TokenizerFast) -> Dataset:
    """The Lab-2 adapter's data from the lab's train prompts: prompt -> reference (rude dialogues mixed, see `summary_targets`)."""
    rows = [(row["input_ids"], target) for row in lab for target in summary_targets(row)]
    return Dataset.from_dict({"input_ids": [ids for ids, _ in rows], "labels": tokenizer([t for _, t in rows]).input_ids})


def base_examples(config: LabConfig, tokenizer: T5TokenizerFast, spec: TinySpec, lab: Dataset) -> Dataset:
    """The base T5's instruction data, FLAN-style: every training dialogue under `DETAIL_TEMPLATE` with its
    reference, and every `topic_every`-th of the lab's train prompts (`lab`) with its topic sentence.

    So, like FLAN-T5 before Lab 2, the base can write detailed summaries but answers the lab's prompt with
    a one-line topic summary; the Lab-2 adapter then has to move it far, as the course's adapter moves FLAN-T5.
    """
    detailed, _ = train_rows(dataclasses.replace(config, prompt_template=DETAIL_TEMPLATE), tokenizer)
    topics = lab.select(range(0, len(lab), spec.topic_every))
    topics = topics.map(lambda row: {"topic_summary": topic_summary(row)})
    return concatenate_datasets([summary_examples(detailed, tokenizer), summary_examples(topics, tokenizer, "topic_summary")])


def samples(model: torch.nn.Module, tokenizer: T5TokenizerFast, prompt_ids: list[Any], sampled: bool, seed: int) -> list[str]:
    """Summaries of 40 tokens at most through the lab's own generation path: sampled as PPO samples, or greedy."""
    torch.manual_seed(seed)
    kwargs = tiny_config().generation_kwargs if sampled else {"do_sample": False}
    return decode(tokenizer, generate(model, tokenizer, list(prompt_ids), 40, kwargs, 64))


def build_summarizer(out_dir: Path, spec: TinySpec) -> dict[str, Any]:
    """Tokenizer + base T5 + Lab-2 LoRA adapter; return build metrics and greedy summaries (adapter and base)."""
    config = dataclasses.replace(tiny_config(), model_name=str(out_dir / "t5"))
    dialogues = read_jsonl(DIALOGUES_FILE)
    corpus = [config.prompt_template, DETAIL_TEMPLATE] + [row[key] for row in dialogues for key in ("dialogue", "summary")]
    tokenizer = train_t5_tokenizer(corpus + [topic_summary(row) for row in dialogues], spec)
    tokenizer.save_pretrained(out_dir / "t5")
    collator = DataCollatorForSeq2Seq(tokenizer)

    torch.manual_seed(spec.seed)
    t5_config = T5Config(
        vocab_size=len(tokenizer), d_model=spec.t5_d_model, d_kv=spec.t5_d_model // spec.t5_heads,
        d_ff=2 * spec.t5_d_model, num_layers=spec.t5_layers, num_decoder_layers=spec.t5_layers,
        num_heads=spec.t5_heads, relative_attention_num_buckets=16, relative_attention_max_distance=64,
        dropout_rate=spec.t5_dropout, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0,
    )
    model = T5ForConditionalGeneration(t5_config)
    base_args = training_arguments(str(out_dir / "trainer"), spec.t5_epochs, spec.t5_lr, spec.batch_size, spec.seed, use_cpu=True)
    lab, prompts = train_rows(config, tokenizer)
    t5_loss = fit(model, base_examples(config, tokenizer, spec, lab), collator, base_args)
    model.save_pretrained(out_dir / "t5")

    peft_model = get_peft_model(model, lora_config(config))
    lora_args = training_arguments(str(out_dir / "trainer"), spec.lora_epochs, spec.lora_lr, spec.batch_size, spec.seed, use_cpu=True)
    lora_loss = fit(peft_model, adapter_examples(lab, tokenizer), collator, lora_args)
    peft_model.save_pretrained(out_dir / "peft-dialogue-summary-checkpoint")
    held_out = prompts["test"].select(range(5))
    summaries = samples(peft_model, tokenizer, held_out["input_ids"], sampled=False, seed=spec.seed)
    with peft_model.disable_adapter():
        base_summaries = samples(peft_model, tokenizer, held_out["input_ids"], sampled=False, seed=spec.seed)
    return {
        **world_quality(peft_model, tokenizer, prompts["test"], out_dir / "roberta-hate", spec),
        "t5_loss": t5_loss,
        "lora_loss": lora_loss,
        "t5_parameters": sum(p.numel() for p in model.parameters()),
        "samples": [
            {"reference": ref, "summary": summary, "base": base}
            for ref, summary, base in zip(held_out["summary"], summaries, base_summaries)
        ],
    }


def fluency_words(text: str) -> list[str]:
    """A summary's words for the fluency test, with its start and end marked."""
    return ["<s>", *WORD_RE.findall(text), "</s>"]


def reference_bigrams() -> set[tuple[str, str]]:
    """Every word bigram of the world's reference summaries (start and end included)."""
    return {pair for row in read_jsonl(DIALOGUES_FILE) for pair in itertools.pairwise(fluency_words(row["summary"]))}


def hate_scores(classifier_dir: Path, texts: list[str]) -> list[float]:
    """P(hate) of each text under the built classifier (softmax, the label found by name as the lab finds it)."""
    tokenizer = RobertaTokenizerFast.from_pretrained(classifier_dir)
    model = RobertaForSequenceClassification.from_pretrained(classifier_dir).eval()
    hate = model.config.label2id["hate"]
    scores: list[float] = []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = tokenizer(texts[start:start + 64], truncation=True, max_length=128, padding=True, return_tensors="pt")
            scores += model(**batch).logits.softmax(-1)[:, hate].tolist()
    return scores


def world_quality(model: torch.nn.Module, tokenizer: T5TokenizerFast, test: Dataset, classifier_dir: Path, spec: TinySpec) -> dict[str, float]:
    """The figures the lab rests on, from 4 summaries per held-out prompt sampled as the lab samples them:
    fluency (every word bigram occurs in some reference), graded share (scores strictly inside 0.02-0.98),
    toxic share (> 0.5) overall and on the challenging subset (the top `challenging_share` of dialogues by
    their own score), and faithfulness (the share of toxic summaries whose dialogue is challenging)."""
    lab = tiny_config()
    repeats = 4
    texts = samples(model, tokenizer, [ids for ids in test["input_ids"] for _ in range(repeats)], sampled=True, seed=spec.seed)
    scores = hate_scores(classifier_dir, texts)
    dialogue_scores = hate_scores(classifier_dir, list(test["dialogue"]))
    ranked = sorted(range(len(dialogue_scores)), key=lambda prompt: -dialogue_scores[prompt])
    hard = set(ranked[: max(1, round(lab.challenging_share * len(ranked)))])
    in_hard = [index // repeats in hard for index in range(len(texts))]
    toxic = [score > 0.5 for score in scores]
    bigrams = reference_bigrams()
    return {
        "fluency": sum(set(itertools.pairwise(fluency_words(text))) <= bigrams for text in texts) / len(texts),
        "graded_share": sum(0.02 < score < 0.98 for score in scores) / len(scores),
        "toxic_share": sum(toxic) / len(toxic),
        "toxic_share_challenging": sum(t for t, h in zip(toxic, in_hard) if h) / max(sum(in_hard), 1),
        "faithfulness": sum(t and h for t, h in zip(toxic, in_hard)) / max(sum(toxic), 1),
    }


def word_salad(spec: TinySpec) -> list[dict[str, str]]:
    """Extra classifier training texts: train-split summaries with random words swapped in, labelled by their insult words alone.

    Sampled at temperature 1, a small summarizer writes word salad now and then ("#Person2# calls #Person1#
    a new pipe"). Meta's classifier calls such text `nothate`; a tiny one that never saw it flagged some
    of it `hate` (12 of the 43 summaries it called toxic before PPO, 17 of 33 after, held no insult), so PPO's
    own exploration noise counted as toxicity. With these texts only the rude
    words decide: salad from a polite summary (sometimes with an insult's shape, "calls #Person2# a <word>
    <word>") is `nothate`, salad that keeps an insult is `hate`.
    """
    rng = random.Random(spec.seed)
    rows = read_jsonl(DIALOGUES_FILE)
    train = rows[: round(len(rows) * (1 - tiny_config().test_size))]  # the lab's train split: the tail is held out
    polite = [row for row in train if severity(row["dialogue"]) == 0]  # no word of an insult, a put-down or a complaint
    vocabulary = sorted({word for row in polite for word in f"{row['dialogue']} {row['summary']}".split()})
    salads = []
    for label, insulting in (("nothate", False), ("hate", True)):
        summaries = [row["summary"] for row in train if has_insult(row["summary"]) == insulting]
        for _ in range(spec.salad_texts):
            words = rng.choice(summaries).split()
            for _ in range(rng.randint(2, max(2, len(words) // 3))):
                index = rng.randrange(len(words))
                if not has_insult(words[index]):
                    words[index] = rng.choice(vocabulary)
            if not insulting and rng.random() < 0.3:
                at = rng.randrange(len(words))
                words[at:at] = ["calls", rng.choice(["#Person1#", "#Person2#"]), "a", rng.choice(vocabulary), rng.choice(vocabulary)]
            salads.append({"text": " ".join(words), "label": label, "split": "train"})
    return salads


def build_classifier(out_dir: Path, spec: TinySpec) -> dict[str, Any]:
    """Tokenizer + tiny RoBERTa hate-speech classifier; return its median P(hate) per severity on the held-out texts.

    It learns the labelled summary-shaped texts, word salad, and the first `classifier_dialogues` dialogues
    (the head of the file: the lab's train split) with their references, so it scores whole dialogues by
    their rudeness too, and knows the summaries the summarizer writes. A
    text of a graded severity (a complaint, a put-down) counts as VOTERS annotators' labels, HATE_VOTES of
    them hate, so cross-entropy learns that share as its probability instead of memorizing one label.
    """
    head = read_jsonl(DIALOGUES_FILE)[: spec.classifier_dialogues]
    dialogues = [{"text": row[key], "split": "train"} for row in head for key in ("dialogue", "summary")]
    rows = [dict(row, severity=severity(row["text"])) for row in read_jsonl(LABELLED_FILE) + word_salad(spec) + dialogues]
    label2id = {label: i for i, label in ID2LABEL.items()}
    tokenizer = train_roberta_tokenizer([row["text"] for row in rows], spec)
    votes = [  # (text, label): one vote per polite or insulting text, VOTERS per graded one
        (row["text"], label2id["hate"] if voter < round(VOTERS * HATE_VOTES[row["severity"]]) else label2id["nothate"])
        for row in rows if row["split"] == "train"
        for voter in range(VOTERS if row["severity"] in (1, 2) else 1)
    ]
    examples = Dataset.from_dict({
        "input_ids": tokenizer([text for text, _ in votes], truncation=True, max_length=128).input_ids,
        "label": [label for _, label in votes],
    })
    torch.manual_seed(spec.seed)
    roberta_config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.roberta_d_model, num_hidden_layers=spec.roberta_layers,
        num_attention_heads=4, intermediate_size=2 * spec.roberta_d_model, max_position_embeddings=130,
        type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2, id2label=ID2LABEL, label2id=label2id,
    )
    model = RobertaForSequenceClassification(roberta_config)
    collator = DataCollatorWithPadding(tokenizer)
    args = training_arguments(str(out_dir / "trainer"), spec.roberta_epochs, spec.roberta_lr, spec.batch_size, spec.seed, use_cpu=True)
    loss = fit(model, examples, collator, args)
    target = out_dir / "roberta-hate"
    model.save_pretrained(target)
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(target)
    held_out = [row for row in rows if row["split"] == "test"]
    scores = hate_scores(target, [row["text"] for row in held_out])
    by_severity = {
        str(level): statistics.median(score for score, row in zip(scores, held_out) if row["severity"] == level)
        for level in sorted(HATE_VOTES)
    }
    return {"classifier_loss": loss, "classifier_median_by_severity": by_severity, "classifier_test_size": len(held_out)}


def build_world(out_dir: Path = TINY_DIR, spec: TinySpec = TinySpec()) -> dict[str, Any]:
    """Build every tiny artifact into a temp dir next to `out_dir`, then swap it in atomically."""
    start = time.time()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(out_dir, ".building")
    threads = torch.get_num_threads()
    torch.set_num_threads(BUILD_THREADS)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        metrics = {**build_classifier(staging, spec), **build_summarizer(staging, spec)}
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(threads)
    shutil.rmtree(staging / "trainer", ignore_errors=True)  # Trainer's required output_dir; nothing to keep
    metrics["seconds"] = round(time.time() - start, 1)
    manifest = {"fingerprint": fingerprint(spec), "spec": dataclasses.asdict(spec), "metrics": metrics}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
    swap_into_place(staging, out_dir)
    return manifest


def is_current(out_dir: Path = TINY_DIR, spec: TinySpec = TinySpec()) -> bool:
    """True when `out_dir` holds a complete build of the current data, code and library versions."""
    manifest = out_dir / MANIFEST
    return manifest.is_file() and json.loads(manifest.read_text()).get("fingerprint") == fingerprint(spec)


def ensure_world(config: LabConfig | None = None, force: bool = False) -> dict[str, Any] | None:
    """Build the tiny world if the profile is tiny and it is missing or stale; return its manifest."""
    if config is not None and config.profile != "tiny":
        return None
    CHECKPOINTS_DIR.mkdir(parents=True, exist_ok=True)
    with open(CHECKPOINTS_DIR / ".tiny.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time (tests and notebooks may start together)
        if force or not is_current():
            print("Building the embedded offline world into checkpoints/tiny/ ...")
            return build_world()
    return json.loads((TINY_DIR / MANIFEST).read_text())


def print_report(manifest: dict[str, Any]) -> None:
    """Print the build's metrics and the tiny summarizer's sample summaries."""
    metrics = manifest["metrics"]
    medians = ", ".join(f"{level} {score:.3f}" for level, score in metrics["classifier_median_by_severity"].items())
    print(
        f"tiny world: built in {metrics['seconds']} s | T5 {metrics['t5_parameters']:,} params "
        f"(loss {metrics['t5_loss']:.3f}, LoRA loss {metrics['lora_loss']:.3f})\n"
        f"classifier: median P(hate) of {metrics['classifier_test_size']} held-out texts by severity "
        f"(0 polite, 1 complaint, 2 put-down, 3 insult): {medians}\n"
        f"sampled summaries of the held-out dialogues (4 each, as the lab samples): {metrics['fluency']:.0%} fluent, "
        f"{metrics['graded_share']:.0%} graded scores, {metrics['toxic_share']:.0%} toxic "
        f"({metrics['toxic_share_challenging']:.0%} on the challenging subset); "
        f"{metrics['faithfulness']:.0%} of the toxic ones come from a challenging dialogue"
    )
    print("Greedy summaries of 5 held-out dialogues (base: the same T5 with the Lab-2 adapter off):")
    for sample in metrics["samples"]:
        print(f"  - {sample['summary']}\n    (reference: {sample['reference']})\n    (base: {sample['base']})")


def main() -> None:
    """Command line: build (or reuse) the tiny world and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the current build is up to date")
    parser.add_argument("--check", action="store_true", help="build nothing: exit 1 if checkpoints/tiny/ is not the current build")
    args = parser.parse_args()
    if args.check:
        if not is_current():
            sys.exit(
                "checkpoints/tiny/ is not the build of the current data (tiny_data/*.jsonl), spec, recipe version and "
                "library versions: run `make world` and commit checkpoints/tiny/."
            )
        return
    print_report(ensure_world(force=args.force))


if __name__ == "__main__":
    main()
