"""The starting LoRA adapter: a local folder (the course's `.bin` converted to safetensors), a hub id, or none (a fresh LoRA)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from .config import REPO_ROOT, LabConfig, full_config, tiny_config
from .errors import LabError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"  # what the lab writes and loads
ADAPTER_PICKLE = "adapter_model.bin"  # the course checkpoint's format: read as tensors only, then copied to safetensors
ADAPTER_FILES = (ADAPTER_CONFIG, ADAPTER_WEIGHTS)


class AdapterNotFoundError(LabError, FileNotFoundError):
    """The starting LoRA adapter directory is missing or incomplete."""


def is_local_path(name: str) -> bool:
    """True when `name` names a local directory rather than a hub id ('owner/name').

    Relative paths such as `checkpoints/my-adapter` have the shape of a hub id; they count as local
    when their first folder exists here (or in the repo) or is `checkpoints`.
    """
    if Path(name).expanduser().exists() or name.startswith((".", "/", "~")) or name.count("/") != 1:
        return True
    first = name.split("/")[0]
    return first == "checkpoints" or Path(first).is_dir() or (REPO_ROOT / first).is_dir()


def local_adapter_dir(path: str) -> Path:
    """The folder a local adapter path names: as given (from the working directory), else inside the repo."""
    folder = Path(path).expanduser()
    if not folder.is_absolute() and not folder.exists() and (REPO_ROOT / folder).exists():
        return REPO_ROOT / folder
    return folder


def default_adapter_path(config: LabConfig) -> Path:
    """The starting adapter the config's profile points to when nobody changed `adapter_path`."""
    default = (tiny_config() if config.profile == "tiny" else full_config()).adapter_path
    return Path(default or "").resolve()


def check_adapter_dir(path: str | Path) -> None:
    """Raise a clear error when a local adapter directory lacks the files PEFT needs (.bin weights count)."""
    folder = Path(path)
    missing = [name for name in ADAPTER_FILES if not (folder / name).is_file()]
    if ADAPTER_WEIGHTS in missing and (folder / ADAPTER_PICKLE).is_file():
        missing.remove(ADAPTER_WEIGHTS)  # the course's .bin is converted on load
    if missing:
        raise AdapterNotFoundError(
            f"The starting adapter at {path} is missing {missing} (expected {ADAPTER_CONFIG} + {ADAPTER_WEIGHTS} "
            f"or the course's {ADAPTER_PICKLE}) — run notebooks/lab2_peft_dialogue_summary.ipynb (or Lab 3's optional "
            "quick-adapter cell) to save one there, copy the course's peft-dialogue-summary-checkpoint into that "
            "folder, or set adapter_path=None for a fresh LoRA (tiny profile: `python -m lab_utils.tiny`)."
        )


def safetensors_from_bin(folder: Path) -> Path:
    """Copy the course adapter's adapter_model.bin to adapter_model.safetensors (atomically); return the folder to load.

    The .bin is read with `torch.load(weights_only=True)`: tensors only, no pickled code is ever run.
    A read-only folder gets its converted copy in a temporary folder instead.
    """
    try:
        state = torch.load(folder / ADAPTER_PICKLE, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 -- torch raises UnpicklingError, RuntimeError, ... for a bad file
        raise AdapterNotFoundError(
            f"{folder / ADAPTER_PICKLE} is not a plain tensor file ({type(error).__name__}) — "
            "use an adapter saved by PEFT (adapter_model.safetensors), or set adapter_path=None for a fresh LoRA."
        ) from error
    tensors = {name: tensor.detach().clone().contiguous() for name, tensor in state.items()}
    try:
        partial = folder / (ADAPTER_WEIGHTS + ".partial")
        save_file(tensors, partial, metadata={"format": "pt"})
        os.replace(partial, folder / ADAPTER_WEIGHTS)  # readers see the old state or the whole file, never half
        print(f"Converted {folder / ADAPTER_PICKLE} to {ADAPTER_WEIGHTS} (tensors only) beside it.")
        return folder
    except OSError:
        copy = Path(tempfile.mkdtemp(prefix="adapter-"))
        shutil.copy(folder / ADAPTER_CONFIG, copy / ADAPTER_CONFIG)
        save_file(tensors, copy / ADAPTER_WEIGHTS, metadata={"format": "pt"})
        print(f"{folder} is read-only: converted {ADAPTER_PICKLE} to {copy / ADAPTER_WEIGHTS}.")
        return copy


def fresh_adapter_banner(config: LabConfig, folder: Path) -> str:
    """The banner printed when the profile's default starting adapter is absent and a fresh LoRA is used instead."""
    rule = "=" * 78
    return (
        f"{rule}\nNo Lab-2 adapter at {folder}:\ncontinuing with a FRESH LoRA of the Lab-2 shape "
        f"(r={config.lora_r}, alpha={config.lora_alpha}, {'/'.join(config.lora_target_modules)}) on {config.model_name}.\n"
        "PPO still runs and teaches the same loop, but the policy starts as the plain base model, not the\n"
        "Lab-2 summarizer, so its summaries, toxicity and KL numbers differ from the course's.\n"
        "To start from a Lab-2 adapter: run the optional quick-adapter cell in section 3 of Lab 3, or\n"
        "notebooks/lab2_peft_dialogue_summary.ipynb in this runtime, or copy the course's checkpoint\n"
        f"(adapter_config.json + adapter_model.bin or .safetensors) into that folder, or set adapter_path to a hub id.\n{rule}"
    )


def find_adapter(config: LabConfig, adapter_path: str) -> str | None:
    """What to load for `adapter_path`: a local folder with safetensors weights, a hub id, or None for a fresh LoRA.

    A missing folder is an error, except the profile's default one: then a banner, and None.
    """
    if not is_local_path(adapter_path):
        return adapter_path  # a hub id: PEFT downloads it (or reads the HF cache offline)
    folder = local_adapter_dir(adapter_path)
    has_any = any((folder / name).is_file() for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS, ADAPTER_PICKLE))
    if not has_any:
        if folder.resolve() == default_adapter_path(config):
            print(fresh_adapter_banner(config, folder))
            return None
        raise AdapterNotFoundError(
            f"No adapter at {adapter_path} (no {ADAPTER_CONFIG} there, looked in {folder.resolve()}) — "
            "check the path, put the Lab-2 adapter there (adapter_config.json + adapter_model.safetensors or .bin), "
            "or set adapter_path=None for a fresh LoRA."
        )
    check_adapter_dir(folder)
    if not (folder / ADAPTER_WEIGHTS).is_file():
        folder = safetensors_from_bin(folder)
    return str(folder)
