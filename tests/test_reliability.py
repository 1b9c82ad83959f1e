"""Bad input fails early, in one line, with a non-zero exit; output folders are locked, checked and written atomically."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datasets import Dataset

from lab_utils import detox
from lab_utils.config import REPO_ROOT, get_config
from lab_utils.data import build_dataset
from lab_utils.errors import ConfigError, LabError
from lab_utils.files import locked
from lab_utils.models import load_policy
from lab_utils.ppo import make_ppo_trainer, resume, train
from lab_utils.reward import load_reward_pipe, make_reward_fn

SMALL_RUN = ["--set", "eval_num_prompts=4", "eval_samples_per_prompt=1", "checkpoint_every=1"]


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`python -m lab_utils.detox --profile tiny ARGS` in this process: (exit status, what it printed to stderr)."""
    monkeypatch.setattr(sys, "argv", ["detox", "--profile", "tiny", *args])
    with pytest.raises(SystemExit) as exit_info:
        detox.main()
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("knobs", "named"),
    [
        (["batch_size=abc"], "batch_size='abc' does not parse as type int"),
        (["adap_kl_ctrl=flase"], "adap_kl_ctrl='flase' does not parse as type bool"),
        (["batch_size=10"], "batch_size=10 must be a multiple of mini_batch_size=4"),
        (["output_min_length=50", "output_max_length=40"], "output_min_length=50 must be >= 1 and below output_max_length=40"),
        (["eval_samples_per_prompt=0"], "eval_num_prompts and eval_samples_per_prompt must be >= 1"),
        (["num_steps=0"], "num_steps=0 must be >= 1"),
        (["lerning_rate=1e-3"], "'lerning_rate' is not a LabConfig knob"),
    ],
)
def test_bad_knobs_fail_in_one_line_before_anything_loads(monkeypatch, capsys, tmp_path, knobs, named) -> None:
    status, err = run_cli(monkeypatch, capsys, "--out", str(tmp_path / "out"), "--set", *knobs)
    assert status == 2 and err.count("\n") == 1 and err.startswith("error: ") and named in err and " — " in err
    assert not (tmp_path / "out").exists()  # rejected before the output folder was even made


def test_config_values_keep_their_types() -> None:
    with pytest.raises(ConfigError, match="learning_rate='fast'"):
        get_config("tiny", learning_rate="fast")
    assert get_config("tiny", adap_kl_ctrl=False).adap_kl_ctrl is False


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"", "holds no dialogues"),
        (b'{"dialogue": "a", "summary": "b"}\n{"dialogue": "c", "summary": \n', "line 2: not a JSON object"),
        (b'{"dialogue": "a", "summary": "b"}\n{"dialogue": "caf\xe9", "summary": "d"}\n', "line 2: not UTF-8 text"),
        (b'{"dialogue": "a", "summary": "b"}\n{"dialogue": "c"}\n', "line 2: no ['summary'] field"),
    ],
)
def test_bad_dialogue_files_name_the_file_and_line(monkeypatch, capsys, tmp_path, content, named) -> None:
    data = tmp_path / "dialogues.jsonl"
    data.write_bytes(content)
    status, err = run_cli(monkeypatch, capsys, "--out", str(tmp_path / "out"), "--set", f"dataset_name={data}")
    assert status == 2 and err.count("\n") == 1 and str(data) in err and named in err


def test_a_model_folder_without_tokenizer_files_is_an_error(monkeypatch, capsys, config, tmp_path) -> None:
    model = tmp_path / "t5"
    model.mkdir()
    for name in ("config.json", "model.safetensors"):
        (model / name).symlink_to(Path(config.model_name) / name)
    status, err = run_cli(monkeypatch, capsys, "--out", str(tmp_path / "out"), "--set", f"model_name={model}")
    assert status == 2 and "holds no tokenizer files" in err and "save_pretrained" in err


def test_prompts_that_are_mostly_unknown_tokens_are_an_error(config, tokenizer) -> None:
    gibberish = Dataset.from_dict({"dialogue": ["\u0416\u0437\u044f " * 80] * 4, "summary": ["s"] * 4})
    with pytest.raises(LabError, match="of the prompts. tokens are <unk>"):
        build_dataset(config, tokenizer, dataset=gibberish)


