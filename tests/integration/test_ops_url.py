# SPDX-License-Identifier: MIT
"""`sluice url`: the proxy URL built from PROXY_HOST, PROXY_PORT, PROXY_USER and PROXY_PASS
(each also from the file named by NAME_FILE, from $CREDENTIALS_DIRECTORY/NAME, or from
--env-file), with user and password percent-encoded so that any password works in every
client. Each URL is checked the only way that matters: by authenticating through a real
`sluice serve` (users made with `htpasswd -i`, the password on stdin) with curl, httpx and
requests. A missing or malformed variable exits 2, names it, and prints no secret."""

import os
import re
import select
import ssl
import subprocess
import time
import urllib.parse

import httpx
import pytest
import requests

from helpers import curl
from opsutil import htpasswd_line
from origins import https_greeting
from proxyclient import basic_credentials

HOST = "127.0.0.1"
URL_RE = re.compile(r"^http://(?P<user>(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})+)"
                    r":(?P<password>(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})*)"
                    r"@(?P<host>[^:/@]+):(?P<port>\d+)$")
# As long as htpasswd allows (255 bytes): 173 characters, every one of them hostile.
LONG = "long-" + "@:/%#? \"'\\é密🔑" * 12

# (id, user, password, htpasswd algorithm). bcrypt reads only the first 72 bytes of a
# password, so the long one is hashed with SHA-512 crypt: the whole of it must arrive.
# No control characters: RFC 7617 forbids them in credentials, and sluice answers a TAB or NUL
# in decoded credentials with 400 bad-request (see test_auth_rationing.py).
HOSTILE = [
    ("at-signs", "u-at", "p@ss@word@", "-B"),
    ("colons", "u-colon", ":pass:with:colons:", "-B"),
    ("slash-backslash", "u-slash", "sl/ash\\back\\slash/", "-B"),
    ("percent", "u-pct", "100%-sure%41%2F%%", "-B"),
    ("hash", "u-hash", "#frag#ment", "-B"),
    ("query", "u-query", "what?q=1&x=2", "-B"),
    ("spaces", "u-space", " leading  and trailing ", "-B"),
    ("quotes", "u-quote", "dq\"sq'bt`", "-B"),
    ("sub-delims", "u-delims", "+;,$!*()='", "-B"),
    ("brackets", "u-brackets", "[::1]{x}<y>|^", "-B"),
    ("unreserved-only", "u-plain", "Only-unreserved._~09", "-B"),
    ("latin1", "u-latin1", "pässwörd-ÿ", "-B"),
    ("cyrillic-cjk-emoji", "u-utf8", "пароль-密码-🔑", "-B"),
    ("user-with-at", "ops@corp.example", "p@ss:/?#", "-B"),
    ("non-ascii-user", "jürgen", "straße 1", "-B"),
    ("long", "u-long", LONG, "-5"),
]


def hostile(case):
    """(user, password) of the HOSTILE entry `case`."""
    return next((user, password) for name, user, password, _ in HOSTILE if name == case)


def is_ascii(*texts):
    return all(t.isascii() for t in texts)


@pytest.fixture(scope="module")
def hostile_users(tmp_path_factory, users_file):
    """One users file with the fixture's agent and every HOSTILE user."""
    path = tmp_path_factory.mktemp("hostile") / "users.htpasswd"
    with open(users_file) as f:
        lines = [f.read().strip()]
    lines += [htpasswd_line(user, password, algo) for _, user, password, algo in HOSTILE]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def url_proxy(make_proxy, hostile_users):
    proxy = make_proxy(users=hostile_users)
    for _, user, password, _ in HOSTILE:
        proxy.secrets += [password, basic_credentials(user, password).split()[1]]
    return proxy


