"""Real RDP peers on loopback for rdpgate's end-to-end tests (Python 3 standard library only).

Starts and stops, always by pid and also on failure (context managers plus an atexit hook):

- a private Xvfb display (`-displayfd`, retried when a fresh display fails to open);
- `freerdp-shadow-cli` with NLA checked against a SAM file made by `winpr-hash`
  (`/sec:nla` = NLA only, or `+sec-nla` = NLA, TLS and standard RDP);
- `xrdp --nodaemon` with its own ini (TLS, `security_layer=negotiate|tls`, self-signed cert);
- `rdpgate run --config <generated yaml>` on port 0, learning its ports from stdout;
- `xfreerdp +auth-only` runs, non-interactive, under `timeout -k 3 20`;
- a recording TCP relay (asyncio) that counts connections and bytes, used to prove that a
  refused client never reaches a backend and to measure how NLA logons end.

Every wait has a timeout. Every server gets a free loopback port (probed by binding port 0) and
private HOME and temporary directories.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import json
import os
import queue
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Callable, Iterator

LOOPBACK = "127.0.0.1"
USER = "rdpuser"
PASSWORD = "Corr3ct-Horse!"
WRONG_PASSWORD = "wrong-Password1"
ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef"
# Failed-logon inference thresholds measured with calibrate_auth.py (docs/e2e.md): a failed NLA
# logon to freerdp-shadow sends 1983 bytes to the client; a successful +auth-only one >= 3257.
INFERENCE_YAML = "{max_duration: 2s, max_server_bytes: 2560}"

REQUIRED_PROGRAMS = ("Xvfb", "xdpyinfo", "xfreerdp", "winpr-hash", "timeout")
SHADOW_PROGRAMS = ("freerdp-shadow-cli",)
XRDP_PROGRAMS = ("xrdp", "openssl")

# ---------------------------------------------------------------------------------------------
# Process bookkeeping: every child is started in its own process group and remembered by pid, so
# that a failing test (or an interpreter exit) still stops exactly what this module started.

_children: dict[int, subprocess.Popen] = {}
_children_lock = threading.Lock()


def _remember(proc: subprocess.Popen) -> subprocess.Popen:
    with _children_lock:
        _children[proc.pid] = proc
    return proc


def stop_process(proc: subprocess.Popen | None, sig: int = signal.SIGTERM,
                 timeout: float = 5.0) -> int | None:
    """Stops one child we started: `sig` to its process group, then SIGKILL after `timeout`."""
    if proc is None:
        return None
    try:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)  # the group id is the child's pid (start_new_session)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        else:
            # The leader is gone; helpers it left in its group (if any) go too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
    finally:
        with _children_lock:
            _children.pop(proc.pid, None)
    return proc.returncode


@atexit.register
def _stop_all_children() -> None:
    with _children_lock:
        procs = list(_children.values())
    for proc in procs:
        stop_process(proc, signal.SIGKILL, timeout=2)


def spawn(argv: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(),
          stdin=subprocess.DEVNULL) -> subprocess.Popen:
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=stdout, stderr=stderr, stdin=stdin,
                            pass_fds=pass_fds, start_new_session=True)
    return _remember(proc)


def missing_programs(names=REQUIRED_PROGRAMS) -> list[str]:
    return [n for n in names if shutil.which(n) is None]


# ---------------------------------------------------------------------------------------------
# Ports


def free_port() -> int:
    """A loopback port that was free a moment ago (bind port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_port(port: int, host: str = LOOPBACK, timeout: float = 10.0,
              alive: Callable[[], bool] | None = None) -> None:
    """Waits until host:port accepts a TCP connection; raises TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None and not alive():
            raise RuntimeError(f"process serving {host}:{port} exited before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{host}:{port} did not accept within {timeout}s")
        time.sleep(0.05)


def private_dir(prefix: str) -> str:
    return tempfile.mkdtemp(prefix=f"rdpgate-e2e-{prefix}-")


def base_env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "WAYLAND"))}
    env["HOME"] = home
    env["TMPDIR"] = os.path.join(home, "tmp")
    os.makedirs(env["TMPDIR"], exist_ok=True)
    env.pop("DISPLAY", None)
    return env


# ---------------------------------------------------------------------------------------------
# Xvfb


class Xvfb:
    """A private X display. `with Xvfb() as x: x.display  # ":7"`."""

    def __init__(self, attempts: int = 5, timeout: float = 10.0):
        self.attempts = attempts
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None
        self.display = ""
        self.home = private_dir("xvfb")

    def start(self) -> "Xvfb":
        # -noreset: by default Xvfb resets when its last client leaves (here: the xdpyinfo probe),
        # and a program opening the display during the reset fails ("failed to open display").
        last_error = ""
        for _ in range(self.attempts):
            read_fd, write_fd = os.pipe()
            try:
                proc = spawn(["Xvfb", "-displayfd", str(write_fd), "-nolisten", "tcp",
                              "-screen", "0", "1024x768x24", "-nocursor", "-noreset"],
                             env=base_env(self.home), pass_fds=(write_fd,))
            finally:
                os.close(write_fd)
            number = _read_line_fd(read_fd, self.timeout)
            os.close(read_fd)
            if number and number.isdigit() and self._answers(f":{number}"):
                self.proc, self.display = proc, f":{number}"
                return self
            last_error = f"display {number!r} did not open"
            stop_process(proc)
            time.sleep(0.2)
        raise RuntimeError(f"Xvfb failed {self.attempts} times: {last_error}")

    def _answers(self, display: str) -> bool:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            r = subprocess.run(["xdpyinfo", "-display", display], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=10, check=False)
            if r.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> "Xvfb":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _read_line_fd(fd: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 64)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


# ---------------------------------------------------------------------------------------------
# freerdp-shadow-cli


def make_sam_file(path: str, users: dict[str, str]) -> None:
    lines = []
    for user, password in users.items():
        r = subprocess.run(["winpr-hash", "-u", user, "-p", password, "-f", "sam"],
                           capture_output=True, text=True, timeout=10, check=True)
        lines.append(r.stdout.strip())
    with open(path, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")


class ShadowServer:
    """freerdp-shadow-cli on a free loopback port, shadowing `display`.

    mode "nla": `/sec:nla` (NLA only; TLS/RDP clients get HYBRID_REQUIRED_BY_SERVER);
    mode "any": `+sec-nla` (NLA, TLS and standard RDP). NLA checks the SAM file."""

    def __init__(self, display: str, mode: str = "nla", users: dict[str, str] | None = None,
                 timeout: float = 15.0):
        assert mode in ("nla", "any")
        self.display = display
        self.mode = mode
        self.users = users or {USER: PASSWORD}
        self.timeout = timeout
        self.home = private_dir("shadow")
        self.sam = os.path.join(self.home, "sam")
        self.log_path = os.path.join(self.home, "shadow.log")
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ShadowServer":
        make_sam_file(self.sam, self.users)
        security = "/sec:nla" if self.mode == "nla" else "+sec-nla"
        last_error: Exception | None = None
        for _ in range(3):  # a probed port can be taken by someone else before we bind it
            self.port = free_port()
            env = base_env(self.home)
            env["DISPLAY"] = self.display
            log = open(self.log_path, "ab")
            try:
                self.proc = spawn(["freerdp-shadow-cli", f"/bind-address:{LOOPBACK}",
                                   f"/port:{self.port}", f"/sam-file:{self.sam}", "-auth",
                                   security], env=env, cwd=self.home, stdout=log, stderr=log)
            finally:
                log.close()
            try:
                wait_port(self.port, timeout=self.timeout,
                          alive=lambda: self.proc is not None and self.proc.poll() is None)
                return self
            except (TimeoutError, RuntimeError) as e:
                last_error = e
                stop_process(self.proc)
                self.proc = None
        raise RuntimeError(f"freerdp-shadow-cli did not start: {last_error}\n{self.log()}")

    def log(self) -> str:
        with contextlib.suppress(OSError), open(self.log_path, encoding="utf-8",
                                                errors="replace") as f:
            return f.read()
        return ""

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> "ShadowServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# xrdp

_XRDP_INI = """\
[Globals]
ini_version=1
fork=false
port=tcp://{host}:{port}
use_vsock=false
tcp_nodelay=true
tcp_keepalive=true
security_layer={security_layer}
crypt_level=fips
certificate={cert}
key_file={key}
ssl_protocols=TLSv1.2, TLSv1.3
autorun=
allow_channels=true
max_bpp=32
new_cursors=true
use_fastpath=both

[Logging]
LogFile={log}
LogLevel=INFO
EnableSyslog=false
EnableConsole=false

[Channels]
rdpdr=false
rdpsnd=false
drdynvc=false
cliprdr=false
rail=false
xrdpvr=false
tcutils=false

[Xvnc]
name=Xvnc
lib=libvnc.so
username=ask
password=ask
ip=127.0.0.1
port=-1
"""


def make_self_signed_cert(directory: str) -> tuple[str, str]:
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=True)
    return cert, key


class XrdpServer:
    """xrdp --nodaemon with a private ini: TLS with `security_layer` negotiate or tls."""

    def __init__(self, security_layer: str = "negotiate", timeout: float = 15.0):
        assert security_layer in ("negotiate", "tls", "rdp")
        self.security_layer = security_layer
        self.timeout = timeout
        self.home = private_dir("xrdp")
        self.ini = os.path.join(self.home, "xrdp.ini")
        self.log_path = os.path.join(self.home, "xrdp.log")
        self.out_path = os.path.join(self.home, "xrdp.out")
        self.port = 0
        self.proc: subprocess.Popen | None = None

    def start(self) -> "XrdpServer":
        cert, key = make_self_signed_cert(self.home)
        last_error: Exception | None = None
        for _ in range(3):
            self.port = free_port()
            with open(self.ini, "w", encoding="ascii") as f:
                f.write(_XRDP_INI.format(host=LOOPBACK, port=self.port,
                                         security_layer=self.security_layer, cert=cert, key=key,
                                         log=self.log_path))
            out = open(self.out_path, "ab")
            try:
                self.proc = spawn(["xrdp", "--nodaemon", "--config", self.ini],
                                  env=base_env(self.home), cwd=self.home, stdout=out, stderr=out)
            finally:
                out.close()
            try:
                wait_port(self.port, timeout=self.timeout,
                          alive=lambda: self.proc is not None and self.proc.poll() is None)
                return self
            except (TimeoutError, RuntimeError) as e:
                last_error = e
                stop_process(self.proc)
                self.proc = None
        raise RuntimeError(f"xrdp did not start: {last_error}\n{self.log()}")

    def log(self) -> str:
        text = ""
        for path in (self.out_path, self.log_path):
            with contextlib.suppress(OSError), open(path, encoding="utf-8",
                                                    errors="replace") as f:
                text += f.read()
        return text

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> "XrdpServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# xfreerdp


@dataclasses.dataclass
class ClientResult:
    argv: list[str]
    exit_code: int
    elapsed: float
    log: str

    @property
    def auth_only_ok(self) -> bool:
        return "Authentication only, exit status 0" in self.log

    @property
    def negotiated(self) -> str | None:
        """NLA, TLS, RDP (from `Negotiated ... security`), or None."""
        m = re.search(r"Negotiated (\w+) security", self.log)
        return m.group(1) if m else None

    @property
    def hybrid_required(self) -> bool:
        return "HYBRID_REQUIRED_BY_SERVER" in self.log

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and self.auth_only_ok

    def describe(self) -> str:
        tail = "\n".join(self.log.splitlines()[-25:])
        return (f"xfreerdp exit {self.exit_code} after {self.elapsed:.2f}s, "
                f"negotiated={self.negotiated}, argv={' '.join(self.argv)}\n{tail}")


class Client:
    """Runs xfreerdp non-interactively against host:port on a given X display."""

    def __init__(self, display: str):
        self.display = display
        self.home = private_dir("xfreerdp")

    def run(self, port: int, *, user: str = USER, password: str = PASSWORD,
            sec: str | None = None, extra: list[str] | None = None, host: str = LOOPBACK,
            kill_after: int = 20) -> ClientResult:
        argv = ["timeout", "-k", "3", str(kill_after), "xfreerdp", f"/v:{host}", f"/port:{port}",
                f"/u:{user}", f"/p:{password}", "/cert:ignore", "+auth-only", "/timeout:10000",
                "/log-level:INFO", "/log-filters:com.freerdp.core.nego:DEBUG"]
        if sec:
            argv.append(f"/sec:{sec}")
        argv += extra or []
        env = base_env(self.home)
        env["DISPLAY"] = self.display
        start = time.monotonic()
        proc = spawn(argv, env=env, cwd=self.home, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT)
        try:
            out, _ = proc.communicate(timeout=kill_after + 10)
        except subprocess.TimeoutExpired:
            stop_process(proc, signal.SIGKILL)
            out, _ = proc.communicate()
        finally:
            with _children_lock:
                _children.pop(proc.pid, None)
        elapsed = time.monotonic() - start
        shown = [a if not a.startswith("/p:") else "/p:***" for a in argv]
        return ClientResult(shown, proc.returncode, elapsed,
                            out.decode("utf-8", errors="replace"))

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Recording relay: counts connections and bytes, records who closed first.


@dataclasses.dataclass
class RelayRecord:
    started: float
    ended: float = 0.0
    client_to_server: int = 0
    server_to_client: int = 0
    first_close: str = ""  # "client", "server" or "" (still open)
    connected_upstream: bool = False
    client_head: bytes = b""  # the first bytes the client side sent (up to 512)

    @property
    def duration(self) -> float:
        return self.ended - self.started


class RecordingRelay:
    """A loopback TCP relay in its own asyncio thread, in front of `target_port`.

    With target_port=None it is a sink: it accepts, counts and holds connections (a backend that
    records whether anyone reached it)."""

    def __init__(self, target_port: int | None, target_host: str = LOOPBACK):
        self.target = (target_host, target_port) if target_port else None
        self.records: list[RelayRecord] = []
        self.port = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self.records)

    def snapshot(self) -> list[RelayRecord]:
        with self._lock:
            return [dataclasses.replace(r) for r in self.records]

    def wait_closed(self, count: int, timeout: float = 10.0) -> list[RelayRecord]:
        """Waits until at least `count` sessions were accepted and all of them have ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self.snapshot()
            if len(snap) >= count and all(r.ended for r in snap):
                return snap
            time.sleep(0.02)
        raise TimeoutError(f"relay: {count} closed sessions not seen in {timeout}s: "
                           f"{self.snapshot()}")

    def start(self) -> "RecordingRelay":
        self._thread = threading.Thread(target=self._run, name="recording-relay", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("recording relay did not start")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._serve())
        self._loop.run_forever()
        self._loop.close()

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._on_client, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()

    async def _on_client(self, c_reader: asyncio.StreamReader,
                         c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        record = RelayRecord(started=time.monotonic())
        with self._lock:
            self.records.append(record)
        try:
            if self.target is None:
                await self._sink(c_reader, record)
            else:
                await self._relay(c_reader, c_writer, record)
        except asyncio.CancelledError:
            pass  # the relay is stopping
        finally:
            record.ended = record.ended or time.monotonic()
            c_writer.close()
            self._tasks.discard(task)

    async def _sink(self, reader: asyncio.StreamReader, record: RelayRecord) -> None:
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            while data := await asyncio.wait_for(reader.read(65536), 30):
                record.client_to_server += len(data)
                if len(record.client_head) < 512:
                    record.client_head += data[:512 - len(record.client_head)]
        record.first_close = record.first_close or "client"

    async def _relay(self, c_reader, c_writer, record: RelayRecord) -> None:
        try:
            s_reader, s_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), 5)
        except (OSError, asyncio.TimeoutError):
            record.first_close = "relay"
            return
        record.connected_upstream = True

        async def pump(reader, writer, attr: str, side: str) -> None:
            try:
                while data := await reader.read(65536):
                    setattr(record, attr, getattr(record, attr) + len(data))
                    if side == "client" and len(record.client_head) < 512:
                        record.client_head += data[:512 - len(record.client_head)]
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            if not record.first_close:
                record.first_close = side
                record.ended = time.monotonic()
            with contextlib.suppress(OSError):
                if writer.can_write_eof():
                    writer.write_eof()

        up = asyncio.ensure_future(pump(c_reader, s_writer, "client_to_server", "client"))
        down = asyncio.ensure_future(pump(s_reader, c_writer, "server_to_client", "server"))
        try:
            # The session ends when either side closes; the other half gets a short grace period.
            _, pending = await asyncio.wait({up, down}, timeout=60,
                                            return_when=asyncio.FIRST_COMPLETED)
            if pending:
                _, pending = await asyncio.wait(pending, timeout=1)
        finally:
            for t in (up, down):
                t.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            s_writer.close()

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            tasks = list(self._tasks)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    def __enter__(self) -> "RecordingRelay":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# rdpgate


