"""Shared helpers of the plotting scripts (experiments/plot_<name>.py).

Why: every figure of "Understanding the Neural Tangent Kernel" (Rajat V D, 2019) that the
experiments reproduce is drawn from the CSV/JSON an experiment wrote, never from the C++ side, so
figures can be redrawn without recomputing. These helpers read those tables, keep one look across
figures, and write every PNG and GIF under a temporary name renamed into place (an interrupted
run leaves no complete-looking figure).

Run with Debian's interpreter (/usr/bin/python3, python3-matplotlib); no other packages.
"""
import csv
import json
import math
import os
import sys

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "font.size": 10,
})


def folder_from_argv(default_name):
    """The experiment's output folder: argv[1], or results/<default_name>."""
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join("results", default_name)
    if not os.path.isfile(os.path.join(folder, "summary.json")):
        sys.exit(f"{sys.argv[0]}: {folder}/summary.json not found: run the experiment first (an unfinished run has none)")
    return folder


def _convert(value):
    for parse in (int, float):
        try:
            return parse(value)
        except ValueError:
            pass
    return value


def read_table(folder, name):
    """A tidy CSV as a dict of columns (lists), numbers converted."""
    path = os.path.join(folder, name)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{path}: no rows")
    return {key: [_convert(row[key]) for row in rows] for key in rows[0]}


def read_summary(folder):
    with open(os.path.join(folder, "summary.json")) as f:
        return json.load(f)


def rows_where(table, **conditions):
    """Indices of the rows whose columns equal the given values."""
    n = len(next(iter(table.values())))
    return [i for i in range(n) if all(table[k][i] == v for k, v in conditions.items())]


def column(table, name, indices):
    return [table[name][i] for i in indices]


def unique(values):
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def quantiles(values, qs):
    """Linear-interpolation quantiles of a list (no numpy needed)."""
    xs = sorted(values)
    out = []
    for q in qs:
        pos = q * (len(xs) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(xs) - 1)
        out.append(xs[lo] + (pos - lo) * (xs[hi] - xs[lo]))
    return out


def post_caption(summary):
    return f'"{summary["post_section"]}" — Understanding the Neural Tangent Kernel (Rajat V D, 2019)'


def settings_note(summary, keys=None):
    """A short line of the run's settings and seeds for a figure's footer."""
    s = summary["settings"]
    items = [f"{k}={s[k]}" for k in (keys or s.keys()) if k in s]
    seeds = summary.get("seeds") or []
    if len(seeds) > 1:
        seed_text = f"seeds {seeds[0]}..{seeds[-1]} ({len(seeds)})"
    elif seeds:
        seed_text = f"seed {seeds[0]}"
    else:
        seed_text = "no random draws"
    return ", ".join(items) + ("; " if items else "") + seed_text + (" [quick run]" if summary.get("quick") else "")


def save_png(fig, folder, name):
    path = os.path.join(folder, name)
    partial = path + ".partial.png"
    fig.savefig(partial, bbox_inches="tight")
    plt.close(fig)
    os.replace(partial, path)
    print(f"wrote {path}")


def fixed_palette(cmaps, greys=16):
    """One 256-colour GIF palette for every frame: samples of each colour map plus greys for
    anti-aliased text. A palette fitted per frame would band colour bars and flicker."""
    from PIL import Image

    per_map = (256 - greys) // max(1, len(cmaps))
    colours = [cmap(t)[:3] for cmap in cmaps for t in np.linspace(0, 1, per_map)]
    colours += [(g, g, g) for g in np.linspace(0, 1, greys)]
    colours += [(1.0, 1.0, 1.0)] * (256 - len(colours))
    image = Image.new("P", (1, 1))
    image.putpalette([round(255 * c) for colour in colours for c in colour])
    return image


def _frame(fig):
    from PIL import Image

    return Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy())


def _write_gif(images, folder, name, fps, palette):
    """Quantizes the frames to one palette (the given one, or the first frame's) and writes the
    GIF aside, then renames it into place."""
    from PIL import Image

    if palette is None:
        palette = images[0].quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    frames = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    path = os.path.join(folder, name)
    partial = path + ".partial.gif"
    frames[0].save(partial, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)
    os.replace(partial, path)
    print(f"wrote {path}")


def save_gif(fig, update, frames, folder, name, fps=10, palette=None):
    """An animation: update(frame) redraws the figure for each item of frames (one full draw per
    frame; for figures whose static parts are costly use save_gif_blitted)."""
    images = []
    for frame in frames:
        update(frame)
        fig.canvas.draw()
        images.append(_frame(fig))
    plt.close(fig)
    _write_gif(images, folder, name, fps, palette)


def save_gif_blitted(fig, animated, update, frames, folder, name, fps=10, palette=None):
    """An animation whose static parts (axes, colour bars, labels) are drawn once and only the
    `animated` artists (created with animated=True) are redrawn for each item of frames: many
    times faster than a full redraw when the axes have many tick labels or images."""
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    images = []
    for frame in frames:
        update(frame)
        canvas.restore_region(background)
        for artist in animated:
            fig.draw_artist(artist)
        images.append(_frame(fig))
    plt.close(fig)
    _write_gif(images, folder, name, fps, palette)
