"""Shared pieces of rdpgate's operations tests (Python 3 standard library only).

The real binary runs through support.gateway.Gateway (`rdpgate run --config FILE`, ready lines,
JSON log events, metrics, admin API, signals) and the stand-in RDP hosts are
support.backend.FakeBackend (stoppable, restartable on the same port, or mute). This module adds:

- `base_config()`: the configs these tests start from;
- client helpers that speak the first flight of an RDP client and an echoing traffic thread;
- `Suite`: runs the named checks of one file, with cleanups, and exits 0, 1 or 77.

Every wait has a timeout; every process is started in its own session and stopped by pid.
Traffic stays on loopback (127.0.0.0/8).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
from typing import Callable, Iterable

from support import gateway
from support.backend import FakeBackend
from support.env import SKIP_EXIT_CODE as SKIP
from support.env import rdpgate_bin
from support.gateway import Gateway
from support.net import LOOPBACK, recv_exactly
from support.rdp import CONFIRM_HYBRID, connection_request

ADMIN_TOKEN = "ops-admin-token-6b1f0d2e9c4a7358"
ADMIN_TOKEN_ENV = "RDPGATE_OPS_ADMIN_TOKEN"

def note(message: str) -> None:
    """A measured figure, printed as the check goes (ctest -V shows it)."""
    print(message, flush=True)


def skip(message: str) -> None:
    print(f"SKIP: {message}", flush=True)
    sys.exit(SKIP)


class Failure(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


# ---------------------------------------------------------------------------------------------
# Clients


def open_socket(port: int, src: str | None = None, timeout: float = 5.0,
                family: int = socket.AF_INET, host: str = LOOPBACK) -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src is not None:
        s.bind((src, 0))
    try:
        s.connect((host, port))
    except OSError:
        s.close()
        raise
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def rdp_connect(port: int, src: str | None = None, user: str = "opsuser", prefix: bytes = b"",
                timeout: float = 5.0) -> socket.socket:
    """Sends [prefix +] a Connection Request and returns the socket once the Confirm arrived."""
    s = open_socket(port, src, timeout)
    try:
        s.sendall(prefix + connection_request(user))
        confirm = recv_exactly(s, len(CONFIRM_HYBRID), timeout)
        if confirm != CONFIRM_HYBRID:
            raise Failure(f"unexpected Connection Confirm {confirm.hex()}")
        return s
    except BaseException:
        s.close()
        raise


def try_rdp(port: int, src: str | None = None, user: str = "opsuser", prefix: bytes = b"",
            timeout: float = 5.0) -> tuple[str, int]:
    """One attempt: ("ok" | "closed" | "refused", client port). "closed" = accepted by TCP but
    ended without a Confirm (reset or EOF); "refused" = the port does not listen."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src or LOOPBACK, 0))  # bound first: the port is known even if connect is reset
    local_port = s.getsockname()[1]
    try:
        try:
            s.connect((LOOPBACK, port))
        except ConnectionRefusedError:
            return "refused", 0
        s.sendall(prefix + connection_request(user))
        confirm = recv_exactly(s, len(CONFIRM_HYBRID), timeout)
        check(confirm == CONFIRM_HYBRID, f"unexpected Connection Confirm {confirm.hex()}")
        # Prove the relay works too, then close from the client side.
        s.sendall(b"ping-" + user.encode())
        echo = recv_exactly(s, 5 + len(user), timeout)
        check(echo == b"ping-" + user.encode(), f"bad echo {echo!r}")
        return "ok", local_port
    except (ConnectionError, OSError) as e:
        if isinstance(e, TimeoutError):
            raise Failure(f"port {port}: no answer within {timeout} s") from e
        return "closed", local_port
    finally:
        s.close()


class EchoSession(threading.Thread):
    """A relayed session that keeps exchanging data until stop(): sends a numbered block, reads
    the echo, compares. Any mismatch, reset or stall is recorded in `error`."""

    block = 2048

    def __init__(self, port: int, user: str, src: str | None = None, pause: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.sock = rdp_connect(port, src, user)
        self.local_port = self.sock.getsockname()[1]
        self.user = user
        self.pause = pause
        self.bytes = 0
        self.error: str | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        n = 0
        try:
            while not self._stop_event.is_set():
                payload = struct.pack(">Q", n) + bytes([n % 251]) * (self.block - 8)
                self.sock.sendall(payload)
                echo = recv_exactly(self.sock, len(payload), 5.0)
                if echo != payload:
                    self.error = f"block {n}: echo differs"
                    return
                self.bytes += len(payload)
                n += 1
                if self.pause:
                    time.sleep(self.pause)
        except Exception as e:  # noqa: BLE001 - recorded and asserted by the test
            self.error = f"block {n}: {type(e).__name__}: {e}"

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
        with contextlib.suppress(OSError):
            self.sock.close()


# ---------------------------------------------------------------------------------------------
# Configs and the test runner


def base_config(state_dir: str, listeners: str, routes: str, extra: str = "",
                admin: bool = True, metrics: bool = True, allow_root: bool = True,
                sources: str = '{per_source: {rate: "0/s", max_connections: 0}}') -> str:
    """A complete config. `listeners` and `routes` are YAML block sequences (indented 2)."""
    off = '{address: ""}'
    return gateway.config(
        listeners, routes, extra, sources=sources, allow_root="true" if allow_root else None,
        admin=f'{{address: "{LOOPBACK}:0", token_env: {ADMIN_TOKEN_ENV}}}' if admin else off,
        metrics=gateway.DEFAULTS["metrics"] if metrics else off, state=f'{{path: "{state_dir}"}}')


class Suite:
    """Runs the named checks of one test file; exits 0, 1, or 77 when everything was skipped."""

    def __init__(self) -> None:
        self.binary = rdpgate_bin()
        self._tmp = tempfile.mkdtemp(prefix="rdpgate-ops-")
        self._cleanups: list[Callable[[], None]] = []

    def workdir(self, name: str) -> str:
        path = os.path.join(self._tmp, name)
        os.makedirs(os.path.join(path, "state"), exist_ok=True)
        return path

    def defer(self, fn: Callable[[], None]) -> None:
        self._cleanups.append(fn)

    def run(self, checks: Iterable[tuple[str, Callable[["Suite"], None]]]) -> None:
        if self.binary is None:
            skip("RDPGATE_BIN is not set to an executable rdpgate binary")
        failed = 0
        skipped = 0
        total = 0
        for name, fn in checks:
            total += 1
            started = time.monotonic()
            print(f"--- {name}", flush=True)
            try:
                fn(self)
                print(f"PASS {name} ({time.monotonic() - started:.1f} s)", flush=True)
            except SystemExit as e:
                if e.code == SKIP:
                    skipped += 1
                    print(f"SKIP {name}", flush=True)
                else:
                    raise
            except Exception as e:  # noqa: BLE001 - reported, then the next check runs
                failed += 1
                print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
                traceback.print_exc(file=sys.stdout)
            finally:
                for fn_cleanup in reversed(self._cleanups):
                    with contextlib.suppress(Exception):
                        fn_cleanup()
                self._cleanups.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)
        if failed:
            sys.exit(1)
        if skipped == total:
            sys.exit(SKIP)
        sys.exit(0)

    def gateway(self, workdir: str, config_text: str) -> Gateway:
        g = Gateway(config_text, workdir, binary=self.binary, admin_token=ADMIN_TOKEN,
                    admin_token_env=ADMIN_TOKEN_ENV)
        self.defer(g.stop)
        return g

    def backend(self, port: int = 0) -> FakeBackend:
        b = FakeBackend(port=port)
        self.defer(b.close)
        return b
