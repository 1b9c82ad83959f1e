"""One config object for the whole lab: `LabConfig`, with a `full` and a `tiny` profile side by side.

`full` is the original course lab (FLAN-T5-base + LoRA, Meta's RoBERTa hate-speech classifier,
DialogSum from the Hugging Face hub). `tiny` is the embedded offline world that ships in this repo
(see `lab_utils.tiny`): same code path, miniature models. `LAB_PROFILE=full|tiny|auto` picks one.
This module does no I/O and imports nothing from the rest of the package but its error class and the knobs' rules.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError
from .knobs import has_type, relation_checks, type_name

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
TINY_DIR = CHECKPOINTS_DIR / "tiny"
TINY_DATA_DIR = Path(__file__).resolve().parent / "tiny_data"

PROMPT_TEMPLATE = "\nSummarize the following conversation.\n\n{dialogue}\n\nSummary:\n"

Profile = Literal["full", "tiny"]


@dataclass
class LabConfig:
    """Every knob of the lab, one comment each; build one with `get_config(profile)`."""

    profile: Profile = "full"  # which world: real hub models (full) or the embedded offline one (tiny)
    seed: int = 42  # one seed for torch, numpy, python and trl

    # --- data -------------------------------------------------------------------------------
    dataset_name: str = "knkarthick/dialogsum"  # hub id, or a local .jsonl file with DialogSum's fields
    dataset_split: str = "train"  # which split of the dataset the lab draws its prompts from
    prompt_template: str = PROMPT_TEMPLATE  # instruction prompt wrapped around each dialogue
    min_dialogue_chars: int = 200  # keep dialogues longer than this many characters ...
    max_dialogue_chars: int = 1000  # ... and at most this many
    prompt_token_budget: tuple[int, int] | None = None  # (min, max) tokens to truncate long prompts to; None keeps them whole
    test_size: float = 0.2  # held-out share of the prompts (split without shuffling)
    split_seed: int = 42  # seed passed to train_test_split

    # --- models -----------------------------------------------------------------------------
    model_name: str = "google/flan-t5-base"  # base seq2seq model (hub id or local dir)
    adapter_path: str | None = str(CHECKPOINTS_DIR / "peft-dialogue-summary-checkpoint")  # Lab-2 LoRA adapter: local dir, hub id, or None for a fresh LoRA
    reward_model_name: str = "facebook/roberta-hate-speech-dynabench-r4-target"  # hate-speech classifier (hub id or local dir)
    reference_mode: Literal["start", "base", "copy"] = "start"  # KL reference: the starting summarizer (Lab-2 adapter merged, fresh LoRA on top), the plain base (the course's), or a frozen copy
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto = bf16 where the GPU or CPU (AMX/AVX512-BF16) has it natively, else fp32; never fp16 (T5 overflows)

    # --- LoRA (the Lab-2 adapter's shape; used when a fresh adapter is made) -----------------
    lora_r: int = 32  # LoRA rank
    lora_alpha: int = 32  # LoRA scaling numerator (scale = alpha / r)
    lora_target_modules: tuple[str, ...] = ("q", "v")  # T5 attention projections that get adapters
    lora_dropout: float = 0.05  # dropout on the LoRA branch

    # --- supervised LoRA fine-tuning (the companion Lab-2 notebook) ---------------------------
    finetune_epochs: int = 1  # passes over the training summaries
    finetune_learning_rate: float = 1e-3  # AdamW learning rate for the LoRA weights
    finetune_batch_size: int = 8  # summaries per optimisation step
    finetune_output_dir: str = str(CHECKPOINTS_DIR / "peft-dialogue-summary-checkpoint")  # where the companion saves its adapter

    # --- reward -----------------------------------------------------------------------------
    reward_label: str = "nothate"  # the classifier label whose logit is the reward (selected by name)
    toxic_label: str = "hate"  # the classifier label that means toxic (toxicity = its probability)
    score_target: Literal["response", "query+response"] = "response"  # what is scored: the summary alone, or prompt + summary (the original lab)
    reward_batch_size: int = 16  # texts per reward-pipeline forward pass

    # --- PPO (trl 0.11.4 PPOConfig) -----------------------------------------------------------
    learning_rate: float = 1.41e-5  # Adam learning rate for LoRA + value head
    ppo_epochs: int = 1  # optimisation passes over each rollout batch
    mini_batch_size: int = 4  # samples per gradient step inside a PPO epoch
    batch_size: int = 16  # prompts per rollout batch (one PPO step)
    init_kl_coef: float = 0.2  # starting weight of the KL penalty against the reference
    adap_kl_ctrl: bool = True  # adapt the KL weight towards target_kl
    target_kl: float = 6.0  # the adaptive controller's KL target
    gamma: float = 1.0  # discount
    lam: float = 0.95  # GAE lambda
    cliprange: float = 0.2  # PPO policy clip range
    cliprange_value: float = 0.2  # value-function clip range
    vf_coef: float = 0.1  # value loss weight
    trim_padding: bool = True  # PPO forward passes skip padding (batch sorted by length); False = trl's own padded step
    engine: Literal["trl", "native"] = "trl"  # the PPO step: trl 0.11.4's PPOTrainer, or the lab's own readable one (lab_utils/native.py, tested equal to trl's)
    algorithm: Literal["ppo", "rloo", "grpo"] = "ppo"  # the RL update: PPO (critic + GAE); RLOO / GRPO (critic-free, native engine) are not in the training loop yet
    group_size: int = 4  # rloo/grpo: summaries sampled per prompt; a step scores batch_size of them (batch_size / group_size prompts)
    num_steps: int = 10  # PPO steps (rollout batches) to train
    kl_ceiling: float = 1.0  # stop (and roll back) when the KL per response token rises this many nats above its first step's (a runaway policy)
    checkpoint_every: int = 1  # write a resumable checkpoint every N steps (0 = only at the end); a LoRA save costs well under a second

    # --- generation -----------------------------------------------------------------------------
    output_min_length: int = 100  # LengthSampler lower bound for max_new_tokens during rollouts
    output_max_length: int = 400  # LengthSampler upper bound (exclusive) for max_new_tokens
    generation_kwargs: dict[str, Any] = field(
        default_factory=lambda: {"min_length": 5, "top_k": 0, "top_p": 1.0, "do_sample": True}
    )  # sampling settings shared by rollouts and evaluation

    # --- evaluation -------------------------------------------------------------------------------
    eval_num_prompts: int = 10  # held-out prompts scored before and after PPO
    eval_samples_per_prompt: int = 1  # sampled summaries per prompt (more = less noisy toxicity)
    eval_max_new_tokens: int = 100  # generation length cap at evaluation
    eval_batch_size: int = 16  # prompts per generate call at evaluation
    challenging_share: float = 0.2  # the challenging subset: this share of prompts whose dialogue itself the classifier scores most toxic
    challenging_repeats: int = 1  # training draws each challenging train dialogue this many times per pass (1 = uniform, the course's)
    compare_num_prompts: int = 10  # the before/after table shows the prompts whose mean toxicity fell most ...
    compare_num_worse: int = 3  # ... plus up to this many whose mean toxicity rose (the honest side of the picture)
    bootstrap_resamples: int = 9999  # bootstrap resamples (of prompts, paired) for the 95% confidence intervals
    trend_window: int = 10  # PPO steps in the rolling mean of the training curves

    # --- output ---------------------------------------------------------------------------------
    output_dir: str = str(CHECKPOINTS_DIR / "ppo-detoxified")  # where the detoxified adapter is saved

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON-able values."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "LabConfig":
        """Rebuild a config saved with `to_dict`, rejecting unknown knobs."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown LabConfig fields {unknown}; known fields are {sorted(known)}.")
        values = dict(values)
        for key in ("lora_target_modules", "prompt_token_budget"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values).validate()

    def validate(self) -> "LabConfig":
        """Check every knob's type, range and relation to other knobs; raise one ConfigError listing all problems."""
        hints = typing.get_type_hints(LabConfig)
        problems = [
            f"{f.name}={getattr(self, f.name)!r} is not {type_name(hints[f.name])}"
            for f in dataclasses.fields(self)
            if not has_type(getattr(self, f.name), hints[f.name])
        ]
        if not problems:
            problems = [problem for check, problem in relation_checks(self) if not check]
        if problems:
            raise ConfigError("LabConfig: " + "; ".join(problems) + " — fix these knobs (get_config(knob=value), --set knob=value or LAB_SET).")
        return self


