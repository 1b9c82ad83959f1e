"""Before/after evidence: tables, confidence intervals and plots. Pure: numbers and texts in, DataFrames and Figures out."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter
from pandas.io.formats.style import Styler
from scipy import stats

from .config import LabConfig

SKIPPED = "skipped: non-finite reward"  # history statuses written by ppo.train: a batch left out ...
ROLLED_BACK = "rolled back"  # ... an update the KL guard undid ...
STOPPED = "stopped: kl ceiling"  # ... and the step at which it stopped the run

STAT_NAMES = {
    "mean": "mean toxicity",
    "std": "std toxicity",
    "max": "max toxicity",
    "expected_max": "expected max toxicity (groups of 25)",
    "toxic_ratio": "toxic ratio (score > 0.5)",
}
ROUGE_NAMES = ("rouge1", "rouge2", "rougeL")
CONFIDENCE_LEVEL = 0.95  # the confidence intervals' coverage
CI_COLUMNS = ["change", "CI low", "CI high", "change %", "CI low %", "CI high %"]  # after - before, then relative to before
CI_KEYS = ["change", "change_low", "change_high", "change_pct", "change_pct_low", "change_pct_high"]  # the same, in results.json
TOXIC_THRESHOLD = 0.5  # a summary above this toxicity counts as toxic (the same threshold as the toxic ratio)
LOGIT_CLIP = 1e-5  # scores are clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP] on logit axes
VISIBLE_CHANGE = 0.01  # a prompt whose mean toxicity moves less than this counts as unchanged in the picture


def percent_change(before: float, after: float) -> float:
    """Relative change from `before` to `after`, in percent (NaN when before is 0)."""
    return float("nan") if before == 0 else 100.0 * (after - before) / before


def prompt_means(values: list[float], prompt_ids: list[int]) -> np.ndarray:
    """Per-prompt mean of per-sample values, in the order of the sorted prompt ids."""
    return pd.Series(np.asarray(values, dtype=float)).groupby(np.asarray(prompt_ids)).mean().to_numpy()


def _mean_difference(before: np.ndarray, after: np.ndarray, axis: int = -1) -> np.ndarray:
    """after - before of the means (a bootstrap statistic)."""
    return after.mean(axis=axis) - before.mean(axis=axis)


def _percent_difference(before: np.ndarray, after: np.ndarray, axis: int = -1) -> np.ndarray:
    """100 (after - before) / before of the means (a bootstrap statistic)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * (after.mean(axis=axis) - before.mean(axis=axis)) / before.mean(axis=axis)


def _interval(before: np.ndarray, after: np.ndarray, statistic, resamples: int, seed: int) -> tuple[float, float]:
    """A BCa bootstrap interval of `statistic` over resampled prompts (pairs kept together).

    When every resample gives the same value (one prompt, or all prompts changed alike) the interval
    is that value; when some resamples have no defined value (a % change of a zero mean) it is NaN.
    """
    value = float(statistic(before, after))
    if len(before) < 2:
        return value, value
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # reported as NaN, or as the one value (below)
        result = stats.bootstrap(
            (before, after), statistic, paired=True, vectorized=True, n_resamples=resamples,
            confidence_level=CONFIDENCE_LEVEL, method="BCa", rng=np.random.default_rng(seed),
        )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if np.isnan(low) and np.allclose(result.bootstrap_distribution, value):
        return value, value
    return low, high


def paired_change_ci(
    values_before: list[float], values_after: list[float], prompt_ids: list[int], resamples: int, seed: int
) -> dict[str, float]:
    """The change of a mean (absolute and %) with 95% bootstrap intervals, paired by prompt.

    Each prompt's samples are first averaged, so the bootstrap resamples *prompts* (a prompt's before
    and after stay together), not single summaries: summaries of one prompt are not independent, and
    resampling them would make the interval too narrow. With equally many samples per prompt the mean
    of the prompt means is the overall mean. BCa intervals (scipy.stats.bootstrap).
    """
    before, after = prompt_means(values_before, prompt_ids), prompt_means(values_after, prompt_ids)
    change = float(_mean_difference(before, after))
    low, high = _interval(before, after, _mean_difference, resamples, seed)
    change_pct = percent_change(float(before.mean()), float(after.mean()))
    low_pct, high_pct = (float("nan"),) * 2 if before.mean() == 0 else _interval(before, after, _percent_difference, resamples, seed)
    return dict(zip(CI_KEYS, (change, low, high, change_pct, low_pct, high_pct)))


def _before_after_table(
    names: dict[str, str], before: dict[str, float], after: dict[str, float], intervals: dict[str, dict[str, float]] | None, index: str
) -> pd.DataFrame:
    """Rows of before, after, change (with its interval where there is one) and change %."""
    rows = []
    for key, label in names.items():
        ci = (intervals or {}).get(key)
        change = after[key] - before[key]
        cells = [change, np.nan, np.nan, percent_change(before[key], after[key]), np.nan, np.nan]
        if ci is not None:
            cells = [ci[k] for k in CI_KEYS]
        rows.append({index: label, "before": before[key], "after": after[key], **dict(zip(CI_COLUMNS, cells))})
    table = pd.DataFrame(rows).set_index(index)
    return table if intervals else table[["before", "after", "change", "change %"]]


