# SPDX-License-Identifier: MIT
"""`sluice run` as a process: the exit status is the command's (128+N for a signal, 127 not
found, 126 not executable, 2 usage error), stdin and stdout pass through, signals sent to the
launcher reach the command, the command dies with the launcher, an unprivileged user can run
it, and --no-isolate requires its per-run token.
"""

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time

import pytest

from helpers import UNPRIVILEGED_UID
from sluiceproc import squid_line_re
from sluicerun import (PROBE, assert_denials, matching, probe, processes_with, python, read_log,
                       run_denied_re, run_tunnel_re)

CURL = ("curl", "--silent", "--show-error", "--max-time", "30")


@pytest.mark.parametrize("cmd, status", [
    (["true"], 0),
    (["sh", "-c", "exit 7"], 7),
    (["sh", "-c", "kill -TERM $$"], 128 + signal.SIGTERM),
    (["sh", "-c", "kill -KILL $$"], 128 + signal.SIGKILL),
    (["/nonexistent/command"], 127),
    (["no-such-command-anywhere"], 127),
])
def test_exit_status_is_the_commands(sandbox, cmd, status):
    done = sandbox.run(cmd)

    assert done.returncode == status, (done.returncode, done.stderr)


def test_a_file_that_is_not_executable_gives_126(sandbox):
    path = os.path.join(sandbox.dir, "not-executable")
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho ran\n")
    os.chmod(path, 0o644)

    done = sandbox.run([path])

    assert done.returncode == 126, (done.returncode, done.stderr)
    assert "ran" not in done.stdout


@pytest.mark.parametrize("args", [
    ["--no-such-option", "--", "touch", "MARKER"],
    ["--port", "0", "--", "touch", "MARKER"],
    ["--port", "70000", "--", "touch", "MARKER"],
    ["--env", "=VALUE", "--", "touch", "MARKER"],
    ["--"],
    [],
])
def test_usage_errors_exit_2(sluice_bin, args, tmp_path):
    marker = tmp_path / "ran"
    argv = [str(marker) if arg == "MARKER" else arg for arg in args]

    done = subprocess.run([sluice_bin, "run", *argv], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)

    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "usage: sluice run" in done.stderr
    assert not marker.exists()


def test_stdin_and_stdout_pass_through(sandbox):
    data = "".join(f"line {i} {secrets.token_hex(8)}\n" for i in range(2000))

    done = sandbox.run(["cat"], input=data)

    assert done.returncode == 0, done.stderr
    assert done.stdout == data


def test_the_command_sees_its_own_stderr(sandbox):
    done = sandbox.run(["sh", "-c", "echo to-stderr >&2; exit 3"])

    assert done.returncode == 3
    assert "to-stderr" in done.stderr.splitlines()


def wait_for_line(stream, expected, what):
    line = stream.readline()
    assert line.strip() == expected, f"{what}: expected {expected!r}, got {line!r}"


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_sent_to_the_launcher_reaches_the_command(sandbox, signo):
    name = signal.Signals(signo).name[3:]
    launcher = sandbox.popen(["sh", "-c", f'trap "exit 42" {name}; echo ready; '
                              "sleep 30 & wait"])
    try:
        wait_for_line(launcher.stdout, "ready", "the command's first line")
        launcher.send_signal(signo)
        status = launcher.wait(timeout=20)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        launcher.stdout.close()
        launcher.stderr.close()

    # 42: the command's trap ran (the launcher itself neither died of it nor killed it).
    assert status == 42


def test_a_command_killed_through_the_launcher_reports_128_plus_the_signal(sandbox):
    launcher = sandbox.popen(["sh", "-c", "echo ready; exec sleep 30"])
    try:
        wait_for_line(launcher.stdout, "ready", "the command's first line")
        launcher.send_signal(signal.SIGTERM)
        status = launcher.wait(timeout=20)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        launcher.stdout.close()
        launcher.stderr.close()

    assert status == 128 + signal.SIGTERM