def clean_env(**variables):
    """A minimal environment: PATH plus `variables` (no inherited PROXY_* or credentials)."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", **variables}


def sluice_url(sluice_bin, *args, env):
    return subprocess.run([sluice_bin, "url", *args], capture_output=True, timeout=30,
                          env=env, stdin=subprocess.DEVNULL)


def printed_url(done):
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stderr == b"", done.stderr
    out = done.stdout.decode()
    assert out.endswith("\n") and out.count("\n") == 1, out
    return out[:-1]


class Site:
    def __init__(self, origins, path):
        self.target = f"api.anthropic.com:{origins.https_port}"
        self.path = path
        self.url = f"https://{self.target}{path}"
        self.expected = https_greeting("api.anthropic.com", self.target, path)


def authenticate_with_curl(url, site, ca_cert):
    done = curl(url, site.url, ca_cert)
    assert done.returncode == 0, f"curl -x <the URL>: {done.stderr}"
    assert done.stdout == site.expected


def authenticate_with_httpx(url, site, ca_cert):
    with httpx.Client(proxies=url, verify=ca_cert, trust_env=False, timeout=30) as client:
        response = client.get(site.url)
    assert (response.status_code, response.text) == (200, site.expected)


def authenticate_with_sluice_tunnel(sluice_bin, url, site, ca_cert):
    """`sluice tunnel HOST PORT` with https_proxy=<the URL>, and HTTPS spoken through its
    stdin and stdout (TLS over memory BIOs): the page must arrive."""
    host, port = site.target.rsplit(":", 1)
    proc = subprocess.Popen([sluice_bin, "tunnel", host, port], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=clean_env(https_proxy=url))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context(cafile=ca_cert).wrap_bio(incoming, outgoing,
                                                                server_hostname=host)
    deadline = time.monotonic() + 30

    def exchange():
        pending = outgoing.read()
        if pending:
            proc.stdin.write(pending)
            proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], max(0, deadline - time.monotonic()))
        data = os.read(proc.stdout.fileno(), 65536) if ready else b""
        if not data:
            incoming.write_eof()
        else:
            incoming.write(data)
        return bool(data)

    try:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                assert exchange(), proc.stderr.read().decode() if proc.poll() else "timeout"
        tls.write(f"GET {site.path} HTTP/1.1\r\nHost: {site.target}\r\n"
                  "Connection: close\r\n\r\n".encode())
        response = b""
        while True:
            try:
                chunk = tls.read(65536)
            except ssl.SSLWantReadError:
                if not exchange():
                    break
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            if not chunk:
                break
            response += chunk
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), (head, stderr)
    assert body.decode() == site.expected


def authenticate_with_requests(url, site, ca_cert):
    with requests.Session() as session:
        session.trust_env = False
        response = session.get(site.url, proxies={"https": url}, verify=ca_cert, timeout=30)
    assert (response.status_code, response.text) == (200, site.expected)


@pytest.mark.parametrize("user, password, algo", [h[1:] for h in HOSTILE],
                         ids=[h[0] for h in HOSTILE])
def test_hostile_password_url_authenticates_with_curl_httpx_requests_and_tunnel(
        sluice_bin, url_proxy, origins, pki, user, password, algo):
    done = sluice_url(sluice_bin, env=clean_env(PROXY_HOST=HOST, PROXY_PORT=str(url_proxy.port),
                                                PROXY_USER=user, PROXY_PASS=password))
    url = printed_url(done)

    m = URL_RE.match(url)
    assert m, f"not a percent-encoded http://USER:PASS@HOST:PORT: {url!r}"
    assert (m["host"], int(m["port"])) == (HOST, url_proxy.port)
    assert urllib.parse.unquote_to_bytes(m["user"]) == user.encode()
    assert urllib.parse.unquote_to_bytes(m["password"]) == password.encode()

    site = Site(origins, "/sluice-url")
    if password.isprintable():
        # curl (7.88) refuses control characters in decoded proxy credentials and then
        # ignores the proxy altogether; httpx and requests carry them.
        authenticate_with_curl(url, site, pki.ca_cert)
    authenticate_with_httpx(url, site, pki.ca_cert)
    authenticate_with_sluice_tunnel(sluice_bin, url, site, pki.ca_cert)
    if is_ascii(user, password):
        # requests encodes Basic credentials as Latin-1 (requests.auth._basic_auth_str), so
        # it cannot send a UTF-8 password whatever the URL; curl and httpx cover those.
        authenticate_with_requests(url, site, pki.ca_cert)


def test_a_wrong_password_in_the_url_is_refused(sluice_bin, url_proxy, origins, pki):
    # The counterpart that makes the table meaningful: the proxy does check the password.
    user, password = hostile("at-signs")
    url = printed_url(sluice_url(sluice_bin, env=clean_env(
        PROXY_HOST=HOST, PROXY_PORT=str(url_proxy.port), PROXY_USER=user,
        PROXY_PASS=password + "x")))
    url_proxy.secrets.append(password + "x")

    done = curl(url, Site(origins, "/").url, pki.ca_cert)

    assert done.returncode != 0 and "407" in done.stderr, done.stderr


def test_env_output_is_eval_safe_and_curl_uses_it(sluice_bin, url_proxy, origins, pki):
    # A password with the characters a shell would interpret inside quotes or outside.
    user, password = hostile("quotes")
    env = clean_env(PROXY_HOST=HOST, PROXY_PORT=str(url_proxy.port), PROXY_USER=user,
                    PROXY_PASS=password, SLUICE=sluice_bin)
    expected = printed_url(sluice_url(sluice_bin, env=env))
    site = Site(origins, "/eval-env")

    shown = subprocess.run(
        ["sh", "-c", 'eval "$("$SLUICE" url --env)" || exit 9; unset PROXY_PASS; '
                     'printf "%s\\n" "$HTTP_PROXY" "$HTTPS_PROXY" "$http_proxy" "$https_proxy" '
                     '"$NO_PROXY"'],
        capture_output=True, text=True, timeout=30, env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[:4] == [expected] * 4
    no_proxy = shown.stdout.splitlines()[4].split(",")
    assert "localhost" in no_proxy and "127.0.0.1" in no_proxy

    fetched = subprocess.run(
        ["sh", "-c", 'eval "$("$SLUICE" url --env)" || exit 9; unset PROXY_PASS; '
                     'exec curl --silent --show-error --max-time 30 --cacert "$CA" "$URL"'],
        capture_output=True, text=True, timeout=60,
        env={**env, "CA": pki.ca_cert, "URL": site.url})
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == site.expected


# -- where the values come from ------------------------------------------------------------------

def test_values_from_files_named_by_the_file_variables(sluice_bin, url_proxy, origins, pki,
                                                       tmp_path):
    user, password = hostile("percent")
    (tmp_path / "user").write_text(user)                 # no newline
    (tmp_path / "pass").write_text(password + "\n")      # one newline, as `echo` writes
    (tmp_path / "port").write_text(f"{url_proxy.port}\n")
    env = clean_env(PROXY_HOST=HOST, PROXY_PORT_FILE=str(tmp_path / "port"),
                    PROXY_USER_FILE=str(tmp_path / "user"),
                    PROXY_PASS_FILE=str(tmp_path / "pass"))

    url = printed_url(sluice_url(sluice_bin, env=env))

    assert urllib.parse.unquote(URL_RE.match(url)["password"]) == password
    site = Site(origins, "/from-file")
    authenticate_with_curl(url, site, pki.ca_cert)
    authenticate_with_requests(url, site, pki.ca_cert)


def test_values_from_systemd_credentials_directory(sluice_bin, url_proxy, origins, pki,
                                                   tmp_path):
    user, password = hostile("cyrillic-cjk-emoji")
    creds = tmp_path / "credentials"
    creds.mkdir()
    for name, value in (("PROXY_HOST", HOST), ("PROXY_PORT", str(url_proxy.port)),
                        ("PROXY_USER", user), ("PROXY_PASS", password)):
        (creds / name).write_text(value)
        os.chmod(creds / name, 0o400)

    url = printed_url(sluice_url(sluice_bin, env=clean_env(CREDENTIALS_DIRECTORY=str(creds))))

    assert urllib.parse.unquote(URL_RE.match(url)["password"]) == password
    site = Site(origins, "/credentials-directory")
    authenticate_with_curl(url, site, pki.ca_cert)
    authenticate_with_httpx(url, site, pki.ca_cert)


@pytest.mark.parametrize("where", ["variable", "file", "credentials-directory"])
def test_proxy_scheme_is_read_where_the_other_values_are(sluice_bin, tmp_path, where):
    # Red team, round 8: PROXY_SCHEME only counted as a variable; from a file it was ignored
    # and the URL fell back to http://, which sends the password in clear.
    env = clean_env(PROXY_HOST="proxy.example", PROXY_PORT="3129", PROXY_USER="u",
                    PROXY_PASS="p")
    if where == "variable":
        env["PROXY_SCHEME"] = "https"
    elif where == "file":
        (tmp_path / "scheme").write_text("https\n")
        env["PROXY_SCHEME_FILE"] = str(tmp_path / "scheme")
    else:
        (tmp_path / "PROXY_SCHEME").write_text("https")
        env["CREDENTIALS_DIRECTORY"] = str(tmp_path)

    assert printed_url(sluice_url(sluice_bin, env=env)) == "https://u:p@proxy.example:3129"


def test_values_from_an_env_file_win_over_the_environment(sluice_bin, url_proxy, origins, pki,
                                                          tmp_path):
    user, password = hostile("spaces")
    env_file = tmp_path / "proxy.env"
    env_file.write_text(
        "# written by the deployment\n"
        "\n"
        f"export PROXY_USER=\"{user}\"\n"
        f"PROXY_PASS='{password}'\n"
        f"PROXY_PORT={url_proxy.port}\n")
    decoy = "decoy-password-from-the-environment"
    # PROXY_HOST comes from the environment; PROXY_PASS there is overridden by the file.
    env = clean_env(PROXY_HOST=HOST, PROXY_PASS=decoy)

    done = sluice_url(sluice_bin, "--env-file", str(env_file), env=env)

    url = printed_url(done)
    assert decoy not in url
    assert urllib.parse.unquote(URL_RE.match(url)["password"]) == password
    site = Site(origins, "/env-file")
    authenticate_with_curl(url, site, pki.ca_cert)
    authenticate_with_httpx(url, site, pki.ca_cert)
    authenticate_with_requests(url, site, pki.ca_cert)


# -- missing and malformed values ----------------------------------------------------------------

SECRET = "S3cret-Value-Never-Printed"
GOOD = {"PROXY_HOST": HOST, "PROXY_PORT": "3128", "PROXY_USER": "agent", "PROXY_PASS": SECRET}


def without(*names, **changes):
    env = {k: v for k, v in GOOD.items() if k not in names}
    env.update(changes)
    return env


@pytest.mark.parametrize("variables, named", [
    (without("PROXY_HOST"), "PROXY_HOST"),
    (without(PROXY_HOST=""), "PROXY_HOST"),
    (without(PROXY_HOST="proxy.example@evil.example"), "PROXY_HOST"),
    (without(PROXY_HOST="proxy.example/path"), "PROXY_HOST"),
    (without("PROXY_PORT"), "PROXY_PORT"),
    (without(PROXY_PORT="0"), "PROXY_PORT"),
    (without(PROXY_PORT="65536"), "PROXY_PORT"),
    (without(PROXY_PORT="31 28"), "PROXY_PORT"),
    (without(PROXY_PORT=""), "PROXY_PORT"),
    (without("PROXY_PASS"), "PROXY_PASS"),
    (without("PROXY_USER"), "PROXY_USER"),
    (without(PROXY_USER="agent:admin"), "PROXY_USER"),
    (without("PROXY_PASS", PROXY_PASS_FILE="/nonexistent/sluice-test/pass"),
     "PROXY_PASS_FILE names /nonexistent/sluice-test/pass: No such file or directory"),
    (without("PROXY_PASS", PROXY_PASS_FILE="/etc"), "PROXY_PASS_FILE names /etc: Is a directory"),
    (without("PROXY_HOST", CREDENTIALS_DIRECTORY="/nonexistent/sluice-test"), "PROXY_HOST"),
], ids=["no-host", "empty-host", "host-with-at", "host-with-path", "no-port", "port-0",
        "port-65536", "port-with-space", "empty-port", "no-pass", "no-user", "user-with-colon",
        "pass-file-missing", "pass-file-is-a-directory", "credentials-dir-without-host"])
def test_a_missing_or_malformed_variable_exits_2_naming_it_without_the_secret(
        sluice_bin, variables, named):
    done = sluice_url(sluice_bin, env=clean_env(**variables))

    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == b"", done.stdout
    message = done.stderr.decode()
    assert named in message, message
    assert SECRET not in message
    assert "S3cret" not in message


@pytest.mark.parametrize("content", [
    f"PROXY_USER=agent\nPROXY_PASS {SECRET}\n",
    f"PROXY_USER=agent\n{SECRET}\n",
    f"=\"{SECRET}\"\n",
], ids=["no-equals", "bare-value", "no-key"])
def test_a_malformed_env_file_exits_2_without_printing_its_lines(sluice_bin, tmp_path, content):
    env_file = tmp_path / "proxy.env"
    env_file.write_text(content)

    done = sluice_url(sluice_bin, "--env-file", str(env_file),
                      env=clean_env(PROXY_HOST=HOST, PROXY_PORT="3128"))

    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == b""
    message = done.stderr.decode()
    assert str(env_file) in message, message
    assert "S3cret" not in message, message


def test_plain_values_give_the_plain_url(sluice_bin):
    # Unreserved characters stay as they are; proxy variables of the calling shell play no
    # part in the result.
    env = clean_env(**GOOD, HTTPS_PROXY="http://other:other@192.0.2.1:8080")
    assert printed_url(sluice_url(sluice_bin, env=env)) == \
        f"http://agent:{SECRET}@{HOST}:3128"


def test_tunnel_help_exits_0(sluice_bin):
    done = subprocess.run([sluice_bin, "tunnel", "--help"], capture_output=True, text=True,
                          timeout=30)

    assert done.returncode == 0
    assert done.stdout.startswith("usage: sluice tunnel [--proxy-ca FILE] HOST PORT")


@pytest.mark.parametrize("args", [(), ("host",), ("host", "0"), ("host", "65536"),
                                  ("host", "22x"), ("bad host", "22"), ("a", "b", "c")])
def test_tunnel_usage_errors_exit_2(sluice_bin, args):
    done = subprocess.run([sluice_bin, "tunnel", *args], capture_output=True, text=True,
                          timeout=30, env=clean_env(https_proxy="http://127.0.0.1:9"))

    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "usage: sluice tunnel" in done.stderr
