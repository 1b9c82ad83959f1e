"""Supervised LoRA fine-tuning of the summarizer (the companion "Lab 2" notebook, and the tiny world's build)."""

from __future__ import annotations

from typing import Any, Callable

import torch
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from .config import LabConfig
from .models import model_device

Example = dict[str, list[int]]


def batches(count: int, batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """A seeded shuffle of range(count), cut into batches."""
    order = torch.randperm(count, generator=generator).tolist()
    return [order[i : i + batch_size] for i in range(0, count, batch_size)]


def pad(sequences: list[list[int]], value: int) -> torch.Tensor:
    """Right-pad integer sequences into one tensor."""
    width = max(len(s) for s in sequences)
    return torch.tensor([s + [value] * (width - len(s)) for s in sequences])


def seq2seq_collate(rows: list[Example]) -> dict[str, torch.Tensor]:
    """Pad prompts (with <pad>=0) and labels (with -100) for T5 training."""
    input_ids = pad([r["input_ids"] for r in rows], 0)
    return {"input_ids": input_ids, "attention_mask": (input_ids != 0).long(), "labels": pad([r["labels"] for r in rows], -100)}


def fit(
    model: torch.nn.Module,
    examples: list[Example],
    collate: Callable[[list[Example]], dict[str, torch.Tensor]],
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
    desc: str = "fine-tuning",
) -> float:
    """Train `model` on `examples` with AdamW and a linear decay; return the last epoch's mean loss."""
    generator = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.01)
    total = epochs * -(-len(examples) // batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / max(total, 1))
    device = model_device(model)
    model.train()
    loss_mean = float("nan")
    for _ in tqdm(range(epochs), desc=desc, leave=False):
        losses = []
        for batch in batches(len(examples), batch_size, generator):
            inputs = {k: v.to(device) for k, v in collate([examples[i] for i in batch]).items()}
            loss = model(**inputs).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        loss_mean = sum(losses) / len(losses)
    model.eval()
    return loss_mean


def summary_examples(prompts: Dataset, tokenizer: PreTrainedTokenizerBase) -> list[Example]:
    """(prompt ids, reference summary ids) pairs from a split made by `build_dataset`."""
    return [
        {"input_ids": [int(i) for i in row["input_ids"]], "labels": tokenizer(row["summary"]).input_ids}
        for row in prompts
    ]


def finetune_summarizer(
    config: LabConfig, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: Dataset
) -> float:
    """Fine-tune the trainable (LoRA) weights of `model` on the prompts' reference summaries; return the loss."""
    examples = summary_examples(prompts, tokenizer)
    return fit(model, examples, seq2seq_collate, config.finetune_epochs, config.finetune_learning_rate,
               config.finetune_batch_size, config.seed, "LoRA fine-tuning")


def greedy_summaries(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompt_ids: list[Any], max_new_tokens: int, batch_size: int = 16
) -> list[str]:
    """Greedy (deterministic) summaries for a list of tokenized prompts, in batches on the model's device."""
    device = model_device(model)
    summaries: list[str] = []
    for start in range(0, len(prompt_ids), batch_size):
        chunk = [[int(i) for i in ids] for ids in prompt_ids[start : start + batch_size]]
        batch = tokenizer.pad({"input_ids": chunk}, return_tensors="pt").to(device)
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
        summaries += tokenizer.batch_decode(out, skip_special_tokens=True)
    return summaries
