# SPDX-License-Identifier: MIT
"""`sluice run` and terminals: when any of its stdin, stdout or stderr is a terminal, the
command gets a pseudo-terminal of its own (from a private devpts instance inside the sandbox)
as controlling terminal, and the launcher relays bytes between it and the real terminal. So
interactive programs work (bash, the Python REPL, Ctrl-C, window size), the real terminal is
raw while the command runs and restored exactly afterwards, and the command can neither reach
the launcher's terminal (by /dev/tty or by its /dev/pts/N path) nor push input into it: ioctl
TIOCSTI and TIOCLINUX fail with EPERM on any descriptor, reported once per run.

The original attack (the reason for all this) is reproduced as it was: an interactive bash in
a pty runs `sluice run -- python3 inner.py`, inner.py pushes a shell command into its terminal
with TIOCSTI, and after the run the outer bash must not execute it; a control shows that the
very same push without sluice does reach the listener the pushed command connects to.

Terminals are driven with ptydriver.PtyProcess (bounded waits; every process it starts is
killed and reaped); shells run as `bash --norc --noprofile -i` with TERM=dumb and a fixed
prompt.
"""

import json
import os
import re
import secrets
import select
import shlex
import socket
import subprocess
import termios
import time

import pytest

from ptydriver import PROMPT, PtyProcess, line, read_pipe, tty_env
from sluicerun import DENIAL_RE, PYTHON, python

BASH = ["bash", "--norc", "--noprofile", "-i"]
LEGACY_TIOCSTI = "/proc/sys/dev/tty/legacy_tiocsti"

# Checks run inside (and, as controls, outside) the sandbox. Each writes one JSON object to
# the file named by its last argument, so the result does not depend on where stdout goes.

TERMINAL_PROBE = r"""
import errno, fcntl, json, os, stat, struct, sys

TIOCGSID = 0x5429  # the session whose controlling terminal fd is (ENOTTY: not ours)

def name(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno))

result = {"fds": {}, "sid": os.getsid(0), "pid": os.getpid()}
for fd in (0, 1, 2):
    st = os.fstat(fd)
    entry = {"tty": os.isatty(fd), "dev": st.st_dev, "rdev": st.st_rdev, "ino": st.st_ino,
             "fifo": stat.S_ISFIFO(st.st_mode)}
    if entry["tty"]:
        entry["name"] = os.ttyname(fd)
        try:
            entry["tcgetsid"] = struct.unpack("i", fcntl.ioctl(fd, TIOCGSID, b"\0" * 4))[0]
        except OSError as exc:
            entry["tcgetsid"] = name(exc)
    result["fds"][fd] = entry
try:
    os.close(os.open("/dev/tty", os.O_RDWR))
    result["dev_tty"] = None
except OSError as exc:
    result["dev_tty"] = name(exc)
with open("/proc/self/stat") as f:
    result["tty_nr"] = int(f.read().rsplit(")", 1)[1].split()[4])
with open(sys.argv[-1], "w") as f:
    json.dump(result, f)
"""

IOCTL_PROBE = r"""
import ctypes, errno, json, os, sys

REQUESTS = {"TIOCSTI": 0x5412, "TIOCLINUX": 0x541C}
SYS_IOCTL = {"x86_64": 16, "aarch64": 29}[os.uname().machine]
request, kind, times, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if kind.startswith("terminal"):
    fd = 0
elif kind == "devnull":
    fd = os.open("/dev/null", os.O_RDWR)
elif kind == "pipe":
    fd = os.pipe()[0]
else:
    raise SystemExit("unknown kind " + kind)
cmd = REQUESTS[request]
if kind.endswith("high-bits"):
    # The kernel reads the request as an unsigned int: this is the very same ioctl.
    cmd |= 0xFFFFFFFF00000000
# TIOCSTI: push a harmless "#" (no one reads this terminal's input); TIOCLINUX: subcode 6,
# TIOCL_GETSHIFTSTATE.
arg = ctypes.create_string_buffer(b"\x06" if request == "TIOCLINUX" else b"#")
libc = ctypes.CDLL(None, use_errno=True)
results = []
for _ in range(times):
    rc = libc.syscall(ctypes.c_long(SYS_IOCTL), ctypes.c_long(fd), ctypes.c_ulong(cmd), arg)
    err = ctypes.get_errno()
    results.append(None if rc == 0 else errno.errorcode.get(err, str(err)))
with open(out, "w") as f:
    json.dump(results, f)
"""

