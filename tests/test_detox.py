"""The tiny lab end to end through its CLI, as a user runs it: PPO lowers toxicity, keeps the summaries, writes every report.

The CLI twin of the graded Lab 3 notebook (nbval runs that one): the same 40 steps, the reports checked here.
"""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from lab_utils.config import REPO_ROOT
from lab_utils.plots import training_curves

REPORT_FILES = [
    "report.md", "toxicity.csv", "rouge.csv", "compare_responses.csv", "history.csv",
    "training.png", "toxicity.png", "samples.csv", "results.json", "checkpoint/adapter_model.safetensors",
]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, config) -> dict:
    """The headless CLI on the tiny profile, end to end, as a user runs it."""
    out = tmp_path_factory.mktemp("detox")
    subprocess.run(
        [sys.executable, "-m", "lab_utils.detox", "--profile", "tiny", "--out", str(out)],
        check=True, cwd=REPO_ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return {"out": out, "results": json.loads((out / "results.json").read_text())}


def test_ppo_lowers_toxicity_and_keeps_the_summaries(cli_run) -> None:
    results = cli_run["results"]
    before, after = results["toxicity"]["before"], results["toxicity"]["after"]
    assert before["toxic_ratio"] >= 0.12, "the starting summarizer must write toxic summaries"
    change = results["toxicity"]["change"]["mean"]
    assert change["change_pct"] <= -50 and change["change_pct_high"] < 0, change  # halved, and the whole 95% CI below zero
    rouge_before, rouge_after = results["rouge"]["before"]["rougeL"], results["rouge"]["after"]["rougeL"]
    assert rouge_after >= 0.95 * rouge_before, (rouge_before, rouge_after)
    history = pd.DataFrame(results["history"])
    assert (history["status"] == "ok").all() and len(history) == results["config"]["num_steps"]
    assert abs(history["objective/kl"].iloc[0]) <= 0.05  # reference_mode 'start': the reference is the starting policy
    trend = training_curves(history, results["config"]["trend_window"])["toxic_share_trend"].dropna()
    assert trend.iloc[-1] < 0.8 * trend.iloc[0], trend.tolist()  # the training figure's toxic share visibly falls


def test_cli_writes_every_report(cli_run) -> None:
    for name in REPORT_FILES:
        assert (cli_run["out"] / name).is_file(), name
    report = (cli_run["out"] / "report.md").read_text()
    assert "mean toxicity" in report and "rougeL" in report and "response_before" in report
    compare = pd.read_csv(cli_run["out"] / "compare_responses.csv")
    assert list(compare.columns[:7]) == ["query", "reference", "response_before", "response_after", "reward_before", "reward_after", "reward_diff"]
    # The rows a student reads first show real detoxification: each is a pair (the same prompt and sampling
    # noise before and after PPO), and the 5 leading pairs go from a toxic summary to a clean one.
    top = compare.head(5)
    assert (top["toxicity_before"] > 0.5).all() and (top["toxicity_after"] < 0.5).all(), top[["toxicity_before", "toxicity_after"]]
    assert compare["reward_diff"].is_monotonic_decreasing
