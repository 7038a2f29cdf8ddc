#!/usr/bin/env python3
"""Extrapolates ntk-regress's time and memory per rank to the full Fashion-MNIST (N = 60k) and to
more ranks, from the strong-scaling runs of scripts/measure_distributed.sh (N0 = 10k, 1 and 2
ranks, results/distributed/scaling_n10000_r{1,2}.json). Prints a Markdown table.

Assumptions (stated in docs/distributed.md): every rank runs on a core like this machine's; a
phase's work scales like its operation count — training kernel N², test kernel N·M, Cholesky
N³ — and divides over R ranks with the parallel efficiency measured from 1 to 2 ranks for that
phase (optimistic for many machines: the network is slower than shared memory); memory per rank is
ntk-regress's plan (--plan-ranks) plus the process overhead measured at N0 (peak minus plan).
"""
import json
import os
import re
import subprocess
import sys

# Usage: extrapolate_distributed.py [RESULTS_DIR] [EFFICIENCY]; EFFICIENCY (0 < e <= 1) replaces
# the measured one of every phase, for what-if tables.
out = sys.argv[1] if len(sys.argv) > 1 else "results/distributed"
assumed = float(sys.argv[2]) if len(sys.argv) > 2 else None
binary = "build/bin/ntk-regress"
one = json.load(open(os.path.join(out, "scaling_n10000_r1.json")))
two = json.load(open(os.path.join(out, "scaling_n10000_r2.json")))
n0, m = one["train_rows"], one["test_rows"]
phases = {"train kernel": 2, "solve": 3, "test kernel": 1}  # power of N in the work


def plan_gb(n, ranks):
    text = subprocess.run([binary, "--fashion-mnist", "--train-size", str(n), "--test-size", str(m), "--plan-ranks",
                           str(ranks)], check=True, capture_output=True, text=True).stdout
    return float(re.search(r"grid\): ([0-9.]+) GB per rank", text).group(1))


efficiency = {p: assumed or one["seconds"][p] / (2 * two["seconds"][p]) for p in phases}
# What the process holds beyond the plan (MPI, OpenBLAS, the decoded data file), at least 0.
overhead = max(0.0, max(two["peak_rss_bytes"]) / 1e9 - plan_gb(n0, 2), max(one["peak_rss_bytes"]) / 1e9 - plan_gb(n0, 1))
print("| N | ranks | training kernel | Cholesky | test kernel | total | memory per rank |")
print("|---|---|---|---|---|---|---|")
for n, ranks in [(10000, 1), (10000, 2), (20000, 2), (60000, 2), (60000, 10), (60000, 100)]:
    times = {}
    for p, power in phases.items():
        t1 = one["seconds"][p] * (n / n0) ** power
        times[p] = t1 if ranks == 1 else t1 / (ranks * efficiency[p])
    total = sum(times.values())
    memory = plan_gb(n, ranks) + overhead
    fmt = lambda s: f"{s:.0f} s" if s < 600 else f"{s / 60:.0f} min"
    print(f"| {n} | {ranks} | {fmt(times['train kernel'])} | {fmt(times['solve'])} | {fmt(times['test kernel'])} | "
          f"{fmt(total)} | {memory:.2f} GB |")
print()
print(("assumed" if assumed else "measured") + " efficiency 1 -> 2 ranks: " + ", ".join(f"{p} {e:.2f}" for p, e in efficiency.items()) +
      f"; process overhead {overhead:.2f} GB")
