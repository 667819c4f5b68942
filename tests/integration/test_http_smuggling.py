# SPDX-License-Identifier: MIT
"""Request smuggling through plain-HTTP forwarding, as a data table: raw bytes sent over one
socket, the statuses the proxy must answer, and what the origin behind it may have seen.

A request with ambiguous or broken framing (Content-Length with Transfer-Encoding, any
Transfer-Encoding but a final `chunked`, duplicate lengths, obs-fold, bare CR, NUL, bad chunk
sizes, ...) is answered 400 and the connection is closed: a proxy and an origin that disagree
on where a request ends are how a second, unchecked request reaches a host the policy denies.
Every hostile row therefore carries such a hidden request to www.google.com, which the
hosts_file maps to the same origin: a proxy that let it through would show it in the record.

Every request on a kept-alive connection is authenticated and checked on its own, so the
pipelined rows expect the first request answered and the second refused, with only the first
reaching the origin. The last tests turn the table around: an origin whose response has the
same defects gets the client a 502 bad-response, and its connection is dropped."""

import socket
from dataclasses import dataclass

import pytest

from httporigin import BAD_RESPONSES, MID_BODY_CHUNK
from rawhttp import Client, auth_field, http_line_re, refused_line_re

# -- the table -------------------------------------------------------------------------------
# Placeholders in `raw`: {o} the allowed origin (api.anthropic.com:PORT), {d} a denied name
# mapped to the same origin (www.google.com:PORT), {a} a valid Proxy-Authorization line.

NOTHING = "nothing"          # the proxy never even connected to the origin
NO_REQUEST = "no request"    # the origin may have been connected to, but got no whole request


def saw(*requests):
    """The origin received exactly these whole requests: (method, path, decoded body)."""
    return tuple(requests)


@dataclass(frozen=True)
class Row:
    id: str
    raw: bytes
    expect: tuple          # per response: "STATUS" or "STATUS x-sluice-error-code"
    effect: object         # NOTHING, NO_REQUEST or saw(...)
    closed: bool = True    # the proxy closes the connection after the last response
    half_close: bool = False  # the client shuts down its sending side after `raw`


POST = b"POST http://{o}/upload HTTP/1.1\r\nHost: {o}\r\n{a}"
GET = b"GET http://{o}/page HTTP/1.1\r\nHost: {o}\r\n{a}"
# A request to a denied host: it must never arrive, whatever the framing above it.
HIDDEN = b"GET http://{d}/smuggled HTTP/1.1\r\nHost: {d}\r\n\r\n"
# A request as the body of another: just data, when the framing is honoured.
INNER = b"GET http://www.google.com/smuggled HTTP/1.1\r\nHost: www.google.com\r\n\r\n"
CHUNKED_HELLO = b"5\r\nhello\r\n0\r\n\r\n"
BAD = ("400 bad-request",)
HELLO = saw(("POST", "/upload", b"hello"))

