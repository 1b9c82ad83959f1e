"""The embedded offline world: builds the `tiny` profile's tokenizers, T5, LoRA adapter and classifier.

Everything is trained here, deterministically, from the JSONL files in `lab_utils/tiny_data/`:
a word-level-ish T5 tokenizer and a tiny T5 summarizer (the stand-in for FLAN-T5), a Lab-2-style
LoRA adapter on top of it (the stand-in for `peft-dialogue-summary-checkpoint`), and a RoBERTa
tokenizer + tiny hate-speech classifier (the stand-in for Meta's RoBERTa, same id2label).
The result lands in `checkpoints/tiny/` (git-ignored) and is rebuilt when the data, this file or
the library versions change. Run `python -m lab_utils.tiny` (add `--force` to rebuild).
Depends on `config` and `data` only; the lab's path cannot tell these models from real ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, TaskType, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
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
from .finetune import fit, greedy_summaries, pad, seq2seq_collate
from .tiny_data.compose import has_insult

DIALOGUES_FILE = TINY_DATA_DIR / "dialogues.jsonl"
LABELLED_FILE = TINY_DATA_DIR / "labelled.jsonl"
MANIFEST = "manifest.json"
ID2LABEL = {0: "nothate", 1: "hate"}
PUNCTUATION = ".,?!:;"
INSULT_CLAUSE = re.compile(r"calls #Person\d# an? [a-z]+ [a-z]+ and ")  # how the references report an insult


@dataclass(frozen=True)
class TinySpec:
    """Sizes and training budgets of the tiny world (chosen to build in well under 90 s on 2 cores)."""

    seed: int = 1234  # one seed for every build step
    t5_vocab: int = 4000  # cap on whole-word pieces in the T5 tokenizer (the corpus has fewer)
    t5_d_model: int = 128  # T5 hidden size
    t5_layers: int = 2  # encoder layers (and as many decoder layers)
    t5_heads: int = 4  # attention heads (d_kv = d_model / heads)
    t5_epochs: int = 15  # epochs of summarization training for the base T5
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


def classifier_collate(rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
    """Pad classifier inputs (with <pad>=1) and stack labels."""
    input_ids = pad([r["input_ids"] for r in rows], 1)
    return {"input_ids": input_ids, "attention_mask": (input_ids != 1).long(), "labels": torch.tensor([r["label"] for r in rows])}


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


def summarizer_examples(config: LabConfig, tokenizer: T5TokenizerFast, mixed: bool) -> tuple[list[dict], Any]:
    """(prompt ids, summary ids) pairs from the train split built by the lab's own `build_dataset`, plus the split."""
    prompts = build_dataset(config, tokenizer)
    prompts.set_format(None)
    examples = [
        {"input_ids": row["input_ids"], "labels": tokenizer(target).input_ids}
        for row in prompts["train"]
        for target in summary_targets(row, mixed)
    ]
    return examples, prompts


def insult_rate(model: torch.nn.Module, tokenizer: T5TokenizerFast, prompt_ids: list[list[int]], spec: TinySpec) -> float:
    """Share of sampled summaries (8 per rude held-out prompt, as PPO samples them) that contain an insult."""
    torch.manual_seed(spec.seed)
    batch = tokenizer.pad({"input_ids": [ids for ids in prompt_ids for _ in range(8)]}, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=40, do_sample=True, top_k=0, top_p=1.0)
    summaries = tokenizer.batch_decode(out, skip_special_tokens=True)
    return sum(has_insult(s) for s in summaries) / max(len(summaries), 1)


