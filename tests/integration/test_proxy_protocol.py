# SPDX-License-Identifier: MIT
"""`listen ADDR:PORT proxy_protocol`: behind a TCP load balancer, the client's address comes
from the PROXY header (v1 or v2) the balancer sends first, and only from the sources in
`proxy_protocol_from` — anyone else could pick their own address. The address in the header is
the client for the log, auth_rate and the status page; a LOCAL header (the balancer's own
check) keeps the connection's address; a connection without a valid header is dropped and on
record. Headers are written by hand here, byte for byte, as HAProxy's spec defines them;
test_haproxy.py runs the real HAProxy."""

import ipaddress
import json
import socket
import ssl
import struct
import subprocess

import crc32c
import pytest

from origins import echo_trailer
from proxyclient import connect_head, echo_through, read_reply
from test_admin import admin_get, admin_port

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, dst=None, sport=40000, dport=3128):
    fam = "TCP6" if ":" in src else "TCP4"
    dst = dst or ("::1" if fam == "TCP6" else "127.0.0.1")
    return f"PROXY {fam} {src} {dst} {sport} {dport}\r\n".encode()


def v2(src=None, dst="127.0.0.1", sport=40000, dport=3128, local=False, tlvs=b""):
    if local:
        return V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", len(tlvs)) + tlvs
    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fam = 0x11 if a.version == 4 else 0x21
    body = a.packed + b.packed + struct.pack("!HH", sport, dport) + tlvs
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


def through(proxy, header, target, *, user=None, password=None):
    """Send `header`, then a CONNECT; returns the Reply."""
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=20)
    sock.sendall(header)
    sock.sendall(connect_head(target, user or proxy.user, password or proxy.password))
    return read_reply(sock, 20)


def dropped(sock):
    """Closed by the proxy without a byte: EOF, or a reset when our bytes were unread."""
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True
    finally:
        sock.close()


def json_lines(proxy, n):
    proxy.wait_log(r".", count=n)
    return [json.loads(line) for line in proxy.log_lines()]


@pytest.fixture
def pp_proxy(make_proxy):
    return make_proxy(listen=("127.0.0.1:0 proxy_protocol",),
                      extra=["proxy_protocol_from 127.0.0.0/8", "access_log_format json",
                             "admin_listen 127.0.0.1:0"])


@pytest.mark.parametrize("header,client", [
    (v1("198.51.100.7"), "198.51.100.7"),
    (v1("2001:db8::42"), "2001:db8::42"),
    (v2("203.0.113.9"), "203.0.113.9"),
    (v2("2001:db8::7", dst="2001:db8::1", tlvs=b"\x04\x00\x03abc"), "2001:db8::7"),
    (v2("::ffff:192.0.2.5", dst="::ffff:127.0.0.1"), "192.0.2.5"),
])
def test_the_header_names_the_client_in_the_log(pp_proxy, origins, header, client):
    reply = through(pp_proxy, header, f"api.anthropic.com:{origins.echo_port}")
    assert reply.status == 200, reply
    assert echo_through(reply.sock, b"ping") == b"ping" + echo_trailer(4)
    reply.close()
    (rec,) = json_lines(pp_proxy, 1)
    assert (rec["client"], rec["decision"]) == (client, "allowed"), rec


def test_an_ipv4_mapped_cidr_trusts_its_ipv4_balancer(make_proxy, origins):
    proxy = make_proxy(listen=("127.0.0.1:0 proxy_protocol",),
                       extra=["proxy_protocol_from ::ffff:127.0.0.0/104",
                              "access_log_format json"])
    reply = through(proxy, v1("198.51.100.9"), f"api.anthropic.com:{origins.echo_port}")
    assert reply.status == 200
    reply.close()
    (rec,) = json_lines(proxy, 1)
    assert rec["client"] == "198.51.100.9", rec


def test_a_local_header_keeps_the_connections_address(pp_proxy, origins):
    reply = through(pp_proxy, v2(local=True), f"api.anthropic.com:{origins.echo_port}")
    assert reply.status == 200
    reply.close()
    (rec,) = json_lines(pp_proxy, 1)
    assert rec["client"] == "127.0.0.1", rec


def test_no_header_is_dropped_without_a_word_and_on_record(pp_proxy, origins):
    # A client that reaches the balancer's port directly speaks HTTP first.
    sock = socket.create_connection(("127.0.0.1", pp_proxy.port), timeout=20)
    sock.sendall(connect_head(f"api.anthropic.com:{origins.echo_port}", pp_proxy.user,
                              pp_proxy.password))
    assert dropped(sock)
    (rec,) = json_lines(pp_proxy, 1)
    assert (rec["client"], rec["reason"], rec["status"]) == ("127.0.0.1", "proxy-header", 0)


def with_crc32c(header, right=True):
    """`header` (v2, no TLVs after the addresses) with a CRC32C TLV appended: the checksum
    of the whole header with its value zeroed, by Debian's python3-crc32c — or off by one."""
    body_len = struct.unpack("!H", header[14:16])[0] + 7
    zeroed = header[:14] + struct.pack("!H", body_len) + header[16:] + b"\x03\x00\x04" + \
        b"\x00" * 4
    crc = crc32c.crc32c(zeroed) ^ (0 if right else 1)
    return zeroed[:-4] + struct.pack("!I", crc)


