# Longer than the ~250-line module guide on purpose: the formulas and the step that chains them read top to bottom as one lesson (ppo_step_explained.ipynb).
"""The lab's own seq2seq PPO step (`LabConfig.engine = "native"`), numerically equal to trl 0.11.4's `PPOTrainer.step`.

One small function per formula (sample i, response position t, policy π, reference π_ref = π with the LoRA
adapter off, β the KL coefficient):

    forward          log π(y_t+1 | x, y_≤t) and the value V_t of every response position (padding skipped)
    kl_rewards       r_t = -β (log π - log π_ref)_t, plus the classifier's score at the last scored token
    gae              δ_t = r_t + γ V_t+1 - V_t,   A_t = δ_t + γλ A_t+1,   returns R_t = A_t + V_t
    whiten           A ← (A - mean A) / sqrt(var A + 1e-8)
    policy_loss      mean_t max(-A_t ρ_t, -A_t clip(ρ_t, 1 ± ε)),   ρ_t = π(y_t) / π_old(y_t)
    value_loss       ½ mean_t max((V_t - R_t)², (clip(V_t, V_old,t ± ε_V) - R_t)²)
    KLController     β ← β (1 + clip(KL / target - 1, ±0.2) · n / horizon)   (adaptive; else β stays)

`NativePPOTrainer.step` runs them in trl's order: policy and reference log-probs without gradients, rewards,
advantages, then `ppo_epochs` passes over shuffled mini-batches (the same `np.random.permutation` calls as trl),
one Adam step each. It returns trl's statistics (same keys, same numbers: tests/test_native.py), so `ppo.train`,
its guards, checkpoints and plots work unchanged. Like `TrimmedPPOTrainer`, the batch is ordered by length and
every forward pass is cut to its rows' longest prompt and response.
"""

from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch.nn.utils.rnn import pad_sequence
from transformers import PreTrainedTokenizerBase

from .config import LabConfig
from .runtime import set_seed

if TYPE_CHECKING:  # the step itself needs nothing from trl; the policy is trl's value-head model
    from trl import AutoModelForSeq2SeqLMWithValueHead

KL_HORIZON = 10_000  # trl's default horizon: samples over which the adaptive controller may move β by 20%
RATIO_THRESHOLD = 10.0  # trl's default: a mini-batch whose mean ratio π/π_old exceeds this is skipped (loss × 0)
Tensor = torch.Tensor


@dataclass
class Rollout:
    """A batch of prompts and responses, right-padded, with the mask of the response positions PPO scores."""

    input_ids: Tensor  # (batch, longest prompt)
    attention_mask: Tensor
    decoder_input_ids: Tensor  # (batch, longest response): the decoder-start <pad>, then the sampled tokens, </s>
    decoder_attention_mask: Tensor
    mask: Tensor  # (batch, longest response - 1): 1 where position t (which scores token t+1) counts


