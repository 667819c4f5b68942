#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks the shape doc/architecture.md promises, so it does not erode:
no include cycle among the modules of src/, and every function in src/
reads on one screen (at most MAX_LINES lines from its opening brace to its
closing one, in the house style where both stand alone on their lines).
Prints what breaks the shape and exits 1; silent when all is well."""
import glob
import os
import re
import sys

MAX_LINES = 60


def include_graph(src):
    graph = {}
    for path in glob.glob(os.path.join(src, "*.[ch]")):
        mod = os.path.basename(path)[:-2]
        with open(path, encoding="utf-8") as f:
            for inc in re.findall(r'^#include "([a-z_0-9]+)\.h"', f.read(), re.M):
                if inc != mod and os.path.exists(os.path.join(src, inc + ".h")):
                    graph.setdefault(mod, set()).add(inc)
    return graph


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def long_functions(src):
    found = []
    for path in sorted(glob.glob(os.path.join(src, "*.c"))):
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        i = 0
        while i < len(lines):
            if lines[i] == "{" and i > 0:
                j = i - 1
                while j > 0 and "(" not in lines[j]:
                    j -= 1
                name = lines[j].split("(")[0].strip()
                k = i + 1
                while k < len(lines) and lines[k] != "}":
                    k += 1
                if k - i + 1 > MAX_LINES:
                    found.append((path, i + 1, name, k - i + 1))
                i = k
            i += 1
    return found


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    bad = False
    for comp in cycles(include_graph(src)):
        print(f"shape: include cycle among {', '.join(comp)}")
        bad = True
    for path, line, name, n in long_functions(src):
        print(f"shape: {path}:{line}: {name} is {n} lines (at most {MAX_LINES})")
        bad = True
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
