#!/usr/bin/python3
"""The PyTorch side of the standard workloads (README "Benchmarks"; bench/bench_workloads.cpp
is the C++ side): the same sizes, float64, 2 threads, the same protocol (warm-up calls, then the
median of 5 measurements of `reps` calls each). Prints `NAME MEDIAN_SECONDS` per workload.

    /usr/bin/python3 bench/torch_reference.py [--filter REGEX]

Needs Debian's python3-torch (1.13, which bundles functorch) and python3-numpy; nothing outside
this repository. The models are PyTorch's nn.Linear stacks (PyTorch's default initialization;
W8e uses the NTK parameterization, as the C++ side); losses are the squared loss; higher-order
derivatives come from functorch, PyTorch's own composable transforms:
  W1  one full-batch gradient-descent step of 1-100-100-1 ReLU on 2 points;
  W2  forward, and gradient of the squared loss, of 64-1024-1024-1024-10 ReLU on a batch of 512;
  W3  gradient and Hessian-vector product (functorch.jvp of functorch.grad) of 16-512-512-1 tanh,
      N = 128;
  W4  the empirical NTK of 16-512-512-1 ReLU on 256 points by Jacobian contraction
      (per-sample Jacobians by vmap(jacrev) over the parameters, then J Jᵀ);
  W5  κ of 1-1000-1 tanh on 10 points: J by jacrev, ‖∇y‖² = λmax(J Jᵀ), and ‖∇²y‖ by alternating
      power iterations on Σ c_i ∇²y_i with HVPs (4 rounds of 8 HVPs, as a fixed budget);
  W8e the empirical NTK of 784-1024-1024-1024-1 ReLU (NTK parameterization) on 48 points by
      Jacobian contraction (J is 48 × 2.9M: the subset functorch holds comfortably).
"""
import argparse
import math
import os

os.environ.setdefault("OMP_NUM_THREADS", "2")
import re
import statistics
import time

import torch
from functorch import grad, jacrev, jvp, make_functional, vmap

torch.set_num_threads(2)
torch.set_default_dtype(torch.float64)


def median_seconds(call, reps, warm=3, measurements=5):
    for _ in range(warm):
        call()
    times = []
    for _ in range(measurements):
        start = time.perf_counter()
        for _ in range(reps):
            call()
        times.append((time.perf_counter() - start) / reps)
    return statistics.median(times)


def mlp(sizes, activation):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(activation())
    return torch.nn.Sequential(*layers)


class NtkLinear(torch.nn.Module):
    """y = σ_w/√fan_in · W h + σ_b · b with W, b ~ N(0, 1): neural-tangents' NTK parameterization."""

    def __init__(self, fan_in, fan_out, sw2, sb2):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(fan_out, fan_in))
        self.bias = torch.nn.Parameter(torch.randn(fan_out))
        self.w_scale, self.b_scale = math.sqrt(sw2 / fan_in), math.sqrt(sb2)

    def forward(self, h):
        return self.w_scale * h @ self.weight.T + self.b_scale * self.bias


def squared_loss(prediction, target):
    return 0.5 * ((prediction - target) ** 2).sum() / prediction.shape[0]


def flat_jacobian(fmodel, params, x):
    """J (N·k, p): per-sample Jacobians, vmap(jacrev(f(params, x_i))) — functorch's NTK recipe
    ("Jacobian contraction"), one reverse pass per output of one sample, batched over samples."""
    def single(p, xi):
        return fmodel(p, xi.unsqueeze(0)).reshape(-1)

    jac = vmap(jacrev(single), in_dims=(None, 0))(params, x)  # each (N, k, *shape)
    n, k = x.shape[0], jac[0].shape[1]
    return torch.cat([j.reshape(n * k, -1) for j in jac], dim=1)


def w1():
    torch.manual_seed(0)
    net = mlp([1, 100, 100, 1], torch.nn.ReLU)
    x, y = torch.tensor([[-2.0], [0.5]]), torch.tensor([[3.0], [-1.0]])
    opt = torch.optim.SGD(net.parameters(), lr=1e-4)

    def step():
        opt.zero_grad()
        squared_loss(net(x), y).backward()
        opt.step()

    return median_seconds(step, 500)


