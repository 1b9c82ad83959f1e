"""Builds a stand-in of the Hugging Face hub for the `full` profile's real ids, locally and deterministically.

    python -m rehearsal.standin            # build (or reuse) checkpoints/standin/ and print its manifest

What lands in `checkpoints/standin/` (git-ignored, rebuilt when this file, the data or the library
versions change; built under a file lock into a staging folder, then swapped into place):

- `models/google/flan-t5-base/`: FLAN-T5-base's real config (d_model 768, d_ff 2048, 12+12 layers,
  12 heads, gated-gelu, vocab 32128, its own lm_head), seeded random weights in bf16 safetensors, and
  a T5 tokenizer with T5's special tokens (<pad>=0, </s>=1, <unk>=2, 100 <extra_id_*>), 32,100 ids.
- `models/facebook/roberta-hate-speech-dynabench-r4-target/`: a roberta-base classifier config with
  id2label {0: nothate, 1: hate}, seeded random bf16 weights, a byte-level BPE tokenizer (vocab.json + merges.txt).
- `datasets/knkarthick/dialogsum/`: train.csv / validation.csv / test.csv with DialogSum's columns
  (id, dialogue, summary, topic), made from the shipped dialogues, and a dataset card.
- `course-adapter/peft-dialogue-summary-checkpoint/`: the course's Lab-2 adapter as it ships:
  adapter_config.json (peft 0.3-era fields) + adapter_model.bin (a torch.save'd state dict; r=32, alpha=32, q/v).
- `manifest.json`: the fingerprint, and per repo its commit sha and every file's size, git blob id and sha256.

Tokenizers are trained on the shipped text only; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from transformers import RobertaConfig, RobertaForSequenceClassification, T5Config, T5ForConditionalGeneration, T5TokenizerFast

from lab_utils.config import CHECKPOINTS_DIR, TINY_DATA_DIR
from lab_utils import tiny
from lab_utils.files import staging_dir, swap_into_place
from lab_utils.tiny import TinySpec, read_jsonl, train_roberta_tokenizer, train_t5_tokenizer

STANDIN_DIR = CHECKPOINTS_DIR / "standin"
MANIFEST = "manifest.json"
T5_ID = "google/flan-t5-base"
ROBERTA_ID = "facebook/roberta-hate-speech-dynabench-r4-target"
DIALOGSUM_ID = "knkarthick/dialogsum"
ADAPTER_NAME = "peft-dialogue-summary-checkpoint"
SEED = 20231  # one seed for every random tensor of the stand-in
WEIGHTS_DTYPE = torch.bfloat16  # half the disk and download of fp32 (the hub's FLAN-T5 file is fp32, 990 MB); the lab casts to its own dtype on load
LFS_SUFFIXES = (".safetensors", ".bin")  # files the hub stores in LFS (served by redirect, ETag = sha256)
SPLITS = {"train": 400, "validation": 20, "test": 60}  # rows of the shipped dialogues per DialogSum split, in order

# FLAN-T5-base's config.json as the hub serves it (the fields that shape the model and its generation).
T5_CONFIG = {
    "architectures": ["T5ForConditionalGeneration"],
    "d_ff": 2048,
    "d_kv": 64,
    "d_model": 768,
    "decoder_start_token_id": 0,
    "dense_act_fn": "gelu_new",
    "dropout_rate": 0.1,
    "eos_token_id": 1,
    "feed_forward_proj": "gated-gelu",
    "initializer_factor": 1.0,
    "is_encoder_decoder": True,
    "is_gated_act": True,
    "layer_norm_epsilon": 1e-06,
    "model_type": "t5",
    "n_positions": 512,
    "num_decoder_layers": 12,
    "num_heads": 12,
    "num_layers": 12,
    "output_past": True,
    "pad_token_id": 0,
    "relative_attention_max_distance": 128,
    "relative_attention_num_buckets": 32,
    "tie_word_embeddings": False,
    "transformers_version": "4.23.1",
    "use_cache": True,
    "vocab_size": 32128,
}
T5_GENERATION_CONFIG = {"decoder_start_token_id": 0, "eos_token_id": 1, "pad_token_id": 0, "transformers_version": "4.27.0.dev0"}

# roberta-base's shape with the hate-speech classifier's labels.
ROBERTA_CONFIG = {
    "architectures": ["RobertaForSequenceClassification"],
    "attention_probs_dropout_prob": 0.1,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "id2label": {"0": "nothate", "1": "hate"},
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "label2id": {"hate": 1, "nothate": 0},
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 514,
    "model_type": "roberta",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 1,
    "position_embedding_type": "absolute",
    "type_vocab_size": 1,
    "vocab_size": 50265,
}

# The course's adapter_config.json: a peft 0.3-era LoraConfig (the lab loads it with today's peft).
ADAPTER_CONFIG = {
    "base_model_name_or_path": T5_ID,
    "bias": "none",
    "fan_in_fan_out": False,
    "inference_mode": True,
    "init_lora_weights": True,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "modules_to_save": None,
    "peft_type": "LORA",
    "r": 32,
    "revision": None,
    "target_modules": ["q", "v"],
    "task_type": "SEQ_2_SEQ_LM",
}

DATASET_CARD = """---
language:
- en
license: cc-by-nc-sa-4.0
task_categories:
- summarization
pretty_name: DialogSum (rehearsal stand-in)
---
# DialogSum stand-in

