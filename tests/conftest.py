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

WORLD_FIXTURES = {"config", "tokenizer", "prompts", "reward_pipe"}  # the fixtures below: they need checkpoints/tiny/


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `world` every test that needs the built tiny world: one using a world fixture, and every notebook cell (nbval).

    `make test` runs the other tests while the world builds on one core, then the `world` tests on two workers.
    """
    for item in items:
        if WORLD_FIXTURES & set(getattr(item, "fixturenames", ())) or item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.world)


@pytest.fixture(scope="session")
def config() -> LabConfig:
    """The tiny profile's config, with its offline world built."""
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
