"""A bad reload never disarms rdpgate (docs/faults.md): it changes all or nothing.

- bind_conflict: the new file moves listener `main` onto a port another process holds (this
  test binds and listens on it) and denies 127.0.0.3. SIGHUP and POST /v1/reload both fail with
  `listener "main": bind ...: Address already in use`, rdpgate_config_reloads_total{result=
  "failure"} rises, and nothing changed: the old port still accepts and relays to the fake
  backend, and 127.0.0.3 is still allowed (the new policy was not published).
- rename: listener `main` on a fixed port becomes `front` on the same port, and two listeners
  swap their ports: the reload succeeds (the open sockets are reused, not bound twice), every
  port accepts and relays, and the audit records name the new listeners.
- health_check_removed: a backend marked down by its health check (rise: 100, so the check
  would not bring it back) is up again as soon as a reload removes `health_check` from its
  route: `backend_up` with reason `health_check removed`, rdpgate_backend_up 1, sessions reach
  it.
- admin_token_rotation: a new token in `admin.token_file` takes effect on SIGHUP (the old one
  gets 401); a reload while the file is missing, or readable by others, fails and keeps the
  token in force.
"""

import os
import signal
import socket

from harness import Suite, base_config, check, try_rdp
from support import gateway
from support.gateway import Gateway
from support.net import LOOPBACK, free_port
from support.tls import RELAYED
from support.wait import wait_until

DENIED_SRC = "127.0.0.3"


def reloads(g, result: str) -> float:
    """rdpgate_config_reloads_total{result}: "success" or "failure"."""
    return g.metric("rdpgate_config_reloads_total", {"result": result}, 0.0)


def sighup(g, what: str) -> dict:
    """SIGHUP; returns the `reloaded` or `reload_failed` event it produced."""
    since = g.event_count()
    g.signal(signal.SIGHUP)
    return g.wait_event(lambda e: e.get("event") in ("reloaded", "reload_failed"), 5.0, what,
                        since=since)


def listeners_yaml(*entries: tuple[str, int]) -> str:
    return "".join(f'  - {{name: {name}, address: "{LOOPBACK}:{port}", route: pool}}\n'
                   for name, port in entries)


def pool(backend) -> str:
    return f'  - {{name: pool, backends: ["{backend.address}"]}}\n'