def parse_knob(name: str, text: str) -> Any:
    """Parse the text of `--set name=text` (or LAB_SET) to the knob's type; a ConfigError when it does not parse."""
    hints = typing.get_type_hints(LabConfig)
    if name not in hints:
        raise ConfigError(f"{name!r} is not a LabConfig knob — use one of: {', '.join(sorted(hints))}.")
    hint, text = hints[name], text.strip()
    for value in knob_candidates(text):
        value = float(value) if hint is float and has_type(value, int) else value
        if has_type(value, hint):
            return value
    raise ConfigError(f"{name}={text!r} does not parse as {type_name(hint)} — give {name} a value of that type.")


def knob_candidates(text: str) -> list[Any]:
    """What the text of a knob's value may mean, most specific first: JSON (lists as tuples), None, a bool, the text."""
    candidates: list[Any] = []
    try:
        value = json.loads(text)
        candidates.append(tuple(value) if isinstance(value, list) else value)
    except json.JSONDecodeError:
        pass
    lowered = text.lower()
    candidates += [None] if lowered in {"none", "null"} else [lowered == "true"] if lowered in {"true", "false"} else []
    return candidates + [text]


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """['knob=value', ...] -> {knob: typed value}; a ConfigError names an item that is not knob=value."""
    overrides = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"{item!r} is not knob=value — write it like num_steps=20.")
        overrides[name.strip()] = parse_knob(name.strip(), text)
    return overrides