PTS_PROBE = r"""
import errno, json, os, sys

path, out = sys.argv[1], sys.argv[2]
result = {"listing": sorted(os.listdir("/dev/pts")) if os.path.isdir("/dev/pts") else None}
try:
    os.stat(path)
    result["stat"] = None
except OSError as exc:
    result["stat"] = errno.errorcode.get(exc.errno, str(exc.errno))
try:
    os.close(os.open(path, os.O_RDWR | os.O_NOCTTY))
    result["open"] = None
except OSError as exc:
    result["open"] = errno.errorcode.get(exc.errno, str(exc.errno))
with open(out, "w") as f:
    json.dump(result, f)
"""

# The attack: push a shell command into the terminal, one character at a time.
INNER_PY = r"""
import errno, fcntl, termios

PAYLOAD = "exec 3<>/dev/tcp/127.0.0.1/%d; echo ESCAPED >&3\n"
outcomes = set()
for ch in PAYLOAD:
    try:
        fcntl.ioctl(0, termios.TIOCSTI, ch.encode())
        outcomes.add("ok")
    except OSError as exc:
        outcomes.add(errno.errorcode.get(exc.errno, str(exc.errno)))
print("pushed: " + ",".join(sorted(outcomes)), flush=True)
"""
PUSHED_RE = re.compile(rb"pushed: ([A-Za-z,]+)\r*\n")


@pytest.fixture
def terminal(sandbox):
    """Factory for PtyProcess objects, all closed (their processes killed and reaped) at
    teardown; the transcripts join the sandbox's results, so the fixture's sanitizer check
    covers them."""
    started = []

    def start(argv, **kw):
        kw.setdefault("env", tty_env())
        kw.setdefault("cwd", sandbox.dir)
        term = PtyProcess(argv, **kw)
        started.append(term)
        return term

    yield start
    for term in started:
        term.close()
        sandbox.results.append(subprocess.CompletedProcess(
            term.argv, term.proc.returncode, stdout=term.text(), stderr=""))


def out_path(sandbox, name):
    """A fresh path in the sandbox's writable out/ directory (the same path inside)."""
    return os.path.join(sandbox.out, f"{name}-{secrets.token_hex(4)}.json")


def read_json(path):
    assert os.path.exists(path), f"the probe wrote no result to {path}"
    with open(path) as f:
        return json.load(f)


def echo_marker(term, tag):
    """Type a command that prints `tag` (quoted so the typed line does not contain it) and
    wait for its output: everything typed before has been dealt with."""
    term.send(f'echo "{tag[:1]}""{tag[1:]}"\r')
    term.expect(line(tag), what=f"the shell's answer to the marker {tag}")


def sleeps_with(token):
    """Host PIDs of live `sleep 100` processes whose environment holds TTY_TEST_TOKEN=token."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            with open(f"/proc/{name}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if argv[:2] == [b"sleep", b"100"] and f"TTY_TEST_TOKEN={token}".encode() in environ \
                and state != "Z":
            found.append(int(name))
    return found


def wait_until(predicate, timeout, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Listener:
    """A TCP listener on 127.0.0.1 in the test's own network namespace, which the sandbox
    cannot reach: whatever arrives came from outside the sandbox."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.data = b""
        self._conns = []

    def collect(self, seconds, until=None):
        """Accept and read for `seconds`, or until the bytes `until` have arrived; returns
        (connections accepted so far, bytes received so far)."""
        deadline = time.monotonic() + seconds
        while not (until and until in self.data):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self.sock, *self._conns], [], [], min(0.1, left))
            for sock in ready:
                if sock is self.sock:
                    try:
                        conn, _ = self.sock.accept()
                    except BlockingIOError:
                        continue
                    conn.setblocking(False)
                    self._conns.append(conn)
                    self.accepted += 1
                    continue
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                if chunk:
                    self.data += chunk
                else:
                    self._conns.remove(sock)
                    sock.close()
        return self.accepted, self.data

    def close(self):
        for conn in self._conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def listener(isolated_network):
    server = Listener()
    yield server
    server.close()


# -- the attack ---------------------------------------------------------------------------


def legacy_tiocsti_disabled():
    try:
        with open(LEGACY_TIOCSTI) as f:
            return f.read().strip() == "0"
    except FileNotFoundError:  # before Linux 6.2 there is no such switch
        return False


