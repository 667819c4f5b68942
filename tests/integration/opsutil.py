# SPDX-License-Identifier: MIT
"""Helpers for the "operating sluice" tests (test_ops_*.py): users-file lines made by Apache's
htpasswd, file replacement the way editors and secret managers do it, editing directives of
a running proxy's configuration, and reading the reload lines sluice prints on stderr.

A successful reload prints one summary line:
  sluice: reload: +N pattern(s), -N pattern(s), +N user(s), -N user(s), +N hash(es),
  -N hash(es), +N listener(s), -N listener(s)
a refused one `sluice: reload (SIGHUP|files changed) failed: FILE:LINE: message` and then
`sluice: reload: the previous configuration stays in force`.
"""

import os
import re
import socket
import subprocess
import time

RELOAD_RE = re.compile(
    r"^sluice: reload: \+(?P<add_patterns>\d+) patterns?, -(?P<del_patterns>\d+) patterns?, "
    r"\+(?P<add_users>\d+) users?, -(?P<del_users>\d+) users?, "
    r"\+(?P<add_hashes>\d+) hash(?:es)?, -(?P<del_hashes>\d+) hash(?:es)?, "
    r"\+(?P<add_listeners>\d+) listeners?, -(?P<del_listeners>\d+) listeners?$")
RELOAD_FAILED_RE = re.compile(
    r"^sluice: reload \((?P<why>SIGHUP|files changed)\) failed: (?P<msg>.*)$")
KEPT_RE = re.compile(r"^sluice: reload: the previous configuration stays in force$")


def plural(n, word, suffix="s"):
    return f"{n} {word}{'' if n == 1 else suffix}"


def reload_summary(patterns=(0, 0), users=(0, 0), hashes=(0, 0), listeners=(0, 0)):
    """The exact summary line for the given (added, removed) pairs."""
    return ("sluice: reload: "
            f"+{plural(patterns[0], 'pattern')}, -{plural(patterns[1], 'pattern')}, "
            f"+{plural(users[0], 'user')}, -{plural(users[1], 'user')}, "
            f"+{plural(hashes[0], 'hash', 'es')}, -{plural(hashes[1], 'hash', 'es')}, "
            f"+{plural(listeners[0], 'listener')}, -{plural(listeners[1], 'listener')}")


def htpasswd_line(user, password, algorithm="-B"):
    """One users-file line `user:hash` made by `htpasswd -n -i` (the password goes through
    stdin, never a command line). `algorithm`: -B bcrypt (reads only the first 72 bytes of
    a password), -5 SHA-512 crypt."""
    done = subprocess.run(["htpasswd", algorithm, "-i", "-n", user], input=password.encode(),
                          capture_output=True, timeout=60)
    assert done.returncode == 0, f"htpasswd failed for user {user!r}: {done.stderr!r}"
    line = done.stdout.decode().strip()
    assert line.startswith(f"{user}:$"), line
    return line


def write_in_place(path, text):
    """Rewrite `path` in place (open with O_TRUNC, write, close), as `echo >` does."""
    with open(path, "w") as f:
        f.write(text)


def replace_file(path, text):
    """Replace `path` by renaming a new file over it, as editors, Kubernetes secret updates
    and `install` do: the directory entry changes, the old inode is never written."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    try:
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
    except FileNotFoundError:
        pass
    os.replace(tmp, path)


def read_directives(config_path):
    with open(config_path) as f:
        return f.read().splitlines()


def edit_config(config_path, changes, *, writer=replace_file):
    """Rewrite the configuration: for each directive in `changes` drop all its lines and add
    one line per value (`changes["listen"] = ["127.0.0.1:1234"]`; [] removes it). Raw
    `changes[None] = [lines]` are appended as they are."""
    kept = [line for line in read_directives(config_path)
            if not (line.split() and line.split()[0] in changes)]
    for directive, values in changes.items():
        if directive is None:
            kept += list(values)
        else:
            kept += [f"{directive} {value}" for value in values]
    writer(config_path, "\n".join(kept) + "\n")


def reload_lines(proxy):
    """The summary lines of the successful reloads so far."""
    return [line for line in proxy.stderr().splitlines() if RELOAD_RE.match(line)]


def failed_reload_lines(proxy):
    return [m for m in map(RELOAD_FAILED_RE.match, proxy.stderr().splitlines()) if m]


def wait_reload(proxy, before, timeout=20.0):
    """Wait until more than `before` reloads succeeded; return the summary line of the first
    new one. Fails (with sluice's stderr) on a failed reload or when none comes in time."""
    deadline = time.monotonic() + timeout
    failed_before = len(failed_reload_lines(proxy))
    while True:
        lines = reload_lines(proxy)
        if len(lines) > before:
            return lines[before]
        if len(failed_reload_lines(proxy)) > failed_before:
            raise AssertionError(f"the reload failed; sluice's stderr:\n{proxy.stderr()}")
        if not proxy.running:
            raise AssertionError(f"sluice exited (status {proxy.proc.returncode}) instead of "
                                 f"reloading; its stderr:\n{proxy.stderr()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no reload within {timeout}s; sluice's stderr:\n"
                                 f"{proxy.stderr()}")
        time.sleep(0.02)


def serving(proxy):
    """Return once the proxy's event loop serves requests. sluice prints "listening on"
    before it starts watching its files; a file changed in between would go unnoticed, so
    a test that changes a file right after the start calls this first."""
    with socket.create_connection((proxy.host, proxy.port), timeout=30) as s:
        s.sendall(b"CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\n\r\n")
        assert s.recv(12).startswith(b"HTTP/1.1 "), "no answer from the proxy"


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on right now (the session's network namespace is private,
    so nothing else takes it before the proxy binds it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def connection_refused(port, host="127.0.0.1"):
    """True when a TCP connect to host:port is refused (no listener)."""
    try:
        with socket.create_connection((host, port), timeout=10):
            return False
    except ConnectionRefusedError:
        return True


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
