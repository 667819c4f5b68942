# SPDX-License-Identifier: MIT
"""The admin listener (`admin_listen`): /metrics in the Prometheus text format, checked by
Debian's promtool and cross-checked line by line against the access log after a mixed
workload on two workers; /healthz answering 503 while a SIGTERM drains; admin_users; and the
configuration checks that keep the admin listener off proxy ports and off public addresses
without a password."""

import base64
import http.client
import json
import re
import signal
import socket
import subprocess
import time
from collections import Counter

import pytest

from opsutil import edit_config, wait_reload
from origins import echo_trailer
from proxyclient import connect, echo_through
from rawhttp import Client, auth_field, request

ADMIN_RE = re.compile(r"^sluice: admin listener on ([0-9.]+):(\d+) ")
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def admin_port(proxy):
    for line in proxy.stderr().splitlines():
        m = ADMIN_RE.match(line)
        if m:
            return int(m.group(2))
    raise AssertionError(f"no 'admin listener on' line in sluice's stderr:\n{proxy.stderr()}")


def admin_get(proxy, path, *, auth=None, method="GET"):
    """(status, headers, body) of one request to the admin listener."""
    conn = http.client.HTTPConnection("127.0.0.1", admin_port(proxy), timeout=30)
    headers = {}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} of every sample."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(LABEL_RE.findall(m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def metric_sum(samples, name, **want):
    return sum(v for (n, labels), v in samples.items()
               if n == name and all((k, str(w)) in labels for k, w in want.items()))


def scrape(proxy, auth=None):
    status, headers, body = admin_get(proxy, "/metrics", auth=auth)
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain; version=0.0.4"), headers
    return body.decode()


def promtool_check(text):
    done = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, f"promtool check metrics:\n{done.stdout}{done.stderr}\n{text}"


def admin_proxy(make_proxy, *extra, workers=2):
    return make_proxy(extra=[f"workers {workers}", "admin_listen 127.0.0.1:0",
                             "access_log_format json", *extra])


def json_log(proxy, count):
    """The first `count` JSON records of the access log, waiting for them."""
    deadline = time.monotonic() + 20
    while True:
        lines = proxy.log_lines()
        if len(lines) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) == count, f"expected {count} log lines, got {len(lines)}:\n" + \
        "\n".join(lines)
    return [json.loads(line) for line in lines]


# -- /metrics ----------------------------------------------------------------------------------

