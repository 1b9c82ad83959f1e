"""One run's results on disk: report.md, CSV tables, figures and results.json, each written atomically, with portable paths."""

from __future__ import annotations

import io
import json
import math
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PureWindowsPath
from typing import Any

import pandas as pd
import torch

from .config import REPO_ROOT, LabConfig
from .files import write_atomic
from .history import STOPPED
from .plots import plot_toxicity, plot_training
from .report import CONFIDENCE_LEVEL, ROUGE_NAMES, markdown_table, rouge_table, toxicity_table
from .reward import RewardFn
from .runtime import cpu_has_native_bf16, library_versions, pick_device, pick_dtype
from .toxicity import ToxicityResult, challenging, change_intervals, comparison_table

EVIDENCE_LIBRARIES = ("numpy", "pandas", "scipy", "matplotlib", "rouge-score")  # what the tables, intervals and plots are computed with
OUTSIDE_REPO = "<outside the repository>"  # stands for the folders of an absolute path that is not in the repository


def portable_path(value: str) -> str:
    """An absolute path inside the repository as a path relative to its root; another absolute path as `<outside the repository>/<name>`; anything else (a hub id) unchanged."""
    windows = PureWindowsPath(value)
    if not (os.path.isabs(value) or windows.is_absolute()):
        return value
    if os.path.isabs(value):  # a path of this machine's kind: is it in the repository (as written, or once links are resolved)?
        for path, root in ((Path(value), REPO_ROOT), (Path(value).resolve(), REPO_ROOT.resolve())):
            if path.is_relative_to(root):
                return path.relative_to(root).as_posix()
    return f"{OUTSIDE_REPO}/{windows.name}"  # PureWindowsPath splits on both / and \\


def portable(values: Any) -> Any:
    """`values` (nested dicts and lists of settings) with every absolute path made portable by `portable_path`."""
    if isinstance(values, dict):
        return {key: portable(value) for key, value in values.items()}
    if isinstance(values, (list, tuple)):
        return [portable(value) for value in values]
    return portable_path(values) if isinstance(values, str) else values


def json_ready(values: Any) -> Any:
    """`values` (nested dicts and lists) with NaN and infinities as None, so that the JSON is standard."""
    if isinstance(values, dict):
        return {key: json_ready(value) for key, value in values.items()}
    if isinstance(values, (list, tuple)):
        return [json_ready(value) for value in values]
    return None if isinstance(values, float) and not math.isfinite(values) else values


def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux, else what `platform` knows)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def machine(config: LabConfig) -> dict[str, Any]:
    """What the numbers were computed on: platform, CPU, threads, device, precision, library versions."""
    versions = library_versions()
    for name in EVIDENCE_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "torch_threads": torch.get_num_threads(),
        "device": str(pick_device()),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "precision": str(pick_dtype(config)).replace("torch.", ""),
        "library_versions": versions,
    }


def samples_table(before: ToxicityResult, after: ToxicityResult) -> pd.DataFrame:
    """Every evaluated sample: its prompt, summaries, toxicity and ROUGE before and after (the data behind the intervals)."""
    columns = {"prompt": before.prompt_ids, "response_before": before.responses, "response_after": after.responses}
    columns |= {"toxicity_before": before.scores, "toxicity_after": after.scores}
    for name in ROUGE_NAMES:
        columns |= {f"{name}_before": before.rouge[name], f"{name}_after": after.rouge[name]}
    return pd.DataFrame(columns)


