"""The PPO history: one row per step (rewards, toxic share, trl's KL and losses), its statuses, and its table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from .report import TOXIC_THRESHOLD

if TYPE_CHECKING:  # only annotations: this module imports no trl
    from trl import PPOTrainer

SKIPPED = "skipped: non-finite reward"  # history statuses written by ppo.train: a batch left out ...
ROLLED_BACK = "rolled back"  # ... an update the KL guard undid ...
STOPPED = "stopped: kl ceiling"  # ... and the step at which it stopped the run

STATS = {  # history column -> trl stats key
    "objective/kl": "objective/kl",
    "objective/kl_coef": "objective/kl_coef",
    "ppo/returns/mean": "ppo/returns/mean",
    "ppo/policy/advantages_mean": "ppo/policy/advantages_mean",
    "ppo/loss/total": "ppo/loss/total",
}


def all_processes(trainer: PPOTrainer, value: float, how: str) -> float:
    """`value` reduced over every training process ('sum' or 'mean'), so all of them take the same decision."""
    if trainer.accelerator.num_processes == 1:
        return value
    return float(trainer.accelerator.reduce(torch.tensor(float(value), device=trainer.accelerator.device), how))


def response_tokens(response_tensors: list[torch.Tensor]) -> float:
    """Mean number of generated tokens per response (the decoder-start token is not generated)."""
    return sum(len(response) - 1 for response in response_tensors) / max(len(response_tensors), 1)


def step_log(
    trainer: PPOTrainer,
    step: int,
    stats: dict[str, Any],
    rewards: list[torch.Tensor],
    response_tensors: list[torch.Tensor],
    toxicity: list[float] | None = None,
) -> dict[str, Any]:
    """One history row for PPO step `step` (0-based): rewards, share of toxic summaries, trl's KL and losses."""
    reward_values = torch.stack(rewards).float()
    row: dict[str, Any] = {"step": step + 1, "status": "ok"}
    row.update({"env/reward_mean": float(reward_values.mean()), "env/reward_std": float(reward_values.std())})
    if toxicity is not None:
        row["env/toxic_share"] = all_processes(trainer, sum(t > TOXIC_THRESHOLD for t in toxicity) / len(toxicity), "mean")
    row.update({column: float(stats[key]) for column, key in STATS.items()})
    row["objective/kl_per_token"] = row["objective/kl"] / all_processes(trainer, response_tokens(response_tensors), "mean")
    return row


def history_frame(history: list[dict[str, Any]]) -> pd.DataFrame:
    """The per-step history as a DataFrame, in a fixed column order; the optional columns only when a row has them.

    The notebook's loop is not timed, so its table shows no empty time columns (and results.json no PPO time of 0 s).
    """
    columns = [
        "step", "status", "env/reward_mean", "env/reward_std", "env/toxic_share", *STATS, "objective/kl_per_token",
        "time/generate", "time/reward", "time/step", "seconds",
    ]
    optional = {"env/toxic_share", "time/generate", "time/reward", "time/step", "seconds"}
    return pd.DataFrame(history, columns=[c for c in columns if c not in optional or any(c in row for row in history)])
