# SPDX-License-Identifier: MIT
"""Client certificates on a TLS listener (`tls_client_ca`, `tls_crl`, `tls_client_identity`):
an agent holding a key signed by the operator's CA is authenticated as its certificate's
name, without a password; a certificate that does not verify is refused with a 403 that names
the check, and every attempt is on record with the identity. Real clients (curl, Python's
urllib3) against the TLS origins on loopback; certificates from `openssl ca`."""

import json
import re
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from helpers import curl, env_without_proxies, https_url
from origins import https_greeting
from pki import ClientPki
from sluiceproc import denied_line_re, run_cli, tunnel_line_re

SPIFFE = "spiffe://agents.example/ci/bot-7"


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    """The client CA and its certificates: alice (clientAuth), bot (a SPIFFE URI), expired,
    revoked (in ca.crl), a server-only one, one without a commonName, and one from a
    CA the proxy does not know."""
    ca = ClientPki(str(tmp_path_factory.mktemp("client-ca")))
    certs = {
        "alice": ca.issue("alice", "/CN=alice"),
        "bot": ca.issue("bot", "/CN=bot", san=f"URI:{SPIFFE}"),
        "expired": ca.issue("expired", "/CN=expired", start="20200101000000Z",
                            end="20200102000000Z"),
        "revoked": ca.issue("revoked", "/CN=revoked"),
        "server": ca.issue("server", "/CN=server", usage="serverAuth"),
        "nameless": ca.issue("nameless", "/O=agents"),
        # A right-to-left override would make a trace line read otherwise than it is.
        "bidi": ca.issue("bidi", "/CN=alice\u202eevil"),
        "dash": ca.issue("dash", "/CN=-"),
    }
    ca.revoke("revoked")
    ca.crl_path = ca.crl(f"{ca.dir}/ca.crl")
    other = ClientPki(str(tmp_path_factory.mktemp("other-ca")))
    certs["stranger"] = other.issue("stranger", "/CN=alice")
    ca.certs = certs
    return ca


def tls_lines(proxy_pki, *more):
    return [f"tls_cert {proxy_pki.cert}", f"tls_key {proxy_pki.key}", *more]


@pytest.fixture
def mtls_proxy(make_proxy, proxy_pki, clients):
    """A TLS listener that takes client certificates (with the CRL) and, for clients
    without one, the users file; JSON log."""
    return make_proxy(listen=("127.0.0.1:0 tls",), extra=tls_lines(
        proxy_pki, f"tls_client_ca {clients.ca_cert}", f"tls_crl {clients.crl_path}",
        "access_log_format json"))


def curl_as(proxy, proxy_pki, pki, clients, who, url, *extra, user=None, password=None):
    cert, key = clients.certs[who]
    return curl(https_url(proxy, user=user, password=password), url, pki.ca_cert,
                "--proxy-cacert", proxy_pki.ca_cert, "--proxy-cert", cert, "--proxy-key", key,
                *extra)


def log_entries(proxy, count):
    proxy.wait_log(r"^\{", count=count)
    return [json.loads(line) for line in proxy.log_lines()]


def test_a_client_certificate_is_the_user_without_a_password(mtls_proxy, proxy_pki, pki,
                                                             clients, origins):
    target = f"api.anthropic.com:{origins.https_port}"

    done = curl_as(mtls_proxy, proxy_pki, pki, clients, "alice", f"https://{target}/mtls",
                   user="", password="")

    assert done.returncode == 0, done.stderr
    assert done.stdout == https_greeting("api.anthropic.com", target, "/mtls")
    (entry,) = log_entries(mtls_proxy, 1)
    assert (entry["user"], entry["auth"], entry["status"], entry["url"]) == (
        "alice", "certificate", 200, target), entry


def test_clients_without_a_certificate_still_use_their_password(mtls_proxy, proxy_pki, pki,
                                                                origins):
    target = f"api.anthropic.com:{origins.https_port}"

    done = curl(https_url(mtls_proxy), f"https://{target}/basic", pki.ca_cert,
                "--proxy-cacert", proxy_pki.ca_cert)

    assert done.returncode == 0, done.stderr
    (entry,) = log_entries(mtls_proxy, 1)
    assert (entry["user"], entry["auth"]) == (mtls_proxy.user, "password"), entry


