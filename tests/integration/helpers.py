# SPDX-License-Identifier: MIT
"""Small shared checks and client runners for the integration tests."""

import os
import re
import subprocess

ROOT = os.geteuid() == 0
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def unprivileged(*argv):
    """`argv` run as an ordinary user: as `nobody` (under setpriv) when the tests run as root,
    as it is when they run as an ordinary user already."""
    return [*NOBODY, *argv] if ROOT else list(argv)


# The uid that unprivileged() runs as.
UNPRIVILEGED_UID = 65534 if ROOT else os.geteuid()


PROXY_ENV_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
                  "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def env_without_proxies(**extra):
    """os.environ without any proxy variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_ENV_VARS}
    env.update(extra)
    return env


# Each code's RFC 9209 error type, sent as `Proxy-Status: sluice; error=TYPE; details="..."`.
PROXY_STATUS = {
    "auth-required": "http_request_denied", "auth-failed": "http_request_denied",
    "auth-throttled": "http_request_denied", "auth-busy": "proxy_internal_error",
    "auth-timeout": "proxy_internal_error", "bad-request": "http_request_error",
    "header-too-large": "http_request_error", "header-timeout": "http_request_error",
    "domain-denied": "http_request_denied", "port-denied": "http_request_denied",
    "address-denied": "destination_ip_prohibited", "dns-failed": "dns_error",
    "connect-failed": "connection_refused", "connect-timeout": "connection_timeout",
    "too-many-connections": "proxy_internal_error", "bad-response": "http_protocol_error",
    "upstream-denied": "destination_unavailable", "cert-refused": "http_request_denied",
    "too-many-tunnels": "http_request_denied",
}
PROXY_STATUS_RE = re.compile(r'^sluice; error=([a-z_]+); details="((?:[ !#-\[\]-~]|\\["\\])*)"$')


def assert_refusal(reply, status, code, host=None):
    """A refusal as the contract describes it: the status, `X-Sluice-Error: <code>`, the same
    reason as an RFC 9209 `Proxy-Status` (a well-formed field with the code's error type),
    `Content-Type: text/plain`, and a short body that names `host` (when given)."""
    assert reply.status == status, (
        f"expected {status} {code}, got {reply.status} {reply.reason} "
        f"(X-Sluice-Error: {reply.error_code}); body: {reply.body[:300]!r}")
    assert reply.error_code == code, (
        f"expected X-Sluice-Error: {code}, got {reply.error_code!r}; headers: {reply.headers}")
    proxy_status = reply.headers.get("proxy-status", "")
    m = PROXY_STATUS_RE.match(proxy_status)
    assert m, f"malformed or missing Proxy-Status: {proxy_status!r}"
    assert m.group(1) == PROXY_STATUS[code], (code, proxy_status)
    content_type = reply.headers.get("content-type", "")
    assert content_type.split(";")[0].strip().lower() == "text/plain", (
        f"refusal Content-Type is {content_type!r}")
    body = reply.body.decode("utf-8", "replace")
    assert body.strip(), "refusal has an empty body"
    if host is not None:
        assert host.lower() in body.lower(), f"refusal body does not name {host!r}: {body!r}"


def curl(proxy_url, url, ca_cert, *extra, prefix=(), timeout=60):
    """Run curl through the proxy (explicit -x, no proxy variables in its environment)."""
    return subprocess.run(
        [*prefix, "curl", "--silent", "--show-error", "--max-time", "30", "--cacert", ca_cert,
         "--proxy", proxy_url, *extra, url],
        capture_output=True, text=True, timeout=timeout, env=env_without_proxies(),
        stdin=subprocess.DEVNULL)


def https_url(proxy, user=None, password=None, host="localhost"):
    """https://user:password@HOST:PORT for a `tls` listener of `proxy` (its fixture
    credentials by default; localhost is the name in proxy_pki's certificate)."""
    return proxy.url(user=user, password=password, host=host).replace("http://", "https://", 1)
