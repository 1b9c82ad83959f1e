"""Atomic folder swaps and file writes: a process killed at any point leaves the old or the new version, never none or half."""

import errno
import itertools
import multiprocessing
import os
import random
import signal
import threading
import time
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Callable

import pytest

from lab_utils import files
from lab_utils.files import backups, recover, staging_dir, swap_into_place, write_atomic

PARTS = 5  # files per version of the folder: a complete one has them all, each naming the manifest's version
KILLS = 20  # child processes killed mid-loop, each a random few milliseconds after its first round
FORK = multiprocessing.get_context("fork")  # a child starts in milliseconds (it only swaps folders)


def write_version(target: Path, version: int) -> None:
    """Stage a complete version of the folder, then swap it into place."""
    staging = staging_dir(target)
    for part in range(PARTS):
        (staging / f"part{part}.txt").write_text(str(version))
    (staging / "manifest.txt").write_text(str(version))
    swap_into_place(staging, target)


def complete_version(target: Path) -> int:
    """The version `target` holds; fails unless every part names the manifest's version."""
    version = (target / "manifest.txt").read_text()
    assert [(target / f"part{part}.txt").read_text() for part in range(PARTS)] == [version] * PARTS
    return int(version)


def no_exchange(first: Path, second: Path) -> None:
    """`files.exchange` on a system without RENAME_EXCHANGE (macOS, glibc < 2.28, some filesystems)."""
    raise OSError(errno.EINVAL, "RENAME_EXCHANGE is not supported here")


def swap_forever(target: Path, first: int, fallback: bool, started: EventType) -> None:
    """The child: swap ever newer versions into `target` until it is killed."""
    if fallback:
        files.exchange = no_exchange
    for version in itertools.count(first):
        write_version(target, version)
        started.set()


def exchange_supported(folder: Path) -> bool:
    """True when two folders in `folder` can trade places atomically."""
    first, second = folder / "first", folder / "second"
    first.mkdir()
    second.mkdir()
    try:
        files.exchange(first, second)
    except OSError:
        return False
    finally:
        first.rmdir()
        second.rmdir()
    return True


def kill_midway(work: Callable[..., None], args: tuple, seconds: float, check: Callable[[], None]) -> None:
    """Run `work(*args, started)` in a child; once it has done one round, run `check` over and over for `seconds`, then SIGKILL it."""
    started = FORK.Event()
    child = FORK.Process(target=work, args=(*args, started))
    child.start()
    try:
        assert started.wait(timeout=30), "the child never finished its first round"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            check()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join()


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "two-renames"])
def test_a_swapper_killed_at_any_point_leaves_a_complete_folder(tmp_path, fallback) -> None:
    if not fallback and not exchange_supported(tmp_path):
        pytest.skip("no atomic RENAME_EXCHANGE on this system")
    target, rng = tmp_path / "world", random.Random(0)
    write_version(target, 0)

    def always_there() -> None:  # with the exchange, a reader never finds the folder missing
        assert fallback or (target / "manifest.txt").is_file()

    for kill in range(KILLS):
        first = 1000 * (kill + 1)
        kill_midway(swap_forever, (target, first, fallback), rng.uniform(0.001, 0.02), always_there)
        if fallback:
            recover(target)  # what the next swap or checkpoint reader does first
        assert complete_version(target) >= first  # whole, and one that this child swapped in


@pytest.mark.parametrize("after_crash", ["recover", "next swap"])
def test_a_crash_between_the_two_renames_is_recovered(tmp_path, monkeypatch, after_crash) -> None:
    monkeypatch.setattr(files, "exchange", no_exchange)
    target = tmp_path / "checkpoint"
    write_version(target, 1)
    staging = staging_dir(target)
    (staging / "manifest.txt").write_text("2")
    rename = Path.rename

    def dies_before_the_second(self: Path, destination: Path) -> Path:
        if self == staging:
            raise KeyboardInterrupt  # the process dies with the old folder set aside and the new one not yet in place
        return rename(self, destination)

    monkeypatch.setattr(Path, "rename", dies_before_the_second)
    with pytest.raises(KeyboardInterrupt):
        swap_into_place(staging, target)
    monkeypatch.setattr(Path, "rename", rename)
    assert not target.exists() and len(backups(target)) == 1
    if after_crash == "recover":
        assert recover(target) and complete_version(target) == 1
    else:
        write_version(target, 3)
        assert complete_version(target) == 3
    assert backups(target) == [] and not list(tmp_path.glob("*.old*"))  # the backup is gone once the folder is back
    assert recover(target) is False  # nothing left to put back


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "two-renames"])
def test_concurrent_saves_each_land_whole(tmp_path, monkeypatch, fallback) -> None:
    if fallback:
        monkeypatch.setattr(files, "exchange", no_exchange)
    target, failures = tmp_path / "checkpoint", []

    def save(writer: int) -> None:
        for attempt in range(25):
            try:
                write_version(target, 100 * writer + attempt)
            except OSError as error:
                failures.append(error)

    threads = [threading.Thread(target=save, args=(writer,)) for writer in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    complete_version(target)  # one writer's folder, whole
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoint"]  # no staging or backup leftovers


def rewrite_forever(path: Path, texts: tuple[str, str], started: EventType) -> None:
    """The child: write the two texts over `path` in turn until it is killed."""
    for turn in itertools.count():
        write_atomic(path, texts[turn % 2])
        started.set()


def test_write_atomic_killed_at_any_point_leaves_the_old_or_the_new_file(tmp_path) -> None:
    path, rng = tmp_path / "report.md", random.Random(0)
    texts = ("old line\n" * 20_000, "new line\n" * 20_000)  # large enough that a write in place could be seen half done
    write_atomic(path, texts[0])

    def whole() -> None:
        assert path.read_text() in texts

    for _ in range(KILLS // 2):
        kill_midway(rewrite_forever, (path, texts), rng.uniform(0.001, 0.02), whole)
        whole()