def test_the_certificate_counts_not_the_password_sent_with_it(mtls_proxy, proxy_pki, pki,
                                                              clients, origins):
    # One identity per request: the certificate's. A stale password in the proxy URL
    # neither blocks alice nor turns her into someone else.
    target = f"api.anthropic.com:{origins.https_port}"

    done = curl_as(mtls_proxy, proxy_pki, pki, clients, "alice", f"https://{target}/both",
                   user=mtls_proxy.user, password="wrong-password")

    assert done.returncode == 0, done.stderr
    (entry,) = log_entries(mtls_proxy, 1)
    assert (entry["user"], entry["auth"]) == ("alice", "certificate"), entry


@pytest.mark.parametrize("who, check", [
    ("revoked", "certificate revoked"),
    ("expired", "certificate has expired"),
    ("stranger", "signed by a CA that tls_client_ca does not hold"),
    ("server", "not a certificate for client authentication (its extendedKeyUsage lacks "
               "clientAuth)"),
    ("nameless", "the certificate has no commonName"),
    ("bidi", "the certificate's identity is not printable"),
    ("dash", "the certificate's identity is not printable"),
])
def test_a_certificate_that_does_not_verify_is_refused_naming_the_check(
        mtls_proxy, proxy_pki, pki, clients, origins, who, check):
    target = f"api.anthropic.com:{origins.https_port}"

    # Even with the right password: a bad certificate is not ignored.
    done = curl_as(mtls_proxy, proxy_pki, pki, clients, who, f"https://{target}/",
                   "--include", "--proxy-header", "Connection: close", user=mtls_proxy.user,
                   password=mtls_proxy.password)

    assert done.returncode != 0
    assert "HTTP/1.1 403 Forbidden" in done.stdout, done.stdout
    assert "X-Sluice-Error: cert-refused" in done.stdout, done.stdout
    assert f'Proxy-Status: sluice; error=http_request_denied; details="{check}"' in \
        done.stdout, done.stdout
    (entry,) = log_entries(mtls_proxy, 1)
    assert (entry["reason"], entry["status"], entry["user"], entry["url"]) == (
        "cert-refused", 403, None, target), entry


def test_a_plain_http_request_with_a_revoked_certificate_reaches_nothing(
        make_proxy, proxy_pki, pki, clients, http_origin):
    proxy = make_proxy(listen=("127.0.0.1:0 tls",), extra=tls_lines(
        proxy_pki, f"tls_client_ca {clients.ca_cert}", f"tls_crl {clients.crl_path}",
        f"http_ports {http_origin.port}"))
    url = f"http://api.anthropic.com:{http_origin.port}/revoked"

    done = curl_as(proxy, proxy_pki, pki, clients, "revoked", url)

    assert done.stdout == (f"sluice: your client certificate was refused (certificate "
                           f"revoked), so nothing is forwarded to api.anthropic.com:"
                           f"{http_origin.port}; present a valid certificate signed by the "
                           f"proxy's tls_client_ca.\n"), (done.stdout, done.stderr)
    proxy.wait_log(re.escape(f" TCP_DENIED/403 ") + r"\d+ GET " + re.escape(url)
                   + " - HIER_NONE/- text/plain cert-refused$")
    assert http_origin.requests == []


def test_with_client_certificates_alone_the_answer_says_a_certificate_is_needed(
        make_proxy, proxy_pki, pki, clients, origins):
    proxy = make_proxy(users=None, listen=("127.0.0.1:0 tls",), extra=tls_lines(
        proxy_pki, f"tls_client_ca {clients.ca_cert}"))
    target = f"api.anthropic.com:{origins.https_port}"

    done = curl(https_url(proxy), f"https://{target}/", pki.ca_cert, "--proxy-cacert",
                proxy_pki.ca_cert, "--include")

    assert "HTTP/1.1 407 " in done.stdout, done.stdout
    assert 'details="this proxy takes client certificates, over TLS' in done.stdout, \
        done.stdout
    proxy.wait_log(denied_line_re(407, target, "auth-required", user="-"))

    done = curl_as(proxy, proxy_pki, pki, clients, "alice", f"https://{target}/alone")
    assert done.returncode == 0, done.stderr
    proxy.wait_log(tunnel_line_re(target, user="alice"))


