"""The hub probe behind LAB_PROFILE=auto, against a tiny HTTP server on 127.0.0.1 (via HF_ENDPOINT): status, token, reasons."""

import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lab_utils.hub import HUB_PROBE_PATH, hub_reachable, resolve_profile


class FakeHub(ThreadingHTTPServer):
    """A loopback 'hub' that answers every GET with `status` (after `delay` s) and records what it was sent."""

    status = 200
    delay = 0.0

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization header)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that timed out (the slow-hub test) hangs up before the answer: expected, not printed."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """Answers GET with the server's status and a small JSON body."""

    def do_GET(self) -> None:  # noqa: N802 -- http.server's naming
        self.server.requests.append((self.path, self.headers.get("Authorization")))
        time.sleep(self.server.delay)
        body = b'{"id": "google/flan-t5-base"}'
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        """Keep pytest's output clean."""


@pytest.fixture()
def hub(monkeypatch):
    """A FakeHub on a free loopback port, with HF_ENDPOINT pointing at it and offline mode off."""
    server = FakeHub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_TOKEN", "")
    yield server
    server.shutdown()
    server.server_close()


def test_a_200_from_hf_endpoint_means_full(hub, capsys) -> None:
    assert resolve_profile("auto") == "full"
    assert hub.requests and hub.requests[0][0] == HUB_PROBE_PATH  # asked the mirror, not huggingface.co
    assert capsys.readouterr().out == ""


def test_the_token_is_sent_as_a_bearer_header(hub, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_student_token")
    assert hub_reachable().reachable
    assert hub.requests[-1][1] == "Bearer hf_student_token"


def test_rate_limited_falls_back_to_tiny_and_says_why(hub, capsys) -> None:
    hub.status = 429
    assert resolve_profile("auto") == "tiny"
    banner = capsys.readouterr().out
    assert "HTTP 429" in banner and "rate-limited" in banner and "HF_TOKEN" in banner
    assert "embedded offline world" in banner


def test_offline_mode_falls_back_without_asking(hub, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_profile("auto") == "tiny"
    assert "offline mode is on (HF_HUB_OFFLINE=1)" in capsys.readouterr().out
    assert hub.requests == []


def test_a_slow_hub_is_a_timeout(hub) -> None:
    hub.delay = 0.5
    probe = hub_reachable(timeout=0.1)
    assert not probe and "timeout" in probe.reason


def test_refused_and_unresolvable_hosts_say_so(hub, monkeypatch) -> None:
    port = hub.server_port
    hub.shutdown()
    hub.server_close()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    refused = hub_reachable(timeout=1.0)
    assert not refused and "cannot connect" in refused.reason

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # no real DNS query leaves this machine
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.invalid")
    unresolved = hub_reachable(timeout=1.0)
    assert not unresolved and "DNS failure" in unresolved.reason


def test_download_takes_configs_tokenizers_and_one_weight_format() -> None:
    from tools.download import files_to_fetch

    flan = [".gitattributes", "README.md", "config.json", "generation_config.json", "model.safetensors", "pytorch_model.bin",
            "tf_model.h5", "flax_model.msgpack", "special_tokens_map.json", "spiece.model", "tokenizer.json", "tokenizer_config.json"]
    assert files_to_fetch(flan) == ["config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json",
                                    "spiece.model", "tokenizer.json", "tokenizer_config.json"]
    roberta = ["config.json", "merges.txt", "pytorch_model.bin", "special_tokens_map.json", "tokenizer_config.json", "vocab.json", "training_args.bin"]
    assert files_to_fetch(roberta) == ["config.json", "merges.txt", "pytorch_model.bin", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"]
    assert files_to_fetch(["adapter_config.json", "adapter_model.bin"]) == ["adapter_config.json", "adapter_model.bin"]
