"""Levers for the lab's owner, measured one at a time on the lab_utils path (same prompts and lengths as worker.py).

`python benchmarks/levers.py --shape small --steps 2 --out levers.json` (run.py starts it with `--levers`).
Each phase's first entry is its baseline; every entry is the median over the timed steps.
"""

from __future__ import annotations

import json
import statistics
import time
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Callable

import torch

from lab_utils.models import decode, generate
from lab_utils.ppo import batch_for_step
from worker import VARIANTS, Bench, draw_lengths, load_bench, parse_worker_args, per_sample_rollout


def seconds(run: Callable[[], object], context: AbstractContextManager | None = None) -> float:
    """Wall-clock seconds of one call, inside `context` if given."""
    began = time.perf_counter()
    with context or nullcontext():
        run()
    return time.perf_counter() - began


def bf16() -> AbstractContextManager:
    """CPU autocast to bf16 (weights stay fp32)."""
    return torch.autocast("cpu", dtype=torch.bfloat16)


def sorted_generate(bench: Bench, queries: list[torch.Tensor], lengths: list[int], chunk: int) -> None:
    """Batched generate over prompts sorted by their drawn length, `chunk` per call (length bucketing)."""
    order = sorted(range(len(queries)), key=lambda i: lengths[i])
    config = bench.config
    generate(bench.policy_model, bench.tokenizer, [queries[i] for i in order], [lengths[i] for i in order], config.generation_kwargs, chunk)


def per_sample_in_mode(bench: Bench, queries: list[torch.Tensor], lengths: list[int], training: bool) -> None:
    """The course's per-sample generate with dropout on (train mode, as trl leaves it) or off."""
    bench.policy_model.train(training)
    per_sample_rollout(bench, queries, lengths)


def lever_timings(bench: Bench, step: int, lengths: list[int]) -> dict[str, float]:
    """Seconds of every lever on one batch; the step entries run PPO updates on the lab's own responses."""
    config, model, tokenizer = bench.config, bench.policy_model, bench.tokenizer
    queries = batch_for_step(bench.prompts["train"], step, config.batch_size, config.seed)["input_ids"]
    responses = generate(model, tokenizer, queries, lengths, config.generation_kwargs, config.batch_size)
    texts = decode(tokenizer, responses)
    by_length = sorted(texts, key=len)
    rewards = bench.reward_fn(texts)
    lab_generate = partial(generate, model, tokenizer, queries, lengths, config.generation_kwargs, config.batch_size)
    timings = {
        "generate | one batch of 16 under no_grad (lab)": seconds(lab_generate),
        "generate | same, under torch.inference_mode": seconds(lab_generate, torch.inference_mode()),
        "generate | same, bf16 autocast": seconds(lab_generate, bf16()),
        "generate | sorted by length, chunks of 8": seconds(lambda: sorted_generate(bench, queries, lengths, 8)),
        "generate | sorted by length, chunks of 4": seconds(lambda: sorted_generate(bench, queries, lengths, 4)),
        "per-sample generate | eval mode (no dropout)": seconds(lambda: per_sample_in_mode(bench, queries, lengths, False)),
        "per-sample generate | train mode (dropout, as the course ran)": seconds(lambda: per_sample_in_mode(bench, queries, lengths, True)),
        "reward | one pipeline call, responses (lab)": seconds(lambda: bench.reward_fn(texts)),
        "reward | one call per response": seconds(lambda: [bench.reward_fn(text) for text in texts]),
        "reward | one call, responses sorted by length": seconds(lambda: bench.reward_fn(by_length)),
        "step() | fp32 (lab)": seconds(lambda: bench.trainer.step(queries, responses, rewards)),
        "step() | bf16 autocast": seconds(lambda: bench.trainer.step(queries, responses, rewards), bf16()),
    }
    return timings


def main() -> None:
    """Command line (used by run.py --levers)."""
    args = parse_worker_args(__doc__.splitlines()[0])
    bench = load_bench(args.shape, args.dtype, VARIANTS["lab"])
    lengths = draw_lengths(bench.config, args.steps + 1)
    rows = [lever_timings(bench, step, step_lengths) for step, step_lengths in enumerate(lengths)][1:]
    args.out.write_text(json.dumps({name: statistics.median(row[name] for row in rows) for name in rows[0]}, indent=1))


if __name__ == "__main__":
    main()