def test_metrics_pass_promtool_and_agree_with_the_access_log(make_proxy, origins, http_origin):
    proxy = admin_proxy(make_proxy, f"http_ports {http_origin.port}")
    echo = f"api.anthropic.com:{origins.echo_port}"
    kinds = Counter()
    for i in range(6):  # tunnels that carry bytes both ways
        reply = connect(proxy.port, echo, proxy.user, proxy.password)
        assert reply.status == 200
        payload = b"x" * (1000 + i)
        assert echo_through(reply.sock, payload) == payload + echo_trailer(len(payload))
        reply.close()
    for _ in range(4):  # a domain outside the allowlist
        assert connect(proxy.port, "www.google.com:443", proxy.user,
                       proxy.password).status == 403
    for _ in range(3):  # a wrong password
        assert connect(proxy.port, echo, proxy.user, "not-the-password").status == 407
    for _ in range(2):  # no credentials
        assert connect(proxy.port, echo).status == 407
    for _ in range(5):  # plain HTTP through the proxy
        with Client(proxy.port) as c:
            c.send(request("GET", f"http://api.anthropic.com:{http_origin.port}/x",
                           auth=auth_field(proxy.user, proxy.password)))
            assert c.response().status == 200
    records = json_log(proxy, 20)
    text = scrape(proxy)
    promtool_check(text)
    samples = parse_metrics(text)

    # Every record is counted once, under its method, decision and reason.
    for rec in records:
        kinds[(rec["method"], rec["decision"], rec["reason"] or "none")] += 1
    assert kinds == {("CONNECT", "allowed", "none"): 6, ("CONNECT", "denied", "domain-denied"): 4,
                     ("CONNECT", "denied", "auth-failed"): 3,
                     ("CONNECT", "denied", "auth-required"): 2, ("GET", "allowed", "none"): 5}
    for (method, decision, reason), n in kinds.items():
        assert metric_sum(samples, "sluice_requests_total", method=method, decision=decision,
                          reason=reason, policy="default") == n, (method, decision, reason)
    assert metric_sum(samples, "sluice_requests_total") == len(records)
    # Bytes, as the log counts them.
    assert metric_sum(samples, "sluice_bytes_total", direction="download") == \
        sum(r["bytes_to_client"] for r in records)
    assert metric_sum(samples, "sluice_bytes_total", direction="upload") == \
        sum(r["bytes_from_client"] for r in records)
    # One DNS and one connect observation per record that has a time for it.
    assert samples[("sluice_dns_duration_seconds_count", frozenset())] == \
        sum(1 for r in records if r["dns_ms"] is not None)
    assert samples[("sluice_connect_duration_seconds_count", frozenset())] == \
        sum(1 for r in records if r["connect_ms"] is not None)
    assert samples[("sluice_dns_duration_seconds_bucket", frozenset({("le", "+Inf")}))] == \
        samples[("sluice_dns_duration_seconds_count", frozenset())]
    # Password checks: the right one is hashed once, then cached; wrong ones fail.
    assert metric_sum(samples, "sluice_auth_checks_total", result="failed") == 3
    assert metric_sum(samples, "sluice_auth_checks_total", result="ok") + \
        metric_sum(samples, "sluice_auth_checks_total", result="cached") == 6 + 4 + 5
    assert metric_sum(samples, "sluice_auth_checks_total", result="ok") >= 1
    assert samples[("sluice_tunnels_active", frozenset({("policy", "default")}))] == 0
    assert samples[("sluice_config_generation", frozenset())] == 1
    assert samples[("sluice_log_dropped_lines_total", frozenset())] == 0
    assert samples[("process_open_fds", frozenset())] > 0
    assert samples[("process_resident_memory_bytes", frozenset())] > 1e6
    assert abs(samples[("process_start_time_seconds", frozenset())] - time.time()) < 600
    build = [labels for (n, labels) in samples if n == "sluice_build_info"]
    assert len(build) == 1 and dict(build[0])["version"], build


def test_labels_stay_bounded_whatever_clients_send(make_proxy, origins):
    proxy = admin_proxy(make_proxy)
    hostile = ["evil-%d.example:443" % i for i in range(20)] + ["xn--80ak6aa92e.example:443"]
    for target in hostile:
        assert connect(proxy.port, target, proxy.user, proxy.password).status == 403
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
        s.sendall(b"PROPFIND http://x.example/ HTTP/1.1\r\nHost: x.example\r\n"
                  + auth_field(proxy.user, proxy.password) + b"\r\n")
        s.recv(4096)
    json_log(proxy, len(hostile) + 1)
    text = scrape(proxy)
    promtool_check(text)
    assert "evil-" not in text and "example" not in text and "127.0.0.1" not in text
    samples = parse_metrics(text)
    assert metric_sum(samples, "sluice_requests_total", reason="domain-denied") == len(hostile) + 1
    assert metric_sum(samples, "sluice_requests_total", method="other") == 1


def test_tunnels_active_follows_open_tunnels(make_proxy, origins):
    proxy = admin_proxy(make_proxy)
    echo = f"api.anthropic.com:{origins.echo_port}"
    open_ = [connect(proxy.port, echo, proxy.user, proxy.password) for _ in range(3)]
    assert all(r.status == 200 for r in open_)
    samples = parse_metrics(scrape(proxy))
    assert samples[("sluice_tunnels_active", frozenset({("policy", "default")}))] == 3
    assert samples[("sluice_connections_active", frozenset())] == 3
    for r in open_:
        assert echo_through(r.sock, b"bye") == b"bye" + echo_trailer(3)
        r.close()
    json_log(proxy, 3)
    samples = parse_metrics(scrape(proxy))
    assert samples[("sluice_tunnels_active", frozenset({("policy", "default")}))] == 0


