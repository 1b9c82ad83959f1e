"""The Hugging Face hub, as the lab sees it: is it reachable (and if not, why), and which profile `auto` means.

The probe asks the hub the lab will really download from: `HF_ENDPOINT` when it is set (a mirror, or the
offline rehearsal's loopback server), else huggingface.co, with the student's token (`HF_TOKEN`, a stored
`hf auth login`, or Colab's `HF_TOKEN` secret) as a Bearer header. When `auto` falls back to the embedded
offline world, the banner says why: offline mode, a timeout, an HTTP status (429 = rate-limited), DNS.
"""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass

from .config import Profile
from .errors import ConfigError

DEFAULT_ENDPOINT = "https://huggingface.co"
HUB_PROBE_PATH = "/api/models/google/flan-t5-base"  # the full profile's base model: one small JSON answer
HTTP_REASONS = {
    401: "unauthorized: HF_TOKEN is not a valid token",
    403: "forbidden: HF_TOKEN has no read access",
    429: "rate-limited: too many requests from this address; set HF_TOKEN to your Hugging Face token, or wait",
}


@dataclass(frozen=True)
class HubProbe:
    """The probe's answer: whether the hub answered 200, and a short reason either way."""

    reachable: bool
    reason: str

    def __bool__(self) -> bool:
        """Truthy when the hub answered 200, so `if hub_reachable():` reads as before."""
        return self.reachable


def hub_endpoint() -> str:
    """The hub the lab downloads from: `HF_ENDPOINT` if set, else huggingface.co (read at call time)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_probe_url() -> str:
    """The URL `hub_reachable` asks: the base model's API page on `hub_endpoint()`."""
    return hub_endpoint() + HUB_PROBE_PATH


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE asks every Hugging Face library to stay offline."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_token() -> str | None:
    """The token huggingface_hub would send (HF_TOKEN, the stored login, Colab's secret), or None."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token.strip()
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:  # noqa: BLE001 -- no token is a normal answer; the probe then asks anonymously
        return None


def hub_reachable(timeout: float = 3.0) -> HubProbe:
    """Ask the hub for the base model's page within `timeout` seconds; say why when it does not answer 200."""
    if hub_offline():
        return HubProbe(False, f"offline mode is on (HF_HUB_OFFLINE={os.environ['HF_HUB_OFFLINE']})")
    url = hub_probe_url()
    request = urllib.request.Request(url, headers={"User-Agent": "detox-lab"})
    token = hub_token()
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return HubProbe(answer.status == 200, f"{url} answered HTTP {answer.status}")
    except urllib.error.HTTPError as error:
        why = HTTP_REASONS.get(error.code, "server error" if error.code >= 500 else error.reason)
        return HubProbe(False, f"{url} answered HTTP {error.code} ({why})")
    except (TimeoutError, socket.timeout):
        return HubProbe(False, f"{url} did not answer within {timeout:g} s (timeout)")
    except urllib.error.URLError as error:
        cause = error.reason
        if isinstance(cause, socket.gaierror):
            return HubProbe(False, f"cannot resolve the host of {url} (DNS failure: no internet access?)")
        if isinstance(cause, (TimeoutError, socket.timeout)):
            return HubProbe(False, f"{url} did not answer within {timeout:g} s (timeout)")
        return HubProbe(False, f"cannot connect to {url} ({cause})")
    except OSError as error:
        return HubProbe(False, f"cannot connect to {url} ({error})")


def fallback_banner(reason: str) -> str:
    """The banner `auto` prints when it falls back to the embedded offline world, with the reason."""
    rule = "=" * 78
    return (
        f"{rule}\nLAB_PROFILE=auto: the Hugging Face hub did not answer: {reason}.\n"
        "So this run uses the embedded offline world (profile 'tiny': miniature T5, RoBERTa and dialogues\n"
        "that ship with the repo). Fix the cause above, or set LAB_PROFILE=full, to use the real models.\n"
        f"{rule}"
    )


def resolve_profile(profile: str | None = None) -> Profile:
    """Turn `full` / `tiny` / `auto` (default: the LAB_PROFILE variable, else auto) into a profile."""
    choice = (profile or os.environ.get("LAB_PROFILE") or "auto").strip().lower()
    if choice not in {"full", "tiny", "auto"}:
        raise ConfigError(f"LAB_PROFILE={choice!r} is not a profile — use 'full', 'tiny' or 'auto'.")
    if choice != "auto":
        return choice  # type: ignore[return-value]
    probe = hub_reachable()
    if probe.reachable:
        return "full"
    print(fallback_banner(probe.reason))
    return "tiny"
