# SPDX-License-Identifier: MIT
"""Checks run *inside* `sluice run`, each printing one JSON object on stdout.

  python3 sandboxprobe.py tcp HOST PORT       connect(); {"ok", "errno"}
  python3 sandboxprobe.py udp HOST PORT       UDP connect() (sends no packet); {"ok", "errno"}
  python3 sandboxprobe.py unix                socket(AF_UNIX, SOCK_STREAM); {"ok", "errno"}
  python3 sandboxprobe.py io_uring            io_uring_setup(1, params); {"ok", "errno"}
  python3 sandboxprobe.py processes           every PID in /proc with its argv; reads a PID
                                              from stdin and reports kill(PID, 0)
  python3 sandboxprobe.py status              capability sets, NoNewPrivs, Seccomp, open fds
  python3 sandboxprobe.py no-isolate TARGET_URL CA
                                              (for --no-isolate) the proxy URL from HTTPS_PROXY;
                                              a CONNECT without, and with a wrong, token; then a
                                              GET through the environment's URL with requests

"errno" is the symbolic name (ECONNREFUSED, ENETUNREACH, EPERM...) or null on success.
"""

import ctypes
import errno
import json
import os
import socket
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SYS_IO_URING_SETUP = 425  # the same number on x86_64 and aarch64


def outcome(fn):
    try:
        fn()
    except OSError as exc:
        return {"ok": False, "errno": errno.errorcode.get(exc.errno, str(exc.errno))}
    return {"ok": True, "errno": None}


def check_tcp(host, port):
    def attempt():
        with socket.create_connection((host, int(port)), timeout=10):
            pass
    return outcome(attempt)


def check_udp(host, port):
    def attempt():
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                           socket.SOCK_DGRAM) as sock:
            sock.connect((host, int(port)))
    return outcome(attempt)


def check_unix():
    def attempt():
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
    return outcome(attempt)


def check_io_uring():
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
    fd = libc.syscall(SYS_IO_URING_SETUP, 1, params)
    if fd >= 0:
        os.close(fd)
        return {"ok": True, "errno": None}
    err = ctypes.get_errno()
    return {"ok": False, "errno": errno.errorcode.get(err, str(err))}


def check_processes():
    seen = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    seen[name] = [a.decode("utf-8", "replace") for a in f.read().split(b"\0")
                                  if a]
            except OSError:
                pass
    pid = int(sys.stdin.read().strip())
    try:
        os.kill(pid, 0)
        kill = None
    except OSError as exc:
        kill = errno.errorcode.get(exc.errno, str(exc.errno))
    return {"pids": seen, "self": os.getpid(), "kill_errno": kill}


def check_status():
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
                       "Seccomp"):
                fields[key] = value.strip()
    # fstat() opens nothing, unlike listing /proc/self/fd.
    open_fds = []
    for fd in range(0, 1024):
        try:
            os.fstat(fd)
            open_fds.append(fd)
        except OSError:
            pass
    fields["fds"] = open_fds
    return fields


def check_no_isolate(target_url, ca):
    import requests  # only this check needs it

    from proxyclient import connect

    url = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
    target = urllib.parse.urlsplit(target_url)
    hostport = f"{target.hostname}:{target.port}"
    without = connect(url.port, hostport, proxy_host=url.hostname)
    without.close()
    wrong = connect(url.port, hostport, user=url.username, password="0" * len(url.password),
                    proxy_host=url.hostname)
    wrong.close()
    with requests.Session() as session:
        response = session.get(target_url, verify=ca, timeout=30)
    return {"proxy": {"scheme": url.scheme, "user": url.username, "host": url.hostname,
                      "port": url.port, "token_length": len(url.password or "")},
            "without_token": [without.status, without.error_code],
            "wrong_token": [wrong.status, wrong.error_code],
            "with_env": [response.status_code, response.text]}


CHECKS = {
    "tcp": check_tcp,
    "udp": check_udp,
    "unix": check_unix,
    "io_uring": check_io_uring,
    "processes": check_processes,
    "status": check_status,
    "no-isolate": check_no_isolate,
}


def main(argv):
    if not argv or argv[0] not in CHECKS:
        sys.stderr.write(__doc__)
        return 2
    sys.path.insert(0, HERE)
    json.dump(CHECKS[argv[0]](*argv[1:]), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