def test_reloads_are_counted_by_result(make_proxy):
    proxy = admin_proxy(make_proxy, workers=1)
    edit_config(proxy.config_path, {"idle_timeout": ["5m"]})
    proxy.send_signal(signal.SIGHUP)
    wait_reload(proxy, 0)
    with open(proxy.config_path, "a") as f:
        f.write("no_such_directive here\n")
    proxy.send_signal(signal.SIGHUP)
    proxy.wait_stderr(r"reload: the previous configuration stays in force")
    samples = parse_metrics(scrape(proxy))
    assert samples[("sluice_config_reloads_total", frozenset({("result", "success")}))] == 1
    assert samples[("sluice_config_reloads_total", frozenset({("result", "failure")}))] == 1
    assert samples[("sluice_config_generation", frozenset())] == 2


# -- /healthz and the drain ----------------------------------------------------------------------

def test_healthz_answers_503_while_draining_before_the_listener_closes(make_proxy, origins):
    proxy = admin_proxy(make_proxy, "shutdown_delay 3s", workers=1)
    status, _, body = admin_get(proxy, "/healthz")
    assert (status, body) == (200, b"ok\n")
    proxy.send_signal(signal.SIGTERM)
    proxy.wait_stderr(r"draining: /healthz answers 503; still accepting for 3s")
    status, _, body = admin_get(proxy, "/healthz")
    assert (status, body) == (503, b"draining\n")
    # Still accepting: a load balancer that has not noticed yet loses nothing.
    reply = connect(proxy.port, f"api.anthropic.com:{origins.echo_port}", proxy.user, proxy.password)
    assert reply.status == 200
    assert echo_through(reply.sock, b"late") == b"late" + echo_trailer(4)
    reply.close()
    proxy.wait_stderr(r"no longer accepting", timeout=10)
    assert proxy.wait_exit(30) == 0
    assert "/healthz" in proxy.stderr()


def test_healthz_turns_503_at_once_without_a_delay(make_proxy, origins):
    proxy = admin_proxy(make_proxy, "shutdown_grace 10s", workers=1)
    reply = connect(proxy.port, f"api.anthropic.com:{origins.echo_port}", proxy.user, proxy.password)
    assert reply.status == 200
    proxy.send_signal(signal.SIGTERM)
    proxy.wait_stderr(r"no longer accepting; waiting up to 10s for 1 open connection")
    status, _, body = admin_get(proxy, "/healthz")
    assert (status, body) == (503, b"draining\n")
    samples = parse_metrics(scrape(proxy))
    assert samples[("sluice_draining", frozenset())] == 1
    assert echo_through(reply.sock, b"done") == b"done" + echo_trailer(4)
    reply.close()
    assert proxy.wait_exit(30) == 0


# -- the listener itself --------------------------------------------------------------------------

def test_admin_users_guard_every_page_but_healthz(make_proxy, users_file, credentials):
    proxy = admin_proxy(make_proxy, f"admin_users {users_file}", workers=1)
    for path in ("/metrics", "/status"):
        status, headers, _ = admin_get(proxy, path)
        assert status == 401 and headers["www-authenticate"].startswith("Basic"), path
        status, _, _ = admin_get(proxy, path, auth=(credentials.user, "wrong"))
        assert status == 401, path
        status, _, body = admin_get(proxy, path, auth=(credentials.user, credentials.password))
        assert status == 200, (path, body)
    assert admin_get(proxy, "/healthz")[0] == 200


