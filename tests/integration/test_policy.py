# SPDX-License-Identifier: MIT
"""The allowlist: which names and ports may be reached. Every name used here is mapped to
127.0.0.1 by the hosts_file and allow_cidr covers 127.0.0.0/8, so a name the policy wrongly
let through would reach the echo origin and the test would see a 200."""

import re

import pytest

from helpers import assert_refusal, curl
from origins import echo_trailer
from proxyclient import connect, echo_through
from sluiceproc import denied_line_re, tunnel_line_re


def test_domain_not_on_the_allowlist_is_refused_403(proxy, origins):
    target = f"www.google.com:{origins.https_port}"

    reply = connect(proxy.port, target, proxy.user, proxy.password)

    assert_refusal(reply, 403, "domain-denied", host="www.google.com")
    proxy.wait_log(denied_line_re(403, target, "domain-denied", user="agent"))


def test_curl_is_told_why_it_was_refused(proxy, origins, pki):
    done = curl(proxy.url(), f"https://www.google.com:{origins.https_port}/", pki.ca_cert,
                "--verbose")

    assert done.returncode != 0, done.stdout
    assert "< HTTP/1.1 403" in done.stderr, done.stderr
    assert "< X-Sluice-Error: domain-denied" in done.stderr, done.stderr


def test_port_outside_connect_ports_is_refused_403(proxy):
    reply = connect(proxy.port, "api.anthropic.com:22", proxy.user, proxy.password)

    assert_refusal(reply, 403, "port-denied", host="api.anthropic.com")
    proxy.wait_log(denied_line_re(403, "api.anthropic.com:22", "port-denied"))


def test_the_domain_is_judged_before_the_port(proxy):
    reply = connect(proxy.port, "www.google.com:22", proxy.user, proxy.password)

    assert_refusal(reply, 403, "domain-denied", host="www.google.com")


def test_connect_ports_defaults_to_443(make_proxy, origins):
    # sni off: a tunnel to 443 is then dialled at once (behind the SNI check it would wait
    # for a ClientHello; test_sni.py covers that).
    proxy = make_proxy(connect_ports=None, extra=["sni off"])

    other = connect(proxy.port, f"api.anthropic.com:{origins.echo_port}", proxy.user,
                    proxy.password)
    assert_refusal(other, 403, "port-denied", host="api.anthropic.com")

    # 443 passes the policy; nothing listens on 127.0.0.1:443 in the test's namespace.
    https = connect(proxy.port, "api.anthropic.com:443", proxy.user, proxy.password)
    assert_refusal(https, 502, "connect-failed", host="api.anthropic.com")


PATTERNS = (".googleapis.com", "*.anthropic.com", "api.replicate.com")
PATTERN_CASES = [
    # (host as the client writes it, allowed?)
    ("googleapis.com", True),                      # .domain: the domain itself ...
    ("generativelanguage.googleapis.com", True),   # ... and its subdomains
    ("a.b.googleapis.com", True),
    ("evil-googleapis.com", False),                # not a subdomain
    ("googleapis.com.evil.test", False),
    ("api.anthropic.com", True),                   # *.domain: subdomains ...
    ("anthropic.com", False),                      # ... only
    ("notanthropic.com", False),
    ("api.replicate.com", True),                   # exact
    ("replicate.com", False),
    ("x.api.replicate.com", False),
    ("API.Anthropic.COM", True),                   # case-insensitive
    ("api.replicate.com.", True),                  # one trailing dot ignored
    ("GenerativeLanguage.GoogleAPIs.com.", True),
]


@pytest.mark.parametrize("host,allowed", PATTERN_CASES)
def test_allow_pattern_forms(make_proxy, origins, host, allowed):
    canonical = host.lower().rstrip(".")
    proxy = make_proxy(allow=PATTERNS, hosts={canonical: "127.0.0.1"})
    target = f"{host}:{origins.echo_port}"

    reply = connect(proxy.port, target, proxy.user, proxy.password)

    if allowed:
        assert reply.status == 200, f"{host} should be allowed: {reply.status} {reply.error_code}"
        assert echo_through(reply.sock, b"hi") == b"hi" + echo_trailer(2)
        reply.close()
        # The log names the host in its canonical form.
        proxy.wait_log(tunnel_line_re(f"{canonical}:{origins.echo_port}"))
    else:
        assert_refusal(reply, 403, "domain-denied", host=canonical)


