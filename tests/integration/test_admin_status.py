# SPDX-License-Identifier: MIT
"""The /status page in a real browser (Debian's headless Chromium): it renders, shows the
tunnel open during the test under its policy and user, the denials with their reasons and the
failed logins by address, and a destination chosen to break out of the markup stays text.

Chromium runs inside the test session's private network namespace (only loopback), with its
background services off, so it can reach nothing but the admin listener."""

import html.parser
import os
import shutil
import subprocess

import pytest

from proxyclient import connect
from rawhttp import Client, auth_field, request
from test_admin import admin_port, admin_proxy, json_log

HOSTILE_PATH = '/"><svg/onload=alert(1)><script>alert(2)</script>'
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-extensions", "--disable-default-apps",
                  "--hide-scrollbars", "--window-size=1280,1500"]


def chromium(*args, tmp_path):
    exe = shutil.which("chromium")
    assert exe, "chromium is missing: `make test` installs Debian's chromium package"
    done = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path}/chromium",
                           *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


class Dom(html.parser.HTMLParser):
    """Element names and the page's text, as Chromium built them."""

    def __init__(self):
        super().__init__()
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def busy_proxy(make_proxy, origins, http_origin):
    """A proxy with one tunnel open, refusals of three kinds and a failed login."""
    proxy = admin_proxy(make_proxy, f"http_ports {http_origin.port}")
    tunnel = connect(proxy.port, f"api.anthropic.com:{origins.echo_port}", proxy.user,
                     proxy.password)
    assert tunnel.status == 200
    assert connect(proxy.port, "www.google.com:443", proxy.user, proxy.password).status == 403
    assert connect(proxy.port, "api.anthropic.com:22", proxy.user, proxy.password).status == 403
    assert connect(proxy.port, "api.anthropic.com:443", proxy.user, "wrong").status == 407
    with Client(proxy.port) as c:
        c.send(request("GET", f"http://evil.example{HOSTILE_PATH}",
                       auth=auth_field(proxy.user, proxy.password)))
        assert c.response().status == 403
    json_log(proxy, 4)
    yield proxy
    tunnel.close()


def test_status_page_renders_the_open_tunnel_and_the_denials(busy_proxy, tmp_path):
    url = f"http://127.0.0.1:{admin_port(busy_proxy)}/status"
    dom = Dom()
    dom.feed(chromium("--dump-dom", url, tmp_path=tmp_path))
    text = " ".join(" ".join(dom.text).split())
    tags = [t for t, _ in dom.tags]

    assert "sluice status" in text
    assert busy_proxy.config_path in text
    assert f"127.0.0.1:{busy_proxy.port}" in text  # the listener as bound, not as written
    # The open tunnel, under its policy and user.
    assert "agent" in text and "default" in text
    # The refusals, each with its reason, and the failed login by address.
    for reason in ("domain-denied", "port-denied", "auth-failed"):
        assert reason in text, reason
    assert "www.google.com:443" in text
    assert "127.0.0.1" in text
    # The hostile destination is text on the page, never markup.
    assert "svg" not in tags and "script" not in tags
    assert not any(k.startswith("on") for _, attrs in dom.tags for k in attrs)
    assert "<svg/onload=alert(1)>" in text or "evil.example" in text
    # No asset from elsewhere, and the page refreshes itself.
    assert not any(attrs.get("src") or (t == "link" and attrs.get("href"))
                   for t, attrs in dom.tags)
    assert any(t == "meta" and attrs.get("http-equiv", "").lower() == "refresh"
               for t, attrs in dom.tags)


def test_status_page_screenshot(busy_proxy, tmp_path):
    url = f"http://127.0.0.1:{admin_port(busy_proxy)}/status"
    png = tmp_path / "status.png"
    chromium(f"--screenshot={png}", url, tmp_path=tmp_path)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000, len(data)
    # `SLUICE_STATUS_SCREENSHOT=doc/status.png` keeps it (the README's picture).
    keep = os.environ.get("SLUICE_STATUS_SCREENSHOT")
    if keep:
        shutil.copy(png, keep)
