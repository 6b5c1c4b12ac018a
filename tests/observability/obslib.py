"""Helpers for the observability tests: RDP first-flight bytes, a fake RDP backend, an
`rdpgate run` process with a generated config, scraping and parsing /metrics.

Python 3 standard library only. Every wait has a deadline; every port is picked by the OS.
"""

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

SKIP = 77  # ctest SKIP_RETURN_CODE

HERE = Path(__file__).resolve().parent
SOURCE_DIR = Path(os.environ.get("RDPGATE_SOURCE_DIR", HERE.parent.parent))


class Skip(Exception):
    """The check cannot run here (a tool or the binary is missing)."""


class Fail(Exception):
    """The check ran and found a defect."""


def need_tool(name):
    path = shutil.which(name)
    if not path:
        raise Skip(f"{name} not found on PATH")
    return path


def rdpgate_bin():
    path = os.environ.get("RDPGATE_BIN", "")
    if not path or not os.access(path, os.X_OK):
        raise Skip(f"rdpgate binary not found (RDPGATE_BIN={path!r}); build the rdpgate target")
    return path


def vectors_dir():
    env = os.environ.get("RDPGATE_VECTORS_DIR")
    return Path(env) if env else SOURCE_DIR.parent / "shared" / "vectors"


def read_vector(name):
    """Bytes of a captured vector, or None when the folder is absent."""
    path = vectors_dir() / name
    if not path.exists():
        return None
    text = "".join(line for line in path.read_text().splitlines() if not line.startswith("#"))
    return bytes.fromhex(re.sub(r"\s+", "", text))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- RDP bytes ------------------------------------------------------------------------------

PROTO_SSL = 0x1
PROTO_HYBRID = 0x2


def connection_request(user=None, requested=PROTO_SSL | PROTO_HYBRID, negotiation=True):
    """TPKT + X.224 Connection Request ([MS-RDPBCGR] 2.2.1.1) as xfreerdp writes it."""
    body = b"\x00\x00" + b"\x00\x00" + b"\x00"  # dst-ref, src-ref, class 0
    if user is not None:
        body += b"Cookie: mstshash=" + user.encode() + b"\r\n"
    if negotiation:
        # RDP_NEG_REQ: type 1, flags 0, length 8 (LE), requestedProtocols (LE)
        body += struct.pack("<BBHI", 0x01, 0x00, 8, requested)
    x224 = bytes([len(body) + 1, 0xE0]) + body  # LI counts the header after itself
    return struct.pack(">BBH", 3, 0, 4 + len(x224)) + x224


def preconnection_pdu(text, pcb_id=0):
    """RDP_PRECONNECTION_PDU_V2 ([MS-RDPEPS] 2.2.1.2): cbSize, flags, version 2, id, cchPCB,
    wszPCB. xfreerdp counts two terminating NULs in cchPCB; so does this."""
    wsz = text.encode("utf-16-le") + b"\x00\x00\x00\x00"
    cch = len(wsz) // 2
    size = 16 + 2 + len(wsz)
    return struct.pack("<IIIIH", size, 0, 2, pcb_id, cch) + wsz


def connection_confirm(selected=PROTO_HYBRID):
    """19-byte X.224 Connection Confirm with RDP_NEG_RSP ([MS-RDPBCGR] 2.2.1.2), flags 0x03 as
    freerdp-shadow-cli sends it."""
    return (struct.pack(">BBH", 3, 0, 19) + bytes([0x0E, 0xD0, 0, 0, 0, 0, 0]) +
            struct.pack("<BBHI", 0x02, 0x03, 8, selected))


def check_builders_against_vectors():
    """The builders above reproduce the captured xfreerdp and freerdp-shadow bytes, when the
    vectors folder is present; returns a note for the log."""
    cases = [("xfreerdp-default.hex", connection_request("rdpuser")),
             ("xfreerdp-pcb.hex", preconnection_pdu("SOMETOKEN") +
              connection_request("someuser", PROTO_SSL)),
             ("shadow-cc-neg-rsp-hybrid.hex", connection_confirm())]
    for name, built in cases:
        captured = read_vector(name)
        if captured is None:
            return f"captured vectors not found in {vectors_dir()}: builders not cross-checked"
        if captured != built:
            raise Fail(f"builder differs from {name}:\n  captured {captured.hex()}\n"
                       f"  built    {built.hex()}")
    return "request/confirm builders match the captured vectors"


# -- fake backend ---------------------------------------------------------------------------

