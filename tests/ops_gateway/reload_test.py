"""Hot reload of rdpgate under continuous load (SPEC §4, §6): SIGHUP and POST /v1/reload.

- Five long-lived relayed sessions exchange data without pause through 20 SIGHUP reloads that
  alternate two configs; every session keeps making progress and never sees a reset or a
  corrupted byte, and ends as `completed`.
- Config B denies 127.0.0.3/32 and adds a listener `extra`; config A allows it and drops the
  listener. Right after each `reloaded` event, new connections follow the new config.
- A file with a syntax error, and one that fails validation, keep the running config, log
  `reload_failed` with FILE:LINE:COL and raise rdpgate_config_reloads_total{result="failure"}.
- POST /v1/reload with the bearer token reloads; without it the answer is 401.
"""

import os
import re
import signal
import time

from harness import EchoSession, Suite, base_config, check, try_rdp
from support.net import LOOPBACK, free_port
from support.wait import wait_until
from support.tls import RELAYED

DENIED_SRC = "127.0.0.3"
SESSIONS = 5
RELOADS = 20


def make_config(state: str, backend: str, deny: bool, extra_port: int | None) -> str:
    listeners = f'  - {{name: main, address: "{LOOPBACK}:0", route: pool}}\n'
    if extra_port is not None:
        listeners += f'  - {{name: extra, address: "{LOOPBACK}:{extra_port}", route: pool}}\n'
    routes = f'  - {{name: pool, backends: ["{backend}"]}}\n'
    deny_list = f'["{DENIED_SRC}/32"]' if deny else "[]"
    sources = f'{{deny: {deny_list}, per_source: {{rate: "0/s", max_connections: 0}}}}'
    return base_config(state, listeners, routes, sources=sources)


def reloads(g) -> float:
    return g.metric("rdpgate_config_reloads_total", {"result": "success"}) or 0.0


def failures(g) -> float:
    return g.metric("rdpgate_config_reloads_total", {"result": "failure"}) or 0.0


def expect_policy(g, deny: bool, extra_port: int) -> None:
    """New connections follow the config in force: the deny list and the extra listener."""
    since = g.event_count()
    outcome, local_port = try_rdp(g.port("main"), src=DENIED_SRC, user="probe")
    record = g.audit_record(local_port, since=since)
    if deny:
        check(outcome == "closed", f"{DENIED_SRC} should be refused, got {outcome}")
        check(record["outcome"] == "denied_source", f"audit record {record}")
    else:
        check(outcome == "ok", f"{DENIED_SRC} should pass, got {outcome}")
        check(record["outcome"] == RELAYED, f"audit record {record}")
    if deny:
        # Config B has the extra listener: it accepts and relays at once.
        outcome, _ = try_rdp(extra_port, user="extra")
        check(outcome == "ok", f"listener extra (port {extra_port}) should accept, got {outcome}")
    else:
        # Config A removed it: the port stops listening (the close runs on the acceptor's
        # thread, so allow it a moment).
        wait_until(lambda: try_rdp(extra_port, user="extra")[0] == "refused", 2.0,
                   f"listener extra (port {extra_port}) to stop accepting")


def wait_progress(sessions: list[EchoSession], what: str) -> None:
    marks = [s.bytes for s in sessions]
    wait_until(lambda: all(s.bytes > m or s.error for s, m in zip(sessions, marks)), 5.0,
               f"every session to relay more data {what}")
    errors = [f"{s.user}: {s.error}" for s in sessions if s.error]
    check(not errors, f"sessions broken {what}: {errors}")


