#!/usr/bin/env python3
"""Durable state and the admin CLI, against the real rdpgate binary.

- A ban and a grant acknowledged by the admin API (201) survive `kill -9` sent right after the
  answer: a restart on the same state directory lists both, refuses the banned source at
  admission (`banned`) and shows them in `rdpgate_bans_active` / `rdpgate_grants_active`.
- `rdpgate ban add/list/remove`, `grant add/list/revoke`, `session list/kill` and `reload`:
  their effect on traffic, their output and their exit status (0, 1 API error, 64 usage).
"""

import json
import os
import shutil
import signal
import socket
import tempfile

import access_lib as lib
from support.net import free_port


class Durability(lib.AccessTestCase):
    def setUp(self):
        self.backend = lib.FakeBackend()
        self.addCleanup(self.backend.close)
        self.state = tempfile.mkdtemp(prefix="rdpgate-access-state-")
        self.addCleanup(shutil.rmtree, self.state, True)

    def config(self) -> str:
        return lib.config(lib.listener("main", "main"), lib.route("main", self.backend),
                          state=self.state)

    def test_acknowledged_ban_and_grant_survive_kill_9(self):
        first = lib.start_gateway(self, self.config())
        status, body = lib.api(first, "POST", "/v1/bans",
                               {"cidr": "127.0.0.66/32", "duration": "1h", "reason": "abuse 77"})
        self.assertEqual(status, 201, body)
        status, body = lib.api(first, "POST", "/v1/grants",
                               {"cidr": "127.0.0.67/32", "route": "main", "duration": "1h",
                                "reason": "ticket 1234"})
        self.assertEqual(status, 201, body)
        grant_id = json.loads(body)["id"]
        # Killed right after the acknowledgements: no shutdown path may run.
        os.kill(first.proc.pid, signal.SIGKILL)
        self.assertEqual(first.proc.wait(timeout=5), -signal.SIGKILL)
        first.stop()

        second = lib.start_gateway(self, self.config())
        status, body = lib.api(second, "GET", "/v1/bans")
        self.assertEqual(status, 200, body)
        bans = {b["cidr"]: b for b in json.loads(body)}
        self.assertIn("127.0.0.66/32", bans, body)
        self.assertEqual(bans["127.0.0.66/32"]["reason"], "abuse 77", body)
        self.assertEqual(bans["127.0.0.66/32"]["origin"], "manual", body)
        status, body = lib.api(second, "GET", "/v1/grants")
        self.assertEqual(status, 200, body)
        grants = {g["id"]: g for g in json.loads(body)}
        self.assertIn(grant_id, grants, body)
        self.assertEqual(grants[grant_id]["cidr"], "127.0.0.67/32", body)
        self.assertEqual(grants[grant_id]["route"], "main", body)
        self.assertEqual(grants[grant_id]["reason"], "ticket 1234", body)

        refused = lib.connect(second.port("main"), lib.connection_request(), src="127.0.0.66")
        self.assertEqual(refused.result, "closed", refused)
        record = lib.audit_of(second, refused)
        self.assertEqual((record["phase"], record["outcome"]), ("admission", "banned"), record)
        self.assertEqual(record["src"], "127.0.0.66", record)
        flights = self.backend.count()
        passed = lib.connect(second.port("main"), lib.connection_request(), src="127.0.0.65")
        self.assertEqual(passed.result, "relayed", passed)
        self.assertEqual(self.backend.count(), flights + 1)
        self.assertEqual(lib.wait_metric(second, "rdpgate_bans_active", 1), 1)
        self.assertEqual(lib.wait_metric(second, "rdpgate_grants_active", 1), 1)


