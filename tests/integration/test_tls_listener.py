# SPDX-License-Identifier: MIT
"""TLS to the proxy (`listen ADDR:PORT tls`, `tls_cert`, `tls_key`): the proxy credentials never
cross a network in clear text, and after the handshake everything works as on a plain
listener. Real clients (curl, Python's urllib3 and requests, pip against a package index of
its own, undici, git) through a TLS listener to the TLS origins on loopback; a plaintext client on the TLS port and a client that does not trust the proxy's
certificate each get a clear error, and the attempt is on record."""

import base64
import ctypes
import functools
import hashlib
import http.server
import json
import os
import pathlib
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import zipfile

import pytest

from helpers import curl, env_without_proxies, https_url
from origins import https_greeting
from pki import make_pki
from proxyclient import connect_head
from sluiceproc import run_cli, tunnel_line_re


def test_curl_tunnels_through_a_tls_listener(tls_proxy, proxy_pki, origins, pki):
    target = f"api.anthropic.com:{origins.https_port}"

    done = curl(https_url(tls_proxy), f"https://{target}/over-tls", pki.ca_cert,
                "--proxy-cacert", proxy_pki.ca_cert)

    assert done.returncode == 0, done.stderr
    assert done.stdout == https_greeting("api.anthropic.com", target, "/over-tls")
    tls_proxy.wait_log(tunnel_line_re(target, user=tls_proxy.user))


def test_plain_http_goes_through_a_tls_listener(proxy_pki, http_origin, pki, make_proxy):
    proxy = make_proxy(listen=("127.0.0.1:0 tls",),
                       extra=[f"tls_cert {proxy_pki.cert}", f"tls_key {proxy_pki.key}",
                              f"http_ports {http_origin.port}"])
    url = f"http://api.anthropic.com:{http_origin.port}/plain-over-tls"

    done = curl(https_url(proxy), url, pki.ca_cert, "--proxy-cacert", proxy_pki.ca_cert)

    assert done.returncode == 0, done.stderr
    (got,) = http_origin.wait_requests(1)
    assert got.target == "/plain-over-tls"
    assert got.values("Proxy-Authorization") == []
    proxy.wait_log(r" TCP_MISS/200 \d+ GET " + re.escape(url) + " " + proxy.user + " ")


def test_python_urllib3_speaks_tls_to_the_proxy(tls_proxy, proxy_pki, origins, pki):
    # urllib3 1.26 (Debian 12) speaks TLS to an https:// proxy; it needs its own context
    # for the proxy's CA.
    target = f"api.anthropic.com:{origins.https_port}"
    script = (
        "import ssl, sys, urllib3\n"
        "proxy_ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
        "headers = urllib3.make_headers(proxy_basic_auth=sys.argv[3])\n"
        "pm = urllib3.ProxyManager(sys.argv[1], proxy_headers=headers,\n"
        "                          proxy_ssl_context=proxy_ctx, ca_certs=sys.argv[4])\n"
        "r = pm.request('GET', sys.argv[5])\n"
        "sys.stdout.write(r.data.decode())\n")
    done = subprocess.run(
        ["/usr/bin/python3", "-c", script, https_url(tls_proxy, user=""), proxy_pki.ca_cert,
         f"{tls_proxy.user}:{tls_proxy.password}", pki.ca_cert, f"https://{target}/urllib3"],
        capture_output=True, text=True, timeout=60, env=env_without_proxies(),
        stdin=subprocess.DEVNULL)

    assert done.returncode == 0, done.stderr
    assert done.stdout == https_greeting("api.anthropic.com", target, "/urllib3")
    tls_proxy.wait_log(tunnel_line_re(target, user=tls_proxy.user))


