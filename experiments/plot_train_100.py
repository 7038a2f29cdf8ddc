"""Figures of train-100: the post's "Training 100 ReLU nets using gradient descent on square loss"
("Setup" in "Understanding the Neural Tangent Kernel", Rajat V D, 2019).

Why: the post animates 100 random relu nets bending through two data points under full-batch
gradient descent; the animation is redrawn here from the snapshots, and the final losses (which
the animation cannot show) are summarized with their distribution over the nets.

Reads only results/train-100/ (argv[1]); writes
  setup_train-100.gif               the 100 functions over training, the two data points marked
  setup_train-100_final-losses.png  histogram of the final losses (log x), median with its CI
  setup_train-100_loss-curves.png   every net's loss against the step (log y)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plotting  # noqa: E402
from plotting import plt  # noqa: E402

folder = plotting.folder_from_argv("train-100")
summary = plotting.read_summary(folder)
settings = summary["settings"]
headlines = {h["name"]: h for h in summary["headlines"]}
caption = plotting.post_caption(summary)
keys = ["width", "nets", "lr", "steps", "x", "y"]


def footer(fig):
    fig.text(0.01, -0.02, plotting.settings_note(summary, keys) + "\n" + caption, fontsize=7, ha="left", va="top",
             color="0.35")


# ---- the animation ---------------------------------------------------------------------------
snap = np.loadtxt(os.path.join(folder, "snapshots.csv"), delimiter=",", skiprows=1)
nets = int(snap[:, 0].max()) + 1
steps = np.unique(snap[:, 1]).astype(int)
points = len(snap) // (nets * len(steps))
x = snap[:points, 2]
f = snap[:, 3].reshape(nets, len(steps), points)
losses = np.loadtxt(os.path.join(folder, "losses.csv"), delimiter=",", skiprows=1)
loss = losses[:, 2].reshape(nets, -1)

fig, ax = plt.subplots(figsize=(7, 4.8))
colors = plt.cm.viridis(np.linspace(0.0, 1.0, nets))
lines = [ax.plot(x, f[k, 0], color=colors[k], lw=0.8, alpha=0.8)[0] for k in range(nets)]
ax.plot(settings["x"], settings["y"], "o", color="C0", ms=9, mec="k", zorder=5, label="data points")
lo, hi = np.quantile(f, 0.002), np.quantile(f, 0.998)
pad = 0.1 * (hi - lo)
ax.set_ylim(min(lo, min(settings["y"])) - pad, max(hi, max(settings["y"])) + pad)
ax.set_xlabel("x")
ax.set_ylabel("f(x, w)")
ax.legend(loc="upper right")
title = ax.set_title("")
fig.subplots_adjust(bottom=0.2, top=0.87)  # a GIF frame is not cropped to its contents: the footer goes inside
fig.text(0.01, 0.01, plotting.settings_note(summary, keys) + "\n" + caption, fontsize=7, ha="left", va="bottom",
         color="0.35")


def update(frame):
    for k in range(nets):
        lines[k].set_ydata(f[k, frame])
    median = np.median(loss[:, steps[frame]])
    title.set_text(f"Training {nets} ReLU nets using gradient descent on square loss\n"
                   f"step {steps[frame]} of {steps[-1]}, median loss {median:.3g}")
    return lines


plotting.save_gif(fig, update, range(len(steps)), folder, "setup_train-100.gif", fps=8)

# ---- final losses ------------------------------------------------------------------------------
final = loss[:, -1]
med = headlines["median final loss"]
threshold = settings["small_loss"]
fraction = next(h for n, h in headlines.items() if n.startswith("fraction of nets"))
fig, ax = plt.subplots(figsize=(7, 4.5))
bins = np.logspace(np.floor(np.log10(final.min())), np.ceil(np.log10(final.max())), 30)
ax.hist(final, bins=bins, color="C0", alpha=0.8, label=f"final loss of each net (after {steps[-1]} steps)")
ax.axvline(med["value"], color="C3", label=f"median {med['value']:.3g} [{med['ci_low']:.3g}, {med['ci_high']:.3g}] (95% bootstrap)")
ax.axvspan(med["ci_low"], med["ci_high"], color="C3", alpha=0.15)
ax.axvline(threshold, color="0.3", ls="--",
           label=f"{threshold:g}: {fraction['value']:.0%} of nets below [{fraction['ci_low']:.0%}, {fraction['ci_high']:.0%}]")
ax.set_ylim(top=1.45 * ax.get_ylim()[1])
ax.set_xscale("log")
ax.set_xlabel("final loss ½‖y(w) − ȳ‖²")
ax.set_ylabel("number of nets")
ax.set_title(f"Final training loss of the {nets} nets (initial median {headlines['median initial loss']['value']:.3g})")
ax.legend(fontsize=8)
footer(fig)
plotting.save_png(fig, folder, "setup_train-100_final-losses.png")

# ---- loss curves -------------------------------------------------------------------------------
fig, ax = plt.subplots(figsize=(7, 4.5))
all_steps = np.arange(loss.shape[1])
for k in range(nets):
    ax.plot(all_steps, loss[k], color=colors[k], lw=0.7, alpha=0.6)
ax.plot(all_steps, np.median(loss, axis=0), color="C3", lw=2, label="median over nets")
ax.set_yscale("log")
ax.set_xlabel("gradient-descent step")
ax.set_ylabel("loss ½‖y(w) − ȳ‖²")
ax.set_title(f"Loss of each of the {nets} nets during training")
ax.legend()
footer(fig)
plotting.save_png(fig, folder, "setup_train-100_loss-curves.png")
