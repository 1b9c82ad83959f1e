"""Levers for the lab's owner, measured one at a time on the lab_utils path (same prompts and lengths as worker.py).

`python benchmarks/levers.py --shape small --steps 2 --out levers.json` (run.py starts it with `--levers`).
Each phase's first entry is its baseline; every entry is the median over the timed steps. Then the
precision check: how far bf16 moves the rewards and the per-sample KL from fp32 on the same responses.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Callable

import torch
from peft import get_peft_model_state_dict, set_peft_model_state_dict
from trl import PPOTrainer

from lab_utils.models import decode, generate, load_policy, model_device
from lab_utils.native import NativePPOTrainer
from lab_utils.ppo import batch_for_step, make_ppo_trainer
from lab_utils.trimmed import sample_kl
from lab_utils.reward import load_reward_pipe, make_reward_fn
from worker import VARIANTS, Bench, draw_lengths, load_bench, parse_worker_args, per_sample_rollout

PERTURB_STD = 0.02  # noise added to the random shapes' zero-initialised LoRA B, so the policy differs from its reference


def seconds(run: Callable[[], object], context: AbstractContextManager | None = None) -> float:
    """Wall-clock seconds of one call, inside `context` if given."""
    began = time.perf_counter()
    with context or nullcontext():
        run()
    return time.perf_counter() - began


def bf16() -> AbstractContextManager:
    """CPU autocast to bf16 (weights stay fp32)."""
    return torch.autocast("cpu", dtype=torch.bfloat16)


def model_generate(bench: Bench, queries: list[torch.Tensor], lengths: list[int], context: Callable[[], AbstractContextManager]) -> None:
    """One batched `generate` of the policy (eval mode) inside `context`: isolates no_grad vs inference_mode."""
    padded = bench.tokenizer.pad({"input_ids": [q.tolist() for q in queries]}, return_tensors="pt").to(model_device(bench.policy_model))
    bench.policy_model.eval()
    with context():
        bench.policy_model.generate(**padded, **bench.config.generation_kwargs, max_new_tokens=max(lengths))


def sorted_generate(bench: Bench, queries: list[torch.Tensor], lengths: list[int], chunk: int) -> None:
    """Batched generate over prompts sorted by their drawn length, `chunk` per call (length bucketing)."""
    order = sorted(range(len(queries)), key=lambda i: lengths[i])
    config = bench.config
    generate(bench.policy_model, bench.tokenizer, [queries[i] for i in order], [lengths[i] for i in order], config.generation_kwargs, chunk)


def per_sample_in_mode(bench: Bench, queries: list[torch.Tensor], lengths: list[int], training: bool) -> None:
    """The course's per-sample generate with dropout on (train mode, as trl leaves it) or off."""
    bench.policy_model.train(training)
    per_sample_rollout(bench, queries, lengths)


def lever_timings(bench: Bench, padded_trainer: PPOTrainer, native_trainer: NativePPOTrainer, step: int, lengths: list[int]) -> dict[str, float]:
    """Seconds of every lever on one batch; the step entries run PPO updates on the lab's own responses."""
    config, model, tokenizer = bench.config, bench.policy_model, bench.tokenizer
    queries = batch_for_step(bench.prompts["train"], step, config.batch_size, config.seed)["input_ids"]
    responses = generate(model, tokenizer, queries, lengths, config.generation_kwargs, config.batch_size)
    texts = decode(tokenizer, responses)
    by_length = sorted(texts, key=len)
    rewards = bench.reward_fn(texts)
    return {
        "generate | one batch of 16 under torch.inference_mode (lab)": seconds(lambda: model_generate(bench, queries, lengths, torch.inference_mode)),
        "generate | same, under torch.no_grad": seconds(lambda: model_generate(bench, queries, lengths, torch.no_grad)),
        "generate | same, bf16 autocast": seconds(partial(generate, model, tokenizer, queries, lengths, config.generation_kwargs, config.batch_size), bf16()),
        "generate | sorted by length, chunks of 8": seconds(lambda: sorted_generate(bench, queries, lengths, 8)),
        "per-sample generate | eval mode (no dropout)": seconds(lambda: per_sample_in_mode(bench, queries, lengths, False)),
        "per-sample generate | train mode (dropout, as the course ran)": seconds(lambda: per_sample_in_mode(bench, queries, lengths, True)),
        "reward | one pipeline call, responses (lab)": seconds(lambda: bench.reward_fn(texts)),
        "reward | one call per response": seconds(lambda: [bench.reward_fn(text) for text in texts]),
        "reward | one call, responses sorted by length": seconds(lambda: bench.reward_fn(by_length)),
        "step() | sorted batch, each mini-batch cut to its own length (lab)": seconds(lambda: bench.trainer.step(queries, responses, rewards)),
        "step() | trl's step, whole batch padded once": seconds(lambda: padded_trainer.step(queries, responses, rewards)),
        "step() | the lab's own step (engine=native), same widths": seconds(lambda: native_trainer.step(queries, responses, rewards)),
        "step() | lab's, under bf16 autocast": seconds(lambda: bench.trainer.step(queries, responses, rewards), bf16()),
    }


