"""Lab 2's fine-tune on transformers' Trainer: it lowers the summaries' loss and trains only the LoRA weights."""

import dataclasses

import torch
from peft import get_peft_model
from transformers import DataCollatorForSeq2Seq

from lab_utils.finetune import finetune_summarizer, summary_examples
from lab_utils.models import load_base_model, lora_config


def summary_loss(model, tokenizer, rows) -> float:
    batch = DataCollatorForSeq2Seq(tokenizer)(list(summary_examples(rows, tokenizer)))
    model.eval()
    with torch.no_grad():
        return model(**batch).loss.item()


def test_finetune_lowers_the_loss_and_trains_only_the_adapter(config, tokenizer, prompts) -> None:
    model = get_peft_model(load_base_model(config), lora_config(config))
    train, held_out = prompts["train"].select(range(128)), prompts["test"].select(range(32))
    frozen = {name: p.detach().clone() for name, p in model.named_parameters() if not p.requires_grad}
    lora = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    before = summary_loss(model, tokenizer, held_out)
    loss = finetune_summarizer(dataclasses.replace(config, finetune_epochs=3), model, tokenizer, train)
    after = summary_loss(model, tokenizer, held_out)
    assert 0 < loss < before and after < 0.9 * before, (before, loss, after)  # the base answers in another style
    assert all(torch.equal(p, frozen[name]) for name, p in model.named_parameters() if name in frozen)
    assert all(name in frozen or "lora_" in name for name, _ in model.named_parameters())
    assert any(not torch.equal(p, lora[name]) for name, p in model.named_parameters() if name in lora)
