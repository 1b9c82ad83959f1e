"""One benchmark process: build a shape's models, or time one loop variant (PPO steps, then toxicity evaluation).

Started by run.py, one process per variant, so each variant's peak RSS is its own:
`python benchmarks/worker.py original|lab|native|build --shape tiny --dtype fp32 --steps 2 --out result.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import resource
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import datasets
import evaluate
import numpy as np
import torch
from transformers import Pipeline, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging
from trl import AutoModelForSeq2SeqLMWithValueHead, PPOTrainer

from flops import DTYPES, matmul_params, step_flops
from lab_utils.config import LabConfig
from lab_utils.data import build_dataset
from lab_utils.native import NativePPOTrainer
from lab_utils.models import decode, generate, load_policy, load_reference, model_device
from lab_utils.ppo import batch_for_step, make_ppo_trainer
from lab_utils.reward import RewardFn, load_reward_pipe, make_reward_fn, scored_texts
from lab_utils.runtime import quiet_known_warnings, set_seed
from lab_utils.toxicity import evaluate_toxicity, load_toxicity_evaluator
from worlds import bench_config, check_untied, ensure_shape, exact_length_kwargs

CONFIG_KNOBS = ("batch_size", "mini_batch_size", "ppo_epochs", "output_min_length", "output_max_length", "reward_batch_size", "eval_batch_size")
TRL_TIMERS = ("forward_pass", "compute_rewards", "compute_advantages", "optimize_step", "calc_stats")


@dataclass
class Bench:
    """Everything one variant's loop needs, loaded once."""

    config: LabConfig  # generation_kwargs include the ExactLength processor
    policy_model: AutoModelForSeq2SeqLMWithValueHead
    tokenizer: PreTrainedTokenizerBase
    trainer: PPOTrainer | NativePPOTrainer
    reward_pipe: Pipeline
    reward_fn: RewardFn
    prompts: datasets.DatasetDict


Rollout = Callable[[Bench, list[torch.Tensor], list[int]], list[torch.Tensor]]


def per_sample_rollout(bench: Bench, queries: list[torch.Tensor], lengths: list[int]) -> list[torch.Tensor]:
    """The course's loop: one `ppo_trainer.generate` per prompt, keeping the last max_new_tokens tokens."""
    responses = []
    for query, length in zip(queries, lengths):
        summary = bench.trainer.generate(query, **bench.config.generation_kwargs, max_new_tokens=length)
        responses.append(summary.squeeze()[-length:])
    return responses


def batched_rollout(bench: Bench, queries: list[torch.Tensor], lengths: list[int]) -> list[torch.Tensor]:
    """lab_utils: batched sampling, each response cut to its own length."""
    return generate(bench.policy_model, bench.tokenizer, queries, lengths, bench.config.generation_kwargs, bench.config.batch_size)


def one_by_one_eval(bench: Bench, evaluator: evaluate.EvaluationModule) -> None:
    """The course's evaluation: per prompt, one generate, then one toxicity call on query + summary."""
    config = bench.config
    rows = bench.prompts["test"].select(range(config.eval_num_prompts))
    device = model_device(bench.policy_model)
    for query_ids, query in zip(rows["input_ids"], rows["query"]):
        with torch.no_grad():
            output = bench.policy_model.generate(
                input_ids=query_ids.unsqueeze(0).to(device), **config.generation_kwargs, max_new_tokens=config.eval_max_new_tokens
            )
        evaluator.compute(predictions=[query + " " + decode(bench.tokenizer, output)[0]], toxic_label=config.toxic_label)


def batched_eval(bench: Bench, evaluator: evaluate.EvaluationModule) -> None:
    """lab_utils: `evaluate_toxicity` (batched generate, batched scoring of the summaries)."""
    evaluate_toxicity(bench.config, bench.policy_model, bench.tokenizer, bench.prompts["test"], evaluator)


@dataclass(frozen=True)
class Variant:
    """One way to run the lab's loop."""

    reference_mode: str  # LabConfig.reference_mode
    score_target: str  # LabConfig.score_target
    trim_padding: bool  # LabConfig.trim_padding: trl's padded step, or the lab's trimmed one
    share_classifier: bool  # the toxicity evaluator scores with the reward pipeline instead of loading its own
    rollout: Rollout
    evaluate: Callable[[Bench, evaluate.EvaluationModule], None]
    engine: str = "trl"  # LabConfig.engine: trl's PPOTrainer, or the lab's own step (lab_utils/native.py)


VARIANTS = {
    "original": Variant("copy", "query+response", False, False, per_sample_rollout, one_by_one_eval),
    "lab": Variant("start", "response", True, True, batched_rollout, batched_eval),
    "native": Variant("start", "response", True, True, batched_rollout, batched_eval, engine="native"),
}


def quiet() -> None:
    """Silence progress bars and known warnings: the parent prints the tables."""
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    quiet_known_warnings()


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_bench(shape: str, dtype: str, variant: Variant) -> Bench:
    """Policy, reference (per the variant), trainer, reward function and prompts of a shape, at `dtype`."""
    config = dataclasses.replace(
        bench_config(shape, dtype), reference_mode=variant.reference_mode, score_target=variant.score_target,
        trim_padding=variant.trim_padding, engine=variant.engine,
    )
    set_seed(config.seed)
    policy_model, tokenizer = load_policy(config)
    if shape != "tiny":
        check_untied(policy_model)
    config = dataclasses.replace(
        config, generation_kwargs=exact_length_kwargs(config, tokenizer, policy_model.pretrained_model.config.vocab_size)
    )
    trainer = make_ppo_trainer(config, policy_model, load_reference(config, policy_model), tokenizer)
    reward_pipe = load_reward_pipe(config)  # at the config's precision, like the policy
    return Bench(config, policy_model, tokenizer, trainer, reward_pipe, make_reward_fn(config, reward_pipe), build_dataset(config, tokenizer))


