#!/usr/bin/env python3
"""Checks of the shared helpers themselves, without the rdpgate binary: the RDP builders
reproduce the captured vectors, the metrics parser reads the text format, the fake backend
answers, echoes, fails a logon, stays mute and refuses once closed, config() writes what it is
told. Exit 0, 1, or 77 when every test was skipped."""

import socket
import sys
import unittest

from support import checks, env, gateway, metrics, rdp, tls
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
