"""Loopback sockets: free ports, waiting for a listener, exact reads."""

from __future__ import annotations

import socket
import time
from typing import Callable

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free a moment ago on `host` (bind port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(port: int, host: str = LOOPBACK, timeout: float = 10.0,
              alive: Callable[[], bool] | None = None) -> None:
    """Waits until host:port accepts a TCP connection; raises TimeoutError otherwise, or
    RuntimeError as soon as `alive()` says the serving process is gone."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None and not alive():
            raise RuntimeError(f"process serving {host}:{port} exited before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{host}:{port} did not accept within {timeout}s")
        time.sleep(0.05)


def recv_exactly(sock: socket.socket, n: int, timeout: float) -> bytes:
    """Exactly `n` bytes within `timeout` seconds; TimeoutError or ConnectionError otherwise."""
    deadline = time.monotonic() + timeout
    out = bytearray()
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"received {len(out)} of {n} bytes")
        sock.settimeout(left)
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


def read_until_closed(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """Reads until EOF or reset (bounded by the socket's timeout); returns what arrived."""
    data = b""
    try:
        while len(data) < limit:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data
