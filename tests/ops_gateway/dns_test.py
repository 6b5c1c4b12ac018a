#!/usr/bin/env python3
"""A DNS server that stops answering never stalls a session (SPEC §7).

rdpgate runs in a private mount namespace (`unshare -m`, root only) whose /etc/resolv.conf
names a DNS server of the test's own on 127.0.0.153:53. It answers A queries for
`ok.rdpgate.test` with 127.0.0.1 until told to go silent, and never answers anything for
`dead.rdpgate.test`, as a DNS server behind a broken link would (the system resolver then
waits its whole timeout, about 10 s, in a call nobody can cancel).

- Route `named` (listener `a`) reaches its host by the name `ok.rdpgate.test`; route `dead`
  (listener `b`) by `dead.rdpgate.test`; both with connect_timeout 1s.
- While the server answers: a session through `a` is relayed.
- A session through `b` ends as backend_unreachable within its connect_timeout (not the
  resolver's 10 s), and sessions through `a` started meanwhile are relayed at once.
- The server goes silent and a reload makes rdpgate look every name up again: the lookup hangs,
  and sessions through `a` keep using the last good answer, each relayed at once.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from support import checks, env, gateway, rdp
from support.backend import FakeBackend
from support.gateway import Gateway
from support.net import LOOPBACK, recv_exactly

DNS_ADDRESS = "127.0.0.153"


class FakeDns:
    """UDP DNS on DNS_ADDRESS:53: A records for `answers`, silence for everything else and for
    everything once `silent` is set. AAAA queries for known names get an empty answer."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.silent = False
        self.queries: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((DNS_ADDRESS, 53))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    @staticmethod
    def _question(packet: bytes) -> tuple[str, int, int]:
        labels, i = [], 12
        while packet[i]:
            labels.append(packet[i + 1:i + 1 + packet[i]].decode())
            i += 1 + packet[i]
        qtype = struct.unpack("!H", packet[i + 1:i + 3])[0]
        return ".".join(labels).lower(), qtype, i + 5

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                packet, peer = self._sock.recvfrom(512)
                name, qtype, end = self._question(packet)
            except (OSError, IndexError, struct.error):
                continue
            self.queries.append(name)
            if self.silent or name not in self.answers:
                continue
            header = packet[:2] + struct.pack("!HHHHH", 0x8180, 1, 0, 0, 0)
            answer = b""
            if qtype == 1:
                header = packet[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0)
                answer = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4)
                          + socket.inet_aton(self.answers[name]))
            self._sock.sendto(header + packet[12:end] + answer, peer)


def session(port: int, timeout: float = 5.0) -> tuple[bool, float]:
    """(relayed, seconds): a Connection Request, the Confirm, one echo."""
    started = time.monotonic()
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
            s.sendall(rdp.connection_request("dnsuser"))
            if recv_exactly(s, len(rdp.CONFIRM_HYBRID), timeout) != rdp.CONFIRM_HYBRID:
                return False, time.monotonic() - started
            s.sendall(b"ping")
            ok = recv_exactly(s, 4, timeout) == b"ping"
    except OSError:
        ok = False
    return ok, time.monotonic() - started


class Dns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if env.rdpgate_bin() is None:
            raise unittest.SkipTest(env.rdpgate_missing())
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            raise unittest.SkipTest("needs root and unshare(1) for a private /etc/resolv.conf")
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=10)
        if probe.returncode != 0:
            raise unittest.SkipTest(f"unshare -m: {probe.stderr.decode().strip()}")

    def setUp(self):
        self.dns = FakeDns({"ok.rdpgate.test": "127.0.0.1"})
        self.addCleanup(self.dns.close)
        self.host = FakeBackend()
        self.addCleanup(self.host.close)
        work = tempfile.mkdtemp(prefix="rdpgate-dns-")
        self.addCleanup(shutil.rmtree, work, True)
        resolv = os.path.join(work, "resolv.conf")
        with open(resolv, "w") as f:
            f.write(f"nameserver {DNS_ADDRESS}\n")
        # The binary, in a mount namespace of its own with that resolv.conf; exec keeps the
        # pid, so signals reach rdpgate itself.
        wrapper = os.path.join(work, "rdpgate-private-dns")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n"
                    "exec unshare -m sh -c 'mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"' "
                    f"{gateway.yaml_quote(resolv)} {gateway.yaml_quote(env.rdpgate_bin())} \"$@\"\n")
        os.chmod(wrapper, 0o755)
        port = self.host.port
        listeners = ('  - {name: a, address: "127.0.0.1:0", route: named}\n'
                     '  - {name: b, address: "127.0.0.1:0", route: dead}\n')
        routes = (f'  - {{name: named, backends: ["ok.rdpgate.test:{port}"], connect_timeout: 1s}}\n'
                  f'  - {{name: dead, backends: ["dead.rdpgate.test:{port}"], connect_timeout: 1s}}\n')
        self.config = gateway.config(
            listeners, routes, sources='{per_source: {max_connections: 0, rate: "0/s"}}',
            bruteforce="{enabled: false}", state="{path: {state_dir}}")
        self.gw = Gateway(self.config, binary=wrapper)
        self.addCleanup(self.gw.cleanup)
        self.gw.start(listeners=2)

    def test_a_dead_dns_server_never_stalls_a_session(self):
        ok, seconds = session(self.gw.port("a"))
        self.assertTrue(ok, "the first session through a name that resolves")

        # A name the server never answers: bounded by connect_timeout, and nobody waits on it.
        results: dict[str, tuple[bool, float]] = {}
        dead = threading.Thread(target=lambda: results.update(dead=session(self.gw.port("b"))))
        dead.start()
        time.sleep(0.2)
        for i in range(5):
            ok, seconds = session(self.gw.port("a"))
            self.assertTrue(ok and seconds < 0.5, f"session {i} beside a hung lookup: {seconds}")
        dead.join(15)
        ok, seconds = results["dead"]
        self.assertFalse(ok)
        self.assertLess(seconds, 2.5, "connect_timeout (1s) bounds the whole connect")
        print(f"a name the DNS server never answers: backend_unreachable after {seconds:.2f} s")
        record = self.gw.wait_event(lambda e: e.get("event") == "connection"
                                    and e.get("listener") == "b", 5, "the dead route's record")
        self.assertEqual((record["outcome"], record["reason"]),
                         ("backend_unreachable", "connect_failed"), record)

        # The server goes silent; a reload looks every name up again, and that lookup hangs.
        self.dns.silent = True
        asked = len(self.dns.queries)
        self.gw.reload()
        deadline = time.monotonic() + 5
        while len(self.dns.queries) == asked and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreater(len(self.dns.queries), asked, "no lookup after the reload")
        for i in range(5):
            ok, seconds = session(self.gw.port("a"))
            self.assertTrue(ok and seconds < 0.5, f"session {i} with DNS silent: {seconds}")


if __name__ == "__main__":
    raise SystemExit(checks.unittest_main())
