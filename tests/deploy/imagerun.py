# SPDX-License-Identifier: MIT
"""The image's process, started as its configuration says (entrypoint, command, user, working
directory, environment) under container.py, with its stdout and stderr collected line by line
as a container runtime's log would collect them."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER = os.path.join(HERE, "container.py")
# What a runtime sets when the image says nothing (the OCI runtime spec's usual PATH).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def image_user(runtime_config, rootfs):
    """The numeric (uid, gid) of the configuration's User: `UID[:GID]` or a name looked up in
    the image's own /etc/passwd, as a runtime does. A missing User is root (0, 0)."""
    user = runtime_config.get("User", "") or "0"
    name, _, group = user.partition(":")
    passwd = {}
    with open(os.path.join(rootfs, "etc", "passwd")) as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if len(fields) >= 4:
                passwd[fields[0]] = (int(fields[2]), int(fields[3]))
    uid, gid = (int(name), None) if name.isdigit() else passwd[name]
    if group:
        gid = int(group)  # (a group name would be looked up in /etc/group; ours is numeric)
    elif gid is None:
        gid = next((g for u, g in passwd.values() if u == uid), uid)
    return uid, gid


class Output:
    """Lines of one stream of the process, kept as they arrive."""

    def __init__(self, stream):
        self.lines = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
        stream.close()

    def wait_for(self, pattern, timeout=30.0):
        """The first match of `pattern` in a line, waiting up to `timeout`; None if none."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    m = regex.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def join(self, timeout=10.0):
        self._thread.join(timeout)

    @property
    def text(self):
        with self._cond:
            return "\n".join(self.lines)


class Container:
    """The image's process running in `rootfs` with `volumes` ((host path, path in the
    image), read-only); `statedir` holds the PID file. `pid` is the process's PID as this
    test process sees it."""

    def __init__(self, image, rootfs, statedir, volumes=()):
        runtime = image.runtime
        self.argv = list(runtime.get("Entrypoint") or []) + list(runtime.get("Cmd") or [])
        if not self.argv:
            raise ValueError("the image's configuration has neither Entrypoint nor Cmd")
        self.uid, self.gid = image_user(runtime, rootfs)
        env = list(runtime.get("Env") or [])
        if not any(e.startswith("PATH=") for e in env):
            env.append(f"PATH={DEFAULT_PATH}")
        self._pid_file = os.path.join(statedir, "container.pid")
        args = [sys.executable, CONTAINER, "--rootfs", rootfs, "--user", f"{self.uid}:{self.gid}",
                "--workdir", runtime.get("WorkingDir") or "/", "--pid-file", self._pid_file]
        for source, target in volumes:
            args += ["--volume", f"{source}:{target}"]
        for item in env:
            args += ["--env", item]
        try:
            os.unlink(self._pid_file)  # a previous container's
        except FileNotFoundError:
            pass
        self.proc = subprocess.Popen([*args, "--", *self.argv], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stdout = Output(self.proc.stdout)
        self.stderr = Output(self.proc.stderr)
        self.pid = None
        deadline = time.monotonic() + 30
        while self.pid is None and time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(self._pid_file) as f:
                    self.pid = int(f.read())
            except (FileNotFoundError, ValueError):
                time.sleep(0.02)
        if self.pid is None and self.proc.poll() is None:
            self.proc.kill()
            raise RuntimeError("container.py reported no PID within 30 s")
        try:
            os.unlink(self._pid_file)
        except FileNotFoundError:
            pass

    def status(self):
        """/proc/PID/status of the image's process as a dict (name -> text)."""
        with open(f"/proc/{self.pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)

    def signal(self, sig):
        if self.proc.poll() is None and self.pid is not None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass  # exited; container.py is about to

    def wait(self, timeout=60.0):
        """The exit status (128+N for signal N), after both streams ended."""
        code = self.proc.wait(timeout)
        self.stdout.join()
        self.stderr.join()
        return code

    def stop(self, timeout=60.0):
        """SIGTERM, as `docker stop` or the kubelet sends it; the exit status."""
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.signal(signal.SIGKILL)
            self.proc.wait()
            raise

    def kill(self):
        """For teardown after a failure: no questions asked."""
        if self.proc.poll() is None:
            self.signal(signal.SIGKILL)
            self.proc.kill()
            self.proc.wait()
