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

from pki import ORIGIN_NAMES
from sluiceproc import squid_line_re, tunnel_line_re
from sluicerun import assert_denials, matching, read_log, run_denied_re, run_tunnel_re
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

    assert done.returncode == 0, done.stderr
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
