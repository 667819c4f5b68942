# SPDX-License-Identifier: MIT
"""Signals and privileges of `sluice serve`: SIGUSR1 reopens the access log after logrotate
renamed it; SIGTERM and SIGINT close the listeners at once and let open tunnels finish (for up
to shutdown_grace), a second signal exits at once; `user`/`group` drop root after the
listeners are bound and the log is open, and the process stays undumpable."""

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

from opsutil import (connection_refused, edit_config, free_port, reload_summary, wait_reload,
                     wait_until)
from helpers import assert_refusal
from origins import echo_trailer
from pki import ORIGIN_NAMES
from proxyclient import connect, echo_through, recv_until_eof
from sluiceproc import Proxy, tunnel_line_re, write_config, write_hosts

NOBODY_CMD = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def open_tunnel(proxy, target):
    reply = connect(proxy.port, target, proxy.user, proxy.password)
    assert reply.status == 200, (reply.status, reply.error_code)
    return reply.sock


def round_trip(sock, payload):
    """Send `payload` into an open echo tunnel and read the same bytes back."""
    sock.settimeout(30)
    sock.sendall(payload)
    echoed = b""
    while len(echoed) < len(payload):
        chunk = sock.recv(len(payload) - len(echoed))
        assert chunk, f"tunnel closed after {len(echoed)} of {len(payload)} echoed bytes"
        echoed += chunk
    assert echoed == payload
    return len(payload)


# -- SIGUSR1 -------------------------------------------------------------------------------------

def test_sigusr1_reopens_the_access_log_after_logrotate_renamed_it(proxy, origins):
    first, second, third = (f"{name}:{origins.echo_port}" for name in
                            ("api.anthropic.com", "generativelanguage.googleapis.com",
                             "api.replicate.com"))
    rotated = proxy.access_log + ".1"

    echo_through(open_tunnel(proxy, first), b"one")
    proxy.wait_log(tunnel_line_re(first))
    os.rename(proxy.access_log, rotated)

    # Until told, sluice writes on to the file it has open (now named access.log.1).
    echo_through(open_tunnel(proxy, second), b"two")
    wait_until(lambda: second in open(rotated).read(), 20, "the second line in the rotated file")
    assert not os.path.exists(proxy.access_log)

    proxy.send_signal(signal.SIGUSR1)
    wait_until(lambda: os.path.exists(proxy.access_log), 20, "a new access log after SIGUSR1")
    echo_through(open_tunnel(proxy, third), b"three")

    (line,) = proxy.wait_log(tunnel_line_re(third))
    assert len(proxy.log_lines()) == 1, proxy.log_lines()
    with open(rotated) as f:
        old = f.read()
    assert first in old and second in old and third not in old


# -- SIGTERM / SIGINT ----------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_shutdown_refuses_new_connections_and_lets_open_tunnels_finish(
        make_proxy, origins, sig):
    proxy = make_proxy(extra=["shutdown_grace 120s"])
    target = f"api.anthropic.com:{origins.echo_port}"
    tunnels = [open_tunnel(proxy, target) for _ in range(3)]
    sent = [0] * len(tunnels)  # the echo origin's trailer counts every byte of a tunnel
    for i, sock in enumerate(tunnels):
        sent[i] += round_trip(sock, f"before the signal {i}".encode())

    proxy.send_signal(sig)
    proxy.wait_stderr(rf"^sluice: {sig.name}: no longer accepting")
    proxy.wait_stderr(r"^sluice: no longer listening on ")

    assert connection_refused(proxy.port), "the listener still accepts after the signal"
    for i, sock in enumerate(tunnels):
        sent[i] += round_trip(sock, os.urandom(200_000))
    assert proxy.running, "sluice exited with tunnels still open, long before shutdown_grace"
    # The tunnels finish in their own time, each with its full exchange ...
    for i, sock in enumerate(tunnels):
        payload = os.urandom(100_000 * (i + 1))
        assert echo_through(sock, payload) == payload + echo_trailer(sent[i] + len(payload))
        sock.close()
    # ... and then sluice exits 0 without waiting out the grace period.
    assert proxy.wait_exit(60) == 0, proxy.stderr()
    proxy.wait_log(tunnel_line_re(target), count=3, timeout=1)


