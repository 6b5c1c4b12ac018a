#!/usr/bin/env python3
"""Where security depends on it, rdpgate fails closed (docs/faults.md).

Secrets with loose permissions:
- an HS256 `secret_file` that others may read (0644), an Ed25519 `private_key_file` or an
  `admin.token_file` (0604) stop the start: exit 1, and the message names the file and its
  mode;
- an Ed25519 `public_key_file` may be world-readable;
- a key file loosened while rdpgate runs fails the next reload, and the keys in force keep
  verifying tokens.

A failed replay-cache write: once the state database cannot be written (`chattr +i` on the
database and its WAL, which stops root too; where the file system has no such flag, every
pwrite64 is failed with EIO by `strace --inject`), a valid, never-used token is refused as
`token_invalid` / `replay_not_recorded`, `state_write_failed` is logged and /healthz says
"degraded". The token is not used up: once writes succeed again it passes, once.
"""

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import access_lib as lib
import tokens_test
from support import gateway, procs
from support.gateway import Gateway, yaml_quote
from support.tls import RELAYED

REQUEST = lib.connection_request("tokenuser")
TOO_OPEN = "are too open: group or others may read it"


def write_file(path: str, data: bytes, mode: int) -> None:
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(data)
    os.chmod(path, mode)


class Keys:
    """An HS256 secret (0600) and an Ed25519 pair (private 0600, public 0644) in `directory`."""

    def __init__(self, directory: str) -> None:
        self.hs = os.path.join(directory, "hs256.key")
        write_file(self.hs, os.urandom(48), 0o600)
        self.ed_key = os.path.join(directory, "ed25519.key")
        self.ed_pub = os.path.join(directory, "ed25519.pub")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", self.ed_key],
                       check=True, capture_output=True, timeout=30)
        os.chmod(self.ed_key, 0o600)
        subprocess.run(["openssl", "pkey", "-in", self.ed_key, "-pubout", "-out", self.ed_pub],
                       check=True, capture_output=True, timeout=30)
        os.chmod(self.ed_pub, 0o644)

    def yaml(self, private: bool = True) -> str:
        q = yaml_quote
        ed = f"{{id: ed, alg: EdDSA, public_key_file: {q(self.ed_pub)}"
        ed += f", private_key_file: {q(self.ed_key)}}}" if private else "}"
        return ("tokens:\n  clock_skew: 0s\n  keys:\n"
                f"    - {{id: hs, alg: HS256, secret_file: {q(self.hs)}}}\n"
                f"    - {ed}\n")


def issue(config_path: str, route: str) -> str:
    return tokens_test.issue(config_path, route, "--key", "hs")


