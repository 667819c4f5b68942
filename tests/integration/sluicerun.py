# SPDX-License-Identifier: MIT
"""Running `sluice run`: a policy directory that an unprivileged user can read, and helpers that
run a command inside the sandbox and read what it printed, the denials on stderr and --log.

The directory (mode 0755, outside pytest's private tmp tree) holds the policy file for `-c`,
the hosts file mapping the production names to 127.0.0.1, and a copy of the test CA, so the
same files serve a run as root and a run as `nobody`; its `out/` subdirectory (mode 1777)
takes the access logs and marker files either launcher writes.

The policy: the seed's three domains allowed, www.google.com not; allow_cidr 127.0.0.0/8;
connect_ports 443 plus every origin port; dns_server = the tests' fake DNS server (the hosts
file answers every name the tests use, so nothing is asked of a real resolver).
"""

import os
import re
import shutil
import subprocess
import tempfile

from helpers import unprivileged
from origins import https_greeting
from sluiceproc import SANITIZER_MARKERS, SEED_DOMAINS, squid_line_re, write_config, write_hosts
from pki import ORIGIN_NAMES

HERE = os.path.dirname(os.path.abspath(__file__))
PROBE = os.path.join(HERE, "sandboxprobe.py")
PROXYCLIENT = os.path.join(HERE, "proxyclient.py")
PYTHON = "/usr/bin/python3"
INSIDE_PROXY = "http://127.0.0.1:3128"

# Not anchored at the start: the launcher writes each line whole, but the command shares the
# same stderr and may be half-way through a line of its own (curl writes "c", then "url: ...").
DENIAL_RE = re.compile(r"sluice: (?P<verb>denied|failed) (?P<method>\S+) (?P<target>\S+) "
                       r"\((?P<reason>[^)]*)\)(?:: (?P<detail>.*))?$")


def processes_with(marker):
    """Host PIDs of the live (not zombie) processes whose environment holds `marker`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
            with open(f"/proc/{name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in environ.split(b"\0") and state != "Z":
            found.append(int(name))
    return found


def python(*args):
    """A command line running python3 (no bytecode written) with `args`."""
    return [PYTHON, "-B", *args]


def probe(*args):
    """The command line of one sandboxprobe.py check."""
    return python(PROBE, *args)


# The sandbox's own refusals (seccomp: `sluice: denied socket AF_UNIX (...)`) share the line
# shape. glibc asks for an AF_UNIX socket on its first user or host lookup (the nscd probe), so
# most commands cause one; the proxy's denials are what these helpers count.
SANDBOX_REFUSALS = ("socket", "socketpair", "ioctl")


def denials(stderr, verb="denied"):
    """The proxy's `sluice: denied ...` (or `failed`) lines of a run's stderr, as (method,
    target, reason)."""
    return [(m["method"], m["target"], m["reason"])
            for m in map(DENIAL_RE.search, stderr.splitlines())
            if m and m["verb"] == verb and m["method"] not in SANDBOX_REFUSALS]


def sandbox_refusals(stderr):
    """The sandbox's `sluice: denied socket AF_VSOCK (...)` lines, as (call, what, reason)."""
    return [(m["method"], m["target"], m["reason"])
            for m in map(DENIAL_RE.search, stderr.splitlines())
            if m and m["verb"] == "denied" and m["method"] in SANDBOX_REFUSALS]


def assert_denials(done, *targets, reason="domain not in allowlist", method="CONNECT",
                   verb="denied"):
    """The run's stderr reported exactly these denials (one line each, in order); `verb`
    "failed" for the 5xx kind."""
    expected = [(method, target, reason) for target in targets]
    assert denials(done.stderr, verb) == expected, (
        f"expected the {verb} lines {expected} on stderr; the run's stderr was:\n"
        f"{done.stderr}")


def run_tunnel_re(target, upstream="127.0.0.1", hierarchy="HIER_DIRECT"):
    """The access-log line of a tunnel the sandboxed command opened (no user: the command
    authenticates by being inside). Through an upstream proxy the hierarchy is Squid's
    FIRSTUP_PARENT and the address is the parent's."""
    return squid_line_re("TCP_TUNNEL/200", target, "-", f"{hierarchy}/{upstream}", "-")


