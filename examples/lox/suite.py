#!/usr/bin/env python3
"""Runs Lox test files by their comments, as the Crafting Interpreters
test runner does for clox, and prints pass/fail counts.

    python3 examples/lox/suite.py [--lox PATH] [--jobs N] DIR_OR_FILE...

A test expects the output in its `// expect: ...` comments; a compile
error from `// Error ...` and `// [line N] Error ...` (or `[c line N]`)
comments (stderr lines `[line N] Error...`, exit code 65); or a runtime
error from `// expect runtime error: ...` (its message as the first stderr
line, a stack trace naming that line, exit code 70). Folders
`benchmark`, `scanning` and `expressions` are skipped (they are not clox
tests). The environment is passed through, so e.g.
`TRICOLOR_GCSTRESS=1 python3 examples/lox/suite.py DIR` repeats a run under
gc-stress.
"""

import argparse
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

SKIP_DIRS = {"benchmark", "scanning", "expressions"}
EXPECT = re.compile(r"// expect: ?(.*)")
ERROR = re.compile(r"// (Error.*)")
ERROR_LINE = re.compile(r"// \[((java|c) )?line (\d+)\] (Error.*)")
RUNTIME = re.compile(r"// expect runtime error: (.+)")
SYNTAX = re.compile(r"\[.*line (\d+)\] (Error.+)")
STACK = re.compile(r"\[line (\d+)\]")


def parse(path):
    out, errors, runtime, runtime_line, code = [], set(), None, 0, 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f.read().split("\n"), 1):
            if "// nontest" in line:
                return None
            m = EXPECT.search(line)
            if m:
                out.append((n, m.group(1)))
                continue
            m = ERROR.search(line)
            if m:
                errors.add(f"[{n}] {m.group(1)}")
                code = 65
                continue
            m = ERROR_LINE.search(line)
            if m:
                if m.group(2) in (None, "c"):
                    errors.add(f"[{m.group(3)}] {m.group(4)}")
                    code = 65
                continue
            m = RUNTIME.search(line)
            if m:
                runtime, runtime_line, code = m.group(1), n, 70
    return out, errors, runtime, runtime_line, code


def run(lox, path):
    spec = parse(path)
    if spec is None:
        return None
    expected_out, errors, runtime, runtime_line, code = spec
    p = subprocess.run([lox, path], capture_output=True, timeout=600)
    got_out = p.stdout.decode(errors="replace").split("\n")
    got_err = p.stderr.decode(errors="replace").split("\n")
    if got_out and got_out[-1] == "":
        got_out.pop()
    if got_err and got_err[-1] == "":
        got_err.pop()
    fails = []
    if runtime is not None:
        if len(got_err) < 2:
            fails.append(f"expected runtime error '{runtime}', got {got_err}")
        else:
            if got_err[0] != runtime:
                fails.append(f"expected runtime error '{runtime}', got '{got_err[0]}'")
            lines = [STACK.search(l) for l in got_err[1:]]
            lines = [m for m in lines if m]
            if not lines:
                fails.append("no stack trace")
            elif int(lines[0].group(1)) != runtime_line:
                fails.append(f"runtime error on line {lines[0].group(1)}, expected {runtime_line}")
    else:
        found = set()
        for l in got_err:
            m = SYNTAX.search(l)
            if m:
                e = f"[{m.group(1)}] {m.group(2)}"
                if e in errors:
                    found.add(e)
                else:
                    fails.append(f"unexpected error: {l}")
            elif l != "":
                fails.append(f"unexpected stderr: {l}")
        for e in sorted(errors - found):
            fails.append(f"missing error: {e}")
    if p.returncode != code:
        fails.append(f"exit code {p.returncode}, expected {code}")
    for i, l in enumerate(got_out):
        if i >= len(expected_out):
            fails.append(f"unexpected output '{l}'")
        elif expected_out[i][1] != l:
            fails.append(f"line {expected_out[i][0]}: expected '{expected_out[i][1]}', got '{l}'")
    for n, e in expected_out[len(got_out):]:
        fails.append(f"missing output '{e}' (line {n})")
    return fails


def collect(paths):
    files = []
    for p in paths:
        if os.path.isfile(p):
            files.append(p)
            continue
        for root, dirs, names in os.walk(p):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            files += [os.path.join(root, n) for n in sorted(names) if n.endswith(".lox")]
    return files


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "target", "release", "lox")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lox", default=default, help="the interpreter (default: target/release/lox)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("-v", "--verbose", action="store_true", help="print each failure's details")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    files = collect(a.paths)
    with ThreadPoolExecutor(a.jobs) as ex:
        results = list(ex.map(lambda f: (f, run(a.lox, f)), files))
    passed = failed = 0
    for f, fails in results:
        if fails is None:
            continue
        if fails:
            failed += 1
            print(f"FAIL {f}")
            if a.verbose:
                for x in fails[:10]:
                    print(f"     {x}")
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
