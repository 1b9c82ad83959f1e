"""The PPO loop: the reward's label is really wired through, and its guards and checkpoints hold (the effect itself: test_detox.py)."""

import dataclasses
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch
from peft import PeftModel, get_peft_model_state_dict
from safetensors.torch import load_file
from transformers import AutoModelForSeq2SeqLM
from trl import PPOTrainer

from lab_utils.checkpoint import load_detoxified
from lab_utils.config import REPO_ROOT, get_config
from lab_utils.data import build_dataset
from lab_utils.detox import run_lab
from lab_utils.errors import ConfigError, TrainingInterrupted
from lab_utils.models import decode, generate, load_policy
from lab_utils.ppo import kl_runaway, make_ppo_trainer, resume, train
from lab_utils.reward import load_reward_pipe, make_reward_fn
from lab_utils.runtime import set_seed
from lab_utils.toxicity import rouge_scores
from lab_utils.trimmed import TrimmedPPOTrainer

STATS = ["env/reward_mean", "env/reward_std", "objective/kl", "objective/kl_coef", "ppo/returns/mean", "ppo/loss/total"]


def small_run(config, reward_fn_wrapper=None, num_steps=3, **overrides):
    """A short training run from the starting adapter; returns (trainer, history)."""
    config = dataclasses.replace(config, **overrides)
    policy_model, tokenizer = load_policy(config)
    trainer = make_ppo_trainer(config, policy_model, None, tokenizer)
    reward_fn = make_reward_fn(config, load_reward_pipe(config))
    if reward_fn_wrapper:
        reward_fn = reward_fn_wrapper(reward_fn)
    prompts = build_dataset(config, tokenizer)
    return trainer, train(config, trainer, tokenizer, reward_fn, prompts["train"], num_steps=num_steps)


def test_rewarding_the_hate_label_raises_toxicity(config, tmp_path) -> None:
    control = dataclasses.replace(config, reward_label="hate", eval_num_prompts=48, eval_samples_per_prompt=2)
    results = run_lab(control, tmp_path)  # half the held-out prompts: the wrong label's effect is large (benchmarks/seeds.py --control)
    assert results["toxicity"]["after"]["mean"] > 1.2 * results["toxicity"]["before"]["mean"]


def test_saved_adapter_reloads_the_detoxified_summarizer_on_the_plain_base(config, prompts, tmp_path) -> None:
    trainer, _ = small_run(config, num_steps=2, output_dir=str(tmp_path))
    policy_model = trainer.accelerator.unwrap_model(trainer.model).eval()
    reloaded = PeftModel.from_pretrained(AutoModelForSeq2SeqLM.from_pretrained(config.model_name), tmp_path / "detoxified").eval()
    assert reloaded.peft_config["default"].r == 2 * config.lora_r  # the Lab-2 adapter and the trained LoRA, concatenated
    query = prompts["test"][0]["input_ids"].unsqueeze(0)
    inputs = {"input_ids": query, "decoder_input_ids": torch.tensor([[0] + query[0, :12].tolist()])}
    with torch.no_grad():
        trained, _, _ = policy_model(**inputs)
        torch.testing.assert_close(reloaded(**inputs).logits, trained, rtol=0, atol=1e-4)
        with reloaded.disable_adapter():
            assert (reloaded(**inputs).logits - trained).abs().max() > 1e-3  # the adapter carries the change
    detoxified, _ = load_detoxified(config, tmp_path)  # the lab's own reload (value head too)
    with torch.no_grad():
        torch.testing.assert_close(detoxified.eval()(**inputs)[0], trained, rtol=0, atol=1e-4)


def test_same_seed_same_history(config) -> None:
    _, first = small_run(config)
    _, second = small_run(config)
    pd.testing.assert_frame_equal(first[["step", "status", *STATS]], second[["step", "status", *STATS]])


def test_nan_reward_batch_is_skipped_and_counted(config) -> None:
    def poison_second_batch(reward_fn):
        calls = []

        def wrapped(texts):
            calls.append(1)
            rewards = reward_fn(texts)
            return [torch.tensor(float("nan"))] + rewards[1:] if len(calls) == 2 else rewards

        return wrapped

    with pytest.warns(UserWarning, match="non-finite reward"):
        _, history = small_run(config, poison_second_batch)
    assert history["status"].tolist() == ["ok", "skipped: non-finite reward", "ok"]


def lora_weights(policy_model) -> dict:
    """A copy of the policy's LoRA weights."""
    return {name: p.detach().clone() for name, p in policy_model.named_parameters() if "lora_" in name}


