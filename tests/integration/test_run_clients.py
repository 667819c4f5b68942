# SPDX-License-Identifier: MIT
"""Real clients inside `sluice run` reach an allowed TLS origin through the proxy variables the
sandbox sets — no proxy option on their command line — and a denied name gets the 403 with its
reason; each denial is reported live on stderr (silenced by -q) and in --log.

The origins listen on the host's loopback: only the launcher, serving the proxy from the host's
namespace, can reach them.
"""

import json
import os

import pytest

from origins import echo_trailer
from sluicerun import (INSIDE_PROXY, PROXYCLIENT, assert_denials, matching, python,
                       read_log, run_denied_re, run_tunnel_re)

CURL = ("curl", "--silent", "--show-error", "--max-time", "30")

REQUESTS_GET = """
import sys, requests
response = requests.get(sys.argv[1], verify=sys.argv[2], timeout=30)
print(response.status_code)
sys.stdout.write(response.text)
"""

REQUESTS_DENIED = """
import sys, requests
try:
    requests.get(sys.argv[1], verify=sys.argv[2], timeout=30)
except requests.exceptions.ProxyError as exc:
    print("ProxyError", exc)
    sys.exit(3)
"""

HTTPX_GET = """
import sys, httpx
with httpx.Client(verify=sys.argv[2], timeout=30) as client:  # trust_env: the default
    response = client.get(sys.argv[1])
print(response.status_code)
sys.stdout.write(response.text)
"""

HTTPX_DENIED = """
import sys, httpx
with httpx.Client(verify=sys.argv[2], timeout=30) as client:
    try:
        client.get(sys.argv[1])
    except httpx.ProxyError as exc:
        print("ProxyError", exc)
        sys.exit(3)
"""


def test_the_sandbox_environment_names_only_the_inside_proxy(sandbox):
    done = sandbox.run(["env"], env={"PATH": "/usr/bin:/bin", "KEEP_ME": "yes"})

    assert done.returncode == 0, done.stderr
    env = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
                "all_proxy", "GRPC_PROXY"):
        assert env.get(var) == INSIDE_PROXY, (var, env.get(var))
    assert env["NO_PROXY"] == env["no_proxy"] == "localhost,127.0.0.1,::1"
    assert env["NODE_USE_ENV_PROXY"] == "1"
    assert env["KEEP_ME"] == "yes"
    # The policy's connect_ports has no 22: no ssh tunnel for git.
    assert "GIT_SSH_COMMAND" not in env


def test_clean_env_starts_empty_and_env_adds_variables(sandbox):
    done = sandbox.run(["/usr/bin/env"], "--clean-env", "--env", "SET_HERE=value=with=equals",
                       "--env", "PASSED_ON",
                       env={"PATH": "/usr/bin:/bin", "PASSED_ON": "from-launcher",
                            "LEFT_OUT": "x"})

    assert done.returncode == 0, done.stderr
    env = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert env == {
        **{var: INSIDE_PROXY for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                                          "https_proxy", "ALL_PROXY", "all_proxy",
                                          "GRPC_PROXY")},
        "NO_PROXY": "localhost,127.0.0.1,::1", "no_proxy": "localhost,127.0.0.1,::1",
        "NODE_USE_ENV_PROXY": "1", "SET_HERE": "value=with=equals",
        "PASSED_ON": "from-launcher"}


def test_git_ssh_command_tunnels_through_sluice_when_port_22_is_allowed(sandbox, sluice_bin):
    config = sandbox.write_policy("ssh.conf", extra=["connect_ports 22"])

    done = sandbox.run(["printenv", "GIT_SSH_COMMAND"], "-c", config, config=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"ssh -o ProxyCommand='{sluice_bin} tunnel %h %p'"


def test_sluice_tunnel_relays_stdin_through_the_proxy(sandbox, sluice_bin):
    # What GIT_SSH_COMMAND's ProxyCommand runs, here against the echo origin (half-close
    # included: the origin's trailer comes only after it saw EOF).
    target_port = str(sandbox.origins.echo_port)

    done = sandbox.run([sluice_bin, "tunnel", "api.anthropic.com", target_port],
                       input="ssh-like bytes\n")

    assert done.returncode == 0, done.stderr
    assert done.stdout == "ssh-like bytes\n" + echo_trailer(15).decode()


def test_curl_reaches_an_allowed_origin_through_the_proxy_variables(sandbox):
    site = sandbox.site("api.anthropic.com", "/v1/messages")
    log = sandbox.new_log()

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, site.url], "--log", log)

    assert done.returncode == 0, done.stderr
    assert done.stdout == site.expected
    assert_denials(done)
    assert matching(read_log(log), run_tunnel_re(site.target)), read_log(log)


