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
from .report import compare_responses, markdown_table, plot_toxicity, plot_training, rouge_table, toxicity_table
from .reward import load_reward_pipe, make_reward_fn, scored_texts
from .runtime import describe_runtime, quiet_known_warnings, set_seed
from .tiny import ensure_world
from .toxicity import ToxicityResult, evaluate_toxicity, load_toxicity_evaluator, rouge_scores


def first_samples(config: LabConfig, result: ToxicityResult) -> tuple[list[str], list[str]]:
    """The first sampled summary of each of the first `compare_num_prompts` evaluation prompts: (queries, responses)."""
    step = config.eval_samples_per_prompt
    count = config.compare_num_prompts
    return result.queries[::step][:count], result.responses[::step][:count]


def run_lab(config: LabConfig, out_dir: str | Path) -> dict[str, Any]:
    """Run the whole lab on `config` and write its reports to `out_dir`; return the numbers."""
    started = time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    quiet_known_warnings()
    ensure_world(config)
    set_seed(config.seed)
    print(describe_runtime(config))

    policy_model, tokenizer = load_policy(config)
    parameters = trainable_parameters(policy_model)
    ref_model = load_reference(config, policy_model)
    prompts = build_dataset(config, tokenizer)
    print(f"prompts: {len(prompts['train'])} train / {len(prompts['test'])} test")
    reward_fn = make_reward_fn(config, load_reward_pipe(config))
    toxicity_evaluator = load_toxicity_evaluator(config)

    before = evaluate_toxicity(config, policy_model, tokenizer, prompts["test"], toxicity_evaluator)
    trainer = make_ppo_trainer(config, policy_model, ref_model, tokenizer)
    history = train(config, trainer, tokenizer, reward_fn, prompts["train"], checkpoint_dir=out_dir / "checkpoint")
    after = evaluate_toxicity(config, policy_model, tokenizer, prompts["test"], toxicity_evaluator)

    toxicity = toxicity_table(before.stats, after.stats)
    rouge = rouge_table(rouge_scores(before.responses, before.references), rouge_scores(after.responses, after.references))
    queries, responses_before = first_samples(config, before)
    _, responses_after = first_samples(config, after)
    comparison = compare_responses(
        queries,
        responses_before,
        responses_after,
        [float(r) for r in reward_fn(scored_texts(config, queries, responses_before))],
        [float(r) for r in reward_fn(scored_texts(config, queries, responses_after))],
    )
    write_reports(out_dir, toxicity, rouge, comparison, history, before, after)
    results = {
        "profile": config.profile,
        "config": config.to_dict(),
        "trainable_parameters": parameters,
        "toxicity": {"before": before.stats, "after": after.stats},
        "rouge": {"before": rouge["before"].to_dict(), "after": rouge["after"].to_dict()},
        "history": json.loads(history.to_json(orient="records")),
        "seconds": round(time.time() - started, 1),
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    print(markdown_table(toxicity, "Toxicity before/after PPO"))
    print(markdown_table(rouge, "ROUGE before/after PPO"))
    print(f"Reports written to {out_dir}/ in {results['seconds']} s")
    return results


def write_reports(
    out_dir: Path,
    toxicity: pd.DataFrame,
    rouge: pd.DataFrame,
    comparison: pd.DataFrame,
    history: pd.DataFrame,
    before: ToxicityResult,
    after: ToxicityResult,
) -> None:
    """Markdown, CSV and PNG reports of one run."""
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
