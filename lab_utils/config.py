"""One config object for the whole lab: `LabConfig`, with a `full` and a `tiny` profile side by side.

`full` is the original course lab (FLAN-T5-base + LoRA, Meta's RoBERTa hate-speech classifier,
DialogSum from the Hugging Face hub). `tiny` is the embedded offline world that ships in this repo
(see `lab_utils.tiny`): same code path, miniature models. `LAB_PROFILE=full|tiny|auto` picks one.
This module imports nothing from the rest of the package.
"""

from __future__ import annotations

import dataclasses
import json
import os
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
TINY_DIR = CHECKPOINTS_DIR / "tiny"
TINY_DATA_DIR = Path(__file__).resolve().parent / "tiny_data"

PROMPT_TEMPLATE = "\nSummarize the following conversation.\n\n{dialogue}\n\nSummary:\n"
HUB_PROBE_URL = "https://huggingface.co/api/models/google/flan-t5-base"

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
    reference_mode: Literal["adapter-off", "copy"] = "adapter-off"  # reference policy: base with adapters off, or a frozen copy
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
    num_steps: int = 10  # PPO steps (rollout batches) to train
    kl_ceiling: float = 50.0  # stop training early when objective/kl exceeds this (runaway policy)
    checkpoint_every: int = 10  # write a resumable checkpoint every N steps (0 = only at the end)

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
    compare_num_prompts: int = 20  # rows of the qualitative before/after table

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
        return cls(**values)


def tiny_config() -> LabConfig:
    """The embedded offline world: same knobs, miniature models, settings that show the effect in CI time."""
    return LabConfig(
        profile="tiny",
        dataset_name=str(TINY_DATA_DIR / "dialogues.jsonl"),
        model_name=str(TINY_DIR / "t5"),
        adapter_path=str(TINY_DIR / "peft-dialogue-summary-checkpoint"),
        reward_model_name=str(TINY_DIR / "roberta-hate"),
        # A tiny LoRA needs a much larger step than FLAN-T5-base: 1.41e-5 does nothing here, 1e-3
        # wrecks ROUGE; 7e-4 for 100 steps (under a minute on 2 cores) detoxifies and keeps the summaries.
        learning_rate=7e-4,
        num_steps=100,
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
    return LabConfig(eval_num_prompts=50, eval_samples_per_prompt=1)


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the Hugging Face hub answers within `timeout` seconds (and offline mode is off)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return False
    try:
        with urllib.request.urlopen(HUB_PROBE_URL, timeout=timeout) as answer:
            return answer.status == 200
    except OSError:
        return False


def resolve_profile(profile: str | None = None) -> Profile:
    """Turn `full` / `tiny` / `auto` (default: the LAB_PROFILE variable, else auto) into a profile."""
    choice = (profile or os.environ.get("LAB_PROFILE") or "auto").strip().lower()
    if choice not in {"full", "tiny", "auto"}:
        raise ValueError(f"LAB_PROFILE={choice!r} is not a profile; use 'full', 'tiny' or 'auto'.")
    if choice != "auto":
        return choice  # type: ignore[return-value]
    if hub_reachable():
        return "full"
    print(
        "=" * 78
        + "\nLAB_PROFILE=auto: the Hugging Face hub is not reachable, so this run uses the\n"
        "embedded offline world (profile 'tiny': miniature T5, RoBERTa and dialogues that ship\n"
        "with the repo). Set LAB_PROFILE=full on Colab/SageMaker to use the real models.\n"
        + "=" * 78
    )
    return "tiny"


def get_config(profile: str | None = None, **overrides: Any) -> LabConfig:
    """The LabConfig for a profile (see `resolve_profile`), with keyword overrides applied."""
    chosen = resolve_profile(profile)
    config = tiny_config() if chosen == "tiny" else full_config()
    return dataclasses.replace(config, **overrides)
