"""Atomic writes and an output-folder lock: a checkpoint, build or report is written aside, then swapped into place."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import LabError

LOCK_FILE = ".lock"


def staging_dir(target: Path, suffix: str = ".tmp") -> Path:
    """A fresh, uniquely named empty folder next to `target` to write into before `swap_into_place`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{target.name}.", suffix=suffix, dir=target.parent))


def swap_into_place(staging: Path, target: Path, attempts: int = 20) -> Path:
    """Replace `target` with the finished `staging` folder; a crash leaves the old or the new one, never half of one.

    Concurrent writers each stage under a unique name; if another writer puts a folder in place between
    our two renames, we retire that one too and try again (the last writer wins).
    """
    for _ in range(attempts):
        retired = Path(tempfile.mkdtemp(prefix=f"{target.name}.", suffix=".old", dir=target.parent))
        try:
            target.rename(retired / "previous")
        except FileNotFoundError:
            pass
        try:
            staging.rename(target)
        except OSError:  # another writer's folder landed in between: retire it on the next attempt
            continue
        finally:
            shutil.rmtree(retired, ignore_errors=True)
        return target
    raise OSError(f"Could not move {staging} into place at {target} after {attempts} attempts (other writers kept replacing it).")


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write `data` to a unique temporary file in `path`'s folder, then rename it over `path`: readers see the old file or the new one, never half of one."""
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data.encode("utf-8") if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(staging, 0o644)  # mkstemp makes it private; a report is for everyone
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return path


def check_writable(folder: Path) -> Path:
    """Create `folder` if needed and prove it is writable, before any model loads; a LabError otherwise."""
    if folder.exists() and not folder.is_dir():
        raise LabError(f"The output path {folder} is a file, not a folder — choose another --out / output folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        raise LabError(f"Cannot write to {folder} ({error.strerror}) — choose a writable --out / output folder.") from None
    return folder


@contextmanager
def locked(folder: Path) -> Iterator[Path]:
    """Hold an exclusive lock on `folder` for one run; a second run on the same folder gets a LabError at once."""
    check_writable(folder)
    with open(folder / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(f"Another run is using {folder} (it holds {folder / LOCK_FILE}) — wait for it to finish or choose another --out.") from None
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
