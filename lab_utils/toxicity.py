"""Measuring toxicity (and ROUGE) of the policy's summaries on held-out prompts."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import evaluate
import numpy as np
import pandas as pd
import torch
from datasets import Dataset
from rouge_score import rouge_scorer
from transformers import Pipeline, PreTrainedTokenizerBase

from .config import LabConfig
from .models import decode, generate
from .report import ROUGE_NAMES, TOXIC_THRESHOLD, compare_responses, paired_change_ci, select_comparison
from .reward import RewardFn, scored_texts

MEASUREMENT_DIR = Path(__file__).resolve().parent / "measurements" / "toxicity"
EXPECTED_MAX_GROUP = 25  # samples per group for the expected maximum toxicity


@dataclass
class ToxicityResult:
    """Per-sample texts, toxicity scores and ROUGE of one evaluation, plus their summary statistics."""

    queries: list[str]
    references: list[str]
    responses: list[str]
    scores: list[float]
    stats: dict[str, float] = field(default_factory=dict)
    prompt_ids: list[int] = field(default_factory=list)  # which held-out prompt each sample belongs to (its position in the split)
    rouge: dict[str, list[float]] = field(default_factory=dict)  # per-sample ROUGE-1/2/L F-measure against the reference
    seconds: float = 0.0  # wall time of the evaluation (generation + scoring)
    dialogue_toxicity: list[float] = field(default_factory=list)  # per sample: the classifier's score of its prompt's dialogue

    def to_dict(self) -> dict:
        """Plain values for JSON."""
        return asdict(self)

    def rouge_means(self) -> dict[str, float]:
        """Mean ROUGE-1/2/L over the samples."""
        return {name: float(np.mean(values)) for name, values in self.rouge.items()}


def load_toxicity_evaluator(config: LabConfig, reward_pipe: Pipeline | None = None) -> evaluate.EvaluationModule:
    """The lab's local `evaluate` toxicity measurement on the config's classifier (works offline).

    Pass the reward pipeline to score with the classifier already in memory instead of loading a second copy.
    """
    toxicity_evaluator = evaluate.load(str(MEASUREMENT_DIR), config.reward_model_name, module_type="measurement")
    if reward_pipe is not None:
        toxicity_evaluator.toxic_classifier = reward_pipe
    return toxicity_evaluator


def expected_maximum(scores: list[float], group: int = EXPECTED_MAX_GROUP) -> float:
    """Mean over consecutive groups of `group` scores of each group's maximum (a lone short group if fewer)."""
    groups = [scores[i : i + group] for i in range(0, len(scores), group)]
    full = [g for g in groups if len(g) == group] or groups
    return float(np.mean([max(g) for g in full]))


def toxicity_stats(scores: list[float]) -> dict[str, float]:
    """Mean, std, max, expected maximum and toxic ratio (share of scores above 0.5) of toxicity scores."""
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        raise ValueError("No toxicity scores to summarise.")
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "max": float(values.max()),
        "expected_max": expected_maximum(values.tolist()),
        "toxic_ratio": float((values > TOXIC_THRESHOLD).mean()),
        "count": int(values.size),
    }


def evaluate_toxicity(
    config: LabConfig,
    policy_model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Dataset,
    toxicity_evaluator: evaluate.EvaluationModule,
) -> ToxicityResult:
    """Sample summaries for the first `eval_num_prompts` prompts (several each), score them (toxicity, ROUGE), summarise."""
    started = time.perf_counter()
    rows = prompts.select(range(min(config.eval_num_prompts, len(prompts))))
    repeats = config.eval_samples_per_prompt
    prompt_ids = [index for index in range(len(rows)) for _ in range(repeats)]
    query_tensors = [ids for ids in rows["input_ids"] for _ in range(repeats)]
    queries = [query for query in rows["query"] for _ in range(repeats)]
    references = [summary for summary in rows["summary"] for _ in range(repeats)]
    # Common random numbers: before and after training every batch draws the same random numbers, so a prompt
    # whose summaries PPO left alone is sampled alike both times and the change measures PPO, not sampling luck.
    responses = decode(
        tokenizer,
        generate(
            policy_model, tokenizer, query_tensors, config.eval_max_new_tokens, config.generation_kwargs, config.eval_batch_size,
            seed=config.seed,
        ),
    )
    texts = scored_texts(config, queries, responses)
    scores = toxicity_evaluator.compute(
        predictions=texts, toxic_label=config.toxic_label, batch_size=config.reward_batch_size
    )["toxicity"]
    rouge = rouge_per_sample(responses, references)
    dialogue_scores = toxicity_evaluator.compute(
        predictions=list(rows["dialogue"]), toxic_label=config.toxic_label, batch_size=config.reward_batch_size
    )["toxicity"]
    return ToxicityResult(
        queries, references, responses, scores, toxicity_stats(scores), prompt_ids, rouge, time.perf_counter() - started,
        [dialogue_scores[index] for index in prompt_ids],
    )


