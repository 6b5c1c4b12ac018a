"""A private `redis-server` for the tests that share state between rdpgate instances
(state.redis): started on a free loopback port with no persistence, stopped by pid; `stop()`
and `start()` again on the same port play an outage. Commands go through `redis-cli`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from support import net, procs

SERVER = shutil.which("redis-server")
CLI = shutil.which("redis-cli")


def available() -> bool:
    return SERVER is not None and CLI is not None


class RedisServer:
    def __init__(self, password: str = "") -> None:
        self.dir = tempfile.mkdtemp(prefix="rdpgate-redis-")
        self.password = password
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def password_file(self) -> str:
        """The password in a file only its owner may read, as rdpgate wants a secret."""
        path = os.path.join(self.dir, "password")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(self.password + "\n")
        return path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Starts it (on the same port as before, when it ran already)."""
        for _ in range(5):
            port = self.port or net.free_port()
            argv = [SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"]
            if self.password:
                argv += ["--requirepass", self.password]
            log = open(os.path.join(self.dir, "server.log"), "ab")  # noqa: SIM115
            self.proc = procs.spawn(argv, stdout=log, stderr=log)
            log.close()
            try:
                net.wait_port(port, timeout=timeout, alive=lambda: self.proc.poll() is None)
                self.port = port
                return
            except RuntimeError:  # it exited: another process took the port first
                procs.stop_process(self.proc)
                self.proc = None
                if self.port:
                    raise
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        procs.stop_process(self.proc)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args: str) -> str:
        argv = [CLI, "-h", "127.0.0.1", "-p", str(self.port)]
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        done = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=10,
                              env=env, check=True)
        return done.stdout.strip()