def test_the_identity_can_be_a_spiffe_uri(make_proxy, proxy_pki, pki, clients, origins):
    proxy = make_proxy(listen=("127.0.0.1:0 tls",), extra=tls_lines(
        proxy_pki, f"tls_client_ca {clients.ca_cert}", "tls_client_identity uri"))
    target = f"api.anthropic.com:{origins.https_port}"

    done = curl_as(proxy, proxy_pki, pki, clients, "bot", f"https://{target}/spiffe")
    assert done.returncode == 0, done.stderr
    # Squid's format escapes ':' nowhere; the URI is the user field as it is.
    proxy.wait_log(tunnel_line_re(target, user=SPIFFE))

    # alice has no URI name: refused, not mistaken for someone.
    done = curl_as(proxy, proxy_pki, pki, clients, "alice", f"https://{target}/", "--include")
    assert 'details="the certificate has no subjectAltName of type URI"' in done.stdout, \
        done.stdout


def test_a_new_crl_revokes_on_the_next_connection(make_proxy, proxy_pki, pki, tmp_path,
                                                  origins):
    # Publishing a CRL is replacing a file: sluice notices and reloads, no signal needed.
    ca = ClientPki(str(tmp_path / "ca"))
    ca.issue("carol", "/CN=carol")
    crl = ca.crl(tmp_path / "live.crl")
    proxy = make_proxy(listen=("127.0.0.1:0 tls",), extra=tls_lines(
        proxy_pki, f"tls_client_ca {ca.ca_cert}", f"tls_crl {crl}"))
    ca.certs = {"carol": (f"{ca.dir}/carol.pem", f"{ca.dir}/carol.key")}
    target = f"api.anthropic.com:{origins.https_port}"

    done = curl_as(proxy, proxy_pki, pki, ca, "carol", f"https://{target}/before")
    assert done.returncode == 0, done.stderr

    ca.revoke("carol")
    ca.crl(tmp_path / "next.crl")
    shutil.move(tmp_path / "next.crl", crl)
    proxy.wait_stderr(r"^sluice: reload: ", timeout=20)

    done = curl_as(proxy, proxy_pki, pki, ca, "carol", f"https://{target}/after",
                   "--include")
    assert 'details="certificate revoked"' in done.stdout, done.stdout


def test_urllib3_presents_its_certificate_to_the_proxy(mtls_proxy, proxy_pki, pki, clients,
                                                       origins):
    target = f"api.anthropic.com:{origins.https_port}"
    cert, key = clients.certs["alice"]
    script = (
        "import ssl, sys, urllib3\n"
        "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
        "ctx.load_cert_chain(sys.argv[3], sys.argv[4])\n"
        "pm = urllib3.ProxyManager(sys.argv[1], proxy_ssl_context=ctx, ca_certs=sys.argv[5])\n"
        "sys.stdout.write(pm.request('GET', sys.argv[6]).data.decode())\n")
    done = subprocess.run(
        ["/usr/bin/python3", "-c", script, https_url(mtls_proxy, user=""), proxy_pki.ca_cert,
         cert, key, pki.ca_cert, f"https://{target}/urllib3"],
        capture_output=True, text=True, timeout=60, env=env_without_proxies(),
        stdin=subprocess.DEVNULL)

    assert done.returncode == 0, done.stderr
    assert done.stdout == https_greeting("api.anthropic.com", target, "/urllib3")
    (entry,) = log_entries(mtls_proxy, 1)
    assert (entry["user"], entry["auth"]) == ("alice", "certificate"), entry


