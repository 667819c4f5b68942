# SPDX-License-Identifier: MIT
"""Real HTTP clients sending plain http:// requests through sluice to the recording origin on
loopback: curl, wget, Python urllib, requests, httpx and Node's undici, each configured the
way its users configure it. They send absolute-form requests with their own framing, Expect,
Proxy-Connection and credentials; the origin's record shows what reached it, and the access
log must have a line per request.

Every request the origin receives is checked the same way (`assert_forwarded`): origin-form
request line, Host from the URL, Via, and none of the client's hop-by-hop fields — above all
not its Proxy-Authorization."""

import hashlib
import json
import os
import re
import subprocess
import urllib.request

import httpx
import pytest
import requests

from helpers import PROXY_ENV_VARS, env_without_proxies
from httporigin import describe
from rawhttp import http_line_re

MB = 1 << 20
HOP_BY_HOP = {"proxy-authorization", "proxy-connection", "keep-alive", "te", "trailer",
              "upgrade"}


class Site:
    """A URL on the recording origin under an allowed name."""

    def __init__(self, origin, path, name="api.anthropic.com"):
        self.authority = f"{name}:{origin.port}"
        self.path = path
        self.url = f"http://{self.authority}{path}"


def assert_forwarded(seen, site, method):
    assert seen.request_line == f"{method} {site.path} HTTP/1.1", seen.raw_head
    assert seen.values("Host") == [site.authority], seen.raw_head
    assert seen.values("Via") == ["1.1 sluice"], seen.raw_head
    leaked = seen.names & HOP_BY_HOP
    assert not leaked, f"hop-by-hop fields reached the origin: {sorted(leaked)}: {seen.raw_head!r}"
    # Connection may only be the proxy's own word about its upstream connection, never the
    # client's list of fields.
    tokens = {t.strip().lower() for v in seen.values("Connection") for t in v.split(",")}
    assert tokens <= {"close", "keep-alive"}, seen.raw_head


def curl_http(proxy_url, *args, timeout=120):
    """curl for plain HTTP through the proxy (explicit -x, no proxy variables)."""
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "100", "--proxy", proxy_url, *args],
        capture_output=True, timeout=timeout, env=env_without_proxies(), stdin=subprocess.DEVNULL)


@pytest.fixture
def proxy_env(monkeypatch):
    """Clears every proxy variable; returns a function that sets HTTP_PROXY."""
    for var in PROXY_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return lambda url: monkeypatch.setenv("HTTP_PROXY", url)


# -- curl ------------------------------------------------------------------------------------

def test_curl_get(http_proxy, http_origin):
    site = Site(http_origin, "/curl/index.html")

    done = curl_http(http_proxy.url(), site.url)

    assert done.returncode == 0, done.stderr
    assert done.stdout == describe("GET", site.path, b"")
    (seen,) = http_origin.wait_requests(1)
    assert_forwarded(seen, site, "GET")
    (line,) = http_proxy.wait_log(http_line_re(200, "GET", site.url, mime="text/html"))
    assert int(line["bytes"]) > len(done.stdout)


def test_curl_head_gets_headers_and_no_body(http_proxy, http_origin):
    site = Site(http_origin, "/bytes/4096")

    done = curl_http(http_proxy.url(), "--head", site.url)

    assert done.returncode == 0, done.stderr
    head = done.stdout.decode("latin-1")
    assert head.startswith("HTTP/1.1 200 ")
    assert re.search(r"(?im)^content-length: 4096\r$", head), head
    assert head.endswith("\r\n\r\n"), "curl got bytes after the head of a HEAD answer"
    (seen,) = http_origin.wait_requests(1)
    assert_forwarded(seen, site, "HEAD")


def test_curl_post_with_a_body(http_proxy, http_origin):
    site = Site(http_origin, "/curl/post")
    body = b"name=sluice&kind=egress+proxy"

    done = curl_http(http_proxy.url(), "--data-binary", body.decode(), site.url)

    assert done.returncode == 0, done.stderr
    assert done.stdout == describe("POST", site.path, body)
    (seen,) = http_origin.wait_requests(1)
    assert_forwarded(seen, site, "POST")
    assert seen.body == body and seen.value("Content-Length") == str(len(body))
    http_proxy.wait_log(http_line_re(200, "POST", site.url, mime="text/plain"))


