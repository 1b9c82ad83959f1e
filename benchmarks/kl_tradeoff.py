"""What the KL penalty buys: the tiny lab at several fixed KL coefficients, toxicity after vs ROUGE-L after.

    python benchmarks/kl_tradeoff.py --coefs 0 0.05 0.2 0.5 1 --out benchmarks/results/kl_tradeoff
    python benchmarks/kl_tradeoff.py --profile full --jobs 1 --out results/kl_tradeoff   # on a GPU runtime

Each coefficient is one run with the adaptive controller off (`adap_kl_ctrl=false`), so the penalty's
weight stays what it says. Writes `kl_tradeoff.csv`, `kl_tradeoff.json` (the table and the starting
point, which the Lab 3 notebook's last section draws), `kl_tradeoff.md` and `kl_tradeoff.png` (the
starting summarizer marked) into `--out`.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from lab_utils.plots import plot_kl_tradeoff
from lab_utils.report import markdown_table
from seeds import REPO_ROOT, run_one


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coefs", type=float, nargs="+", default=[0.0, 0.05, 0.2, 0.5, 1.0])
    parser.add_argument("--set", nargs="*", default=[], metavar="KNOB=VALUE", help="LabConfig overrides for every run")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (one torch thread each)")
    parser.add_argument("--profile", default="tiny", choices=["tiny", "full"], help="the lab profile every run uses")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "kl_tradeoff")
    args = parser.parse_args()
    knobs = [[f"init_kl_coef={coef}", "adap_kl_ctrl=false", *args.set] for coef in args.coefs]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda run: run_one(args.out / f"kl-{run[0].split('=')[1]}", run, args.profile), knobs))
    table = pd.DataFrame(
        {
            "init_kl_coef": args.coefs,
            "toxicity after": [r["toxicity"]["after"]["mean"] for r in results],
            "ROUGE-L after": [r["rouge"]["after"]["rougeL"] for r in results],
            "final KL": [r["history"][-1]["objective/kl"] for r in results],
        }
    )
    start = {"toxicity": results[0]["toxicity"]["before"]["mean"], "rougeL": results[0]["rouge"]["before"]["rougeL"]}
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "kl_tradeoff.csv", index=False)
    sweep = {"profile": args.profile, "overrides": args.set, "start": start, "rows": table.to_dict(orient="records")}
    (args.out / "kl_tradeoff.json").write_text(json.dumps(sweep, indent=2) + "\n")
    text = markdown_table(table, f"KL trade-off (start: toxicity {start['toxicity']:.3f}, ROUGE-L {start['rougeL']:.3f})")
    (args.out / "kl_tradeoff.md").write_text(text)
    plot_kl_tradeoff(table, start).savefig(args.out / "kl_tradeoff.png", dpi=100)
    print(text)


if __name__ == "__main__":
    main()
