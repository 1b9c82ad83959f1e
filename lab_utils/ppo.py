"""The PPO detoxification loop on trl 0.11.4, with guards and atomic, resumable checkpoints.

Only this module and `models` import trl, so the engine can be swapped later.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from datasets import Dataset
from peft import get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase
from trl import AutoModelForSeq2SeqLMWithValueHead, PPOConfig, PPOTrainer
from trl.core import LengthSampler

from .config import LabConfig
from .data import collator
from .files import staging_dir, swap_into_place
from .models import decode, generate, load_policy
from .reward import RewardFn, scored_texts
from .runtime import library_versions, quiet_known_warnings

ADAPTER_WEIGHTS = "adapter_model.safetensors"
VALUE_HEAD = "value_head.safetensors"
OPTIMIZER = "optimizer.safetensors"
TRAINER_STATE = "trainer_state.json"
HISTORY = "history.json"
LAB_CONFIG = "lab_config.json"
STATS = {  # history column -> trl stats key
    "objective/kl": "objective/kl",
    "objective/kl_coef": "objective/kl_coef",
    "ppo/returns/mean": "ppo/returns/mean",
    "ppo/policy/advantages_mean": "ppo/policy/advantages_mean",
    "ppo/loss/total": "ppo/loss/total",
}


class TrimmedPPOTrainer(PPOTrainer):
    """trl's PPOTrainer, with forward passes that skip padding: same algorithm, fewer FLOPs.

    trl pads the whole batch once (prompts to the longest prompt, responses to the longest
    response) and runs every mini-batch at that width. Here `step` orders the batch by length, so
    the no-grad passes (policy, then reference) see rows of similar length, and every mini-batch
    forward is cut to its own longest prompt and response, its outputs padded back with masked
    zeros. With right padding and attention masks the real positions compute the same numbers; the
    random mini-batches of the PPO epochs stay random (a permutation of a sorted batch).
    """

    def step(
        self,
        queries: list[torch.Tensor],
        responses: list[torch.Tensor],
        scores: list[torch.Tensor],
        response_masks: list[torch.Tensor] | None = None,
    ) -> dict[str, Any]:
        """`PPOTrainer.step` on the batch ordered by response, then prompt, length."""
        order = sorted(range(len(responses)), key=lambda i: (len(responses[i]), len(queries[i])))
        batch = [None if rows is None else [rows[i] for i in order] for rows in (queries, responses, scores, response_masks)]
        return super().step(*batch)

    def batched_forward_pass(
        self,
        model: torch.nn.Module,
        queries: list[torch.Tensor],
        responses: list[torch.Tensor],
        model_inputs: dict[str, torch.Tensor],
        return_logits: bool = False,
        response_masks: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """trl's forward pass, one mini-batch at a time, each cut to its own longest prompt and response."""
        if not self.is_encoder_decoder or self.tokenizer.padding_side != "right":
            return super().batched_forward_pass(model, queries, responses, model_inputs, return_logits, response_masks)
        width = model_inputs["decoder_input_ids"].shape[1] - 1  # trl's outputs drop the last decoder position
        size = self.config.mini_batch_size
        parts = []
        for start in range(0, len(queries), size):
            rows = slice(start, start + size)
            encoder = int(model_inputs["attention_mask"][rows].sum(1).max())
            decoder = int(model_inputs["decoder_attention_mask"][rows].sum(1).max())
            inputs = {
                name: value[rows, : encoder if name in ("input_ids", "attention_mask") else decoder]
                for name, value in model_inputs.items()
            }
            masks = None if response_masks is None else response_masks[rows]
            parts.append(super().batched_forward_pass(model, queries[rows], responses[rows], inputs, return_logits, masks))
        logprobs, logits, values, masks = (
            None if outputs[0] is None else torch.cat([pad_width(output, width) for output in outputs])
            for outputs in zip(*parts)
        )
        return logprobs, logits, values, masks


