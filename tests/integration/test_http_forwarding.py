# SPDX-License-Identifier: MIT
"""What plain-HTTP forwarding does to a request and its response, seen from both ends: the
recording origin (httporigin.py) shows what arrived upstream, a raw client what came back.

Upstream: an origin-form request line, Host from the URL, no hop-by-hop field (above all no
Proxy-Authorization), Via unless `via off`, X-Forwarded-For only with `forwarded_for on`.
Bodies in every framing arrive byte for byte; 100-continue, HEAD, 204 and 304 are framed
right; a kept-alive client connection carries several requests, each logged; the upstream
connection is reused only for the same host and port; a websocket upgrade becomes a tunnel."""

import base64
import hashlib
import os
import secrets
import socket

import pytest

from httporigin import (RESPONSE_HOP_FIELDS, TRAILER_BODY, TRAILER_FIELD, WS_GREETING, describe,
                        ws_accept, ws_frame, ws_read_frame)
from rawhttp import Client, auth_field, http_line_re, request

HOP_BY_HOP = ("proxy-authorization", "proxy-connection", "keep-alive", "te", "trailer",
              "upgrade", "connection")


def origin_url(origin, path="/", name="api.anthropic.com"):
    return f"http://{name}:{origin.port}{path}"


def one_exchange(proxy, data, method="GET"):
    with Client(proxy.port) as client:
        client.send(data)
        return client.response(method)


# -- the request the origin receives -------------------------------------------------------------

def test_request_line_is_origin_form_and_host_comes_from_the_url(http_proxy, http_origin):
    url = origin_url(http_origin, "/v1/models?limit=5&q=a%20b")
    # The client's own Host names a denied host: the URL is what was checked, so the URL's
    # host is what the origin must be told.
    data = request("GET", url, auth=auth_field(http_proxy.user, http_proxy.password),
                   fields=[("Host", f"www.google.com:{http_origin.port}")])

    response = one_exchange(http_proxy, data)

    assert response.status == 200
    (seen,) = http_origin.wait_requests(1)
    assert seen.request_line == "GET /v1/models?limit=5&q=a%20b HTTP/1.1"
    assert seen.values("Host") == [f"api.anthropic.com:{http_origin.port}"]


def test_url_without_a_path_becomes_a_slash(http_proxy, http_origin):
    data = request("GET", f"http://api.anthropic.com:{http_origin.port}",
                   auth=auth_field(http_proxy.user, http_proxy.password))

    assert one_exchange(http_proxy, data).status == 200
    (seen,) = http_origin.wait_requests(1)
    assert seen.request_line == "GET / HTTP/1.1"


def test_host_is_canonical_when_the_url_spells_the_name_differently(http_proxy, http_origin):
    data = request("GET", f"http://API.Anthropic.COM.:{http_origin.port}/x",
                   auth=auth_field(http_proxy.user, http_proxy.password))

    assert one_exchange(http_proxy, data).status == 200
    (seen,) = http_origin.wait_requests(1)
    assert seen.values("Host") == [f"api.anthropic.com:{http_origin.port}"]