def greedy_rouge_l(policy_model, tokenizer, prompts) -> float:
    """ROUGE-L of greedy summaries of 16 held-out prompts: how much of a summarizer the policy still is."""
    rows = prompts["test"].select(range(16))
    responses = generate(policy_model, tokenizer, list(rows["input_ids"]), [40] * 16, {"do_sample": False}, 16)
    return rouge_scores(decode(tokenizer, responses), rows["summary"])["rougeL"]


def test_kl_guard_restores_the_last_policy_whose_kl_was_accepted(config, prompts, tmp_path, capsys) -> None:
    """Update 4 runs at lr 10 and wrecks the policy. Step 5 measures the policy after update 4 and rejects it;
    step 4 measured the policy after update 3 and accepted it: the guard must restore the weights after update 3."""
    run_config = dataclasses.replace(config, output_dir=str(tmp_path))
    policy_model, tokenizer = load_policy(run_config)
    trainer = make_ppo_trainer(run_config, policy_model, None, tokenizer)
    reward_fn = make_reward_fn(run_config, load_reward_pipe(run_config))
    seen = {}

    def runaway_at_update_4(texts):
        seen["calls"] = seen.get("calls", 0) + 1
        if seen["calls"] == 4:  # the policy now holds 3 updates; make update 4 a wild one
            seen["after_3"] = lora_weights(policy_model)
            seen["rouge_after_3"] = greedy_rouge_l(policy_model, tokenizer, prompts)
            for group in trainer.optimizer.param_groups:
                group["lr"] = 10.0
        if seen["calls"] == 5:
            seen["rouge_runaway"] = greedy_rouge_l(policy_model, tokenizer, prompts)
        return reward_fn(texts)

    history = train(run_config, trainer, tokenizer, runaway_at_update_4, prompts["train"], num_steps=8)
    assert history["status"].tolist() == ["ok", "ok", "ok", "rolled back", "stopped: kl ceiling"]
    assert "rolled back to step 3" in capsys.readouterr().out
    assert history["objective/kl_per_token"].iloc[-1] > history["objective/kl_per_token"].iloc[0] + config.kl_ceiling
    for name, weight in lora_weights(policy_model).items():
        torch.testing.assert_close(weight, seen["after_3"][name], msg=name)
    restored_rouge = greedy_rouge_l(policy_model, tokenizer, prompts)
    assert restored_rouge == pytest.approx(seen["rouge_after_3"], rel=0.05)
    assert seen["rouge_runaway"] < 0.5 * seen["rouge_after_3"]  # keeping the runaway (the old bug) would fail above
    saved = json.loads((tmp_path / "trainer_state.json").read_text())
    assert saved["step"] == 3 and len(json.loads((tmp_path / "history.json").read_text())) == 3


def test_kl_guard_measures_growth_per_token_from_the_first_step() -> None:
    config = dataclasses.replace(get_config("tiny"), kl_ceiling=1.0)
    # the course's healthy full run: objective/kl 21-35 from step 1 on ~40-token summaries (adapter-off base reference)
    course = [kl / 40 for kl in (30.1, 27.4, 21.2, 25.9, 34.8, 29.3, 31.0, 26.5, 33.2, 28.7)]
    assert not any(kl_runaway(kl, course[0], config) for kl in course)
    # a runaway: lr 10 on the tiny world, objective/kl 120 over ~20-token summaries
    assert kl_runaway(120 / 20, 0.0, config) and kl_runaway(float("nan"), 0.0, config)
    assert not kl_runaway(2.5 / 20, -0.05 / 20, config)  # the healthiest tiny run's largest KL


def test_interrupted_run_resumes_where_it_stopped(config, tmp_path) -> None:
    _, straight = small_run(config, num_steps=4, output_dir=str(tmp_path / "straight"))

    def interrupt_third_batch(reward_fn):
        calls = []

        def wrapped(texts):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return reward_fn(texts)

        return wrapped

    checkpoint = tmp_path / "interrupted"
    with pytest.raises(TrainingInterrupted, match="saved step 1"):  # step 2 accepted the policy after update 1
        small_run(config, interrupt_third_batch, num_steps=4, output_dir=str(checkpoint))
    assert json.loads((checkpoint / "trainer_state.json").read_text())["step"] == 1

    resumed_config = dataclasses.replace(config, output_dir=str(checkpoint))
    policy_model, tokenizer, trainer, state = resume(resumed_config, checkpoint)
    reward_fn = make_reward_fn(resumed_config, load_reward_pipe(resumed_config))
    history = train(resumed_config, trainer, tokenizer, reward_fn, build_dataset(resumed_config, tokenizer)["train"], num_steps=4, start=state)
    assert history["step"].tolist() == [1, 2, 3, 4]  # no duplicate rows
    pd.testing.assert_frame_equal(history[["step", *STATS]], straight[["step", *STATS]])
    saved = load_file(checkpoint / "adapter_model.safetensors")  # the final save holds the trained weights
    for name, weight in get_peft_model_state_dict(policy_model.pretrained_model).items():
        torch.testing.assert_close(weight, saved[name], msg=name)


