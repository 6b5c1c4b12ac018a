"""Backend health checks (SPEC §6, §7): a backend killed during traffic is marked down within
about one interval, new sessions go elsewhere, and it comes back when it answers again.

Route `pool` has backends A and B and `health_check: {interval: 500ms, timeout: 300ms, fall: 1,
rise: 1}`, once with TCP probes and once with `rdp_probe: true`:
- kill A while sessions relay through both → `backend_down` and rdpgate_backend_up{backend=A} 0
  within interval + timeout + slack; the session on B keeps relaying;
- every new session lands on B (audit record `backend`, and B's own count), none tries A;
- restart A on the same port → `backend_up`, the gauge is 1, new sessions reach A again;
- a mute A (accepts TCP, never answers a Connection Request) stays up for TCP probes but is
  marked down by the RDP probe.
"""

import os
import time

from harness import EchoSession, Suite, base_config, check, try_rdp
from support.backend import FakeBackend
from support.net import LOOPBACK
from support.wait import wait_until
from support.tls import RELAYED

INTERVAL = 0.5
TIMEOUT = 0.3
# A probe starts at most one interval after the kill and fails within its timeout (a refused
# connect fails at once); allow scheduling slack on a shared machine.
DETECT = INTERVAL + TIMEOUT + 0.7


def config(state: str, a: str, b: str, rdp_probe: bool) -> str:
    listeners = f'  - {{name: main, address: "{LOOPBACK}:0", route: pool}}\n'
    routes = (f'  - name: pool\n'
              f'    backends: ["{a}", "{b}"]\n'
              f'    balance: least_connections\n'
              f'    connect_timeout: 1s\n'
              f'    health_check: {{interval: {int(INTERVAL * 1000)}ms, '
              f'timeout: {int(TIMEOUT * 1000)}ms, fall: 1, rise: 1, '
              f'rdp_probe: {"true" if rdp_probe else "false"}}}\n')
    return base_config(state, listeners, routes)


def up(g, backend: FakeBackend) -> float | None:
    return g.metric("rdpgate_backend_up", {"route": "pool", "backend": backend.address})


def health_event(name: str, backend: FakeBackend):
    return lambda e: e.get("event") == name and e.get("backend") == backend.address


def new_sessions(g, count: int, prefix: str) -> list[dict]:
    records = []
    for i in range(count):
        outcome, local_port = try_rdp(g.port("main"), user=f"{prefix}{i}")
        check(outcome == "ok", f"session {prefix}{i}: {outcome}")
        records.append(g.audit_record(local_port))
    return records


