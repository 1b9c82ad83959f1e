"""The policy (base seq2seq model + LoRA adapter + value head), its reference, and batched generation."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, PretrainedConfig, PreTrainedTokenizerBase
from trl import AutoModelForSeq2SeqLMWithValueHead, create_reference_model

from .adapters import find_adapter
from .config import LabConfig
from .errors import LabError
from .runtime import pick_device, pick_dtype

TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "vocab.json", "tokenizer_config.json")  # any one means a saved tokenizer


def lora_config(config: LabConfig) -> LoraConfig:
    """The Lab-2 adapter's LoraConfig (rank, alpha, q/v targets, dropout) from the lab config."""
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        target_modules=list(config.lora_target_modules),
        lora_dropout=config.lora_dropout,
        bias="none",
        task_type=TaskType.SEQ_2_SEQ_LM,
    )


def check_untied_lm_head(base_model: torch.nn.Module, model_name: str) -> None:
    """Fail fast if a checkpoint saved with its own lm_head (FLAN-T5's) came back tied to the input embedding."""
    saved, _ = PretrainedConfig.get_config_dict(model_name)  # the config.json as written, before defaults
    shared = base_model.get_input_embeddings().weight
    head = base_model.get_output_embeddings().weight
    if saved.get("tie_word_embeddings") is False and head.data_ptr() == shared.data_ptr():
        raise RuntimeError(
            f"{model_name} has its own lm_head, but it loaded tied to the input embedding "
            "(a transformers 5.x loading regression). Use the pinned transformers version from requirements.txt."
        )


def check_tokenizer_files(name: str) -> None:
    """A LabError when a local model folder holds no tokenizer files (transformers would build a useless default one)."""
    if Path(name).is_dir() and not any((Path(name) / file).is_file() for file in TOKENIZER_FILES):
        raise LabError(
            f"{name} holds no tokenizer files (one of {list(TOKENIZER_FILES)}) — copy the tokenizer saved with the model "
            "into that folder (tokenizer.save_pretrained), or point the config at a folder or hub id that has one."
        )


def check_vocabulary(tokenizer: PreTrainedTokenizerBase, model: torch.nn.Module, name: str) -> None:
    """A LabError when the tokenizer has ids the model's embedding cannot look up (a tokenizer of another model)."""
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        raise LabError(f"The tokenizer of {name} has {len(tokenizer)} tokens but the model embeds only {rows} — use the tokenizer saved with that model.")


def load_tokenizer(config: LabConfig) -> PreTrainedTokenizerBase:
    """The policy's tokenizer (its files must be there: a folder without them is an error, not a default tokenizer)."""
    check_tokenizer_files(config.model_name)
    return AutoTokenizer.from_pretrained(config.model_name)


def load_base_model(config: LabConfig) -> torch.nn.Module:
    """The base seq2seq model (no adapter) at the lab's precision, on the lab's device."""
    base_model = AutoModelForSeq2SeqLM.from_pretrained(config.model_name, dtype=pick_dtype(config))
    check_untied_lm_head(base_model, config.model_name)
    return base_model.to(pick_device())


def load_policy(
    config: LabConfig, adapter_path: str | None | Any = ...
) -> tuple[AutoModelForSeq2SeqLMWithValueHead, PreTrainedTokenizerBase]:
    """Base model + starting (Lab-2) adapter + a trainable LoRA + trl's value head, as `reference_mode` says.

    `start`: the starting adapter is merged into the base weights (in place: no second copy) and a fresh
    LoRA of the same shape trains on top, so with the adapter off the model *is* the starting summarizer
    and the KL penalty starts at 0. `base` and `copy`: the starting adapter itself trains, so with it
    off the model is the plain base model (what the original course's reference really was).
    """
    adapter_path = config.adapter_path if adapter_path is ... else adapter_path
    source = None if adapter_path is None else find_adapter(config, adapter_path)  # before the model: fail fast
    base_model = load_base_model(config)
    if adapter_path is None:
        print("No starting adapter configured: adding a fresh LoRA adapter with the lab's LoraConfig.")
    merged = source if source is not None and config.reference_mode == "start" else None
    if merged is not None:
        base_model = PeftModel.from_pretrained(base_model, merged).merge_and_unload()
    with torch.random.fork_rng():  # a fresh LoRA's and the value head's initial weights depend on the config's seed only
        torch.manual_seed(config.seed)
        if source is None or merged is not None:
            peft_model = get_peft_model(base_model, lora_config(config))
        else:
            peft_model = PeftModel.from_pretrained(base_model, source, is_trainable=True)
        policy_model = AutoModelForSeq2SeqLMWithValueHead.from_pretrained(peft_model, is_trainable=True)
    policy_model.merged_adapter = merged  # checkpoint.save_checkpoint combines it with the trained LoRA
    tokenizer = load_tokenizer(config)
    check_vocabulary(tokenizer, base_model, config.model_name)
    return policy_model.to(pick_device()), tokenizer