def figure_bytes(figure: Any) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def write_results(
    out_dir: str | Path,
    config: LabConfig,
    before: ToxicityResult,
    after: ToxicityResult,
    history: pd.DataFrame,
    reward_fn: RewardFn | None = None,
    *,
    intervals: dict[str, dict[str, float]] | None = None,
    comparison: pd.DataFrame | None = None,
    wall_seconds: float | None = None,
) -> dict[str, Any]:
    """Write one run's reports (markdown, CSV, PNG, results.json) to `out_dir`; return the numbers.

    Pass the `intervals` (`change_intervals`) and `comparison` (`comparison_table`) already computed
    to reuse them; otherwise they are computed here, once (`reward_fn` is then needed for the comparison).
    """
    if comparison is None and reward_fn is None:
        raise ValueError("write_results needs the comparison table or a reward_fn to make it — pass comparison=... or reward_fn.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    intervals = intervals if intervals is not None else change_intervals(config, before, after)
    comparison = comparison if comparison is not None else comparison_table(config, before, after, reward_fn)
    rouge_before, rouge_after = before.rouge_means(), after.rouge_means()
    toxicity = toxicity_table(before.stats, after.stats, intervals)
    hard_before, hard_after = challenging(before, config.challenging_share), challenging(after, config.challenging_share)
    hard_intervals = change_intervals(config, hard_before, hard_after)
    hard_toxicity = toxicity_table(hard_before.stats, hard_after.stats, hard_intervals)
    rouge = rouge_table(rouge_before, rouge_after, intervals)
    prompts = len(set(before.prompt_ids))
    computed_on = machine(config)
    interval_note = (
        f"Changes are after − before. CI: {CONFIDENCE_LEVEL:.0%} bootstrap confidence interval (BCa, "
        f"{config.bootstrap_resamples} resamples) over the {prompts} held-out prompts, each resampled with its before "
        f"and after samples ({config.eval_samples_per_prompt} per prompt), so it reflects which prompts were drawn."
    )
    timing = {
        "evaluate_before_s": before.seconds,
        "evaluate_after_s": after.seconds,
        "ppo_steps": int(len(history)),
        "ppo_s": float(history["seconds"].sum()) if "seconds" in history else None,
        "wall_s": wall_seconds,
    }
    write_atomic(
        out_dir / "report.md",
        "\n".join(
            [
                markdown_table(toxicity, "Toxicity before/after PPO"),
                markdown_table(hard_toxicity, f"Toxicity on the challenging subset ({len(set(hard_before.prompt_ids))} prompts whose dialogue scores most toxic)"),
                markdown_table(rouge, "ROUGE before/after PPO"),
                interval_note + "\n",
                markdown_table(
                    comparison.drop(columns=["query"]),
                    "Before/after summaries: the prompts whose toxicity fell most, then a few that rose (per prompt, the same sampling draw before and after; by reward gain)",
                ),
                f"Run on {computed_on['cpu']} ({computed_on['device']}, {computed_on['precision']}); "
                f"PPO: {timing['ppo_steps']} steps"
                + (f" in {timing['ppo_s']:.0f} s.\n" if timing["ppo_s"] is not None else " (the notebook's loop is not timed).\n"),
            ]
        ),
    )
    write_atomic(out_dir / "toxicity.csv", toxicity.to_csv())
    write_atomic(out_dir / "toxicity_challenging.csv", hard_toxicity.to_csv())
    write_atomic(out_dir / "rouge.csv", rouge.to_csv())
    write_atomic(out_dir / "compare_responses.csv", comparison.to_csv(index=False))
    write_atomic(out_dir / "samples.csv", samples_table(before, after).to_csv(index_label="sample"))
    write_atomic(out_dir / "history.csv", history.to_csv(index=False))
    write_atomic(out_dir / "training.png", figure_bytes(plot_training(history, config)))
    write_atomic(out_dir / "toxicity.png", figure_bytes(plot_toxicity(before.scores, after.scores, before.prompt_ids)))
    results = {
        "profile": config.profile,
        "seed": config.seed,
        "toxicity": {"before": before.stats, "after": after.stats, "change": {key: intervals[key] for key in ("mean", "toxic_ratio")}},
        "challenging": {
            "share": config.challenging_share,
            "prompts": sorted(set(hard_before.prompt_ids)),
            "toxicity": {"before": hard_before.stats, "after": hard_after.stats, "change": {key: hard_intervals[key] for key in ("mean", "toxic_ratio")}},
        },
        "rouge": {"before": rouge_before, "after": rouge_after, "change": {name: intervals[name] for name in ROUGE_NAMES}},
        "intervals": {
            "confidence_level": CONFIDENCE_LEVEL,
            "method": "BCa bootstrap (scipy.stats.bootstrap), paired: prompts resampled with their before/after samples",
            "resamples": config.bootstrap_resamples,
            "prompts": prompts,
            "samples_per_prompt": config.eval_samples_per_prompt,
        },
        "comparison": json.loads(comparison.to_json(orient="records")),
        "stopped_early": bool((history["status"] == STOPPED).any()),  # the KL guard stopped training and rolled back
        "timing": timing,
        "machine": computed_on,
        "config": portable(config.to_dict()),
        "history": json.loads(history.to_json(orient="records")),
    }
    results = json_ready(results)
    write_atomic(out_dir / "results.json", json.dumps(results, indent=1, allow_nan=False) + "\n")
    return results
