"""Figures of the lazy-weights experiment: "the weights don't even budge" ("Setup" in
"Understanding the Neural Tangent Kernel", Rajat V D, 2019).

Why: the post shows, for one network per width, an animation of the weight matrix between the two
hidden layers during training and a plot of loss and relative weight change per step. We redraw
both from many seeds, and add what the post only implies: the final relative change against width
on log-log axes, with its fitted slope.

  setup_hidden-weights_width<m>.gif   the hidden m×m matrix W(n) on a fixed colour scale, next to
                                      W(n) − W(0) on its own symmetric scale (the change exists,
                                      but is tiny for wide nets);
  setup_loss-and-relative-change.png  loss and ‖w(n) − w0‖/‖w0‖ per step: median over seeds and the
                                      10–90% band, one colour per width;
  setup_final-change-vs-width.png     final relative change against width: every seed, mean with
                                      95% CI, fitted power law, and the post's three values.

Reads only results/lazy-weights/ (argv[1]). Run with /usr/bin/python3.
"""
import os

import numpy as np

import plotting
from plotting import plt

NAME = "lazy-weights"
# The post's final relative changes, read off its figure (one network per width).
POST_FINAL_CHANGE = {10: 0.43, 100: 0.047, 1000: 0.006}
FOOTER_KEYS = ["widths", "draws", "learning_rate", "max_steps", "loss_threshold", "inputs", "targets"]


def load(folder, name):
    """A numeric tidy CSV as a dict of numpy columns (fast: the weight frames are ~10⁶ rows)."""
    path = os.path.join(folder, name)
    with open(path) as f:
        columns = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return {c: data[:, j] for j, c in enumerate(columns)}


def headline(summary, name):
    for h in summary["headlines"]:
        if h["name"] == name:
            return h
    return None


def footer(fig, summary, extra=""):
    fig.text(0.01, -0.02, plotting.settings_note(summary, FOOTER_KEYS) + extra, fontsize=7, ha="left", va="top",
             wrap=True)


def colours(widths):
    cmap = plt.get_cmap("viridis")
    return {m: cmap(0.85 * i / max(1, len(widths) - 1)) for i, m in enumerate(widths)}


def trajectories(steps, width):
    """Per seed of one width: loss and relative change per step, each run's last value carried
    forward to the longest run (a run that stopped at the threshold keeps its weights)."""
    rows = steps["width"] == width
    seeds = np.unique(steps["seed"][rows])
    length = int(steps["step"][rows].max()) + 1
    loss = np.empty((len(seeds), length))
    change = np.empty((len(seeds), length))
    for k, seed in enumerate(seeds):
        run = rows & (steps["seed"] == seed)
        order = np.argsort(steps["step"][run])
        for out, column in ((loss, "loss"), (change, "relative_change")):
            values = steps[column][run][order]
            out[k, :len(values)] = values
            out[k, len(values):] = values[-1]
    return np.arange(length), loss, change


def plot_curves(folder, summary, steps):
    widths = [int(m) for m in np.unique(steps["width"])]
    colour = colours(widths)
    fig, (ax_loss, ax_change) = plt.subplots(1, 2, figsize=(11, 4.3))
    for m in widths:
        n, loss, change = trajectories(steps, m)
        label = f"width {m} ({loss.shape[0]} seeds)"
        for ax, values in ((ax_loss, loss), (ax_change, change)):
            lo, mid, hi = np.quantile(values, [0.1, 0.5, 0.9], axis=0)
            ax.fill_between(n, lo, hi, color=colour[m], alpha=0.25, linewidth=0)
            ax.plot(n, mid, color=colour[m], label=label)
        if m in POST_FINAL_CHANGE:
            ax_change.plot([n[-1]], [POST_FINAL_CHANGE[m]], marker="*", markersize=11, color=colour[m],
                           markeredgecolor="black", linestyle="none",
                           label="the post's final value" if m == widths[-1] else None)
    threshold = summary["settings"]["loss_threshold"]
    if threshold > 0:
        ax_loss.axhline(threshold, color="grey", linestyle=":", linewidth=1, label=f"stop at loss {threshold:g}")
    ax_loss.set(yscale="log", xlabel="gradient step n", ylabel=r"loss $\frac{1}{2}\|y(w_n) - \bar{y}\|^2$",
                title="Loss")
    ax_change.set(yscale="log", xlabel="gradient step n",
                  ylabel=r"relative change $\|w_n - w_0\|\,/\,\|w_0\|$", title="How much the weights budge")
    ax_loss.legend(fontsize=8)
    ax_change.legend(fontsize=8, loc="lower right")
    fig.suptitle("Loss and relative weight change per step: median over seeds, 10–90% band\n"
                 + plotting.post_caption(summary), fontsize=10)
    footer(fig, summary, "; a run stopped at the threshold keeps its last value")
    fig.tight_layout()
    plotting.save_png(fig, folder, "setup_loss-and-relative-change.png")


def post_slope(points):
    """Least-squares slope of log(change) against log(width) through the post's values."""
    return np.polyfit(np.log([m for m, _ in points]), np.log([v for _, v in points]), 1)[0]


