#!/usr/bin/env python3
"""`rdpgate user ...` and the users file, against the real binary:

- add (the otpauth URI on stdout, the file 0600 with an Argon2id hash), list, reset-otp (a new
  secret), remove, and the refusals: an existing user, an unknown one, a short password;
- a users file group or others may read, and one with a malformed hash, are refused by the CLI
  and by `rdpgate run`, with a message naming the file (and the line);
- the running gateway reloads the users file with its configuration (SIGHUP): a user added
  afterwards can sign in; a reload with a broken users file fails and keeps the old users.
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

from support import checks, env, peers, portal
from support.gateway import Gateway, config, yaml_quote
from support.wait import wait_until

PASSWORD = "users-Passw0rd"


class UserCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.binary = env.rdpgate_bin()
        if cls.binary is None:
            raise unittest.SkipTest(env.rdpgate_missing())
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("openssl is not installed")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rdpgate-users-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.users = os.path.join(self.dir, "users")

    def user(self, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, "user", *args], input=password, capture_output=True,
                              text=True, timeout=30)

    def test_round_trip(self):
        uri = portal.add_user(self.binary, self.users, "alice", "a,b", PASSWORD)
        self.assertTrue(uri.startswith("otpauth://totp/rdpgate:alice?secret="), uri)
        self.assertEqual(len(portal.otp_secret(uri)), 20)
        self.assertEqual(stat.S_IMODE(os.stat(self.users).st_mode), 0o600)
        with open(self.users, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("alice:a,b:", text)
        self.assertIn(":$argon2id$", text)
        self.assertNotIn(PASSWORD, text)
        portal.add_user(self.binary, self.users, "bob", "", PASSWORD)
        listed = self.user("list", "--users-file", self.users)
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertEqual(listed.stdout, "alice\ta,b\nbob\t\n")

        again = self.user("add", "--users-file", self.users, "alice", "--routes", "a",
                          "--password-stdin", password=PASSWORD + "\n")
        self.assertEqual(again.returncode, 1)
        self.assertIn('user "alice" exists already', again.stderr)
        short = self.user("add", "--users-file", self.users, "carol", "--routes", "a",
                          "--password-stdin", password="short\n")
        self.assertEqual(short.returncode, 1)
        self.assertIn("8 characters", short.stderr)

        reset = self.user("reset-otp", "--users-file", self.users, "alice")
        self.assertEqual(reset.returncode, 0, reset.stderr)
        self.assertTrue(reset.stdout.startswith("otpauth://totp/rdpgate:alice?"))
        self.assertNotEqual(portal.otp_secret(reset.stdout.strip()), portal.otp_secret(uri))

        removed = self.user("remove", "--users-file", self.users, "bob")
        self.assertEqual(removed.returncode, 0, removed.stderr)
        self.assertEqual(self.user("list", "--users-file", self.users).stdout, "alice\ta,b\n")
        missing = self.user("remove", "--users-file", self.users, "bob")
        self.assertEqual(missing.returncode, 1)
        self.assertIn('no user "bob"', missing.stderr)
        self.assertEqual(self.user("add", "--users-file", self.users).returncode, 64)

    def test_open_permissions_refused(self):
        portal.add_user(self.binary, self.users, "alice", "a", PASSWORD)
        os.chmod(self.users, 0o644)
        listed = self.user("list", "--users-file", self.users)
        self.assertEqual(listed.returncode, 1)
        self.assertIn(f'users file "{self.users}": permissions 0644 are too open', listed.stderr)
        result = self.run_gateway()
        self.assertEqual(result.returncode, 1)
        self.assertIn(f'users file "{self.users}": permissions 0644 are too open', result.stderr)

    def test_malformed_hash_refused(self):
        portal.add_user(self.binary, self.users, "alice", "a", PASSWORD)
        with open(self.users, "a", encoding="utf-8") as f:
            f.write("bob:a:JBSWY3DPEHPK3PXP:$argon2id$v=19$m=65536,t=2,p=1$broken\n")
        expected = f"{self.users}:3: malformed password hash"
        listed = self.user("list", "--users-file", self.users)
        self.assertEqual(listed.returncode, 1)
        self.assertIn(expected, listed.stderr)
        result = self.run_gateway()
        self.assertEqual(result.returncode, 1)
        self.assertIn(expected, result.stderr)

    # -- with the gateway ------------------------------------------------------------------------

    def portal_config(self) -> str:
        cert, key = peers.make_self_signed_cert(self.dir)
        os.chmod(key, 0o600)
        listeners = '  - name: main\n    address: "127.0.0.1:0"\n    route: r\n'
        routes = '  - name: r\n    backends: ["127.0.0.1:9"]\n'
        return config(listeners, routes, extra=(
            "portal:\n"
            '  address: "127.0.0.1:0"\n'
            f"  tls: {{cert_file: {yaml_quote(cert)}, key_file: {yaml_quote(key)}}}\n"
            '  public_address: "rdp.example.com:13389"\n'
            f"  users_file: {yaml_quote(self.users)}\n"))

    def run_gateway(self) -> subprocess.CompletedProcess:
        path = os.path.join(self.dir, "rdpgate.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.portal_config().replace("{state_dir}", self.dir))
        return subprocess.run([self.binary, "run", "--config", path], capture_output=True,
                              text=True, timeout=30)

    def test_reload_reads_users_file(self):
        alice_uri = portal.add_user(self.binary, self.users, "alice", "r", PASSWORD)
        gw = Gateway(self.portal_config(), admin_token="t" * 32)
        self.addCleanup(gw.cleanup)
        gw.start()
        host, port = gw.addr("portal")
        bob_uri = portal.add_user(self.binary, self.users, "bob", "r", PASSWORD)
        client = portal.PortalClient(host, port)
        status, _ = client.sign_in("bob", PASSWORD, portal.totp(bob_uri))
        self.assertEqual(status, 401)  # not read yet

        gw.reload()
        wait_until(lambda: gw.find_events(lambda e: e.get("event") == "reloaded"), 10,
                   "the reload")
        client = portal.PortalClient(host, port)
        status, body = client.sign_in("bob", PASSWORD, portal.totp(bob_uri))
        self.assertEqual(status, 303, body)

        # A broken users file fails the reload, and the users read before stay.
        os.chmod(self.users, 0o644)
        gw.reload()
        failed = wait_until(lambda: gw.find_events(lambda e: e.get("event") == "reload_failed"),
                            10, "the failed reload")
        self.assertIn("permissions 0644 are too open", failed[0]["error"])
        client = portal.PortalClient(host, port)
        status, body = client.sign_in("alice", PASSWORD, portal.totp(alice_uri))
        self.assertEqual(status, 303, body)
        self.assertEqual(gw.stop(), 0)  # SIGTERM stops the portal with the rest


if __name__ == "__main__":
    sys.exit(checks.unittest_main())
