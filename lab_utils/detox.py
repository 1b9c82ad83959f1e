"""The lab, headless: baseline toxicity, PPO, toxicity after, and every report written to a folder.

    python -m lab_utils.detox --profile tiny --steps 40 --out results/tiny
    accelerate launch -m lab_utils.detox --profile full --out results/full     # one process per GPU

Walks exactly the notebook's path through lab_utils; holds no logic of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .config import LabConfig, get_config
from .data import build_dataset
from .models import load_policy, load_reference, trainable_parameters
from .ppo import make_ppo_trainer, train
from .report import markdown_table, plot_toxicity, plot_training, rouge_table, toxicity_table
from .reward import RewardFn, load_reward_pipe, make_reward_fn
from .runtime import describe_runtime, quiet_known_warnings, set_seed
from .tiny import ensure_world
from .toxicity import ToxicityResult, comparison_table, evaluate_toxicity, load_toxicity_evaluator, rouge_scores


def run_lab(config: LabConfig, out_dir: str | Path) -> dict[str, Any]:
    """Run the whole lab on `config` and write its reports to `out_dir`; return the numbers."""
    started = time.time()
    quiet_known_warnings()
    ensure_world(config)
    set_seed(config.seed)
    print(describe_runtime(config))

    policy_model, tokenizer = load_policy(config)
    trainable_parameters(policy_model)
    ref_model = load_reference(config, policy_model)
    prompts = build_dataset(config, tokenizer)
    print(f"prompts: {len(prompts['train'])} train / {len(prompts['test'])} test")
    reward_pipe = load_reward_pipe(config)
    reward_fn = make_reward_fn(config, reward_pipe)
    toxicity_evaluator = load_toxicity_evaluator(config, reward_pipe)

    before = evaluate_toxicity(config, policy_model, tokenizer, prompts["test"], toxicity_evaluator)
    ppo_trainer = make_ppo_trainer(config, policy_model, ref_model, tokenizer)
    history = train(config, ppo_trainer, tokenizer, reward_fn, prompts["train"], checkpoint_dir=Path(out_dir) / "checkpoint")
    after = evaluate_toxicity(config, policy_model, tokenizer, prompts["test"], toxicity_evaluator)

    results = write_results(out_dir, config, before, after, history, reward_fn)
    print(markdown_table(toxicity_table(before.stats, after.stats), "Toxicity before/after PPO"))
    print(markdown_table(rouge_table(results["rouge"]["before"], results["rouge"]["after"]), "ROUGE before/after PPO"))
    print(f"Reports written to {out_dir}/ in {time.time() - started:.1f} s")
    return results


def write_results(
    out_dir: str | Path,
    config: LabConfig,
    before: ToxicityResult,
    after: ToxicityResult,
    history: pd.DataFrame,
    reward_fn: RewardFn,
) -> dict[str, Any]:
    """Write one run's reports (markdown, CSV, PNG, results.json) to `out_dir`; return the numbers."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rouge_before = rouge_scores(before.responses, before.references)
    rouge_after = rouge_scores(after.responses, after.references)
    toxicity = toxicity_table(before.stats, after.stats)
    rouge = rouge_table(rouge_before, rouge_after)
    comparison = comparison_table(config, before, after, reward_fn)
    (out_dir / "report.md").write_text(
        "\n".join(
            [
                markdown_table(toxicity, "Toxicity before/after PPO"),
                markdown_table(rouge, "ROUGE before/after PPO"),
                markdown_table(comparison.drop(columns=["query"]), "Before/after summaries (by reward gain)"),
            ]
        )
    )
    toxicity.to_csv(out_dir / "toxicity.csv")
    rouge.to_csv(out_dir / "rouge.csv")
    comparison.to_csv(out_dir / "compare_responses.csv", index=False)
    history.to_csv(out_dir / "history.csv", index=False)
    plot_training(history).savefig(out_dir / "training.png", dpi=100)
    plot_toxicity(before.scores, after.scores).savefig(out_dir / "toxicity_hist.png", dpi=100)
    results = {
        "profile": config.profile,
        "config": config.to_dict(),
        "toxicity": {"before": before.stats, "after": after.stats},
        "rouge": {"before": rouge_before, "after": rouge_after},
        "history": json.loads(history.to_json(orient="records")),
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    return results


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="Detoxify the dialogue summarizer with PPO, headless.")
    parser.add_argument("--profile", default=None, help="full | tiny | auto (default: $LAB_PROFILE, else auto)")
    parser.add_argument("--steps", type=int, default=None, help="PPO steps (default: the profile's num_steps)")
    parser.add_argument("--out", default=None, help="folder for the reports (default: results/<profile>)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KNOB=VALUE", help="override LabConfig knobs (JSON values)")
    args = parser.parse_args()
    overrides = dict(parse_override(item) for item in args.set)
    if args.steps is not None:
        overrides["num_steps"] = args.steps
    config = get_config(args.profile, **overrides)
    run_lab(config, args.out or f"results/{config.profile}")


def parse_override(item: str) -> tuple[str, Any]:
    """'knob=value' -> (knob, value), value parsed as JSON when it can be (else kept as text)."""
    knob, _, value = item.partition("=")
    known = {f.name for f in dataclasses.fields(LabConfig)}
    if knob not in known:
        raise SystemExit(f"--set {item!r}: {knob!r} is not a LabConfig knob; known knobs: {sorted(known)}")
    try:
        return knob, json.loads(value)
    except json.JSONDecodeError:
        return knob, value


if __name__ == "__main__":
    main()
