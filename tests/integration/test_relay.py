# SPDX-License-Identifier: MIT
"""The tunnel itself: every byte arrives in order in both directions, a half-close on one side
is passed on while the other direction keeps flowing, big transfers keep their SHA-256, many
tunnels run at once, and idle tunnels are closed."""

import asyncio
import hashlib
import os
import secrets
import socket
import threading
import time

import pytest

from origins import EARLY_EOF_GREETING, echo_trailer
from proxyclient import connect, connect_head, echo_through, recv_until_eof
from sluiceproc import tunnel_line_re

MB = 1 << 20


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def test_client_half_close_reaches_the_origin_and_the_answer_still_comes_back(proxy, origins):
    # The echo origin sends its trailer only after it has seen EOF: the proxy must pass the
    # client's shutdown(SHUT_WR) on, and keep the other direction open for the answer.
    target = f"api.anthropic.com:{origins.echo_port}"
    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert reply.status == 200
    payload = os.urandom(300_000)

    received = echo_through(reply.sock, payload)

    assert received == payload + echo_trailer(len(payload))
    reply.close()
    proxy.wait_log(tunnel_line_re(target))


def test_origin_half_close_reaches_the_client_and_the_upload_still_arrives(proxy, origins):
    target = f"api.anthropic.com:{origins.early_eof_port}"
    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert reply.status == 200
    sock = reply.sock

    # The origin sends its greeting and shuts down its sending side at once.
    assert recv_until_eof(sock, timeout=30) == EARLY_EOF_GREETING

    key = secrets.token_hex(8)
    payload = os.urandom(2 * MB)
    sock.sendall(f"{key}\n".encode() + payload)
    sock.shutdown(socket.SHUT_WR)
    expected = f"{len(payload)} {hashlib.sha256(payload).hexdigest()}"
    wait_until(lambda: key in origins.early_eof_received, 60, "the origin to read the upload")
    assert origins.early_eof_received[key] == expected
    reply.close()
    proxy.wait_log(tunnel_line_re(target))


@pytest.mark.slow
def test_100_mb_upload_arrives_with_the_same_sha256(proxy, origins):
    size = 100 * MB
    target = f"api.anthropic.com:{origins.sink_port}"
    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert reply.status == 200
    sock = reply.sock
    sock.settimeout(120)
    digest = hashlib.sha256()

    for _ in range(size // MB):
        chunk = os.urandom(MB)
        digest.update(chunk)
        sock.sendall(chunk)
    sock.shutdown(socket.SHUT_WR)
    answer = recv_until_eof(sock, timeout=120)

    assert answer.decode() == f"{size} {digest.hexdigest()}\n"
    reply.close()
    proxy.wait_log(tunnel_line_re(target))


@pytest.mark.slow
def test_100_mb_download_arrives_with_the_same_sha256(proxy, origins):
    size = 100 * MB
    target = f"api.anthropic.com:{origins.source_port}"
    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert reply.status == 200
    reply.sock.sendall(f"{size}\n".encode())

    # The source origin sends `size` random bytes, then their SHA-256 (32 bytes).
    data = recv_until_eof(reply.sock, timeout=120)

    assert len(data) == size + 32
    assert hashlib.sha256(memoryview(data)[:size]).digest() == data[size:]
    reply.close()
    (line,) = proxy.wait_log(tunnel_line_re(target))
    assert int(line["bytes"]) >= size + 32


@pytest.mark.slow
def test_32_mb_both_ways_at_once_through_the_echo_origin(proxy, origins):
    # Full duplex with back-pressure: the client writes while the echo comes back.
    target = f"api.anthropic.com:{origins.echo_port}"
    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert reply.status == 200
    sock = reply.sock
    sock.settimeout(120)
    payload = os.urandom(32 * MB)
    send_error = []

    def send():
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            send_error.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    received = recv_until_eof(sock, timeout=120)
    sender.join(120)

    assert not send_error, send_error
    assert len(received) == len(payload) + len(echo_trailer(len(payload)))
    assert received == payload + echo_trailer(len(payload))
    reply.close()


@pytest.mark.slow
def test_1000_concurrent_tunnels_all_complete(proxy, origins):
    count = 1000
    target = f"api.anthropic.com:{origins.echo_port}"
    head = connect_head(target, proxy.user, proxy.password)

    async def open_tunnel(gate):
        async with gate:  # limits connection set-up in flight, not open tunnels
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(head)
            await writer.drain()
            answer = await reader.readuntil(b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        return reader, writer

    async def exchange(i, reader, writer):
        payload = f"tunnel {i} of {count};".encode() * (1 + i % 97)
        writer.write(payload)
        await writer.drain()
        writer.write_eof()
        received = await reader.read()
        writer.close()
        return received == payload + echo_trailer(len(payload))

    async def run():
        gate = asyncio.Semaphore(100)
        tunnels = await asyncio.gather(*(open_tunnel(gate) for _ in range(count)))
        # Here all `count` tunnels are established and open at the same time.
        return await asyncio.gather(*(exchange(i, r, w) for i, (r, w) in enumerate(tunnels)))

    results = asyncio.run(asyncio.wait_for(run(), 240))

    assert results.count(True) == count, f"{results.count(False)} tunnels echoed wrong data"
    proxy.wait_log(tunnel_line_re(target), count=count, timeout=60)


def test_idle_tunnel_is_closed_after_idle_timeout(make_proxy, origins):
    proxy = make_proxy(extra=["idle_timeout 2s"])
    target = f"api.anthropic.com:{origins.echo_port}"
    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert reply.status == 200
    sock = reply.sock
    sock.settimeout(30)

    # A tunnel with traffic every 0.2 s stays open well past the idle timeout ...
    for i in range(15):
        message = f"still here {i}\n".encode()
        sock.sendall(message)
        echoed = b""
        while len(echoed) < len(message):
            chunk = sock.recv(len(message) - len(echoed))
            assert chunk, f"tunnel closed while in use (after {i} round trips)"
            echoed += chunk
        assert echoed == message
        time.sleep(0.2)

    # ... and once silent, the proxy closes it (EOF or reset here; no hang).
    recv_until_eof(sock, timeout=30)
    reply.close()
    proxy.wait_log(tunnel_line_re(target))