@unittest.skipUnless(tokens_test.have_openssl(), "openssl is needed to make an Ed25519 key")
class LooseSecrets(lib.AccessTestCase):
    def setUp(self):
        self.backend = lib.FakeBackend()
        self.addCleanup(self.backend.close)
        self.dir = tempfile.mkdtemp(prefix="rdpgate-access-keys-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.keys = Keys(self.dir)

    def config(self, private: bool = True, admin: str | None = None) -> str:
        routes = lib.route("main", self.backend, "    require_token: true\n")
        text = lib.config(lib.listener("main", "main"), routes, extra=self.keys.yaml(private))
        if admin is not None:
            text = text.replace(gateway.DEFAULTS["admin"], admin)
        return text

    def assert_refused(self, text: str, path: str, mode: str) -> None:
        code, stderr = lib.refused_start(self, text)
        self.assertEqual(code, 1, stderr)
        self.assertIn(f'"{path}": permissions {mode} {TOO_OPEN}', stderr)
        self.assertEqual(self.backend.count(), 0)

    def test_world_readable_secret_file_stops_the_start(self):
        os.chmod(self.keys.hs, 0o644)
        self.assert_refused(self.config(), self.keys.hs, "0644")

    def test_private_key_readable_by_others_stops_the_start(self):
        os.chmod(self.keys.ed_key, 0o604)
        self.assert_refused(self.config(), self.keys.ed_key, "0604")

    def test_admin_token_file_readable_by_others_stops_the_start(self):
        token = os.path.join(self.dir, "admin.token")
        write_file(token, lib.ADMIN_TOKEN.encode() + b"\n", 0o604)
        admin = f'{{address: "127.0.0.1:0", token_file: {yaml_quote(token)}}}'
        self.assert_refused(self.config(admin=admin), token, "0604")

    def test_world_readable_public_key_is_fine(self):
        self.assertEqual(os.stat(self.keys.ed_pub).st_mode & 0o777, 0o644)
        gw = lib.start_gateway(self, self.config(private=False))
        self.assertIsNone(gw.proc.poll())

    def test_key_loosened_at_run_time_fails_the_reload(self):
        gw = lib.start_gateway(self, self.config())
        token = issue(gw.config_path, "main")
        os.chmod(self.keys.hs, 0o644)
        since = gw.event_count()
        gw.reload()
        failed = gw.wait_event(lambda e: e.get("event") in ("reload_failed", "reloaded"), 5,
                               "the reload after chmod 644", since)
        self.assertEqual(failed["event"], "reload_failed", failed)
        self.assertIn(f'"{self.keys.hs}": permissions 0644 {TOO_OPEN}', failed.get("error", ""))
        # The keys in force still verify.
        attempt = lib.connect(gw.port("main"), lib.preconnection_pdu(token) + REQUEST)
        self.assertEqual(attempt.result, "relayed", attempt)
        self.assertEqual(lib.audit_of(gw, attempt)["outcome"], RELAYED)


# ---------------------------------------------------------------------------------------------
# Making the state database unwritable for a running rdpgate, even as root.


@contextlib.contextmanager
def immutable(paths: list[str]):
    """`chattr +i` on `paths` for the block (the caller checked that it works here)."""
    subprocess.run(["chattr", "+i", *paths], check=True, capture_output=True, timeout=10)
    try:
        yield "chattr +i"
    finally:
        subprocess.run(["chattr", "-i", *paths], capture_output=True, timeout=10)


def failing_pwrite(pid: int):
    """Every pwrite64 of `pid`'s threads fails with EIO for the block (strace attached)."""
    if shutil.which("strace") is None:
        raise unittest.SkipTest("neither chattr +i nor strace can fail the store's writes")
    return procs.strace_inject(pid, "pwrite64", "error=EIO")


@contextlib.contextmanager
def store_writes_fail(state_dir: str, pid: int):
    """The state directory, the database and its WAL made immutable; not the -shm index, which
    SQLite maps into memory (a write fault on an immutable mapped file is a SIGBUS, not an
    error SQLite could report)."""
    paths = [state_dir] + [os.path.join(state_dir, n) for n in ("rdpgate.db", "rdpgate.db-wal")]
    works = subprocess.run(["chattr", "+i", paths[0]], capture_output=True, timeout=10)
    subprocess.run(["chattr", "-i", paths[0]], capture_output=True, timeout=10)
    manager = immutable(paths) if works.returncode == 0 else failing_pwrite(pid)
    with manager as how:
        yield how


@unittest.skipUnless(tokens_test.have_openssl(), "openssl is needed to make an Ed25519 key")
class ReplayWriteFailure(lib.AccessTestCase):
    def setUp(self):
        self.backend = lib.FakeBackend()
        self.addCleanup(self.backend.close)
        # Under the working directory (the build tree) rather than /tmp, which is often a file
        # system without chattr's flags.
        self.dir = tempfile.mkdtemp(prefix="rdpgate-replay-", dir=os.getcwd())
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.keys = Keys(self.dir)
        routes = lib.route("main", self.backend, "    require_token: true\n")
        text = lib.config(lib.listener("main", "main"), routes, extra=self.keys.yaml())
        self.gw = Gateway(text, os.path.join(self.dir, "gw"), admin_token=lib.ADMIN_TOKEN)
        self.addCleanup(self.gw.cleanup)
        self.gw.start()

    def send(self, token: str) -> tuple[lib.Attempt, dict]:
        attempt = lib.connect(self.gw.port("main"), lib.preconnection_pdu(token) + REQUEST)
        return attempt, lib.audit_of(self.gw, attempt)

    def health(self) -> dict:
        status, body = self.gw.http("GET", "/healthz")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def test_failed_replay_write_refuses_the_token(self):
        first, second = issue(self.gw.config_path, "main"), issue(self.gw.config_path, "main")
        attempt, record = self.send(first)  # the store works: written, relayed
        self.assertEqual((attempt.result, record["outcome"]), ("relayed", RELAYED), record)
        self.assertEqual(self.health()["status"], "ok")

        since = self.gw.event_count()
        with store_writes_fail(self.gw.state_dir, self.gw.pid) as how:
            attempt, record = self.send(second)
            self.assertEqual(attempt.result, "closed", (how, attempt, record))
            self.assertEqual((record["outcome"], record["reason"]),
                             ("token_invalid", "replay_not_recorded"), (how, record))
            self.assertEqual(self.backend.count(), 1, "a refused client was relayed")
            failed = self.gw.wait_event(lambda e: e.get("event") == "state_write_failed", 5,
                                        "state_write_failed", since)
            self.assertIn("rdpgate.db", failed.get("error", ""))
            health = self.health()
            self.assertEqual(health["status"], "degraded", health)
            self.assertGreaterEqual(health["state"]["errors"], 1, health)

        # Writable again: the refused token was not used up; it passes once.
        attempt, record = self.send(second)
        self.assertEqual((attempt.result, record["outcome"]), ("relayed", RELAYED), record)
        attempt, record = self.send(second)
        self.assertEqual((record["outcome"], record["reason"]), ("token_invalid", "replayed"))
        self.assertEqual(lib.metric(self.gw, "rdpgate_tokens_total", {"result": "invalid"}), 2)


if __name__ == "__main__":
    raise SystemExit(lib.main())
