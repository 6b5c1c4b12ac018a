"""Shared pieces of rdpgate's access-control tests (Python 3 standard library only).

The real `rdpgate` binary (RDPGATE_BIN) runs through the end-to-end harness in
tests/e2e/peers.py (imported by path): its `Gateway` starts `rdpgate run` on a generated config,
learns the ports from the ready lines and collects the JSON audit records from stderr.

This module adds what the brute-force, just-in-time, token and state tests need on top:

- `Backend`: a fake RDP host. It records the exact first flight it received, answers with a
  19-byte Connection Confirm selecting HYBRID (CredSSP), then either echoes (`echo` mode) or
  plays a refused NLA logon (`fail` mode: reads ~1 KiB, sends ~1.9 KiB and closes — the shape
  rdpgate's failed-logon inference recognises, see README "Brute-force defence").
- Client first flights: X.224 Connection Requests with a cookie or a routing-token line, and
  Preconnection PDUs v2 carrying a string the way xfreerdp /pcb: sends it.
- `attempt()`: one connection from a chosen loopback source address (127.0.0.0/8 is all
  loopback on Linux) and its audit record, matched by the client's source port.
- `cli()`: the admin subcommands of the binary against a running gateway.

Every wait has a timeout; traffic stays on loopback.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import peers  # noqa: E402  (tests/e2e/peers.py)

LOOPBACK = "127.0.0.1"
ADMIN_TOKEN = "access-admin-token-3c9e51d07a2b4f68"
TOKEN_ENV = "RDPGATE_ADMIN_TOKEN"

PROTO_SSL = 0x1
PROTO_HYBRID = 0x2

# [MS-RDPBCGR] 2.2.1.2 Server X.224 Connection Confirm with RDP_NEG_RSP selecting HYBRID.
CONFIRM_HYBRID = bytes([
    0x03, 0x00, 0x00, 0x13,  # TPKT: version 3, reserved, length 19 (big-endian)
    0x0E,                    # X.224 LI: 14 bytes follow
    0xD0,                    # CC CDT
    0x00, 0x00,              # DST-REF
    0x12, 0x34,              # SRC-REF
    0x00,                    # class 0
    0x02,                    # RDP_NEG_RSP
    0x00,                    # flags
    0x08, 0x00,              # length 8 (little-endian)
    0x02, 0x00, 0x00, 0x00,  # selectedProtocol: PROTOCOL_HYBRID
])

# A refused NLA logon as the fake backend plays it: what the client sends after the Confirm
# (TLS ClientHello + CredSSP NEGOTIATE, roughly) and what the server answers before it hangs up.
FAIL_CLIENT_BYTES = 1024
FAIL_SERVER_BYTES = 1900  # + the 19-byte Confirm: below the 3 KiB inference default


def binary() -> str | None:
    path = os.environ.get("RDPGATE_BIN", "")
    return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None


class AccessTestCase(unittest.TestCase):
    """Skips the whole class when the binary is not there."""

    @classmethod
    def setUpClass(cls):
        if binary() is None:
            raise unittest.SkipTest("RDPGATE_BIN is not set to an executable rdpgate binary")


# ---------------------------------------------------------------------------------------------
# First flights


def connection_request(user: str | None = "accessuser", token_line: str | None = None,
                       protocols: int = PROTO_SSL | PROTO_HYBRID) -> bytes:
    """[MS-RDPBCGR] 2.2.1.1: TPKT + X.224 CR + (routing token | cookie) CRLF + RDP_NEG_REQ."""
    line = b""
    if token_line is not None:
        line = token_line.encode() + b"\r\n"  # a routing token has no `Cookie:` prefix
    elif user is not None:
        line = f"Cookie: mstshash={user}\r\n".encode()
    neg_req = struct.pack("<BBHI", 0x01, 0x00, 8, protocols)  # type, flags, length, protocols
    x224 = bytes([0xE0, 0x00, 0x00, 0x00, 0x00, 0x00]) + line + neg_req  # CR CDT, refs, class
    li = len(x224)
    return struct.pack(">BBH", 3, 0, 4 + 1 + li) + bytes([li]) + x224


def preconnection_pdu(text: str, pcb_id: int = 0) -> bytes:
    """[MS-RDPEPS] 2.2.1.2 RDP_PRECONNECTION_PDU_V2 as xfreerdp /pcb: sends it: the string in
    UTF-16LE followed by two NUL code units, both counted in cchPCB (see
    ../shared/vectors/xfreerdp-pcb.hex)."""
    wsz = text.encode("utf-16-le") + b"\x00\x00\x00\x00"
    cch = len(wsz) // 2
    size = 16 + 2 + len(wsz)
    return struct.pack("<IIIIH", size, 0, 2, pcb_id, cch) + wsz


# ---------------------------------------------------------------------------------------------
# Fake backend


def _recv_exactly(sock: socket.socket, n: int, timeout: float) -> bytes:
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


def _read_first_flight(conn: socket.socket, timeout: float) -> bytes:
    """An optional Preconnection PDU (cbSize first, little-endian), then one TPKT packet."""
    head = _recv_exactly(conn, 4, timeout)
    data = head
    if head[0] != 0x03:
        size = struct.unpack("<I", head)[0]
        if not 16 <= size <= 65536:
            raise ValueError(f"not a first flight: {head.hex()}")
        data += _recv_exactly(conn, size - 4, timeout)
        head = _recv_exactly(conn, 4, timeout)
        data += head
    length = struct.unpack(">H", head[2:4])[0]
    return data + _recv_exactly(conn, max(0, length - 4), timeout)


class Backend:
    """A fake RDP host on 127.0.0.1:0; `flights` holds every first flight received, in order."""

    def __init__(self, mode: str = "echo") -> None:
        assert mode in ("echo", "fail")
        self.mode = mode
        self.flights: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def count(self) -> int:
        with self._lock:
            return len(self.flights)

    def last_flight(self) -> bytes:
        with self._lock:
            return self.flights[-1]

    def wait_flights(self, count: int, timeout: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.flights) >= count:
                    return list(self.flights)
            if time.monotonic() > deadline:
                raise TimeoutError(f"backend {self.address}: {count} first flights not seen")
            time.sleep(0.02)

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        self._thread.join(2)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._sock], [], [], 0.1)
                if not ready:
                    continue
                conn, _ = self._sock.accept()
            except (OSError, ValueError):
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            flight = _read_first_flight(conn, 10)
            with self._lock:
                self.flights.append(flight)
            conn.sendall(CONFIRM_HYBRID)
            if self.mode == "fail":
                _recv_exactly(conn, FAIL_CLIENT_BYTES, 10)
                conn.sendall(b"\x30" * FAIL_SERVER_BYTES)
                return
            while not self._stop.is_set():
                ready, _, _ = select.select([conn], [], [], 0.2)
                if not ready:
                    continue
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)
        except (OSError, ValueError, TimeoutError, ConnectionError):
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()


# ---------------------------------------------------------------------------------------------
# Clients


class Attempt:
    """What one client connection saw: `result` is "relayed" (Confirm + echo), "confirm" (the
    Confirm arrived), "closed" (ended without a Confirm), or "reply" (other bytes; in `reply`)."""

    def __init__(self, result: str, local_port: int, reply: bytes = b"") -> None:
        self.result = result
        self.local_port = local_port
        self.reply = reply

    def __repr__(self) -> str:
        return f"Attempt({self.result}, port {self.local_port}, reply {self.reply.hex()})"


def _client(src: str, port: int, timeout: float) -> tuple[socket.socket, int, bool]:
    """(socket, source port, connected). A refusal at admission closes the accepted socket at
    once, possibly with RST, which can reach the client before connect() returns."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))  # bound first: the source port is known even when rdpgate resets
    local_port = s.getsockname()[1]
    try:
        s.connect((LOOPBACK, port))
    except ConnectionResetError:
        return s, local_port, False
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s, local_port, True


