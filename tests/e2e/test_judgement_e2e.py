#!/usr/bin/env python3
"""The logon judgement end to end: xfreerdp -> rdpgate -> freerdp-shadow-cli (NLA), judged from
the TLS record stream (README "Brute-force defence", docs/e2e.md).

- Right passwords, +auth-only and full sessions, TLS 1.3 and 1.2 (`+enforce-tlsv1_2`): none
  is counted as a failed logon, nothing is banned, every record says `verdict=accepted`.
- Junk: sessions from 5 sources with cookie `rdpuser` that get the real host's Confirm, send
  junk (the host alerts or closes) and go: `tls_incomplete`, nothing counted, the username is
  not throttled, and `rdpuser` then logs on.
- Wrong passwords and an unknown user: each counted (`auth_failed`, `logon_refused`, evidence
  `verdict=failed`), and the source is banned at `max_failures`.
"""

import os
import socket
import sys

from support import checks, peers, rdp
from support.net import LOOPBACK

RIGHT_LOGONS = int(os.environ.get("RDPGATE_E2E_LOGONS", "50"))
FULL_EVERY = 10          # every 10th right logon is a full session (about 3 s each)
MAX_FAILURES = 4
JUNK_SOURCES = [f"127.0.0.{n}" for n in range(31, 36)]
JUNK_PER_SOURCE = 6


class JudgementEndToEnd(peers.PeersTestCase):
    PROGRAMS = peers.REQUIRED_PROGRAMS + peers.SHADOW_PROGRAMS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        shadow = cls.started(peers.ShadowServer(cls.xvfb.display, mode="nla"))
        cls.gw = cls.gateway_to(shadow.port, (
            f"{{enabled: true, find_time: 10m, max_failures: {MAX_FAILURES}, ban_time: 10m,"
            " username: {max_failures: 10, find_time: 10m, block_time: 10m}}"))

    def connect(self, **kwargs):
        before = len(self.gw.audit())
        result = self.client.run(self.gw.port("public"), **kwargs)
        record = self.gw.wait_audit(before + 1)[before]
        return result, record

    def junk_session(self, src: str, junk: bytes) -> None:
        with socket.create_connection((LOOPBACK, self.gw.port("public")), timeout=10,
                                      source_address=(src, 0)) as s:
            s.sendall(rdp.connection_request(peers.USER, rdp.PROTO_SSL | rdp.PROTO_HYBRID))
            confirm = b""
            while len(confirm) < 19:
                chunk = s.recv(19 - len(confirm))
                self.assertTrue(chunk, "closed before the Confirm")
                confirm += chunk
            s.sendall(junk)
            try:
                while s.recv(4096):  # what the host answers, until it closes
                    pass
            except (ConnectionResetError, TimeoutError):
                pass

    def test_1_right_passwords_never_count(self):
        failures = self.gw.metric("rdpgate_auth_failures_total") or 0
        verdicts = {}
        for i in range(RIGHT_LOGONS):
            full = i % FULL_EVERY == FULL_EVERY - 1
            extra = ["+enforce-tlsv1_2"] if i % 2 else []
            result, record = self.connect(auth_only=not full, kill_after=3 if full else 20,
                                          extra=extra)
            if not full:
                self.assertTrue(result.succeeded, result.describe())
            self.assertEqual(record["outcome"], "completed", record)
            verdict = record["evidence"].split("verdict=")[-1]
            verdicts[verdict] = verdicts.get(verdict, 0) + 1
            self.assertEqual(verdict, "accepted", record)
        self.assertEqual(self.gw.metric("rdpgate_auth_failures_total") or 0, failures)
        self.assertEqual(self.gw.metric("rdpgate_bans_active") or 0, 0)
        print(f"{RIGHT_LOGONS} right-password logons: {verdicts}", file=sys.stderr)

    def test_2_junk_never_counts_nor_throttles_the_username(self):
        failures = self.gw.metric("rdpgate_auth_failures_total") or 0
        before = len(self.gw.audit())
        for src in JUNK_SOURCES:
            for n in range(JUNK_PER_SOURCE):
                junk = (b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00" if n % 2
                        else bytes((i * 37 + n) & 0xFF for i in range(16)))
                self.junk_session(src, junk)
        total = len(JUNK_SOURCES) * JUNK_PER_SOURCE
        records = self.gw.wait_audit(before + total)[before:]
        self.assertEqual({r["outcome"] for r in records}, {"tls_incomplete"}, records[:3])
        self.assertEqual(self.gw.metric("rdpgate_auth_failures_total") or 0, failures)
        self.assertEqual(self.gw.metric("rdpgate_usernames_throttled") or 0, 0)
        result, record = self.connect()
        self.assertTrue(result.succeeded, result.describe())
        self.assertEqual(record["outcome"], "completed", record)

    def test_3_wrong_passwords_count_and_ban_at_max_failures(self):
        failures = self.gw.metric("rdpgate_auth_failures_total") or 0
        cases = [dict(password=peers.WRONG_PASSWORD), dict(user="nosuchuser"),
                 dict(password=peers.WRONG_PASSWORD, extra=["+enforce-tlsv1_2"]),
                 dict(password=peers.WRONG_PASSWORD)]
        self.assertEqual(len(cases), MAX_FAILURES)
        for kwargs in cases:
            result, record = self.connect(**kwargs)
            self.assertFalse(result.auth_only_ok, result.describe())
            self.assertEqual((record["outcome"], record["reason"]), ("auth_failed", "logon_refused"),
                             record)
            self.assertTrue(record["evidence"].endswith("verdict=failed"), record)
        self.assertEqual(self.gw.wait_metric("rdpgate_auth_failures_total", failures + MAX_FAILURES),
                         failures + MAX_FAILURES)
        self.assertEqual(self.gw.wait_metric("rdpgate_bans_active", 1), 1)
        result, record = self.connect()
        self.assertEqual(record["outcome"], "banned", record)


if __name__ == "__main__":
    sys.exit(checks.unittest_main())
