# SPDX-License-Identifier: MIT
"""`sluice run --upstream`: what passes the local policy leaves through the team's proxy with
CONNECT and Proxy-Authorization, and the credentials stay in the launcher.

Two upstreams: a real Squid configured like the seed's (Basic auth, a `dstdomain` allowlist of
api.anthropic.com only), and `sluice serve` (the make_proxy fixture). Each upstream's own
access log must show the user name; what the local policy refuses never reaches the upstream;
and the sandbox's environment holds neither the user name nor the password.
"""

import os
import re
import secrets
import subprocess

import pytest

from pki import ORIGIN_NAMES, make_pki
from sluiceproc import squid_line_re, tunnel_line_re
from sluicerun import DENIAL_RE, assert_denials, matching, read_log, run_denied_re, run_tunnel_re
from squid import Squid, squid_denied_re, squid_tunnel_re

CURL = ("curl", "--silent", "--show-error", "--max-time", "30")
SQUID_USER = "dreamcore_proxy"


@pytest.fixture(scope="module")
def squid(origins):
    server = Squid(user=SQUID_USER, password=secrets.token_urlsafe(18),
                   allowed=["api.anthropic.com"], ports=[443, origins.https_port],
                   hosts={name: "127.0.0.1" for name in ORIGIN_NAMES})
    server.start()
    yield server
    server.close()


def upstream_env(host, port, user, password, **extra):
    """The environment of a launcher given `--upstream env` (the seed's secret's variables)."""
    env = dict(os.environ, PROXY_HOST=host, PROXY_PORT=str(port), PROXY_USER=user,
               PROXY_PASS=password)
    env.update(extra)
    return env


def curl_in(sandbox, url):
    return [*CURL, "--cacert", sandbox.ca_cert, url]


def test_squid_sees_the_tunnel_with_the_user_name(sandbox, squid):
    sandbox.secrets.append(squid.password)
    site = sandbox.site("api.anthropic.com", "/via-squid")
    log = sandbox.new_log()

    done = sandbox.run(curl_in(sandbox, site.url), "--upstream", "env", "--log", log,
                       env=upstream_env("127.0.0.1", squid.port, SQUID_USER, squid.password))

    assert done.returncode == 0, done.stderr
    assert done.stdout == site.expected
    squid.wait_log(squid_tunnel_re(site.target, SQUID_USER))
    # The run's own log records the tunnel too (the upstream is on 127.0.0.1 as well).
    assert matching(read_log(log), run_tunnel_re(site.target, hierarchy="FIRSTUP_PARENT")), read_log(log)


def test_upstream_url_on_the_command_line_works_too(sandbox, squid):
    sandbox.secrets.append(squid.password)
    site = sandbox.site("api.anthropic.com", "/via-squid-url")

    done = sandbox.run(curl_in(sandbox, site.url), "--upstream",
                       f"http://{SQUID_USER}:{squid.password}@127.0.0.1:{squid.port}")

    assert done.returncode == 0, done.stderr
    assert done.stdout == site.expected
    squid.wait_log(squid_tunnel_re(site.target, SQUID_USER))


def test_an_upstream_url_is_wiped_from_the_launchers_arguments(sandbox, squid):
    sandbox.secrets.append(squid.password)
    url = f"http://{SQUID_USER}:{squid.password}@127.0.0.1:{squid.port}"
    launcher = sandbox.popen(["sh", "-c", "echo ready; read line"], "--upstream", url,
                             stdin=subprocess.PIPE)
    try:
        assert launcher.stdout.readline() == "ready\n"
        with open(f"/proc/{launcher.pid}/cmdline", "rb") as f:
            cmdline = f.read().decode("utf-8", "replace")
        launcher.stdin.write("done\n")
        launcher.stdin.close()
        status = launcher.wait(timeout=20)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        launcher.stdout.close()
        launcher.stderr.close()

    assert status == 0
    assert "--upstream" in cmdline  # it is the launcher's argv
    assert squid.password not in cmdline
    assert SQUID_USER not in cmdline


def test_a_locally_denied_name_never_reaches_squid(sandbox, squid):
    sandbox.secrets.append(squid.password)
    denied = sandbox.site("www.google.com", "/never-upstream")
    allowed = sandbox.site("api.anthropic.com", "/after-the-denial")
    log = sandbox.new_log()
    script = 'curl -sS --max-time 30 --cacert "$1" "$2"; echo "denied=$?"; ' \
             'curl -sS --max-time 30 --cacert "$1" "$3"'

    done = sandbox.run(["sh", "-c", script, "sh", sandbox.ca_cert, denied.url, allowed.url],
                       "--upstream", "env", "--log", log,
                       env=upstream_env("127.0.0.1", squid.port, SQUID_USER, squid.password))

    assert done.returncode == 0, done.stderr
    assert done.stdout == "denied=56\n" + allowed.expected
    assert_denials(done, denied.target)
    assert matching(read_log(log), run_denied_re(403, denied.target, "domain-denied"))
    # Squid logged the request that came after the denial, and nothing for the denied name.
    squid.wait_log(squid_tunnel_re(allowed.target, SQUID_USER))
    assert not [line for line in squid.log_lines() if "www.google.com" in line]