def toxicity_table(
    before: dict[str, float], after: dict[str, float], intervals: dict[str, dict[str, float]] | None = None
) -> pd.DataFrame:
    """Toxicity statistics before and after, with the change (95% CI where `intervals` has one) and the % change."""
    return _before_after_table(STAT_NAMES, before, after, intervals, "statistic")


def rouge_table(
    before: dict[str, float], after: dict[str, float], intervals: dict[str, dict[str, float]] | None = None
) -> pd.DataFrame:
    """ROUGE-1/2/L before and after on the same test prompts, with the change (95% CI where given) and the % change."""
    return _before_after_table({name: name for name in ROUGE_NAMES}, before, after, intervals, "metric")


def _middle_samples(scores: np.ndarray) -> tuple[int, int]:
    """Positions of the lower and upper median of `scores` (the same position when their number is odd)."""
    order = np.argsort(scores, kind="stable")
    return int(order[(len(scores) - 1) // 2]), int(order[len(scores) // 2])


def select_comparison(
    prompt_ids: list[int], scores_before: list[float], scores_after: list[float], num_best: int, num_worse: int
) -> pd.DataFrame:
    """Which prompts, and which of their samples, the before/after comparison shows.

    Prompts are ranked by the change of their mean toxicity (over the prompt's samples): the
    `num_best` largest drops, then, for honesty, up to `num_worse` prompts whose mean rose (largest
    rise first); prompts whose mean did not move are not shown. Each row shows a *typical* sample on
    each side, not the most extreme one: the prompt's median sample by toxicity. With an even number
    of samples two are equally typical, and the row takes the one that shows the prompt's change (for
    a drop, the more toxic of the two before and the less toxic after). So with 4 samples a row shows
    a toxic "before" only when at least 2 of the prompt's 4 samples were toxic, and a clean "after"
    only when at least 2 of 4 are clean afterwards; the prompt's means are in the row too. Returns
    one row per prompt: prompt, sample_before, sample_after (positions in the per-sample lists) and
    the prompt's mean toxicity before and after.
    """
    ids = np.asarray(prompt_ids)
    before, after = np.asarray(scores_before, dtype=float), np.asarray(scores_after, dtype=float)
    rows = []
    for prompt in np.unique(ids):
        where = np.flatnonzero(ids == prompt)
        (before_low, before_high), (after_low, after_high) = _middle_samples(before[where]), _middle_samples(after[where])
        fell = after[where].mean() < before[where].mean()
        rows.append(
            {
                "prompt": int(prompt),
                "sample_before": int(where[before_high if fell else before_low]),
                "sample_after": int(where[after_low if fell else after_high]),
                "prompt_toxicity_before": float(before[where].mean()),
                "prompt_toxicity_after": float(after[where].mean()),
            }
        )
    table = pd.DataFrame(rows)
    change = table["prompt_toxicity_after"] - table["prompt_toxicity_before"]
    best = change[change < 0].sort_values(kind="stable").head(num_best)
    worse = change[change > 0].sort_values(ascending=False, kind="stable").head(num_worse)
    return table.loc[[*best.index, *worse.index]].reset_index(drop=True)


def compare_responses(
    queries: list[str],
    references: list[str],
    responses_before: list[str],
    responses_after: list[str],
    rewards_before: list[float],
    rewards_after: list[float],
    **numbers: list[float],
) -> pd.DataFrame:
    """The qualitative table: query, reference, summaries and rewards before/after (+ `numbers` columns), largest reward gain first."""
    table = pd.DataFrame(
        {
            "query": queries,
            "reference": references,
            "response_before": responses_before,
            "response_after": responses_after,
            "reward_before": np.asarray(rewards_before, dtype=float),
            "reward_after": np.asarray(rewards_after, dtype=float),
        }
    )
    table["reward_diff"] = table["reward_after"] - table["reward_before"]
    for name, values in numbers.items():
        table[name] = list(values)
    return table.sort_values("reward_diff", ascending=False, kind="stable").reset_index(drop=True)


def styled_comparison(table: pd.DataFrame) -> Styler:
    """The comparison table for a notebook: texts wrapped in narrow columns, numbers to 3 decimals."""
    texts = [c for c in ("query", "reference", "response_before", "response_after") if c in table]
    numbers = [c for c in table.columns if c not in texts and pd.api.types.is_float_dtype(table[c])]
    return (
        table.style.format("{:.3f}", subset=numbers)
        .set_properties(subset=texts, **{"white-space": "pre-wrap", "text-align": "left", "vertical-align": "top", "min-width": "14em", "max-width": "22em"})
        .set_properties(subset=[c for c in ("query",) if c in table], **{"font-size": "85%", "max-width": "26em"})
        .set_properties(subset=numbers, **{"vertical-align": "top"})
    )


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


def markdown_table(table: pd.DataFrame, title: str) -> str:
    """A DataFrame as a GitHub markdown table under a heading (numbers to 4 significant digits, NaN left blank)."""
    frame = table.reset_index() if table.index.name else table

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "" if np.isnan(value) else f"{value:.4g}"
        return str(value).replace("\n", " ").replace("|", "\\|")

    lines = [f"### {title}", "", "| " + " | ".join(str(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


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
