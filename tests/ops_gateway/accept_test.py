#!/usr/bin/env python3
"""Accepting never depends on a busy worker (SPEC §7; docs/faults.md "A busy worker").

A worker thread is stalled for real: strace, attached to the one thread that relays a session,
delays that thread's next read of the session (`--inject=SYSCALL:delay_enter=...`), so the
thread sits in one system call for STALL seconds, as it would behind a slow disk, a full pipe
or a lock held elsewhere. The thread is found by watching which one reads the session's bytes,
so nothing here depends on how rdpgate numbers or names its threads.

- refusals (`workers: 1`): while the only worker is stalled, deny-listed connections are still
  refused at once (reset within REFUSAL_DEADLINE) and counted in rdpgate_refusals_total, and
  legitimate connections made meanwhile are accepted then — their audit records' handshake
  clock, which starts at accept, covers the rest of the stall — and complete once the worker
  runs again.
- handshakes (`workers: 2`): while the worker of a session is stalled, new handshakes each
  complete within HANDSHAKE_DEADLINE on the other worker, refusals stay prompt, and rdpgate
  reports the stalled worker (`worker_busy`, rdpgate_worker_busy_total) and its return
  (`worker_free`); the stalled session then relays on, intact.

- errors: accept4(2) failing with EMFILE (strace) is counted and logged, and the listener goes
  on once it works again.

Usage: accept_test.py CHECK   (CHECK: refusals, handshakes, errors, measure, list; `measure` only prints
the timings docs/faults.md quotes and is not a ctest)
Exit status: 0 passed, 1 failed, 77 skipped (no rdpgate binary, no strace, or ptrace refused).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from signal import SIGINT, SIGKILL

from harness import Failure, note, rdp_connect, try_rdp
from support import checks, gateway, procs
from support.backend import FakeBackend
from support.checks import Fail, Skip, need_rdpgate, need_tool
from support.gateway import Gateway
from support.net import LOOPBACK, recv_exactly
from support.rdp import CONFIRM_HYBRID, connection_request
from support.wait import poll_value, wait_until

# The numbers the checks hold rdpgate to (docs/faults.md).
STALL = 6.0                # seconds the worker's thread sits in one system call
REFUSAL_DEADLINE = 1.0     # a deny-listed connection is reset within this, stall or not
HANDSHAKE_DEADLINE = 1.5   # request -> Confirm -> one echoed block, while a worker is stalled
DENIED = "127.0.0.2"       # the deny-listed source (all of 127.0.0.0/8 is loopback on Linux)
READS = ("splice", "recvmsg", "recvfrom")  # how a worker reads a client (relay.cpp, Asio)
BLOCK = 4096


def config(backend: FakeBackend, workers: int) -> str:
    listeners = f'  - {{name: main, address: "{LOOPBACK}:0", route: pool}}\n'
    routes = f'  - {{name: pool, backends: ["{backend.address}"]}}\n'
    return gateway.config(
        listeners, routes, workers=str(workers), admin='{address: ""}',
        sources=f'{{deny: ["{DENIED}/32"], per_source: {{rate: "0/s", max_connections: 0}}}}')


def refused_at_once(port: int, deadline: float = REFUSAL_DEADLINE) -> float:
    """A connection from the deny-listed source; the seconds until rdpgate reset or closed it.
    Fail when that takes longer than `deadline`."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((DENIED, 0))
        started = time.monotonic()
        s.settimeout(deadline)
        try:
            # The kernel completes the handshake in any case; the reset may come before
            # connect() returns.
            s.connect((LOOPBACK, port))
            data = s.recv(1)
        except ConnectionResetError:
            data = b""
        except TimeoutError:
            raise Fail(f"a deny-listed connection was not refused within {deadline} s")
        if data:
            raise Fail(f"a deny-listed connection received {data!r}")
        return time.monotonic() - started
    finally:
        s.close()


def echo_block(sock: socket.socket, n: int) -> bytes:
    payload = bytes([n % 251]) * BLOCK
    sock.sendall(payload)
    return payload


