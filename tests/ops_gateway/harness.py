"""Shared pieces of rdpgate's operations tests (Python 3 standard library only).

- `Gateway`: runs the real `rdpgate run --config FILE` binary (RDPGATE_BIN) on a generated
  config, learns its ports from the ready lines on stdout, collects the JSON log lines of stderr
  (audit records included) and scrapes its Prometheus endpoint and admin API.
- `FakeBackend`: a stand-in RDP host. It reads a client's X.224 Connection Request, answers
  with a 19-byte Connection Confirm selecting HYBRID (CredSSP), then echoes every byte. It can
  be stopped (listening socket and connections closed, so the port refuses), restarted on the
  same port, or set mute (accepts TCP but never answers).
- Client helpers that speak the first flight of an RDP client and an echoing traffic thread.

Every wait has a timeout; every process is started in its own session and stopped by pid.
Traffic stays on loopback (127.0.0.0/8).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from typing import Callable, Iterable

LOOPBACK = "127.0.0.1"
ADMIN_TOKEN = "ops-admin-token-6b1f0d2e9c4a7358"
ADMIN_TOKEN_ENV = "RDPGATE_OPS_ADMIN_TOKEN"
SKIP = 77

PROTO_SSL = 0x1
PROTO_HYBRID = 0x2

# [MS-RDPBCGR] 2.2.1.2 Server X.224 Connection Confirm PDU with RDP_NEG_RSP selecting HYBRID.
CONFIRM_HYBRID = bytes([
    0x03, 0x00, 0x00, 0x13,              # TPKT: version 3, reserved, length 19 (big-endian)
    0x0E,                                # X.224 LI: 14 bytes follow
    0xD0,                                # CC CDT
    0x00, 0x00,                          # DST-REF
    0x12, 0x34,                          # SRC-REF
    0x00,                                # class 0
    0x02,                                # RDP_NEG_RSP
    0x00,                                # flags
    0x08, 0x00,                          # length 8 (little-endian)
    0x02, 0x00, 0x00, 0x00,              # selectedProtocol: PROTOCOL_HYBRID
])


def connection_request(user: str = "opsuser", protocols: int = PROTO_SSL | PROTO_HYBRID) -> bytes:
    """[MS-RDPBCGR] 2.2.1.1 X.224 Connection Request with an mstshash cookie and RDP_NEG_REQ."""
    cookie = f"Cookie: mstshash={user}\r\n".encode()
    neg_req = struct.pack("<BBHI", 0x01, 0x00, 8, protocols)  # type, flags, length, protocols
    x224 = bytes([0xE0, 0x00, 0x00, 0x00, 0x00, 0x00]) + cookie + neg_req  # CR CDT, refs, class
    li = len(x224)
    return struct.pack(">BBH", 3, 0, 4 + 1 + li) + bytes([li]) + x224


def proxy_v1(src: str, src_port: int, dst: str | None = None, dst_port: int = 3389) -> bytes:
    family = "TCP6" if ":" in src else "TCP4"
    dst = dst or ("::1" if ":" in src else LOOPBACK)
    return f"PROXY {family} {src} {dst} {src_port} {dst_port}\r\n".encode()


def proxy_v2(src: str, src_port: int, dst: str | None = None, dst_port: int = 3389) -> bytes:
    """haproxy doc/proxy-protocol.txt §2.2: signature, version 2 + PROXY, TCP over IPv4/IPv6."""
    dst = dst or ("::1" if ":" in src else LOOPBACK)
    signature = b"\r\n\r\n\x00\r\nQUIT\n"
    if ":" in src:
        body = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                + struct.pack(">HH", src_port, dst_port))
        family = 0x21  # AF_INET6, STREAM
    else:
        body = (socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", src_port, dst_port))
        family = 0x11  # AF_INET, STREAM
    return signature + bytes([0x21, family]) + struct.pack(">H", len(body)) + body


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def rdpgate_binary() -> str | None:
    path = os.environ.get("RDPGATE_BIN", "")
    return path if path and os.access(path, os.X_OK) else None


def skip(message: str) -> None:
    print(f"SKIP: {message}", flush=True)
    sys.exit(SKIP)


class Failure(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               interval: float = 0.02) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise Failure(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def recv_exactly(sock: socket.socket, n: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    out = bytearray()
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"received {len(out)} of {n} bytes")
        sock.settimeout(left)
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"closed after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Fake RDP backend


class FakeBackend:
    """Answers a Connection Request with CONFIRM_HYBRID, then echoes. Thread per connection."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.mute = False
        self.users: list[str] = []  # cookie of every complete Connection Request, in order
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._stop = threading.Event()

    def start(self) -> "FakeBackend":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((LOOPBACK, self.port))
        s.listen(128)
        self.port = s.getsockname()[1]
        self._listener = s
        self._stop = threading.Event()
        threading.Thread(target=self._accept_loop, args=(s, self._stop), daemon=True).start()
        return self

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def stop(self) -> None:
        """The port refuses from now on and every open connection is reset."""
        self._stop.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            with contextlib.suppress(OSError):
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()

    def sessions(self, user_prefix: str = "") -> int:
        with self._lock:
            return sum(1 for u in self.users if u.startswith(user_prefix))

    def _accept_loop(self, s: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                ready, _, _ = select.select([s], [], [], 0.1)
                if not ready:
                    continue
                conn, _ = s.accept()
            except (OSError, ValueError):
                return
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn, stop), daemon=True).start()

    def _serve(self, conn: socket.socket, stop: threading.Event) -> None:
        try:
            conn.settimeout(10)
            header = recv_exactly(conn, 4, 10)
            length = struct.unpack(">H", header[2:4])[0]
            rest = recv_exactly(conn, max(0, length - 4), 10)
            m = re.search(rb"mstshash=([^\r\n]*)\r\n", rest)
            with self._lock:
                self.users.append(m.group(1).decode(errors="replace") if m else "")
            if self.mute:
                while not stop.is_set() and conn.recv(4096):
                    pass
                return
            conn.sendall(CONFIRM_HYBRID)
            conn.settimeout(None)
            while not stop.is_set():
                ready, _, _ = select.select([conn], [], [], 0.2)
                if not ready:
                    continue
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)
        except (OSError, ValueError, TimeoutError, ConnectionError):
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()