def test_check_names_a_broken_client_certificate_setup(sluice_bin, tmp_path, proxy_pki,
                                                       clients):
    def check(*lines):
        conf = tmp_path / "sluice.conf"
        conf.write_text("\n".join(["listen 127.0.0.1:0 tls", *tls_lines(proxy_pki),
                                   *lines]) + "\n")
        done = run_cli(sluice_bin, "check", "-c", str(conf))
        return done.returncode, done.stderr

    not_a_ca = tmp_path / "empty.pem"
    not_a_ca.write_text("nothing here\n")
    code, err = check(f"tls_client_ca {not_a_ca}")
    assert code != 0 and f"{not_a_ca}: no CA certificate could be read" in err, err

    code, err = check(f"tls_client_ca {clients.ca_cert}", f"tls_crl {not_a_ca}")
    assert code != 0 and f"{not_a_ca}: no CRL could be read" in err, err

    code, err = check(f"tls_crl {clients.crl_path}")
    assert code != 0 and "tls_crl without tls_client_ca" in err, err

    code, err = check(f"tls_client_ca {tmp_path / 'missing.pem'}")
    assert code != 0 and "missing.pem: No such file or directory" in err, err

    code, err = check(f"tls_client_ca {clients.ca_cert}", f"tls_crl {clients.crl_path}",
                      "tls_client_identity email")
    assert code == 0, err
    # The test CAs live 7 days: check counts them down.
    assert f"warning: tls_cert {proxy_pki.cert}: the certificate expires " in err, err


def test_check_warns_of_an_expired_certificate_and_a_stale_crl(sluice_bin, tmp_path,
                                                               proxy_pki):
    # Neither stops the proxy from starting, but clients will fail: say so before they do.
    ca = ClientPki(str(tmp_path / "ca"))
    cert, key = ca.issue("old", "/CN=localhost", usage="serverAuth",
                         start="20200101000000Z", end="20200102000000Z")
    stale = tmp_path / "stale.crl"
    subprocess.run(["openssl", "ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert",
                    "ca.pem", "-gencrl", "-crlsec", "1", "-out", str(stale)], cwd=ca.dir,
                   check=True, capture_output=True, timeout=60)
    conf = tmp_path / "sluice.conf"
    conf.write_text(f"listen 127.0.0.1:0 tls\ntls_cert {cert}\ntls_key {key}\n"
                    f"tls_client_ca {ca.ca_cert}\ntls_crl {stale}\nallow a.example\n")
    time.sleep(1.5)  # the CRL's next update passes

    done = run_cli(sluice_bin, "check", "-c", str(conf))

    assert done.returncode == 0, done.stderr
    assert (f"{conf}:2: warning: tls_cert {cert}: the certificate expired 2020-01-02 00:00 "
            "UTC; clients will refuse the proxy") in done.stderr, done.stderr
    assert re.search(re.escape(f"{conf}:5: warning: tls_crl {stale}: its next update was "
                               "due ") + r"\d{4}-\d\d-\d\d \d\d:\d\d UTC; every client "
                     r"certificate is refused until a new CRL is in place", done.stderr), \
        done.stderr


def test_a_new_crl_closes_the_open_tunnel_of_the_revoked_certificate(make_proxy, proxy_pki,
                                                                     tmp_path, origins):
    ca = ClientPki(str(tmp_path / "ca"))
    carol = ca.issue("carol", "/CN=carol")
    dave = ca.issue("dave", "/CN=dave")
    crl = ca.crl(tmp_path / "live.crl")
    proxy = make_proxy(listen=("127.0.0.1:0 tls",), extra=tls_lines(
        proxy_pki, f"tls_client_ca {ca.ca_cert}", f"tls_crl {crl}"))
    target = f"api.anthropic.com:{origins.echo_port}"

    def tunnel(cert_key):
        ctx = ssl.create_default_context(cafile=proxy_pki.ca_cert)
        ctx.load_cert_chain(*cert_key)
        raw = socket.create_connection((proxy.host, proxy.port), timeout=10)
        sock = ctx.wrap_socket(raw, server_hostname="localhost")
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 200"), head
        return sock

    carols, daves = tunnel(carol), tunnel(dave)
    ca.revoke("carol")
    ca.crl(tmp_path / "next.crl")
    shutil.move(tmp_path / "next.crl", crl)
    proxy.wait_stderr(r"^sluice: reload: ", timeout=20)

    carols.settimeout(10)
    assert carols.recv(1) == b"", "the revoked certificate's tunnel stayed open"
    daves.sendall(b"ping")
    assert daves.recv(4) == b"ping"
    proxy.wait_log(rf" TCP_TUNNEL_ABORTED/200 \d+ CONNECT {re.escape(target)} carol "
                   r"HIER_DIRECT/127\.0\.0\.1 - revoked$")
    carols.close()
    daves.close()


