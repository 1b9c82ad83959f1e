"""Does the detox effect hold for every seed? Runs the tiny lab for N seeds (and the `hate`-label control) and tables them.

    python benchmarks/seeds.py --seeds 1 2 3 4 5 42 --control --out benchmarks/results/seeds
    python benchmarks/seeds.py --seeds 1 2 3 --set learning_rate=5e-4      # a tuning candidate

Each run is `python -m lab_utils.detox --profile tiny` in its own process (one torch thread each, `--jobs`
at a time), so runs do not share state. Writes `seeds.csv` and `seeds.md` (per seed: mean toxicity and
ROUGE-L before/after with their % change, the 95% CI of the toxicity change, the first step's KL; then
median and worst) into `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from lab_utils.report import markdown_table

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_one(out_dir: Path, knobs: list[str], profile: str = "tiny") -> dict:
    """One lab run (tiny unless told) with `--set knobs` into `out_dir`; its results.json."""
    command = [sys.executable, "-m", "lab_utils.detox", "--profile", profile, "--out", str(out_dir), "--overwrite", "--set", *knobs]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    finished = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if finished.returncode not in (0, 3):  # 3: the KL guard stopped the run; still a result
        raise RuntimeError(f"{' '.join(knobs)} failed:\n{finished.stderr[-2000:]}")
    return json.loads((out_dir / "results.json").read_text())


def summary_row(label: str, results: dict) -> dict:
    """The numbers of one run that the seeds table shows."""
    toxicity, rouge = results["toxicity"], results["rouge"]
    return {
        "run": label,
        "toxicity before": toxicity["before"]["mean"],
        "toxicity after": toxicity["after"]["mean"],
        "toxicity change %": toxicity["change"]["mean"]["change_pct"],
        "CI low %": toxicity["change"]["mean"]["change_pct_low"],
        "CI high %": toxicity["change"]["mean"]["change_pct_high"],
        "challenging change %": results["challenging"]["toxicity"]["change"]["mean"]["change_pct"],
        "ROUGE-L before": rouge["before"]["rougeL"],
        "ROUGE-L after": rouge["after"]["rougeL"],
        "ROUGE-L change %": rouge["change"]["rougeL"]["change_pct"],
        "first-step KL": results["history"][0]["objective/kl"],
        "stopped early": results["stopped_early"],
    }


def with_median_and_worst(table: pd.DataFrame) -> pd.DataFrame:
    """The per-seed table plus a median row and a worst row (least toxicity drop, largest ROUGE-L drop)."""
    numbers = table.drop(columns=["run", "stopped early"])
    worst = numbers.max().to_dict() | {"ROUGE-L change %": numbers["ROUGE-L change %"].min()}
    extra = pd.DataFrame([{"run": "median", **numbers.median().to_dict()}, {"run": "worst", **worst}])
    return pd.concat([table, extra], ignore_index=True)


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--control", action="store_true", help="also run each seed rewarding the `hate` label (toxicity must rise)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KNOB=VALUE", help="LabConfig overrides for every run")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (one torch thread each)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "seeds")
    args = parser.parse_args()
    runs = [(f"seed {seed}", [f"seed={seed}", *args.set]) for seed in args.seeds]
    if args.control:
        runs += [(f"control seed {seed}", [f"seed={seed}", "reward_label=hate", *args.set]) for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda run: run_one(args.out / run[0].replace(" ", "-"), run[1]), runs))
    rows = [summary_row(label, result) for (label, _), result in zip(runs, results)]
    table = pd.DataFrame(rows)
    detox = with_median_and_worst(table[~table["run"].str.startswith("control")])
    control = table[table["run"].str.startswith("control")]
    args.out.mkdir(parents=True, exist_ok=True)
    pd.concat([detox, control]).to_csv(args.out / "seeds.csv", index=False)
    text = f"Tiny lab, overrides: {' '.join(args.set) or 'none'}\n\n" + markdown_table(detox, "Seeds")
    if len(control):
        text += "\n\nControl (reward = `hate` logit):\n\n" + markdown_table(control, "Control")
    (args.out / "seeds.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