def test_a_name_squid_refuses_is_an_error_inside(sandbox, squid):
    # generativelanguage.googleapis.com passes the local policy; this Squid allows only
    # api.anthropic.com.
    sandbox.secrets.append(squid.password)
    site = sandbox.site("generativelanguage.googleapis.com", "/squid-says-no")

    log = sandbox.new_log()

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, "--write-out", "%{http_connect}",
                        site.url], "--upstream", "env", "--log", log,
                       env=upstream_env("127.0.0.1", squid.port, SQUID_USER, squid.password))

    assert done.returncode == 56, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "502"
    assert_denials(done, site.target, method="CONNECT", reason="upstream proxy refused",
                   verb="failed")
    assert [line for line in read_log(log) if site.target in line
            and line.endswith(" upstream-denied")], read_log(log)
    squid.wait_log(squid_denied_re(site.target, SQUID_USER))


def test_a_wrong_squid_password_is_an_error_inside(sandbox, squid):
    wrong = secrets.token_urlsafe(18)
    sandbox.secrets.append(wrong)
    site = sandbox.site("api.anthropic.com", "/wrong-password")

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, "--write-out", "%{http_connect}",
                        site.url], "--upstream", "env",
                       env=upstream_env("127.0.0.1", squid.port, SQUID_USER, wrong))

    assert done.returncode == 56, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "502"
    assert_denials(done, site.target, reason="upstream proxy refused", verb="failed")
    squid.wait_log(re.compile(r" TCP_DENIED/407 \d+ CONNECT " + re.escape(site.target) + " "))


@pytest.mark.parametrize("upstream", ["env", "url"])
def test_the_sandbox_environment_holds_no_upstream_credential(sandbox, squid, upstream):
    # The launcher's environment carries the credentials three ways: PROXY_USER/PROXY_PASS,
    # a proxy URL with userinfo in HTTPS_PROXY, and in another *proxy variable.
    password = squid.password
    sandbox.secrets.append(password)
    url = f"http://{SQUID_USER}:{password}@127.0.0.1:{squid.port}"
    env = upstream_env("127.0.0.1", squid.port, SQUID_USER, password, HTTPS_PROXY=url,
                       npm_config_https_proxy=url, UNRELATED="kept")

    done = sandbox.run(["cat", "/proc/self/environ"],
                       "--upstream", "env" if upstream == "env" else url, env=env)

    assert done.returncode == 0, done.stderr
    environ = done.stdout.split("\0")
    names = {entry.split("=", 1)[0] for entry in environ if "=" in entry}
    assert password not in done.stdout
    assert SQUID_USER not in done.stdout
    assert not names & {"PROXY_USER", "PROXY_PASS", "npm_config_https_proxy"}, names
    assert "UNRELATED=kept" in environ
    assert "HTTPS_PROXY=http://127.0.0.1:3128" in environ


def test_the_arguments_inside_hold_no_upstream_credential(sandbox, squid):
    # The command's own /proc/PID/cmdline, and every other process it can see.
    sandbox.secrets.append(squid.password)
    url = f"http://{SQUID_USER}:{squid.password}@127.0.0.1:{squid.port}"

    done = sandbox.run(["sh", "-c", "cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ "
                        "2>/dev/null; true"], "--upstream", url)

    assert done.returncode == 0, done.stderr
    assert "__sandbox" in done.stdout  # it did read its init's arguments
    assert squid.password not in done.stdout
    assert SQUID_USER not in done.stdout


def test_sluice_serve_as_the_upstream_logs_the_user(sandbox, make_proxy, credentials):
    upstream = make_proxy()
    sandbox.secrets.append(credentials.password)
    site = sandbox.site("api.replicate.com", "/via-serve")

    done = sandbox.run(curl_in(sandbox, site.url), "--upstream", "env",
                       env=upstream_env(upstream.host, upstream.port, credentials.user,
                                        credentials.password))

    assert done.returncode == 0, (done.stderr, done.stdout, upstream.log_lines())
    assert done.stdout == site.expected
    upstream.wait_log(tunnel_line_re(site.target, user=credentials.user))