def kill_and_restart(suite: Suite, rdp_probe: bool) -> None:
    a, b = suite.backend(), suite.backend()
    wd = suite.workdir(f"health-{rdp_probe}")
    g = suite.gateway(wd, config(os.path.join(wd, "state"), a.address, b.address, rdp_probe)).start()
    wait_until(lambda: up(g, a) == 1 and up(g, b) == 1, 3, "both backends up")
    # Two long sessions: least_connections puts the first on A, the second on B.
    sessions = [EchoSession(g.port("main"), f"traffic{i}") for i in range(2)]
    for s in sessions:
        s.start()
    suite.defer(lambda: [s.stop() for s in sessions])
    wait_until(lambda: all(s.bytes > 0 for s in sessions), 5, "traffic on both sessions")
    check(a.sessions("traffic") == 1 and b.sessions("traffic") == 1,
          f"sessions spread A {a.sessions('traffic')} B {b.sessions('traffic')}")
    on_a = next(s for s in sessions if s.user in a.users)
    on_b = next(s for s in sessions if s is not on_a)

    since = g.event_count()
    killed = time.monotonic()
    a.close()
    g.wait_event(health_event("backend_down", a), DETECT, "backend_down for A", since)
    detected = time.monotonic() - killed
    wait_until(lambda: up(g, a) == 0, 0.5, "rdpgate_backend_up{A} to be 0")
    print(f"rdp_probe={rdp_probe}: A marked down {detected:.2f} s after it was killed "
          f"(interval {INTERVAL} s, timeout {TIMEOUT} s)")
    check(up(g, b) == 1, "B must stay up")

    # The session on A died with it; the one on B did not notice.
    wait_until(lambda: on_a.error is not None, 5, "the session on A to end")
    marks = on_b.bytes
    wait_until(lambda: on_b.bytes > marks + 10 * EchoSession.block or on_b.error, 5,
               "the session on B to keep relaying")
    check(on_b.error is None, f"session on B broke: {on_b.error}")

    before_b = b.sessions("after")
    records = new_sessions(g, 6, "after")
    check(all(r["backend"] == b.address and r["outcome"] == RELAYED for r in records),
          f"new sessions must all go to B: {[(r['backend'], r['outcome']) for r in records]}")
    check(b.sessions("after") == before_b + 6, "B did not serve the new sessions")
    check(not g.find_events(lambda e: e.get("event") == "backend_connect_failed", since),
          "a new session tried the backend marked down")

    # A comes back on the same port.
    since = g.event_count()
    restarted = time.monotonic()
    a2 = suite.backend(a.port)
    g.wait_event(health_event("backend_up", a), DETECT, "backend_up for A", since)
    print(f"rdp_probe={rdp_probe}: A marked up {time.monotonic() - restarted:.2f} s after restart")
    wait_until(lambda: up(g, a) == 1, 0.5, "rdpgate_backend_up{A} to be 1")
    # B still carries the long session, so least_connections prefers A.
    records = new_sessions(g, 1, "back")
    check(records[0]["backend"] == a.address, f"new session after A came back: {records[0]}")
    check(a2.sessions("back") == 1, "A did not serve the new session")
    check(on_b.error is None, f"session on B broke: {on_b.error}")


def mute_backend(suite: Suite, rdp_probe: bool) -> None:
    a, b = suite.backend(), suite.backend()
    wd = suite.workdir(f"health-mute-{rdp_probe}")
    g = suite.gateway(wd, config(os.path.join(wd, "state"), a.address, b.address, rdp_probe)).start()
    wait_until(lambda: up(g, a) == 1 and up(g, b) == 1, 3, "both backends up")
    since = g.event_count()
    a.mute = True  # TCP still accepts; no Connection Confirm any more
    if rdp_probe:
        g.wait_event(health_event("backend_down", a), DETECT, "backend_down for a mute A", since)
        wait_until(lambda: up(g, a) == 0, 0.5, "rdpgate_backend_up{A} to be 0")
        check(up(g, b) == 1, "B must stay up")
        a.mute = False
        g.wait_event(health_event("backend_up", a), DETECT, "backend_up once A answers", since)
    else:
        time.sleep(3 * INTERVAL + TIMEOUT)
        check(not g.find_events(health_event("backend_down", a), since),
              "a TCP probe must not mark a backend that accepts connections down")
        check(up(g, a) == 1, "A must stay up under TCP probes")
        check(a.sessions("rdpgate-hc") == 0, "TCP probes must not send a Connection Request")


def tcp_probe(suite: Suite) -> None:
    kill_and_restart(suite, rdp_probe=False)


def rdp_probe(suite: Suite) -> None:
    kill_and_restart(suite, rdp_probe=True)


def tcp_probe_mute(suite: Suite) -> None:
    mute_backend(suite, rdp_probe=False)


def rdp_probe_mute(suite: Suite) -> None:
    mute_backend(suite, rdp_probe=True)


if __name__ == "__main__":
    Suite().run([
        ("tcp_probe_kill_restart", tcp_probe),
        ("rdp_probe_kill_restart", rdp_probe),
        ("tcp_probe_mute_backend", tcp_probe_mute),
        ("rdp_probe_mute_backend", rdp_probe_mute),
    ])