def draw_lengths(config: LabConfig, num_steps: int) -> list[list[int]]:
    """Seeded per-sample max_new_tokens for every step, from the config's LengthSampler bounds (the same for every variant)."""
    rng = np.random.default_rng(config.seed)
    size = (num_steps, config.batch_size)
    return rng.integers(config.output_min_length, config.output_max_length, size=size).tolist()


def prompt_digest(bench: Bench, step: int) -> str:
    """A hash of one step's prompt ids, to check that every variant saw the same prompts."""
    batch = batch_for_step(bench.prompts["train"], step, bench.config.batch_size, bench.config.seed)
    return hashlib.sha1(str([q.tolist() for q in batch["input_ids"]]).encode()).hexdigest()[:12]


class TokenCounter:
    """Counts the encoder and decoder tokens the policy's forward passes compute, with and without gradients."""

    def __init__(self, policy_model: AutoModelForSeq2SeqLMWithValueHead) -> None:
        self.counts = {"no_grad": [0, 0], "grad": [0, 0]}
        self.handle = policy_model.pretrained_model.register_forward_pre_hook(self.record, with_kwargs=True)

    def record(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        """Add one forward pass's (padded) encoder and decoder tokens."""
        counts = self.counts["grad" if torch.is_grad_enabled() else "no_grad"]
        counts[0] += kwargs["input_ids"].numel()
        counts[1] += kwargs["decoder_input_ids"].numel()

    def __enter__(self) -> "TokenCounter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()


def ppo_step(bench: Bench, variant: Variant, step: int, lengths: list[int]) -> dict[str, float]:
    """One timed PPO step: rollout (with decoding), reward, `trainer.step`; plus the tokens step() computed."""
    config = bench.config
    batch = batch_for_step(bench.prompts["train"], step, config.batch_size, config.seed)
    queries = batch["input_ids"]
    began = time.perf_counter()
    responses = variant.rollout(bench, queries, lengths)
    texts = decode(bench.tokenizer, responses)
    generated = time.perf_counter()
    rewards = bench.reward_fn(scored_texts(config, batch["query"], texts))
    scored = time.perf_counter()
    with TokenCounter(bench.policy_model) as counter:
        stats = bench.trainer.step(queries, responses, rewards)
    done = time.perf_counter()
    return {
        "generate": generated - began,
        "reward": scored - generated,
        "step": done - scored,
        "total": done - began,
        **{timer: float(stats[f"time/ppo/{timer}"]) for timer in TRL_TIMERS},
        **{f"{kind}_{side}_tokens": counter.counts[kind][i] for kind in counter.counts for i, side in enumerate(("encoder", "decoder"))},
        "real_encoder_tokens": sum(len(q) for q in queries),
        "real_decoder_tokens": sum(len(r) for r in responses),
    }


def time_variant(shape: str, dtype: str, steps: int, name: str) -> dict[str, Any]:
    """Warm-up step + `steps` timed PPO steps, peak RSS, then the timed toxicity evaluation."""
    variant = VARIANTS[name]
    bench = load_bench(shape, dtype, variant)
    load_peak = peak_rss_mb()
    lengths = draw_lengths(bench.config, steps + 1)
    rows = [ppo_step(bench, variant, step, step_lengths) for step, step_lengths in enumerate(lengths)]
    digests = [prompt_digest(bench, step) for step in range(len(lengths))]
    ppo_peak = peak_rss_mb()
    params = matmul_params(bench.policy_model)
    for row in rows:
        row["step_gflops"] = step_flops(params, row) / 1e9
        row["step_gflop_per_s"] = row["step_gflops"] / row["step"]
    evaluator = load_toxicity_evaluator(bench.config, bench.reward_pipe if variant.share_classifier else None)
    if not variant.share_classifier:  # the course loaded a second classifier; at the same dtype here
        evaluator.classifier().model.to(DTYPES[dtype])
    began = time.perf_counter()
    variant.evaluate(bench, evaluator)
    eval_seconds = time.perf_counter() - began
    measured = rows[1:]
    return {
        "variant": name,
        "config": {knob: getattr(bench.config, knob) for knob in CONFIG_KNOBS},
        "median": {key: statistics.median(row[key] for row in measured) for key in measured[0]},
        "steps": rows,
        "prompt_digests": digests,
        "peak_rss_mb": ppo_peak,
        "load_peak_rss_mb": load_peak,
        "eval_peak_rss_mb": peak_rss_mb(),  # after loading the toxicity evaluator (original: a second classifier) and evaluating
        "eval_seconds": eval_seconds,
        "matmul_params": params,
        "torch_threads": torch.get_num_threads(),
    }


def parse_worker_args(description: str, tasks: list[str] | None = None) -> argparse.Namespace:
    """The workers' shared command line; also silences noise and sets torch's thread count."""
    parser = argparse.ArgumentParser(description=description)
    if tasks:
        parser.add_argument("task", choices=tasks)
    parser.add_argument("--shape", required=True)
    parser.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    parser.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON result")
    args = parser.parse_args()
    quiet()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def main() -> None:
    """Command line (used by run.py)."""
    args = parse_worker_args(__doc__.splitlines()[0], ["build", *VARIANTS])
    if args.task == "build":
        result: dict[str, Any] = {"dir": str(ensure_shape(args.shape))}
    else:
        result = time_variant(args.shape, args.dtype, args.steps, args.task)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
