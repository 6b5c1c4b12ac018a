"""The real rdpgate binary as the suites run it: `rdpgate run --config FILE`.

- config(): a complete YAML config with loopback port 0 everywhere and JSON logs;
- Gateway: writes the config into a working folder (`{state_dir}` in it becomes the folder's
  `state/`), starts the binary in its own session, waits until it is ready (the `started` log
  event, then the `listening`/`metrics`/`admin` lines it printed before it on stdout), keeps
  every stderr line and the JSON ones as events (audit records are `"event": "connection"`),
  scrapes /metrics, calls the admin API, reloads (SIGHUP or rewritten file) and stops by pid
  with a deadline.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Callable

from support import env, procs
from support import metrics as exposition
from support.wait import poll_value

TOKEN_ENV = "RDPGATE_ADMIN_TOKEN"

# The sections config() writes unless told otherwise (None leaves a section out).
DEFAULTS = {
    "allow_root": "true",  # the suites may run as root in a container
    "workers": "2",
    "bruteforce": "{enabled: false}",
    "metrics": '{address: "127.0.0.1:0"}',
    "admin": f'{{address: "127.0.0.1:0", token_env: {TOKEN_ENV}}}',
    "state": '{path: "{state_dir}"}',
    "logging": "{level: info, format: json}",
}


def config(listeners: str, routes: str, extra: str = "", **sections: str | None) -> str:
    """A complete rdpgate config. `listeners` and `routes` are YAML block sequences (items
    indented by two spaces); every other top-level section is a keyword whose value is written
    after `key: ` (flow or block YAML), None to leave it out; DEFAULTS fill in the rest.
    `extra` is appended as is."""
    values = {**DEFAULTS, **sections}
    head = [f"{k}: {values.pop(k)}\n" for k in ("allow_root", "workers") if values[k] is not None]
    rest = [f"{k}: {v}\n" for k, v in values.items() if v is not None]
    return "".join(head) + f"listeners:\n{listeners}routes:\n{routes}" + "".join(rest) + extra


def yaml_quote(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class Gateway:
    """One rdpgate process. `workdir` defaults to a private temporary folder, removed by
    cleanup(). `admin_token` is put in the environment as `admin_token_env` and used by
    admin()."""

    def __init__(self, config_text: str, workdir: str | None = None, *, binary: str | None = None,
                 env_vars: dict[str, str] | None = None, name: str = "rdpgate.yaml",
                 admin_token: str | None = None, admin_token_env: str = TOKEN_ENV) -> None:
        self.binary = binary or env.rdpgate_bin()
        if self.binary is None:
            raise RuntimeError(env.rdpgate_missing())
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="rdpgate-test-")
        self.state_dir = os.path.join(self.workdir, "state")
        os.makedirs(self.state_dir, exist_ok=True)
        self.config_path = os.path.join(self.workdir, name)
        self.write_config(config_text)
        self.env = {k: v for k, v in os.environ.items() if k != "RDPGATE_ALLOW_ROOT"}
        self.admin_token = admin_token
        if admin_token is not None:
            self.env[admin_token_env] = admin_token
        self.env.update(env_vars or {})
        self.proc: subprocess.Popen | None = None
        self.exit_code: int | None = None
        self.listeners: dict[str, tuple[str, int]] = {}
        self.metrics_address: tuple[str, int] | None = None
        self.admin_address: tuple[str, int] | None = None
        self.portal_address: tuple[str, int] | None = None
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._events: list[dict] = []
        self._stderr_done = False
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []

    # -- config and lifetime ------------------------------------------------------------------

    def write_config(self, text: str) -> None:
        """Atomic replace, as an operator's deploy tool would do: a reload never sees half a
        file."""
        tmp = self.config_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text.replace("{state_dir}", self.state_dir))
        os.replace(tmp, self.config_path)

    def start(self, wait_ready: bool = True, timeout: float = 15.0,
              listeners: int = 1) -> "Gateway":
        """Starts the process; with `wait_ready`, returns once it logged `started` and announced
        at least `listeners` listeners. RuntimeError if it exits first, TimeoutError (after
        stopping it) if it is not ready within `timeout` seconds."""
        self.proc = procs.spawn([self.binary, "run", "--config", self.config_path], env=self.env,
                                cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._threads = [threading.Thread(target=self._read, args=(self.proc.stdout, True),
                                          daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, False),
                                          daemon=True)]
        for t in self._threads:
            t.start()
        if not wait_ready:
            return self
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self._find(lambda e: e.get("event") == "started")
                       and len(self.listeners) >= listeners):
                left = deadline - time.monotonic()
                if self._stderr_done:
                    code = self.proc.wait(timeout=5)
                    raise RuntimeError(f"rdpgate exited with {code} before it was ready; "
                                       f"stderr:\n{self.log_tail()}")
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.1))
            else:
                return self
        self.stop()
        raise TimeoutError(f"rdpgate not ready in {timeout}s; stdout={self.stdout_lines} "
                           f"stderr:\n{self.log_tail()}")

    def _read(self, stream, is_stdout: bool) -> None:
        # The ready lines are one write of the process (flushed together before `started` is
        # logged): they are taken in one read and published together.
        fd = stream.fileno()
        pending = b""
        while chunk := os.read(fd, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            with self._cond:
                for raw in lines:
                    self._line(raw.decode("utf-8", errors="replace"), is_stdout)
                self._cond.notify_all()
        with self._cond:
            if pending:
                self._line(pending.decode("utf-8", errors="replace"), is_stdout)
            if not is_stdout:
                self._stderr_done = True  # the process exited: no event can arrive any more
            self._cond.notify_all()

    def _line(self, line: str, is_stdout: bool) -> None:
        if is_stdout:
            self.stdout_lines.append(line)
            parts = line.split()
            if len(parts) == 3 and parts[0] == "listening":
                self.listeners[parts[1]] = _endpoint(parts[2])
            elif len(parts) == 2 and parts[0] == "metrics":
                self.metrics_address = _endpoint(parts[1])
            elif len(parts) == 2 and parts[0] == "admin":
                self.admin_address = _endpoint(parts[1])
            elif len(parts) == 2 and parts[0] == "portal":
                self.portal_address = _endpoint(parts[1])
            return
        self.stderr_lines.append(line)
        start = line.find("{")
        if start >= 0:
            try:
                event = json.loads(line[start:])
            except ValueError:
                return
            if isinstance(event, dict):
                self._events.append(event)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def port(self, listener: str = "main") -> int:
        return self.listeners[listener][1]

    def addr(self, name: str) -> tuple[str, int]:
        """(host, port) of a listener, or of the `metrics`, `admin` or `portal` endpoint."""
        if name in self.listeners:
            return self.listeners[name]
        where = {"metrics": self.metrics_address, "admin": self.admin_address,
                 "portal": self.portal_address}.get(name)
        if where is None:
            raise KeyError(f"rdpgate announced no endpoint {name!r}")
        return where

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def reload(self, text: str | None = None) -> None:
        """SIGHUP, after rewriting the config file when `text` is given."""
        if text is not None:
            self.write_config(text)
        self.signal(signal.SIGHUP)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise TimeoutError(f"rdpgate still running {timeout:.1f} s later") from e
        return self.exit_code

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait for the drain; returns the exit status. SIGKILL and TimeoutError
        when it has not exited `timeout` seconds later. Always safe to call again."""
        if self.proc is None:
            return self.exit_code
        running = self.proc.poll() is None
        self.exit_code = procs.stop_process(self.proc, signal.SIGTERM, timeout=timeout)
        for t in self._threads:
            t.join(2)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        if running and self.exit_code == -signal.SIGKILL:
            raise TimeoutError(f"rdpgate did not exit within {timeout:.0f}s of SIGTERM")
        return self.exit_code

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Gateway":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # -- logs -----------------------------------------------------------------------------------

    def log_tail(self, lines: int = 60) -> str:
        with self._cond:
            return "\n".join(self.stderr_lines[-lines:])

    def _find(self, predicate: Callable[[dict], bool], since: int = 0) -> list[dict]:
        return [e for e in self._events[since:] if predicate(e)]

    def event_count(self) -> int:
        with self._cond:
            return len(self._events)

    def find_events(self, predicate: Callable[[dict], bool], since: int = 0) -> list[dict]:
        """The JSON log lines so far (from index `since`) that `predicate` accepts."""
        with self._cond:
            return self._find(predicate, since)

    def events(self, name: str | None = None) -> list[dict]:
        """The JSON log lines so far, or those whose `event` is `name`."""
        return self.find_events(lambda e: name is None or e.get("event") == name)

    def wait_event(self, predicate: Callable[[dict], bool], timeout: float, what: str,
                   since: int = 0) -> dict:
        """The first event from index `since` that `predicate` accepts; TimeoutError after
        `timeout` seconds, or at once when the process has exited without logging it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self._find(predicate, since)
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0 or self._stderr_done:
                    raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}; "
                                       f"last log lines:\n{self.log_tail(15)}")
                self._cond.wait(min(left, 0.1))

    def audit(self) -> list[dict]:
        """Every audit record (`"event": "connection"`) written so far."""
        return self.events("connection")

    def wait_audit(self, count: int, timeout: float = 10.0,
                   where: Callable[[dict], bool] = lambda r: True) -> list[dict]:
        """Waits for at least `count` audit records matching `where`; returns all that match."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.audit() if where(r)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} audit record(s) not seen in {timeout}s; have "
                                   f"{self.audit()}; stderr tail:\n{self.log_tail()}")
            time.sleep(0.05)

    def audit_record(self, src_port: int, timeout: float = 5.0, since: int = 0) -> dict:
        """The audit record of the connection made from client port `src_port`, among the events
        from number `since` on (pass event_count() from before the connection: a port is reused
        once its last connection was reset)."""
        return self.wait_event(
            lambda e: e.get("event") == "connection" and e.get("src_port") == src_port,
            timeout, f"the audit record of source port {src_port}", since=since)

    # -- metrics and the admin API ----------------------------------------------------------------

    def http(self, method: str, path: str, *, endpoint: str = "admin", body: dict | None = None,
             token: str | None = None, timeout: float = 10.0) -> tuple[int, str]:
        """One request to the admin (or metrics) endpoint: (status, body text)."""
        host, port = self.addr(endpoint)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://{host}:{port}{path}", data=data, method=method)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", errors="replace")

    _OWN_TOKEN = object()

    def admin(self, method: str, path: str, body: dict | None = None,
              token: str | None | object = _OWN_TOKEN) -> tuple[int, str]:
        """The admin API with this gateway's token (or `token`; None sends none)."""
        return self.http(method, path, body=body,
                         token=self.admin_token if token is Gateway._OWN_TOKEN else token)

    def scrape(self) -> str:
        status, text = self.http("GET", "/metrics", endpoint="metrics", timeout=5.0)
        if status != 200:
            raise RuntimeError(f"GET /metrics: {status}")
        return text

    def metrics(self) -> exposition.Series:
        return exposition.parse(self.scrape(), strict=True)

    def metric(self, name: str, labels: dict[str, str] | None = None,
               default: float | None = None) -> float | None:
        """One value from GET /metrics: the sum over the samples whose labels include `labels`,
        or `default` when there is none."""
        value = exposition.sample(self.metrics(), name, labels)
        return default if value is None else value

    def wait_metric(self, name: str, expected: float, labels: dict[str, str] | None = None,
                    timeout: float = 5.0, default: float | None = None) -> float | None:
        """Polls /metrics until the value equals `expected` (metrics may trail the audit line,
        gauges are refreshed every second); returns the last value either way."""
        return poll_value(lambda: self.metric(name, labels, default), expected, timeout)
