"""The rules a LabConfig's knobs obey: each value's type, its range, and its relations to other knobs."""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # only an annotation: config imports this module
    from .config import LabConfig


def relation_checks(c: LabConfig) -> list[tuple[bool, str]]:
    """(holds, what is wrong) for every range and cross-knob rule of a type-correct config."""
    return [
        (0 <= c.min_dialogue_chars < c.max_dialogue_chars, f"min_dialogue_chars={c.min_dialogue_chars} must be >= 0 and below max_dialogue_chars={c.max_dialogue_chars}"),
        (c.prompt_token_budget is None or 1 <= c.prompt_token_budget[0] < c.prompt_token_budget[1], f"prompt_token_budget={c.prompt_token_budget} must be (min, max) with 1 <= min < max"),
        (0 < c.test_size < 1, f"test_size={c.test_size} must be between 0 and 1"),
        (c.lora_r >= 1 and c.lora_alpha > 0 and 0 <= c.lora_dropout < 1, "lora_r must be >= 1, lora_alpha > 0 and 0 <= lora_dropout < 1"),
        (c.finetune_epochs >= 1 and c.finetune_learning_rate > 0 and c.finetune_batch_size >= 1, "finetune_epochs and finetune_batch_size must be >= 1 and finetune_learning_rate > 0"),
        (c.reward_batch_size >= 1, f"reward_batch_size={c.reward_batch_size} must be >= 1"),
        (c.learning_rate > 0, f"learning_rate={c.learning_rate} must be > 0"),
        (c.ppo_epochs >= 1 and c.mini_batch_size >= 1 and c.batch_size >= 1, "ppo_epochs, mini_batch_size and batch_size must be >= 1"),
        (c.mini_batch_size >= 1 and c.batch_size % c.mini_batch_size == 0, f"batch_size={c.batch_size} must be a multiple of mini_batch_size={c.mini_batch_size}"),
        (c.init_kl_coef >= 0 and c.target_kl > 0, "init_kl_coef must be >= 0 and target_kl > 0"),
        (0 <= c.gamma <= 1 and 0 <= c.lam <= 1, f"gamma={c.gamma} and lam={c.lam} must be within [0, 1]"),
        (c.cliprange > 0 and c.cliprange_value > 0 and c.vf_coef >= 0, "cliprange and cliprange_value must be > 0 and vf_coef >= 0"),
        (c.algorithm == "ppo" or (c.group_size >= 2 and c.batch_size % c.group_size == 0), f"algorithm={c.algorithm!r} needs group_size >= 2 (a leave-one-out or group baseline needs company) dividing batch_size={c.batch_size}; group_size is {c.group_size}"),
        (c.num_steps >= 1, f"num_steps={c.num_steps} must be >= 1"),
        (c.kl_ceiling > 0, f"kl_ceiling={c.kl_ceiling} must be > 0 (nats per token above the first step's KL)"),
        (c.checkpoint_every >= 0, f"checkpoint_every={c.checkpoint_every} must be >= 0"),
        (1 <= c.output_min_length < c.output_max_length, f"output_min_length={c.output_min_length} must be >= 1 and below output_max_length={c.output_max_length}"),
        (c.eval_num_prompts >= 1 and c.eval_samples_per_prompt >= 1, "eval_num_prompts and eval_samples_per_prompt must be >= 1"),
        (c.eval_max_new_tokens >= 1 and c.eval_batch_size >= 1, "eval_max_new_tokens and eval_batch_size must be >= 1"),
        (0 < c.challenging_share <= 1 and c.challenging_repeats >= 1, f"challenging_share={c.challenging_share} must be in (0, 1] and challenging_repeats={c.challenging_repeats} >= 1"),
        (c.bootstrap_resamples >= 1 and c.trend_window >= 1 and c.compare_num_prompts >= 0 and c.compare_num_worse >= 0, "bootstrap_resamples and trend_window must be >= 1, compare_num_prompts and compare_num_worse >= 0"),
    ]


def type_name(hint: Any) -> str:
    """A type hint in words, for error messages."""
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(hint))
    return "type " + str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def has_type(value: Any, hint: Any) -> bool:
    """True when `value` matches the (simple) type hint of a LabConfig field."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        return any(has_type(value, arg) for arg in args)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        return len(items) == len(value) and all(has_type(v, a) for v, a in zip(value, items))
    if origin is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)
