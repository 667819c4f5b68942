# SPDX-License-Identifier: MIT
"""`sluice tunnel HOST PORT` (ssh's ProxyCommand) to an `https://` proxy: TLS to the proxy, its
certificate verified for the URL's host against the system's store or `--proxy-ca FILE`, the
credentials sent only after that, and stdin and stdout relayed both ways with their ends.
Driven as ssh drives it, through its stdin and stdout, against a sluice TLS listener and the
loopback origins (echo, early-EOF); an `http://` proxy still works. A proxy that cannot be
verified gets a one-line error naming the failed check, exit status 1, and no request."""

import hashlib
import os
import re
import socket
import subprocess
import ssl
import threading
import time

import pytest

from helpers import https_url
from origins import EARLY_EOF_GREETING, echo_trailer
from sluiceproc import tunnel_line_re

HANG = 60  # seconds: beyond this a tunnel that should have ended is reported as hung


@pytest.fixture(params=["https", "http"])
def either_proxy(request, make_proxy, proxy_pki, origins):
    """A factory: (proxy, its URL, sluice tunnel's options) for a TLS listener with the proxy's
    CA, then for a plain one (the relay is the same for both)."""
    def factory(connect_ports=(*origins.ports,)):
        if request.param == "http":
            proxy = make_proxy(connect_ports=connect_ports)
            return proxy, proxy.url(), ()
        proxy = make_proxy(listen=("127.0.0.1:0 tls",), connect_ports=connect_ports,
                           extra=[f"tls_cert {proxy_pki.cert}", f"tls_key {proxy_pki.key}"])
        return proxy, https_url(proxy), ("--proxy-ca", proxy_pki.ca_cert)

    return factory


