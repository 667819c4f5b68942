# SPDX-License-Identifier: MIT
"""Two sluice instances behind one real HAProxy (Debian's haproxy): HAProxy sends PROXY v2
headers and checks each instance's /healthz on its admin port. Clients connect from two
different loopback addresses, and those addresses — not HAProxy's — are in sluice's logs. A
rolling restart (stop one instance with SIGTERM, start it again, then the other) while
clients keep opening tunnels and streaming through them loses no tunnel and refuses no
connection: /healthz turns 503 at SIGTERM, HAProxy takes the instance out within a check,
and the instance keeps accepting for shutdown_delay before its listener closes."""

import json
import shutil
import socket
import subprocess
import threading
import time

import pytest

from opsutil import free_port
from origins import echo_trailer
from proxyclient import connect_head, read_reply
from test_admin import admin_get

SOURCES = ("127.0.0.2", "127.0.0.3")

HAPROXY_CFG = """\
global
    maxconn 2000
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    retries 3
    option redispatch
frontend sluice
    bind 127.0.0.1:{fe}
    default_backend sluices
backend sluices
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 100ms fastinter 100ms downinter 100ms fall 1 rise 2 send-proxy-v2
    server s1 127.0.0.1:{p1} check port {a1}
    server s2 127.0.0.1:{p2} check port {a2}
"""


# One instance, with a CRC32C of each header (HAProxy's proxy-v2-options crc32c).
HAPROXY_CRC_CFG = """\
global
    maxconn 200
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend sluice
    bind 127.0.0.1:{fe}
    default_backend one
backend one
    server s1 127.0.0.1:{p1} send-proxy-v2 proxy-v2-options crc32c
"""


@pytest.fixture
def haproxy(tmp_path):
    exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
    procs = []

    def start(template=HAPROXY_CFG, **ports):
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(template.format(**ports))
        check = subprocess.run([exe, "-c", "-f", str(cfg)], capture_output=True, text=True,
                               timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        out = open(tmp_path / "haproxy.log", "wb")
        procs.append(subprocess.Popen([exe, "-db", "-f", str(cfg)], stdout=out,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        return procs[-1]

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


def instance(make_proxy, port, admin):
    return make_proxy(listen=(f"127.0.0.1:{port} proxy_protocol",),
                      extra=["proxy_protocol_from 127.0.0.1/32", "access_log_format json",
                             f"admin_listen 127.0.0.1:{admin}", "shutdown_delay 1s",
                             "shutdown_grace 20s", "workers 1"])


def healthy(proxy):
    try:
        return admin_get(proxy, "/healthz")[0] == 200
    except OSError:
        return False


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


class Clients:
    """Threads that each open a tunnel through the frontend from their source address,
    stream a few chunks through the echo origin, check every byte, close, and start over."""

    def __init__(self, fe_port, target, user, password, n=6):
        self.fe_port, self.target = fe_port, target
        self.head = connect_head(target, user, password)
        self.stop = threading.Event()
        self.done = 0
        self.errors = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(SOURCES[i % 2], i))
                        for i in range(n)]

    def one(self, source, index):
        sock = socket.socket()
        sock.settimeout(20)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", self.fe_port))
        sock.sendall(self.head)
        reply = read_reply(sock, 20)
        assert reply.status == 200, (reply.status, reply.body[:200])
        sent = b""
        # Long enough (about 0.6 s) that a restart always finds tunnels open.
        for k in range(6):
            chunk = f"{index}:{k};".encode() * 50
            reply.sock.sendall(chunk)
            sent += chunk
            time.sleep(0.1)
        reply.sock.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            data = reply.sock.recv(65536)
            if not data:
                break
            got += data
        reply.close()
        assert got == sent + echo_trailer(len(sent)), (len(got), len(sent))

    def run(self, source, index):
        while not self.stop.is_set():
            try:
                self.one(source, index)
                with self.lock:
                    self.done += 1
            except Exception as e:  # noqa: BLE001 - every failure is a lost tunnel
                with self.lock:
                    self.errors.append(f"{source}: {e!r}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def restart(proxy):
    """SIGTERM, wait for the clean exit, start again on the same ports, wait until healthy."""
    proxy.send_signal(15)
    proxy.wait_stderr(r"draining: /healthz answers 503", timeout=10)
    status = proxy.wait_exit(30)
    assert status == 0, f"exit status {status}:\n{proxy.stderr()}"
    proxy.start()
    proxy.exit_awaited = False
    wait_until(lambda: healthy(proxy), 10, "the restarted instance answers /healthz")


def test_haproxys_crc32c_headers_are_accepted(make_proxy, haproxy, origins):
    """HAProxy computes the checksum as sluice checks it: the same algorithm, the same
    byte order (a mismatch would drop every connection)."""
    p1, a1, fe = free_port(), free_port(), free_port()
    s1 = instance(make_proxy, p1, a1)
    haproxy(HAPROXY_CRC_CFG, fe=fe, p1=p1)
    target = f"api.anthropic.com:{origins.echo_port}"

    deadline = time.monotonic() + 10
    while True:  # until HAProxy has bound its port
        sock = socket.socket()
        sock.settimeout(20)
        sock.bind((SOURCES[0], 0))
        try:
            sock.connect(("127.0.0.1", fe))
            break
        except ConnectionRefusedError:
            sock.close()
            assert time.monotonic() < deadline, "HAProxy did not listen within 10s"
            time.sleep(0.05)
    sock.sendall(connect_head(target, s1.user, s1.password))
    reply = read_reply(sock, 20)
    assert reply.status == 200, (reply.status, reply.body[:200])
    reply.close()
    s1.wait_log(r".", count=1)
    (rec,) = [json.loads(line) for line in s1.log_lines()]
    assert (rec["client"], rec["decision"]) == (SOURCES[0], "allowed"), rec


def test_rolling_restart_behind_haproxy_loses_no_tunnel(make_proxy, haproxy, origins):
    p1, p2, a1, a2, fe = (free_port() for _ in range(5))
    s1, s2 = instance(make_proxy, p1, a1), instance(make_proxy, p2, a2)
    haproxy(fe=fe, p1=p1, p2=p2, a1=a1, a2=a2)
    wait_until(lambda: healthy(s1) and healthy(s2), 10, "both instances healthy")
    time.sleep(0.5)  # HAProxy's first checks (rise 2 x 100ms)

    with Clients(fe, f"api.anthropic.com:{origins.echo_port}", s1.user, s1.password) as c:
        time.sleep(1.5)
        restart(s1)
        time.sleep(1.0)  # HAProxy puts s1 back (rise 2)
        restart(s2)
        time.sleep(1.5)
    assert c.errors == [], c.errors[:5]
    assert c.done >= 20, c.done

    records = [json.loads(line) for p in (s1, s2) for line in p.log_lines()]
    assert len(records) == c.done, (len(records), c.done)
    # The clients' own addresses, from the PROXY headers, not HAProxy's.
    assert {r["client"] for r in records} == set(SOURCES)
    assert all(r["decision"] == "allowed" for r in records)
    # Both instances carried tunnels, before and after their restart.
    for p in (s1, s2):
        assert p.log_lines(), f"{p.config_path} carried no tunnel"
