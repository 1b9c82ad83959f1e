"""The runtime around the lab: seeds, device and precision, library versions, known-noise filters."""

from __future__ import annotations

import functools
import importlib.metadata
import random
import warnings
from pathlib import Path

import datasets
import numpy as np
import torch
from transformers.utils import logging as transformers_logging

from .config import LabConfig

BF16_REWARD_TOLERANCE = 0.05  # bf16 may move any reward (a logit) by at most this much from fp32 ...
BF16_KL_TOLERANCE = 0.10  # ... and the batch's mean KL by at most this fraction (checked by tests and benchmarks)
LIBRARIES = ("torch", "transformers", "peft", "trl", "datasets", "evaluate", "accelerate", "tokenizers")


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch (all devices) so a run can be repeated exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries the lab depends on."""
    return {name: importlib.metadata.version(name) for name in LIBRARIES}


def pick_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def gpu_has_native_bf16() -> bool:
    """True when the current CUDA GPU multiplies bf16 in hardware (compute capability 8.0+: A100, L4, H100, ...).

    `torch.cuda.is_bf16_supported()` also says True on a T4 (7.5), where bf16 is emulated and slow;
    `including_emulation=False` (torch 2.3+) or the compute capability tell the native case apart.
    """
    major, _ = torch.cuda.get_device_capability()
    if major >= 8:
        return True
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch without the argument: the capability above is the answer
        return False


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU multiplies bf16 in hardware (AMX-BF16 or AVX512-BF16 in /proc/cpuinfo's flags)."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text().split() if cpuinfo.is_file() else []
    return "amx_bf16" in flags or "avx512_bf16" in flags


def pick_dtype(config: LabConfig) -> torch.dtype:
    """The compute dtype: `precision` if set, else bf16 where the hardware has it natively, else fp32; never fp16.

    `auto` picks bf16 on a GPU that has it natively (compute capability 8.0+: Ampere or newer) and on a
    CPU with AMX-BF16 or AVX512-BF16, else fp32 (a T4, whose bf16 is only emulated, most laptops, the
    original lab's ml.m5.2xlarge). fp16 is never used: T5 overflows to NaN in it. bf16 stays within BF16_REWARD_TOLERANCE and BF16_KL_TOLERANCE
    of fp32 (tests/test_models.py on the tiny world; benchmarks/ on FLAN-T5-shaped models).
    """
    if config.precision == "fp32":
        return torch.float32
    if config.precision == "bf16":
        return torch.bfloat16
    if config.precision != "auto":
        raise ValueError(f"precision={config.precision!r}; use 'auto', 'fp32' or 'bf16' (fp16 overflows in T5).")
    if torch.cuda.is_available():
        return torch.bfloat16 if gpu_has_native_bf16() else torch.float32
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


def quiet_known_warnings() -> None:
    """Silence the pinned libraries' known deprecation notices (each matched by its text) and loading progress bars."""
    warnings.filterwarnings("ignore", message=r"`PPOTrainer` is deprecated", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r"`PPOConfig` is deprecated", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r"`torch_dtype` is deprecated", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r"No dataset is provided\. Make sure to set config\.batch_size")
    warnings.filterwarnings("ignore", message=r"Input and output embeddings are no longer tied after merging")  # FLAN-T5 is untied: expected
    warnings.filterwarnings("ignore", message=r"'pin_memory' argument is set as true but no accelerator")  # Trainer on a CPU
    transformers_logging.disable_progress_bar()  # per-file "Loading weights" bars
    datasets.disable_progress_bars()  # per-call "Map"/"Filter" bars


def describe_runtime(config: LabConfig) -> str:
    """One paragraph for the top of a notebook or log: profile, device, precision, models (repo-relative paths or hub ids), versions."""
    from .results import portable_path  # imported here: results imports this module

    versions = ", ".join(f"{name} {version}" for name, version in library_versions().items())
    adapter = portable_path(config.adapter_path) if config.adapter_path else "none (a fresh LoRA)"
    return (
        f"profile: {config.profile} | device: {pick_device()} | precision: {str(pick_dtype(config)).replace('torch.', '')}\n"
        f"models: {portable_path(config.model_name)} + adapter {adapter} | reward: {portable_path(config.reward_model_name)}\n"
        f"versions: {versions}"
    )
