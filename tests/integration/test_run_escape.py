# SPDX-License-Identifier: MIT
"""Ways out of `sluice run` that do not go through the proxy, closed.

Socket families: inside, socket() works only for AF_INET, AF_INET6 and AF_NETLINK (AF_UNIX
only with --allow-unix-sockets); every other family number, and a family value with high
bits set that the kernel would truncate to an allowed one, fails with EPERM, and the run's
stderr says so once per family (`sluice: denied socket AF_<NAME> (<reason>)`), not once per
attempt; -q silences it. socketpair(AF_UNIX) always works (asyncio needs it). The i386
(`int $0x80`) and x32 (syscall number | 0x40000000) entry points kill the command with SIGSYS.

Credential files: the upstream credentials may come from $CREDENTIALS_DIRECTORY, from files
named by PROXY_*_FILE, or from `--env-file`; the upstream (a real Squid, as in
test_run_upstream.py) still works with each, while inside every such file reads empty, the
directory is empty and read-only, and the command's environment names none of them.

Processes: nothing the command starts survives it (a daemon made with setsid and a double
fork, nohup, or `setsid -f` holds a FIFO open for reading; once `sluice run` returns the FIFO
has no reader), and the launcher's /proc files and ptrace are out of reach from inside.

Where a refusal could come from the kernel rather than sluice (a family this kernel lacks, a
missing capability), the test also needs sluice's own report on stderr, or runs the same
call outside the sandbox as a control. tests/integration/abiprobe.c is compiled with `cc`
once per session; the checks inside are sandboxprobe.py's.
"""

import contextlib
import errno
import json
import os
import re
import secrets
import signal
import socket
import subprocess

import pytest

from pki import ORIGIN_NAMES
from sluicerun import PYTHON, probe, processes_with, python
from squid import Squid, squid_tunnel_re

HERE = os.path.dirname(os.path.abspath(__file__))
ABIPROBE_C = os.path.join(HERE, "abiprobe.c")
CURL = ("curl", "--silent", "--show-error", "--max-time", "30")
SQUID_USER = "dreamcore_proxy"
SIGSYS_STATUS = 128 + signal.SIGSYS  # 159

# Not anchored at the start, like sluicerun.DENIAL_RE; the reason may hold parentheses.
SOCKET_DENIAL_RE = re.compile(r"sluice: denied (?P<call>socket|socketpair) (?P<family>AF_\S+) "
                              r"\((?P<reason>.+)\)$")

# The kernel's names (include/linux/socket.h) of the families sluice refuses.
FAMILY_NAMES = {
    0: "UNSPEC", 1: "UNIX", 3: "AX25", 4: "IPX", 5: "APPLETALK", 6: "NETROM", 7: "BRIDGE",
    8: "ATMPVC", 9: "X25", 11: "ROSE", 12: "DECNET", 13: "NETBEUI", 14: "SECURITY",
    15: "KEY", 17: "PACKET", 18: "ASH", 19: "ECONET", 20: "ATMSVC", 21: "RDS", 22: "SNA",
    23: "IRDA", 24: "PPPOX", 25: "WANPIPE", 26: "LLC", 27: "IB", 28: "MPLS", 29: "CAN",
    30: "TIPC", 31: "BLUETOOTH", 32: "IUCV", 33: "RXRPC", 34: "ISDN", 35: "PHONET",
    36: "IEEE802154", 37: "CAIF", 38: "ALG", 39: "NFC", 40: "VSOCK", 41: "KCM",
    42: "QIPCRTR", 43: "SMC", 44: "XDP", 45: "MCTP",
}
# Family values beyond the kernel's table, and 64-bit values whose low 32 bits (all the
# kernel reads of its int argument) are an allowed family: they must not pass as that one.
BEYOND = {
    46: "first number past AF_MCTP",
    0x10002: "large",
    0x7FFFFFFF: "INT_MAX",
    -1: "minus one",
    0x1_00000001: "high bits over AF_UNIX",
    0xFFFFFFFF_00000001: "all high bits over AF_UNIX",
    0x1_00000002: "high bits over AF_INET",
    0x1_0000000A: "high bits over AF_INET6",
    0x1_00000010: "high bits over AF_NETLINK",
    0x1_00000028: "high bits over AF_VSOCK",
}
# A type the family really supports, so that outside the sandbox the call can succeed.
NATIVE_TYPE = {17: "SOCK_DGRAM", 38: "SOCK_SEQPACKET", 44: "SOCK_RAW"}


