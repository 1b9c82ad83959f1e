"""LabConfig profiles and LAB_PROFILE resolution."""

import pytest

from lab_utils.config import LabConfig, get_config
from lab_utils.hub import resolve_profile


def test_full_profile_matches_the_original_lab() -> None:
    config = get_config("full")
    assert config.model_name == "google/flan-t5-base"
    assert config.reward_model_name == "facebook/roberta-hate-speech-dynabench-r4-target"
    assert config.dataset_name == "knkarthick/dialogsum"
    assert (config.learning_rate, config.ppo_epochs, config.mini_batch_size, config.batch_size) == (1.41e-5, 1, 4, 16)
    assert (config.lora_r, config.lora_alpha, config.lora_target_modules, config.lora_dropout) == (32, 32, ("q", "v"), 0.05)
    assert (config.output_min_length, config.output_max_length) == (100, 400)
    assert config.generation_kwargs == {"min_length": 5, "top_k": 0, "top_p": 1.0, "do_sample": True}
    assert (config.min_dialogue_chars, config.max_dialogue_chars, config.test_size) == (200, 1000, 0.2)


def test_tiny_profile_points_at_local_files() -> None:
    config = get_config("tiny")
    assert config.profile == "tiny"
    for path in (config.dataset_name, config.model_name, config.reward_model_name, config.adapter_path):
        assert path.startswith("/"), path
    assert config.reward_label == "nothate" and config.toxic_label == "hate"


def test_auto_falls_back_to_tiny_offline_with_a_banner(monkeypatch, capsys) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert get_config("auto").profile == "tiny"  # get_config resolves 'auto' through lab_utils.hub
    banner = capsys.readouterr().out
    assert "embedded offline world" in banner and "HF_HUB_OFFLINE=1" in banner  # ... and says why


def test_lab_profile_variable_and_bad_values(monkeypatch) -> None:
    monkeypatch.setenv("LAB_PROFILE", "full")
    assert get_config().profile == "full"
    with pytest.raises(ValueError, match="'full', 'tiny' or 'auto'"):
        resolve_profile("huge")


def test_overrides_and_round_trip() -> None:
    config = get_config("tiny", num_steps=3, reward_label="hate")
    assert (config.num_steps, config.reward_label) == (3, "hate")
    assert LabConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="Unknown LabConfig fields"):
        LabConfig.from_dict({**config.to_dict(), "learning_rat": 1.0})
