# SPDX-License-Identifier: MIT
"""Running the real sluice binary: write a config, start `sluice serve`, find its ports, read its
access log, stop it and judge how it ended.

A proxy that crashed, exited non-zero on SIGTERM, printed a sanitizer report, or wrote a
password or an Authorization value into its log or output fails the test that used it.
"""

import os
import re
import signal
import subprocess
import time

LISTEN_RE = re.compile(r"^sluice: listening on (\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+)\s*$")
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "AddressSanitizer:DEADLYSIGNAL",
    "runtime error:",
    "UndefinedBehaviorSanitizer",
)
SEED_DOMAINS = ("api.anthropic.com", "generativelanguage.googleapis.com", "api.replicate.com")


def squid_line_re(tag, target, user, hier, mime, client="127.0.0.1", extra=None):
    """A regex for one Squid native log line
    `%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt`, CONNECT only, with
    `extra` as one more last field when given. Groups: ts, elapsed, bytes."""
    return re.compile(
        r"^(?P<ts>\d+\.\d{3}) +(?P<elapsed>\d+) " + re.escape(client) + " " + re.escape(tag)
        + r" (?P<bytes>\d+) CONNECT " + re.escape(target) + " " + re.escape(user) + " "
        + re.escape(hier) + " " + re.escape(mime)
        + ("" if extra is None else " " + re.escape(extra)) + "$")


def tunnel_line_re(target, user="agent", upstream="127.0.0.1", client="127.0.0.1"):
    """The line of a tunnel to `target` (host:port) that connected to `upstream`."""
    return squid_line_re("TCP_TUNNEL/200", target, user, f"HIER_DIRECT/{upstream}", "-", client)


def denied_line_re(status, target, code, user="agent", client="127.0.0.1"):
    """The line of a 403/407 refusal. The README documents the sluice error code as an extra
    last field after Squid's %mt (the issue asks for "the same reason in the log")."""
    return squid_line_re(f"TCP_DENIED/{status}", target, user, "HIER_NONE/-", "text/plain",
                         client, extra=code)


def write_config(path, *, listen=("127.0.0.1:0",), users=None, allow=SEED_DOMAINS,
                 connect_ports=(443,), allow_cidr=("127.0.0.0/8",), hosts_file=None,
                 dns_server=None, access_log=None, extra=()):
    """Write a sluice.conf; a directive whose value is None or empty is left out."""
    lines = ["# written by the sluice integration tests"]
    lines += [f"listen {addr}" for addr in listen]
    if users:
        lines.append(f"users {users}")
    if allow:
        lines.append("allow " + " ".join(allow))
    if connect_ports:
        lines.append("connect_ports " + " ".join(str(p) for p in connect_ports))
    if allow_cidr:
        lines.append("allow_cidr " + " ".join(allow_cidr))
    if hosts_file:
        lines.append(f"hosts_file {hosts_file}")
    if dns_server:
        lines.append(f"dns_server {dns_server}")
    if access_log:
        lines.append(f"access_log {access_log}")
    lines += list(extra)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_hosts(path, mapping):
    """Write an /etc/hosts-format file from {name: address}."""
    with open(path, "w") as f:
        f.write("# written by the sluice integration tests\n")
        for name, addr in mapping.items():
            f.write(f"{addr}\t{name}\n")
    return path


class ProxyFailed(Exception):
    pass


