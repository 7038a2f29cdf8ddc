"""Figures of the generalization experiment ("Generalization" and "Concluding Remarks" in
"Understanding the Neural Tangent Kernel", Rajat V D, 2019), from results/generalization/:

  generalization_1d.png              the post's 1-D data: the infinite-width prediction (kernel
                                     regression as the mean, the NNGP spread from f0 as a band) against
                                     trained nets of several widths, at finite training times and t = inf;
  generalization_distance.png        per-seed distance of trained nets to the infinite-width prediction
                                     from their own f0, against width (log-log, fitted slope), and the
                                     mean over seeds against kernel regression with its noise floor;
  generalization_fashion-mnist.png   test accuracy against training-set size: NTK and NNGP kernel
                                     regression (depth 1-3) and trained nets (mean and 95% CI over seeds).

Run: /usr/bin/python3 experiments/plot_generalization.py results/generalization
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plotting as P  # noqa: E402

plt = P.plt


def by_x(table, rows):
    xs = P.column(table, "x", rows)
    fs = P.column(table, "f", rows)
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    return [xs[i] for i in order], [fs[i] for i in order], [rows[i] for i in order]


def plot_1d(folder, summary):
    curves = P.read_table(folder, "curves_1d.csv")
    labels = P.unique(curves["time_label"])
    widths = sorted(w for w in P.unique(curves["width"]) if w > 0)
    shown = sorted({widths[0], widths[len(widths) // 2], widths[-1]})
    colors = ["C0", "C1", "C2"][:len(shown)]
    s = summary["settings"]
    fig, axes = plt.subplots(1, len(labels), figsize=(4.2 * len(labels), 4.0), sharey=True)
    axes = axes if len(labels) > 1 else [axes]
    for ax, label in zip(axes, labels):
        rows = P.rows_where(curves, source="infinite-width", time_label=label)
        xs, mean, ordered = by_x(curves, rows)
        sd = [curves["sd"][i] for i in ordered]
        ax.plot(xs, [m - 2 * d for m, d in zip(mean, sd)], "--", color="black", lw=0.9,
                label="infinite width: mean ± 2 sd (f0 ~ NNGP)")
        ax.plot(xs, [m + 2 * d for m, d in zip(mean, sd)], "--", color="black", lw=0.9)
        ax.plot(xs, mean, color="black", lw=2, label="kernel regression (NTK mean)")
        for width, color in zip(shown, colors):
            net_rows = P.rows_where(curves, source="net", time_label=label, width=width)
            if not net_rows:
                continue
            seeds = P.unique(P.column(curves, "seed", net_rows))
            per_seed = []
            for seed in seeds:
                x_seed, f_seed, _ = by_x(curves, [i for i in net_rows if curves["seed"][i] == seed])
                per_seed.append(f_seed)
            n = len(per_seed)
            means = [sum(col) / n for col in zip(*per_seed)]
            sds = [math.sqrt(sum((v - m) ** 2 for v in col) / max(1, n - 1)) for col, m in zip(zip(*per_seed), means)]
            ax.plot(x_seed, means, color=color, lw=1.3, label=f"nets width {width}: mean of {n} seeds")
            ax.fill_between(x_seed, [m - 2 * d for m, d in zip(means, sds)], [m + 2 * d for m, d in zip(means, sds)],
                            color=color, alpha=0.15)
        ax.scatter(s["x_1d"], s["y_1d"], color="red", zorder=5, label="training points")
        ax.set_xlabel("x")
        title = "t = ∞ (converged)" if label == math.inf else f"t = {label} / λmin  ({label} / (η λmin) steps)"
        ax.set_title(title)
    axes[0].set_ylabel("f(x)")
    handles, names = axes[-1].get_legend_handles_labels()
    fig.legend(handles, [n + ("  (band: ± 2 sd over seeds)" if n.startswith("nets") else "") for n in names], fontsize=8,
               loc="lower center", ncol=3, bbox_to_anchor=(0.5, -0.12))
    fig.suptitle("Trained nets vs the infinite-width NTK prediction on the post's 1-D data\n" + P.post_caption(summary), fontsize=10,
                 y=1.06)
    fig.text(0.01, -0.16, P.settings_note(summary, ["depth_1d", "widths", "seeds", "sw2", "sb2", "eta_1d"]), fontsize=7)
    P.save_png(fig, folder, "generalization_1d.png")


def plot_distance(folder, summary):
    dist = P.read_table(folder, "distance_1d.csv")
    means = P.read_table(folder, "mean_distance_1d.csv")
    rows = P.rows_where(dist, time_label=math.inf)
    widths = sorted(P.unique(P.column(dist, "width", rows)))
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.scatter(P.column(dist, "width", rows), P.column(dist, "rms_to_own_f0_prediction", rows), s=10, color="C0", alpha=0.4,
               label="per seed: net vs infinite-width prediction from its own f0")
    avg = []
    for w in widths:
        v = [dist["rms_to_own_f0_prediction"][i] for i in rows if dist["width"][i] == w]
        avg.append(sum(v) / len(v))
    ax.plot(widths, avg, "o-", color="C0", label="mean over seeds")
    head = [h for h in summary["headlines"] if h["name"].startswith("slope of distance")][0]
    # The fitted line: least squares of log(mean) on log(width), as the experiment fits it.
    lx = [math.log(w) for w in widths]
    ly = [math.log(a) for a in avg]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    intercept = my - head["value"] * mx
    fit = [math.exp(intercept + head["value"] * v) for v in lx]
    ax.plot(widths, fit, "--", color="C0", alpha=0.7,
            label=f"slope {head['value']:.2f} [{head['ci_low']:.2f}, {head['ci_high']:.2f}] (width$^{{-1/2}}$ expected)")
    mrows = P.rows_where(means, time_label=math.inf)
    ax.plot(P.column(means, "width", mrows), P.column(means, "rms_mean_minus_kernel", mrows), "s-", color="C3",
            label="mean over seeds vs kernel regression")
    ax.plot(P.column(means, "width", mrows), P.column(means, "noise_floor", mrows), ":", color="C3",
            label="its noise floor (NNGP sd / √seeds)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(widths)
    ax.set_xticklabels([str(w) for w in widths])
    ax.minorticks_off()
    ax.set_xlabel("hidden width")
    ax.set_ylabel("RMS distance on the grid [-4, 4], t = ∞")
    ax.legend(fontsize=7)
    ax.set_title("Distance to the infinite-width prediction vs width\n" + P.post_caption(summary), fontsize=9)
    fig.text(0.01, -0.03, P.settings_note(summary, ["depth_1d", "seeds", "sw2", "sb2"]), fontsize=7)
    P.save_png(fig, folder, "generalization_distance.png")


def plot_fashion(folder, summary):
    acc = P.read_table(folder, "fashion_accuracy.csv")
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    depths = sorted(P.unique(acc["depth"]))
    for method, style in (("ntk-regression", "-"), ("nngp-regression", "--")):
        for depth in depths:
            rows = P.rows_where(acc, method=method, depth=depth)
            if not rows:
                continue
            rows.sort(key=lambda i: acc["train_size"][i])
            ax.plot(P.column(acc, "train_size", rows), P.column(acc, "mean_accuracy", rows), style, marker=".",
                    color=plt.cm.viridis(0.1 + 0.35 * (depth - 1)), label=f"{method.split('-')[0].upper()} regression, depth {depth}")
    markers = {"trained-sgd-centered": ("o", "C3"), "trained-sgd-plain": ("^", "C1")}
    for method in [m for m in P.unique(acc["method"]) if m.startswith("trained")]:
        for depth in depths:
            rows = P.rows_where(acc, method=method, depth=depth)
            if not rows:
                continue
            rows.sort(key=lambda i: acc["train_size"][i])
            x = P.column(acc, "train_size", rows)
            y = P.column(acc, "mean_accuracy", rows)
            err = [[y[k] - acc["ci_low"][i] for k, i in enumerate(rows)], [acc["ci_high"][i] - y[k] for k, i in enumerate(rows)]]
            marker, color = markers.get(method, ("s", "C4"))
            output = method.replace("trained-sgd-", "")
            draws = acc["draws"][rows[0]]
            ax.errorbar(x, y, yerr=err, marker=marker, color=color, capsize=3, lw=1.2,
                        label=f"trained net ({output}{', f − f0' if output == 'centered' else ', f0 ≠ 0'}), depth {depth}, 95% CI over {draws} seeds")
    ax.set_xscale("log")
    sizes = sorted(P.unique(acc["train_size"]))
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("training images")
    ax.set_ylabel(f"test accuracy ({summary['settings']['test_size']} images)")
    ax.legend(fontsize=7, loc="best")
    ax.set_title("Fashion-MNIST: infinite-width kernels vs trained fully connected nets\n" + P.post_caption(summary), fontsize=9)
    fig.text(0.01, -0.03, P.settings_note(summary, ["width", "epochs", "batch_size", "learning_rate", "momentum", "ridge_relative",
                                                    "sw2", "sb2", "normalization"]), fontsize=7)
    P.save_png(fig, folder, "generalization_fashion-mnist.png")


def main():
    folder = P.folder_from_argv("generalization")
    summary = P.read_summary(folder)
    plot_1d(folder, summary)
    plot_distance(folder, summary)
    plot_fashion(folder, summary)


if __name__ == "__main__":
    main()
