#!/usr/bin/env python3
"""Signed access tokens through the real rdpgate binary.

Keys: an HS256 secret file and an Ed25519 key pair made with `openssl genpkey`. Routes `a` and
`b` (`require_token: true`) lead to two fake hosts; listener `la` defaults to route a, `lb` to
route b. Tokens are minted with `rdpgate token issue` in both formats:

- a compact JWS in a Preconnection PDU v2 (UTF-16LE, as xfreerdp /pcb: sends it) before the
  Connection Request: routed to the token's route; the host receives the Connection Request
  alone, byte for byte (the PDU is consumed);
- a routing token (`rdpgate1....` on the CR's token line, no `Cookie:`): routed; the host
  receives the CR without that line, TPKT length and X.224 LI reduced (exact bytes asserted);
- refused as `token_invalid` with the reason in the audit record: expired, not_yet_valid,
  bad_signature, replayed, wrong_source, wrong_route (a token for a where route b requires its
  own), wrong_listener (a token for route c, kept to listener la, presented on lc) and
  token_required (no token on b); no host is contacted;
- a token is spent only by a session that passed every check: one refused as wrong_route, or
  whose route's host was down, opens its route afterwards;
- `rdpgate_tokens_total{result}` counts the verifications.

Once with real peers: `xfreerdp /pcb:<JWS>` through rdpgate to `freerdp-shadow-cli` with NLA
completes with the right password (freerdp-shadow closes on a Preconnection PDU, so it also
proves that the PDU was consumed); without the token the route refuses it.
"""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

import access_lib as lib
from support import peers
from support.gateway import yaml_quote
from support.tls import RELAYED

REQUEST = lib.connection_request("tokenuser")