def test_sluice_serve_as_the_upstream_sees_nothing_the_local_policy_refuses(
        sandbox, make_proxy, credentials):
    # Locally only api.anthropic.com; upstream the seed's three domains.
    upstream = make_proxy()
    sandbox.secrets.append(credentials.password)
    config = sandbox.write_policy("narrow.conf", allow=("api.anthropic.com",))
    refused = sandbox.site("api.replicate.com", "/local-no")
    allowed = sandbox.site("api.anthropic.com", "/local-yes")
    script = 'curl -sS --max-time 30 --cacert "$1" "$2"; echo "refused=$?"; ' \
             'curl -sS --max-time 30 --cacert "$1" "$3"'

    done = sandbox.run(["sh", "-c", script, "sh", sandbox.ca_cert, refused.url, allowed.url],
                       "-c", config, "--upstream", "env", config=False,
                       env=upstream_env(upstream.host, upstream.port, credentials.user,
                                        credentials.password))

    assert done.returncode == 0, done.stderr
    assert done.stdout == "refused=56\n" + allowed.expected
    assert_denials(done, refused.target)
    upstream.wait_log(tunnel_line_re(allowed.target, user=credentials.user))
    assert not [line for line in upstream.log_lines() if "api.replicate.com" in line]


def test_a_wrong_password_for_sluice_serve_is_refused_there(sandbox, make_proxy, credentials):
    upstream = make_proxy()
    wrong = secrets.token_urlsafe(18)
    sandbox.secrets.append(wrong)
    site = sandbox.site("api.anthropic.com", "/serve-wrong-password")

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, "--write-out", "%{http_connect}",
                        site.url], "--upstream", "env",
                       env=upstream_env(upstream.host, upstream.port, credentials.user, wrong))

    assert done.returncode == 56, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "502"
    assert_denials(done, site.target, reason="upstream proxy refused", verb="failed")
    # sluice serve logs no user name for a failed authentication.
    upstream.wait_log(squid_line_re("TCP_DENIED/407", site.target, "-",
                                    "HIER_NONE/-", "text/plain", extra="auth-failed"))


class ReflectingParent:
    """An upstream proxy that shows clients what they sent it: a 407 whose body quotes the
    request head (as a careless error page might), and a TRACE echo (what Max-Forwards: 0
    asks of it). Through it, a request whose answer reached the sandbox would carry the
    upstream credentials inside."""

    def __init__(self):
        import socketserver
        import threading

        parent = self
        self.heads = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = self.rfile.readline()
                    if not line:
                        return
                    head += line
                parent.heads.append(head)
                if head.startswith(b"TRACE "):
                    status, body = b"200 OK", head
                else:
                    status, body = b"407 Proxy Authentication Required", b"you sent:\n" + head
                self.wfile.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\n"
                                 b"Proxy-Authenticate: Basic realm=\"parent\"\r\n"
                                 b"Content-Length: " + str(len(body)).encode() +
                                 b"\r\nConnection: close\r\n\r\n" + body)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def reflecting_parent():
    parent = ReflectingParent()
    yield parent
    parent.close()


@pytest.mark.parametrize("method", ["GET", "TRACE"])
def test_an_upstream_that_echoes_the_request_shows_the_sandbox_no_credential(
        sandbox, reflecting_parent, method):
    # Red team, rounds 6 and 7: a plain-HTTP request used to reach the upstream as such, with
    # the credentials, and any answer that quoted it (an error page, a TRACE echo with
    # Max-Forwards: 0, a header) went back inside. Now the upstream only ever gets a CONNECT.
    password = secrets.token_urlsafe(18)
    sandbox.secrets.append(password)
    log = sandbox.new_log()
    url = "http://api.anthropic.com/echo"

    done = sandbox.run([*CURL, "--request", method, "--header", "Max-Forwards: 0",
                        "--write-out", "\nstatus=%{http_code}", url], "--upstream", "env",
                       "--log", log,
                       env=upstream_env("127.0.0.1", reflecting_parent.port, "agent", password))

    # sluice's own 502 names the upstream's status and nothing it said; the fixture finds the
    # password in no output and no log.
    assert done.stdout.endswith("status=502"), done.stdout
    assert "answered 407" in done.stdout
    assert "Proxy-Authorization" not in done.stdout and "you sent" not in done.stdout
    assert reflecting_parent.heads, "the upstream was never asked"
    assert all(h.startswith(b"CONNECT api.anthropic.com:80 ") for h in reflecting_parent.heads)
    line = re.compile(r" TCP_\w+/502 \d+ " + method + " " + re.escape(url) +
                      r" - HIER_NONE/- text/plain upstream-denied$")
    assert matching(read_log(log), line), read_log(log)


