"""Figures of the infinite-width experiment: the remark "An additional point" in "Seeing the Kernel
Regime" of "Understanding the Neural Tangent Kernel" (Rajat V D, 2019) — as the width grows, the
NTK at initialization becomes deterministic and equals the analytic infinite-width NTK (Arora et
al., "On Exact Computation with an Infinitely Wide Neural Net").

Why: the post states this without a figure. These show, from the experiment's CSV/JSON only,
  infinite-width_ntk-convergence.png      the relative error ||Theta_emp - Theta_ref|| / ||Theta_ref||
                                          against the width (every seed a faint point, the median a
                                          line, the reference slope -1/2), per depth and input set;
  infinite-width_kernel-slices.png        Theta_emp on the 1-D grid at the smallest and the largest
                                          width next to the analytic kernel, and one row of each;
  infinite-width_standard-parameterization.png
                                          the standard parameterization: ||Theta_emp|| grows like the
                                          width (no finite limit) while Theta/width converges.

Usage: /usr/bin/python3 experiments/plot_infinite_width.py results/infinite-width
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plotting as P  # noqa: E402

plt = P.plt

NOTE_KEYS = ["sw2", "sb2_ntk_parameterization", "seeds_per_width", "seeds_per_width_wide_nets", "grid_points",
             "random_points", "random_dim"]
COLORS = {"relu": "tab:blue", "erf": "tab:orange", "tanh": "tab:green", "sigmoid": "tab:purple", "sin": "tab:brown",
          "identity": "tab:gray"}
INPUT_TITLES = {"post": "the post's inputs x = -2, 0.5", "grid": "1-D grid on [-3, 3]",
                "gaussian": "Gaussian points in 10-D"}
PARAMETERIZATION_LABELS = {"infinite": "NTK param. vs Theta_inf", "standard-at-width": "standard vs Theta_std(n)",
                           "per-width-limit": "standard: Theta/n vs lim Theta_std(n)/n"}
STYLES = {"infinite": ("-", "o"), "standard-at-width": ("--", "s"), "per-width-limit": (":", "^")}


def footer(fig, summary):
    fig.text(0.01, -0.01, P.settings_note(summary, NOTE_KEYS) + "\n" + P.post_caption(summary), fontsize=7.5,
             ha="left", va="top", color="0.3")


def median(values):
    return P.quantiles(values, [0.5])[0]


def slope_text(slopes, depth, activation, parameterization, inputs, reference, quantity="rel_error"):
    rows = P.rows_where(slopes, depth=depth, activation=activation, parameterization=parameterization,
                        inputs=inputs, reference=reference, quantity=quantity, statistic="median")
    rows = [i for i in rows if slopes["fit_range"][i] == ("all" if quantity == "rel_error" else "upper-half")]
    if not rows:
        return ""
    i = rows[0]
    def text(v):
        return f"{v + 0.0:.2f}".replace("-0.00", "0.00")
    return f"slope {text(slopes['slope'][i])} [{text(slopes['ci_low'][i])}, {text(slopes['ci_high'][i])}]"


def draw_curve(ax, errors, slopes, depth, activation, parameterization, inputs, reference, offset, column="rel_error",
               prefix="", alpha=1.0):
    """Every seed a faint point (nudged sideways by `offset` so curves stay apart), the median a line."""
    rows = P.rows_where(errors, depth=depth, activation=activation, parameterization=parameterization, inputs=inputs,
                        reference=reference)
    if not rows:
        return None
    widths = sorted(set(P.column(errors, "width", rows)))
    color = COLORS.get(activation, "k")
    line, marker = STYLES[reference]
    xs = [errors["width"][i] * offset for i in rows]
    ax.plot(xs, P.column(errors, column, rows), marker, color=color, alpha=0.12, ms=2.5, mec="none")
    medians = [median([errors[column][i] for i in rows if errors["width"][i] == w]) for w in widths]
    label = f"{prefix}{activation}, {PARAMETERIZATION_LABELS[reference]}"
    fit = slope_text(slopes, depth, activation, parameterization, inputs, reference,
                     "rel_error" if column == "rel_error" else "empirical_norm")
    ax.plot(widths, medians, line, marker=marker, color=color, ms=3.5, lw=1.4, alpha=alpha, label=f"{label}: {fit}")
    return widths, medians


def reference_slope(ax, widths, level, slope=-0.5, label="slope -1/2"):
    ax.plot(widths, [level * (w / widths[0]) ** slope for w in widths], color="k", ls=(0, (1, 2)), lw=1.2, label=label)


def convergence_figure(folder, summary, errors, slopes):
    depths = sorted(set(errors["depth"]))
    inputs = [name for name in ["post", "grid", "gaussian"] if name in set(errors["inputs"])]
    activations = P.unique(errors["activation"])
    references = [r for r in ["infinite", "standard-at-width"] if r in set(errors["reference"])]
    fig, axes = plt.subplots(len(depths), len(inputs), figsize=(5.2 * len(inputs), 4.4 * len(depths)), squeeze=False)
    nudges = [0.92, 0.96, 1.04, 1.08]
    for r, depth in enumerate(depths):
        for c, name in enumerate(inputs):
            ax = axes[r][c]
            first_medians = []
            k = 0
            for activation in activations:
                for reference in references:
                    parameterization = "ntk" if reference == "infinite" else "standard"
                    drawn = draw_curve(ax, errors, slopes, depth, activation, parameterization, name, reference,
                                       nudges[k % len(nudges)])
                    k += 1
                    if drawn:
                        first_medians.append(drawn[1][0])
                        widths = drawn[0]
            if first_medians:
                level = math.exp(sum(math.log(m) for m in first_medians) / len(first_medians))
                reference_slope(ax, widths, level)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("hidden width n")
            ax.set_ylabel("||Theta_emp - Theta_ref||_F / ||Theta_ref||_F")
            ax.set_title(f"{depth} hidden layer{'s' if depth > 1 else ''}, {INPUT_TITLES.get(name, name)}", fontsize=10)
            ax.legend(fontsize=6.8, loc="lower left")
    fig.suptitle("An additional point: the NTK at initialization converges to the infinite-width NTK, error ~ "
                 "width^-1/2\n(points: every seed; lines: median over seeds; fitted slopes with 95% bootstrap CI)",
                 fontsize=11)
    fig.tight_layout()
    footer(fig, summary)
    P.save_png(fig, folder, "infinite-width_ntk-convergence.png")


def kernel_matrix(kernels, rows):
    n = max(kernels["i"][k] for k in rows) + 1
    m = [[0.0] * n for _ in range(n)]
    for k in rows:
        m[kernels["i"][k]][kernels["j"][k]] = kernels["value"][k]
    xs = [0.0] * n
    for k in rows:
        xs[kernels["j"][k]] = kernels["x_j"][k]
    return m, xs


def slices_figure(folder, summary, kernels):
    depth = max(set(kernels["depth"]))  # the post's nets have two hidden layers
    cases = []
    for activation in P.unique(kernels["activation"]):
        if P.rows_where(kernels, depth=depth, activation=activation, parameterization="ntk", inputs="grid"):
            cases.append((activation, "ntk"))
    first = P.unique(kernels["activation"])[0]
    if P.rows_where(kernels, depth=depth, activation=first, parameterization="standard", inputs="grid"):
        cases.append((first, "standard"))
    if not cases:
        return
    fig, axes = plt.subplots(len(cases), 4, figsize=(16, 3.6 * len(cases)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.25]})
    for r, (activation, parameterization) in enumerate(cases):
        base = dict(depth=depth, activation=activation, parameterization=parameterization, inputs="grid")
        limit_rows = P.rows_where(kernels, kernel="infinite", **base)
        empirical_rows = P.rows_where(kernels, kernel="empirical", **base)
        widths = sorted(set(P.column(kernels, "width", empirical_rows)))
        panels = [(f"Theta_emp, width {w} (seed 0)", [k for k in empirical_rows if kernels["width"][k] == w])
                  for w in (widths[0], widths[-1])]
        per_width = parameterization == "standard"
        panels.append(("lim Theta_std(n)/n (analytic)" if per_width else "Theta_inf (analytic)", limit_rows))
        matrices = [kernel_matrix(kernels, rows) for _, rows in panels]
        values = [v for m, _ in matrices for row in m for v in row]
        vmin, vmax = min(values), max(values)
        xs = matrices[-1][1]
        extent = [xs[0], xs[-1], xs[-1], xs[0]]
        for c, ((title, _), (m, _)) in enumerate(zip(panels, matrices)):
            ax = axes[r][c]
            image = ax.imshow(m, extent=extent, vmin=vmin, vmax=vmax, cmap="viridis", interpolation="nearest")
            ax.set_title(title + (" / n" if per_width and c < 2 else ""), fontsize=9)
            ax.set_xlabel("x'")
            ax.set_ylabel("x")
            ax.grid(False)
        fig.colorbar(image, ax=axes[r][2], fraction=0.046, pad=0.04)
        # One row of each kernel: Theta(x_i, x') against x' at the grid point nearest x = 1.
        i = min(range(len(xs)), key=lambda k: abs(xs[k] - 1.0))
        ax = axes[r][3]
        for (title, _), (m, _), style in zip(panels, matrices, [":", "--", "-"]):
            ax.plot(xs, m[i], style, marker="o", ms=3, lw=1.4 if style == "-" else 1.1, label=title)
        ax.set_xlabel("x'")
        ax.set_ylabel(f"Theta{'/n' if per_width else ''}(x = {xs[i]:.2g}, x')")
        ax.set_title(f"one row, x = {xs[i]:.2g}", fontsize=9)
        ax.legend(fontsize=7.5)
        name = f"{activation}, {'standard param. (Theta / width)' if per_width else 'NTK param.'}"
        axes[r][0].annotate(name, xy=(-0.45, 0.5), xycoords="axes fraction", rotation=90, va="center", ha="center",
                            fontsize=10, fontweight="bold")
    fig.suptitle(f"The NTK at initialization on the 1-D grid, {depth} hidden layers: a narrow net's kernel is noisy, "
                 f"a wide one's is the analytic kernel", fontsize=11)
    fig.tight_layout()
    footer(fig, summary)
    P.save_png(fig, folder, "infinite-width_kernel-slices.png")


def standard_figure(folder, summary, errors, slopes):
    if "standard" not in set(errors["parameterization"]):
        return
    depths = sorted(set(errors["depth"]))
    inputs = "gaussian" if "gaussian" in set(errors["inputs"]) else P.unique(errors["inputs"])[0]
    activations = P.unique(errors["activation"])
    fig, (ax_norm, ax_at, ax_per) = plt.subplots(1, 3, figsize=(17, 5))
    lowest = math.inf
    for depth in depths:
        for activation in activations:
            for reference, parameterization in [("infinite", "ntk"), ("standard-at-width", "standard")]:
                rows = P.rows_where(errors, depth=depth, activation=activation, parameterization=parameterization,
                                    inputs=inputs, reference=reference)
                if not rows:
                    continue
                widths = sorted(set(P.column(errors, "width", rows)))
                medians = [median([errors["empirical_norm"][i] for i in rows if errors["width"][i] == w]) for w in widths]
                if parameterization == "standard":
                    lowest = min(lowest, medians[0] / widths[0])
                line, marker = STYLES[reference]
                fit = slope_text(slopes, depth, activation, parameterization, inputs, reference, "empirical_norm")
                ax_norm.plot(widths, medians, line, marker=marker if depth == 1 else "x", color=COLORS.get(activation, "k"),
                             alpha=1.0 if depth == 1 else 0.6, ms=4, lw=1.3,
                             label=f"depth {depth} {activation}, {'NTK' if parameterization == 'ntk' else 'standard'}: {fit}")
            for ax, reference in [(ax_at, "standard-at-width"), (ax_per, "per-width-limit")]:
                drawn = draw_curve(ax, errors, slopes, depth, activation, "standard", inputs, reference,
                                   0.96 if depth == depths[0] else 1.04, prefix=f"depth {depth} ",
                                   alpha=1.0 if depth == depths[0] else 0.55)
                if drawn and depth == depths[0] and activation == activations[0]:
                    reference_slope(ax, drawn[0], drawn[1][0])
    widths_all = sorted(set(errors["width"]))
    if math.isfinite(lowest):
        ax_norm.plot(widths_all, [0.5 * lowest * w for w in widths_all], color="k", ls=(0, (1, 2)), lw=1.2,
                     label="slope 1")
    ax_norm.set_ylabel("median ||Theta_emp||_F")
    ax_norm.set_title("||Theta|| grows like the width under the standard parameterization\n(slopes: upper half of the "
                      "widths; NTK parameterization for comparison)", fontsize=9.5)
    ax_at.set_ylabel("||Theta_emp - Theta_std(n)||_F / ||Theta_std(n)||_F")
    ax_at.set_title("Theta follows the library's finite-width kernel Theta_std(n)\n(slower at small n, where the "
                    "width-independent part B of Theta_std = nA + B matters)", fontsize=9.5)
    ax_per.set_ylabel("||Theta_emp/n - A||_F / ||A||_F")
    ax_per.set_title("Theta / width converges to a deterministic kernel A\n(an O(1/n) bias B/n plus O(n^-1/2) "
                     "fluctuations)", fontsize=9.5)
    for ax in (ax_norm, ax_at, ax_per):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden width n")
        ax.legend(fontsize=6.8, loc="upper left" if ax is ax_norm else "lower left")
    fig.suptitle(f"Standard parameterization (LeCun init, biases start at 0), {INPUT_TITLES.get(inputs, inputs)}: "
                 "no finite limit of Theta, a deterministic limit of Theta / width", fontsize=11)
    fig.tight_layout()
    footer(fig, summary)
    P.save_png(fig, folder, "infinite-width_standard-parameterization.png")


def main():
    folder = P.folder_from_argv("infinite-width")
    summary = P.read_summary(folder)
    errors = P.read_table(folder, "errors.csv")
    slopes = P.read_table(folder, "slopes.csv")
    kernels = P.read_table(folder, "kernels.csv")
    convergence_figure(folder, summary, errors, slopes)
    slices_figure(folder, summary, kernels)
    standard_figure(folder, summary, errors, slopes)


if __name__ == "__main__":
    main()