def test_curl_chunked_upload(http_proxy, http_origin, tmp_path):
    site = Site(http_origin, "/curl/chunked")
    body = os.urandom(300_000)
    (tmp_path / "body").write_bytes(body)

    done = curl_http(http_proxy.url(), "-H", "Transfer-Encoding: chunked", "-H", "Expect:",
                     "--data-binary", f"@{tmp_path / 'body'}", site.url)

    assert done.returncode == 0, done.stderr
    assert done.stdout == describe("POST", site.path, body)
    (seen,) = http_origin.wait_requests(1)
    assert_forwarded(seen, site, "POST")
    assert seen.values("Transfer-Encoding") == ["chunked"]
    assert "content-length" not in seen.names
    assert seen.body == body


def test_curl_expect_100_continue(http_proxy, http_origin, tmp_path):
    # curl asks for 100-continue before a large POST body, and waits up to --expect100-timeout
    # for it: the interim answer must come back through the proxy.
    site = Site(http_origin, "/curl/expect")
    body = os.urandom(2 * MB)
    (tmp_path / "body").write_bytes(body)

    done = curl_http(http_proxy.url(), "--verbose", "--expect100-timeout", "60",
                     "--data-binary", f"@{tmp_path / 'body'}", site.url)

    assert done.returncode == 0, done.stderr
    assert done.stdout == describe("POST", site.path, body)
    verbose = done.stderr.decode("latin-1")
    assert "> Expect: 100-continue" in verbose, verbose
    assert "< HTTP/1.1 100 Continue" in verbose, verbose
    (seen,) = http_origin.wait_requests(1)
    assert seen.sent_continue and seen.body == body


def test_curl_keeps_its_proxy_connection_for_several_requests(http_proxy, http_origin):
    sites = [Site(http_origin, f"/curl/keep/{i}") for i in range(3)]
    args = ["--write-out", "%{num_connects} %{http_code}\\n"]
    for site in sites:
        args += ["--output", "/dev/null", site.url]

    done = curl_http(http_proxy.url(), *args)

    assert done.returncode == 0, done.stderr
    # num_connects: new connections curl made for each transfer (to the proxy).
    assert done.stdout.decode().splitlines() == ["1 200", "0 200", "0 200"]
    seen = http_origin.wait_requests(3)
    assert [r.path for r in seen] == [s.path for s in sites]
    assert http_origin.connections == 1
    for site in sites:
        http_proxy.wait_log(http_line_re(200, "GET", site.url, mime="text/plain"))


def test_curl_keeps_its_proxy_connection_across_hosts_but_not_the_upstream(http_proxy,
                                                                           http_origin):
    sites = [Site(http_origin, "/a", "api.anthropic.com"),
             Site(http_origin, "/b", "api.replicate.com")]
    args = ["--write-out", "%{num_connects}\\n"]
    for site in sites:
        args += ["--output", "/dev/null", site.url]

    done = curl_http(http_proxy.url(), *args)

    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().splitlines() == ["1", "0"]
    first, second = http_origin.wait_requests(2)
    assert first.value("Host") == sites[0].authority
    assert second.value("Host") == sites[1].authority
    assert first.conn != second.conn, "one upstream connection served two hosts"


def test_curl_without_credentials_gets_407(http_proxy, http_origin):
    site = Site(http_origin, "/curl/no-auth")

    done = curl_http(http_proxy.url(user=""), "--verbose", site.url)

    assert done.returncode == 0, done.stderr  # curl reports the 407 as an HTTP answer
    verbose = done.stderr.decode("latin-1")
    assert "< HTTP/1.1 407" in verbose and "< X-Sluice-Error: auth-required" in verbose, verbose
    http_origin.sync()
    assert http_origin.connections == 0


@pytest.mark.slow
def test_curl_100_mb_download_keeps_its_sha256(http_proxy, http_origin, tmp_path):
    size = 100 * MB
    site = Site(http_origin, f"/bytes/{size}")
    out = tmp_path / "download"

    done = curl_http(http_proxy.url(), "--output", str(out), site.url, timeout=300)

    assert done.returncode == 0, done.stderr
    assert out.stat().st_size == size
    digest = hashlib.sha256()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(MB), b""):
            digest.update(block)
    assert digest.hexdigest() == http_origin.wait_sent_sha256(site.path)
    (line,) = http_proxy.wait_log(http_line_re(200, "GET", site.url,
                                               mime="application/octet-stream"))
    assert int(line["bytes"]) > size
    out.unlink()


# -- wget ------------------------------------------------------------------------------------

