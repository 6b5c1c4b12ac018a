"""Graceful drain on SIGTERM (SPEC §6, §8: `shutdown: {drain_timeout}`, exit 0).

- Sessions that never close: rdpgate stops accepting at once (the port refuses), waits the whole
  drain deadline, then ends them; it exits 0 within the deadline plus a small margin and writes
  one audit record with outcome `shutdown` for each. Sessions the clients close during the drain
  are recorded as `completed`, with their bytes.
- When every session closes during the drain, rdpgate exits as soon as the last one is gone.
- SIGINT drains the same way.
"""

import os
import signal
import socket
import time

from harness import EchoSession, Suite, base_config, check, rdp_connect, try_rdp
from support.net import LOOPBACK, recv_exactly
from support.rdp import CONFIRM_HYBRID, connection_request
from support.wait import wait_until
from support.tls import RELAYED

DRAIN = 2.0
MARGIN = 1.5  # process exit, the final log lines, a loaded machine


def config(state: str, backend: str) -> str:
    listeners = f'  - {{name: main, address: "{LOOPBACK}:0", route: pool}}\n'
    routes = f'  - {{name: pool, backends: ["{backend}"]}}\n'
    return base_config(state, listeners, routes,
                       extra=f"shutdown: {{drain_timeout: {int(DRAIN * 1000)}ms}}\n"
                             "session: {idle_timeout: 1h}\n")


def start(suite: Suite, name: str):
    backend = suite.backend()
    wd = suite.workdir(name)
    g = suite.gateway(wd, config(os.path.join(wd, "state"), backend.address)).start()
    return g, backend


def wait_listener_closed(g, since: int) -> None:
    g.wait_event(lambda e: e.get("event") == "shutdown_started", 3.0, "shutdown_started", since)
    # The acceptors are closed on their own threads right after: the port must refuse well
    # before the drain deadline.
    wait_until(lambda: try_rdp(g.port("main"), user="late")[0] == "refused", 0.5,
               "the listener to refuse new connections during the drain")


def drain_with_stuck_sessions(suite: Suite) -> None:
    g, _ = start(suite, "drain-stuck")
    port = g.port("main")
    # Three sessions that never close (two of them keep sending), two that close mid-drain.
    idle = rdp_connect(port, user="idle")
    busy = [EchoSession(port, f"busy{i}") for i in range(2)]
    for s in busy:
        s.start()
    closers = [rdp_connect(port, user=f"closer{i}") for i in range(2)]
    for c in closers:
        c.sendall(b"hello")
        check(recv_exactly(c, 5, 5) == b"hello", "echo before the drain")
    suite.defer(idle.close)
    suite.defer(lambda: [c.close() for c in closers])
    suite.defer(lambda: [s.stop() for s in busy])
    wait_until(lambda: all(s.bytes > 0 for s in busy), 5, "traffic on the busy sessions")

    since = g.event_count()
    t0 = time.monotonic()
    g.signal(signal.SIGTERM)
    wait_listener_closed(g, since)

    # The sessions still relay during the drain.
    time.sleep(0.3)
    for c in closers:
        c.sendall(b"still")
        check(recv_exactly(c, 5, 2) == b"still", "a session stopped relaying during the drain")
        c.close()
    marks = [s.bytes for s in busy]
    wait_until(lambda: all(s.bytes > m for s, m in zip(busy, marks)), 1.0,
               "busy sessions to keep relaying during the drain")

    rc = g.wait_exit(DRAIN + MARGIN + 1.0)
    elapsed = time.monotonic() - t0
    print(f"SIGTERM with 3 open sessions: exit {rc} after {elapsed:.2f} s "
          f"(drain_timeout {DRAIN:.1f} s)")
    check(rc == 0, f"exit code {rc}, want 0")
    check(elapsed >= DRAIN - 0.2, f"exited after {elapsed:.2f} s: did not wait for the drain")
    check(elapsed <= DRAIN + MARGIN, f"exited after {elapsed:.2f} s, deadline {DRAIN} s")

    # The gateway ended the stuck ones: the clients see their connections close.
    idle.settimeout(2)
    try:
        check(idle.recv(1) == b"", "idle session still open after rdpgate exited")
    except ConnectionResetError:
        pass
    for s in busy:
        s.join(timeout=5)
        check(s.error is not None, f"busy session {s.user} did not notice the shutdown")

    records = {e["user"]: e for e in g.find_events(lambda e: e.get("event") == "connection")}
    for user in ["idle", "busy0", "busy1"]:
        check(user in records, f"no audit record for {user}: {sorted(records)}")
        check(records[user]["outcome"] == "shutdown", f"{user}: {records[user]}")
    for user in ["closer0", "closer1"]:
        check(user in records, f"no audit record for {user}: {sorted(records)}")
        check(records[user]["outcome"] == RELAYED, f"{user}: {records[user]}")
        # The forwarded Connection Request and the Confirm count too.
        want_in = len(connection_request(user)) + 10
        want_out = len(CONFIRM_HYBRID) + 10
        check(records[user]["bytes_in"] == want_in and records[user]["bytes_out"] == want_out,
              f"{user}: bytes {records[user]['bytes_in']}/{records[user]['bytes_out']}, "
              f"want {want_in}/{want_out}")
    for user in ["busy0", "busy1"]:
        check(records[user]["bytes_in"] > 0, f"{user}: bytes not counted: {records[user]}")
    check(g.find_events(lambda e: e.get("event") == "shutdown_complete"), "no shutdown_complete")


