# SPDX-License-Identifier: MIT
"""The address policy: where a name resolves (hosts_file, then DNS) decides whether it may be
dialled; refused address classes stay refused unless allow_cidr covers them; IP literals in
any spelling are addresses, allowed only by allow_cidr.

Tests that name a non-loopback address run the proxy, its DNS server, an echo listener and the
client inside a network namespace they create, with only `lo`. The "refused" address is put on
`lo` there with a listener behind it, so a proxy that dialled it anyway would be caught
connecting, and no packet could leave the machine either way."""

import json
import os
import sys

import pytest

from helpers import assert_refusal, curl, env_without_proxies
from origins import echo_trailer, https_greeting
from proxyclient import Reply, connect, echo_through
from sluiceproc import denied_line_re, tunnel_line_re

HERE = os.path.dirname(os.path.abspath(__file__))
PROXYCLIENT = os.path.join(HERE, "proxyclient.py")


def connect_in(netns, proxy, target, user=None, password=None):
    """CONNECT from inside `netns` (proxyclient.py run there); returns a Reply without
    a socket."""
    env = env_without_proxies()
    args = [sys.executable, PROXYCLIENT, "--proxy", f"127.0.0.1:{proxy.port}",
            "--target", target]
    if user:
        args += ["--user", user]
        env["SLUICE_TEST_PASSWORD"] = password
    done = netns.run(args, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    return Reply(status=result["status"], reason=result["reason"], headers=result["headers"],
                 body=result["body"].encode())


# -- inside a namespace of the test's own ------------------------------------------------------

@pytest.mark.netns
def test_allowed_name_resolving_to_the_metadata_address_is_refused(netns, make_proxy, tmp_path):
    assert netns.interfaces() == ["lo"]
    netns.add_address("169.254.169.254/32")
    trap = netns.start_echo("169.254.169.254", str(tmp_path), port=443)
    dns = netns.start_dns({}, str(tmp_path))
    proxy = make_proxy(netns=netns, dns_server=dns.address, connect_ports=(443,),
                       hosts={"api.anthropic.com": "169.254.169.254"})

    reply = connect_in(netns, proxy, "api.anthropic.com:443", proxy.user, proxy.password)

    assert_refusal(reply, 403, "address-denied", host="api.anthropic.com")
    # Never the advice to open it: the metadata service hands out the machine's credentials.
    assert "allow_cidr" not in reply.body.decode(), reply.body
    assert "metadata" in reply.body.decode(), reply.body
    proxy.wait_log(denied_line_re(403, "api.anthropic.com:443", "address-denied"))
    assert trap.accepted() == [], "the proxy connected to 169.254.169.254"


@pytest.mark.netns
def test_allowed_name_resolving_by_dns_to_a_private_address_is_refused(netns, make_proxy,
                                                                       tmp_path):
    name = "generativelanguage.googleapis.com"
    assert netns.interfaces() == ["lo"]
    netns.add_address("10.0.0.1/32")
    trap = netns.start_echo("10.0.0.1", str(tmp_path), port=443)
    dns = netns.start_dns({name: ["10.0.0.1"]}, str(tmp_path))
    proxy = make_proxy(netns=netns, dns_server=dns.address, connect_ports=(443,), hosts=None)

    reply = connect_in(netns, proxy, f"{name}:443", proxy.user, proxy.password)

    assert_refusal(reply, 403, "address-denied", host=name)
    assert "allow_cidr" in reply.body.decode(), reply.body  # a private address may be intended
    assert dns.wait_for_query(name), "the proxy never asked the DNS server"
    proxy.wait_log(denied_line_re(403, f"{name}:443", "address-denied"))
    assert trap.accepted() == [], "the proxy connected to 10.0.0.1"


@pytest.mark.netns
def test_only_the_permitted_addresses_of_a_name_are_dialled(netns, make_proxy, tmp_path):
    # DNS answers a refused and a permitted address; the tunnel must go to the permitted one
    # and the refused one must never see a connection.
    name = "api.replicate.com"
    netns.add_address("10.0.0.1/32")
    echo = netns.start_echo("0.0.0.0", str(tmp_path))  # answers on 127.0.0.1 and 10.0.0.1
    dns = netns.start_dns({name: ["10.0.0.1", "127.0.0.1"]}, str(tmp_path))
    proxy = make_proxy(netns=netns, dns_server=dns.address, connect_ports=(echo.port,),
                       hosts=None)

    for _ in range(3):
        reply = connect_in(netns, proxy, f"{name}:{echo.port}", proxy.user, proxy.password)
        assert reply.status == 200, f"{reply.status} {reply.error_code} {reply.body!r}"

    proxy.wait_log(tunnel_line_re(f"{name}:{echo.port}", upstream="127.0.0.1"), count=3)
    assert echo.accepted() and set(echo.accepted()) == {"127.0.0.1"}, echo.accepted()


@pytest.mark.netns
def test_allow_cidr_opens_a_refused_class(netns, make_proxy, tmp_path):
    name = "api.anthropic.com"
    netns.add_address("10.0.0.1/32")
    echo = netns.start_echo("10.0.0.1", str(tmp_path))
    dns = netns.start_dns({}, str(tmp_path))
    proxy = make_proxy(netns=netns, dns_server=dns.address, connect_ports=(echo.port,),
                       hosts={name: "10.0.0.1"}, allow_cidr=("10.0.0.0/8",))

    reply = connect_in(netns, proxy, f"{name}:{echo.port}", proxy.user, proxy.password)

    assert reply.status == 200, f"{reply.status} {reply.error_code} {reply.body!r}"
    proxy.wait_log(tunnel_line_re(f"{name}:{echo.port}", upstream="10.0.0.1"))
    assert echo.accepted() == ["10.0.0.1"]


@pytest.mark.netns
@pytest.mark.parametrize("literal", [
    "169.254.169.254",
    "169.254.43518",               # inet_aton a.b.c form
    "2852039166",                  # one number
    "0xa9.0xfe.0xa9.0xfe",         # hex parts
    "0251.0376.0251.0376",         # octal parts
    "[::ffff:169.254.169.254]",    # IPv4-mapped IPv6
    "[::ffff:a9fe:a9fe]",
    "[64:ff9b::169.254.169.254]",  # NAT64 well-known prefix
])
def test_ip_literal_of_a_refused_address_is_refused_in_any_spelling(netns, make_proxy,
                                                                    tmp_path, literal):
    netns.add_address("169.254.169.254/32")
    trap = netns.start_echo("169.254.169.254", str(tmp_path), port=443)
    dns = netns.start_dns({}, str(tmp_path))
    proxy = make_proxy(netns=netns, dns_server=dns.address, connect_ports=(443,))

    reply = connect_in(netns, proxy, f"{literal}:443", proxy.user, proxy.password)

    assert_refusal(reply, 403, "address-denied")
    assert trap.accepted() == [], f"the proxy connected to 169.254.169.254 for {literal}"


# -- loopback only -----------------------------------------------------------------------------

def test_name_resolving_to_loopback_is_refused_without_allow_cidr(make_proxy, origins, pki):
    proxy = make_proxy(allow_cidr=None)
    target = f"api.anthropic.com:{origins.https_port}"

    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert_refusal(reply, 403, "address-denied", host="api.anthropic.com")
    proxy.wait_log(denied_line_re(403, target, "address-denied"))

    done = curl(proxy.url(), f"https://{target}/", pki.ca_cert, "--verbose")
    assert done.returncode != 0
    assert "< X-Sluice-Error: address-denied" in done.stderr, done.stderr


LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "127.1",                 # inet_aton a.b form
    "127.0.1",               # a.b.c form
    "2130706433",            # one decimal number
    "0x7f000001",            # one hex number
    "017700000001",          # one octal number
    "0x7f.0.0.1",            # hex part
    "0177.0.0.01",           # octal parts
    "[::ffff:127.0.0.1]",    # IPv4-mapped IPv6
]


