# SPDX-License-Identifier: MIT
"""A recording plain-HTTP/1.1 origin on loopback, for the plain-HTTP forwarding tests.

It keeps connections alive (HTTP/1.1 rules), answers `Expect: 100-continue` with an interim
100 before reading the body, and records every request exactly as it arrived: the raw head,
the request line, the header fields in order, the body both as framed on the wire and decoded,
and chunked trailers. A test then asserts what an origin behind sluice sees — never
Proxy-Authorization, an origin-form request line, Host from the URL, Via, ...

Paths (the query string is ignored for routing):
- any path not listed below: 200, `text/plain; charset=utf-8`, body `describe(request)`
  (method, target, decoded body length and SHA-256), so a client can check its upload arrived
  intact, and `X-Origin-Connection: <index of the origin connection it came on>`.
  A path ending in `.html` is answered as `text/html; charset=utf-8`; `/no-type` has no
  Content-Type at all.
- `/bytes/N`: N random bytes. `?framing=chunked` sends them chunked, `?framing=close` with
  neither length nor chunking (read until close); Content-Length otherwise. The SHA-256 of
  what was sent is recorded in `sent_sha256[target]` (see `wait_sent_sha256`).
- `/status/NNN`: that status (204 and 304 without a body, as HTTP requires).
- `/trailers`: a chunked body with a trailer field (`TRAILER_BODY`, `TRAILER_FIELD`).
- `/hop-by-hop`: a response that carries hop-by-hop fields of its own (`RESPONSE_HOP_FIELDS`),
  which must not reach the client.
- `/ws`: a websocket handshake by hand (RFC 6455); after the 101 the origin sends
  `WS_GREETING` as a text frame, then echoes every data frame until a close frame.
- `/bad/NAME`: the canned malformed response `BAD_RESPONSES[NAME]`; the origin then keeps the
  connection open until its peer closes it (recorded in `closed_by_peer`).
A request with `Connection: close` (or HTTP/1.0 without keep-alive) is answered with
`Connection: close` and the connection is closed.

Each connection is served by its own thread. `sync()` is a barrier: it connects directly (not
through the proxy) and waits for an answer, so every connection the proxy opened before it has
been accepted, then waits until all connections are idle or closed.
"""

import base64
import hashlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field

CHUNK = 1 << 20
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_GREETING = b"hello from the websocket origin"
TRAILER_BODY = b"first chunk;second chunk"
TRAILER_FIELD = ("X-Checksum", "sha256-of-the-body")
# Fields of /hop-by-hop's response that describe the origin->proxy connection only.
RESPONSE_HOP_FIELDS = (
    ("Connection", "X-Origin-Hop"),
    ("X-Origin-Hop", "connection-scoped"),
    ("Keep-Alive", "timeout=5, max=100"),
    ("Proxy-Connection", "keep-alive"),
    ("Upgrade", "h2c"),
)
SYNC_PATH = "/__sync"
MID_BODY_CHUNK = b"m" * 100_000

# Malformed responses: a proxy must answer 502 bad-response and drop the upstream connection.
BAD_RESPONSES = {
    "cl-and-te": (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
                  b"\r\n5\r\nhello\r\n0\r\n\r\n"),
    "differing-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello",
    "te-chunked-gzip": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
                        b"5\r\nhello\r\n0\r\n\r\n"),
    "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "bad-chunk-mid-body": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           + b"%x\r\n%s\r\n" % (len(MID_BODY_CHUNK), MID_BODY_CHUNK)
                           + b"zz\r\nhello\r\n0\r\n\r\n"),
    "chunk-overflow": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\nContent-Length: 5\r\n\r\nhello",
    "nul-in-value": b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 5\r\n\r\nhello",
    "bare-cr": b"HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\nContent-Length: 5\r\n\r\nhello",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
    "not-http": b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    "bad-status": b"HTTP/1.1 2x0 OK\r\nContent-Length: 5\r\n\r\nhello",
    "unasked-101": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\n\r\n"),
    "head-over-64k": (b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000)
                                                     for i in range(70))
                      + b"Content-Length: 5\r\n\r\nhello"),
}