def make_keys(directory: str) -> str:
    """Writes the key files; returns the `tokens:` section naming them."""
    hs = os.path.join(directory, "hs256.key")
    with open(os.open(hs, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(os.urandom(32))  # a secret: 0600, or rdpgate refuses it
    ed_key = os.path.join(directory, "ed25519.key")
    ed_pub = os.path.join(directory, "ed25519.pub")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", ed_key], check=True,
                   capture_output=True, timeout=30)
    subprocess.run(["openssl", "pkey", "-in", ed_key, "-pubout", "-out", ed_pub], check=True,
                   capture_output=True, timeout=30)
    q = yaml_quote
    # No clock skew: the expiry test need not wait the default 30 s.
    return ("tokens:\n"
            "  clock_skew: 0s\n"
            "  keys:\n"
            f"    - {{id: hs, alg: HS256, secret_file: {q(hs)}}}\n"
            f"    - {{id: ed, alg: EdDSA, public_key_file: {q(ed_pub)}, "
            f"private_key_file: {q(ed_key)}}}\n")


def issue(config_path: str, route: str, *args: str) -> str:
    done = subprocess.run([lib.binary(), "token", "issue", "--config", config_path,
                           "--route", route, *args], capture_output=True, text=True, timeout=15)
    if done.returncode != 0:
        raise AssertionError(f"token issue {route} {args}: exit {done.returncode}: {done.stderr}")
    token = done.stdout.strip()
    if not token or "\n" in token:
        raise AssertionError(f"token issue printed {done.stdout!r}")
    return token


def have_openssl() -> bool:
    return shutil.which("openssl") is not None


@unittest.skipUnless(have_openssl(), "openssl is needed to make an Ed25519 key")
class Tokens(lib.AccessTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.keys = tempfile.mkdtemp(prefix="rdpgate-access-keys-")
        cls.addClassCleanup(shutil.rmtree, cls.keys, True)
        cls.tokens_yaml = make_keys(cls.keys)

    def setUp(self):
        self.a = lib.FakeBackend()
        self.addCleanup(self.a.close)
        self.b = lib.FakeBackend()
        self.addCleanup(self.b.close)
        listeners = lib.listener("la", "a") + lib.listener("lb", "b") + lib.listener("lc", "a")
        # Route c is kept to listener la (and a cookie nobody sends): a token must not open it
        # from lc.
        routes = (lib.route("a", self.a) + lib.route("b", self.b, "    require_token: true\n")
                  + lib.route("c", self.a, "    match: {listener: la, username: c-only}\n"))
        self.gw = lib.start_gateway(self, lib.config(listeners, routes, extra=self.tokens_yaml),
                                    listeners=3)

    def issue(self, route: str, *args: str) -> str:
        return issue(self.gw.config_path, route, *args)

    def send(self, listener: str, flight: bytes) -> tuple[lib.Attempt, dict]:
        attempt = lib.connect(self.gw.port(listener), flight)
        return attempt, lib.audit_of(self.gw, attempt)

    def assert_routed(self, listener: str, flight: bytes, backend: lib.FakeBackend, route: str,
                      expected_at_backend: bytes) -> dict:
        before = (self.a.count(), self.b.count())
        attempt, record = self.send(listener, flight)
        self.assertEqual(attempt.result, "relayed", (attempt, record))
        self.assertEqual((record["outcome"], record["route"], record["backend"]),
                         (RELAYED, route, backend.address), record)
        self.assertEqual(self.a.count() + self.b.count(), sum(before) + 1)
        self.assertEqual(backend.last_flight().hex(), expected_at_backend.hex())
        return record

    def assert_refused(self, listener: str, flight: bytes, reason: str) -> dict:
        before = (self.a.count(), self.b.count())
        attempt, record = self.send(listener, flight)
        self.assertEqual(attempt.result, "closed", (attempt, record))
        self.assertEqual((record["outcome"], record["reason"]), ("token_invalid", reason), record)
        self.assertEqual((self.a.count(), self.b.count()), before, "a refused client was relayed")
        return record

    def tokens_total(self, result: str) -> float:
        return lib.metric(self.gw, "rdpgate_tokens_total", {"result": result})

    def test_jws_in_preconnection_pdu(self):
        hs = self.issue("a", "--format", "jws")
        self.assertEqual(hs.count("."), 2, hs)
        # Routed by the token's route; the host gets the Connection Request without the PDU.
        record = self.assert_routed("la", lib.preconnection_pdu(hs) + REQUEST, self.a, "a",
                                    REQUEST)
        self.assertEqual(record["user"], "tokenuser", record)
        ed = self.issue("b", "--key", "ed", "--ttl", "10m")
        self.assert_routed("lb", lib.preconnection_pdu(ed) + REQUEST, self.b, "b", REQUEST)
        # A token opens its route from a listener whose default route is another one.
        self.assert_routed("la", lib.preconnection_pdu(self.issue("b")) + REQUEST, self.b, "b",
                           REQUEST)
        # Bound to a source range that contains the client.
        self.assert_routed("lb", lib.preconnection_pdu(
            self.issue("b", "--source", "127.0.0.0/8")) + REQUEST, self.b, "b", REQUEST)
        self.assertEqual(self.tokens_total("valid"), 4)
        self.assertEqual(self.tokens_total("invalid"), 0)

    def test_routing_token(self):
        for key in ("hs", "ed"):
            token = self.issue("b", "--format", "routing", "--key", key)
            self.assertTrue(token.startswith(f"rdpgate1.{key}.b."), token)
            self.assertLessEqual(len(token), 200, token)
            self.assertEqual(len(token) % 2, 0, token)
            flight = lib.connection_request(None, token_line=token)
            self.assertEqual(flight[4], 6 + len(token) + 2 + 8)  # LI: CR + token CRLF + NEG_REQ
            # What the host must receive: the same request without the token line.
            stripped = bytes([
                0x03, 0x00, 0x00, 0x13,              # TPKT length 19 = 4 + 1 + 14
                0x0E,                                # LI 14 = 6 + 8
                0xE0, 0x00, 0x00, 0x00, 0x00, 0x00,  # CR CDT, DST-REF, SRC-REF, class 0
                0x01, 0x00, 0x08, 0x00,              # RDP_NEG_REQ, flags 0, length 8
                0x03, 0x00, 0x00, 0x00,              # requestedProtocols SSL | HYBRID
            ])
            self.assert_routed("lb", flight, self.b, "b", stripped)
        # The token line plus a cookie after it: only the token line is removed.
        token = self.issue("a", "--format", "routing")
        line = token.encode() + b"\r\n"
        with_cookie = lib.connection_request("tokenuser")
        cookie_at = 11
        flight = bytearray(with_cookie[:cookie_at] + line + with_cookie[cookie_at:])
        flight[2:4] = len(flight).to_bytes(2, "big")
        flight[4] = len(flight) - 5
        self.assert_routed("la", bytes(flight), self.a, "a", with_cookie)
        self.assertEqual(self.tokens_total("valid"), 3)

    def test_refusals(self):
        jws = lambda token: lib.preconnection_pdu(token) + REQUEST  # noqa: E731
        expired = self.issue("b", "--ttl", "1s")
        expired_routing = self.issue("b", "--ttl", "1s", "--format", "routing")
        time.sleep(2.1)  # exp is in whole seconds
        self.assert_refused("lb", jws(expired), "expired")
        self.assert_refused("lb", lib.connection_request(None, token_line=expired_routing),
                            "expired")
        self.assert_refused("lb", jws(self.issue("b", "--not-before", "1h")), "not_yet_valid")

        good = self.issue("b")
        header, payload, signature = good.split(".")
        flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
        self.assert_refused("lb", jws(f"{header}.{payload}.{flipped}"), "bad_signature")
        routing = self.issue("b", "--format", "routing")
        body, _, sig = routing.rpartition(".")
        bad_routing = f"{body}.{sig[:10]}{'A' if sig[10] != 'A' else 'B'}{sig[11:]}"
        self.assert_refused("lb", lib.connection_request(None, token_line=bad_routing),
                            "bad_signature")

        # Single use: the first connection passes, the replay is refused.
        self.assert_routed("lb", jws(good), self.b, "b", REQUEST)
        self.assert_refused("lb", jws(good), "replayed")
        self.assert_routed("lb", lib.connection_request(None, token_line=routing), self.b, "b",
                           lib.connection_request(None))
        self.assert_refused("lb", lib.connection_request(None, token_line=routing), "replayed")

        self.assert_refused("lb", jws(self.issue("b", "--source", "10.0.0.0/8")), "wrong_source")
        # A valid token for route a does not open route b, which requires its own; refused
        # there, it is not used up: it still opens route a from la.
        for_a = self.issue("a")
        self.assert_refused("lb", jws(for_a), "wrong_route")
        self.assert_routed("la", jws(for_a), self.a, "a", REQUEST)
        # A route kept to listener la is not reached from lc by a token.
        self.assert_refused("lc", jws(self.issue("c")), "wrong_listener")
        # No token at all on b.
        self.assert_refused("lb", REQUEST, "token_required")

        # 8 tokens failed verification; 5 verified (2 first uses, the token for a twice, the
        # token for c).
        self.assertEqual(self.tokens_total("invalid"), 8)
        self.assertEqual(self.tokens_total("valid"), 5)
        self.assertEqual(lib.metric(self.gw, "rdpgate_connections_total",
                                    {"listener": "lb", "outcome": "token_invalid"}), 10)

    def test_a_token_is_spent_only_by_a_session_that_reaches_its_host(self):
        token = lib.preconnection_pdu(self.issue("b"))
        port = self.b.port
        self.b.close()  # route b's only host refuses connections
        attempt, record = self.send("lb", token + REQUEST)
        self.assertEqual(attempt.result, "closed", attempt)
        self.assertEqual(record["outcome"], "backend_unreachable", record)
        self.b = lib.FakeBackend(port=port)
        self.addCleanup(self.b.close)
        self.assert_routed("lb", token + REQUEST, self.b, "b", REQUEST)
        self.assert_refused("lb", token + REQUEST, "replayed")

    def test_token_issue_errors(self):
        config = self.gw.config_path
        done = subprocess.run([lib.binary(), "token", "issue", "--config", config, "--route",
                               "nowhere"], capture_output=True, text=True, timeout=15)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("no route", done.stderr)
        done = subprocess.run([lib.binary(), "token", "issue", "--config", config],
                              capture_output=True, text=True, timeout=15)
        self.assertEqual(done.returncode, 64, done.stderr)
        done = subprocess.run([lib.binary(), "token", "issue", "--config", config, "--route",
                               "a", "--key", "missing"], capture_output=True, text=True,
                              timeout=15)
        self.assertEqual(done.returncode, 1, done.stderr)


_PEERS_SKIP = peers.skip_reason(peers.REQUIRED_PROGRAMS + peers.SHADOW_PROGRAMS + ("openssl",))


@unittest.skipIf(_PEERS_SKIP, _PEERS_SKIP or "")
class RealPeers(lib.AccessTestCase):
    def test_xfreerdp_pcb_token_to_shadow_nla(self):
        keys = tempfile.mkdtemp(prefix="rdpgate-access-keys-")
        self.addCleanup(shutil.rmtree, keys, True)
        xvfb = peers.Xvfb().start()
        self.addCleanup(xvfb.stop)
        shadow = peers.ShadowServer(xvfb.display, mode="nla").start()
        self.addCleanup(shadow.stop)
        listeners = lib.listener("nla", "shadow")
        routes = ("  - name: shadow\n"
                  f"    backends: [\"127.0.0.1:{shadow.port}\"]\n"
                  "    require_token: true\n")
        gw = lib.start_gateway(self, lib.config(listeners, routes, extra=make_keys(keys)))
        client = peers.Client(xvfb.display)
        self.addCleanup(client.close)

        token = issue(gw.config_path, "shadow", "--key", "ed", "--ttl", "5m")
        result = client.run(gw.port("nla"), extra=[f"/pcb:{token}"])
        self.assertTrue(result.succeeded, f"{result.describe()}\n{gw.log_tail()}\n{shadow.log()}")
        self.assertEqual(result.negotiated, "NLA", result.describe())
        record = gw.wait_audit(1, 10)[-1]
        self.assertEqual((record["outcome"], record["route"], record["selected"]),
                         ("completed", "shadow", "hybrid"), record)
        self.assertEqual(record["user"], peers.USER, record)

        # Without the token the route refuses the client before the host sees it.
        result = client.run(gw.port("nla"))
        self.assertFalse(result.succeeded, result.describe())
        record = gw.wait_audit(2, 10)[-1]
        self.assertEqual((record["outcome"], record["reason"]),
                         ("token_invalid", "token_required"), record)


if __name__ == "__main__":
    raise SystemExit(lib.main())
