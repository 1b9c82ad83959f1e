"""The reward: the hate-speech classifier's logit for the label named in the config, never picked by position.

With `top_k=None` the pipeline returns every label **sorted by score**, so for a toxic text the order is
[hate, nothate]; the original lab's `reward[0]` therefore rewarded the *hate* logit whenever hate won.
Here the score is always selected by its label name.
"""

from __future__ import annotations

from typing import Callable

import torch
from transformers import Pipeline, pipeline

from .config import LabConfig
from .errors import ConfigError, LabError
from .models import check_tokenizer_files
from .runtime import pick_device, pick_dtype

RewardFn = Callable[[str | list[str]], list[torch.Tensor]]


class LabelError(LabError, ValueError):
    """The classifier does not have the labels the lab needs."""


def check_labels(id2label: dict[int, str], *needed: str) -> None:
    """Raise a clear error when any `needed` label is absent from the classifier's id2label."""
    have = sorted(id2label.values())
    missing = [label for label in needed if label not in have]
    if missing:
        raise LabelError(
            f"The reward classifier has labels {have}, but the lab needs {missing} — "
            "set LabConfig.reward_label / toxic_label to labels it has, or use a classifier "
            "such as facebook/roberta-hate-speech-dynabench-r4-target (nothate, hate)."
        )


def load_reward_pipe(config: LabConfig) -> Pipeline:
    """A text-classification pipeline returning raw logits for all labels (top_k=None, no softmax)."""
    check_tokenizer_files(config.reward_model_name)
    reward_pipe = pipeline(
        "text-classification",
        model=config.reward_model_name,
        device=pick_device(),
        dtype=pick_dtype(config),
        top_k=None,
        function_to_apply="none",
        truncation=True,
        batch_size=config.reward_batch_size,
    )
    check_labels(reward_pipe.model.config.id2label, config.reward_label, config.toxic_label)
    return reward_pipe


def label_scores(outputs: list[dict] | list[list[dict]], label: str) -> list[float]:
    """From pipeline outputs (one text or many), the score of `label` per text, looked up by name."""
    per_text = [outputs] if outputs and isinstance(outputs[0], dict) else outputs
    scores = []
    for candidates in per_text:
        by_label = {candidate["label"]: candidate["score"] for candidate in candidates}
        if label not in by_label:
            raise LabelError(f"Label {label!r} is not among the pipeline's outputs {sorted(by_label)} — set LabConfig.reward_label / toxic_label to one of them.")
        scores.append(float(by_label[label]))
    return scores


def make_reward_fn(config: LabConfig, reward_pipe: Pipeline) -> RewardFn:
    """`rewards = reward_fn(texts)`: the logit of `config.reward_label` per text, as float tensors."""

    def reward_fn(texts: str | list[str]) -> list[torch.Tensor]:
        """Score one text or a list of texts."""
        if not texts:
            return []
        with torch.inference_mode():
            outputs = reward_pipe(texts)
        return [torch.tensor(score) for score in label_scores(outputs, config.reward_label)]

    return reward_fn


def make_toxicity_fn(config: LabConfig, reward_pipe: Pipeline) -> Callable[[list[str]], list[float]]:
    """`toxicity = toxicity_fn(texts)`: the probability of `config.toxic_label` per text (softmax over the labels' logits, by name)."""

    def toxicity_fn(texts: list[str]) -> list[float]:
        """Score a list of texts (without touching the RNG: following the toxic share must not change the run)."""
        if not texts:
            return []
        with torch.inference_mode(), torch.random.fork_rng():
            outputs = reward_pipe(texts, function_to_apply="softmax")
        return label_scores(outputs, config.toxic_label)

    return toxicity_fn


def scored_texts(config: LabConfig, queries: list[str], responses: list[str]) -> list[str]:
    """What the reward model reads: the response alone, or query + response (the original lab's choice)."""
    if config.score_target == "response":
        return list(responses)
    if config.score_target == "query+response":
        return [query + response for query, response in zip(queries, responses)]
    raise ConfigError(f"score_target={config.score_target!r} is not a scoring target — use 'response' or 'query+response'.")