def drain_ends_early(suite: Suite, sig: int = signal.SIGTERM) -> None:
    g, _ = start(suite, f"drain-early-{sig}")
    port = g.port("main")
    clients = [rdp_connect(port, user=f"early{i}") for i in range(3)]
    suite.defer(lambda: [c.close() for c in clients])
    since = g.event_count()
    t0 = time.monotonic()
    g.signal(sig)
    wait_listener_closed(g, since)
    # Clients leave one after another, the last 0.6 s after the signal.
    for i, c in enumerate(clients):
        time.sleep(0.2)
        c.close()
    rc = g.wait_exit(DRAIN + MARGIN)
    elapsed = time.monotonic() - t0
    print(f"{signal.Signals(sig).name}, sessions closed by 0.6 s: exit {rc} after {elapsed:.2f} s")
    check(rc == 0, f"exit code {rc}, want 0")
    check(elapsed < DRAIN - 0.5, f"exited after {elapsed:.2f} s: the drain did not end early")
    records = g.find_events(lambda e: e.get("event") == "connection"
                            and str(e.get("user", "")).startswith("early"))
    check(len(records) == 3 and all(r["outcome"] == RELAYED for r in records),
          f"audit records {records}")


def drain_sigint(suite: Suite) -> None:
    drain_ends_early(suite, signal.SIGINT)


def drain_idle_gateway(suite: Suite) -> None:
    g, _ = start(suite, "drain-none")
    t0 = time.monotonic()
    g.signal(signal.SIGTERM)
    rc = g.wait_exit(DRAIN + MARGIN)
    elapsed = time.monotonic() - t0
    check(rc == 0, f"exit code {rc}, want 0")
    check(elapsed < 1.0, f"no sessions, yet exit took {elapsed:.2f} s")
    # Nothing listens any more.
    with socket.socket() as s:
        s.settimeout(2)
        check(s.connect_ex((LOOPBACK, g.port("main"))) != 0, "port still accepting after exit")


if __name__ == "__main__":
    Suite().run([
        ("drain_with_stuck_sessions", drain_with_stuck_sessions),
        ("drain_ends_early", drain_ends_early),
        ("drain_sigint", drain_sigint),
        ("drain_idle_gateway", drain_idle_gateway),
    ])
