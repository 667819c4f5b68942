# SPDX-License-Identifier: MIT
"""A command in a pseudo-terminal of the test's own, driven like a person at a keyboard.

    with PtyProcess(argv, env=tty_env()) as term:
        term.expect(b"sbx$ ")              # wait (bounded) for output
        term.send("echo hi\\r")            # type
        term.resize(50, 132)               # TIOCSWINSZ on the master: SIGWINCH to the foreground
        status = term.wait()               # bounded too

The command runs as the leader of a new session whose controlling terminal is the pty's slave;
its stdin, stdout and stderr are the slave unless a test passes something else (a pipe, a file,
subprocess.DEVNULL), so a test can give a command a controlling terminal while none of its
descriptors is one. Every wait has a deadline (a few seconds) and fails the test with the
transcript when it passes; close() (also at the end of a `with`) kills every process of the
session by its id and reaps the leader, so a test never leaves anything running.
"""

import errno
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time

PTY = object()  # "the pty's slave", the default for stdin, stdout and stderr
DEFAULT_TIMEOUT = 5.0
PROMPT = "sbx$ "


def tty_env(**extra):
    """A small, predictable environment for shells and REPLs in a pty: TERM=dumb (no escape
    sequences, no bracketed paste), the fixed prompt PROMPT, no history file, no inputrc,
    no Python startup file."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"),
        "HOME": "/",
        "TERM": "dumb",
        "LC_ALL": "C",
        "PS1": PROMPT,
        "PS2": "",
        "HISTFILE": "",
        "INPUTRC": "/dev/null",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(extra)
    return env


def line(text):
    """A regex for `text` as a whole line of terminal output (ended by \\n with any number
    of carriage returns before it: each terminal with output processing on adds one)."""
    return re.compile(re.escape(text.encode()) + rb"\r*\n")


def session_members(sid):
    """PIDs of the live processes whose session id is `sid`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state ppid pgrp session ...
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(name))
    return found


def read_pipe(stream, timeout=DEFAULT_TIMEOUT):
    """Everything up to EOF from a pipe of the command's (bytes), within `timeout`."""
    fd = stream.fileno()
    data = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"a pipe of the command was still open after {timeout} s; "
                                 f"read so far: {bytes(data[-2000:])!r}")
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                return bytes(data)
            data += chunk


class PtyProcess:
    """`argv` started in a fresh pty (rows x cols) as a session leader with the pty as its
    controlling terminal. `argv` may be a function of the pty's path (/dev/pts/N), for a
    command that has to name its own terminal."""

    def __init__(self, argv, *, env=None, cwd=None, rows=24, cols=80, stdin=PTY, stdout=PTY,
                 stderr=PTY):
        self.master, slave = os.openpty()
        try:
            self._set_winsize(slave, rows, cols)
            self.slave_name = os.ttyname(slave)
            self.slave_stat = os.fstat(slave)
            self.argv = list(argv(self.slave_name) if callable(argv) else argv)

            def become_controlling_terminal():
                # In the child, after setsid() (start_new_session) and before exec.
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

            self.proc = subprocess.Popen(
                self.argv, env=env, cwd=cwd, start_new_session=True,
                preexec_fn=become_controlling_terminal,
                stdin=slave if stdin is PTY else stdin,
                stdout=slave if stdout is PTY else stdout,
                stderr=slave if stderr is PTY else stderr)
        except BaseException:
            os.close(self.master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(self.master, False)
        self.output = bytearray()  # everything read from the master
        self.pos = 0               # expect() searches from here
        self.eof = False           # the master said EIO: no slave is open any more

    # -- output ---------------------------------------------------------------------------

    def _fill(self, timeout):
        """Read what is there, waiting up to `timeout` for something; False when nothing
        came (timeout or end of output)."""
        if self.eof:
            return False
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not ready:
            return False
        got = False
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except BlockingIOError:
                return got
            except OSError as exc:
                if exc.errno == errno.EIO:  # every slave descriptor is closed
                    self.eof = True
                    return got
                raise
            if not chunk:
                self.eof = True
                return got
            self.output += chunk
            got = True

    def expect(self, pattern, timeout=DEFAULT_TIMEOUT, what=None):
        """Wait until `pattern` (bytes, str or a compiled bytes regex) appears in the output
        after the last match; returns the match and moves past it."""
        if isinstance(pattern, str):
            pattern = pattern.encode()
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.output, self.pos)
            if found:
                self.pos = found.end()
                return found
            left = deadline - time.monotonic()
            if left <= 0 or (self.eof and not self._fill(0)):
                raise AssertionError(
                    f"{what or 'output'}: {regex.pattern!r} did not appear within {timeout} s"
                    f"{' (the terminal was closed)' if self.eof else ''}; "
                    f"{self.describe()}")
            self._fill(min(left, 0.2))

    def read_to_eof(self, timeout=DEFAULT_TIMEOUT):
        """Read until every slave descriptor is closed; returns all output from `pos`."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the terminal was still open after {timeout} s; "
                                     f"{self.describe()}")
            self._fill(min(left, 0.2))
        rest = bytes(self.output[self.pos:])
        self.pos = len(self.output)
        return rest

    def drain(self, seconds):
        """Keep reading for `seconds` (to collect whatever a command still prints)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._fill(deadline - time.monotonic())

    def text(self, start=0):
        """The output from `start` as text, without the terminal's carriage returns."""
        return self.output[start:].decode("utf-8", "replace").replace("\r", "")

    def describe(self):
        status = self.proc.poll()
        tail = self.text()[-2000:]
        return (f"command {self.argv!r}, "
                f"{'running' if status is None else f'exited with {status}'}; "
                f"its terminal showed (last 2000 characters):\n{tail}")

    # -- input and terminal ---------------------------------------------------------------

    def send(self, data, timeout=DEFAULT_TIMEOUT):
        """Type `data` (str or bytes)."""
        if isinstance(data, str):
            data = data.encode()
        deadline = time.monotonic() + timeout
        while data:
            _, ready, _ = select.select([], [self.master], [], 0.2)
            if ready:
                try:
                    data = data[os.write(self.master, data):]
                except BlockingIOError:
                    pass
            elif time.monotonic() > deadline:
                raise AssertionError(f"the terminal took no input for {timeout} s; "
                                     f"{self.describe()}")
            self._fill(0)  # never let the command block on a full output buffer

    @staticmethod
    def _set_winsize(fd, rows, cols):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def resize(self, rows, cols):
        """Resize the terminal, as a terminal emulator does: TIOCSWINSZ on the master (the
        kernel sends SIGWINCH to the terminal's foreground process group)."""
        self._set_winsize(self.master, rows, cols)

    def attrs(self):
        """The terminal's termios settings (on Linux, tcgetattr on the master reads the
        slave's)."""
        return termios.tcgetattr(self.master)

    # -- the process ----------------------------------------------------------------------

    def wait(self, timeout=DEFAULT_TIMEOUT):
        """The leader's exit status (negative for a signal), reading output meanwhile."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"still running after {timeout} s; {self.describe()}")
            if not self._fill(min(left, 0.05)):
                time.sleep(0.01 if self.eof else 0)
        return self.proc.returncode

    def close(self):
        """Kill every process of the session (by PID), reap the leader, close the master."""
        sid = self.proc.pid
        for _ in range(3):
            victims = session_members(sid)
            if self.proc.poll() is None and sid not in victims:
                victims.append(sid)
            if not victims:
                break
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        try:
            self.proc.wait(timeout=DEFAULT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