ROWS = [
    # Content-Length together with Transfer-Encoding: whichever one the origin believed,
    # the other would leave HIDDEN as a second request.
    Row("cl-and-te", POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"0\r\n\r\n" + HIDDEN, BAD, NOTHING),
    Row("te-and-cl", POST + b"Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n"
        + b"0\r\n\r\n" + HIDDEN, BAD, NOTHING),
    # An upgrade request with a body: after an upgrade the bytes belong to the new protocol,
    # so proxy and origin would disagree on where the next request starts (found by the
    # rewrite fuzzer: the origin could be made to serve a request sluice never saw).
    Row("upgrade-websocket-with-body", GET + b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
        + b"Content-Length: 5\r\n\r\nhello" + HIDDEN, BAD, NOTHING),
    Row("upgrade-h2c-with-chunked-body", GET + b"Connection: Upgrade, HTTP2-Settings\r\n"
        + b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"
        + b"Transfer-Encoding: chunked\r\n\r\n" + CHUNKED_HELLO + HIDDEN, BAD, NOTHING),
    # An empty first line folded onto the next: refused like any obs-fold.
    Row("obs-fold-empty-first-line", GET + b"X-Folded:\r\n value\r\n\r\n" + HIDDEN, BAD,
        NOTHING),
    # Transfer-Encoding other than a final `chunked`.
    Row("te-chunked-gzip", POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n" + CHUNKED_HELLO
        + HIDDEN, BAD, NOTHING),
    Row("te-gzip", POST + b"Transfer-Encoding: gzip\r\n\r\n" + CHUNKED_HELLO + HIDDEN, BAD,
        NOTHING),
    Row("te-identity", POST + b"Transfer-Encoding: identity\r\n\r\n" + CHUNKED_HELLO + HIDDEN,
        BAD, NOTHING),
    Row("te-twice", POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
        + CHUNKED_HELLO + HIDDEN, BAD, NOTHING),
    Row("te-space-before-colon", POST + b"Transfer-Encoding : chunked\r\nContent-Length: 5\r\n"
        b"\r\nhello" + HIDDEN, BAD, NOTHING),
    Row("te-vertical-tab", POST + b"Transfer-Encoding: \x0bchunked\r\n\r\n" + CHUNKED_HELLO
        + HIDDEN, BAD, NOTHING),
    Row("te-chunked-parameter", POST + b"Transfer-Encoding: chunked;x\r\n\r\n" + CHUNKED_HELLO
        + HIDDEN, BAD, NOTHING),
    Row("te-empty", POST + b"Transfer-Encoding: \r\nContent-Length: 5\r\n\r\nhello" + HIDDEN,
        BAD, NOTHING),
    Row("te-obs-fold", POST + b"Transfer-Encoding: identity\r\n chunked\r\n\r\n" + CHUNKED_HELLO
        + HIDDEN, BAD, NOTHING),
    # `chunked` is case-insensitive (the tinyproxy bug was treating CHUNKED as unframed) and
    # may follow other codings: these are well framed and pass, HIDDEN is then a second
    # request of its own and is refused.
    Row("te-uppercase-CHUNKED", POST + b"Transfer-Encoding: CHUNKED\r\n\r\n" + CHUNKED_HELLO
        + HIDDEN, ("200", "407 auth-required"), HELLO, closed=True),
    Row("te-gzip-then-chunked", POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
        + CHUNKED_HELLO, ("200",), HELLO, closed=False),
    # Content-Length variants.
    Row("cl-duplicate-same", POST + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
        + HIDDEN, BAD, NOTHING),
    Row("cl-duplicate-differing", POST + b"Content-Length: 5\r\nContent-Length: 45\r\n\r\n"
        b"hello" + HIDDEN, BAD, NOTHING),
    Row("cl-list", POST + b"Content-Length: 5, 45\r\n\r\nhello" + HIDDEN, BAD, NOTHING),
    Row("cl-negative", POST + b"Content-Length: -1\r\n\r\nhello" + HIDDEN, BAD, NOTHING),
    Row("cl-plus-sign", POST + b"Content-Length: +5\r\n\r\nhello" + HIDDEN, BAD, NOTHING),
    Row("cl-overflow", POST + b"Content-Length: 99999999999999999999999\r\n\r\nhello" + HIDDEN,
        BAD, NOTHING),
    # Malformed header lines.
    Row("obs-fold", POST + b"X-Note: a\r\n folded\r\nContent-Length: 5\r\n\r\nhello" + HIDDEN,
        BAD, NOTHING),
    Row("bare-cr-in-value", POST + b"X-Note: a\rContent-Length: 40\r\nContent-Length: 5\r\n\r\n"
        b"hello" + HIDDEN, BAD, NOTHING),
    Row("bare-lf-line-ending", b"GET http://{o}/page HTTP/1.1\nHost: {o}\n{a}\n" + HIDDEN, BAD,
        NOTHING),
    Row("nul-in-value", POST + b"X-Note: a\x00b\r\nContent-Length: 5\r\n\r\nhello" + HIDDEN, BAD,
        NOTHING),
    Row("control-byte-in-value", POST + b"X-Note: a\x01b\r\nContent-Length: 5\r\n\r\nhello"
        + HIDDEN, BAD, NOTHING),
    Row("nul-in-name", POST + b"X-No\x00te: a\r\nContent-Length: 5\r\n\r\nhello" + HIDDEN, BAD,
        NOTHING),
    Row("line-without-colon", POST + b"X-Note a\r\nContent-Length: 5\r\n\r\nhello" + HIDDEN, BAD,
        NOTHING),
    Row("space-before-first-field", b"GET http://{o}/page HTTP/1.1\r\n Host: {d}\r\n{a}\r\n",
        BAD, NOTHING),
    Row("header-line-over-16-kib", GET + b"X-Long: " + b"v" * (17 * 1024) + b"\r\n\r\n", BAD,
        NOTHING),
    Row("head-over-64-kib", GET + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000)
                                           for i in range(70)) + b"\r\n",
        ("431 header-too-large",), NOTHING),
    # Chunk framing. The head may already have gone upstream when the body turns out bad,
    # but no whole request may.
    Row("chunk-size-overflow", POST + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"10000000000000005\r\nhello\r\n0\r\n\r\n" + HIDDEN, BAD, NO_REQUEST),
    Row("chunk-size-not-hex", POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"
        b"0\r\n\r\n" + HIDDEN, BAD, NO_REQUEST),
    Row("chunk-size-negative", POST + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n"
        b"0\r\n\r\n" + HIDDEN, BAD, NO_REQUEST),
    Row("chunk-size-0x-prefix", POST + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n"
        b"0\r\n\r\n" + HIDDEN, BAD, NO_REQUEST),
    Row("chunk-data-without-crlf", POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX"
        b"0\r\n\r\n" + HIDDEN, BAD, NO_REQUEST),
    # The last chunk without its final CRLF: what follows is not a new request but the
    # trailer section, which a request line is not.
    Row("missing-final-crlf", POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
        + HIDDEN, BAD, NO_REQUEST),
    # A body cut short by the client's end of stream is the client's fault, not the origin's.
    Row("chunked-body-cut-short", POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        BAD, NO_REQUEST, half_close=True),
    Row("length-body-cut-short", POST + b"Content-Length: 50\r\n\r\nhello", BAD, NO_REQUEST,
        half_close=True),
    # Request lines.
    Row("http-0.9", b"GET http://{o}/page\r\n" + HIDDEN, BAD, NOTHING),
    Row("absurd-method", b"XYZZY http://{o}/page HTTP/1.1\r\nHost: {o}\r\n{a}\r\n", BAD,
        NOTHING),
    Row("spaces-in-target", b"GET http://{o}/a b HTTP/1.1\r\nHost: {o}\r\n{a}\r\n", BAD,
        NOTHING),
    Row("http-0.9-alone", b"GET http://{o}/page\r\n\r\n", BAD, NOTHING),
    Row("garbage-version", b"GET http://{o}/page HTTP/1.x\r\nHost: {o}\r\n{a}\r\n", BAD,
        NOTHING),
    # Keep-alive: each request is checked on its own.
    Row("pipeline-then-denied-host", GET + b"\r\n" + b"GET http://{d}/second HTTP/1.1\r\n"
        b"Host: {d}\r\n{a}\r\n", ("200", "403 domain-denied"), saw(("GET", "/page", b"")),
        closed=True),
    Row("pipeline-then-no-credentials", GET + b"\r\n" + b"GET http://{o}/second HTTP/1.1\r\n"
        b"Host: {o}\r\n\r\n", ("200", "407 auth-required"), saw(("GET", "/page", b"")),
        closed=True),
    Row("pipeline-after-chunked-body", POST + b"Transfer-Encoding: chunked\r\n\r\n"
        + CHUNKED_HELLO + b"GET http://{d}/second HTTP/1.1\r\nHost: {d}\r\n{a}\r\n",
        ("200", "403 domain-denied"), HELLO, closed=True),
    Row("request-in-a-length-body", POST + b"Content-Length: %d\r\n\r\n" % len(INNER) + INNER,
        ("200",), saw(("POST", "/upload", INNER)), closed=False),
    Row("connection-names-content-length", POST + b"Connection: Content-Length\r\n"
        b"Content-Length: 5\r\n\r\nhello" + HIDDEN, ("200", "407 auth-required"), HELLO,
        closed=True),
    Row("connection-close-then-more", GET + b"Connection: close\r\n\r\n"
        + b"GET http://{o}/second HTTP/1.1\r\nHost: {o}\r\n{a}\r\n", ("200",),
        saw(("GET", "/page", b"")), closed=True),
]


