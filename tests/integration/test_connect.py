# SPDX-License-Identifier: MIT
"""Allowed CONNECTs: the seed's three domains reach their (loopback) origins through sluice,
and each tunnel leaves one Squid-format access-log line naming the user."""

import time

import pytest

from helpers import curl
from origins import echo_trailer, https_greeting
from proxyclient import connect, echo_through, recv_until_eof
from sluiceproc import SEED_DOMAINS, tunnel_line_re


@pytest.mark.parametrize("name", SEED_DOMAINS)
def test_seed_domain_is_tunnelled_and_logged_with_the_user(proxy, origins, pki, name):
    target = f"{name}:{origins.https_port}"

    done = curl(proxy.url(), f"https://{target}/v1/models", pki.ca_cert)

    assert done.returncode == 0, done.stderr
    assert done.stdout == https_greeting(name, target, "/v1/models")
    proxy.wait_log(tunnel_line_re(target, user="agent", upstream="127.0.0.1"))


def test_tunnel_log_line_has_current_time_and_bytes_sent_to_the_client(proxy, origins):
    size = 200_000
    target = f"api.anthropic.com:{origins.source_port}"
    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert reply.status == 200, reply
    reply.sock.sendall(f"{size}\n".encode())
    received = recv_until_eof(reply.sock)
    reply.close()
    assert len(received) == size + 32

    (line,) = proxy.wait_log(tunnel_line_re(target))

    # %ts.%03tu is the Unix time of the request: a wrong clock or unit shows up here.
    assert abs(float(line["ts"]) - time.time()) < 600, line.string
    # %<st counts what went to the client (origin -> client), not the tiny upload.
    assert size + 32 <= int(line["bytes"]) <= size + 32 + 512, line.string


def test_access_log_can_go_to_stdout(make_proxy, origins):
    proxy = make_proxy(access_log="stdout")
    target = f"api.anthropic.com:{origins.echo_port}"
    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert reply.status == 200
    assert echo_through(reply.sock, b"ping") == b"ping" + echo_trailer(4)
    reply.close()

    proxy.wait_log(tunnel_line_re(target))  # log_text() reads stdout for "stdout"


def test_ipv4_and_ipv6_listeners_both_serve(make_proxy, origins, pki):
    proxy = make_proxy(listen=("127.0.0.1:0", "[::1]:0"))
    hosts = sorted(host for host, _ in proxy.listeners)
    assert hosts == ["127.0.0.1", "::1"], proxy.listeners
    target = f"api.anthropic.com:{origins.https_port}"

    for host, port in proxy.listeners:
        done = curl(proxy.url(host=host, port=port), f"https://{target}/", pki.ca_cert)
        assert done.returncode == 0, f"via {host}: {done.stderr}"
        assert done.stdout == https_greeting("api.anthropic.com", target, "/")

    proxy.wait_log(tunnel_line_re(target, client="127.0.0.1"))
    proxy.wait_log(tunnel_line_re(target, client="::1"))


def test_relative_paths_in_the_config_resolve_against_its_directory(make_proxy, origins, pki):
    # users, hosts_file and access_log are named relative to the config file; the proxy runs
    # with "/" as its working directory.
    proxy = make_proxy(relative_paths=True)
    target = f"generativelanguage.googleapis.com:{origins.https_port}"

    done = curl(proxy.url(), f"https://{target}/", pki.ca_cert)

    assert done.returncode == 0, done.stderr
    proxy.wait_log(tunnel_line_re(target))


def test_without_a_users_file_no_credentials_are_asked(make_proxy, origins):
    proxy = make_proxy(users=None)
    target = f"api.replicate.com:{origins.echo_port}"

    reply = connect(proxy.port, target)  # no Proxy-Authorization at all

    assert reply.status == 200, reply
    assert echo_through(reply.sock, b"anonymous") == b"anonymous" + echo_trailer(9)
    reply.close()
    proxy.wait_log(tunnel_line_re(target, user="-"))


def test_many_tunnels_one_after_another_on_one_proxy(proxy, origins):
    target = f"api.anthropic.com:{origins.echo_port}"
    for i in range(50):
        payload = f"request {i}\n".encode()
        reply = connect(proxy.port, target, proxy.user, proxy.password)
        assert reply.status == 200, f"tunnel {i}: {reply}"
        assert echo_through(reply.sock, payload) == payload + echo_trailer(len(payload))
        reply.close()
    proxy.wait_log(tunnel_line_re(target), count=50)