def w2():
    torch.manual_seed(0)
    net = mlp([64, 1024, 1024, 1024, 10], torch.nn.ReLU)
    x, y = torch.randn(512, 64), torch.randn(512, 10)
    with torch.no_grad():
        forward = median_seconds(lambda: net(x), 5)

    def gradient():
        net.zero_grad()
        squared_loss(net(x), y).backward()

    return {"W2_wide_forward": forward, "W2_wide_grad": median_seconds(gradient, 3)}


def w3():
    torch.manual_seed(0)
    fmodel, params = make_functional(mlp([16, 512, 512, 1], torch.nn.Tanh))
    x, y = torch.randn(128, 16), torch.randn(128, 1)
    v = tuple(torch.randn_like(p) for p in params)
    loss = lambda p: squared_loss(fmodel(p, x), y)  # noqa: E731
    g = grad(loss)
    return {
        "W3_grad": median_seconds(lambda: g(params), 10),
        "W3_hvp": median_seconds(lambda: jvp(g, (params,), (v,))[1], 10),
    }


def w4():
    torch.manual_seed(0)
    fmodel, params = make_functional(mlp([16, 512, 512, 1], torch.nn.ReLU))
    x = torch.randn(256, 16)

    def ntk():
        j = flat_jacobian(fmodel, params, x)
        return j @ j.T

    return median_seconds(ntk, 1, warm=1)


def w5():
    torch.manual_seed(0)
    fmodel, params = make_functional(mlp([1, 1000, 1], torch.nn.Tanh))
    x, target = torch.randn(10, 1), torch.zeros(10)

    def kappa():
        y = fmodel(params, x).reshape(-1)
        j = flat_jacobian(fmodel, params, x)
        grad_norm2 = torch.linalg.eigvalsh(j @ j.T)[-1]
        c = torch.ones(10) / math.sqrt(10.0)
        hessian_norm = 0.0
        for _ in range(4):  # alternate: top eigenvector of Σ c_i ∇²y_i, then c ∝ (vᵀ∇²y_i v)_i
            weighted = grad(lambda p: (fmodel(p, x).reshape(-1) * c).sum())
            v = tuple(torch.randn_like(p) for p in params)
            for _ in range(8):
                hv = jvp(weighted, (params,), (v,))[1]
                norm = torch.sqrt(sum((h * h).sum() for h in hv))
                v = tuple(h / norm for h in hv)
            hessian_norm = float(norm)
            quad = []
            for i in range(10):
                gi = grad(lambda p: fmodel(p, x).reshape(-1)[i])
                hv = jvp(gi, (params,), (v,))[1]
                quad.append(sum((a * b).sum() for a, b in zip(v, hv)))
            quad = torch.stack(quad)
            c = quad / torch.linalg.norm(quad)
        return float(torch.linalg.norm(y - target)) * hessian_norm / float(grad_norm2)

    return median_seconds(kappa, 1, warm=1)


def w8e():
    torch.manual_seed(0)
    sizes = [784, 1024, 1024, 1024, 1]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(NtkLinear(sizes[i], sizes[i + 1], 2.0, 0.1))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    fmodel, params = make_functional(torch.nn.Sequential(*layers))
    x = torch.randn(48, 784)

    def ntk():
        j = flat_jacobian(fmodel, params, x)
        return j @ j.T

    return median_seconds(ntk, 1, warm=1)


WORKLOADS = {
    "W1_seed_small_gd_step": w1,
    "W2_wide": w2,
    "W3": w3,
    "W4_entk": w4,
    "W5_kappa": w5,
    "W8e_entk_subset": w8e,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filter", default=".*", help="regular expression on the workload names")
    args = parser.parse_args()
    pattern = re.compile(args.filter)
    for name, run in WORKLOADS.items():
        if not pattern.search(name):
            continue
        result = run()
        for key, seconds in (result.items() if isinstance(result, dict) else [(name, result)]):
            print(f"{key} {seconds:.6g}", flush=True)


if __name__ == "__main__":
    main()
