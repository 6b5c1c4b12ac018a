#!/usr/bin/env python3
"""Brute-force defence end to end: xfreerdp -> rdpgate -> freerdp-shadow-cli (NLA only).

k wrong passwords are inferred as failed logons (`auth_failed`) and ban the source; the next
attempt is refused at admission (`banned`, `rdpgate_bans_active` 1) without reaching the
backend; `DELETE /v1/bans/127.0.0.1_32` lifts the ban and the right password works again.
Skipped while the gateway has no admin API for bans.
"""

import json
import sys
import unittest

from support import checks, peers

MAX_FAILURES = 3


class BruteforceEndToEnd(peers.PeersTestCase):
    PROGRAMS = peers.REQUIRED_PROGRAMS + peers.SHADOW_PROGRAMS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shadow = cls.started(peers.ShadowServer(cls.xvfb.display, mode="nla"))
        cls.relay = cls.started(peers.RecordingRelay(cls.shadow.port))
        cls.gw = cls.gateway_to(cls.relay.port, (
            f"{{enabled: true, find_time: 10m, max_failures: {MAX_FAILURES}, ban_time: 10m}}"))
        if cls.gw.admin_address is None:
            raise unittest.SkipTest("rdpgate serves no admin API yet (no `admin` line)")
        status, _ = cls.gw.http("GET", "/v1/bans", token=peers.ADMIN_TOKEN)
        if status == 404:
            raise unittest.SkipTest("rdpgate's admin API has no /v1/bans yet")

    def connect(self, **kwargs):
        before = len(self.gw.audit())
        result = self.client.run(self.gw.port("public"), **kwargs)
        records = self.gw.wait_audit(before + 1)[before:]
        return result, records

    def bans(self) -> list[dict]:
        status, body = self.gw.http("GET", "/v1/bans", token=peers.ADMIN_TOKEN)
        self.assertEqual(status, 200, body)
        value = json.loads(body)
        self.assertIsInstance(value, list, body)
        return value

    def test_failures_ban_then_unban_restores_access(self):
        self.assertEqual(self.gw.metric("rdpgate_bans_active"), 0)
        self.assertEqual(self.bans(), [])

        # k wrong passwords: each reaches shadow, fails inside CredSSP, and is counted.
        for attempt in range(MAX_FAILURES):
            result, records = self.connect(password=peers.WRONG_PASSWORD)
            self.assertFalse(result.auth_only_ok, result.describe())
            self.assertEqual([r["outcome"] for r in records], ["auth_failed"],
                             f"attempt {attempt}: {records}\n{self.gw.log_tail()}")
        self.assertEqual(self.relay.accepted, MAX_FAILURES)
        self.assertEqual(self.gw.wait_metric("rdpgate_auth_failures_total", MAX_FAILURES),
                         MAX_FAILURES)
        self.assertEqual(self.gw.wait_metric("rdpgate_bans_active", 1), 1)

        # Banned: even the right password is refused at admission, before any byte is read.
        result, records = self.connect()
        self.assertFalse(result.succeeded, result.describe())
        self.assertTrue(records, "no audit record for the banned attempt")
        for record in records:
            self.assertEqual(record["outcome"], "banned", record)
        self.assertEqual(self.relay.accepted, MAX_FAILURES, "a banned client reached shadow")
        self.assertGreaterEqual(self.gw.metric("rdpgate_bans_total", {"origin": "auto"}) or 0, 1)
        self.assertGreaterEqual(
            self.gw.metric("rdpgate_connections_total", {"listener": "public", "outcome": "banned"})
            or 0, 1)
        bans = self.bans()
        self.assertEqual([b["cidr"] for b in bans], ["127.0.0.1/32"], bans)
        self.assertEqual(bans[0]["origin"], "auto", bans)

        # The admin API wants its token.
        status, _ = self.gw.http("DELETE", "/v1/bans/127.0.0.1_32")
        self.assertEqual(status, 401)
        status, _ = self.gw.http("DELETE", "/v1/bans/127.0.0.1_32", token="not-the-token")
        self.assertEqual(status, 401)
        self.assertEqual(self.gw.metric("rdpgate_bans_active"), 1)

        # Unban: the right password works again.
        status, body = self.gw.http("DELETE", "/v1/bans/127.0.0.1_32", token=peers.ADMIN_TOKEN)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.bans(), [])
        self.assertEqual(self.gw.wait_metric("rdpgate_bans_active", 0), 0)
        result, records = self.connect()
        self.assertTrue(result.succeeded, f"{result.describe()}\n{self.gw.log_tail()}")
        self.assertEqual([r["outcome"] for r in records], ["completed"], records)
        self.assertEqual(self.relay.accepted, MAX_FAILURES + 1)


if __name__ == "__main__":
    sys.exit(checks.unittest_main())
