#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The sluice benchmark driver (`make bench`).

Starts the loopback target, then direct (no proxy: the limit), Squid, tinyproxy and sluice
(plus a second sluice without `users`, for the cost of authentication), all configured alike,
and measures in interleaved rounds: CONNECT + echo + close rate at 32 and 256 clients, bulk
throughput through 1 and 8 tunnels, plain-HTTP keep-alive requests per second (wrk), and the
memory each proxy spends per idle tunnel (fresh instances, N tunnels held, each verified). Then
TLS to the proxy (issue 13): sluice's `tls` listener against Squid's `https_port`, both with a
throw-away CA's certificate: handshake + CONNECT + echo + close per second at 32 clients (full
handshakes, and with session resumption offered) and bulk throughput through one tunnel. And
the cost of SNI inspection (issue 14): CONNECT + ClientHello echo + close per second at 32
clients through two sluice instances that differ only in `sni require` and `sni off`.
And issue 17's rows: the floor (the target's own CPU per cycle in the direct rate runs, twice
that for a proxy's two sockets) with every proxy's CPU per cycle as a ratio to it, beside the
load generator's own CPU per direct cycle (the dialing side, which on loopback pays for the TCP
handshake) and HAProxy in `mode tcp` (a bare TCP forwarder, in the rate runs only) as
references; and a burst idle test (N tunnels opened all at once on a fresh instance: RSS per
idle tunnel, and RSS after they all close against before the burst).
Writes medians and ratios to bench/RESULTS.md and a plot to bench/results.png.

`--only burst,floor --systems sluice [--sluice-b BIN]` runs just those measurements (about a
minute for one or two sluice binaries) and prints them, for A/B runs while changing sluice.

Everything listens on 127.0.0.1 and runs in the foreground from its own temporary directory.
Performance is only ever compared side by side in one run on one machine: absolute figures
from different machines (or different runs on a noisy one) are not comparable.
"""

import argparse
import base64
import datetime
import gzip
import json
import os
import platform
import pwd
import re
import resource
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
USER = "bench"
SQUID = shutil.which("squid") or "/usr/sbin/squid"
TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
GNUPLOT = shutil.which("gnuplot") or "/usr/bin/gnuplot"
HTPASSWD = shutil.which("htpasswd") or "/usr/bin/htpasswd"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

PEERS = ("squid", "tinyproxy")
LABEL = {"direct": "direct", "squid": "Squid", "tinyproxy": "tinyproxy",
         "sluice": "sluice", "sluice-noauth": "sluice (no auth)",
         "sluice-sni": "sluice (sni require)", "sluice-snioff": "sluice (sni off)",
         "sluice-b": "sluice B", "haproxy-tcp": "HAProxy mode tcp"}
# What --only may name, and the proxies --systems may name (sluice-b comes with --sluice-b).
WORKLOADS = ("rate", "floor", "sni", "bulk", "http", "tls", "idle", "burst")
PROXIES = ("squid", "tinyproxy", "sluice")
# References --systems may name too: plain TCP forwarders to the target, no CONNECT, that
# loadgen dials as it dials the target directly. They run in the rate runs only (the floor's
# 32 and 256 clients), not in bulk, HTTP, TLS, SNI, idle or burst.
FORWARDERS = ("haproxy-tcp",)
SYSTEMS = PROXIES + FORWARDERS
# The SNI rows (issue 14): two sluice instances that differ only in `sni`.
SNI_SYSTEMS = ("sluice-sni", "sluice-snioff")
SNI_NAME = "target.test"     # the server_name of loadgen -H's ClientHello


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def free_port():
    """A loopback port that was free a moment ago (Squid and tinyproxy cannot pick one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fill(template, out, values):
    with open(os.path.join(HERE, "peers", template)) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace(f"@{key}@", str(value))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise RuntimeError(f"{template}: unfilled {left}")
    with open(out, "w") as f:
        f.write(text)
    os.chmod(out, 0o644)


def wait_for(pred, timeout, what, proc=None, logfile=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    tail = ""
    if logfile and os.path.exists(logfile):
        with open(logfile, errors="replace") as f:
            tail = f.read()[-2000:]
    state = f"exited with {proc.returncode}" if proc is not None and proc.poll() is not None \
        else f"not ready within {timeout}s"
    raise RuntimeError(f"{what} {state}\n{tail}")


def make_tls(directory):
    """A throw-away CA (ca.pem) and a certificate (server.pem, server.key) it signed for the
    address both proxies listen on, 127.0.0.1 (and localhost): ECDSA P-256, as a modern
    deployment would have."""
    os.makedirs(directory, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args):
        subprocess.run([OPENSSL, *args], cwd=directory, check=True, capture_output=True,
                       timeout=60)
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=sluice bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-sha256", "-extfile", "server.ext",
            "-out", "server.pem")
    os.chmod(os.path.join(directory, "ca.pem"), 0o644)
    return {"ca": os.path.join(directory, "ca.pem"),
            "cert": os.path.join(directory, "server.pem"),
            "key": os.path.join(directory, "server.key")}


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


class Env:
    """What every system shares: the work directory, credentials, hosts file, target port."""

    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="sluice-bench-")
        os.chmod(self.dir, 0o755)
        self.password = secrets.token_urlsafe(12)
        self.auth_b64 = base64.b64encode(f"{USER}:{self.password}".encode()).decode()
        self.htpasswd = os.path.join(self.dir, "htpasswd")
        # bcrypt at htpasswd's default cost; the password goes through stdin.
        subprocess.run([HTPASSWD, "-B", "-i", "-c", self.htpasswd, USER], input=self.password,
                       text=True, check=True, capture_output=True, timeout=60)
        os.chmod(self.htpasswd, 0o644)
        self.hosts = os.path.join(self.dir, "hosts")
        with open(self.hosts, "w") as f:
            # other.test resolves too, so refusing it is the allowlist's doing.
            f.write("127.0.0.1\tlocalhost\n127.0.0.1\ttarget.test\n127.0.0.1\tother.test\n")
        os.chmod(self.hosts, 0o644)
        self.tport = None
        self.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        self.tls = make_tls(os.path.join(self.dir, "tls"))

    def subdir(self, name):
        path = tempfile.mkdtemp(prefix=name + "-", dir=self.dir)
        os.chmod(path, 0o777)
        for src in (self.htpasswd, self.hosts):
            shutil.copy(src, path)
            os.chmod(os.path.join(path, os.path.basename(src)), 0o644)
        return path

    def tls_files(self, path, owner=None):
        """The certificate and key in `path` (the key readable only by `owner`, the user the
        proxy runs as, when given); returns their paths."""
        cert, key = os.path.join(path, "server.pem"), os.path.join(path, "server.key")
        shutil.copy(self.tls["cert"], cert)
        os.chmod(cert, 0o644)
        shutil.copy(self.tls["key"], key)
        os.chmod(key, 0o600)
        if owner is not None and os.geteuid() == 0:
            pw = pwd.getpwnam(owner)
            os.chown(key, pw.pw_uid, pw.pw_gid)
        return cert, key