def _read_reply(s: socket.socket, timeout: float) -> bytes:
    """Bytes until the Confirm is complete or the peer closes."""
    out = bytearray()
    deadline = time.monotonic() + timeout
    while len(out) < len(CONFIRM_HYBRID):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete reply within {timeout} s (have {out.hex()})")
        s.settimeout(left)
        try:
            chunk = s.recv(len(CONFIRM_HYBRID) - len(out))
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


def connect(port: int, flight: bytes, src: str = LOOPBACK, echo: bool = True,
            timeout: float = 5.0) -> Attempt:
    """Sends `flight`; with a Confirm back and `echo`, proves the relay with one round trip."""
    s, local_port, connected = _client(src, port, timeout)
    try:
        if not connected:
            return Attempt("closed", local_port)
        try:
            s.sendall(flight)
            reply = _read_reply(s, timeout)
        except (ConnectionResetError, BrokenPipeError):
            return Attempt("closed", local_port)
        if not reply:
            return Attempt("closed", local_port)
        if reply != CONFIRM_HYBRID:
            return Attempt("reply", local_port, reply)
        if not echo:
            return Attempt("confirm", local_port, reply)
        probe = b"ping-%d" % local_port
        s.sendall(probe)
        if _recv_exactly(s, len(probe), timeout) != probe:
            raise AssertionError("the relayed echo differs")
        return Attempt("relayed", local_port, reply)
    finally:
        s.close()


