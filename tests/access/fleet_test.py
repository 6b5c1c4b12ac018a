#!/usr/bin/env python3
"""Several rdpgate instances sharing one real `redis-server` (state.redis; README "Several
instances"). Two gateways A and B, each with its own state directory, one Redis on a free port:

- a manual ban on A is refused by B within 1 s (the time it took is printed);
- refused logons split between A and B add up: max_failures 4 = 2 through A + 2 through B bans
  the source on both;
- a grant made through B opens A's `jit` listener; its revocation closes it again;
- a routing token accepted by A is refused by B as `replayed`;
- a per-source rate (3/s, burst 3) is shared: 3 connections through A, the next through B is
  `rate_limited`;
- Redis stopped: `rdpgate_state_redis_up` 0 on both, clean sources still admitted and banned
  ones refused, a token refused as `replay_unavailable` (replay_when_down: refuse); a ban made
  on A meanwhile reaches B within a few seconds of Redis coming back (empty: the union resync
  pushes every instance's bans back);
- `kill -9` of A: restarted on its state directory it still refuses its bans, and one made on B
  while A was down reaches it.
"""

import json
import shutil
import signal
import tempfile
import time
import unittest

import access_lib as lib
import tokens_test
from support import redis
from support.wait import poll

SRC_BANNED = "127.0.0.61"
CLEAN = "127.0.0.62"