def test_hop_by_hop_fields_never_reach_the_origin(http_proxy, http_origin):
    token = auth_field(http_proxy.user, http_proxy.password)
    data = request("GET", origin_url(http_origin, "/hygiene"), auth=token, fields=[
        ("Connection", "keep-alive, X-Conn-Named, x-other-named"),
        ("X-Conn-Named", "connection-scoped secret"),
        ("X-Other-Named", "also connection-scoped"),
        ("Keep-Alive", "timeout=300"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Upgrade", "h2c"),
        ("X-End-To-End", "kept"),
        ("User-Agent", "sluice-test/1"),
    ])

    response = one_exchange(http_proxy, data)

    assert response.status == 200
    (seen,) = http_origin.wait_requests(1)
    leaked = seen.names & {*HOP_BY_HOP, "x-conn-named", "x-other-named"}
    assert not leaked, f"hop-by-hop fields reached the origin: {seen.raw_head!r}"
    assert b"Basic " not in seen.raw_head and http_proxy.password.encode() not in seen.raw_head
    assert seen.value("X-End-To-End") == "kept"
    assert seen.value("User-Agent") == "sluice-test/1"


def test_connection_cannot_strip_the_framing_or_the_host(http_proxy, http_origin):
    # Naming Content-Length or Host in Connection must not remove them upstream: the origin
    # would lose the body boundary or the name the policy checked.
    data = request("POST", origin_url(http_origin, "/upload"),
                   auth=auth_field(http_proxy.user, http_proxy.password),
                   fields=[("Connection", "Content-Length, Host, Transfer-Encoding")],
                   body=b"hello")

    assert one_exchange(http_proxy, data).status == 200
    (seen,) = http_origin.wait_requests(1)
    assert seen.value("Content-Length") == "5" and seen.body == b"hello"
    assert seen.values("Host") == [f"api.anthropic.com:{http_origin.port}"]


def test_via_is_added_and_x_forwarded_for_is_not_by_default(http_proxy, http_origin):
    data = request("GET", origin_url(http_origin), auth=auth_field(http_proxy.user,
                                                                   http_proxy.password))

    response = one_exchange(http_proxy, data)

    (seen,) = http_origin.wait_requests(1)
    assert seen.values("Via") == ["1.1 sluice"]
    assert "x-forwarded-for" not in seen.names and "forwarded" not in seen.names
    assert response.values("Via") == ["1.1 sluice"]


def test_via_off_leaves_both_directions_without_via(make_proxy, http_origin):
    proxy = make_proxy(extra=[f"http_ports {http_origin.port}", "via off"])
    data = request("GET", origin_url(http_origin), auth=auth_field(proxy.user, proxy.password))

    response = one_exchange(proxy, data)

    assert response.status == 200
    (seen,) = http_origin.wait_requests(1)
    assert "via" not in seen.names, seen.raw_head
    assert "via" not in response.names, response.raw_head


def test_forwarded_for_on_discloses_the_client_address(make_proxy, http_origin):
    proxy = make_proxy(extra=[f"http_ports {http_origin.port}", "forwarded_for on"])
    data = request("GET", origin_url(http_origin), auth=auth_field(proxy.user, proxy.password))

    assert one_exchange(proxy, data).status == 200
    (seen,) = http_origin.wait_requests(1)
    assert seen.values("X-Forwarded-For") == ["127.0.0.1"]


def test_a_client_supplied_x_forwarded_for_is_not_replaced_by_the_real_address(http_proxy,
                                                                               http_origin):
    # forwarded_for is off: whatever the client claims is end-to-end data, but the proxy
    # must not add the client's real address next to it.
    data = request("GET", origin_url(http_origin), auth=auth_field(http_proxy.user,
                                                                   http_proxy.password),
                   fields=[("X-Forwarded-For", "203.0.113.9")])

    assert one_exchange(http_proxy, data).status == 200
    (seen,) = http_origin.wait_requests(1)
    assert seen.values("X-Forwarded-For") == ["203.0.113.9"]
    assert b"127.0.0.1" not in seen.raw_head


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_is_forwarded_in_origin_form(method, http_proxy, http_origin):
    body = None if method in ("GET", "HEAD", "OPTIONS", "DELETE") else f"{method} body".encode()
    url = origin_url(http_origin, f"/method/{method.lower()}")
    data = request(method, url, auth=auth_field(http_proxy.user, http_proxy.password),
                   body=body)

    response = one_exchange(http_proxy, data, method)

    assert response.status == 200
    (seen,) = http_origin.wait_requests(1)
    assert seen.request_line == f"{method} /method/{method.lower()} HTTP/1.1"
    assert seen.body == (body or b"")
    expected = describe(method, f"/method/{method.lower()}", body or b"")
    if method == "HEAD":
        assert response.body == b""
        assert response.values("Content-Length") == [str(len(expected))]
    else:
        assert response.body == expected
    http_proxy.wait_log(http_line_re(200, method, url, mime="text/plain"))


# -- the response the client receives --------------------------------------------------------

def test_hop_by_hop_fields_of_the_response_do_not_reach_the_client(http_proxy, http_origin):
    data = request("GET", origin_url(http_origin, "/hop-by-hop"),
                   auth=auth_field(http_proxy.user, http_proxy.password))

    response = one_exchange(http_proxy, data)

    assert response.status == 200
    # RESPONSE_HOP_FIELDS: what the origin sent besides its end-to-end fields.
    leaked = response.names & {name.lower() for name, _ in RESPONSE_HOP_FIELDS
                               if name != "Connection"}
    assert not leaked, f"hop-by-hop fields of the origin reached the client: {response.raw_head!r}"
    assert all("x-origin-hop" not in v.lower() for v in response.values("Connection"))
    assert response.body.startswith(b"GET /hop-by-hop ")


def test_log_line_of_a_forwarded_request(http_proxy, http_origin):
    url = origin_url(http_origin, "/index.html")
    data = request("GET", url, auth=auth_field(http_proxy.user, http_proxy.password))

    with Client(http_proxy.port) as client:
        client.send(data)
        response = client.response()

    assert response.status == 200
    (line,) = http_proxy.wait_log(http_line_re(200, "GET", url, mime="text/html"))
    assert int(line["bytes"]) == len(response.raw_head) + len(response.raw_body)


def test_log_line_mime_is_a_dash_without_content_type(http_proxy, http_origin):
    url = origin_url(http_origin, "/no-type")
    data = request("GET", url, auth=auth_field(http_proxy.user, http_proxy.password))

    assert one_exchange(http_proxy, data).status == 200
    http_proxy.wait_log(http_line_re(200, "GET", url, mime="-"))


# -- bodies --------------------------------------------------------------------------------------

def test_chunked_upload_with_trailers_arrives_verbatim(http_proxy, http_origin):
    chunks = [os.urandom(n) for n in (1, 4095, 70_000, 3)]
    framed = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in chunks)
    framed += b"0\r\nX-Upload-Checksum: abc123\r\n\r\n"
    head = request("PUT", origin_url(http_origin, "/chunked"),
                   auth=auth_field(http_proxy.user, http_proxy.password),
                   fields=[("Transfer-Encoding", "chunked"), ("Trailer", "X-Upload-Checksum")])

    response = one_exchange(http_proxy, head + framed, "PUT")

    assert response.status == 200
    (seen,) = http_origin.wait_requests(1)
    assert seen.raw_body == framed
    assert seen.body == b"".join(chunks)
    assert seen.trailers == [("X-Upload-Checksum", "abc123")]