def fail_logon(port: int, user: str, src: str, timeout: float = 5.0) -> Attempt:
    """One refused NLA logon against a `fail` backend, as the client sees it."""
    s, local_port, connected = _client(src, port, timeout)
    try:
        if not connected:
            return Attempt("closed", local_port)
        try:
            s.sendall(connection_request(user))
            reply = _read_reply(s, timeout)
        except (ConnectionResetError, BrokenPipeError):
            return Attempt("closed", local_port)
        if reply != CONFIRM_HYBRID:
            return Attempt("closed" if not reply else "reply", local_port, reply)
        s.sendall(b"\x16" * FAIL_CLIENT_BYTES)
        got = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # until the server hangs up
            s.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = s.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        if got != FAIL_SERVER_BYTES:
            raise AssertionError(f"the failing backend's {FAIL_SERVER_BYTES} bytes arrived as {got}")
        return Attempt("confirm", local_port, reply)
    finally:
        s.close()


def audit_of(gw: "peers.Gateway", attempt: Attempt, timeout: float = 5.0) -> dict:
    """The audit record of the connection made from `attempt.local_port`."""
    return gw.wait_audit(1, timeout, where=lambda r: r.get("src_port") == attempt.local_port)[0]


# ---------------------------------------------------------------------------------------------
# Gateway configs and the CLI


def config(listeners: str, routes: str, *, bruteforce: str = "{enabled: false}",
           extra: str = "", state: str = "{state_dir}") -> str:
    """A complete config: loopback port 0 everywhere, JSON logs, no per-source limits (all
    tests connect often from a few addresses), admin token from RDPGATE_ADMIN_TOKEN. `state`
    defaults to the private directory peers.Gateway creates."""
    state_yaml = '"{state_dir}"' if state == "{state_dir}" else peers.yaml_quote(state)
    return ("allow_root: true\n"
            "workers: 2\n"
            f"listeners:\n{listeners}"
            f"routes:\n{routes}"
            "sources: {per_source: {max_connections: 0, rate: \"0/s\"}}\n"
            "inspection: {timeout: 5s}\n"
            "session: {idle_timeout: 60s}\n"
            "shutdown: {drain_timeout: 1s}\n"
            f"bruteforce: {bruteforce}\n"
            "metrics: {address: \"127.0.0.1:0\"}\n"
            f"admin: {{address: \"127.0.0.1:0\", token_env: {TOKEN_ENV}}}\n"
            f"state: {{path: {state_yaml}}}\n"
            "logging: {level: info, format: json}\n"
            f"{extra}")


def listener(name: str, route: str | None = None, extra: str = "") -> str:
    text = f'  - name: {name}\n    address: "127.0.0.1:0"\n'
    if route:
        text += f"    route: {route}\n"
    return text + extra


def route(name: str, backend: Backend, extra: str = "") -> str:
    return f'  - name: {name}\n    backends: ["{backend.address}"]\n{extra}'


def start_gateway(test: unittest.TestCase, text: str, listeners: int = 1) -> "peers.Gateway":
    gw = peers.Gateway(binary(), text, env={TOKEN_ENV: ADMIN_TOKEN})
    test.addCleanup(gw.cleanup)
    gw.start(expected_listeners=listeners)
    return gw


def api(gw: "peers.Gateway", method: str, path: str, body: dict | None = None) -> tuple[int, str]:
    return gw.http(method, path, body=body, token=ADMIN_TOKEN)


def admin_address(gw: "peers.Gateway") -> str:
    assert gw.admin is not None
    return f"{gw.admin[0]}:{gw.admin[1]}"


def cli(gw: "peers.Gateway | None", *args: str, token: str | None = ADMIN_TOKEN,
        timeout: float = 15.0) -> subprocess.CompletedProcess:
    """`rdpgate ARGS --admin <gw's admin address>`, the token in RDPGATE_ADMIN_TOKEN."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    argv = [binary(), *args]
    if gw is not None:
        argv += ["--admin", admin_address(gw)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def metric(gw: "peers.Gateway", name: str, labels: dict[str, str] | None = None) -> float:
    value = gw.metric(name, labels)
    return 0.0 if value is None else value


def wait_metric(gw: "peers.Gateway", name: str, expected: float,
                labels: dict[str, str] | None = None, timeout: float = 5.0) -> float:
    """Polls until the sample equals `expected` (gauges are refreshed every second); returns
    the last value for the caller to assert on."""
    deadline = time.monotonic() + timeout
    while True:
        value = metric(gw, name, labels)
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def main() -> int:
    return peers.main()
