"""The offline rehearsal of the full profile at its smallest: the CLI loads the real hub ids, at real shapes, from a loopback hub."""

import pytest

from rehearsal.run import COURSE_TRAINABLE, SMALLEST, rehearse
from rehearsal.standin import DIALOGSUM_ID, ROBERTA_ID, T5_ID


@pytest.fixture(scope="module")
def rehearsal():
    """One smallest rehearsal (CLI with the course's .bin adapter: 1 PPO step of 2 prompts, 2 eval prompts)."""
    return rehearse(SMALLEST, notebook=False, fallback=False, echo=False)


def test_the_cli_runs_the_full_profile_to_the_end(rehearsal):
    (run,) = rehearsal.runs
    assert run.returncode == 0, run.output[-3000:]
    assert run.results["profile"] == "full"
    config = run.results["config"]
    assert (config["model_name"], config["reward_model_name"], config["dataset_name"]) == (T5_ID, ROBERTA_ID, DIALOGSUM_ID)
    assert config["num_steps"] == 1 and len(run.results["history"]) == 1


def test_the_course_adapter_gives_the_course_parameter_count(rehearsal):
    (run,) = rehearsal.runs
    assert run.trainable == [COURSE_TRAINABLE]  # 3,538,944 LoRA (r=32 on q/v) + 769 value head, printed once
    assert rehearsal.adapter_files == ["adapter_config.json", "adapter_model.bin", "adapter_model.safetensors"]  # read and converted


def test_every_model_and_the_dataset_came_through_the_hub(rehearsal):
    assert rehearsal.repos_served == {T5_ID, ROBERTA_ID, DIALOGSUM_ID}
    routes = "\n".join(rehearsal.routes)
    for weights in (f"HEAD /{T5_ID}/resolve/", f"HEAD /{ROBERTA_ID}/resolve/"):
        assert any(line.startswith(weights) and line.endswith("model.safetensors -> 302") for line in rehearsal.routes)
    assert "GET /lfs/" in routes  # the weights were fetched from the 'CDN' the hub redirected to
    assert f"/datasets/{DIALOGSUM_ID}/resolve/" in routes and "train.csv -> 200" in routes
    assert rehearsal.refused == []  # nothing tried to leave the loopback
    assert rehearsal.problems() == []