def test_a_crc32c_is_checked(pp_proxy, origins):
    target = f"api.anthropic.com:{origins.echo_port}"
    reply = through(pp_proxy, with_crc32c(v2("203.0.113.9")), target)
    assert reply.status == 200, reply
    reply.close()

    sock = socket.create_connection(("127.0.0.1", pp_proxy.port), timeout=20)
    # One write: once the header is refused, a second one could meet a reset.
    sock.sendall(with_crc32c(v2("203.0.113.10"), right=False) +
                 connect_head(target, pp_proxy.user, pp_proxy.password))
    assert dropped(sock)
    # The tunnel's line is written when it closes, so in either order.
    recs = sorted(json_lines(pp_proxy, 2), key=lambda r: r["client"] != "203.0.113.9")
    ok, bad = recs
    assert (ok["client"], ok["decision"]) == ("203.0.113.9", "allowed"), recs
    # Refused: the header's client is not believed, the connection's address is logged.
    assert (bad["client"], bad["reason"], bad["status"]) == ("127.0.0.1", "proxy-header", 0), \
        recs


def test_a_truncated_header_times_out_on_record(make_proxy):
    proxy = make_proxy(listen=("127.0.0.1:0 proxy_protocol",),
                       extra=["proxy_protocol_from 127.0.0.0/8", "access_log_format json",
                              "header_timeout 1s"])
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=20)
    sock.sendall(v2("203.0.113.9")[:20])
    assert dropped(sock)
    # A balancer's bare TCP check (connect, close) leaves no line.
    socket.create_connection(("127.0.0.1", proxy.port), timeout=20).close()
    (rec,) = json_lines(proxy, 1)
    assert rec["reason"] == "proxy-header", rec


def test_a_source_outside_proxy_protocol_from_cannot_name_a_client(make_proxy, origins):
    proxy = make_proxy(listen=("127.0.0.1:0 proxy_protocol",),
                       extra=["proxy_protocol_from 192.0.2.0/24", "access_log_format json"])
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=20)
    sock.sendall(v1("198.51.100.7") + connect_head(f"api.anthropic.com:{origins.echo_port}",
                                                   proxy.user, proxy.password))
    assert dropped(sock)
    (rec,) = json_lines(proxy, 1)
    assert (rec["client"], rec["reason"]) == ("127.0.0.1", "proxy-untrusted"), rec


def test_auth_rate_and_the_status_page_follow_the_headers_client(make_proxy, origins):
    proxy = make_proxy(listen=("127.0.0.1:0 proxy_protocol",),
                       extra=["proxy_protocol_from 127.0.0.0/8", "access_log_format json",
                              "auth_rate 1/s burst 1", "admin_listen 127.0.0.1:0"])
    target = f"api.anthropic.com:{origins.echo_port}"
    # Two different wrong passwords from one client: the second finds its budget spent.
    got = [through(proxy, v1("198.51.100.7"), target, password=f"wrong{i}").error_code
           for i in range(2)]
    assert got == ["auth-failed", "auth-throttled"], got
    # Another client behind the same balancer has a budget of its own.
    assert through(proxy, v1("198.51.100.8"), target,
                   password="wrong2").error_code == "auth-failed"
    status, _, body = admin_get(proxy, "/status")
    assert status == 200 and b"198.51.100.7" in body and b"198.51.100.8" in body


def test_tls_listener_reads_the_header_before_the_client_hello(make_proxy, proxy_pki, origins):
    proxy = make_proxy(listen=("127.0.0.1:0 tls proxy_protocol",),
                       extra=["proxy_protocol_from 127.0.0.1/32", "access_log_format json",
                              f"tls_cert {proxy_pki.cert}", f"tls_key {proxy_pki.key}"])
    ctx = ssl.create_default_context(cafile=proxy_pki.ca_cert)
    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=20)
    raw.sendall(v2("203.0.113.77"))
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(connect_head(f"api.anthropic.com:{origins.echo_port}", proxy.user,
                                 proxy.password))
        head = b""
        while b"\r\n\r\n" not in head:
            head += tls.recv(1)
        assert head.startswith(b"HTTP/1.1 200"), head
        tls.sendall(b"over tls")
        got = b""
        while len(got) < 8:
            got += tls.recv(8 - len(got))
        assert got == b"over tls"
    (rec,) = json_lines(proxy, 1)
    assert (rec["client"], rec["tls"]) == ("203.0.113.77", "TLSv1.3"), rec


@pytest.mark.parametrize("lines,message", [
    (["listen 127.0.0.1:3128 proxy_protocol"], "proxy_protocol_from"),
    (["listen 127.0.0.1:3128", "proxy_protocol_from 10.0.0.0/8"],
     "proxy_protocol_from without a 'listen ADDR:PORT proxy_protocol'"),
    (["listen 127.0.0.1:3128 proxy_protocol proxy_protocol",
      "proxy_protocol_from 10.0.0.0/8"], "twice"),
    (["listen 127.0.0.1:3128 proxy_protocol", "proxy_protocol_from 0.0.0.0/0"],
     "trusts every source"),
    (["listen [::1]:3128 proxy_protocol", "proxy_protocol_from ::/0"], "trusts every source"),
])
def test_check_refuses_an_unsafe_proxy_protocol_setup(sluice_bin, tmp_path, lines, message):
    conf = tmp_path / "sluice.conf"
    conf.write_text("\n".join(["allow api.anthropic.com", *lines]) + "\n")
    done = subprocess.run([sluice_bin, "check", "-c", str(conf)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stderr, done.stderr


def test_check_summary_names_the_trusted_sources(sluice_bin, tmp_path):
    conf = tmp_path / "sluice.conf"
    conf.write_text("allow api.anthropic.com\nlisten 127.0.0.1:3128 proxy_protocol\n"
                    "proxy_protocol_from 10.0.0.0/8 192.0.2.1\n")
    done = subprocess.run([sluice_bin, "check", "-c", str(conf)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "127.0.0.1:3128 (PROXY protocol)" in done.stdout
    assert "proxy_protocol_from 10.0.0.0/8 192.0.2.1/32" in done.stdout, done.stdout