def tiny_config() -> LabConfig:
    """The embedded offline world: same knobs, miniature models, settings that show the effect in CI time."""
    return LabConfig(
        profile="tiny",
        dataset_name=str(TINY_DATA_DIR / "dialogues.jsonl"),
        model_name=str(TINY_DIR / "t5"),
        adapter_path=str(TINY_DIR / "peft-dialogue-summary-checkpoint"),
        reward_model_name=str(TINY_DIR / "roberta-hate"),
        test_size=0.05,  # 96 held-out dialogues of 1920; the rest teaches the tiny summarizer to write
        # A tiny LoRA needs a much larger step than FLAN-T5-base: 1.41e-5 does nothing here in 40 steps. Two
        # passes over each rollout batch: over seeds 1-5 one pass lowered toxicity 33-71%, two 52-65% (README).
        learning_rate=1e-3,
        ppo_epochs=2,
        num_steps=40,
        init_kl_coef=0.4,
        precision="fp32",  # tiny matrices gain nothing from bf16 (casts cost more); fp32 also keeps the seeded numbers independent of bf16 support
        output_min_length=20,  # tiny summaries are ~10-25 tokens
        output_max_length=40,
        eval_num_prompts=96,  # the whole held-out split ...
        eval_samples_per_prompt=4,  # ... four samples each: 384 summaries, a stable mean
        eval_max_new_tokens=40,
        eval_batch_size=64,
        output_dir=str(CHECKPOINTS_DIR / "tiny-ppo-detoxified"),
        finetune_epochs=3,
        finetune_batch_size=16,
        finetune_output_dir=str(CHECKPOINTS_DIR / "tiny-lab2-adapter"),  # the tiny lab starts from the world's own adapter
    )


def full_config() -> LabConfig:
    """The original course lab on the real hub models."""
    # Evaluation size: the course's effect (mean toxicity 0.027 -> 0.017, -0.011) must clear its 95% CI.
    # The published copies (same 11 prompts, 1 sample each) spread by ~0.014 in their before-after
    # change: ~0.047 per prompt, i.e. ~0.033 of sampling noise per summary. With 4 samples per prompt
    # and an assumed prompt-to-prompt spread of the effect of 0.02, a prompt's change varies by ~0.03,
    # so 200 prompts give a standard error of ~0.0022 and a CI half-width of ~0.004: the course's
    # effect sits ~5 standard errors from zero (100 prompts x 4: ~3.4, still clear of zero).
    # Cost: 800 summaries of <= 100 tokens per evaluation, 3 evaluations (before, after, reload), in
    # batches of 16: 150 generate calls x 100 decoder steps. Estimated T4 time (fp32), not measured:
    # ~2.5 min in all, from the A100's 9.6 s per course PPO step (16 one-at-a-time summaries of
    # 100-400 tokens: <= 2.4 ms per decoder step) taken ~4x slower on a T4 (~10 ms per batched step);
    # ~6 min if a T4 runs at a tenth of an A100's speed.
    # The trend window fits the course's 10 PPO steps.
    return LabConfig(eval_num_prompts=200, eval_samples_per_prompt=4, trend_window=3)


def get_config(profile: str | None = None, **overrides: Any) -> LabConfig:
    """The LabConfig for a profile (see `resolve_profile`), with LAB_SET's and keyword overrides applied, validated.

    LAB_SET holds space-separated `knob=value` items (the CLI's `--set` syntax), so a notebook run
    headless can be shortened without editing it, e.g. LAB_SET="num_steps=2 batch_size=4".
    """
    from .hub import resolve_profile  # 'auto' asks the hub; this module itself stays free of I/O

    chosen = resolve_profile(profile)
    config = tiny_config() if chosen == "tiny" else full_config()
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(LabConfig)})
    if unknown:
        raise ConfigError(f"{unknown} are not LabConfig knobs — check the spelling against lab_utils/config.py.")
    overrides = {**parse_overrides(os.environ.get("LAB_SET", "").split()), **overrides}
    return dataclasses.replace(config, **overrides).validate()