def test_the_command_dies_with_the_launcher(sandbox):
    # A variable only this test's processes carry finds them among the host's processes.
    token = secrets.token_hex(8)
    marker = f"SLUICE_TEST_MARK={token}"
    env = dict(os.environ, SLUICE_TEST_MARK=token)
    launcher = sandbox.popen(["sh", "-c", "echo ready; sleep 60; echo survived"], env=env)
    try:
        wait_for_line(launcher.stdout, "ready", "the command's first line")
        inside = [pid for pid in processes_with(marker) if pid != launcher.pid]
        assert inside, "found no sandboxed process carrying the marker"

        launcher.kill()
        launcher.wait(timeout=20)
        deadline = time.monotonic() + 20
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = processes_with(marker)
    finally:
        for pid in processes_with(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        rest = launcher.stdout.read()  # EOF: every process holding the pipe is gone
        launcher.stdout.close()
        launcher.stderr.close()

    assert left == [], f"sandboxed processes outlived the launcher: {left}"
    assert rest == ""


def test_an_unprivileged_user_can_run_the_sandbox(sandbox):
    allowed = sandbox.site("api.anthropic.com", "/as-nobody")
    denied = sandbox.site("www.google.com", "/as-nobody")
    log = sandbox.new_log()
    script = ("id -u; "
              'curl -sS --max-time 30 --cacert "$1" "$2"; echo "allowed=$?"; '
              'curl -sS --max-time 30 --cacert "$1" "$3"; echo "denied=$?"; '
              'getent hosts api.anthropic.com; echo "getent=$?"')

    done = sandbox.run(["sh", "-c", script, "sh", sandbox.ca_cert, allowed.url, denied.url],
                       "--log", log, as_nobody=True)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(UNPRIVILEGED_UID)
    assert allowed.expected + "allowed=0\n" in done.stdout, done.stdout
    assert "denied=56\n" in done.stdout, done.stdout
    assert "getent=2\n" in done.stdout, done.stdout
    assert_denials(done, denied.target)
    lines = read_log(log)
    assert matching(lines, run_tunnel_re(allowed.target)), lines
    assert matching(lines, run_denied_re(403, denied.target, "domain-denied")), lines
    assert os.stat(log).st_uid == UNPRIVILEGED_UID


def test_an_unprivileged_sandbox_is_confined_the_same_way(sandbox):
    done = sandbox.run(probe("status"), as_nobody=True)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    unix = sandbox.run(probe("unix"), as_nobody=True)
    route = sandbox.run(probe("udp", "192.0.2.1", "53"), as_nobody=True)

    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0, status
    assert status["NoNewPrivs"] == "1"
    assert json.loads(unix.stdout) == {"ok": False, "errno": "EPERM"}, unix.stderr
    assert json.loads(route.stdout) == {"ok": False, "errno": "ENETUNREACH"}, route.stderr


def test_no_isolate_requires_the_per_run_token(sandbox):
    site = sandbox.site("api.anthropic.com", "/no-isolate")

    done = sandbox.run(python(PROBE, "no-isolate", site.url, sandbox.ca_cert), "--no-isolate")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    proxy = result["proxy"]
    assert (proxy["scheme"], proxy["user"], proxy["host"]) == ("http", "sluice", "127.0.0.1")
    assert proxy["port"] != 3128
    assert proxy["token_length"] >= 32
    assert result["without_token"] == [407, "auth-required"]
    assert result["wrong_token"] == [407, "auth-failed"]
    assert result["with_env"] == [200, site.expected]


def test_no_isolate_tokens_differ_between_runs(sandbox):
    first = sandbox.run(["printenv", "HTTPS_PROXY"], "--no-isolate")
    second = sandbox.run(["printenv", "HTTPS_PROXY"], "--no-isolate")

    assert first.returncode == second.returncode == 0
    assert first.stdout.startswith("http://sluice:")
    assert first.stdout != second.stdout


def test_no_isolate_still_applies_the_policy(sandbox):
    site = sandbox.site("www.google.com", "/no-isolate")
    log = sandbox.new_log()

    done = sandbox.run([*CURL, "--cacert", sandbox.ca_cert, site.url], "--no-isolate",
                       "--log", log)

    assert done.returncode == 56, done.stderr
    assert_denials(done, site.target)
    lines = read_log(log)
    # The command authenticated as "sluice" with its token.
    assert matching(lines, squid_line_re("TCP_DENIED/403", site.target, "sluice", "HIER_NONE/-",
                                         "text/plain", extra="domain-denied")), lines


def test_refused_namespaces_exit_125_and_never_run_the_command(sluice_bin, tmp_path):
    # Inside a user namespace of the test's own, the limit on further user namespaces is set
    # to 0 (it is per namespace), so sluice's clone() is refused exactly as on a host that
    # forbids them. The command would leave a marker file if it ever ran unconfined.
    marker = tmp_path / "ran-unconfined"
    script = ("echo 0 > /proc/sys/user/max_user_namespaces && "
              f"exec {sluice_bin} run --allow api.anthropic.com -- touch {marker}")
    done = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c", script],
                          capture_output=True, text=True, timeout=30)

    assert done.returncode == 125, (done.returncode, done.stderr)
    assert "cannot create the sandbox's namespaces" in done.stderr
    assert "max_user_namespaces" in done.stderr  # says how to allow it
    assert not marker.exists()


@pytest.mark.parametrize("options", [(), ("--no-isolate",)], ids=["sandbox", "no-isolate"])
def test_the_command_starts_with_sigpipe_not_ignored(sandbox, options):
    # The launcher ignores SIGPIPE (a client that goes away must not kill the proxy); the
    # command must not inherit that: `yes | head -1` has to end with yes killed by SIGPIPE.
    done = sandbox.run(["sh", "-c", "grep SigIgn /proc/self/status; yes | head -1 >/dev/null"],
                       *options)

    assert done.returncode == 0, done.stderr
    ignored = int(done.stdout.split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1)), done.stdout
