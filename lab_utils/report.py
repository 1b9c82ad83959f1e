"""Before/after evidence: tables and plots. Pure: numbers and texts in, DataFrames and Figures out."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

STAT_NAMES = {
    "mean": "mean toxicity",
    "std": "std toxicity",
    "max": "max toxicity",
    "expected_max": "expected max toxicity (groups of 25)",
    "toxic_ratio": "toxic ratio (score > 0.5)",
}


def percent_change(before: float, after: float) -> float:
    """Relative change from `before` to `after`, in percent (NaN when before is 0)."""
    return float("nan") if before == 0 else 100.0 * (after - before) / before


def toxicity_table(before: dict[str, float], after: dict[str, float]) -> pd.DataFrame:
    """Toxicity statistics before and after detoxification, with the % change of each."""
    rows = [
        {"statistic": label, "before": before[key], "after": after[key], "change %": percent_change(before[key], after[key])}
        for key, label in STAT_NAMES.items()
    ]
    return pd.DataFrame(rows).set_index("statistic")


def rouge_table(before: dict[str, float], after: dict[str, float]) -> pd.DataFrame:
    """ROUGE-1/2/L before and after on the same test prompts, with the % change of each."""
    rows = [
        {"metric": name, "before": before[name], "after": after[name], "change %": percent_change(before[name], after[name])}
        for name in ("rouge1", "rouge2", "rougeL")
    ]
    return pd.DataFrame(rows).set_index("metric")


def compare_responses(
    queries: list[str],
    responses_before: list[str],
    responses_after: list[str],
    rewards_before: list[float],
    rewards_after: list[float],
) -> pd.DataFrame:
    """The qualitative table: query, responses and rewards before/after, sorted by reward_diff (largest gain first)."""
    table = pd.DataFrame(
        {
            "query": queries,
            "response_before": responses_before,
            "response_after": responses_after,
            "reward_before": np.asarray(rewards_before, dtype=float),
            "reward_after": np.asarray(rewards_after, dtype=float),
        }
    )
    table["reward_diff"] = table["reward_after"] - table["reward_before"]
    return table.sort_values("reward_diff", ascending=False, kind="stable").reset_index(drop=True)


def plot_training(history: pd.DataFrame) -> Figure:
    """Reward mean and KL to the reference per PPO step."""
    done = history[history["status"] != "skipped: non-finite reward"]
    figure, (reward_axis, kl_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
    plt.close(figure)  # returned, not shown twice: a notebook displays it once as the cell's value
    reward_axis.plot(done["step"], done["env/reward_mean"], marker="o", markersize=3)
    reward_axis.fill_between(
        done["step"], done["env/reward_mean"] - done["env/reward_std"], done["env/reward_mean"] + done["env/reward_std"], alpha=0.2
    )
    reward_axis.set(title="reward (nothate logit) per step", xlabel="PPO step", ylabel="mean ± std")
    kl_axis.plot(done["step"], done["objective/kl"], marker="o", markersize=3, color="tab:red")
    kl_axis.set(title="KL to the reference policy", xlabel="PPO step", ylabel="objective/kl")
    figure.tight_layout()
    return figure


def plot_toxicity(scores_before: list[float], scores_after: list[float]) -> Figure:
    """Histogram of per-summary toxicity before vs after."""
    figure, axis = plt.subplots(figsize=(6, 3.5))
    plt.close(figure)  # returned, not shown twice
    bins = np.linspace(0.0, 1.0, 21)
    axis.hist(scores_before, bins=bins, alpha=0.6, label=f"before (mean {np.mean(scores_before):.3f})")
    axis.hist(scores_after, bins=bins, alpha=0.6, label=f"after (mean {np.mean(scores_after):.3f})")
    axis.set(title="toxicity of sampled summaries", xlabel="P(hate)", ylabel="summaries")
    axis.legend()
    figure.tight_layout()
    return figure


def markdown_table(table: pd.DataFrame, title: str) -> str:
    """A DataFrame as a GitHub markdown table under a heading (numbers to 4 significant digits)."""
    frame = table.reset_index() if table.index.name else table
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v).replace("\n", " ").replace("|", "\\|") for v in row] for row in frame.itertuples(index=False)]
    header = [str(c) for c in frame.columns]
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"
