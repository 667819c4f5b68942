# SPDX-License-Identifier: MIT
"""Basic proxy authentication: 407 with the right challenge when credentials are missing or
wrong, every accepted htpasswd hash kind works, and no secret ever reaches the log."""

import base64
import ctypes
import re
import subprocess

import pytest

from helpers import assert_refusal, curl
from origins import echo_trailer
from proxyclient import basic_credentials, connect, echo_through, send_head
from sluiceproc import denied_line_re, tunnel_line_re


def assert_challenge(reply):
    assert reply.headers.get("proxy-authenticate") == 'Basic realm="sluice"', reply.headers


def test_missing_credentials_get_407_auth_required(proxy, origins):
    target = f"api.anthropic.com:{origins.https_port}"

    reply = connect(proxy.port, target)

    assert_refusal(reply, 407, "auth-required", host="api.anthropic.com")
    assert_challenge(reply)
    proxy.wait_log(denied_line_re(407, target, "auth-required", user="-"))


def test_wrong_password_gets_407_auth_failed(proxy, origins):
    wrong = "not-" + proxy.password
    proxy.secrets += [wrong, basic_credentials(proxy.user, wrong).split()[1]]
    target = f"api.anthropic.com:{origins.https_port}"

    reply = connect(proxy.port, target, proxy.user, wrong)

    assert_refusal(reply, 407, "auth-failed", host="api.anthropic.com")
    assert_challenge(reply)
    # The user field of a failed login is not specified; the rest of the line is.
    proxy.wait_log(r"^\d+\.\d{3} +\d+ 127\.0\.0\.1 TCP_DENIED/407 \d+ CONNECT "
                   + re.escape(target) + r" \S+ HIER_NONE/- text/plain auth-failed$")


def test_unknown_user_gets_407_auth_failed(proxy, origins):
    reply = connect(proxy.port, f"api.anthropic.com:{origins.https_port}", "mallory",
                    proxy.password)

    assert_refusal(reply, 407, "auth-failed", host="api.anthropic.com")
    assert_challenge(reply)


@pytest.mark.parametrize("value", [
    "Basic",                                   # no credentials
    "Basic !!!not-base64!!!",                  # not base64
    "Basic " + base64.b64encode(b"agent-without-colon").decode(),
    "Bearer abcdef",                           # another scheme
])
def test_malformed_proxy_authorization_gets_407(proxy, origins, value):
    target = f"api.anthropic.com:{origins.echo_port}"
    head = (f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
            f"Proxy-Authorization: {value}\r\n\r\n").encode()

    reply = send_head(proxy.port, head)

    assert reply.status == 407, reply
    assert reply.error_code in ("auth-required", "auth-failed"), reply.headers
    assert_challenge(reply)


def test_authentication_comes_before_the_allowlist(proxy, origins):
    # An unauthenticated client learns nothing about the policy: 407, not 403.
    reply = connect(proxy.port, f"www.google.com:{origins.https_port}")

    assert_refusal(reply, 407, "auth-required", host="www.google.com")


def test_curl_with_a_wrong_password_sees_407(proxy, origins, pki):
    wrong = "wrong-" + proxy.password
    proxy.secrets.append(wrong)

    done = curl(proxy.url(password=wrong), f"https://api.anthropic.com:{origins.https_port}/",
                pki.ca_cert, "--verbose")

    assert done.returncode != 0
    assert "< HTTP/1.1 407" in done.stderr, done.stderr
    assert "< X-Sluice-Error: auth-failed" in done.stderr, done.stderr


def test_the_log_never_contains_a_password_or_authorization_value(proxy, origins):
    wrong = "wrong-" + proxy.password
    secrets = [proxy.password, wrong,
               basic_credentials(proxy.user, proxy.password).split()[1],
               basic_credentials(proxy.user, wrong).split()[1]]
    target = f"api.anthropic.com:{origins.echo_port}"

    good = connect(proxy.port, target, proxy.user, proxy.password)
    assert good.status == 200
    echo_through(good.sock, b"x")
    good.close()
    bad = connect(proxy.port, target, proxy.user, wrong)
    assert bad.status == 407
    proxy.wait_log(tunnel_line_re(target))
    proxy.wait_log(r"TCP_DENIED/407 ")

    text = proxy.log_text() + proxy.stdout() + proxy.stderr()
    for secret in secrets:
        assert secret not in text
    assert "Basic " not in proxy.log_text()


def yescrypt_hash(password):
    """A yescrypt ($y$) hash made by the system's libxcrypt."""
    libcrypt = ctypes.CDLL("libcrypt.so.1")
    libcrypt.crypt_gensalt.restype = ctypes.c_char_p
    libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
                                       ctypes.c_int]
    libcrypt.crypt.restype = ctypes.c_char_p
    libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    setting = libcrypt.crypt_gensalt(b"$y$", 0, None, 0)
    hashed = libcrypt.crypt(password.encode(), setting)
    assert hashed and hashed.startswith(b"$y$"), hashed
    return hashed.decode()


def htpasswd_line(flag, user, password):
    done = subprocess.run(["htpasswd", flag, "-i", "-n", user], input=password, text=True,
                          capture_output=True, check=True, timeout=60)
    return done.stdout.strip()


def test_every_accepted_hash_kind_authenticates(make_proxy, origins, tmp_path):
    users = {
        "bcrypt-user": ("-B", "$2y$"),     # Apache htpasswd -B
        "sha256-user": ("-2", "$5$"),      # SHA-crypt
        "sha512-user": ("-5", "$6$"),
    }
    passwords = {user: f"pw-{user}-{i}" for i, user in enumerate([*users, "yescrypt-user"])}
    lines = []
    for user, (flag, prefix) in users.items():
        line = htpasswd_line(flag, user, passwords[user])
        assert line.startswith(f"{user}:{prefix}"), line
        lines.append(line)
    lines.append("yescrypt-user:" + yescrypt_hash(passwords["yescrypt-user"]))
    users_path = tmp_path / "kinds.htpasswd"
    users_path.write_text("\n".join(lines) + "\n")
    proxy = make_proxy(users=str(users_path))
    proxy.secrets += list(passwords.values())
    target = f"api.anthropic.com:{origins.echo_port}"

    for user, password in passwords.items():
        reply = connect(proxy.port, target, user, password)
        assert reply.status == 200, f"{user}: {reply.status} {reply.error_code}"
        assert echo_through(reply.sock, user.encode()) == user.encode() + echo_trailer(len(user))
        reply.close()
        proxy.wait_log(tunnel_line_re(target, user=user))

        wrong = connect(proxy.port, target, user, password + "x")
        assert_refusal(wrong, 407, "auth-failed")
