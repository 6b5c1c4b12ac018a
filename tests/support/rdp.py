"""The first bytes of an RDP connection, built the way the real programs send them.

Every builder reproduces a file of the captured vectors (../shared/vectors, or
RDPGATE_VECTORS_DIR) byte for byte: VECTOR_CASES lists them and check_vectors() compares.

- connection_request(): TPKT + X.224 Connection Request ([MS-RDPBCGR] 2.2.1.1) with an
  `mstshash` cookie or a routing-token line, and RDP_NEG_REQ, as xfreerdp writes it;
- preconnection_pdu(): RDP_PRECONNECTION_PDU_V2 ([MS-RDPEPS] 2.2.1.2) as xfreerdp /pcb: sends it;
- connection_confirm(): the 19-byte Connection Confirm with RDP_NEG_RSP ([MS-RDPBCGR] 2.2.1.2)
  as freerdp-shadow-cli answers; CONFIRM_HYBRID is its answer to a default xfreerdp;
- proxy_v1() / proxy_v2(): a PROXY protocol header (haproxy doc/proxy-protocol.txt) in front.
"""

from __future__ import annotations

import re
import socket
import struct
import time

from support import env
from support.net import LOOPBACK, recv_exactly

PROTO_RDP = 0x0
PROTO_SSL = 0x1
PROTO_HYBRID = 0x2


def connection_request(user: str | None = None, protocols: int = PROTO_SSL | PROTO_HYBRID, *,
                       token_line: str | None = None, negotiation: bool = True) -> bytes:
    """TPKT + X.224 CR + (routing token | `Cookie: mstshash=USER`) CRLF + RDP_NEG_REQ.
    A routing token has no `Cookie:` prefix; `negotiation=False` leaves RDP_NEG_REQ out, as
    `xfreerdp /sec:rdp` does."""
    line = b""
    if token_line is not None:
        line = token_line.encode() + b"\r\n"
    elif user is not None:
        line = f"Cookie: mstshash={user}\r\n".encode()
    neg_req = struct.pack("<BBHI", 0x01, 0x00, 8, protocols) if negotiation else b""
    x224 = bytes([0xE0, 0x00, 0x00, 0x00, 0x00, 0x00]) + line + neg_req  # CR CDT, refs, class 0
    li = len(x224)  # the length indicator counts the header after itself
    return struct.pack(">BBH", 3, 0, 4 + 1 + li) + bytes([li]) + x224


def preconnection_pdu(text: str, pcb_id: int = 0) -> bytes:
    """cbSize, flags, version 2, Id, cchPCB, wszPCB: the string in UTF-16LE followed by two NUL
    code units, both counted in cchPCB (as xfreerdp does)."""
    wsz = text.encode("utf-16-le") + b"\x00\x00\x00\x00"
    size = 16 + 2 + len(wsz)
    return struct.pack("<IIIIH", size, 0, 2, pcb_id, len(wsz) // 2) + wsz


def connection_confirm(selected: int = PROTO_HYBRID, flags: int = 0x03) -> bytes:
    """TPKT + X.224 CC (dst-ref and src-ref 0, class 0) + RDP_NEG_RSP selecting `selected`."""
    return (struct.pack(">BBH", 3, 0, 19) + bytes([0x0E, 0xD0, 0, 0, 0, 0, 0]) +
            struct.pack("<BBHI", 0x02, flags, 8, selected))


CONFIRM_HYBRID = connection_confirm()


def proxy_v1(src: str, src_port: int, dst: str | None = None, dst_port: int = 3389) -> bytes:
    family = "TCP6" if ":" in src else "TCP4"
    dst = dst or ("::1" if ":" in src else LOOPBACK)
    return f"PROXY {family} {src} {dst} {src_port} {dst_port}\r\n".encode()


def proxy_v2(src: str, src_port: int, dst: str | None = None, dst_port: int = 3389) -> bytes:
    """Signature, version 2 + PROXY, TCP over IPv4 or IPv6."""
    dst = dst or ("::1" if ":" in src else LOOPBACK)
    signature = b"\r\n\r\n\x00\r\nQUIT\n"
    af = socket.AF_INET6 if ":" in src else socket.AF_INET
    body = (socket.inet_pton(af, src) + socket.inet_pton(af, dst)
            + struct.pack(">HH", src_port, dst_port))
    family = 0x21 if af == socket.AF_INET6 else 0x11  # AF_INET6 or AF_INET, STREAM
    return signature + bytes([0x21, family]) + struct.pack(">H", len(body)) + body


def read_first_flight(conn: socket.socket, timeout: float) -> bytes:
    """What a server reads first: an optional Preconnection PDU (cbSize first, little-endian),
    then one TPKT packet. ValueError when the bytes are neither."""
    deadline = time.monotonic() + timeout

    def take(n: int) -> bytes:
        return recv_exactly(conn, n, max(0.01, deadline - time.monotonic()))

    head = take(4)
    data = head
    if head[0] != 0x03:
        size = struct.unpack("<I", head)[0]
        if not 16 <= size <= 65536:
            raise ValueError(f"not a first flight: {head.hex()}")
        data += take(size - 4)
        head = take(4)
        data += head
    length = struct.unpack(">H", head[2:4])[0]
    return data + take(max(0, length - 4))


def cookie_user(flight: bytes) -> str:
    """The `mstshash` cookie of a Connection Request, or ""."""
    m = re.search(rb"mstshash=([^\r\n]*)\r\n", flight)
    return m.group(1).decode(errors="replace") if m else ""


# (vector file, the builder's bytes): what check_vectors() compares.
VECTOR_CASES = [
    ("xfreerdp-default.hex", connection_request("rdpuser")),
    ("xfreerdp-sec-tls.hex", connection_request("rdpuser", PROTO_SSL)),
    ("xfreerdp-sec-rdp.hex", connection_request("rdpuser", negotiation=False)),
    ("xfreerdp-u-someuser.hex", connection_request("someuser")),
    ("xfreerdp-load-balance-info.hex", connection_request(
        token_line="tsv://MS Terminal Services Plugin.1.Sessions", protocols=PROTO_SSL)),
    ("xfreerdp-pcb.hex", preconnection_pdu("SOMETOKEN") + connection_request("someuser", PROTO_SSL)),
    ("shadow-cc-neg-rsp-hybrid.hex", CONFIRM_HYBRID),
    ("shadow-cc-neg-rsp-ssl.hex", connection_confirm(PROTO_SSL)),
]


def check_vectors() -> str:
    """Compares every builder with its captured vector. Returns a note for the log; raises
    AssertionError naming the first difference. Absent vectors are noted, not an error."""
    for name, built in VECTOR_CASES:
        captured = env.read_vector(name)
        if captured is None:
            return f"captured vectors not found in {env.vectors_dir()}: builders not cross-checked"
        if captured != built:
            raise AssertionError(f"builder differs from {name}:\n  captured {captured.hex()}\n"
                                 f"  built    {built.hex()}")
    return f"the RDP builders match {len(VECTOR_CASES)} captured vectors"
