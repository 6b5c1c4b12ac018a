#!/usr/bin/env python3
"""Direct Approach ([MS-RDPBCGR] 5.4.2.2: the client starts with a TLS ClientHello, no X.224
request) through the real rdpgate binary with `inspection.direct_approach: true`.

The protocol of such a session is CredSSP without negotiation: the audit record and
rdpgate_selected_protocol_total must say `hybrid`, as for a negotiated NLA session. The
ClientHello is a real one, made by Python's ssl module with a server name; the host is a raw
echo (it has no Confirm to send), so the client gets its own bytes back.
"""

from __future__ import annotations

import socket
import ssl

import access_lib as lib
from support import gateway
from support.net import LOOPBACK, recv_exactly


def client_hello(server_name: str) -> bytes:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class DirectApproach(lib.AccessTestCase):
    def test_selected_protocol_is_recorded(self):
        host = lib.FakeBackend(mode="raw")
        self.addCleanup(host.close)
        gw = lib.start_gateway(self, gateway.config(
            lib.listener("main", "main"), lib.route("main", host),
            sources='{per_source: {max_connections: 0, rate: "0/s"}}',
            inspection="{timeout: 5s, direct_approach: true}", bruteforce="{enabled: false}",
            state="{path: {state_dir}}"))
        hello = client_hello("rdp.example.test")
        self.assertEqual(hello[0], 0x16, hello[:8].hex())
        with socket.create_connection((LOOPBACK, gw.port("main")), timeout=5) as s:
            local_port = s.getsockname()[1]
            s.sendall(hello)
            self.assertEqual(recv_exactly(s, len(hello), 5), hello)  # forwarded verbatim
        record = gw.audit_record(local_port, 5)
        self.assertEqual(record["selected"], "hybrid", record)
        self.assertEqual(record["phase"], "relay", record)
        self.assertIn("tls=", record["evidence"], record)
        self.assertEqual(bytes(host.raw_bytes), hello)
        self.assertEqual(lib.metric(gw, "rdpgate_selected_protocol_total",
                                    {"protocol": "hybrid"}), 1)


if __name__ == "__main__":
    raise SystemExit(lib.main())
