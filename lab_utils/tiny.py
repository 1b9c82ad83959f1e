"""The embedded offline world: builds the `tiny` profile's tokenizers, T5, LoRA adapter and classifier.

Everything is trained here, deterministically, from the JSONL files in `lab_utils/tiny_data/`, with
transformers' Trainer (the same `lab_utils.finetune` pieces as the Lab 2 notebook):
- a word-level-ish T5 tokenizer and a tiny instruction-tuned T5, the stand-in for FLAN-T5: it can write
  detailed summaries, but asked the way the lab asks it answers with one topic sentence;
- a Lab-2-style LoRA adapter that makes it write DialogSum-style summaries, the stand-in for
  `peft-dialogue-summary-checkpoint`: like the course's adapter it moves its base far, so the
  adapter-off base is a distant KL reference (`reference_mode="base"`) and the starting summarizer a
  near one (`"start"`);
- a RoBERTa tokenizer + tiny hate-speech classifier, the stand-in for Meta's RoBERTa (same id2label).
The result lands in `checkpoints/tiny/` and is committed (5 MB), so every machine with the pinned libraries
runs the same weights (a build is bit-identical on one machine, not across CPU models). It is rebuilt when
the data, this file or the library versions change. Run `python -m lab_utils.tiny` (`--force` rebuilds,
`--check` only says whether the build is current).
Longer than the lab's other modules on purpose: it is one recipe, read top to bottom, and its own text is
part of the world's fingerprint, so splitting it would rebuild every world for no change in the weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import math
import random
import re
import shutil
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
from .tiny_data.compose import TOPIC_PHRASES, has_insult

DIALOGUES_FILE = TINY_DATA_DIR / "dialogues.jsonl"
LABELLED_FILE = TINY_DATA_DIR / "labelled.jsonl"
MANIFEST = "manifest.json"
ID2LABEL = {0: "nothate", 1: "hate"}
PUNCTUATION = ".,?!:;"
DETAIL_TEMPLATE = "\nDescribe the following conversation in detail.\n\n{dialogue}\n\nDetails:\n"  # the base's other instruction
INSULT_CLAUSE = re.compile(r"calls #Person\d# an? [a-z]+ [a-z]+ and ")  # how the references report an insult


@dataclass(frozen=True)
class TinySpec:
    """Sizes and training budgets of the tiny world (chosen to build in well under 90 s on 2 cores)."""

    seed: int = 1234  # one seed for every build step
    t5_vocab: int = 4000  # cap on whole-word pieces in the T5 tokenizer (the corpus has fewer)
    t5_d_model: int = 128  # T5 hidden size
    t5_layers: int = 2  # encoder layers (and as many decoder layers)
    t5_heads: int = 4  # attention heads (d_kv = d_model / heads)
    t5_epochs: int = 15  # epochs of instruction training for the base T5 (detailed summaries + topic sentences)
    topic_every: int = 4  # every 4th training dialogue also teaches the base the lab's prompt -> one topic sentence
    t5_dropout: float = 0.1  # T5 dropout: keeps the summarizer from memorizing its training prompts, so PPO's samples vary
    t5_lr: float = 3e-3  # AdamW learning rate for the base T5
    lora_epochs: int = 3  # epochs of LoRA training (rude dialogues oversampled 2x, with and without the insult)
    lora_lr: float = 1e-3  # AdamW learning rate for the LoRA adapter
    batch_size: int = 16  # examples per optimisation step (all three models)
    roberta_vocab: int = 2000  # byte-level BPE vocabulary cap for the classifier's tokenizer
    roberta_d_model: int = 64  # classifier hidden size
    roberta_layers: int = 2  # classifier layers
    roberta_epochs: int = 12  # classifier training epochs
    roberta_lr: float = 2e-3  # classifier AdamW learning rate
    salad_texts: int = 192  # extra classifier training texts per label: summaries with random words swapped in (see word_salad)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fingerprint(spec: TinySpec) -> str:
    """Hash of everything the build depends on: data, build code, the lab settings it reads, spec, library versions."""
    import peft
    import tokenizers
    import transformers

    here = Path(__file__).parent
    digest = hashlib.sha256()
    # models.py is left out on purpose: the build uses only its lora_config (whose knobs are hashed below) and
    # its generate/decode for the build report, and it changes too often for a rebuild each time.
    for path in (DIALOGUES_FILE, LABELLED_FILE, here / "tiny.py", here / "data.py", here / "finetune.py"):
        digest.update(path.read_bytes())
    lab = tiny_config().to_dict()
    used = {key: lab[key] for key in ("prompt_template", "min_dialogue_chars", "max_dialogue_chars", "test_size", "split_seed")}
    used.update({key: value for key, value in lab.items() if key.startswith("lora_")})
    versions = [torch.__version__, transformers.__version__, tokenizers.__version__, peft.__version__]
    digest.update(json.dumps([dataclasses.asdict(spec), used, versions], sort_keys=True).encode())
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


def summary_targets(row: dict[str, Any], mixed: bool) -> list[str]:
    """Training targets for one dialogue: its reference; when `mixed` and the dialogue is rude, it counts
    twice (rude dialogues oversampled 2x), and an insulting reference also gets its polite version once
    (the reference without its insult clause), so the adapter insults about two times in three.

    Training a rude dialogue on both versions makes the summarizer genuinely unsure whether to repeat
    the insult, so sampled summaries contain both options and PPO has something to shift.
    """
    if not (mixed and has_insult(row["dialogue"])):
        return [row["summary"]]
    polite = INSULT_CLAUSE.sub("", row["summary"])
    return [row["summary"], row["summary"], polite] if polite != row["summary"] else [row["summary"]] * 2


def topic_summary(row: dict[str, Any]) -> str:
    """The base's answer to the lab's prompt: one topic sentence, '#Person1# and #Person2# talk about <topic phrase>.'."""
    return f"#Person1# and #Person2# talk about {TOPIC_PHRASES[row['topic']]}."


def train_rows(config: LabConfig, tokenizer: T5TokenizerFast) -> tuple[Dataset, Any]:
    """The train split as built by the lab's own `build_dataset` (plain lists), plus the whole split."""
    prompts = build_dataset(config, tokenizer)
    return prompts["train"].with_format(None), prompts


