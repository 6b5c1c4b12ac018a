#!/usr/bin/env python3
"""Measures how NLA logons end, to calibrate rdpgate's failed-logon inference.

A recording relay (asyncio, loopback) sits between xfreerdp (`+auth-only`) and
freerdp-shadow-cli (`/sec:nla`, SAM file). For N right-password, N wrong-password and N
unknown-user attempts it records: session duration from connect to the first close, bytes
server->client and client->server, and which side closed first. Prints min/median/max per kind
as a Markdown table (and the raw samples with --json).

    PYTHONPATH=tests python3 tests/e2e/calibrate_auth.py --count 10
"""

import argparse
import json
import statistics
import sys
import time

from support import env, peers

KINDS = {
    "right password": dict(user=peers.USER, password=peers.PASSWORD),
    "wrong password": dict(user=peers.USER, password=peers.WRONG_PASSWORD),
    "unknown user": dict(user="nosuchuser", password=peers.PASSWORD),
}


def measure(count: int) -> dict[str, list[dict]]:
    samples: dict[str, list[dict]] = {k: [] for k in KINDS}
    with peers.Xvfb() as xvfb, peers.ShadowServer(xvfb.display, mode="nla") as shadow, \
            peers.RecordingRelay(shadow.port) as relay:
        client = peers.Client(xvfb.display)
        try:
            for i in range(count):
                for kind, creds in KINDS.items():  # interleaved, so drift hits every kind alike
                    n = relay.accepted
                    result = client.run(relay.port, **creds)
                    record = relay.wait_closed(n + 1)[n]
                    samples[kind].append({
                        "attempt": i,
                        "client_exit": result.exit_code,
                        "client_ok": result.succeeded,
                        "client_seconds": round(result.elapsed, 3),
                        "duration_ms": round(record.duration * 1000, 1),
                        "server_to_client": record.server_to_client,
                        "client_to_server": record.client_to_server,
                        "first_close": record.first_close,
                    })
                    time.sleep(0.05)
        finally:
            client.close()
    return samples


def summary(samples: dict[str, list[dict]]) -> str:
    def mmm(values) -> str:
        return (f"{min(values):g} / {statistics.median(values):g} / {max(values):g}")

    lines = ["| attempt | n | client result | duration ms (min/median/max) | "
             "server->client bytes | client->server bytes | closed first |",
             "|---|---|---|---|---|---|---|"]
    for kind, rows in samples.items():
        exits = sorted({r["client_exit"] for r in rows})
        ok = sum(r["client_ok"] for r in rows)
        closers = {}
        for r in rows:
            closers[r["first_close"]] = closers.get(r["first_close"], 0) + 1
        lines.append(
            f"| {kind} | {len(rows)} | exit {','.join(map(str, exits))}, {ok} ok | "
            f"{mmm([r['duration_ms'] for r in rows])} | "
            f"{mmm([r['server_to_client'] for r in rows])} | "
            f"{mmm([r['client_to_server'] for r in rows])} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(closers.items()))} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10, help="attempts per kind (default 10)")
    parser.add_argument("--json", action="store_true", help="also print every sample as JSON")
    args = parser.parse_args()
    reason = peers.skip_reason(peers.REQUIRED_PROGRAMS + peers.SHADOW_PROGRAMS)
    if reason:
        print(reason, file=sys.stderr)
        return env.SKIP_EXIT_CODE
    samples = measure(args.count)
    if args.json:
        print(json.dumps(samples, indent=1))
    print(summary(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
