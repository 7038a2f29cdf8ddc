#!/usr/bin/python3
"""W8 and W8e as a user runs them: build/bin/ntk-kernel on the first N Fashion-MNIST training
images (784-d, each image standardized to mean 0 and ‖x‖² = 784, as data::load_fashion_mnist),
read from and written to .npy. Measures each run's wall time (the whole process), the time the
tool reports for the kernel alone, and the process's peak resident memory (ru_maxrss of the
child), against the targets:

  W8   analytic NTK, relu, depth 3:  wall <= 1.3 × kernel; peak <= 1.3 × (kernel + input) bytes
  W8e  empirical NTK, width 1024:    peak <= 1.5 × kernel + one layer's activations (N × 1024)

    /usr/bin/python3 bench/dataset_runs.py [--rows 5000] [--skip-empirical]

Needs python3-numpy and the Debian package dataset-fashion-mnist; nothing outside the repository.
"""
import argparse
import gzip
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
IMAGES = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def fashion_mnist(rows):
    with gzip.open(IMAGES, "rb") as f:
        raw = f.read(16 + rows * 784)
    x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(rows, 784).astype(np.float64) / 255.0
    x -= x.mean(axis=1, keepdims=True)
    x /= x.std(axis=1, keepdims=True)
    return x


def run(command):
    """(wall seconds, peak RSS bytes, stderr) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{' '.join(command)} failed:\n{stderr}")
    return wall, usage.ru_maxrss * 1024, stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--tool", default=os.path.join(ROOT, "build", "bin", "ntk-kernel"))
    parser.add_argument("--skip-empirical", action="store_true")
    args = parser.parse_args()
    n = args.rows
    with tempfile.TemporaryDirectory() as tmp:
        x_path, k_path = os.path.join(tmp, "x.npy"), os.path.join(tmp, "k.npy")
        np.save(x_path, fashion_mnist(n))
        kernel_bytes, input_bytes = 8 * n * n, 8 * n * 784
        common = [args.tool, "--input", x_path, "--output", k_path, "--depth", "3", "--activation", "relu",
                  "--sw2", "2", "--sb2", "0.1", "--kind", "ntk"]
        runs = [("W8", common, 1.3 * (kernel_bytes + input_bytes))]
        if not args.skip_empirical:
            runs.append(("W8e", common + ["--empirical", "--width", "1024", "--seed", "0"],
                         1.5 * kernel_bytes + 8 * n * 1024))
        print(f"# N = {n}: kernel {kernel_bytes / 1e6:.0f} MB, input {input_bytes / 1e6:.0f} MB; load {os.getloadavg()}")
        for name, command, memory_target in runs:
            wall, peak, stderr = run(command)
            match = re.search(r"kernel ([0-9.e+-]+) s", stderr)
            kernel = float(match.group(1)) if match else float("nan")
            print(f"{name}: wall {wall:.2f} s, kernel {kernel:.2f} s, wall/kernel {wall / kernel:.2f}"
                  f"{' (target <= 1.3)' if name == 'W8' else ''}; peak {peak / 1e6:.0f} MB, "
                  f"target <= {memory_target / 1e6:.0f} MB: {'met' if peak <= memory_target else 'MISSED'}")
            check = np.load(k_path, mmap_mode="r")
            assert check.shape == (n, n), check.shape
    return 0


if __name__ == "__main__":
    sys.exit(main())