def test_a_plaintext_client_on_a_tls_port_is_told_to_use_https(tls_proxy, origins, pki):
    target = f"api.anthropic.com:{origins.https_port}"

    done = curl(tls_proxy.url(), f"https://{target}/", pki.ca_cert, "--proxy-insecure",
                "--write-out", "%{http_connect}")

    assert done.returncode != 0
    assert done.stdout == "400", (done.stdout, done.stderr)
    tls_proxy.wait_log(r" NONE_NONE/400 \d+ NONE - - HIER_NONE/- text/plain bad-request$")
    # What the client is told, in plain text it can read.
    with socket.create_connection((tls_proxy.host, tls_proxy.port), timeout=10) as sock:
        sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"this port speaks TLS: use https://" in answer, answer


def test_a_client_that_does_not_trust_the_certificate_fails_and_is_on_record(
        tls_proxy, proxy_pki, origins, pki):
    target = f"api.anthropic.com:{origins.https_port}"

    done = curl(https_url(tls_proxy), f"https://{target}/", pki.ca_cert)  # no --proxy-cacert

    assert done.returncode == 60, (done.returncode, done.stderr)  # peer certificate not trusted
    tls_proxy.wait_log(r" NONE/000 0 NONE - - HIER_NONE/- - tls-failed$")
    # The listener goes on serving.
    ok = curl(https_url(tls_proxy), f"https://{target}/after", pki.ca_cert, "--proxy-cacert",
              proxy_pki.ca_cert)
    assert ok.returncode == 0, ok.stderr


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version,accepted", [
    (ssl.TLSVersion.TLSv1, False), (ssl.TLSVersion.TLSv1_1, False),
    (ssl.TLSVersion.TLSv1_2, True), (ssl.TLSVersion.TLSv1_3, True),
], ids=["1.0", "1.1", "1.2", "1.3"])
def test_only_tls_1_2_and_1_3_are_spoken(tls_proxy, version, accepted):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = version
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection((tls_proxy.host, tls_proxy.port), timeout=10) as raw:
        if not accepted:
            with pytest.raises(ssl.SSLError):
                ctx.wrap_socket(raw, server_hostname="localhost")
            return
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                     ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
            assert tls.selected_alpn_protocol() is None  # none offered, none forced