class Cli(lib.AccessTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend = lib.FakeBackend()
        cls.addClassCleanup(cls.backend.close)

    def setUp(self):
        self.text = lib.config(lib.listener("main", "main"), lib.route("main", self.backend))
        self.gw = lib.start_gateway(self, self.text)

    def cli(self, *args, **kwargs):
        return lib.cli(self.gw, *args, **kwargs)

    def assert_ok(self, done) -> object:
        self.assertEqual(done.returncode, 0, f"{done.args}\nstdout={done.stdout}\nstderr={done.stderr}")
        return json.loads(done.stdout)

    def test_ban_add_list_remove(self):
        port = self.gw.port("main")
        added = self.assert_ok(self.cli("ban", "add", "127.0.0.70/32", "--duration", "1h",
                                        "--reason", "abuse report 77"))
        self.assertEqual(added["cidr"], "127.0.0.70/32")
        self.assertEqual(added["reason"], "abuse report 77")
        self.assertEqual(added["origin"], "manual")
        self.assertRegex(added["until"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        listed = self.assert_ok(self.cli("ban", "list"))
        self.assertEqual([b["cidr"] for b in listed], ["127.0.0.70/32"], listed)
        table = self.cli("ban", "list", "--table")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertIn("CIDR", table.stdout.splitlines()[0])
        self.assertIn("127.0.0.70/32", table.stdout)

        attempt = lib.connect(port, lib.connection_request(), src="127.0.0.70")
        self.assertEqual(attempt.result, "closed", attempt)
        self.assertEqual(lib.audit_of(self.gw, attempt)["outcome"], "banned")
        self.assertEqual(lib.wait_metric(self.gw, "rdpgate_bans_active", 1), 1)

        removed = self.cli("ban", "remove", "127.0.0.70/32")
        self.assertEqual(removed.returncode, 0, removed.stderr)
        self.assertEqual(self.assert_ok(self.cli("ban", "list")), [])
        self.assertEqual(lib.connect(port, lib.connection_request(), src="127.0.0.70").result,
                         "relayed")
        again = self.cli("ban", "remove", "127.0.0.70/32")
        self.assertEqual(again.returncode, 1, again.stderr)
        self.assertIn("404", again.stderr)

        # Usage errors: 64, before any request is made.
        for args in (("ban", "add", "not-a-cidr"), ("ban", "add", "10.0.0.0/8", "--duration", "x"),
                     ("ban", "frobnicate"), ("ban", "add", "10.0.0.0/8", "--route", "main")):
            done = self.cli(*args)
            self.assertEqual(done.returncode, 64, f"{args}: {done.stderr}")
            self.assertIn("usage", done.stderr)
        self.assertEqual(self.cli("ban", "list", token=None).returncode, 64)
        # API errors: 1.
        wrong = self.cli("ban", "list", token="not-the-token")
        self.assertEqual(wrong.returncode, 1, wrong.stderr)
        self.assertIn("401", wrong.stderr)
        closed_port = free_port()
        unreachable = lib.cli(None, "ban", "list", "--admin", f"127.0.0.1:{closed_port}")
        self.assertEqual(unreachable.returncode, 1, unreachable.stderr)
        self.assertIn("unreachable", unreachable.stderr)

    def test_grant_add_list_revoke(self):
        added = self.assert_ok(self.cli("grant", "add", "127.0.0.71/32", "--route", "main",
                                        "--duration", "2h", "--reason", "ticket 1234"))
        self.assertEqual((added["cidr"], added["route"], added["reason"]),
                         ("127.0.0.71/32", "main", "ticket 1234"), added)
        self.assertTrue(added["id"])
        listed = self.assert_ok(self.cli("grant", "list"))
        self.assertEqual([g["id"] for g in listed], [added["id"]], listed)
        self.assertEqual(lib.wait_metric(self.gw, "rdpgate_grants_active", 1), 1)
        self.assertEqual(self.cli("grant", "revoke", added["id"]).returncode, 0)
        self.assertEqual(self.assert_ok(self.cli("grant", "list")), [])
        self.assertEqual(lib.wait_metric(self.gw, "rdpgate_grants_active", 0), 0)
        again = self.cli("grant", "revoke", added["id"])
        self.assertEqual(again.returncode, 1, again.stderr)
        self.assertIn("404", again.stderr)
        unknown = self.cli("grant", "add", "127.0.0.71/32", "--route", "nowhere",
                           "--duration", "1h")
        self.assertEqual(unknown.returncode, 1, unknown.stderr)
        self.assertIn("unknown route", unknown.stderr)
        for args in (("grant", "add", "127.0.0.71/32", "--duration", "1h"),
                     ("grant", "add", "127.0.0.71/32", "--route", "main"),
                     ("grant", "revoke")):
            done = self.cli(*args)
            self.assertEqual(done.returncode, 64, f"{args}: {done.stderr}")

    def test_session_list_and_kill(self):
        port = self.gw.port("main")
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.addCleanup(sock.close)
        local_port = sock.getsockname()[1]
        sock.sendall(lib.connection_request("kiluser"))
        self.assertEqual(lib.recv_exactly(sock, len(lib.CONFIRM_HYBRID), 5), lib.CONFIRM_HYBRID)
        sock.sendall(b"hello")
        self.assertEqual(lib.recv_exactly(sock, 5, 5), b"hello")

        sessions = self.assert_ok(self.cli("session", "list"))
        mine = [s for s in sessions if s["source"] == f"127.0.0.1:{local_port}"]
        self.assertEqual(len(mine), 1, sessions)
        session = mine[0]
        self.assertEqual((session["listener"], session["route"], session["user"]),
                         ("main", "main", "kiluser"), session)
        self.assertEqual(session["backend"], self.backend.address, session)
        # Counted like the audit record: the forwarded request and the Confirm included.
        self.assertEqual(session["bytes_in"], len(lib.connection_request("kiluser")) + 5, session)
        self.assertEqual(session["bytes_out"], len(lib.CONFIRM_HYBRID) + 5, session)

        killed = self.cli("session", "kill", session["id"])
        self.assertEqual(killed.returncode, 0, killed.stderr)
        # The client sees its connection end.
        sock.settimeout(5)
        try:
            self.assertEqual(sock.recv(100), b"")
        except ConnectionResetError:
            pass
        record = self.gw.wait_audit(1, 5, where=lambda r: r.get("src_port") == local_port)[0]
        self.assertEqual(record["outcome"], "killed", record)
        self.assertEqual(record["conn"], session["id"], record)
        self.assertEqual(self.assert_ok(self.cli("session", "list")), [])
        again = self.cli("session", "kill", session["id"])
        self.assertEqual(again.returncode, 1, again.stderr)
        self.assertIn("404", again.stderr)

    def test_reload(self):
        self.assertEqual(self.cli("reload").returncode, 0)
        self.assertEqual(lib.metric(self.gw, "rdpgate_config_reloads_total",
                                    {"result": "success"}), 1)
        self.assertEqual(lib.connect(self.gw.port("main"), lib.connection_request("blocked"))
                         .result, "relayed")
        # A changed file takes effect for new connections after `rdpgate reload` ...
        with open(self.gw.config_path, "w", encoding="utf-8") as f:
            f.write(self.text.replace("inspection: {timeout: 5s}",
                                      'inspection: {timeout: 5s, usernames: {deny: ["blocked"]}}')
                    .replace("{state_dir}", self.gw.state_dir))
        done = self.cli("reload")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(lib.metric(self.gw, "rdpgate_config_reloads_total",
                                    {"result": "success"}), 2)
        denied = lib.connect(self.gw.port("main"), lib.connection_request("blocked"))
        self.assertEqual(denied.result, "closed", denied)
        self.assertEqual(lib.audit_of(self.gw, denied)["outcome"], "username_denied")
        # ... and a broken file is refused with the reason, keeping the running config.
        with open(self.gw.config_path, "w", encoding="utf-8") as f:
            f.write("listeners: [\n")
        bad = self.cli("reload")
        self.assertEqual(bad.returncode, 1, bad.stderr)
        self.assertIn("rdpgate.yaml", bad.stderr)
        self.assertEqual(lib.metric(self.gw, "rdpgate_config_reloads_total",
                                    {"result": "failure"}), 1)
        self.assertEqual(lib.connect(self.gw.port("main"), lib.connection_request()).result,
                         "relayed")


if __name__ == "__main__":
    raise SystemExit(lib.main())
