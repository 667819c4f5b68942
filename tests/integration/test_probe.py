# SPDX-License-Identifier: MIT
"""`sluice probe URL`: every hop from here to URL through the proxy, the first that fails named
(by its line, its exit status 10-19 and a fix in one sentence). Driven against the real proxy
(plain and TLS listeners), the loopback origins with the test CA, a real Squid, and inside
`sluice run`; the proxy's password never appears in what probe prints."""

import json
import os
import re
import socket
import urllib.parse

import pytest

from helpers import https_url
from pki import ORIGIN_NAMES
from sluiceproc import SANITIZER_MARKERS
from squid import Squid

HANG = 60
EXIT = {"environment": 10, "direct": 11, "proxy-name": 12, "proxy-connect": 13,
        "proxy-tls": 14, "auth": 15, "policy": 16, "destination": 17, "destination-tls": 18,
        "http": 19}
LINE_RE = re.compile(r"^(ok|warn|FAIL|skip) +(\S+) +(.*)$")


class Probed:
    """One finished run: its status, its hops {name: (status, detail)}, its fix."""

    def __init__(self, done):
        self.status = done.returncode
        self.stdout = done.stdout
        self.stderr = done.stderr
        self.hops = {}
        self.fix = None
        if done.stdout.startswith("{"):  # --json
            report = json.loads(done.stdout)
            self.hops = {h["hop"]: (h["status"], h["detail"]) for h in report["hops"]}
            self.fix = report["fix"]
            return
        for line in done.stdout.splitlines():
            if line.startswith("fix: "):
                self.fix = line[5:]
            elif m := LINE_RE.match(line):
                self.hops[m[2]] = (m[1], m[3])
            else:
                raise AssertionError(f"unexpected line from sluice probe: {line!r}")

    def failed(self, hop, *words):
        """The run failed at `hop` (the first FAIL line, the exit status) and its fix says
        every one of `words`."""
        fails = [name for name, (status, _) in self.hops.items() if status == "FAIL"]
        assert fails[:1] == [hop], self.stdout + self.stderr
        assert self.status == EXIT[hop], self.stdout + self.stderr
        for word in words:
            assert word in self.fix, (word, self.stdout)
        return self.hops[hop][1]


@pytest.fixture
def probe(sluice_bin, credentials):
    """Run `sluice probe OPTIONS URL` with a clean environment (plus `env`); fail the test if
    the password, percent-encoded or not, or the Basic token shows up anywhere in its output."""
    import base64
    import subprocess

    secrets = [credentials.password]

    def run(url, *options, env=None, secret=None, wrapper=(), runner=None):
        if secret:
            secrets.append(secret)
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        environment.update(env or {})
        argv = [*wrapper, sluice_bin, "probe", *options, url]
        if runner is not None:
            done = runner(argv)
        else:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=HANG,
                                  env=environment, stdin=subprocess.DEVNULL)
        for marker in SANITIZER_MARKERS:
            assert marker not in done.stderr, done.stderr
        for s in secrets:
            token = base64.b64encode(f"{credentials.user}:{s}".encode()).decode()
            for form in (s, urllib.parse.quote(s, safe=""), token):
                assert form not in done.stdout and form not in done.stderr, \
                    "sluice probe printed a secret"
        return Probed(done)

    return run