def test_a_second_sigterm_exits_at_once(make_proxy, origins):
    proxy = make_proxy()  # the default shutdown_grace, 30 s
    sock = open_tunnel(proxy, f"api.anthropic.com:{origins.echo_port}")
    round_trip(sock, b"before")
    proxy.send_signal(signal.SIGTERM)
    proxy.wait_stderr(r"^sluice: SIGTERM: no longer accepting")
    round_trip(sock, b"during the grace period")
    assert proxy.running

    proxy.send_signal(signal.SIGTERM)

    assert proxy.wait_exit(20) == 0, proxy.stderr()
    assert recv_until_eof(sock, timeout=20) == b""  # the tunnel was closed, not left hanging
    sock.close()


def test_tunnels_still_open_when_shutdown_grace_ends_are_closed(make_proxy, origins):
    proxy = make_proxy(extra=["shutdown_grace 1s"])
    sock = open_tunnel(proxy, f"api.anthropic.com:{origins.echo_port}")
    round_trip(sock, b"an idle client that never closes")

    proxy.send_signal(signal.SIGTERM)

    assert recv_until_eof(sock, timeout=30) == b""
    sock.close()
    assert proxy.wait_exit(30) == 0, proxy.stderr()
    proxy.wait_stderr(r"^sluice: shutdown: closing 1 connection after shutdown_grace$",
                      timeout=1)


# -- privileges ----------------------------------------------------------------------------------