def test_curl_gets_403_for_a_denied_name_reported_on_stderr_and_in_the_log(sandbox):
    site = sandbox.site("www.google.com")
    log = sandbox.new_log()

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, "--write-out",
                        "%{http_connect}", site.url], "--log", log)

    assert done.returncode == 56, (done.returncode, done.stderr)
    assert done.stdout == "403"
    assert "CONNECT tunnel failed, response 403" in done.stderr
    assert_denials(done, site.target)
    assert matching(read_log(log), run_denied_re(403, site.target, "domain-denied")), (
        read_log(log))


def test_the_refusal_inside_names_the_reason(sandbox):
    target = f"www.google.com:{sandbox.origins.https_port}"

    done = sandbox.run(python(PROXYCLIENT, "--proxy", "127.0.0.1:3128", "--target", target))

    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["status"] == 403
    assert reply["headers"]["x-sluice-error"] == "domain-denied"
    assert target in reply["body"] and "not in the allowlist" in reply["body"], reply["body"]


def test_the_proxy_also_listens_on_ipv6_loopback_inside(sandbox):
    site = sandbox.site("api.replicate.com", "/v1/ipv6")

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, "--proxy", "http://[::1]:3128",
                        site.url])

    assert done.returncode == 0, done.stderr
    assert done.stdout == site.expected


def test_port_option_moves_the_inside_proxy(sandbox):
    site = sandbox.site("api.anthropic.com", "/port")

    done = sandbox.run(["sh", "-c", 'echo "$HTTPS_PROXY"; exec "$@"', "sh",
                        *CURL, "--cacert", sandbox.ca_cert, site.url], "--port", "8080")

    assert done.returncode == 0, done.stderr
    assert done.stdout == "http://127.0.0.1:8080\n" + site.expected


def test_quiet_silences_the_denial_on_stderr_but_not_the_log(sandbox):
    site = sandbox.site("www.google.com")
    log = sandbox.new_log()

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, site.url], "-q", "--log", log)

    assert done.returncode == 56
    assert "sluice:" not in done.stderr, done.stderr
    assert matching(read_log(log), run_denied_re(403, site.target, "domain-denied"))


def test_several_requests_in_one_run_each_get_their_log_line(sandbox):
    allowed = [sandbox.site(name, "/many") for name in
               ("api.anthropic.com", "generativelanguage.googleapis.com", "api.replicate.com")]
    denied = sandbox.site("www.google.com", "/many")
    log = sandbox.new_log()
    script = "; ".join(f"curl -sS --max-time 30 --cacert {sandbox.ca_cert} {s.url}"
                       for s in allowed + [denied])

    done = sandbox.run(["sh", "-c", script], "--log", log)

    assert done.returncode == 56  # the last one, the denied name
    assert done.stdout == "".join(s.expected for s in allowed)
    lines = read_log(log)
    for site in allowed:
        assert matching(lines, run_tunnel_re(site.target)), (site.target, lines)
    assert matching(lines, run_denied_re(403, denied.target, "domain-denied")), lines
    assert len(lines) == 4, lines


def test_allow_flag_adds_to_the_policy_file(sandbox):
    # The file allows no domain (only ports, addresses, hosts): --allow alone decides.
    site = sandbox.site("www.google.com", "/flags")
    other = sandbox.site("api.anthropic.com", "/flags")
    config = sandbox.write_policy("no-domains.conf", allow=())

    done = sandbox.run(["sh", "-c", f"curl -sS --max-time 30 --cacert {sandbox.ca_cert} "
                        f"{site.url} && curl -sS --max-time 30 --cacert {sandbox.ca_cert} "
                        f"{other.url}"],
                       "-c", config, "--allow", "www.google.com", config=False)

    assert done.returncode == 56, done.stderr
    assert done.stdout == site.expected
    assert_denials(done, other.target)


def test_requests_inside_uses_the_proxy_variables(sandbox):
    site = sandbox.site("generativelanguage.googleapis.com", "/v1beta/models")

    done = sandbox.run(python("-c", REQUESTS_GET, site.url, sandbox.ca_cert))

    assert done.returncode == 0, done.stderr
    assert done.stdout == "200\n" + site.expected


def test_requests_inside_gets_403_for_a_denied_name(sandbox):
    site = sandbox.site("www.google.com", "/requests")

    done = sandbox.run(python("-c", REQUESTS_DENIED, site.url, sandbox.ca_cert))

    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert "403" in done.stdout, done.stdout
    assert_denials(done, site.target)


