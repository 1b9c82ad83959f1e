"""Prompts for the lab: DialogSum (hub) or the embedded dialogues (JSONL), filtered, wrapped, tokenized, split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict, load_dataset
from transformers import PreTrainedTokenizerBase

from .config import LabConfig

REQUIRED_FIELD = "dialogue"


def load_dialogues(config: LabConfig) -> Dataset:
    """The raw dialogues: a local JSONL/JSON file through the `json` builder, else a hub dataset id."""
    source = Path(config.dataset_name)
    if source.suffix in {".jsonl", ".json"}:
        if not source.is_file():
            raise FileNotFoundError(
                f"Dataset file {source} does not exist. The tiny profile's dialogues ship in "
                "lab_utils/tiny_data/; regenerate them with `python lab_utils/tiny_data/compose.py`."
            )
        return load_dataset("json", data_files=str(source), split="train")
    return load_dataset(config.dataset_name, split=config.dataset_split)


def drop_bad_dialogues(dataset: Dataset) -> tuple[Dataset, int]:
    """Drop rows whose dialogue is missing, empty or not text; return the rest and how many were dropped."""
    if REQUIRED_FIELD not in dataset.column_names:
        raise ValueError(
            f"The dataset has no '{REQUIRED_FIELD}' field (it has {dataset.column_names}). "
            "Point LabConfig.dataset_name at data in DialogSum's schema: id, dialogue, summary, topic."
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
        raise ValueError(f"Only {len(kept)} dialogue(s) have {lo} < characters <= {hi}; widen the bounds in LabConfig.")
    rng = np.random.default_rng(config.seed)
    budgets = None
    if config.prompt_token_budget is not None:
        budgets = rng.integers(config.prompt_token_budget[0], config.prompt_token_budget[1], size=len(kept)).tolist()

    def tokenize(row: dict[str, Any], index: int) -> dict[str, Any]:
        """Add input_ids and the decoded query to one row."""
        input_ids = tokenize_prompt(row[REQUIRED_FIELD], config, tokenizer, budgets[index] if budgets else None)
        return {"input_ids": input_ids, "query": tokenizer.decode(input_ids)}

    prompts = kept.map(tokenize, with_indices=True)
    prompts.set_format(type="torch")
    return prompts.train_test_split(test_size=config.test_size, shuffle=False, seed=config.split_seed)


def collator(data: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Collate a list of rows into a dict of lists (queries stay ragged; trl pads them itself)."""
    return {key: [row[key] for row in data] for key in data[0]}
