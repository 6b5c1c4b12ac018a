"""Shared pieces of rdpgate's access-control tests (Python 3 standard library only).

The real `rdpgate` binary (RDPGATE_BIN) runs through support.gateway, which starts
`rdpgate run` on a generated config, learns the ports from the ready lines and collects the
JSON audit records from stderr; the fake RDP hosts are support.backend.FakeBackend (`fail`
mode plays a refused NLA logon). This module adds what the brute-force, just-in-time, token
and state tests need on top:

- `attempt`-style clients: one connection from a chosen loopback source address (127.0.0.0/8 is
  all loopback on Linux) and its audit record, matched by the client's source port;
- `config()`, `listener()`, `route()`: the configs these tests give the gateway;
- `cli()`: the admin subcommands of the binary against a running gateway.

Every wait has a timeout; traffic stays on loopback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import unittest

from support import checks, env, gateway, rdp, tls
from support.backend import FakeBackend
from support.gateway import TOKEN_ENV, Gateway
from support.net import LOOPBACK, recv_exactly
from support.rdp import CONFIRM_HYBRID, preconnection_pdu

ADMIN_TOKEN = "access-admin-token-3c9e51d07a2b4f68"

__all__ = ["CONFIRM_HYBRID", "FakeBackend", "preconnection_pdu", "recv_exactly"]

binary = env.rdpgate_bin
main = checks.unittest_main


class AccessTestCase(unittest.TestCase):
    """Skips the whole class when the binary is not there."""

    @classmethod
    def setUpClass(cls):
        if binary() is None:
            raise unittest.SkipTest(env.rdpgate_missing())


def connection_request(user: str | None = "accessuser", token_line: str | None = None,
                       protocols: int = rdp.PROTO_SSL | rdp.PROTO_HYBRID) -> bytes:
    return rdp.connection_request(user, protocols, token_line=token_line)


# ---------------------------------------------------------------------------------------------
# Clients from chosen loopback source addresses


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
        if recv_exactly(s, len(probe), timeout) != probe:
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
        tls.play(s, "c", tls.FAILED_LOGON, timeout)
        s.settimeout(timeout)
        if s.recv(1) != b"":  # the host hangs up after its error reply
            raise AssertionError("the failing backend sent more than a refused logon")
        return Attempt("confirm", local_port, reply)
    finally:
        s.close()


def audit_of(gw: Gateway, attempt: Attempt, timeout: float = 5.0) -> dict:
    """The audit record of the connection made from `attempt.local_port`."""
    return gw.audit_record(attempt.local_port, timeout)


# ---------------------------------------------------------------------------------------------
# Gateway configs and the CLI


def config(listeners: str, routes: str, *, bruteforce: str = "{enabled: false}",
           extra: str = "", state: str = "{state_dir}", state_required: bool = True,
           sources: str = '{per_source: {max_connections: 0, rate: "0/s"}}',
           redis: str | None = None) -> str:
    """A complete config: loopback port 0 everywhere, JSON logs, no per-source limits unless
    `sources` sets them (most tests connect often from a few addresses), admin token from
    RDPGATE_ADMIN_TOKEN. `state` defaults to the gateway's private state directory;
    `state_required=False` writes `required: false` beside it; `redis` is state.redis."""
    required = "" if state_required else ", required: false"
    if redis is not None:
        required += f", redis: {redis}"
    return gateway.config(listeners, routes, extra, bruteforce=bruteforce,
                          sources=sources, inspection="{timeout: 5s}", session="{idle_timeout: 60s}",
                          shutdown="{drain_timeout: 1s}",
                          state=f"{{path: {gateway.yaml_quote(state)}{required}}}")


def listener(name: str, route: str | None = None, extra: str = "") -> str:
    text = f'  - name: {name}\n    address: "127.0.0.1:0"\n'
    if route:
        text += f"    route: {route}\n"
    return text + extra


def route(name: str, backend: FakeBackend, extra: str = "") -> str:
    return f'  - name: {name}\n    backends: ["{backend.address}"]\n{extra}'


def start_gateway(test: unittest.TestCase, text: str, listeners: int = 1) -> Gateway:
    gw = Gateway(text, admin_token=ADMIN_TOKEN)
    test.addCleanup(gw.cleanup)
    gw.start(listeners=listeners)
    return gw


def refused_start(test: unittest.TestCase, text: str, timeout: float = 15.0) -> tuple[int, str]:
    """Runs `rdpgate run` on `text`, expecting it to refuse to start: (exit status, stderr)."""
    gw = Gateway(text, admin_token=ADMIN_TOKEN)
    test.addCleanup(gw.cleanup)
    gw.start(wait_ready=False)
    code = gw.wait_exit(timeout)
    gw.stop()  # joins the readers: every stderr line is in
    return code, "\n".join(gw.stderr_lines)


def api(gw: Gateway, method: str, path: str, body: dict | None = None) -> tuple[int, str]:
    return gw.admin(method, path, body)


def cli(gw: Gateway | None, *args: str, token: str | None = ADMIN_TOKEN,
        timeout: float = 15.0) -> subprocess.CompletedProcess:
    """`rdpgate ARGS --admin <gw's admin address>`, the token in RDPGATE_ADMIN_TOKEN."""
    env_vars = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env_vars[TOKEN_ENV] = token
    argv = [binary(), *args]
    if gw is not None:
        argv += ["--admin", "%s:%d" % gw.addr("admin")]
    return subprocess.run(argv, env=env_vars, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def metric(gw: Gateway, name: str, labels: dict[str, str] | None = None) -> float:
    return gw.metric(name, labels, default=0.0)


def wait_metric(gw: Gateway, name: str, expected: float,
                labels: dict[str, str] | None = None, timeout: float = 5.0) -> float:
    """Polls until the sample equals `expected` (gauges are refreshed every second); returns
    the last value for the caller to assert on."""
    return gw.wait_metric(name, expected, labels, timeout, default=0.0)