def reload_under_load(suite: Suite) -> None:
    backend = suite.backend()
    wd = suite.workdir("reload")
    state = os.path.join(wd, "state")
    extra_port = free_port()
    config_a = make_config(state, backend.address, deny=False, extra_port=None)
    config_b = make_config(state, backend.address, deny=True, extra_port=extra_port)
    g = suite.gateway(wd, config_a).start()
    port = g.port("main")

    sessions = [EchoSession(port, f"long{i}") for i in range(SESSIONS)]
    for s in sessions:
        s.start()
    suite.defer(lambda: [s.stop() for s in sessions])
    wait_progress(sessions, "before the first reload")
    expect_policy(g, deny=False, extra_port=extra_port)

    started = time.monotonic()
    for i in range(RELOADS):
        deny = i % 2 == 0
        since = g.event_count()
        g.write_config(config_b if deny else config_a)
        g.signal(signal.SIGHUP)
        g.wait_event(lambda e: e.get("event") in ("reloaded", "reload_failed"), 5.0,
                     f"reload {i + 1}", since=since)
        check(not g.find_events(lambda e: e.get("event") == "reload_failed", since),
              f"reload {i + 1} failed: {g.stderr_lines[-3:]}")
        expect_policy(g, deny=deny, extra_port=extra_port)
        wait_progress(sessions, f"after reload {i + 1}")
    print(f"{RELOADS} SIGHUP reloads with checks in {time.monotonic() - started:.1f} s; "
          f"bytes per session: {[s.bytes for s in sessions]}")
    check(reloads(g) == RELOADS, f"reloads_total success = {reloads(g)}, want {RELOADS}")

    # Through the admin API: to config B; the bearer token is required.
    g.write_config(config_b)
    status, body = g.admin("POST", "/v1/reload", token=None)
    check(status == 401, f"POST /v1/reload without a token: {status} {body}")
    status, body = g.admin("POST", "/v1/reload", token="wrong-token")
    check(status == 401, f"POST /v1/reload with a wrong token: {status} {body}")
    expect_policy(g, deny=False, extra_port=extra_port)  # nothing was reloaded
    since = g.event_count()
    status, body = g.admin("POST", "/v1/reload")
    check(status == 200, f"POST /v1/reload: {status} {body}")
    g.wait_event(lambda e: e.get("event") == "reloaded", 5.0, "reloaded after POST", since=since)
    expect_policy(g, deny=True, extra_port=extra_port)
    check(reloads(g) == RELOADS + 1, f"reloads_total success = {reloads(g)}")

    # A syntax error: the running config (B) stays in force.
    before = failures(g)
    g.write_config(config_a.replace("listeners:\n", "listeners:\n  - {name: broken, address: [\n", 1))
    since = g.event_count()
    g.signal(signal.SIGHUP)
    failed = g.wait_event(lambda e: e.get("event") == "reload_failed", 5.0,
                          "reload_failed after a syntax error", since=since)
    location = re.escape(g.config_path) + r":\d+:\d+: "
    check(re.search(location, failed.get("error", "")) is not None,
          f"reload_failed without FILE:LINE:COL: {failed}")
    check(not g.find_events(lambda e: e.get("event") == "reloaded", since), "a reload happened")
    wait_until(lambda: failures(g) == before + 1, 2.0, "reloads_total{result=failure} to rise")
    expect_policy(g, deny=True, extra_port=extra_port)
    wait_progress(sessions, "after a failed reload")

    # A file that parses but does not validate (an unknown key, a bad CIDR): located errors,
    # all of them, and the failure is also the answer of the admin API.
    g.write_config(config_a.replace("bruteforce: {enabled: false}",
                                    "bruteforce: {enabled: false, bogus_key: 1}")
                   .replace("deny: []", 'deny: ["10.0.0.300/8"]'))
    since = g.event_count()
    status, body = g.admin("POST", "/v1/reload")
    check(status >= 400 and "error" in body, f"POST /v1/reload of an invalid file: {status} {body}")
    failed = g.wait_event(lambda e: e.get("event") == "reload_failed", 5.0,
                          "reload_failed after a validation error", since=since)
    located = re.findall(location, failed.get("error", ""))
    check(len(located) >= 2, f"want both errors located: {failed}")
    check("bogus_key" in failed["error"], f"unknown key not named: {failed}")
    wait_until(lambda: failures(g) == before + 2, 2.0, "reloads_total{result=failure} to rise")
    expect_policy(g, deny=True, extra_port=extra_port)

    # And back to a valid config through SIGHUP.
    g.write_config(config_a)
    since = g.event_count()
    g.signal(signal.SIGHUP)
    g.wait_event(lambda e: e.get("event") == "reloaded", 5.0, "the final reload", since=since)
    expect_policy(g, deny=False, extra_port=extra_port)
    wait_progress(sessions, "after all reloads")

    # The sessions were never interrupted: they end as completed, with every byte counted.
    for s in sessions:
        s.stop()
        check(s.error is None, f"session {s.user}: {s.error}")
    for s in sessions:
        record = g.audit_record(s.local_port)
        check(record["outcome"] == RELAYED, f"session {s.user}: {record}")
        check(record["bytes_in"] >= s.bytes and record["bytes_out"] >= s.bytes,
              f"session {s.user}: relayed {s.bytes} bytes, record {record}")
    g.signal(signal.SIGTERM)
    check(g.wait_exit(15) == 0, "rdpgate exit code after SIGTERM")


if __name__ == "__main__":
    Suite().run([("reload_under_load", reload_under_load)])