def plot_final_vs_width(folder, summary, final):
    widths = [int(m) for m in np.unique(final["width"])]
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.scatter(final["width"], final["final_relative_change"], s=12, color="tab:blue", alpha=0.25,
               linewidth=0, label="one seed")
    means, lows, highs = [], [], []
    for m in widths:
        h = headline(summary, f"mean final relative change, width {m}")
        means.append(h["value"])
        lows.append(h["value"] - h["ci_low"])
        highs.append(h["ci_high"] - h["value"])
    ax.errorbar(widths, means, yerr=[lows, highs], fmt="o", color="tab:blue", capsize=4, markersize=5, zorder=3,
                label="mean, 95% CI (Student t)")
    fit = summary["extra"].get("slope_fit")
    if fit:
        grid = np.geomspace(min(widths) / 1.5, max(widths) * 1.5, 50)
        ax.plot(grid, np.exp(fit["intercept"]) * grid ** fit["slope"], color="tab:blue", linestyle="--",
                label=f"fit: slope {fit['slope']:.3f} [{fit['ci_low']:.3f}, {fit['ci_high']:.3f}]")
    post = sorted(POST_FINAL_CHANGE.items())
    ax.plot([m for m, _ in post], [v for _, v in post], marker="*", markersize=13, color="tab:red",
            markerfacecolor="none", markeredgewidth=1.3, linestyle=":", zorder=2, label=f"the post (one network per width), slope {post_slope(post):.3f}")
    ax.set(xscale="log", yscale="log", xlabel="hidden width m",
           ylabel=r"final relative change $\|w - w_0\|\,/\,\|w_0\|$",
           title="The wider the net, the less its weights move\n" + plotting.post_caption(summary))
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    footer(fig, summary)
    fig.tight_layout()
    plotting.save_png(fig, folder, "setup_final-change-vs-width.png")


def animate_width(folder, summary, frames, steps, width, window):
    rows = frames["width"] == width
    frame_ids = np.unique(frames["frame"][rows]).astype(int)
    side = int(frames["row"][rows].max()) + 1
    values = np.zeros((len(frame_ids), side, side))
    changes = np.zeros_like(values)
    frame_steps = np.zeros(len(frame_ids), dtype=int)
    r = frames["row"][rows].astype(int)
    c = frames["col"][rows].astype(int)
    f = frames["frame"][rows].astype(int)
    values[f, r, c] = frames["value"][rows]
    changes[f, r, c] = frames["change"][rows]
    frame_steps[f] = frames["step"][rows].astype(int)
    seed = int(frames["seed"][rows][0])
    run = (steps["width"] == width) & (steps["seed"] == seed)
    loss_at = dict(zip(steps["step"][run].astype(int), steps["loss"][run]))
    change_at = dict(zip(steps["step"][run].astype(int), steps["relative_change"][run]))

    weight_scale = np.abs(values).max()
    change_scale = max(np.abs(changes).max(), 1e-300)
    fig, (ax_w, ax_d) = plt.subplots(1, 2, figsize=(9.6, 4.6))
    # animated=True: left out of the static background, drawn on it frame by frame (blitting).
    image_w = ax_w.imshow(values[0], cmap="RdBu_r", vmin=-weight_scale, vmax=weight_scale, interpolation="nearest",
                          animated=True)
    image_d = ax_d.imshow(changes[0], cmap="PuOr_r", vmin=-change_scale, vmax=change_scale, interpolation="nearest",
                          animated=True)
    fig.colorbar(image_w, ax=ax_w, fraction=0.046, pad=0.04)
    fig.colorbar(image_d, ax=ax_d, fraction=0.046, pad=0.04)
    for ax in (ax_w, ax_d):
        ax.grid(False)
        ax.set(xlabel="input unit (hidden layer 1)", ylabel="output unit (hidden layer 2)")
    ax_w.set_title(f"W(n), fixed scale ±{weight_scale:.3g}", fontsize=9)
    ax_d.set_title(f"W(n) − W(0), its own scale ±{change_scale:.3g}\n"
                   f"(largest change = {change_scale / weight_scale:.2g} of the largest weight)", fontsize=9)
    part = ("the full matrix" if window.get("full_matrix", True)
            else f"rows {window['rows']}, cols {window['cols']} of the {width}×{width} matrix")
    fig.suptitle(f"Weights between the two hidden layers, width {width} ({part})\n" + plotting.post_caption(summary),
                 fontsize=10)
    status = fig.text(0.5, 0.855, "", ha="center", va="center", fontsize=10, animated=True)
    fig.text(0.01, 0.0, plotting.settings_note(summary, FOOTER_KEYS[2:]) + f"; seed {seed}", fontsize=7, ha="left",
             va="bottom")
    fig.tight_layout(rect=(0, 0.07, 1, 0.84))

    def update(k):
        image_w.set_data(values[k])
        image_d.set_data(changes[k])
        n = frame_steps[k]
        status.set_text(f"step {n}:  loss {loss_at[n]:.2g},  ‖w(n) − w0‖/‖w0‖ = {change_at[n]:.2g}")

    palette = plotting.fixed_palette([image_w.get_cmap(), image_d.get_cmap()])
    plotting.save_gif_blitted(fig, [image_w, image_d, status], update, range(len(frame_ids)), folder,
                              f"setup_hidden-weights_width{width}.gif", fps=8, palette=palette)


def main():
    folder = plotting.folder_from_argv(NAME)
    summary = plotting.read_summary(folder)
    steps = load(folder, "steps.csv")
    final = load(folder, "final.csv")
    frames = load(folder, "hidden_weights.csv")
    plot_curves(folder, summary, steps)
    plot_final_vs_width(folder, summary, final)
    windows = {w["width"]: w for w in summary["extra"]["hidden_weights"]["windows"]}
    for width in np.unique(frames["width"]).astype(int):
        animate_width(folder, summary, frames, steps, int(width), windows.get(int(width), {}))


if __name__ == "__main__":
    main()