def push_attack(terminal, sandbox, listener, command):
    """An interactive bash in a pty runs `command(inner.py)` (inner.py pushes the payload
    into its terminal with TIOCSTI), then one more line of its own. Returns what inner.py
    reported, the exit status of the command line and the transcript; by then the outer bash
    has read and run whatever was waiting in its terminal's input, pushed lines included."""
    inner = os.path.join(sandbox.dir, "inner.py")
    with open(inner, "w") as f:
        f.write(INNER_PY % listener.port)
    os.chmod(inner, 0o644)
    outer = terminal(BASH)
    outer.expect(PROMPT, what="the outer bash's first prompt")

    outer.send(shlex.join(command(inner)) + '; echo "STATUS=$?"\r')
    pushed = outer.expect(PUSHED_RE, timeout=20, what="inner.py's report")[1].decode()
    status = int(outer.expect(re.compile(rb"STATUS=(\d+)"), what="the exit status")[1])
    # A pushed line would be read (and run) before this one.
    echo_marker(outer, "AFTERWARDS")
    return pushed, status, outer.text()


def test_a_sandboxed_command_cannot_push_a_command_into_the_outer_shell(terminal, sandbox,
                                                                      listener):
    pushed, status, transcript = push_attack(
        terminal, sandbox, listener,
        lambda inner: [sandbox.binary, "run", "--allow", "example.com", "--", PYTHON, "-B",
                       inner])
    accepted, data = listener.collect(3.0)

    assert (accepted, data) == (0, b""), "the outer bash ran the pushed command"
    assert pushed == "EPERM"
    assert status == 0
    # One refused push per character, one report (on the terminal, the launcher's stderr).
    assert len(re.findall(r"sluice: denied ioctl TIOCSTI \(", transcript)) == 1, transcript


def test_without_sluice_the_same_push_runs_in_the_outer_shell(terminal, sandbox, listener):
    # The control: the attack works when nothing is in between, so the test above can fail.
    if legacy_tiocsti_disabled():
        pytest.skip(f"{LEGACY_TIOCSTI} is 0: this kernel refuses TIOCSTI without "
                    "CAP_SYS_ADMIN")
    pushed, status, _ = push_attack(terminal, sandbox, listener,
                                    lambda inner: [PYTHON, "-B", inner])
    accepted, data = listener.collect(5.0, until=b"ESCAPED\n")

    assert pushed == "ok"
    assert status == 0
    assert accepted == 1 and data == b"ESCAPED\n", (accepted, data)


# -- which terminal the command has -------------------------------------------------------

STDIO_KINDS = {
    "all three": ("pty", "pty", "pty"),
    "stdin only": ("pty", "pipe", "pipe"),
    "stdout only": ("devnull", "pty", "pipe"),
    "stderr only": ("devnull", "pipe", "pty"),
}
_STDIO = {"pty": None, "pipe": subprocess.PIPE, "devnull": subprocess.DEVNULL}


@pytest.mark.parametrize("terminals", STDIO_KINDS.values(), ids=STDIO_KINDS.keys())
def test_each_terminal_descriptor_becomes_a_private_controlling_pty(terminal, sandbox,
                                                                   terminals):
    out = out_path(sandbox, "terminal")
    kw = {name: _STDIO[kind] for name, kind in zip(("stdin", "stdout", "stderr"), terminals)
          if kind != "pty"}
    term = terminal(sandbox.argv(python("-c", TERMINAL_PROBE, out)), **kw)
    status = term.wait(timeout=20)
    pipes = {fd: (stream, os.fstat(stream.fileno()).st_ino)
             for fd, stream in ((1, term.proc.stdout), (2, term.proc.stderr)) if stream}
    piped = b"".join(read_pipe(stream) for stream, _ in pipes.values())

    assert status == 0, (term.describe(), piped)
    inside = read_json(out)
    fds = {int(fd): entry for fd, entry in inside["fds"].items()}
    ttys = [fd for fd, kind in enumerate(terminals) if kind == "pty"]
    for fd, kind in enumerate(terminals):
        entry = fds[fd]
        if kind == "pty":
            assert entry["tty"] and entry["name"].startswith("/dev/pts/"), (fd, entry)
            # Not the launcher's terminal: a pty of another devpts instance.
            assert entry["dev"] != term.slave_stat.st_dev, (fd, entry)
            # The controlling terminal of the command's session.
            assert entry["tcgetsid"] == inside["sid"], (fd, entry, inside["sid"])
        elif kind == "pipe":
            assert not entry["tty"] and entry["fifo"], (fd, entry)
            assert entry["ino"] == pipes[fd][1], (fd, entry)  # the very pipe given to sluice
        else:
            assert not entry["tty"] and entry["rdev"] == os.makedev(1, 3), (fd, entry)
    assert len({(fds[fd]["dev"], fds[fd]["rdev"]) for fd in ttys}) == 1, fds  # one pty
    assert inside["dev_tty"] is None  # /dev/tty is that pty


