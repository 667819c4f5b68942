# SPDX-License-Identifier: MIT
"""Network namespaces for the tests that name a non-loopback address.

Such a test runs the proxy, its DNS server and its client inside a namespace it creates with
only `lo` up: even if the proxy had a bug and dialled the address, no packet could leave.

The whole test session also runs in a private network namespace of its own (see
`isolate_session`), so a client that ignored its proxy setting could not reach the real
api.anthropic.com either.
"""

import ctypes
import fcntl
import os
import secrets
import socket
import struct
import subprocess
import sys
import time

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
HERE = os.path.dirname(os.path.abspath(__file__))


def isolate_session():
    """Move this process (and so every child it starts later) into a new network namespace
    with only loopback up. Returns (True, fd of the original namespace or None) or
    (False, reason).

    As root: unshare(CLONE_NEWNET), and the fd lets npm run in the original namespace.
    As an ordinary user: unshare(CLONE_NEWUSER | CLONE_NEWNET) where the kernel lets an
    unprivileged user do that (user.max_user_namespaces > 0, no LSM forbidding it). The user
    namespace maps our uid and gid to themselves, not to root, so that every process the tests
    start runs as the same ordinary user it would outside. The capabilities the new namespace
    grants this process serve only to bring `lo` up; then they are dropped, so pytest too
    goes on as the ordinary user. There is no way back into the original namespace (that
    would need privilege in the machine's own user namespace): the fd is None."""
    if os.geteuid() != 0:
        return _isolate_unprivileged()
    try:
        original = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        return False, f"cannot open /proc/self/ns/net: {exc}"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        os.close(original)
        return False, f"unshare(CLONE_NEWNET): {os.strerror(err)}"
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=30)
    return True, original


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _loopback_up():
    """SIOCSIFFLAGS on lo from this process: `ip` would run without our capabilities (an
    ordinary uid loses them at execve)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh22x", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, req)[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))


def _drop_capabilities(libc):
    """Clear the effective, permitted and inheritable sets (capset, version 3)."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _isolate_unprivileged():
    uid, gid = os.geteuid(), os.getegid()
    try:
        with open("/proc/sys/user/max_user_namespaces") as f:
            if int(f.read()) == 0:
                return False, ("not root, and user.max_user_namespaces is 0 (unprivileged "
                               "user namespaces are off)")
    except OSError:
        pass
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        hint = ""
        if os.path.exists("/proc/sys/kernel/unprivileged_userns_clone"):
            hint = " (see sysctl kernel.unprivileged_userns_clone)"
        elif os.path.exists("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"):
            hint = " (see sysctl kernel.apparmor_restrict_unprivileged_userns)"
        return False, (f"not root, and unshare(CLONE_NEWUSER|CLONE_NEWNET) failed: "
                       f"{os.strerror(err)}{hint}")
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        _loopback_up()
        _drop_capabilities(libc)
    except OSError as exc:
        # Half-way: a namespace without loopback is no use, and there is no way back.
        raise RuntimeError(f"unprivileged network namespace for the session: {exc}") from exc
    return True, None


class Netns:
    """A named network namespace `sluice-t-<random>` with only `lo` up; delete() removes it."""

    def __init__(self):
        self.name = "sluice-t-" + secrets.token_hex(4)
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=30,
                       capture_output=True)
        try:
            self.run(["ip", "link", "set", "lo", "up"], check=True)
        except BaseException:
            self.delete()
            raise
        self._procs = []

    def cmd(self, *args):
        """`args` prefixed so that it runs inside the namespace."""
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, args, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return subprocess.run(self.cmd(*args), **kw)

    def interfaces(self):
        out = self.run(["ip", "-o", "link", "show"], check=True).stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

    def start_dns(self, table, workdir):
        """Start fakedns.py inside the namespace; returns a NetnsDns."""
        dns = NetnsDns(self, table, workdir)
        self._procs.append(dns.proc)
        return dns

    def add_address(self, cidr):
        """Put an extra address on `lo` (still the only interface), so that a listener can
        stand at an otherwise non-local address and notice if the proxy connects to it."""
        self.run(["ip", "addr", "add", cidr, "dev", "lo"], check=True)

    def start_echo(self, host, workdir, port=0):
        """Start the echo origin inside the namespace on host:port; returns a NetnsEcho."""
        echo = NetnsEcho(self, host, port, workdir)
        self._procs.append(echo.proc)
        return echo

    def delete(self):
        for proc in getattr(self, "_procs", []):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        subprocess.run(["ip", "netns", "delete", self.name], timeout=30, capture_output=True)


class NetnsDns:
    """fakedns.py as a process inside a Netns (the test process cannot reach that loopback)."""

    def __init__(self, ns, table, workdir):
        self.query_log = os.path.join(workdir, f"dns-queries-{ns.name}.log")
        args = [sys.executable, os.path.join(HERE, "fakedns.py"), "--query-log", self.query_log]
        for name, addrs in table.items():
            args += ["--map", f"{name}={','.join(addrs)}"]
        self.proc = subprocess.Popen(ns.cmd(*args), stdout=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().strip()
        prefix = "fakedns: listening on "
        if not line.startswith(prefix):
            self.proc.kill()
            raise RuntimeError(f"fakedns did not start in {ns.name}: {line!r}")
        self.address = line[len(prefix):]

    def queried_names(self):
        try:
            with open(self.query_log) as f:
                return {line.split()[0].rstrip(".").lower() for line in f if line.strip()}
        except FileNotFoundError:
            return set()

    def wait_for_query(self, name, timeout=10.0):
        """True once the server has logged a query for `name` (it writes its log every 50 ms)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if name.lower() in self.queried_names():
                return True
            time.sleep(0.05)
        return False


class NetnsEcho:
    """origins.py's echo origin as a process inside a Netns; `accepted()` lists the local
    address of every connection it accepted, so a test can tell where the proxy connected."""

    def __init__(self, ns, host, port, workdir):
        self.conn_log = os.path.join(workdir, f"echo-conns-{ns.name}-{host}.log")
        args = [sys.executable, os.path.join(HERE, "origins.py"), "echo", "--host", host,
                "--port", str(port), "--conn-log", self.conn_log]
        self.proc = subprocess.Popen(ns.cmd(*args), stdout=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("origins: echo on "):
            self.proc.kill()
            raise RuntimeError(f"echo origin did not start in {ns.name}: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])

    def accepted(self):
        try:
            with open(self.conn_log) as f:
                return [line.split()[1] for line in f if line.strip()]
        except FileNotFoundError:
            return []
