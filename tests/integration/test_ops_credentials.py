# SPDX-License-Identifier: MIT
"""Credential rotation without a restart: a user may have several lines in the users file (one
hash each), so a new password can be added, used alongside the old one, and the old line
removed. A removed or changed password is refused by the first request after the reload,
even when the proxy had just verified (and cached) it."""

import secrets

import pytest

from helpers import assert_refusal, curl
from opsutil import (htpasswd_line, reload_summary, replace_file, serving, wait_reload,
                     write_in_place)
from origins import echo_trailer, https_greeting
from proxyclient import connect, echo_through
from rawhttp import Client, auth_field, request


def tunnel_works(proxy, target, user, password):
    reply = connect(proxy.port, target, user, password)
    if reply.status != 200:
        return reply
    payload = secrets.token_bytes(1000)
    assert echo_through(reply.sock, payload) == payload + echo_trailer(len(payload))
    reply.close()
    return reply


def assert_accepted(proxy, target, user, password, when):
    reply = tunnel_works(proxy, target, user, password)
    assert reply.status == 200, (f"{when}: {user}'s password refused: {reply.status} "
                                 f"{reply.error_code}")


def assert_refused(proxy, target, user, password, when):
    reply = connect(proxy.port, target, user, password)
    reply.close()
    assert reply.status == 407 and reply.error_code == "auth-failed", (
        f"{when}: expected 407 auth-failed, got {reply.status} {reply.error_code}")


@pytest.fixture
def rotation(make_proxy, tmp_path, users_file):
    """A proxy whose users file holds the fixture's agent and `rotor` with an old password;
    returns (proxy, users path, agent line, old password, old line)."""
    old = secrets.token_urlsafe(15)
    old_line = htpasswd_line("rotor", old)
    with open(users_file) as f:
        agent_line = f.read().strip()
    users = tmp_path / "users.htpasswd"
    users.write_text(f"{agent_line}\n{old_line}\n")
    proxy = make_proxy(users=str(users))
    proxy.secrets.append(old)
    return proxy, str(users), agent_line, old, old_line


def test_rotation_with_overlap_then_the_old_password_is_refused_at_once(rotation, origins,
                                                                         pki):
    proxy, users, agent_line, old, old_line = rotation
    target = f"api.anthropic.com:{origins.echo_port}"
    new = secrets.token_urlsafe(15)
    proxy.secrets.append(new)
    new_line = htpasswd_line("rotor", new)
    pid = proxy.pid
    # The old password is verified (and cached) several times before the rotation starts.
    for _ in range(3):
        assert_accepted(proxy, target, "rotor", old, "before the rotation")
    assert_refused(proxy, target, "rotor", new, "before the new line exists")

    # 1. The secret manager adds the new line (replacing the file by rename).
    replace_file(users, f"{agent_line}\n{old_line}\n{new_line}\n")
    assert wait_reload(proxy, before=0) == reload_summary(hashes=(1, 0))

    # During the overlap both passwords work, with real clients too.
    for password in (old, new, old, new):
        assert_accepted(proxy, target, "rotor", password, "during the overlap")
    site = f"https://api.anthropic.com:{origins.https_port}/rotation"
    for password in (old, new):
        done = curl(proxy.url(user="rotor", password=password), site, pki.ca_cert)
        assert done.returncode == 0, done.stderr
        assert done.stdout == https_greeting("api.anthropic.com",
                                             f"api.anthropic.com:{origins.https_port}",
                                             "/rotation")

    # 2. Every client has the new password; the old line goes (file rewritten in place).
    write_in_place(users, f"{agent_line}\n{new_line}\n")
    assert wait_reload(proxy, before=1) == reload_summary(hashes=(0, 1))

    # The very first request with the old password after the reload is refused.
    assert_refused(proxy, target, "rotor", old, "right after the old line was removed")
    done = curl(proxy.url(user="rotor", password=old), site, pki.ca_cert)
    assert done.returncode != 0 and "407" in done.stderr, (done.returncode, done.stderr)
    assert_accepted(proxy, target, "rotor", new, "after the rotation")
    assert_accepted(proxy, target, "agent", proxy.password, "after the rotation")
    assert proxy.pid == pid and proxy.running


@pytest.mark.parametrize("change", ["password-replaced", "user-removed"])
def test_a_cached_password_stops_working_with_the_reload_that_removes_it(rotation, origins,
                                                                         change):
    proxy, users, agent_line, old, _ = rotation
    target = f"api.anthropic.com:{origins.echo_port}"
    assert_accepted(proxy, target, "rotor", old, "before the change")
    assert_accepted(proxy, target, "rotor", old, "before the change (cached)")

    if change == "password-replaced":
        new = secrets.token_urlsafe(15)
        proxy.secrets.append(new)
        replace_file(users, f"{agent_line}\n{htpasswd_line('rotor', new)}\n")
        expected = reload_summary(hashes=(1, 1))
    else:
        new = None
        replace_file(users, f"{agent_line}\n")
        expected = reload_summary(users=(0, 1), hashes=(0, 1))
    assert wait_reload(proxy, before=0) == expected

    assert_refused(proxy, target, "rotor", old, f"first request after {change}")
    assert_refused(proxy, target, "rotor", old, f"second request after {change}")
    if new is not None:
        assert_accepted(proxy, target, "rotor", new, f"after {change}")


def test_an_open_keep_alive_connection_cannot_keep_using_a_removed_password(
        rotation, http_origin):
    proxy, users, agent_line, old, _ = rotation
    serving(proxy)
    edit = open(proxy.config_path).read() + f"http_ports {http_origin.port}\n"
    replace_file(proxy.config_path, edit)
    wait_reload(proxy, before=0)
    url = f"http://api.anthropic.com:{http_origin.port}"

    with Client(proxy.port) as client:
        client.send(request("GET", f"{url}/with-the-old-password", auth=auth_field("rotor", old)))
        assert client.response().status == 200

        replace_file(users, f"{agent_line}\n")
        assert wait_reload(proxy, before=1) == reload_summary(users=(0, 1), hashes=(0, 1))

        client.send(request("GET", f"{url}/old-password-again", auth=auth_field("rotor", old)))
        reply = client.response()

    assert_refusal(reply, 407, "auth-failed")
    assert [r.target for r in http_origin.requests] == ["/with-the-old-password"]
