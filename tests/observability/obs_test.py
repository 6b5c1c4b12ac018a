#!/usr/bin/env python3
"""Observability checks of a running rdpgate: exact metric counts after known traffic, promtool
on a real scrape, no traffic-derived label values, a real Prometheus server scraping rdpgate, and
rate-limited refusal logging under a flood.

Usage: obs_test.py CHECK   (CHECK: counts, promtool-metrics, labels, prometheus, flood)
Exit status: 0 passed, 1 failed, 77 skipped (a tool or the rdpgate binary is missing).
Needs: RDPGATE_BIN (the rdpgate binary), tests/ on PYTHONPATH; optional RDPGATE_VECTORS_DIR.
"""

import collections
import ipaddress
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from support import checks, gateway, procs, rdp
from support.backend import FakeBackend
from support.checks import Fail, need_rdpgate, need_tool
from support.metrics import by_labels, label_pairs, value
from support.net import free_port, read_until_closed, recv_exactly
from support.rdp import PROTO_HYBRID, PROTO_SSL, connection_request
from support.wait import poll
from support.tls import RELAYED

OUTCOMES = ["completed", "denied_source", "banned", "rate_limited", "too_many_connections",
            "not_rdp", "malformed", "inspect_timeout", "protocol_not_allowed", "username_denied",
            "token_invalid", "no_route", "backend_unreachable", "idle_timeout", "shutdown",
            "auth_failed", "tls_incomplete"]

HTTP_PROBE = b"GET / HTTP/1.1\r\nHost: rdpgate\r\n\r\n"
BAD_TPKT = b"\x03\x00\x00\x05"  # TPKT length 5: shorter than any X.224 request -> malformed
PAYLOADS = [1, 1000, 4096, 65536 + 7, 200_000]  # bytes each relayed session sends (echoed back)


def note(msg):
    print(msg, flush=True)


def obs_config(listeners, routes, extra="", **sections):
    """A complete config for these checks: metrics on an OS-chosen loopback port, no admin API,
    JSON logs on stderr, a 2 s drain."""
    return gateway.config(listeners, routes, extra, admin='{address: ""}',
                          shutdown="{drain_timeout: 2s}", **sections)


def standard_config(backend, dead_port, user_prefix="obs", extra=""):
    """Two listeners: `public` (no default route; routes chosen by username) and `limited`
    (route `echo`, per-source rate 1/min with burst 2). 127.0.0.2 is on the deny list."""
    listeners = """\
  - name: public
    address: "127.0.0.1:0"
  - name: limited
    address: "127.0.0.1:0"
    route: echo
    sources: {per_source: {rate: "1/min", burst: 2}}
"""
    routes = f"""\
  - name: echo
    match: {{username: "{user_prefix}*"}}
    backends: ["{backend}"]
  - name: dead
    match: {{username: "dead*"}}
    backends: ["127.0.0.1:{dead_port}"]
    connect_timeout: 1s
"""
    sources = '\n  deny: ["127.0.0.2/32"]\n  per_source: {rate: "0/s", max_connections: 0}'
    inspection = '\n  timeout: 1s\n  usernames: {deny: ["administrator", "*denied"]}'
    return obs_config(listeners, routes, extra, sources=sources, inspection=inspection,
                      session="{idle_timeout: 30s}")


def start_gateway(config, tmp, listeners=2, env=None):
    need_rdpgate()
    return gateway.Gateway(config, str(tmp), env_vars=env).start(listeners=listeners)


def temp_dir(prefix):
    return tempfile.TemporaryDirectory(prefix=f"rdpgate-{prefix}-")


# -- clients ----------------------------------------------------------------------------------

