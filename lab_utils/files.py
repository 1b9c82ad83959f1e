"""Atomic writes and an output-folder lock: a checkpoint, build or report is written aside, then swapped into place."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .errors import LabError

LOCK_FILE = ".lock"
BACKUP_SUFFIX = ".old"  # `target.XXXXXXXX.old/previous`: where a two-rename swap sets the previous folder aside
PREVIOUS = "previous"
RENAME_EXCHANGE = 2  # renameat2 flag: the two paths trade places atomically (Linux 3.15+, glibc 2.28+)
AT_FDCWD = -100  # renameat2's "relative to the working directory"
UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}  # no exchange here: use two renames


def libc_renameat2() -> Callable[..., int] | None:
    """libc's `renameat2`, or None where the C library has none (not Linux, or glibc older than 2.28)."""
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


RENAMEAT2 = libc_renameat2()


def staging_dir(target: Path, suffix: str = ".tmp") -> Path:
    """A fresh, uniquely named empty folder next to `target` to write into before `swap_into_place`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{target.name}.", suffix=suffix, dir=target.parent))


def swap_into_place(staging: Path, target: Path, attempts: int = 20) -> Path:
    """Replace `target` with the finished `staging` folder; a crash leaves the old or the new one, never half of one.

    On Linux the two folders trade places in one step (`exchange`), so `target` never goes missing. Where
    that is unavailable, `target` is renamed aside and `staging` renamed in: a crash between the two leaves
    `target` missing until `recover` (run first by every swap and by checkpoint readers) puts it back.
    Concurrent writers each stage under a unique name; the last writer wins.
    """
    can_exchange = True
    for _ in range(attempts):
        recover(target)
        if not target.exists():
            try:
                staging.rename(target)
            except OSError:  # another writer's folder landed first: replace it on the next attempt
                continue
            return target
        if can_exchange:
            try:
                exchange(staging, target)
            except OSError as error:
                if error.errno not in UNSUPPORTED:
                    continue  # `target` vanished (another writer is between its two renames): try again
                can_exchange = False
            else:
                shutil.rmtree(staging, ignore_errors=True)  # the previous folder, swapped out
                return target
        if swap_by_renames(staging, target):
            return target
    raise OSError(f"Could not move {staging} into place at {target} after {attempts} attempts (other writers kept replacing it).")


def exchange(first: Path, second: Path) -> None:
    """Swap two existing paths in one atomic step (Linux `renameat2` with RENAME_EXCHANGE); an OSError where unavailable."""
    if RENAMEAT2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not in this C library", str(first))
    if RENAMEAT2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(first), None, str(second))


def swap_by_renames(staging: Path, target: Path) -> bool:
    """Rename `target` into a backup folder, then `staging` to `target`; True when `staging` landed.

    A crash between the two renames leaves the backup for `recover`. When `staging` cannot land (another
    writer's folder got there first), the backup goes back unless a folder already stands at `target`.
    """
    backup = Path(tempfile.mkdtemp(prefix=f"{target.name}.", suffix=BACKUP_SUFFIX, dir=target.parent))
    try:
        target.rename(backup / PREVIOUS)
    except FileNotFoundError:
        pass
    try:
        staging.rename(target)
        landed = True
    except OSError:
        landed = False
        try:
            (backup / PREVIOUS).rename(target)
        except FileNotFoundError:  # nothing had been set aside
            pass
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                return False  # it cannot go back: keep it for `recover`
    discard(backup)  # empty, or holding a folder that another one now stands in for
    return landed


def backups(target: Path) -> list[Path]:
    """Folders that `swap_by_renames` set `target` aside in and still hold it, newest first."""
    name = re.compile(re.escape(target.name) + r"\.[a-z0-9_]{8}" + re.escape(BACKUP_SUFFIX))  # mkdtemp's 8 random characters
    found = [folder for folder in target.parent.iterdir() if name.fullmatch(folder.name) and (folder / PREVIOUS).exists()]
    return sorted(found, key=modified, reverse=True)


def modified(path: Path) -> int:
    """When `path` last changed (ns since the epoch); -1 when it is gone."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def recover(target: Path) -> bool:
    """If `target` is missing but a swap left it in a backup folder (a crash between two renames), put it back; True if so."""
    if target.exists() or not target.parent.is_dir():
        return False
    for backup in backups(target):
        try:
            (backup / PREVIOUS).rename(target)
        except OSError:  # another process restored it (or a folder landed) first
            continue
        discard(backup)
        return True
    return False


def discard(folder: Path) -> None:
    """Delete `folder`, first renaming it so that no `recover` can take a half-deleted copy from it."""
    trash = folder.with_name(folder.name + ".trash")
    try:
        folder.rename(trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


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