def run_denied_re(status, target, code):
    """The access-log line of a refusal of the sandboxed command's CONNECT."""
    return squid_line_re(f"TCP_DENIED/{status}", target, "-", "HIER_NONE/-", "text/plain",
                         extra=code)


class Site:
    """One HTTPS URL on the TLS origin and what the origin answers there."""

    def __init__(self, origins, name, path="/"):
        self.name = name
        self.target = f"{name}:{origins.https_port}"
        self.url = f"https://{self.target}{path}"
        self.expected = https_greeting(name, self.target, path)


class Sandbox:
    """Runs `sluice run -c <policy> [options] -- CMD` and keeps every result, so the fixture
    can check at teardown that no run printed a sanitizer report or leaked a secret."""

    def __init__(self, binary, origins, ca_cert, dns_address, allow=SEED_DOMAINS):
        self.binary = binary
        self.origins = origins
        self.dir = tempfile.mkdtemp(prefix="sluice-run-")
        os.chmod(self.dir, 0o755)
        self.out = os.path.join(self.dir, "out")
        os.mkdir(self.out)
        os.chmod(self.out, 0o1777)
        self.ca_cert = shutil.copy(ca_cert, os.path.join(self.dir, "ca.pem"))
        os.chmod(self.ca_cert, 0o644)
        self.hosts_file = write_hosts(os.path.join(self.dir, "hosts"),
                                      {name: "127.0.0.1" for name in ORIGIN_NAMES})
        self.config = self.write_policy("policy.conf", allow=allow, dns_address=dns_address)
        self.secrets = []
        self.results = []
        self.procs = []
        self._nlogs = 0

    def write_policy(self, name, *, allow=SEED_DOMAINS, dns_address=None, extra=()):
        """Write a policy file for `-c` into the directory; returns its path."""
        path = write_config(os.path.join(self.dir, name), listen=(), allow=allow,
                            connect_ports=(443, *self.origins.ports),
                            allow_cidr=("127.0.0.0/8",), hosts_file=self.hosts_file,
                            dns_server=dns_address, extra=extra)
        os.chmod(path, 0o644)
        return path

    def site(self, name, path="/"):
        return Site(self.origins, name, path)

    def new_log(self):
        """A fresh path for --log in the writable out/ directory."""
        self._nlogs += 1
        return os.path.join(self.out, f"run{self._nlogs}.log")

    def argv(self, cmd, options=(), config=True, as_nobody=False):
        """`as_nobody`: the launcher runs as an ordinary user (helpers.unprivileged: nobody
        when the tests run as root, the tests' own user otherwise)."""
        policy = ["-c", self.config] if config else []
        argv = [self.binary, "run", *policy, *options, "--", *cmd]
        return unprivileged(*argv) if as_nobody else argv

    def run(self, cmd, *options, config=True, as_nobody=False, env=None, input=None,
            timeout=60):
        """Run to completion; returns the CompletedProcess (text)."""
        done = subprocess.run(self.argv(cmd, options, config, as_nobody), capture_output=True,
                              text=True, timeout=timeout, env=env, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              cwd=self.dir)
        self.results.append(done)
        return done

    def popen(self, cmd, *options, env=None, **kw):
        """Start without waiting; stdout and stderr are pipes (text)."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(self.argv(cmd, options), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=self.dir,
                                **kw)
        self.procs.append(proc)
        return proc

    def problems(self):
        found = []
        for done in self.results:
            for marker in SANITIZER_MARKERS:
                if marker in done.stderr:
                    found.append(f"sanitizer report ({marker!r}) from {done.args}:\n"
                                 f"{done.stderr[-3000:]}")
                    break
        texts = [("stdout", d.stdout) for d in self.results]
        texts += [("stderr", d.stderr) for d in self.results]
        for name in sorted(os.listdir(self.out)):
            if name.endswith(".log"):
                with open(os.path.join(self.out, name), errors="replace") as f:
                    texts.append((f"--log {name}", f.read()))
        for where, text in texts:
            for secret in self.secrets:
                if secret and secret in text:
                    found.append(f"an upstream secret appears in a run's {where}")
        return found

    def close(self):
        for proc in self.procs:  # a launcher a failed test left running
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def read_log(path):
    """The non-empty lines of an access log (none when the file does not exist)."""
    try:
        with open(path) as f:
            return [line for line in f.read().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def matching(lines, regex):
    return [m for m in map(regex.search, lines) if m]