The rehearsal's stand-in for `knkarthick/dialogsum`: DialogSum's files and columns (id, dialogue,
summary, topic), filled with the lab's own embedded dialogues (lab_utils/tiny_data/dialogues.jsonl).
"""


def fingerprint() -> str:
    """Hash of everything the stand-in depends on: this file, the shipped text, the tokenizer code, library versions."""
    import safetensors
    import tokenizers
    import transformers

    digest = hashlib.sha256()
    for path in (Path(__file__), Path(tiny.__file__), TINY_DATA_DIR / "dialogues.jsonl", TINY_DATA_DIR / "labelled.jsonl"):
        digest.update(path.read_bytes())
    digest.update(json.dumps([torch.__version__, transformers.__version__, tokenizers.__version__, safetensors.__version__]).encode())
    return digest.hexdigest()


def seeded_normal(shape: torch.Size, std: float, generator: torch.Generator) -> torch.Tensor:
    """A tensor of N(0, std^2) draws in the stand-in's dtype, from `generator`."""
    return torch.empty(shape, dtype=WEIGHTS_DTYPE).normal_(0.0, std, generator=generator)


def random_state_dict(model_class: type, config: dict[str, Any], skip: tuple[str, ...], std_of: Any) -> dict[str, torch.Tensor]:
    """Seeded weights for every tensor `model_class(config)` saves (minus `skip`): norms 1, biases 0, matrices N(0, std_of(name, shape))."""
    config_class = T5Config if config["model_type"] == "t5" else RobertaConfig
    with torch.device("meta"):  # names and shapes only, no memory and no init
        names = model_class(config_class(**config)).state_dict()
    generator = torch.Generator().manual_seed(SEED)
    weights = {}
    for name, meta in names.items():
        if name in skip:
            continue
        if meta.dim() == 1:
            weights[name] = (torch.zeros if name.endswith("bias") else torch.ones)(meta.shape, dtype=WEIGHTS_DTYPE)
        else:
            weights[name] = seeded_normal(meta.shape, std_of(name, meta.shape), generator)
    return weights


def t5_std(name: str, shape: torch.Size) -> float:
    """T5-style scales: the shared embedding N(0, 1), every other matrix N(0, 1/fan_in)."""
    return 1.0 if name == "shared.weight" else shape[1] ** -0.5