def test_alpn_settles_on_http_1_1(tls_proxy):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((tls_proxy.host, tls_proxy.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "http/1.1"


@pytest.mark.parametrize("lines,words", [
    (["listen 127.0.0.1:3128 tls"], ["tls needs tls_cert FILE and tls_key FILE"]),
    (["listen 127.0.0.1:3128 tsl"], ["expected 'tls' or 'proxy_protocol' after the address", "'tsl'"]),
    (["tls_cert {cert}"], ["tls_cert without tls_key"]),
    (["listen 127.0.0.1:3128 tls", "tls_cert {missing}", "tls_key {key}"],
     ["{missing}: No such file or directory"]),
    (["listen 127.0.0.1:3128 tls", "tls_cert {key}", "tls_key {key}"],
     ["{key}: not a PEM certificate chain"]),
    (["listen 127.0.0.1:3128 tls", "tls_cert {cert}", "tls_key {cert}"],
     ["{cert}: not a PEM private key"]),
], ids=["no-cert", "not-tls", "cert-without-key", "missing-cert", "key-as-cert",
        "cert-as-key"])
def test_check_names_what_is_wrong_with_the_tls_set_up(sluice_bin, tmp_path, proxy_pki,
                                                      lines, words):
    names = {"cert": proxy_pki.cert, "key": proxy_pki.key,
             "missing": str(tmp_path / "missing.pem")}
    conf = tmp_path / "sluice.conf"
    conf.write_text("allow api.anthropic.com\naccess_log off\n" +
                    "".join(line.format(**names) + "\n" for line in lines))

    done = run_cli(sluice_bin, "check", "-c", str(conf))

    assert done.returncode == 1, done.stdout + done.stderr
    for word in words:
        assert word.format(**names) in done.stderr, done.stderr


def tls_tunnel(proxy, proxy_pki, target):
    """A CONNECT tunnel to `target` through the TLS listener of `proxy`: the TLS socket."""
    ctx = ssl.create_default_context(cafile=proxy_pki.ca_cert)
    raw = socket.create_connection((proxy.host, proxy.port), timeout=60)
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    sock.sendall(connect_head(target, proxy.user, proxy.password))
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 200 "), head
    return sock


def test_16_mb_download_through_a_tls_listener(tls_proxy, proxy_pki, origins):
    # The client side is TLS, so the tunnel's bytes move through the buffered relay (OpenSSL
    # on one side, no splice), with back-pressure from a client that reads in big gulps.
    size = 16 * 1024 * 1024
    target = f"api.anthropic.com:{origins.source_port}"
    with tls_tunnel(tls_proxy, proxy_pki, target) as sock:
        sock.sendall(f"{size}\n".encode())
        data = bytearray()
        while chunk := sock.recv(1 << 20):
            data += chunk

    # The source origin sends `size` random bytes, then their SHA-256.
    assert len(data) == size + 32
    assert hashlib.sha256(memoryview(data)[:size]).digest() == bytes(data[size:])
    (line,) = tls_proxy.wait_log(tunnel_line_re(target, user=tls_proxy.user))
    assert int(line["bytes"]) >= size + 32


def test_16_mb_upload_through_a_tls_listener(tls_proxy, proxy_pki, origins):
    size = 16 * 1024 * 1024
    target = f"api.anthropic.com:{origins.sink_port}"
    payload = os.urandom(size)
    with tls_tunnel(tls_proxy, proxy_pki, target) as sock:
        sock.sendall(payload)
        # The end of the upload: a TCP half-close under TLS (Python's ssl module has no
        # half-close of its own), which sluice passes on to the origin.
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.shutdown(sock.fileno(), socket.SHUT_WR) == 0
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk

    assert answer.decode() == f"{size} {hashlib.sha256(payload).hexdigest()}\n"


def served_certificate(proxy):
    """The leaf certificate the TLS listener presents (DER), verifying nothing."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((proxy.host, proxy.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def test_a_renewed_certificate_is_served_and_a_broken_one_keeps_the_old(
        make_proxy, tmp_path, proxy_pki):
    # As certbot's renewal does: new files in place of the old, noticed without a signal.
    cert, key = tmp_path / "proxy.pem", tmp_path / "proxy.key"
    shutil.copy(proxy_pki.cert, cert)
    shutil.copy(proxy_pki.key, key)
    proxy = make_proxy(listen=("127.0.0.1:0 tls",), extra=[f"tls_cert {cert}",
                                                           f"tls_key {key}"])
    first = served_certificate(proxy)

    # A broken certificate: the reload fails naming the file, the old one stays in force.
    cert.write_text("not a certificate\n")
    (failure,) = proxy.wait_stderr(r"^sluice: reload \(files changed\) failed: (?P<msg>.*)$")
    assert failure["msg"].endswith(f"{cert}: not a PEM certificate chain (no start line)"), \
        failure.group(0)
    assert served_certificate(proxy) == first

    # A renewed pair (a new key too): served once both files are in place.
    renewed = make_pki(str(tmp_path / "renewed"), names=("localhost",))
    shutil.copy(renewed.key, key)
    shutil.copy(renewed.cert, cert)
    proxy.wait_stderr(r"^sluice: reload: \+\d+ patterns", timeout=20)
    for _ in range(50):
        if served_certificate(proxy) != first:
            break
        time.sleep(0.1)
    with open(renewed.cert) as f:
        assert served_certificate(proxy) == ssl.PEM_cert_to_DER_cert(f.read())


def test_the_json_log_names_the_tls_version(make_proxy, proxy_pki, origins):
    proxy = make_proxy(listen=("127.0.0.1:0 tls",),
                       extra=[f"tls_cert {proxy_pki.cert}", f"tls_key {proxy_pki.key}",
                              "access_log_format json"])
    target = f"api.anthropic.com:{origins.https_port}"

    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.create_default_context(cafile=proxy_pki.ca_cert)
        ctx.minimum_version = ctx.maximum_version = version
        with socket.create_connection((proxy.host, proxy.port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(connect_head(target, proxy.user, proxy.password))
                assert sock.recv(12) == b"HTTP/1.1 200"

    proxy.wait_log(r'^\{', count=2)
    versions = sorted(json.loads(line)["tls"] for line in proxy.log_lines())
    assert versions == ["TLSv1.2", "TLSv1.3"], proxy.log_lines()


# -- red team, round 8 ------------------------------------------------------------------------

def test_an_encrypted_key_is_refused_without_asking_a_terminal(sluice_bin, tmp_path,
                                                               proxy_pki):
    # OpenSSL's default would prompt on the terminal for the passphrase: a reload (or check)
    # run from a terminal hung there, deaf to SIGTERM. Run under a pty to catch it.
    key = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", proxy_pki.key, "-aes256", "-passout",
                    "pass:s3cret-passphrase", "-out", str(key)], check=True, timeout=30)
    conf = tmp_path / "sluice.conf"
    conf.write_text(f"listen 127.0.0.1:3128 tls\ntls_cert {proxy_pki.cert}\n"
                    f"tls_key {key}\nallow api.anthropic.com\naccess_log off\n")

    done = subprocess.run(["script", "-qec", f"{sluice_bin} check -c {conf}", "/dev/null"],
                          capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL)

    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{key}: the key is encrypted" in done.stdout, done.stdout
    assert "pass phrase" not in done.stdout.lower()


@pytest.mark.parametrize("which", ["tls_cert", "tls_key", "allow_file"])
def test_a_fifo_where_a_file_belongs_is_refused_at_once(sluice_bin, tmp_path, proxy_pki,
                                                        which):
    # Opening a FIFO waits for a writer: a reload blocked there for good.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    files = {"tls_cert": proxy_pki.cert, "tls_key": proxy_pki.key, "allow_file": None}
    files[which] = str(fifo)
    conf = tmp_path / "sluice.conf"
    conf.write_text(f"listen 127.0.0.1:3128 tls\ntls_cert {files['tls_cert']}\n"
                    f"tls_key {files['tls_key']}\nallow api.anthropic.com\naccess_log off\n"
                    + (f"allow_file {fifo}\n" if which == "allow_file" else ""))

    done = run_cli(sluice_bin, "check", "-c", str(conf), timeout=20)

    assert done.returncode == 1, done.stdout
    assert f"{fifo}: not a regular file" in done.stderr, done.stderr


def test_tls_1_2_offers_only_forward_secret_aead_suites(tls_proxy):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA")  # CBC with SHA-1
    with socket.create_connection((tls_proxy.host, tls_proxy.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="localhost")


def test_check_warns_about_a_key_every_user_can_read(sluice_bin, tmp_path, proxy_pki):
    key = tmp_path / "proxy.key"
    shutil.copy(proxy_pki.key, key)
    os.chmod(key, 0o644)
    conf = tmp_path / "sluice.conf"
    conf.write_text(f"listen 127.0.0.1:3128 tls\ntls_cert {proxy_pki.cert}\n"
                    f"tls_key {key}\nallow api.anthropic.com\naccess_log off\n")

    done = run_cli(sluice_bin, "check", "-c", str(conf))

    assert done.returncode == 0, done.stderr
    assert f"warning: tls_key {key} is readable by every user" in done.stderr, done.stderr


def test_node_undici_speaks_tls_to_the_proxy(tls_proxy, proxy_pki, origins, pki, node_fetch):
    target = f"api.anthropic.com:{origins.https_port}"
    done = subprocess.run([*node_fetch, "proxy-agent", https_url(tls_proxy),
                           f"https://{target}/undici", pki.ca_cert, proxy_pki.ca_cert],
                          capture_output=True, text=True, timeout=60,
                          env=env_without_proxies(), stdin=subprocess.DEVNULL)

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer == {"status": 200,
                      "body": https_greeting("api.anthropic.com", target, "/undici")}
    tls_proxy.wait_log(tunnel_line_re(target, user=tls_proxy.user))


def test_python_requests_speaks_tls_to_the_proxy(tls_proxy, proxy_pki, origins, pki,
                                                 tmp_path):
    # requests (urllib3 1.26) checks the proxy's certificate with the same bundle as the
    # origin's: one bundle holding both CAs.
    bundle = tmp_path / "both.pem"
    bundle.write_text(open(pki.ca_cert).read() + open(proxy_pki.ca_cert).read())
    target = f"api.anthropic.com:{origins.https_port}"
    script = ("import sys, requests\n"
              "r = requests.get(sys.argv[1], proxies={'https': sys.argv[2]},\n"
              "                 verify=sys.argv[3], timeout=30)\n"
              "sys.stdout.write(r.text)\n")
    done = subprocess.run(["/usr/bin/python3", "-c", script, f"https://{target}/requests",
                           https_url(tls_proxy), str(bundle)],
                          capture_output=True, text=True, timeout=60,
                          env=env_without_proxies(), stdin=subprocess.DEVNULL)

    assert done.returncode == 0, done.stderr
    assert done.stdout == https_greeting("api.anthropic.com", target, "/requests")


def test_git_speaks_tls_to_the_proxy(tls_proxy, proxy_pki, origins, pki, tmp_path):
    # The origin is no git server, so git stops at its answer; what matters here is that git
    # reached it through the TLS listener, authenticated (git 2.39: http.proxySSLCAInfo).
    target = f"api.anthropic.com:{origins.https_port}"
    done = subprocess.run(
        ["git", "-c", f"http.proxy={https_url(tls_proxy)}",
         "-c", f"http.proxySSLCAInfo={proxy_pki.ca_cert}", "-c", f"http.sslCAInfo={pki.ca_cert}",
         "ls-remote", f"https://{target}/repo.git"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env=env_without_proxies(HOME=str(tmp_path), GIT_TERMINAL_PROMPT="0"))

    tls_proxy.wait_log(tunnel_line_re(target, user=tls_proxy.user))
    assert "proxy" not in done.stderr.lower(), done.stderr


class PackageIndex:
    """A PEP 503 simple index over TLS on 127.0.0.1 (certificate: the test CA's, for the
    origin names) serving one small wheel, `sluice_probe-1.0`, built here."""

    NAME = "sluice_probe"

    def __init__(self, pki, directory):
        os.makedirs(directory)
        self.wheel = self._build_wheel(directory)
        with open(self.wheel, "rb") as f:
            self.sha256 = hashlib.sha256(f.read()).hexdigest()
        root = os.path.join(directory, "index")
        page = os.path.join(root, "simple", "sluice-probe")
        os.makedirs(page)
        os.makedirs(os.path.join(root, "files"))
        shutil.copy(self.wheel, os.path.join(root, "files"))
        name = os.path.basename(self.wheel)
        with open(os.path.join(page, "index.html"), "w") as f:
            f.write(f'<!DOCTYPE html><html><body><a href="../../files/{name}#sha256='
                    f'{self.sha256}">{name}</a></body></html>\n')
        handler = functools.partial(QuietHandler, directory=root)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(pki.cert, pki.key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _build_wheel(self, directory):
        path = os.path.join(directory, f"{self.NAME}-1.0-py3-none-any.whl")
        info = f"{self.NAME}-1.0.dist-info"
        files = {
            f"{self.NAME}/__init__.py": b"GREETING = 'fetched through a TLS proxy'\n",
            f"{info}/METADATA": b"Metadata-Version: 2.1\nName: sluice-probe\nVersion: 1.0\n",
            f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: sluice-tests\n"
                             b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        }
        def digest(data):
            raw = hashlib.sha256(data).digest()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        record = "".join(f"{name},sha256={digest(data)},{len(data)}\n"
                         for name, data in files.items()) + f"{info}/RECORD,,\n"
        with zipfile.ZipFile(path, "w") as z:
            for name, data in files.items():
                z.writestr(name, data)
            z.writestr(f"{info}/RECORD", record)
        return path

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def package_index(pki, tmp_path, isolated_network):
    index = PackageIndex(pki, str(tmp_path / "pkg"))
    yield index
    index.close()


def test_pip_downloads_through_a_tls_listener(make_proxy, proxy_pki, pki, package_index,
                                              origins, tmp_path):
    # pip 23.0 (Debian 12; urllib3 1.26 vendored) speaks TLS to an https:// proxy and checks
    # its certificate with --cert, the bundle it also checks the index's with.
    pip = ["/usr/bin/python3", "-m", "pip"]
    if subprocess.run([*pip, "--version"], capture_output=True, timeout=60).returncode != 0:
        pytest.skip("pip is missing (Debian: python3-pip)")
    proxy = make_proxy(listen=("127.0.0.1:0 tls",),
                       connect_ports=(*origins.ports, package_index.port),
                       extra=[f"tls_cert {proxy_pki.cert}", f"tls_key {proxy_pki.key}"])
    bundle = tmp_path / "both.pem"
    bundle.write_text(open(pki.ca_cert).read() + open(proxy_pki.ca_cert).read())
    target = f"api.anthropic.com:{package_index.port}"
    dest = tmp_path / "downloaded"

    done = subprocess.run(
        [*pip, "download", "--isolated", "--no-cache-dir", "--disable-pip-version-check",
         "--retries", "0", "--timeout", "30", "--proxy", https_url(proxy), "--cert",
         str(bundle), "--index-url", f"https://{target}/simple/", "--no-deps",
         "--dest", str(dest), "sluice-probe"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        # A clean environment: requests lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE override
        # --cert, and PIP_* variables would add to the command line.
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
             "LC_ALL": "C.UTF-8", "PIP_CONFIG_FILE": os.devnull})

    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = dest.iterdir()
    assert wheel.name == os.path.basename(package_index.wheel)
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == package_index.sha256
    proxy.wait_log(tunnel_line_re(target, user=proxy.user))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: only root starts as one user and "
                                                "reloads as another")
def test_check_warns_about_a_key_the_unprivileged_user_cannot_read(sluice_bin, tmp_path,
                                                                   proxy_pki):
    # certbot keeps its keys for root alone: sluice (started as root, `user nobody`) would
    # load the key at start and fail every reload after. (A directory of its own under /tmp:
    # pytest's are root's alone, and nobody could read the certificate there either.)
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="sluice-reader-", dir="/tmp"))
    os.chmod(tmp_path, 0o755)
    key = tmp_path / "root-only.key"
    shutil.copy(proxy_pki.key, key)
    os.chmod(key, 0o600)
    cert = tmp_path / "proxy.pem"
    shutil.copy(proxy_pki.cert, cert)
    os.chmod(cert, 0o644)
    conf = tmp_path / "sluice.conf"
    conf.write_text(f"listen 127.0.0.1:0 tls\ntls_cert {cert}\ntls_key {key}\n"
                    "allow a.example\nuser nobody\n")

    done = run_cli(sluice_bin, "check", "-c", str(conf))

    assert done.returncode == 0, done.stderr
    assert (f"{conf}:3: warning: tls_key {key}: user nobody cannot read it, and reloads run "
            "as nobody: it loads now, then every reload fails") in done.stderr, done.stderr
    assert f"tls_cert {cert}: user nobody" not in done.stderr, done.stderr
    shutil.rmtree(tmp_path)
