# SPDX-License-Identifier: MIT
"""The access log: `access_log_format json` writes one JSON object per transaction with the
documented fields and the right values for a tunnel, a refusal, a failure and a plain-HTTP
exchange; and neither the JSON nor the default Squid format ever contains a password, a
Basic token or any other Authorization value."""

import base64
import json
import re
import secrets
import socket
import time

import pytest

from opsutil import free_port
from origins import echo_trailer
from proxyclient import basic_credentials, connect, connect_head, echo_through, send_head
from rawhttp import Client, auth_field, request

FIELDS = {"ts", "client", "user", "method", "url", "host", "port", "decision", "reason",
          "status", "bytes_to_client", "bytes_from_client", "duration_ms", "dns_ms",
          "connect_ms", "upstream", "mime", "tls", "auth", "policy",
          "report", "sni"}


def parsed_lines(proxy, count):
    """Wait for `count` log lines; each must be one JSON object with exactly FIELDS."""
    proxy.wait_log(r"^\{", count=count)
    entries = []
    for line in proxy.log_lines():
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise AssertionError(f"not JSON ({exc}): {line!r}") from None
        assert isinstance(entry, dict), line
        assert set(entry) == FIELDS, f"fields differ: {sorted(set(entry) ^ FIELDS)} in {line}"
        entries.append(entry)
    assert len(entries) == count, [json.dumps(e) for e in entries]
    return entries


def find(entries, **want):
    found = [e for e in entries if all(e[k] == v for k, v in want.items())]
    assert len(found) == 1, f"{len(found)} lines with {want}: {entries}"
    return found[0]