def test_a_foreign_ca_sent_along_is_named_as_the_cause(make_proxy, proxy_pki, pki, clients,
                                                       origins, tmp_path):
    # A client that sends its own CA with its certificate fails several checks; the first
    # (the CA is not ours) is the cause, not the CRL lookup that fails after it.
    other_ca = clients.certs["stranger"][0].replace("stranger.pem", "ca.pem")
    bundle = tmp_path / "stranger-chain.pem"
    bundle.write_text(open(clients.certs["stranger"][0]).read() + open(other_ca).read())
    clients.certs["chain"] = (str(bundle), clients.certs["stranger"][1])
    proxy = make_proxy(listen=("127.0.0.1:0 tls",), extra=tls_lines(
        proxy_pki, f"tls_client_ca {clients.ca_cert}", f"tls_crl {clients.crl_path}"))
    target = f"api.anthropic.com:{origins.https_port}"

    done = curl_as(proxy, proxy_pki, pki, clients, "chain", f"https://{target}/", "--include")

    assert 'details="signed by a CA that tls_client_ca does not hold"' in done.stdout, \
        done.stdout


def test_a_new_crl_refuses_the_next_request_on_a_kept_alive_connection(make_proxy, proxy_pki,
                                                                        tmp_path,
                                                                        http_origin):
    # The certificate was checked at the handshake; a connection kept alive across the reload
    # that revokes it must not go on authenticating requests with it.
    ca = ClientPki(str(tmp_path / "ca"))
    erin = ca.issue("erin", "/CN=erin")
    crl = ca.crl(tmp_path / "live.crl")
    proxy = make_proxy(listen=("127.0.0.1:0 tls",), extra=tls_lines(
        proxy_pki, f"tls_client_ca {ca.ca_cert}", f"tls_crl {crl}",
        f"http_ports {http_origin.port}"))
    url = f"http://api.anthropic.com:{http_origin.port}/kept"
    ctx = ssl.create_default_context(cafile=proxy_pki.ca_cert)
    ctx.load_cert_chain(*erin)
    sock = ctx.wrap_socket(socket.create_connection((proxy.host, proxy.port), timeout=10),
                           server_hostname="localhost")
    request = f"GET {url} HTTP/1.1\r\nHost: api.anthropic.com:{http_origin.port}\r\n\r\n"

    sock.sendall(request.encode())
    assert read_answer(sock).startswith(b"HTTP/1.1 200"), "before the revocation"
    ca.revoke("erin")
    ca.crl(tmp_path / "next.crl")
    shutil.move(tmp_path / "next.crl", crl)
    proxy.wait_stderr(r"^sluice: reload: ", timeout=20)

    sock.sendall(request.encode())
    answer = read_answer(sock)
    assert answer.startswith(b"HTTP/1.1 403"), answer
    assert b"X-Sluice-Error: cert-refused" in answer
    sock.close()


def read_answer(sock):
    """One HTTP answer with a Content-Length body (the origin's or ours)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_resumed_session_does_not_outlive_its_certificate(make_proxy, proxy_pki, tmp_path,
                                                            origins):
    ca = ClientPki(str(tmp_path / "ca"))
    soon = time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() + 3))
    brief = ca.issue("brief", "/CN=brief", end=soon)
    proxy = make_proxy(listen=("127.0.0.1:0 tls",), extra=tls_lines(
        proxy_pki, f"tls_client_ca {ca.ca_cert}"))
    target = f"api.anthropic.com:{origins.echo_port}"
    ctx = ssl.create_default_context(cafile=proxy_pki.ca_cert)
    ctx.load_cert_chain(*brief)

    def connect_once(session=None):
        raw = socket.create_connection((proxy.host, proxy.port), timeout=10)
        sock = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1)
            if not chunk:
                break
            head += chunk
        return sock, head

    sock, head = connect_once()
    assert head.startswith(b"HTTP/1.1 200"), head
    sock.sendall(b"x")
    sock.recv(1)                    # TLS 1.3 tickets arrive after the handshake
    session = sock.session
    sock.close()
    time.sleep(4)                   # the certificate expires

    sock, head = connect_once(session)
    assert sock.session_reused, "the test needs a resumed session"
    assert head.startswith(b"HTTP/1.1 403"), head
    sock.close()
