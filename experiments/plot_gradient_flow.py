"""Figures of the gradient-flow experiment: "Gradient Flow" in "Understanding the Neural Tangent
Kernel" (Rajat V D, 2019).

Why: the post's proof decouples the residual u = y - ybar along the eigenvectors of the initial
NTK H0, each component decaying at its own eigenvalue's rate, c_i(t) = exp(-lambda_i t) c_i(0), when
the kernel stays constant. These figures set real gradient descent against that ODE for a narrow
and a wide net:

    gradient-flow_modes.png   log |c_i(t)| against t per mode, real solid, linear ODE dashed,
                              narrow and wide panels (the first seed; one row per data set)
    gradient-flow_rates.png   fitted decay rate against eigenvalue, every mode and seed, y = x line

Usage: /usr/bin/python3 experiments/plot_gradient_flow.py results/gradient-flow
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plotting  # noqa: E402
from plotting import plt  # noqa: E402

folder = plotting.folder_from_argv("gradient-flow")
summary = plotting.read_summary(folder)
settings = summary["settings"]
widths = settings["widths"]
datasets = settings["datasets"]
drawn_seed = summary["seeds"][0]
note = plotting.settings_note(summary, ["widths", "lr_fraction", "steps", "window"])
modes = plotting.read_table(folder, "modes.csv")
rates = plotting.read_table(folder, "rates.csv")
nets = plotting.read_table(folder, "nets.csv")
columns = {k: np.array(v) for k, v in modes.items()}
rate_columns = {k: np.array(v) for k, v in rates.items()}


def kappa_of(dataset, width, seed):
    i = plotting.rows_where(nets, dataset=dataset, width=width, seed=seed)[0]
    return nets["kappa"][i]


def kappa_median(dataset, width):
    return float(np.median([nets["kappa"][i] for i in plotting.rows_where(nets, dataset=dataset, width=width)]))


# Modes: one row per data set, narrow | wide.
fig, axes = plt.subplots(len(datasets), len(widths), figsize=(5.4 * len(widths), 4.0 * len(datasets)), squeeze=False)
for r, dataset in enumerate(datasets):
    for c, width in enumerate(widths):
        ax = axes[r][c]
        select = (columns["dataset"] == dataset) & (columns["width"] == width) & (columns["seed"] == drawn_seed)
        mode_ids = np.unique(columns["mode"][select])
        colours = plt.cm.viridis(np.linspace(0, 0.9, len(mode_ids)))
        for colour, m in zip(colours, mode_ids):
            rows = select & (columns["mode"] == m)
            t = columns["t"][rows]
            lam = columns["eigenvalue"][rows][0]
            real = np.abs(columns["real_component"][rows])
            linear = np.abs(columns["linear_component"][rows])
            ax.plot(t, np.where(real > 0, real, np.nan), color=colour, linewidth=1.5, label=f"λ{m + 1} = {lam:.3g}")
            ax.plot(t, np.where(linear > 0, linear, np.nan), color=colour, linewidth=1.2, linestyle="--")
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(ax.get_ylim()[0], 1e-8))
        ax.set_xlabel("time t = steps × η")
        ax.set_ylabel("|component| |vᵢᵀ(y − ȳ)|")
        ax.set_title(f"{dataset}, width {width}: κ = {kappa_of(dataset, width, drawn_seed):.3g} (seed {drawn_seed})",
                     fontsize=10)
        ax.legend(fontsize=7, ncol=2, loc="lower left", title="solid: real GD, dashed: exp(−λt)c(0)",
                  title_fontsize=7)
fig.suptitle(plotting.post_caption(summary) + "\nthe residual along the eigenvectors of the initial NTK", fontsize=10)
fig.text(0.5, -0.01, note, ha="center", fontsize=8)
fig.tight_layout()
plotting.save_png(fig, folder, "gradient-flow_modes.png")

# Rates: fitted decay rate against eigenvalue.
fig, axes = plt.subplots(1, len(datasets), figsize=(5.6 * len(datasets), 4.8), squeeze=False)
markers = ["o", "s", "^", "D"]
colours = ["tab:red", "tab:blue", "tab:green", "tab:purple"]
for ax, dataset in zip(axes[0], datasets):
    low, high = np.inf, 0.0
    for k, width in enumerate(widths):
        select = (rate_columns["dataset"] == dataset) & (rate_columns["width"] == width)
        lam = rate_columns["eigenvalue"][select]
        rate = rate_columns["fitted_rate"][select]
        resolved = rate_columns["resolved"][select] == 1
        # Eigenvalues at rounding level (a narrow net's dead units make its NTK singular) and modes
        # whose component grew (rate <= 0) have no place on log axes: counted in the legend instead.
        shown = (lam > 1e-8 * lam.max()) & (rate > 0) & np.isfinite(rate)
        colour, marker = colours[k % 4], markers[k % 4]
        ax.scatter(lam[shown & resolved], rate[shown & resolved], s=16, alpha=0.7, color=colour, marker=marker,
                   label=f"width {width} (median κ = {kappa_median(dataset, width):.3g}), λ ≥ κ·λmax")
        ax.scatter(lam[shown & ~resolved], rate[shown & ~resolved], s=16, alpha=0.7, facecolors="none",
                   edgecolors=colour, marker=marker, label=f"width {width}, λ < κ·λmax (kernel drift faster)")
        hidden = int((~shown).sum())
        if hidden:
            ax.scatter([], [], color="none", label=f"  width {width}: {hidden} mode(s) not shown (rate <= 0 or λ ≈ 0)")
        if shown.any():
            low = min(low, lam[shown].min(), rate[shown].min())
            high = max(high, lam[shown].max(), rate[shown].max())
    if np.isfinite(low) and high > 0:
        line = np.array([low, high])
        ax.plot(line, line, color="black", linestyle="--", linewidth=1, label="rate = eigenvalue (kernel regime)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue λᵢ of the initial NTK")
    ax.set_ylabel("fitted decay rate of mode i")
    ax.set_title(f"{dataset}: every mode of every seed", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
fig.suptitle(plotting.post_caption(summary) + ": each mode decays at its eigenvalue's rate?", fontsize=10)
fig.text(0.5, -0.02, note, ha="center", fontsize=8)
fig.tight_layout()
plotting.save_png(fig, folder, "gradient-flow_rates.png")