def family_arg(family):
    return str(family) if 0 <= family < 1 << 16 else hex(family)


def refused_params():
    params = [pytest.param(family, f"AF_{name}", id=f"AF_{name}-{family}")
              for family, name in FAMILY_NAMES.items()]
    params += [pytest.param(family, None, id=f"{family_arg(family)}-{what.replace(' ', '-')}")
               for family, what in BEYOND.items()]
    return params


def probe_json(done):
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return json.loads(done.stdout)


def socket_denials(stderr):
    """The `sluice: denied socket|socketpair AF_X (...)` lines, as (call, family, reason)."""
    return [(m["call"], m["family"], m["reason"])
            for m in map(SOCKET_DENIAL_RE.search, stderr.splitlines()) if m]


def outside(cmd, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kw)


EPERM = {"ok": False, "errno": "EPERM"}
ALLOWED = {"ok": True, "errno": None}


# ---- socket families ----

@pytest.mark.parametrize("family, name", refused_params())
def test_a_refused_family_fails_with_eperm_and_is_reported(sandbox, family, name):
    type_ = NATIVE_TYPE.get(family, "SOCK_STREAM")

    done = sandbox.run(probe("socket", family_arg(family), type_))

    assert probe_json(done) == EPERM
    # The report is sluice's own: the kernel alone (a family it lacks, no CAP_NET_RAW)
    # would say nothing on stderr.
    reported = socket_denials(done.stderr)
    assert len(reported) == 1 and reported[0][0] == "socket", done.stderr
    if name is not None:
        assert reported[0][1].upper() == name.upper(), done.stderr
    assert reported[0][2].strip(), done.stderr


@pytest.mark.parametrize("family, type_", [(40, "SOCK_STREAM"), (38, "SOCK_SEQPACKET"),
                                           (17, "SOCK_DGRAM"), (44, "SOCK_RAW")],
                         ids=["AF_VSOCK", "AF_ALG", "AF_PACKET", "AF_XDP"])
def test_the_refused_families_can_be_created_outside(family, type_):
    # The control for the test above: the kernel (as root) makes these sockets.
    if family in (17, 44) and os.geteuid() != 0:
        pytest.skip("needs root: AF_PACKET and AF_XDP sockets need CAP_NET_RAW")
    result = probe_json(outside(probe("socket", str(family), type_)))

    if result["errno"] == "EAFNOSUPPORT":
        pytest.skip(f"this kernel has no address family {family}")
    assert result == ALLOWED


@pytest.mark.parametrize("family, type_, options", [
    (socket.AF_INET, "SOCK_STREAM", ()),
    (socket.AF_INET6, "SOCK_STREAM", ()),
    (socket.AF_NETLINK, "SOCK_RAW", ()),
    (socket.AF_UNIX, "SOCK_STREAM", ("--allow-unix-sockets",)),
], ids=["AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX-with-allow-unix-sockets"])
def test_the_allowed_families_are_created_and_not_reported(sandbox, family, type_, options):
    done = sandbox.run(probe("socket", str(family), type_), *options)

    assert probe_json(done) == ALLOWED
    assert socket_denials(done.stderr) == [], done.stderr


def test_two_attempts_at_one_family_are_reported_once(sandbox):
    done = sandbox.run(probe("sockets", "40", "40"))

    assert probe_json(done) == {"results": [EPERM, EPERM]}
    assert [(call, family) for call, family, _ in socket_denials(done.stderr)] == [
        ("socket", "AF_VSOCK")], done.stderr


def test_attempts_from_two_processes_are_reported_once_per_run(sandbox):
    line = " ".join(probe("socket", "40"))

    done = sandbox.run(["sh", "-c", f"{line} && {line}"])

    assert done.returncode == 0, done.stderr
    assert [json.loads(out) for out in done.stdout.splitlines()] == [EPERM, EPERM]
    assert [(call, family) for call, family, _ in socket_denials(done.stderr)] == [
        ("socket", "AF_VSOCK")], done.stderr


def test_two_families_are_reported_on_two_lines(sandbox):
    done = sandbox.run(probe("sockets", "40", "17", "40", "17"))

    assert probe_json(done) == {"results": [EPERM] * 4}
    assert [(call, family) for call, family, _ in socket_denials(done.stderr)] == [
        ("socket", "AF_VSOCK"), ("socket", "AF_PACKET")], done.stderr