class Stall:
    """Stalls the thread of rdpgate (`pid`) that relays `session` for STALL seconds.

    First strace watches every thread while one block goes through the session: the thread
    that reads it is the session's worker. Then a second strace attaches to that thread alone
    and delays its next read by STALL seconds (`delay_enter`: the thread is held on entry to
    the call, as if the call blocked); begin() sends the block that makes it read."""

    def __init__(self, pid: int, session: socket.socket, workdir: str) -> None:
        self.strace = need_tool("strace")
        self.pid = pid
        self.session = session
        self.tid, self.syscall = self._find_reader(os.path.join(workdir, "strace-find.txt"))
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.payload = b""

    def _attach(self, args: list[str]) -> subprocess.Popen:
        proc = procs.spawn([self.strace, *args], stderr=subprocess.PIPE)
        assert proc.stderr is not None
        fd = proc.stderr.fileno()
        os.set_blocking(fd, False)
        text = ""

        def attached() -> bool:
            nonlocal text
            with suppress(BlockingIOError):
                text += os.read(fd, 65536).decode(errors="replace")
            if proc.poll() is not None:
                procs.forget(proc)
                if "Operation not permitted" in text:
                    raise Skip(f"strace may not attach to rdpgate (ptrace): {text.strip()}")
                raise Fail(f"strace exited with {proc.returncode}: {text.strip()}")
            return "attached" in text
        wait_until(attached, 10, "strace to attach")
        return proc

    @staticmethod
    def _detach(proc: subprocess.Popen) -> None:
        with suppress(ProcessLookupError):
            proc.send_signal(SIGINT)  # strace detaches and exits
        try:
            proc.wait(timeout=10)
        finally:
            procs.stop_process(proc, SIGKILL)

    def _find_reader(self, out: str) -> tuple[int, str]:
        proc = self._attach(["-f", "-p", str(self.pid), "-o", out, "-e",
                             "trace=" + ",".join(READS)])
        try:
            payload = echo_block(self.session, 0)
            if recv_exactly(self.session, len(payload), 5) != payload:
                raise Fail("the session's echo differs")
        finally:
            self._detach(proc)
        with open(out, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"(\d+)\s+(\w+)\(", line)
                if m and m.group(2) in READS:
                    note(f"the session's worker is thread {m.group(1)} (first read: "
                         f"{m.group(2)})")
                    return int(m.group(1)), m.group(2)
        raise Fail(f"strace saw no thread of rdpgate read the session ({out})")

    def begin(self) -> None:
        self.proc = self._attach(["-p", str(self.tid), "-o", "/dev/null", "-e",
                                  f"trace={self.syscall}", "-e",
                                  f"inject={self.syscall}:delay_enter={int(STALL * 1e6)}:when=1"])
        self.started = time.monotonic()
        self.payload = echo_block(self.session, 1)

    def still_stalled(self) -> bool:
        """True while the stalled block's echo has not come back."""
        self.session.setblocking(False)
        try:
            return not self.session.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        finally:
            self.session.setblocking(True)

    def wait_end(self) -> float:
        """Waits for the stalled block's echo (intact); returns when it arrived (monotonic)."""
        echo = recv_exactly(self.session, len(self.payload), STALL + 10)
        ended = time.monotonic()
        if echo != self.payload:
            raise Fail("the stalled session's echo differs")
        if ended - self.started < STALL - 0.5:
            raise Fail(f"the worker was stalled only {ended - self.started:.2f} s")
        return ended

    def close(self) -> None:
        if self.proc is not None:
            self._detach(self.proc)
            self.proc = None


def handshake(port: int, user: str, deadline: float = HANDSHAKE_DEADLINE) -> float:
    """One new session (request, Confirm, one echoed block, close) within `deadline`; its
    duration in seconds."""
    started = time.monotonic()
    try:
        status, _ = try_rdp(port, user=user, timeout=deadline)
    except Failure as e:
        raise Fail(f"handshake {user}: {e}") from e
    if status != "ok":
        raise Fail(f"handshake {user}: {status}")
    return time.monotonic() - started