def test_httpx_inside_uses_the_proxy_variables(sandbox):
    site = sandbox.site("api.anthropic.com", "/httpx")

    done = sandbox.run(python("-c", HTTPX_GET, site.url, sandbox.ca_cert))

    assert done.returncode == 0, done.stderr
    assert done.stdout == "200\n" + site.expected


def test_httpx_inside_gets_403_for_a_denied_name(sandbox):
    site = sandbox.site("www.google.com", "/httpx")

    done = sandbox.run(python("-c", HTTPX_DENIED, site.url, sandbox.ca_cert))

    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert "403" in done.stdout, done.stdout
    assert_denials(done, site.target)


def test_node_undici_inside_uses_the_proxy_variables(sandbox, node_fetch):
    site = sandbox.site("api.replicate.com", "/v1/node")
    log = sandbox.new_log()

    done = sandbox.run([*node_fetch, "env-agent", site.url, sandbox.ca_cert], "--log", log,
                       timeout=90)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": 200, "body": site.expected}
    assert matching(read_log(log), run_tunnel_re(site.target)), read_log(log)


def test_node_undici_inside_gets_403_for_a_denied_name(sandbox, node_fetch):
    site = sandbox.site("www.google.com", "/node")

    done = sandbox.run([*node_fetch, "env-agent", site.url, sandbox.ca_cert], timeout=90)

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "403" in done.stderr, done.stderr
    assert_denials(done, site.target)


@pytest.mark.parametrize("flag", ["--allow", "--allow-cidr"])
def test_an_invalid_policy_flag_is_refused_before_anything_runs(sandbox, flag):
    # Either a usage error or sluice's own failure; never the command run under a partial
    # policy.
    marker = os.path.join(sandbox.out, "ran")

    done = sandbox.run(["touch", marker], flag, "not a valid value!")

    assert done.returncode in (2, 125), (done.returncode, done.stderr)
    assert flag in done.stderr
    assert not os.path.exists(marker)


# ---- ports from the command line ----

def policy_without_ports(sandbox, name="no-ports.conf"):
    """A policy that allows the seed's names but leaves connect_ports at its default (443)."""
    path = os.path.join(sandbox.dir, name)
    with open(path, "w") as f:
        f.write(f"allow api.anthropic.com\nallow_cidr 127.0.0.0/8\n"
                f"hosts_file {sandbox.hosts_file}\n")
    os.chmod(path, 0o644)
    return path


def test_a_port_denial_names_the_flag_that_allows_it(sandbox):
    site = sandbox.site("api.anthropic.com", "/ports")

    done = sandbox.run(["curl", "-sS", "--max-time", "30", "--cacert", sandbox.ca_cert,
                        site.url], "-c", policy_without_ports(sandbox), config=False)

    assert done.returncode == 56, done.stderr
    assert_denials(done, site.target, reason="port not allowed; --connect-ports adds it")


def test_connect_ports_flag_adds_a_port_to_the_default(sandbox):
    site = sandbox.site("api.anthropic.com", "/ports")
    on_443 = "https://api.anthropic.com/"

    done = sandbox.run(["sh", "-c", 'curl -sS --max-time 30 --cacert "$1" "$2"; '
                        'curl -sS --max-time 30 --cacert "$1" "$3"; echo " exit=$?"', "sh",
                        sandbox.ca_cert, site.url, on_443],
                       "-c", policy_without_ports(sandbox),
                       "--connect-ports", f"22,{site.target.rsplit(':', 1)[1]}",
                       config=False)

    assert done.stdout.startswith(site.expected), done.stderr
    # 443 stays allowed: refused by nobody listening there, not by the policy. Behind the
    # SNI check the 200 comes before the dial (after the ClientHello), so curl sees the
    # connection end (35) where it used to get a 502 (56).
    assert done.stdout.endswith(" exit=35\n"), done.stdout
    assert_denials(done)
    assert_denials(done, "api.anthropic.com:443", reason="cannot connect", verb="failed")


@pytest.mark.parametrize("value", ["0", "65536", "http", "80-", "443,,8443", "9000-8000"])
def test_a_bad_port_list_is_refused_before_anything_runs(sandbox, value):
    marker = os.path.join(sandbox.out, "ran")

    done = sandbox.run(["touch", marker], "--connect-ports", value)

    assert done.returncode == 125, (done.returncode, done.stderr)
    assert "--connect-ports:" in done.stderr
    assert not os.path.exists(marker)
