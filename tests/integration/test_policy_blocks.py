# SPDX-License-Identifier: MIT
"""Policies per identity (`policy NAME` blocks with `members`): one team's research agent and
another's CI bot share a proxy but not an allowlist. Real curl through the real binary to the
TLS origins on loopback; every line of the access log names the policy the request was
judged under."""

import json
import re
import select
import socket
import subprocess
import time

import pytest

from helpers import assert_refusal, curl
from opsutil import edit_config, reload_lines, reload_summary, wait_reload, wait_until
from proxyclient import connect, connect_head
from sluiceproc import SEED_DOMAINS, run_cli

BOT_PASSWORD = "bot-password-7"


@pytest.fixture
def two_users(tmp_path, users_file):
    """The session's users file plus `bot` (bcrypt at cost 4: quick to check)."""
    path = tmp_path / "users.htpasswd"
    path.write_text(open(users_file).read())
    subprocess.run(["htpasswd", "-B", "-C", "4", "-i", str(path), "bot"], input=BOT_PASSWORD,
                   text=True, check=True, capture_output=True, timeout=60)
    return str(path)


def remove_user(path, name):
    """Take `name`'s lines out of the htpasswd file `path` (rewritten in place)."""
    with open(path) as f:
        kept = [line for line in f if not line.startswith(f"{name}:")]
    with open(path, "w") as f:
        f.writelines(kept)


def research_policy(origins, *more):
    # The seed's domains for everyone (top level); the bot gets another list. A block starts
    # from the built-in defaults, not from the top level: it names its ports and (the origins
    # being on loopback) its allow_cidr too.
    return ["policy research", "members bot", "allow www.google.com api.anthropic.com",
            f"connect_ports 443 {origins.https_port}", "allow_cidr 127.0.0.0/8", *more]


def through(proxy, pki, origins, host, user=None, password=None):
    url = f"https://{host}:{origins.https_port}/"
    return curl(proxy.url(user=user, password=password), url, pki.ca_cert,
                "--write-out", "%{http_connect}", "--output", "/dev/null")


def test_two_users_reach_what_their_own_policy_allows(make_proxy, two_users, pki, origins):
    proxy = make_proxy(users=two_users, extra=research_policy(origins))
    port = origins.https_port

    assert through(proxy, pki, origins, "api.replicate.com").stdout == "200"
    assert through(proxy, pki, origins, "www.google.com").stdout == "403"
    assert through(proxy, pki, origins, "www.google.com", "bot", BOT_PASSWORD).stdout == "200"
    assert through(proxy, pki, origins, "api.replicate.com", "bot",
                   BOT_PASSWORD).stdout == "403"

    proxy.wait_log(r" CONNECT ", count=4)
    lines = proxy.log_lines()
    assert re.search(rf" TCP_TUNNEL/200 \d+ CONNECT api\.replicate\.com:{port} agent "
                     r"HIER_DIRECT/127\.0\.0\.1 - policy:default$", lines[0]), lines[0]
    assert lines[1].endswith(" text/plain policy:default domain-denied"), lines[1]
    assert re.search(rf" TCP_TUNNEL/200 \d+ CONNECT www\.google\.com:{port} bot "
                     r"HIER_DIRECT/127\.0\.0\.1 - policy:research$", lines[2]), lines[2]
    assert lines[3].endswith(" text/plain policy:research domain-denied"), lines[3]


def test_the_json_log_names_the_policy(make_proxy, two_users, pki, origins):
    # access_log_format is global: it goes above the block.
    proxy = make_proxy(users=two_users, extra=["access_log_format json",
                                                      *research_policy(origins)])

    through(proxy, pki, origins, "www.google.com", "bot", BOT_PASSWORD)
    through(proxy, pki, origins, "api.anthropic.com")
    through(proxy, pki, origins, "api.anthropic.com", "bot", "wrong")

    proxy.wait_log(r"^\{", count=3)
    got = [(e["user"], e["policy"], e["status"]) for e in map(json.loads, proxy.log_lines())]
    # A request refused before anyone was identified is judged under the default policy.
    assert got == [("bot", "research", 200), ("agent", "default", 200),
                   (None, "default", 407)], got


def test_without_blocks_the_squid_line_is_unchanged_and_json_says_default(make_proxy, pki,
                                                                          origins):
    proxy = make_proxy()
    through(proxy, pki, origins, "api.anthropic.com")
    proxy.wait_log(r" CONNECT ")
    assert proxy.log_lines()[0].endswith(" HIER_DIRECT/127.0.0.1 -"), proxy.log_lines()


