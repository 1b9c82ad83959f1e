"""Do the lab's conclusions survive another build of the tiny world? Builds it with other `TinySpec` seeds
(a stand-in for another CPU model, whose floating point gives other weights from the same recipe) and
runs the tiny lab on each build at one lab seed.

    python benchmarks/builds.py --spec-seeds 7 99 --out benchmarks/results/builds

Each build goes to `$TMPDIR/detox-lab-builds/seed-<n>/` (one torch thread, two builds at a time by
default, about 10 minutes each on a free core); the lab run points the tiny profile's three model paths
at it with `--set`. Writes `builds.md` and `builds.csv` into `--out`: the build's own quality report and
the run's toxicity and ROUGE-L change.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from lab_utils.report import markdown_table
from lab_utils.tiny import TinySpec, build_world

from seeds import REPO_ROOT, run_one, summary_row

BUILD_ROOT = Path(tempfile.gettempdir()) / "detox-lab-builds"
QUALITY = ("fluency", "graded_share", "toxic_share", "toxic_share_challenging", "faithfulness")


def build(spec_seed: int) -> dict:
    """The world of `TinySpec(seed=spec_seed)` under BUILD_ROOT (built unless it is current); its manifest."""
    out_dir = BUILD_ROOT / f"seed-{spec_seed}" / "tiny"
    manifest = out_dir / "manifest.json"
    spec = dataclasses.replace(TinySpec(), seed=spec_seed)
    if manifest.is_file() and json.loads(manifest.read_text())["spec"] == dataclasses.asdict(spec):
        return json.loads(manifest.read_text())
    return build_world(out_dir, spec)


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec-seeds", type=int, nargs="+", default=[7, 99])
    parser.add_argument("--lab-seed", type=int, default=42)
    parser.add_argument("--jobs", type=int, default=2, help="builds (then runs) at a time, one torch thread each")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "builds")
    args = parser.parse_args()
    with ProcessPoolExecutor(args.jobs) as pool:
        manifests = list(pool.map(build, args.spec_seeds))
        runs = list(pool.map(run_one, [args.out / f"spec-seed-{seed}" for seed in args.spec_seeds], [
            [f"seed={args.lab_seed}", f"model_name={root}/t5", f"adapter_path={root}/peft-dialogue-summary-checkpoint",
             f"reward_model_name={root}/roberta-hate"]
            for root in (BUILD_ROOT / f"seed-{seed}" / "tiny" for seed in args.spec_seeds)
        ]))
    rows = []
    for seed, manifest, results in zip(args.spec_seeds, manifests, runs):
        metrics = manifest["metrics"]
        row = summary_row(f"TinySpec seed {seed}", results)
        rows.append({**row, **{name: metrics[name] for name in QUALITY}, "build s": metrics["seconds"]})
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "builds.csv", index=False)
    text = f"Tiny world rebuilt with other TinySpec seeds; the lab at seed {args.lab_seed} on each\n\n" + markdown_table(table, "Builds")
    (args.out / "builds.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
