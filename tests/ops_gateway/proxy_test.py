"""PROXY protocol v1/v2 from trusted load balancers (SPEC §6, §8 `proxy_protocol.trusted`).

Listener `pp` trusts 127.0.0.1/32; listener `ppdeny` trusts it too and denies 203.0.113.0/24
and 2001:db8::/32.
- From 127.0.0.1, a v1 header (TCP4 and TCP6) or a binary v2 header, then a Connection Request:
  the session relays, and the audit record's `src`/`src_port` are the client's from the header;
  on `ppdeny` the same client is refused with `denied_source` — admission uses the real client.
- The header and the request may arrive in separate segments.
- Per-source keys by prefix: 200 PROXY v2 clients from one IPv6 /64 share one rate limit (the
  burst passes, the rest are `rate_limited`); a client from another /64 is unaffected.
- From an untrusted source (127.0.0.2), a PROXY header is refused (`proxy_refused`) and its
  `src` stays the real peer; a trusted peer that sends a malformed header, or none, is refused
  (`proxy_refused`) too. None of the refused connections reaches the backend.
"""

import os
import time

from harness import Suite, base_config, check, open_socket, try_rdp
from support.net import LOOPBACK, recv_exactly
from support.rdp import CONFIRM_HYBRID, connection_request, proxy_v1, proxy_v2
from support.wait import wait_until
from support.tls import RELAYED

CLIENT = "203.0.113.7"
CLIENT6 = "2001:db8::7"
UNTRUSTED = "127.0.0.2"


def config(state: str, backend: str) -> str:
    trusted = f'{{trusted: ["{LOOPBACK}/32"]}}'
    deny = '{deny: ["203.0.113.0/24", "2001:db8::/32"]}'
    rate = '{per_source: {rate: "1/h", burst: 3}}'
    listeners = (f'  - {{name: pp, address: "{LOOPBACK}:0", route: pool, '
                 f'proxy_protocol: {trusted}}}\n'
                 f'  - {{name: ppdeny, address: "{LOOPBACK}:0", route: pool, '
                 f'proxy_protocol: {trusted}, sources: {deny}}}\n'
                 f'  - {{name: pprate, address: "{LOOPBACK}:0", route: pool, '
                 f'proxy_protocol: {trusted}, sources: {rate}}}\n')
    routes = f'  - {{name: pool, backends: ["{backend}"]}}\n'
    return base_config(state, listeners, routes)


def record_by_src_port(g, src_port: int, listener: str) -> dict:
    return g.wait_event(lambda e: e.get("event") == "connection" and e.get("src_port") == src_port
                        and e.get("listener") == listener, 5,
                        f"the audit record with src_port {src_port} on {listener}")


