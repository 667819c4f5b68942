# SPDX-License-Identifier: MIT
"""Real HTTP clients through sluice to a TLS origin on loopback, each configured the way its
users configure it: curl and wget on the command line, Python urllib, requests and httpx
(both through HTTPS_PROXY in the environment and through the client's own proxy parameter),
and Node's undici (ProxyAgent and EnvHttpProxyAgent). Each client verifies the origin's
certificate against the test CA, and each tunnel must appear in the access log with the user.
"""

import hashlib
import json
import ssl
import subprocess
import urllib.request

import httpx
import pytest
import requests

from helpers import PROXY_ENV_VARS, curl, env_without_proxies
from origins import https_greeting
from sluiceproc import tunnel_line_re


class Site:
    """One HTTPS URL on the TLS origin and what the origin will answer there."""

    def __init__(self, origins, name, path):
        self.name = name
        self.target = f"{name}:{origins.https_port}"
        self.url = f"https://{self.target}{path}"
        self.expected = https_greeting(name, self.target, path)


@pytest.fixture
def proxy_env(monkeypatch):
    """Clears every proxy variable; returns a function that sets HTTPS_PROXY."""
    for var in PROXY_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return lambda url: monkeypatch.setenv("HTTPS_PROXY", url)


def test_curl(proxy, origins, pki):
    site = Site(origins, "api.anthropic.com", "/v1/models")

    done = curl(proxy.url(), site.url, pki.ca_cert)

    assert done.returncode == 0, done.stderr
    assert done.stdout == site.expected
    proxy.wait_log(tunnel_line_re(site.target))


def test_curl_downloads_a_large_body_intact_over_tls(proxy, origins, pki, tmp_path):
    size = 8_000_000
    target = f"generativelanguage.googleapis.com:{origins.https_port}"
    body, headers = tmp_path / "body", tmp_path / "headers"

    done = curl(proxy.url(), f"https://{target}/bulk/{size}", pki.ca_cert,
                "--output", str(body), "--dump-header", str(headers))

    assert done.returncode == 0, done.stderr
    data = body.read_bytes()
    assert len(data) == size
    announced = [line.split(":", 1)[1].strip() for line in headers.read_text().splitlines()
                 if line.lower().startswith("x-body-sha256:")]
    assert announced == [hashlib.sha256(data).hexdigest()]
    (line,) = proxy.wait_log(tunnel_line_re(target))
    assert int(line["bytes"]) >= size


def test_wget(proxy, origins, pki):
    site = Site(origins, "api.replicate.com", "/v1/predictions")

    done = subprocess.run(
        ["wget", "--quiet", "--output-document=-", "--tries=1", "--timeout=30",
         f"--ca-certificate={pki.ca_cert}", "-e", "use_proxy=on",
         "-e", f"https_proxy={proxy.url()}", site.url],
        capture_output=True, text=True, timeout=60, env=env_without_proxies(),
        stdin=subprocess.DEVNULL)

    assert done.returncode == 0, done.stderr
    assert done.stdout == site.expected
    proxy.wait_log(tunnel_line_re(site.target))


def test_python_urllib_proxy_handler(proxy, origins, pki, proxy_env):
    site = Site(origins, "api.anthropic.com", "/urllib")
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": proxy.url()}),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=pki.ca_cert)))

    with opener.open(site.url, timeout=30) as response:
        status, body = response.status, response.read().decode()

    assert (status, body) == (200, site.expected)
    proxy.wait_log(tunnel_line_re(site.target))


def test_requests_through_https_proxy_environment_variable(proxy, origins, pki, proxy_env):
    site = Site(origins, "generativelanguage.googleapis.com", "/v1beta/models")
    proxy_env(proxy.url())

    with requests.Session() as session:
        response = session.get(site.url, verify=pki.ca_cert, timeout=30)

    assert (response.status_code, response.text) == (200, site.expected)
    proxy.wait_log(tunnel_line_re(site.target))


def test_requests_with_the_proxies_parameter(proxy, origins, pki, proxy_env):
    site = Site(origins, "api.anthropic.com", "/requests")

    with requests.Session() as session:
        session.trust_env = False
        response = session.get(site.url, proxies={"https": proxy.url()}, verify=pki.ca_cert,
                               timeout=30)

    assert (response.status_code, response.text) == (200, site.expected)
    proxy.wait_log(tunnel_line_re(site.target))


def test_requests_reports_the_403_of_a_denied_domain(proxy, origins, pki, proxy_env):
    with requests.Session() as session:
        with pytest.raises(requests.exceptions.ProxyError, match="403"):
            session.get(f"https://www.google.com:{origins.https_port}/",
                        proxies={"https": proxy.url()}, verify=pki.ca_cert, timeout=30)


def test_httpx_through_https_proxy_environment_variable(proxy, origins, pki, proxy_env):
    # The route the seed's team settled on (trust_env is httpx's default).
    site = Site(origins, "generativelanguage.googleapis.com", "/httpx-env")
    proxy_env(proxy.url())

    with httpx.Client(verify=pki.ca_cert, trust_env=True, timeout=30) as client:
        response = client.get(site.url)

    assert (response.status_code, response.text) == (200, site.expected)
    proxy.wait_log(tunnel_line_re(site.target))


def test_httpx_with_the_proxies_parameter(proxy, origins, pki, proxy_env):
    # The route that "timed out" for the seed's team: an explicit proxy (httpx 0.23 spells it
    # `proxies=`; 0.26+ `proxy=`).
    site = Site(origins, "api.anthropic.com", "/httpx-explicit")

    with httpx.Client(proxies=proxy.url(), verify=pki.ca_cert, trust_env=False,
                      timeout=30) as client:
        response = client.get(site.url)

    assert (response.status_code, response.text) == (200, site.expected)
    proxy.wait_log(tunnel_line_re(site.target))


def test_httpx_reports_the_403_of_a_denied_domain(proxy, origins, pki, proxy_env):
    with httpx.Client(proxies=proxy.url(), verify=pki.ca_cert, trust_env=False,
                      timeout=30) as client:
        with pytest.raises(httpx.ProxyError, match="403"):
            client.get(f"https://www.google.com:{origins.https_port}/")


def run_node(node_fetch, *args, env):
    done = subprocess.run([*node_fetch, *args], capture_output=True, text=True, timeout=90,
                          env=env, stdin=subprocess.DEVNULL)
    return done


def test_node_undici_proxy_agent(proxy, origins, pki, node_fetch):
    site = Site(origins, "api.anthropic.com", "/undici-proxy-agent")

    done = run_node(node_fetch, "proxy-agent", proxy.url(), site.url, pki.ca_cert,
                    env=env_without_proxies())

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": 200, "body": site.expected}
    proxy.wait_log(tunnel_line_re(site.target))


def test_node_undici_env_http_proxy_agent(proxy, origins, pki, node_fetch):
    site = Site(origins, "generativelanguage.googleapis.com", "/undici-env")

    done = run_node(node_fetch, "env-agent", site.url, pki.ca_cert,
                    env=env_without_proxies(HTTPS_PROXY=proxy.url()))

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": 200, "body": site.expected}
    proxy.wait_log(tunnel_line_re(site.target))


def test_node_undici_reports_the_403_of_a_denied_domain(proxy, origins, pki, node_fetch):
    done = run_node(node_fetch, "proxy-agent", proxy.url(),
                    f"https://www.google.com:{origins.https_port}/", pki.ca_cert,
                    env=env_without_proxies())

    assert done.returncode == 1
    assert "403" in done.stderr, done.stderr

