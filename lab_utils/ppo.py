"""The PPO detoxification loop on trl 0.11.4: the trainer factory, the loop with its guards, and resume.

`train` is the loop a student reads in the Lab 3 notebook (generate -> decode -> reward -> step -> log),
plus guards (non-finite rewards, a KL ceiling with rollback), atomic checkpoints and resume. Only this
module, `trimmed`, `checkpoint` and `models` import trl; the native engine (`native`) needs none of it.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase
from trl import AutoModelForSeq2SeqLMWithValueHead, PPOConfig, PPOTrainer
from trl.core import LengthSampler
from tqdm.auto import tqdm

from .checkpoint import (
    LAB_CONFIG, Snapshot, apply_new_settings, check_checkpoint, config_changes, read_checkpoint, restore, save_checkpoint, snapshot,
)
from .config import LabConfig
from .data import collator
from .errors import ConfigError, TrainingInterrupted
from .history import ROLLED_BACK, SKIPPED, STOPPED, all_processes, history_frame, step_log
from .models import decode, generate, load_policy
from .native import NativePPOTrainer
from .reward import RewardFn, scored_texts
from .runtime import quiet_known_warnings
from .trimmed import TrimmedPPOTrainer

ToxicityFn = Callable[[list[str]], list[float]]


def make_ppo_trainer(
    config: LabConfig,
    policy_model: AutoModelForSeq2SeqLMWithValueHead,
    ref_model: AutoModelForSeq2SeqLMWithValueHead | None,
    tokenizer: PreTrainedTokenizerBase,
) -> PPOTrainer | NativePPOTrainer:
    """trl's PPOTrainer with the lab's PPOConfig, or the lab's own step (`engine="native"`); `train` serves the prompts."""
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
    if config.algorithm != "ppo":  # the knob exists for the critic-free engine, which this loop does not run yet
        raise ConfigError(f"algorithm={config.algorithm!r} is not wired into the training loop yet — use algorithm=ppo.")
    if config.engine == "native":
        return NativePPOTrainer(config, policy_model, tokenizer)
    engine = TrimmedPPOTrainer if config.trim_padding else PPOTrainer
    return engine(config=ppo_config, model=policy_model, ref_model=ref_model, tokenizer=tokenizer)


def length_sampler(config: LabConfig) -> LengthSampler:
    """`sampler()` draws a new-token budget per summary, uniformly in [output_min_length, output_max_length)."""
    return LengthSampler(config.output_min_length, config.output_max_length)


def batch_for_step(prompts: Dataset, step: int, batch_size: int, seed: int, repeats: int = 1) -> dict[str, list[Any]]:
    """The prompts of PPO step `step`: a seeded shuffle per pass, so any step can be replayed or resumed.

    With `repeats` > 1 and a `challenging` column (`toxicity.mark_challenging`), each challenging prompt
    appears `repeats` times per pass: training sees the dialogues that invite toxic summaries more often.
    """
    pool = list(range(len(prompts)))
    if repeats > 1 and "challenging" in prompts.column_names:
        pool += [index for index, hard in enumerate(prompts["challenging"]) if hard for _ in range(repeats - 1)]
    per_epoch = len(pool) // batch_size
    if per_epoch == 0:
        raise ConfigError(f"{len(prompts)} prompts cannot fill one batch of {batch_size} — lower LabConfig.batch_size.")
    epoch, index = divmod(step, per_epoch)
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    rows = prompts.select([pool[i] for i in order[index * batch_size : (index + 1) * batch_size]])
    return collator([rows[i] for i in range(len(rows))])


def resume(
    config: LabConfig, path: str | Path, ref_model: AutoModelForSeq2SeqLMWithValueHead | None = None
) -> tuple[AutoModelForSeq2SeqLMWithValueHead, PreTrainedTokenizerBase, PPOTrainer, Snapshot]:
    """Reload a checkpoint for more training: policy, tokenizer, trainer with its state, and the snapshot.

    The policy is built as at the start (`load_policy`), then the checkpoint's trainable weights,
    optimizer, KL weight and RNGs are restored. The new config's learning rate and initial KL
    coefficient apply when they differ from the saved ones; every knob that differs is listed.
    """
    check_checkpoint(path)
    policy_model, tokenizer = load_policy(config)
    trainer = make_ppo_trainer(config, policy_model, ref_model, tokenizer)
    state = read_checkpoint(path)
    restore(trainer, state)
    changes = config_changes(json.loads((Path(path) / LAB_CONFIG).read_text()), config)
    apply_new_settings(trainer, state, changes, config)
    listed = ", ".join(f"{knob} {old!r} -> {new!r}" for knob, (old, new) in changes.items())
    print(f"Resumed from {path} after step {state.step}." + (f" Changed since it was saved: {listed}." if listed else ""))
    return policy_model, tokenizer, trainer, state


def kl_runaway(kl_per_token: float, kl_start: float, config: LabConfig) -> bool:
    """True when the KL per token is not finite or has risen more than `kl_ceiling` nats above the first step's.

    Measured from the first step, the guard fits any reference: with the adapter-off base FLAN-T5 the
    course's policy started at objective/kl 21-35 (summed over the summary's tokens), with a reference
    equal to the starting policy it starts at 0.
    """
    return not math.isfinite(kl_per_token) or kl_per_token - kl_start > config.kl_ceiling


