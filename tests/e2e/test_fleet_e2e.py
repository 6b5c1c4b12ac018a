#!/usr/bin/env python3
"""Two rdpgate instances sharing one redis-server (state.redis), with real peers:
xfreerdp -> rdpgate A or B -> freerdp-shadow-cli (NLA only).

Wrong passwords typed into real xfreerdp through A (max_failures 3) ban the source on B too:
B refuses the next attempt at admission (`banned`), before shadow sees a byte, and lists the
automatic ban; lifting it on B opens A again, and the right password logs on through A.
"""

import sys
import unittest

from support import checks, peers, redis
from support.gateway import yaml_quote
from support.wait import poll

MAX_FAILURES = 3


@unittest.skipUnless(redis.available(), "redis-server and redis-cli are needed")
class FleetEndToEnd(peers.PeersTestCase):
    PROGRAMS = peers.REQUIRED_PROGRAMS + peers.SHADOW_PROGRAMS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.redis = redis.RedisServer()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.shadow = cls.started(peers.ShadowServer(cls.xvfb.display, mode="nla"))
        cls.relay = cls.started(peers.RecordingRelay(cls.shadow.port))
        bruteforce = f"{{enabled: true, find_time: 10m, max_failures: {MAX_FAILURES}, ban_time: 10m}}"
        state = f'{{path: "{{state_dir}}", redis: {{address: {yaml_quote(cls.redis.address)}}}}}'
        cls.a = cls.gateway_to(cls.relay.port, bruteforce, state)
        cls.b = cls.gateway_to(cls.relay.port, bruteforce, state)
        for gw in (cls.a, cls.b):
            if gw.wait_metric("rdpgate_state_redis_up", 1, None, 10, default=0.0) != 1:
                raise AssertionError(f"no Redis connection:\n{gw.log_tail()}")

    def connect(self, gw, **kwargs):
        before = len(gw.audit())
        result = self.client.run(gw.port("public"), **kwargs)
        return result, gw.wait_audit(before + 1)[before:]

    def test_wrong_passwords_through_a_ban_the_source_on_b(self):
        for attempt in range(MAX_FAILURES):
            result, records = self.connect(self.a, password=peers.WRONG_PASSWORD)
            self.assertFalse(result.auth_only_ok, result.describe())
            self.assertEqual([r["outcome"] for r in records], ["auth_failed"],
                             f"attempt {attempt}: {records}\n{self.a.log_tail()}")
        self.assertEqual(self.b.wait_metric("rdpgate_bans_active", 1, None, 5, default=0.0), 1)
        accepted = self.relay.accepted
        result, records = self.connect(self.b)
        self.assertFalse(result.succeeded, result.describe())
        self.assertTrue(records and all(r["outcome"] == "banned" for r in records), records)
        self.assertEqual(self.relay.accepted, accepted, "a banned client reached shadow")
        status, body = self.b.http("DELETE", "/v1/bans/127.0.0.1_32", token=peers.ADMIN_TOKEN)
        self.assertEqual(status, 200, body)
        self.assertTrue(poll(lambda: self.a.metric("rdpgate_bans_active") == 0, timeout=3.0))
        result, records = self.connect(self.a)
        self.assertTrue(result.succeeded, f"{result.describe()}\n{self.a.log_tail()}")
        self.assertEqual([r["outcome"] for r in records], ["completed"], records)


if __name__ == "__main__":
    sys.exit(checks.unittest_main())