def test_a_global_directive_inside_a_block_is_refused_naming_the_line(sluice_bin, tmp_path):
    conf = tmp_path / "sluice.conf"
    conf.write_text("allow a.example\npolicy ci\nmembers bot\nconnect_timeout 5s\n")

    done = run_cli(sluice_bin, "check", "-c", str(conf))

    assert done.returncode == 1
    assert (f"{conf}:4: connect_timeout applies to the whole proxy, not to policy ci: move "
            "it above the first 'policy' line") in done.stderr, done.stderr


def test_an_unknown_member_is_refused_at_start_and_by_check(sluice_bin, tmp_path,
                                                             two_users):
    conf = tmp_path / "sluice.conf"
    conf.write_text(f"users {two_users}\nallow a.example\npolicy ci\nmembers bot robot\n")

    for args in (["check", "-c", str(conf)], ["serve", "-c", str(conf)]):
        done = run_cli(sluice_bin, *args, timeout=20)
        assert done.returncode == 1, (args, done.stderr)
        assert f"{conf}:4: members: robot is not in {two_users}" in done.stderr, done.stderr
        assert "bot is not" not in done.stderr.replace("robot is not", "")


def test_removing_a_member_from_the_users_file_reloads_with_a_warning(make_proxy, two_users,
                                                                      pki, origins):
    # Revoking a leaked credential is one edit: the reload goes through (the bot's requests
    # stop), and the stale member line is pointed out rather than keeping the old users.
    proxy = make_proxy(users=two_users, extra=research_policy(origins))
    assert through(proxy, pki, origins, "www.google.com", "bot", BOT_PASSWORD).stdout == "200"
    before = len(reload_lines(proxy))

    remove_user(two_users, "bot")
    wait_reload(proxy, before)

    assert any(re.search(rf"reload: {re.escape(proxy.config_path)}:\d+: members: bot is not "
                         rf"in {re.escape(two_users)}$", line)
               for line in proxy.stderr().splitlines()), proxy.stderr()
    assert through(proxy, pki, origins, "www.google.com", "bot",
                   BOT_PASSWORD).stdout == "407"


def test_sluice_run_refuses_policy_blocks(sluice_bin, tmp_path):
    # The sandbox has one client, the command: a block could never apply.
    conf = tmp_path / "run.conf"
    conf.write_text("allow a.example\npolicy ci\nmembers bot\n")

    done = run_cli(sluice_bin, "run", "-c", str(conf), "--", "true")

    assert done.returncode == 125, done.stderr
    assert (f"{conf}:2: policy ci: sluice run has one client, the command, and the top-level "
            "rules are its policy") in done.stderr, done.stderr


def test_deny_wins_over_allow_and_names_the_rule(make_proxy, origins):
    # The example: all of Google's APIs but one.
    hosts = {"generativelanguage.googleapis.com": "127.0.0.1",
             "storage.googleapis.com": "127.0.0.1"}
    proxy = make_proxy(allow=(".googleapis.com",), hosts=hosts,
                       extra=["deny storage.googleapis.com"])
    port = origins.echo_port

    reply = connect(proxy.port, f"storage.googleapis.com:{port}", proxy.user, proxy.password)
    assert_refusal(reply, 403, "domain-denied", host="storage.googleapis.com")
    assert reply.body.decode() == (f"sluice: access to storage.googleapis.com:{port} denied: "
                                   f"the domain matches 'deny storage.googleapis.com' in "
                                   f"{proxy.config_path}.\n")

    reply = connect(proxy.port, f"generativelanguage.googleapis.com:{port}", proxy.user,
                    proxy.password)
    assert reply.status == 200, reply.body
    reply.close()


def test_a_deny_file_is_reloaded_when_it_changes(make_proxy, tmp_path, origins):
    deny = tmp_path / "deny.txt"
    deny.write_text("# nothing yet\n")
    proxy = make_proxy(extra=[f"deny_file {deny}"])
    target = f"api.anthropic.com:{origins.echo_port}"
    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert reply.status == 200
    reply.close()
    before = len(reload_lines(proxy))

    deny.write_text("api.anthropic.com  # paused\n")
    wait_reload(proxy, before)

    assert_refusal(connect(proxy.port, target, proxy.user, proxy.password), 403,
                   "domain-denied")