def make_rollout(queries: list[Tensor], responses: list[Tensor], pad_token_id: int) -> Rollout:
    """Right-pad prompts and responses into one batch.

    Position t of a response holds log π(token t+1). trl 0.11.4 counts t = 1 .. n-2 of an n-token response:
    every sampled token but the first, up to and including </s>. We keep that quirk so the numbers match.
    """
    decoder_attention_mask = pad_sequence([torch.ones_like(r) for r in responses], batch_first=True)
    lengths = decoder_attention_mask.sum(1, keepdim=True)
    t = torch.arange(decoder_attention_mask.shape[1] - 1, device=lengths.device)
    return Rollout(
        input_ids=pad_sequence(queries, batch_first=True, padding_value=pad_token_id),
        attention_mask=pad_sequence([torch.ones_like(q) for q in queries], batch_first=True),
        decoder_input_ids=pad_sequence(responses, batch_first=True, padding_value=pad_token_id),
        decoder_attention_mask=decoder_attention_mask,
        mask=((t >= 1) & (t < lengths - 1)).float(),
    )


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of `x` over the positions where `mask` is 1."""
    return (x * mask).sum() / mask.sum()


def masked_var(x: Tensor, mask: Tensor) -> Tensor:
    """Unbiased variance of `x` over the masked positions."""
    n = mask.sum()
    return masked_mean((x - masked_mean(x, mask)) ** 2, mask) * (n / (n - 1))


def entropy(logits: Tensor) -> Tensor:
    """H = logsumexp(z) - Σ softmax(z)·z, per position."""
    return torch.logsumexp(logits, dim=-1) - torch.sum(F.softmax(logits, dim=-1) * logits, dim=-1)


def forward(
    model: torch.nn.Module, rollout: Rollout, rows: Tensor | slice, with_entropy: bool = False
) -> tuple[Tensor, Tensor, Tensor | None]:
    """log π(y_t+1 | x, y_≤t), V_t (and the entropy H_t) for `rows`, cut to their longest prompt and response.

    The outputs are padded back with zeros to the batch's width, so every row keeps its positions.
    """
    prompt = int(rollout.attention_mask[rows].sum(1).max())
    response = int(rollout.decoder_attention_mask[rows].sum(1).max())
    tokens = rollout.decoder_input_ids[rows, :response]
    logits, _, values = model(
        input_ids=rollout.input_ids[rows, :prompt], attention_mask=rollout.attention_mask[rows, :prompt],
        decoder_input_ids=tokens, decoder_attention_mask=rollout.decoder_attention_mask[rows, :response],
    )
    logprobs = F.log_softmax(logits[:, :-1], dim=2).gather(2, tokens[:, 1:, None]).squeeze(2)
    width = rollout.mask.shape[1]

    def pad(x: Tensor) -> Tensor:
        return F.pad(x, (0, width - x.shape[1]))

    entropies = None
    if with_entropy:
        with torch.no_grad():  # the entropy is only reported, never trained on
            entropies = pad(entropy(logits[:, :-1]))
    return pad(logprobs), pad(values[:, :-1]), entropies


def kl_rewards(
    scores: Tensor, logprobs: Tensor, ref_logprobs: Tensor, mask: Tensor, kl_coef: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-token rewards r_t = -β kl_t (+ the score at the last scored token), the KL part alone, and kl_t."""
    kl = logprobs - ref_logprobs
    non_score_rewards = -kl_coef * kl
    rewards = non_score_rewards.clone()
    last = mask.cumsum(1).argmax(1)  # the first position where the count of scored tokens peaks: the last one
    rewards[torch.arange(len(scores), device=scores.device), last] += scores
    return rewards, non_score_rewards, kl


