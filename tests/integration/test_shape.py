# SPDX-License-Identifier: MIT
"""The shape doc/architecture.md promises holds, and the check that holds it can fail:
scripts/shape.py (run by `make test`) names an include cycle and a function longer than one
screen in a tree made to have them, and finds neither in src/."""

import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHAPE = os.path.join(REPO, "scripts", "shape.py")


def shape(src):
    return subprocess.run([sys.executable, SHAPE, str(src)], capture_output=True, text=True,
                          timeout=60)


def test_src_has_no_include_cycle_and_no_function_longer_than_a_screen():
    done = shape(os.path.join(REPO, "src"))

    assert done.returncode == 0, done.stdout


def test_the_check_names_a_cycle_and_a_long_function(tmp_path):
    (tmp_path / "a.h").write_text("struct a;\n")
    (tmp_path / "b.h").write_text("struct b;\n")
    (tmp_path / "c.h").write_text("struct c;\n")
    (tmp_path / "a.c").write_text('#include "b.h"\n')
    (tmp_path / "b.c").write_text('#include "c.h"\n')
    (tmp_path / "c.c").write_text('#include "a.h"\n\nint\nshort_one(void)\n{\n\treturn 0;\n}\n\n'
                                  "int\nlong_one(void)\n{\n" + "\tx++;\n" * 60 + "}\n")

    done = shape(tmp_path)

    assert done.returncode == 1
    assert "include cycle among a, b, c" in done.stdout
    assert "long_one is 62 lines" in done.stdout
    assert "short_one" not in done.stdout