def connect(port, source="127.0.0.1", timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


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
        confirm = recv_exactly(s, 19, 10)
        if confirm != rdp.CONFIRM_HYBRID:
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


class Traffic:
    """Drives known traffic through a gateway started with standard_config and says what the
    metrics must show afterwards."""

    def __init__(self, gw, user="obsuser", denied_user="administrator", nomatch_user="nobody"):
        self.gw = gw
        self.user = user
        self.denied_user = denied_user
        self.nomatch_user = nomatch_user
        self.public = gw.addr("public")[1]
        self.limited = gw.addr("limited")[1]
        self.connections = collections.Counter()  # (listener, outcome) -> count
        self.refusals = collections.Counter()     # (listener, phase, reason) -> count
        self.c2s = 0
        self.s2c = 0
        self.inspection_bytes = collections.Counter()  # listener -> bytes read while inspecting
        self.requested = collections.Counter()    # protocol -> count
        self.relayed = 0

    def _refused(self, listener, outcome, phase, reason, inspected=0):
        self.connections[(listener, outcome)] += 1
        self.refusals[(listener, phase, reason)] += 1
        self.inspection_bytes[listener] += inspected

    def _request(self, user, requested):
        self.requested["ssl"] += bool(requested & PROTO_SSL)
        self.requested["hybrid"] += bool(requested & PROTO_HYBRID)
        return connection_request(user, requested)

    def relay(self, payloads=PAYLOADS, prefix=b""):
        for size in payloads:
            request = self._request(self.user, PROTO_SSL | PROTO_HYBRID)
            payload = bytes((i * 7 + size) & 0xFF for i in range(size))
            relay_session(self.public, prefix + request, payload)
            self.connections[("public", RELAYED)] += 1
            self.c2s += len(request) + size
            self.s2c += 19 + size
            self.inspection_bytes["public"] += len(prefix) + len(request)
            self.relayed += 1

    def refusals_all(self):
        # inspect_timeout takes the 1 s deadline: run it beside the others.
        slow = threading.Thread(target=self._inspect_timeout, daemon=True)
        slow.start()
        for _ in range(4):  # deny list, from a source bound to 127.0.0.2
            send_and_close(self.public, HTTP_PROBE, source="127.0.0.2")
            self._refused("public", "denied_source", "admission", "deny_list")
        for _ in range(2):
            send_and_close(self.public, HTTP_PROBE)
            self._refused("public", "not_rdp", "inspection", "not_rdp_http", len(HTTP_PROBE))
        for _ in range(2):
            send_and_close(self.public, BAD_TPKT)
            self._refused("public", "malformed", "inspection", "bad_tpkt_length", len(BAD_TPKT))
        for _ in range(2):  # TLS only: rdpgate answers HYBRID_REQUIRED_BY_SERVER itself
            req = self._request(self.user, PROTO_SSL)
            reply = send_and_close(self.public, req)
            if len(reply) != 19 or reply[11] != 0x03 or reply[15] != 0x05:
                raise Fail(f"expected an RDP_NEG_FAILURE HYBRID_REQUIRED_BY_SERVER, got {reply.hex()}")
            self._refused("public", "protocol_not_allowed", "policy", "protocol_not_offered",
                          len(req))
        req = self._request(self.denied_user, PROTO_SSL | PROTO_HYBRID)
        send_and_close(self.public, req)
        self._refused("public", "username_denied", "policy", "deny", len(req))
        req = self._request(self.nomatch_user, PROTO_SSL | PROTO_HYBRID)
        send_and_close(self.public, req)
        self._refused("public", "no_route", "routing", "no_route", len(req))
        req = self._request("deaduser", PROTO_SSL | PROTO_HYBRID)
        send_and_close(self.public, req)
        self._refused("public", "backend_unreachable", "routing", "connect_failed", len(req))
        # Per-source rate limit on `limited`: burst 2 pass (and are refused as not RDP), the
        # next 3 are refused at admission.
        for i in range(5):
            send_and_close(self.limited, HTTP_PROBE)
            if i < 2:
                self._refused("limited", "not_rdp", "inspection", "not_rdp_http", len(HTTP_PROBE))
            else:
                self._refused("limited", "rate_limited", "admission", "rate_limited")
        slow.join(timeout=10)
        if slow.is_alive():
            raise Fail("the inspect_timeout client did not finish within 10 s")

    def _inspect_timeout(self):
        with connect(self.public, timeout=5) as s:
            s.sendall(b"\x03\x00\x00\x2d")  # a TPKT header announcing 45 bytes, then silence
            started = time.monotonic()
            read_until_closed(s)
            self.inspect_wait = time.monotonic() - started
        self._refused("public", "inspect_timeout", "inspection", "inspect_timeout", 4)

    @property
    def total(self):
        return sum(self.connections.values())

    def settled(self):
        """Scrapes until rdpgate_connections_total reaches the expected total (a connection is
        counted when its coroutine ends, just after the client saw the close)."""
        def ready():
            s = self.gw.metrics()
            return s if value(s, "rdpgate_connections_total") >= self.total else None
        s = poll(ready, 10)
        return s or self.gw.metrics()


def expect_equal(problems, what, got, want):
    if got != want:
        problems.append(f"{what}: got {got}, want {want}")


# -- 1. exact counts --------------------------------------------------------------------------

def check_counts():
    try:
        note(rdp.check_vectors())
    except AssertionError as e:
        raise Fail(str(e)) from None
    backend = FakeBackend()
    with temp_dir("obs-counts") as tmp:
        gw = start_gateway(standard_config(f"127.0.0.1:{backend.port}", free_port()), tmp)
        try:
            t = Traffic(gw)
            t.relay()
            t.refusals_all()
            s = t.settled()
            problems = []
            # Connections by listener and outcome: every (listener, outcome) pair, zeros included.
            for listener in ("public", "limited"):
                for outcome in OUTCOMES:
                    expect_equal(problems, f"connections_total{{{listener},{outcome}}}",
                                 value(s, "rdpgate_connections_total", listener=listener,
                                          outcome=outcome),
                                 t.connections[(listener, outcome)])
            expect_equal(problems, "connections_total (all series)",
                         value(s, "rdpgate_connections_total"), t.total)
            expect_equal(problems, "refusals_total by listener/phase/reason",
                         by_labels(s, "rdpgate_refusals_total", ("listener", "phase", "reason")),
                         dict(t.refusals))
            expect_equal(problems, "relay_bytes_total{client_to_server}",
                         value(s, "rdpgate_relay_bytes_total", direction="client_to_server"),
                         t.c2s)
            expect_equal(problems, "relay_bytes_total{server_to_client}",
                         value(s, "rdpgate_relay_bytes_total", direction="server_to_client"),
                         t.s2c)
            with backend.lock:
                backend_got = sum(backend.received)
            expect_equal(problems, "bytes the backend received", backend_got, t.c2s)
            for listener in ("public", "limited"):
                expect_equal(problems, f"inspection_bytes_total{{{listener}}}",
                             value(s, "rdpgate_inspection_bytes_total", listener=listener),
                             t.inspection_bytes[listener])
            for name in ("rdpgate_sessions_active", "rdpgate_route_sessions_active",
                         "rdpgate_backend_connections_active"):
                if name not in s:
                    problems.append(f"{name} missing")
                for labels, v in s.get(name, []):
                    expect_equal(problems, f"{name}{labels}", v, 0)
            expect_equal(problems, "handshake histogram count{public}",
                         value(s, "rdpgate_handshake_duration_seconds_count", listener="public"),
                         t.relayed)
            expect_equal(problems, "handshake histogram count{limited}",
                         value(s, "rdpgate_handshake_duration_seconds_count", listener="limited"),
                         0)
            expect_equal(problems, "handshake +Inf bucket{public}",
                         value(s, "rdpgate_handshake_duration_seconds_bucket", listener="public",
                                  le="+Inf"), t.relayed)
            hs_sum = value(s, "rdpgate_handshake_duration_seconds_sum", listener="public")
            if not 0 < hs_sum < 5 * t.relayed:
                problems.append(f"handshake histogram sum {hs_sum} s is implausible")
            expect_equal(problems, "backend connect histogram count{echo}",
                         value(s, "rdpgate_backend_connect_duration_seconds_count", route="echo"),
                         t.relayed)
            expect_equal(problems, "backend_connect_failures_total{dead}",
                         value(s, "rdpgate_backend_connect_failures_total", route="dead"), 1)
            expect_equal(problems, "selected_protocol_total{hybrid}",
                         value(s, "rdpgate_selected_protocol_total", protocol="hybrid"),
                         t.relayed)
            for proto in ("ssl", "hybrid"):
                expect_equal(problems, f"requested_protocols_total{{{proto}}}",
                             value(s, "rdpgate_requested_protocols_total", protocol=proto),
                             t.requested[proto])
            info = s.get("rdpgate_build_info", [])
            if len(info) != 1 or info[0][1] != 1 or not info[0][0].get("version"):
                problems.append(f"rdpgate_build_info: {info}")
            now = time.time()
            checks = {
                "process_cpu_seconds_total": lambda v: 0 <= v < 600,  # ticks: 0 for a quick run
                "process_resident_memory_bytes": lambda v: 1 << 20 < v < 1 << 32,
                "process_open_fds": lambda v: 3 <= v < 10000,
                "process_start_time_seconds": lambda v: now - 600 < v <= now + 1,
            }
            for name, ok in checks.items():
                samples = s.get(name, [])
                if len(samples) != 1 or not ok(samples[0][1]):
                    problems.append(f"{name}: {samples}")
            if not 0.9 <= getattr(t, "inspect_wait", 0) <= 5:
                problems.append(f"inspect_timeout client waited {getattr(t, 'inspect_wait', 0):.2f} s "
                                "for a 1 s inspection timeout")
            # The audit log tells the same story as the counters (its lines reach the log a
            # few milliseconds after the counters move: the writer gathers them in batches).
            records = gw.wait_audit(sum(t.connections.values()), timeout=5)
            audit = collections.Counter((r.get("listener"), r.get("outcome")) for r in records)
            expect_equal(problems, "audit records by listener/outcome", dict(audit),
                         dict(t.connections))
            audit_in = sum(r.get("bytes_in", 0) for r in records)
            expect_equal(problems, "sum of audit bytes_in", audit_in, t.c2s)
            status = gw.stop()
            expect_equal(problems, "exit status after SIGTERM", status, 0)
            if problems:
                raise Fail("metrics disagree with the traffic:\n  " + "\n  ".join(problems) +
                           "\nrdpgate stderr:\n" + gw.log_tail())
            note(f"{t.total} connections ({t.relayed} relayed, {t.c2s} + {t.s2c} bytes): every "
                 "counter, gauge and histogram matches exactly")
        finally:
            gw.stop()
            backend.close()


# -- 2. promtool check metrics ----------------------------------------------------------------

def check_promtool_metrics():
    promtool = need_tool("promtool")
    backend = FakeBackend()
    with temp_dir("obs-promtool") as tmp:
        gw = start_gateway(standard_config(f"127.0.0.1:{backend.port}", free_port()), tmp)
        try:
            t = Traffic(gw)
            t.relay(PAYLOADS[:2])
            t.refusals_all()  # every lazily created family and label set exists after this
            t.settled()
            text = gw.scrape()
        finally:
            gw.stop()
            backend.close()
    families = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    helps = set(re.findall(r"^# HELP (\S+) \S", text, re.M))
    problems = [f"{name} has no HELP text" for name, _ in families if name not in helps]
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
        problems.append(f"promtool check metrics (exit {r.returncode}):\n{r.stdout}{r.stderr}")
    if problems:
        raise Fail("\n".join(problems))
    note(f"promtool check metrics: clean on a scrape of {len(families)} families "
         f"({len(text.splitlines())} lines)")


# -- 3. no traffic-derived label values -------------------------------------------------------

IPV4 = re.compile(r"(?<![0-9.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9.])")
IPV6 = re.compile(r"(?i)(?<![0-9a-z:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![0-9a-z:])")
JWS = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def label_values(text):
    out = []
    for line in text.splitlines():
        if line.startswith("#") or "{" not in line:
            continue
        for key, v in label_pairs(line):
            out.append((line.split("{", 1)[0], key, v))
    return out


def label_violations(text, forbidden):
    """Label values that carry an IP address, one of the `forbidden` strings (case-insensitive)
    or anything shaped like a JWS."""
    problems = []
    for metric, key, v in label_values(text):
        low = v.lower()
        where = f'{metric}{{{key}="{v}"}}'
        for f in forbidden:
            if f.lower() in low:
                problems.append(f"{where} carries traffic data {f!r}")
        if IPV4.search(v) or IPV6.search(v):
            problems.append(f"{where} carries an IP address")
        if JWS.search(v):
            problems.append(f"{where} looks like a token")
        try:
            ipaddress.ip_address(v)
            problems.append(f"{where} is an IP address")
        except ValueError:
            pass
    return problems


def check_labels():
    secret = "obs-test-hmac-secret-0123456789abcdef0123456789"
    users = {"relayed": "zq7kmrelay", "denied": "zq7kmdenied", "nomatch": "xv3pnomatch"}
    token = ("eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.eyJyb3V0ZSI6ImVjaG8iLCJqdGkiOiJvYnMtOTkifQ."
             "bm90LWEtdmFsaWQtc2lnbmF0dXJlLWF0LWFsbA")  # JWS-shaped, wrong signature
    pcb_text = "OBSPCB-5d41402abc4b2a76"
    backend = FakeBackend()
    extra = ('tokens:\n  keys:\n    - {id: k1, alg: HS256, secret_env: OBS_TOKEN_SECRET}\n')
    with temp_dir("obs-labels") as tmp:
        # The backend by name: a configured address is allowed in `backend`, but this way any
        # IP address in a label value can only have come from traffic.
        config = standard_config(f"localhost:{backend.port}", free_port(),
                                 user_prefix="zq7km", extra=extra)
        config = config.replace('["127.0.0.1:', '["localhost:')
        gw = start_gateway(config, tmp, env={"OBS_TOKEN_SECRET": secret})
        try:
            t = Traffic(gw, user=users["relayed"], denied_user=users["denied"],
                        nomatch_user=users["nomatch"])
            t.relay(PAYLOADS[:2])
            # A plain PCB string (not a token: ignored and consumed) on a relayed session.
            t.relay([10], prefix=rdp.preconnection_pdu(pcb_text))
            t.refusals_all()
            # A JWS-shaped PCB string with a bad signature: token_invalid.
            req = rdp.preconnection_pdu(token) + connection_request(users["relayed"])
            send_and_close(t.public, req)
            t.connections[("public", "token_invalid")] += 1
            # Sources other than 127.0.0.1: denied and admitted ones.
            for src in ("127.0.0.2", "127.0.0.7"):
                send_and_close(t.public, connection_request(users["relayed"], PROTO_SSL),
                                  source=src)
            t.connections[("public", "denied_source")] += 1
            t.connections[("public", "protocol_not_allowed")] += 1
            s = t.settled()
            text = gw.scrape()
            audit = gw.wait_audit(sum(t.connections.values()), timeout=5)
        finally:
            gw.stop()
            backend.close()
    problems = []
    got = value(s, "rdpgate_connections_total")
    if got < t.total:
        problems.append(f"only {got} of {t.total} connections counted")
    outcomes = {r.get("outcome") for r in audit}
    users_seen = {r.get("user") for r in audit}
    for needed in (RELAYED, "token_invalid", "username_denied", "no_route", "denied_source"):
        if needed not in outcomes:
            problems.append(f"traffic did not produce outcome {needed} (audit: {sorted(outcomes)})")
    for u in users.values():
        if u not in users_seen:
            problems.append(f"username {u} never reached rdpgate (audit users {users_seen})")
    forbidden = list(users.values()) + [pcb_text, token, secret] + token.split(".")
    # The checker itself must catch each kind of leak.
    leaks = ['a{backend="127.0.0.1:3389"} 1', 'a{src="::1"} 1', 'a{x="fe80::1%lo"} 1',
             f'a{{user="{users["denied"].upper()}"}} 1', f'a{{t="{token}"}} 1',
             'a{t="eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"} 1', f'a{{pcb="{pcb_text}"}} 1']
    for leak in leaks:
        if not label_violations(leak, forbidden):
            problems.append(f"the label checker misses {leak}")
    values = label_values(text)
    problems += label_violations(text, forbidden)
    if problems:
        raise Fail("\n".join(problems))
    note(f"{len(values)} label values after {t.total} connections (users {sorted(users.values())}, "
         "PCB string, JWS token, sources 127.0.0.1/.2/.7): none from traffic")


# -- 4. a real Prometheus server --------------------------------------------------------------

class Prometheus:
    def __init__(self, binary, tmp, target):
        self.tmp = Path(tmp)
        (self.tmp / "tsdb").mkdir()
        config = self.tmp / "prometheus.yml"
        config.write_text(f"""\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: rdpgate
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["{target}"]
""")
        self.port = free_port()
        self.log = open(self.tmp / "prometheus.log", "w+b")
        self.proc = procs.spawn(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={self.tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, expr):
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?" +
               urllib.parse.urlencode({"query": expr}))
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                body = json.loads(r.read())
        except (OSError, ValueError):
            return None
        if body.get("status") != "success":
            return None
        return [(res["metric"], float(res["value"][1])) for res in body["data"]["result"]]

    def log_text(self):
        self.log.flush()
        return (self.tmp / "prometheus.log").read_bytes().decode(errors="replace")[-3000:]

    def stop(self):
        procs.stop_process(self.proc, timeout=15)


def check_prometheus():
    binary = need_tool("prometheus")
    backend = FakeBackend()
    with temp_dir("obs-prometheus") as tmp:
        gw = start_gateway(standard_config(f"127.0.0.1:{backend.port}", free_port()), tmp)
        prom = None
        try:
            target = "%s:%d" % gw.addr("metrics")
            prom = Prometheus(binary, tmp, target)
            t = Traffic(gw)
            t.relay(PAYLOADS[:3])
            t.refusals_all()
            t.settled()
            state = {}

            def done():
                if prom.proc.poll() is not None:
                    raise Fail(f"prometheus exited with {prom.proc.returncode}:\n{prom.log_text()}")
                up = prom.query('up{job="rdpgate"}')
                total = prom.query("sum(rdpgate_connections_total)")
                c2s = prom.query('sum(rdpgate_relay_bytes_total{direction="client_to_server"})')
                state.update(up=up, total=total, c2s=c2s)
                return (up and up[0][1] == 1 and total and total[0][1] == t.total and
                        c2s and c2s[0][1] == t.c2s)

            started = time.monotonic()
            if not poll(done, 30, interval=0.5):
                raise Fail(f"within 30 s Prometheus did not see up==1 and "
                           f"sum(rdpgate_connections_total)=={t.total} and relayed "
                           f"{t.c2s} bytes: last answers {state}\nprometheus log:\n"
                           f"{prom.log_text()}")
            by_outcome = prom.query("sum by (outcome) (rdpgate_connections_total) > 0")
            got = {m["outcome"]: v for m, v in by_outcome or []}
            want = collections.Counter()
            for (_, outcome), n in t.connections.items():
                want[outcome] += n
            if got != dict(want):
                raise Fail(f"Prometheus sum by outcome {got}, want {dict(want)}")
            note(f"Prometheus on 127.0.0.1:{prom.port} scraped rdpgate at {target}: up==1, "
                 f"sum(rdpgate_connections_total)=={t.total}, by outcome {got} "
                 f"({time.monotonic() - started:.1f} s after the traffic)")
        finally:
            if prom:
                prom.stop()
            gw.stop()
            backend.close()


# -- 6. refusal flood: rate-limited logging ---------------------------------------------------

def check_flood(count=2000, threads=8):  # count: a multiple of threads
    with temp_dir("obs-flood") as tmp:
        # No bruteforce section: the defaults, as an operator would run it.
        config = obs_config('  - {name: public, address: "127.0.0.1:0", route: echo}\n',
                            '  - {name: echo, backends: ["127.0.0.1:9"]}\n',
                            sources='{deny: ["127.0.0.2/32"]}', bruteforce=None)
        gw = start_gateway(config, tmp, listeners=1)
        try:
            port = gw.addr("public")[1]
            errors = []

            def flood(n):
                for _ in range(n):
                    try:
                        with connect(port, source="127.0.0.2", timeout=5) as s:
                            read_until_closed(s)  # rdpgate resets it at once
                    except ConnectionResetError:
                        pass  # the reset came before connect() returned
                    except OSError as e:
                        errors.append(repr(e))

            started = time.monotonic()
            workers = [threading.Thread(target=flood, args=(count // threads,), daemon=True)
                       for _ in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join(timeout=60)
            flood_seconds = time.monotonic() - started
            if errors:
                raise Fail(f"{len(errors)} client errors, e.g. {errors[:3]}")

            def denied_reaches(n):
                """The scrape once n denied connections are counted (or the last one, 10 s on)."""
                def ready():
                    m = gw.metrics()
                    return m if value(m, "rdpgate_connections_total",
                                         outcome="denied_source") >= n else None
                return poll(ready, 10) or gw.metrics()

            s = denied_reaches(count)
            denied = value(s, "rdpgate_connections_total", outcome="denied_source")
            if denied != count:
                raise Fail(f"rdpgate_connections_total{{outcome=denied_source}} = {denied}, "
                           f"want {count}")

            # The summary comes when the 10 s window that began with the first refusal ends.
            def summarised():
                s = gw.metrics()
                suppressed = value(s, "rdpgate_log_suppressed_total")
                summaries = gw.events("refusals_suppressed")
                total = sum(int(r.get("suppressed", 0)) for r in summaries)
                return (s, summaries) if summaries and total == suppressed else None
            result = poll(summarised, 20, interval=0.25)
            lines = [r for r in gw.events("connection") if r.get("outcome") == "denied_source"]
            if not result:
                raise Fail(f"no refusals_suppressed summary accounting for every suppressed line "
                           f"within 20 s: {gw.events('refusals_suppressed')}\n{gw.log_tail()}")
            s, summaries = result
            suppressed = value(s, "rdpgate_log_suppressed_total")
            problems = []
            if len(lines) + suppressed != count:
                problems.append(f"{len(lines)} lines + {suppressed} suppressed != {count}")
            # Token bucket: 20 lines at once, then 20 per second.
            allowed = 20 + 20 * flood_seconds + 2
            if len(lines) > allowed:
                problems.append(f"{len(lines)} refusal lines in {flood_seconds:.1f} s "
                                f"(at most {allowed:.0f} allowed)")
            stamps = sorted(time.mktime(time.strptime(r["time"][:19], "%Y-%m-%dT%H:%M:%S")) +
                            float("0." + r["time"][20:23]) for r in lines)
            worst = max((sum(1 for x in stamps if a <= x < a + 1) for a in stamps), default=0)
            if worst > 41:
                problems.append(f"{worst} refusal lines within one second (burst 20 + rate 20)")
            for r in summaries:
                if "denied_source" not in str(r.get("top_reasons", "")):
                    problems.append(f"summary does not name the top reason: {r}")
            if suppressed < count / 2:
                problems.append(f"only {suppressed} of {count} lines suppressed")
            # A second, shorter flood right before SIGTERM: its summary comes at shutdown.
            second = threads * 50
            workers = [threading.Thread(target=flood, args=(second // threads,), daemon=True)
                       for _ in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join(timeout=60)
            s2 = denied_reaches(count + second)
            expect_equal(problems, "denied connections after the second flood",
                         value(s2, "rdpgate_connections_total", outcome="denied_source"),
                         count + second)
            suppressed2 = value(s2, "rdpgate_log_suppressed_total")
            status = gw.stop()
            final = gw.events("refusals_suppressed")
            final_total = sum(int(r.get("suppressed", 0)) for r in final)
            if status != 0:
                problems.append(f"exit status {status} after SIGTERM")
            if suppressed2 <= suppressed:
                problems.append(f"second flood of {second}: nothing suppressed ({suppressed2})")
            if final_total != suppressed2:
                problems.append(f"after SIGTERM the summaries account for {final_total} suppressed "
                                f"lines, rdpgate_log_suppressed_total is {suppressed2}: {final}")
            if problems:
                raise Fail("\n".join(problems) + "\n" + gw.log_tail())
            note(f"{count} denied connections in {flood_seconds:.1f} s: {len(lines)} log lines "
                 f"(at most {worst} in any second), {len(summaries)} summary line(s) "
                 f"accounting for {suppressed:.0f} suppressed = rdpgate_log_suppressed_total; "
                 f"summary: {summaries[0].get('message')}; then {second} more: "
                 f"{suppressed2 - suppressed:.0f} suppressed, reported at shutdown")
        finally:
            gw.stop()


CHECKS = {
    "counts": check_counts,
    "promtool-metrics": check_promtool_metrics,
    "labels": check_labels,
    "prometheus": check_prometheus,
    "flood": check_flood,
}


if __name__ == "__main__":
    sys.exit(checks.run_named(CHECKS, sys.argv))