class Server:
    """A foreground child process with a name, a port and a PID."""

    name = "?"
    proc = None
    port = None
    tls_port = None     # a TLS listener as well (sluice `tls`, Squid `https_port`)
    logfile = None
    hello = None        # its tunnels start with a ClientHello naming this (the SNI rows)
    forwarder = False   # a plain TCP forwarder to the target (FORWARDERS): no CONNECT

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        # A second SIGTERM ends sluice's graceful wait for open connections.
        for sig, wait in ((signal.SIGTERM, 3), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def log_lines(self):
        """Warning and error lines of the process's own log (not per-request lines)."""
        lines = read_text(self.logfile).splitlines() if self.logfile else []
        return [x for x in lines if "listening on" not in x and x.strip()]

    def log_tail(self, n=1500):
        return read_text(self.logfile)[-n:] if self.logfile else ""


class Target(Server):
    name = "target"

    def __init__(self, env):
        self.env = env
        self.logfile = os.path.join(env.dir, "target.log")

    def start(self):
        """Starts it on a free port, or, once it has one, on that port again (the proxies
        are configured for it): a restart after it died."""
        out = open(self.logfile, "w")
        port = [str(self.port)] if self.port else []
        self.proc = subprocess.Popen([os.path.join(self.env.args.bin, "target")] + port,
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        out.close()
        text = wait_for(lambda: re.search(r"listening on 127\.0\.0\.1:(\d+)",
                                          read_text(self.logfile)),
                        10, "target", self.proc, self.logfile)
        self.port = int(text.group(1))
        self.env.tport = self.port
        return self


class Direct(Server):
    name = "direct"
    authed = False

    def __init__(self, env):
        self.env = env

    def start(self):
        self.port = self.env.tport
        return self

    def alive(self):
        return True

    def stop(self):
        pass


class Sluice(Server):
    def __init__(self, env, authed=True, tls=False, sni=None, b=False):
        """`sni`: None leaves sni_ports at its default (443: the target's port is not
        inspected); "require" or "off" puts the target's port in sni_ports under that
        `sni` (the SNI rows' two instances, alike otherwise). `b`: the --sluice-b binary,
        configured as the main one ("sluice B", for A/B runs)."""
        self.env = env
        self.authed = authed
        self.tls = tls
        self.sni = sni
        self.binary = env.args.sluice_b if b else env.args.sluice
        self.name = "sluice-b" if b else "sluice" if authed else "sluice-noauth"
        if sni is not None:
            self.name = "sluice-sni" if sni == "require" else "sluice-snioff"
            self.hello = SNI_NAME

    def start(self):
        self.dir = self.env.subdir(self.name)
        conf = os.path.join(self.dir, "sluice.conf")
        log_on = self.env.args.access_log
        tls = "# no TLS listener"
        sni = "# sni_ports left at its default (443): tunnels to the target not inspected"
        if self.sni is not None:
            sni = f"sni_ports {self.env.tport}\n" + (
                "# sni require: the default" if self.sni == "require" else "sni off")
        if self.tls:
            # A port of its own: one address may not have a plain and a tls listener on :0.
            self.tls_port = free_port()
            cert, key = self.env.tls_files(self.dir)
            tls = f"listen 127.0.0.1:{self.tls_port} tls\ntls_cert {cert}\ntls_key {key}"
        fill("sluice.conf.in", conf, {
            "USERS": f"users {self.dir}/htpasswd" if self.authed else "# no users: no authentication",
            "TPORT": self.env.tport, "DIR": self.dir, "TLS": tls, "SNI": sni,
            "ACCESS_LOG": f"{self.dir}/access.log" if log_on else "off"})
        self.logfile = os.path.join(self.dir, "stderr.log")
        err = open(self.logfile, "w")
        self.proc = subprocess.Popen([self.binary, "serve", "-c", conf],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=err, cwd=self.dir)
        err.close()

        def ports():
            found = re.findall(r"sluice: listening on 127\.0\.0\.1:(\d+)", read_text(self.logfile))
            return found if len(found) == (2 if self.tls else 1) else None
        found = wait_for(ports, 10, self.name, self.proc, self.logfile)
        self.port = int(next(p for p in found if int(p) != self.tls_port))
        return self


class Squid(Server):
    name = "squid"
    authed = True

    def log_lines(self):
        return squid_log_filter(super().log_lines())

    def __init__(self, env, tls=False):
        self.env = env
        self.tls = tls

    def start(self):
        self.dir = self.env.subdir("squid")
        self.port = free_port()
        conf = os.path.join(self.dir, "squid.conf")
        https = "# no https_port"
        if self.tls:
            self.tls_port = free_port()
            cert, key = self.env.tls_files(self.dir, owner="proxy")
            https = f"https_port 127.0.0.1:{self.tls_port} tls-cert={cert} tls-key={key}"
        fill("squid.conf.in", conf, {
            "PORT": self.port, "TPORT": self.env.tport, "DIR": self.dir,
            "NOFILE": self.env.nofile, "HTTPS_PORT": https,
            "ACCESS_LOG": f"stdio:{self.dir}/access.log" if self.env.args.access_log
            else "none"})
        self.logfile = os.path.join(self.dir, "cache.log")
        self.proc = subprocess.Popen([SQUID, "-N", "-f", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=self.dir)
        ready = ["Accepting HTTP Socket connections"]
        if self.tls:
            ready.append("Accepting HTTPS Socket connections")
        wait_for(lambda: all(x in read_text(self.logfile) for x in ready),
                 30, "squid", self.proc, self.logfile)
        return self


def squid_log_filter(lines):
    return [x for x in lines if re.search(r"WARNING|ERROR|FATAL|assertion", x)]


class Tinyproxy(Server):
    name = "tinyproxy"
    authed = True

    def log_lines(self):
        return [x for x in super().log_lines() if not re.match(r"(CONNECT|INFO|NOTICE|DEBUG)\b", x)]

    def __init__(self, env):
        self.env = env

    def start(self):
        self.dir = self.env.subdir("tinyproxy")
        self.port = free_port()
        conf = os.path.join(self.dir, "tinyproxy.conf")
        with open(os.path.join(self.dir, "filter"), "w") as f:
            f.write("^target\\.test$\n")
        os.chmod(os.path.join(self.dir, "filter"), 0o644)
        fill("tinyproxy.conf.in", conf, {
            "PORT": self.port, "TPORT": self.env.tport, "DIR": self.dir,
            "PASSWORD": self.env.password,
            "MAXCLIENTS": max(self.env.args.idle, self.env.args.burst) + 1000,
            "LOGLEVEL": "Connect" if self.env.args.access_log else "Warning"})
        self.logfile = os.path.join(self.dir, "tinyproxy.log")
        out = os.path.join(self.dir, "stderr.log")
        err = open(out, "w")
        # No hosts_file in tinyproxy: a private mount namespace gets the
        # benchmark's hosts file over /etc/hosts. unshare and sh exec, so the
        # PID is tinyproxy's.
        script = 'mount --bind "$1" /etc/hosts && exec "$2" -d -c "$3"'
        self.proc = subprocess.Popen(
            ["unshare"] + (["-m"] if os.geteuid() == 0 else ["-r", "-m"])
            + ["--propagation", "private", "sh", "-c", script, "sh",
             os.path.join(self.dir, "hosts"), TINYPROXY, conf],
            stdin=subprocess.DEVNULL, stdout=err, stderr=err, cwd=self.dir)
        err.close()

        def listening():
            with socket.socket() as sock:
                sock.settimeout(0.2)
                return sock.connect_ex(("127.0.0.1", self.port)) == 0
        wait_for(listening, 10, "tinyproxy", self.proc, out)
        self.logfile = out if not os.path.exists(self.logfile) else self.logfile
        return self


def haproxy_maxconn(nofile):
    """HAProxy's global maxconn for a descriptor limit of `nofile`: it asks for 2 × maxconn
    plus about 20 of its own and refuses to start when the limit is lower. The rate runs hold
    256 connections at most; 10 000 is plenty."""
    return max(300, min(10000, (nofile - 100) // 2))


class HAProxy(Server):
    """HAProxy in `mode tcp` (haproxy-tcp): the floor's reference, not a peer. It forwards
    every connection to the target with no CONNECT exchange, no auth, no policy and no log,
    so it does less per cycle than any proxy here. `nbthread` = the CPUs, as sluice's
    `workers auto`."""
    name = "haproxy-tcp"
    authed = False
    forwarder = True

    def __init__(self, env):
        self.env = env

    def start(self):
        self.dir = self.env.subdir(self.name)
        self.port = free_port()
        conf = os.path.join(self.dir, "haproxy.cfg")
        fill("haproxy.cfg.in", conf, {
            "PORT": self.port, "TPORT": self.env.tport, "NBTHREAD": os.cpu_count() or 1,
            "MAXCONN": haproxy_maxconn(self.env.nofile)})
        # -db: in the foreground, one process (no master), alerts and warnings on stderr.
        self.logfile = os.path.join(self.dir, "stderr.log")
        err = open(self.logfile, "w")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", conf], stdin=subprocess.DEVNULL,
                                     stdout=err, stderr=err, cwd=self.dir)
        err.close()

        def listening():
            with socket.socket() as sock:
                sock.settimeout(0.2)
                return sock.connect_ex(("127.0.0.1", self.port)) == 0
        wait_for(listening, 10, self.name, self.proc, self.logfile)
        return self


class Runner:
    def __init__(self, env):
        self.env = env
        self.args = env.args
        self.anomalies = []
        self.remarks = []
        self.logged = []
        self.target = None      # checked after every run, as the systems are

    def loadgen(self, system, mode, n, seconds=None, extra=(), tls=False, resume=False,
                hello=None):
        """`tls`: to the system's TLS listener (verified against the bench CA), offering
        session resumption when `resume`. `hello`: the tunnel's first bytes are a TLS
        ClientHello naming it (`loadgen -H`), not the 64-byte echo payload."""
        a = self.args
        cmd = [os.path.join(a.bin, "loadgen"), mode, "-c", str(n)]
        if system.name == "direct":
            cmd += ["-D", f"127.0.0.1:{self.env.tport}"]
        elif system.forwarder:
            # Dialed as the target is dialed: it forwards the connection as it comes.
            cmd += ["-D", f"127.0.0.1:{system.port}"]
        else:
            port = system.tls_port if tls else system.port
            cmd += ["-P", f"127.0.0.1:{port}", "-t", f"target.test:{self.env.tport}"]
            if system.authed:
                cmd += ["-u", f"{USER}:{self.env.password}"]
            if tls:
                cmd += ["-S", self.env.tls["ca"]] + (["-R"] if resume else [])
        if hello is not None:
            cmd += ["-H", hello]
        if seconds is not None:
            cmd += ["-d", str(seconds), "-w", str(a.warmup)]
            # Direct: the target's own CPU over the window (the floor, issue 17); through
            # a proxy or a forwarder, the target's as well (-q), to show the floor's half
            # holds there. loadgen's own CPU comes with every run (cpu_self_s).
            cmd += ["-p", str(self.target.pid)] if system.name == "direct" else \
                ["-p", str(system.pid), "-q", str(self.target.pid)]
        cmd += list(extra)
        limit = (seconds or 0) + a.warmup + 2 * a.idle_timeout + 30
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            self.note(system, f"loadgen {mode} -c {n}", f"timed out after {limit}s")
            return None
        what = f"loadgen {mode} -c {n}" + (" over TLS" if tls else "") \
            + (f" -H {hello}" if hello is not None else "")
        if p.returncode != 0 or not p.stdout.strip():
            self.note(system, what, f"exit {p.returncode}: {p.stderr.strip()[-500:]}")
            return None
        res = json.loads(p.stdout.strip().splitlines()[-1])
        if p.stderr.strip():
            res["stderr"] = p.stderr.strip()[-500:]
        if res.get("errors_total"):
            self.note(system, what,
                      f"{res['errors_total']} errors {res['errors']}"
                      + (f", first status {res['first_status']!r}" if res["first_status"] else "")
                      + (f", first errno {res['first_errno']!r}" if res["first_errno"] else "")
                      + (f", first TLS error {res['first_tls']!r}" if res.get("first_tls")
                         else ""))
        self.check_alive(system, what)
        return res

    def wrk(self, system, seconds):
        a = self.args
        env = dict(os.environ)
        host = f"target.test:{self.env.tport}"
        env["BENCH_HOST"] = host
        if system.name == "direct":
            url = f"http://127.0.0.1:{self.env.tport}/"
            env["BENCH_PATH"] = "/"
            env["BENCH_AUTH"] = ""
        else:
            url = f"http://127.0.0.1:{system.port}/"
            env["BENCH_PATH"] = f"http://{host}/"
            env["BENCH_AUTH"] = self.env.auth_b64 if system.authed else ""
        cmd = [WRK, "-t", str(a.wrk_threads), "-c", str(a.wrk_connections), "-d", f"{max(1, round(seconds))}s",
               "--timeout", "5s", "-s", os.path.join(HERE, "http.lua"), url]
        cpu0 = proc_cpu(system.pid) if system.name != "direct" else None
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, env=env)
        except subprocess.TimeoutExpired:
            self.note(system, "wrk", "timed out")
            return None
        cpu1 = proc_cpu(system.pid) if system.name != "direct" else None
        out = p.stdout
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if p.returncode != 0 or m is None:
            self.note(system, "wrk", f"exit {p.returncode}: {(out + p.stderr).strip()[-500:]}")
            return None
        res = {"rps": float(m.group(1))}
        m = re.search(r"(\d+) requests in", out)
        res["requests"] = int(m.group(1)) if m else None
        res["cpu_s"] = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else -1
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        res["non2xx"] = int(m.group(1)) if m else 0
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        res["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                        map(int, m.groups()))) if m else {}
        if res["non2xx"]:
            self.note(system, "wrk", f"{res['non2xx']} non-2xx responses of {res['requests']}")
        se = res["socket_errors"]
        if (se and res["requests"] and se["read"] >= res["requests"] * 0.9 and not res["non2xx"]
                and not (se["connect"] or se["write"] or se["timeout"])):
            # Every response answered, then the connection closed: the proxy does not
            # keep client connections alive (tinyproxy), so wrk reconnects each time.
            res["closes_each"] = True
            self.remark(system, "wrk", "closes the client connection after every response "
                        f"(no keep-alive): wrk counted {se['read']} read errors for "
                        f"{res['requests']} answered requests and reconnected each time")
        elif any(se.values()):
            self.note(system, "wrk", f"socket errors {se}")
        self.check_alive(system, "wrk")
        return res

    def note(self, system, what, msg):
        line = f"{LABEL.get(system.name, system.name)}, {what}: {msg}"
        log(line)
        self.anomalies.append(line)

    def remark(self, system, what, msg):
        """Expected behaviour worth saying once (not a failure)."""
        line = f"{LABEL.get(system.name, system.name)}, {what}: {msg}"
        if not any(r.startswith(f"{LABEL.get(system.name, system.name)}, {what}:")
                   for r in self.remarks):
            log(line)
            self.remarks.append(line)

    def collect_logs(self, system, context=""):
        """What the proxy itself said (deduplicated): errors are anomalies, the rest remarks."""
        seen = {}
        for line in system.log_lines():
            key = re.sub(r"0x[0-9a-f]+|\d+", "N",
                         re.sub(r"^\S+ +\S+ +\S+ +\S+ \[\d+\]: ", "", line))
            key = re.sub(r"^N/N/N N:N:N(\.N)?( kid\d+)?\| ", "", key)
            if key not in seen:
                seen[key] = [line, 0]
            seen[key][1] += 1
        for key, (line, count) in list(seen.items())[:10]:
            text = re.sub(r"^(\S+) +\S+ +\S+ +\S+ \[\d+\]: ", r"\1 ", line.strip())
            text = re.sub(r"^\d+/\d+/\d+ [\d:.]+( kid\d+)?\| ", "", text)
            self.logged.append(f"{LABEL.get(system.name, system.name)}{context}: {count} × "
                               f"`{text[:200]}`")

    def check_alive(self, system, what):
        t = self.target
        if t is not None and not t.alive():
            # On a shared machine something else may end it (a negative status is the
            # signal): every figure after it would be a failure, so say so and restart it.
            self.note(t, f"during {LABEL.get(system.name, system.name)}, {what}",
                      f"the target died (exit status {t.proc.returncode}); log tail:\n"
                      + t.log_tail())
            log("restarting the target on the same port")
            t.proc = None
            t.start()
        if system.alive():
            return
        rc = system.proc.returncode if system.proc is not None else None
        self.note(system, what, f"the process died (exit status {rc}); log tail:\n"
                  + system.log_tail())
        log(f"restarting {system.name}")
        system.proc = None
        system.start()
        self.warm(system)

    def warm(self, system):
        """A few cycles so credentials are cached and lazy start-up work is done."""
        self.loadgen(system, "rate", 8, seconds=0.3, hello=system.hello)
        if system.tls_port:
            self.loadgen(system, "rate", 8, seconds=0.3, tls=True, resume=True)


def proc_cpu(pid):
    """User + system CPU seconds of every thread of `pid`, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu():
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in read_text("/proc/stat").splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])     # guest time is already counted in user time
    hz = os.sysconf("SC_CLK_TCK")
    return (total - idle) / hz, total / hz


def own_cpu():
    """CPU seconds of every child this driver has waited for: load generators, wrk, and the
    target and proxies once stopped."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def connect_status(port, authority, auth_b64, tls_ca=None):
    """The status code a proxy on `port` answers to one CONNECT (over TLS, verified against
    `tls_ca`, when given), or an error string."""
    req = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
    if auth_b64:
        req += f"Proxy-Authorization: Basic {auth_b64}\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            sock = raw
            if tls_ca is not None:
                sock = ssl.create_default_context(cafile=tls_ca).wrap_socket(
                    raw, server_hostname="127.0.0.1")
            sock.sendall((req + "\r\n").encode())
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return str(e)
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(m.group(1)) if m else repr(data[:60])


def client_hello(name):
    """The ClientHello Python's ssl (OpenSSL) writes for `name`, as bytes: the handshake
    runs on memory BIOs and stops after its first flight."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=name)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def hello_echo(port, authority, auth_b64, hello):
    """Through a proxy on `port`: CONNECT, then `hello` into the tunnel; "echoed" when the
    target's echo gives it back intact, else what happened instead."""
    req = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
    if auth_b64:
        req += f"Proxy-Authorization: Basic {auth_b64}\r\n"
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall((req + "\r\n").encode())
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return f"closed after {data[:60]!r}"
                data += chunk
            if not re.match(rb"HTTP/1\.[01] 200", data):
                return repr(data[:60])
            sock.sendall(hello)
            data = data.split(b"\r\n\r\n", 1)[1]
            while len(data) < len(hello):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return str(e)
    return "echoed" if data == hello else f"{len(data)} bytes back, starting {data[:8]!r}"


def check_policy(env, runner, system, tls=False):
    """Every proxy enforces the same policy, on its TLS listener too: prove it before
    measuring it."""
    t = env.tport
    good = env.auth_b64 if system.authed else None
    bad = base64.b64encode(f"{USER}:wrong-{env.password}".encode()).decode()
    other_port = free_port()
    cases = [(f"target.test:{t}", good, 200, "allowed CONNECT")]
    if system.authed:
        cases += [(f"target.test:{t}", None, 407, "no credentials"),
                  (f"target.test:{t}", bad, 407, "wrong password")]
    cases += [(f"other.test:{t}", good, 403, "domain outside the allowlist"),
              (f"target.test:{other_port}", good, 403, "port outside connect_ports")]
    for authority, auth, want, what in cases:
        if tls:
            got = connect_status(system.tls_port, authority, auth, env.tls["ca"])
            what += " over TLS"
        else:
            got = connect_status(system.port, authority, auth)
        if got == want:
            continue
        if want == 407 and got == 401:
            # Refused all the same, with the origin's status code (tinyproxy).
            runner.remark(system, f"policy check ({what})", "refused with 401, not 407")
        else:
            runner.note(system, "policy check", f"{what}: expected {want}, got {got}")
    if system.hello is not None and not tls:
        # The SNI rows' workload: a ClientHello naming the CONNECT host goes through.
        got = hello_echo(system.port, f"target.test:{t}", good, client_hello(system.hello))
        if got != "echoed":
            runner.note(system, "policy check",
                        f"ClientHello naming {system.hello}: expected it echoed, got {got}")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def want(args, workload):
    """Does this run measure `workload` (one of WORKLOADS)? All of them unless --only
    (and, with --no-idle, neither idle test)."""
    if args.no_idle and workload in ("idle", "burst"):
        return False
    return args.only is None or workload in args.only


def run(args):
    env = Env(args)
    log(f"work directory {env.dir}")
    target = Target(env)
    runner = Runner(env)
    started = []
    raw = {k: {} for k in ("rate32", "rate256", "sni32", "bulk1", "bulk8", "http", "idle",
                           "burst") + TLS_KEYS}
    try:
        target.start()
        runner.target = target
        log(f"target on 127.0.0.1:{target.port}")
        systems = {"direct": Direct(env).start()}
        # The proxies every round runs; the idle and burst tests start fresh ones. A
        # forwarder (HAProxy mode tcp) runs in the rate runs only.
        main = ["direct"] + [n for n in args.systems if n not in FORWARDERS]
        forwarders = [n for n in args.systems if n in FORWARDERS] \
            if want(args, "rate") or want(args, "floor") else []
        rate_systems = main + forwarders + (["sluice-noauth"] if "sluice" in args.systems
                                            and want(args, "rate") else [])
        wanted = []
        if any(want(args, w) for w in ("rate", "floor", "sni", "bulk", "http", "tls")):
            tls = want(args, "tls")
            make = {"squid": lambda: Squid(env, tls=tls),
                    "tinyproxy": lambda: Tinyproxy(env),
                    "sluice": lambda: Sluice(env, tls=tls),
                    "sluice-b": lambda: Sluice(env, b=True),
                    "haproxy-tcp": lambda: HAProxy(env)}
            wanted = [make[n]() for n in main[1:] + forwarders]
            if "sluice-noauth" in rate_systems:
                wanted.append(Sluice(env, authed=False))
            if want(args, "sni"):
                wanted += [Sluice(env, sni="require"), Sluice(env, sni="off")]
        for s in wanted:
            log(f"starting {s.name}")
            s.start()
            started.append(s)
            systems[s.name] = s
        for s in systems.values():
            # A forwarder has no policy to check; warming it checks that the echo comes back.
            if s.name != "direct" and not s.forwarder:
                check_policy(env, runner, s)
            if s.tls_port:
                check_policy(env, runner, s, tls=True)
            runner.warm(s)
        tls_here = [n for n in TLS_SYSTEMS if n in systems]
        fresh = [n for n in ("squid", "tinyproxy", "sluice", "sluice-b") if n in args.systems]
        # The floor alone needs the 32-client rate only.
        client_counts = (32, 256) if want(args, "rate") else (32,) \
            if want(args, "floor") else ()
        for r in range(args.rounds):
            # Rotate the order each round so no system always runs first.
            def order(names):
                k = r % len(names)
                return names[k:] + names[:k]
            log(f"round {r + 1}/{args.rounds}")
            for clients in client_counts:
                for name in order(rate_systems):
                    res = runner.loadgen(systems[name], "rate", clients, seconds=args.seconds)
                    raw[f"rate{clients}"].setdefault(name, []).append(res)
                    if res:
                        log(f"  rate {clients:3d} {name:14s} {res['rate']:9.0f}/s  "
                            f"p50 {res['p50_us'] / 1000:.2f} ms  p99 {res['p99_us'] / 1000:.2f} ms"
                            f"  cpu {res['cpu_s']:.2f} s ({cpu_per_cycle(res)} µs/cycle"
                            f"{' the target' if name == 'direct' else ''}, loadgen "
                            f"{cpu_per_cycle(res, 'cpu_self_s')})"
                            f"  errors {res['errors_total']}")
            if want(args, "sni"):
                sni_round(args, runner, systems, raw, order)
            for tunnels in (1, 8) if want(args, "bulk") else ():
                for name in order(main):
                    res = runner.loadgen(systems[name], "bulk", tunnels,
                                         seconds=args.bulk_seconds)
                    raw[f"bulk{tunnels}"].setdefault(name, []).append(res)
                    if res:
                        log(f"  bulk {tunnels} {name:14s} {res['mbps']:9.0f} MB/s"
                            f"  cpu {res['cpu_s']:.2f} s  errors {res['errors_total']}")
            for name in order(main) if want(args, "http") else ():
                res = runner.wrk(systems[name], args.seconds)
                raw["http"].setdefault(name, []).append(res)
                if res:
                    log(f"  http {name:14s} {res['rps']:9.0f} req/s  cpu {res['cpu_s']:.2f} s")
            if want(args, "tls") and tls_here:
                tls_round(args, runner, systems, raw, order, tls_here)
            if r == 0 or not args.idle_once:
                for name in order(fresh) if want(args, "idle") else ():
                    res = idle_one(env, runner, name, r == 0)
                    raw["idle"].setdefault(name, []).append(res)
                for name in order(fresh) if want(args, "burst") else ():
                    res = burst_one(env, runner, name, r == 0)
                    raw["burst"].setdefault(name, []).append(res)
        return env, raw, runner
    except BaseException:
        log(f"failed; the work directory {env.dir} is kept for inspection")
        raise
    finally:
        for s in started:
            s.stop()
            runner.collect_logs(s)
            # A forwarder logs nothing, --access-log or not.
            if args.access_log and not s.forwarder:
                path = {"squid": "access.log", "tinyproxy": "tinyproxy.log"}.get(
                    s.name, "access.log")
                text = read_text(os.path.join(s.dir, path))
                runner.remark(s, "access log", f"{text.count(chr(10))} lines written"
                              + (sluice_log_kinds(text) if s.name.startswith("sluice") else ""))
        target.stop()


def cpu_per_cycle(res, field="cpu_s"):
    """CPU µs per completed cycle of a rate run's -p process (or, with `field` "cpu_self_s",
    the load generator's own), as text."""
    if res.get(field, -1) < 0 or not res["completions"]:
        return "–"
    return f"{res[field] * 1e6 / res['completions']:.1f}"


def sni_round(args, runner, systems, raw, order):
    """One round of the SNI rows (issue 14): CONNECT + ClientHello echo + close at 32
    clients through the two sluice instances that differ only in `sni`, in turn."""
    for name in order(list(SNI_SYSTEMS)):
        res = runner.loadgen(systems[name], "rate", 32, seconds=args.seconds, hello=SNI_NAME)
        raw["sni32"].setdefault(name, []).append(res)
        if res:
            log(f"  sni32    {name:14s} {res['rate']:9.0f}/s  p50 {res['p50_us'] / 1000:.2f} ms"
                f"  cpu {res['cpu_s']:.2f} s  errors {res['errors_total']}")


def sluice_log_kinds(text):
    """What a sluice access log (Squid's format) holds, by result code and, for a refusal,
    its reason: ": 40,100 TCP_TUNNEL/200, 3 TCP_DENIED/407 auth-required, ..." (how the
    SNI rows show that their tunnels were checked and allowed)."""
    kinds = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) > 3:
            k = f[3] + (f" {f[-1]}" if f[3].startswith("TCP_DENIED") else "")
            kinds[k] = kinds.get(k, 0) + 1
    top = sorted(kinds.items(), key=lambda kv: -kv[1])[:8]
    return (": " + ", ".join(f"{n:,} {k}" for k, n in top)) if top else ""


# TLS to the proxy (issue 13): full handshakes, resumption offered, bulk through one tunnel.
TLS_KEYS = ("tls32", "tls32r", "tlsbulk1")
TLS_SYSTEMS = ("squid", "sluice")


def tls_round(args, runner, systems, raw, order, names=TLS_SYSTEMS):
    """One round of the TLS workloads, each against Squid's https_port and sluice's tls
    listener in turn (those of them in `names`)."""
    for key, resume in (("tls32", False), ("tls32r", True)):
        for name in order(list(names)):
            res = runner.loadgen(systems[name], "rate", 32, seconds=args.seconds, tls=True,
                                 resume=resume)
            raw[key].setdefault(name, []).append(res)
            if res:
                log(f"  {key:8s} {name:14s} {res['rate']:9.0f}/s  p50 "
                    f"{res['p50_us'] / 1000:.2f} ms  cpu {res['cpu_s']:.2f} s  resumed "
                    f"{res['resumed']}/{res['handshakes']}  errors {res['errors_total']}")
    for name in order(list(names)):
        res = runner.loadgen(systems[name], "bulk", 1, seconds=args.bulk_seconds, tls=True)
        raw["tlsbulk1"].setdefault(name, []).append(res)
        if res:
            log(f"  tlsbulk1 {name:14s} {res['mbps']:9.0f} MB/s  cpu {res['cpu_s']:.2f} s  "
                f"errors {res['errors_total']}")


def fresh_instance(env, name):
    """A new, not yet started instance of proxy `name` (the idle and burst tests)."""
    if name == "sluice-b":
        return Sluice(env, b=True)
    return {"squid": Squid, "tinyproxy": Tinyproxy, "sluice": Sluice}[name](env)


def listen_backlog(port):
    """The accept-queue length of every socket listening on 127.0.0.1:`port` (ss's Send-Q
    of a listener: what listen() asked for, capped at net.core.somaxconn), or []."""
    try:
        p = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                           text=True, timeout=10)
        return [int(x.split()[2]) for x in p.stdout.splitlines() if len(x.split()) > 2]
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return []


def burst_one(env, runner, name, first):
    """The burst idle test (issue 17): a fresh instance, warmed; VmRSS; N tunnels opened all
    at once (no cap on handshakes in flight); once all are open, --burst-wait seconds, VmRSS
    (growth / N per idle tunnel); one echo through every tunnel, which closes it; and
    --burst-wait seconds after the last close, VmRSS again (against before the burst)."""
    args = env.args
    s = fresh_instance(env, name)
    s.start()
    try:
        runner.warm(s)
        backlog = listen_backlog(s.port)
        time.sleep(0.3)
        res = runner.loadgen(s, "idle", args.burst,
                             extra=["-p", str(s.pid), "-k", str(args.burst),
                                    "-C", str(args.burst_wait), "-T", str(args.idle_timeout)])
        if res:
            res["backlog"] = backlog
            res["closed_delta_kib"] = (res["rss_closed_kib"] - res["rss_before_kib"]
                                       if res["rss_closed_kib"] >= 0 else None)
            log(f"  burst {name:13s} {res['held']} held in {res['open_seconds']:.1f}s, "
                f"RSS {res['rss_before_kib'] / 1024:.1f} -> {res['rss_after_kib'] / 1024:.1f}"
                f" -> {res['rss_closed_kib'] / 1024:.1f} MiB, "
                f"{res['bytes_per_tunnel']:.0f} B/tunnel, after close "
                f"{res['closed_delta_kib'] / 1024:+.2f} MiB, verified {res['verified']}, "
                f"threads {res['threads_before']}->{res['threads_after']}->"
                f"{res['threads_closed']}, backlog {backlog}, errors {res['errors_total']}")
            if res["held"] < args.burst or res["verified"] < res["held"]:
                runner.note(s, "burst", f"{res['held']} of {args.burst} tunnels held, "
                            f"{res['verified']} verified")
        return res
    finally:
        s.stop()
        if first:
            runner.collect_logs(s, " (burst-test instance)")


def idle_one(env, runner, name, first):
    """A fresh instance, warmed, then N tunnels held: RSS growth per tunnel."""
    args = env.args
    s = fresh_instance(env, name)
    s.start()
    try:
        runner.warm(s)
        time.sleep(0.3)
        res = runner.loadgen(s, "idle", args.idle,
                             extra=["-p", str(s.pid), "-k", "128", "-T", str(args.idle_timeout)])
        if res:
            log(f"  idle {name:14s} {res['held']} held in {res['open_seconds']:.1f}s, "
                f"{res['bytes_per_tunnel']:.0f} B/tunnel, verified {res['verified']}, "
                f"threads {res['threads_before']}->{res['threads_after']}, "
                f"errors {res['errors_total']}")
            if res["held"] < args.idle or res["verified"] < res["held"]:
                runner.note(s, "idle", f"{res['held']} of {args.idle} tunnels held, "
                            f"{res['verified']} verified")
        return res
    finally:
        s.stop()
        if first:
            runner.collect_logs(s, " (idle-test instance)")


def cmd_version(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def squid_tls_library():
    """The TLS library /usr/sbin/squid was built with: "OpenSSL" (Debian's squid-openssl),
    "GnuTLS" (Debian's squid, which its https_port serves with GnuTLS and no session
    resumption), or "?"."""
    try:
        text = subprocess.run([SQUID, "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return "OpenSSL" if "--with-openssl" in text else "GnuTLS" if "--with-gnutls" in text \
        else "?"


def deb_version(pkg):
    return cmd_version(["dpkg-query", "-W", "-f=${Version}", pkg])


def irq_time_accounting():
    """Does this kernel account softirq time apart from the processes it interrupts
    (CONFIG_IRQ_TIME_ACCOUNTING)? True, False, or None when its configuration cannot be
    read. Without it, the loopback TCP work a system call sets off in softirq is charged to
    the process that made the call, which is what the floor's prose says."""
    text = ""
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    except OSError:
        text = read_text(f"/boot/config-{platform.release()}")
    if not text:
        return None
    return re.search(r"^CONFIG_IRQ_TIME_ACCOUNTING=y", text, re.M) is not None


def machine(args):
    cpu = "?"
    for line in read_text("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = re.search(r"MemTotal:\s+(\d+)", read_text("/proc/meminfo"))
    git = cmd_version(["git", "-C", ROOT, "describe", "--always", "--dirty"])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "memory": f"{int(mem.group(1)) / 1048576:.1f} GiB" if mem else "?",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "sluice": f"{cmd_version([args.sluice, 'version'])} (git {git})",
        "squid": f"{cmd_version([SQUID, '-v']).replace('Squid Cache: Version ', '')} "
                 f"(Debian squid-openssl {deb_version('squid-openssl')}, built with "
                 f"{squid_tls_library()})",
        "tinyproxy": f"{cmd_version([TINYPROXY, '-v']).replace('tinyproxy ', '')} "
                     f"(Debian {deb_version('tinyproxy')})",
        "wrk": f"Debian {deb_version('wrk')}",
        # "2.6.12-1+deb12u4" from "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://...".
        "haproxy": (re.findall(r"version (\S+)", cmd_version([HAPROXY, "-v"])) or ["?"])[0],
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        "somaxconn": read_text("/proc/sys/net/core/somaxconn").strip() or "?",
        "syn_backlog": read_text("/proc/sys/net/ipv4/tcp_max_syn_backlog").strip() or "?",
        "sluice_b": f"{cmd_version([args.sluice_b, 'version'])}" if args.sluice_b else None,
        "irq_time": irq_time_accounting(),
    }


def summarize(raw):
    """Medians per metric and system."""
    med = {}
    for key in ("rate32", "rate256", "sni32"):
        for name, runs in raw[key].items():
            med[(key, name)] = median([x["rate"] for x in runs if x])
            med[(key + "_p50", name)] = median([x["p50_us"] / 1000 for x in runs if x])
            med[(key + "_p99", name)] = median([x["p99_us"] / 1000 for x in runs if x])
    for key in ("rate32", "rate256", "sni32"):
        for name, runs in raw[key].items():
            med[(key + "_cpu", name)] = median([x["cpu_s"] * 1e6 / x["completions"] for x in runs
                                                if x and x["cpu_s"] >= 0 and x["completions"]])
    for key in ("bulk1", "bulk8"):
        for name, runs in raw[key].items():
            med[(key, name)] = median([x["mbps"] for x in runs if x])
            med[(key + "_cpu", name)] = median([x["cpu_s"] / (x["bytes"] / 1e9) for x in runs
                                                if x and x["cpu_s"] >= 0 and x["bytes"]])
    for name, runs in raw["http"].items():
        med[("http", name)] = median([x["rps"] for x in runs if x])
        med[("http_cpu", name)] = median([x["cpu_s"] * 1e6 / x["requests"] for x in runs
                                          if x and x["cpu_s"] >= 0 and x["requests"]])
    for key in ("tls32", "tls32r"):
        for name, runs in raw[key].items():
            ok = [x for x in runs if x]
            med[(key, name)] = median([x["rate"] for x in ok])
            med[(key + "_p50", name)] = median([x["p50_us"] / 1000 for x in ok])
            med[(key + "_p99", name)] = median([x["p99_us"] / 1000 for x in ok])
            med[(key + "_cpu", name)] = median([x["cpu_s"] * 1e6 / x["completions"] for x in ok
                                                if x["cpu_s"] >= 0 and x["completions"]])
            med[(key + "_resumed", name)] = median([x["resumed"] / x["handshakes"] for x in ok
                                                    if x["handshakes"]])
    for name, runs in raw["tlsbulk1"].items():
        med[("tlsbulk1", name)] = median([x["mbps"] for x in runs if x])
        med[("tlsbulk1_cpu", name)] = median([x["cpu_s"] / (x["bytes"] / 1e9) for x in runs
                                              if x and x["cpu_s"] >= 0 and x["bytes"]])
    for key in ("rate32", "rate256"):
        # The floor (issue 17): in the direct runs loadgen -p read the target's CPU, so
        # rate*_cpu of "direct" is the target's own CPU per cycle; a proxy has two sockets.
        t = med.get((key + "_cpu", "direct"))
        med[(key + "_floor", "direct")] = None if t is None else 2 * t
        # loadgen's own CPU per cycle (cpu_self_s); in the direct runs, the dialing side of
        # the cycle (shown, not used as a floor: see the section's prose).
        for name, runs in raw[key].items():
            med[(key + "_self", name)] = median([
                x["cpu_self_s"] * 1e6 / x["completions"] for x in runs
                if x and x.get("cpu_self_s", -1) >= 0 and x["completions"]])
        for name, runs in raw[key].items():
            if name != "direct":
                med[(key + "_tcpu", name)] = median([
                    x["cpu2_s"] * 1e6 / x["completions"] for x in runs
                    if x and x.get("cpu2_s", -1) >= 0 and x["completions"]])
    for name, runs in raw["burst"].items():
        ok = [x for x in runs if x]
        med[("burst", name)] = median([x["bytes_per_tunnel"] for x in ok])
        med[("burst_before", name)] = median([x["rss_before_kib"] / 1024 for x in ok])
        med[("burst_after", name)] = median([x["rss_after_kib"] / 1024 for x in ok])
        med[("burst_closed", name)] = median([x["rss_closed_kib"] / 1024 for x in ok
                                              if x["rss_closed_kib"] >= 0])
        med[("burst_delta", name)] = median([x["closed_delta_kib"] / 1024 for x in ok
                                             if x["closed_delta_kib"] is not None])
        med[("burst_open_s", name)] = median([x["open_seconds"] for x in ok])
        med[("burst_held", name)] = median([x["held"] for x in ok])
        med[("burst_verified", name)] = median([x["verified"] for x in ok])
    for name, runs in raw["idle"].items():
        med[("idle", name)] = median([x["bytes_per_tunnel"] for x in runs if x])
        med[("idle_held", name)] = median([x["held"] for x in runs if x])
        med[("idle_verified", name)] = median([x["verified"] for x in runs if x])
    return med


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(v):
    return "–" if v is None else f"{v:.2f}"


def best_peer(med, key, lower=False):
    vals = [(med.get((key, p)), p) for p in PEERS if med.get((key, p)) is not None]
    if not vals:
        return None, None
    v, p = (min if lower else max)(vals)
    return v, p


def targets(med):
    """(description, required, measured, met) for each of the issue's targets."""
    rows = []

    def add(desc, need, got, ok):
        rows.append((desc, need, got, "–" if ok is None else ("yes" if ok else "**no**")))

    for c in (32, 256):
        key = f"rate{c}"
        s = med.get((key, "sluice"))
        bp, bpn = best_peer(med, key)
        d = med.get((key, "direct"))
        r1, r2 = ratio(s, bp), ratio(s, d)
        add(f"CONNECT+echo+close/s, {c} clients, vs better peer ({LABEL.get(bpn, '?')})",
            "≥ 2.5 ×", f"{fmt_ratio(r1)} ×", None if r1 is None else r1 >= 2.5)
        add(f"CONNECT+echo+close/s, {c} clients, vs direct", "≥ 0.70", fmt_ratio(r2),
            None if r2 is None else r2 >= 0.70)
    s, q, d = med.get(("bulk1", "sluice")), med.get(("bulk1", "squid")), med.get(("bulk1", "direct"))
    r = ratio(s, q)
    add("bulk, 1 tunnel, vs Squid", "≥ 3 ×", f"{fmt_ratio(r)} ×", None if r is None else r >= 3)
    r = ratio(s, d)
    add("bulk, 1 tunnel, vs direct", "≥ 0.60", fmt_ratio(r), None if r is None else r >= 0.60)
    r = ratio(med.get(("bulk8", "sluice")), med.get(("bulk8", "squid")))
    add("bulk, 8 tunnels, vs Squid", "≥ 2 ×", f"{fmt_ratio(r)} ×", None if r is None else r >= 2)
    m = med.get(("idle", "sluice"))
    add("memory per idle tunnel", "≤ 2 KiB",
        "–" if m is None else f"{m / 1024:.2f} KiB", None if m is None else m <= 2048)
    for c in (32, 256):
        r = ratio(med.get((f"rate{c}", "sluice")), med.get((f"rate{c}", "sluice-noauth")))
        add(f"authenticated / unauthenticated CONNECT rate, {c} clients", "≥ 0.90",
            fmt_ratio(r), None if r is None else r >= 0.90)
    bp, bpn = best_peer(med, "http")
    r = ratio(med.get(("http", "sluice")), bp)
    add(f"plain-HTTP keep-alive req/s vs better peer ({LABEL.get(bpn, '?')})", "≥ 2 ×",
        f"{fmt_ratio(r)} ×", None if r is None else r >= 2)
    return rows


def tls_targets(med):
    """(description, required, measured, met) for issue 13's targets: sluice's tls listener
    against Squid's https_port."""
    rows = []

    def versus(key, desc, need, good):
        r = ratio(med.get((key, "sluice")), med.get((key, "squid")))
        rows.append((desc, need, f"{fmt_ratio(r)} ×",
                     "–" if r is None else ("yes" if good(r) else "**no**")))

    versus("tls32", "handshake+CONNECT+echo+close/s, 32 clients, full handshakes, vs Squid",
           "≥ 1.5 ×", lambda r: r >= 1.5)
    versus("tls32r", "handshake+CONNECT+echo+close/s, 32 clients, resumption offered, vs Squid",
           "≥ 1.5 ×", lambda r: r >= 1.5)
    versus("tlsbulk1", "bulk over TLS, 1 tunnel, vs Squid", "≥ 2 ×", lambda r: r >= 2)
    versus("tlsbulk1_cpu", "proxy CPU per GB over TLS, 1 tunnel, vs Squid", "≤ 0.5 ×",
           lambda r: r <= 0.5)
    fr = [med.get(("tls32r_resumed", n)) for n in ("sluice", "squid")]
    rows.append(("handshakes resumed when resumption is offered (sluice; Squid)", "reported",
                 " ; ".join("–" if f is None else f"{f * 100:.1f} %" for f in fr), "–"))
    return rows


def tls_section(med):
    """The lines of RESULTS.md's TLS section."""
    L = ["## TLS to the proxy (issue 13)", "",
         "The client speaks TLS to the proxy (`loadgen -S`: OpenSSL, the proxy's certificate "
         "verified against the bench's throw-away CA, ECDSA P-256; the proxy picks the version), "
         "then CONNECT with Basic credentials inside TLS; the target side is plain TCP. sluice: "
         "a `listen 127.0.0.1:PORT tls` listener in the same process as the plain rows; Squid: "
         "an `https_port` (`squid-openssl`) beside its `http_port`. Same users, allowlist and "
         "ports as above. *Full handshakes*: every cycle a new session; *resumption offered*: "
         "each of the 32 client slots offers the last session the proxy gave it "
         "(`loadgen -R`).", "",
         "| metric | Squid https_port | sluice tls | sluice / Squid |", "|---|--:|--:|--:|"]

    def row(label, key, digits=0):
        q, s = med.get((key, "squid")), med.get((key, "sluice"))
        L.append(f"| {label} | {fmt(q, digits)} | {fmt(s, digits)} | "
                 f"{fmt_ratio(ratio(s, q))} |")

    row("handshake + CONNECT + echo + close per second, 32 clients, full handshakes", "tls32")
    row("  p50 latency (ms; lower is better)", "tls32_p50", 2)
    row("  proxy CPU µs per cycle (lower is better)", "tls32_cpu", 1)
    row("handshake + CONNECT + echo + close per second, 32 clients, resumption offered",
        "tls32r")
    row("  p50 latency (ms; lower is better)", "tls32r_p50", 2)
    row("  proxy CPU µs per cycle (lower is better)", "tls32r_cpu", 1)
    q, s = med.get(("tls32r_resumed", "squid")), med.get(("tls32r_resumed", "sluice"))
    L.append("|   handshakes resumed | " + " | ".join(
        "–" if f is None else f"{f * 100:.1f} %" for f in (q, s)) + " | – |")
    row("bulk MB/s over TLS, 1 tunnel", "tlsbulk1")
    row("  proxy CPU seconds per GB (lower is better)", "tlsbulk1_cpu", 2)
    L += ["", "## Targets (issue 13)", "", "| target | required | measured | met |",
          "|---|---|---|---|"]
    L += [f"| {d} | {n} | {g} | {ok} |" for d, n, g, ok in tls_targets(med)]
    L.append("")
    return L


def sni_pairs(raw):
    """sni require / sni off of the SNI rows' rate in each round (the two measured one
    after the other), None for a round where either failed."""
    req, off = raw["sni32"].get("sluice-sni", []), raw["sni32"].get("sluice-snioff", [])
    return [ratio(a["rate"], b["rate"]) if a and b else None for a, b in zip(req, off)]


def sni_section(raw, med):
    """The lines of RESULTS.md's SNI section (issue 14)."""
    size = next((x["payload_bytes"] for runs in raw["sni32"].values() for x in runs
                 if x and "payload_bytes" in x), None)
    L = ["## SNI inspection (issue 14)", "",
         "Two more sluice instances, configured like `sluice` above (same `users`, allowlist, "
         "ports, `workers auto`, no TLS listener) and with the target's port in `sni_ports`; "
         "they differ in one line. **sni require** (the default): sluice answers the CONNECT "
         "with 200, reads the client's first bytes, checks that they are a ClientHello whose "
         "server_name is the CONNECT host, and only then dials the target. **sni off**: it "
         "dials at once and answers 200 once connected. Each of 32 clients loops: connect, "
         "CONNECT with Basic credentials, 200, a real TLS ClientHello naming target.test "
         f"({fmt(size)} bytes, made once by `loadgen -H` with OpenSSL) into the tunnel, the "
         "target's echo of it compared, close. The two instances run one after the other in "
         "every round (order alternating).", "",
         "| metric | sni off | sni require | require / off |", "|---|--:|--:|--:|"]

    def row(label, key, digits=0):
        o, r = med.get((key, "sluice-snioff")), med.get((key, "sluice-sni"))
        L.append(f"| {label} | {fmt(o, digits)} | {fmt(r, digits)} | "
                 f"{fmt_ratio(ratio(r, o))} |")

    row("CONNECT + ClientHello echo + close per second, 32 clients", "sni32")
    row("  p50 latency (ms; lower is better)", "sni32_p50", 2)
    row("  p99 latency (ms; lower is better)", "sni32_p99", 2)
    row("  proxy CPU µs per cycle (lower is better)", "sni32_cpu", 1)
    pairs = sni_pairs(raw)
    L += ["", "require / off in each round (measured back to back): "
          + ", ".join(fmt_ratio(x) for x in pairs) + f"; median {fmt_ratio(median(pairs))}.",
          "", "## Target (issue 14)", "", "| target | required | measured | met |",
          "|---|---|---|---|"]
    r = ratio(med.get(("sni32", "sluice-sni")), med.get(("sni32", "sluice-snioff")))
    L.append(f"| rate with sni require ≥ 0.9 × rate without (CONNECT + ClientHello echo + "
             f"close/s, 32 clients, ratio of the medians) | ≥ 0.90 | {fmt_ratio(r)} | "
             + ("–" if r is None else "yes" if r >= 0.9 else "**no**") + " |")
    L.append("")
    return L


# Issue 17: the floor and the burst idle test.
FLOOR_SYSTEMS = ("haproxy-tcp", "squid", "tinyproxy", "sluice", "sluice-noauth", "sluice-b")
BURST_SYSTEMS = ("squid", "tinyproxy", "sluice", "sluice-b")


def issue17_targets(med, name="sluice"):
    """(description, required, measured, met) for issue 17's targets, for `name` (sluice or
    sluice B)."""
    rows = []
    who = "" if name == "sluice" else f" ({LABEL[name]})"

    def add(desc, need, got, ok):
        rows.append((desc + who, need, got, "–" if ok is None else ("yes" if ok else "**no**")))

    r = ratio(med.get(("rate32_cpu", name)), med.get(("rate32_floor", "direct")))
    # Three digits: 0.352 must not read as "0.35, not met".
    add("proxy CPU per CONNECT + echo + close cycle, 32 clients, vs the floor (2 × the echo "
        "target's)", "≤ 1.15 ×", "–" if r is None else f"{r:.3f} ×",
        None if r is None else r <= 1.15)
    r = ratio(med.get(("bulk1_cpu", name)), med.get(("bulk1_cpu", "squid")))
    add("proxy CPU seconds per GB, 1 bulk tunnel, vs Squid", "≤ 0.35 ×",
        "–" if r is None else f"{r:.3f} ×", None if r is None else r <= 0.35)
    m = med.get(("burst", name))
    add("RSS per idle tunnel after a burst (all opened at once)", "≤ 2 KiB",
        "–" if m is None else f"{m / 1024:.2f} KiB", None if m is None else m <= 2048)
    d = med.get(("burst_delta", name))
    add("RSS after every tunnel of the burst closed, minus RSS before the burst", "≤ 2 MiB",
        "–" if d is None else f"{d:+.2f} MiB", None if d is None else d <= 2.0)
    return rows


def haproxy_label(mach):
    """"HAProxy 2.6" for the version `haproxy -v` gave (machine()), or "HAProxy"."""
    m = re.match(r"(\d+\.\d+)", mach.get("haproxy") or "")
    return f"HAProxy {m.group(1)}" if m else "HAProxy"


def floor_label(name, mach):
    """The floor table's label for system `name`: a forwarder's says what it leaves out."""
    if name != "haproxy-tcp":
        return LABEL[name]
    return (f"{haproxy_label(mach)} `mode tcp`, for reference: a bare TCP forwarder (no "
            "CONNECT exchange, no auth, no policy, no log), less work than any proxy here")


def floor_burst_section(args, mach, raw, med):
    """The lines of RESULTS.md's issue 17 section (also what --only prints)."""
    L = []
    fl = [n for n in FLOOR_SYSTEMS if med.get(("rate32_cpu", n)) is not None]
    floor32 = med.get(("rate32_floor", "direct"))
    L += ["## The floor and bursts (issue 17)", ""]
    if floor32 is not None:
        L += ["**The floor.** In the direct rate runs `loadgen -p` reads the echo target's own "
              "CPU time (user + system, `/proc/PID/stat`) over the measured window and divides "
              "it by the cycles completed: what accepting, reading 64 bytes, writing them back "
              "and closing costs on one socket. A proxy handles two sockets per cycle, so its "
              "floor is twice that. Medians of the rounds; `× floor` divides the medians. "
              "In the same runs the load generator reads its own CPU time the same way "
              "(`/proc/self/stat`): the dialing side of the cycle, which connects, sends the 64 "
              "bytes, reads them back and closes. On loopback the kernel runs both ends' TCP "
              "work inline and charges it to the process whose system call sent the packet "
              + {False: "(this kernel is built without CONFIG_IRQ_TIME_ACCOUNTING, so softirq "
                        "time counts as the interrupted process's)",
                 True: "(but this kernel is built with CONFIG_IRQ_TIME_ACCOUNTING: it counts "
                       "softirq time apart, not as the interrupted process's, so the figures "
                       "here leave that work out)",
                 None: "(unless the kernel is built with CONFIG_IRQ_TIME_ACCOUNTING, which "
                       "counts softirq time apart; this kernel's configuration could not be "
                       "read)"}[mach.get("irq_time")]
              + ": the connect() carries the whole three-way handshake and the close() the FIN "
              "exchange, which the echo target, only accepting and answering, never pays. That "
              "row is shown to make the attribution visible, not as a floor of its own: it also "
              "holds the load generator's own user-space work, and what a packet costs its "
              "sender depends on whom it wakes — through a proxy the load generator's CPU per "
              "cycle is about half its direct figure (the line under the table), though it "
              "does more. Issue 17's target is defined against 2 × the echo target.", ""]
        if "haproxy-tcp" in fl:
            L += [f"**{haproxy_label(mach)} `mode tcp`** runs in the same rate runs, "
                  "interleaved in the rounds like the proxies, as a reference: the load "
                  "generator connects straight to it (`loadgen -D`, no CONNECT) and it forwards "
                  "each connection to the echo target, with `nbthread` = the CPUs and nothing "
                  "logged; its CPU is read as a proxy's is. It does less work per cycle than "
                  "any proxy in the table, which also read a CONNECT request, check credentials "
                  "and policy and answer 200: what it costs above the floor is what relaying "
                  "alone costs on loopback, in a mature forwarder.", ""]
        L += ["| CPU µs per CONNECT + echo + close cycle (lower is better) | 32 clients | "
              "× floor | 256 clients | × floor |", "|---|--:|--:|--:|--:|"]

        def row(label, key_name, key="_cpu", show_ratio=True):
            cells = []
            for c in (32, 256):
                v = med.get((f"rate{c}{key}", key_name))
                cells.append(fmt(v, 1))
                base = med.get((f"rate{c}_floor", "direct"))
                cells.append(fmt_ratio(ratio(v, base)) if show_ratio else "–")
            L.append(f"| {label} | " + " | ".join(cells) + " |")

        row("echo target alone, direct: the accepting side of a direct cycle (one socket)",
            "direct", show_ratio=False)
        row("the dialing side of a direct cycle: the load generator's own CPU µs per cycle in "
            "the direct runs (connect, send 64 bytes, read them back, close — on loopback the "
            "connect carries the whole handshake)", "direct", key="_self", show_ratio=False)
        row("**floor**: 2 × the echo target", "direct", key="_floor")
        for n in fl:
            row(floor_label(n, mach), n)
        seen = [(n, med.get(("rate32_tcpu", n))) for n in fl]
        if any(v is not None for _, v in seen):
            L += ["", "The echo target's own CPU µs per cycle in the same runs through each proxy "
                  "(32 clients; the floor assumes a proxy's socket costs what the target's "
                  "does): " + ", ".join(f"{LABEL[n]} {fmt(v, 1)}" for n, v in seen)
                  + f"; direct {fmt(med.get(('rate32_cpu', 'direct')), 1)}."]
        seen = [(n, med.get(("rate32_self", n))) for n in fl]
        if any(v is not None for _, v in seen):
            L += ["", "The load generator's own CPU µs per cycle in the same runs (32 clients; "
                  "through a proxy it dials the proxy, and sends the CONNECT request and reads "
                  "the answer as well): "
                  + ", ".join(f"{LABEL[n]} {fmt(v, 1)}" for n, v in seen)
                  + f"; direct {fmt(med.get(('rate32_self', 'direct')), 1)} (the dialing side "
                  "above)."]
        for n in [x for x in ("sluice", "sluice-b", "haproxy-tcp") if x in fl]:
            per = [ratio(x["cpu_s"] * 1e6 / x["completions"], 2 * d["cpu_s"] * 1e6
                         / d["completions"])
                   if x and d and x["cpu_s"] >= 0 and d["cpu_s"] > 0 and x["completions"]
                   and d["completions"] else None
                   for x, d in zip(raw["rate32"].get(n, []), raw["rate32"].get("direct", []))]
            L += ["", f"{LABEL[n]} / floor in each round (32 clients): "
                  + ", ".join(fmt_ratio(x) for x in per) + f"; median {fmt_ratio(median(per))}."]
        if "sluice-b" in fl and "sluice" in fl:
            L += ["", "sluice B / sluice, CPU per cycle (medians): 32 clients "
                  + fmt_ratio(ratio(med.get(("rate32_cpu", "sluice-b")),
                                    med.get(("rate32_cpu", "sluice"))))
                  + (", 256 clients " + fmt_ratio(ratio(med.get(("rate256_cpu", "sluice-b")),
                                                        med.get(("rate256_cpu", "sluice"))))
                     if med.get(("rate256_cpu", "sluice")) is not None else "") + "."]
        L.append("")
    bs = [n for n in BURST_SYSTEMS if raw["burst"].get(n)]
    if bs:
        w = args.burst_wait
        L += [f"**Bursts.** A fresh instance of each proxy, warmed with a few CONNECT cycles; "
              f"VmRSS read; then {args.burst:,} tunnels opened **all at once** (`loadgen idle "
              f"-k {args.burst} -C {w:g}`: every connect issued together, no cap on handshakes "
              f"in flight, against 128 in the paced test); {w:g} s after the last is "
              "established, VmRSS again (growth / tunnels held = per idle tunnel); then one "
              "echo through every tunnel, each closed as its echo returns, and "
              f"{w:g} s after the last close, VmRSS a third time. The listeners' accept queues "
              f"are what each proxy asks of `listen()` capped at net.core.somaxconn "
              f"({mach.get('somaxconn', '?')}; tcp_max_syn_backlog "
              f"{mach.get('syn_backlog', '?')}); a SYN that finds the queue full is dropped "
              "and retried by the client a second later, which shows in the seconds to open.",
              "", "| burst of " + f"{args.burst:,}" + " | " + " | ".join(LABEL[n] for n in bs)
              + (" | sluice B / sluice |" if "sluice-b" in bs and "sluice" in bs else " |"),
              "|---|" + "--:|" * (len(bs) + ("sluice-b" in bs and "sluice" in bs))]

        def brow(label, key, digits=0, ab=True, src="burst"):
            vals = [med.get((key, n)) for n in bs]
            line = f"| {label} | " + " | ".join(fmt(v, digits) for v in vals)
            if "sluice-b" in bs and "sluice" in bs:
                line += " | " + (fmt_ratio(ratio(med.get((key, "sluice-b")),
                                                 med.get((key, "sluice")))) if ab else "–")
            L.append(line + " |")

        def typical(n):
            runs = sorted((x for x in raw["burst"].get(n, []) if x),
                          key=lambda x: x["bytes_per_tunnel"])
            return runs[len(runs) // 2] if runs else None

        cells = []
        for n in bs:
            x = typical(n)
            cells.append("–" if x is None else " + ".join(str(b) for b in x.get("backlog", []))
                         or "?")
        L.append("| listen backlog (ss Send-Q of each listening socket) | " + " | ".join(cells)
                 + (" | – |" if "sluice-b" in bs and "sluice" in bs else " |"))
        brow("tunnels held (median)", "burst_held", ab=False)
        brow("tunnels verified by an echo (median)", "burst_verified", ab=False)
        brow("seconds to open them all", "burst_open_s", 2)
        brow("VmRSS before the burst (MiB)", "burst_before", 1)
        brow("VmRSS with every tunnel idle (MiB)", "burst_after", 1)
        brow("**bytes of RSS per idle tunnel, burst** (lower is better)", "burst")
        if any(med.get(("idle", n)) is not None for n in bs):
            brow(f"bytes of RSS per idle tunnel, paced (128 in flight, {args.idle:,} held)",
                 "idle")
        brow(f"VmRSS {w:g} s after every tunnel closed (MiB)", "burst_closed", 1)
        brow("**after close − before the burst (MiB)** (lower is better)", "burst_delta", 2)
        cells = []
        for n in bs:
            x = typical(n)
            cells.append("–" if x is None else f"{x['threads_before']} → "
                         f"{x['threads_after']} → {x['threads_closed']}")
        L.append("| threads: before → idle → after close (the median round) | "
                 + " | ".join(cells) + (" | – |" if "sluice-b" in bs and "sluice" in bs
                                        else " |"))
        L.append("")
    rows = []
    for n in ("sluice", "sluice-b"):
        if n in args.systems:
            rows += issue17_targets(med, n)
    if rows:
        L += ["## Targets (issue 17)", "", "| target | required | measured | met |",
              "|---|---|---|---|"]
        L += [f"| {d} | {need} | {got} | {ok} |" for d, need, got, ok in rows]
        L += ["", "A `–` was not measured in this run (`--only`, `--systems`)." if
              any(r[2].startswith("–") for r in rows) else "", ""]
    return [x for i, x in enumerate(L) if not (x == "" and i and L[i - 1] == "")]


def every_round(args, raw):
    """The lines of the "Every round" table: each measurement that was taken, per system."""
    L = ["## Every round", "",
         "| metric | system | " + " | ".join(f"round {i + 1}" for i in range(args.rounds))
         + " |", "|---|---|" + "--:|" * args.rounds]
    fields = {"rate32": ("rate", 0), "rate256": ("rate", 0), "sni32": ("rate", 0),
              "bulk1": ("mbps", 0),
              "bulk8": ("mbps", 0), "http": ("rps", 0), "idle": ("bytes_per_tunnel", 0),
              "tls32": ("rate", 0), "tls32r": ("rate", 0), "tlsbulk1": ("mbps", 0)}
    names = ["direct", "haproxy-tcp", "squid", "tinyproxy", "sluice", "sluice-b", "sluice-noauth",
             *SNI_SYSTEMS]

    def line(label, name, cells):
        cells += [""] * (args.rounds - len(cells))
        L.append(f"| {label} | {LABEL[name]} | " + " | ".join(cells) + " |")

    for key, (field, digits) in fields.items():
        for name in names:
            runs = raw[key].get(name)
            if runs:
                line(key, name, [fmt(x[field], digits) if x else "failed" for x in runs])
    # Issue 17: CPU µs per cycle (the direct row is the echo target's, the floor's half).
    for name in names:
        runs = raw["rate32"].get(name)
        if runs:
            line("rate32 CPU µs/cycle" + (" (the target)" if name == "direct" else ""), name,
                 [cpu_per_cycle(x) if x else "failed" for x in runs])
    # The dialing side of a direct cycle: loadgen's own CPU.
    runs = raw["rate32"].get("direct")
    if runs:
        line("rate32 loadgen CPU µs/cycle (the dialing side)", "direct",
             [cpu_per_cycle(x, "cpu_self_s") if x else "failed" for x in runs])
    for key, field, digits in (("burst", "bytes_per_tunnel", 0),
                               ("burst close − before, KiB", "closed_delta_kib", 0)):
        for name in names:
            runs = raw["burst"].get(name)
            if runs:
                line(key, name, [fmt(x[field], digits) if x else "failed" for x in runs])
    L.append("")
    return L


def anomaly_lines(anomalies, remarks, logged):
    """The Anomalies and Notes sections."""
    L = ["## Anomalies", ""]
    if anomalies:
        L.append("Errors, failures and crashes seen during the run, as reported:")
        L.append("")
        for a in anomalies:
            first, _, rest = a.partition("\n")
            L.append(f"- {first}")
            if rest.strip():
                L.append("")
                L.append("  ```")
                L.extend("  " + x for x in rest.strip().splitlines()[-15:])
                L.append("  ```")
    else:
        L.append("None: every cycle, stream, request and idle tunnel succeeded.")
    L.append("")
    L.append("## Notes")
    L.append("")
    if remarks:
        L.append("Expected behaviour, not counted as failures:")
        L.append("")
        L.extend(f"- {r}" for r in remarks)
        L.append("")
    if logged:
        L.append("What the proxies wrote to their own logs (sluice's stderr, Squid's cache.log "
                 "warnings and errors, tinyproxy's LogFile, HAProxy's stderr), deduplicated, "
                 "first occurrence shown:")
        L.append("")
        L.extend(f"- {x}" for x in logged)
        L.append("")
    return L


def write_quick(args, mach, raw, med, anomalies, remarks, logged, started, wall):
    """What an --only run prints (and writes to --out when given): issue 17's section, every
    round, anomalies. Not RESULTS.md: a partial run does not replace the full one."""
    L = [f"# sluice benchmark, --only {','.join(args.only)} (not a full run)", "",
         f"{started:%Y-%m-%d %H:%M} UTC, {wall / 60:.1f} minutes, {args.rounds} interleaved "
         f"rounds, medians quoted; {mach['nproc']} CPUs, load average before {mach['load']}."]
    if mach.get("cpu_busy") is not None:
        other = max(0.0, mach["cpu_busy"] - mach["cpu_own"])
        L.append(f"CPU use during the run: {mach['cpu_busy'] * 100:.0f} % of all CPUs busy, "
                 f"**{other * 100:.0f} % other processes**"
                 + (" (noisy: compare only what was measured side by side here)."
                    if other > 0.2 else "."))
    L.append(f"sluice: `{args.sluice}` ({mach['sluice']})."
             + (f" sluice B: `{args.sluice_b}` ({mach['sluice_b']})." if args.sluice_b else "")
             + (f" HAProxy {mach['haproxy']}, `mode tcp`, `nbthread {mach['nproc']}`."
                if raw["rate32"].get("haproxy-tcp") else ""))
    L.append("")
    L.extend(floor_burst_section(args, mach, raw, med))
    L.extend(every_round(args, raw))
    L.extend(anomaly_lines(anomalies, remarks, logged))
    text = "\n".join(L)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return text


def write_results(args, mach, raw, med, anomalies, remarks, logged, started, wall):
    main = ["direct", "squid", "tinyproxy", "sluice"]
    L = []
    L.append("# sluice benchmark results")
    L.append("")
    L.append(f"Written by `make bench` (`bench/bench.py`) on {started:%Y-%m-%d %H:%M} UTC in "
             f"{wall / 60:.1f} minutes: {args.rounds} interleaved rounds, **medians** quoted. "
             "Regenerate with `make bench`; see `bench/README.md` for what is measured and how.")
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    L.append(f"| CPUs (nproc) | {mach['nproc']} |")
    L.append(f"| CPU | {mach['cpu']} |")
    L.append(f"| kernel | {mach['kernel']} |")
    L.append(f"| memory | {mach['memory']} |")
    # (Not after: tinyproxy's ten thousand threads in the idle test inflate it.)
    L.append(f"| load average (1, 5, 15 min) before the run | {mach['load']} |")
    L.append(f"| descriptor limit (hard) | {mach['nofile']} |")
    L.append(f"| listen backlog cap (net.core.somaxconn; tcp_max_syn_backlog) | "
             f"{mach['somaxconn']}; {mach['syn_backlog']} |")
    if mach.get("cpu_busy") is not None:
        other = max(0.0, mach["cpu_busy"] - mach["cpu_own"])
        L.append(f"| CPU use during the run | {mach['cpu_busy'] * 100:.0f} % of all CPUs busy: "
                 f"{mach['cpu_own'] * 100:.0f} % the benchmark's processes, **{other * 100:.0f} %"
                 " other processes** |")
    L.append(f"| sluice | {mach['sluice']}, `workers auto` (one event loop per CPU) |")
    L.append(f"| Squid | {mach['squid']} |")
    L.append(f"| tinyproxy | {mach['tinyproxy']} |")
    L.append(f"| wrk | {mach['wrk']} |")
    L.append(f"| HAProxy | {mach['haproxy']} (Debian haproxy), `mode tcp`, `nbthread "
             f"{mach['nproc']}`: the floor's reference, in the rate runs only |")
    L.append("")
    L.append("Every process (load generator, target, proxy) shares the same CPUs over loopback.")
    other = (mach["cpu_busy"] - mach["cpu_own"]) if mach.get("cpu_busy") is not None else 0
    if other > 0.2:
        L.append(f"**Other processes used {other * 100:.0f} % of the CPUs during this run**: "
                 "absolute figures are lower and noisier than on a quiet machine; the ratios "
                 "compare systems measured in the same minutes, interleaved.")
    if not args.no_idle and args.idle < 10000:
        L.append(f"The idle test holds {args.idle:,} tunnels, not 10 000: the hard descriptor "
                 f"limit ({mach['nofile']:,}) must fit two sockets per tunnel in one proxy "
                 "process, and it cannot be raised here.")
    L.append(f"Access logging: **{'on for all' if args.access_log else 'off for all'}** "
             + ("(sluice `access_log FILE`, Squid `access_log stdio:FILE`, tinyproxy "
                "`LogLevel Connect`)." if args.access_log else
                "(sluice `access_log off`, Squid `access_log none`, tinyproxy `LogLevel Warning`)."))
    L.append("")
    L.append("## Results")
    L.append("")
    L.append("| metric | direct | Squid | tinyproxy | sluice | sluice / best peer | sluice / direct |")
    L.append("|---|--:|--:|--:|--:|--:|--:|")

    def row(label, key, digits=0, lower=False, with_direct=True):
        vals = [med.get((key, n)) for n in main]
        bp, _ = best_peer(med, key, lower)
        s = med.get((key, "sluice"))
        cells = [fmt(v, digits) for v in vals]
        if not with_direct:
            cells[0] = "–"
        L.append(f"| {label} | " + " | ".join(cells) + f" | {fmt_ratio(ratio(s, bp))} | "
                 + (fmt_ratio(ratio(s, med.get((key, 'direct')))) if with_direct else "–") + " |")

    row("CONNECT + echo + close per second, 32 clients", "rate32")
    row("  p50 latency, 32 clients (ms; lower is better)", "rate32_p50", 2, lower=True)
    row("  p99 latency, 32 clients (ms; lower is better)", "rate32_p99", 2, lower=True)
    row("CONNECT + echo + close per second, 256 clients", "rate256")
    row("  p50 latency, 256 clients (ms; lower is better)", "rate256_p50", 2, lower=True)
    row("  p99 latency, 256 clients (ms; lower is better)", "rate256_p99", 2, lower=True)
    row("bulk MB/s, 1 tunnel", "bulk1")
    row("bulk MB/s, 8 tunnels", "bulk8")
    row("plain-HTTP keep-alive requests per second", "http")
    row("proxy CPU µs per CONNECT cycle, 32 clients (lower is better)", "rate32_cpu", 1,
        lower=True, with_direct=False)
    row("proxy CPU µs per CONNECT cycle, 256 clients (lower is better)", "rate256_cpu", 1,
        lower=True, with_direct=False)
    row("proxy CPU seconds per GB, 1 tunnel (lower is better)", "bulk1_cpu", 2, lower=True,
        with_direct=False)
    row("proxy CPU seconds per GB, 8 tunnels (lower is better)", "bulk8_cpu", 2, lower=True,
        with_direct=False)
    row("proxy CPU µs per plain-HTTP request (lower is better)", "http_cpu", 1, lower=True,
        with_direct=False)
    if not args.no_idle:
        row(f"bytes of RSS per idle tunnel ({args.idle} held; lower is better)", "idle",
            lower=True, with_direct=False)
    L.append("")
    s32, n32 = med.get(("rate32", "sluice")), med.get(("rate32", "sluice-noauth"))
    s256, n256 = med.get(("rate256", "sluice")), med.get(("rate256", "sluice-noauth"))
    L.append(f"sluice without `users` (no authentication): {fmt(n32)} CONNECT cycles/s at 32 "
             f"clients, {fmt(n256)} at 256; authenticated / unauthenticated = "
             f"{fmt_ratio(ratio(s32, n32))} and {fmt_ratio(ratio(s256, n256))}.")
    L.append("")
    if not args.no_idle:
        parts = []
        for n in ("squid", "tinyproxy", "sluice"):
            runs = [x for x in raw["idle"].get(n, []) if x]
            if runs:
                x = runs[len(runs) // 2]
                parts.append(f"{LABEL[n]} {x['rss_before_kib'] / 1024:.1f} → "
                             f"{x['rss_after_kib'] / 1024:.1f} MiB, threads "
                             f"{x['threads_before']} → {x['threads_after']}, "
                             f"{x['held']} held, {x['verified']} verified after")
        L.append("Idle tunnels (one round's figures): " + "; ".join(parts) + ".")
        L.append("")
    L.append("## Targets (issue 6)")
    L.append("")
    L.append("| target | required | measured | met |")
    L.append("|---|---|---|---|")
    for desc, need, got, ok in targets(med):
        L.append(f"| {desc} | {need} | {got} | {ok} |")
    L.append("")
    L.append("![CONNECT rate, bulk throughput and plain-HTTP rate per system](results.png)")
    L.append("")
    L.extend(tls_section(med))
    L.extend(sni_section(raw, med))
    L.extend(floor_burst_section(args, mach, raw, med))
    L.extend(every_round(args, raw))
    L.extend(anomaly_lines(anomalies, remarks, logged))
    with open(args.out, "w") as f:
        f.write("\n".join(L))


def plot(args, med):
    main = ["direct", "squid", "tinyproxy", "sluice"]
    data = os.path.join(os.path.dirname(os.path.abspath(args.plot)), ".results.dat")
    with open(data, "w") as f:
        f.write("# system rate32 rate256 bulk1 bulk8 http\n")
        for n in main:
            vals = [med.get((k, n)) or 0 for k in ("rate32", "rate256", "bulk1", "bulk8", "http")]
            f.write(f"\"{LABEL[n]}\" " + " ".join(f"{v:.1f}" for v in vals) + "\n")
    try:
        p = subprocess.run([GNUPLOT, "-e", f"datafile='{data}'; outfile='{args.plot}'",
                            os.path.join(HERE, "plot.gp")], capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            log(f"gnuplot failed: {p.stderr.strip()}")
    finally:
        os.unlink(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluice", default=os.path.join(ROOT, "build", "sluice"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bench"),
                    help="directory holding loadgen and target")
    ap.add_argument("--rounds", type=int, default=None, help="default 5 (3 with --only)")
    ap.add_argument("--seconds", type=float, default=3.0, help="measured seconds per rate/HTTP run")
    ap.add_argument("--bulk-seconds", type=float, default=2.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--idle", type=int, default=None,
                    help="idle tunnels to hold (default 10000, or what the descriptor limit allows)")
    ap.add_argument("--idle-timeout", type=float, default=60.0)
    ap.add_argument("--idle-once", action="store_true", help="idle test in the first round only")
    ap.add_argument("--no-idle", action="store_true", help="no paced or burst idle test")
    ap.add_argument("--burst", type=int, default=3000,
                    help="tunnels opened all at once in the burst test (issue 17; default "
                    "3000, or what the descriptor limit allows)")
    ap.add_argument("--burst-wait", type=float, default=2.0,
                    help="burst test: seconds after the last tunnel opened, and after the last "
                    "closed, before VmRSS is read (default 2)")
    ap.add_argument("--only", default=None,
                    help="measure only these, comma-separated: " + ",".join(WORKLOADS)
                    + " (floor: the 32-client rate, direct and each proxy, with CPU per cycle); "
                    "prints issue 17's section and every round instead of writing RESULTS.md "
                    "(unless --out); default rounds 3")
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help="the proxies to measure, comma-separated (default: "
                    + ",".join(SYSTEMS) + "; haproxy-tcp, HAProxy in mode tcp, takes part "
                    "in the rate runs only: the floor's reference)")
    ap.add_argument("--sluice-b", default=None, metavar="BIN",
                    help="a second sluice binary, configured as the first and measured beside "
                    "it in every workload of --only (\"sluice B\"), for A/B runs")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--wrk-connections", type=int, default=64)
    ap.add_argument("--access-log", action="store_true",
                    help="every proxy writes a per-request access log (default: none does)")
    ap.add_argument("--out", default=None,
                    help="default bench/RESULTS.md (with --only: none, the report is printed)")
    ap.add_argument("--plot", default=os.path.join(HERE, "results.png"))
    ap.add_argument("--raw", default=None, help="also write every measurement as JSON here")
    args = ap.parse_args()
    args.sluice = os.path.abspath(args.sluice)
    args.bin = os.path.abspath(args.bin)
    if args.only is not None:
        args.only = [x.strip() for x in args.only.split(",") if x.strip()]
        bad = [x for x in args.only if x not in WORKLOADS]
        if bad or not args.only:
            ap.error(f"--only: unknown {bad}; choose from {','.join(WORKLOADS)}")
    given = [x.strip() for x in args.systems.split(",") if x.strip()]
    bad = [x for x in given if x not in SYSTEMS]
    if bad or not given:
        ap.error(f"--systems: unknown {bad}; choose from {','.join(SYSTEMS)}")
    if args.only is None and set(given) != set(SYSTEMS):
        ap.error("--systems needs --only: RESULTS.md compares every system")
    if args.sluice_b is not None:
        if args.only is None:
            ap.error("--sluice-b needs --only (an A/B run is not RESULTS.md)")
        args.sluice_b = os.path.abspath(args.sluice_b)
    # In a fixed order, sluice B last.
    args.systems = [x for x in SYSTEMS if x in given] + (["sluice-b"] if args.sluice_b else [])
    if args.rounds is None:
        args.rounds = 3 if args.only else 5
    if args.out is None and args.only is None:
        args.out = os.path.join(HERE, "RESULTS.md")
    args.out = os.path.abspath(args.out) if args.out else None
    args.plot = os.path.abspath(args.plot)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # A proxy holds two descriptors per tunnel plus its own (listeners, logs,
    # pipes): the idle test holds what the limit allows, at most 10 000.
    fit = (hard - 600) // 2 // 100 * 100
    if args.idle is None:
        args.idle = min(10000, fit)
        if args.idle < 10000:
            log(f"the descriptor limit ({hard}) allows {args.idle} idle tunnels, not 10000")
    if args.burst > fit:
        log(f"the descriptor limit ({hard}) allows a burst of {fit} tunnels, not {args.burst}")
        args.burst = fit
    needed = [args.sluice, os.path.join(args.bin, "loadgen"), os.path.join(args.bin, "target"),
              HTPASSWD] + ([args.sluice_b] if args.sluice_b else [])
    if args.only is None or "squid" in args.systems:
        needed.append(SQUID)
    if args.only is None or "tinyproxy" in args.systems:
        needed.append(TINYPROXY)
    if "haproxy-tcp" in args.systems and (want(args, "rate") or want(args, "floor")):
        needed.append(HAPROXY)
    if args.only is None or "http" in args.only:
        needed.append(WRK)
    if args.only is None:
        needed.append(GNUPLOT)
    for tool in needed:
        if not os.access(tool, os.X_OK):
            sys.exit(f"bench: {tool} is missing (make bench builds and installs everything)")
    # Debian's squid (GnuTLS) and squid-openssl ship the same /usr/sbin/squid and replace
    # each other: the TLS rows compare OpenSSL with OpenSSL.
    if want(args, "tls") and "squid" in args.systems and squid_tls_library() != "OpenSSL":
        sys.exit(f"bench: {SQUID} is not built with OpenSSL ({squid_tls_library()}): "
                 "install squid-openssl (make bench does, with scripts/deps.sh bench)")

    mach = machine(args)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    busy0, total0 = machine_cpu()
    own0 = own_cpu()
    env, raw, runner = run(args)
    anomalies, remarks = runner.anomalies, runner.remarks
    wall = time.monotonic() - t0
    busy1, total1 = machine_cpu()
    own = own_cpu() - own0
    if want(args, "tls") and "squid" in args.systems and squid_tls_library() != "OpenSSL":
        # Another package install replaced it during the run.
        anomalies.append(f"Squid: {SQUID} was no longer built with OpenSSL at the end of the "
                         f"run ({squid_tls_library()}): the Squid instances started late in "
                         "the run (idle tests, restarts) may have been that build")
    # How much of the machine the benchmark had: on a shared machine, other
    # processes' CPU use is the noise the medians have to absorb.
    mach["cpu_busy"] = (busy1 - busy0) / (total1 - total0) if total1 > total0 else None
    mach["cpu_own"] = own / (total1 - total0) if total1 > total0 else None
    med = summarize(raw)
    if args.raw:
        with open(args.raw, "w") as f:
            json.dump({"machine": mach, "raw": raw, "anomalies": anomalies, "remarks": remarks,
                       "logged": runner.logged}, f, indent=1)
    if args.only is not None:
        text = write_quick(args, mach, raw, med, anomalies, remarks, runner.logged, started,
                           wall)
        shutil.rmtree(env.dir, ignore_errors=True)
        log(f"done in {wall / 60:.1f} minutes" + (f"; wrote {args.out}" if args.out else ""))
        print(text)
        return
    write_results(args, mach, raw, med, anomalies, remarks, runner.logged, started, wall)
    plot(args, med)
    shutil.rmtree(env.dir, ignore_errors=True)
    log(f"wrote {os.path.relpath(args.out)} and {os.path.relpath(args.plot)} "
        f"in {wall / 60:.1f} minutes")
    with open(args.out) as f:
        text = f.read()
    # The summary tables on the terminal too.
    print(text.split("## Every round")[0].split("## Results", 1)[1].strip())


if __name__ == "__main__":
    main()