def test_unknown_pages_and_methods_get_clear_answers(make_proxy):
    proxy = admin_proxy(make_proxy, workers=1)
    status, _, body = admin_get(proxy, "/")
    assert status == 404 and b"/metrics" in body
    status, headers, _ = admin_get(proxy, "/metrics", method="POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    status, headers, body = admin_get(proxy, "/metrics?x=1", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 100
    # Not a proxy: a CONNECT to the admin port is no tunnel.
    status, _, _ = admin_get(proxy, "localhost:443", method="CONNECT")
    assert status in (400, 405)


@pytest.mark.parametrize("lines,message", [
    (["listen 127.0.0.1:3128", "admin_listen 127.0.0.1:3128"], "is a proxy port"),
    (["listen 0.0.0.0:3128", "admin_listen 127.0.0.1:3128"], "is a proxy port"),
    (["listen 127.0.0.1:3128", "admin_listen 0.0.0.0:9090"], "reachable from other machines"),
    (["listen 127.0.0.1:3128", "admin_users /etc/hostname"], "admin_users without admin_listen"),
    (["listen 127.0.0.1:3128", "admin_listen 0.0.0.0:9090", "admin_users /etc/hostname"],
     "would cross the network in clear text"),
    (["listen 127.0.0.1:3128", "admin_listen 127.0.0.1:9090", "admin_listen 127.0.0.1:9091"],
     "'admin_listen' given twice"),
])
def test_check_refuses_an_unsafe_admin_listener(sluice_bin, tmp_path, lines, message):
    conf = tmp_path / "sluice.conf"
    conf.write_text("\n".join(["allow api.anthropic.com", "allow_unauthenticated yes", *lines])
                    + "\n")
    done = subprocess.run([sluice_bin, "check", "-c", str(conf)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stderr, done.stderr


def test_counters_stay_exact_under_concurrent_load(make_proxy, origins):
    """Many clients at once on two workers, scraped while they run and after: the final
    counts equal what went in, kind by kind, and equal the access log."""
    from concurrent.futures import ThreadPoolExecutor

    proxy = admin_proxy(make_proxy)
    echo = f"api.anthropic.com:{origins.echo_port}"
    plan = ["tunnel"] * 120 + ["denied"] * 80 + ["wrong"] * 40

    def one(kind):
        if kind == "tunnel":
            reply = connect(proxy.port, echo, proxy.user, proxy.password)
            ok = reply.status == 200 and echo_through(reply.sock, b"hi") == b"hi" + \
                echo_trailer(2)
            reply.close()
            return ok
        if kind == "denied":
            return connect(proxy.port, "www.google.com:443", proxy.user,
                           proxy.password).status == 403
        return connect(proxy.port, echo, proxy.user, "wrong").status == 407

    with ThreadPoolExecutor(32) as pool:
        running = pool.map(one, plan)
        for _ in range(5):  # scrapes in the middle of it all must parse too
            parse_metrics(scrape(proxy))
        assert all(running)
    records = json_log(proxy, len(plan))
    samples = parse_metrics(scrape(proxy))
    assert metric_sum(samples, "sluice_requests_total", decision="allowed") == 120
    assert metric_sum(samples, "sluice_requests_total", reason="domain-denied") == 80
    assert metric_sum(samples, "sluice_requests_total", reason="auth-failed") == 40
    assert metric_sum(samples, "sluice_auth_checks_total", result="failed") == 40
    assert metric_sum(samples, "sluice_bytes_total", direction="download") == \
        sum(r["bytes_to_client"] for r in records)
    assert samples[("sluice_tunnels_active", frozenset({("policy", "default")}))] == 0


# -- what the red team found (round 10) -----------------------------------------------------------

def test_a_reload_cannot_take_admin_users_away_from_a_public_admin_listener(
        make_proxy, users_file, credentials):
    proxy = make_proxy(extra=["admin_listen 0.0.0.0:0", f"admin_users {users_file}",
                              "plaintext_auth yes"])
    assert admin_get(proxy, "/status")[0] == 401
    edit_config(proxy.config_path, {"admin_users": [], "admin_listen": ["127.0.0.1:0"]})
    proxy.send_signal(signal.SIGHUP)
    proxy.wait_stderr(r"reload \(SIGHUP\) failed: .*which other machines reach, would have "
                      r"no admin_users")
    assert admin_get(proxy, "/status")[0] == 401
    # Two steps: first only the (restart-only) address, then admin_users.
    edit_config(proxy.config_path, {"admin_users": [users_file],
                                    "admin_listen": ["127.0.0.1:0"]})
    proxy.send_signal(signal.SIGHUP)
    proxy.wait_stderr(r"admin_listen take effect at the next restart")
    edit_config(proxy.config_path, {"admin_users": []})
    proxy.send_signal(signal.SIGHUP)
    proxy.wait_stderr(r"reload \(SIGHUP\) failed: .*would have no admin_users", count=2)
    assert admin_get(proxy, "/status")[0] == 401
    assert admin_get(proxy, "/status", auth=(credentials.user, credentials.password))[0] == 200
    samples = parse_metrics(scrape(proxy, auth=(credentials.user, credentials.password)))
    assert samples[("sluice_config_reloads_total", frozenset({("result", "failure")}))] == 2


def test_half_sent_requests_cannot_keep_healthz_out(make_proxy):
    proxy = admin_proxy(make_proxy, workers=1)
    port = admin_port(proxy)
    hogs = []
    for _ in range(100):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"G")
        hogs.append(s)
    try:
        for _ in range(5):
            assert admin_get(proxy, "/healthz")[:3:2] == (200, b"ok\n")
    finally:
        for s in hogs:
            s.close()


def test_refused_admin_logins_are_on_record_and_duplicates_refused(make_proxy, users_file,
                                                                   credentials):
    proxy = admin_proxy(make_proxy, f"admin_users {users_file}", workers=1)
    assert admin_get(proxy, "/metrics", auth=(credentials.user, "guess"))[0] == 401
    proxy.wait_stderr(r"admin_listen: /metrics from 127\.0\.0\.1 refused: wrong user name or "
                      r"password")
    assert "guess" not in proxy.stderr()
    conn = http.client.HTTPConnection("127.0.0.1", admin_port(proxy), timeout=30)
    token = base64.b64encode(f"{credentials.user}:{credentials.password}".encode()).decode()
    conn.putrequest("GET", "/metrics")
    conn.putheader("Authorization", "Basic " + token)
    conn.putheader("Authorization", "Basic " + token)
    conn.endheaders()
    assert conn.getresponse().status == 400
    conn.close()


def test_query_values_never_reach_the_log_or_the_status_page(make_proxy, http_origin):
    proxy = admin_proxy(make_proxy, f"http_ports {http_origin.port}", workers=1)
    for host in ("api.anthropic.com", "denied.example"):
        with Client(proxy.port) as c:
            c.send(request("GET", f"http://{host}:{http_origin.port}/v1?key=AIzaSECRET&alt=json",
                           auth=auth_field(proxy.user, proxy.password)))
            c.response()
    records = json_log(proxy, 2)
    assert [r["url"].split("/", 3)[3] for r in records] == ["v1?key=*&alt=*"] * 2
    status, _, body = admin_get(proxy, "/status")
    assert status == 200 and b"key=*" in body and b"AIzaSECRET" not in body
    assert "AIzaSECRET" not in proxy.stderr() + proxy.log_text()


def test_check_warns_about_shared_or_world_readable_admin_users(sluice_bin, tmp_path,
                                                               users_file):
    import os
    import shutil

    shared = tmp_path / "users.htpasswd"
    shutil.copy(users_file, shared)
    os.chmod(shared, 0o644)
    conf = tmp_path / "sluice.conf"
    conf.write_text(f"allow api.anthropic.com\nusers {shared}\n"
                    f"admin_listen 127.0.0.1:9128\nadmin_users {shared}\n")
    done = subprocess.run([sluice_bin, "check", "-c", str(conf)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "admin_users" in done.stderr and "is the users file" in done.stderr, done.stderr
    assert f"warning: admin_users {shared} is readable by every user" in done.stderr