def test_allow_file_adds_patterns(make_proxy, origins, tmp_path):
    patterns = tmp_path / "allowed-domains.txt"
    patterns.write_text("api.replicate.com\n.example.org\n")
    proxy = make_proxy(allow=None, extra=[f"allow_file {patterns}"],
                       hosts={"www.example.org": "127.0.0.1", "api.replicate.com": "127.0.0.1",
                              "api.anthropic.com": "127.0.0.1"})

    for host in ("www.example.org", "api.replicate.com"):
        reply = connect(proxy.port, f"{host}:{origins.echo_port}", proxy.user, proxy.password)
        assert reply.status == 200, f"{host}: {reply.status} {reply.error_code}"
        reply.close()
    denied = connect(proxy.port, f"api.anthropic.com:{origins.echo_port}", proxy.user,
                     proxy.password)
    assert_refusal(denied, 403, "domain-denied", host="api.anthropic.com")


@pytest.mark.parametrize("target", [
    pytest.param("api.anthropic.com@evil.test:443", id="at-sign"),
    pytest.param("evil.test@api.anthropic.com:443", id="userinfo"),
    pytest.param("api.anthropic.com%00.evil.test:443", id="percent-nul"),
    pytest.param("api.anthropic.com%2eevil.test:443", id="percent-dot"),
    pytest.param("api.anthropic.com#.evil.test:443", id="hash"),
    pytest.param("a" * 64 + ".anthropic.com:443", id="label-over-63"),
    pytest.param(".".join(["abcdefghij"] * 26) + ".com:443", id="name-over-253"),
    pytest.param("api.anthropic.com", id="no-port"),
    pytest.param("api.anthropic.com:", id="empty-port"),
    pytest.param("api.anthropic.com:99999", id="port-out-of-range"),
    pytest.param("api.anthropic.com:44x3", id="port-not-a-number"),
    pytest.param("[::1%25lo]:443", id="ipv6-zone-id"),
])
def test_malformed_host_is_refused_400(proxy, target):
    reply = connect(proxy.port, target, proxy.user, proxy.password)

    assert_refusal(reply, 400, "bad-request")
    assert not re.search(r"TCP_TUNNEL", proxy.log_text())


# ---- /etc/hosts, read by default like Squid ----

def etc_hosts_maps_localhost():
    with open("/etc/hosts") as f:
        return any(line.split()[:1] == ["127.0.0.1"] and "localhost" in line.split()[1:]
                   for line in f if not line.lstrip().startswith("#"))


def test_etc_hosts_is_read_when_no_hosts_file_is_named(make_proxy, origins):
    # The fake DNS server does not know "localhost": only /etc/hosts can answer it.
    assert etc_hosts_maps_localhost(), "this machine's /etc/hosts has no 127.0.0.1 localhost"
    proxy = make_proxy(hosts=None, allow=("localhost",))

    reply = connect(proxy.port, f"localhost:{origins.https_port}", proxy.user, proxy.password)
    if reply.sock is not None:
        reply.sock.close()

    assert reply.status == 200, (reply.status, reply.error_code)


def test_hosts_file_none_turns_etc_hosts_off(make_proxy, origins):
    proxy = make_proxy(hosts=None, allow=("localhost",), extra=("hosts_file none",))

    reply = connect(proxy.port, f"localhost:{origins.https_port}", proxy.user, proxy.password)

    assert_refusal(reply, 502, "dns-failed", host="localhost")


def test_etc_hosts_answers_still_obey_the_address_policy(make_proxy, origins):
    proxy = make_proxy(hosts=None, allow=("localhost",), allow_cidr=None)

    reply = connect(proxy.port, f"localhost:{origins.https_port}", proxy.user, proxy.password)

    assert_refusal(reply, 403, "address-denied", host="localhost")