def test_quiet_silences_the_socket_reports(sandbox):
    done = sandbox.run(probe("sockets", "40", "17", "1"), "-q")

    assert probe_json(done) == {"results": [EPERM] * 3}
    assert "denied socket" not in done.stderr, done.stderr


def test_the_af_unix_report_names_allow_unix_sockets(sandbox):
    done = sandbox.run(probe("socket", "1"))

    assert probe_json(done) == EPERM
    reported = socket_denials(done.stderr)
    assert [(call, family) for call, family, _ in reported] == [("socket", "AF_UNIX")], (
        done.stderr)
    assert "--allow-unix-sockets" in reported[0][2]


def test_socketpair_af_unix_works_without_allow_unix_sockets(sandbox):
    done = sandbox.run(probe("socketpair", "1"))

    assert probe_json(done) == ALLOWED
    assert socket_denials(done.stderr) == [], done.stderr


def test_socketpair_of_a_refused_family_fails_with_eperm_and_is_reported(sandbox):
    done = sandbox.run(probe("socketpair", "40"))
    control = probe_json(outside(probe("socketpair", "40")))

    assert probe_json(done) == EPERM
    assert [(call, family) for call, family, _ in socket_denials(done.stderr)] == [
        ("socketpair", "AF_VSOCK")], done.stderr
    # Outside, the kernel refuses the pair for a reason of its own, not EPERM.
    assert control["errno"] != "EPERM", control


def test_asyncio_works_inside_without_allow_unix_sockets(sandbox):
    # The event loop's self-pipe is a socketpair(AF_UNIX); then a round trip to the proxy.
    script = ("import asyncio\n"
              "async def main():\n"
              "    reader, writer = await asyncio.open_connection('127.0.0.1', 3128)\n"
              "    writer.write(b'CONNECT www.google.com:443 HTTP/1.1\\r\\n'\n"
              "                 b'Host: www.google.com:443\\r\\n\\r\\n')\n"
              "    print((await reader.readline()).decode().split()[1])\n"
              "    writer.close()\n"
              "asyncio.run(main())\n")

    done = sandbox.run(python("-c", script))

    assert done.returncode == 0, done.stderr
    assert done.stdout == "403\n"  # the proxy answered (www.google.com is not allowed)
    assert socket_denials(done.stderr) == [], done.stderr


# ---- the i386 and x32 entry points ----

