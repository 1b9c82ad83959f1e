"""The local evaluate toxicity measurement, evaluate_toxicity's statistics, ROUGE, intervals and the before/after comparison."""

import dataclasses
import os

import numpy as np
import pytest

from lab_utils.models import load_policy
from lab_utils.reward import make_reward_fn
from lab_utils.toxicity import (
    change_intervals,
    comparison_table,
    evaluate_toxicity,
    expected_maximum,
    load_toxicity_evaluator,
    rouge_per_sample,
    rouge_scores,
    toxicity_stats,
)


@pytest.fixture(scope="module")
def toxicity_evaluator(config):
    return load_toxicity_evaluator(config)


def test_measurement_loads_and_computes_offline(config, toxicity_evaluator) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    texts = ["#Person1# calls #Person2# a stupid clown and asks for the bill.", "#Person1# asks #Person2# for the bill."]
    scores = toxicity_evaluator.compute(predictions=texts, toxic_label="hate")["toxicity"]
    assert len(scores) == 2 and scores[0] > 0.5 > scores[1]
    assert toxicity_evaluator.compute(predictions=texts, aggregation="maximum")["max_toxicity"] == max(scores)
    assert toxicity_evaluator.compute(predictions=texts, aggregation="ratio")["toxicity_ratio"] == 0.5
    with pytest.raises(ValueError, match="toxic_label 'toxic'"):
        toxicity_evaluator.compute(predictions=texts, toxic_label="toxic")


def test_statistics_match_a_hand_computation() -> None:
    scores = [0.1, 0.9, 0.2, 0.6] + [0.0] * 21 + [0.3] * 25 + [0.99]  # 51 scores: two full groups of 25
    stats = toxicity_stats(scores)
    assert stats["mean"] == pytest.approx(sum(scores) / 51)
    assert stats["std"] == pytest.approx(float(np.std(scores)))
    assert stats["max"] == 0.99
    assert stats["expected_max"] == pytest.approx((0.9 + 0.3) / 2)  # the short trailing group is left out
    assert stats["toxic_ratio"] == pytest.approx(3 / 51)
    assert expected_maximum([0.2, 0.4]) == 0.4  # fewer than 25: the one group
    with pytest.raises(ValueError):
        toxicity_stats([])


def test_evaluate_toxicity_scores_every_sample(config, prompts, toxicity_evaluator) -> None:
    small = dataclasses.replace(config, eval_num_prompts=6, eval_samples_per_prompt=2, eval_batch_size=4)
    policy_model, tokenizer = load_policy(small)
    result = evaluate_toxicity(small, policy_model, tokenizer, prompts["test"], toxicity_evaluator)
    assert len(result.scores) == len(result.responses) == len(result.references) == 12
    assert result.queries[0] == result.queries[1] == prompts["test"][0]["query"]
    assert all(text.strip() for text in result.responses)
    assert result.stats == toxicity_stats(result.scores)
    assert result.prompt_ids == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5] and result.seconds > 0
    assert result.rouge == rouge_per_sample(result.responses, result.references)
    assert result.rouge_means() == pytest.approx(rouge_scores(result.responses, result.references))
    again = evaluate_toxicity(small, policy_model, tokenizer, prompts["test"], toxicity_evaluator)
    assert again.scores == result.scores  # seeded sampling: before/after comparisons see the same noise


def test_rouge_scores() -> None:
    same = rouge_scores(["#Person1# books a table."], ["#Person1# books a table."])
    assert same == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    partial = rouge_scores(["a table for four"], ["a table for two"])
    assert 0 < partial["rougeL"] < 1
    each = rouge_per_sample(["a table for four", "a table for two"], ["a table for two"] * 2)
    assert each["rougeL"] == [partial["rougeL"], 1.0]


def test_comparison_and_intervals_on_real_samples(config, prompts, reward_pipe, toxicity_evaluator) -> None:
    small = dataclasses.replace(
        config, eval_num_prompts=24, eval_samples_per_prompt=2, bootstrap_resamples=999, compare_num_prompts=3, compare_num_worse=2
    )
    policy_model, tokenizer = load_policy(small)
    before = evaluate_toxicity(small, policy_model, tokenizer, prompts["test"], toxicity_evaluator)
    # Other sampling noise stands in for a changed policy: some prompts get more toxic, some less.
    after = evaluate_toxicity(dataclasses.replace(small, seed=small.seed + 1), policy_model, tokenizer, prompts["test"], toxicity_evaluator)
    table = comparison_table(small, before, after, make_reward_fn(small, reward_pipe))
    assert 1 <= len(table) <= 5 and table["reward_diff"].is_monotonic_decreasing
    for row in table.itertuples():
        samples = [i for i, prompt in enumerate(before.prompt_ids) if prompt == row.prompt]
        assert row.query == before.queries[samples[0]] and row.reference == before.references[samples[0]]
        assert row.response_before in [before.responses[i] for i in samples] and row.response_after in [after.responses[i] for i in samples]
        assert row.toxicity_before in [before.scores[i] for i in samples] and row.toxicity_after in [after.scores[i] for i in samples]
        assert row.prompt_toxicity_before == pytest.approx(np.mean([before.scores[i] for i in samples]))
    intervals = change_intervals(small, before, after)
    assert set(intervals) == {"mean", "toxic_ratio", "rouge1", "rouge2", "rougeL"}
    assert intervals["mean"]["change"] == pytest.approx(after.stats["mean"] - before.stats["mean"])
    assert intervals["toxic_ratio"]["change_low"] <= intervals["toxic_ratio"]["change"] <= intervals["toxic_ratio"]["change_high"]
    with pytest.raises(ValueError, match="different prompts"):
        change_intervals(small, before, dataclasses.replace(after, prompt_ids=after.prompt_ids[::-1]))


def test_evaluator_can_share_the_reward_pipeline(config, reward_pipe, toxicity_evaluator) -> None:
    texts = ["#Person1# calls #Person2# a stupid clown and asks for the bill.", "#Person1# asks #Person2# for the bill."]
    own = toxicity_evaluator.compute(predictions=texts, toxic_label="hate")["toxicity"]
    shared = load_toxicity_evaluator(config, reward_pipe)
    assert shared.toxic_classifier is reward_pipe  # one classifier in memory, not two
    assert shared.compute(predictions=texts, toxic_label="hate")["toxicity"] == pytest.approx(own, abs=1e-6)
    logits = reward_pipe(texts)[0]  # the reward pipeline still returns raw logits afterwards
    assert any(candidate["score"] > 1.0 or candidate["score"] < 0.0 for candidate in logits)
