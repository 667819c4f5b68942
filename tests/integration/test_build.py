# SPDX-License-Identifier: MIT
"""The first `make` on a bare machine works in one go.

On a machine without node-llhttp, the first phase of `make` installs it; a single make run
would then still believe /usr/share/llhttp empty (make reads a directory once) and stop with
"No rule to make target 'build/llhttp/llhttp.o'". The stand-in for that machine: a DEPS script
that makes the llhttp sources appear only when it runs, in a directory that does not exist
when make starts."""

import os
import stat
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.mark.slow
def test_a_build_whose_first_phase_installs_llhttp_succeeds_in_one_run(tmp_path):
    src = tmp_path / "llhttp-src"
    deps = tmp_path / "deps.sh"
    deps.write_text(f"#!/bin/sh\n# stand-in for apt-get install node-llhttp\n"
                    f"[ -d {src} ] || cp -r /usr/share/llhttp {src}\n")
    deps.chmod(deps.stat().st_mode | stat.S_IXUSR)
    build = tmp_path / "build"

    done = subprocess.run(["make", "-C", REPO, "-j2", f"BUILD={build}", f"LLHTTP_SRC={src}",
                           f"DEPS={deps}"], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    version = subprocess.run([str(build / "sluice"), "version"], capture_output=True,
                             text=True, timeout=30)
    assert version.stdout.startswith("sluice "), version
