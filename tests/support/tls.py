"""TLS record streams as rdpgate's logon judgement sees them (protocol/nla_judge.hpp): record
headers with filler bodies, never real cryptography. A script is a list of flights, each
("c" | "s", [(content_type, body_length), ...]); `play` acts one side of it on a socket, in
lock-step, so the gateway sees the flights in script order."""

from __future__ import annotations

import socket

from support.net import recv_exactly

HANDSHAKE, CHANGE_CIPHER_SPEC, ALERT, APPLICATION_DATA = 22, 20, 21, 23

# TLS 1.2 handshake, then CredSSP: NEGOTIATE, CHALLENGE, AUTHENTICATE, and the host's error
# reply (the shape of xfreerdp against freerdp-shadow-cli with a wrong password).
HANDSHAKE_12 = [
    ("c", [(HANDSHAKE, 200)]),
    ("s", [(HANDSHAKE, 1500)]),
    ("c", [(HANDSHAKE, 70), (CHANGE_CIPHER_SPEC, 1), (HANDSHAKE, 40)]),
    ("s", [(CHANGE_CIPHER_SPEC, 1), (HANDSHAKE, 40)]),
]
FAILED_LOGON = HANDSHAKE_12 + [
    ("c", [(APPLICATION_DATA, 60)]),
    ("s", [(APPLICATION_DATA, 250)]),
    ("c", [(APPLICATION_DATA, 600)]),
    ("s", [(APPLICATION_DATA, 40)]),
]
# The host accepts: pubKeyAuth, then the client's TSCredentials.
ACCEPTED_LOGON = FAILED_LOGON[:-1] + [
    ("s", [(APPLICATION_DATA, 80)]),
    ("c", [(APPLICATION_DATA, 300)]),
]


def record(content_type: int, length: int) -> bytes:
    return bytes([content_type, 3, 3, length >> 8, length & 0xFF]) + b"\xab" * length


def flight_bytes(records: list[tuple[int, int]]) -> bytes:
    return b"".join(record(t, n) for t, n in records)


def play(sock: socket.socket, side: str, script: list, timeout: float = 10.0) -> int:
    """Sends this side's flights and reads the other side's, in order; returns bytes read."""
    got = 0
    for who, records in script:
        data = flight_bytes(records)
        if who == side:
            sock.sendall(data)
        else:
            got += len(recv_exactly(sock, len(data), timeout))
    return got


def script_bytes(script: list, side: str) -> int:
    """Bytes `side` sends over the whole script."""
    return sum(len(flight_bytes(r)) for who, r in script if who == side)

# How the suites' relayed sessions end: their clients send bytes that are not TLS after a
# CredSSP Confirm, which rdpgate records as `tls_incomplete`, never a logon attempt. Sessions of
# real clients end `completed` (tests/e2e).
RELAYED = "tls_incomplete"
