#!/usr/bin/env python3
"""Measures how real NLA logons look in the TLS record stream, to calibrate rdpgate's failed-logon
judgement (record headers only, nothing decrypted).

A recording relay (tests/support/peers.py) sits between the client and freerdp-shadow-cli
(`/sec:nla`, SAM file) and records, per session, every TLS record header after the X.224
Connection Confirm in both directions (arrival order), the ServerHello's version, bytes each way
and who closed first. Cases, interleaved so that drift hits all alike:

- right-auth-only, right-full (a full session ended by SIGTERM after FULL_SECONDS), wrong-password,
  unknown-user: xfreerdp, each with TLS 1.3 (the default) and TLS 1.2 (`+enforce-tlsv1_2`);
- junk-random, junk-record: a raw client asks for SSL|HYBRID like xfreerdp, reads the Confirm,
  sends JUNK_RANDOM or BOGUS_HELLO, reads until the host closes (at most 5 s) and closes;
- tls-only, ntlm-probe: a Python ssl client completes the TLS handshake (1.3 and 1.2), then
  closes at once, or first sends a CredSSP NTLM NEGOTIATE and reads the CHALLENGE (what a
  scanner such as nmap's rdp-ntlm-info does).

Prints two Markdown tables: the record sequence per case and its consistency, with the judgement
of the rule below next to the real outcome; and duration and bytes per case. --json prints every
sample; --vectors DIR writes one representative session per case as header-only test vectors.

    PYTHONPATH=tests python3 tests/e2e/calibrate_tls.py --count 10 [--json] \\
        [--vectors tests/vectors/nla]

The rule (judge()): after the handshake, count the client's application-data records (type 23),
leaving out the TLS 1.3 client Finished (the client's first type 23) and records too short to
carry a CredSSP message (TLS 1.3 encrypts alerts as type 23: a close_notify is a 19-byte record).
2 => failed logon, >= 3 => credentials accepted, < 2 => no credentials offered. The table shows
it next to the rule as first designed, which counted every application-data record.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import json
import os
import re
import shlex
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

from support import env, peers, rdp
from support.net import LOOPBACK, read_until_closed, recv_exactly

TLS_OPTIONS = {"1.3": [], "1.2": ["+enforce-tlsv1_2"]}  # xfreerdp options per TLS version
FULL_SECONDS = 3  # a full session: SIGTERM 3 s after xfreerdp started (about 2.5 s connected)
JUNK_RANDOM = hashlib.sha256(b"rdpgate junk").digest()[:16]  # the same 16 "random" bytes each run
BOGUS_HELLO = bytes.fromhex("1603010005" "0100000100")  # handshake record: a 1-byte ClientHello
# The smallest client CredSSP message seen is NEGOTIATE (93 bytes of plaintext, a 110-byte record
# in TLS 1.3); a TLS 1.3 alert is a 19-byte record (2 + content type + 16-byte tag), KeyUpdate 22.
MIN_CREDSSP_RECORD = 32
TAIL = 4  # tokens kept at the end of a long sequence
PER_SIDE = 12  # records of each direction compared by per_side()


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    expected: str  # what really happened: accepted, failed, none (no credentials offered)
    user: str = peers.USER
    password: str = peers.PASSWORD
    auth_only: bool = True
    junk: bytes | None = None  # a raw client sending these bytes after the Confirm
    probe: str | None = None  # a Python TLS client: "tls-only" or "ntlm"

    @property
    def tls_versions(self) -> list[str]:
        return ["-"] if self.junk is not None else list(TLS_OPTIONS)

    @property
    def client(self) -> str:
        if self.junk is not None:
            return f"raw client: Connection Request (SSL|HYBRID), then {self.junk.hex()}"
        if self.probe is not None:
            return ("Python ssl client: Connection Request (SSL|HYBRID), TLS handshake, " +
                    ("close" if self.probe == "tls-only" else
                     "CredSSP NEGOTIATE, read the CHALLENGE, close"))
        how = "+auth-only" if self.auth_only else f"full session, SIGTERM after {FULL_SECONDS} s"
        password = "right" if self.password == peers.PASSWORD else "wrong"
        return f"xfreerdp {how}, user {self.user}, {password} password"


CASES = [
    Case("right-auth-only", "accepted"),
    Case("right-full", "accepted", auth_only=False),
    Case("wrong-password", "failed", password=peers.WRONG_PASSWORD),
    Case("unknown-user", "failed", user="nosuchuser"),
    Case("junk-random", "none", junk=JUNK_RANDOM),
    Case("junk-record", "none", junk=BOGUS_HELLO),
    Case("tls-only", "none", probe="tls-only"),
    Case("ntlm-probe", "none", probe="ntlm"),
]


# ---------------------------------------------------------------------------------------------
# The judgement, on header lists [(direction, type, version, length), ...]


def handshake_end(records: list, tls13: bool) -> int | None:
    """The index of the first record after the TLS handshake, or None if it never completed.
    TLS 1.3: after the client's first type 23 record (its Finished). TLS 1.2: once both sides
    sent ChangeCipherSpec (20) and then one more record (their Finished)."""
    if tls13:
        return next((i + 1 for i, r in enumerate(records) if r[0] == "c" and r[1] == 23), None)
    after_ccs = {}
    for side in "cs":
        ccs = next((i for i, r in enumerate(records) if r[0] == side and r[1] == 20), None)
        if ccs is None:
            return None
        after_ccs[side] = next((i for i in range(ccs + 1, len(records))
                                if records[i][0] == side), None)
        if after_ccs[side] is None:
            return None
    return max(after_ccs.values()) + 1


def client_app_records(records: list, tls13: bool, min_length: int = 0) -> list[int]:
    """The lengths of the client's application-data records after the handshake, without the
    TLS 1.3 Finished, leaving out records shorter than `min_length`."""
    end = handshake_end(records, tls13)
    if end is None:
        return []
    return [r[3] for r in records[end:] if r[0] == "c" and r[1] == 23 and r[3] >= min_length]


def credssp_records(sample: dict, corrected: bool = True) -> int:
    """The client's CredSSP record count: by the rule as first designed (every application-data
    record) or corrected (records shorter than MIN_CREDSSP_RECORD left out, in any version)."""
    return len(client_app_records(sample["records"], is_tls13(sample),
                                  MIN_CREDSSP_RECORD if corrected else 0))


def judge(count: int) -> str:
    return "failed" if count == 2 else "accepted" if count >= 3 else "none"


# ---------------------------------------------------------------------------------------------
# Running the cases


def junk_session(port: int, junk: bytes) -> dict:
    with socket.create_connection((LOOPBACK, port), timeout=5) as s:
        s.sendall(rdp.connection_request(peers.USER, rdp.PROTO_SSL | rdp.PROTO_HYBRID))
        confirm = recv_exactly(s, 19, 5)
        s.sendall(junk)
        s.settimeout(5)
        answer = read_until_closed(s)
    return {"client_exit": None, "client_ok": None, "confirm": confirm.hex(),
            "answer": answer.hex()}


def der(tag: int, body: bytes) -> bytes:
    size = len(body)
    head = bytes([size]) if size < 0x80 else bytes([0x82]) + struct.pack(">H", size)
    return bytes([tag]) + head + body


# TSRequest {version 6, negoTokens {{negoToken: NTLM NEGOTIATE}}} ([MS-CSSP] 2.2.1); the NTLM
# NEGOTIATE ([MS-NLMP] 2.2.1.1) with empty domain and workstation and a VERSION (10.0.17763).
NTLM_NEGOTIATE = (b"NTLMSSP\x00" + struct.pack("<II", 1, 0xE2088297) +
                  struct.pack("<HHIHHI", 0, 0, 40, 0, 0, 40) + bytes.fromhex("0a0063450000000f"))
TS_NEGOTIATE = der(0x30, der(0xA0, der(0x02, b"\x06")) + der(0xA1, der(0x30, der(
    0x30, der(0xA0, der(0x04, NTLM_NEGOTIATE))))))


def probe_session(port: int, tls: str, ntlm: bool) -> dict:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    answer = b""
    with socket.create_connection((LOOPBACK, port), timeout=5) as raw:
        raw.sendall(rdp.connection_request(peers.USER, rdp.PROTO_SSL | rdp.PROTO_HYBRID))
        confirm = recv_exactly(raw, 19, 5)
        with ctx.wrap_socket(raw) as s:  # closing it sends no close_notify
            if ntlm:
                s.sendall(TS_NEGOTIATE)
                answer = s.recv(65536)
    return {"client_exit": None, "client_ok": None, "confirm": confirm.hex(),
            "answer": answer.hex()}


def run_case(client: peers.Client, relay: peers.RecordingRelay, case: Case, tls: str,
             attempt: int) -> dict:
    n = relay.accepted
    start = time.monotonic()
    if case.junk is not None:
        sample = junk_session(relay.port, case.junk)
    elif case.probe is not None:
        sample = probe_session(relay.port, tls, case.probe == "ntlm")
    else:
        kill_after = 20 if case.auth_only else FULL_SECONDS
        result = client.run(relay.port, user=case.user, password=case.password,
                            auth_only=case.auth_only, kill_after=kill_after,
                            extra=TLS_OPTIONS[tls])
        sample = {"client_exit": result.exit_code, "client_ok": result.succeeded}
    record = relay.wait_closed(n + 1, timeout=15)[n]
    hello = record.server_hello
    return {"case": case.name, "tls": tls, "attempt": attempt, **sample,
            "client_seconds": round(time.monotonic() - start, 3),
            "duration_ms": round(record.duration * 1000, 1),
            "server_to_client": record.server_to_client,
            "client_to_server": record.client_to_server,
            "first_close": record.first_close[:1],
            "server_hello": None if hello is None else [f"{v:04x}" if v else None for v in hello],
            "negotiated": None if record.tls_version is None else f"{record.tls_version:04x}",
            "close_index": record.close_index,
            "records": [list(r) for r in record.tls]}


def measure(count: int) -> list[dict]:
    samples = []
    with peers.Xvfb() as xvfb, peers.ShadowServer(xvfb.display, mode="nla") as shadow, \
            peers.RecordingRelay(shadow.port) as relay:
        client = peers.Client(xvfb.display)
        try:
            for attempt in range(count):
                for case in CASES:
                    for tls in case.tls_versions:
                        samples.append(run_case(client, relay, case, tls, attempt))
                        time.sleep(0.05)
        finally:
            client.close()
    return samples


# ---------------------------------------------------------------------------------------------
# Reporting


def is_tls13(sample: dict) -> bool:
    return sample["negotiated"] == "0304"


def tokens(sample: dict) -> list[str]:
    """`c22`, `s23`... with `|` where the handshake ended and `close=c|s` where a side closed."""
    records = sample["records"]
    end = handshake_end(records, is_tls13(sample))
    out = []
    for i in range(len(records) + 1):
        if i == end:
            out.append("|")
        if i == sample["close_index"] or (i == len(records) and sample["close_index"] < 0):
            out.append(f"close={sample['first_close'] or '?'}")
        if i < len(records):
            out.append(f"{records[i][0]}{records[i][1]}")
    return out


def compact(sample: dict) -> str:
    """tokens() with runs written `s23*3`; a long session is cut after the client's 4th
    application-data record (`...N...` stands for N elided records) and keeps its last TAIL."""
    toks = tokens(sample)
    cut = len(toks)
    if "|" in toks:
        after = [i for i in range(toks.index("|"), len(toks)) if toks[i] == "c23"]
        cut = after[3] + 1 if len(after) > 4 else cut
    if len(toks) - cut > TAIL + 1:
        elided = sum(1 for t in toks[cut:-TAIL] if t[0] in "cs" and t[1:].isdigit())
        toks = toks[:cut] + [f"...{elided}..."] + toks[-TAIL:]
    runs: list[list] = []
    for t in toks:
        if runs and runs[-1][0] == t and t[0] in "cs" and t[1:].isdigit():
            runs[-1][1] += 1
        else:
            runs.append([t, 1])
    return " ".join(t if k == 1 else f"{t}*{k}" for t, k in runs)


def per_side(sample: dict) -> tuple:
    """Each direction alone: the types and lengths of its first PER_SIDE records."""
    return tuple(tuple((r[1], r[3]) for r in sample["records"] if r[0] == side)[:PER_SIDE]
                 for side in "cs")


def outcome(sample: dict) -> str:
    if sample["client_exit"] is None:
        return f"answer {len(sample['answer']) // 2} B"
    return f"exit {sample['client_exit']}" + (" ok" if sample["client_ok"] else "")


def groups(samples: list[dict]) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    for s in samples:
        out.setdefault((s["case"], s["tls"]), []).append(s)
    return out


def representative(rows: list[dict]) -> dict:
    """The first sample of the most common sequence."""
    common = collections.Counter(compact(r) for r in rows).most_common(1)[0][0]
    return next(r for r in rows if compact(r) == common)


def tally(values) -> str:
    """`x` when all are x, else `x 7, y 3` (most common first)."""
    c = collections.Counter(values)
    return ", ".join(str(k) if len(c) == 1 else f"{k} {v}" for k, v in c.most_common())


def rule_column(rows: list[dict], corrected: bool) -> str:
    counts = [credssp_records(r, corrected) for r in rows]
    return f"{span(counts)}: {tally(judge(n) for n in counts)}"


def records_table(samples: list[dict]) -> str:
    expected = {c.name: c.expected for c in CASES}
    lines = ["| case | TLS | client | sequence (most common) | same | same per side | "
             "closed first | type-21 alerts | client app-data lengths | first rule | "
             "corrected rule | real |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    variants = []
    for (case, tls), rows in groups(samples).items():
        rep = representative(rows)
        seqs = collections.Counter(compact(r) for r in rows)
        version = "/".join(sorted({r["negotiated"] or "none" for r in rows}))
        alerts = tally(" ".join(x[0] for x in r["records"] if x[1] == 21) or "-" for r in rows)
        lengths = client_app_records(rep["records"], is_tls13(rep))
        shown = " ".join(map(str, lengths[:4])) + (" ..." if len(lengths) > 4 else "")
        lines.append(
            f"| {case} | {tls} ({version}) | {tally(outcome(r) for r in rows)} | "
            f"`{compact(rep).replace('|', chr(92) + '|')}` | {seqs[compact(rep)]}/{len(rows)} | "
            f"{sum(per_side(r) == per_side(rep) for r in rows)}/{len(rows)} | "
            f"{tally(r['first_close'] or '?' for r in rows)} | {alerts} | {shown or '-'} | "
            f"{rule_column(rows, False)} | {rule_column(rows, True)} | {expected[case]} |")
        for seq, k in seqs.most_common()[1:]:
            variants.append(f"- {case}, TLS {tls}, {k}/{len(rows)}: `{seq}`")
    if variants:
        lines += ["", "Other sequences seen:", "", *variants]
    return "\n".join(lines)


def span(values: list[int]) -> str:
    return str(min(values)) if min(values) == max(values) else f"{min(values)}-{max(values)}"


def bytes_table(samples: list[dict]) -> str:
    def mmm(values) -> str:
        return f"{min(values):g} / {statistics.median(values):g} / {max(values):g}"

    lines = ["| case | TLS | n | duration ms | server->client bytes | client->server bytes | "
             "closed first |", "|---|---|---|---|---|---|---|"]
    for (case, tls), rows in groups(samples).items():
        closers = collections.Counter(r["first_close"] or "?" for r in rows)
        lines.append(f"| {case} | {tls} | {len(rows)} | {mmm([r['duration_ms'] for r in rows])} | "
                     f"{mmm([r['server_to_client'] for r in rows])} | "
                     f"{mmm([r['client_to_server'] for r in rows])} | "
                     f"{', '.join(f'{k} {v}' for k, v in sorted(closers.items()))} |")
    return "\n".join(lines)


def freerdp_version() -> str:
    """FreeRDP's version, as freerdp-shadow-cli prints it (xfreerdp needs a display for that)."""
    try:
        r = subprocess.run(["freerdp-shadow-cli", "/version"], capture_output=True, text=True,
                           timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(r"FreeRDP version (\S+)", r.stdout + r.stderr)
    return m.group(1) if m else "?"


def write_vectors(samples: list[dict], directory: Path, command: str) -> list[Path]:
    """One representative session per case and TLS version: `<case>-tls<12|13>.txt` (junk cases:
    `<case>.txt`), one record per line: direction, content type, version (hex), length."""
    directory.mkdir(parents=True, exist_ok=True)
    cases = {c.name: c for c in CASES}
    version = freerdp_version()
    written = []
    for (case, tls), rows in groups(samples).items():
        rep = representative(rows)
        c = cases[case]
        name = f"{case}.txt" if tls == "-" else f"{case}-tls{tls.replace('.', '')}.txt"
        options = " ".join(TLS_OPTIONS[tls]) if c.junk is None and c.probe is None else ""
        hello = rep["server_hello"]
        head = [
            f"# {case}, TLS {tls}: TLS record headers after the X.224 Connection Confirm, both",
            "# directions in the order they reached a relay between client and server. Produced by",
            f"#   {command}",
            f"# on loopback: client -> recording relay -> freerdp-shadow-cli {version} /sec:nla "
            "(SAM file).",
            f"# client: {c.client}{' ' + options if options else ''}",
            f"# result: {outcome(rep)}; real outcome: {c.expected}; "
            f"sequence seen in {sum(compact(r) == compact(rep) for r in rows)}/{len(rows)} runs",
            f"# ServerHello: legacy_version {hello[0] if hello else '-'}, supported_versions "
            f"{hello[1] if hello and hello[1] else '-'}",
            f"# closed first: {rep['first_close'] or '-'} (TCP FIN or reset), after the first "
            f"{rep['close_index']} records below",
            "# line: direction (c client->server, s server->client), type, version (hex), length",
        ]
        body = [f"{d} {t} {v:04x} {n}" for d, t, v, n in rep["records"]]
        path = directory / name
        path.write_text("\n".join(head + body) + "\n", encoding="ascii")
        written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10, help="runs per case (default 10)")
    parser.add_argument("--json", action="store_true", help="also print every sample as JSON")
    parser.add_argument("--vectors", type=Path, help="write test vectors into this directory")
    args = parser.parse_args()
    reason = peers.skip_reason(peers.REQUIRED_PROGRAMS + peers.SHADOW_PROGRAMS)
    if reason:
        print(reason, file=sys.stderr)
        return env.SKIP_EXIT_CODE
    command = "PYTHONPATH=tests python3 tests/e2e/calibrate_tls.py " + " ".join(
        shlex.quote(os.path.relpath(a) if os.path.exists(a) else a) for a in sys.argv[1:])
    samples = measure(args.count)
    if args.json:
        print(json.dumps(samples, indent=1))
    print(records_table(samples))
    print()
    print(bytes_table(samples))
    if args.vectors:
        for path in write_vectors(samples, args.vectors, command.strip()):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