def train(
    config: LabConfig,
    trainer: PPOTrainer,
    tokenizer: PreTrainedTokenizerBase,
    reward_fn: RewardFn,
    prompts: Dataset,
    num_steps: int | None = None,
    checkpoint_dir: str | Path | None = None,
    start: Snapshot | None = None,
    toxicity_fn: ToxicityFn | None = None,
) -> pd.DataFrame:
    """Run PPO until `num_steps` steps in total (default the config's); return the per-step history.

    Each step: one batched generate over the batch's prompts (per-sample max_new_tokens from a
    LengthSampler), rewards from `reward_fn`, `trainer.step`, `trainer.log_stats`; with `toxicity_fn`,
    the share of toxic responses too. Guards: a batch with a NaN/inf reward is skipped and marked in
    `status`. The KL that step k reports measures the policy *after update k-1*; when it runs away
    (`kl_runaway`), training stops and the policy goes back to the last one whose KL was measured and
    accepted (the state before update k-1). Checkpoints (default `config.output_dir`) only ever hold
    accepted policies, every `checkpoint_every` steps; the final policy is saved at the end. Ctrl-C saves
    the last accepted step and raises `TrainingInterrupted`. Pass `start` (from `resume`) to continue.
    """
    num_steps = config.num_steps if num_steps is None else num_steps
    checkpoint_dir = Path(checkpoint_dir or config.output_dir)
    model = trainer.accelerator.unwrap_model(trainer.model)
    sampler = length_sampler(config)
    seed = config.seed + 1000 * trainer.accelerator.process_index
    history = list(start.history) if start else []
    kl_start = start.kl_start if start else None
    accepted = start or snapshot(trainer, 0, history)  # the last policy whose KL was measured and accepted
    current = accepted  # the policy now in the trainer (its KL is measured by the next step)
    save = trainer.accelerator.is_main_process

    try:
        for step in tqdm(range(current.step, num_steps), desc="PPO", initial=current.step, total=num_steps):
            began = time.perf_counter()
            batch = batch_for_step(prompts, step, config.batch_size, seed, config.challenging_repeats)
            query_tensors = batch["input_ids"]
            response_tensors = generate(
                model, tokenizer, query_tensors, [sampler() for _ in query_tensors], config.generation_kwargs, config.batch_size
            )
            batch["response"] = decode(tokenizer, response_tensors)
            generated = time.perf_counter()
            texts = scored_texts(config, batch["query"], batch["response"])
            rewards = reward_fn(texts)
            scored = time.perf_counter()
            row: dict[str, Any] = {"step": step + 1, "status": "ok"}
            reward_values = torch.stack(rewards).float()
            if all_processes(trainer, float((~torch.isfinite(reward_values)).sum()), "sum"):
                warnings.warn(f"Step {step + 1}: non-finite reward(s); this batch is skipped (no update).")
                row["status"] = SKIPPED
                history.append(row)
                current = snapshot(trainer, step + 1, history, kl_start)
                continue
            stats = trainer.step(query_tensors, response_tensors, rewards)
            trainer.log_stats(stats, batch, rewards)
            toxicity = toxicity_fn(texts) if toxicity_fn is not None else None
            row.update(step_log(trainer, step, stats, rewards, response_tensors, toxicity))
            kl_start = row["objective/kl_per_token"] if kl_start is None else kl_start
            row.update(
                {
                    "time/generate": generated - began,
                    "time/reward": scored - generated,
                    "time/step": time.perf_counter() - scored,
                    "seconds": time.perf_counter() - began,
                }
            )
            if kl_runaway(row["objective/kl_per_token"], kl_start, config):
                row["status"] = STOPPED
                history = [dict(r, status=ROLLED_BACK) if r["step"] > accepted.step and r["status"] == "ok" else r for r in history]
                history.append(row)
                print(
                    f"Stopped at step {step + 1}: the KL per token to the reference is {row['objective/kl_per_token']:.3f}, "
                    f"more than kl_ceiling={config.kl_ceiling} above the first step's {kl_start:.3f}. The policy was rolled "
                    f"back to step {accepted.step}, the last one whose KL was accepted. Lower learning_rate or raise "
                    "init_kl_coef, then resume."
                )
                restore(trainer, accepted)
                current = accepted
                break
            accepted = current  # the policy this step measured stays within the ceiling
            history.append(row)
            current = snapshot(trainer, step + 1, history, kl_start)
            if save and config.checkpoint_every and (step + 1) % config.checkpoint_every == 0:
                save_checkpoint(checkpoint_dir, trainer, accepted, config)
    except KeyboardInterrupt:
        if save:
            save_checkpoint(checkpoint_dir, trainer, accepted, config)
        raise TrainingInterrupted(accepted.step, checkpoint_dir) from None
    if save:
        save_checkpoint(checkpoint_dir, trainer, current, config)
    return history_frame(history)