def test_plain_http_through_an_upstream_runs_in_a_tunnel_it_opened(sandbox, make_proxy,
                                                                    credentials, http_origin):
    # The upstream (sluice serve) sees CONNECT api.anthropic.com:PORT with the user; the
    # origin sees an origin-form request without any Proxy-Authorization.
    upstream = make_proxy(connect_ports=(443, http_origin.port))
    sandbox.secrets.append(credentials.password)
    url = f"http://api.anthropic.com:{http_origin.port}/through-a-tunnel"
    log = sandbox.new_log()

    done = sandbox.run([*CURL, url, url], "--upstream", "env", "--http-ports",
                       str(http_origin.port), "--log", log,
                       env=upstream_env(upstream.host, upstream.port, credentials.user,
                                        credentials.password))

    assert done.returncode == 0, done.stderr
    (first, second) = http_origin.wait_requests(2)
    for got in (first, second):
        assert got.target == "/through-a-tunnel", got.target
        assert got.values("Proxy-Authorization") == []
    upstream.wait_log(tunnel_line_re(f"api.anthropic.com:{http_origin.port}",
                                     user=credentials.user))
    # Both requests went through one tunnel, kept alive between them.
    assert len([l for l in upstream.log_lines() if " CONNECT " in l]) == 1, upstream.log_lines()
    assert len(matching(read_log(log), re.compile(r" TCP_MISS/200 \d+ GET " + re.escape(url)
                                                  + r" - FIRSTUP_PARENT/"))) == 2, read_log(log)


# -- TLS to the upstream proxy (issue 13) -------------------------------------------------------

@pytest.fixture(scope="module")
def upstream_pki(tmp_path_factory):
    """A CA of its own and a certificate for the upstream's name, localhost."""
    return make_pki(str(tmp_path_factory.mktemp("upstream-pki")), names=("localhost",))


@pytest.fixture
def tls_upstream(make_proxy, upstream_pki):
    return make_proxy(listen=("127.0.0.1:0 tls",),
                      extra=[f"tls_cert {upstream_pki.cert}", f"tls_key {upstream_pki.key}"])


@pytest.mark.parametrize("how", ["url", "env"])
def test_an_https_upstream_is_spoken_to_over_tls(sandbox, tls_upstream, upstream_pki,
                                                 credentials, how):
    sandbox.secrets.append(credentials.password)
    site = sandbox.site("api.anthropic.com", f"/tls-upstream-{how}")
    if how == "url":
        options = ("--upstream", f"https://{credentials.user}:{credentials.password}"
                   f"@localhost:{tls_upstream.port}")
        env = None
    else:
        options = ("--upstream", "env")
        env = upstream_env("localhost", tls_upstream.port, credentials.user,
                           credentials.password, PROXY_SCHEME="https")

    done = sandbox.run(curl_in(sandbox, site.url), *options, "--upstream-ca",
                       upstream_pki.ca_cert, env=env)

    assert done.returncode == 0, done.stderr
    assert done.stdout == site.expected
    tls_upstream.wait_log(tunnel_line_re(site.target, user=credentials.user))


@pytest.mark.parametrize("case", ["untrusted", "wrong-name"])
def test_an_https_upstream_that_cannot_be_verified_is_not_used(sandbox, tls_upstream,
                                                               upstream_pki, credentials, case):
    # Untrusted: no --upstream-ca, and the system's store does not know the test CA. Wrong
    # name: the certificate is for localhost, the URL says 127.0.0.1.
    sandbox.secrets.append(credentials.password)
    site = sandbox.site("api.anthropic.com", "/tls-upstream-refused")
    host = "127.0.0.1" if case == "wrong-name" else "localhost"
    ca = ("--upstream-ca", upstream_pki.ca_cert) if case == "wrong-name" else ()

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, "--write-out", "%{http_connect}",
                        site.url], "--upstream",
                       f"https://{credentials.user}:{credentials.password}@{host}:"
                       f"{tls_upstream.port}", *ca)

    assert done.returncode == 56, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "502"
    assert_denials(done, site.target, reason="upstream proxy refused", verb="failed")
    # The run's own line says which check failed, not only that the upstream refused.
    check = "the certificate is not valid for 127.0.0.1" if case == "wrong-name" else \
        "unable to get local issuer certificate"
    assert [m["detail"] for m in map(DENIAL_RE.search, done.stderr.splitlines())
            if m and m["verb"] == "failed"] == [
        f"TLS to the upstream proxy {host}:{tls_upstream.port} failed: {check}"], done.stderr
    # The upstream saw a handshake that went no further: no request, no credentials.
    tls_upstream.wait_log(r" NONE/000 0 NONE - - HIER_NONE/- - tls-failed$")
    assert not [line for line in tls_upstream.log_lines() if "CONNECT" in line]
