# SPDX-License-Identifier: MIT
"""SNI must match (`sni require`, `sni_ports`, `allow_ech`): the first bytes of a CONNECT tunnel
to a checked port must be a TLS ClientHello naming the CONNECT host, else the tunnel is cut
(with a TLS alert the client's own error names) and logged sni-mismatch, sni-missing,
not-tls or ech-refused; nothing is dialled before the ClientHello passed. Real TLS clients
(curl, Python's ssl, openssl s_client with a ClientHello split over several TLS records)
through the real binary to the TLS origin on loopback."""

import json
import re
import socket
import ssl
import struct
import subprocess
import time

import pytest

from helpers import curl, env_without_proxies
from origins import https_greeting
from proxyclient import connect


@pytest.fixture
def sni_proxy(make_proxy, origins):
    """A proxy that checks the SNI of tunnels to the TLS origin's port; JSON log."""
    return make_proxy(extra=[f"sni_ports {origins.https_port}", "access_log_format json"])


def https_accepts(origins):
    return sum(1 for name, _ in origins.accepted if name == "https")


def hello_bytes(server_name):
    """A real ClientHello from Python's ssl (OpenSSL 3.0), for `server_name` (None: no SNI)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def with_ech(hello):
    """`hello` with an encrypted_client_hello extension (0xfe0d) appended, lengths fixed up:
    what an ECH client sends in its outer ClientHello, to the byte layout."""
    ext = struct.pack("!HH", 0xFE0D, 8) + bytes(8)
    body = bytearray(hello[9:])  # after the record header (5) and handshake header (4)
    pos = 2 + 32                                    # version, random
    pos += 1 + body[pos]                            # session id
    pos += 2 + struct.unpack("!H", body[pos:pos + 2])[0]   # cipher suites
    pos += 1 + body[pos]                            # compression methods
    ext_len = struct.unpack("!H", body[pos:pos + 2])[0]
    body[pos:pos + 2] = struct.pack("!H", ext_len + len(ext))
    body += ext
    handshake = b"\x01" + len(body).to_bytes(3, "big") + bytes(body)
    return hello[:3] + struct.pack("!H", len(handshake)) + handshake


def tunnel(proxy, target):
    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert reply.status == 200, reply.body
    return reply.sock


def entries(proxy, count):
    proxy.wait_log(r"^\{", count=count)
    return [json.loads(line) for line in proxy.log_lines()]


def test_a_matching_server_name_passes_and_reaches_the_origin(sni_proxy, pki, origins):
    target = f"api.anthropic.com:{origins.https_port}"

    done = curl(sni_proxy.url(), f"https://{target}/sni-ok", pki.ca_cert)

    assert done.returncode == 0, done.stderr
    assert done.stdout == https_greeting("api.anthropic.com", target, "/sni-ok")
    (e,) = entries(sni_proxy, 1)
    assert (e["status"], e["reason"], e["url"]) == (200, None, target), e


def test_a_fronted_server_name_is_cut_with_an_alert_and_nothing_is_dialled(sni_proxy, pki,
                                                                           origins):
    # Domain fronting: CONNECT to an allowed name, then a ClientHello for another service
    # behind the same front end.
    target = f"api.anthropic.com:{origins.https_port}"
    before = https_accepts(origins)
    sock = tunnel(sni_proxy, target)
    ctx = ssl.create_default_context(cafile=pki.ca_cert)

    with pytest.raises(ssl.SSLError) as refused:
        ctx.wrap_socket(sock, server_hostname="www.google.com")

    assert "ACCESS_DENIED" in str(refused.value).upper(), refused.value
    (e,) = entries(sni_proxy, 1)
    assert (e["decision"], e["status"], e["reason"], e["url"], e["upstream"], e["sni"]) == (
        "denied", 200, "sni-mismatch", target, None, "www.google.com"), e
    assert https_accepts(origins) == before, "the origin was dialled before the check"
    sock.close()


def test_the_squid_line_of_a_fronted_tunnel(make_proxy, pki, origins):
    proxy = make_proxy(extra=[f"sni_ports {origins.https_port}"])
    target = f"api.anthropic.com:{origins.https_port}"

    sock = tunnel(proxy, target)
    with pytest.raises(ssl.SSLError):
        ssl.create_default_context(cafile=pki.ca_cert).wrap_socket(
            sock, server_hostname="www.google.com")
    sock.close()
    proxy.wait_log(rf" TCP_DENIED/200 \d+ CONNECT {re.escape(target)} agent HIER_NONE/- - "
                   r"sni-mismatch$")


def test_no_server_name_is_sni_missing(sni_proxy, origins):
    sock = tunnel(sni_proxy, f"api.anthropic.com:{origins.https_port}")
    sock.sendall(hello_bytes(None))
    sock.settimeout(10)
    assert sock.recv(100) == b"\x15\x03\x03\x00\x02\x02\x31"   # fatal access_denied
    assert sock.recv(100) == b""
    (e,) = entries(sni_proxy, 1)
    assert e["reason"] == "sni-missing", e
    # Our 200 and the alert are what the client got.
    assert e["bytes_to_client"] == len(b"HTTP/1.1 200 Connection established\r\n\r\n") + 7, e
    sock.close()


def test_bytes_that_are_not_tls_are_not_tls(sni_proxy, origins):
    sock = tunnel(sni_proxy, f"api.anthropic.com:{origins.https_port}")
    sock.sendall(b"GET / HTTP/1.1\r\nHost: api.anthropic.com\r\n\r\n")
    sock.settimeout(10)
    assert sock.recv(100) == b""   # no alert for a client that speaks no TLS
    (e,) = entries(sni_proxy, 1)
    assert e["reason"] == "not-tls", e
    sock.close()


def test_an_encrypted_client_hello_is_refused_unless_allowed(make_proxy, origins):
    target = f"api.anthropic.com:{origins.https_port}"
    hello = with_ech(hello_bytes("api.anthropic.com"))
    for allow, want in (("no", "ech-refused"), ("yes", None)):
        proxy = make_proxy(extra=[f"sni_ports {origins.https_port}", f"allow_ech {allow}",
                                  "access_log_format json"])
        sock = tunnel(proxy, target)
        sock.sendall(hello)
        sock.settimeout(10)
        if want is None:
            # Let through: the origin's TLS answers (an alert about the made-up
            # extension, or a ServerHello), so the bytes reached it.
            assert sock.recv(5)[:1] in (b"\x15", b"\x16")
        sock.close()
        (e,) = entries(proxy, 1)
        assert e["reason"] == want, e


def test_a_client_hello_split_over_records_and_segments_passes_unchanged(make_proxy, pki,
                                                                         origins, tmp_path):
    # openssl s_client splits its ClientHello into 512-byte TLS records (-max_send_frag) and
    # makes it large (a finite-field key share, as post-quantum ones are); the proxy
    # reassembles, checks, and forwards the very bytes: the handshake with the origin
    # completes and the origin saw the name.
    proxy = make_proxy(extra=[f"sni_ports {origins.https_port}"])
    env = dict(env_without_proxies(), PROXYPASS=proxy.password)
    done = subprocess.run(
        ["openssl", "s_client", "-connect", f"api.anthropic.com:{origins.https_port}",
         "-proxy", f"127.0.0.1:{proxy.port}", "-proxy_user", proxy.user,
         "-proxy_pass", "env:PROXYPASS", "-servername", "api.anthropic.com",
         "-CAfile", pki.ca_cert, "-verify_return_error", "-max_send_frag", "512",
         "-groups", "ffdhe8192:X25519", "-tls1_3", "-quiet"],
        input=f"GET /split HTTP/1.1\r\nHost: api.anthropic.com\r\nConnection: close\r\n\r\n",
        capture_output=True, text=True, timeout=60, env=env)

    assert https_greeting("api.anthropic.com", "api.anthropic.com", "/split") in done.stdout, \
        (done.stdout, done.stderr)


def test_a_client_hello_trickled_byte_by_byte_passes(sni_proxy, pki, origins):
    target = f"api.anthropic.com:{origins.https_port}"
    sock = tunnel(sni_proxy, target)
    ctx = ssl.create_default_context(cafile=pki.ca_cert)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="api.anthropic.com")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    for b in outgoing.read():        # one TCP segment per byte
        sock.sendall(bytes([b]))
        time.sleep(0.001)
    sock.settimeout(10)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            if out := outgoing.read():
                sock.sendall(out)
            incoming.write(sock.recv(65536))
    sock.sendall(outgoing.read())
    assert obj.version() in ("TLSv1.2", "TLSv1.3")
    sock.close()


def test_an_address_target_needs_no_name_but_a_name_must_be_allowed(sni_proxy, pki, origins):
    target = f"127.0.0.1:{origins.https_port}"
    # No SNI to an address (allow_cidr covers it): fine.
    sock = tunnel(sni_proxy, target)
    sock.sendall(hello_bytes(None))
    sock.settimeout(10)
    assert sock.recv(1) == b"\x16"     # the origin's ServerHello
    sock.close()
    # A name the policy does not allow, sent to an allowed address: fronting again.
    sock = tunnel(sni_proxy, target)
    sock.sendall(hello_bytes("evil.example"))
    assert sock.recv(100) == b"\x15\x03\x03\x00\x02\x02\x31"
    sock.close()
    got = [(e["reason"], e["sni"]) for e in entries(sni_proxy, 2)]
    assert got == [(None, None), ("sni-mismatch", "evil.example")], got


def test_report_mode_lets_a_mismatch_through_and_says_so(make_proxy, pki, origins):
    proxy = make_proxy(extra=[f"sni_ports {origins.https_port}", "mode report",
                              "access_log_format json"])
    sock = tunnel(proxy, f"api.anthropic.com:{origins.https_port}")
    ctx = ssl.create_default_context(cafile=pki.ca_cert)
    ctx.check_hostname = False
    with ctx.wrap_socket(sock, server_hostname="www.google.com") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    (e,) = entries(proxy, 1)
    assert (e["reason"], e["report"], e["sni"]) == (None, "sni-mismatch", "www.google.com"), e


def test_sni_off_checks_nothing(make_proxy, origins):
    proxy = make_proxy(extra=[f"sni_ports {origins.https_port}", "sni off",
                              "access_log_format json"])
    sock = tunnel(proxy, f"api.anthropic.com:{origins.https_port}")
    sock.sendall(hello_bytes("www.google.com"))
    sock.settimeout(10)
    assert sock.recv(1) == b"\x16"
    sock.close()
    (e,) = entries(proxy, 1)
    assert e["reason"] is None, e


def test_a_client_that_never_sends_a_hello_is_cut_after_header_timeout(make_proxy, origins):
    proxy = make_proxy(extra=[f"sni_ports {origins.https_port}", "header_timeout 1s",
                              "access_log_format json"])
    sock = tunnel(proxy, f"api.anthropic.com:{origins.https_port}")
    sock.settimeout(30)
    assert sock.recv(100) == b""
    (e,) = entries(proxy, 1)
    assert e["reason"] == "not-tls", e
    sock.close()


def test_the_origin_unreachable_after_the_hello_is_a_closed_tunnel_on_record(make_proxy,
                                                                             pki):
    # Behind the check the 200 comes first: a destination nobody listens on can only be a
    # closed connection for the client, and connect-failed in the log.
    proxy = make_proxy(connect_ports=(443,), extra=["access_log_format json"])
    sock = tunnel(proxy, "api.anthropic.com:443")
    with pytest.raises((ssl.SSLError, OSError)):
        ssl.create_default_context(cafile=pki.ca_cert).wrap_socket(
            sock, server_hostname="api.anthropic.com")
    (e,) = entries(proxy, 1)
    assert e["reason"] == "connect-failed", e
