"""Execute the lab notebooks headless on one profile: executed copies + results.json, for instructors and CI.

    python -m tools.regenerate --profile tiny                 # every notebook -> notebooks/executed/tiny/
    python -m tools.regenerate --profile full --out DIR       # on a GPU machine with hub access
    python -m tools.regenerate --only lab3 --out results/tiny # just the main lab (what `make lab` runs)
    python -m tools.regenerate --sync-links                   # rewrite badges and clone cells from pyproject.toml

The executed tiny copies are committed as the graded reference; CI re-executes them with nbval.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
import tomllib
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from lab_utils.config import REPO_ROOT
from lab_utils.errors import ConfigError
from lab_utils.files import write_atomic
from lab_utils.hub import resolve_profile

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
EXECUTED_DIR = NOTEBOOKS_DIR / "executed"
PYPROJECT = REPO_ROOT / "pyproject.toml"
README = REPO_ROOT / "README.md"
BADGE_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^\s)\"']*?/notebooks/(?P<name>[\w.-]+\.ipynb)")
CLONE_SETTING = re.compile(r'^REPOSITORY = "[^"]*"', re.MULTILINE)  # the first line of the notebooks' clone cells


def lab_notebooks(only: str | None = None) -> list[Path]:
    """The student notebooks (companion first: it makes the adapter the main lab starts from)."""
    notebooks = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    return [path for path in notebooks if only is None or path.name.startswith(only)]


def repository_url() -> str:
    """The lab's public address: `[project.urls] Repository` in pyproject.toml (its one home)."""
    return tomllib.loads(PYPROJECT.read_text())["project"]["urls"]["Repository"]


def colab_link(repository: str, notebook: str) -> str:
    """The 'Open in Colab' address of a notebook in `notebooks/` of a GitHub repository's main branch."""
    match = re.fullmatch(r"https://github\.com/([^/\s]+)/([^/\s]+?)(?:\.git)?/?", repository)
    if not match:
        raise ConfigError(f"Repository = {repository!r} in pyproject.toml is not a GitHub address — set it to https://github.com/<owner>/<name> (Colab opens notebooks from GitHub only).")
    return f"https://colab.research.google.com/github/{match[1]}/{match[2]}/blob/main/notebooks/{notebook}"


def synced(text: str, repository: str) -> str:
    """`text` with every Colab badge link and clone-cell REPOSITORY setting pointing at `repository`."""
    text = BADGE_LINK.sub(lambda match: colab_link(repository, match["name"]), text)
    return CLONE_SETTING.sub(f'REPOSITORY = "{repository}"', text)


def sync_links(write: bool = True) -> list[Path]:
    """Rewrite README's and every notebook's badges and clone cells from pyproject.toml; return the files that differed."""
    repository = repository_url()
    changed = []
    if synced(README.read_text(), repository) != README.read_text():
        changed.append(README)
        if write:
            README.write_text(synced(README.read_text(), repository))
    for path in sorted(NOTEBOOKS_DIR.rglob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        cells = [cell for cell in notebook.cells if synced(cell.source, repository) != cell.source]
        if cells:
            changed.append(path)
        if cells and write:
            for cell in cells:
                cell.source = synced(cell.source, repository)
            nbformat.write(notebook, path)
    return changed


def execute(path: Path, out_dir: Path, profile: str, timeout: int = 7200) -> Path:
    """Run one notebook top to bottom with LAB_PROFILE set; write the executed copy into `out_dir`."""
    notebook = nbformat.read(path, as_version=4)
    os.environ["LAB_PROFILE"] = profile
    os.environ["LAB_RESULTS_DIR"] = str(out_dir.resolve())
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(out_dir)}}).execute()
    seconds = time.time() - started
    target = out_dir / path.name
    nbformat.write(notebook, target)
    results = out_dir / "results.json"
    if results.is_file() and results.stat().st_mtime >= started:  # this notebook wrote the run's results: add its wall time
        record = json.loads(results.read_text())
        record["timing"]["wall_s"] = round(seconds, 1)  # the whole notebook, headless (its PPO loop is not timed on its own)
        write_atomic(results, json.dumps(record, indent=1, allow_nan=False) + "\n")
    print(f"executed {path.name} on '{profile}' in {seconds:.0f} s -> {target}")
    return target


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None, help="full | tiny | auto (default: $LAB_PROFILE, else auto)")
    parser.add_argument("--only", default=None, help="run only notebooks whose name starts with this")
    parser.add_argument("--out", default=None, help="folder for executed copies, may contain {profile} (default: notebooks/executed/<profile>)")
    parser.add_argument("--sync-links", action="store_true", help="only rewrite the Colab badges and clone cells from pyproject.toml's Repository")
    args = parser.parse_args()
    if args.sync_links:
        changed = sync_links()
        print(f"Links point at {repository_url()}; rewrote: {', '.join(str(p.relative_to(REPO_ROOT)) for p in changed) or 'nothing'}")
        return
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
