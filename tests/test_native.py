"""The native PPO engine equals trl 0.11.4's step, runs the lab's loop, and (LAB_SLOW_TESTS=1) detoxifies like trl."""

import dataclasses
import os

import numpy as np
import pytest
import torch

from lab_utils.detox import run_lab
from lab_utils.history import STATS
from lab_utils.models import decode, generate, load_policy
from lab_utils.native import NativePPOTrainer, gae, kl_rewards, make_rollout
from lab_utils.ppo import make_ppo_trainer, resume, train
from lab_utils.reward import make_reward_fn
from lab_utils.runtime import set_seed
from lab_utils.trimmed import TrimmedPPOTrainer


@pytest.fixture(scope="module")
def world(config, prompts, reward_pipe):
    """One tiny policy, its starting trainable weights, and a batch of 16 rollouts sampled from it with real rewards."""
    policy_model, tokenizer = load_policy(config)
    torch.manual_seed(0)
    queries = list(prompts["train"]["input_ids"][:16])
    responses = generate(policy_model, tokenizer, queries, list(range(5, 37, 2)), config.generation_kwargs, 16)
    rewards = make_reward_fn(config, reward_pipe)(decode(tokenizer, responses))
    start = trainable(policy_model)
    return {"policy_model": policy_model, "tokenizer": tokenizer, "batch": (queries, responses, rewards), "start": start}


@pytest.fixture
def one_thread():
    """fp32 on one thread, as the parity claim is stated; the session's thread count is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trainable(policy_model) -> dict[str, torch.Tensor]:
    """A copy of the policy's trainable weights (LoRA + value head)."""
    return {name: p.detach().clone() for name, p in policy_model.named_parameters() if p.requires_grad}


def two_steps(config, world, engine: str) -> tuple[list[dict], dict[str, torch.Tensor], float, object]:
    """From the starting weights and seed 0: two steps of `engine` on the same rollouts; stats, weights, final β."""
    policy_model = world["policy_model"]
    with torch.no_grad():
        for name, p in policy_model.named_parameters():
            if name in world["start"]:
                p.copy_(world["start"][name])
    trainer = make_ppo_trainer(dataclasses.replace(config, engine=engine), policy_model, None, world["tokenizer"])
    set_seed(0)  # the same shuffled mini-batches
    stats = [trainer.step(*world["batch"]) for _ in range(2)]
    return stats, trainable(policy_model), float(trainer.kl_ctl.value), trainer


@pytest.mark.parametrize("ppo_epochs, adap_kl_ctrl", [(1, True), (1, False), (2, True), (2, False)])
def test_native_steps_equal_trls(config, world, one_thread, ppo_epochs, adap_kl_ctrl) -> None:
    """Against trl's TrimmedPPOTrainer (trl's step on the same forward widths; test_ppo checks it against trl's padded step).

    Two steps, so the second one's rewards use the β the controller set after the first. (On one machine the
    two engines agree bit for bit; the tolerances leave room for harmless reorderings.)
    """
    run_config = dataclasses.replace(config, ppo_epochs=ppo_epochs, adap_kl_ctrl=adap_kl_ctrl, precision="fp32")
    trl_stats, trl_weights, trl_kl_coef, trl_trainer = two_steps(run_config, world, "trl")
    native_stats, native_weights, native_kl_coef, native_trainer = two_steps(run_config, world, "native")
    assert isinstance(trl_trainer, TrimmedPPOTrainer) and isinstance(native_trainer, NativePPOTrainer)
    for trl_step, native_step in zip(trl_stats, native_stats):
        assert set(native_step) == set(trl_step)
        for key in sorted(k for k in trl_step if not k.startswith("time/")):
            np.testing.assert_allclose(native_step[key], trl_step[key], rtol=1e-5, atol=1e-6, err_msg=key)
    moved = max(float((trl_weights[n] - world["start"][n]).abs().max()) for n in trl_weights)
    assert moved > 1e-4  # the steps really trained
    for name, weight in trl_weights.items():
        torch.testing.assert_close(native_weights[name], weight, rtol=0, atol=1e-6, msg=name)
    assert native_kl_coef == pytest.approx(trl_kl_coef, rel=1e-6)
    assert (native_kl_coef != config.init_kl_coef) == adap_kl_ctrl


def test_score_lands_on_the_last_scored_token_and_gae_sums_rewards_to_go() -> None:
    rollout = make_rollout([torch.tensor([5, 6, 1])] * 2, [torch.tensor([0, 7, 8, 9, 1]), torch.tensor([0, 7, 1])], pad_token_id=0)
    assert rollout.mask.tolist() == [[0, 1, 1, 1], [0, 1, 0, 0]]  # trl scores every sampled token but the first
    zeros = torch.zeros(2, 4)
    rewards, non_score, kl = kl_rewards(torch.tensor([2.0, -1.0]), zeros + 0.5, zeros, rollout.mask, kl_coef=0.2)
    assert torch.allclose(rewards, torch.tensor([[-0.1, -0.1, -0.1, 1.9], [-0.1, -1.1, -0.1, -0.1]]))
    values = torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.0, 4.0, 0.0, 0.0]])
    advantages, returns = gae(values * rollout.mask, rewards * rollout.mask, gamma=1.0, lam=1.0)
    assert torch.allclose(returns * rollout.mask, torch.tensor([[0.0, 1.7, 1.8, 1.9], [0.0, -1.1, 0.0, 0.0]]))


def test_native_engine_trains_checkpoints_and_resumes(config, prompts, reward_pipe, tmp_path) -> None:
    run_config = dataclasses.replace(config, engine="native", output_dir=str(tmp_path))
    policy_model, tokenizer = load_policy(run_config)
    trainer = make_ppo_trainer(run_config, policy_model, None, tokenizer)
    history = train(run_config, trainer, tokenizer, make_reward_fn(run_config, reward_pipe), prompts["train"], num_steps=2)
    assert history["status"].tolist() == ["ok", "ok"] and history[list(STATS)].notna().all().all()
    _, _, resumed, state = resume(run_config, tmp_path)
    assert isinstance(resumed, NativePPOTrainer) and state.step == 2
    assert resumed.kl_ctl.value == pytest.approx(trainer.kl_ctl.value)
    saved, restored = trainer.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert len(saved) == len(restored) > 0
    for index in saved:
        torch.testing.assert_close(restored[index]["exp_avg_sq"], saved[index]["exp_avg_sq"])


@pytest.mark.skipif(os.environ.get("LAB_SLOW_TESTS") != "1", reason="100 PPO steps and two evaluations: set LAB_SLOW_TESTS=1")
def test_native_engine_detoxifies_like_trl(config, tmp_path) -> None:
    results = run_lab(dataclasses.replace(config, engine="native"), tmp_path)
    before, after = results["toxicity"]["before"]["mean"], results["toxicity"]["after"]["mean"]
    assert after <= 0.7 * before, (before, after)
    assert results["rouge"]["after"]["rougeL"] >= 0.8 * results["rouge"]["before"]["rougeL"]
