#!/usr/bin/env python3
"""An unusable state store (docs/faults.md "An unusable state store").

By default (`state.required: true`) rdpgate refuses to start — exit status 1, the path and
the cause on stderr and in a `start_failed` event — when the store cannot be used:
- a regular file where the state directory should be;
- a directory it may not write (chmod 0500, or `chattr +i` when the tests run as root, which
  chmod does not stop);
- a file that is not a database.
With `state: {required: false}` the same directory is only reported: `state_unavailable` with
the path, the error and "memory-only", GET /healthz "degraded" (still 200), and rdpgate relays
and applies bans in memory.
"""

import json
import os
import shutil
import subprocess
import tempfile

import access_lib as lib
from support.tls import RELAYED
from support.wait import poll


def chattr(flag: str, *paths: str) -> bool:
    done = subprocess.run(["chattr", flag, *paths], capture_output=True, timeout=10)
    return done.returncode == 0


class UnusableState(lib.AccessTestCase):
    def setUp(self):
        self.backend = lib.FakeBackend()
        self.addCleanup(self.backend.close)
        self.tmp = tempfile.mkdtemp(prefix="rdpgate-access-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def config(self, state: str, required: bool = True) -> str:
        return lib.config(lib.listener("main", "main"), lib.route("main", self.backend),
                          state=state, state_required=required)

    def regular_file(self) -> str:
        state = os.path.join(self.tmp, "state")
        with open(state, "w", encoding="utf-8") as f:
            f.write("not a directory\n")
        return state

    def assert_refused(self, state: str, *phrases: str) -> str:
        code, stderr = lib.refused_start(self, self.config(state))
        self.assertEqual(code, 1, stderr)
        self.assertIn(state, stderr)
        self.assertIn("state.required: false", stderr)
        for phrase in phrases:
            self.assertIn(phrase, stderr)
        failed = [json.loads(line[line.find("{"):]) for line in stderr.splitlines()
                  if '"start_failed"' in line]
        self.assertEqual(len(failed), 1, stderr)
        self.assertIn(state, failed[0]["error"])
        self.assertEqual(self.backend.count(), 0)
        return stderr

    def test_regular_file_as_state_directory_stops_the_start(self):
        state = self.regular_file()
        self.assert_refused(state, "Not a directory")
        with open(state, encoding="utf-8") as f:  # nothing written in its place
            self.assertEqual(f.read(), "not a directory\n")

    def test_unwritable_state_directory_stops_the_start(self):
        state = os.path.join(self.tmp, "state")
        os.mkdir(state, 0o700)
        if os.geteuid() != 0:
            os.chmod(state, 0o500)
            self.addCleanup(os.chmod, state, 0o700)
        else:
            if not chattr("+i", state):
                self.skipTest("running as root and chattr +i is not supported here")
            self.addCleanup(chattr, "-i", state)
        self.assert_refused(state, "rdpgate.db")

    def test_corrupt_database_stops_the_start(self):
        state = os.path.join(self.tmp, "state")
        os.mkdir(state, 0o700)
        with open(os.path.join(state, "rdpgate.db"), "wb") as f:
            f.write(b"z" * 4096)
        self.assert_refused(state, "not a database")

    def test_required_false_runs_memory_only_and_degraded(self):
        state = self.regular_file()
        gw = lib.start_gateway(self, self.config(state, required=False))
        unavailable = poll(lambda: gw.events("state_unavailable"), 5, interval=0.02)
        self.assertEqual(len(unavailable), 1, gw.log_tail())
        self.assertEqual(unavailable[0].get("level"), "error", unavailable)
        self.assertEqual(unavailable[0].get("path"), state, unavailable)
        self.assertIn("Not a directory", unavailable[0].get("error", ""))
        self.assertIn("memory-only", unavailable[0].get("message", ""))

        status, body = gw.http("GET", "/healthz")
        self.assertEqual(status, 200, body)
        health = json.loads(body)
        self.assertEqual(health["status"], "degraded", body)
        self.assertFalse(health["state"]["persistent"], body)

        attempt = lib.connect(gw.port("main"), lib.connection_request())
        self.assertEqual(attempt.result, "relayed", attempt)
        self.assertEqual(lib.audit_of(gw, attempt)["outcome"], RELAYED)
        self.assertEqual(self.backend.count(), 1)

        status, body = lib.api(gw, "POST", "/v1/bans",
                               {"cidr": "127.0.0.99/32", "duration": "1h", "reason": "memory"})
        self.assertEqual(status, 201, body)
        refused = lib.connect(gw.port("main"), lib.connection_request(), src="127.0.0.99")
        self.assertEqual(refused.result, "closed", refused)
        self.assertEqual(lib.audit_of(gw, refused)["outcome"], "banned")
        with open(state, encoding="utf-8") as f:
            self.assertEqual(f.read(), "not a directory\n")
        self.assertIsNone(gw.proc.poll(), "rdpgate exited")


if __name__ == "__main__":
    raise SystemExit(lib.main())