def build_t5(repo: Path, corpus: list[str]) -> None:
    """FLAN-T5-base's config, generation config, tokenizer and seeded random weights (shared and lm_head separate, as FLAN-T5 saves them)."""
    repo.mkdir(parents=True)
    write_json(repo / "config.json", T5_CONFIG)
    write_json(repo / "generation_config.json", T5_GENERATION_CONFIG)
    weights = random_state_dict(T5ForConditionalGeneration, T5_CONFIG, ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight"), t5_std)
    save_file(weights, repo / "model.safetensors", metadata={"format": "pt"})
    t5_tokenizer(corpus).save_pretrained(repo)


def t5_tokenizer(corpus: list[str]) -> T5TokenizerFast:
    """T5's tokenizer layout: 32,000 Unigram pieces (<pad>=0, </s>=1, <unk>=2, whole words of `corpus`, characters, unused fillers) + 100 extra ids."""
    words = json.loads(train_t5_tokenizer(corpus, TinySpec(t5_vocab=31000)).backend_tokenizer.to_str())["model"]["vocab"]
    fillers = [(f"\u2581<unused_{index}>", -1000.0) for index in range(32000 - len(words))]  # never chosen: they fill T5's 32,000 pieces
    tokenizer = T5TokenizerFast(vocab=[tuple(piece) for piece in words] + fillers, extra_ids=100)
    tokenizer.model_max_length = 512
    return tokenizer


def build_roberta(repo: Path, corpus: list[str]) -> None:
    """roberta-base's classifier config (nothate/hate), seeded random weights and a byte-level BPE tokenizer as vocab.json + merges.txt."""
    repo.mkdir(parents=True)
    write_json(repo / "config.json", ROBERTA_CONFIG)
    weights = random_state_dict(RobertaForSequenceClassification, ROBERTA_CONFIG, (), lambda name, shape: ROBERTA_CONFIG["initializer_range"])
    save_file(weights, repo / "model.safetensors", metadata={"format": "pt"})
    tokenizer = train_roberta_tokenizer(corpus, TinySpec(roberta_vocab=ROBERTA_CONFIG["vocab_size"]))
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(repo)
    tokenizer.backend_tokenizer.model.save(str(repo))  # vocab.json + merges.txt, the files roberta-base's repo has
    (repo / "tokenizer.json").unlink()  # so the lab's loading builds the fast tokenizer from them, as for the real repo


def build_dialogsum(repo: Path) -> None:
    """train/validation/test CSV files in DialogSum's columns from the shipped dialogues, plus a dataset card."""
    repo.mkdir(parents=True)
    rows = read_jsonl(TINY_DATA_DIR / "dialogues.jsonl")
    start = 0
    for split, count in SPLITS.items():
        prefix = {"train": "train", "validation": "dev", "test": "test"}[split]
        with (repo / f"{split}.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=["id", "dialogue", "summary", "topic"])
            writer.writeheader()
            for index, row in enumerate(rows[start : start + count]):
                writer.writerow({"id": f"{prefix}_{index}", "dialogue": row["dialogue"], "summary": row["summary"], "topic": row["topic"]})
        start += count
    (repo / "README.md").write_text(DATASET_CARD)


def build_adapter(folder: Path) -> None:
    """The course's Lab-2 adapter as it ships: adapter_config.json + adapter_model.bin (torch.save of LoRA q/v weights, fp32)."""
    folder.mkdir(parents=True)
    write_json(folder / "adapter_config.json", ADAPTER_CONFIG)
    with torch.device("meta"):
        base = T5ForConditionalGeneration(T5Config(**T5_CONFIG))
    generator = torch.Generator().manual_seed(SEED + 1)
    rank = ADAPTER_CONFIG["r"]
    weights = {}
    for name, module in base.named_modules():
        if name.split(".")[-1] in ADAPTER_CONFIG["target_modules"]:
            prefix = f"base_model.model.{name}"
            weights[f"{prefix}.lora_A.weight"] = torch.randn(rank, module.in_features, generator=generator) * module.in_features**-0.5
            weights[f"{prefix}.lora_B.weight"] = torch.randn(module.out_features, rank, generator=generator) * 0.01  # a trained adapter's B is not zero
    torch.save(weights, folder / "adapter_model.bin")


def write_json(path: Path, values: dict[str, Any]) -> None:
    """Write `values` as indented, key-sorted JSON."""
    path.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")


def file_record(path: Path) -> dict[str, Any]:
    """What the hub knows of a file: size, git blob id (of the LFS pointer for LFS files) and sha256 for LFS files."""
    data = path.read_bytes()
    record: dict[str, Any] = {"size": len(data)}
    if path.suffix in LFS_SUFFIXES:
        sha256 = hashlib.sha256(data).hexdigest()
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()
        record.update(sha256=sha256, pointer_size=len(pointer), blob_id=git_blob_id(pointer))
    else:
        record["blob_id"] = git_blob_id(data)
    return record


def git_blob_id(data: bytes) -> str:
    """The git object id of a blob holding `data`."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def repo_record(root: Path, kind: str, repo_id: str, stamp: str) -> dict[str, Any]:
    """A repo's commit sha (derived from the fingerprint) and its files' records, for the loopback hub."""
    folder = root / f"{kind}s" / repo_id
    (folder / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    files = {path.relative_to(folder).as_posix(): file_record(path) for path in sorted(folder.rglob("*")) if path.is_file()}
    return {"type": kind, "sha": hashlib.sha1(f"{stamp}:{kind}:{repo_id}".encode()).hexdigest(), "files": files}


def build_standin(out_dir: Path = STANDIN_DIR) -> dict[str, Any]:
    """Build every stand-in repo into a staging folder next to `out_dir`, then swap it in; return the manifest."""
    started = time.time()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(out_dir, ".building")
    dialogues = read_jsonl(TINY_DATA_DIR / "dialogues.jsonl")
    labelled = read_jsonl(TINY_DATA_DIR / "labelled.jsonl")
    corpus = ["\nSummarize the following conversation.\n\nSummary:\n"] + [row["dialogue"] for row in dialogues] + [row["summary"] for row in dialogues]
    build_t5(staging / "models" / T5_ID, corpus)
    build_roberta(staging / "models" / ROBERTA_ID, corpus + [row["text"] for row in labelled])
    build_dialogsum(staging / "datasets" / DIALOGSUM_ID)
    build_adapter(staging / "course-adapter" / ADAPTER_NAME)
    stamp = fingerprint()
    repos = {repo_id: repo_record(staging, kind, repo_id, stamp) for kind, repo_id in (("model", T5_ID), ("model", ROBERTA_ID), ("dataset", DIALOGSUM_ID))}
    manifest = {"fingerprint": stamp, "seconds": round(time.time() - started, 1), "repos": repos}
    write_json(staging / MANIFEST, manifest)
    swap_into_place(staging, out_dir)
    return manifest


def is_current(out_dir: Path = STANDIN_DIR) -> bool:
    """True when `out_dir` holds a complete stand-in built from the current code, data and library versions."""
    manifest = out_dir / MANIFEST
    return manifest.is_file() and json.loads(manifest.read_text()).get("fingerprint") == fingerprint()


def ensure_standin(force: bool = False) -> dict[str, Any]:
    """Build the stand-in if it is missing or stale (one builder at a time); return its manifest."""
    CHECKPOINTS_DIR.mkdir(parents=True, exist_ok=True)
    with open(CHECKPOINTS_DIR / ".standin.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # tests and `make rehearse` may start together
        if force or not is_current():
            print("Building the hub stand-in into checkpoints/standin/ ...", flush=True)
            return build_standin()
    return json.loads((STANDIN_DIR / MANIFEST).read_text())


def disk_size(path: Path = STANDIN_DIR) -> int:
    """Bytes on disk under `path`."""
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def main() -> None:
    """Command line: build (or reuse) the stand-in and print what it holds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the current build is up to date")
    manifest = ensure_standin(force=parser.parse_args().force)
    print(f"stand-in: {disk_size() / 1e6:.0f} MB in {STANDIN_DIR} (built in {manifest['seconds']} s)")
    for repo_id, repo in manifest["repos"].items():
        print(f"  {repo['type']} {repo_id} @ {repo['sha'][:12]}: {', '.join(repo['files'])}")


if __name__ == "__main__":
    main()
