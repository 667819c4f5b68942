# SPDX-License-Identifier: MIT
"""Run an unpacked image's process the way a container runtime would, with no runtime: in new
user, mount and PID namespaces, chrooted into the image's root file system, as the image's
user.

    python3 container.py --rootfs DIR --user UID:GID [--volume SRC:DST] [--workdir DIR]
        [--env NAME=VALUE] [--pid-file FILE] -- ARGV...

Root only (the caller maps a range of uids into the user namespace). What the process gets:

- a user namespace mapping its ids 0-65535 to UID_BASE+0-65535 on the host, so the image's
  user 65532 is uid UID_BASE+65532 outside too: unprivileged there, and without
  capabilities inside (it became that user from the namespace's root, which drops them);
- its own PID namespace, in which it is PID 1, as in a container: SIGTERM reaches it only
  through a handler (or signalfd), and when it exits everything in the namespace dies;
- a private mount namespace: the root file system bind-mounted read-only (as with
  Kubernetes's readOnlyRootFilesystem), a fresh /proc, a tmpfs /dev with null, zero,
  random, urandom, the host's /etc/hosts and /etc/resolv.conf stand-ins given with
  --volume, and each --volume bound read-only;
- the environment given with --env and nothing else, the working directory --workdir.

Mount points a volume needs are created in DIR first (as a runtime does); DIR is the
caller's scratch copy. --pid-file receives the process's PID as the host sees it, so the
caller can signal it and read /proc/PID/status. The exit status is the process's (128+N
when killed by signal N).
"""

import argparse
import ctypes
import os
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
UID_BASE = 1_000_000_000
ID_COUNT = 65536
DEVICES = ("null", "zero", "full", "random", "urandom")

libc = ctypes.CDLL(None, use_errno=True)


def check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source, target, fstype, flags, data=None):
    check(libc.mount(source and source.encode(), target.encode(),
                     fstype and fstype.encode(), ctypes.c_ulong(flags),
                     data and data.encode()), f"mount {source} on {target}")


def remount_readonly(target):
    """Make the bind mount at `target` read-only. In a user namespace the flags the mount
    already has (nosuid, noexec, atime rules) are locked: a remount must repeat them."""
    have = os.statvfs(target).f_flag
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV
    flags |= have & (os.ST_NOEXEC | os.ST_NOATIME | os.ST_NODIRATIME)
    if have & os.ST_RELATIME:
        flags |= MS_RELATIME
    mount(None, target, None, flags)


def bind(source, target, readonly):
    mount(source, target, None, MS_BIND | MS_REC)
    if readonly:
        remount_readonly(target)


def prepare_mount_points(rootfs, volumes):
    """Create in the image's root what the mounts need (runc does the same)."""
    for sub in ("proc", "dev"):
        os.makedirs(os.path.join(rootfs, sub), exist_ok=True)
    for source, target in volumes:
        path = os.path.join(rootfs, target.lstrip("/"))
        if os.path.isdir(source):
            os.makedirs(path, exist_ok=True)
        elif not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w"):
                pass


def container_init(args, volumes):
    """In the new namespaces, as their root: mounts, chroot, become the user, exec."""
    root = os.path.abspath(args.rootfs)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount(root, root, None, MS_BIND | MS_REC)
    mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    dev = os.path.join(root, "dev")
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k")
    for name in DEVICES:
        with open(os.path.join(dev, name), "w"):
            pass
        bind(f"/dev/{name}", os.path.join(dev, name), readonly=False)
    for source, target in volumes:
        bind(source, os.path.join(root, target.lstrip("/")), readonly=True)
    remount_readonly(root)
    os.chdir(root)
    os.chroot(".")
    os.chdir(args.workdir)
    uid, gid = (int(x) for x in args.user.split(":"))
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)  # from the namespace's root: the capabilities go
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    env = dict(item.split("=", 1) for item in args.env)
    os.execve(args.argv[0], args.argv, env)


def exit_status(status):
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def child(args, volumes, unshared_w, mapped_r):
    """The process that enters the namespaces; its child is the container's PID 1."""
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID), "unshare")
    os.write(unshared_w, b"u")
    if os.read(mapped_r, 1) != b"m":
        raise RuntimeError("the parent did not map the user namespace")
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)  # the namespace's root, UID_BASE outside
    pid = os.fork()
    if pid == 0:
        try:
            container_init(args, volumes)
        except BaseException as exc:  # noqa: BLE001 - report anything, then exit 127
            print(f"container: {exc}", file=sys.stderr, flush=True)
        os._exit(127)
    # SIGTERM and SIGINT for the container go to its PID 1 (docker stop).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: os.kill(pid, signum))
    os.write(unshared_w, f"{pid}\n".encode())  # for the parent's --pid-file
    os.close(unshared_w)
    _, status = os.waitpid(pid, 0)
    os._exit(exit_status(status))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rootfs", required=True)
    parser.add_argument("--user", required=True, help="UID:GID, numeric")
    parser.add_argument("--volume", action="append", default=[], help="SRC:DST, read-only")
    parser.add_argument("--workdir", default="/")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--pid-file")
    parser.add_argument("argv", nargs="+")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("container: needs root (maps a range of uids into a user namespace)")
    volumes = [tuple(v.split(":", 1)) for v in args.volume]
    prepare_mount_points(args.rootfs, volumes)

    unshared_r, unshared_w = os.pipe()
    mapped_r, mapped_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(unshared_r)
        os.close(mapped_w)
        try:
            child(args, volumes, unshared_w, mapped_r)
        except BaseException as exc:  # noqa: BLE001
            print(f"container: {exc}", file=sys.stderr, flush=True)
        os._exit(127)
    os.close(unshared_w)
    os.close(mapped_r)
    # Only a process privileged in the parent namespace may map a range of ids other than
    # its own: root here, for the child that just entered its user namespace.
    if os.read(unshared_r, 1) == b"u":
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(f"0 {UID_BASE} {ID_COUNT}\n")
        os.write(mapped_w, b"m")
    os.close(mapped_w)
    # The container's PID 1 as this namespace sees it (the child, now the namespace's root,
    # could not write where the caller wants it).
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(unshared_r, 32)
        if not chunk:
            break
        line += chunk
    if args.pid_file and line.endswith(b"\n"):
        with open(args.pid_file + ".tmp", "w") as f:
            f.write(line.decode())
        os.rename(args.pid_file + ".tmp", args.pid_file)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: os.kill(pid, signum))
    _, status = os.waitpid(pid, 0)
    sys.exit(exit_status(status))


if __name__ == "__main__":
    main()