@pytest.mark.parametrize("literal", LOOPBACK_SPELLINGS)
def test_ip_literal_spelling_is_tunnelled_when_allow_cidr_covers_it(proxy, origins, literal):
    reply = connect(proxy.port, f"{literal}:{origins.echo_port}", proxy.user, proxy.password)

    assert reply.status == 200, f"{literal}: {reply.status} {reply.error_code} {reply.body!r}"
    payload = f"reached via {literal}".encode()
    assert echo_through(reply.sock, payload) == payload + echo_trailer(len(payload))
    reply.close()


@pytest.mark.parametrize("literal", LOOPBACK_SPELLINGS + ["[::1]"])
def test_ip_literal_spelling_is_refused_without_allow_cidr(make_proxy, origins, literal):
    proxy = make_proxy(allow_cidr=None)

    reply = connect(proxy.port, f"{literal}:{origins.echo_port}", proxy.user, proxy.password)

    assert_refusal(reply, 403, "address-denied")


def test_ipv6_loopback_literal_is_not_covered_by_an_ipv4_allow_cidr(proxy, origins):
    reply = connect(proxy.port, f"[::1]:{origins.echo_port}", proxy.user, proxy.password)

    assert_refusal(reply, 403, "address-denied")


def test_name_resolved_by_dns_is_tunnelled(make_proxy, origins, dns, pki):
    dns.set("api.replicate.com", ["127.0.0.1"])
    proxy = make_proxy(hosts=None)
    target = f"api.replicate.com:{origins.https_port}"

    done = curl(proxy.url(), f"https://{target}/", pki.ca_cert)

    assert done.returncode == 0, done.stderr
    assert done.stdout == https_greeting("api.replicate.com", target, "/")
    assert "api.replicate.com" in dns.queried_names()
    proxy.wait_log(tunnel_line_re(target, upstream="127.0.0.1"))


def test_hosts_file_is_consulted_before_dns(make_proxy, origins, dns):
    # DNS says 127.0.0.2 (nothing listens there), the hosts_file says 127.0.0.1 (the origin).
    dns.set("api.anthropic.com", ["127.0.0.2"])
    proxy = make_proxy(hosts={"api.anthropic.com": "127.0.0.1"})
    target = f"api.anthropic.com:{origins.echo_port}"

    reply = connect(proxy.port, target, proxy.user, proxy.password)

    assert reply.status == 200, f"{reply.status} {reply.error_code} {reply.body!r}"
    assert echo_through(reply.sock, b"hosts") == b"hosts" + echo_trailer(5)
    reply.close()
    proxy.wait_log(tunnel_line_re(target, upstream="127.0.0.1"))


def test_unknown_name_is_502_dns_failed(make_proxy, origins, dns):
    # The fake DNS server answers NXDOMAIN for every name it does not know.
    proxy = make_proxy(hosts=None)
    target = f"api.replicate.com:{origins.https_port}"

    reply = connect(proxy.port, target, proxy.user, proxy.password)

    assert_refusal(reply, 502, "dns-failed", host="api.replicate.com")
    assert "api.replicate.com" in dns.queried_names()


def test_name_with_no_address_records_is_502_dns_failed(make_proxy, origins, dns):
    dns.set("api.replicate.com", [])  # NOERROR, no A/AAAA: "no data"
    proxy = make_proxy(hosts=None)

    reply = connect(proxy.port, f"api.replicate.com:{origins.https_port}", proxy.user,
                    proxy.password)

    assert_refusal(reply, 502, "dns-failed", host="api.replicate.com")
