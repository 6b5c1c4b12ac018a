"""Real RDP peers on loopback for rdpgate's end-to-end tests (Python 3 standard library only).

Starts and stops, always by pid and also on failure (context managers plus an atexit hook):

- a private Xvfb display (`-displayfd`, retried when a fresh display fails to open);
- `freerdp-shadow-cli` with NLA checked against a SAM file made by `winpr-hash`
  (`/sec:nla` = NLA only, or `+sec-nla` = NLA, TLS and standard RDP);
- `xrdp --nodaemon` with its own ini (TLS, `security_layer=negotiate|tls`, self-signed cert);
- `xfreerdp +auth-only` runs, non-interactive, under `timeout -k 3 20`;
- a recording TCP relay (asyncio) that counts connections and bytes and records the TLS record
  headers after the Connection Confirm, used to prove that a refused client never reaches a
  backend and to measure how NLA logons end.

Every wait has a timeout. Every server gets a free loopback port (probed by binding port 0) and
private HOME and temporary directories. rdpgate itself runs through support.gateway;
gateway_yaml() is the config the end-to-end suites give it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import Callable, Iterator, TypeVar

from support import env, gateway
from support.net import LOOPBACK, free_port, wait_port
from support.procs import forget, spawn, stop_process

USER = "rdpuser"
PASSWORD = "Corr3ct-Horse!"
WRONG_PASSWORD = "wrong-Password1"
ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef"

REQUIRED_PROGRAMS = ("Xvfb", "xdpyinfo", "xfreerdp", "winpr-hash", "timeout")
SHADOW_PROGRAMS = ("freerdp-shadow-cli",)
XRDP_PROGRAMS = ("xrdp", "openssl")


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


def start_on_free_port(name: str, launch: Callable[[int], subprocess.Popen], timeout: float,
                       log: Callable[[], str]) -> tuple[int, subprocess.Popen]:
    """Starts a server with `launch(port)` on a probed free port and waits for it to accept.
    Tries three ports: a probed port can be taken by someone else before the server binds it."""
    last_error: Exception | None = None
    for _ in range(3):
        port = free_port()
        proc = launch(port)
        try:
            wait_port(port, timeout=timeout, alive=lambda: proc.poll() is None)
            return port, proc
        except (TimeoutError, RuntimeError) as e:
            last_error = e
            stop_process(proc)
    raise RuntimeError(f"{name} did not start: {last_error}\n{log()}")


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

        def launch(port: int) -> subprocess.Popen:
            env = base_env(self.home)
            env["DISPLAY"] = self.display
            with open(self.log_path, "ab") as log:
                return spawn(["freerdp-shadow-cli", f"/bind-address:{LOOPBACK}", f"/port:{port}",
                              f"/sam-file:{self.sam}", "-auth", security],
                             env=env, cwd=self.home, stdout=log, stderr=log)

        self.port, self.proc = start_on_free_port("freerdp-shadow-cli", launch, self.timeout,
                                                  self.log)
        return self

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

        def launch(port: int) -> subprocess.Popen:
            with open(self.ini, "w", encoding="ascii") as f:
                f.write(_XRDP_INI.format(host=LOOPBACK, port=port,
                                         security_layer=self.security_layer, cert=cert, key=key,
                                         log=self.log_path))
            with open(self.out_path, "ab") as out:
                return spawn(["xrdp", "--nodaemon", "--config", self.ini],
                             env=base_env(self.home), cwd=self.home, stdout=out, stderr=out)

        self.port, self.proc = start_on_free_port("xrdp", launch, self.timeout, self.log)
        return self

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
            kill_after: int = 20, auth_only: bool = True,
            rdp_file: str | None = None) -> ClientResult:
        """`auth_only=False` runs a full session, which lasts until `timeout` ends xfreerdp
        (SIGTERM) after `kill_after` seconds: exit 124 then. With `rdp_file`, xfreerdp reads
        the address and settings from that .rdp file (`port` and `host` are not used)."""
        target = [rdp_file] if rdp_file else [f"/v:{host}", f"/port:{port}"]
        argv = ["timeout", "-k", "3", str(kill_after), "xfreerdp", *target,
                f"/u:{user}", f"/p:{password}", "/cert:ignore", "/timeout:10000",
                "/log-level:INFO", "/log-filters:com.freerdp.core.nego:DEBUG"]
        if auth_only:
            argv.insert(argv.index("/timeout:10000"), "+auth-only")
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
            forget(proc)
        elapsed = time.monotonic() - start
        shown = [a if not a.startswith("/p:") else "/p:***" for a in argv]
        return ClientResult(shown, proc.returncode, elapsed,
                            out.decode("utf-8", errors="replace"))

    def close(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Recording relay: counts connections and bytes, records who closed first and the TLS records.


# One TLS record header seen by the relay: direction ("c" client->server, "s" server->client),
# content type (20 ChangeCipherSpec, 21 alert, 22 handshake, 23 application data), the record's
# version field and its length.
TlsHeader = tuple[str, int, int, int]


@dataclasses.dataclass
class RelayRecord:
    started: float
    ended: float = 0.0
    client_to_server: int = 0
    server_to_client: int = 0
    first_close: str = ""  # "client", "server" or "" (still open)
    connected_upstream: bool = False
    client_head: bytes = b""  # the first bytes the client side sent (up to 512)
    # TLS record headers after the X.224 Connection Confirm (when it selected TLS or NLA), both
    # directions in the order they reached the relay; see TlsRecordScanner.
    tls: list[TlsHeader] = dataclasses.field(default_factory=list)
    # The ServerHello: (legacy_version, supported_versions value or None).
    server_hello: tuple[int, int | None] | None = None
    close_index: int = -1  # len(tls) when the first side closed

    @property
    def duration(self) -> float:
        return self.ended - self.started

    @property
    def tls_version(self) -> int | None:
        """The negotiated TLS version (0x0303 = 1.2, 0x0304 = 1.3), from the ServerHello."""
        if self.server_hello is None:
            return None
        return self.server_hello[1] or self.server_hello[0]


class TlsRecordScanner:
    """Follows one relayed connection and appends TLS record headers to a RelayRecord.

    The server's first TPKT packet is the X.224 Connection Confirm; TLS follows only when it
    carries an RDP_NEG_RSP selecting a protocol other than standard RDP (0). The client cannot
    start TLS before it has the Confirm, so its bytes count only once the Confirm went by (what
    it sent before, a PROXY header, Preconnection PDU or Connection Request, is skipped). Record
    headers are parsed across reads; each header is recorded when its 5 bytes have arrived. The
    body of the server's first handshake record is kept to read the ServerHello."""

    def __init__(self, record: RelayRecord):
        self.record = record
        self.tls = False  # the Confirm selected TLS or NLA
        self.confirm = b""  # the Confirm's bytes so far
        self.confirm_done = False
        self.head = {"c": b"", "s": b""}  # a partial record header
        self.body_left = {"c": 0, "s": 0}  # body bytes of the current record still to come
        self.hello: bytearray | None = None  # the first server handshake record's body

    def feed(self, direction: str, data: bytes) -> None:
        if direction == "s" and not self.confirm_done:
            data = self._confirm(data)
        if not self.tls:
            return
        while data:
            if self.body_left[direction]:
                n = min(len(data), self.body_left[direction])
                if direction == "s" and self.hello is not None:
                    self.hello += data[:n]
                    if self.body_left["s"] == n:
                        self._server_hello(bytes(self.hello))
                        self.hello = None
                self.body_left[direction] -= n
                data = data[n:]
                continue
            take = 5 - len(self.head[direction])
            self.head[direction] += data[:take]
            data = data[take:]
            if len(self.head[direction]) == 5:
                ctype, version, length = struct.unpack(">BHH", self.head[direction])
                self.head[direction] = b""
                self.body_left[direction] = length
                self.record.tls.append((direction, ctype, version, length))
                if (direction == "s" and ctype == 22 and length
                        and self.record.server_hello is None):
                    self.hello = bytearray()

    def _confirm(self, data: bytes) -> bytes:
        self.confirm += data
        if len(self.confirm) < 4:
            return b""
        size = struct.unpack(">H", self.confirm[2:4])[0]
        if len(self.confirm) < size:
            return b""
        cc, rest = self.confirm[:size], self.confirm[size:]
        self.confirm_done = True
        # TPKT(4) + X.224 CC(7), then RDP_NEG_RSP: type 2, flags, length 8, selectedProtocol.
        if cc[:1] == b"\x03" and len(cc) >= 19 and cc[11] == 0x02:
            self.tls = struct.unpack("<I", cc[15:19])[0] != 0
        return rest

    def _server_hello(self, body: bytes) -> None:
        """Handshake type 2: length(3), legacy_version(2), random(32), session id, cipher
        suite(2), compression(1), extensions; supported_versions (43) holds TLS 1.3's version."""
        if len(body) < 39 or body[0] != 2:
            return
        legacy = struct.unpack(">H", body[4:6])[0]
        supported = None
        with contextlib.suppress(struct.error, IndexError):
            end = 4 + int.from_bytes(body[1:4], "big")
            pos = 39 + body[38] + 3 + 2  # session id, cipher suite, compression, extensions size
            while pos + 4 <= end:
                ext, size = struct.unpack(">HH", body[pos:pos + 4])
                if ext == 43 and size == 2:
                    supported = struct.unpack(">H", body[pos + 4:pos + 6])[0]
                pos += 4 + size
        self.record.server_hello = (legacy, supported)


