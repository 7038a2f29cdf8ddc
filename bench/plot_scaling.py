#!/usr/bin/python3
"""How cost grows with size: runs `build/bin/bench-workloads --scaling` (or reads its saved
output), fits the log-log slope of each series (least squares on the two largest thirds of the
sizes, where fixed costs no longer dominate), prints a Markdown table of the fitted exponents and
draws them as a log-log figure.

    /usr/bin/python3 bench/plot_scaling.py [--input scaling.txt] [--output bench/scaling.png]

Input lines: `SERIES SIZE SECONDS`. Needs Debian's python3-matplotlib and python3-numpy.
"""
import argparse
import collections
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

EXPECTED = {  # series: (expected exponent, what it measures)
    "kappa_vs_width": (1, "κ of 1-p-1 tanh, N = 10, vs width p"),
    "analytic_ntk_vs_n": (2, "analytic NTK, relu depth 3, vs N"),
    "tanh_quadrature_ntk_vs_n": (2, "tanh NTK by quadrature (series), depth 2, vs N"),
    "empirical_ntk_vs_n": (2, "empirical NTK 16-512-512-1, vs N"),
    "empirical_ntk_vs_width": (2, "empirical NTK 16-w-w-1, N = 256, vs width"),
    "train_step_vs_width": (2, "GD step 64-w-w-10, N = 128, vs width"),
}


def fit(sizes, seconds):
    keep = max(2, (2 * len(sizes) + 2) // 3)
    x, y = np.log(sizes[-keep:]), np.log(seconds[-keep:])
    slope, _ = np.polyfit(x, y, 1)
    return slope


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", help="saved `bench-workloads --scaling` output (default: run it now)")
    parser.add_argument("--ours", default=os.path.join(ROOT, "build", "bin", "bench-workloads"))
    parser.add_argument("--output", default=os.path.join(HERE, "scaling.png"))
    args = parser.parse_args()
    if args.input:
        text = open(args.input).read()
    else:
        text = subprocess.run([args.ours, "--scaling"], check=True, capture_output=True, text=True).stdout
        print(text, end="", file=sys.stderr)
    series = collections.OrderedDict()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            series.setdefault(parts[0], []).append((float(parts[1]), float(parts[2])))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    print("| series | sizes | seconds | fitted exponent | expected |")
    print("|---|---|---|---|---|")
    for name, points in series.items():
        points.sort()
        sizes, seconds = np.array([p[0] for p in points]), np.array([p[1] for p in points])
        slope = fit(sizes, seconds)
        expected, label = EXPECTED.get(name, (float("nan"), name))
        print(f"| {label} | {sizes[0]:g}…{sizes[-1]:g} | {seconds[0]:.3g}…{seconds[-1]:.3g} | {slope:.2f} | {expected} |")
        ax.loglog(sizes, seconds, "o-", label=f"{label}: slope {slope:.2f}")
    ax.set_xlabel("size (width p, points N)")
    ax.set_ylabel("seconds per call")
    ax.set_title("How cost grows (bench-workloads --scaling)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
