"""Atomic folder writes: a checkpoint or build is written to a staging folder, then swapped into place."""

from __future__ import annotations

import shutil
from pathlib import Path


def staging_dir(target: Path, suffix: str = ".tmp") -> Path:
    """A fresh, empty folder next to `target` to write into before `swap_into_place`."""
    staging = target.with_name(target.name + suffix)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def swap_into_place(staging: Path, target: Path) -> Path:
    """Replace `target` with the finished `staging` folder; a crash leaves the old or the new one, never half of one."""
    retired = target.with_name(target.name + ".old")
    shutil.rmtree(retired, ignore_errors=True)
    if target.exists():
        target.rename(retired)
    staging.rename(target)
    shutil.rmtree(retired, ignore_errors=True)
    return target