def test_chunked_response_with_trailers_reaches_the_client_verbatim(http_proxy, http_origin):
    data = request("GET", origin_url(http_origin, "/trailers"),
                   auth=auth_field(http_proxy.user, http_proxy.password))

    response = one_exchange(http_proxy, data)

    assert response.status == 200
    assert response.values("Transfer-Encoding") == ["chunked"]
    assert response.body == TRAILER_BODY
    assert response.trailers == [TRAILER_FIELD]


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_download_arrives_intact_in_every_framing(framing, http_proxy, http_origin):
    size = 3_000_000
    target = f"/bytes/{size}?framing={framing}"
    data = request("GET", origin_url(http_origin, target),
                   auth=auth_field(http_proxy.user, http_proxy.password))

    with Client(http_proxy.port) as client:
        client.send(data)
        response = client.response()
        if framing == "close":
            # Read until close: the proxy must end the client connection to end the body.
            assert client.closed()

    assert response.status == 200
    assert len(response.body) == size
    assert hashlib.sha256(response.body).hexdigest() == http_origin.wait_sent_sha256(target)


def test_large_upload_with_content_length_arrives_intact(http_proxy, http_origin):
    body = os.urandom(5_000_000)
    data = request("POST", origin_url(http_origin, "/upload"),
                   auth=auth_field(http_proxy.user, http_proxy.password), body=body)

    response = one_exchange(http_proxy, data, "POST")

    assert response.status == 200
    assert response.body == describe("POST", "/upload", body)


