#!/usr/bin/env python3
"""Sanity checks of the real peers without rdpgate: if these fail, the machine (not rdpgate) is
the problem, and the gateway end-to-end tests cannot say anything."""

import sys

from support import checks, peers


class DirectPeers(peers.PeersTestCase):
    PROGRAMS = peers.REQUIRED_PROGRAMS + peers.SHADOW_PROGRAMS + peers.XRDP_PROGRAMS
    NEEDS_RDPGATE = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shadow_nla = cls.started(peers.ShadowServer(cls.xvfb.display, mode="nla"))
        cls.shadow_any = cls.started(peers.ShadowServer(cls.xvfb.display, mode="any"))
        cls.xrdp = cls.started(peers.XrdpServer(security_layer="tls"))

    def test_shadow_nla_right_password_succeeds(self):
        r = self.client.run(self.shadow_nla.port)
        self.assertTrue(r.succeeded, r.describe())
        self.assertEqual(r.negotiated, "NLA", r.describe())

    def test_shadow_nla_wrong_password_fails(self):
        r = self.client.run(self.shadow_nla.port, password=peers.WRONG_PASSWORD)
        self.assertNotEqual(r.exit_code, 0, r.describe())
        self.assertFalse(r.auth_only_ok, r.describe())
        self.assertEqual(r.negotiated, "NLA", r.describe())  # it failed inside CredSSP

    def test_shadow_nla_unknown_user_fails(self):
        r = self.client.run(self.shadow_nla.port, user="nosuchuser")
        self.assertNotEqual(r.exit_code, 0, r.describe())
        self.assertFalse(r.auth_only_ok, r.describe())

    def test_shadow_nla_refuses_tls_client_with_hybrid_required(self):
        r = self.client.run(self.shadow_nla.port, sec="tls")
        self.assertNotEqual(r.exit_code, 0, r.describe())
        self.assertTrue(r.hybrid_required, r.describe())

    def test_shadow_any_accepts_tls_client(self):
        # The premise of the gateway's refusal tests: this backend would let a TLS client in.
        r = self.client.run(self.shadow_any.port, sec="tls")
        self.assertTrue(r.succeeded, r.describe())
        self.assertEqual(r.negotiated, "TLS", r.describe())

    def test_xrdp_tls_succeeds(self):
        r = self.client.run(self.xrdp.port, sec="tls")
        self.assertTrue(r.succeeded, r.describe() + "\n" + self.xrdp.log())
        self.assertEqual(r.negotiated, "TLS", r.describe())

    def test_recording_relay_is_transparent(self):
        with peers.RecordingRelay(self.shadow_nla.port) as relay:
            r = self.client.run(relay.port)
            self.assertTrue(r.succeeded, r.describe())
            (record,) = relay.wait_closed(1)
        self.assertTrue(record.connected_upstream)
        self.assertEqual(record.client_head[:1], b"\x03")  # TPKT: the Connection Request
        self.assertGreater(record.server_to_client, 0)


if __name__ == "__main__":
    sys.exit(checks.unittest_main())