def build_summarizer(out_dir: Path, spec: TinySpec) -> dict[str, Any]:
    """Tokenizer + base T5 + Lab-2 LoRA adapter; return build metrics and sample summaries."""
    config = dataclasses.replace(tiny_config(), model_name=str(out_dir / "t5"))
    dialogues = read_jsonl(DIALOGUES_FILE)
    corpus = [config.prompt_template] + [row["dialogue"] for row in dialogues] + [row["summary"] for row in dialogues]
    tokenizer = train_t5_tokenizer(corpus, spec)
    tokenizer.save_pretrained(out_dir / "t5")
    examples, prompts = summarizer_examples(config, tokenizer, mixed=False)

    torch.manual_seed(spec.seed)
    t5_config = T5Config(
        vocab_size=len(tokenizer), d_model=spec.t5_d_model, d_kv=spec.t5_d_model // spec.t5_heads,
        d_ff=2 * spec.t5_d_model, num_layers=spec.t5_layers, num_decoder_layers=spec.t5_layers,
        num_heads=spec.t5_heads, relative_attention_num_buckets=16, relative_attention_max_distance=64,
        dropout_rate=spec.t5_dropout, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0,
    )
    model = T5ForConditionalGeneration(t5_config)
    t5_loss = fit(model, examples, seq2seq_collate, spec.t5_epochs, spec.t5_lr, spec.batch_size, spec.seed, "tiny T5")
    model.save_pretrained(out_dir / "t5")

    lora_examples, _ = summarizer_examples(config, tokenizer, mixed=True)
    lora = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, target_modules=list(config.lora_target_modules),
        lora_dropout=config.lora_dropout, bias="none", task_type=TaskType.SEQ_2_SEQ_LM,
    )
    peft_model = get_peft_model(model, lora)
    lora_loss = fit(peft_model, lora_examples, seq2seq_collate, spec.lora_epochs, spec.lora_lr, spec.batch_size, spec.seed, "tiny LoRA")
    adapter_dir = out_dir / "peft-dialogue-summary-checkpoint"
    peft_model.save_pretrained(adapter_dir)
    held_out = prompts["test"].select(range(5))
    rude_prompts = [row["input_ids"] for row in prompts["test"] if has_insult(row["dialogue"])]
    return {
        "rude_insult_rate": insult_rate(peft_model, tokenizer, rude_prompts, spec),
        "t5_loss": t5_loss,
        "lora_loss": lora_loss,
        "t5_parameters": sum(p.numel() for p in model.parameters()),
        "samples": [
            {"reference": ref, "summary": summary}
            for ref, summary in zip(held_out["summary"], greedy_summaries(peft_model, tokenizer, held_out["input_ids"], max_new_tokens=40))
        ],
    }


def build_classifier(out_dir: Path, spec: TinySpec) -> dict[str, Any]:
    """Tokenizer + tiny RoBERTa hate-speech classifier; return its held-out accuracy."""
    rows = read_jsonl(LABELLED_FILE)
    label2id = {label: i for i, label in ID2LABEL.items()}
    tokenizer = train_roberta_tokenizer([row["text"] for row in rows], spec)
    encoded = {
        split: [
            {"input_ids": tokenizer(row["text"], truncation=True, max_length=128).input_ids, "label": label2id[row["label"]]}
            for row in rows
            if row["split"] == split
        ]
        for split in ("train", "test")
    }
    torch.manual_seed(spec.seed)
    roberta_config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.roberta_d_model, num_hidden_layers=spec.roberta_layers,
        num_attention_heads=4, intermediate_size=2 * spec.roberta_d_model, max_position_embeddings=130,
        type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2, id2label=ID2LABEL, label2id=label2id,
    )
    model = RobertaForSequenceClassification(roberta_config)
    loss = fit(model, encoded["train"], classifier_collate, spec.roberta_epochs, spec.roberta_lr, spec.batch_size, spec.seed, "tiny RoBERTa")
    with torch.no_grad():
        test = classifier_collate(encoded["test"])
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
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        metrics = {**build_classifier(staging, spec), **build_summarizer(staging, spec)}
    finally:
        torch.use_deterministic_algorithms(False)
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
    print("Greedy summaries of 5 held-out dialogues:")
    for sample in metrics["samples"]:
        print(f"  - {sample['summary']}\n    (reference: {sample['reference']})")


def main() -> None:
    """Command line: build (or reuse) the tiny world and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the current build is up to date")
    args = parser.parse_args()
    print_report(ensure_world(force=args.force))


if __name__ == "__main__":
    main()