class FakeBackend:
    """Answers an X.224 Connection Request with a 19-byte Confirm selecting HYBRID, then echoes
    until the client half-closes; records the bytes it received per connection."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = []  # bytes received per finished connection (request + payload)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        conn.settimeout(20)
        total = 0
        try:
            data = b""
            while len(data) < 4 or len(data) < int.from_bytes(data[2:4], "big"):
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            total = len(data)
            conn.sendall(connection_confirm())
            # Bytes after the request in the same read are payload: echo them too.
            extra = data[int.from_bytes(data[2:4], "big"):]
            if extra:
                conn.sendall(extra)
            while chunk := conn.recv(65536):
                total += len(chunk)
                conn.sendall(chunk)
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.received.append(total)

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=2)
        self.sock.close()


# -- rdpgate --------------------------------------------------------------------------------

def gateway_yaml(tmp, body):
    """A complete config: `body` (listeners, sources, routes, ...) plus the fixed parts every
    test needs (root allowed, metrics on an OS-chosen loopback port, no admin API, state in the
    test's own directory, JSON logs on stderr)."""
    return (f"allow_root: true\nworkers: 2\n{body}"
            'metrics: {address: "127.0.0.1:0"}\n'
            'admin: {address: ""}\n'
            f'state: {{path: "{tmp}/state"}}\n'
            "logging: {level: info, format: json}\n"
            "shutdown: {drain_timeout: 2s}\n")


class Gateway:
    """`rdpgate run --config FILE`; endpoints learnt from its stdout, audit lines from stderr."""

    def __init__(self, config_text, tmp, listeners, env=None):
        self.tmp = Path(tmp)
        self.config = self.tmp / "rdpgate.yaml"
        self.config.write_text(config_text)
        self.stderr_path = self.tmp / "stderr.log"
        self.stderr = open(self.stderr_path, "w+b")
        self.proc = subprocess.Popen([rdpgate_bin(), "run", "--config", str(self.config)],
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True,
                                     env={**os.environ, **(env or {})})
        self.endpoints = {}
        self.stdout = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        wanted = set(listeners) | {"metrics"}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.proc.poll() is None:
            for line in list(self.stdout):
                parts = line.split()
                if len(parts) == 3 and parts[0] == "listening":
                    self.endpoints[parts[1]] = parts[2]
                elif len(parts) == 2 and parts[0] in ("metrics", "admin"):
                    self.endpoints[parts[0]] = parts[1]
            if wanted <= set(self.endpoints):
                return
            time.sleep(0.05)
        self.stop()
        raise Fail(f"rdpgate did not report {sorted(wanted)} within 15s (got {self.endpoints}, "
                   f"stdout {self.stdout}); stderr:\n{self.log_tail()}")

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.stdout.append(line.strip())

    def addr(self, name):
        host, _, port = self.endpoints[name].rpartition(":")
        return host.strip("[]"), int(port)

    def lines(self):
        self.stderr.flush()
        return self.stderr_path.read_bytes().decode(errors="replace").splitlines()

    def events(self, event=None):
        out = []
        for line in self.lines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and (event is None or rec.get("event") == event):
                out.append(rec)
        return out

    def log_tail(self, n=4000):
        return "\n".join(self.lines())[-n:]

    def scrape(self):
        host, port = self.addr("metrics")
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as r:
            return r.read().decode()

    def metrics(self):
        return parse_exposition(self.scrape())

    def stop(self):
        """SIGTERM and wait for the drain; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise Fail("rdpgate did not exit within 20s of SIGTERM") from None
        return self.proc.returncode


def parse_exposition(text):
    """{name: [(labels dict, value)]} from the Prometheus text format."""
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if not m:
            raise Fail(f"unparseable exposition line: {line!r}")
        labels = dict(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        series.setdefault(m.group(1), []).append((labels, float(m.group(3))))
    return series


def value(series, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(v for l, v in series.get(name, []) if all(l.get(k) == x for k, x in labels.items()))


def by_labels(series, name, keys):
    """{tuple of label values: value} for every sample of `name` with a nonzero value."""
    out = {}
    for labels, v in series.get(name, []):
        if v != 0:
            key = tuple(labels.get(k, "") for k in keys)
            out[key] = out.get(key, 0) + v
    return out


def wait_for(predicate, timeout, interval=0.1):
    """Polls `predicate` until it returns a truthy value or `timeout` seconds pass; returns the
    last value."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(interval)


def temp_dir(prefix):
    return tempfile.TemporaryDirectory(prefix=f"rdpgate-{prefix}-")


# -- clients --------------------------------------------------------------------------------

def connect(port, source="127.0.0.1", timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_until_closed(s, limit=1 << 20):
    """Reads until EOF or reset (bounded by the socket timeout); returns what arrived."""
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(min(65536, n - len(data)))
        if not chunk:
            raise Fail(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def send_and_close(port, data, source="127.0.0.1", half_close=True):
    """Sends `data` (a refusal case), half-closes, reads the answer until rdpgate closes."""
    try:
        s = connect(port, source)
    except ConnectionResetError:
        return b""  # refused at admission: on loopback the reset can beat connect()'s return
    with s:
        try:
            if data:
                s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            return b""  # refused at admission: reset before or while sending
        return read_until_closed(s)


def relay_session(port, request, payload):
    """A relayed session through rdpgate to FakeBackend: request, the Confirm back, `payload`
    echoed back byte for byte, then a clean half-close from the client."""
    with connect(port, timeout=10) as s:
        s.sendall(request)
        confirm = recv_exact(s, 19)
        if confirm != connection_confirm():
            raise Fail(f"unexpected confirm {confirm.hex()}")
        received = bytearray()
        sender = threading.Thread(target=s.sendall, args=(payload,), daemon=True)
        sender.start()
        while len(received) < len(payload):
            chunk = s.recv(65536)
            if not chunk:
                break
            received += chunk
        sender.join(timeout=10)
        if bytes(received) != payload:
            raise Fail(f"echo differs: sent {len(payload)} bytes, got {len(received)} back")
        s.shutdown(socket.SHUT_WR)
        rest = read_until_closed(s)
        if rest:
            raise Fail(f"{len(rest)} unexpected bytes after the echo")