def start(tmp: str, workers: int) -> tuple[FakeBackend, Gateway]:
    need_rdpgate()
    backend = FakeBackend()
    try:
        return backend, Gateway(config(backend, workers), tmp).start()
    except BaseException:
        backend.close()
        raise


def check_refusals(refusals: int = 20, legit: int = 3) -> None:
    with tempfile.TemporaryDirectory(prefix="rdpgate-accept-") as tmp:
        backend, gw = start(tmp, workers=1)
        stall = session = None
        pending: list[tuple[socket.socket, float]] = []
        try:
            port = gw.port("main")
            session = rdp_connect(port, user="stalled")
            stall = Stall(gw.pid, session, tmp)
            stall.begin()

            # The only worker sits in one system call. Refusals happen on the accept thread.
            times = [refused_at_once(port) for _ in range(refusals)]
            counted = poll_value(lambda: gw.metric("rdpgate_refusals_total",
                                                   {"reason": "deny_list"}, 0.0),
                                 float(refusals), timeout=REFUSAL_DEADLINE)
            if counted != refusals:
                raise Fail(f"rdpgate_refusals_total counts {counted} of {refusals} refusals")
            for _ in range(legit):
                s = socket.create_connection((LOOPBACK, port), timeout=STALL + 10)
                s.sendall(connection_request("during-stall"))
                pending.append((s, time.monotonic()))
            if not stall.still_stalled():
                raise Fail("the worker ran again before the checks were done: lengthen STALL")
            note(f"{refusals} refusals while the worker was stalled: each reset after "
                 f"{min(times) * 1000:.1f}-{max(times) * 1000:.1f} ms, all counted; checks done "
                 f"{time.monotonic() - stall.started:.2f} s into the {STALL} s stall")

            ended = stall.wait_end()
            for s, opened in pending:
                if recv_exactly(s, len(CONFIRM_HYBRID), 5) != CONFIRM_HYBRID:
                    raise Fail("a connection made during the stall got no Confirm")
                local_port = s.getsockname()[1]
                s.close()
                record = gw.audit_record(local_port)
                clock = record["handshake_ms"] / 1000
                # Accepted when it was made, not when the worker came back.
                if clock < (ended - opened) - 0.5:
                    raise Fail(f"a connection made {ended - opened:.2f} s before the worker ran "
                               f"again has a handshake clock of {clock:.2f} s: it was accepted "
                               "only after the stall")
            note(f"{legit} connections made during the stall completed after it; their "
                 "handshake clocks started at accept, during the stall")
        finally:
            for s, _ in pending:
                s.close()
            if stall is not None:
                stall.close()
            if session is not None:
                session.close()
            gw.cleanup()
            backend.close()


def check_handshakes(handshakes: int = 20, refusals: int = 5) -> None:
    with tempfile.TemporaryDirectory(prefix="rdpgate-accept-") as tmp:
        backend, gw = start(tmp, workers=2)
        stall = session = None
        try:
            port = gw.port("main")
            session = rdp_connect(port, user="stalled")
            stall = Stall(gw.pid, session, tmp)
            stall.begin()

            times = sorted(handshake(port, f"during-stall-{i}") for i in range(handshakes))
            refused = [refused_at_once(port) for _ in range(refusals)]
            if not stall.still_stalled():
                raise Fail("the worker ran again before the checks were done: lengthen STALL")
            note(f"{handshakes} handshakes while one worker was stalled: p50 "
                 f"{times[len(times) // 2] * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms; "
                 f"{refusals} refusals reset within {max(refused) * 1000:.1f} ms")
            busy = gw.wait_event(lambda e: e.get("event") == "worker_busy", 5,
                                 "worker_busy")
            if gw.metric("rdpgate_worker_busy_total", default=0.0) < 1:
                raise Fail("rdpgate_worker_busy_total did not count the stalled worker")

            stall.wait_end()
            free = gw.wait_event(lambda e: e.get("event") == "worker_free"
                                 and e.get("worker") == busy.get("worker"), 5, "worker_free")
            note(f"worker {busy.get('worker')} was reported busy, then free after "
                 f"{free.get('busy_ms')} ms")
            for i in range(4):  # both workers serve again
                handshake(port, f"after-stall-{i}")
            payload = echo_block(session, 2)
            if recv_exactly(session, len(payload), 5) != payload:
                raise Fail("the stalled session does not relay after the stall")
        finally:
            if stall is not None:
                stall.close()
            if session is not None:
                session.close()
            gw.cleanup()
            backend.close()


