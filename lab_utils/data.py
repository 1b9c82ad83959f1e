"""Prompts for the lab: DialogSum (hub) or the embedded dialogues (JSONL), filtered, wrapped, tokenized, split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict, load_dataset
from transformers import PreTrainedTokenizerBase

from .config import LabConfig
from .errors import DataError

REQUIRED_FIELD = "dialogue"
REQUIRED_FIELDS = ("dialogue", "summary")  # what the lab reads: the prompt's text, and the reference for ROUGE
MAX_UNKNOWN_SHARE = 0.25  # real text has almost no <unk>; a wrong tokenizer gives ~50% (an unknown word is "▁" + <unk>)
DEFAULT_TOKEN_BUDGET = 512  # prompt cap when the tokenizer states no usable model_max_length (FLAN-T5 was trained at 512)


def load_dialogues(config: LabConfig) -> Dataset:
    """The raw dialogues: a local JSONL/JSON file through the `json` builder, else a hub dataset id."""
    source = Path(config.dataset_name)
    if source.suffix in {".jsonl", ".json"}:
        check_jsonl(source)
        return load_dataset("json", data_files=str(source), split="train")
    return load_dataset(config.dataset_name, split=config.dataset_split)


def check_jsonl(path: Path) -> None:
    """Raise a one-line DataError naming the file, the line and the problem when a JSONL file cannot be read as dialogues."""
    fix = "fix that line, or point LabConfig.dataset_name at a JSONL file with one {\"dialogue\": ..., \"summary\": ...} object per line"
    if not path.is_file():
        raise DataError(
            f"Dataset file {path} does not exist — the tiny profile's dialogues ship in lab_utils/tiny_data/; "
            "regenerate them with `python lab_utils/tiny_data/compose.py`, or fix LabConfig.dataset_name."
        )
    rows = 0
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataError(f"{path}, line {number}: not UTF-8 text ({error.reason} at byte {error.start}) — save the file as UTF-8.") from None
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}, line {number}: not a JSON object ({error.msg}, column {error.colno}) — {fix}.") from None
            missing = [name for name in REQUIRED_FIELDS if not isinstance(row, dict) or name not in row]
            if missing:
                raise DataError(f"{path}, line {number}: no {missing} field — {fix}.")
            rows += 1
    if rows == 0:
        raise DataError(f"{path} holds no dialogues (it is empty) — {fix}.")


def drop_bad_dialogues(dataset: Dataset) -> tuple[Dataset, int]:
    """Drop rows whose dialogue is missing, empty or not text; return the rest and how many were dropped."""
    missing = [name for name in REQUIRED_FIELDS if name not in dataset.column_names]
    if missing:
        raise DataError(
            f"The dataset has no {missing} field (it has {dataset.column_names}) — "
            "point LabConfig.dataset_name at data in DialogSum's schema: id, dialogue, summary, topic."
        )
    kept = dataset.filter(lambda row: isinstance(row[REQUIRED_FIELD], str) and row[REQUIRED_FIELD].strip() != "")
    return kept, len(dataset) - len(kept)


def tokenize_prompt(
    dialogue: str, config: LabConfig, tokenizer: PreTrainedTokenizerBase, token_budget: int | None = None
) -> list[int]:
    """Token ids of the instruction prompt; past `token_budget`, the dialogue is cut but the 'Summary:' suffix kept."""
    input_ids = tokenizer.encode(config.prompt_template.format(dialogue=dialogue))
    if token_budget is None or len(input_ids) <= token_budget:
        return input_ids
    head, tail = config.prompt_template.split("{dialogue}")
    head_ids = tokenizer.encode(head + dialogue, add_special_tokens=False)
    tail_ids = tokenizer.encode(tail)  # keeps the suffix and the end-of-sequence token intact
    if len(tail_ids) >= token_budget:
        raise ValueError(f"A token budget of {token_budget} cannot hold the prompt suffix ({len(tail_ids)} tokens).")
    return head_ids[: token_budget - len(tail_ids)] + tail_ids


def build_dataset(
    config: LabConfig, tokenizer: PreTrainedTokenizerBase, dataset: Dataset | None = None
) -> DatasetDict:
    """The original lab's build_dataset: filter by length, wrap in the prompt, tokenize, split train/test."""
    raw = load_dialogues(config) if dataset is None else dataset
    raw, dropped = drop_bad_dialogues(raw)
    if dropped:
        print(f"Dropped {dropped} row(s) whose dialogue was missing, empty or not text.")
    lo, hi = config.min_dialogue_chars, config.max_dialogue_chars
    kept = raw.filter(lambda row: lo < len(row[REQUIRED_FIELD]) <= hi)
    if len(kept) < 2:
        raise DataError(f"Only {len(kept)} dialogue(s) have {lo} < characters <= {hi} — widen min/max_dialogue_chars in LabConfig.")
    if config.prompt_token_budget is not None:
        rng = np.random.default_rng(config.seed)
        budgets = rng.integers(config.prompt_token_budget[0], config.prompt_token_budget[1], size=len(kept)).tolist()
    else:
        budgets = [model_context(tokenizer)] * len(kept)

    def tokenize(row: dict[str, Any], index: int) -> dict[str, Any]:
        """Add input_ids, the decoded query and whether the dialogue was cut to one row."""
        input_ids = tokenize_prompt(row[REQUIRED_FIELD], config, tokenizer, budgets[index])
        return {"input_ids": input_ids, "query": tokenizer.decode(input_ids), "truncated": len(input_ids) >= budgets[index]}

    prompts = kept.map(tokenize, with_indices=True)
    check_unknown_share(prompts["input_ids"], tokenizer)
    truncated = sum(prompts["truncated"])
    if truncated and config.prompt_token_budget is None:
        print(f"Note: {truncated} of {len(prompts)} prompts were longer than the model's context ({budgets[0]} tokens) and were cut (the 'Summary:' suffix kept).")
    prompts = prompts.remove_columns("truncated")
    prompts.set_format(type="torch")
    return prompts.train_test_split(test_size=config.test_size, shuffle=False, seed=config.split_seed)


def model_context(tokenizer: PreTrainedTokenizerBase) -> int:
    """The longest prompt the model was made for: the tokenizer's model_max_length when it states one, else 512."""
    limit = tokenizer.model_max_length
    return int(limit) if isinstance(limit, int) and 0 < limit < 1_000_000 else DEFAULT_TOKEN_BUDGET


def check_unknown_share(prompt_ids: list[list[int]], tokenizer: PreTrainedTokenizerBase) -> None:
    """Raise a DataError when most prompt tokens are <unk>: the tokenizer does not belong to this model or data."""
    if tokenizer.unk_token_id is None:
        return
    tokens = [int(token) for ids in prompt_ids for token in ids]
    share = sum(token == tokenizer.unk_token_id for token in tokens) / max(len(tokens), 1)
    if share > MAX_UNKNOWN_SHARE:
        raise DataError(
            f"{share:.0%} of the prompts' tokens are <unk>: the tokenizer ({len(tokenizer)} tokens) cannot read these "
            "dialogues — check that the model folder holds its own tokenizer files (tokenizer.json / spiece.model)."
        )


def collator(data: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Collate a list of rows into a dict of lists (queries stay ragged; trl pads them itself)."""
    return {key: [row[key] for row in data] for key in data[0]}
