"""Execute the lab notebooks headless on one profile: executed copies + results.json, for instructors and CI.

    python -m lab_utils.regenerate --profile tiny                 # every notebook -> notebooks/executed/tiny/
    python -m lab_utils.regenerate --profile full --out DIR       # on a GPU machine with hub access
    python -m lab_utils.regenerate --only lab3 --out results/tiny # just the main lab (what `make lab` runs)

The executed tiny copies are committed as the graded reference; CI re-executes them with nbval.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .config import REPO_ROOT, resolve_profile

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
EXECUTED_DIR = NOTEBOOKS_DIR / "executed"


def lab_notebooks(only: str | None = None) -> list[Path]:
    """The student notebooks (companion first: it makes the adapter the main lab starts from)."""
    notebooks = sorted(NOTEBOOKS_DIR.glob("lab*.ipynb"))
    return [path for path in notebooks if only is None or path.name.startswith(only)]


def execute(path: Path, out_dir: Path, profile: str, timeout: int = 7200) -> Path:
    """Run one notebook top to bottom with LAB_PROFILE set; write the executed copy into `out_dir`."""
    notebook = nbformat.read(path, as_version=4)
    os.environ["LAB_PROFILE"] = profile
    os.environ["LAB_RESULTS_DIR"] = str(out_dir.resolve())
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(out_dir)}}).execute()
    target = out_dir / path.name
    nbformat.write(notebook, target)
    print(f"executed {path.name} on '{profile}' in {time.time() - started:.0f} s -> {target}")
    return target


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None, help="full | tiny | auto (default: $LAB_PROFILE, else auto)")
    parser.add_argument("--only", default=None, help="run only notebooks whose name starts with this")
    parser.add_argument("--out", default=None, help="folder for executed copies, may contain {profile} (default: notebooks/executed/<profile>)")
    args = parser.parse_args()
    profile = resolve_profile(args.profile)
    out_dir = Path(args.out.format(profile=profile)) if args.out else EXECUTED_DIR / profile
    for path in lab_notebooks(args.only):
        execute(path, out_dir, profile)
    report = out_dir / "report.md"
    if report.is_file():
        print(report.read_text().split("### Before/after summaries")[0])
        print(f"Executed notebooks, report.md and results.json are in {out_dir}/")


if __name__ == "__main__":
    main()
