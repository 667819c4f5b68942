# SPDX-License-Identifier: MIT
"""A real Squid (Debian's `squid-openssl`) configured like the seed's team proxy: Basic
authentication from an htpasswd file (basic_ncsa_auth) and a `dstdomain` allowlist, CONNECT only
to the allowed ports, listening on 127.0.0.1 (plain `http_port`, and with `tls=` a TLS
`https_port` too, or only that), resolving names from a hosts file, and logging in its native
format to a file the test reads.

Squid runs in the foreground (`squid -N`); as root it drops to the `proxy` user, so its working
directory is world-writable and its files world-readable, except the TLS key, which belongs to
the user Squid runs as. Nothing is cached; its DNS server is 127.0.0.1 (nothing listens there:
every name the tests use is in the hosts file).
"""

import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SQUID = shutil.which("squid") or "/usr/sbin/squid"
NCSA_AUTH = "/usr/lib/squid/basic_ncsa_auth"


def free_port():
    """A loopback TCP port that was free a moment ago (Squid cannot be told to pick one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def squid_tunnel_re(target, user):
    """Squid's native log line of a CONNECT tunnel to `target` by `user`."""
    return re.compile(r"^\d+\.\d{3} +\d+ 127\.0\.0\.1 TCP_TUNNEL/200 \d+ CONNECT "
                      + re.escape(target) + " " + re.escape(user) + r" HIER_DIRECT/127\.0\.0\.1 ")


def squid_denied_re(target, user):
    """Squid's native log line of a refused CONNECT to `target` by `user`."""
    return re.compile(r"^\d+\.\d{3} +\d+ 127\.0\.0\.1 TCP_DENIED/403 \d+ CONNECT "
                      + re.escape(target) + " " + re.escape(user) + " ")


class Squid:
    """`tls`: a pki.Pki whose certificate and key Squid presents on an https_port
    (`self.tls_port`); `plain=False` leaves the plain http_port (`self.port`) out."""

    def __init__(self, *, user, password, allowed, ports, hosts, tls=None, plain=True):
        self.user = user
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="sluice-squid-")
        self.service = "sluicetest" + secrets.token_hex(4)
        os.chmod(self.dir, 0o777)
        self.access_log = os.path.join(self.dir, "access.log")
        self.cache_log = os.path.join(self.dir, "cache.log")
        self.port = free_port() if plain else None
        self.tls_port = free_port() if tls is not None else None
        listen = [f"http_port 127.0.0.1:{self.port}"] if plain else []
        if tls is not None:
            listen.append(f"https_port 127.0.0.1:{self.tls_port} "
                          + " ".join(f"{k}={v}" for k, v in self._tls_files(tls).items()))
        self.ready = ["Accepting HTTP Socket connections"] if plain else []
        if tls is not None:
            self.ready.append("Accepting HTTPS Socket connections")
        passwd = os.path.join(self.dir, "passwd")
        # MD5 (apr1): basic_ncsa_auth checks it on every libc; the password goes through stdin.
        subprocess.run(["htpasswd", "-m", "-i", "-c", passwd, user], input=password, text=True,
                       check=True, capture_output=True, timeout=60)
        os.chmod(passwd, 0o644)
        hosts_file = os.path.join(self.dir, "hosts")
        with open(hosts_file, "w") as f:
            f.writelines(f"{addr}\t{name}\n" for name, addr in hosts.items())
        os.chmod(hosts_file, 0o644)
        self.conf = os.path.join(self.dir, "squid.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "# written by the sluice integration tests (the seed's team proxy, offline)",
                *listen,
                f"auth_param basic program {NCSA_AUTH} {passwd}",
                "auth_param basic children 2",
                "auth_param basic realm sluice-test-squid",
                "acl SSL_ports port " + " ".join(str(p) for p in ports),
                "acl CONNECT method CONNECT",
                "acl allowed dstdomain " + " ".join(allowed),
                "acl authed proxy_auth REQUIRED",
                "http_access deny CONNECT !SSL_ports",
                "http_access allow authed allowed",
                "http_access deny all",
                "cache deny all",
                f"hosts_file {hosts_file}",
                "dns_nameservers 127.0.0.1",
                f"access_log stdio:{self.access_log}",
                f"cache_log {self.cache_log}",
                "cache_store_log none",
                "netdb_filename none",
                f"pid_filename {os.path.join(self.dir, 'squid.pid')}",
                f"coredump_dir {self.dir}",
                "cache_effective_user proxy",
                "shutdown_lifetime 0 seconds",
                "",
            ]))
        os.chmod(self.conf, 0o644)
        self.proc = None

    def _tls_files(self, pki):
        """Copies of the certificate (world-readable) and the key (readable only by the user
        Squid runs as: `proxy` when the tests are root) in Squid's directory."""
        cert = os.path.join(self.dir, "tls-cert.pem")
        key = os.path.join(self.dir, "tls-key.pem")
        shutil.copyfile(pki.cert, cert)
        os.chmod(cert, 0o644)
        shutil.copyfile(pki.key, key)
        os.chmod(key, 0o600)
        if os.geteuid() == 0:
            proxy = pwd.getpwnam("proxy")
            os.chown(key, proxy.pw_uid, proxy.pw_gid)
        return {"tls-cert": cert, "tls-key": key}

    def start(self, timeout=30.0):
        # A service name of its own: Squid names its shared-memory segments after it
        # (/dev/shm/squid-cf__metadata.shm by default), so two Squids on one machine (another
        # test run, a run as root and one as an ordinary user) would refuse each other's.
        self.proc = subprocess.Popen([SQUID, "-N", "-n", self.service, "-f", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"squid exited with {self.proc.returncode}:\n"
                                   + self.cache_log_text()[-3000:])
            text = self.cache_log_text()
            if all(line in text for line in self.ready):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"squid did not start within {timeout}s:\n"
                           + self.cache_log_text()[-3000:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cache_log_text(self):
        try:
            with open(self.cache_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_lines(self):
        try:
            with open(self.access_log, errors="replace") as f:
                return [line for line in f.read().splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def wait_log(self, regex, timeout=20.0):
        """Poll the access log until a line matches; return the match or fail with the log."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_lines():
                match = regex.search(line)
                if match:
                    return match
            if time.monotonic() > deadline:
                raise AssertionError(f"no Squid access-log line matching\n  {regex.pattern}\n"
                                     f"within {timeout}s; the log:\n"
                                     + "\n".join(self.log_lines()[-30:]))
            time.sleep(0.05)