def check_errors() -> None:
    """accept4(2) failing (EMFILE, as when the descriptor limit is reached; injected by strace)
    is counted in rdpgate_accept_errors_total and logged as `accept_error`; the listener backs
    off and keeps listening, and the connection that waited in the queue is served once accept
    works again."""
    with tempfile.TemporaryDirectory(prefix="rdpgate-accept-") as tmp:
        backend, gw = start(tmp, workers=1)
        waiting = None
        try:
            port = gw.port("main")
            handshake(port, "before")
            with procs.strace_inject(gw.pid, "accept4", "error=EMFILE"):
                waiting = socket.create_connection((LOOPBACK, port), timeout=10)
                waiting.sendall(connection_request("queued"))
                def failed_accepts() -> float:
                    return gw.metric("rdpgate_accept_errors_total", {"listener": "main"}, 0.0)
                try:
                    wait_until(lambda: failed_accepts() >= 3, 5, "failed accepts to be counted")
                except TimeoutError as e:
                    raise Fail(f"rdpgate_accept_errors_total counts {failed_accepts()} failed "
                               "accepts") from e
                errors = failed_accepts()
                event = gw.wait_event(lambda e: e.get("event") == "accept_error", 5,
                                      "accept_error")
                if "Too many open files" not in str(event.get("error")):
                    raise Fail(f"accept_error does not name the cause: {event}")
            # The injection is over: the connection made meanwhile is served.
            if recv_exactly(waiting, len(CONFIRM_HYBRID), 5) != CONFIRM_HYBRID:
                raise Fail("the connection queued during the accept errors got no Confirm")
            handshake(port, "after")
            note(f"{errors:.0f} failed accepts counted and logged; the queued connection was "
                 "served once accept worked again")
        finally:
            if waiting is not None:
                waiting.close()
            gw.cleanup()
            backend.close()


def measure() -> None:
    """Not a ctest: with `workers: 1`, then 2, one worker stalled, times 5 refusals and then
    10 handshakes made one at a time, failing on nothing slower than the stall (the figures of
    docs/faults.md; run it with RDPGATE_BIN set to an older build to compare)."""
    for workers in (1, 2):
        with tempfile.TemporaryDirectory(prefix="rdpgate-accept-") as tmp:
            backend, gw = start(tmp, workers)
            stall = session = None
            try:
                port = gw.port("main")
                session = rdp_connect(port, user="stalled")
                stall = Stall(gw.pid, session, tmp)
                stall.begin()
                refused = [refused_at_once(port, STALL + 5) for _ in range(5)]
                shaken = [handshake(port, f"measure-{i}", STALL + 5) for i in range(10)]
                stall.wait_end()
                note(f"workers: {workers}, one stalled for {STALL} s: refusals "
                     f"{', '.join(f'{t * 1000:.1f}' for t in refused)} ms; handshakes "
                     f"{', '.join(f'{t * 1000:.1f}' for t in shaken)} ms")
            finally:
                if stall is not None:
                    stall.close()
                if session is not None:
                    session.close()
                gw.cleanup()
                backend.close()


CHECKS = {
    "refusals": check_refusals,
    "handshakes": check_handshakes,
    "errors": check_errors,
    "measure": measure,
}

if __name__ == "__main__":
    sys.exit(checks.run_named(CHECKS, sys.argv))