def test_without_a_terminal_descriptor_dev_tty_cannot_be_opened_inside(terminal, sandbox):
    # The launcher has a controlling terminal, but none of its descriptors 0-2 is one.
    out = out_path(sandbox, "notty")
    term = terminal(sandbox.argv(python("-c", TERMINAL_PROBE, out)), stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    status = term.wait(timeout=20)
    read_pipe(term.proc.stdout)
    stderr = read_pipe(term.proc.stderr)

    assert status == 0, stderr
    inside = read_json(out)
    assert inside["dev_tty"] == "ENXIO"
    assert inside["tty_nr"] == 0  # no controlling terminal
    # Its own session: the leader is inside the sandbox (an outside one would read as 0).
    assert inside["sid"] != 0
    assert not any(entry["tty"] for entry in inside["fds"].values())


def test_without_sluice_the_same_command_opens_dev_tty(terminal, sandbox):
    # The control: in the same situation, outside, /dev/tty is the launcher's terminal.
    out = out_path(sandbox, "notty-outside")
    term = terminal(python("-c", TERMINAL_PROBE, out), stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    status = term.wait(timeout=20)
    read_pipe(term.proc.stdout)
    stderr = read_pipe(term.proc.stderr)

    assert status == 0, stderr
    outside = read_json(out)
    assert outside["dev_tty"] is None
    assert outside["tty_nr"] == term.slave_stat.st_rdev


@pytest.fixture
def pty_above_zero():
    """Holds one pty open, so the test's own terminal is /dev/pts/N with N >= 1 (a private
    devpts instance inside numbers its first pty 0, which would be a different terminal of
    the same name)."""
    master, slave = os.openpty()
    yield
    os.close(master)
    os.close(slave)


def test_the_launchers_terminal_does_not_exist_inside(terminal, sandbox, pty_above_zero):
    out = out_path(sandbox, "pts")
    term = terminal(lambda tty: sandbox.argv(python("-c", PTS_PROBE, tty, out)))
    status = term.wait(timeout=20)

    assert status == 0, term.describe()
    inside = read_json(out)
    assert inside["stat"] == "ENOENT", (term.slave_name, inside)
    assert inside["open"] == "ENOENT", (term.slave_name, inside)


def test_without_sluice_the_terminal_is_there_by_its_path(terminal, sandbox, pty_above_zero):
    out = out_path(sandbox, "pts-outside")
    term = terminal(lambda tty: python("-c", PTS_PROBE, tty, out))
    status = term.wait(timeout=20)

    assert status == 0, term.describe()
    outside = read_json(out)
    assert (outside["stat"], outside["open"]) == (None, None), (term.slave_name, outside)


# -- TIOCSTI and TIOCLINUX ----------------------------------------------------------------

IOCTL_CASES = [(request, kind) for request in ("TIOCSTI", "TIOCLINUX")
               for kind in ("terminal", "terminal-high-bits", "devnull", "pipe")]


@pytest.mark.parametrize("request_name, kind", IOCTL_CASES)
def test_the_ioctl_fails_with_eperm_inside(terminal, sandbox, request_name, kind):
    # fd 0 is the command's terminal; "high-bits": the request with its upper 32 bits set,
    # which the kernel ignores (a filter comparing 64 bits would let it through).
    out = out_path(sandbox, "ioctl")
    term = terminal(sandbox.argv(python("-c", IOCTL_PROBE, request_name, kind, "3", out)))
    status = term.wait(timeout=20)

    assert status == 0, term.describe()
    assert read_json(out) == ["EPERM"] * 3


@pytest.mark.parametrize("request_name, kind", IOCTL_CASES)
def test_outside_the_same_ioctl_is_not_refused_with_eperm(terminal, sandbox, request_name,
                                                          kind):
    # The control: EPERM inside comes from the sandbox, not from the kernel or the probe.
    out = out_path(sandbox, "ioctl-outside")
    term = terminal(python("-c", IOCTL_PROBE, request_name, kind, "1", out))
    status = term.wait(timeout=20)

    assert status == 0, term.describe()
    (outcome,) = read_json(out)
    assert outcome != "EPERM"
    if request_name == "TIOCSTI" and kind.startswith("terminal"):
        assert outcome is None  # root may push into its own terminal


def ioctl_reports(stderr):
    """The `sluice: denied ioctl NAME (reason)` lines of a run's stderr, as (NAME, reason)."""
    return [(m["target"], m["reason"]) for m in map(DENIAL_RE.search, stderr.splitlines())
            if m and m["verb"] == "denied" and m["method"] == "ioctl"]


@pytest.mark.parametrize("request_name", ["TIOCSTI", "TIOCLINUX"])
def test_a_refused_ioctl_is_reported_once_per_run(sandbox, request_name):
    out = out_path(sandbox, "ioctl-report")

    done = sandbox.run(python("-c", IOCTL_PROBE, request_name, "devnull", "3", out))

    assert done.returncode == 0, done.stderr
    assert read_json(out) == ["EPERM"] * 3
    reported = ioctl_reports(done.stderr)
    assert len(reported) == 1 and reported[0][0] == request_name, done.stderr
    assert reported[0][1].strip(), done.stderr  # a reason in the parentheses


@pytest.mark.parametrize("request_name", ["TIOCSTI", "TIOCLINUX"])
def test_quiet_silences_the_ioctl_report(sandbox, request_name):
    out = out_path(sandbox, "ioctl-quiet")

    done = sandbox.run(python("-c", IOCTL_PROBE, request_name, "devnull", "3", out), "-q")

    assert done.returncode == 0, done.stderr
    assert read_json(out) == ["EPERM"] * 3
    assert ioctl_reports(done.stderr) == [], done.stderr
    assert request_name not in done.stderr, done.stderr


# -- interactive programs -----------------------------------------------------------------


def test_interactive_bash_runs_a_command_and_prints_its_output(terminal, sandbox):
    term = terminal(sandbox.argv(BASH))
    term.expect(PROMPT, timeout=20, what="bash's prompt")
    term.send("echo $((1000+234))\r")
    term.expect(line("1234"), what="the command's output")
    term.expect(PROMPT, what="the next prompt")
    term.send("exit 7\r")
    status = term.wait()

    assert status == 7
    # bash found a controlling terminal it can manage jobs on.
    assert "no job control" not in term.text()
    assert "cannot set terminal process group" not in term.text()


def test_ctrl_c_interrupts_sleep_and_bash_lives_on(terminal, sandbox):
    token = secrets.token_hex(8)
    term = terminal(sandbox.argv(BASH), env=tty_env(TTY_TEST_TOKEN=token))
    term.expect(PROMPT, timeout=20, what="bash's prompt")
    term.send("sleep 100\r")
    assert wait_until(lambda: sleeps_with(token), 5), "sleep 100 did not start"

    term.send(b"\x03")
    gone = wait_until(lambda: not sleeps_with(token), 5)
    term.send('echo "status=$?"\r')
    interrupted = term.expect(re.compile(rb"status=(\d+)\r*\n"), what="sleep's status")[1]
    echo_marker(term, "ALIVE")  # bash still answers
    term.send("exit 0\r")
    status = term.wait()

    assert gone, "Ctrl-C did not end sleep 100"
    assert interrupted == b"130"  # 128 + SIGINT
    assert status == 0


def test_the_python_repl_evaluates_an_expression(terminal, sandbox):
    term = terminal(sandbox.argv(python("-q")))
    term.expect(">>> ", timeout=20, what="the REPL's prompt")
    term.send("12345 * 2\r")
    term.expect(line("24690"), what="the value")
    term.expect(">>> ")
    term.send("raise SystemExit(5)\r")

    assert term.wait() == 5


def test_stty_size_follows_a_resize_of_the_outer_terminal(terminal, sandbox):
    script = 'stty size; echo READY; while read line; do echo "SIZE $(stty size)"; done'
    term = terminal(sandbox.argv(["sh", "-c", script]), rows=31, cols=97)
    first = term.expect(re.compile(rb"(\d+) (\d+)\r*\nREADY\r*\n"), timeout=20)
    seen = [(int(first[1]), int(first[2]))]

    for size in ((52, 141), (40, 100)):  # every resize, not only the first
        term.resize(*size)
        deadline = time.monotonic() + 5
        while seen[-1] != size and time.monotonic() < deadline:
            term.send("\r")
            answer = term.expect(re.compile(rb"SIZE (\d+) (\d+)\r*\n"))
            seen.append((int(answer[1]), int(answer[2])))
    term.send(b"\x04")
    status = term.wait()

    assert seen[0] == (31, 97)  # copied at start
    assert (52, 141) in seen and seen[-1] == (40, 100), seen
    assert status == 0


OUTER_SCRIPT = ('stty erase ^H -ixon; echo "BEFORE $(stty -g)"; "$@"; echo "STATUS $?"; '
                'echo "AFTER $(stty -g)"')
RUN_ENDINGS = {
    "exits": ('echo RUNNING; read line; echo "got-$line"', 0),
    "killed by a signal": ("echo RUNNING; read line; kill -KILL $$", 128 + 9),
}


@pytest.mark.parametrize("inner, expected", RUN_ENDINGS.values(), ids=RUN_ENDINGS.keys())
def test_the_outer_terminal_is_raw_during_the_run_and_restored_exactly(terminal, sandbox,
                                                                       inner, expected):
    # A plain sh (which never changes terminal modes itself) runs sluice in the foreground,
    # with modes set to something other than the defaults first.
    term = terminal(["sh", "-c", OUTER_SCRIPT, "sh",
                     *sandbox.argv(["sh", "-c", inner])])
    before = term.expect(re.compile(rb"BEFORE (\S+)\r*\n"))[1]
    term.expect(line("RUNNING"), timeout=20)
    raw = termios.ICANON | termios.ECHO | termios.ISIG
    is_raw = wait_until(lambda: (term.attrs()[3] & raw) == 0, 5)
    during = term.attrs()
    term.send("hello\r")
    status = int(term.expect(re.compile(rb"STATUS (\d+)\r*\n"))[1])
    after = term.expect(re.compile(rb"AFTER (\S+)\r*\n"))[1]
    term.wait()

    assert is_raw, f"ICANON, ECHO or ISIG still set while the command ran: lflag={during[3]:#o}"
    assert status == expected, term.describe()
    if expected == 0:
        assert "got-hello" in term.text()
    assert after == before


def test_a_run_in_the_background_leaves_the_terminal_alone(terminal, sandbox):
    # Raw mode is for a run in the foreground: from the background, changing the terminal's
    # modes would stop the launcher (SIGTTOU) and take the terminal from the shell.
    term = terminal(BASH)
    term.expect(PROMPT, what="bash's prompt")
    modes = term.attrs()
    inner = "sleep 0.5; echo from-the-background"
    term.send(shlex.join(sandbox.argv(["sh", "-c", inner])) + " &\r")
    term.expect(PROMPT, what="the prompt after starting the job")
    during = wait_until(lambda: term.attrs() != modes and term.attrs(), 0.3)
    term.expect(line("from-the-background"), timeout=20)
    term.send('wait $!; echo "STATUS=$?"\r')
    status = int(term.expect(re.compile(rb"STATUS=(\d+)\r*\n"))[1])
    term.send("jobs -l\r")
    echo_marker(term, "LISTED")

    assert not during, "the terminal's modes changed under the shell"
    assert status == 0
    assert "Stopped" not in term.text()


@pytest.mark.parametrize("size", [16, 1 << 20])
def test_the_last_output_before_exit_arrives(terminal, sandbox, size):
    code = ("import os, sys\n"
            f"sys.stdout.write('x' * {size} + '\\nLAST-LINE-{size}')\n"
            "sys.stdout.flush()\n"
            "os._exit(3)\n")
    term = terminal(sandbox.argv(python("-c", code)))
    status = term.wait(timeout=20)
    term.read_to_eof()
    text = term.text()

    ending = re.search(r"(x*)\nLAST-LINE-(\d+)$", text)

    assert status == 3
    assert ending and len(ending[1]) == size and ending[2] == str(size), text[-300:]
