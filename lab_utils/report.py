"""Before/after evidence as tables: toxicity and ROUGE with paired bootstrap intervals, the comparison rows. Pure: numbers and texts in, tables out."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler
from scipy import stats

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


def select_comparison(
    prompt_ids: list[int], scores_before: list[float], scores_after: list[float], num_best: int, num_worse: int
) -> pd.DataFrame:
    """Which prompts, and which of their samples, the before/after comparison shows.

    Prompts are ranked by the change of their mean toxicity (over the prompt's samples): the
    `num_best` largest drops, then, for honesty, up to `num_worse` prompts whose mean rose (largest
    rise first); prompts whose mean did not move are not shown. Evaluation samples with common random
    numbers, so sample k of a prompt before PPO and sample k after it drew the same sampling noise: a
    row shows one such *pair*, the same draw before and after, and picks the pair whose toxicity moved
    most in the direction of its prompt's change. The prompt's means are in the row too. Returns one
    row per prompt: prompt, sample (its position in the per-sample lists, the same before and after)
    and the prompt's mean toxicity before and after.
    """
    ids = np.asarray(prompt_ids)
    before, after = np.asarray(scores_before, dtype=float), np.asarray(scores_after, dtype=float)
    rows = []
    for prompt in np.unique(ids):
        where = np.flatnonzero(ids == prompt)
        change = after[where] - before[where]
        fell = after[where].mean() < before[where].mean()
        rows.append(
            {
                "prompt": int(prompt),
                "sample": int(where[np.argmin(change) if fell else np.argmax(change)]),
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
