# SPDX-License-Identifier: MIT
"""`sluice run --upstream https://...` against a real Squid (`squid-openssl`) that listens only
on a TLS `https_port`: the team proxy's credentials cross the wire inside TLS, Squid's own log
shows the tunnel and the user, what Squid refuses is a clear error inside the sandbox, and a
Squid whose certificate does not verify against `--upstream-ca` is never sent a CONNECT.

Squid's certificate comes from a CA of its own (not the origins' test CA) and names both
localhost and 127.0.0.1, the address the upstream URL uses.
"""

import json
import re
import secrets

import pytest

from pki import ORIGIN_NAMES, make_pki
from sluicerun import PROXYCLIENT, assert_denials, matching, python, read_log, run_tunnel_re
from squid import Squid, squid_denied_re, squid_tunnel_re

CURL = ("curl", "--silent", "--show-error", "--max-time", "30")
SQUID_USER = "dreamcore_proxy"
# What Squid logs for a connection that ended before a request head: here, a TLS handshake
# that sluice abandoned.
NO_REQUEST_RE = re.compile(r" NONE_NONE/000 0 - error:transaction-end-before-headers ")


@pytest.fixture(scope="module")
def squid_pki(tmp_path_factory):
    return make_pki(str(tmp_path_factory.mktemp("squid-pki")), names=("localhost", "127.0.0.1"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    """A second CA, which signed nothing Squid presents."""
    return make_pki(str(tmp_path_factory.mktemp("other-pki")),
                    names=("localhost", "127.0.0.1")).ca_cert


@pytest.fixture(scope="module")
def tls_squid(origins, squid_pki):
    # https_port only: a tunnel through it was spoken over TLS.
    server = Squid(user=SQUID_USER, password=secrets.token_urlsafe(18),
                   allowed=["api.anthropic.com", "api.replicate.com"],
                   ports=[443, origins.https_port],
                   hosts={name: "127.0.0.1" for name in ORIGIN_NAMES}, tls=squid_pki,
                   plain=False)
    server.start()
    yield server
    server.close()


def upstream_url(squid, password=None):
    return f"https://{SQUID_USER}:{password or squid.password}@127.0.0.1:{squid.tls_port}"


def test_curl_reaches_the_origin_through_squids_https_port(sandbox, tls_squid, squid_pki):
    sandbox.secrets.append(tls_squid.password)
    site = sandbox.site("api.anthropic.com", "/via-squid-tls")
    log = sandbox.new_log()

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, site.url], "--upstream",
                       upstream_url(tls_squid), "--upstream-ca", squid_pki.ca_cert,
                       "--log", log)

    assert done.returncode == 0, done.stderr
    assert done.stdout == site.expected
    tls_squid.wait_log(squid_tunnel_re(site.target, SQUID_USER))
    assert matching(read_log(log), run_tunnel_re(site.target, hierarchy="FIRSTUP_PARENT")), \
        read_log(log)


def test_a_name_squid_refuses_is_a_clear_error_inside(sandbox, tls_squid, squid_pki):
    # generativelanguage.googleapis.com passes the local policy; this Squid refuses it.
    sandbox.secrets.append(tls_squid.password)
    site = sandbox.site("generativelanguage.googleapis.com", "/squid-tls-says-no")
    log = sandbox.new_log()
    options = ("--upstream", upstream_url(tls_squid), "--upstream-ca", squid_pki.ca_cert)

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, "--write-out", "%{http_connect}",
                        site.url], *options, "--log", log)
    raw = sandbox.run(python(PROXYCLIENT, "--proxy", "127.0.0.1:3128", "--target", site.target),
                      *options)

    assert done.returncode == 56, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "502"
    assert_denials(done, site.target, reason="upstream proxy refused", verb="failed")
    assert [line for line in read_log(log) if site.target in line
            and line.endswith(" upstream-denied")], read_log(log)
    # A client that reads the answer is told what the upstream said.
    assert raw.returncode == 0, raw.stderr
    reply = json.loads(raw.stdout)
    assert reply["status"] == 502, reply
    assert reply["headers"]["x-sluice-error"] == "upstream-denied", reply
    assert f"the upstream proxy 127.0.0.1:{tls_squid.tls_port} answered 403" in reply["body"], \
        reply["body"]
    tls_squid.wait_log(squid_denied_re(site.target, SQUID_USER))


def test_squid_with_a_certificate_from_another_ca_gets_no_connect(sandbox, tls_squid, other_ca,
                                                                  squid_pki):
    sandbox.secrets.append(tls_squid.password)
    refused = sandbox.site("api.replicate.com", "/wrong-ca")
    options = ("--upstream", upstream_url(tls_squid), "--upstream-ca", other_ca)

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, "--write-out", "%{http_connect}",
                        refused.url], *options)
    raw = sandbox.run(python(PROXYCLIENT, "--proxy", "127.0.0.1:3128", "--target",
                             refused.target), *options)

    assert done.returncode == 56, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "502"
    assert_denials(done, refused.target, reason="upstream proxy refused", verb="failed")
    assert raw.returncode == 0, raw.stderr
    reply = json.loads(raw.stdout)
    assert reply["status"] == 502, reply
    assert reply["headers"]["x-sluice-error"] == "upstream-denied", reply
    assert (f"TLS to the upstream proxy 127.0.0.1:{tls_squid.tls_port} failed: "
            "unable to get local issuer certificate") in reply["body"], reply["body"]
    # Squid saw the connections end before any request; then, with the right CA, a tunnel
    # (so its log is written up to here), and never anything for the refused name.
    allowed = sandbox.site("api.anthropic.com", "/right-ca")
    ok = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, allowed.url], "--upstream",
                     upstream_url(tls_squid), "--upstream-ca", squid_pki.ca_cert)
    assert ok.returncode == 0, ok.stderr
    tls_squid.wait_log(squid_tunnel_re(allowed.target, SQUID_USER))
    assert len([line for line in tls_squid.log_lines() if NO_REQUEST_RE.search(line)]) >= 2, \
        tls_squid.log_lines()
    assert not [line for line in tls_squid.log_lines() if "api.replicate.com" in line], \
        tls_squid.log_lines()


def test_a_wrong_password_over_tls_is_squids_407(sandbox, tls_squid, squid_pki):
    wrong = secrets.token_urlsafe(18)
    sandbox.secrets.append(wrong)
    site = sandbox.site("api.anthropic.com", "/squid-tls-wrong-password")

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, "--write-out", "%{http_connect}",
                        site.url], "--upstream", upstream_url(tls_squid, wrong),
                       "--upstream-ca", squid_pki.ca_cert)

    assert done.returncode == 56, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "502"
    assert_denials(done, site.target, reason="upstream proxy refused", verb="failed")
    tls_squid.wait_log(re.compile(r" TCP_DENIED/407 \d+ CONNECT " + re.escape(site.target) + " "))