@pytest.fixture(scope="session")
def abiprobe(tmp_path_factory):
    """tests/integration/abiprobe.c compiled with `cc -O1` (x86_64 only)."""
    if os.uname().machine != "x86_64":
        pytest.skip("the i386 and x32 entry points are x86_64's")
    path = str(tmp_path_factory.mktemp("abiprobe") / "abiprobe")
    done = subprocess.run(["cc", "-O1", "-o", path, ABIPROBE_C], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"cc failed:\n{done.stderr}"
    return path


@pytest.mark.parametrize("args", [
    ["i386-socket", "2"],
    ["i386-socket", "1"],
    ["i386-socket", "40"],
    ["i386-getpid"],
    ["x32-socket", "2"],
    ["x32-socket", "40"],
    ["x32-getpid"],
], ids=lambda args: "-".join(args))
def test_a_system_call_through_another_abi_kills_the_command(sandbox, abiprobe, args):
    done = sandbox.run([abiprobe, *args])

    assert done.returncode == SIGSYS_STATUS, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""  # it died at the call


def test_an_i386_socket_call_succeeds_outside(abiprobe):
    # The control: the kernel serves int $0x80, so SIGSYS inside is the filter's.
    done = outside([abiprobe, "i386-socket", "2"])

    if done.returncode == -signal.SIGSEGV:
        pytest.skip("this kernel has no i386 emulation (int $0x80 faults)")
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert re.fullmatch(r"ok \d+\n", done.stdout), done.stdout


@pytest.mark.parametrize("args", [["x32-socket", "2"], ["x32-getpid"]],
                         ids=lambda args: "-".join(args))
def test_an_x32_call_returns_outside(abiprobe, args):
    # The control: without sluice the call returns (a descriptor, or ENOSYS on a kernel
    # without x32): nothing but the filter sends SIGSYS.
    done = outside([abiprobe, *args])

    assert done.returncode == 0, (done.returncode, done.stderr)
    assert re.fullmatch(r"(ok \d+|error ENOSYS)\n", done.stdout), done.stdout


# ---- credential files ----

@pytest.fixture(scope="module")
def squid(origins):
    server = Squid(user=SQUID_USER, password=secrets.token_urlsafe(18),
                   allowed=["api.anthropic.com"], ports=[443, origins.https_port],
                   hosts={name: "127.0.0.1" for name in ORIGIN_NAMES})
    server.start()
    yield server
    server.close()


def clean_env(**extra):
    """os.environ without any upstream or credential variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PROXY_") and k != "CREDENTIALS_DIRECTORY"}
    env.update(extra)
    return env


def write_secret(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return str(path)


class Source:
    """Where a launcher given `--upstream env` finds the Squid's credentials: its
    environment, its options, the files and directories that hold them, and the variables
    that name them (none of which the command may see)."""

    def __init__(self, env, options=(), files=(), dirs=(), variables=()):
        self.env = env
        self.options = tuple(options)
        self.files = list(files)
        self.dirs = list(dirs)
        self.variables = set(variables) | {"PROXY_USER", "PROXY_PASS"}

    def contents(self):
        """What the files and directories hold, seen from outside."""
        found = {}
        for path in self.files:
            with open(path) as f:
                found[path] = f.read()
        for path in self.dirs:
            found[path] = {name: open(os.path.join(path, name)).read()
                           for name in sorted(os.listdir(path))}
        return found


def make_source(kind, directory, squid, password=None):
    password = squid.password if password is None else password
    values = {"PROXY_HOST": "127.0.0.1", "PROXY_PORT": str(squid.port),
              "PROXY_USER": SQUID_USER, "PROXY_PASS": password}
    if kind == "credentials-directory":
        creds = directory / "credentials"
        creds.mkdir(mode=0o700)
        for name, value in values.items():
            write_secret(creds / name, value)
        return Source(clean_env(CREDENTIALS_DIRECTORY=str(creds)), dirs=[str(creds)],
                      variables=["CREDENTIALS_DIRECTORY"])
    if kind == "file-variables":
        user = write_secret(directory / "proxy-user", SQUID_USER)
        pass_ = write_secret(directory / "proxy-pass", password)
        env = clean_env(PROXY_HOST="127.0.0.1", PROXY_PORT=str(squid.port),
                        PROXY_USER_FILE=user, PROXY_PASS_FILE=pass_)
        return Source(env, files=[user, pass_],
                      variables=["PROXY_USER_FILE", "PROXY_PASS_FILE"])
    if kind == "env-file":
        env_file = write_secret(directory / "upstream.env",
                                "".join(f"{k}={v}\n" for k, v in values.items()))
        return Source(clean_env(), options=["--env-file", env_file], files=[env_file])
    if kind == "env-file-naming-a-pass-file":
        pass_ = write_secret(directory / "proxy-pass", password)
        lines = [f"PROXY_HOST={values['PROXY_HOST']}", f"PROXY_PORT={values['PROXY_PORT']}",
                 f"PROXY_USER={SQUID_USER}", f"PROXY_PASS_FILE={pass_}"]
        env_file = write_secret(directory / "upstream.env", "\n".join(lines) + "\n")
        return Source(clean_env(), options=["--env-file", env_file], files=[env_file, pass_],
                      variables=["PROXY_PASS_FILE"])
    raise ValueError(kind)


SOURCES = ["credentials-directory", "file-variables", "env-file", "env-file-naming-a-pass-file"]


@pytest.fixture(params=SOURCES)
def source(request, tmp_path, squid, sandbox):
    sandbox.secrets.append(squid.password)
    return make_source(request.param, tmp_path, squid)


def environ_names(text):
    return {entry.split("=", 1)[0] for entry in text.split("\0") if "=" in entry}


def test_the_upstream_works_with_each_credential_source(sandbox, squid, source):
    site = sandbox.site("api.anthropic.com", "/credential-source")

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, site.url], "--upstream", "env",
                       *source.options, env=source.env)

    assert done.returncode == 0, done.stderr
    assert done.stdout == site.expected
    squid.wait_log(squid_tunnel_re(site.target, SQUID_USER))


def test_credential_files_read_empty_inside_and_stay_unchanged_outside(sandbox, source):
    before = source.contents()

    done = sandbox.run(probe("files", *source.files, *source.dirs), "--upstream", "env",
                       *source.options, env=source.env)

    seen = probe_json(done)
    for path in source.files:
        assert seen[path] == {"text": ""}, (path, seen[path])
    for path in source.dirs:
        assert seen[path]["entries"] == [], (path, seen[path])
    # The control: outside they still hold the credentials.
    assert source.contents() == before
    assert all(before.values())


def test_the_environment_inside_names_no_credential(sandbox, squid, source):
    done = sandbox.run(["cat", "/proc/self/environ"], "--upstream", "env", *source.options,
                       env=source.env)

    assert done.returncode == 0, done.stderr
    assert "HTTPS_PROXY" in environ_names(done.stdout)  # it is the command's environment
    assert not environ_names(done.stdout) & source.variables, environ_names(done.stdout)
    assert not [name for name in environ_names(done.stdout) if name.endswith("_FILE")
                and name.startswith("PROXY_")]
    assert squid.password not in done.stdout
    assert SQUID_USER not in done.stdout
    for path in source.files + source.dirs:
        assert path not in done.stdout


def test_the_masked_credentials_directory_cannot_be_written(sandbox, squid, tmp_path):
    sandbox.secrets.append(squid.password)
    source = make_source("credentials-directory", tmp_path, squid)
    creds = source.dirs[0]

    done = sandbox.run(probe("files", creds), "--upstream", "env", env=source.env)

    seen = probe_json(done)[creds]
    assert seen["entries"] == []
    assert seen["create_errno"] is not None, seen
    assert sorted(os.listdir(creds)) == ["PROXY_HOST", "PROXY_PASS", "PROXY_PORT",
                                         "PROXY_USER"]


def test_an_unused_credentials_directory_is_masked_too(sandbox, tmp_path):
    # No --upstream: the directory is still someone's secrets (systemd's LoadCredential).
    token = secrets.token_urlsafe(18)
    sandbox.secrets.append(token)
    creds = tmp_path / "credentials"
    creds.mkdir(mode=0o700)
    write_secret(creds / "api-token", token)

    done = sandbox.run(["sh", "-c", 'ls -A "$1"; cat "$1/api-token"; echo; '
                        'printenv CREDENTIALS_DIRECTORY; echo "printenv=$?"', "sh", str(creds)],
                       env=clean_env(CREDENTIALS_DIRECTORY=str(creds)))

    assert done.stdout == "\nprintenv=1\n", done.stdout
    assert "api-token" in done.stderr  # cat found no such file
    with open(creds / "api-token") as f:
        assert f.read() == token  # the control: it is there outside


def test_the_env_file_comes_before_the_environment(sandbox, squid, tmp_path):
    wrong = secrets.token_urlsafe(18)
    sandbox.secrets += [squid.password, wrong]
    source = make_source("env-file", tmp_path, squid)
    site = sandbox.site("api.anthropic.com", "/env-file-first")
    env = dict(source.env, PROXY_HOST="127.0.0.1", PROXY_PORT=str(squid.port),
               PROXY_USER=SQUID_USER, PROXY_PASS=wrong)

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, site.url], "--upstream", "env",
                       *source.options, env=env)

    assert done.returncode == 0, done.stderr
    assert done.stdout == site.expected
    squid.wait_log(squid_tunnel_re(site.target, SQUID_USER))


def no_isolate_warnings(stderr):
    return [line for line in stderr.splitlines()
            if "--no-isolate" in line and "credential" in line.lower()]


def test_no_isolate_says_once_that_credential_files_stay_readable(sandbox, source):
    done = sandbox.run(["true"], "--no-isolate", "--upstream", "env", *source.options,
                       env=source.env)

    assert done.returncode == 0, done.stderr
    assert len(no_isolate_warnings(done.stderr)) == 1, done.stderr


def test_no_isolate_says_nothing_without_credential_files(sandbox, squid):
    sandbox.secrets.append(squid.password)
    env = clean_env(PROXY_HOST="127.0.0.1", PROXY_PORT=str(squid.port), PROXY_USER=SQUID_USER,
                    PROXY_PASS=squid.password)

    done = sandbox.run(["true"], "--no-isolate", "--upstream", "env", env=env)

    assert done.returncode == 0, done.stderr
    assert no_isolate_warnings(done.stderr) == [], done.stderr


# ---- processes ----

# The daemon: holds the FIFO open for reading, says it is ready, sleeps.
DAEMON = ("import os, sys, time\n"
          "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)\n"
          "open(sys.argv[2], 'w').close()\n"
          "time.sleep(60)\n")
# The classic daemonisation: fork, setsid, fork again, stdio on /dev/null, exec the daemon.
DOUBLE_FORK = ("import os, sys\n"
               "if os.fork() == 0:\n"
               "    os.setsid()\n"
               "    if os.fork() == 0:\n"
               "        null = os.open('/dev/null', os.O_RDWR)\n"
               "        for fd in (0, 1, 2):\n"
               "            os.dup2(null, fd)\n"
               "        os.execv(sys.executable, [sys.executable, '-B', '-c'] + sys.argv[1:])\n"
               "    os._exit(0)\n"
               "os.wait()\n")
# sh -c SCRIPT sh DAEMON DOUBLE_FORK FIFO READY: start the daemon one way, then wait (at
# most 10 s) until it holds the FIFO.
LAUNCHES = {
    "setsid-double-fork": f'{PYTHON} -B -c "$2" "$1" "$3" "$4"',
    "nohup": f'nohup {PYTHON} -B -c "$1" "$3" "$4" </dev/null >/dev/null 2>&1 &',
    "setsid-f": f'setsid -f {PYTHON} -B -c "$1" "$3" "$4" </dev/null >/dev/null 2>&1',
}
WAIT_READY = ('\ni=0\nwhile [ ! -e "$4" ]; do\n  i=$((i + 1)); [ "$i" -gt 200 ] && exit 9\n'
              '  sleep 0.05\ndone\n')


def daemon_command(launch, fifo, ready):
    return ["sh", "-c", LAUNCHES[launch] + WAIT_READY, "sh", DAEMON, DOUBLE_FORK, str(fifo),
            str(ready)]


def fifo_has_reader(path):
    """Whether a process holds the FIFO open for reading (O_NONBLOCK writers get ENXIO
    otherwise)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            return False
        raise
    os.close(fd)
    return True


@contextlib.contextmanager
def daemon_setup(tmp_path):
    """(environment, fifo, ready file); kills whatever carries this test's marker after."""
    token = secrets.token_hex(8)
    fifo = tmp_path / "daemon.fifo"
    os.mkfifo(fifo, 0o600)
    try:
        yield dict(os.environ, SLUICE_TEST_MARK=token), fifo, tmp_path / "daemon.ready"
    finally:
        for pid in processes_with(f"SLUICE_TEST_MARK={token}"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("launch", sorted(LAUNCHES))
def test_a_daemonised_grandchild_is_gone_when_sluice_run_returns(sandbox, tmp_path, launch):
    with daemon_setup(tmp_path) as (env, fifo, ready):
        done = sandbox.run(daemon_command(launch, fifo, ready), env=env, timeout=30)
        reader_left = fifo_has_reader(fifo)

    assert done.returncode == 0, (done.returncode, done.stderr)  # the daemon was ready
    assert ready.exists()
    assert not reader_left, "a daemon the command started still holds the FIFO"


@pytest.mark.parametrize("launch", sorted(LAUNCHES))
def test_the_same_daemon_outlives_its_parent_without_sluice(tmp_path, launch):
    # The control for the test above: the FIFO check sees a surviving daemon.
    with daemon_setup(tmp_path) as (env, fifo, ready):
        done = outside(daemon_command(launch, fifo, ready), env=env)
        reader_left = fifo_has_reader(fifo)

    assert done.returncode == 0, (done.returncode, done.stderr)
    assert reader_left


def test_the_launchers_proc_files_and_ptrace_are_out_of_reach_inside(sandbox):
    launcher = sandbox.popen(probe("launcher"), stdin=subprocess.PIPE)
    out, err = launcher.communicate(input=str(launcher.pid), timeout=30)

    assert launcher.returncode == 0, err
    assert json.loads(out) == {"environ": "ENOENT", "mem": "ENOENT", "fd": "ENOENT",
                               "ptrace": "ESRCH"}


def test_the_launchers_proc_files_and_ptrace_are_there_outside(sandbox):
    # The control: the launcher's PID names a real process whose files root can open.
    if os.geteuid() != 0:
        pytest.skip("needs root: the launcher is not dumpable, so only root may open its "
                    "/proc files or ptrace it")
    launcher = sandbox.popen(["sh", "-c", "echo ready; read line"], stdin=subprocess.PIPE)
    try:
        assert launcher.stdout.readline() == "ready\n"
        done = outside(probe("launcher"), input=str(launcher.pid), stdin=None)
        launcher.stdin.write("done\n")
        launcher.stdin.close()
        status = launcher.wait(timeout=20)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        launcher.stdout.close()
        launcher.stderr.close()

    assert status == 0
    assert probe_json(done) == {"environ": None, "mem": None, "fd": None, "ptrace": None}


# ---- what the red team found (each was a way out before it was closed) ----

WRITE_PROBE = r"""
import errno, json, os, sys
out = {}
for path in sys.argv[1:]:
    try:
        os.close(os.open(path, os.O_WRONLY))
        out[path] = None
    except OSError as exc:
        out[path] = errno.errorcode.get(exc.errno, str(exc.errno))
print(json.dumps(out))
"""
# Opening for writing changes nothing; only a write would. As root these open outside.
KERNEL_KNOBS = ["/proc/sys/kernel/core_pattern", "/sys/kernel/mm/transparent_hugepage/enabled"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the hole needs a launcher running as root")
def test_kernel_settings_are_read_only_inside_a_root_sandbox(sandbox):
    # As root, uid 0 inside is uid 0 for file permissions, and a sysctl checks nothing more:
    # core_pattern would have the kernel run the command's program as real root outside.
    knobs = [k for k in KERNEL_KNOBS if os.path.exists(k)]
    inside = json.loads(sandbox.run(python("-c", WRITE_PROBE, *knobs)).stdout)
    outside_ = json.loads(outside(python("-c", WRITE_PROBE, *knobs)).stdout)

    assert outside_ == {k: None for k in knobs}  # the control: root may open them
    assert inside == {k: "EROFS" for k in knobs}


def test_a_datagram_socketpair_is_refused_and_reported(sandbox):
    # One end of a datagram pair can be bound to a path and sent to any datagram socket of
    # the host (/dev/log, journald); a stream pair cannot be re-aimed.
    done = sandbox.run(python("-c", """
import socket
try:
    socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    print("dgram ok")
except OSError as exc:
    print("dgram", exc.errno)
socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
print("stream ok")
"""))

    assert done.stdout == f"dgram {errno.EPERM}\nstream ok\n", done.stderr
    assert any(call == "socketpair" or family == "AF_UNIX"
               for call, family, _ in socket_denials(done.stderr)), done.stderr


def test_a_host_datagram_socket_cannot_be_reached_through_a_pair(sandbox):
    path = os.path.join(sandbox.out, "host-dgram.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as host:
        host.bind(path)
        host.settimeout(0.5)
        done = sandbox.run(python("-c", """
import socket, sys
try:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.sendto(b"ESCAPED", sys.argv[1])
    print("sent")
except OSError as exc:
    print("refused", exc.errno)
""", path))
        try:
            received = host.recv(100)
        except socket.timeout:
            received = None

    assert done.stdout == f"refused {errno.EPERM}\n", done.stderr
    assert received is None


def test_the_hosts_consoles_and_serial_lines_are_not_inside(sandbox):
    names = [n for n in ("console", "tty0", "tty1", "tty2", "ttyS0", "vcs1", "vcsa1")
             if os.path.exists(f"/dev/{n}")]
    if not names:
        pytest.skip("no console or serial device on this machine")

    done = sandbox.run(["sh", "-c", 'for n; do test -e "/dev/$n" && echo "$n"; done; true',
                        "sh", *names])

    assert done.returncode == 0, done.stderr
    assert done.stdout == "", f"host terminals reachable inside: {done.stdout.split()}"


@pytest.mark.parametrize("flag", ["PROXY_PASS", "PROXY_PASS=typed-on-the-command-line",
                                  "PROXY_PASS_FILE=/etc/hostname", "CREDENTIALS_DIRECTORY",
                                  "HTTPS_PROXY=http://u:p@upstream.test:3128"])
def test_env_cannot_carry_a_credential_in(sandbox, flag):
    env = clean_env(PROXY_PASS="from-the-environment", CREDENTIALS_DIRECTORY="/nonexistent")
    marker = os.path.join(sandbox.out, "ran")

    done = sandbox.run(["touch", marker], "--env", flag, env=env)

    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "stay outside the sandbox" in done.stderr
    assert not os.path.exists(marker)


def test_a_rotated_kubernetes_secret_stays_hidden(sandbox, tmp_path):
    # A secret volume: files are links through "..data", which the kubelet swaps atomically
    # to rotate; a mask on the old file would let the new one through.
    vol = tmp_path / "secret-volume"
    vol.mkdir()
    (vol / "..v1").mkdir()
    old, new = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    sandbox.secrets += [old, new]
    write_secret(vol / "..v1" / "proxy_pass", old)
    os.symlink("..v1", vol / "..data")
    os.symlink("..data/proxy_pass", vol / "proxy_pass")
    ready, go = tmp_path / "ready", tmp_path / "go"
    os.mkfifo(ready)
    os.mkfifo(go)

    proc = sandbox.popen(["sh", "-c", 'cat "$1"; echo >> "$4"; read x < "$2"; cat "$1"; '
                          'ls -A "$3"', "sh", str(vol / "proxy_pass"), str(go), str(vol),
                          str(ready)],
                         env=clean_env(PROXY_PASS_FILE=str(vol / "proxy_pass")))
    with open(ready) as f:  # the sandbox is up and has read once
        f.readline()
    (vol / "..v2").mkdir()
    write_secret(vol / "..v2" / "proxy_pass", new)
    os.symlink("..v2", vol / "..data.tmp")
    os.rename(vol / "..data.tmp", vol / "..data")
    with open(go, "w") as f:
        f.write("rotated\n")
    out, err = proc.communicate(timeout=30)

    assert old not in out and new not in out, out
    assert (vol / "proxy_pass").read_text() == new  # the control: rotated outside


# ---- round two: a root launcher's uid 0 and the kernel's objects ----

NESTED_CGROUP_MOUNT = r"""
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWCGROUP = 0x10000000, 0x00020000, 0x02000000
if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) != 0:
    print("unshare", errno.errorcode[ctypes.get_errno()])
    sys.exit()
os.makedirs("/tmp/cg-probe", exist_ok=True)
if libc.mount(b"none", b"/tmp/cg-probe", b"cgroup2", 0, None) != 0:
    print("mount", errno.errorcode[ctypes.get_errno()])
else:
    print("mounted", len(os.listdir("/tmp/cg-probe")) > 0)
"""


def test_a_nested_namespace_cannot_mount_the_hosts_cgroups(sandbox):
    # Round two: unshare(user|mount|cgroup) then mounting cgroup2 let a root launcher's uid 0
    # write the host's cgroup settings, which outlived the run.
    done = sandbox.run(python("-c", NESTED_CGROUP_MOUNT))

    assert done.stdout == "unshare EPERM\n", (done.stdout, done.stderr)


def test_a_nested_user_namespace_alone_still_works(sandbox):
    # What browsers and nested sandboxes use stays possible.
    done = sandbox.run(["unshare", "--user", "true"])

    assert done.returncode == 0, done.stderr


def test_dev_holds_only_the_devices_a_command_needs(sandbox):
    done = sandbox.run(["ls", "-A", "/dev"])
    listed = set(done.stdout.split())
    gpus = {n for n in listed if n.startswith("nvidia") or n == "dri"}

    assert listed - gpus == {"null", "zero", "full", "random", "urandom", "tty", "ptmx",
                             "pts", "shm", "fd", "stdin", "stdout", "stderr"}
    assert os.path.exists("/dev/kmsg") or os.path.exists("/dev/loop-control")  # control


def test_dev_shm_is_the_sandboxs_own(sandbox):
    name = f"sluice-test-{secrets.token_hex(6)}"
    with open(f"/dev/shm/{name}", "w") as f:
        f.write("host")
    try:
        done = sandbox.run(["sh", "-c", f'test -e /dev/shm/{name}; echo "$?"; '
                                        f'echo sandbox > /dev/shm/{name}.w; echo ok'])
    finally:
        os.unlink(f"/dev/shm/{name}")
    leaked = os.path.exists(f"/dev/shm/{name}.w")
    if leaked:
        os.unlink(f"/dev/shm/{name}.w")

    assert done.stdout == "1\nok\n", done.stderr
    assert not leaked, "a file written to /dev/shm inside appeared on the host"


def test_the_kernel_keyrings_are_out_of_reach(sandbox):
    # keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING): the user's (or root's) keyring.
    probe_ = python("-c", "import ctypes, errno; libc = ctypes.CDLL(None, use_errno=True); "
                          "r = libc.syscall(250, 0, -4, 0); "
                          "print(r if r >= 0 else errno.errorcode[ctypes.get_errno()])")
    if os.uname().machine != "x86_64":
        pytest.skip("the keyctl number used here is x86_64's")

    inside = sandbox.run(probe_).stdout.strip()
    outside_ = outside(probe_).stdout.strip()

    assert outside_.isdigit(), outside_  # the control: the keyring is there outside
    assert inside == "EPERM"
