"""Figures of the kappa-alpha experiment: "Scaling the Output" in "Understanding the Neural Tangent
Kernel" (Rajat V D, 2019), on centered width-100 ReLU nets scaled by alpha.

Why: the post argues that scaling a model that outputs 0 at initialization by alpha divides kappa
by alpha and makes training lazy; its companion code measured the relative NTK change falling from
108.5 (alpha = 0.01) to 6.8e-5 (alpha = 1000). These figures show, from the experiment's CSV/JSON
only, kappa_alpha against alpha for every draw (slope exactly -1) and how far the NTK and the
weights move in training against alpha (medians, intervals, fitted slopes, the post's values).

Usage: /usr/bin/python3 experiments/plot_kappa_alpha.py results/kappa-alpha
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plotting as P  # noqa: E402

plt = P.plt

NOTE_KEYS = ["hidden", "alphas", "lr", "steps", "kappa_tolerance"]


def footer(fig, summary):
    fig.text(0.01, -0.02, P.settings_note(summary, NOTE_KEYS) + "\n" + P.post_caption(summary), fontsize=7.5,
             ha="left", va="top", color="0.3")


def seeds_of(table):
    return P.unique(table["seed"])


def kappa_figure(folder, summary):
    kappa = P.read_table(folder, "kappa.csv")
    fig, (ax, ax_dev) = plt.subplots(1, 2, figsize=(11, 4.3))
    seeds = seeds_of(kappa)
    kappa_one = []
    worst = 0.0
    for seed in seeds:
        rows = P.rows_where(kappa, seed=seed)
        alphas = P.column(kappa, "alpha", rows)
        values = P.column(kappa, "kappa", rows)
        scaled = P.column(kappa, "kappa_times_alpha", rows)
        mid = P.quantiles(scaled, [0.5])[0]
        kappa_one.append(mid)
        ax.plot(alphas, values, "-", color="tab:blue", alpha=0.35, lw=1)
        deviations = [abs(v / mid - 1.0) for v in scaled]
        worst = max(worst, max(deviations))
        ax_dev.plot(alphas, [max(d, 1e-17) for d in deviations], "o", color="tab:blue", alpha=0.4, ms=3)
    alpha_grid = P.unique(kappa["alpha"])
    k1 = P.quantiles(kappa_one, [0.5])[0]
    ax.plot(alpha_grid, [k1 / a for a in alpha_grid], "k--", lw=1.2,
            label=rf"slope $-1$: median $\kappa_1/\alpha$ ($\kappa_1$ = {k1:.3g})")
    ax.plot([], [], "-", color="tab:blue", alpha=0.6, label=rf"$\kappa_\alpha$, each of {len(seeds)} draws")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"output scale $\alpha$")
    ax.set_ylabel(r"$\kappa_\alpha = \|\bar y\|\,\|\nabla^2 y\| \,/\, \|\nabla y\|^2$")
    ax.set_title(r"$\kappa_\alpha$ of the centered net falls like $1/\alpha$")
    ax.legend(fontsize=8)

    tolerance = summary["settings"]["kappa_tolerance"]
    ax_dev.axhline(1e-8, color="tab:red", ls="--", lw=1, label="1e-8 (the test's bound)")
    ax_dev.axhline(tolerance, color="0.4", ls=":", lw=1, label=rf"$\kappa$ tolerance {tolerance:g}")
    ax_dev.plot([], [], "o", color="tab:blue", alpha=0.5, ms=3, label=r"one ($\alpha$, draw); an exact 0 is drawn at 1e-17")
    ax_dev.set_xscale("log")
    ax_dev.set_yscale("log")
    ax_dev.set_ylim(1e-17, 1e-4)
    ax_dev.set_xlabel(r"output scale $\alpha$")
    ax_dev.set_ylabel(r"$|\kappa_\alpha \alpha \,/\, \mathrm{median}_\alpha(\kappa_\alpha \alpha) - 1|$ per draw")
    ax_dev.set_title(rf"$\kappa_\alpha\alpha$ is constant in $\alpha$: largest deviation {worst:.2g}")
    ax_dev.legend(fontsize=8, loc="upper left")
    fig.suptitle(r"Scaling the Output: $\kappa_\alpha$ of centered 1-100-100-1 ReLU nets scaled by $\alpha$", fontsize=11)
    fig.tight_layout()
    footer(fig, summary)
    P.save_png(fig, folder, "scaling-the-output_kappa-alpha.png")


def fit_curve(fit, alphas):
    lo, hi = fit["alpha_low"], fit["alpha_high"]
    if fit["slope"] is None or lo is None or hi is None:
        return None
    xs = [a for a in alphas if lo * (1 - 1e-12) <= a <= hi * (1 + 1e-12)]
    return xs, [math.exp(fit["intercept_ln"]) * a ** fit["slope"] for a in xs]


def fit_label(what, fit):
    return (f"{what}: slope {fit['slope']:.2f} [{fit['ci_low']:.2f}, {fit['ci_high']:.2f}]"
            f" (alpha {fit['alpha_low']:.3g}..{fit['alpha_high']:.3g})")


def change_panel(ax, training, per_alpha, quantity, fits, summary):
    alphas = P.unique(per_alpha["alpha"])
    fine = False
    for i in range(len(training["alpha"])):
        if training["diverged"][i] == 1:
            continue
        flipped = training["activation_flips"][i] > 0
        value = training[quantity][i]
        if value <= 0:
            continue
        ax.plot(training["alpha"][i], value, "o" if flipped else "s", ms=3.2, alpha=0.35,
                color="tab:orange" if flipped else "tab:blue", mec="none")
        fine = True
    if fine:
        ax.plot([], [], "s", color="tab:blue", alpha=0.6, ms=4, label="one draw, no ReLU changed sides")
        ax.plot([], [], "o", color="tab:orange", alpha=0.6, ms=4, label="one draw in which a ReLU changed sides")
    rows = P.rows_where(per_alpha, quantity=quantity)
    xs = P.column(per_alpha, "alpha", rows)
    med = P.column(per_alpha, "median", rows)
    lo = P.column(per_alpha, "ci_low", rows)
    hi = P.column(per_alpha, "ci_high", rows)
    keep = [j for j in range(len(xs)) if isinstance(med[j], float) and med[j] > 0 and not math.isnan(med[j])]
    xs, med = [xs[j] for j in keep], [med[j] for j in keep]
    lo, hi = [lo[j] for j in keep], [hi[j] for j in keep]
    ax.fill_between(xs, lo, hi, color="k", alpha=0.12, lw=0, label="95% bootstrap CI of the median")
    ax.plot(xs, med, "k-", lw=1.6, marker="o", ms=3.5, label="median over draws")
    styles = [("tab:red", "--"), ("tab:green", ":")]
    for (what, fit), (colour, ls) in zip(fits, styles):
        curve = fit_curve(fit, alphas)
        if curve:
            ax.plot(curve[0], curve[1], color=colour, ls=ls, lw=1.8, label=fit_label(what, fit))
    # Theory's slope -1 over the lazy range, through the median at the largest alpha.
    lazy = summary["settings"]["lazy_alpha_min"]
    ax.plot([lazy, xs[-1]], [med[-1] * xs[-1] / lazy, med[-1]], color="0.2", ls=(0, (1, 2)), lw=1.4,
            label=r"slope $-1$ (lazy-training theory), through the last median")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"output scale $\alpha$")


def change_figure(folder, summary):
    training = P.read_table(folder, "training.csv")
    per_alpha = P.read_table(folder, "per_alpha.csv")
    fits = summary["extra"]["fits"]
    fig, (ax_ntk, ax_w) = plt.subplots(1, 2, figsize=(13, 5.2))

    change_panel(ax_ntk, training, per_alpha, "ntk_change",
                 [("fit on medians, first alpha left out", fits["ntk_change_without_first_alpha"]),
                  ("fit on medians, lazy range", fits["ntk_change_lazy_range"])], summary)
    post = summary["extra"]["post"]
    ax_ntk.plot([0.01, 1000.0], [post["ntk_change_alpha_0.01"], post["ntk_change_alpha_1000"]], "*", ms=14,
                color="tab:purple", mec="k", mew=0.6, zorder=5,
                label=f"the post's companion code: {post['ntk_change_alpha_0.01']:g} and "
                      f"{post['ntk_change_alpha_1000']:g} (slope {post['ntk_change_slope']:g})")
    ax_ntk.set_ylabel(r"relative NTK change $\|H_\mathrm{end} - H_0\|_F \,/\, \|H_0\|_F$")
    ax_ntk.set_title("How far the NTK moves in training")
    ax_ntk.legend(fontsize=7.2, loc="lower left")

    change_panel(ax_w, training, per_alpha, "weight_change",
                 [("fit on medians, all alpha", fits["weight_change_all_alphas"]),
                  ("fit on medians, lazy range", fits["weight_change_lazy_range"])], summary)
    ax_w.set_ylabel(r"relative weight change $\|w_\mathrm{end} - w_0\| \,/\, \|w_0\|$")
    ax_w.set_title(r"How far the weights move in training (theory: $\sim 1/\alpha$ when lazy)")
    ax_w.legend(fontsize=7.2, loc="lower left")
    for ax in (ax_ntk, ax_w):
        lazy = summary["settings"]["lazy_alpha_min"]
        ax.axvspan(lazy, max(training["alpha"]), color="tab:green", alpha=0.05, lw=0)
    fig.suptitle(r"Scaling the Output: centered 1-100-100-1 ReLU nets trained on the loss / $\alpha^2$ "
                 r"(shaded: the lazy range $\alpha \geq$ " + f"{summary['settings']['lazy_alpha_min']:g})", fontsize=11)
    fig.tight_layout()
    footer(fig, summary)
    P.save_png(fig, folder, "scaling-the-output_ntk-and-weight-change.png")


def stability_figure(folder, summary):
    training = P.read_table(folder, "training.csv")
    per_alpha = P.read_table(folder, "per_alpha.csv")
    fig, ax = plt.subplots(figsize=(6.5, 4.3))
    ok = [i for i in range(len(training["alpha"])) if training["diverged"][i] == 0]
    ax.plot(P.column(training, "alpha", ok), P.column(training, "stability_start", ok), "s", color="tab:blue",
            alpha=0.35, ms=3.5, mec="none", label="at initialization, each draw")
    ax.plot(P.column(training, "alpha", ok), P.column(training, "stability_end", ok), "o", color="tab:red",
            alpha=0.35, ms=3.5, mec="none", label="after training, each draw")
    rows = P.rows_where(per_alpha, quantity="stability_end")
    ax.plot(P.column(per_alpha, "alpha", rows), P.column(per_alpha, "median", rows), "-", color="tab:red", lw=1.5,
            label="after training, median")
    ax.axhline(2.0, color="k", ls="--", lw=1, label="2: the edge of stability of gradient descent")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"output scale $\alpha$")
    ax.set_ylabel(r"$\eta\,\lambda_\max(\Theta)\,/\,\alpha^2$")
    ax.set_title("Why the smallest alpha is left out of the fit: gradient descent\n"
                 "grows the NTK until it reaches the edge of stability", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    footer(fig, summary)
    P.save_png(fig, folder, "scaling-the-output_edge-of-stability.png")


def main():
    folder = P.folder_from_argv("kappa-alpha")
    summary = P.read_summary(folder)
    kappa_figure(folder, summary)
    change_figure(folder, summary)
    stability_figure(folder, summary)


if __name__ == "__main__":
    main()