def proxy_protocol(suite: Suite) -> None:
    backend = suite.backend()
    wd = suite.workdir("proxy")
    g = suite.gateway(wd, config(os.path.join(wd, "state"), backend.address)).start()
    pp, ppdeny = g.port("pp"), g.port("ppdeny")

    cases = [("v1", proxy_v1, CLIENT, 5555), ("v2", proxy_v2, CLIENT, 5556),
             ("v1-tcp6", proxy_v1, CLIENT6, 5557), ("v2-tcp6", proxy_v2, CLIENT6, 5558)]
    for name, header, src, src_port in cases:
        user = f"pp-{name}"
        outcome, _ = try_rdp(pp, user=user, prefix=header(src, src_port))
        check(outcome == "ok", f"{name}: trusted proxy with a valid header: {outcome}")
        record = record_by_src_port(g, src_port, "pp")
        check(record["src"] == src and record["outcome"] == RELAYED,
              f"{name}: audit record {record}")
        check(record["user"] == user, f"{name}: audit record {record}")
        check(backend.sessions(user) == 1, f"{name}: the backend did not see the session")

        outcome, _ = try_rdp(ppdeny, user=f"deny-{name}", prefix=header(src, src_port + 100))
        check(outcome == "closed", f"{name}: denied client passed: {outcome}")
        record = record_by_src_port(g, src_port + 100, "ppdeny")
        check(record["src"] == src and record["outcome"] == "denied_source",
              f"{name}: audit record {record}")
        check(backend.sessions(f"deny-{name}") == 0, f"{name}: a denied client reached the backend")

    # Header and request in separate segments.
    with open_socket(pp) as s:
        s.sendall(proxy_v1(CLIENT, 5600)[:9])
        time.sleep(0.05)
        s.sendall(proxy_v1(CLIENT, 5600)[9:])
        time.sleep(0.05)
        s.sendall(connection_request("pp-split"))
        check(recv_exactly(s, len(CONFIRM_HYBRID), 5) == CONFIRM_HYBRID, "split header: no Confirm")
    record = record_by_src_port(g, 5600, "pp")
    check(record["src"] == CLIENT and record["outcome"] == RELAYED, f"split: {record}")

    refused_before = g.metric("rdpgate_connections_total",
                              {"listener": "pp", "outcome": "proxy_refused"}) or 0.0

    # An untrusted peer may not claim another address.
    outcome, local_port = try_rdp(pp, src=UNTRUSTED, user="untrusted",
                                  prefix=proxy_v1(CLIENT, 5700))
    check(outcome == "closed", f"untrusted peer with a PROXY header: {outcome}")
    record = g.audit_record(local_port)
    check(record["outcome"] == "proxy_refused" and record["src"] == UNTRUSTED,
          f"untrusted: audit record {record}")
    outcome, local_port = try_rdp(pp, src=UNTRUSTED, user="untrusted2",
                                  prefix=proxy_v2(CLIENT, 5701))
    check(outcome == "closed", f"untrusted peer with a v2 header: {outcome}")
    record = g.audit_record(local_port)
    check(record["outcome"] == "proxy_refused" and record["src"] == UNTRUSTED,
          f"untrusted v2: audit record {record}")

    # Trusted peers with a malformed header, or without one.
    malformed = [
        ("bad-address", b"PROXY TCP4 203.0.113.300 127.0.0.1 5555 3389\r\n"),
        ("bad-family", b"PROXY UDP9 203.0.113.7 127.0.0.1 5555 3389\r\n"),
        ("bad-port", b"PROXY TCP4 203.0.113.7 127.0.0.1 70000 3389\r\n"),
        ("no-crlf", b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 3389\n"),
        ("v2-bad-version", proxy_v2(CLIENT, 5555)[:12] + b"\x31" + proxy_v2(CLIENT, 5555)[13:]),
        ("missing", b""),
    ]
    for name, prefix in malformed:
        outcome, local_port = try_rdp(pp, user=f"malformed-{name}", prefix=prefix)
        check(outcome == "closed", f"trusted peer, {name} header: {outcome}")
        record = g.audit_record(local_port)
        check(record["outcome"] == "proxy_refused" and record["src"] == LOOPBACK,
              f"trusted peer, {name} header: audit record {record}")
        check(backend.sessions(f"malformed-{name}") == 0, f"{name}: reached the backend")
    check(backend.sessions("untrusted") == 0, "an untrusted proxied client reached the backend")

    want = refused_before + 2 + len(malformed)
    wait_until(lambda: g.metric("rdpgate_connections_total",
                                {"listener": "pp", "outcome": "proxy_refused"}) == want, 3,
               f"rdpgate_connections_total{{listener=pp,outcome=proxy_refused}} == {want}")
    # One IPv6 /64 is one source: 200 addresses share the burst of 3.
    pprate = g.port("pprate")
    outcomes = [try_rdp(pprate, user=f"v6-{n}",
                        prefix=proxy_v2(f"2001:db8:0:64::{n + 1:x}", 6000 + n))[0]
                for n in range(200)]
    check(outcomes.count("ok") == 3, f"one /64, burst 3: {outcomes.count('ok')} passed")
    # (Their audit lines are rate-limited like every admission refusal; the counter is exact.)
    wait_until(lambda: g.metric("rdpgate_connections_total",
                                {"listener": "pprate", "outcome": "rate_limited"}) == 197, 3,
               "197 rate_limited connections on pprate")
    outcome, _ = try_rdp(pprate, user="other-64", prefix=proxy_v2("2001:db8:0:65::1", 6300))
    check(outcome == "ok", f"a client of another /64 was refused: {outcome}")

    # No label carries a client address.
    check(CLIENT not in g.scrape() and "2001:db8" not in g.scrape(), "an address in a label")


if __name__ == "__main__":
    Suite().run([("proxy_protocol", proxy_protocol)])
