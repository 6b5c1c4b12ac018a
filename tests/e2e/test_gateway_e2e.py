#!/usr/bin/env python3
"""xfreerdp -> rdpgate -> real RDP servers, on loopback.

- NLA to freerdp-shadow-cli (`+sec-nla`: NLA, TLS and RDP offered) completes; the audit record says `selected: hybrid`.
- TLS to xrdp completes on a listener that allows it (`require_protocols: [ssl, hybrid,
  hybrid_ex]`); the audit record says `selected: ssl`.
- A `/sec:tls` client on the default (NLA-only) listener is refused by rdpgate itself with
  HYBRID_REQUIRED_BY_SERVER, and a `/sec:rdp` client (no RDP_NEG_REQ) is refused too; neither
  reaches a backend: every backend sits behind a recording relay that counts connections.
- `/pcb:` is consumed by rdpgate (not forwarded by default), so freerdp-shadow, which closes on a
  Preconnection PDU, still completes the logon.
- A wrong NLA password ends as `auth_failed`; a right one as `completed`.
"""

import json
import sys

from support import checks, peers

def _protocols(value) -> str:
    """`requested` may be written as a list, a string or a number: normalise for `in` checks."""
    return json.dumps(value).lower()


class GatewayEndToEnd(peers.PeersTestCase):
    PROGRAMS = peers.REQUIRED_PROGRAMS + peers.SHADOW_PROGRAMS + peers.XRDP_PROGRAMS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # `+sec-nla`: shadow itself would accept TLS and standard RDP, so a `/sec:tls` or
        # `/sec:rdp` client that fails here was refused by rdpgate, not by the backend.
        cls.shadow = cls.started(peers.ShadowServer(cls.xvfb.display, mode="any"))
        cls.xrdp = cls.started(peers.XrdpServer(security_layer="negotiate"))
        # Every backend is reached only through a relay that records each connection.
        cls.shadow_relay = cls.started(peers.RecordingRelay(cls.shadow.port))
        cls.xrdp_relay = cls.started(peers.RecordingRelay(cls.xrdp.port))
        listeners = (
            '  - name: nla\n'
            '    address: "127.0.0.1:0"\n'
            '    route: shadow\n'
            '  - name: tls\n'
            '    address: "127.0.0.1:0"\n'
            '    route: xrdp\n'
            '    inspection: {require_protocols: [ssl, hybrid, hybrid_ex]}\n')
        routes = (
            '  - name: shadow\n'
            f'    backends: ["127.0.0.1:{cls.shadow_relay.port}"]\n'
            '  - name: xrdp\n'
            f'    backends: ["127.0.0.1:{cls.xrdp_relay.port}"]\n')
        # Inference on with the thresholds measured by calibrate_tls.py (docs/e2e.md); bans out
        # of reach: the wrong-password test must not ban 127.0.0.1.
        bruteforce = "{enabled: true, max_failures: 1000}"
        cls.gw = peers.rdpgate(listeners, routes, bruteforce)
        cls.addClassCleanup(cls.gw.cleanup)
        cls.gw.start(listeners=2)

    # -- helpers ---------------------------------------------------------------------------

    def connect(self, listener: str, **kwargs):
        """Runs xfreerdp through `listener`; returns the result and the new audit record(s)."""
        before = len(self.gw.audit())
        result = self.client.run(self.gw.port(listener), **kwargs)
        records = self.gw.wait_audit(before + 1)[before:]
        return result, records

    def assert_one_record(self, records, result) -> dict:
        self.assertEqual(len(records), 1, f"{records}\n{result.describe()}")
        return records[0]

    def context(self, result) -> str:
        return f"{result.describe()}\nrdpgate stderr:\n{self.gw.log_tail()}"

    # -- happy paths -----------------------------------------------------------------------

    def test_nla_to_shadow_completes(self):
        accepted = self.shadow_relay.accepted
        result, records = self.connect("nla")
        self.assertTrue(result.succeeded, self.context(result))
        self.assertEqual(result.negotiated, "NLA", self.context(result))
        self.assertEqual(self.shadow_relay.accepted, accepted + 1)
        record = self.assert_one_record(records, result)
        self.assertEqual(record["outcome"], "completed", record)
        self.assertEqual(record["selected"], "hybrid", record)
        self.assertIn("hybrid", _protocols(record["requested"]), record)
        self.assertEqual(record["listener"], "nla", record)
        self.assertEqual(record["route"], "shadow", record)
        self.assertEqual(record["backend"], f"127.0.0.1:{self.shadow_relay.port}", record)
        self.assertEqual(record["user"], peers.USER, record)
        self.assertTrue(str(record["src"]).startswith("127.0.0.1"), record)
        # Everything the client sent went through rdpgate to the backend, byte for byte.
        relayed = self.shadow_relay.wait_closed(accepted + 1)[-1]
        self.assertEqual(record["bytes_in"], relayed.client_to_server, (record, relayed))
        self.assertGreater(record["bytes_out"], 0, record)
        self.assertLessEqual(record["bytes_out"], relayed.server_to_client, (record, relayed))
        self.assertGreaterEqual(record["duration_ms"], 0, record)

    def test_tls_to_xrdp_completes_on_listener_that_allows_it(self):
        accepted = self.xrdp_relay.accepted
        result, records = self.connect("tls")
        self.assertTrue(result.succeeded, self.context(result) + "\n" + self.xrdp.log())
        self.assertEqual(result.negotiated, "TLS", self.context(result))
        self.assertEqual(self.xrdp_relay.accepted, accepted + 1)
        record = self.assert_one_record(records, result)
        self.assertEqual(record["outcome"], "completed", record)
        self.assertEqual(record["selected"], "ssl", record)
        self.assertEqual(record["listener"], "tls", record)
        self.assertEqual(record["route"], "xrdp", record)

    def test_tls_only_client_to_xrdp_completes_on_listener_that_allows_it(self):
        accepted = self.xrdp_relay.accepted
        result, records = self.connect("tls", sec="tls")
        self.assertTrue(result.succeeded, self.context(result) + "\n" + self.xrdp.log())
        self.assertEqual(self.xrdp_relay.accepted, accepted + 1)
        record = self.assert_one_record(records, result)
        self.assertEqual(record["selected"], "ssl", record)
        self.assertEqual(_protocols(record["requested"]).count("hybrid"), 0, record)

    def test_pcb_is_consumed_and_not_forwarded(self):
        accepted = self.shadow_relay.accepted
        result, records = self.connect("nla", extra=["/pcb:SOMETOKEN"])
        self.assertTrue(result.succeeded, self.context(result) + "\n" + self.shadow.log()[-3000:])
        self.assertEqual(self.shadow_relay.accepted, accepted + 1)
        relayed = self.shadow_relay.wait_closed(accepted + 1)[-1]
        # The backend's first byte is the TPKT version of the Connection Request, not a PCB.
        self.assertEqual(relayed.client_head[:1], b"\x03", relayed.client_head[:32].hex())
        record = self.assert_one_record(records, result)
        self.assertEqual(record["outcome"], "completed", record)
        self.assertEqual(record["selected"], "hybrid", record)

    # -- refusals by rdpgate itself --------------------------------------------------------

    def test_tls_only_client_refused_with_hybrid_required(self):
        accepted = self.shadow_relay.accepted
        result, records = self.connect("nla", sec="tls")
        self.assertNotEqual(result.exit_code, 0, self.context(result))
        self.assertTrue(result.hybrid_required, self.context(result))
        self.assertEqual(self.shadow_relay.accepted, accepted, "a refused client reached shadow")
        record = self.assert_one_record(records, result)
        self.assertEqual(record["outcome"], "protocol_not_allowed", record)
        self.assertNotIn("hybrid", _protocols(record["requested"]), record)
        self.assertIn(record.get("backend") or "", ("", None), record)

    def test_standard_rdp_client_refused(self):
        accepted = self.shadow_relay.accepted
        result, records = self.connect("nla", sec="rdp")
        self.assertNotEqual(result.exit_code, 0, self.context(result))
        self.assertFalse(result.auth_only_ok, self.context(result))
        self.assertEqual(self.shadow_relay.accepted, accepted, "a refused client reached shadow")
        self.assertGreaterEqual(len(records), 1)
        for record in records:
            self.assertEqual(record["outcome"], "protocol_not_allowed", record)
            self.assertIn(record.get("backend") or "", ("", None), record)

    # -- failed logon inference ------------------------------------------------------------

    def test_wrong_password_is_auth_failed(self):
        failures = self.gw.metric("rdpgate_auth_failures_total") or 0.0
        accepted = self.shadow_relay.accepted
        result, records = self.connect("nla", password=peers.WRONG_PASSWORD)
        self.assertNotEqual(result.exit_code, 0, self.context(result))
        self.assertFalse(result.auth_only_ok, self.context(result))
        self.assertEqual(self.shadow_relay.accepted, accepted + 1)
        record = self.assert_one_record(records, result)
        self.assertEqual(record["outcome"], "auth_failed", record)
        self.assertEqual(record["selected"], "hybrid", record)
        self.assertEqual(self.gw.wait_metric("rdpgate_auth_failures_total", failures + 1),
                         failures + 1)

    # -- metrics ---------------------------------------------------------------------------

    def test_metrics_count_outcomes_and_protocols(self):
        # Runs after the others in name order only by accident: make its own traffic.
        self.connect("nla")
        self.connect("nla", sec="tls")
        completed = self.gw.metric("rdpgate_connections_total",
                                   {"listener": "nla", "outcome": "completed"})
        refused = self.gw.metric("rdpgate_connections_total",
                                 {"listener": "nla", "outcome": "protocol_not_allowed"})
        hybrid = self.gw.metric("rdpgate_selected_protocol_total", {"protocol": "hybrid"})
        self.assertGreaterEqual(completed or 0, 1)
        self.assertGreaterEqual(refused or 0, 1)
        self.assertGreaterEqual(hybrid or 0, 1)
        c2s = self.gw.metric("rdpgate_relay_bytes_total", {"direction": "client_to_server"})
        s2c = self.gw.metric("rdpgate_relay_bytes_total", {"direction": "server_to_client"})
        self.assertGreater(c2s or 0, 0)
        self.assertGreater(s2c or 0, 0)

    # -- shutdown --------------------------------------------------------------------------

    @classmethod
    def tearDownClass(cls):
        # A clean SIGTERM drain exits 0 (SPEC §8); checked here so every test shares one gateway.
        code = cls.gw.stop()
        if code != 0:
            raise AssertionError(f"rdpgate exited {code} after SIGTERM\n{cls.gw.log_tail()}")


if __name__ == "__main__":
    sys.exit(checks.unittest_main())
