"""Writes REPORT.md from the experiments' summary.json files and figures.

Usage: report.py RESULTS_DIR NAME...   (run by ./reproduce.sh)

For each experiment: its section of "Understanding the Neural Tangent Kernel" (Rajat V D, 2019),
the figures it drew, what the post or theory expects, the headline numbers with their confidence
intervals, and the verdicts — computed by the experiment's own code, copied here verbatim.
"""
import csv
import datetime
import glob
import json
import os
import platform
import sys


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def number(v):
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    return f"{v:.4g}"


def read_timings(results):
    path = os.path.join(results, "timings.csv")
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        return {row["experiment"]: row for row in csv.DictReader(f)}


def section(results, name, timing):
    folder = os.path.join(results, name)
    path = os.path.join(folder, "summary.json")
    lines = []
    if not os.path.exists(path):
        status = timing.get("status", "not run") if timing else "not run"
        return [f"## {name}", "", f"**No results** ({status}): `{folder}/summary.json` is missing.", ""], None
    with open(path) as f:
        s = json.load(f)
    verdicts = s.get("verdicts", [])
    agree = sum(1 for v in verdicts if v.get("agrees"))
    lines += [f"<a id=\"{name}\"></a>", "", f"## {s['title']} (`{name}`)", ""]
    lines += [f"*Post section:* \"{s['post_section']}\" — {s['post']}.", ""]
    if s.get("quick"):
        lines += ["**Quick run** (small sizes): numbers are not the headline results.", ""]
    figures = sorted(glob.glob(os.path.join(folder, "*.png"))) + sorted(glob.glob(os.path.join(folder, "*.gif")))
    for fig in figures:
        rel = os.path.relpath(fig, results)
        lines += [f"![{os.path.basename(fig)}]({rel})", ""]
    if s.get("expectation"):
        lines += [f"**Expected** (post or theory): {s['expectation']}", ""]
    heads = s.get("headlines", [])
    if heads:
        lines += ["| quantity | value | 95% CI | note |", "|---|---|---|---|"]
        for h in heads:
            ci = f"[{number(h.get('ci_low'))}, {number(h.get('ci_high'))}]" if "ci_low" in h else "—"
            note = h.get("description", "")
            if "ci_method" in h:
                note += f" (CI: {h['ci_method']})"
            lines.append(f"| {h['name']} | {number(h.get('value'))} | {ci} | {note} |")
        lines.append("")
    if verdicts:
        lines += [f"**Verdicts** ({agree} of {len(verdicts)} agree):", ""]
        for v in verdicts:
            mark = "agrees" if v.get("agrees") else "**disagrees**"
            lines.append(f"- {mark} — {v['claim']}: expected {v['expected']}; measured {v['measured']} ({v['detail']}).")
        lines.append("")
    seeds = s.get("seeds") or []
    if len(seeds) > 1:
        seed_text = f"seeds {seeds[0]}…{seeds[-1]} ({len(seeds)} draws)"
    else:
        seed_text = f"seed {seeds[0]}" if seeds else "no random draws"
    run_time = f"{float(timing['run_seconds']):.1f} s run + {float(timing['plot_seconds']):.1f} s plots" if timing else f"{s['seconds']:.1f} s"
    lines += [f"*Run:* `{s['command_line']}` — {seed_text}, {s['threads']} thread(s), {run_time}, library {s['library_version']}.",
              "", "<details><summary>settings</summary>", "", "```json", json.dumps(s["settings"], indent=1), "```", "",
              "</details>", ""]
    return lines, (agree, len(verdicts), s)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: report.py RESULTS_DIR NAME...")
    results, names = sys.argv[1], sys.argv[2:]
    timings = read_timings(results)
    body, rows = [], []
    for name in names:
        lines, outcome = section(results, name, timings.get(name))
        body += lines
        t = timings.get(name)
        time_text = f"{float(t['run_seconds']) + float(t['plot_seconds']):.1f} s" if t else "—"
        if outcome:
            agree, total, s = outcome
            rows.append(f"| [{s['title']}](#{name}) | `{name}` | \"{s['post_section']}\" | {agree}/{total} | {time_text} |")
        else:
            rows.append(f"| — | `{name}` | — | not run | {time_text} |")
    total_time = sum(float(t["run_seconds"]) + float(t["plot_seconds"]) for n, t in timings.items() if n in names)
    head = [
        "# Reproducing *Understanding the Neural Tangent Kernel* (Rajat V D, 2019)", "",
        "Written by `./reproduce.sh` from each experiment's `summary.json` and figures; the verdicts are computed by "
        "the experiments' own code. Every number with an interval is a 95% confidence interval over seeds (the "
        "method is named beside it).", "",
        f"Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} on {os.cpu_count()} cores "
        f"({cpu_model()}); suite time {total_time:.0f} s (run + plots).", "",
        "| experiment | name | post section | verdicts agreeing | time |", "|---|---|---|---|---|", *rows, "",
    ]
    text = "\n".join(head + body) + "\n"
    path = os.path.join(results, "REPORT.md")
    with open(path + ".partial", "w") as f:
        f.write(text)
    os.replace(path + ".partial", path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
