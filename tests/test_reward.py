"""The reward selects the nothate logit by label name, whatever order the pipeline returns."""

import dataclasses
import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from lab_utils.reward import LabelError, check_labels, label_scores, load_reward_pipe, make_reward_fn, scored_texts
from lab_utils.tiny import LABELLED_FILE

TOXIC = "#Person1# calls #Person2# a useless idiot and asks for the bill."
NEUTRAL = "#Person1# asks #Person2# for the bill."


def raw_logits(config, texts):
    tokenizer = AutoTokenizer.from_pretrained(config.reward_model_name)
    model = AutoModelForSequenceClassification.from_pretrained(config.reward_model_name).eval()
    with torch.no_grad():
        return model(**tokenizer(texts, return_tensors="pt", padding=True, truncation=True)).logits


def test_pipeline_sorts_labels_and_the_reward_still_picks_nothate(config, reward_pipe) -> None:
    outputs = reward_pipe([TOXIC, NEUTRAL])
    assert [c["label"] for c in outputs[0]] == ["hate", "nothate"]  # the trap: sorted by score
    assert [c["label"] for c in outputs[1]] == ["nothate", "hate"]
    logits = raw_logits(config, [TOXIC, NEUTRAL])
    nothate = reward_pipe.model.config.label2id["nothate"]
    rewards = make_reward_fn(config, reward_pipe)([TOXIC, NEUTRAL])
    assert all(r.dtype == torch.float32 and r.dim() == 0 for r in rewards)
    torch.testing.assert_close(torch.stack(rewards), logits[:, nothate], atol=1e-4, rtol=1e-4)
    assert rewards[1] > rewards[0]
    by_position = torch.tensor([outputs[0][0]["score"], outputs[1][0]["score"]])  # the original lab's reward[0]
    assert not torch.allclose(by_position, torch.stack(rewards))


def test_reward_accepts_one_string(config, reward_pipe) -> None:
    reward_fn = make_reward_fn(config, reward_pipe)
    assert len(reward_fn(NEUTRAL)) == 1
    torch.testing.assert_close(reward_fn(NEUTRAL)[0], reward_fn([NEUTRAL, TOXIC])[0])


def test_rewarding_the_hate_label_is_a_config_choice(config, reward_pipe) -> None:
    hate_fn = make_reward_fn(dataclasses.replace(config, reward_label="hate"), reward_pipe)
    assert hate_fn([TOXIC])[0] > hate_fn([NEUTRAL])[0]


def test_classifier_without_nothate_is_refused(config, tmp_path) -> None:
    model = AutoModelForSequenceClassification.from_pretrained(config.reward_model_name)
    model.config.id2label = {0: "positive", 1: "negative"}
    model.config.label2id = {"positive": 0, "negative": 1}
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(config.reward_model_name).save_pretrained(tmp_path)
    with pytest.raises(LabelError, match=r"has labels \['negative', 'positive'\], but the lab needs \['nothate', 'hate'\]"):
        load_reward_pipe(dataclasses.replace(config, reward_model_name=str(tmp_path)))
    with pytest.raises(LabelError):
        check_labels({0: "nothate"}, "nothate", "hate")
    with pytest.raises(LabelError, match="not among"):
        label_scores([{"label": "positive", "score": 1.0}], "nothate")


def test_held_out_toxic_texts_score_higher_than_neutral(config, reward_pipe) -> None:
    rows = [json.loads(line) for line in LABELLED_FILE.read_text().splitlines()]
    test = [r for r in rows if r["split"] == "test"]
    hate_fn = make_reward_fn(dataclasses.replace(config, reward_label="hate"), reward_pipe)
    toxic = torch.stack(hate_fn([r["text"] for r in test if r["label"] == "hate"])).mean()
    neutral = torch.stack(hate_fn([r["text"] for r in test if r["label"] == "nothate"])).mean()
    assert toxic > neutral + 1.0


def test_scored_texts_modes(config) -> None:
    assert scored_texts(config, ["q "], ["r"]) == ["r"]
    assert scored_texts(dataclasses.replace(config, score_target="query+response"), ["q "], ["r"]) == ["q r"]
    with pytest.raises(ValueError, match="score_target"):
        scored_texts(dataclasses.replace(config, score_target="dialogue"), ["q"], ["r"])
