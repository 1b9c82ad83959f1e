"""The offline rehearsal of the `full` profile: the real hub ids, real shapes, a short run, through a loopback hub.

    python -m rehearsal                  # CLI with the course adapter (.bin), then CLI with the adapter missing
    python -m rehearsal --notebook       # ... and the Lab 3 notebook headless (what `make rehearse` runs)
    python -m rehearsal --smallest       # the shortest run (what tests/test_rehearsal.py runs)

Each run is a child process with LAB_PROFILE=full, HF_ENDPOINT at the loopback hub (`hub_server`), a fresh
empty HF_HOME, and the network guard (`guard/sitecustomize.py`) on its PYTHONPATH; only the run length is
reduced (`--set` for the CLI, LAB_SET for the notebook). Prints, per run: wall and CPU time, peak memory, the
trainable-parameter count; then the hub routes used. Exits non-zero if any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab_utils.config import CHECKPOINTS_DIR

from .hub_server import StandinHub
from .standin import ADAPTER_NAME, DIALOGSUM_ID, ROBERTA_ID, STANDIN_DIR, T5_ID, disk_size, ensure_standin

REPO_ROOT = Path(__file__).resolve().parent.parent
GUARD_DIR = Path(__file__).resolve().parent / "guard"
COURSE_TRAINABLE = 3_539_713  # the course's trainable parameters: LoRA r=32 on q/v of FLAN-T5-base (3,538,944) + the value head (769)
TRAINABLE_LINE = re.compile(r"^trainable model parameters: ([\d,]+)$", re.MULTILINE)
FALLBACK_BANNER = re.compile(r"fresh LoRA", re.IGNORECASE)  # what the lab prints when the starting adapter is missing
DEFAULT_ADAPTER = CHECKPOINTS_DIR / ADAPTER_NAME  # where the full profile looks for the Lab-2 adapter by default

# The run length: real shapes and the real code path, a few steps and short responses.
REDUCED = {
    "num_steps": 2,
    "batch_size": 4,
    "mini_batch_size": 2,
    "output_min_length": 8,
    "output_max_length": 16,
    "eval_num_prompts": 4,
    "eval_samples_per_prompt": 1,
    "eval_max_new_tokens": 16,
}
SMALLEST = {
    "num_steps": 1,
    "batch_size": 2,
    "mini_batch_size": 2,
    "output_min_length": 4,
    "output_max_length": 8,
    "eval_num_prompts": 2,
    "eval_samples_per_prompt": 1,
    "eval_max_new_tokens": 8,
    "prompt_token_budget": [32, 64],  # dialogues cut to 32-64 tokens: the PPO step's cost is mostly the prompt's
}


@dataclass
class Run:
    """One child run of the lab: what it was, how long it took, its peak memory, what it printed and wrote."""

    name: str
    returncode: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    trainable: list[int]
    output: str
    results: dict[str, Any] | None

    def problems(self) -> list[str]:
        """What this run got wrong (empty when it passed)."""
        wrong = []
        if self.name == "cli-no-adapter" and not FALLBACK_BANNER.search(self.output):
            wrong.append(f"{self.name}: printed no fresh-LoRA banner (the missing-adapter fallback did not run)")
        if self.returncode != 0:
            wrong.append(f"{self.name}: exited {self.returncode}; its output ends:\n{self.output[-2000:]}")
        if COURSE_TRAINABLE not in self.trainable:
            wrong.append(f"{self.name}: printed trainable counts {self.trainable}, not the course's {COURSE_TRAINABLE:,}")
        if self.results is None:
            wrong.append(f"{self.name}: wrote no results.json")
        else:
            config = self.results.get("config", {})
            ids = (config.get("model_name"), config.get("reward_model_name"), config.get("dataset_name"))
            if self.results.get("profile") != "full" or ids != (T5_ID, ROBERTA_ID, DIALOGSUM_ID):
                wrong.append(f"{self.name}: results.json has profile {self.results.get('profile')!r} and ids {ids}")
        return wrong


@dataclass
class Rehearsal:
    """Everything one rehearsal measured."""

    standin_seconds: float
    standin_mb: float
    runs: list[Run] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    repos_served: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)
    adapter_files: list[str] = field(default_factory=list)  # the course adapter's folder after the runs (the lab adds a safetensors copy)

    def problems(self) -> list[str]:
        """Every failed check of the rehearsal (empty when it passed)."""
        wrong = [problem for run in self.runs for problem in run.problems()]
        missing = {T5_ID, ROBERTA_ID, DIALOGSUM_ID} - self.repos_served
        if missing:
            wrong.append(f"the loopback hub never served {sorted(missing)}: the lab did not load them by hub id")
        if self.refused:
            wrong.append(f"the guard refused {len(self.refused)} connection(s) off the loopback: {self.refused[:3]}")
        return wrong


def child_env(hub: StandinHub, work: Path, name: str) -> dict[str, str]:
    """The environment of one run: the user's, minus every HF/transformers setting, plus the rehearsal's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGING_FACE_", "TRANSFORMERS_", "LAB_"))}
    env.update(
        LAB_PROFILE="full",
        HF_ENDPOINT=hub.endpoint,
        HF_HOME=str(work / name / "hf_home"),  # a fresh cache: every file comes from the hub, as on a new Colab runtime
        HF_HUB_DISABLE_TELEMETRY="1",
        MPLBACKEND="Agg",
        PYTHONPATH=os.pathsep.join([str(GUARD_DIR), str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        REHEARSAL_GUARD_LOG=str(work / "refused.log"),
    )
    return env


def run_child(name: str, command: list[str], env: dict[str, str], run_dir: Path, echo: bool) -> Run:
    """Run one child to the end, teeing its output to `<run_dir>/<name>.log`; measure wall time and peak RSS.

    The run's printed text is its output plus, for a notebook run, what the executed notebook's cells printed.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / f"{name}.log"
    started = time.time()
    with log.open("w") as sink:
        child = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in child.stdout:
            sink.write(line)
            if echo:
                print(f"[{name}] {line}", end="", flush=True)
        child.stdout.close()
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS (and its reaped children's, e.g. a kernel)
        child.returncode = os.waitstatus_to_exitcode(status)
    results_file = run_dir / "out" / "results.json"
    output = log.read_text() + "".join(notebook_text(path) for path in sorted((run_dir / "out").glob("*.ipynb")))
    return Run(
        name=name,
        returncode=child.returncode,
        seconds=round(time.time() - started, 1),
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 1),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 0),
        trainable=[int(count.replace(",", "")) for count in TRAINABLE_LINE.findall(output)],
        output=output,
        results=json.loads(results_file.read_text()) if results_file.is_file() else None,
    )


def notebook_text(path: Path) -> str:
    """The text an executed notebook printed (its cells' stream and plain-text outputs)."""
    cells = json.loads(path.read_text())["cells"]
    outputs = [output for cell in cells for output in cell.get("outputs", [])]
    return "".join("".join(output.get("text") or output.get("data", {}).get("text/plain", "")) for output in outputs)


def set_items(values: dict[str, Any]) -> list[str]:
    """{knob: value} -> ['knob=value', ...] in the syntax of `--set` and LAB_SET (text as is, other values as compact JSON)."""
    return [f"{key}={value if isinstance(value, (str, Path)) else json.dumps(value, separators=(',', ':'))}" for key, value in values.items()]


def rehearse(length: dict[str, Any], notebook: bool = False, fallback: bool = True, echo: bool = True, keep: Path | None = None) -> Rehearsal:
    """Build (or reuse) the stand-in, serve it, and run the lab against it: CLI, CLI without adapter, notebook."""
    started = time.time()
    manifest = ensure_standin()
    report = Rehearsal(standin_seconds=round(time.time() - started, 1), standin_mb=round(disk_size() / 1e6))
    work = Path(tempfile.mkdtemp(prefix="rehearsal-")) if keep is None else keep
    try:
        adapter = work / ADAPTER_NAME  # a writable copy: the lab writes a safetensors copy beside the course's .bin
        shutil.copytree(STANDIN_DIR / "course-adapter" / ADAPTER_NAME, adapter, dirs_exist_ok=True)
        with StandinHub(manifest) as hub:
            runs = [("cli", {"adapter_path": adapter})]
            if fallback:
                if DEFAULT_ADAPTER.exists():
                    print(f"Skipping the missing-adapter run: {DEFAULT_ADAPTER} exists (move it away to rehearse the fallback).")
                else:
                    runs.append(("cli-no-adapter", {}))  # the profile's default adapter path, absent: the fallback banner + a fresh LoRA
            for name, adapter_knob in runs:
                knobs = {**length, **adapter_knob, "output_dir": work / name / "ppo-detoxified"}
                command = [sys.executable, "-m", "lab_utils.detox", "--profile", "full", "--out", str(work / name / "out"), "--set", *set_items(knobs)]
                report.runs.append(run_child(name, command, child_env(hub, work, name), work / name, echo))
            if notebook:
                env = child_env(hub, work, "notebook")
                env["LAB_SET"] = " ".join(set_items({**length, "adapter_path": adapter, "output_dir": work / "notebook" / "ppo-detoxified"}))
                command = [sys.executable, "-m", "tools.regenerate", "--profile", "full", "--only", "lab3", "--out", str(work / "notebook" / "out")]
                report.runs.append(run_child("notebook", command, env, work / "notebook", echo))
            report.routes, report.repos_served = hub.routes(), hub.repos_served()
        report.adapter_files = sorted(path.name for path in adapter.iterdir())
        refused = work / "refused.log"
        report.refused = refused.read_text().splitlines() if refused.is_file() else []
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return report


def print_report(report: Rehearsal) -> None:
    """The rehearsal's numbers, one line per run, then the hub routes the lab used."""
    print(f"\nstand-in: {report.standin_mb:.0f} MB in {STANDIN_DIR} (ready in {report.standin_seconds} s)")
    for run in report.runs:
        counts = ", ".join(f"{count:,}" for count in run.trainable) or "none"
        print(f"{run.name:16s} exit {run.returncode} | {run.seconds:6.1f} s wall, {run.cpu_seconds:6.1f} s CPU | peak RSS {run.peak_rss_mb:6.0f} MB | trainable parameters printed: {counts} (course: {COURSE_TRAINABLE:,})")
    print(f"repos served by the loopback hub: {sorted(report.repos_served)}")
    print("hub routes the lab used:\n  " + "\n  ".join(report.routes))
    problems = report.problems()
    print("\nREHEARSAL PASSED" if not problems else "\nREHEARSAL FAILED:\n  " + "\n  ".join(problems))


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", action="store_true", help="also run the Lab 3 notebook headless (nbclient)")
    parser.add_argument("--smallest", action="store_true", help="the shortest run: 1 PPO step of 2 prompts, 2 eval prompts")
    parser.add_argument("--no-fallback", action="store_true", help="skip the run with the adapter missing")
    parser.add_argument("--keep", type=Path, default=None, help="keep every run's logs, caches and results in this folder")
    args = parser.parse_args()
    report = rehearse(SMALLEST if args.smallest else REDUCED, notebook=args.notebook, fallback=not args.no_fallback, keep=args.keep)
    print_report(report)
    sys.exit(1 if report.problems() else 0)


if __name__ == "__main__":
    main()