class Tunnel:
    """A running `sluice tunnel`: bytes in through stdin, out through stdout, collected by a
    thread so that neither pipe can stall the other."""

    def __init__(self, sluice_bin, url, target, *options, read=True):
        host, port = target.rsplit(":", 1)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
               "https_proxy": url}
        self.proc = subprocess.Popen([sluice_bin, "tunnel", *options, host, port],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.out = bytearray()
        self.eof = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        if read:
            self.reader.start()

    def _read(self):
        while chunk := os.read(self.proc.stdout.fileno(), 1 << 20):
            self.out += chunk
        self.eof.set()

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send_in_background(self, data):
        """Write `data` and close stdin from a thread (the reader keeps draining stdout). A
        tunnel that fails may end before it reads any of it."""
        def write():
            try:
                self.send(data)
            except BrokenPipeError:
                pass
            self.close_stdin()

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        return writer

    def close_stdin(self):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def wait_stdout_eof(self):
        assert self.eof.wait(HANG), f"stdout still open; stderr: {self.stderr_so_far()}"
        return bytes(self.out)

    def stderr_so_far(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode()

    def finish(self):
        """Close stdin if still open; the exit status and stderr once sluice has ended."""
        if not self.proc.stdin.closed:
            self.close_stdin()
        try:
            status = self.proc.wait(HANG)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("sluice tunnel did not end after both sides had")
        if self.reader.is_alive():
            self.reader.join(HANG)
        err = self.proc.stderr.read().decode()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return status, err


def tunnel(sluice_bin, url, target, *options, data=b""):
    """Run a tunnel to its end with `data` on stdin; returns (status, stdout, stderr)."""
    t = Tunnel(sluice_bin, url, target, *options)
    writer = t.send_in_background(data)
    out = t.wait_stdout_eof()
    writer.join(HANG)
    status, err = t.finish()
    return status, out, err


def test_4_mb_each_way_with_the_end_passed_on(sluice_bin, either_proxy, origins):
    # The echo origin sends every byte back while it reads (a relay that blocks writing to
    # the proxy while the proxy waits for it to read would hang here), and its trailer only
    # after it saw the end of stdin (close_notify and FIN through a TLS listener).
    proxy, url, options = either_proxy()
    target = f"api.anthropic.com:{origins.echo_port}"
    payload = os.urandom(4 * 1024 * 1024)

    status, out, err = tunnel(sluice_bin, url, target, *options, data=payload)

    assert status == 0, err
    assert err == ""
    assert len(out) == len(payload) + len(echo_trailer(len(payload)))
    assert hashlib.sha256(out).digest() == hashlib.sha256(
        payload + echo_trailer(len(payload))).digest()
    # The credentials of the URL reached the proxy: the tunnel is logged as its user.
    (line,) = proxy.wait_log(tunnel_line_re(target, user=proxy.user))
    assert int(line["bytes"]) >= len(payload)


def test_the_far_side_ending_first_closes_stdout_and_stdin_still_goes_through(
        sluice_bin, either_proxy, origins):
    # What ssh sees when the server closes: EOF on the ProxyCommand's stdout while its stdin is
    # still open. The early-EOF origin half-closes first, then reads until the tunnel's end.
    _, url, options = either_proxy()
    target = f"api.anthropic.com:{origins.early_eof_port}"
    t = Tunnel(sluice_bin, url, target, *options)
    try:
        assert t.wait_stdout_eof() == EARLY_EOF_GREETING
        key = os.urandom(8).hex()
        after = os.urandom(256 * 1024)
        t.send(f"{key}\n".encode() + after)
    finally:
        status, err = t.finish()

    assert status == 0, err
    received = origins.early_eof_received
    for _ in range(200):
        if key in received:
            break
        time.sleep(0.05)
    assert received.get(key) == f"{len(after)} {hashlib.sha256(after).hexdigest()}"


class SilentOrigin:
    """A TCP origin on loopback that accepts, reads, and never sends nor closes."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = bytearray()
        self.got = threading.Event()
        self.held = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            conn = self.listener.accept()[0]
        except OSError:
            return
        self.held.append(conn)
        while chunk := conn.recv(65536):
            self.received += chunk
            self.got.set()

    def close(self):
        for conn in self.held:
            conn.close()
        self.listener.close()


@pytest.fixture
def silent_origin(isolated_network):
    server = SilentOrigin()
    yield server
    server.close()


def test_the_tunnel_ends_when_ssh_closes_its_pipes_though_the_far_side_stays(
        sluice_bin, either_proxy, origins, silent_origin):
    # ssh closes both of its pipes when it is done; this far side never closes. sluice
    # tunnel must end anyway rather than wait for it.
    _, url, options = either_proxy(connect_ports=(*origins.ports, silent_origin.port))
    target = f"api.anthropic.com:{silent_origin.port}"
    t = Tunnel(sluice_bin, url, target, *options, read=False)
    t.send(b"SSH-2.0-OpenSSH_9.2\r\n")
    assert silent_origin.got.wait(HANG), t.stderr_so_far()
    assert bytes(silent_origin.received) == b"SSH-2.0-OpenSSH_9.2\r\n"

    t.proc.stdout.close()  # the reader leaves, then the writer
    t.proc.stdin.close()
    status, err = t.finish()

    assert status == 0, err
    assert err == ""


@pytest.mark.parametrize("case", ["system-store", "another-ca"])
def test_a_proxy_certificate_that_is_not_trusted_stops_the_tunnel_before_any_request(
        sluice_bin, tls_proxy, origins, pki, case):
    # The system's store does not know the test CA; the origins' CA did not sign the proxy's
    # certificate.
    target = f"api.anthropic.com:{origins.echo_port}"
    options = ("--proxy-ca", pki.ca_cert) if case == "another-ca" else ()

    status, out, err = tunnel(sluice_bin, https_url(tls_proxy), target, *options,
                              data=b"never sent\n")

    assert status == 1
    assert out == b""
    assert err == (f"sluice tunnel: TLS to the proxy localhost:{tls_proxy.port} failed: "
                   "unable to get local issuer certificate\n")
    tls_proxy.wait_log(r" NONE/000 0 NONE - - HIER_NONE/- - tls-failed$")
    assert not [line for line in tls_proxy.log_lines() if "CONNECT" in line]


def test_a_proxy_certificate_for_another_name_stops_the_tunnel_before_any_request(
        sluice_bin, tls_proxy, proxy_pki, origins):
    # The certificate is for localhost; the URL says 127.0.0.1.
    target = f"api.anthropic.com:{origins.echo_port}"

    status, out, err = tunnel(sluice_bin, https_url(tls_proxy, host="127.0.0.1"), target,
                              "--proxy-ca", proxy_pki.ca_cert, data=b"never sent\n")

    assert status == 1
    assert out == b""
    assert err == (f"sluice tunnel: TLS to the proxy 127.0.0.1:{tls_proxy.port} failed: "
                   "the certificate is not valid for 127.0.0.1\n")
    tls_proxy.wait_log(r" NONE/000 0 NONE - - HIER_NONE/- - tls-failed$")
    assert not [line for line in tls_proxy.log_lines() if "CONNECT" in line]


def test_an_https_url_for_a_plain_port_sends_no_credentials(sluice_bin, proxy, proxy_pki,
                                                           origins):
    # A listener without tls: the ClientHello is all it gets, never the request with the
    # password in it.
    target = f"api.anthropic.com:{origins.echo_port}"

    status, out, err = tunnel(sluice_bin, https_url(proxy, host="127.0.0.1"), target,
                              "--proxy-ca", proxy_pki.ca_cert, data=b"never sent\n")

    assert status == 1
    assert out == b""
    assert re.fullmatch(rf"sluice tunnel: TLS to the proxy 127\.0\.0\.1:{proxy.port} failed: "
                        r"[^\n]+\n", err), err
    assert proxy.password not in err
    assert not [line for line in proxy.log_lines() if "CONNECT" in line]


def test_a_wrong_password_is_refused_with_the_proxys_status_and_no_secret(
        sluice_bin, tls_proxy, proxy_pki, origins):
    target = f"api.anthropic.com:{origins.echo_port}"
    wrong = tls_proxy.password + "x"
    tls_proxy.secrets.append(wrong)

    status, out, err = tunnel(sluice_bin, https_url(tls_proxy, password=wrong), target,
                              "--proxy-ca", proxy_pki.ca_cert)

    assert status == 1
    assert out == b""
    assert err.startswith(f"sluice tunnel: the proxy refused {target}: HTTP/1.1 407 "), err
    assert err.count("\n") == 1
    assert wrong not in err


def test_a_plain_http_proxy_still_works(sluice_bin, proxy, origins):
    target = f"api.anthropic.com:{origins.echo_port}"

    status, out, err = tunnel(sluice_bin, proxy.url(), target, data=b"over plain TCP\n")

    assert status == 0, err
    assert out == b"over plain TCP\n" + echo_trailer(15)
    proxy.wait_log(tunnel_line_re(target, user=proxy.user))


def test_proxy_ca_is_refused_for_an_http_proxy(sluice_bin, proxy, proxy_pki, origins):
    # The user asked for a verified proxy; an http:// one cannot be, so nothing is sent.
    target = f"api.anthropic.com:{origins.echo_port}"

    status, out, err = tunnel(sluice_bin, proxy.url(), target, "--proxy-ca", proxy_pki.ca_cert)

    assert status == 1
    assert err == ("sluice tunnel: --proxy-ca is for an https:// proxy, and https_proxy "
                   "names an http:// one\n")
    assert not [line for line in proxy.log_lines() if "CONNECT" in line]


def test_a_proxy_ca_file_that_cannot_be_read_is_named(sluice_bin, tls_proxy, origins,
                                                      tmp_path):
    missing = tmp_path / "missing.pem"
    target = f"api.anthropic.com:{origins.echo_port}"

    status, _, err = tunnel(sluice_bin, https_url(tls_proxy), target, "--proxy-ca",
                            str(missing))

    assert status == 1
    assert err == f"sluice tunnel: --proxy-ca {missing}: No such file or directory\n"


def test_proxy_ca_without_a_value_is_a_usage_error(sluice_bin):
    done = subprocess.run([sluice_bin, "tunnel", "host", "22", "--proxy-ca"],
                          capture_output=True, text=True, timeout=30,
                          env={"https_proxy": "https://127.0.0.1:9"})

    assert done.returncode == 2
    assert done.stderr.startswith("sluice tunnel: option needs a value: --proxy-ca\n")
    assert "usage: sluice tunnel [--proxy-ca FILE] HOST PORT" in done.stderr


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_proxy_that_speaks_only_tls_1_1_is_refused(sluice_bin, proxy_pki, origins,
                                                     isolated_network):
    # A stand-in proxy with a certificate sluice trusts, but TLS 1.1 at most: the handshake
    # fails, and no request reaches it.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.load_cert_chain(proxy_pki.cert, proxy_pki.key)
    listener = socket.create_server(("127.0.0.1", 0))
    received = []

    def serve():
        conn = listener.accept()[0]
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                received.append(tls.recv(65536))
        except (OSError, ssl.SSLError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    url = f"https://agent:secret@localhost:{port}"
    try:
        status, out, err = tunnel(sluice_bin, url, f"api.anthropic.com:{origins.echo_port}",
                                  "--proxy-ca", proxy_pki.ca_cert, data=b"never sent\n")
        thread.join(HANG)
    finally:
        listener.close()

    assert status == 1
    assert err.startswith(f"sluice tunnel: TLS to the proxy localhost:{port} failed: "), err
    assert err.count("\n") == 1
    assert received == []
