"""The evidence on synthetic numbers: paired bootstrap intervals, the comparison's rows, the training curves, the tables."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from lab_utils.config import get_config
from lab_utils.plots import plot_toxicity, plot_training, training_curves
from lab_utils.report import (
    compare_responses,
    markdown_table,
    paired_change_ci,
    select_comparison,
    toxicity_table,
)


def paired_scores(rng: np.random.Generator, prompts: int, samples: int, effect: float, spread: float, noise: float):
    """Per-sample before/after values whose population mean change is `effect`; prompts differ by `spread`."""
    level = rng.normal(0.3, spread, prompts)  # each prompt's own level
    shift = effect + rng.normal(0, spread, prompts)  # each prompt's own change, mean `effect`
    before = np.repeat(level, samples) + rng.normal(0, noise, prompts * samples)
    after = np.repeat(level + shift, samples) + rng.normal(0, noise, prompts * samples)
    return before.tolist(), after.tolist(), np.repeat(np.arange(prompts), samples).tolist()


def test_interval_contains_the_true_paired_effect() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(100):
        before, after, prompt_ids = paired_scores(rng, prompts=40, samples=4, effect=-0.05, spread=0.1, noise=0.1)
        ci = paired_change_ci(before, after, prompt_ids, resamples=999, seed=trial)
        assert ci["change_low"] <= ci["change"] <= ci["change_high"]
        assert ci["change"] == pytest.approx(np.mean(after) - np.mean(before))
        covered += ci["change_low"] <= -0.05 <= ci["change_high"]
    assert covered >= 88, f"a 95% interval covered the true change in only {covered} of 100 trials"
    before, after, prompt_ids = paired_scores(rng, prompts=200, samples=4, effect=-0.05, spread=0.1, noise=0.1)
    ci = paired_change_ci(before, after, prompt_ids, resamples=999, seed=0)
    assert ci["change_high"] < 0, "200 prompts resolve a change of -0.05 with this spread"
    assert ci["change_pct_low"] < ci["change_pct"] < ci["change_pct_high"] < 0


def test_bootstrap_resamples_prompts_not_samples() -> None:
    rng = np.random.default_rng(1)
    # 10 prompts that differ a lot in how they change, many nearly identical samples each.
    before, after, prompt_ids = paired_scores(rng, prompts=10, samples=50, effect=-0.05, spread=0.1, noise=0.001)
    ci = paired_change_ci(before, after, prompt_ids, resamples=2000, seed=0)
    per_prompt_change = pd.Series(np.subtract(after, before)).groupby(prompt_ids).mean()
    prompt_level = 2 * 1.96 * per_prompt_change.std() / np.sqrt(10)  # the width when prompts are the unit
    sample_level = 2 * 1.96 * np.std(np.subtract(after, before)) / np.sqrt(500)  # the width if summaries were independent
    width = ci["change_high"] - ci["change_low"]
    assert 0.6 * prompt_level < width < 1.5 * prompt_level and width > 2.5 * sample_level, (width, prompt_level, sample_level)
    # Twice as many identical samples per prompt add no information: the interval must not move.
    doubled = paired_change_ci(before * 2, after * 2, prompt_ids * 2, resamples=2000, seed=0)
    assert doubled["change_low"] == pytest.approx(ci["change_low"]) and doubled["change_high"] == pytest.approx(ci["change_high"])


def test_comparison_shows_largest_drops_then_rises_with_paired_samples() -> None:
    scores = {  # prompt -> (before samples, after samples); sample k before and after drew the same noise
        0: ([0.99, 0.98, 0.97, 0.01], [0.01, 0.97, 0.50, 0.90]),  # mean 0.74 -> 0.595
        1: ([0.99, 0.99, 0.99, 0.99], [0.01, 0.01, 0.01, 0.01]),  # the largest drop
        2: ([0.99, 0.99, 0.01, 0.01], [0.99, 0.99, 0.01, 0.01]),  # unchanged: not shown
        3: ([0.01, 0.01, 0.01, 0.01], [0.99, 0.99, 0.99, 0.01]),  # got worse
        4: ([0.20, 0.20, 0.20, 0.20], [0.10, 0.10, 0.10, 0.10]),  # a small drop, beyond num_best
        5: ([0.01, 0.01, 0.01, 0.01], [0.02, 0.02, 0.02, 0.02]),  # a small rise, beyond num_worse
    }
    prompt_ids = [p for p in scores for _ in range(4)]
    before = [s for b, _ in scores.values() for s in b]
    after = [s for _, a in scores.values() for s in a]
    chosen = select_comparison(prompt_ids, before, after, num_best=2, num_worse=1)
    assert chosen["prompt"].tolist() == [1, 0, 3]
    # prompt 0: the pair that fell most (0.99 -> 0.01, sample 0), not the one that rose (sample 3)
    assert chosen.loc[1, "sample"] == 0
    assert chosen.loc[1, "prompt_toxicity_before"] == pytest.approx(0.7375) and chosen.loc[1, "prompt_toxicity_after"] == pytest.approx(0.595)
    assert chosen.loc[2, "sample"] == 12 and after[12] > 0.5 > before[12]  # the honest row: the pair that got toxic
    even = select_comparison(prompt_ids, before, after, num_best=5, num_worse=0)  # prompt 2 did not move
    assert 2 not in even["prompt"].tolist() and even["prompt"].tolist() == [1, 0, 4]
    rose = select_comparison([0, 0, 0, 0], [0.01, 0.90, 0.01, 0.01], [0.60, 0.10, 0.90, 0.01], num_best=0, num_worse=1)
    assert rose.loc[0, "sample"] == 2  # the mean rose: the pair that rose most (0.01 -> 0.90), not the drop of sample 1

    texts = [f"summary {i}" for i in range(len(chosen))]
    table = compare_responses(texts, texts, texts, texts, [3.0, 1.0, 3.0], [3.1, 3.0, -3.0], toxicity_before=[0.9, 0.97, 0.01])
    assert list(table.columns[:7]) == ["query", "reference", "response_before", "response_after", "reward_before", "reward_after", "reward_diff"]
    assert table["reward_diff"].tolist() == pytest.approx([2.0, 0.1, -6.0]) and table["toxicity_before"].tolist() == [0.97, 0.9, 0.01]


def history_frame(steps: int, toxic_share: bool = True) -> pd.DataFrame:
    """A training history whose toxic share falls and reward rises, with noise and one skipped step."""
    rng = np.random.default_rng(0)
    share = np.clip(np.linspace(0.3, 0.05, steps) + rng.normal(0, 0.08, steps), 0, 1)
    history = pd.DataFrame(
        {
            "step": np.arange(1, steps + 1),
            "status": ["ok"] * steps,
            "env/reward_mean": 3.0 - 6.0 * share,
            "env/reward_std": 1.0,
            "objective/kl": np.linspace(0, 2, steps),
            "objective/kl_coef": np.linspace(0.2, 0.19, steps),
        }
    )
    if toxic_share:
        history["env/toxic_share"] = share
    history.loc[5, "status"] = "skipped: non-finite reward"
    return history


def test_training_curves_trend_down_and_tolerate_old_histories() -> None:
    curves = training_curves(history_frame(60), window=10)
    assert len(curves) == 59 and 6 not in curves["step"].tolist()  # the skipped step is left out
    assert curves["toxic_share_trend"].iloc[:9].isna().all() and curves["toxic_share_trend"].iloc[9:].notna().all()
    assert curves["toxic_share_trend"].iloc[9] == pytest.approx(curves["toxic_share"].iloc[:10].mean())
    trend = curves["toxic_share_trend"].dropna()
    assert trend.iloc[-1] < trend.iloc[0] and curves["reward_trend"].dropna().iloc[-1] > curves["reward_trend"].dropna().iloc[0]
    old = training_curves(history_frame(60, toxic_share=False), window=10)
    assert old["toxic_share"].isna().all() and old["reward_trend"].notna().sum() == 50
    config = get_config("tiny")
    figure = plot_training(history_frame(60, toxic_share=False), config)
    kl_axis = figure.axes[2]
    assert len(figure.axes) == 4 and any(set(line.get_ydata()) == {config.target_kl} for line in kl_axis.lines)
    no_target = plot_training(history_frame(60), dataclasses.replace(config, adap_kl_ctrl=False))
    assert not any(set(line.get_ydata()) == {config.target_kl} for line in no_target.axes[2].lines)


def test_toxicity_picture_and_tables() -> None:
    rng = np.random.default_rng(0)
    before, after, prompt_ids = paired_scores(rng, prompts=30, samples=2, effect=-0.1, spread=0.05, noise=0.05)
    before, after = np.clip(before, 0, 1).tolist(), np.clip(after, 0, 1).tolist()
    figure = plot_toxicity(before, after, prompt_ids)
    tail_axis, change_axis = figure.axes
    assert (tail_axis.get_xscale(), tail_axis.get_yscale()) == ("logit", "log")
    heights = [bar.get_height() for bar in change_axis.patches]  # one bar per prompt: its paired change, sorted
    change = pd.Series(np.subtract(after, before)).groupby(prompt_ids).mean().sort_values()
    assert heights == pytest.approx(change.tolist())
    stats = lambda values: {"mean": np.mean(values), "std": np.std(values), "max": 1.0, "expected_max": 1.0, "toxic_ratio": 0.1}  # noqa: E731
    ci = {"mean": paired_change_ci(before, after, prompt_ids, resamples=999, seed=0)}
    table = toxicity_table(stats(before), stats(after), ci)
    assert table.loc["mean toxicity", "CI low"] < table.loc["mean toxicity", "change"] < table.loc["mean toxicity", "CI high"]
    assert np.isnan(table.loc["std toxicity", "CI low"]) and list(toxicity_table(stats(before), stats(after)).columns) == ["before", "after", "change", "change %"]
    markdown = markdown_table(table, "Toxicity")
    assert "| std toxicity |" in markdown and "nan" not in markdown