def wget(proxy_url, *args):
    return subprocess.run(
        ["wget", "--quiet", "--output-document=-", "--tries=1", "--timeout=30",
         "-e", "use_proxy=on", "-e", f"http_proxy={proxy_url}", *args],
        capture_output=True, timeout=60, env=env_without_proxies(), stdin=subprocess.DEVNULL)


def test_wget_get(http_proxy, http_origin):
    site = Site(http_origin, "/wget/get")

    done = wget(http_proxy.url(), site.url)

    assert done.returncode == 0, done.stderr
    assert done.stdout == describe("GET", site.path, b"")
    seen = http_origin.wait_requests(1)
    assert_forwarded(seen[-1], site, "GET")
    http_proxy.wait_log(http_line_re(200, "GET", site.url, mime="text/plain"))


def test_wget_post(http_proxy, http_origin):
    site = Site(http_origin, "/wget/post")
    body = "from=wget&via=sluice"

    done = wget(http_proxy.url(), f"--post-data={body}", site.url)

    assert done.returncode == 0, done.stderr
    assert done.stdout == describe("POST", site.path, body.encode())
    seen = http_origin.wait_requests(1)
    assert_forwarded(seen[-1], site, "POST")
    assert seen[-1].body == body.encode()


# -- Python urllib ---------------------------------------------------------------------------

def urllib_opener(proxy):
    return urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy.url()}))


def test_python_urllib_get(http_proxy, http_origin, proxy_env):
    site = Site(http_origin, "/urllib/get")

    with urllib_opener(http_proxy).open(site.url, timeout=30) as response:
        status, body = response.status, response.read()

    assert (status, body) == (200, describe("GET", site.path, b""))
    (seen,) = http_origin.wait_requests(1)
    assert_forwarded(seen, site, "GET")
    http_proxy.wait_log(http_line_re(200, "GET", site.url, mime="text/plain"))


def test_python_urllib_post(http_proxy, http_origin, proxy_env):
    site = Site(http_origin, "/urllib/post")
    body = os.urandom(100_000)
    req = urllib.request.Request(site.url, data=body, method="POST",
                                 headers={"Content-Type": "application/octet-stream"})

    with urllib_opener(http_proxy).open(req, timeout=30) as response:
        status, answer = response.status, response.read()

    assert (status, answer) == (200, describe("POST", site.path, body))
    (seen,) = http_origin.wait_requests(1)
    assert_forwarded(seen, site, "POST")


# -- requests --------------------------------------------------------------------------------

def test_requests_through_http_proxy_environment_variable(http_proxy, http_origin, proxy_env):
    site = Site(http_origin, "/requests/env")
    proxy_env(http_proxy.url())

    with requests.Session() as session:
        response = session.get(site.url, timeout=30)

    assert (response.status_code, response.content) == (200, describe("GET", site.path, b""))
    assert response.headers.get("Via") == "1.1 sluice"
    (seen,) = http_origin.wait_requests(1)
    assert_forwarded(seen, site, "GET")


def test_requests_post_and_chunked_upload(http_proxy, http_origin, proxy_env):
    post, chunked = Site(http_origin, "/requests/post"), Site(http_origin, "/requests/chunked")
    parts = [os.urandom(n) for n in (10, 65536, 1000)]

    with requests.Session() as session:
        session.trust_env = False
        session.proxies = {"http": http_proxy.url()}
        first = session.post(post.url, data=b"posted by requests", timeout=30)
        # A generator body makes requests send Transfer-Encoding: chunked. requests 2.28 then
        # bypasses urllib3's proxy manager and drops the credentials of the proxy URL; its
        # documented remedy is HTTPProxyAuth.
        second = session.put(chunked.url, data=iter(parts), timeout=30,
                             auth=requests.auth.HTTPProxyAuth(http_proxy.user,
                                                              http_proxy.password))

    assert first.content == describe("POST", post.path, b"posted by requests")
    assert second.content == describe("PUT", chunked.path, b"".join(parts))
    seen_post, seen_put = http_origin.wait_requests(2)
    assert_forwarded(seen_post, post, "POST")
    assert_forwarded(seen_put, chunked, "PUT")
    assert seen_put.values("Transfer-Encoding") == ["chunked"]


