#!/usr/bin/env python3
"""Runs the standard workloads on both sides in one sitting and prints ours / reference ratios
against the targets of the README's Benchmarks section.

    bench/compare.py [--ours build/bin/bench-workloads] [--filter REGEX]

The PyTorch side is bench/torch_reference.py (Debian's python3-torch, run with /usr/bin/python3);
W6's reference is bench/numpy_reference.py (python3-numpy). Each side prints
`NAME MEDIAN_SECONDS` lines. Everything needed is in this repository."""
import argparse
import datetime
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name: (target ratio ours/reference, what it means)
TARGETS = {
    "W1_seed_small_gd_step": (1 / 20, "<= 1/20 of PyTorch"),
    "W2_wide_grad": (0.9, "<= 0.9 of PyTorch"),
    "W3_hvp": (0.8, "<= 0.8 of PyTorch/functorch"),
    "W4_entk": (1 / 100, "<= 1/100 of functorch's Jacobian contraction"),
    "W5_kappa": (0.5, "<= 0.5 of the reference"),
    "W6_analytic_ntk": (1 / 3, "<= 1/3 of vectorized numpy"),
    "W8e_entk_subset": (1 / 100, "<= 1/100 of functorch's Jacobian contraction"),
}
INTERNAL = {  # ours / ours <= target
    ("W2_wide_grad", "W2_wide_forward"): 3.2,
    ("W3_hvp", "W3_grad"): 3.0,
    ("W12_kappa_seeds_2thread", "W12_kappa_seeds_1thread"): 1 / 1.8,  # 2 threads >= 1.8x one
}
# Shown without a target: W8's in-process ratio. Its kernel-only repetitions reuse a warm 200 MB
# block while each file repetition writes it away and touches fresh memory again (slow on a VM);
# W8's target (wall <= 1.3 x kernel) is checked on one whole ntk-kernel run, bench/dataset_runs.py.
INFORMATION = [("W8_fmnist_ntk_file", "W8_fmnist_ntk_kernel")]
ABSOLUTE = {  # ours, seconds <= target
    "W10_tanh_ntk_series": 1.0,
    "W11_init_4096x2": 0.1,
}


def run(command):
    print("$", " ".join(command), file=sys.stderr, flush=True)
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    times = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            times[parts[0]] = float(parts[1])
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ours", default=os.path.join(ROOT, "build", "bin", "bench-workloads"))
    parser.add_argument("--torch", default=os.path.join(HERE, "torch_reference.py"))
    parser.add_argument("--python", default="/usr/bin/python3", help="the interpreter that has torch and numpy")
    parser.add_argument("--filter", default=".*", help="regular expression: only these workloads (both sides)")
    args = parser.parse_args()

    ours = run([args.ours, "--filter", args.filter])
    reference = run([args.python, args.torch, "--filter", args.filter])
    reference.update(run([args.python, os.path.join(HERE, "numpy_reference.py")]))

    print(f"# {datetime.date.today()}  {platform.node()}  {os.cpu_count()} cores  (median seconds per call)")
    print(f"{'workload':<24}{'ours':>12}{'reference':>12}{'ratio':>10}  target")
    ok = True
    for name, (target, text) in TARGETS.items():
        if name not in ours or name not in reference:
            print(f"{name:<24}  missing on one side")
            ok = False
            continue
        ratio = ours[name] / reference[name]
        met = ratio <= target
        ok &= met
        print(f"{name:<24}{ours[name]:>12.4g}{reference[name]:>12.4g}{ratio:>10.4f}  {text}: {'met' if met else 'MISSED'}")
    for name, target in ABSOLUTE.items():
        if name in ours:
            met = ours[name] <= target
            ok &= met
            print(f"{name:<24}{ours[name]:>12.4g}{'':>12}{'':>10}  <= {target} s: {'met' if met else 'MISSED'}")
    for name in ("W10_tanh_ntk_series", "W12_kappa_seeds_1thread"):
        other = {"W10_tanh_ntk_series": "W10_tanh_ntk_pairwise", "W12_kappa_seeds_1thread": "W12_kappa_seeds_2thread"}[name]
        if name in ours and other in ours:
            print(f"{other + ' / ' + name:<48}{ours[other] / ours[name]:>10.3f}  (speed-up of the second)")
    for (a, b), target in INTERNAL.items():
        if a in ours and b in ours:
            ratio = ours[a] / ours[b]
            met = ratio <= target
            ok &= met
            print(f"{a + ' / ' + b:<48}{ratio:>10.3f}  <= {target}: {'met' if met else 'MISSED'}")
    for a, b in INFORMATION:
        if a in ours and b in ours:
            print(f"{a + ' / ' + b:<48}{ours[a] / ours[b]:>10.3f}  (the target is checked by bench/dataset_runs.py)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
