# SPDX-License-Identifier: MIT
"""Holding one thread of a running process still while the others run on, so that a test can
make "this worker has not applied that message yet" last as long as it likes instead of a few
microseconds. PTRACE_SEIZE then PTRACE_INTERRUPT stop exactly one thread (SIGSTOP, even sent
to one thread, stops them all); PTRACE_DETACH lets it go on where it was. sluice is not
dumpable, so this needs root (CAP_SYS_PTRACE); every ptrace call comes from the thread that
called held()."""

import contextlib
import ctypes
import os

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000  # waitpid: any child or traced thread

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
_libc.ptrace.restype = ctypes.c_long


def thread_named(pid, name):
    """The id of the thread of process `pid` whose name (/proc/.../comm) is `name`."""
    names = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            names[int(tid)] = f.read().rstrip("\n")
    found = [tid for tid, comm in names.items() if comm == name]
    assert len(found) == 1, f"no single thread named {name!r} in process {pid}: {names}"
    return found[0]


def _ptrace(request, tid):
    if _libc.ptrace(request, tid, None, None) == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"ptrace({request:#x}, {tid}): {os.strerror(err)}")


@contextlib.contextmanager
def held(tid):
    """Thread `tid` is stopped inside the `with` block (and on its way when it is entered)."""
    _ptrace(PTRACE_SEIZE, tid)
    try:
        _ptrace(PTRACE_INTERRUPT, tid)
        _, status = os.waitpid(tid, WALL)
        assert os.WIFSTOPPED(status), f"thread {tid}: wait status {status:#x}"
        yield tid
    finally:
        _ptrace(PTRACE_DETACH, tid)
