# SPDX-License-Identifier: MIT
"""A raw CONNECT client, for what real clients hide: exact status, headers and body of a
refusal, IP-literal spellings that curl would normalise, half-close, and hostile requests.

`python3 proxyclient.py --proxy HOST:PORT --target HOST:PORT [--user NAME]` does one CONNECT
(the password, if any, comes from the environment variable SLUICE_TEST_PASSWORD, never the
command line) and prints the reply as JSON; tests use it inside network namespaces.
"""

import argparse
import base64
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field

HEAD_END = b"\r\n\r\n"


def basic_credentials(user, password):
    """The value of a Proxy-Authorization header for Basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def connect_head(target, user=None, password=None, extra_headers=()):
    """The bytes of a CONNECT request head for `target` ("host:port")."""
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if user is not None:
        lines.append("Proxy-Authorization: " + basic_credentials(user, password))
    lines.extend(extra_headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Reply:
    """The proxy's answer to one request head."""
    status: int
    reason: str
    headers: dict = field(default_factory=dict)  # lower-cased name -> value (last wins)
    header_list: list = field(default_factory=list)  # (name, value) as sent
    body: bytes = b""
    sock: socket.socket = None  # the open tunnel when status == 200, else None
    raw_head: bytes = b""

    @property
    def error_code(self):
        return self.headers.get("x-sluice-error")

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def recv_until_eof(sock, timeout=30.0, limit=None):
    """Read until the peer closes its sending side. Raises socket.timeout after `timeout`
    seconds without EOF. A connection reset also ends the stream (returns what was read)."""
    deadline = time.monotonic() + timeout
    chunks = []
    total = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout(f"no EOF within {timeout}s ({total} bytes read)")
        sock.settimeout(remaining)
        try:
            data = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
        total += len(data)
        if limit is not None and total > limit:
            break
    return b"".join(chunks)


def read_head(sock, deadline):
    """Consume exactly one response head (through the blank line) from `sock`, leaving any
    following bytes (a body, or an origin that speaks first) unread in the socket."""
    buf = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout(f"no complete response head in time; got {buf[:200]!r}")
        sock.settimeout(remaining)
        try:
            peek = sock.recv(65536, socket.MSG_PEEK)
        except ConnectionResetError:
            peek = b""
        if not peek:
            raise ConnectionError(f"proxy closed the connection before a full response head; "
                                  f"got {buf[:200]!r}")
        end = (buf + peek).find(HEAD_END, max(0, len(buf) - 3))
        want = len(peek) if end < 0 else end + len(HEAD_END) - len(buf)
        while want > 0:
            data = sock.recv(want)
            if not data:
                raise ConnectionError("connection closed while reading the response head")
            buf += data
            want -= len(data)
        if end >= 0:
            return buf
        if len(buf) > 1 << 20:
            raise ValueError("response head over 1 MiB")


def read_reply(sock, timeout=30.0):
    """Read the proxy's response head and, unless it is a 200, its body from `sock`. On 200
    the socket is left open in the Reply, positioned at the first byte from the origin."""
    deadline = time.monotonic() + timeout
    head = read_head(sock, deadline)[:-len(HEAD_END)]
    lines = head.decode("latin-1").split("\r\n")
    version, _, status_reason = lines[0].partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP response: {lines[0]!r}")
    status_text, _, reason = status_reason.partition(" ")
    reply = Reply(status=int(status_text), reason=reason, raw_head=head + HEAD_END)
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed response header line {line!r}")
        reply.header_list.append((name, value.strip()))
        reply.headers[name.strip().lower()] = value.strip()
    if reply.status == 200:
        reply.sock = sock
        return reply
    length = reply.headers.get("content-length")
    if length is not None:
        want = int(length)
        body = b""
        while len(body) < want:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("response body incomplete")
            sock.settimeout(remaining)
            data = sock.recv(65536)
            if not data:
                break
            body += data
        reply.body = body
    else:
        reply.body = recv_until_eof(sock, max(0.1, deadline - time.monotonic()))
    sock.close()
    return reply


def send_head(proxy_port, head, proxy_host="127.0.0.1", timeout=30.0):
    """Send raw request bytes to the proxy and return the parsed Reply."""
    family = socket.AF_INET6 if ":" in proxy_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((proxy_host, proxy_port))
        sock.sendall(head)
        return read_reply(sock, timeout)
    except BaseException:
        sock.close()
        raise


def connect(proxy_port, target, user=None, password=None, proxy_host="127.0.0.1",
            extra_headers=(), timeout=30.0):
    """CONNECT to `target` through the proxy. On 200 the Reply holds the open tunnel socket
    (the caller closes it); otherwise the Reply holds the refusal and the socket is closed."""
    return send_head(proxy_port, connect_head(target, user, password, extra_headers),
                     proxy_host=proxy_host, timeout=timeout)


def echo_through(sock, payload, timeout=60.0):
    """Send `payload` into an open tunnel to the echo origin, half-close, and return all
    bytes received until EOF."""
    sock.settimeout(timeout)
    sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)
    return recv_until_eof(sock, timeout)


def main(argv=None):
    parser = argparse.ArgumentParser(description="one raw CONNECT through the proxy")
    parser.add_argument("--proxy", required=True, help="HOST:PORT of the proxy")
    parser.add_argument("--target", required=True, help="host:port to CONNECT to")
    parser.add_argument("--user")
    args = parser.parse_args(argv)
    host, _, port = args.proxy.rpartition(":")
    reply = connect(int(port), args.target, args.user,
                    os.environ.get("SLUICE_TEST_PASSWORD") if args.user else None,
                    proxy_host=host.strip("[]"))
    reply.close()
    json.dump({"status": reply.status, "reason": reply.reason, "headers": reply.headers,
               "body": reply.body.decode("utf-8", "replace")}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