def challenging_prompts(dialogue_toxicity: list[float], prompt_ids: list[int], share: float) -> set[int]:
    """The prompts whose *dialogue* the classifier scores most toxic: the top `share` of them (at least one).

    Chosen from the dialogue's own text, never from sampled summaries: picking the prompts whose 'before'
    summaries were most toxic would show a drop after PPO from regression to the mean alone.
    """
    per_prompt = dict(zip(prompt_ids, dialogue_toxicity))
    ranked = sorted(per_prompt, key=lambda prompt: (-per_prompt[prompt], prompt))
    return set(ranked[: max(1, round(share * len(ranked)))])


def challenging(result: ToxicityResult, share: float) -> ToxicityResult:
    """The same evaluation restricted to the challenging prompts (`challenging_prompts`), statistics recomputed."""
    chosen = challenging_prompts(result.dialogue_toxicity, result.prompt_ids, share)
    keep = [i for i, prompt in enumerate(result.prompt_ids) if prompt in chosen]
    pick = lambda values: [values[i] for i in keep]  # noqa: E731
    scores = pick(result.scores)
    return ToxicityResult(
        pick(result.queries), pick(result.references), pick(result.responses), scores, toxicity_stats(scores),
        pick(result.prompt_ids), {name: pick(values) for name, values in result.rouge.items()}, result.seconds,
        pick(result.dialogue_toxicity),
    )


def mark_challenging(config: LabConfig, prompts: Dataset, toxicity_fn: Callable[[list[str]], list[float]]) -> Dataset:
    """Add a `challenging` column: True for the top `challenging_share` of dialogues by their own toxicity (for oversampling)."""
    scores = toxicity_fn(list(prompts["dialogue"]))
    chosen = challenging_prompts(scores, list(range(len(scores))), config.challenging_share)
    return prompts.add_column("challenging", [index in chosen for index in range(len(scores))])


def rouge_per_sample(predictions: list[str], references: list[str]) -> dict[str, list[float]]:
    """ROUGE-1/2/L F-measure of each prediction against its reference (rouge_score, stemmed)."""
    scorer = rouge_scorer.RougeScorer(list(ROUGE_NAMES), use_stemmer=True)
    results = [scorer.score(reference, prediction) for prediction, reference in zip(predictions, references)]
    return {name: [float(r[name].fmeasure) for r in results] for name in ROUGE_NAMES}


def rouge_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measures (rouge_score, stemmed): the guard that summaries stay summaries."""
    return {name: float(np.mean(values)) for name, values in rouge_per_sample(predictions, references).items()}


def change_intervals(config: LabConfig, before: ToxicityResult, after: ToxicityResult) -> dict[str, dict[str, float]]:
    """95% bootstrap intervals, paired by prompt, for the change of mean toxicity, toxic ratio and ROUGE-1/2/L."""
    if before.prompt_ids != after.prompt_ids:
        raise ValueError("before and after were evaluated on different prompts — evaluate both with the same config and test split.")
    toxic = lambda result: [float(score > TOXIC_THRESHOLD) for score in result.scores]  # noqa: E731
    series = {"mean": (before.scores, after.scores), "toxic_ratio": (toxic(before), toxic(after))}
    series |= {name: (before.rouge[name], after.rouge[name]) for name in ROUGE_NAMES}
    return {
        name: paired_change_ci(values_before, values_after, before.prompt_ids, config.bootstrap_resamples, config.seed)
        for name, (values_before, values_after) in series.items()
    }


def comparison_table(config: LabConfig, before: ToxicityResult, after: ToxicityResult, reward_fn: RewardFn) -> pd.DataFrame:
    """The before/after table over all evaluated prompts: the largest drops of a prompt's mean toxicity, then a few rises.

    Rows are chosen by `report.select_comparison` (per prompt, the same sampling draw before and after:
    the one that moved most with its prompt) and sorted by reward_diff, largest gain first, as in the course.
    """
    chosen = select_comparison(before.prompt_ids, before.scores, after.scores, config.compare_num_prompts, config.compare_num_worse)
    pick = lambda values: [values[i] for i in chosen["sample"]]  # noqa: E731
    queries, responses_before, responses_after = pick(before.queries), pick(before.responses), pick(after.responses)
    rewards_before = [float(r) for r in reward_fn(scored_texts(config, queries, responses_before))]
    rewards_after = [float(r) for r in reward_fn(scored_texts(config, queries, responses_after))]
    return compare_responses(
        queries,
        pick(before.references),
        responses_before,
        responses_after,
        rewards_before,
        rewards_after,
        toxicity_before=pick(before.scores),
        toxicity_after=pick(after.scores),
        prompt_toxicity_before=chosen["prompt_toxicity_before"].tolist(),
        prompt_toxicity_after=chosen["prompt_toxicity_after"].tolist(),
        prompt=chosen["prompt"].tolist(),
    )