def fill(raw, proxy, origin):
    return (raw.replace(b"{o}", b"api.anthropic.com:%d" % origin.port)
            .replace(b"{d}", b"www.google.com:%d" % origin.port)
            .replace(b"{a}", auth_field(proxy.user, proxy.password)))


def test_the_table_is_large_enough_and_names_are_unique():
    assert len(ROWS) >= 20
    assert len({row.id for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_smuggling_corpus(row, http_proxy, http_origin):
    raw = fill(row.raw, http_proxy, http_origin)
    with Client(http_proxy.port) as client:
        client.send(raw)
        if row.half_close:
            client.sock.shutdown(socket.SHUT_WR)
        responses = client.responses([raw.split(b" ", 1)[0].decode("latin-1")] * len(row.expect))
        got = [f"{r.status} {r.error_code}" if r.error_code else str(r.status)
               for r in responses]
        assert got == list(row.expect), (
            f"raw request {raw[:300]!r}...: expected {list(row.expect)}, got {got}; "
            f"bodies: {[r.body[:200] for r in responses]}")
        if row.closed:
            assert client.closed(), "the proxy kept the connection open after the last answer"

    http_origin.sync()
    seen = [(r.method, r.path, r.body) for r in http_origin.requests]
    if row.effect == NOTHING:
        assert http_origin.connections == 0 and not seen, (
            f"the proxy contacted the origin: {http_origin.connections} connection(s), "
            f"requests {seen}, partial heads {http_origin.partial_heads}")
    elif row.effect == NO_REQUEST:
        assert seen == [], f"the origin received whole requests: {seen}"
    else:
        assert seen == list(row.effect), f"the origin received {seen}"
    for r in http_origin.requests:
        assert r.value("Host") == f"api.anthropic.com:{http_origin.port}", r.raw_head


def test_refused_requests_are_logged_with_their_reason(http_proxy, http_origin):
    port = http_origin.port
    raw = fill(ROWS[0].raw, http_proxy, http_origin)
    with Client(http_proxy.port) as client:
        client.send(raw)
        assert client.response().status == 400
    raw = fill(GET + b"\r\n" + b"GET http://{d}/second HTTP/1.1\r\nHost: {d}\r\n{a}\r\n",
               http_proxy, http_origin)
    with Client(http_proxy.port) as client:
        client.send(raw)
        assert [r.status for r in client.responses(["GET", "GET"])] == [200, 403]

    http_proxy.wait_log(refused_line_re(400, "POST", f"http://api.anthropic.com:{port}/upload",
                                        "bad-request", user=None))
    http_proxy.wait_log(http_line_re(200, "GET", f"http://api.anthropic.com:{port}/page",
                                     mime="text/plain"))
    http_proxy.wait_log(refused_line_re(403, "GET", f"http://www.google.com:{port}/second",
                                        "domain-denied"))


# -- responses -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(n for n in BAD_RESPONSES if n != "bad-chunk-mid-body"))
def test_malformed_response_is_502_bad_response_and_the_upstream_is_dropped(
        name, http_proxy, http_origin):
    url = f"http://api.anthropic.com:{http_origin.port}/bad/{name}"
    raw = fill(f"GET {url} HTTP/1.1\r\nHost: {{o}}\r\n{{a}}\r\n".encode(), http_proxy,
               http_origin)

    with Client(http_proxy.port) as client:
        client.send(raw)
        # The proxy closes the client connection after its 502: read all it sent.
        answer = client.reader.rest()

    head = answer.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 502 ") and b"\r\nX-Sluice-Error: bad-response" in head, (
        f"the origin answered {BAD_RESPONSES[name][:160]!r}; the client got {answer[:400]!r}")
    (request,) = http_origin.wait_requests(1)
    http_origin.wait_closed_by_peer(request.conn)
    http_proxy.wait_log(http_line_re(502, "GET", url, hier="HIER_NONE", mime="text/plain",
                                     code="bad-response"))


def test_bad_chunk_after_forwarded_data_cuts_the_client_off_without_a_last_chunk(
        http_proxy, http_origin):
    # Once part of the body has been passed on, a 502 is no longer possible: the client must
    # then see a truncated message (no terminating 0-chunk, connection closed), never a
    # complete-looking one, and the origin connection must be dropped.
    url = f"http://api.anthropic.com:{http_origin.port}/bad/bad-chunk-mid-body"
    raw = fill(f"GET {url} HTTP/1.1\r\nHost: {{o}}\r\n{{a}}\r\n".encode(), http_proxy,
               http_origin)

    with Client(http_proxy.port) as client:
        client.send(raw)
        answer = client.reader.rest()

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert body.startswith(b"%x\r\n" % len(MID_BODY_CHUNK)), body[:100]
    assert b"0\r\n\r\n" not in body[len(MID_BODY_CHUNK):], "the client got a last chunk"
    assert b"zz" not in body, "the bad chunk reached the client"
    (request,) = http_origin.wait_requests(1)
    http_origin.wait_closed_by_peer(request.conn)


def test_after_a_malformed_response_the_next_request_gets_a_fresh_upstream(http_proxy,
                                                                            http_origin):
    # The bad response poisons only its own exchange: a new client connection is served over
    # a new origin connection, never the dropped one.
    base = f"http://api.anthropic.com:{http_origin.port}"
    auth = auth_field(http_proxy.user, http_proxy.password)
    with Client(http_proxy.port) as client:
        client.send(f"GET {base}/bad/cl-and-te HTTP/1.1\r\n".encode() + auth + b"\r\n")
        assert client.response().status == 502
    with Client(http_proxy.port) as client:
        client.send(f"GET {base}/fine HTTP/1.1\r\n".encode() + auth + b"\r\n")
        response = client.response()

    assert response.status == 200
    first, second = http_origin.wait_requests(2)
    assert (first.path, second.path) == ("/bad/cl-and-te", "/fine")
    assert first.conn != second.conn
