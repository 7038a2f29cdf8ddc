"""Figures of toy-model: the post's 1-parameter model under output scaling.

"Scaling the Output" in Understanding the Neural Tangent Kernel (Rajat V D, 2019) shows three
animations over alpha: alpha*f against its tangent line, and the normalized losses against the
linearized loss on a fixed window and zoomed near w0. This script redraws them from curves.csv
and losses.csv, and adds the distance of the loss minimum from w0 against alpha (minima.csv).
"""
import math

import plotting as P

folder = P.folder_from_argv("toy-model")
summary = P.read_summary(folder)
curves = P.read_table(folder, "curves.csv")
losses = P.read_table(folder, "losses.csv")
minima = P.read_table(folder, "minima.csv")
w0 = summary["settings"]["w0"]
target = summary["settings"]["target"]
alphas = minima["alpha"]
footer = P.settings_note(summary, ["x", "w0", "target", "alphas"])
frames = list(range(0, len(alphas), max(1, len(alphas) // 33)))
if frames[-1] != len(alphas) - 1:
    frames.append(len(alphas) - 1)


def by_alpha(table, index, **extra):
    return P.rows_where(table, alpha_index=index, **extra)


# alpha*f(w) and its tangent line: the tangent approaches the function as alpha grows.
def draw_curves(ax, index):
    rows = by_alpha(curves, index)
    w = P.column(curves, "w", rows)
    ax.plot(w, P.column(curves, "scaled_f", rows), color="C0", lw=2, label=r"$\alpha f(x, w)$")
    ax.plot(w, P.column(curves, "tangent", rows), color="C1", lw=1.5, ls="--", label=r"tangent $\alpha f'(w_0)(w-w_0)$")
    ax.axhline(target, color="0.5", lw=0.8, ls=":", label=f"target y = {target:g}")
    ax.axvline(w0, color="0.7", lw=0.8)
    ax.set_ylim(-2 * abs(target), 3 * abs(target))
    ax.set_xlabel(r"w  (window $w_0 \pm$ %g$/\alpha$: how far a fit moves w)" % summary["settings"]["window"])
    ax.set_ylabel("model output at x = %g" % summary["settings"]["x"])
    ax.set_title(rf"$\alpha$ = {alphas[index]:.3g}")
    ax.legend(loc="upper left")


def curves_frame(index):
    fig.clf()
    draw_curves(fig.add_subplot(111), index)
    fig.text(0.01, 0.005, footer, fontsize=7, color="0.4")


fig = P.plt.figure(figsize=(6, 4.2))
P.save_gif(fig, curves_frame, frames, folder, "scaling-the-output_tangent.gif")
fig, axes = P.plt.subplots(1, 3, figsize=(14, 4), sharey=True)
for ax, index in zip(axes, [0, len(alphas) // 2, len(alphas) - 1]):
    draw_curves(ax, index)
fig.suptitle(r"Scaling the Output: $\alpha f$ and its tangent line at three $\alpha$ — " + P.post_caption(summary), fontsize=9)
fig.text(0.01, -0.02, footer, fontsize=7, color="0.4")
P.save_png(fig, folder, "scaling-the-output_tangent.png")


# The normalized losses (1/alpha^2)(y - alpha f)^2 against the linearized loss, fixed and zoomed.
def draw_losses(ax, index, window):
    rows = by_alpha(losses, index, window=window)
    w = P.column(losses, "w", rows)
    real = P.column(losses, "loss", rows)
    linear = P.column(losses, "linearized_loss", rows)
    ax.plot(w, real, color="C0", lw=2, label="normalized loss")
    ax.plot(w, linear, color="C1", lw=1.5, ls="--", label="linearized loss")
    minimum = by_alpha(minima, index)[0]
    for name, color in (("w_star", "C0"), ("w_star_linearized", "C1")):
        wm = minima[name][minimum]
        if w[0] <= wm <= w[-1]:
            ax.axvline(wm, color=color, lw=0.8, ls=":")
    ax.axvline(w0, color="0.6", lw=0.8)
    top = target ** 2 / alphas[index] ** 2 if window == "fixed" else max(max(real), max(linear))
    ax.set_ylim(-0.05 * max(top, 1e-300) if window == "zoomed" else 0, 1.6 * max(top, 1e-300) if window == "zoomed" else 2 * target ** 2)
    ax.set_xlabel("w")
    ax.set_ylabel(r"$(y - \alpha f)^2 / \alpha^2$")
    ax.set_title(("near $w_0$" if window == "zoomed" else "fixed window") + rf", $\alpha$ = {alphas[index]:.3g}")
    ax.legend(loc="upper right")


def losses_frame(index):
    fig.clf()
    left, right = fig.add_subplot(121), fig.add_subplot(122)
    draw_losses(left, index, "fixed")
    draw_losses(right, index, "zoomed")
    fig.text(0.01, 0.005, footer + "; dotted: the minimizers", fontsize=7, color="0.4")


fig = P.plt.figure(figsize=(11, 4.2))
P.save_gif(fig, losses_frame, frames, folder, "scaling-the-output_losses.gif")
fig = P.plt.figure(figsize=(11, 4.2))
losses_frame(len(alphas) - 1)
P.save_png(fig, folder, "scaling-the-output_losses.png")

# The distance of the loss minimum from w0, and from the linearized minimum, against alpha.
fig, ax = P.plt.subplots(figsize=(6, 4.2))
ax.loglog(alphas, minima["distance_to_w0"], "o-", ms=3, label=r"$|w^* - w_0|$ (loss minimum to init)")
ax.loglog(alphas, minima["distance_to_linearized"], "s-", ms=3, label=r"$|w^* - w^*_{lin}|$ (to the linearized minimum)")
ax.loglog(alphas, minima["kappa_alpha"], "-", color="0.3", lw=1, label=r"$\kappa_\alpha$")
reference = minima["distance_to_w0"][-1] * alphas[-1]
ax.loglog(alphas, [reference / a for a in alphas], ":", color="C0", lw=1, label="slope -1")
heads = {h["name"]: h["value"] for h in summary["headlines"]}
ax.set_xlabel(r"output scale $\alpha$")
ax.set_ylabel("distance in w")
ax.set_title("The loss minimum approaches the initialization\n"
             f"fitted slopes {heads['slope |w* - w0| vs alpha']:.3f} and {heads['slope |w* - w*_lin| vs alpha']:.3f}", fontsize=10)
ax.legend(fontsize=8)
fig.text(0.01, -0.03, footer, fontsize=7, color="0.4")
P.save_png(fig, folder, "scaling-the-output_minimum-vs-alpha.png")