def is_ms(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def test_json_log_lines_carry_the_documented_fields_with_correct_values(
        make_proxy, origins, dns, http_origin, credentials):
    dns.set("dns.ops.test", ["127.0.0.1"])
    closed_port = free_port()  # allowed, but nothing listens there
    echo = origins.echo_port
    proxy = make_proxy(allow=("api.anthropic.com", "dns.ops.test", "api.replicate.com"),
                       connect_ports=(443, echo, closed_port),
                       extra=["access_log_format json", f"http_ports {http_origin.port}"])
    agent = (credentials.user, credentials.password)
    started = time.time()

    # 1. A tunnel to a name from the hosts_file (no DNS lookup).
    payload = secrets.token_bytes(5000)
    reply = connect(proxy.port, f"api.anthropic.com:{echo}", *agent)
    assert reply.status == 200
    echoed = echo_through(reply.sock, payload)
    assert echoed == payload + echo_trailer(len(payload))
    tunnel_head = len(reply.raw_head)
    reply.close()
    # 2. A tunnel to a name only the (fake) DNS server knows.
    reply = connect(proxy.port, f"dns.ops.test:{echo}", *agent)
    assert reply.status == 200
    echo_through(reply.sock, b"via dns")
    reply.close()
    # 3. A refusal by the allowlist, 4. one for missing credentials.
    assert connect(proxy.port, "www.google.com:443", *agent).status == 403
    assert connect(proxy.port, "www.google.com:443").status == 407
    # 5. A failure: the destination is allowed but refuses the connection.
    assert connect(proxy.port, f"api.replicate.com:{closed_port}", *agent).status == 502
    # 6. Plain HTTP: a GET and a POST on one connection.
    base = f"http://api.anthropic.com:{http_origin.port}"
    body = secrets.token_bytes(700)
    with Client(proxy.port) as client:
        client.send(request("GET", f"{base}/page.html", auth=auth_field(*agent)))
        got = client.response()
        assert got.status == 200
        client.send(request("POST", f"{base}/upload", auth=auth_field(*agent), body=body))
        posted = client.response()
        assert posted.status == 200

    entries = parsed_lines(proxy, 7)
    finished = time.time()

    for e in entries:
        assert e["client"] == "127.0.0.1"
        assert isinstance(e["ts"], (int, float)) and started - 1 <= e["ts"] <= finished + 1, e
        assert is_ms(e["duration_ms"]), e
        assert e["decision"] in ("allowed", "denied", "failed"), e

    tunnel = find(entries, method="CONNECT", host="api.anthropic.com")
    assert tunnel | {"ts": 0, "duration_ms": 0, "connect_ms": 0} == {
        "ts": 0, "client": "127.0.0.1", "user": "agent", "method": "CONNECT",
        "url": f"api.anthropic.com:{echo}", "host": "api.anthropic.com", "port": echo,
        "decision": "allowed", "reason": None, "status": 200,
        "bytes_to_client": tunnel_head + len(echoed), "bytes_from_client": len(payload),
        "duration_ms": 0, "dns_ms": None, "connect_ms": 0, "upstream": "127.0.0.1",
        "mime": None, "tls": None, "auth": "password", "policy": "default",
        "report": None, "sni": None}
    assert is_ms(tunnel["connect_ms"])

    via_dns = find(entries, method="CONNECT", host="dns.ops.test")
    assert is_ms(via_dns["dns_ms"]) and is_ms(via_dns["connect_ms"]), via_dns
    assert (via_dns["decision"], via_dns["status"], via_dns["upstream"]) == \
        ("allowed", 200, "127.0.0.1")
    assert via_dns["bytes_from_client"] == len(b"via dns")

    denied = find(entries, host="www.google.com", status=403)
    assert (denied["user"], denied["decision"], denied["reason"], denied["upstream"],
            denied["dns_ms"], denied["connect_ms"], denied["port"], denied["url"]) == \
        ("agent", "denied", "domain-denied", None, None, None, 443, "www.google.com:443")
    assert denied["bytes_from_client"] == 0 and denied["bytes_to_client"] > 0

    unauthenticated = find(entries, host="www.google.com", status=407)
    assert unauthenticated["user"] in (None, "-"), unauthenticated
    assert (unauthenticated["decision"], unauthenticated["reason"]) == \
        ("denied", "auth-required")

    failed = find(entries, host="api.replicate.com")
    assert (failed["decision"], failed["reason"], failed["status"], failed["port"]) == \
        ("failed", "connect-failed", 502, closed_port)

    get = find(entries, method="GET")
    assert (get["url"], get["host"], get["port"], get["user"], get["decision"],
            get["reason"], get["status"], get["upstream"], get["mime"], get["dns_ms"]) == \
        (f"{base}/page.html", "api.anthropic.com", http_origin.port, "agent", "allowed",
         None, 200, "127.0.0.1", "text/html", None)
    assert get["bytes_to_client"] == len(got.raw_head) + len(got.raw_body)

    post = find(entries, method="POST")
    assert (post["url"], post["status"], post["mime"]) == (f"{base}/upload", 200,
                                                           "text/plain")
    assert post["bytes_to_client"] == len(posted.raw_head) + len(posted.raw_body)
    assert post["bytes_from_client"] >= len(body)


# -- no secrets in either format -----------------------------------------------------------------

@pytest.fixture(params=["squid", "json"])
def log_format_proxy(request, make_proxy, http_origin):
    return make_proxy(extra=[f"access_log_format {request.param}",
                             f"http_ports {http_origin.port}"])


def test_no_password_or_authorization_value_in_either_log_format(
        log_format_proxy, origins, http_origin, credentials):
    proxy = log_format_proxy
    agent = (credentials.user, credentials.password)
    wrong = "wrong-" + secrets.token_urlsafe(12)
    origin_password = secrets.token_urlsafe(12)
    origin_basic = base64.b64encode(f"origin-user:{origin_password}".encode()).decode()
    bearer = "sk-test-" + secrets.token_urlsafe(24)
    forbidden = [credentials.password, basic_credentials(*agent).split()[1], wrong,
                 basic_credentials(credentials.user, wrong).split()[1], origin_password,
                 origin_basic, bearer]
    proxy.secrets += forbidden
    echo = origins.echo_port

    reply = connect(proxy.port, f"api.anthropic.com:{echo}", *agent)
    echo_through(reply.sock, b"allowed")
    reply.close()
    assert connect(proxy.port, f"api.anthropic.com:{echo}", credentials.user, wrong).status \
        == 407
    assert connect(proxy.port, f"api.anthropic.com:{echo}", "nobody-here", wrong).status == 407
    assert connect(proxy.port, "www.google.com:443", *agent).status == 403
    url = f"http://api.anthropic.com:{http_origin.port}"
    with Client(proxy.port) as client:
        client.send(request("GET", f"{url}/basic", auth=auth_field(*agent),
                            fields=[("Authorization", f"Basic {origin_basic}")]))
        assert client.response().status == 200
        client.send(request("GET", f"{url}/bearer", auth=auth_field(*agent),
                            fields=[("Authorization", f"Bearer {bearer}")]))
        assert client.response().status == 200
    # The origin did get its own Authorization values: they were there to be logged.
    assert [r.value("authorization") for r in http_origin.requests] == \
        [f"Basic {origin_basic}", f"Bearer {bearer}"]

    lines = proxy.wait_log(r"\S", count=6)
    assert len(lines) == 6
    text = proxy.log_text()
    for secret in forbidden:
        assert secret not in text, "a secret is in the access log"
    assert "Basic " not in text and "Bearer " not in text, text


@pytest.mark.parametrize("method, target", [
    ("GET", "http://bob:{secret}@api.anthropic.com:{port}/page"),
    ("CONNECT", "carol:{secret}@api.anthropic.com:{port}"),
], ids=["absolute-url", "connect-authority"])
def test_credentials_in_a_request_target_are_not_logged(log_format_proxy, http_origin,
                                                       credentials, method, target):
    # Some clients put credentials into the URL itself; whatever sluice answers, the access
    # log must not keep the password.
    proxy = log_format_proxy
    secret = "url-" + secrets.token_urlsafe(12)  # checked here, not again at teardown
    target = target.format(secret=secret, port=http_origin.port)
    head = (f"{method} {target} HTTP/1.1\r\nHost: api.anthropic.com\r\n".encode()
            + auth_field(credentials.user, credentials.password) + b"\r\n")

    reply = send_head(proxy.port, head)
    reply.close()

    assert reply.status in (400, 403), reply.status
    proxy.wait_log(r"\S")
    assert secret not in proxy.log_text(), \
        f"the password of a request URL is in the access log:\n{proxy.log_text()}"


# ---- -d traces every decision ----

def debug_lines(proxy, conn_id):
    return [line.split(": ", 2)[2] for line in proxy.stderr().splitlines()
            if line.startswith(f"sluice: conn {conn_id}: ")]


def test_debug_traces_each_decision_of_a_tunnel_and_a_refusal(make_proxy, origins):
    proxy = make_proxy(start=False, extra=("workers 1",))
    proxy.args = ["-d"]
    proxy.start()
    target = f"api.anthropic.com:{origins.echo_port}"

    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(connect_head(target, proxy.user, proxy.password))
        assert s.recv(100).startswith(b"HTTP/1.1 200")
    refused = connect(proxy.port, f"www.google.com:{origins.echo_port}", proxy.user,
                      proxy.password)
    assert refused.status == 403
    proxy.wait_stderr(r"^sluice: conn 2: closed:")
    proxy.wait_stderr(r"^sluice: conn 1: closed:")  # the tunnel ends when its EOF is seen

    first = debug_lines(proxy, 1)
    assert first[0].startswith("accepted from 127.0.0.1:"), first
    assert first[1:4] == [f"request CONNECT {target}", "auth: checking the password",
                          f"auth: user {proxy.user}"], first
    assert first[4] == (f"policy: allowed by allow api.anthropic.com, port "
                        f"{origins.echo_port} in connect_ports"), first
    assert first[5:7] == ["address 127.0.0.1: kept", f"dialling 127.0.0.1:{origins.echo_port}"]
    assert re.match(r"connected after \d+ ms$", first[7]), first
    assert re.match(r"closed: \d+ bytes to the client, \d+ to the destination$", first[8]), first
    second = debug_lines(proxy, 2)
    assert f"auth: user {proxy.user} (cached)" in second, second
    assert "answer 403 domain-denied: no allow pattern matches www.google.com" in second, second
    assert second[-1].endswith("domain-denied"), second


def test_without_debug_nothing_is_traced(proxy, origins):
    assert connect(proxy.port, f"www.google.com:{origins.echo_port}", proxy.user,
                   proxy.password).status == 403
    proxy.wait_log(r"domain-denied")

    assert "conn 1:" not in proxy.stderr()