# ---------------------------------------------------------------------------------------------
# Clients


def open_socket(port: int, src: str | None = None, timeout: float = 5.0,
                family: int = socket.AF_INET, host: str = LOOPBACK) -> socket.socket:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src is not None:
        s.bind((src, 0))
    try:
        s.connect((host, port))
    except OSError:
        s.close()
        raise
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def rdp_connect(port: int, src: str | None = None, user: str = "opsuser", prefix: bytes = b"",
                timeout: float = 5.0) -> socket.socket:
    """Sends [prefix +] a Connection Request and returns the socket once the Confirm arrived."""
    s = open_socket(port, src, timeout)
    try:
        s.sendall(prefix + connection_request(user))
        confirm = recv_exactly(s, len(CONFIRM_HYBRID), timeout)
        if confirm != CONFIRM_HYBRID:
            raise Failure(f"unexpected Connection Confirm {confirm.hex()}")
        return s
    except BaseException:
        s.close()
        raise


def try_rdp(port: int, src: str | None = None, user: str = "opsuser", prefix: bytes = b"",
            timeout: float = 5.0) -> tuple[str, int]:
    """One attempt: ("ok" | "closed" | "refused", client port). "closed" = accepted by TCP but
    ended without a Confirm (reset or EOF); "refused" = the port does not listen."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src or LOOPBACK, 0))  # bound first: the port is known even if connect is reset
    local_port = s.getsockname()[1]
    try:
        try:
            s.connect((LOOPBACK, port))
        except ConnectionRefusedError:
            return "refused", 0
        s.sendall(prefix + connection_request(user))
        confirm = recv_exactly(s, len(CONFIRM_HYBRID), timeout)
        check(confirm == CONFIRM_HYBRID, f"unexpected Connection Confirm {confirm.hex()}")
        # Prove the relay works too, then close from the client side.
        s.sendall(b"ping-" + user.encode())
        echo = recv_exactly(s, 5 + len(user), timeout)
        check(echo == b"ping-" + user.encode(), f"bad echo {echo!r}")
        return "ok", local_port
    except (ConnectionError, OSError) as e:
        if isinstance(e, TimeoutError):
            raise Failure(f"port {port}: no answer within {timeout} s") from e
        return "closed", local_port
    finally:
        s.close()


class EchoSession(threading.Thread):
    """A relayed session that keeps exchanging data until stop(): sends a numbered block, reads
    the echo, compares. Any mismatch, reset or stall is recorded in `error`."""

    block = 2048

    def __init__(self, port: int, user: str, src: str | None = None, pause: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.sock = rdp_connect(port, src, user)
        self.local_port = self.sock.getsockname()[1]
        self.user = user
        self.pause = pause
        self.bytes = 0
        self.error: str | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        n = 0
        try:
            while not self._stop_event.is_set():
                payload = struct.pack(">Q", n) + bytes([n % 251]) * (self.block - 8)
                self.sock.sendall(payload)
                echo = recv_exactly(self.sock, len(payload), 5.0)
                if echo != payload:
                    self.error = f"block {n}: echo differs"
                    return
                self.bytes += len(payload)
                n += 1
                if self.pause:
                    time.sleep(self.pause)
        except Exception as e:  # noqa: BLE001 - recorded and asserted by the test
            self.error = f"block {n}: {type(e).__name__}: {e}"

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
        with contextlib.suppress(OSError):
            self.sock.close()


# ---------------------------------------------------------------------------------------------
# The gateway process


_TEXT_LINE = re.compile(r"^(listening) (\S+) (\S+)$|^(metrics|admin) (\S+)$")


class Gateway:
    """`rdpgate run --config FILE` in its own session; stderr lines collected as events."""

    def __init__(self, binary: str, workdir: str, config_text: str, name: str = "rdpgate.yaml",
                 env: dict[str, str] | None = None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.config_path = os.path.join(workdir, name)
        self.write_config(config_text)
        self.env = dict(os.environ)
        self.env.pop("RDPGATE_ALLOW_ROOT", None)
        self.env[ADMIN_TOKEN_ENV] = ADMIN_TOKEN
        if env:
            self.env.update(env)
        self.proc: subprocess.Popen | None = None
        self.listeners: dict[str, int] = {}
        self.metrics_address: str | None = None
        self.admin_address: str | None = None
        self.lines: list[str] = []  # raw stderr lines
        self.events: list[dict] = []  # the JSON ones
        self.stdout_lines: list[str] = []
        self._stderr_done = False
        self._cond = threading.Condition()

    def write_config(self, text: str) -> None:
        # Atomic replace, as an operator's deploy tool would do: a reload never sees half a file.
        tmp = self.config_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def start(self, wait_ready: bool = True, timeout: float = 15.0) -> "Gateway":
        self.proc = subprocess.Popen(
            [self.binary, "run", "--config", self.config_path], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=self.env, cwd=self.workdir,
            start_new_session=True, text=True, bufsize=1)
        threading.Thread(target=self._read_stderr, daemon=True).start()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        if wait_ready:
            self.wait_event(lambda e: e.get("event") == "started", timeout, "the started event")
            # The ready lines are flushed to stdout before `started` is logged.
            wait_until(lambda: self.listeners, 2.0, "the listening lines on stdout")
        return self

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self._cond:
                self.stdout_lines.append(line)
                m = _TEXT_LINE.match(line)
                if m and m.group(1):
                    self.listeners[m.group(2)] = int(m.group(3).rsplit(":", 1)[1])
                elif m and m.group(4) == "metrics":
                    self.metrics_address = m.group(5)
                elif m and m.group(4) == "admin":
                    self.admin_address = m.group(5)
                self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            event = None
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
            with self._cond:
                self.lines.append(line)
                if isinstance(event, dict):
                    self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._stderr_done = True  # the process exited: no event can arrive any more
            self._cond.notify_all()

    @property
    def pid(self) -> int:
        assert self.proc
        return self.proc.pid

    def port(self, listener: str = "main") -> int:
        return self.listeners[listener]

    # -- events ---------------------------------------------------------------------------------

    def find_events(self, predicate: Callable[[dict], bool], since: int = 0) -> list[dict]:
        with self._cond:
            return [e for e in self.events[since:] if predicate(e)]

    def event_count(self) -> int:
        with self._cond:
            return len(self.events)

    def wait_event(self, predicate: Callable[[dict], bool], timeout: float, what: str,
                   since: int = 0) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[since:]:
                    if predicate(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0 or self._stderr_done:
                    tail = "\n".join(self.lines[-15:])
                    raise Failure(f"timed out after {timeout:.1f} s waiting for {what}; "
                                  f"last log lines:\n{tail}")
                self._cond.wait(min(left, 0.1))

    def audit(self, local_port: int, timeout: float = 5.0, src_port_field: str = "src_port") -> dict:
        """The audit record of the connection whose source port was `local_port`."""
        return self.wait_event(
            lambda e: e.get("event") == "connection" and e.get(src_port_field) == local_port,
            timeout, f"the audit record of source port {local_port}")

    # -- metrics and admin ----------------------------------------------------------------------

    def scrape(self) -> str:
        check(self.metrics_address is not None, "metrics endpoint not announced")
        with urllib.request.urlopen(f"http://{self.metrics_address}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return metric_value(self.scrape(), name, labels or {})

    def admin(self, method: str, path: str, body: dict | None = None,
              token: str | None = ADMIN_TOKEN) -> tuple[int, str]:
        check(self.admin_address is not None, "admin endpoint not announced")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://{self.admin_address}{path}", data=data,
                                     method=method)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    # -- lifetime -------------------------------------------------------------------------------

    def signal(self, sig: int) -> None:
        assert self.proc
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise Failure(f"rdpgate still running {timeout:.1f} s later") from e

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit; always safe to call."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def metric_value(text: str, name: str, labels: dict[str, str]) -> float | None:
    """The value of the sample `name{labels...}` (a subset match on labels), or None."""
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


# ---------------------------------------------------------------------------------------------
# Configs and the test runner


def base_config(state_dir: str, listeners: str, routes: str, extra: str = "",
                admin: bool = True, metrics: bool = True, allow_root: bool = True,
                sources: str = '{per_source: {rate: "0/s", max_connections: 0}}') -> str:
    """A complete config. `listeners` and `routes` are YAML block sequences (indented 2)."""
    admin_yaml = (f'{{address: "{LOOPBACK}:0", token_env: {ADMIN_TOKEN_ENV}}}' if admin
                  else '{address: ""}')
    metrics_yaml = f'{{address: "{LOOPBACK}:0"}}' if metrics else '{address: ""}'
    root = "allow_root: true\n" if allow_root else ""
    return (f"{root}workers: 2\n"
            f"listeners:\n{listeners}"
            f"routes:\n{routes}"
            f"sources: {sources}\n"
            "bruteforce: {enabled: false}\n"
            f"metrics: {metrics_yaml}\n"
            f"admin: {admin_yaml}\n"
            f"state: {{path: \"{state_dir}\"}}\n"
            "logging: {level: info, format: json}\n"
            f"{extra}")


class Suite:
    """Runs the named checks of one test file; exits 0, 1, or 77 when everything was skipped."""

    def __init__(self) -> None:
        self.binary = rdpgate_binary()
        self._tmp = tempfile.mkdtemp(prefix="rdpgate-ops-")
        self._cleanups: list[Callable[[], None]] = []

    def workdir(self, name: str) -> str:
        path = os.path.join(self._tmp, name)
        os.makedirs(os.path.join(path, "state"), exist_ok=True)
        return path

    def defer(self, fn: Callable[[], None]) -> None:
        self._cleanups.append(fn)

    def run(self, checks: Iterable[tuple[str, Callable[["Suite"], None]]]) -> None:
        if self.binary is None:
            skip("RDPGATE_BIN is not set to an executable rdpgate binary")
        failed = 0
        skipped = 0
        total = 0
        for name, fn in checks:
            total += 1
            started = time.monotonic()
            print(f"--- {name}", flush=True)
            try:
                fn(self)
                print(f"PASS {name} ({time.monotonic() - started:.1f} s)", flush=True)
            except SystemExit as e:
                if e.code == SKIP:
                    skipped += 1
                    print(f"SKIP {name}", flush=True)
                else:
                    raise
            except Exception as e:  # noqa: BLE001 - reported, then the next check runs
                failed += 1
                print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
                traceback.print_exc(file=sys.stdout)
            finally:
                for fn_cleanup in reversed(self._cleanups):
                    with contextlib.suppress(Exception):
                        fn_cleanup()
                self._cleanups.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)
        if failed:
            sys.exit(1)
        if skipped == total:
            sys.exit(SKIP)
        sys.exit(0)

    def gateway(self, workdir: str, config_text: str, **kwargs) -> Gateway:
        g = Gateway(self.binary, workdir, config_text, **kwargs)
        self.defer(g.stop)
        return g

    def backend(self, port: int = 0) -> FakeBackend:
        b = FakeBackend(port).start()
        self.defer(b.stop)
        return b


def is_refused(err: OSError) -> bool:
    return isinstance(err, ConnectionRefusedError) or err.errno == errno.ECONNREFUSED
