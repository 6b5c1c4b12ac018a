#!/usr/bin/env python3
"""Checks of the shared helpers themselves, without the rdpgate binary: the RDP builders
reproduce the captured vectors, the metrics parser reads the text format, the fake backend
answers, echoes, fails a logon, stays mute and refuses once closed, config() writes what it is
told, the recording relay's TLS record scanner reads headers across reads. Exit 0, 1, or 77
when every test was skipped."""

import socket
import struct
import sys
import unittest

from support import checks, env, gateway, metrics, peers, rdp, tls
from support.backend import FakeBackend
from support.net import free_port, read_until_closed, recv_exactly
from support.wait import poll, poll_value, wait_until


class Builders(unittest.TestCase):
    def test_match_the_captured_vectors(self):
        if env.read_vector(rdp.VECTOR_CASES[0][0]) is None:
            self.skipTest(f"captured vectors not found in {env.vectors_dir()}")
        print(rdp.check_vectors(), file=sys.stderr)

    def test_routing_token_replaces_the_cookie(self):
        flight = rdp.connection_request("ignored", token_line="rdpgate1.t")
        self.assertIn(b"rdpgate1.t\r\n", flight)
        self.assertNotIn(b"Cookie", flight)
        self.assertEqual(flight[4], len(flight) - 5)
        self.assertEqual(rdp.cookie_user(rdp.connection_request("alice")), "alice")

    def test_proxy_headers(self):
        self.assertEqual(rdp.proxy_v1("203.0.113.7", 5555),
                         b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 3389\r\n")
        v2 = rdp.proxy_v2("2001:db8::7", 5556)
        self.assertEqual((v2[12], v2[13], int.from_bytes(v2[14:16], "big")), (0x21, 0x21, 36))


class Metrics(unittest.TestCase):
    TEXT = ('# HELP a_total A.\n# TYPE a_total counter\n'
            'a_total{listener="x",outcome="ok"} 2\na_total{listener="y",outcome="ok"} 3\n'
            'a_total{listener="y",outcome="no"} 0\nb 1.5\n')

    def test_parse_and_select(self):
        series = metrics.parse(self.TEXT, strict=True)
        self.assertEqual(metrics.sample(series, "a_total"), 5)
        self.assertEqual(metrics.sample(series, "a_total", {"listener": "y"}), 3)
        self.assertIsNone(metrics.sample(series, "a_total", {"listener": "z"}))
        self.assertEqual(metrics.value(series, "a_total", listener="z"), 0)
        self.assertEqual(metrics.value(series, "b"), 1.5)
        self.assertEqual(metrics.by_labels(series, "a_total", ("listener",)),
                         {("x",): 2, ("y",): 3})

    def test_strict_rejects_garbage(self):
        with self.assertRaises(metrics.FormatError):
            metrics.parse("{oops} 1\n", strict=True)
        self.assertEqual(metrics.parse("{oops} 1\n"), {})


class Backend(unittest.TestCase):
    def backend(self, **kwargs) -> FakeBackend:
        b = FakeBackend(**kwargs)
        self.addCleanup(b.close)
        return b

    def client(self, port: int) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.addCleanup(s.close)
        return s

    def test_confirm_then_echo(self):
        b = self.backend()
        s = self.client(b.port)
        s.sendall(rdp.preconnection_pdu("T") + rdp.connection_request("bob") + b"tail")
        self.assertEqual(recv_exactly(s, 19, 5), rdp.CONFIRM_HYBRID)
        self.assertEqual(recv_exactly(s, 4, 5), b"tail")
        self.assertEqual(b.wait_flights(1)[0],
                         rdp.preconnection_pdu("T") + rdp.connection_request("bob"))
        self.assertEqual((b.sessions("bo"), b.sessions("x")), (1, 0))
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(read_until_closed(s), b"")
        wait_until(lambda: b.received, 5, "the backend to count the session")
        self.assertEqual(b.received, [len(b.last_flight()) + 4])

    def test_fail_mode_plays_a_refused_logon(self):
        s = self.client(self.backend(mode="fail").port)
        s.sendall(rdp.connection_request("eve"))
        self.assertEqual(recv_exactly(s, 19, 5), rdp.CONFIRM_HYBRID)
        received = tls.play(s, "c", tls.FAILED_LOGON)
        self.assertEqual(received, tls.script_bytes(tls.FAILED_LOGON, "s"))
        self.assertEqual(read_until_closed(s), b"")  # and hangs up

    def test_mute_and_closed(self):
        b = self.backend()
        b.mute = True
        s = self.client(b.port)
        s.sendall(rdp.connection_request("m"))
        s.settimeout(0.5)
        with self.assertRaises(socket.timeout):
            s.recv(1)
        b.close()
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", b.port), timeout=5).close()
        again = self.backend(port=b.port)  # back on the same port
        self.client(again.port).sendall(rdp.connection_request("n"))
        self.assertEqual(again.wait_flights(1), [rdp.connection_request("n")])


class TlsRecords(unittest.TestCase):
    """The recording relay's TLS record scanner, on a made-up exchange."""

    @staticmethod
    def record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
        return struct.pack(">BHH", ctype, version, len(body)) + body

    def server_hello(self, supported: int | None) -> bytes:
        ext = b"\x00\x0b\x00\x02\x01\x00"  # ec_point_formats
        if supported:
            ext += struct.pack(">HHH", 43, 2, supported)
        hello = (b"\x03\x03" + bytes(32) + b"\x20" + bytes(32) + b"\x13\x02\x00" +
                 struct.pack(">H", len(ext)) + ext)
        return self.record(22, b"\x02" + len(hello).to_bytes(3, "big") + hello +
                           b"\x0b\x00\x00\x00")  # and the start of a Certificate

    def scan(self, flow: list[tuple[str, bytes]], step: int) -> peers.RelayRecord:
        record = peers.RelayRecord(started=0)
        scanner = peers.TlsRecordScanner(record)
        for side, data in flow:
            for i in range(0, len(data), step):
                scanner.feed(side, data[i:i + step])
        return record

    def test_headers_across_reads(self):
        hello = self.server_hello(0x0304)
        flow = [("c", rdp.connection_request("x")), ("s", rdp.CONFIRM_HYBRID),
                ("c", self.record(22, bytes(300), 0x0301)),
                ("s", hello + self.record(20, b"\x01") +
                 self.record(23, bytes(700))),
                ("c", self.record(20, b"\x01") + self.record(23, bytes(69)) +
                 self.record(23, bytes(110)))]
        expected = [("c", 22, 0x0301, 300), ("s", 22, 0x0303, len(hello) - 5), ("s", 20, 0x0303, 1),
                    ("s", 23, 0x0303, 700), ("c", 20, 0x0303, 1), ("c", 23, 0x0303, 69),
                    ("c", 23, 0x0303, 110)]
        for step in (1, 3, 7, 65536):
            record = self.scan(flow, step)
            self.assertEqual(record.tls, expected, step)
            self.assertEqual((record.server_hello, record.tls_version),
                             ((0x0303, 0x0304), 0x0304), step)

    def test_tls12_and_standard_rdp(self):
        flow = [("c", rdp.connection_request("x")), ("s", rdp.CONFIRM_HYBRID),
                ("c", self.record(22, bytes(200))), ("s", self.server_hello(None))]
        self.assertEqual(self.scan(flow, 5).tls_version, 0x0303)
        rdp_only = [("c", rdp.connection_request("x")), ("s", rdp.connection_confirm(0)),
                    ("c", b"\x03\x00\x01\x00" + bytes(252))]
        self.assertEqual(self.scan(rdp_only, 4).tls, [])


class Helpers(unittest.TestCase):
    def test_config_sections(self):
        text = gateway.config("  - {name: a}\n", "  - {name: r}\n", "extra: 1\n",
                              workers=None, session="{idle_timeout: 1s}")
        self.assertTrue(text.startswith("allow_root: true\nlisteners:\n  - {name: a}\n"))
        self.assertIn("routes:\n  - {name: r}\n", text)
        self.assertIn("session: {idle_timeout: 1s}\n", text)
        self.assertNotIn("workers", text)
        self.assertIn("logging: {level: info, format: json}\n", text)
        self.assertTrue(text.endswith("\nextra: 1\n"))

    def test_waits_end(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", free_port()))
        self.assertEqual(poll(lambda: 0, 0.05, interval=0.01), 0)
        self.assertEqual(poll_value(lambda: 1, 2, 0.05), 1)
        with self.assertRaises(TimeoutError):
            wait_until(lambda: False, 0.05, "nothing")


if __name__ == "__main__":
    sys.exit(checks.unittest_main())
