# SPDX-License-Identifier: MIT
"""What a client is told when something other than the policy goes wrong: the origin is down or
does not answer, the request head is too large, malformed or never finished, or the proxy is
full. The proxy keeps serving afterwards."""

import select
import socket
import time

import pytest

from helpers import assert_refusal
from origins import echo_trailer
from proxyclient import (basic_credentials, connect, connect_head, echo_through,
                         recv_until_eof, send_head)


def assert_still_serving(proxy, origins):
    reply = connect(proxy.port, f"api.anthropic.com:{origins.echo_port}", proxy.user,
                    proxy.password)
    assert reply.status == 200, f"proxy no longer serves: {reply.status} {reply.error_code}"
    assert echo_through(reply.sock, b"alive") == b"alive" + echo_trailer(5)
    reply.close()


def closed_port():
    """A loopback port with no listener (bound once by the kernel, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unanswering_port():
    """A loopback port whose listener never accepts and whose accept queue is full, so a new
    SYN is dropped and connect() hangs — an origin that does not answer, without leaving
    loopback."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        # With a backlog of 0 the queue holds one connection; fill it, then check that the
        # next connection attempt really stays pending.
        first = socket.create_connection(("127.0.0.1", port), timeout=10)
        fillers.append(first)
        probe = socket.socket()
        probe.setblocking(False)
        probe.connect_ex(("127.0.0.1", port))
        fillers.append(probe)
        _, writable, _ = select.select([], [probe], [], 1.5)
        if writable and probe.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            pytest.fail("could not fill the accept queue: a second connection completed")
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()


def test_origin_refusing_connections_is_502_connect_failed(make_proxy, origins):
    port = closed_port()
    proxy = make_proxy(connect_ports=(port, origins.echo_port))

    reply = connect(proxy.port, f"api.anthropic.com:{port}", proxy.user, proxy.password)

    assert_refusal(reply, 502, "connect-failed", host="api.anthropic.com")
    assert_still_serving(proxy, origins)


def test_origin_not_answering_is_504_connect_timeout(make_proxy, origins, unanswering_port):
    proxy = make_proxy(connect_ports=(unanswering_port, origins.echo_port),
                       extra=["connect_timeout 1s"])

    reply = connect(proxy.port, f"api.anthropic.com:{unanswering_port}", proxy.user,
                    proxy.password, timeout=60)

    assert_refusal(reply, 504, "connect-timeout", host="api.anthropic.com")
    assert_still_serving(proxy, origins)


def test_request_head_over_64_kib_is_431(proxy, origins):
    # A complete head of about 68 KiB (one big header), sent at once.
    target = f"api.anthropic.com:{origins.echo_port}"
    padding = "x" * (68 * 1024)
    head = connect_head(target, proxy.user, proxy.password, extra_headers=[f"X-Pad: {padding}"])

    reply = send_head(proxy.port, head)

    assert_refusal(reply, 431, "header-too-large")
    assert_still_serving(proxy, origins)


def test_request_head_under_64_kib_is_accepted(proxy, origins):
    target = f"api.anthropic.com:{origins.echo_port}"
    head = connect_head(target, proxy.user, proxy.password,
                        extra_headers=[f"X-Pad-{i}: {'y' * 1000}" for i in range(57)])
    assert 56 * 1024 < len(head) < 60 * 1024

    reply = send_head(proxy.port, head)

    assert reply.status == 200, f"{reply.status} {reply.error_code}"
    assert echo_through(reply.sock, b"big head") == b"big head" + echo_trailer(8)
    reply.close()


@pytest.mark.parametrize("head", [
    b"this is not http\r\n{auth}\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32) + b"\r\n\r\n",  # TLS hello
    b"CONNECT api.anthropic.com:443 HTTP/1.1\r\n{auth}Host api.anthropic.com\r\n\r\n",
    b"CONNECT  HTTP/1.1\r\n{auth}Host: x\r\n\r\n",
    b"CONNECT api.anthropic.com:443 HTTP/1.1\r\n{auth}Host: a\r\n\x00Bad: header\r\n\r\n",
], ids=["words", "tls-client-hello", "header-without-colon", "no-target", "nul-in-header"])
def test_malformed_request_is_400(proxy, origins, head):
    # With valid credentials, so that only the malformation can be the reason.
    auth = f"Proxy-Authorization: {basic_credentials(proxy.user, proxy.password)}\r\n"
    reply = send_head(proxy.port, head.replace(b"{auth}", auth.encode()))

    assert_refusal(reply, 400, "bad-request")
    assert_still_serving(proxy, origins)


def test_unfinished_request_head_is_dropped_after_header_timeout(make_proxy, origins):
    proxy = make_proxy(extra=["header_timeout 1s"])
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    sock.sendall(b"CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anth")

    # The proxy must close the connection (it may say why first); the client never gets a
    # tunnel. Without a header timeout this would wait for the 30 s limit and fail.
    leftover = recv_until_eof(sock, timeout=30)
    sock.close()

    assert not leftover.startswith(b"HTTP/1.1 200"), leftover[:200]
    assert_still_serving(proxy, origins)


def test_client_vanishing_mid_request_does_not_hurt_the_proxy(proxy, origins):
    for fragment in (b"", b"CONN", b"CONNECT api.anthropic.com:443 HTTP/1.1\r\n"):
        sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        sock.sendall(fragment)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # with linger 0: a reset
    assert_still_serving(proxy, origins)


def test_connections_beyond_max_connections_get_503(make_proxy, origins):
    proxy = make_proxy(extra=["max_connections 2"])
    target = f"api.anthropic.com:{origins.echo_port}"
    first = connect(proxy.port, target, proxy.user, proxy.password)
    second = connect(proxy.port, target, proxy.user, proxy.password)
    assert (first.status, second.status) == (200, 200)

    third = connect(proxy.port, target, proxy.user, proxy.password)
    assert_refusal(third, 503, "too-many-connections")

    # Once a tunnel is done there is room again (the close is asynchronous: retry briefly).
    assert echo_through(first.sock, b"done") == b"done" + echo_trailer(4)
    first.close()
    deadline = time.monotonic() + 20
    while True:
        again = connect(proxy.port, target, proxy.user, proxy.password)
        if again.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert again.status == 200, f"still refused after a tunnel closed: {again.error_code}"
    again.close()
    second.close()

