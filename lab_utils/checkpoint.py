"""Training state: in-memory snapshots for rollback, atomic resumable checkpoints on disk, and reloading the result.

A checkpoint folder holds a PEFT adapter (`adapter_config.json`, `adapter_model.safetensors`), the value
head, the optimizer state (safetensors + JSON), `trainer_state.json` (step, KL coefficient, first-step KL,
RNG states), `history.json` (one row per step up to the saved one) and `lab_config.json`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import LoraConfig, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file, save_file
from transformers import PreTrainedTokenizerBase
from trl import AutoModelForSeq2SeqLMWithValueHead, PPOTrainer

from .adapters import ADAPTER_WEIGHTS
from .config import LabConfig
from .errors import LabError
from .files import recover, staging_dir, swap_into_place
from .models import load_policy
from .runtime import library_versions

VALUE_HEAD = "value_head.safetensors"
OPTIMIZER = "optimizer.safetensors"
TRAINER_STATE = "trainer_state.json"
HISTORY = "history.json"
LAB_CONFIG = "lab_config.json"
DETOXIFIED = "detoxified"  # subfolder: the starting and the trained adapter as one, for the plain base model


@dataclass
class Snapshot:
    """Everything needed to continue training exactly: trainable weights, optimizer, KL weight, RNGs, history."""

    step: int
    adapter: dict[str, torch.Tensor]
    value_head: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    kl_coef: float
    rng: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    kl_start: float | None = None  # KL per response token at the first step (the guard's baseline)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as JSON-able values."""
    numpy_state = np.random.get_state()
    return {
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        "torch": torch.get_rng_state().tolist(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore RNG states saved by `rng_state`."""
    random.setstate((state["python"][0], tuple(state["python"][1]), state["python"][2]))
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state[0], np.asarray(numpy_state[1], dtype=np.uint32), *numpy_state[2:]))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


def snapshot(trainer: PPOTrainer, step: int, history: list[dict[str, Any]], kl_start: float | None = None) -> Snapshot:
    """A CPU copy of the trainer's state after `step` completed steps."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    return Snapshot(
        step=step,
        adapter={k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(model.pretrained_model).items()},
        value_head={k: v.detach().cpu().clone() for k, v in model.v_head.state_dict().items()},
        optimizer=copy.deepcopy(trainer.optimizer.state_dict()),
        kl_coef=float(trainer.kl_ctl.value),
        rng=rng_state(),
        history=copy.deepcopy(history),
        kl_start=kl_start,
    )


def restore(trainer: PPOTrainer, state: Snapshot) -> None:
    """Load a snapshot back into the trainer (weights, optimizer, KL weight, RNGs)."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    device = next(model.parameters()).device
    set_peft_model_state_dict(model.pretrained_model, {k: v.to(device) for k, v in state.adapter.items()})
    model.v_head.load_state_dict({k: v.to(device) for k, v in state.value_head.items()})
    trainer.optimizer.load_state_dict(state.optimizer)
    trainer.kl_ctl.value = state.kl_coef
    set_rng_state(state.rng)


def optimizer_to_files(optimizer_state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state_dict into safetensors-able tensors and JSON-able metadata."""
    tensors, meta = {}, {"param_groups": optimizer_state["param_groups"], "state": {}}
    for index, values in optimizer_state["state"].items():
        meta["state"][str(index)] = {}
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
                meta["state"][str(index)][name] = "tensor"
            else:
                meta["state"][str(index)][name] = value
    return tensors, meta


def optimizer_from_files(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `optimizer_to_files`."""
    state = {
        int(index): {name: tensors[f"{index}.{name}"] if value == "tensor" else value for name, value in values.items()}
        for index, values in meta["state"].items()
    }
    return {"state": state, "param_groups": meta["param_groups"]}


def lora_scaling(lora: LoraConfig) -> float:
    """The factor PEFT multiplies B @ A by: alpha / r (alpha / sqrt(r) with rsLoRA)."""
    if lora.rank_pattern or lora.alpha_pattern:
        raise LabError("The starting adapter uses per-module ranks (rank_pattern/alpha_pattern) — combine it with peft's add_weighted_adapter by hand.")
    return lora.lora_alpha / (lora.r**0.5 if lora.use_rslora else lora.r)


def combine_adapters(
    first: LoraConfig, first_weights: dict[str, torch.Tensor], second: LoraConfig, second_weights: dict[str, torch.Tensor]
) -> tuple[LoraConfig, dict[str, torch.Tensor]]:
    """Two LoRA adapters on the same modules as one of rank r1 + r2 whose update is exactly the sum of theirs.

    The same arithmetic as peft's `add_weighted_adapter(combination_type="cat")` with weights 1: stack the
    A matrices (each scaled by its adapter's alpha / r) and the B matrices; the new adapter has
    alpha = rank, so scaling 1. Works on state dicts, so no model (and no second model copy) is needed.
    """
    scales = lora_scaling(first), lora_scaling(second)
    combined = {}
    for key, a_first in first_weights.items():
        if ".lora_A." in key:
            b_key = key.replace(".lora_A.", ".lora_B.")
            combined[key] = torch.cat([a_first * scales[0], second_weights[key] * scales[1]], dim=0).contiguous()
            combined[b_key] = torch.cat([first_weights[b_key], second_weights[b_key]], dim=1).contiguous()
    rank = first.r + second.r
    lora = copy.deepcopy(second)
    lora.r, lora.lora_alpha, lora.use_rslora = rank, rank, False
    return lora, combined


def save_combined_adapter(folder: Path, start_adapter: str, trained: LoraConfig, weights: dict[str, torch.Tensor]) -> None:
    """Write the starting adapter + the trained LoRA as one PEFT adapter that loads on the plain base model."""
    start = LoraConfig.from_pretrained(start_adapter)
    lora, combined = combine_adapters(start, load_file(Path(start_adapter) / ADAPTER_WEIGHTS), trained, weights)
    folder.mkdir()
    lora.save_pretrained(folder)
    save_file(combined, folder / ADAPTER_WEIGHTS)


def save_checkpoint(path: str | Path, trainer: PPOTrainer, state: Snapshot, config: LabConfig) -> Path:
    """Write a snapshot as a PEFT adapter dir + value head + optimizer (safetensors) + JSON, atomically.

    When the starting adapter was merged into the base (reference_mode 'start'), `detoxified/` also gets
    it and the trained LoRA combined into one adapter that loads on the plain base model.
    """
    path = Path(path)
    staging = staging_dir(path)
    model = trainer.accelerator.unwrap_model(trainer.model)
    trained = model.pretrained_model.peft_config["default"]
    trained.save_pretrained(staging)
    save_file({k: v.contiguous() for k, v in state.adapter.items()}, staging / ADAPTER_WEIGHTS)
    merged = getattr(model, "merged_adapter", None)  # set by models.load_policy in reference_mode 'start'
    if merged is not None:
        save_combined_adapter(staging / DETOXIFIED, merged, trained, state.adapter)
    save_file(state.value_head, staging / VALUE_HEAD)
    tensors, meta = optimizer_to_files(state.optimizer)
    save_file(tensors, staging / OPTIMIZER)
    trainer_state = {
        "step": state.step, "kl_coef": state.kl_coef, "kl_start": state.kl_start, "rng": state.rng,
        "optimizer": meta, "versions": library_versions(),
    }
    (staging / TRAINER_STATE).write_text(json.dumps(trainer_state))
    (staging / HISTORY).write_text(json.dumps(state.history, indent=1))
    (staging / LAB_CONFIG).write_text(json.dumps(config.to_dict(), indent=1))
    return swap_into_place(staging, path)


def save_policy(path: str | Path, trainer: PPOTrainer, config: LabConfig, history: list[dict[str, Any]]) -> Path:
    """Save the trainer's current policy, after `len(history)` steps, as a checkpoint (atomically)."""
    return save_checkpoint(path, trainer, snapshot(trainer, len(history), history), config)


def load_value_head(policy_model: AutoModelForSeq2SeqLMWithValueHead, path: str | Path) -> None:
    """Load a checkpoint's value head into the policy."""
    device = next(policy_model.v_head.parameters()).device
    policy_model.v_head.load_state_dict({k: v.to(device) for k, v in load_file(Path(path) / VALUE_HEAD).items()})


def load_detoxified(config: LabConfig, path: str | Path) -> tuple[AutoModelForSeq2SeqLMWithValueHead, PreTrainedTokenizerBase]:
    """The detoxified policy from a checkpoint dir: the plain base model + its saved adapter + the value head.

    In reference_mode 'start' the saved adapter is `detoxified/` (starting + trained LoRA combined), so
    `PeftModel.from_pretrained(base_model, path / "detoxified")` alone gives the detoxified summarizer too.
    """
    check_checkpoint(path)
    adapter = Path(path) / DETOXIFIED if (Path(path) / DETOXIFIED).is_dir() else Path(path)
    policy_model, tokenizer = load_policy(dataclasses.replace(config, reference_mode="base"), adapter_path=str(adapter))
    load_value_head(policy_model, path)
    return policy_model, tokenizer


def check_checkpoint(path: str | Path) -> None:
    """A LabError when `path` holds no complete checkpoint (one that an interrupted save left aside is put back first)."""
    recover(Path(path))
    missing = [name for name in (ADAPTER_WEIGHTS, VALUE_HEAD, OPTIMIZER, TRAINER_STATE, HISTORY) if not (Path(path) / name).is_file()]
    if missing:
        raise LabError(f"No complete checkpoint in {path} (missing {missing}) — train first, or point at the folder `train` saved to.")


def read_checkpoint(path: str | Path) -> Snapshot:
    """A checkpoint's full training state (trainable weights, optimizer, KL weight, RNGs, history)."""
    path = Path(path)
    trainer_state = json.loads((path / TRAINER_STATE).read_text())
    return Snapshot(
        step=trainer_state["step"],
        adapter=load_file(path / ADAPTER_WEIGHTS),
        value_head=load_file(path / VALUE_HEAD),
        optimizer=optimizer_from_files(load_file(path / OPTIMIZER), trainer_state["optimizer"]),
        kl_coef=trainer_state["kl_coef"],
        rng=trainer_state["rng"],
        history=json.loads((path / HISTORY).read_text()),
        kl_start=trainer_state.get("kl_start"),
    )


def config_changes(saved: dict[str, Any], config: LabConfig) -> dict[str, tuple[Any, Any]]:
    """knob -> (saved value, new value) for every knob that differs between a checkpoint's config and `config`."""
    new = config.to_dict()
    return {knob: (saved.get(knob), value) for knob, value in new.items() if saved.get(knob) != value}


def apply_new_settings(trainer: PPOTrainer, state: Snapshot, changes: dict[str, tuple[Any, Any]], config: LabConfig) -> None:
    """After a restore: a changed learning rate reaches the optimizer, a changed init_kl_coef resets the KL weight."""
    if "learning_rate" in changes:
        for group in trainer.optimizer.param_groups:
            group["lr"] = config.learning_rate
    if "init_kl_coef" in changes:
        trainer.kl_ctl.value = state.kl_coef = config.init_kl_coef
