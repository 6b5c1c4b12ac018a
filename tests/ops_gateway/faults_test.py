#!/usr/bin/env python3
"""Faults around the gateway never stall the relay (SPEC §7; docs/faults.md).

- log-pipe: rdpgate's standard output and error are one pipe that nobody reads, already full.
  Sessions keep relaying and new handshakes complete within a deadline; lines are dropped and
  counted in rdpgate_log_dropped_total; once the reader resumes, `log_dropped` summary lines
  account for every dropped line, and SIGTERM still exits 0.
- audit-file: the same stuck pipe with `logging.audit_file`: every audit record reaches the
  audit file meanwhile, and none goes to standard error.
- refusal-flood: a flood of not-RDP and malformed connections writes a bounded number of
  audit lines per outcome kind; `refusals_suppressed` summaries account for the rest; a
  username refusal and a relayed session in the middle of the flood are still logged.
- admin-idle: 100 idle admin connections (silent ones and partial headers), kept open by a
  client that reopens each one the server closes, never stop an authenticated
  `GET /v1/sessions` from answering promptly; silent connections are closed after the header
  timeout, an idle keep-alive connection after the idle timeout (AdminServerLimits).

Usage: faults_test.py CHECK   (CHECK: log-pipe, audit-file, refusal-flood, admin-idle, list)
Exit status: 0 passed, 1 failed, 77 skipped (no rdpgate binary).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

from harness import ADMIN_TOKEN, ADMIN_TOKEN_ENV, EchoSession, note, try_rdp
from support import checks, gateway, procs
from support.backend import FakeBackend
from support.checks import Fail, need_rdpgate
from support.gateway import Gateway
from support.metrics import parse, value
from support.net import LOOPBACK, free_port, read_until_closed, wait_port
from support.rdp import connection_request
from support.wait import poll, wait_until

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux; in fcntl since Python 3.10

# The numbers the checks hold rdpgate to (docs/faults.md).
HANDSHAKE_DEADLINE = 2.0    # each new handshake while the log pipe is stuck
HEADER_TIMEOUT = 3.0        # AdminServerLimits::header_timeout
IDLE_TIMEOUT = 5.0          # AdminServerLimits::idle_timeout
ADMIN_PROMPT = 1.0          # an authenticated call while 100 idle connections are held
MARGIN = 1.5                # a loaded machine


def single_listener(backend: FakeBackend, *, admin: bool = False,
                    address: str = f"{LOOPBACK}:0", **sections: str) -> str:
    """One listener `main` routing to `backend`; no per-source limits; `sections` as in
    support.gateway.config()."""
    listeners = f'  - {{name: main, address: "{address}", route: pool}}\n'
    routes = f'  - {{name: pool, backends: ["{backend.address}"]}}\n'
    admin_section = (f'{{address: "{LOOPBACK}:0", token_env: {ADMIN_TOKEN_ENV}}}' if admin
                     else '{address: ""}')
    sections.setdefault("sources", '{per_source: {rate: "0/s", max_connections: 0}}')
    return gateway.config(listeners, routes, admin=admin_section, **sections)


def scrape(port: int) -> dict:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=5) as resp:
        return parse(resp.read().decode())


def handshake(port: int, user: str) -> float:
    """One new session (request, Confirm, one echoed block, close); its duration in seconds.
    Fail when it does not complete within HANDSHAKE_DEADLINE."""
    started = time.monotonic()
    status, _ = try_rdp(port, user=user, timeout=HANDSHAKE_DEADLINE)
    elapsed = time.monotonic() - started
    if status != "ok":
        raise Fail(f"handshake {user}: {status} after {elapsed:.2f} s")
    return elapsed


HTTP_PROBE = b"GET / HTTP/1.1\r\nHost: rdpgate\r\n\r\n"  # not_rdp
SHORT_TPKT = b"\x03\x00\x00\x05"  # a TPKT shorter than any X.224 request: malformed
RATE, BURST, WINDOW = 20, 20, 10  # RefusalLog: lines per second and kind, burst, summary window


def refuse(port: int, payload: bytes) -> None:
    with socket.create_connection((LOOPBACK, port), timeout=5) as s:
        with contextlib.suppress(OSError):
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        read_until_closed(s)


# -- 1. a log reader that stops reading ------------------------------------------------------

def full_pipe() -> tuple[int, int, int]:
    """A pipe of one page, filled: (read end, write end, bytes of filler in it). The write end
    is blocking again, as a stalled journald's or a stopped `| less`'s would be."""
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
    filled = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            filled += os.write(w, b"filler\n")
    fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return r, w, filled


class PipeReader(threading.Thread):
    """Reads the pipe once started; keeps the JSON events."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.events: list[dict] = []
        self.lock = threading.Lock()

    def run(self) -> None:
        pending = b""
        while chunk := os.read(self.fd, 65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                with contextlib.suppress(ValueError):
                    event = json.loads(raw)
                    if isinstance(event, dict):
                        with self.lock:
                            self.events.append(event)

    def named(self, name: str) -> list[dict]:
        with self.lock:
            return [e for e in self.events if e.get("event") == name]


class StuckGateway:
    """rdpgate with its standard output and error on one full pipe that nobody reads (until
    resume()), on fixed ports so that nothing has to be read to learn them."""

    def __init__(self, tmp: str, backend: FakeBackend, logging: str) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        config = single_listener(backend, address=f"{LOOPBACK}:{self.port}",
                                 metrics=f'{{address: "{LOOPBACK}:{self.metrics_port}"}}',
                                 logging=logging)
        state = os.path.join(tmp, "state")
        os.makedirs(state)
        path = os.path.join(tmp, "rdpgate.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(config.replace("{state_dir}", state))
        r, w, self.filled = full_pipe()
        env = {k: v for k, v in os.environ.items() if k != "RDPGATE_ALLOW_ROOT"}
        self.proc = procs.spawn([need_rdpgate(), "run", "--config", path], env=env, cwd=tmp,
                                stdout=w, stderr=w)
        os.close(w)
        self._read_end = r
        self.reader = PipeReader(r)
        alive = lambda: self.proc.poll() is None  # noqa: E731
        try:
            wait_port(self.port, timeout=10, alive=alive)
            wait_port(self.metrics_port, timeout=10, alive=alive)
        except BaseException:
            self.close()
            raise

    def dropped(self) -> float:
        return value(scrape(self.metrics_port), "rdpgate_log_dropped_total")

    def resume(self) -> None:
        self.reader.start()

    def terminate(self) -> list[dict]:
        """SIGTERM with the reader running; exit status 0 and `shutdown_complete` written.
        Returns the events read after the signal."""
        since = len(self.reader.events)
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        self.reader.join(5)
        if code != 0:
            raise Fail(f"exit status {code} after SIGTERM")
        after = self.reader.events[since:]
        if not any(e.get("event") == "shutdown_complete" for e in after):
            raise Fail("shutdown_complete was not written before exit")
        return after

    def close(self) -> None:
        procs.stop_process(self.proc, signal.SIGKILL)
        if not self.reader.is_alive():
            with contextlib.suppress(OSError):
                os.close(self._read_end)


def check_log_pipe(sessions: int = 200) -> None:
    need_rdpgate()
    backend = FakeBackend()
    with tempfile.TemporaryDirectory(prefix="rdpgate-faults-") as tmp:
        gw = StuckGateway(tmp, backend, "{level: info, format: json, queue_lines: 64}")
        echo = None
        try:
            echo = EchoSession(gw.port, "long-lived")
            echo.start()
            times = [handshake(gw.port, f"user{i}") for i in range(sessions)]
            mark = echo.bytes
            wait_until(lambda: echo.bytes > mark or echo.error, 2.0,
                       "the long-lived session to keep relaying")
            if echo.error:
                raise Fail(f"the long-lived session stopped: {echo.error}")
            # The counter follows the writers' count once a second.
            dropped = poll(gw.dropped, 3)
            if dropped <= 0:
                raise Fail(f"rdpgate_log_dropped_total = {dropped} after {sessions} sessions "
                           f"with the log pipe full")
            note(f"log pipe full ({gw.filled} bytes of filler): {sessions} handshakes, median "
                 f"{statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms; "
                 f"the long-lived session relayed {echo.bytes} bytes; "
                 f"rdpgate_log_dropped_total = {dropped:.0f}")

            # The reader resumes: the summaries account for every dropped line.
            gw.resume()
            def accounted():
                total = gw.dropped()
                summaries = gw.reader.named("log_dropped")
                return total if sum(int(e.get("dropped", 0)) for e in summaries) == total else 0
            total = poll(accounted, 10, interval=0.25)
            summaries = gw.reader.named("log_dropped")
            if not total:
                raise Fail(f"no log_dropped summaries accounting for every dropped line within "
                           f"10 s: {summaries}")
            note(f"reader resumed: {len(summaries)} log_dropped line(s), e.g. "
                 f"{summaries[0].get('message')!r}")
            echo.stop()
            echo = None
            gw.terminate()
        finally:
            if echo is not None:
                echo.stop()
            gw.close()
            backend.close()


def audit_records(path: str) -> list[dict]:
    with contextlib.suppress(FileNotFoundError), open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
    return []


def check_audit_file(sessions: int = 100) -> None:
    """logging.audit_file: the audit records have a file and a queue of their own, so they are
    all written while standard error is stuck."""
    need_rdpgate()
    backend = FakeBackend()
    with tempfile.TemporaryDirectory(prefix="rdpgate-faults-") as tmp:
        audit = os.path.join(tmp, "log", "audit.log")  # the folder is created by rdpgate
        gw = StuckGateway(tmp, backend, f"{{level: info, format: json, queue_lines: 64, "
                                        f"audit_file: {json.dumps(audit)}}}")
        try:
            ports = set()
            for i in range(sessions):
                status, local_port = try_rdp(gw.port, user=f"audit{i}", timeout=HANDSHAKE_DEADLINE)
                if status != "ok":
                    raise Fail(f"handshake {i}: {status}")
                ports.add(local_port)
            refuse(gw.port, HTTP_PROBE)
            def all_written():
                records = audit_records(audit)
                seen = {r.get("src_port") for r in records if r.get("event") == "connection"}
                return records if ports <= seen and any(r.get("outcome") == "not_rdp"
                                                        for r in records) else None
            records = poll(all_written, 5, interval=0.1)
            if not records:
                raise Fail(f"the audit file lacks records with standard error stuck: "
                           f"{len(audit_records(audit))} lines")
            others = [r for r in records if r.get("event") != "connection"]
            if others:
                raise Fail(f"non-audit lines in the audit file: {others[:3]}")
            note(f"standard error stuck: {len(records)} audit records in {audit}")
            gw.resume()
            after = gw.terminate()
            main = gw.reader.events
            if any(e.get("event") == "connection" for e in main):
                raise Fail("audit records were written to standard error too")
            if not any(e.get("event") == "started" for e in main) or not after:
                raise Fail(f"the main log lacks its own lines: {main[:5]}")
        finally:
            gw.close()
            backend.close()


# -- 2. a flood of refusals ------------------------------------------------------------------

def check_refusal_flood(per_kind: int = 600, threads: int = 8) -> None:
    need_rdpgate()
    backend = FakeBackend()
    with tempfile.TemporaryDirectory(prefix="rdpgate-faults-") as tmp:
        config = single_listener(backend, inspection='{usernames: {deny: ["denied*"]}}')
        gw = Gateway(config, tmp).start()
        try:
            port = gw.port("main")
            errors: list[str] = []

            def flood(n: int) -> None:
                for i in range(n):
                    try:
                        refuse(port, HTTP_PROBE if i % 2 == 0 else SHORT_TPKT)
                    except OSError as e:
                        errors.append(repr(e))

            started = time.monotonic()
            workers = [threading.Thread(target=flood, args=(2 * per_kind // threads,), daemon=True)
                       for _ in range(threads)]
            for t in workers:
                t.start()
            # In the middle of the flood: one refusal of another kind and one relayed session.
            time.sleep(0.2)
            refuse(port, connection_request("denied-user"))
            status, session_port = try_rdp(port, user="flood-time-user", timeout=5)
            for t in workers:
                t.join(timeout=60)
            seconds = time.monotonic() - started
            if errors or status != "ok":
                raise Fail(f"client errors {errors[:3]}, relayed session: {status}")

            def counted():
                s = gw.metrics()
                return s if (value(s, "rdpgate_connections_total", outcome="not_rdp") >= per_kind
                             and value(s, "rdpgate_connections_total", outcome="malformed")
                             >= per_kind) else None
            if not poll(counted, 10):
                raise Fail(f"the flood was not counted: {gw.metrics().get('rdpgate_connections_total')}")

            def summarised():
                suppressed = value(gw.metrics(), "rdpgate_log_suppressed_total")
                summaries = gw.events("refusals_suppressed")
                total = sum(int(e.get("suppressed", 0)) for e in summaries)
                return (suppressed, summaries) if summaries and total == suppressed else None
            result = poll(summarised, WINDOW + 10, interval=0.25)
            if not result:
                raise Fail(f"no refusals_suppressed summary accounting for rdpgate_log_suppressed"
                           f"_total within {WINDOW + 10} s: {gw.events('refusals_suppressed')}")
            suppressed, summaries = result
            lines = {kind: [e for e in gw.audit() if e.get("outcome") == kind]
                     for kind in ("not_rdp", "malformed")}
            problems = []
            allowed = BURST + RATE * seconds + 2
            for kind, found in lines.items():
                if len(found) > allowed:
                    problems.append(f"{len(found)} {kind} lines in {seconds:.1f} s "
                                    f"(at most {allowed:.0f} allowed)")
            written = sum(len(found) for found in lines.values())
            if written + suppressed != 2 * per_kind:
                problems.append(f"{written} lines + {suppressed:.0f} suppressed != {2 * per_kind}")
            top = " ".join(str(e.get("top_reasons", "")) for e in summaries)
            if "not_rdp" not in top or "malformed" not in top:
                problems.append(f"the summaries do not name both kinds: {summaries}")
            if not gw.find_events(lambda e: e.get("event") == "connection"
                                  and e.get("outcome") == "username_denied"):
                problems.append("the username refusal during the flood was not logged")
            if not gw.find_events(lambda e: e.get("event") == "connection"
                                  and e.get("src_port") == session_port):
                problems.append("the relayed session during the flood was not logged")
            if problems:
                raise Fail("\n".join(problems) + "\n" + gw.log_tail(20))
            note(f"{2 * per_kind} refusals (not_rdp, malformed) in {seconds:.1f} s: "
                 f"{len(lines['not_rdp'])} + {len(lines['malformed'])} lines, "
                 f"{suppressed:.0f} suppressed and summarised: {summaries[0].get('message')!r}")
        finally:
            gw.cleanup()
            backend.close()


# -- 3. idle admin connections ---------------------------------------------------------------

PARTIAL_HEADER = b"GET /v1/sessions HTTP/1.1\r\nHost: x\r\n"  # no blank line: never complete


def open_idle(port: int, partial: bool) -> socket.socket:
    s = socket.create_connection((LOOPBACK, port), timeout=5)
    if partial:
        s.sendall(PARTIAL_HEADER)
    return s


def closed_by_server(s: socket.socket) -> bool:
    """Reads what is there: True once the server closed (EOF or reset)."""
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        return True
    except TimeoutError:
        raise Fail(f"an idle admin connection was still open after {s.gettimeout():.1f} s") \
            from None
    if data:
        raise Fail(f"an idle admin connection was answered: {data[:60]!r}")
    return True


class IdleCrowd(threading.Thread):
    """Keeps `count` idle connections to the admin API open, every third with a partial header,
    the rest silent. Each connection the server closes is reopened in the next round (rounds
    every 50 ms), as a client that wants to hold every slot would do, until stop()."""

    def __init__(self, port: int, count: int = 100) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.count = count
        self.opened = 0
        self.closed = 0
        self.error: str | None = None
        self.ready = threading.Event()
        self._stop_event = threading.Event()

    def run(self) -> None:
        held: dict[socket.socket, int] = {}
        try:
            for i in range(self.count):
                held[open_idle(self.port, i % 3 == 0)] = i
                self.opened += 1
            self.ready.set()
            while not self._stop_event.is_set():
                readable, _, _ = select.select(list(held), [], [], 0.05)
                for s in readable:
                    closed_by_server(s)
                    i = held.pop(s)
                    s.close()
                    self.closed += 1
                    held[open_idle(self.port, i % 3 == 0)] = i
                    self.opened += 1
                if readable:
                    time.sleep(0.05)
        except Exception as e:  # noqa: BLE001 - reported by the check
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.ready.set()
            for s in held:
                s.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


def timed_call(gw: Gateway, what: str) -> float:
    t0 = time.monotonic()
    try:
        status, body = gw.admin("GET", "/v1/sessions")
    except OSError as e:
        raise Fail(f"{what}: {type(e).__name__}: {e}") from None
    elapsed = time.monotonic() - t0
    if status != 200 or elapsed > ADMIN_PROMPT:
        raise Fail(f"{what}: {status} after {elapsed:.2f} s: {body[:200]}")
    return elapsed


def check_admin_idle(calls: int = 20) -> None:
    need_rdpgate()
    backend = FakeBackend()
    with tempfile.TemporaryDirectory(prefix="rdpgate-faults-") as tmp:
        config = single_listener(backend, admin=True)
        gw = Gateway(config, tmp, admin_token=ADMIN_TOKEN, admin_token_env=ADMIN_TOKEN_ENV).start()
        port = gw.addr("admin")[1]
        crowd = None
        idle: list[tuple[socket.socket, bool, float]] = []
        try:
            # 1. Fewer idle connections than slots: each is closed by the header timeout.
            for i in range(48):
                idle.append((open_idle(port, i % 3 == 0), i % 3 == 0, time.monotonic()))
            timed_call(gw, "a call beside 48 idle connections")
            lifetimes = []
            for s, partial, opened in idle:
                s.settimeout(HEADER_TIMEOUT + MARGIN + 1)
                closed_by_server(s)
                lifetimes.append((partial, time.monotonic() - opened))
            early = [t for _, t in lifetimes if t < HEADER_TIMEOUT - 0.5]
            late = [t for _, t in lifetimes if t > HEADER_TIMEOUT + MARGIN]
            if early or late:
                raise Fail(f"idle connections closed after {sorted(t for _, t in lifetimes)} s "
                           f"(header timeout {HEADER_TIMEOUT} s)")
            note(f"48 idle admin connections (16 with a partial header) closed by the server "
                 f"after {min(t for _, t in lifetimes):.2f}-{max(t for _, t in lifetimes):.2f} s")

            # 2. 100 idle connections, reopened as the server closes them: calls still answer.
            crowd = IdleCrowd(port)
            crowd.start()
            crowd.ready.wait(10)
            if crowd.error:
                raise Fail(f"opening the idle connections: {crowd.error}")
            times = []
            started = time.monotonic()
            # Longer than the header timeout: the crowd's first connections are closed and
            # reopened while the calls go on.
            while len(times) < calls or time.monotonic() - started < HEADER_TIMEOUT + 1:
                times.append(timed_call(gw, f"call {len(times) + 1} with 100 idle connections "
                                            f"held"))
                time.sleep(0.1)
            crowd.stop()
            if crowd.error:
                raise Fail(f"the idle crowd: {crowd.error}")
            note(f"{len(times)} authenticated calls with 100 idle connections held: median "
                 f"{statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms; "
                 f"the server closed {crowd.closed} idle connections, the crowd reopened them")
            crowd = None

            # 3. An idle keep-alive connection is closed after the idle timeout.
            with socket.create_connection((LOOPBACK, port), timeout=IDLE_TIMEOUT + 5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                answer = s.recv(65536)
                if not answer.startswith(b"HTTP/1.1 200"):
                    raise Fail(f"GET /healthz: {answer[:60]!r}")
                t0 = time.monotonic()
                rest = read_until_closed(s)
                waited = time.monotonic() - t0
            if rest or not IDLE_TIMEOUT - 0.5 <= waited <= IDLE_TIMEOUT + MARGIN:
                raise Fail(f"idle keep-alive connection closed after {waited:.2f} s "
                           f"(idle timeout {IDLE_TIMEOUT} s), {len(rest)} bytes more")
            note(f"an idle keep-alive connection was closed {waited:.2f} s after its answer")
        finally:
            if crowd is not None:
                crowd.stop()
            for s, _, _ in idle:
                s.close()
            gw.cleanup()
            backend.close()


CHECKS = {
    "log-pipe": check_log_pipe,
    "audit-file": check_audit_file,
    "refusal-flood": check_refusal_flood,
    "admin-idle": check_admin_idle,
}

if __name__ == "__main__":
    sys.exit(checks.run_named(CHECKS, sys.argv))