def find_rdpgate() -> str | None:
    """The rdpgate binary from RDPGATE_BINARY (set by CMake/ctest), if it exists."""
    path = os.environ.get("RDPGATE_BINARY", "")
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    return None


def yaml_quote(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


class Gateway:
    """`rdpgate run --config FILE` on port 0; learns its ports from the `listening` lines.

    `config_text` is YAML written to a private directory; `{state_dir}` in it is replaced by a
    private state directory. Audit JSON lines from stderr are collected in `audit()`."""

    def __init__(self, binary: str, config_text: str, env: dict[str, str] | None = None,
                 ready_timeout: float = 15.0):
        self.binary = binary
        self.home = private_dir("rdpgate")
        self.state_dir = os.path.join(self.home, "state")
        os.makedirs(self.state_dir, exist_ok=True)
        self.config_path = os.path.join(self.home, "rdpgate.yaml")
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(config_text.replace("{state_dir}", self.state_dir))
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.listeners: dict[str, tuple[str, int]] = {}
        self.metrics: tuple[str, int] | None = None
        self.admin: tuple[str, int] | None = None
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._stdout_q: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.exit_code: int | None = None

    def start(self, expected_listeners: int | None = None) -> "Gateway":
        self.proc = spawn([self.binary, "run", "--config", self.config_path], env=self.env,
                          cwd=self.home, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._threads:
            t.start()
        want_metrics = "metrics:" in _config_sections(self.config_path)
        want_admin = "admin:" in _config_sections(self.config_path)
        deadline = time.monotonic() + self.ready_timeout
        while True:
            have_listeners = (expected_listeners is None and self.listeners) or (
                expected_listeners is not None and len(self.listeners) >= expected_listeners)
            if (have_listeners and (self.metrics or not want_metrics)
                    and (self.admin or not want_admin)):
                return self
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise TimeoutError(f"rdpgate not ready in {self.ready_timeout}s; "
                                   f"stdout={self.stdout_lines} stderr={self.stderr_text()}")
            try:
                line = self._stdout_q.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait(timeout=5)
                raise RuntimeError(f"rdpgate exited with {code} before it was ready; "
                                   f"stderr={self.stderr_text()}")
            self._parse_ready_line(line)

    def _parse_ready_line(self, line: str) -> None:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "listening":
            self.listeners[parts[1]] = _split_endpoint(parts[2])
        elif len(parts) == 2 and parts[0] == "metrics":
            self.metrics = _split_endpoint(parts[1])
        elif len(parts) == 2 and parts[0] == "admin":
            self.admin = _split_endpoint(parts[1])

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._lock:
                self.stdout_lines.append(line)
            self._stdout_q.put(line)
        self._stdout_q.put(None)

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._lock:
                self.stderr_lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    def port(self, listener: str) -> int:
        return self.listeners[listener][1]

    def stderr_text(self) -> str:
        with self._lock:
            return "\n".join(self.stderr_lines[-60:])

    def audit(self) -> list[dict]:
        """Every `"event":"connection"` JSON record written so far."""
        with self._lock:
            lines = list(self.stderr_lines)
        records = []
        for line in lines:
            start = line.find("{")
            if start < 0:
                continue
            try:
                obj = json.loads(line[start:])
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("event") == "connection":
                records.append(obj)
        return records

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
                                   f"{self.audit()}; stderr tail:\n{self.stderr_text()}")
            time.sleep(0.05)

    def http(self, method: str, path: str, *, endpoint: str = "admin", body: dict | None = None,
             token: str | None = None, timeout: float = 5.0) -> tuple[int, str]:
        where = self.admin if endpoint == "admin" else self.metrics
        if where is None:
            raise RuntimeError(f"rdpgate has no {endpoint} endpoint")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://{where[0]}:{where[1]}{path}", data=data,
                                     method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", errors="replace")

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The value of one sample from GET /metrics (sum over samples matching `labels`)."""
        status, text = self.http("GET", "/metrics", endpoint="metrics")
        if status != 200:
            raise RuntimeError(f"GET /metrics: {status}")
        return metric_value(text, name, labels)

    def wait_metric(self, name: str, labels: dict[str, str] | None, expected: float,
                    timeout: float = 5.0) -> float | None:
        """Polls /metrics until the sample equals `expected` (metrics may trail the audit line by
        a moment); returns the last value seen either way, for the caller to assert on."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.metric(name, labels)
            if value == expected or time.monotonic() > deadline:
                return value
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return self.exit_code
        self.exit_code = stop_process(self.proc, signal.SIGTERM, timeout=timeout)
        for t in self._threads:
            t.join(2)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        self.proc = None
        return self.exit_code

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> "Gateway":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()


def gateway_yaml(listeners: str, routes: str,
                 bruteforce: str = "bruteforce: {enabled: false}\n") -> str:
    """A complete rdpgate config around the given `listeners:` and `routes:` items (YAML lines
    indented by two spaces): every endpoint on loopback port 0, JSON logs, a private state
    directory, the admin token from RDPGATE_ADMIN_TOKEN, and no per-source limits (the tests
    connect often from 127.0.0.1)."""
    root = "allow_root: true  # the tests may run as root in a container\n" \
        if os.geteuid() == 0 else ""
    return (f"{root}workers: 2\n"
            f"listeners:\n{listeners}"
            f"routes:\n{routes}"
            "sources:\n"
            "  per_source: {max_connections: 0, rate: \"0/s\"}\n"
            "inspection: {timeout: 5s}\n"
            "session: {idle_timeout: 60s}\n"
            "shutdown: {drain_timeout: 2s}\n"
            f"{bruteforce}"
            "metrics: {address: \"127.0.0.1:0\"}\n"
            "admin: {address: \"127.0.0.1:0\", token_env: RDPGATE_ADMIN_TOKEN}\n"
            "state: {path: \"{state_dir}\"}\n"
            "logging: {level: info, format: json}\n")


def gateway_unavailable() -> str | None:
    if find_rdpgate() is None:
        return ("rdpgate binary not found (RDPGATE_BINARY is unset or not a file): build the "
                "`rdpgate` target and run through ctest, or export RDPGATE_BINARY")
    return None


def _split_endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _config_sections(path: str) -> set[str]:
    with open(path, encoding="utf-8") as f:
        return {line.split()[0] for line in f if line and not line[0].isspace()
                and line.strip() and not line.startswith("#")}


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """Sums the samples of `name` whose labels include `labels`; None if there is none."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        have = dict(_LABEL.findall(m.group(3) or ""))
        if labels and any(have.get(k) != v for k, v in labels.items()):
            continue
        total += float(m.group(4))
        seen = True
    return total if seen else None


# ---------------------------------------------------------------------------------------------
# Small helpers for tests


@contextlib.contextmanager
def display() -> Iterator[Xvfb]:
    with Xvfb() as x:
        yield x


def skip_reason(programs=REQUIRED_PROGRAMS) -> str | None:
    missing = missing_programs(programs)
    if missing:
        return "missing programs for end-to-end tests: " + ", ".join(missing)
    return None


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


SKIP_EXIT_CODE = 77  # ctest SKIP_RETURN_CODE: every test of the file was skipped


def main() -> int:
    """Runs the calling module's unittest cases; exit 77 when all of them were skipped."""
    import unittest
    program = unittest.main(module="__main__", exit=False, verbosity=2)
    result = program.result
    if not result.wasSuccessful():
        return 1
    # A class skipped in setUpClass counts as one skip and zero tests run.
    if result.skipped and len(result.skipped) >= result.testsRun:
        return SKIP_EXIT_CODE
    return 0