def test_long_dialogues_are_cut_to_the_models_context(config, tokenizer, capsys) -> None:
    long = Dataset.from_dict({"dialogue": ["#Person1#: hello there. " * 2000, "#Person1#: hi. " * 30], "summary": ["s", "t"]})
    prompts = build_dataset(dataclasses.replace(config, max_dialogue_chars=100_000), tokenizer, dataset=long)
    lengths = [len(ids) for split in ("train", "test") for ids in prompts[split]["input_ids"]]
    assert max(lengths) == 512 and min(lengths) < 512  # FLAN-T5's context when the tokenizer states none
    assert "1 of 2 prompts were longer than the model's context (512 tokens)" in capsys.readouterr().out


def test_unusable_output_folders_are_refused_before_any_model_loads(monkeypatch, capsys, tmp_path) -> None:
    as_file = tmp_path / "a-file"
    as_file.write_text("x")
    status, err = run_cli(monkeypatch, capsys, "--out", str(as_file))
    assert status == 2 and "is a file, not a folder" in err
    status, err = run_cli(monkeypatch, capsys, "--out", "/proc/detox-lab-out")  # not writable, even for root
    assert status == 2 and "Cannot write to /proc/detox-lab-out" in err


def test_a_used_output_folder_needs_resume_or_overwrite(monkeypatch, capsys, tmp_path) -> None:
    (tmp_path / "report.md").write_text("an earlier run")
    status, err = run_cli(monkeypatch, capsys, "--out", str(tmp_path))
    assert status == 2 and "already holds a run (report.md)" in err and "--resume" in err and "--overwrite" in err
    status, err = run_cli(monkeypatch, capsys, "--out", str(tmp_path), "--resume")
    assert status == 2 and "No complete checkpoint" in err


def test_a_second_run_on_a_locked_folder_is_refused(monkeypatch, capsys, tmp_path) -> None:
    with locked(tmp_path):
        status, err = run_cli(monkeypatch, capsys, "--out", str(tmp_path))
    assert status == 2 and "Another run is using" in err


def test_resume_applies_the_new_learning_rate_and_kl_coefficient(config, prompts, tmp_path, capsys) -> None:
    first = dataclasses.replace(config, output_dir=str(tmp_path))
    policy_model, tokenizer = load_policy(first)
    trainer = make_ppo_trainer(first, policy_model, None, tokenizer)
    train(first, trainer, tokenizer, make_reward_fn(first, load_reward_pipe(first)), prompts["train"], num_steps=2)
    second = dataclasses.replace(first, learning_rate=1e-4, init_kl_coef=0.5)
    _, _, trainer, state = resume(second, tmp_path)
    assert [group["lr"] for group in trainer.optimizer.param_groups] == [1e-4] * len(trainer.optimizer.param_groups)
    assert trainer.kl_ctl.value == state.kl_coef == 0.5
    assert f"learning_rate {first.learning_rate} -> 0.0001" in capsys.readouterr().out


def wait_for_step(checkpoint: Path, step: int, process: subprocess.Popen, timeout: float = 240) -> None:
    """Poll until `checkpoint` holds a saved step >= `step` (the run is training)."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        state = checkpoint / "trainer_state.json"
        if state.is_file() and json.loads(state.read_text())["step"] >= step:
            return
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint at step {step}: {process.communicate()}")


def test_ctrl_c_saves_and_the_cli_resumes_without_duplicate_steps(monkeypatch, capsys, tmp_path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "lab_utils.detox", "--profile", "tiny", "--out", str(out), "--steps", "400", *SMALL_RUN]  # long enough to be interrupted
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_step(out / "checkpoint", 2, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: saved step") and last.endswith("--resume") and "Traceback" not in err
    saved = json.loads((out / "checkpoint" / "trainer_state.json").read_text())["step"]
    monkeypatch.setattr(sys, "argv", ["detox", "--profile", "tiny", "--out", str(out), "--steps", str(saved + 2), *SMALL_RUN, "--resume"])
    detox.main()  # in this process: the same CLI, without a second interpreter start-up
    results = json.loads((out / "results.json").read_text())
    assert [row["step"] for row in results["history"]] == list(range(1, saved + 3))