def test_report_mode_lets_refusals_through_and_logs_what_would_be_refused(make_proxy,
                                                                          origins):
    # Rolling out a tighter allowlist: the seed's domains minus one, in report mode first.
    proxy = make_proxy(allow=("api.anthropic.com",), extra=["mode report"])
    echo = origins.echo_port
    target = f"api.replicate.com:{echo}"

    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert reply.status == 200, reply.body
    reply.close()
    proxy.wait_log(r" CONNECT ")
    assert re.search(rf" TCP_TUNNEL/200 \d+ CONNECT {re.escape(target)} agent "
                     r"HIER_DIRECT/127\.0\.0\.1 - report:domain-denied$",
                     proxy.log_lines()[0]), proxy.log_lines()

    # Address classes, authentication and malformed requests are always enforced.
    assert_refusal(connect(proxy.port, "169.254.169.254:443", proxy.user, proxy.password),
                   403, "address-denied")
    assert_refusal(connect(proxy.port, target, proxy.user, "wrong"), 407, "auth-failed")


def test_report_mode_is_per_policy_and_json_says_report(make_proxy, two_users, pki, origins):
    proxy = make_proxy(users=two_users, extra=["access_log_format json",
                                               *research_policy(origins, "mode report")])

    # The bot's policy reports; the top level still enforces.
    assert through(proxy, pki, origins, "api.replicate.com", "bot", BOT_PASSWORD).stdout == \
        "200"
    assert through(proxy, pki, origins, "www.google.com").stdout == "403"

    proxy.wait_log(r"^\{", count=2)
    got = [(e["user"], e["policy"], e["status"], e["report"], e["reason"])
           for e in map(json.loads, proxy.log_lines())]
    assert got == [("bot", "research", 200, "domain-denied", None),
                   ("agent", "default", 403, None, "domain-denied")], got


def test_max_tunnels_counts_per_identity_not_per_policy(make_proxy, two_users, origins):
    proxy = make_proxy(users=two_users, extra=["max_tunnels 2", "workers 2"])
    target = f"api.anthropic.com:{origins.echo_port}"
    held = [connect(proxy.port, target, proxy.user, proxy.password) for _ in range(2)]
    assert [r.status for r in held] == [200, 200]

    third = connect(proxy.port, target, proxy.user, proxy.password)
    assert_refusal(third, 429, "too-many-tunnels")
    assert third.body.decode() == (f"sluice: {target} not opened: agent has 2 tunnels open, "
                                   f"the most policy default allows; close one, or raise "
                                   f"max_tunnels in {proxy.config_path}.\n")
    # Another identity in the same policy has a count of its own.
    other = connect(proxy.port, target, "bot", BOT_PASSWORD)
    assert other.status == 200
    other.close()

    # A closed tunnel gives its place back.
    held.pop().close()
    for _ in range(100):
        again = connect(proxy.port, target, proxy.user, proxy.password)
        if again.status == 200:
            break
        time.sleep(0.05)
    assert again.status == 200, again.body
    again.close()
    for r in held:
        r.close()


def tunnel_is_closed(reply, timeout=5.0):
    """True when the proxy closes the tunnel within `timeout` (EOF or reset)."""
    reply.sock.settimeout(timeout)
    try:
        return reply.sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def still_echoes(reply):
    reply.sock.settimeout(10)
    reply.sock.sendall(b"ping")
    got = b""
    while len(got) < 4:
        chunk = reply.sock.recv(4 - len(got))
        if not chunk:
            return False
        got += chunk
    return got == b"ping"


def test_a_reload_closes_the_tunnels_of_a_removed_user_and_no_others(make_proxy, two_users,
                                                                      origins):
    proxy = make_proxy(users=two_users)
    target = f"api.anthropic.com:{origins.echo_port}"
    bots = connect(proxy.port, target, "bot", BOT_PASSWORD)
    agents = connect(proxy.port, target, proxy.user, proxy.password)
    assert (bots.status, agents.status) == (200, 200)
    assert still_echoes(bots) and still_echoes(agents)
    before = len(reload_lines(proxy))

    remove_user(two_users, "bot")
    wait_reload(proxy, before)

    assert tunnel_is_closed(bots), "the removed user's tunnel stayed open"
    assert still_echoes(agents), "another user's tunnel was closed too"
    proxy.wait_log(rf" TCP_TUNNEL_ABORTED/200 \d+ CONNECT {re.escape(target)} bot "
                   r"HIER_DIRECT/127\.0\.0\.1 - revoked$")
    bots.close()
    agents.close()


def test_a_changed_password_closes_the_tunnels_opened_with_the_old_one(make_proxy,
                                                                       two_users, origins):
    proxy = make_proxy(users=two_users)
    target = f"api.anthropic.com:{origins.echo_port}"
    bots = connect(proxy.port, target, "bot", BOT_PASSWORD)
    assert bots.status == 200
    before = len(reload_lines(proxy))

    subprocess.run(["htpasswd", "-B", "-C", "4", "-i", two_users, "bot"], input="rotated",
                   text=True, check=True, capture_output=True, timeout=60)
    wait_reload(proxy, before)

    assert tunnel_is_closed(bots), "a tunnel opened with the leaked password stayed open"
    bots.close()