def gae(values: Tensor, rewards: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Generalized advantage estimation, backwards over t; returns (advantages A, returns R = A + V)."""
    backwards, last, width = [], 0.0, rewards.shape[1]
    for t in reversed(range(width)):
        next_values = values[:, t + 1] if t < width - 1 else 0.0
        delta = rewards[:, t] + gamma * next_values - values[:, t]
        last = delta + gamma * lam * last
        backwards.append(last)
    advantages = torch.stack(backwards[::-1]).T  # (batch, positions), laid out as trl's (sums then round alike)
    return advantages, advantages + values


def whiten(x: Tensor, mask: Tensor) -> Tensor:
    """(x - mean) / sqrt(var + 1e-8) over the masked positions."""
    return (x - masked_mean(x, mask)) * torch.rsqrt(masked_var(x, mask) + 1e-8)


def policy_loss(
    logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, mask: Tensor, cliprange: float
) -> tuple[Tensor, Tensor, Tensor]:
    """The clipped surrogate loss; also the ratios ρ and the share of positions where the clip was active."""
    ratio = torch.exp(logprobs - old_logprobs)
    losses = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    return masked_mean(torch.max(losses, clipped), mask), ratio, masked_mean(torch.gt(clipped, losses).float(), mask)


def value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, mask: Tensor, cliprange_value: float
) -> tuple[Tensor, Tensor]:
    """The clipped value loss; also the share of positions where the clip was active."""
    clipped_values = torch.max(torch.min(values, old_values + cliprange_value), old_values - cliprange_value)
    losses, clipped = (values - returns) ** 2, (clipped_values - returns) ** 2
    return 0.5 * masked_mean(torch.max(losses, clipped), mask), masked_mean(torch.gt(clipped, losses).float(), mask)


class KLController:
    """The KL coefficient β: adaptive (Ziegler et al. 2019), or fixed."""

    def __init__(self, value: float, target: float, adaptive: bool, horizon: float = KL_HORIZON) -> None:
        self.value, self.target, self.adaptive, self.horizon = value, target, adaptive, horizon

    def update(self, kl: float, n_samples: int) -> None:
        """Move β towards the target KL (a proportional controller with a ±20% error clip), in float32 as trl does."""
        if self.adaptive:
            self.value *= 1 + np.clip(np.float32(kl) / self.target - 1, -0.2, 0.2) * n_samples / self.horizon


class NativePPOTrainer:
    """PPO for a seq2seq PEFT policy with a value head: the `PPOTrainer` attributes the lab uses, and `step`."""

    def __init__(
        self, config: LabConfig, model: AutoModelForSeq2SeqLMWithValueHead, tokenizer: PreTrainedTokenizerBase, max_grad_norm: float | None = None
    ) -> None:
        set_seed(config.seed)  # as trl's constructor does, so a run matches the trl engine's
        self.config, self.tokenizer, self.max_grad_norm = config, tokenizer, max_grad_norm
        self.accelerator = Accelerator()
        self.trainable = [p for p in model.parameters() if p.requires_grad]  # LoRA + value head
        optimizer = torch.optim.Adam(self.trainable, lr=config.learning_rate)  # trl's default optimizer
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.kl_ctl = KLController(config.init_kl_coef, config.target_kl, config.adap_kl_ctrl)

    @contextmanager
    def reference(self) -> Iterator[None]:
        """Inside this block the policy is the reference: the same model with its LoRA adapter off."""
        with self.accelerator.unwrap_model(self.model).pretrained_model.disable_adapter():
            yield

    def score(self, rollout: Rollout) -> tuple[Tensor, Tensor]:
        """Log-probs and values of the whole batch without gradients, `mini_batch_size` rows per forward pass."""
        size, n = self.config.mini_batch_size, len(rollout.input_ids)
        parts = [forward(self.model, rollout, slice(start, start + size)) for start in range(0, n, size)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def step(self, queries: list[Tensor], responses: list[Tensor], scores: list[Tensor]) -> dict[str, Any]:
        """One PPO update on a batch of rollouts (prompt ids, response ids, one score each); returns trl's stats."""
        if len(queries) != self.config.batch_size:
            raise ValueError(f"step() got {len(queries)} rollouts, LabConfig.batch_size is {self.config.batch_size} — pass one batch.")
        laps, began = {}, time.time()

        def lap(name: str) -> None:
            laps[name] = time.time() - began - sum(laps.values())

        order = sorted(range(len(responses)), key=lambda i: (len(responses[i]), len(queries[i])))  # similar lengths together
        device = self.accelerator.device
        queries, responses = [queries[i].to(device) for i in order], [responses[i].to(device) for i in order]
        scores = torch.stack([scores[i].to(device).squeeze() for i in order])
        rollout = make_rollout(queries, responses, self.tokenizer.pad_token_id)
        mask, kl_coef = rollout.mask, self.kl_ctl.value
        self.model.eval()  # no dropout in any forward pass (as trl)
        with torch.no_grad():
            logprobs, values = self.score(rollout)
            with self.reference():
                ref_logprobs, _ = self.score(rollout)
            lap("forward_pass")
            rewards, non_score_rewards, kl = kl_rewards(scores, logprobs, ref_logprobs, mask, kl_coef)
            lap("compute_rewards")
            values, rewards = values * mask, rewards * mask
            advantages, returns = gae(values, rewards, self.config.gamma, self.config.lam)
            advantages = whiten(advantages, mask)
            lap("compute_advantages")
        minibatches = []
        for _ in range(self.config.ppo_epochs):
            shuffled = torch.as_tensor(np.random.permutation(len(queries)))
            for start in range(0, len(queries), self.config.mini_batch_size):
                rows = shuffled[start : start + self.config.mini_batch_size]
                minibatches.append(self.train_minibatch(rollout, rows, logprobs, values, advantages, returns))
        self.model.train()  # trl leaves the policy in train mode after a step; so do we
        lap("optimize_step")
        kls = (kl * mask).sum(1)
        stats = {
            "objective/kl": kls.mean(), "objective/kl_dist": kls, "objective/kl_coef": float(kl_coef),
            "objective/logprobs": logprobs, "objective/ref_logprobs": ref_logprobs, "objective/entropy": (-logprobs * mask).sum(1).mean(),
            "ppo/mean_non_score_reward": masked_mean(non_score_rewards, mask), "ppo/mean_scores": scores.mean(), "ppo/std_scores": scores.std(),
            **length_stats("queries", queries), **length_stats("responses", responses),
            **{f"ppo/{key}": combine([m[key] for m in minibatches]) for key in minibatches[0]},
        }
        stats["ppo/val/var_explained"] = 1 - stats["ppo/val/error"] / stats["ppo/returns/var"]
        stats = {key: self.to_number(value) for key, value in stats.items()}
        stats["ppo/learning_rate"] = self.optimizer.param_groups[0]["lr"]
        self.kl_ctl.update(stats["objective/kl"], len(queries) * self.accelerator.num_processes)
        lap("calc_stats")
        laps["total"] = time.time() - began
        return stats | {f"time/ppo/{name}": seconds for name, seconds in laps.items()}

    def train_minibatch(
        self, rollout: Rollout, rows: Tensor, old_logprobs: Tensor, old_values: Tensor, advantages: Tensor, returns: Tensor
    ) -> dict[str, Tensor]:
        """One Adam step on the PPO loss of the mini-batch `rows`; returns its statistics."""
        logprobs, values, entropies = forward(self.model, rollout, rows, with_entropy=True)
        mask, old_logprobs, old_values, advantages, returns = (
            x[rows] for x in (rollout.mask, old_logprobs, old_values, advantages, returns)
        )
        pg_loss, ratio, pg_clipfrac = policy_loss(logprobs, old_logprobs, advantages, mask, self.config.cliprange)
        vf_loss, vf_clipfrac = value_loss(values, old_values, returns, mask, self.config.cliprange_value)
        loss = pg_loss + self.config.vf_coef * vf_loss
        if masked_mean(ratio, mask) > RATIO_THRESHOLD:
            warnings.warn(f"A mini-batch's mean ratio π/π_old exceeds {RATIO_THRESHOLD}: its update is skipped (as trl does).")
            pg_loss, vf_loss, loss = pg_loss * 0.0, vf_loss * 0.0, loss * 0.0
        self.accelerator.backward(loss)
        if self.max_grad_norm is not None:
            self.accelerator.clip_grad_norm_(self.trainable, self.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad()
        stats = {
            "loss/policy": pg_loss, "loss/value": vf_loss, "loss/total": loss,
            "policy/entropy": masked_mean(entropies, mask), "policy/approxkl": 0.5 * masked_mean((logprobs - old_logprobs) ** 2, mask),
            "policy/policykl": masked_mean(old_logprobs - logprobs, mask), "policy/clipfrac": pg_clipfrac,
            "policy/advantages": advantages.flatten(), "policy/advantages_mean": masked_mean(advantages, mask),
            "policy/ratio": ratio.flatten(), "returns/mean": masked_mean(returns, mask), "returns/var": masked_var(returns, mask),
            "val/vpred": masked_mean(values, mask), "val/error": masked_mean((values - returns) ** 2, mask),
            "val/clipfrac": vf_clipfrac, "val/mean": masked_mean(old_values, mask), "val/var": masked_var(old_values, mask),
        }
        return {key: value.detach() for key, value in stats.items()}

    def to_number(self, value: Tensor | float) -> float | np.ndarray:
        """A statistic as trl returns it: a float for one number (averaged over processes), else a numpy array."""
        if not torch.is_tensor(value):
            return value
        if value.numel() == 1 and self.accelerator.num_processes > 1:
            value = self.accelerator.reduce(value.to(self.accelerator.device), "mean")
        return value.item() if value.numel() == 1 else value.detach().float().cpu().numpy()

    def log_stats(self, stats: dict[str, Any], batch: dict[str, Any], rewards: list[Tensor]) -> None:
        """No-op: `ppo.train` keeps the history itself (trl's version only feeds experiment trackers)."""


def combine(values: list[Tensor]) -> Tensor:
    """A statistic over a step's mini-batches: numbers averaged, per-token arrays (advantages, ratios) concatenated."""
    return torch.cat(values) if values[0].dim() else torch.stack(values).mean()


def length_stats(name: str, tokens: list[Tensor]) -> dict[str, Any]:
    """Mean, std and distribution of the token lengths of prompts or responses."""
    lengths = torch.tensor([len(t) for t in tokens], dtype=torch.float)
    return {
        f"tokens/{name}_len_mean": lengths.mean().item(), f"tokens/{name}_len_std": lengths.std().item(), f"tokens/{name}_dist": lengths.numpy()
    }