def precision_drift(bench: Bench, step: int, lengths: list[int], perturb: bool) -> dict[str, float]:
    """bf16 against fp32 on the same fp32 responses: rewards (nothate logits) and per-sample KL."""
    config, policy_model = bench.config, bench.policy_model
    if perturb:
        generator = torch.Generator().manual_seed(config.seed)
        with torch.no_grad():
            for name, parameter in policy_model.named_parameters():
                if "lora_B" in name:
                    parameter.add_(torch.randn(parameter.shape, generator=generator) * PERTURB_STD)
    queries = batch_for_step(bench.prompts["train"], step, config.batch_size, config.seed)["input_ids"]
    responses = generate(policy_model, bench.tokenizer, queries, lengths, config.generation_kwargs, config.batch_size)
    texts = decode(bench.tokenizer, responses)
    bf16_config = dataclasses.replace(config, precision="bf16")
    rewards = torch.stack(bench.reward_fn(texts)).float()
    bf16_rewards = torch.stack(make_reward_fn(bf16_config, load_reward_pipe(bf16_config))(texts)).float()
    bf16_policy, _ = load_policy(bf16_config)  # as the lab loads it: bf16 base, fp32 LoRA and value head
    set_peft_model_state_dict(bf16_policy.pretrained_model, get_peft_model_state_dict(policy_model.pretrained_model))
    bf16_policy.v_head.load_state_dict(policy_model.v_head.state_dict())
    kl = sample_kl(bench.trainer, policy_model, queries, responses)
    bf16_kl = sample_kl(bench.trainer, bf16_policy, queries, responses)
    return {
        "reward_std_fp32": float(rewards.std()),
        "reward_abs_diff_mean": float((bf16_rewards - rewards).abs().mean()),
        "reward_abs_diff_max": float((bf16_rewards - rewards).abs().max()),
        "kl_mean_fp32": float(kl.mean()),
        "kl_mean_bf16": float(bf16_kl.mean()),
        "kl_abs_diff_mean": float((bf16_kl - kl).abs().mean()),
        "kl_abs_diff_max": float((bf16_kl - kl).abs().max()),
    }


def main() -> None:
    """Command line (used by run.py --levers)."""
    args = parse_worker_args(__doc__.splitlines()[0])
    bench = load_bench(args.shape, args.dtype, VARIANTS["lab"])
    padded_config = dataclasses.replace(bench.config, trim_padding=False)
    padded_trainer = make_ppo_trainer(padded_config, bench.policy_model, None, bench.tokenizer)
    native_trainer = make_ppo_trainer(dataclasses.replace(bench.config, engine="native"), bench.policy_model, None, bench.tokenizer)
    lengths = draw_lengths(bench.config, args.steps + 1)
    rows = [lever_timings(bench, padded_trainer, native_trainer, step, step_lengths) for step, step_lengths in enumerate(lengths)][1:]
    result = {"timings": {name: statistics.median(row[name] for row in rows) for name in rows[0]}}
    if args.dtype == "fp32":
        result["drift"] = precision_drift(bench, 0, lengths[0], perturb=args.shape != "tiny")
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