def dead_port():
    """A loopback port nothing listens on (bound a moment ago, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site(origins, name="api.anthropic.com", path="/"):
    return f"https://{name}:{origins.https_port}{path}"


def test_every_hop_works_and_the_head_is_shown(probe, proxy, origins, pki):
    run = probe(site(origins, path="/probe?token=not-shown"), "--proxy", proxy.url(), "--ca",
                pki.ca_cert)

    assert run.status == 0, run.stdout
    assert run.fix is None
    assert [h for h, (s, _) in run.hops.items() if s == "FAIL"] == []
    assert run.hops["auth"] == ("ok", "the credentials of user agent were not refused")
    assert run.hops["policy"][1].startswith(f"CONNECT api.anthropic.com:{origins.https_port}: "
                                            "HTTP/1.1 200")
    assert re.fullmatch(r"TLSv1\.[23], certificate valid for api\.anthropic\.com",
                        run.hops["destination-tls"][1]), run.stdout
    assert run.hops["http"] == ("ok", "HEAD /probe: HTTP/1.1 200 OK")
    assert "not-shown" not in run.stdout
    assert run.hops["proxy-tls"][0] == "skip"
    proxy.wait_log(rf" TCP_TUNNEL/200 \d+ CONNECT api\.anthropic\.com:{origins.https_port} "
                   "agent ")


def test_the_proxy_comes_from_the_environment_as_sluice_tunnel_takes_it(probe, proxy, origins,
                                                                         pki):
    url = proxy.url()
    run = probe(site(origins), "--ca", pki.ca_cert,
                env={"https_proxy": url, "HTTPS_PROXY": url, "http_proxy": url,
                     "HTTP_PROXY": url, "NO_PROXY": "localhost,127.0.0.1",
                     "NODE_USE_ENV_PROXY": "1"})

    assert run.status == 0, run.stdout
    status, detail = run.hops["environment"]
    assert status == "ok"
    # One URL for all four, shown without its password.
    assert (f"https_proxy, HTTPS_PROXY, http_proxy, HTTP_PROXY=http://127.0.0.1:{proxy.port} "
            "(user agent)") in detail


def test_node_use_env_proxy_unset_is_a_warning_only(probe, proxy, origins, pki):
    run = probe(site(origins), "--ca", pki.ca_cert, env={"https_proxy": proxy.url()})

    assert run.status == 0, run.stdout
    assert run.hops["environment"][0] == "warn"
    assert "NODE_USE_ENV_PROXY is not 1" in run.hops["environment"][1]


def test_no_proxy_that_covers_the_host_fails_the_environment(probe, proxy, origins, pki):
    run = probe(site(origins), "--ca", pki.ca_cert,
                env={"https_proxy": proxy.url(), "NO_PROXY": "localhost,.anthropic.com",
                     "NODE_USE_ENV_PROXY": "1"})

    detail = run.failed("environment", "'.anthropic.com'", "NO_PROXY")
    assert "sends api.anthropic.com around the proxy" in detail
    # The proxy itself was still probed, and works.
    assert run.hops["http"][0] == "ok"


def test_https_proxy_and_HTTPS_PROXY_that_disagree_fail_the_environment(probe, proxy, origins,
                                                                      pki):
    run = probe(site(origins), "--ca", pki.ca_cert,
                env={"https_proxy": proxy.url(),
                     "HTTPS_PROXY": proxy.url(port=dead_port())})

    run.failed("environment", "https_proxy and HTTPS_PROXY", "same URL")


def test_no_proxy_anywhere_fails_the_environment(probe, origins):
    run = probe(site(origins))

    run.failed("environment", "https_proxy", "--proxy URL")
    assert "proxy-name" not in run.hops


def test_a_proxy_that_is_down_is_named_with_its_address(probe, proxy):
    port = dead_port()
    run = probe("https://api.anthropic.com/", "--proxy", proxy.url(port=port))

    detail = run.failed("proxy-connect", f"nothing listens on 127.0.0.1:{port}")
    assert detail == f"127.0.0.1:{port}: Connection refused"


def test_a_proxy_name_that_does_not_resolve_is_named(probe, proxy):
    run = probe("https://api.anthropic.com/", "--proxy",
                proxy.url(host="proxy.invalid"))

    detail = run.failed("proxy-name", "proxy.invalid does not resolve")
    assert detail.startswith("proxy.invalid does not resolve: ")


def test_a_wrong_password_is_named_and_never_printed(probe, proxy, origins):
    wrong = proxy.password + "-wrong%:@"
    proxy.secrets.append(wrong)
    run = probe(site(origins), "--proxy", proxy.url(password=urllib.parse.quote(wrong,
                                                                                safe="")),
                secret=wrong)

    detail = run.failed("auth", "refused the password for user agent",
                        "check PROXY_PASS or the users file")
    assert "407" in detail and "auth-failed" in detail
    assert "policy" not in run.hops


def test_no_credentials_are_named(probe, proxy, origins):
    run = probe(site(origins), "--proxy", proxy.url(user=""))

    detail = run.failed("auth", "wants a user and password", "--proxy has none")
    assert "auth-required" in detail


def test_a_denied_domain_names_the_allowlist_and_the_config_file(probe, proxy, origins):
    run = probe(site(origins, name="www.google.com"), "--proxy", proxy.url())

    detail = run.failed("policy", "www.google.com is not in the allowlist",
                        f"add it to allow or allow_file in {proxy.config_path}")
    assert "403" in detail and "domain-denied" in detail
    assert run.hops["auth"][0] == "ok"


def test_an_untrusted_origin_certificate_is_named(probe, proxy, origins):
    # No --ca: the system's store does not know the test CA.
    run = probe(site(origins), "--proxy", proxy.url())

    detail = run.failed("destination-tls", "api.anthropic.com", "does not trust", "--ca FILE")
    assert "unable to get local issuer certificate" in detail
    assert run.hops["policy"][0] == "ok"


def test_an_origin_that_is_down_is_the_destination_hop(probe, make_proxy, origins, pki):
    port = dead_port()
    proxy = make_proxy(connect_ports=(*origins.ports, port))
    run = probe(f"https://api.anthropic.com:{port}/", "--proxy", proxy.url(), "--ca",
                pki.ca_cert)

    detail = run.failed("destination", f"nothing answers at api.anthropic.com:{port}")
    assert "cannot connect" in detail
    assert run.hops["policy"] == ("ok", "allowed")


def test_plain_http_allowed_shows_the_origins_status(probe, http_proxy, http_origin):
    run = probe(f"http://api.anthropic.com:{http_origin.port}/hello", "--proxy",
                http_proxy.url())

    assert run.status == 0, run.stdout
    assert run.hops["destination-tls"][0] == "skip"
    assert run.hops["http"] == ("ok", "HEAD /hello through the proxy: HTTP/1.1 200 OK")
    (req,) = http_origin.wait_requests(1)
    assert req.method == "HEAD"


def test_plain_http_whose_origin_fails_is_the_http_hop(probe, http_proxy, http_origin):
    run = probe(f"http://api.anthropic.com:{http_origin.port}/status/503", "--proxy",
                http_proxy.url())

    detail = run.failed("http", "answers 503")
    assert "HTTP/1.1 503" in detail


def test_plain_http_denied_is_the_policy_hop(probe, http_proxy, http_origin):
    run = probe(f"http://www.google.com:{http_origin.port}/", "--proxy", http_proxy.url())

    run.failed("policy", "www.google.com is not in the allowlist", http_proxy.config_path)
    assert http_origin.connections == 0


def test_an_https_proxy_verified_with_proxy_ca(probe, tls_proxy, proxy_pki, origins, pki):
    run = probe(site(origins), "--proxy", https_url(tls_proxy), "--proxy-ca",
                proxy_pki.ca_cert, "--ca", pki.ca_cert)

    assert run.status == 0, run.stdout
    assert "certificate valid for localhost" in run.hops["proxy-tls"][1]
    # TLS to the origin inside TLS to the proxy.
    assert run.hops["destination-tls"][0] == "ok"
    assert run.hops["http"] == ("ok", "HEAD /: HTTP/1.1 200 OK")


def test_an_https_proxy_without_proxy_ca_names_the_option(probe, tls_proxy, origins):
    run = probe(site(origins), "--proxy", https_url(tls_proxy))

    detail = run.failed("proxy-tls", "--proxy-ca FILE")
    assert "unable to get local issuer certificate" in detail
    tls_proxy.wait_log(r" NONE/000 0 NONE - - HIER_NONE/- - tls-failed$")
    assert not [line for line in tls_proxy.log_lines() if "CONNECT" in line]


def test_json_output(probe, proxy, origins):
    run = probe(site(origins, name="www.google.com"), "--json", "--proxy", proxy.url())

    assert run.status == EXIT["policy"]
    report = json.loads(run.stdout)
    assert report["ok"] is False
    assert report["failed_hop"] == "policy"
    assert report["exit"] == EXIT["policy"]
    assert [h["hop"] for h in report["hops"]] == [
        "environment", "direct", "proxy-name", "proxy-connect", "proxy-tls", "auth", "policy"]
    assert {h["status"] for h in report["hops"]} <= {"ok", "warn", "skip", "FAIL"}
    assert "www.google.com is not in the allowlist" in report["fix"]


def test_json_output_of_a_success(probe, proxy, origins, pki):
    run = probe(site(origins), "--json", "--timeout", "2.5", "--proxy", proxy.url(), "--ca",
                pki.ca_cert)

    report = json.loads(run.stdout)
    assert (report["ok"], report["failed_hop"], report["exit"], report["fix"]) == (
        True, None, 0, None)
    assert report["hops"][-1] == {"hop": "http", "status": "ok",
                                  "detail": "HEAD /: HTTP/1.1 200 OK"}


@pytest.fixture
def squid(origins, credentials, isolated_network):
    server = Squid(user=credentials.user, password=credentials.password,
                   allowed=["api.anthropic.com"], ports=[443, origins.https_port],
                   hosts={name: "127.0.0.1" for name in ORIGIN_NAMES})
    server.start()
    yield server
    server.close()


def squid_url(squid, password=None):
    password = squid.password if password is None else password
    return f"http://{squid.user}:{urllib.parse.quote(password, safe='')}@127.0.0.1:{squid.port}"


def test_squid_refusing_a_domain_is_recognised(probe, squid, origins):
    run = probe(site(origins, name="www.google.com"), "--proxy", squid_url(squid))

    detail = run.failed("policy", "Squid's http_access", "dstdomain")
    assert "ERR_ACCESS_DENIED" in detail


def test_squid_refusing_the_password_is_the_auth_hop(probe, squid, origins):
    wrong = squid.password + "x"
    run = probe(site(origins), "--proxy", squid_url(squid, wrong), secret=wrong)

    run.failed("auth", "Squid refused the password for user agent")


def test_squid_allowing_a_domain_works(probe, squid, origins, pki):
    run = probe(site(origins), "--proxy", squid_url(squid), "--ca", pki.ca_cert)

    assert run.status == 0, run.stdout
    assert run.hops["http"] == ("ok", "HEAD /: HTTP/1.1 200 OK")


def test_inside_sluice_run_there_is_no_route_but_the_proxy(probe, sandbox, origins):
    site_ = sandbox.site("api.anthropic.com")
    # Inside, sluice probe takes the proxy from the environment sluice run sets.
    run = probe(site_.url, "--ca", sandbox.ca_cert,
                runner=lambda argv: sandbox.run(argv))

    assert run.status == 0, run.stdout + run.stderr
    status, detail = run.hops["direct"]
    assert status == "ok"
    assert detail.startswith("no route except the proxy (")
    assert "as sluice run promises" in detail
    assert run.hops["environment"][0] == "ok"
    assert run.hops["auth"] == ("ok", "no credentials sent, none asked for")
    assert run.hops["http"] == ("ok", "HEAD /: HTTP/1.1 200 OK")


def test_usage_errors_exit_2(sluice_bin):
    import subprocess

    for argv in (["probe"], ["probe", "ftp://example.org/"], ["probe", "--timeout", "x",
                                                                "https://example.org/"],
                 ["probe", "--proxy", "http://a:b@:1", "https://example.org/"]):
        done = subprocess.run([sluice_bin, *argv], capture_output=True, text=True, timeout=HANG)
        assert done.returncode == 2, (argv, done.stderr)
        assert "usage: sluice probe" in done.stderr
    done = subprocess.run([sluice_bin, "probe", "--help"], capture_output=True, text=True,
                          timeout=HANG)
    assert done.returncode == 0
    for hop, code in EXIT.items():
        assert re.search(rf"^ +{code} +{hop} ", done.stdout, re.M), hop


def test_a_route_out_inside_sluice_runs_environment_fails_the_direct_hop(probe, netns):
    # sluice run's environment, in a namespace of the test's own whose default route leads
    # into a veth pair with both ends in that namespace (whatever went out would come back
    # in there; the UDP connect() that asks for a route sends nothing anyway). The
    # destination is an address: nothing to resolve.
    netns.run(["ip", "link", "add", "probe0", "type", "veth", "peer", "name", "probe1"],
              check=True)
    for args in (["ip", "link", "set", "probe0", "up"], ["ip", "link", "set", "probe1", "up"],
                 ["ip", "addr", "add", "10.201.0.1/24", "dev", "probe0"],
                 ["ip", "route", "add", "default", "via", "10.201.0.2"]):
        netns.run(args, check=True)
    inside = "http://127.0.0.1:3128"
    env = {var: inside for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
                                   "ALL_PROXY", "all_proxy", "GRPC_PROXY")}
    env.update(NO_PROXY="localhost,127.0.0.1,::1", no_proxy="localhost,127.0.0.1,::1",
               NODE_USE_ENV_PROXY="1")

    run = probe("https://192.0.2.10/", env=env, wrapper=netns.cmd())

    detail = run.failed("direct", "sluice run's environment but a way out")
    assert detail.startswith("inside sluice run, yet a route to 192.0.2.10:443 exists")
    # The proxy was still probed: nothing listens on 3128 in this namespace.
    assert run.hops["proxy-connect"][0] == "FAIL"