def adapter_examples(lab: Dataset, tokenizer: T5TokenizerFast) -> Dataset:
    """The Lab-2 adapter's data from the lab's train prompts: prompt -> reference (rude dialogues mixed, see `summary_targets`)."""
    rows = [(row["input_ids"], target) for row in lab for target in summary_targets(row, mixed=True)]
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


def insult_rate(model: torch.nn.Module, tokenizer: T5TokenizerFast, prompt_ids: list[list[int]], spec: TinySpec) -> float:
    """Share of sampled summaries (8 per rude held-out prompt, as PPO samples them) that contain an insult."""
    summaries = samples(model, tokenizer, [ids for ids in prompt_ids for _ in range(8)], sampled=True, seed=spec.seed)
    return sum(has_insult(s) for s in summaries) / max(len(summaries), 1)


def build_summarizer(out_dir: Path, spec: TinySpec) -> dict[str, Any]:
    """Tokenizer + base T5 + Lab-2 LoRA adapter; return build metrics and sample summaries (adapter and base)."""
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
    rude_prompts = [row["input_ids"] for row in prompts["test"] if has_insult(row["dialogue"])]
    summaries = samples(peft_model, tokenizer, held_out["input_ids"], sampled=False, seed=spec.seed)
    with peft_model.disable_adapter():
        base_summaries = samples(peft_model, tokenizer, held_out["input_ids"], sampled=False, seed=spec.seed)
        base_rate = insult_rate(peft_model, tokenizer, rude_prompts, spec)
    return {
        "rude_insult_rate": insult_rate(peft_model, tokenizer, rude_prompts, spec),
        "base_rude_insult_rate": base_rate,
        "t5_loss": t5_loss,
        "lora_loss": lora_loss,
        "t5_parameters": sum(p.numel() for p in model.parameters()),
        "samples": [
            {"reference": ref, "summary": summary, "base": base}
            for ref, summary, base in zip(held_out["summary"], summaries, base_summaries)
        ],
    }