def test_head_204_and_304_have_no_body_and_the_connection_stays_in_step(http_proxy,
                                                                        http_origin):
    # Pipelined on one connection: if the proxy invented a body for any of these, the next
    # response would be read from the wrong place and the last check would fail.
    auth = auth_field(http_proxy.user, http_proxy.password)
    data = (request("HEAD", origin_url(http_origin, "/bytes/1000"), auth=auth)
            + request("GET", origin_url(http_origin, "/status/204"), auth=auth)
            + request("GET", origin_url(http_origin, "/status/304"), auth=auth)
            + request("GET", origin_url(http_origin, "/last"), auth=auth))

    with Client(http_proxy.port) as client:
        client.send(data)
        responses = client.responses(["HEAD", "GET", "GET", "GET"])

    assert [r.status for r in responses] == [200, 204, 304, 200]
    assert responses[0].values("Content-Length") == ["1000"]
    assert [r.body for r in responses[:3]] == [b"", b"", b""]
    assert responses[3].body == describe("GET", "/last", b"")


def test_expect_100_continue_is_passed_on_before_the_body_is_sent(http_proxy, http_origin):
    body = b"sent only after 100 Continue"
    head = request("POST", origin_url(http_origin, "/expect"),
                   auth=auth_field(http_proxy.user, http_proxy.password),
                   fields=[("Content-Length", str(len(body))), ("Expect", "100-continue")])

    with Client(http_proxy.port) as client:
        client.send(head)
        # Wait for the interim answer before sending a byte of the body, as a client does.
        interim = client.reader.until(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 "), interim
        client.send(body)
        response = client.response("POST")

    assert response.status == 200
    assert response.body == describe("POST", "/expect", body)
    (seen,) = http_origin.wait_requests(1)
    assert seen.sent_continue and seen.body == body


# -- keep-alive and upstream reuse ---------------------------------------------------------------

def test_several_requests_on_one_client_connection_are_each_answered_and_logged(http_proxy,
                                                                                http_origin):
    auth = auth_field(http_proxy.user, http_proxy.password)
    paths = [f"/keep/{i}" for i in range(5)]

    with Client(http_proxy.port) as client:
        for path in paths:  # one after the other, each answer read before the next request
            client.send(request("GET", origin_url(http_origin, path), auth=auth))
            response = client.response()
            assert response.status == 200
            assert response.body == describe("GET", path, b"")

    seen = http_origin.wait_requests(len(paths))
    assert [r.path for r in seen] == paths
    # The origin connection was reused for the same host and port.
    assert http_origin.connections == 1
    for path in paths:
        http_proxy.wait_log(http_line_re(200, "GET", origin_url(http_origin, path),
                                         mime="text/plain"))


def test_upstream_connection_is_reused_only_for_the_same_host_and_port(http_proxy,
                                                                       http_origin):
    auth = auth_field(http_proxy.user, http_proxy.password)
    names = ["api.anthropic.com", "api.replicate.com", "api.replicate.com",
             "api.anthropic.com"]

    with Client(http_proxy.port) as client:
        for i, name in enumerate(names):
            client.send(request("GET", origin_url(http_origin, f"/n{i}", name), auth=auth))
            assert client.response().status == 200

    seen = http_origin.wait_requests(len(names))
    hosts_per_conn = {}
    for r in seen:
        hosts_per_conn.setdefault(r.conn, set()).add(r.value("Host"))
    assert all(len(hosts) == 1 for hosts in hosts_per_conn.values()), hosts_per_conn
    assert len(hosts_per_conn) >= 3  # anthropic, replicate, anthropic again


def test_a_connection_close_request_ends_the_client_connection(http_proxy, http_origin):
    data = request("GET", origin_url(http_origin), fields=[("Connection", "close")],
                   auth=auth_field(http_proxy.user, http_proxy.password))

    with Client(http_proxy.port) as client:
        client.send(data)
        response = client.response()
        assert client.closed()

    assert response.status == 200


def test_http_1_0_client_without_keep_alive_gets_a_closed_connection(http_proxy, http_origin):
    data = request("GET", origin_url(http_origin, "/old"), version="HTTP/1.0",
                   auth=auth_field(http_proxy.user, http_proxy.password))

    with Client(http_proxy.port) as client:
        client.send(data)
        response = client.response()
        assert client.closed()

    assert response.status == 200 and response.body == describe("GET", "/old", b"")


# -- websocket -------------------------------------------------------------------------------

def websocket_handshake(client, proxy, origin):
    key = base64_key()
    client.send(request("GET", origin_url(origin, "/ws"),
                        auth=auth_field(proxy.user, proxy.password),
                        fields=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
    return key, client.response()


def base64_key():
    return base64.b64encode(secrets.token_bytes(16)).decode()


def test_websocket_upgrade_becomes_a_two_way_tunnel(http_proxy, http_origin):
    with Client(http_proxy.port) as client:
        key, response = websocket_handshake(client, http_proxy, http_origin)
        assert response.status == 101, (response.raw_head, response.body)
        assert response.values("Sec-WebSocket-Accept") == [ws_accept(key)]
        assert [v.lower() for v in response.values("Upgrade")] == ["websocket"]

        # The origin speaks first ...
        assert ws_read_frame(client.reader) == (True, 0x1, WS_GREETING)
        # ... then echoes what the client sends, small and large, text and binary.
        for opcode, payload in ((0x1, b"hello through sluice"), (0x2, os.urandom(200_000))):
            client.send(ws_frame(opcode, payload, mask=secrets.token_bytes(4)))
            assert ws_read_frame(client.reader) == (True, opcode, payload)
        client.send(ws_frame(0x8, b"\x03\xe8", mask=secrets.token_bytes(4)))
        assert ws_read_frame(client.reader) == (True, 0x8, b"\x03\xe8")
        assert client.closed()

    (seen,) = http_origin.wait_requests(1)
    assert seen.value("Upgrade").lower() == "websocket"
    assert "upgrade" in seen.value("Connection").lower()
    assert "proxy-authorization" not in seen.names
    http_proxy.wait_log(http_line_re(101, "GET", origin_url(http_origin, "/ws")))


def test_an_upgrade_other_than_websocket_is_not_forwarded(http_proxy, http_origin):
    data = request("GET", origin_url(http_origin, "/h2c"),
                   auth=auth_field(http_proxy.user, http_proxy.password),
                   fields=[("Upgrade", "h2c"), ("Connection", "Upgrade, HTTP2-Settings"),
                           ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")])

    response = one_exchange(http_proxy, data)

    assert response.status == 200
    (seen,) = http_origin.wait_requests(1)
    assert not seen.names & {"upgrade", "http2-settings"}, seen.raw_head


def test_websocket_to_a_denied_host_is_refused_before_any_upgrade(http_proxy, http_origin):
    key = base64_key()
    data = request("GET", origin_url(http_origin, "/ws", "www.google.com"),
                   auth=auth_field(http_proxy.user, http_proxy.password),
                   fields=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                           ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")])

    response = one_exchange(http_proxy, data)

    assert (response.status, response.error_code) == (403, "domain-denied")
    http_origin.sync()
    assert http_origin.connections == 0


def test_bytes_after_the_upgrade_request_wait_for_the_101(http_proxy, http_origin):
    # A client that sends its first frame together with the handshake: the frame must reach
    # the origin after the 101, as tunnel data, not be parsed as a next request.
    key = base64_key()
    frame = ws_frame(0x1, b"eager frame", mask=secrets.token_bytes(4))
    data = request("GET", origin_url(http_origin, "/ws"),
                   auth=auth_field(http_proxy.user, http_proxy.password),
                   fields=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                           ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")])

    with Client(http_proxy.port) as client:
        client.send(data + frame)
        response = client.response()
        assert response.status == 101
        assert ws_read_frame(client.reader) == (True, 0x1, WS_GREETING)
        assert ws_read_frame(client.reader) == (True, 0x1, b"eager frame")
        client.sock.shutdown(socket.SHUT_WR)
