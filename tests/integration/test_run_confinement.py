# SPDX-License-Identifier: MIT
"""Inside `sluice run` the proxy is the only way out, and the command cannot reach the launcher
or anything else it could use to escape: direct connections fail at once, there is no route
out (probed with a UDP connect(), which sends no packet), no DNS, no AF_UNIX socket and no
io_uring, no capabilities, no inherited descriptors, and the launcher is not in its /proc.

Each check runs tests/integration/sandboxprobe.py inside the sandbox.
"""

import json
import os
import socket
import subprocess

import pytest

from sluicerun import probe


def probe_json(done):
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return json.loads(done.stdout)


def test_tcp_to_the_origins_loopback_port_is_refused_inside(sandbox):
    # The origin listens on the host's 127.0.0.1; the sandbox's 127.0.0.1 is its own.
    result = probe_json(sandbox.run(probe("tcp", "127.0.0.1", str(sandbox.origins.https_port))))

    assert result == {"ok": False, "errno": "ECONNREFUSED"}


def test_the_same_tcp_connection_works_outside(sandbox):
    # The control for the test above: the origin is there, only the sandbox cannot see it.
    done = subprocess.run(probe("tcp", "127.0.0.1", str(sandbox.origins.https_port)),
                          capture_output=True, text=True, timeout=30)

    assert probe_json(done) == {"ok": True, "errno": None}


@pytest.mark.parametrize("address", ["192.0.2.1", "2001:db8::1"])
def test_there_is_no_route_out(sandbox, address):
    # connect() on a UDP socket only picks a route: it sends nothing.
    result = probe_json(sandbox.run(probe("udp", address, "53")))

    assert result == {"ok": False, "errno": "ENETUNREACH"}


def test_only_loopback_exists_inside(sandbox):
    done = sandbox.run(["cat", "/proc/net/dev"])

    assert done.returncode == 0, done.stderr
    interfaces = [line.split(":")[0].strip() for line in done.stdout.splitlines()[2:]]
    assert interfaces == ["lo"]


def test_dns_of_an_allowed_name_fails_inside(sandbox):
    # The launcher resolves api.anthropic.com (hosts file); the command cannot.
    done = sandbox.run(["getent", "hosts", "api.anthropic.com"])

    assert done.returncode == 2, (done.returncode, done.stderr)  # "key not found"
    assert done.stdout == ""


def test_af_unix_sockets_are_refused_with_eperm(sandbox):
    result = probe_json(sandbox.run(probe("unix")))

    assert result == {"ok": False, "errno": "EPERM"}


def test_allow_unix_sockets_lets_them_be_created(sandbox):
    result = probe_json(sandbox.run(probe("unix"), "--allow-unix-sockets"))

    assert result == {"ok": True, "errno": None}


def test_a_host_unix_socket_cannot_be_reached(sandbox):
    # The escape the filter is for: a filesystem socket (a Docker socket) of the host.
    path = os.path.join(sandbox.out, "host.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        os.chmod(path, 0o777)
        server.listen(1)
        done = sandbox.run(["/usr/bin/python3", "-B", "-c",
                            "import socket, sys\n"
                            "s = socket.socket(socket.AF_UNIX)\n"
                            "s.connect(sys.argv[1])\n", path])

    assert done.returncode == 1
    assert "PermissionError" in done.stderr, done.stderr


def test_io_uring_setup_is_refused_with_eperm(sandbox):
    result = probe_json(sandbox.run(probe("io_uring")))

    assert result == {"ok": False, "errno": "EPERM"}


def test_no_capabilities_no_new_privs_and_seccomp(sandbox):
    status = probe_json(sandbox.run(probe("status")))

    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[field], 16) == 0, (field, status)
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"  # filter mode


def test_inherited_descriptors_are_closed(sandbox, tmp_path):
    # The launcher inherits two open descriptors beyond 0-2 (one a socket, one a file).
    leaked_file = os.open(tmp_path / "leaked", os.O_WRONLY | os.O_CREAT)
    leaked_sock, other_end = socket.socketpair()
    try:
        done = subprocess.run(sandbox.argv(probe("status")), capture_output=True, text=True,
                              timeout=60, pass_fds=(leaked_file, leaked_sock.fileno()),
                              stdin=subprocess.DEVNULL)
    finally:
        os.close(leaked_file)
        leaked_sock.close()
        other_end.close()
    sandbox.results.append(done)

    assert probe_json(done)["fds"] == [0, 1, 2]


def test_the_launcher_is_not_visible_in_the_sandbox(sandbox):
    launcher = sandbox.popen(probe("processes"), stdin=subprocess.PIPE)
    out, err = launcher.communicate(input=str(launcher.pid), timeout=60)

    assert launcher.returncode == 0, err
    seen = json.loads(out)
    # kill(launcher, 0) from inside: no such process.
    assert seen["kill_errno"] == "ESRCH"
    assert str(launcher.pid) not in seen["pids"]
    # Only the sandbox's own processes: its init (PID 1) and the probe.
    assert set(seen["pids"]) == {"1", str(seen["self"])}, seen["pids"]
    assert seen["pids"]["1"][1] != "run", seen["pids"]["1"]
    assert all(argv[1:2] != ["run"] for argv in seen["pids"].values()), seen["pids"]


def test_the_policy_file_is_read_once_at_start(sandbox):
    # The command rewrites the policy file to allow www.google.com, then asks for it.
    config = sandbox.write_policy("writable.conf")
    os.chmod(config, 0o666)
    permissive = sandbox.write_policy("permissive.conf", allow=("www.google.com",))
    site = sandbox.site("www.google.com", "/rewritten")

    done = sandbox.run(["sh", "-c", 'cat "$1" > "$2" && exec curl -sS --max-time 30 '
                        '--cacert "$3" "$4"', "sh", permissive, config, sandbox.ca_cert,
                        site.url], "-c", config, config=False)

    with open(config) as f:
        assert "www.google.com" in f.read()  # the rewrite happened
    assert done.returncode == 56, (done.returncode, done.stdout, done.stderr)
    assert "403" in done.stderr
