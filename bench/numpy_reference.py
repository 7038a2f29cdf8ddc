#!/usr/bin/python3
"""W6 reference: the infinite-width NTK of a ReLU MLP (3 hidden layers, NTK parameterization,
sw2 = 2, sb2 = 0) on 2000 random inputs in 10 dimensions, as a vectorized numpy implementation
of the same recursion as neural-tangents' stax.serial(Dense, Relu, ..., Dense). float64, 2 threads.
Prints `W6_analytic_ntk MEDIAN_SECONDS` (median of 5 timed calls after a warm-up)."""
import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
import statistics
import time

import numpy as np


def relu_ntk(x, depth=3, sw2=2.0, sb2=0.0):
    d = x.shape[1]
    nngp = sw2 * (x @ x.T) / d + sb2  # first Dense
    ntk = nngp.copy()
    for _ in range(depth):
        diag = np.sqrt(np.diag(nngp))
        norms = np.outer(diag, diag)
        cos = np.clip(nngp / norms, -1.0, 1.0)
        theta = np.arccos(cos)
        relu_nngp = norms * (np.sin(theta) + (np.pi - theta) * cos) / (2 * np.pi)
        relu_dot = (np.pi - theta) / (2 * np.pi)
        nngp = sw2 * relu_nngp + sb2  # Dense after the activation
        ntk = sw2 * ntk * relu_dot + nngp
    return ntk


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 10))
    relu_ntk(x)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        relu_ntk(x)
        times.append(time.perf_counter() - start)
    print(f"W6_analytic_ntk {statistics.median(times):.6g}")


if __name__ == "__main__":
    main()
