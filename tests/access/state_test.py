#!/usr/bin/env python3
"""An unusable state directory (a regular file where the directory should be): rdpgate logs
`state_unavailable` with the path, still starts and relays, and bans still apply (in memory)."""

import os
import shutil
import tempfile

import access_lib as lib
from support.wait import poll
from support.tls import RELAYED


class UnwritableState(lib.AccessTestCase):
    def test_state_path_is_a_regular_file(self):
        backend = lib.FakeBackend()
        self.addCleanup(backend.close)
        tmp = tempfile.mkdtemp(prefix="rdpgate-access-")
        self.addCleanup(shutil.rmtree, tmp, True)
        state = os.path.join(tmp, "state")
        with open(state, "w", encoding="utf-8") as f:
            f.write("not a directory\n")
        gw = lib.start_gateway(self, lib.config(lib.listener("main", "main"),
                                                lib.route("main", backend), state=state))
        unavailable = poll(lambda: gw.events("state_unavailable"), 5, interval=0.02)
        self.assertEqual(len(unavailable), 1, gw.log_tail())
        self.assertEqual(unavailable[0].get("path"), state, unavailable)
        self.assertTrue(unavailable[0].get("error"), unavailable)

        attempt = lib.connect(gw.port("main"), lib.connection_request())
        self.assertEqual(attempt.result, "relayed", attempt)
        self.assertEqual(lib.audit_of(gw, attempt)["outcome"], RELAYED)
        self.assertEqual(backend.count(), 1)

        status, body = lib.api(gw, "POST", "/v1/bans",
                               {"cidr": "127.0.0.99/32", "duration": "1h", "reason": "memory"})
        self.assertEqual(status, 201, body)
        refused = lib.connect(gw.port("main"), lib.connection_request(), src="127.0.0.99")
        self.assertEqual(refused.result, "closed", refused)
        self.assertEqual(lib.audit_of(gw, refused)["outcome"], "banned")
        # Still a regular file: nothing was written in its place.
        with open(state, encoding="utf-8") as f:
            self.assertEqual(f.read(), "not a directory\n")
        self.assertIsNone(gw.proc.poll(), "rdpgate exited")


if __name__ == "__main__":
    raise SystemExit(lib.main())
