"""Prefetch every artifact of the `full` profile into the Hugging Face cache, so the lab can then run offline.

    python -m tools.download                        # into $HF_HOME (default ~/.cache/huggingface)
    HF_ENDPOINT=https://my-mirror python -m tools.download    # from a hub mirror
    HF_HUB_OFFLINE=1 LAB_PROFILE=full python -m lab_utils.detox --out results/full   # afterwards, offline

For an instructor's air-gapped cluster (copy $HF_HOME over) or a slow runtime (download once, run many
times). It fetches the base model and its tokenizer, the reward classifier, the dataset (prepared by
`datasets`, which is what offline `load_dataset` reads) and the starting adapter when it is a hub id, with
the same libraries and ids the lab loads them by. Of each model repo it takes the config and tokenizer
files and one weight format (safetensors when the repo has it, else pytorch_model.bin), never TF/Flax/ONNX.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shlex
from pathlib import Path

from lab_utils.adapters import is_local_path
from lab_utils.config import LabConfig, get_config
from lab_utils.hub import hub_endpoint, hub_offline

SMALL_FILES = ("*.json", "*.txt", "*.model", "tokenizer*", "vocab.*", "merges.txt")  # configs, tokenizers (spiece.model)
SKIP_FILES = ("tf_model*", "flax_model*", "rust_model*", "*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite", "onnx/*", "coreml/*", "*/*")


def files_to_fetch(repo_files: list[str]) -> list[str]:
    """The files of a model (or adapter) repo the lab loads: configs and tokenizer files, plus one weight format."""
    wanted = [name for name in repo_files if not any(fnmatch.fnmatch(name, skip) for skip in SKIP_FILES)]
    safetensors = [name for name in wanted if name.endswith(".safetensors")]
    pickled = [name for name in wanted if fnmatch.fnmatch(name, "pytorch_model*.bin") or name == "adapter_model.bin"]
    weights = safetensors or pickled  # .bin only when there is no safetensors file (loaded as tensors only)
    small = [name for name in wanted if any(fnmatch.fnmatch(name, pattern) for pattern in SMALL_FILES)]
    return sorted(set(small + weights))


def folder_megabytes(folder: Path) -> float:
    """Size of the files in a snapshot folder (following the cache's symlinks), in MB."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def fetch_model(repo_id: str) -> str:
    """Download the files `files_to_fetch` picks from a model repo into the HF cache; return one line about it."""
    from huggingface_hub import HfApi, snapshot_download

    repo_files = [sibling.rfilename for sibling in HfApi().model_info(repo_id).siblings or []]
    files = files_to_fetch(repo_files)
    folder = Path(snapshot_download(repo_id, allow_patterns=files))
    return f"model    {repo_id}: {len(files)} files, {folder_megabytes(folder):.0f} MB -> {folder}"


def fetch_dataset(name: str) -> str:
    """Download and prepare a hub dataset (every split) in the datasets cache; return one line about it."""
    from datasets import load_dataset

    splits = load_dataset(name)
    sizes = ", ".join(f"{split} {len(rows):,}" for split, rows in splits.items())
    return f"dataset  {name}: {sizes} rows, prepared in the datasets cache"


def artifacts(config: LabConfig) -> list[tuple[str, str]]:
    """(kind, hub id) of everything the config loads from the hub; local paths are skipped."""
    wanted = [("model", config.model_name), ("model", config.reward_model_name), ("dataset", config.dataset_name)]
    if config.adapter_path is not None:
        wanted.append(("model", config.adapter_path))
    return [(kind, name) for kind, name in wanted if not is_local_path(name)]


def offline_command() -> str:
    """The command that runs the full lab from the cache just filled."""
    home = f"HF_HOME={shlex.quote(os.environ['HF_HOME'])} " if os.environ.get("HF_HOME") else ""
    return f"{home}HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 LAB_PROFILE=full python -m lab_utils.detox --out results/full"


def main() -> None:
    """Command line entry point: fetch, say what was fetched, print the offline command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    if hub_offline():
        raise SystemExit("HF_HUB_OFFLINE is set, so nothing can be downloaded — unset it (and HF_DATASETS_OFFLINE) for this command.")
    config = get_config("full")  # LAB_SET overrides (e.g. another model_name) apply here too
    print(f"Fetching the full profile's artifacts from {hub_endpoint()} ...", flush=True)
    for kind, name in artifacts(config):
        print(fetch_model(name) if kind == "model" else fetch_dataset(name), flush=True)
    print(f"\nEverything the full profile loads is in the cache. Run the lab offline with:\n  {offline_command()}")
    print("(in Jupyter: set those variables before starting it; on another machine: copy the HF_HOME folder and set HF_HOME)")


if __name__ == "__main__":
    main()