def trainable_parameters(model: torch.nn.Module, verbose: bool = True) -> dict[str, float]:
    """Trainable / all parameters and the trainable percentage, printed like the original lab."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    counts = {"trainable": trainable, "all": total, "percent": 100.0 * trainable / total}
    if verbose:
        print(
            f"trainable model parameters: {trainable}\nall model parameters: {total}\n"
            f"percentage of trainable model parameters: {counts['percent']:.2f}%"
        )
    return counts


def load_reference(
    config: LabConfig, policy_model: AutoModelForSeq2SeqLMWithValueHead
) -> AutoModelForSeq2SeqLMWithValueHead | None:
    """The reference policy the KL penalty pulls towards: None (the policy with its adapter off) or a frozen copy.

    `start` (default) and `base` return None: no second model is held in memory, and the reference is the
    policy's own model with the trainable LoRA switched off (`disable_adapter()`), which is what trl
    0.11.4 does for any PEFT policy. Which model that is depends on `load_policy`: the starting
    summarizer in `start`, the plain base model in `base` (the original course: its KL started at 21-35).
    `copy` returns a frozen deep copy made with trl's `create_reference_model`, as the original lab did;
    trl 0.11.4 never calls a passed reference for a PEFT policy, so it only costs memory (about 1 GB for
    FLAN-T5-base in fp32); it is kept to inspect and compare.
    """
    if config.reference_mode == "copy":
        return create_reference_model(policy_model)
    if config.reference_mode in ("start", "base"):
        return None
    raise LabError(f"reference_mode={config.reference_mode!r} is not a reference — use 'start', 'base' or 'copy'.")


def model_device(model: torch.nn.Module) -> torch.device:
    """The device a model's parameters live on."""
    return next(model.parameters()).device


def reference_logits(
    policy_model: AutoModelForSeq2SeqLMWithValueHead,
    ref_model: AutoModelForSeq2SeqLMWithValueHead | None,
    **inputs: torch.Tensor,
) -> torch.Tensor:
    """Logits of the reference policy (the policy with its trainable LoRA off when `ref_model` is None) for seq2seq inputs."""
    model = policy_model if ref_model is None else ref_model
    adapter_off = policy_model.pretrained_model.disable_adapter() if ref_model is None else nullcontext()
    device = model_device(model)
    with torch.no_grad(), adapter_off:
        logits, _, _ = model(**{name: tensor.to(device) for name, tensor in inputs.items()})
    return logits


def generate(
    policy_model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    query_tensors: list[torch.Tensor],
    max_new_tokens: int | list[int],
    generation_kwargs: dict[str, Any],
    batch_size: int,
    seed: int | None = None,
) -> list[torch.Tensor]:
    """One response per query (sampled, or greedy with `{"do_sample": False}`), `batch_size` queries per generate call.

    With a `seed`, every batch samples from a seed of its own (`seed`, batch index): two models sampled with
    the same seed draw the same random numbers for the same query, whatever the other batches' lengths.

    `max_new_tokens` is one budget for all or one per query. Each batch is generated to its longest requested length; every response is then cut to its own
    `max_new_tokens` and after its first end-of-sequence token. Responses keep the decoder-start
    token in front, which is the form trl's `step` expects for encoder-decoder models.
    """
    if isinstance(max_new_tokens, int):
        max_new_tokens = [max_new_tokens] * len(query_tensors)
    if len(max_new_tokens) != len(query_tensors):
        raise ValueError(f"{len(query_tensors)} queries but {len(max_new_tokens)} lengths.")
    device = model_device(policy_model)
    was_training = policy_model.training
    policy_model.eval()  # no dropout while sampling (trl leaves the model in train mode after step)
    responses: list[torch.Tensor] = []
    try:
        for batch, start in enumerate(range(0, len(query_tensors), batch_size)):
            if seed is not None:
                torch.manual_seed(seed * 100_003 + batch)  # distinct (seed, batch) pairs never share a stream
            queries = query_tensors[start : start + batch_size]
            lengths = max_new_tokens[start : start + batch_size]
            padded = tokenizer.pad({"input_ids": [torch.as_tensor(q).tolist() for q in queries]}, return_tensors="pt").to(device)
            with torch.inference_mode():  # no autograd bookkeeping at all while sampling
                sequences = policy_model.generate(**padded, **generation_kwargs, max_new_tokens=max(lengths))
            for sequence, length in zip(sequences.cpu().clone(), lengths):  # clone: plain tensors that PPO can train on
                sequence = sequence[: length + 1]  # decoder-start token + this sample's own budget
                eos = (sequence == tokenizer.eos_token_id).nonzero()
                responses.append(sequence[: int(eos[0, 0]) + 1] if len(eos) else sequence)
    finally:
        policy_model.train(was_training)
    return responses


def decode(tokenizer: PreTrainedTokenizerBase, responses: list[torch.Tensor]) -> list[str]:
    """Response token ids to text, without the leading <pad> and trailing </s>."""
    return tokenizer.batch_decode(responses, skip_special_tokens=True)
