#!/usr/bin/env python3
"""Observe mode (`observe_only`) through the real rdpgate binary, one test per section.

- `sources.observe_only`: a deny-listed source, a source outside the allow list, a source over
  its rate and over its concurrency cap are all relayed; each connection's audit record lists
  what would have refused it (`observed`), and rdpgate_observed_refusals_total counts it under
  the outcome it would have had. A listener that overrides `observe_only: false` enforces the
  same list.
- `inspection.observe_only`: a denied username and a client that does not offer CredSSP are
  relayed; bytes that are not RDP at all are forwarded verbatim to the host, as a plain TCP
  proxy would.
- `bruteforce.observe_only`: failed logons are judged and counted, the ban they complete is
  listed by the admin API as `observed` and never enforced (the source still reaches the host,
  counted as `banned`); the username throttle likewise; an operator's manual ban still refuses.
"""

from __future__ import annotations

import json
import socket

import access_lib as lib
from support import gateway, rdp
from support.net import LOOPBACK, recv_exactly

OBSERVED = "rdpgate_observed_refusals_total"


def observed_metric(gw, reason: str, listener: str = "main") -> float:
    return lib.metric(gw, OBSERVED, {"listener": listener, "reason": reason})


class ObserveMode(lib.AccessTestCase):
    def backend(self, mode: str = "echo") -> lib.FakeBackend:
        backend = lib.FakeBackend(mode=mode)
        self.addCleanup(backend.close)
        return backend

    def start(self, listeners: str, routes: str, **sections: str) -> gateway.Gateway:
        values = dict(sources='{per_source: {max_connections: 0, rate: "0/s"}}',
                      inspection="{timeout: 5s}", bruteforce="{enabled: false}",
                      session="{idle_timeout: 60s}", shutdown="{drain_timeout: 1s}",
                      state="{path: {state_dir}}")
        values.update(sections)
        return lib.start_gateway(self, gateway.config(listeners, routes, **values),
                                 listeners=listeners.count("- name:"))

    def relayed(self, gw, src: str, flight: bytes | None = None, listener: str = "main") -> dict:
        attempt = lib.connect(gw.port(listener), flight or lib.connection_request(), src=src)
        self.assertEqual(attempt.result, "relayed", attempt)
        record = lib.audit_of(gw, attempt)
        # Relayed to its end (an echo is no TLS handshake: the judgement says tls_incomplete).
        self.assertEqual(record["phase"], "relay", record)
        self.assertIn(record["outcome"], ("completed", "tls_incomplete"), record)
        return record

    def test_sources(self):
        backend = self.backend()
        gw = self.start(
            lib.listener("main", "main")
            + lib.listener("strict", "main", "    sources: {observe_only: false}\n"),
            lib.route("main", backend),
            sources='{observe_only: true, allow: ["127.0.0.0/24"], deny: ["127.0.0.66/32"], '
                    'per_source: {max_connections: 2, rate: "1/min", burst: 3}}')
        # Deny list: relayed, with the would-be refusal on its record.
        record = self.relayed(gw, "127.0.0.66")
        self.assertEqual(record["observed"], "denied_source:deny_list", record)
        # Outside the allow list.
        record = self.relayed(gw, "127.0.1.5")
        self.assertEqual(record["observed"], "denied_source:allow_list", record)
        # Over the rate (burst 3): the fourth connection from one source.
        self.assertEqual(self.relayed(gw, "127.0.0.67")["observed"], "", "first one is clean")
        self.relayed(gw, "127.0.0.67")
        self.relayed(gw, "127.0.0.67")
        record = self.relayed(gw, "127.0.0.67")
        # (The first one's slot may not be released yet: then the cap would refuse it too.)
        self.assertTrue(record["observed"].startswith("rate_limited:rate_limited"), record)
        # Over the per-source cap (2) while two connections from it are open.
        held = []
        for _ in range(2):
            s = socket.create_connection((LOOPBACK, gw.port("main")), timeout=5,
                                         source_address=("127.0.0.68", 0))
            self.addCleanup(s.close)
            s.sendall(lib.connection_request())
            self.assertEqual(recv_exactly(s, len(lib.CONFIRM_HYBRID), 5), lib.CONFIRM_HYBRID)
            held.append(s)
        record = self.relayed(gw, "127.0.0.68")
        self.assertEqual(record["observed"], "too_many_connections:per_source_limit", record)
        for s in held:
            s.close()

        for reason, count in (("denied_source", 2), ("rate_limited", 1),
                              ("too_many_connections", 1)):
            self.assertEqual(observed_metric(gw, reason), count, reason)
        self.assertEqual(lib.metric(gw, "rdpgate_connections_total",
                                    {"listener": "main", "outcome": "denied_source"}), 0)
        # The listener that enforces: the same deny list refuses, before the host is reached.
        before = backend.count()
        attempt = lib.connect(gw.port("strict"), lib.connection_request(), src="127.0.0.66")
        self.assertEqual(attempt.result, "closed", attempt)
        self.assertEqual(backend.count(), before)
        record = lib.audit_of(gw, attempt)
        self.assertEqual((record["outcome"], record["reason"]), ("denied_source", "deny_list"))
        self.assertEqual(observed_metric(gw, "denied_source", "strict"), 0)

    def test_inspection(self):
        backend = self.backend()
        raw = self.backend("raw")
        gw = self.start(
            lib.listener("main", "main")
            + lib.listener("raw", "raw", "    inspection: {observe_only: true}\n"),
            lib.route("main", backend) + lib.route("raw", raw),
            inspection="{observe_only: true, timeout: 5s, usernames: {deny: [mallory]}}")
        record = self.relayed(gw, "127.0.0.71", lib.connection_request("mallory"))
        self.assertEqual(record["observed"], "username_denied:deny", record)
        self.assertEqual(backend.users[-1], "mallory")
        # TLS only (no CredSSP offered): the protocol requirement would refuse it.
        record = self.relayed(gw, "127.0.0.71", lib.connection_request("bob", protocols=rdp.PROTO_SSL))
        self.assertEqual(record["observed"], "protocol_not_allowed:protocol_not_offered", record)
        self.assertEqual(observed_metric(gw, "username_denied"), 1)
        self.assertEqual(observed_metric(gw, "protocol_not_allowed"), 1)

        # Not RDP at all: forwarded verbatim and relayed both ways.
        junk = b"GET / HTTP/1.1\r\nHost: rdp\r\n\r\n"
        with socket.create_connection((LOOPBACK, gw.port("raw")), timeout=5,
                                      source_address=("127.0.0.72", 0)) as s:
            local_port = s.getsockname()[1]
            s.sendall(junk)
            self.assertEqual(recv_exactly(s, len(junk), 5), junk)
            s.sendall(b"more")
            self.assertEqual(recv_exactly(s, 4, 5), b"more")
        record = gw.audit_record(local_port, 5)
        self.assertEqual(record["outcome"], "completed", record)
        self.assertTrue(record["observed"].startswith("not_rdp:"), record)
        self.assertEqual(bytes(raw.raw_bytes), junk + b"more")
        self.assertEqual(observed_metric(gw, "not_rdp", "raw"), 1)

    def test_bruteforce(self):
        backend = self.backend("fail")
        gw = self.start(
            lib.listener("main", "main"), lib.route("main", backend),
            bruteforce="{observe_only: true, max_failures: 2, prefix_ban: {threshold: 0}, "
                       "username: {max_failures: 3}}")
        for _ in range(2):
            attempt = lib.fail_logon(gw.port("main"), "alice", "127.0.0.81")
            self.assertEqual(attempt.result, "confirm", attempt)
            self.assertEqual(lib.audit_of(gw, attempt)["outcome"], "auth_failed")
        self.assertEqual(lib.wait_metric(gw, "rdpgate_auth_failures_total", 2), 2)
        status, body = lib.api(gw, "GET", "/v1/bans")
        self.assertEqual(status, 200, body)
        bans = json.loads(body)
        self.assertEqual([(b["cidr"], b["origin"], b["observed"]) for b in bans],
                         [("127.0.0.81/32", "auto", True)], bans)
        self.assertEqual(lib.metric(gw, "rdpgate_bans_active"), 0)
        # Not enforced: the source reaches the host, counted as the ban it would have met.
        before = backend.count()
        attempt = lib.fail_logon(gw.port("main"), "carol", "127.0.0.81")
        self.assertEqual(attempt.result, "confirm", attempt)
        self.assertEqual(backend.count(), before + 1)
        self.assertEqual(lib.audit_of(gw, attempt)["observed"], "banned:ban")
        self.assertEqual(observed_metric(gw, "banned"), 1)
        # The username throttle (3 failures of "alice"): evaluated, not enforced.
        lib.fail_logon(gw.port("main"), "alice", "127.0.0.82")
        self.assertEqual(lib.wait_metric(gw, "rdpgate_auth_failures_total", 4), 4)  # judged
        attempt = lib.fail_logon(gw.port("main"), "alice", "127.0.0.83")
        self.assertEqual(attempt.result, "confirm", attempt)
        self.assertEqual(lib.audit_of(gw, attempt)["observed"], "banned:username_throttled")
        # An operator's manual ban is enforced all the same.
        status, body = lib.api(gw, "POST", "/v1/bans",
                               {"cidr": "127.0.0.84/32", "duration": "10m", "reason": "manual"})
        self.assertEqual(status, 201, body)
        before = backend.count()
        attempt = lib.connect(gw.port("main"), lib.connection_request(), src="127.0.0.84")
        self.assertEqual(attempt.result, "closed", attempt)
        self.assertEqual(backend.count(), before)
        self.assertEqual(lib.audit_of(gw, attempt)["outcome"], "banned")


if __name__ == "__main__":
    raise SystemExit(lib.main())