def test_two_process_accelerate_launch_writes_one_run(tmp_path) -> None:
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--cpu",
        "-m", "lab_utils.detox", "--profile", "tiny", "--steps", "2", "--out", str(tmp_path),
        "--set", "eval_num_prompts=4", "eval_samples_per_prompt=1",
    ]
    finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert finished.returncode == 0, finished.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert [row["step"] for row in results["history"]] == [1, 2]
    assert json.loads((tmp_path / "checkpoint" / "trainer_state.json").read_text())["step"] == 2
    assert finished.stdout.count("Reports written to") == 1  # only the main process writes


def forward_tokens(policy_model) -> list[int]:
    """Records the encoder + decoder tokens every forward pass of the policy's base model computes."""
    seen: list[int] = []

    def record(module, args, kwargs):
        seen.append(kwargs["input_ids"].numel() + kwargs["decoder_input_ids"].numel())

    policy_model.pretrained_model.register_forward_pre_hook(record, with_kwargs=True)
    return seen


def test_trimmed_forward_pass_equals_trls_padded_one_with_less_work(config, prompts) -> None:
    policy_model, tokenizer = load_policy(config)
    trainer = make_ppo_trainer(config, policy_model, None, tokenizer)
    assert isinstance(trainer, TrimmedPPOTrainer)
    queries = list(prompts["train"]["input_ids"][:8])
    torch.manual_seed(0)
    responses = generate(policy_model, tokenizer, queries, [3, 39, 8, 25, 5, 30, 12, 20], config.generation_kwargs, 8)
    model_inputs = trainer.prepare_model_inputs(queries, responses)
    tokens = forward_tokens(policy_model)
    with torch.no_grad():
        padded = PPOTrainer.batched_forward_pass(trainer, policy_model, queries, responses, model_inputs, return_logits=True)
        padded_tokens = sum(tokens)
        trimmed = trainer.batched_forward_pass(policy_model, queries, responses, model_inputs, return_logits=True)
    assert sum(tokens) - padded_tokens < padded_tokens  # even unsorted, each mini-batch skips some padding
    logprobs, logits, values, masks = trimmed
    assert torch.equal(masks, padded[3]) and masks.sum() > 0
    assert logprobs.shape == padded[0].shape and logits.shape == padded[1].shape and values.shape == padded[2].shape
    keep = masks.bool()
    torch.testing.assert_close(logprobs[keep], padded[0][keep], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(values[keep], padded[2][keep], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits[keep], padded[1][keep], rtol=1e-4, atol=1e-4)


def test_trimmed_step_gives_trls_statistics(config, prompts) -> None:
    policy_model, tokenizer = load_policy(config)
    torch.manual_seed(0)
    queries = list(prompts["train"]["input_ids"][:16])
    responses = generate(policy_model, tokenizer, queries, list(range(5, 37, 2)), config.generation_kwargs, 16)
    order = sorted(range(16), key=lambda i: (len(responses[i]), len(queries[i])))  # the trimmed trainer's own order
    queries, responses = [queries[i] for i in order], [responses[i] for i in order]
    rewards = [torch.tensor(float(len(response) % 3)) for response in responses]
    stats = {}
    for trim_padding in (True, False):
        run_config = dataclasses.replace(config, trim_padding=trim_padding)
        policy_model, tokenizer = load_policy(run_config)
        trainer = make_ppo_trainer(run_config, policy_model, None, tokenizer)
        set_seed(0)  # the same random mini-batches
        stats[trim_padding] = trainer.step(queries, responses, rewards)
    for key in ("objective/kl", "ppo/loss/total", "ppo/loss/value", "ppo/policy/entropy", "ppo/returns/mean", "ppo/val/mean"):
        assert stats[True][key] == pytest.approx(stats[False][key], rel=1e-3, abs=1e-5), key


@pytest.mark.parametrize("algorithm", ["rloo", "grpo"])
def test_a_critic_free_algorithm_is_refused_until_the_loop_runs_it(config, algorithm) -> None:
    """`algorithm` other than ppo must not silently train PPO: building the trainer says so in one line."""
    policy_model, tokenizer = load_policy(config)
    with pytest.raises(ConfigError, match=f"algorithm='{algorithm}' is not wired"):
        make_ppo_trainer(dataclasses.replace(config, algorithm=algorithm), policy_model, None, tokenizer)
