#!/usr/bin/env python3
"""Runs Lox benchmarks with this VM and with clox, side by side.

    python3 examples/lox/bench.py --clox /tmp/clox [--runs 3] BENCH_DIR

For each `*.lox` in BENCH_DIR, runs each interpreter --runs times,
alternating, and prints a Markdown table: median wall time, peak RSS
(largest of the runs), and for this VM the collector's cycles and its
longest pause (`LOX_GC_SUMMARY`), and the program's last printed number
where it is a score (zoo_batch prints its batch count second to last).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def run_once(cmd, env):
    # Output goes to files, not pipes: a child that fills a pipe while we
    # wait for it would never exit.
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        fo.seek(0)
        fe.seek(0)
        out = fo.read().decode(errors="replace")
        err = fe.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024.0, out, err, code


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--lox", default=os.path.join(here, "..", "..", "target", "release", "lox"))
    ap.add_argument("--clox", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", help="comma-separated benchmark names")
    ap.add_argument("bench_dir")
    a = ap.parse_args()
    env = dict(os.environ, LOX_GC_SUMMARY="1")
    ap_only = a.only.split(",") if a.only else None
    names = sorted(f for f in os.listdir(a.bench_dir) if f.endswith(".lox"))
    if ap_only:
        names = [n for n in names if n[:-4] in ap_only]
    print("| benchmark | clox median s | lox median s | lox/clox | clox peak RSS MiB | lox peak RSS MiB | lox GC cycles | lox max pause | notes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in names:
        path = os.path.join(a.bench_dir, n)
        res = {"clox": [], "lox": []}
        for _ in range(a.runs):
            for name, exe in (("clox", a.clox), ("lox", a.lox)):
                res[name].append(run_once([exe, path], env))
        row = {}
        notes = []
        for name in ("clox", "lox"):
            runs = res[name]
            ok = [r for r in runs if r[4] == 0]
            if not ok:
                row[name] = None
                notes.append(f"{name}: exit {runs[0][4]} ({runs[0][3].strip().splitlines()[0] if runs[0][3].strip() else ''})")
                continue
            row[name] = (statistics.median(r[0] for r in ok), max(r[1] for r in ok))
            if n.startswith("zoo_batch"):
                batches = [int(float(r[2].split()[-2])) for r in ok]
                notes.append(f"{name} batches {statistics.median(batches):.0f}")
        gc = re.search(r"gc: (\d+) cycles, max pause (\d+) us", res["lox"][-1][3])
        cycles = gc.group(1) if gc else "?"
        pause = f"{int(gc.group(2)) / 1000:.2f} ms" if gc else "?"
        c, l = row["clox"], row["lox"]
        fmt = lambda x, i, f: f.format(x[i]) if x else "—"
        ratio = f"{l[0] / c[0]:.2f}" if c and l else "—"
        print(f"| {n[:-4]} | {fmt(c, 0, '{:.2f}')} | {fmt(l, 0, '{:.2f}')} | {ratio} | "
              f"{fmt(c, 1, '{:.0f}')} | {fmt(l, 1, '{:.0f}')} | {cycles} | {pause} | {'; '.join(notes)} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