def holder() -> socket.socket:
    """A listening socket of this process on a free loopback port: "another process"."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOOPBACK, 0))
    s.listen(8)
    return s


def listening_inode(port: int) -> str | None:
    """The inode of the socket listening on 127.0.0.1:`port` (/proc/net/tcp), None if none."""
    with open("/proc/net/tcp", encoding="ascii") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":
                return fields[9]
    return None


def relayed(g, port: int, src: str | None = None, user: str = "opsuser") -> dict:
    since = g.event_count()
    outcome, local_port = try_rdp(port, src=src, user=user)
    check(outcome == "ok", f"port {port} from {src or LOOPBACK}: {outcome}")
    record = g.audit_record(local_port, since=since)
    check(record["outcome"] == RELAYED, f"audit record {record}")
    return record


def bind_conflict(suite: Suite) -> None:
    backend = suite.backend()
    wd = suite.workdir("bind-conflict")
    state = os.path.join(wd, "state")
    port = free_port()
    good = base_config(state, listeners_yaml(("main", port)), pool(backend))
    g = suite.gateway(wd, good).start()
    relayed(g, port, src=DENIED_SRC)

    taken = holder()
    suite.defer(taken.close)
    taken_port = taken.getsockname()[1]
    bad = base_config(state, listeners_yaml(("main", taken_port)), pool(backend),
                      sources=f'{{deny: ["{DENIED_SRC}/32"], '
                              f'per_source: {{rate: "0/s", max_connections: 0}}}}')
    g.write_config(bad)
    before_ok, before_failed = reloads(g, "success"), reloads(g, "failure")
    event = sighup(g, "the reload onto a taken port")
    check(event["event"] == "reload_failed", f"the reload onto a taken port: {event}")
    error = event.get("error", "")
    check(f'listener "main": bind {LOOPBACK}:{taken_port}' in error and "in use" in error,
          f"reload_failed does not say which listener and why: {event}")

    # Nothing changed: the old listener accepts and relays, and the old policy (no deny list)
    # is in force.
    relayed(g, port)
    relayed(g, port, src=DENIED_SRC)
    check("running configuration" in event.get("message", ""), f"no 'nothing changed': {event}")
    wait_until(lambda: reloads(g, "failure") == before_failed + 1, 3.0, "reloads_total{failure} to rise")
    check(reloads(g, "success") == before_ok, "a failed reload counted as a success")

    # The admin API gives the same answer.
    status, body = g.admin("POST", "/v1/reload")
    check(status >= 400 and "already in use" in body.lower(), f"POST /v1/reload: {status} {body}")
    wait_until(lambda: reloads(g, "failure") == before_failed + 2, 3.0, "reloads_total{failure} to rise")
    relayed(g, port, src=DENIED_SRC)

    # Once the port is free, the same file loads: the listener moves, the deny list applies.
    taken.close()
    event = sighup(g, "the reload once the port is free")
    check(event["event"] == "reloaded", f"the reload once the port is free: {event}")
    relayed(g, taken_port)
    wait_until(lambda: try_rdp(port)[0] == "refused", 2.0, f"old port {port} to close")
    since = g.event_count()
    outcome, local_port = try_rdp(taken_port, src=DENIED_SRC)
    check(outcome == "closed", f"{DENIED_SRC} after the reload: {outcome}")
    check(g.audit_record(local_port, since=since)["outcome"] == "denied_source",
          "deny list not applied")


def rename(suite: Suite) -> None:
    backend = suite.backend()
    wd = suite.workdir("rename")
    state = os.path.join(wd, "state")
    p1, p2, p3 = free_port(), free_port(), free_port()
    g = suite.gateway(wd, base_config(state, listeners_yaml(("main", p1), ("a", p2), ("b", p3)),
                                      pool(backend))).start(listeners=3)
    check(relayed(g, p1)["listener"] == "main", "before: listener main")
    sockets = {p: listening_inode(p) for p in (p1, p2, p3)}
    check(all(sockets.values()), f"listening sockets {sockets}")

    # `main` becomes `front` on the same port; `a` and `b` swap ports.
    g.write_config(base_config(state, listeners_yaml(("front", p1), ("a", p3), ("b", p2)),
                               pool(backend)))
    event = sighup(g, "the rename")
    check(event["event"] == "reloaded", f"renaming a listener on its own port: {event}")
    # The same sockets: never closed, never bound a second time.
    check({p: listening_inode(p) for p in sockets} == sockets, "a listening socket was replaced")
    for port, name in ((p1, "front"), (p2, "b"), (p3, "a")):
        record = relayed(g, port, user=f"after-{name}")
        check(record["listener"] == name, f"port {port}: audit record names {record['listener']}")
    check(reloads(g, "failure") == 0, "a failure was counted")


def health_check_removed(suite: Suite) -> None:
    a = suite.backend()
    wd = suite.workdir("health-removed")
    state = os.path.join(wd, "state")
    listeners = listeners_yaml(("main", 0))
    checked = (f'  - name: pool\n    backends: ["{a.address}"]\n    connect_timeout: 1s\n'
               f'    health_check: {{interval: 300ms, timeout: 200ms, fall: 1, rise: 100}}\n')
    g = suite.gateway(wd, base_config(state, listeners, checked)).start()
    up = lambda: g.metric("rdpgate_backend_up", {"route": "pool", "backend": a.address})  # noqa: E731
    wait_until(lambda: up() == 1, 3.0, "A up")

    since = g.event_count()
    a.close()
    g.wait_event(lambda e: e.get("event") == "backend_down", 3.0, "backend_down for A", since)
    a2 = suite.backend(a.port)  # back, but rise: 100 keeps it down for 30 s
    since = g.event_count()
    outcome, local_port = try_rdp(g.port("main"), user="while-down")
    check(outcome == "closed", f"a session while A is marked down: {outcome}")
    record = g.audit_record(local_port, since=since)
    check(record.get("reason") == "all_backends_down", f"while down: {record}")
    check(up() == 0, "rdpgate_backend_up{A} should be 0")

    since = g.event_count()
    g.write_config(base_config(state, listeners, pool(a2)))
    event = sighup(g, "the reload without health_check")
    check(event["event"] == "reloaded", f"reload: {event}")
    back = g.wait_event(lambda e: e.get("event") == "backend_up", 2.0,
                        "backend_up after the health check was removed", since)
    check(back.get("reason") == "health_check removed" and back.get("backend") == a.address,
          f"backend_up event: {back}")
    wait_until(lambda: up() == 1, 2.0, "rdpgate_backend_up{A} to be 1")
    relayed(g, g.port("main"), user="after-removal")
    check(a2.sessions("after-removal") == 1, "A did not serve the session")


def write_token(path: str, token: str, mode: int = 0o600) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def admin_token_rotation(suite: Suite) -> None:
    backend = suite.backend()
    wd = suite.workdir("admin-token")
    state = os.path.join(wd, "state")
    token_file = os.path.join(wd, "admin.token")
    first, second = "first-admin-token-5d1c9e0b7a", "second-admin-token-0f3e8b6c21"
    write_token(token_file, first)
    text = gateway.config(
        listeners_yaml(("main", 0)), pool(backend),
        sources='{per_source: {rate: "0/s", max_connections: 0}}',
        admin=f'{{address: "{LOOPBACK}:0", token_file: {gateway.yaml_quote(token_file)}}}',
        state=f"{{path: {gateway.yaml_quote(state)}}}")
    g = Gateway(text, wd, binary=suite.binary, admin_token=first)
    suite.defer(g.stop)
    g.start()
    check(g.admin("GET", "/v1/bans")[0] == 200, "the first token")

    write_token(token_file, second)
    event = sighup(g, "the reload with a new token")
    check(event["event"] == "reloaded", f"reload: {event}")
    check(g.admin("GET", "/v1/bans", token=first)[0] == 401, "the old token still works")
    check(g.admin("GET", "/v1/bans", token=second)[0] == 200, "the new token is refused")

    # A token file that cannot be read, or that others may read: the reload fails, the token
    # in force stays.
    os.remove(token_file)
    event = sighup(g, "the reload without a token file")
    check(event["event"] == "reload_failed" and token_file in event.get("error", "")
          and "No such file" in event.get("error", ""), f"missing token file: {event}")
    check(g.admin("GET", "/v1/bans", token=second)[0] == 200, "token lost by a failed reload")
    write_token(token_file, "third-admin-token-but-world-readable", 0o644)
    status, body = g.admin("POST", "/v1/reload", token=second)
    check(status >= 400 and "permissions 0644 are too open" in body, f"0644: {status} {body}")
    check(g.admin("GET", "/v1/bans", token=second)[0] == 200, "token lost by a failed reload")
    check(g.admin("GET", "/v1/bans", token="third-admin-token-but-world-readable")[0] == 401,
          "a world-readable token was taken")
    relayed(g, g.port("main"))


if __name__ == "__main__":
    Suite().run([
        ("bind_conflict", bind_conflict),
        ("rename", rename),
        ("health_check_removed", health_check_removed),
        ("admin_token_rotation", admin_token_rotation),
    ])
