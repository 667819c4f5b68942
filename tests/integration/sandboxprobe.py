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
  python3 sandboxprobe.py socket FAMILY [TYPE]
                                              socket(FAMILY, TYPE or SOCK_STREAM, 0) as a raw
                                              system call: FAMILY (decimal or 0x...) fills the
                                              whole 64-bit register, so 0x100000001 reaches the
                                              kernel as AF_UNIX; TYPE a number or a name
                                              (SOCK_RAW); {"ok", "errno"}
  python3 sandboxprobe.py sockets FAMILY...   the same (SOCK_STREAM) for each FAMILY in turn, in
                                              this one process; {"results": [{"ok", "errno"}...]}
  python3 sandboxprobe.py socketpair FAMILY [TYPE]
                                              socketpair(FAMILY, TYPE or SOCK_STREAM, 0);
                                              {"ok", "errno"}
  python3 sandboxprobe.py files PATH...       for each PATH: a directory's entries and the errno
                                              of creating a file in it ({"entries",
                                              "create_errno"}), a file's text ({"text"}), or
                                              {"errno"}
  python3 sandboxprobe.py launcher            reads a PID from stdin; opening /proc/PID/environ
                                              and /proc/PID/mem, listing /proc/PID/fd,
                                              PTRACE_SEIZE; {"environ", "mem", "fd", "ptrace"}:
                                              errno names or null

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
SYS_SOCKET = {"x86_64": 41, "aarch64": 198}
PTRACE_SEIZE = 0x4206


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


def errno_name(err):
    return errno.errorcode.get(err, str(err))


def socket_type(name):
    return int(name, 0) if name[:1].isdigit() else int(getattr(socket, name))


def raw_socket(family, type_=socket.SOCK_STREAM):
    """socket(2) itself, not glibc's int-typed wrapper: `family` is a 64-bit register value."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    family %= 1 << 64  # -1 is all ones
    if family >= 1 << 63:
        family -= 1 << 64
    fd = libc.syscall(ctypes.c_long(SYS_SOCKET[os.uname().machine]), ctypes.c_long(family),
                      ctypes.c_long(type_), ctypes.c_long(0))
    if fd >= 0:
        os.close(fd)
        return {"ok": True, "errno": None}
    return {"ok": False, "errno": errno_name(ctypes.get_errno())}


def check_socket(family, type_="SOCK_STREAM"):
    return raw_socket(int(family, 0), socket_type(type_))


def check_sockets(*families):
    return {"results": [raw_socket(int(family, 0)) for family in families]}


def check_socketpair(family, type_="SOCK_STREAM"):
    libc = ctypes.CDLL(None, use_errno=True)
    fds = (ctypes.c_int * 2)()
    if libc.socketpair(int(family, 0), socket_type(type_), 0, fds) == 0:
        os.close(fds[0])
        os.close(fds[1])
        return {"ok": True, "errno": None}
    return {"ok": False, "errno": errno_name(ctypes.get_errno())}


def check_files(*paths):
    found = {}
    for path in paths:
        try:
            if os.path.isdir(path):
                entries = sorted(os.listdir(path))
                try:
                    fd = os.open(os.path.join(path, "written-inside"),
                                 os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    os.close(fd)
                    create = None
                except OSError as exc:
                    create = errno_name(exc.errno)
                found[path] = {"entries": entries, "create_errno": create}
            else:
                with open(path, errors="replace") as f:
                    found[path] = {"text": f.read()}
        except OSError as exc:
            found[path] = {"errno": errno_name(exc.errno)}
    return found


def check_launcher():
    pid = int(sys.stdin.read().strip())
    found = {}
    for name in ("environ", "mem"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                if name == "environ":
                    f.read()
            found[name] = None
        except OSError as exc:
            found[name] = errno_name(exc.errno)
    try:
        os.listdir(f"/proc/{pid}/fd")
        found["fd"] = None
    except OSError as exc:
        found["fd"] = errno_name(exc.errno)
    # PTRACE_SEIZE does not stop the tracee; our exit detaches it.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    r = libc.ptrace(ctypes.c_long(PTRACE_SEIZE), ctypes.c_long(pid), ctypes.c_void_p(0),
                    ctypes.c_void_p(0))
    found["ptrace"] = None if r == 0 else errno_name(ctypes.get_errno())
    return found


CHECKS = {
    "tcp": check_tcp,
    "udp": check_udp,
    "unix": check_unix,
    "io_uring": check_io_uring,
    "processes": check_processes,
    "status": check_status,
    "no-isolate": check_no_isolate,
    "socket": check_socket,
    "sockets": check_sockets,
    "socketpair": check_socketpair,
    "files": check_files,
    "launcher": check_launcher,
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