def test_requests_session_reuses_its_connection(http_proxy, http_origin, proxy_env):
    sites = [Site(http_origin, f"/requests/keep/{i}") for i in range(4)]

    with requests.Session() as session:
        session.trust_env = False
        for site in sites:
            response = session.get(site.url, proxies={"http": http_proxy.url()}, timeout=30)
            assert response.content == describe("GET", site.path, b"")

    seen = http_origin.wait_requests(len(sites))
    assert [r.path for r in seen] == [s.path for s in sites]
    assert http_origin.connections == 1
    for site in sites:
        http_proxy.wait_log(http_line_re(200, "GET", site.url, mime="text/plain"))


# -- httpx -----------------------------------------------------------------------------------

def test_httpx_get_head_post_and_streamed_upload(http_proxy, http_origin, proxy_env):
    get, head = Site(http_origin, "/httpx/get"), Site(http_origin, "/bytes/777")
    post, stream = Site(http_origin, "/httpx/post"), Site(http_origin, "/httpx/stream")
    parts = [os.urandom(n) for n in (5, 100_000, 17)]

    with httpx.Client(proxies=http_proxy.url(), trust_env=False, timeout=30) as client:
        r_get = client.get(get.url)
        r_head = client.head(head.url)
        r_post = client.post(post.url, content=b"posted by httpx")
        r_stream = client.post(stream.url, content=iter(parts))

    assert r_get.content == describe("GET", get.path, b"")
    assert (r_head.status_code, r_head.content) == (200, b"")
    assert r_head.headers["content-length"] == "777"
    assert r_post.content == describe("POST", post.path, b"posted by httpx")
    assert r_stream.content == describe("POST", stream.path, b"".join(parts))
    seen = http_origin.wait_requests(4)
    for r, site, method in zip(seen, (get, head, post, stream), ("GET", "HEAD", "POST", "POST")):
        assert_forwarded(r, site, method)
    assert seen[3].values("Transfer-Encoding") == ["chunked"]
    http_proxy.wait_log(http_line_re(200, "HEAD", head.url, mime="application/octet-stream"))


def test_httpx_through_http_proxy_environment_variable(http_proxy, http_origin, proxy_env):
    site = Site(http_origin, "/httpx/env", "generativelanguage.googleapis.com")
    proxy_env(http_proxy.url())

    with httpx.Client(trust_env=True, timeout=30) as client:
        response = client.get(site.url)

    assert (response.status_code, response.content) == (200, describe("GET", site.path, b""))
    (seen,) = http_origin.wait_requests(1)
    assert_forwarded(seen, site, "GET")


# -- Node undici -----------------------------------------------------------------------------

def run_node(node_fetch, proxy_url, reqs):
    script = os.path.join(os.path.dirname(node_fetch[1]), "plainhttp.mjs")
    done = subprocess.run(["node", script, proxy_url, json.dumps(reqs)], capture_output=True,
                          text=True, timeout=90, env=env_without_proxies(),
                          stdin=subprocess.DEVNULL)
    return done


def test_node_undici_proxy_agent_get_post_and_keep_alive(http_proxy, http_origin, node_fetch):
    sites = [Site(http_origin, f"/undici/{i}") for i in range(5)]
    methods = ["GET", "GET", "GET", "GET", "POST"]
    reqs = [{"method": m, "url": s.url} for m, s in zip(methods, sites)]
    reqs[-1]["body"] = "posted by undici"

    done = run_node(node_fetch, http_proxy.url(), reqs)

    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [(r["status"], r["body"]) for r in results] == [
        (200, describe(m, s.path, b"posted by undici" if m == "POST" else b"").decode())
        for m, s in zip(methods, sites)]
    seen = http_origin.wait_requests(len(sites))
    for r, site, method in zip(seen, sites, methods):
        assert_forwarded(r, site, method)
    # undici's pool alternates between proxy connections, but keeps them alive: an origin
    # connection belongs to one client connection, so one that carried several requests
    # shows a client connection that did.
    per_conn = [r.conn for r in seen]
    assert max(per_conn.count(c) for c in set(per_conn)) >= 2, per_conn
    for site, method in zip(sites, methods):
        http_proxy.wait_log(http_line_re(200, method, site.url, mime="text/plain"))


def test_node_undici_reports_the_403_of_a_denied_domain(http_proxy, http_origin, node_fetch):
    site = Site(http_origin, "/undici/denied", "www.google.com")

    done = run_node(node_fetch, http_proxy.url(), [{"method": "GET", "url": site.url}])

    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)
    assert result["status"] == 403
    assert result["headers"].get("x-sluice-error") == "domain-denied"
    http_origin.sync()
    assert http_origin.connections == 0