def pad_width(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Right-pad dimension 1 of a (batch, positions, ...) tensor with zeros to `width` positions."""
    missing = width - tensor.shape[1]
    return F.pad(tensor, (0, 0) * (tensor.dim() - 2) + (0, missing)) if missing else tensor


def sample_kl(
    trainer: PPOTrainer, policy_model: AutoModelForSeq2SeqLMWithValueHead, queries: list[torch.Tensor], responses: list[torch.Tensor]
) -> torch.Tensor:
    """Per-sample KL estimate trl penalises: the sum over response tokens of log p_policy - log p_reference."""
    inputs = trainer.prepare_model_inputs(queries, responses)
    with torch.inference_mode():
        logprobs, _, _, masks = trainer.batched_forward_pass(policy_model, queries, responses, inputs)
        with policy_model.pretrained_model.disable_adapter():
            ref_logprobs, _, _, _ = trainer.batched_forward_pass(policy_model, queries, responses, inputs)
    return ((logprobs - ref_logprobs) * masks).sum(1).float()


def make_ppo_trainer(
    config: LabConfig,
    policy_model: AutoModelForSeq2SeqLMWithValueHead,
    ref_model: AutoModelForSeq2SeqLMWithValueHead | None,
    tokenizer: PreTrainedTokenizerBase,
) -> PPOTrainer:
    """trl's PPOTrainer with the lab's PPOConfig; prompts are served by `train`, not by trl's dataloader."""
    quiet_known_warnings()
    ppo_config = PPOConfig(
        model_name=config.model_name,
        learning_rate=config.learning_rate,
        ppo_epochs=config.ppo_epochs,
        mini_batch_size=config.mini_batch_size,
        batch_size=config.batch_size,
        init_kl_coef=config.init_kl_coef,
        adap_kl_ctrl=config.adap_kl_ctrl,
        target=config.target_kl,
        gamma=config.gamma,
        lam=config.lam,
        cliprange=config.cliprange,
        cliprange_value=config.cliprange_value,
        vf_coef=config.vf_coef,
        seed=config.seed,
        exp_name="detox-lab",
    )
    if ref_model is not None and getattr(policy_model, "is_peft_model", False):
        print("Note: for a PEFT policy trl computes the reference with adapters off; the copied ref_model is kept for inspection only.")
    engine = TrimmedPPOTrainer if config.trim_padding else PPOTrainer
    return engine(config=ppo_config, model=policy_model, ref_model=ref_model, tokenizer=tokenizer)


def batch_for_step(prompts: Dataset, step: int, batch_size: int, seed: int) -> dict[str, list[Any]]:
    """The prompts of PPO step `step`: a seeded shuffle per epoch, so any step can be replayed or resumed."""
    per_epoch = len(prompts) // batch_size
    if per_epoch == 0:
        raise ValueError(f"{len(prompts)} prompts cannot fill one batch of {batch_size}; lower LabConfig.batch_size.")
    epoch, index = divmod(step, per_epoch)
    order = torch.randperm(len(prompts), generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    rows = prompts.select(order[index * batch_size : (index + 1) * batch_size])
    return collator([rows[i] for i in range(len(rows))])


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


def snapshot(trainer: PPOTrainer, step: int, history: list[dict[str, Any]]) -> Snapshot:
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


def save_checkpoint(path: str | Path, trainer: PPOTrainer, state: Snapshot, config: LabConfig) -> Path:
    """Write a snapshot as a PEFT adapter dir + value head + optimizer (safetensors) + JSON, atomically."""
    path = Path(path)
    staging = staging_dir(path)
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.pretrained_model.peft_config["default"].save_pretrained(staging)
    save_file({k: v.contiguous() for k, v in state.adapter.items()}, staging / ADAPTER_WEIGHTS)
    save_file(state.value_head, staging / VALUE_HEAD)
    tensors, meta = optimizer_to_files(state.optimizer)
    save_file(tensors, staging / OPTIMIZER)
    trainer_state = {"step": state.step, "kl_coef": state.kl_coef, "rng": state.rng, "optimizer": meta, "versions": library_versions()}
    (staging / TRAINER_STATE).write_text(json.dumps(trainer_state))
    (staging / HISTORY).write_text(json.dumps(state.history, indent=1))
    (staging / LAB_CONFIG).write_text(json.dumps(config.to_dict(), indent=1))
    return swap_into_place(staging, path)


def load_value_head(policy_model: AutoModelForSeq2SeqLMWithValueHead, path: str | Path) -> None:
    """Load a checkpoint's value head into the policy."""
    device = next(policy_model.v_head.parameters()).device
    policy_model.v_head.load_state_dict({k: v.to(device) for k, v in load_file(Path(path) / VALUE_HEAD).items()})


def load_detoxified(config: LabConfig, path: str | Path) -> tuple[AutoModelForSeq2SeqLMWithValueHead, PreTrainedTokenizerBase]:
    """The detoxified policy (base + saved adapter + value head) from a checkpoint dir."""
    policy_model, tokenizer = load_policy(config, adapter_path=str(path))
    load_value_head(policy_model, path)
    return policy_model, tokenizer


def read_checkpoint(path: str | Path, trainer: PPOTrainer) -> Snapshot:
    """A checkpoint's full training state (weights as in the trainer's model, optimizer, RNGs, history)."""
    path = Path(path)
    trainer_state = json.loads((path / TRAINER_STATE).read_text())
    model = trainer.accelerator.unwrap_model(trainer.model)
    return Snapshot(
        step=trainer_state["step"],
        adapter=get_peft_model_state_dict(model.pretrained_model),
        value_head=load_file(path / VALUE_HEAD),
        optimizer=optimizer_from_files(load_file(path / OPTIMIZER), trainer_state["optimizer"]),
        kl_coef=trainer_state["kl_coef"],
        rng=trainer_state["rng"],
        history=json.loads((path / HISTORY).read_text()),
    )


def resume(
    config: LabConfig, path: str | Path, ref_model: AutoModelForSeq2SeqLMWithValueHead | None = None
) -> tuple[AutoModelForSeq2SeqLMWithValueHead, PreTrainedTokenizerBase, PPOTrainer, Snapshot]:
    """Reload a checkpoint for more training: policy, tokenizer, trainer with its state, and the snapshot."""
    policy_model, tokenizer = load_detoxified(config, path)
    trainer = make_ppo_trainer(config, policy_model, ref_model, tokenizer)
    state = read_checkpoint(path, trainer)
    restore(trainer, state)
    print(f"Resumed from {path} after step {state.step}.")
    return policy_model, tokenizer, trainer, state


def train(
    config: LabConfig,
    trainer: PPOTrainer,
    tokenizer: PreTrainedTokenizerBase,
    reward_fn: RewardFn,
    prompts: Dataset,
    num_steps: int | None = None,
    checkpoint_dir: str | Path | None = None,
    start: Snapshot | None = None,
) -> pd.DataFrame:
    """Run PPO until `num_steps` steps in total (default the config's); return the per-step history.

    Each step: one batched generate over the batch's prompts (per-sample max_new_tokens from a
    LengthSampler), rewards from `reward_fn`, `trainer.step`, `trainer.log_stats`. Guards: a batch
    with a NaN/inf reward is skipped and marked in `status`; a KL above `config.kl_ceiling` stops
    training and rolls the policy back to the last good step; Ctrl-C saves the last good step before
    re-raising. The checkpoint (default `config.output_dir`) is written every `checkpoint_every`
    steps and at the end; pass `start` (from `resume`) to continue a run.
    """
    num_steps = config.num_steps if num_steps is None else num_steps
    checkpoint_dir = Path(checkpoint_dir or config.output_dir)
    model = trainer.accelerator.unwrap_model(trainer.model)
    sampler = LengthSampler(config.output_min_length, config.output_max_length)
    seed = config.seed + 1000 * trainer.accelerator.process_index
    history = list(start.history) if start else []
    good = start or snapshot(trainer, 0, history)
    save = trainer.accelerator.is_main_process

    try:
        for step in tqdm(range(good.step, num_steps), desc="PPO", initial=good.step, total=num_steps):
            began = time.perf_counter()
            batch = batch_for_step(prompts, step, config.batch_size, seed)
            query_tensors = batch["input_ids"]
            response_tensors = generate(
                model, tokenizer, query_tensors, [sampler() for _ in query_tensors], config.generation_kwargs, config.batch_size
            )
            batch["response"] = decode(tokenizer, response_tensors)
            generated = time.perf_counter()
            rewards = reward_fn(scored_texts(config, batch["query"], batch["response"]))
            scored = time.perf_counter()
            row: dict[str, Any] = {"step": step + 1, "status": "ok"}
            reward_values = torch.stack(rewards).float()
            if not torch.isfinite(reward_values).all():
                bad = int((~torch.isfinite(reward_values)).sum())
                warnings.warn(f"Step {step + 1}: {bad} non-finite reward(s); this batch is skipped (no update).")
                row["status"] = "skipped: non-finite reward"
                history.append(row)
                good = snapshot(trainer, step + 1, history)
                continue
            stats = trainer.step(query_tensors, response_tensors, rewards)
            trainer.log_stats(stats, batch, rewards)
            row.update({"env/reward_mean": float(reward_values.mean()), "env/reward_std": float(reward_values.std())})
            row.update({column: float(stats[key]) for column, key in STATS.items()})
            row.update(
                {
                    "time/generate": generated - began,
                    "time/reward": scored - generated,
                    "time/step": time.perf_counter() - scored,
                    "seconds": time.perf_counter() - began,
                }
            )
            if not math.isfinite(row["objective/kl"]) or row["objective/kl"] > config.kl_ceiling:
                row["status"] = "stopped: kl ceiling"
                history.append(row)
                print(
                    f"Stopped at step {step + 1}: KL to the reference is {row['objective/kl']:.2f} > kl_ceiling "
                    f"{config.kl_ceiling}. The policy was rolled back to step {good.step}. Lower the learning rate "
                    "or raise init_kl_coef, then resume or retrain."
                )
                restore(trainer, good)
                good.history = copy.deepcopy(history)
                break
            history.append(row)
            good = snapshot(trainer, step + 1, history)
            if save and config.checkpoint_every and (step + 1) % config.checkpoint_every == 0:
                save_checkpoint(checkpoint_dir, trainer, good, config)
    except KeyboardInterrupt:
        if save:
            save_checkpoint(checkpoint_dir, trainer, good, config)
            print(f"Interrupted: saved the last good step ({good.step}) to {checkpoint_dir}; resume with lab_utils.ppo.resume.")
        raise
    if save:
        save_checkpoint(checkpoint_dir, trainer, good, config)
    return history_frame(history)


def history_frame(history: list[dict[str, Any]]) -> pd.DataFrame:
    """The per-step history as a DataFrame, in a fixed column order."""
    columns = ["step", "status", "env/reward_mean", "env/reward_std", *STATS, "time/generate", "time/reward", "time/step", "seconds"]
    return pd.DataFrame(history, columns=columns)