class RecordingRelay:
    """A loopback TCP relay in its own asyncio thread, in front of `target_port`. Each session's
    RelayRecord holds bytes each way, who closed first and the TLS record headers after the
    Connection Confirm (`tls`, `server_hello`, `close_index`).

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
            return [dataclasses.replace(r, tls=list(r.tls)) for r in self.records]

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
        scanner = TlsRecordScanner(record)

        async def pump(reader, writer, attr: str, side: str) -> None:
            try:
                while data := await reader.read(65536):
                    setattr(record, attr, getattr(record, attr) + len(data))
                    if side == "client" and len(record.client_head) < 512:
                        record.client_head += data[:512 - len(record.client_head)]
                    scanner.feed(side[0], data)
                    writer.write(data)
                    await writer.drain()
            except OSError:
                pass
            if not record.first_close:
                record.first_close = side
                record.close_index = len(record.tls)
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
# Small helpers for tests


@contextlib.contextmanager
def display() -> Iterator[Xvfb]:
    with Xvfb() as x:
        yield x


def missing_programs(names=REQUIRED_PROGRAMS) -> list[str]:
    return [n for n in names if shutil.which(n) is None]


def skip_reason(programs=REQUIRED_PROGRAMS) -> str | None:
    missing = missing_programs(programs)
    if missing:
        return "missing programs for end-to-end tests: " + ", ".join(missing)
    return None


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def gateway_yaml(listeners: str, routes: str, bruteforce: str = "{enabled: false}",
                 state: str | None = None) -> str:
    """A complete rdpgate config around the given `listeners:` and `routes:` items: every
    endpoint on loopback port 0, JSON logs, a private state directory (or the `state:` given),
    the admin token from RDPGATE_ADMIN_TOKEN, and no per-source limits (the tests connect often
    from 127.0.0.1)."""
    extra = {"state": state} if state else {}
    return gateway.config(
        listeners, routes, bruteforce=bruteforce, **extra,
        allow_root="true  # the tests may run as root in a container" if os.geteuid() == 0
        else None,
        sources='\n  per_source: {max_connections: 0, rate: "0/s"}',
        inspection="{timeout: 5s}", session="{idle_timeout: 60s}",
        shutdown="{drain_timeout: 2s}")


def gateway_unavailable() -> str | None:
    return env.rdpgate_missing() if env.rdpgate_bin() is None else None


def rdpgate(listeners: str, routes: str, bruteforce: str,
            state: str | None = None) -> gateway.Gateway:
    """A Gateway (not started yet) on gateway_yaml(), with ADMIN_TOKEN for its admin API."""
    return gateway.Gateway(gateway_yaml(listeners, routes, bruteforce, state),
                           admin_token=ADMIN_TOKEN)


P = TypeVar("P")


class PeersTestCase(unittest.TestCase):
    """A test class on real peers: skipped as a whole when one of PROGRAMS is missing or, with
    NEEDS_RDPGATE, when the rdpgate binary is; otherwise it gets a private display (`xvfb`) and
    an xfreerdp client on it (`client`) for all its tests."""

    PROGRAMS: tuple[str, ...] = REQUIRED_PROGRAMS
    NEEDS_RDPGATE = True

    @classmethod
    def setUpClass(cls):
        reason = skip_reason(cls.PROGRAMS) or (cls.NEEDS_RDPGATE and gateway_unavailable())
        if reason:
            raise unittest.SkipTest(reason)
        cls.xvfb = cls.started(Xvfb())
        cls.client = Client(cls.xvfb.display)
        cls.addClassCleanup(cls.client.close)

    @classmethod
    def started(cls, peer: P) -> P:
        """Starts `peer` (a server or relay above) for the class; it is stopped after it."""
        peer.start()
        cls.addClassCleanup(peer.stop)
        return peer

    @classmethod
    def gateway_to(cls, backend_port: int, bruteforce: str,
                   state: str | None = None) -> gateway.Gateway:
        """rdpgate with one listener, `public`, routing everything to 127.0.0.1:backend_port;
        started for the class."""
        listeners = ('  - name: public\n'
                     '    address: "127.0.0.1:0"\n'
                     '    route: shadow\n')
        routes = ('  - name: shadow\n'
                  f'    backends: ["127.0.0.1:{backend_port}"]\n')
        gw = rdpgate(listeners, routes, bruteforce, state)
        cls.addClassCleanup(gw.cleanup)
        gw.start(listeners=1)
        return gw
