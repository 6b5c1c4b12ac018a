#!/usr/bin/env python3
"""A slow disk never freezes a session (docs/faults.md "A slow disk").

Every fsync and fdatasync of the running rdpgate takes 1.5 s more (strace attached with
`inject=fsync,fdatasync:delay_enter=1500000`), with one worker thread, so every session shares
the thread that once wrote the state store:

- failed logons (a `fail` host, `max_failures: 1`) each make a ban, whose write waits on the
  disk; meanwhile every handshake through another listener completes at once, and the bans are
  enforced at once;
- a signed token's first use must be durable before the session goes on: that session waits
  for the disk, the other sessions on the same worker do not;
- an operator's ban is acknowledged by the admin API only once it is on disk.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time

import access_lib as lib
import tokens_test
from support import gateway, procs

REQUEST = lib.connection_request("diskuser")
DELAY = 1.5  # seconds added to each fsync


class SlowDisk(lib.AccessTestCase):
    def setUp(self):
        keys = tempfile.mkdtemp(prefix="rdpgate-slow-disk-keys-")
        self.addCleanup(shutil.rmtree, keys, True)
        self.fail_host = lib.FakeBackend(mode="fail")
        self.addCleanup(self.fail_host.close)
        self.host = lib.FakeBackend()
        self.addCleanup(self.host.close)
        self.gw = lib.start_gateway(self, gateway.config(
            lib.listener("fail", "fail") + lib.listener("ok", "ok"),
            lib.route("fail", self.fail_host) + lib.route("ok", self.host),
            tokens_test.make_keys(keys), workers=1,
            sources='{per_source: {max_connections: 0, rate: "0/s"}}',
            bruteforce="{max_failures: 1, prefix_ban: {threshold: 0}}",
            inspection="{timeout: 5s}", state="{path: {state_dir}}"), listeners=2)

    def handshake(self) -> float:
        started = time.monotonic()
        attempt = lib.connect(self.gw.port("ok"), REQUEST, timeout=10)
        self.assertEqual(attempt.result, "relayed", attempt)
        return time.monotonic() - started

    def test_sessions_never_wait_for_the_disk(self):
        self.assertLess(self.handshake(), 0.5)
        token = tokens_test.issue(self.gw.config_path, "ok")
        with procs.strace_inject(self.gw.proc.pid, "fsync,fdatasync",
                               f"delay_enter={int(DELAY * 1e6)}"):
            # Three failed logons, three bans to write (each write waits 1.5 s per fsync).
            for i in range(3):
                attempt = lib.fail_logon(self.gw.port("fail"), f"u{i}", f"127.0.0.{91 + i}")
                self.assertEqual(attempt.result, "confirm", attempt)
            # A token's first use waits for its write; run it beside the handshakes.
            token_time: list[float] = []
            def use_token() -> None:
                started = time.monotonic()
                attempt = lib.connect(self.gw.port("ok"), lib.preconnection_pdu(token) + REQUEST,
                                      timeout=20)
                self.assertEqual(attempt.result, "relayed", attempt)
                token_time.append(time.monotonic() - started)
            user = threading.Thread(target=use_token)
            user.start()
            times = [self.handshake() for _ in range(10)]
            self.assertLess(max(times), 0.5, f"handshakes while the disk is slow: {times}")
            print(f"handshakes with fsync +{DELAY} s: max {max(times) * 1000:.1f} ms, "
                  f"median {sorted(times)[len(times) // 2] * 1000:.1f} ms")
            # The bans hold at once, whatever the disk.
            for i in range(3):
                attempt = lib.connect(self.gw.port("ok"), REQUEST, src=f"127.0.0.{91 + i}")
                self.assertEqual(attempt.result, "closed", attempt)
            user.join(30)
            self.assertEqual(len(token_time), 1, "the token session did not finish")
            self.assertGreater(token_time[0], DELAY * 0.8, "a token use acknowledged before "
                               "it was durable")
            print(f"the token session: {token_time[0]:.2f} s")
            # An operator's ban: acknowledged after its commit.
            started = time.monotonic()
            status, body = lib.api(self.gw, "POST", "/v1/bans",
                                   {"cidr": "198.51.100.0/24", "duration": "1h", "reason": "x"})
            self.assertEqual(status, 201, body)
            self.assertGreater(time.monotonic() - started, DELAY * 0.8)
        self.assertLess(self.handshake(), 0.5)


if __name__ == "__main__":
    raise SystemExit(lib.main())
