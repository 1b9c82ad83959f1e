"""The rehearsal's network guard, loaded by every child Python (PYTHONPATH): only loopback connections are allowed.

A connection anywhere else (huggingface.co, a CDN, telemetry) is refused at once and written to the file
named by REHEARSAL_GUARD_LOG, so a loading call that bypasses HF_ENDPOINT fails fast and is reported.
"""

import os
import socket

_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> object:
    """socket.connect that refuses anything but loopback, and logs what it refused."""
    host = address[0] if isinstance(address, tuple) else None
    if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("localhost", "::1") and not str(host).startswith("127."):
        with open(os.environ.get("REHEARSAL_GUARD_LOG", os.devnull), "a") as log:
            log.write(f"{os.getpid()} {address}\n")
        raise ConnectionRefusedError(f"The rehearsal refused a connection to {address}: only the loopback hub may be reached.")
    return _connect(self, address)


socket.socket.connect = _loopback_only