class Reader:
    """Buffered reads from a socket: lines, heads, exact counts, and the rest until EOF."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self):
        if self.eof:
            return False
        try:
            data = self.sock.recv(CHUNK)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def until(self, marker, limit=1 << 20):
        """Bytes through `marker` (included); ConnectionError on EOF first."""
        start = 0
        while True:
            at = self.buf.find(marker, start)
            if at >= 0:
                end = at + len(marker)
                data, self.buf = self.buf[:end], self.buf[end:]
                return data
            if len(self.buf) > limit:
                raise ValueError(f"no {marker!r} within {limit} bytes")
            start = max(0, len(self.buf) - len(marker) + 1)
            if not self._fill():
                raise ConnectionError(f"EOF before {marker!r}; have {self.buf[:200]!r}")

    def exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError(f"EOF after {len(self.buf)} of {n} bytes")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def rest(self):
        """Everything until EOF."""
        while self._fill():
            pass
        data, self.buf = self.buf, b""
        return data

    def at_eof(self):
        """True when the peer closed with nothing more to read (blocks until it knows)."""
        return not self.buf and not self._fill()


def parse_fields(lines):
    """[(name, value)] from header lines as the origin received them (value stripped)."""
    fields = []
    for line in lines:
        name, sep, value = line.partition(":")
        fields.append((name, value.strip(" \t")) if sep else (line, None))
    return fields


def read_chunked(reader):
    """Read a chunked body; returns (raw bytes as framed, decoded body, trailer fields)."""
    raw, body = [], []
    while True:
        size_line = reader.until(b"\r\n", limit=64 * 1024)
        raw.append(size_line)
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            break
        data = reader.exact(size + 2)
        raw.append(data)
        if data[-2:] != b"\r\n":
            raise ValueError("chunk data not followed by CRLF")
        body.append(data[:-2])
    trailer_lines = []
    while True:
        line = reader.until(b"\r\n", limit=64 * 1024)
        raw.append(line)
        if line == b"\r\n":
            break
        trailer_lines.append(line[:-2].decode("latin-1"))
    return b"".join(raw), b"".join(body), parse_fields(trailer_lines)


@dataclass
class Request:
    """One request as the origin received it."""
    conn: int                       # which accepted connection (0, 1, ...)
    raw_head: bytes
    request_line: str
    fields: list                    # [(name, value)] in order, names as sent
    raw_body: bytes = b""           # as framed on the wire (chunk sizes included)
    body: bytes = b""               # decoded
    trailers: list = field(default_factory=list)
    sent_continue: bool = False     # the origin answered Expect: 100-continue

    @property
    def method(self):
        return self.request_line.split(" ", 1)[0]

    @property
    def target(self):
        parts = self.request_line.split(" ")
        return parts[1] if len(parts) > 1 else ""

    @property
    def path(self):
        return self.target.split("?", 1)[0]

    @property
    def version(self):
        return self.request_line.rsplit(" ", 1)[-1]

    def values(self, name):
        """All values of the field `name` (case-insensitive), in order."""
        return [v for n, v in self.fields if n.lower() == name.lower()]

    def value(self, name):
        """The single value of `name`, None when absent; fails when it appears twice."""
        found = self.values(name)
        assert len(found) <= 1, f"{name} appears {len(found)} times: {found}"
        return found[0] if found else None

    @property
    def names(self):
        return {n.lower() for n, _ in self.fields}


def describe(method, target, body):
    """The body of the default answer: what the origin understood of the request."""
    return (f"{method} {target} body={len(body)} "
            f"sha256={hashlib.sha256(body).hexdigest()}\n").encode()


def ws_accept(key):
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def ws_frame(opcode, payload, mask=None):
    """One final websocket frame; `mask` (4 bytes) for client-to-server frames."""
    head = bytes([0x80 | opcode])
    mask_bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + n.to_bytes(8, "big")
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def ws_read_frame(reader):
    """(fin, opcode, payload) of the next frame, unmasked."""
    b0, b1 = reader.exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(reader.exact(2), "big")
    elif n == 127:
        n = int.from_bytes(reader.exact(8), "big")
    mask = reader.exact(4) if b1 & 0x80 else None
    payload = reader.exact(n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bool(b0 & 0x80), b0 & 0x0F, payload


class _Conn:
    def __init__(self, index, sock):
        self.index = index
        self.sock = sock
        self.reader = Reader(sock)
        self.idle = True      # waiting for a request with nothing buffered
        self.done = False
        self.internal = False  # a sync() connection, not counted


class HttpOrigin:
    """The recording origin on `host` (a kernel-chosen port)."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self._listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._conns = []
        self.requests = []          # complete requests, in arrival order
        self.partial_heads = []     # heads whose body never completed (raw bytes)
        self.closed_by_peer = set()  # connection indexes the peer closed
        self.sent_sha256 = {}       # target -> sha256 hex of a /bytes/ body sent in full
        self.errors = []            # what the origin could not parse
        self._closing = False
        self._thread = threading.Thread(target=self._accept_loop, name="http-origin",
                                        daemon=True)
        self._thread.start()

    # -- what the tests read ---------------------------------------------------------------

    @property
    def connections(self):
        """How many connections the origin accepted (sync() ones not counted)."""
        with self._lock:
            return sum(1 for c in self._conns if not c.internal)

    def wait_requests(self, count, timeout=20.0):
        """Wait until `count` complete requests arrived; returns them all."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"origin got {len(self.requests)} complete request(s), expected "
                        f"{count} within {timeout}s; partial heads: {self.partial_heads}; "
                        f"errors: {self.errors}")
                self._changed.wait(remaining)
            return list(self.requests)

    def wait_sent_sha256(self, target, timeout=20.0):
        """The SHA-256 (hex) of the /bytes/ body sent for `target`, once fully sent (the
        client may have read the last byte before the origin thread records it)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while target not in self.sent_sha256:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"the origin never finished sending {target}")
                self._changed.wait(remaining)
            return self.sent_sha256[target]

    def wait_closed_by_peer(self, conn, timeout=20.0):
        deadline = time.monotonic() + timeout
        with self._changed:
            while conn not in self.closed_by_peer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"the proxy did not close origin connection {conn} "
                                         f"within {timeout}s")
                self._changed.wait(remaining)

    def sync(self, timeout=10.0):
        """Barrier: every connection opened to the origin before this call has been accepted
        and has been read as far as its peer sent (or the timeout passed)."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as s:
            s.sendall(f"GET {SYNC_PATH} HTTP/1.1\r\nHost: sync\r\nConnection: close\r\n\r\n"
                      .encode())
            Reader(s).rest()
        deadline = time.monotonic() + timeout
        with self._changed:
            while not all(c.idle or c.done for c in self._conns):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._changed.wait(min(remaining, 0.1))

    # -- serving ------------------------------------------------------------------------------

    def _accept_loop(self):
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._changed:
                conn = _Conn(len(self._conns), sock)
                self._conns.append(conn)
                self._changed.notify_all()
            threading.Thread(target=self._serve, args=(conn,), daemon=True,
                             name=f"http-origin-{conn.index}").start()

    def _set(self, conn, **state):
        with self._changed:
            for k, v in state.items():
                setattr(conn, k, v)
            self._changed.notify_all()

    def _serve(self, conn):
        sock = conn.sock
        sock.settimeout(120)
        try:
            while True:
                self._set(conn, idle=not conn.reader.buf)
                try:
                    head = conn.reader.until(b"\r\n\r\n", limit=256 * 1024)
                except ConnectionError:
                    if conn.reader.buf:
                        with self._changed:
                            self.partial_heads.append(conn.reader.buf)
                    self._peer_closed(conn)
                    return
                self._set(conn, idle=False)
                if not self._handle(conn, head):
                    return
        except (OSError, ValueError) as exc:
            if not self._closing:
                with self._changed:
                    self.errors.append(f"connection {conn.index}: {exc!r}")
        finally:
            sock.close()
            self._set(conn, done=True)

    def _peer_closed(self, conn):
        with self._changed:
            self.closed_by_peer.add(conn.index)
            self._changed.notify_all()

    def _handle(self, conn, head):
        """Read the body of the request whose head is `head`, record it, answer it. Returns
        False when the connection is over."""
        lines = head[:-4].decode("latin-1").split("\r\n")
        req = Request(conn=conn.index, raw_head=head, request_line=lines[0],
                      fields=parse_fields(lines[1:]))
        if req.path == SYNC_PATH:
            conn.internal = True
            conn.sock.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            return False
        te = [v.lower() for v in req.values("Transfer-Encoding")]
        cl = req.values("Content-Length")
        has_body = bool(te) or (cl and int(cl[0]) > 0)
        expect = (req.value("Expect") or "").lower()
        if expect == "100-continue" and has_body:
            conn.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            req.sent_continue = True
        try:
            if te and te[-1].split(",")[-1].strip() == "chunked":
                req.raw_body, req.body, req.trailers = read_chunked(conn.reader)
            elif cl:
                req.raw_body = req.body = conn.reader.exact(int(cl[0]))
        except ConnectionError:
            with self._changed:
                self.partial_heads.append(head + conn.reader.buf)
            self._peer_closed(conn)
            return False
        with self._changed:
            self.requests.append(req)
            self._changed.notify_all()
        return self._answer(conn, req)

    def _answer(self, conn, req):
        keep = self._keep_alive(req)
        close_field = [] if keep else [("Connection", "close")]
        path = req.path
        if path.startswith("/bad/"):
            conn.sock.sendall(BAD_RESPONSES[path[5:]])
            # Stay until the proxy drops the connection (a proxy that kept it would leave
            # the test waiting for closed_by_peer, and fail).
            conn.reader.rest()
            self._peer_closed(conn)
            return False
        if path == "/ws":
            return self._websocket(conn, req)
        if path.startswith("/bytes/"):
            return self._bytes(conn, req, int(path[7:]), keep, close_field)
        if path.startswith("/status/"):
            status = int(path[8:])
            body = b"" if status in (204, 304) or status < 200 else describe(
                req.method, req.target, req.body)
            fields = [("Content-Type", "text/plain")]
            if status not in (204, 304):
                fields.append(("Content-Length", str(len(body))))
            else:
                fields.append(("ETag", '"v1"'))
            self._send(conn, req, status, fields + close_field, body)
            return keep
        if path == "/trailers":
            name, value = TRAILER_FIELD
            first, second = TRAILER_BODY.split(b";")
            data = (b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n%s: %s\r\n\r\n"
                    % (len(first), first, len(second) + 1, b";" + second, name.encode(),
                       value.encode()))
            head = self._head(200, [("Content-Type", "text/plain"),
                                    ("Transfer-Encoding", "chunked"),
                                    ("Trailer", name)] + close_field)
            conn.sock.sendall(head + (b"" if req.method == "HEAD" else data))
            return keep
        body = describe(req.method, req.target, req.body)
        fields = []
        if path.endswith(".html"):
            fields.append(("Content-Type", "text/html; charset=utf-8"))
        elif path != "/no-type":
            fields.append(("Content-Type", "text/plain; charset=utf-8"))
        fields.append(("Content-Length", str(len(body))))
        fields.append(("X-Origin-Connection", str(conn.index)))
        if path == "/hop-by-hop":
            fields += list(RESPONSE_HOP_FIELDS)
        self._send(conn, req, 200, fields + close_field, body)
        return keep

    @staticmethod
    def _keep_alive(req):
        tokens = {t.strip().lower() for v in req.values("Connection") for t in v.split(",")}
        if "close" in tokens:
            return False
        return req.version == "HTTP/1.1" or "keep-alive" in tokens

    @staticmethod
    def _head(status, fields):
        reasons = {200: "OK", 204: "No Content", 304: "Not Modified", 404: "Not Found"}
        lines = [f"HTTP/1.1 {status} {reasons.get(status, 'Status')}"]
        lines += [f"{n}: {v}" for n, v in fields]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send(self, conn, req, status, fields, body):
        conn.sock.sendall(self._head(status, fields) + (b"" if req.method == "HEAD" else body))

    def _bytes(self, conn, req, size, keep, close_field):
        framing = "length"
        query = req.target.partition("?")[2]
        for item in query.split("&"):
            if item.startswith("framing="):
                framing = item[8:]
        fields = [("Content-Type", "application/octet-stream")]
        if framing == "chunked":
            fields.append(("Transfer-Encoding", "chunked"))
        elif framing == "close":
            keep = False
            close_field = [("Connection", "close")]
        else:
            fields.append(("Content-Length", str(size)))
        conn.sock.sendall(self._head(200, fields + close_field))
        if req.method == "HEAD":
            return keep
        digest = hashlib.sha256()
        remaining = size
        while remaining > 0:
            data = os.urandom(min(CHUNK, remaining))
            remaining -= len(data)
            digest.update(data)
            conn.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if framing == "chunked"
                              else data)
        if framing == "chunked":
            conn.sock.sendall(b"0\r\n\r\n")
        with self._changed:
            self.sent_sha256[req.target] = digest.hexdigest()
            self._changed.notify_all()
        return keep

    def _websocket(self, conn, req):
        key = req.value("Sec-WebSocket-Key")
        if (req.value("Upgrade") or "").lower() != "websocket" or not key:
            self._send(conn, req, 400, [("Content-Length", "0"), ("Connection", "close")], b"")
            return False
        conn.sock.sendall(self._head(101, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                           ("Sec-WebSocket-Accept", ws_accept(key))]))
        conn.sock.sendall(ws_frame(0x1, WS_GREETING))
        while True:
            try:
                _fin, opcode, payload = ws_read_frame(conn.reader)
            except ConnectionError:
                self._peer_closed(conn)
                return False
            if opcode == 0x8:
                conn.sock.sendall(ws_frame(0x8, payload))
                return False
            if opcode == 0x9:
                conn.sock.sendall(ws_frame(0xA, payload))
            elif opcode in (0x1, 0x2):
                conn.sock.sendall(ws_frame(opcode, payload))

    def close(self):
        self._closing = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=10)