def test_a_reload_closes_tunnels_to_a_destination_no_longer_allowed(make_proxy, origins):
    proxy = make_proxy()
    gone = connect(proxy.port, f"api.anthropic.com:{origins.echo_port}", proxy.user,
                   proxy.password)
    kept = connect(proxy.port, f"api.replicate.com:{origins.echo_port}", proxy.user,
                   proxy.password)
    assert (gone.status, kept.status) == (200, 200)
    before = len(reload_lines(proxy))

    edit_config(proxy.config_path, {"allow": ["api.replicate.com"]})
    wait_reload(proxy, before)

    assert tunnel_is_closed(gone)
    assert still_echoes(kept)
    proxy.wait_log(r" TCP_TUNNEL_ABORTED/200 \d+ CONNECT api\.anthropic\.com:\d+ agent "
                   r"HIER_DIRECT/127\.0\.0\.1 - revoked$")
    gone.close()
    kept.close()


def test_a_reload_during_the_password_check_still_revokes(make_proxy, two_users, origins):
    # The user is removed while their (slow) password check runs: the answer that check
    # gives is judged by the new configuration too, before anything is dialled.
    subprocess.run(["htpasswd", "-B", "-C", "15", "-i", two_users, "slow"], input="slow-pw",
                   text=True, check=True, capture_output=True, timeout=120)
    proxy = make_proxy(users=two_users)
    target = f"api.anthropic.com:{origins.echo_port}"
    before = len(reload_lines(proxy))
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=30)
    sock.sendall(connect_head(target, "slow", "slow-pw"))
    remove_user(two_users, "slow")
    wait_reload(proxy, before)
    # Nothing answered yet: the reload came while the hash ran.
    during = not select.select([sock], [], [], 0)[0]

    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    sock.close()
    if during:
        # The check's yes was for a user the reload removed: 407, and no dial.
        assert answer.startswith(b"HTTP/1.1 407"), answer
        proxy.wait_log(rf" TCP_DENIED/407 \d+ CONNECT {re.escape(target)} - HIER_NONE/- "
                       r"text/plain auth-failed$")
    elif answer.startswith(b"HTTP/1.1 200"):
        # The check and the dial were done before the reload: an open tunnel, revoked.
        proxy.wait_log(rf" TCP_TUNNEL_ABORTED/200 \d+ CONNECT {re.escape(target)} slow "
                       r"HIER_DIRECT/127\.0\.0\.1 - revoked$")
    else:
        assert not answer or answer.startswith(b"HTTP/1.1 407"), answer
        if not answer:
            # The reload came while it dialled: never granted, and on record as such.
            proxy.wait_log(rf" NONE/000 0 CONNECT {re.escape(target)} slow HIER_NONE/- - "
                           r"revoked$")


def test_a_reload_during_dns_refuses_before_anything_is_dialled(make_proxy, dns, origins,
                                                                 credentials):
    # The destination's pattern is removed while its name is being resolved: once the
    # answer comes, the request is judged by the new configuration and refused as it would
    # be now (403), and the origin never sees a connection.
    held = "held.blocks.test"
    dns.hold(held)
    dns.set(held, ["127.0.0.1"])
    proxy = make_proxy(allow=(*SEED_DOMAINS, held))
    target = f"{held}:{origins.echo_port}"
    before = len(reload_lines(proxy))
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=30)
    sock.sendall(connect_head(target, credentials.user, credentials.password))
    wait_until(lambda: held in dns.queried_names(), 10, "the proxy's query for the name")
    accepted = len(origins.accepted)

    edit_config(proxy.config_path, {"allow": list(SEED_DOMAINS)})
    wait_reload(proxy, before)
    dns.release(held)
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    sock.close()

    assert answer.startswith(b"HTTP/1.1 403"), answer
    proxy.wait_log(rf" TCP_DENIED/403 \d+ CONNECT {re.escape(target)} {credentials.user} "
                   r"HIER_NONE/- text/plain domain-denied$")
    assert len(origins.accepted) == accepted, origins.accepted[accepted:]


def test_the_reload_summary_counts_the_patterns_of_every_policy(make_proxy, two_users,
                                                                origins):
    # An edit inside a block is a change like any other: the summary says so.
    proxy = make_proxy(users=two_users, extra=research_policy(origins))
    before = len(reload_lines(proxy))

    with open(proxy.config_path, "a") as f:
        f.write("allow api.replicate.com\ndeny storage.googleapis.com\n")   # into the block
    summary = wait_reload(proxy, before)

    assert summary == reload_summary(patterns=(2, 0)), summary
