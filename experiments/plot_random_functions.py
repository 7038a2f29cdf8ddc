"""Figures of random-functions: the post's first figure ("Setup" in "Understanding the Neural
Tangent Kernel", Rajat V D, 2019) and the Gaussian-process claim that follows it.

Why: the post shows 100 random width-100 relu nets and says they become Gaussian-process samples
as the width grows; these figures show the 100 functions, the empirical covariance next to the
analytic NNGP kernel (and the exact limit of PyTorch-default nets, whose uniform first layer is
never Gaussian), and how the covariance error falls with the number of nets and with the width.

Reads only results/random-functions/ (argv[1]); writes
  setup_random-functions.png                the 100 functions, as in the post
  setup_random-functions_kernels.png        empirical vs analytic kernel (heatmaps and slices)
  setup_random-functions_error-vs-nets.png  error vs number of nets (log-log, slopes with CIs)
  setup_random-functions_error-vs-width.png error vs width (log-log, slopes with CIs)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plotting  # noqa: E402
from plotting import plt  # noqa: E402

folder = plotting.folder_from_argv("random-functions")
summary = plotting.read_summary(folder)
settings = summary["settings"]
headlines = {h["name"]: h for h in summary["headlines"]}
caption = plotting.post_caption(summary)


def footer(fig, keys):
    fig.text(0.01, -0.02, plotting.settings_note(summary, keys) + "\n" + caption, fontsize=7, ha="left", va="top",
             color="0.35")


def headline(prefix):
    for name, h in headlines.items():
        if name.startswith(prefix):
            return h
    return None


def slope_text(h):
    if h is None or h.get("value") is None:
        return "slope not resolved"
    if h.get("ci_low") is None:
        return f"slope {h['value']:.2f}"
    return f"slope {h['value']:.2f} [{h['ci_low']:.2f}, {h['ci_high']:.2f}]"


# ---- the post's figure: 100 random functions ------------------------------------------------
data = np.loadtxt(os.path.join(folder, "functions.csv"), delimiter=",", skiprows=1)
nets = int(data[:, 0].max()) + 1
points = len(data) // nets
x = data[:points, 2]
f = data[:, 3].reshape(nets, points)
fig, ax = plt.subplots(figsize=(7.5, 4.8))
colors = plt.cm.viridis(np.linspace(0.0, 1.0, nets))
for k in range(nets):
    ax.plot(x, f[k], color=colors[k], lw=0.8, alpha=0.8)
ax.set_xlabel("x")
ax.set_ylabel("f(x)")
ax.set_title(f"{nets} randomly initialized 2-hidden layer, width-{settings['width']} relu networks")
footer(fig, ["width", "nets", "points"])
plotting.save_png(fig, folder, "setup_random-functions.png")

# ---- kernels: empirical vs analytic ------------------------------------------------------------
kt = plotting.read_table(folder, "kernels.csv")
grid = sorted(set(kt["x"]))
g = len(grid)


def matrix(name):
    return np.array(kt[name], dtype=float).reshape(g, g)


emp_torch, emp_gauss = matrix("empirical_torch_default"), matrix("empirical_gaussian")
cond_torch, cond_gauss = matrix("conditional_torch_default"), matrix("conditional_gaussian")
nngp, limit = matrix("nngp"), matrix("torch_limit")
pool = settings["pool"]
fig, axes = plt.subplots(2, 3, figsize=(14, 8.5))
extent = [grid[0], grid[-1], grid[-1], grid[0]]
vmax = max(nngp.max(), emp_torch.max())
for ax, m, title in [(axes[0, 0], emp_torch, f"empirical covariance, {pool} torch-default nets"),
                     (axes[0, 1], nngp, "analytic NNGP kernel (Gaussian formula)")]:
    im = ax.imshow(m, extent=extent, cmap="viridis", vmin=0.0, vmax=vmax)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x'")
    ax.set_ylabel("x")
    ax.grid(False)
    fig.colorbar(im, ax=ax, shrink=0.8)
diff = limit - nngp
lim = np.abs(diff).max()
im = axes[0, 2].imshow(diff, extent=extent, cmap="RdBu_r", vmin=-lim, vmax=lim)
axes[0, 2].set_title("exact limit of torch-default nets minus NNGP formula\n(uniform first layer)", fontsize=9)
axes[0, 2].set_xlabel("x'")
axes[0, 2].set_ylabel("x")
axes[0, 2].grid(False)
fig.colorbar(im, ax=axes[0, 2], shrink=0.8)

picks = [0, g // 4, g // 2, 3 * g // 4, g - 1]
slice_colors = plt.cm.plasma(np.linspace(0.0, 0.85, len(picks)))
for ax, emp, who in [(axes[1, 0], emp_torch, "torch-default"), (axes[1, 1], emp_gauss, "gaussian")]:
    for c, i in zip(slice_colors, picks):
        ax.plot(grid, nngp[i], color=c, lw=1.5, label=f"x = {grid[i]:g}: NNGP")
        ax.plot(grid, emp[i], "o", color=c, ms=3.5, label="empirical" if i == picks[0] else None)
    ax.set_xlabel("x'")
    ax.set_ylabel("K(x, x')")
    ax.set_title(f"slices: {who} nets (dots, plain covariance) vs NNGP (lines)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
ax = axes[1, 2]
for c, i in zip(slice_colors, picks):
    ax.plot(grid, limit[i] - nngp[i], color=c, lw=1.5, label=f"x = {grid[i]:g}")
    ax.plot(grid, cond_torch[i] - nngp[i], "o", color=c, ms=3.5)
    ax.plot(grid, cond_gauss[i] - nngp[i], "x", color=c, ms=4)
ax.axhline(0.0, color="0.5", lw=0.8)
ax.set_xlabel("x'")
ax.set_ylabel("K(x, x') - K_NNGP(x, x')")
ax.set_title("differences from the NNGP formula: exact torch-default limit (lines),\n"
             "torch-default nets (dots), gaussian nets (x), conditional estimator", fontsize=9)
ax.legend(fontsize=7)
fig.suptitle("Empirical covariance of f(x), f(x') over random nets vs the infinite-width kernel, width "
             f"{settings['width']}")
fig.tight_layout()
footer(fig, ["width", "grid", "pool"])
plotting.save_png(fig, folder, "setup_random-functions_kernels.png")

# ---- error vs number of nets ----------------------------------------------------------------
et = plotting.read_table(folder, "covariance_error.csv")
post_width = settings["width"]


def curve(sweep, weights, estimator, column, key):
    rows = plotting.rows_where(et, sweep=sweep, weights=weights, estimator=estimator)
    by = {}
    for i in rows:
        by.setdefault(et[key][i], []).append(et[column][i])
    xs = sorted(by)
    return np.array(xs, float), [np.array(by[v]) for v in xs]


discrepancy = headline("limit of the torch-default nets vs the NNGP formula")["value"]
fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
series = [("torch_default", "error_vs_limit", "C0", "torch-default vs uniform-first-layer limit"),
          ("torch_default", "error_vs_nngp", "C3", "torch-default vs NNGP formula"),
          ("gaussian", "error_vs_nngp", "C2", "gaussian vs NNGP formula")]
for ax, estimator in zip(axes, ["plain", "conditional"]):
    for weights, column, color, label in series:
        xs, groups = curve("nets", weights, estimator, column, "nets")
        mean = np.array([gr.mean() for gr in groups])
        lo = np.array([np.quantile(gr, 0.1) for gr in groups])
        hi = np.array([np.quantile(gr, 0.9) for gr in groups])
        if estimator == "plain" and (column == "error_vs_limit" or weights == "gaussian"):
            label += " — " + slope_text(headline(f"slope of the error vs number of nets ({weights})"))
        ax.plot(xs, mean, "o-", color=color, ms=4, label=label)
        ax.fill_between(xs, lo, hi, color=color, alpha=0.15)
    xs, noise = curve("nets", "torch_default", estimator, "noise", "nets")
    ax.plot(xs, [n.mean() for n in noise], ":", color="0.3", label="sampling noise alone (estimated)")
    ax.plot(xs, noise[0].mean() * (xs / xs[0]) ** -0.5, "--", color="0.6", lw=0.8, label="N^-1/2")
    ax.axhline(discrepancy, color="C3", ls="-.", lw=0.8, label=f"exact ||K_limit - K_NNGP||/||K|| = {discrepancy:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of nets N")
    ax.set_title(f"{estimator} estimator" + (": f(x) f(x') per net" if estimator == "plain" else
                                             ": E[f(x) f(x') | last hidden layer] per net"), fontsize=9)
    ax.legend(fontsize=7)
axes[0].set_ylabel("relative Frobenius error ||K_emp - K|| / ||K||")
fig.suptitle(f"Covariance error vs number of nets, width {post_width} (mean over disjoint blocks, band 10-90%)")
fig.tight_layout()
footer(fig, ["width", "grid", "pool"])
plotting.save_png(fig, folder, "setup_random-functions_error-vs-nets.png")

# ---- error vs width ---------------------------------------------------------------------------
fig, ax = plt.subplots(figsize=(8, 5.5))
for weights, column, color, label in series:
    xs, groups = curve("width", weights, "conditional", column, "width")
    if column == "error_vs_limit" or weights == "gaussian":
        label += " — bias " + slope_text(headline(f"slope of the finite-width bias vs width ({weights})"))
    ax.plot(xs, [gr[0] for gr in groups], "o-", color=color, label=label)
    if weights == "gaussian":
        reference = xs[0] * groups[0][0] / xs
for weights, style in [("torch_default", ":"), ("gaussian", "--")]:
    xs, noise = curve("width", weights, "conditional", "noise", "width")
    ax.plot(xs, [n[0] for n in noise], style, color="0.4", lw=1, label=f"sampling noise alone, {weights}")
lowest = min(min(n[0] for n in curve("width", w, "conditional", "noise", "width")[1]) for w in ("torch_default", "gaussian"))
ax.plot(xs, reference, color="0.7", lw=0.8, label="1/width (through the gaussian nets at the smallest width)")
ax.set_ylim(bottom=0.5 * lowest)
ax.axhline(discrepancy, color="C3", ls="-.", lw=0.8, label=f"exact torch limit vs NNGP at width {post_width} ({discrepancy:.3g})")
nets_text = ", ".join(f"{w}:{n}" for w, n in zip(settings["widths"], settings["width_nets"]))
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("hidden width")
ax.set_ylabel("relative Frobenius error ||K_emp - K|| / ||K||")
ax.set_title("Covariance error vs width, conditional estimator E[f(x) f(x') | last hidden layer]\n"
             f"(nets per width {nets_text}; the plain estimator's rows are in covariance_error.csv)", fontsize=9)
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
footer(fig, ["grid", "blocks", "resamples"])
plotting.save_png(fig, folder, "setup_random-functions_error-vs-width.png")
