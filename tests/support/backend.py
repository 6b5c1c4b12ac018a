"""A fake RDP host on loopback for the gateway suites.

It reads a client's first flight (an optional Preconnection PDU, then the X.224 Connection
Request), records it, answers with a Connection Confirm (CONFIRM_HYBRID unless told otherwise),
then, by `mode`:

- "echo": echoes every byte until the client closes;
- "fail": plays the host's side of a refused NLA logon as TLS records (support.tls
  FAILED_LOGON: handshake, CredSSP rounds, the error reply) and hangs up, the record sequence
  rdpgate's logon judgement counts as a failure (README "Brute-force defence");
- "raw": no RDP at all: echoes every byte from the first, and keeps them in `raw_bytes` (the
  host behind a listener that forwards unparsed bytes in observe mode).

Setting `mute` makes it accept TCP and read, but never answer a Connection Request. close()
closes the listening socket and resets every open connection, so the port refuses; a new
FakeBackend(port=old.port) brings it back on the same port. Thread per connection; every read
has a timeout.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time

from support import tls
from support.net import LOOPBACK
from support.rdp import CONFIRM_HYBRID, cookie_user, read_first_flight



class FakeBackend:
    def __init__(self, mode: str = "echo", port: int = 0, confirm: bytes = CONFIRM_HYBRID) -> None:
        assert mode in ("echo", "fail", "raw")
        self.mode = mode
        self.confirm = confirm
        self.mute = False
        self.flights: list[bytes] = []  # every complete first flight, in order
        self.users: list[str] = []      # the cookie of each of them ("" without one)
        self.received: list[int] = []   # bytes received per finished connection
        self.raw_bytes = bytearray()    # "raw" mode: everything received, in order
        self.lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, port))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def count(self) -> int:
        """Connection Requests received so far."""
        with self.lock:
            return len(self.flights)

    def last_flight(self) -> bytes:
        with self.lock:
            return self.flights[-1]

    def sessions(self, user_prefix: str = "") -> int:
        """Connection Requests whose cookie starts with `user_prefix`."""
        with self.lock:
            return sum(1 for u in self.users if u.startswith(user_prefix))

    def wait_flights(self, count: int, timeout: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.flights) >= count:
                    return list(self.flights)
            if time.monotonic() > deadline:
                raise TimeoutError(f"backend {self.address}: {count} first flights not seen")
            time.sleep(0.02)

    def close(self) -> None:
        """The port refuses from now on and every open connection is reset."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        with self.lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            with contextlib.suppress(OSError):
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()
        self._thread.join(2)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._sock], [], [], 0.1)
                if not ready:
                    continue
                conn, _ = self._sock.accept()
            except (OSError, ValueError):
                return
            with self.lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _readable(self, conn: socket.socket) -> bytes | None:
        """The next bytes from `conn`, b"" at EOF, None when nothing came for 0.2 s."""
        ready, _, _ = select.select([conn], [], [], 0.2)
        return conn.recv(65536) if ready else None

    def _serve(self, conn: socket.socket) -> None:
        total = 0
        try:
            if self.mode == "raw":
                conn.settimeout(10)
                while not self._stop.is_set() and (data := self._readable(conn)) != b"":
                    if data:
                        with self.lock:
                            self.raw_bytes += data
                        total += len(data)
                        conn.sendall(data)
                return
            flight = read_first_flight(conn, 10)
            total = len(flight)
            with self.lock:
                self.flights.append(flight)
                self.users.append(cookie_user(flight))
            conn.settimeout(10)  # bounds every send and read from here on
            if self.mute:
                while not self._stop.is_set():
                    data = self._readable(conn)
                    if data == b"":
                        return
            conn.sendall(self.confirm)
            if self.mode == "fail":
                total += tls.play(conn, "s", tls.FAILED_LOGON)
                return
            while not self._stop.is_set():
                data = self._readable(conn)
                if data == b"":
                    return
                if data:
                    total += len(data)
                    conn.sendall(data)
        except (OSError, ValueError):  # TimeoutError and ConnectionError are OSErrors
            return
        finally:
            with self.lock:
                self._conns.discard(conn)
                self.received.append(total)
            with contextlib.suppress(OSError):
                conn.close()