def privileged_free_port():
    """A free port below net.ipv4.ip_unprivileged_port_start (None when every port is
    unprivileged in this namespace)."""
    with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
        limit = int(f.read())
    for port in range(min(limit, 1024) - 1, 0, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return None


@pytest.fixture
def public_dir():
    """A directory outside pytest's private (0700) tmp tree that `nobody` can read."""
    path = tempfile.mkdtemp(prefix="sluice-ops-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def unprivileged_proxy(sluice_bin, public_dir, origins, dns, users_file, credentials):
    """`sluice serve` started as root with `user nobody` / `group nogroup`, listening on a
    privileged port; every file it reads is readable by nobody."""
    if os.geteuid() != 0:
        pytest.skip("needs root: starts as root and drops to `user nobody` after binding")
    port = privileged_free_port()
    if port is None:
        pytest.skip("every port is unprivileged in this network namespace")
    users = shutil.copy(users_file, os.path.join(public_dir, "users.htpasswd"))
    hosts = write_hosts(os.path.join(public_dir, "hosts"),
                        {name: "127.0.0.1" for name in ORIGIN_NAMES})
    log = os.path.join(public_dir, "access.log")
    config = write_config(os.path.join(public_dir, "sluice.conf"),
                          listen=(f"127.0.0.1:{port}",), users=users,
                          allow=("api.anthropic.com",),
                          connect_ports=(443, *origins.ports), hosts_file=hosts,
                          dns_server=dns.address, access_log=log,
                          extra=["user nobody", "group nogroup"])
    for path in (users, hosts, config):
        os.chmod(path, 0o644)
    proxy = Proxy(sluice_bin, public_dir, config, access_log=log, user=credentials.user,
                  password=credentials.password, secrets=[credentials.password])
    proxy.start()
    yield proxy
    problems = proxy.stop()
    if problems:
        pytest.fail("\n".join(problems) + "\n--- stderr ---\n" + proxy.stderr(), pytrace=False)


def status_ids(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return [int(v) for v in line.split()[1:]]
    raise AssertionError(f"no {field} line in /proc/{pid}/status")


def test_privileges_are_dropped_after_binding_and_the_process_is_not_dumpable(
        unprivileged_proxy, origins):
    proxy = unprivileged_proxy
    nobody = pwd.getpwnam("nobody").pw_uid
    nogroup = grp.getgrnam("nogroup").gr_gid

    assert status_ids(proxy.pid, "Uid") == [nobody] * 4
    assert status_ids(proxy.pid, "Gid") == [nogroup] * 4
    assert status_ids(proxy.pid, "Groups") in ([nogroup], [])
    assert proxy.port < 1024  # bound as root, before the drop

    target = f"api.anthropic.com:{origins.echo_port}"
    payload = b"served by an unprivileged sluice"
    assert echo_through(open_tunnel(proxy, target), payload) == \
        payload + echo_trailer(len(payload))
    proxy.wait_log(tunnel_line_re(target))  # the log was opened before the drop

    # Not dumpable: even a process of the same user cannot read its environment or memory.
    done = subprocess.run([*NOBODY_CMD, "cat", f"/proc/{proxy.pid}/environ"],
                          capture_output=True, timeout=30)
    assert done.returncode != 0 and done.stdout == b"", \
        "nobody could read the environment of sluice running as nobody"

    # Reloads run as nobody and still work when the files are readable by it.
    edit_config(proxy.config_path, {None: ["allow api.replicate.com"]})
    assert wait_reload(proxy, before=0) == reload_summary(patterns=(1, 0))
    reply = connect(proxy.port, f"api.replicate.com:{origins.echo_port}", proxy.user,
                    proxy.password)
    reply.close()
    assert reply.status == 200, (reply.status, reply.error_code)


# ---- the descriptor limit and max_connections ----

LOW_NOFILE = ("prlimit", "--nofile=600:600")  # room for (600 - 256) / 2 = 172 tunnels


def accept_queue(port):
    """Connections waiting in the kernel for the listeners on `port` to accept them."""
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                         timeout=10).stdout
    return sum(int(line.split()[1]) for line in out.splitlines() if line.strip())


def test_the_default_max_connections_fits_a_low_descriptor_limit_quietly(make_proxy):
    proxy = make_proxy(start=False)
    proxy.prefix = list(LOW_NOFILE)
    proxy.start()

    # Only the proxy's own lines: no warning on a default configuration.
    assert all(re.match(r"sluice: listening on ", line)
               for line in proxy.stderr().splitlines()), proxy.stderr()


def test_an_explicit_max_connections_above_the_limit_is_warned_about(make_proxy):
    proxy = make_proxy(start=False, extra=("max_connections 10000",))
    proxy.prefix = list(LOW_NOFILE)
    proxy.start()

    assert re.search(r"the descriptor limit \(600\) is too low for max_connections 10000",
                     proxy.stderr()), proxy.stderr()


def test_the_fitted_default_refuses_beyond_what_the_limit_holds(make_proxy, origins):
    # 172 clients fit; the 173rd is told why instead of the proxy running out of descriptors.
    proxy = make_proxy(start=False)
    proxy.prefix = list(LOW_NOFILE)
    proxy.start()
    held = []
    try:
        for _ in range(172):
            held.append(socket.create_connection(("127.0.0.1", proxy.port), timeout=10))
            held[-1].sendall(b"CONNECT ")  # accepted once a byte arrives (TCP_DEFER_ACCEPT)
        wait_until(lambda: accept_queue(proxy.port) == 0, 20, "the proxy accepting them")
        reply = connect(proxy.port, "api.anthropic.com:443", proxy.user, proxy.password)
    finally:
        for s in held:
            s.close()

    assert_refusal(reply, 503, "too-many-connections")
    assert "max_connections 172" in reply.body.decode()


# ---- one owner per listening address ----

@pytest.mark.parametrize("workers", [(2, 2), (1, 2), (2, 1)], ids=["2+2", "1+2", "2+1"])
def test_a_second_sluice_on_the_same_address_fails_to_start(make_proxy, sluice_bin, tmp_path,
                                                             workers):
    # The review's case: the first requires auth, the second (no users) would have been an
    # open proxy sharing the port through SO_REUSEPORT.
    port = free_port()
    make_proxy(listen=(f"127.0.0.1:{port}",), extra=(f"workers {workers[0]}",))
    second = write_config(str(tmp_path / "second.conf"), listen=(f"127.0.0.1:{port}",),
                          users=None, extra=(f"workers {workers[1]}", "access_log off"))

    done = subprocess.run([sluice_bin, "serve", "-c", second], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)

    assert done.returncode == 1, (done.returncode, done.stderr)
    assert f"listen 127.0.0.1:{port}: bind: Address already in use" in done.stderr


def test_every_request_reaches_the_one_owner(make_proxy, sluice_bin, tmp_path, origins):
    port = free_port()
    proxy = make_proxy(listen=(f"127.0.0.1:{port}",), extra=("workers 2",))
    second = write_config(str(tmp_path / "second.conf"), listen=(f"127.0.0.1:{port}",),
                          users=None, extra=("workers 2", "access_log off"))
    subprocess.run([sluice_bin, "serve", "-c", second], capture_output=True, timeout=30,
                   stdin=subprocess.DEVNULL)

    # No credentials: every one of these must be refused by the proxy that requires them.
    statuses = [connect(port, f"api.anthropic.com:{origins.echo_port}").status
                for _ in range(12)]

    assert statuses == [407] * 12
