"""Figures of kappa-width: κ and its factors against the hidden width.

Why: "When is the Approximation Accurate?" in "Understanding the Neural Tangent Kernel" (Rajat V D,
2019) claims κ(w0) = ‖y(w0) − ȳ‖·‖∇²y(w0)‖/‖∇y(w0)‖² → 0 as the width m grows. κ is random (w0 is)
and heavy-tailed, so every draw is shown as a faint point, the median per width as a line, and the
legend carries the log-log slope of the median with its bootstrap interval (slopes.csv). One figure
per setting: the post's one-hidden-layer ReLU network, the two-hidden-layer one (standard and NTK
parameterization side by side) and the notebook's tanh network (residual-free ratio).

Usage: /usr/bin/python3 experiments/plot_kappa_width.py results/kappa-width
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plotting  # noqa: E402
from plotting import plt  # noqa: E402

SECTION = "when-is-the-approximation-accurate"
LABELS = {
    "kappa": "κ = ‖y − ȳ‖·‖∇²y‖/‖∇y‖²",
    "ratio": "‖∇²y‖ / ‖∇y‖²",
    "jacobian_norm": "‖∇y(w0)‖",
    "hessian_norm": "‖∇²y(w0)‖",
    "residual_norm": "‖y(w0) − ȳ‖",
}
COLORS = {"standard": "tab:blue", "ntk": "tab:orange"}


def slope_of(slopes, setting, parameterization, quantity, statistic="median"):
    rows = plotting.rows_where(slopes, setting=setting, parameterization=parameterization, quantity=quantity,
                               statistic=statistic)
    if not rows:
        return None
    i = rows[0]
    return slopes["slope"][i], slopes["ci_low"][i], slopes["ci_high"][i]


def draw_quantity(ax, draws, slopes, setting, parameterization, quantity, color, label_prefix=""):
    rows = plotting.rows_where(draws, setting=setting, parameterization=parameterization)
    widths = plotting.column(draws, "width", rows)
    values = plotting.column(draws, quantity, rows)
    ax.scatter(widths, values, s=6, alpha=0.18, color=color, linewidths=0)
    per_width = sorted(set(widths))
    medians = [plotting.quantiles([v for w, v in zip(widths, values) if w == m], [0.5])[0] for m in per_width]
    fit = slope_of(slopes, setting, parameterization, quantity)
    label = label_prefix + (f"median, slope {fit[0]:+.3f} [{fit[1]:+.3f}, {fit[2]:+.3f}]" if fit else "median")
    ax.plot(per_width, medians, "-o", color=color, ms=3.5, lw=1.6, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    if finite and max(finite) / min(finite) < 3:
        # A (nearly) constant factor: show it over a factor 10 so that it reads as flat, not as noise.
        center = math.sqrt(max(finite) * min(finite))
        ax.set_ylim(center / math.sqrt(10), center * math.sqrt(10))
    ax.set_xlabel("hidden width m")
    ax.set_ylabel(LABELS[quantity])
    ax.legend(fontsize=8, loc="best")


def mlp_figure(folder, draws, slopes, summary, setting, title):
    quantities = ["kappa", "jacobian_norm", "hessian_norm", "residual_norm"]
    parameterizations = [p for p in ("standard", "ntk") if plotting.rows_where(draws, setting=setting, parameterization=p)]
    if not parameterizations:
        return
    fig, axes = plt.subplots(len(parameterizations), len(quantities), figsize=(4.0 * len(quantities), 3.4 * len(parameterizations)),
                             squeeze=False)
    for r, parameterization in enumerate(parameterizations):
        for c, quantity in enumerate(quantities):
            ax = axes[r][c]
            draw_quantity(ax, draws, slopes, setting, parameterization, quantity, COLORS[parameterization])
            ax.set_title(f"{parameterization} parameterization: {LABELS[quantity].split(' =')[0]}", fontsize=9.5)
    fig.suptitle(f"{title}: κ and its factors vs width, every draw (faint) and the median\n{plotting.post_caption(summary)}",
                 fontsize=11)
    density = "two_hidden_widths_per_decade" if setting == "two-hidden" else "widths_per_decade"
    fig.text(0.5, -0.01, plotting.settings_note(summary, ["draws", "tolerance", density]) +
             "; slopes: log-log fit of the median, 95% bootstrap interval", ha="center", fontsize=8)
    fig.tight_layout()
    plotting.save_png(fig, folder, f"{SECTION}_kappa-vs-width_{setting}.png")


def notebook_figure(folder, draws, slopes, summary):
    if not plotting.rows_where(draws, setting="notebook"):
        return
    quantities = ["ratio", "jacobian_norm", "hessian_norm"]
    fig, axes = plt.subplots(1, len(quantities), figsize=(4.2 * len(quantities), 3.6), squeeze=False)
    for c, quantity in enumerate(quantities):
        ax = axes[0][c]
        draw_quantity(ax, draws, slopes, "notebook", "standard", quantity, "tab:green")
        expected = {"ratio": "−1", "jacobian_norm": "+0.47", "hessian_norm": "0"}[quantity]
        ax.set_title(f"{LABELS[quantity]} (notebook's fit: slope {expected})", fontsize=9.5)
    fig.suptitle("The notebook's network y = Σⱼ bⱼ tanh(aⱼ x), aⱼ ~ N(0,1), bⱼ ~ N(0,1/m), x ~ N(0,1) per draw\n"
                 + plotting.post_caption(summary), fontsize=11)
    fig.text(0.5, -0.02, plotting.settings_note(summary, ["draws", "tolerance", "widths_per_decade"]) +
             "; slopes: log-log fit of the median, 95% bootstrap interval", ha="center", fontsize=8)
    fig.tight_layout()
    plotting.save_png(fig, folder, f"{SECTION}_notebook-setting.png")


def overview_figure(folder, draws, slopes, summary):
    """κ (notebook: ratio) of every series on one axis: the headline of the section."""
    fig, ax = plt.subplots(figsize=(7.5, 5))
    styles = {("one-hidden", "standard"): ("tab:blue", "-"), ("one-hidden", "ntk"): ("tab:orange", "-"),
              ("two-hidden", "standard"): ("tab:blue", "--"), ("two-hidden", "ntk"): ("tab:orange", "--"),
              ("notebook", "standard"): ("tab:green", ":")}
    for (setting, parameterization), (color, line) in styles.items():
        rows = plotting.rows_where(draws, setting=setting, parameterization=parameterization)
        if not rows:
            continue
        quantity = "ratio" if setting == "notebook" else "kappa"
        widths = plotting.column(draws, "width", rows)
        values = plotting.column(draws, quantity, rows)
        per_width = sorted(set(widths))
        medians = [plotting.quantiles([v for w, v in zip(widths, values) if w == m], [0.5])[0] for m in per_width]
        fit = slope_of(slopes, setting, parameterization, quantity)
        name = "notebook tanh (ratio)" if setting == "notebook" else f"{setting} ReLU, {parameterization}"
        ax.plot(per_width, medians, line, marker="o", ms=3, color=color,
                label=f"{name}: slope {fit[0]:+.2f} [{fit[1]:+.2f}, {fit[2]:+.2f}]")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("hidden width m")
    ax.set_ylabel("median κ (notebook: ‖∇²y‖/‖∇y‖²)")
    ax.set_title("κ → 0 as the width grows\n" + plotting.post_caption(summary), fontsize=10)
    ax.legend(fontsize=8)
    fig.text(0.5, -0.02, plotting.settings_note(summary, ["draws", "tolerance"]), ha="center", fontsize=8)
    fig.tight_layout()
    plotting.save_png(fig, folder, f"{SECTION}_kappa-vs-width.png")


def main():
    folder = plotting.folder_from_argv("kappa-width")
    draws = plotting.read_table(folder, "draws.csv")
    slopes = plotting.read_table(folder, "slopes.csv")
    summary = plotting.read_summary(folder)
    # Log axes need positive values; a draw with an infinite κ (‖∇y‖ = 0) would have none to show.
    for q in ("kappa", "ratio"):
        draws[q] = [v if isinstance(v, float) and math.isfinite(v) else float("nan") for v in draws[q]]
    overview_figure(folder, draws, slopes, summary)
    mlp_figure(folder, draws, slopes, summary, "one-hidden", "ReLU MLP 1 → m → 1 on the post's data")
    mlp_figure(folder, draws, slopes, summary, "two-hidden", "ReLU MLP 1 → m → m → 1 on the post's data")
    notebook_figure(folder, draws, slopes, summary)


if __name__ == "__main__":
    main()