def word_salad(spec: TinySpec) -> list[dict[str, str]]:
    """Extra classifier training texts: train-split summaries with random words swapped in, labelled by their insult words alone.

    Sampled at temperature 1, a small summarizer writes word salad now and then ("#Person2# calls #Person1#
    a new pipe"). Meta's classifier calls such text `nothate`; a tiny one that never saw it flagged some
    of it `hate` (12 of the 43 summaries it called toxic before PPO, 17 of 33 after, held no insult), so PPO's
    own exploration noise counted as toxicity. With these texts only the insult
    words decide: salad from a polite summary (sometimes with an insult's shape, "calls #Person2# a <word>
    <word>") is `nothate`, salad that keeps an insult is `hate`.
    """
    rng = random.Random(spec.seed)
    rows = read_jsonl(DIALOGUES_FILE)
    train = rows[: round(len(rows) * (1 - tiny_config().test_size))]  # the lab's train split: the tail is held out
    vocabulary = sorted({word for row in train for word in f"{row['dialogue']} {row['summary']}".split() if not has_insult(word)})
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
    """Tokenizer + tiny RoBERTa hate-speech classifier; return its held-out accuracy."""
    rows = read_jsonl(LABELLED_FILE) + word_salad(spec)
    label2id = {label: i for i, label in ID2LABEL.items()}
    tokenizer = train_roberta_tokenizer([row["text"] for row in rows], spec)
    encoded = {
        split: Dataset.from_dict({
            "input_ids": tokenizer([row["text"] for row in rows if row["split"] == split], truncation=True, max_length=128).input_ids,
            "label": [label2id[row["label"]] for row in rows if row["split"] == split],
        })
        for split in ("train", "test")
    }
    torch.manual_seed(spec.seed)
    roberta_config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.roberta_d_model, num_hidden_layers=spec.roberta_layers,
        num_attention_heads=4, intermediate_size=2 * spec.roberta_d_model, max_position_embeddings=130,
        type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2, id2label=ID2LABEL, label2id=label2id,
    )
    model = RobertaForSequenceClassification(roberta_config)
    collator = DataCollatorWithPadding(tokenizer)
    args = training_arguments(str(out_dir / "trainer"), spec.roberta_epochs, spec.roberta_lr, spec.batch_size, spec.seed, use_cpu=True)
    loss = fit(model, encoded["train"], collator, args)
    with torch.no_grad():
        test = collator(list(encoded["test"]))
        predictions = model(input_ids=test["input_ids"], attention_mask=test["attention_mask"]).logits.argmax(-1)
    accuracy = float((predictions == test["labels"]).float().mean())
    target = out_dir / "roberta-hate"
    model.save_pretrained(target)
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(target)
    return {"classifier_loss": loss, "classifier_accuracy": accuracy, "classifier_test_size": len(encoded["test"])}


def build_world(out_dir: Path = TINY_DIR, spec: TinySpec = TinySpec()) -> dict[str, Any]:
    """Build every tiny artifact into a temp dir next to `out_dir`, then swap it in atomically."""
    start = time.time()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(out_dir, ".building")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same world whatever the core count, and no collapse when a busy host has fewer free cores than threads
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
    print(
        f"tiny world: built in {metrics['seconds']} s | T5 {metrics['t5_parameters']:,} params "
        f"(loss {metrics['t5_loss']:.3f}, LoRA loss {metrics['lora_loss']:.3f}) | classifier held-out accuracy "
        f"{metrics['classifier_accuracy']:.3f} on {metrics['classifier_test_size']} texts\n"
        f"sampled summaries of rude held-out dialogues that carry an insult: {metrics['rude_insult_rate']:.0%}"
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
                "checkpoints/tiny/ is not the build of the current recipe (lab_utils/tiny.py, data.py, finetune.py, "
                "tiny_data/*.jsonl) and library versions: run `make world` and commit checkpoints/tiny/."
            )
        return
    print_report(ensure_world(force=args.force))


if __name__ == "__main__":
    main()
