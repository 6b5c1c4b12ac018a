#!/usr/bin/env python3
"""Brute-force defence through the real rdpgate binary, with failed logons played by a fake host.

The fake host selects HYBRID (CredSSP) in its Confirm, reads ~1 KiB from the client, sends
~1.9 KiB and hangs up: the shape of a refused NLA logon measured against real peers (README
"Brute-force defence"), which rdpgate's inference counts as a failure (`auth_failed`).

- Password spray (`bruteforce.username.max_failures: 3`): after 3 failures for one username from
  3 sources, that username is refused (`banned`, reason `username_throttled`) even from a fresh
  source, before any backend is contacted; other usernames still pass.
- Per source (`max_failures: 3`): the 4th connection from the source is refused at admission
  (`banned`); `rdpgate_bans_active` 1, `rdpgate_auth_failures_total` 3, the automatic ban is
  listed by the admin API; an `exempt` range is never banned.
"""

import json

import access_lib as lib


class BruteForce(lib.AccessTestCase):
    def setUp(self):
        self.backend = lib.FakeBackend(mode="fail")
        self.addCleanup(self.backend.close)

    def gateway(self, bruteforce: str):
        return lib.start_gateway(self, lib.config(lib.listener("main", "main"),
                                                  lib.route("main", self.backend),
                                                  bruteforce=bruteforce))

    def fail(self, gw, user: str, src: str) -> dict:
        before = self.backend.count()
        attempt = lib.fail_logon(gw.port("main"), user, src)
        self.assertEqual(attempt.result, "confirm", attempt)
        self.assertEqual(self.backend.count(), before + 1)
        record = lib.audit_of(gw, attempt)
        self.assertEqual((record["outcome"], record["selected"], record["user"]),
                         ("auth_failed", "hybrid", user), record)
        return record

    def refused(self, gw, user: str, src: str) -> dict:
        before = self.backend.count()
        attempt = lib.connect(gw.port("main"), lib.connection_request(user), src=src)
        self.assertEqual(attempt.result, "closed", attempt)
        self.assertEqual(self.backend.count(), before, "a refused client reached the backend")
        return lib.audit_of(gw, attempt)

    def test_password_spray_blocks_the_username(self):
        gw = self.gateway("{enabled: true, max_failures: 100, "
                          "username: {max_failures: 3, find_time: 10m, block_time: 15m}}")
        for src in ("127.0.0.91", "127.0.0.92", "127.0.0.93"):
            self.fail(gw, "victim", src)
        record = self.refused(gw, "victim", "127.0.0.94")
        self.assertEqual((record["phase"], record["outcome"], record["reason"]),
                         ("policy", "banned", "username_throttled"), record)
        self.assertEqual(record["src"], "127.0.0.94", record)
        # Another username from the same fresh source still reaches the host.
        self.fail(gw, "someone-else", "127.0.0.94")
        self.assertEqual(lib.wait_metric(gw, "rdpgate_auth_failures_total", 4), 4)
        # No source was banned: only the username is throttled.
        self.assertEqual(lib.metric(gw, "rdpgate_bans_active"), 0)
        self.assertEqual(lib.metric(gw, "rdpgate_connections_total",
                                    {"listener": "main", "outcome": "banned"}), 1)

    def test_spray_throttles_strangers_never_exempt_sources(self):
        # Wrong passwords for one username from 10 sources: the throttle engages for any
        # further non-exempt source, while the user still reaches the host from an exempt one.
        gw = self.gateway("{enabled: true, max_failures: 100, exempt: [\"127.0.0.128/25\"], "
                          "username: {max_failures: 10, find_time: 10m, block_time: 15m}}")
        for n in range(10):
            self.fail(gw, "sprayed", f"127.0.0.{60 + n}")
        self.assertEqual(lib.wait_metric(gw, "rdpgate_usernames_throttled", 1), 1)
        record = self.refused(gw, "sprayed", "127.0.0.75")
        self.assertEqual((record["outcome"], record["reason"]), ("banned", "username_throttled"),
                         record)
        record = self.fail(gw, "sprayed", "127.0.0.140")  # exempt: reaches the host
        self.assertEqual(record["src"], "127.0.0.140", record)

    def test_source_ban_and_exempt_range(self):
        gw = self.gateway("{enabled: true, max_failures: 3, find_time: 10m, ban_time: 15m, "
                          "exempt: [\"127.0.0.128/25\"], username: {max_failures: 0}}")
        for user in ("u1", "u2", "u3"):
            self.fail(gw, user, "127.0.0.21")
        record = self.refused(gw, "u4", "127.0.0.21")
        self.assertEqual((record["phase"], record["outcome"]), ("admission", "banned"), record)
        self.assertEqual(lib.wait_metric(gw, "rdpgate_bans_active", 1), 1)
        self.assertEqual(lib.metric(gw, "rdpgate_auth_failures_total"), 3)
        status, body = lib.api(gw, "GET", "/v1/bans")
        self.assertEqual(status, 200, body)
        bans = json.loads(body)
        self.assertEqual([(b["cidr"], b["origin"]) for b in bans], [("127.0.0.21/32", "auto")], bans)
        # A neighbour is not affected.
        self.fail(gw, "u1", "127.0.0.22")
        # An exempt source fails more often than max_failures and is never banned.
        for user in ("e1", "e2", "e3", "e4"):
            self.fail(gw, user, "127.0.0.130")
        self.fail(gw, "e5", "127.0.0.130")
        self.assertEqual(lib.metric(gw, "rdpgate_bans_active"), 1)
        status, body = lib.api(gw, "GET", "/v1/bans")
        self.assertEqual([b["cidr"] for b in json.loads(body)], ["127.0.0.21/32"], body)


if __name__ == "__main__":
    raise SystemExit(lib.main())
