"""Shared fixtures. Every test runs on the tiny profile, offline: a socket guard fails any non-local connection."""

import os
import socket

os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", LAB_PROFILE="tiny")

import pytest  # noqa: E402

_connect = socket.socket.connect


def _local_only(self: socket.socket, address: object) -> object:
    """socket.connect that refuses anything but loopback (nbval's kernel talks to pytest over loopback)."""
    host = address[0] if isinstance(address, tuple) else None
    if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("localhost", "::1") and not str(host).startswith("127."):
        raise RuntimeError(f"A test tried to reach the network ({address}); tests must stay offline.")
    return _connect(self, address)


socket.socket.connect = _local_only

from lab_utils.config import LabConfig, get_config  # noqa: E402
from lab_utils.tiny import ensure_world  # noqa: E402

# Files that take longest (seconds measured on 2 cores): `make test` runs whole files on two workers, and a long
# file that starts last finishes alone, so these start first.
LONGEST_FIRST = ("test_detox.py", "test_ppo.py", "lab3_detoxify_summaries.ipynb", "test_benchmarks.py")  # ~130, ~100, ~85, ~70


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the items of the LONGEST_FIRST files first (a stable sort: every file keeps its own order)."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def config() -> LabConfig:
    """The tiny profile's config, with its offline world current (committed; rebuilt if its recipe changed)."""
    ensure_world()
    return get_config("tiny")


@pytest.fixture(scope="session")
def tokenizer(config):
    """The tiny T5 tokenizer."""
    from lab_utils.models import load_tokenizer

    return load_tokenizer(config)


@pytest.fixture(scope="session")
def prompts(config, tokenizer):
    """The tiny profile's prompts (train/test)."""
    from lab_utils.data import build_dataset

    return build_dataset(config, tokenizer)


@pytest.fixture(scope="session")
def reward_pipe(config):
    """The tiny classifier as the reward pipeline."""
    from lab_utils.reward import load_reward_pipe

    return load_reward_pipe(config)
