"""Supervised fine-tuning on transformers' Trainer: the companion "Lab 2" notebook, Lab 3's quick adapter, the tiny world's build."""

from __future__ import annotations

import tempfile
from typing import Any

import torch
from datasets import Dataset
from transformers import (
    DataCollatorForSeq2Seq,
    PreTrainedTokenizerBase,
    PrinterCallback,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    Trainer,
    TrainingArguments,
)

from .config import LabConfig


def training_arguments(
    output_dir: str, epochs: int, learning_rate: float, batch_size: int, seed: int, use_cpu: bool = False
) -> Seq2SeqTrainingArguments:
    """Trainer settings of every fine-tune here: AdamW, linear decay to 0, clipping at 1, one log line per epoch, no saves."""
    return Seq2SeqTrainingArguments(
        output_dir=output_dir,  # required by Trainer; nothing is written there (save_strategy="no")
        num_train_epochs=epochs,
        learning_rate=learning_rate,
        per_device_train_batch_size=batch_size,
        weight_decay=0.01,  # AdamW's decoupled decay, on every weight but biases and norms
        lr_scheduler_type="linear",  # decays to 0 over the run, no warm-up
        max_grad_norm=1.0,  # gradient clipping
        optim="adamw_torch",  # plain AdamW, named: a change of transformers' default optimizer cannot change the tiny world
        seed=seed,  # model init and the shuffling of examples
        logging_strategy="epoch",  # one loss per epoch in trainer.state.log_history
        save_strategy="no",  # the caller saves the adapter where it belongs
        report_to="none",  # no wandb/tensorboard
        disable_tqdm=True,
        use_cpu=use_cpu,
    )


def summary_examples(prompts: Dataset, tokenizer: PreTrainedTokenizerBase, targets: str = "summary") -> Dataset:
    """Training examples (prompt ids -> the `targets` column's token ids) from a split made by `build_dataset`."""
    rows = prompts.with_format(None)
    return Dataset.from_dict({"input_ids": list(rows["input_ids"]), "labels": tokenizer(list(rows[targets])).input_ids})


def last_epoch_loss(trainer: Trainer) -> float:
    """The mean training loss of the last epoch, from the trainer's log."""
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry][-1]


def fit(model: torch.nn.Module, examples: Dataset, collator: Any, args: TrainingArguments, verbose: bool = False) -> float:
    """Train `model`'s trainable weights on `examples` with transformers' Trainer; return the last epoch's loss."""
    trainer_class = Seq2SeqTrainer if isinstance(args, Seq2SeqTrainingArguments) else Trainer
    trainer = trainer_class(model=model, args=args, train_dataset=examples, data_collator=collator)
    if not verbose:
        trainer.remove_callback(PrinterCallback)  # no per-epoch log lines
    trainer.train()
    model.eval()
    return last_epoch_loss(trainer)


def finetune_summarizer(
    config: LabConfig, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: Dataset
) -> float:
    """Fine-tune the trainable (LoRA) weights of `model` on the prompts' reference summaries; return the loss."""
    with tempfile.TemporaryDirectory() as scratch:
        args = training_arguments(scratch, config.finetune_epochs, config.finetune_learning_rate,
                                  config.finetune_batch_size, config.seed)
        return fit(model, summary_examples(prompts, tokenizer), DataCollatorForSeq2Seq(tokenizer), args, verbose=True)
