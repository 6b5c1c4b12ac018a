#!/usr/bin/env python3
"""Just-in-time access through the real rdpgate binary.

- A listener with `mode: jit` refuses a source without a grant at admission (`denied_source`,
  reason `no_grant`), admits it after `POST /v1/grants`, refuses it again after
  `DELETE /v1/grants/{id}` and after the grant expired (2 s).
- A route with `mode: jit` behind an open listener needs a grant naming that route (or `*`); a
  grant for another route does not open it.
- `rdpgate_grants_active` follows every change.
"""

import json
import time

import access_lib as lib


class Jit(lib.AccessTestCase):
    def setUp(self):
        self.main = lib.FakeBackend()
        self.addCleanup(self.main.close)
        self.fin = lib.FakeBackend()
        self.addCleanup(self.fin.close)
        listeners = (lib.listener("jit", "main", "    mode: jit\n")
                     + lib.listener("open", "main"))
        routes = (lib.route("fin", self.fin, "    match: {username: \"fin-*\"}\n    mode: jit\n")
                  + lib.route("main", self.main))
        self.gw = lib.start_gateway(self, lib.config(listeners, routes), listeners=2)

    def grant(self, cidr: str, route: str, duration: str) -> str:
        status, body = lib.api(self.gw, "POST", "/v1/grants",
                               {"cidr": cidr, "route": route, "duration": duration,
                                "reason": "jit test"})
        self.assertEqual(status, 201, body)
        return json.loads(body)["id"]

    def attempt(self, listener: str, src: str, user: str = "alice") -> tuple[lib.Attempt, dict]:
        a = lib.connect(self.gw.port(listener), lib.connection_request(user), src=src)
        return a, lib.audit_of(self.gw, a)

    def assert_no_grant(self, listener: str, src: str, phase: str, user: str = "alice"):
        a, record = self.attempt(listener, src, user)
        self.assertEqual(a.result, "closed", a)
        self.assertEqual((record["phase"], record["outcome"], record["reason"]),
                         (phase, "denied_source", "no_grant"), record)

    def assert_relayed(self, listener: str, src: str, backend: lib.FakeBackend,
                       user: str = "alice") -> dict:
        before = backend.count()
        a, record = self.attempt(listener, src, user)
        self.assertEqual(a.result, "relayed", (a, record))
        self.assertEqual(backend.count(), before + 1)
        self.assertEqual(record["backend"], backend.address, record)
        return record

    def test_jit_listener(self):
        src = "127.0.0.80"
        self.assert_no_grant("jit", src, "admission")
        self.assertEqual(self.main.count(), 0)
        # A grant for a neighbour does not admit this source.
        neighbour = self.grant("127.0.0.81/32", "*", "1h")
        self.assert_no_grant("jit", src, "admission")
        self.assert_relayed("jit", "127.0.0.81", self.main)

        granted = self.grant(f"{src}/32", "*", "1h")
        self.assertEqual(lib.wait_metric(self.gw, "rdpgate_grants_active", 2), 2)
        self.assert_relayed("jit", src, self.main)

        status, body = lib.api(self.gw, "DELETE", f"/v1/grants/{granted}")
        self.assertEqual(status, 200, body)
        self.assertEqual(lib.wait_metric(self.gw, "rdpgate_grants_active", 1), 1)
        self.assert_no_grant("jit", src, "admission")

        # Expiry: a 2 s grant for the route stops admitting on its own.
        self.grant(f"{src}/32", "main", "2s")
        self.assertEqual(lib.wait_metric(self.gw, "rdpgate_grants_active", 2), 2)
        expires = time.monotonic() + 2.0
        self.assert_relayed("jit", src, self.main)
        time.sleep(max(0.0, expires - time.monotonic()) + 0.3)
        self.assert_no_grant("jit", src, "admission")
        self.assertEqual(lib.wait_metric(self.gw, "rdpgate_grants_active", 1, timeout=3), 1)
        status, body = lib.api(self.gw, "GET", "/v1/grants")
        self.assertEqual([g["id"] for g in json.loads(body)], [neighbour], body)
        # The open listener never asked for a grant.
        self.assert_relayed("open", src, self.main)

    def test_jit_route(self):
        src = "127.0.0.82"
        # The route is chosen by the cookie (fin-*) after inspection: refused at routing.
        self.assert_no_grant("open", src, "routing", "fin-bob")
        self.assertEqual(self.fin.count(), 0)
        # Other users on the same listener are not affected.
        self.assert_relayed("open", src, self.main, "bob")
        # A grant for another route does not open this one.
        self.grant(f"{src}/32", "main", "1h")
        self.assert_no_grant("open", src, "routing", "fin-bob")
        self.assertEqual(self.fin.count(), 0)
        granted = self.grant(f"{src}/32", "fin", "1h")
        record = self.assert_relayed("open", src, self.fin, "fin-bob")
        self.assertEqual(record["route"], "fin", record)
        self.assertEqual(lib.wait_metric(self.gw, "rdpgate_grants_active", 2), 2)
        status, _ = lib.api(self.gw, "DELETE", f"/v1/grants/{granted}")
        self.assertEqual(status, 200)
        self.assert_no_grant("open", src, "routing", "fin-bob")
        self.assertEqual(lib.wait_metric(self.gw, "rdpgate_grants_active", 1), 1)
        # A wildcard grant opens every route for its source.
        self.grant("127.0.0.83/32", "*", "1h")
        self.assert_relayed("open", "127.0.0.83", self.fin, "fin-carol")


if __name__ == "__main__":
    raise SystemExit(lib.main())
