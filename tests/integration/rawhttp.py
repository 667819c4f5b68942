# SPDX-License-Identifier: MIT
"""A raw plain-HTTP proxy client, for what real clients hide or refuse to send: exact bytes on
the wire (hostile framing, pipelines), exact responses with their framing, and whether the
proxy closed the connection afterwards. Also the access-log regex of a forwarded request."""

import re
import socket
from dataclasses import dataclass, field

from httporigin import Reader, read_chunked
from proxyclient import basic_credentials


def auth_field(user, password):
    """The Proxy-Authorization line (with CRLF) as bytes."""
    return f"Proxy-Authorization: {basic_credentials(user, password)}\r\n".encode()


def request(method, url, *, auth=b"", fields=(), body=None, version="HTTP/1.1"):
    """The bytes of one absolute-form request. `fields` are (name, value) pairs or raw lines;
    a Host field is added from the URL unless `fields` names one; `body` gets a
    Content-Length unless `fields` frames it already."""
    authority = url.split("://", 1)[-1].split("/", 1)[0]
    lines = [f"{method} {url} {version}"]
    names = {(f[0] if isinstance(f, tuple) else f.split(":", 1)[0]).lower() for f in fields}
    if "host" not in names:
        lines.append(f"Host: {authority}")
    for f in fields:
        lines.append(f"{f[0]}: {f[1]}" if isinstance(f, tuple) else f)
    if body is not None and not names & {"content-length", "transfer-encoding"}:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n").encode("latin-1") + auth + b"\r\n"
    return head + (body or b"")


@dataclass
class Response:
    """One response as the proxy sent it."""
    status: int
    reason: str
    header_list: list = field(default_factory=list)   # (name, value) as sent
    body: bytes = b""                                 # decoded
    raw_body: bytes = b""                             # as framed
    trailers: list = field(default_factory=list)      # (name, value) after a chunked body
    interim: list = field(default_factory=list)       # 1xx responses before it (raw heads)
    raw_head: bytes = b""

    @property
    def headers(self):
        """Lower-cased name -> value (last wins); what helpers.assert_refusal reads."""
        return {n.lower(): v for n, v in self.header_list}

    @property
    def error_code(self):
        return self.headers.get("x-sluice-error")

    def values(self, name):
        return [v for n, v in self.header_list if n.lower() == name.lower()]

    @property
    def names(self):
        return {n.lower() for n, _ in self.header_list}


def read_response(reader, method="GET"):
    """Read one final response (collecting 1xx interim ones) with its body, by its framing.
    `method` is that of the request (a HEAD answer has no body)."""
    interim = []
    while True:
        head = reader.until(b"\r\n\r\n", limit=1 << 20)
        lines = head[:-4].decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP response: {lines[0]!r}")
        status_text, _, reason = rest.partition(" ")
        status = int(status_text)
        if 100 <= status < 200 and status != 101:
            interim.append(head)
            continue
        break
    resp = Response(status=status, reason=reason, interim=interim, raw_head=head)
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed response header line {line!r}")
        resp.header_list.append((name, value.strip()))
    te = [v.lower() for v in resp.values("transfer-encoding")]
    cl = resp.values("content-length")
    if method == "HEAD" or status in (101, 204, 304):
        return resp
    if te and te[-1] == "chunked":
        resp.raw_body, resp.body, resp.trailers = read_chunked(reader)
    elif cl:
        resp.raw_body = resp.body = reader.exact(int(cl[0]))
    else:
        resp.raw_body = resp.body = reader.rest()
    return resp


class Client:
    """One client connection to the proxy: send raw bytes, read responses."""

    def __init__(self, proxy_port, proxy_host="127.0.0.1", timeout=30.0):
        self.sock = socket.create_connection((proxy_host, proxy_port), timeout=timeout)
        self.reader = Reader(self.sock)

    def send(self, data):
        self.sock.sendall(data)

    def response(self, method="GET"):
        return read_response(self.reader, method)

    def responses(self, methods):
        """Read one response per method, stopping early (with what was read) at EOF."""
        got = []
        for method in methods:
            try:
                got.append(read_response(self.reader, method))
            except ConnectionError:
                break
        return got

    def closed(self, timeout=10.0):
        """True when the proxy closes the connection (EOF with nothing more to read) within
        `timeout` seconds; False when it sends more bytes or keeps the connection open."""
        self.sock.settimeout(timeout)
        try:
            return self.reader.at_eof()
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def exchange(proxy_port, data, method="GET"):
    """Send `data` on a new connection, read one response, close."""
    with Client(proxy_port) as c:
        c.send(data)
        return c.response(method)


def http_line_re(status, method, url, *, user="agent", tag="TCP_MISS", hier="HIER_DIRECT",
                 upstream="127.0.0.1", mime="-", code=None, client="127.0.0.1"):
    """A regex for the Squid log line of a forwarded (or refused) plain-HTTP request:
    `%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt [code]`.
    `user` None matches any user field. Groups: ts, elapsed, bytes."""
    peer = f"{hier}/{upstream if hier == 'HIER_DIRECT' else '-'}"
    return re.compile(
        r"^(?P<ts>\d+\.\d{3}) +(?P<elapsed>\d+) " + re.escape(client) + " "
        + re.escape(f"{tag}/{status:03d}") + r" (?P<bytes>\d+) " + re.escape(method) + " "
        + re.escape(url) + " " + (r"\S+" if user is None else re.escape(user)) + " "
        + re.escape(peer) + " "
        + re.escape(mime) + ("" if code is None else " " + re.escape(code)) + "$")


def refused_line_re(status, method, url, code, user="agent"):
    """The line of a request sluice refused (403/407: TCP_DENIED, others their own tag)."""
    tag = "TCP_DENIED" if status in (403, 407) else ("TCP_MISS" if status in (502, 504)
                                                      else "NONE_NONE")
    return http_line_re(status, method, url, user=user, tag=tag, hier="HIER_NONE",
                        mime="text/plain", code=code)
