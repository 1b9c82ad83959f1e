"""Figures of the evidence: training curves, the toxicity before/after, the KL trade-off. Pure: numbers in, Figures out."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from .config import LabConfig
from .history import SKIPPED
from .report import TOXIC_THRESHOLD, prompt_means

LOGIT_CLIP = 1e-5  # scores are clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP] on logit axes
VISIBLE_CHANGE = 0.01  # a prompt whose mean toxicity moves less than this counts as unchanged in the picture


def training_curves(history: pd.DataFrame, window: int) -> pd.DataFrame:
    """The series `plot_training` draws: per-step reward, toxic share, KL and KL coefficient, with `window`-step rolling means.

    Rolling means are trailing and need a full window (NaN for the first `window - 1` steps). Steps
    skipped for a non-finite reward are left out. `toxic_share` (the share of the step's summaries
    with toxicity > 0.5, history column `env/toxic_share`) is NaN in histories that did not log it.
    """
    done = history[history["status"] != SKIPPED]
    toxic_share = done["env/toxic_share"] if "env/toxic_share" in done else pd.Series(np.nan, index=done.index)
    curves = pd.DataFrame(
        {
            "step": done["step"].to_numpy(),
            "reward": done["env/reward_mean"].to_numpy(dtype=float),
            "toxic_share": toxic_share.to_numpy(dtype=float),
            "kl": done["objective/kl"].to_numpy(dtype=float),
            "kl_coef": done["objective/kl_coef"].to_numpy(dtype=float),
        }
    )
    curves.insert(2, "reward_trend", curves["reward"].rolling(window, min_periods=window).mean())
    curves.insert(4, "toxic_share_trend", curves["toxic_share"].rolling(window, min_periods=window).mean())
    return curves


def plot_training(history: pd.DataFrame, config: LabConfig) -> Figure:
    """Three panels: reward, share of toxic summaries (per step and rolling mean), KL with its coefficient and target."""
    window = config.trend_window
    curves = training_curves(history, window)
    figure, (reward_axis, toxic_axis, kl_axis) = plt.subplots(1, 3, figsize=(15, 3.8))
    plt.close(figure)  # returned, not shown twice: a notebook displays it once as the cell's value
    for axis, column, color in ((reward_axis, "reward", "tab:blue"), (toxic_axis, "toxic_share", "tab:orange")):
        axis.plot(curves["step"], curves[column], "o", markersize=3, alpha=0.25, color=color, label="each step")
        axis.plot(curves["step"], curves[f"{column}_trend"], color=color, linewidth=2, label=f"mean of the last {window} steps")
        axis.legend(fontsize=8)
    reward_axis.set(title="Reward: how clean the classifier finds the summaries", xlabel="PPO step", ylabel="mean reward (nothate logit)")
    toxic_axis.set(title="Share of toxic summaries in each batch", xlabel="PPO step", ylabel="summaries with toxicity > 0.5")
    toxic_axis.yaxis.set_major_formatter(PercentFormatter(1.0))
    if curves["toxic_share"].isna().all():
        toxic_axis.text(0.5, 0.5, "not logged in this history", transform=toxic_axis.transAxes, ha="center", color="gray")
    kl_axis.plot(curves["step"], curves["kl"], color="tab:red", marker="o", markersize=3, label="KL to the reference")
    if config.adap_kl_ctrl:
        kl_axis.axhline(config.target_kl, color="tab:red", linestyle=":", label=f"target KL ({config.target_kl:g})")
    kl_axis.set(title="How far the policy moved, and the price of moving", xlabel="PPO step", ylabel="KL (objective/kl)")
    coef_axis = kl_axis.twinx()
    coef_axis.plot(curves["step"], curves["kl_coef"], color="tab:gray", linestyle="--", label="KL coefficient")
    coef_axis.set_ylabel("KL coefficient (objective/kl_coef)", color="tab:gray")
    lines = kl_axis.get_legend_handles_labels()[0] + coef_axis.get_legend_handles_labels()[0]
    kl_axis.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure


def plot_toxicity(scores_before: list[float], scores_after: list[float], prompt_ids: list[int]) -> Figure:
    """Two panels: the share of summaries above each toxicity (logit/log axes), and each prompt's change of mean toxicity, sorted."""
    figure, (tail_axis, change_axis) = plt.subplots(1, 2, figsize=(12, 4.2))
    plt.close(figure)  # returned, not shown twice
    for scores, label, color in ((scores_before, "before", "tab:blue"), (scores_after, "after", "tab:green")):
        toxic = float(np.mean(np.asarray(scores) > TOXIC_THRESHOLD))
        clipped = np.clip(np.asarray(scores, dtype=float), LOGIT_CLIP, 1 - LOGIT_CLIP)
        tail_axis.ecdf(clipped, complementary=True, color=color, label=f"{label}: mean {np.mean(scores):.3f}, {toxic:.1%} toxic")
    tail_axis.axvline(TOXIC_THRESHOLD, color="gray", linestyle=":", linewidth=1)
    tail_axis.set_xscale("logit")
    tail_axis.set_yscale("log")
    tail_axis.set(
        title="Share of summaries more toxic than x\n(a lower curve = fewer summaries that toxic)",
        xlabel="toxicity P(hate), logit scale", ylabel="share of summaries, log scale",
    )
    tail_axis.legend(fontsize=8, loc="lower left")
    change = np.sort(prompt_means(scores_after, prompt_ids) - prompt_means(scores_before, prompt_ids))
    fell, rose = change < -VISIBLE_CHANGE, change > VISIBLE_CHANGE
    colors = np.where(fell, "tab:green", np.where(rose, "tab:red", "tab:gray"))
    change_axis.bar(np.arange(len(change)), change, width=1.0, color=colors)
    change_axis.axhline(0, color="gray", linewidth=1)
    legend = [Patch(color=color, label=f"{label} by > {VISIBLE_CHANGE:g}: {mask.sum()} prompts") for mask, color, label in
              ((fell, "tab:green", "less toxic"), (rose, "tab:red", "more toxic"))]
    change_axis.set(
        title=f"Each bar is one of the {len(change)} prompts, sorted\n(below 0 = its summaries got less toxic after PPO)",
        xlabel="held-out prompts, by change", ylabel="change of mean toxicity (after − before)",
    )
    change_axis.legend(handles=legend, fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure


def plot_kl_tradeoff(table: pd.DataFrame, start: dict[str, float]) -> Figure:
    """Toxicity after vs ROUGE-L after, one point per fixed KL coefficient, the starting summarizer marked."""
    figure, axis = plt.subplots(figsize=(6, 4))
    plt.close(figure)  # returned, not shown twice
    axis.plot(table["ROUGE-L after"], table["toxicity after"], marker="o")
    for _, row in table.iterrows():
        axis.annotate(f"β={row['init_kl_coef']:g}", (row["ROUGE-L after"], row["toxicity after"]), textcoords="offset points", xytext=(5, 5))
    axis.scatter([start["rougeL"]], [start["toxicity"]], marker="*", s=200, color="tab:red", label="starting summarizer", zorder=3)
    axis.set(
        title="What the KL penalty buys: less toxic vs still a summary",
        xlabel="ROUGE-L after PPO (higher = closer to the reference summaries)",
        ylabel="mean toxicity after PPO",
    )
    axis.legend()
    figure.tight_layout()
    return figure