class Proxy:
    """One `sluice serve` process. `prefix` runs it under another command (`ip netns exec`)."""

    def __init__(self, binary, workdir, config_path, *, access_log=None, user=None,
                 password=None, secrets=(), prefix=(), nlisten=1):
        self.binary = binary
        self.workdir = workdir
        self.config_path = config_path
        self.access_log = access_log
        self.user = user
        self.password = password
        self.secrets = [s for s in secrets if s]
        self.prefix = list(prefix)
        self.args = []  # more arguments for `sluice serve` (e.g. ["-d"])
        self.nlisten = nlisten
        self.stdout_path = os.path.join(workdir, "sluice.stdout")
        self.stderr_path = os.path.join(workdir, "sluice.stderr")
        self.proc = None
        self.listeners = []
        self.start_failed = False  # already reported by start(): stop() does not repeat it
        self.exit_awaited = False  # a test made it exit (wait_exit) and judged the status

    # -- process ---------------------------------------------------------------------------

    def start(self, timeout=30.0):
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [*self.prefix, self.binary, "serve", "-c", self.config_path, *self.args],
                # cwd "/" so that a relative path resolved against the working directory
                # instead of the config file's directory would be wrong.
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd="/")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.listeners = [
                (m.group(1).strip("[]"), int(m.group(2)))
                for m in map(LISTEN_RE.match, self.stderr().splitlines()) if m]
            if len(self.listeners) >= self.nlisten:
                return self
            if self.proc.poll() is not None:
                self.start_failed = True
                raise ProxyFailed(f"sluice serve exited with {self.proc.returncode} before "
                                  f"listening:\n{self.stderr()}")
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        self.start_failed = True
        raise ProxyFailed(f"sluice serve printed no 'listening on' line within {timeout}s:\n"
                          f"{self.stderr()}")

    def stop(self, timeout=30.0):
        """Stop with SIGTERM; return a list of problems (empty when all went well)."""
        problems = []
        if self.proc is None:
            return problems
        if self.start_failed:
            pass
        elif self.proc.poll() is not None:
            if not self.exit_awaited:
                problems.append(f"sluice exited on its own during the test with status "
                                f"{self.proc.returncode}")
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append(f"sluice did not exit within {timeout}s of SIGTERM")
            if self.proc.returncode != 0:
                problems.append(f"sluice exited with status {self.proc.returncode} after "
                                f"SIGTERM (expected 0)")
        err = self.stderr()
        for marker in SANITIZER_MARKERS:
            if marker in err:
                problems.append(f"sanitizer report in stderr ({marker!r})")
                break
        for where, text in (("access log", self.log_text()), ("stdout", self.stdout()),
                            ("stderr", err)):
            for secret in self.secrets:
                if secret in text:
                    problems.append(f"a password or Authorization value appears in the {where}")
        return problems

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self):
        return self.proc.pid

    def send_signal(self, sig):
        """Send `sig` (signal.SIGHUP, SIGUSR1, SIGTERM, ...) to the running proxy."""
        assert self.running, f"sluice is not running (status {self.proc.returncode})"
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        """Wait up to `timeout` seconds for a proxy the test told to exit; returns its exit
        status (None if it is still running). Teardown then leaves the status to the test
        but still checks stderr for sanitizer reports and every output for secrets."""
        self.exit_awaited = True
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_stderr(self, regex, count=1, timeout=20.0):
        """Poll stderr until `count` lines match `regex` (str or compiled); return the
        matches. Fails with the whole stderr when they do not appear in time."""
        pattern = re.compile(regex) if isinstance(regex, str) else regex
        deadline = time.monotonic() + timeout
        while True:
            matches = [m for m in map(pattern.search, self.stderr().splitlines()) if m]
            if len(matches) >= count:
                return matches
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} stderr line(s) of sluice matching\n  {pattern.pattern}\n"
                    f"found {len(matches)} within {timeout}s; its stderr:\n{self.stderr()}")
            time.sleep(0.02)

    # -- addresses ---------------------------------------------------------------------------

    @property
    def host(self):
        return self.listeners[0][0]

    @property
    def port(self):
        return self.listeners[0][1]

    def url(self, user=None, password=None, host=None, port=None):
        """http://user:password@host:port of the first listener (the fixture's credentials by
        default; pass user="" for no credentials)."""
        user = self.user if user is None else user
        password = self.password if password is None else password
        host = host or self.host
        hostpart = f"[{host}]" if ":" in host else host
        auth = f"{user}:{password}@" if user else ""
        return f"http://{auth}{hostpart}:{port or self.port}"

    # -- output --------------------------------------------------------------------------------

    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def stderr(self):
        return self._read(self.stderr_path)

    def stdout(self):
        return self._read(self.stdout_path)

    def log_text(self):
        if self.access_log in (None, "stdout", "off"):
            return self.stdout() if self.access_log == "stdout" else ""
        return self._read(self.access_log)

    def log_lines(self):
        return [line for line in self.log_text().splitlines() if line.strip()]

    def wait_log(self, regex, timeout=20.0, count=1):
        """Poll the access log until `count` lines match `regex` (a str or compiled pattern);
        return the matches. Fails the test with the whole log when they do not appear."""
        pattern = re.compile(regex) if isinstance(regex, str) else regex
        deadline = time.monotonic() + timeout
        while True:
            matches = [m for m in map(pattern.search, self.log_lines()) if m]
            if len(matches) >= count:
                return matches
            if time.monotonic() > deadline:
                lines = self.log_lines()
                shown = "\n".join(lines[-30:])
                raise AssertionError(
                    f"expected {count} access-log line(s) matching\n  {pattern.pattern}\n"
                    f"found {len(matches)} within {timeout}s; last lines of the log "
                    f"({len(lines)} in all):\n{shown}")
            time.sleep(0.05)


def run_cli(binary, *args, timeout=60, cwd=None):
    """Run `sluice ARGS...` to completion; returns the CompletedProcess (text)."""
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=cwd)
