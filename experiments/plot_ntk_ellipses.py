"""Figures of the ntk-ellipses experiment: "Seeing the Kernel Regime" in "Understanding the Neural
Tangent Kernel" (Rajat V D, 2019), the post's header GIF.

Why: the post draws the 2x2 NTK of its 2-point data set as an ellipse centred on the targets,
axes along the eigenvectors, lengths proportional to 1/sqrt(eigenvalue) -- the contour
(y - ybar)^T Theta (y - ybar) = c^2 -- beside the trajectory of the outputs, one colour per output
scale alpha, and the trained functions beside it. Here c = ||u0|| sqrt(lambda_min(Theta0)) / 2 (the
initial ellipse's slow semi-axis is half the distance from the start to the target), fixed for
every frame and alpha, so a growing kernel shows as a shrinking ellipse. The linearized gradient flow from the initial kernel is drawn dashed.

    seeing-the-kernel-regime.gif      ellipses + trajectories + functions, one frame per snapshot
    seeing-the-kernel-regime.png      the final frame
    seeing-the-kernel-regime_vs-alpha.png  NTK change and trajectory gap vs alpha (median, 95% CI)

Usage: /usr/bin/python3 experiments/plot_ntk_ellipses.py results/ntk-ellipses
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plotting  # noqa: E402
from plotting import plt  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

folder = plotting.folder_from_argv("ntk-ellipses")
summary = plotting.read_summary(folder)
settings = summary["settings"]
alphas = settings["alphas"]
targets = np.array(settings["targets"], dtype=float)
inputs = np.array(settings["inputs"], dtype=float)
drawn_seed = summary["seeds"][0]
note = plotting.settings_note(summary, ["width", "depth", "learning_rate", "steps"])


def load(name, columns):
    """The named numeric columns of a CSV as one float array per column (fast: numpy, no dicts)."""
    path = os.path.join(folder, name)
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return {c: data[:, header.index(c)] for c in columns}


trajectory = load("trajectory.csv", ["alpha", "seed", "step", "y1", "y2", "linear_y1", "linear_y2", "eigenvalue1",
                                     "eigenvalue2", "eigenvector1_1", "eigenvector1_2"])
functions = load("functions.csv", ["alpha", "seed", "step", "x", "f"])
colours = plt.cm.plasma(np.linspace(0.05, 0.85, len(alphas)))  # small alpha dark/red .. large alpha yellow-pink


def rows(table, alpha):
    return np.flatnonzero((table["alpha"] == alpha) & (table["seed"] == drawn_seed))


# Per alpha: the drawn seed's records, in step order.
records = {a: rows(trajectory, a) for a in alphas}
steps = trajectory["step"][records[alphas[0]]]
frame_steps = np.unique(functions["step"][rows(functions, alphas[0])])
first = records[alphas[0]][0]
u0 = np.array([trajectory["y1"][first], trajectory["y2"][first]]) - targets


def ellipse_geometry(i):
    """Width, height (full axes) and angle (degrees) of the contour u^T Theta u = c^2 at record i."""
    lam1, lam2 = trajectory["eigenvalue1"][i], trajectory["eigenvalue2"][i]
    v1 = np.array([trajectory["eigenvector1_1"][i], trajectory["eigenvector1_2"][i]])  # slow axis (a column of V)
    angle = math.degrees(math.atan2(v1[1], v1[0]))
    return 2 * level / math.sqrt(lam1), 2 * level / math.sqrt(lam2), angle


# The ellipses' scale: the initial one's slow semi-axis is half of ||u0|| (so the trajectories are
# readable), the same level for every frame and alpha.
level = 0.5 * float(np.linalg.norm(u0)) * math.sqrt(trajectory["eigenvalue1"][first])

# Axes limits: the initial ellipse and every trajectory of the drawn seed.
half_width, half_height, angle0 = [g / 2 if k < 2 else g for k, g in enumerate(ellipse_geometry(first))]
extent = np.array([[half_width * abs(math.cos(math.radians(angle0))) + half_height * abs(math.sin(math.radians(angle0)))],
                   [half_width * abs(math.sin(math.radians(angle0))) + half_height * abs(math.cos(math.radians(angle0)))]])
all_y1 = np.concatenate([trajectory["y1"][records[a]] for a in alphas] + [targets[:1] - extent[0], targets[:1] + extent[0]])
all_y2 = np.concatenate([trajectory["y2"][records[a]] for a in alphas] + [targets[1:] - extent[1], targets[1:] + extent[1]])
pad = 0.05 * max(np.ptp(all_y1), np.ptp(all_y2))
y_limits = (all_y1.min() - pad, all_y1.max() + pad), (all_y2.min() - pad, all_y2.max() + pad)
function_rows = {a: rows(functions, a) for a in alphas}
f_all = np.concatenate([functions["f"][function_rows[a]] for a in alphas])
f_limits = (min(f_all.min(), targets.min()) - 0.5, max(f_all.max(), targets.max()) + 0.5)


def build_figure(dpi=100):
    fig, (ax, axf) = plt.subplots(1, 2, figsize=(11, 5.2), dpi=dpi)
    ax.set_xlim(*y_limits[0])
    ax.set_ylim(*y_limits[1])
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("output y₁ = f(x₁),  x₁ = %g" % inputs[0])
    ax.set_ylabel("output y₂ = f(x₂),  x₂ = %g" % inputs[1])
    ax.plot(*targets, marker="*", color="black", markersize=12, linestyle="none", zorder=5, label="target ȳ")
    ax.plot(0, 0, marker="o", color="grey", markersize=5, linestyle="none", zorder=5)
    w, h, a = ellipse_geometry(first)
    ax.add_patch(Ellipse(targets, w, h, angle=a, fill=False, color="grey", linestyle=":", linewidth=1.2,
                         label="initial NTK Θ₀"))
    lin = records[alphas[-1]]
    ax.plot(trajectory["linear_y1"][lin], trajectory["linear_y2"][lin], color="black", linestyle="--", linewidth=1.0,
            zorder=4, label="linearized flow ȳ + exp(−Θ₀t) u₀")
    axf.set_xlim(functions["x"].min(), functions["x"].max())
    axf.set_ylim(*f_limits)
    axf.set_xlabel("input x")
    axf.set_ylabel("α (f(x, w) − f(x, w₀))")
    axf.plot(inputs, targets, marker="o", color="black", linestyle="none", markersize=7, zorder=5, label="training points")
    artists = {}
    for colour, alpha in zip(colours, alphas):
        ellipse = Ellipse(targets, w, h, angle=a, fill=False, color=colour, linewidth=1.8)
        ax.add_patch(ellipse)
        (path,) = ax.plot([], [], color=colour, linewidth=1.6)
        (point,) = ax.plot([], [], marker="o", color=colour, markersize=6, linestyle="none")
        (function,) = axf.plot([], [], color=colour, linewidth=1.6, label=f"α = {alpha:g}")
        artists[alpha] = (ellipse, path, point, function)
    ax.legend(loc="upper left", fontsize=8)
    axf.legend(loc="upper right", fontsize=8, title="one colour per α (both panels)", title_fontsize=8)
    title = fig.suptitle("")
    fig.text(0.5, 0.004, "Ellipse: a contour (y − ȳ)ᵀ Θ (y − ȳ) = c² of Θ = NTK / α², centred on ȳ: axes along Θ's "
             "eigenvectors, semi-axes c/√λ, c fixed (the initial slow semi-axis is ‖u₀‖/2).\n" + note,
             ha="center", fontsize=7.5)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.88, bottom=0.17, wspace=0.2)

    def update(step):
        for alpha in alphas:
            ellipse, path, point, function = artists[alpha]
            r = records[alpha]
            upto = r[trajectory["step"][r] <= step]
            i = upto[-1]
            w, h, a = ellipse_geometry(i)
            ellipse.set_width(w)
            ellipse.set_height(h)
            ellipse.set_angle(a)
            path.set_data(trajectory["y1"][upto], trajectory["y2"][upto])
            point.set_data([trajectory["y1"][i]], [trajectory["y2"][i]])
            fr = function_rows[alpha]
            at = fr[functions["step"][fr] == step]
            function.set_data(functions["x"][at], functions["f"][at])
        t = step * settings["learning_rate"]
        title.set_text(f"{plotting.post_caption(summary)}\nstep {int(step)} of {settings['steps']}, t = {t:.3g}, "
                       f"seed {drawn_seed}")
        return []

    return fig, update


fig, update = build_figure(dpi=80)
plotting.save_gif(fig, update, list(frame_steps), folder, "seeing-the-kernel-regime.gif", fps=8)
fig, update = build_figure()
update(frame_steps[-1])
plotting.save_png(fig, folder, "seeing-the-kernel-regime.png")

# NTK change and trajectory gap against alpha.
per_alpha = load("per_alpha.csv", ["alpha", "ntk_change_median", "ntk_change_low", "ntk_change_high", "gap_flow_median",
                                   "gap_flow_low", "gap_flow_high", "gap_gd_median", "gap_gd_low", "gap_gd_high"])
runs = load("runs.csv", ["alpha", "ntk_change", "gap_flow"])
fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.6))
a = per_alpha["alpha"]


def with_band(ax, prefix, colour, label, offset=1.0):
    median = per_alpha[prefix + "_median"]
    ax.errorbar(a * offset, median, yerr=[median - per_alpha[prefix + "_low"], per_alpha[prefix + "_high"] - median],
                color=colour, marker="o", capsize=3, label=label)


def slope_guide(ax, anchor_alpha, anchor_value):
    xs = np.array([anchor_alpha, a.max()])
    ax.plot(xs, anchor_value * anchor_alpha / xs, color="grey", linestyle=":", label="slope -1 (lazy theory)")


ax = axes[0]
ax.scatter(runs["alpha"], runs["ntk_change"], color="tab:blue", alpha=0.25, s=12, label="one seed")
with_band(ax, "ntk_change", "tab:blue", "median, 95% bootstrap CI")
upper = a >= 1
if upper.any():
    slope_guide(ax, a[upper][0], per_alpha["ntk_change_median"][upper][0])
ax.set_title(r"relative NTK change $\|\Theta_{end}-\Theta_0\|_F / \|\Theta_0\|_F$")
ax.set_ylabel("relative change")
ax = axes[1]
ax.scatter(runs["alpha"], runs["gap_flow"], color="tab:red", alpha=0.25, s=12, label="one seed (flow)")
with_band(ax, "gap_flow", "tab:red", "vs linearized flow, median + CI")
with_band(ax, "gap_gd", "tab:green", "vs linearized GD, median + CI", offset=1.08)
if upper.any():
    slope_guide(ax, a[upper][0], per_alpha["gap_flow_median"][upper][0])
ax.set_title(r"largest gap $\max_t \|y(t) - y_{lin}(t)\| / \|\bar y\|$")
ax.set_ylabel(r"gap / $\|\bar y\|$")
for ax in axes:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"output scale $\alpha$")
    ax.legend(fontsize=8)
fig.suptitle(plotting.post_caption(summary) + ": the kernel regime at large alpha", fontsize=10)
fig.text(0.5, -0.02, note, ha="center", fontsize=8)
plotting.save_png(fig, folder, "seeing-the-kernel-regime_vs-alpha.png")