@unittest.skipUnless(redis.available(), "redis-server and redis-cli are needed")
class Fleet(lib.AccessTestCase):
    def setUp(self):
        self.redis = redis.RedisServer(password="fleet-test-password")
        self.addCleanup(self.redis.close)
        self.redis.start()
        self.tmp = tempfile.mkdtemp(prefix="rdpgate-fleet-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.password_file = self.redis.password_file
        self.backend = lib.FakeBackend()
        self.addCleanup(self.backend.close)
        self.failing = lib.FakeBackend(mode="fail")
        self.addCleanup(self.failing.close)
        self.keys = tokens_test.make_keys(self.tmp)

    def config(self) -> str:
        listeners = (lib.listener("main", "main") + lib.listener("jit", "main", "    mode: jit\n")
                     + lib.listener("fail", "fail") + lib.listener("tok", "tok"))
        routes = (lib.route("main", self.backend) + lib.route("fail", self.failing)
                  + lib.route("tok", self.backend, "    require_token: true\n"))
        q = lib.gateway.yaml_quote
        return lib.config(
            listeners, routes, extra=self.keys,
            bruteforce="{enabled: true, max_failures: 4, find_time: 10m, ban_time: 15m}",
            redis=(f"{{address: {q(self.redis.address)}, password_file: "
                   f"{q(self.password_file)}, key_prefix: \"fleet:\"}}"))

    def start(self, text: str | None = None, workdir: str | None = None,
              listeners: int = 4) -> lib.Gateway:
        gw = lib.Gateway(text or self.config(), workdir, admin_token=lib.ADMIN_TOKEN)
        self.addCleanup(gw.cleanup)
        gw.start(listeners=listeners)
        self.assertEqual(lib.wait_metric(gw, "rdpgate_state_redis_up", 1, timeout=10), 1)
        return gw

    def assert_admitted(self, gw, src: str, listener: str = "main"):
        attempt = lib.connect(gw.port(listener), lib.connection_request(), src=src)
        self.assertEqual(attempt.result, "relayed", (attempt, lib.audit_of(gw, attempt)))

    def refused(self, gw, src: str, outcome: str = "banned", listener: str = "main") -> bool:
        attempt = lib.connect(gw.port(listener), lib.connection_request(), src=src)
        if attempt.result != "closed":
            return False
        return lib.audit_of(gw, attempt)["outcome"] == outcome

    def ban(self, gw, cidr: str):
        status, body = lib.api(gw, "POST", "/v1/bans",
                               {"cidr": cidr, "duration": "1h", "reason": "fleet test"})
        self.assertEqual(status, 201, body)

    def test_a_ban_on_one_instance_holds_on_the_other_within_a_second(self):
        a, b = self.start(), self.start()
        self.assert_admitted(b, SRC_BANNED)
        self.ban(a, f"{SRC_BANNED}/32")
        started = time.monotonic()
        banned = poll(lambda: any(x["cidr"] == f"{SRC_BANNED}/32"
                                  for x in json.loads(lib.api(b, "GET", "/v1/bans")[1])),
                      timeout=1.0, interval=0.005)
        took = time.monotonic() - started
        self.assertTrue(banned, "B did not list A's ban within 1 s")
        print(f"ban propagation A -> B: {took * 1000:.1f} ms")
        self.assertTrue(self.refused(b, SRC_BANNED))
        self.assert_admitted(b, CLEAN)
        # Unbanned on B: A admits it again.
        self.assertEqual(lib.api(b, "DELETE", f"/v1/bans/{SRC_BANNED}%2F32")[0], 200)
        self.assertTrue(poll(lambda: not self.refused(a, SRC_BANNED), timeout=2.0))

    def test_failures_add_up_across_instances(self):
        a, b = self.start(), self.start()
        src = "127.0.0.63"
        for gw in (a, a, b):
            self.assertEqual(lib.fail_logon(gw.port("fail"), "alice", src).result, "confirm")
        self.assertEqual(lib.wait_metric(b, "rdpgate_bans_active", 0), 0)
        self.assertEqual(lib.fail_logon(b.port("fail"), "alice", src).result, "confirm")
        # The fourth failure, judged by B, bans the source on B and on A.
        for gw in (b, a):
            self.assertEqual(lib.wait_metric(gw, "rdpgate_bans_active", 1, timeout=3), 1)
            self.assertTrue(self.refused(gw, src))

    def test_a_grant_through_one_instance_opens_the_other(self):
        a, b = self.start(), self.start()
        src = "127.0.0.64"
        self.assertTrue(self.refused(a, src, "denied_source", "jit"))
        status, body = lib.api(b, "POST", "/v1/grants", {"cidr": f"{src}/32", "route": "*",
                                                         "duration": "1h", "reason": "fleet"})
        self.assertEqual(status, 201, body)
        grant = json.loads(body)["id"]
        self.assertTrue(poll(lambda: lib.connect(a.port("jit"), lib.connection_request(),
                                                 src=src).result == "relayed", timeout=1.0))
        self.assertEqual(lib.api(b, "DELETE", f"/v1/grants/{grant}")[0], 200)
        self.assertTrue(poll(lambda: self.refused(a, src, "denied_source", "jit"), timeout=1.0))

    def test_a_token_is_single_use_across_the_fleet(self):
        a, b = self.start(), self.start()
        token = tokens_test.issue(a.config_path, "tok", "--format", "routing")
        flight = lib.connection_request(None, token_line=token)
        first = lib.connect(a.port("tok"), flight)
        self.assertEqual(first.result, "relayed", lib.audit_of(a, first))
        again = lib.connect(b.port("tok"), flight)
        record = lib.audit_of(b, again)
        self.assertEqual((again.result, record["outcome"], record["reason"]),
                         ("closed", "token_invalid", "replayed"), record)

    def test_a_per_source_rate_is_shared(self):
        sources = '{per_source: {max_connections: 0, rate: "3/s", burst: 3}}'
        text = lib.config(*self.config_parts(), sources=sources,
                          redis=f"{{address: {lib.gateway.yaml_quote(self.redis.address)}, "
                                f"password_file: {lib.gateway.yaml_quote(self.password_file)}}}")
        a, b = self.start(text=text, listeners=1), self.start(text=text, listeners=1)
        src = "127.0.0.65"
        for _ in range(3):
            self.assert_admitted(a, src)
        time.sleep(0.3)  # a's admissions reach b in its next 100 ms batch
        self.assertTrue(self.refused(b, src, "rate_limited"))
        self.assert_admitted(b, "127.0.0.66")

    def config_parts(self) -> tuple[str, str]:
        return lib.listener("main", "main"), lib.route("main", self.backend)

    def test_redis_outage(self):
        a, b = self.start(), self.start()
        self.ban(a, f"{SRC_BANNED}/32")
        self.assertTrue(poll(lambda: self.refused(b, SRC_BANNED), timeout=1.0))
        self.redis.stop()
        for gw in (a, b):
            self.assertEqual(lib.wait_metric(gw, "rdpgate_state_redis_up", 0, timeout=5), 0)
            self.assertTrue(self.refused(gw, SRC_BANNED))
            self.assert_admitted(gw, CLEAN)
        self.assertTrue(a.wait_event(lambda e: e.get("event") == "redis_down", 5, "redis_down"))
        # A token's first use cannot be checked fleet-wide: refused (replay_when_down: refuse).
        token = tokens_test.issue(a.config_path, "tok", "--format", "routing")
        attempt = lib.connect(a.port("tok"), lib.connection_request(None, token_line=token))
        record = lib.audit_of(a, attempt)
        self.assertEqual((record["outcome"], record["reason"]),
                         ("token_invalid", "replay_unavailable"), record)
        # A ban made during the outage reaches B once Redis is back (an empty Redis: the
        # resync pushes both instances' bans into it).
        self.ban(a, "127.0.0.67/32")
        self.assert_admitted(b, "127.0.0.67")
        self.assertGreater(lib.metric(a, "rdpgate_state_redis_failed_operations_total")
                           + lib.metric(a, "rdpgate_state_redis_pending_operations"), 0)
        started = time.monotonic()
        self.redis.start()
        self.assertTrue(poll(lambda: self.refused(b, "127.0.0.67"), timeout=10.0, interval=0.01))
        print(f"outage ban reached B {time.monotonic() - started:.2f} s after Redis was started")
        for gw in (a, b):
            self.assertEqual(lib.wait_metric(gw, "rdpgate_state_redis_up", 1, timeout=10), 1)
            self.assertTrue(self.refused(gw, SRC_BANNED))
        self.assertIn(f"{SRC_BANNED}/32", self.redis.cli("HKEYS", "fleet:bans"))
        # The token unused during the outage is accepted now, once.
        self.assertEqual(lib.connect(a.port("tok"), lib.connection_request(
            None, token_line=token)).result, "relayed")

    def test_kill_9_of_one_instance_loses_nothing(self):
        a, b = self.start(), self.start()
        self.ban(a, f"{SRC_BANNED}/32")
        self.assertTrue(poll(lambda: self.refused(b, SRC_BANNED), timeout=1.0))
        a.signal(signal.SIGKILL)
        a.wait_exit(10)
        self.ban(b, "127.0.0.68/32")
        a = self.start(workdir=a.workdir)
        self.assertTrue(self.refused(a, SRC_BANNED))
        self.assertTrue(poll(lambda: self.refused(a, "127.0.0.68"), timeout=5.0))
        self.assert_admitted(a, CLEAN)


if __name__ == "__main__":
    raise SystemExit(lib.main())
