"""`make tune`'s results in BENCHMARKS.md: the tuning table and its chart (standard library only).

bench.py's report calls `section` when given `--tuning infra/bench/tuning.json`; tune.py prints
`table` after a run. Everything here reads tuning.json (tune.py writes it) and nothing else, so the
page can be rebuilt from the committed file without measuring again.
"""
import html
import json
import os

CHART_NAME = "BENCHMARKS-tuning.svg"


def mb_label(mb):
    return f"{int(mb):,}"


def cell(row, recommended):
    """`p50 / p99 · cold · $/M` for one size, or why the size could not serve."""
    if row["outcome"] != "ok":
        text = "**OOM**" if row["outcome"] == "oom" else f"**{row['outcome']}**"
        return f"{text} (peak {row['peak_rss_mib']:.0f} MiB)" if row["outcome"] == "oom" else text
    text = (f"{row['warm_p50_ms']:.1f} / {row['warm_p99_ms']:.1f} · {row['cold_ms']:.0f} · "
            f"${row['cost_per_million']:.2f}")
    return f"**{text}**" if recommended else text


def sizes_of(tuning):
    return sorted({int(mb) for record in tuning["functions"].values() for mb in record["sizes"]})


def table(tuning):
    """The tuning table: a row per function, a column per size."""
    sizes = sizes_of(tuning)
    lines = [
        "| function | " + " | ".join(f"{mb_label(mb)} MB" for mb in sizes) + " | peak RSS MiB | recommended MB |",
        "|---|" + "---:|" * len(sizes) + "---:|---:|",
    ]
    records = list(tuning["functions"].items())
    if tuning.get("baseline"):
        records.append(("_hello-runtime (floor)_", tuning["baseline"]))
    for name, record in records:
        cells = []
        for mb in sizes:
            row = record["sizes"].get(str(mb))
            cells.append(cell(row, mb == record["recommended_mb"]) if row else "–")
        peak = max((row["peak_rss_mib"] for row in record["sizes"].values()), default=0)
        if name.startswith("_"):
            recommended = "–"
        elif record["recommended_mb"] is None:
            recommended = "none served"
        else:
            recommended = f"**{mb_label(record['recommended_mb'])}**"
            if record["recommended_mb"] != record["template_memory_mb"]:
                recommended += f" (was {mb_label(record['template_memory_mb'])})"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {peak:.1f} | {recommended} |")
    return lines


def out_of_memory_at(tuning, mb):
    return [name for name, record in tuning["functions"].items()
            if record["sizes"].get(str(mb), {}).get("outcome") == "oom"]


def run_text(tuning):
    parts = []
    for run in tuning["runs"]:
        text = (f"`{run['command']}` on {run['date']}: {run['cold_starts']} starts per function and size, "
                f"each serving {run['warm_invocations']} warm invocations, the sizes taking turns")
        if run.get("wall_seconds") is not None:
            text += f", {run['wall_seconds'] / 60:.0f} minutes"
        load = run.get("load") or {}
        if load.get("loadavg_1m"):
            text += (f"; the machine ({run['cpus']} CPUs) was {load['cpu_busy']['mean']:.0%} busy on average "
                     f"(load average {load['loadavg_1m']['min']}–{load['loadavg_1m']['max']})")
        parts.append(text)
    return "; ".join(parts)


def section(tuning_path, out_path):
    """BENCHMARKS.md's tuning section; writes the chart beside `out_path` and links it."""
    with open(tuning_path) as f:
        tuning = json.load(f)
    chart_path = os.path.join(os.path.dirname(os.path.abspath(out_path)), CHART_NAME)
    with open(chart_path, "w") as f:
        f.write(chart(tuning))
    smallest = sizes_of(tuning)[0]
    oom = out_of_memory_at(tuning, smallest)
    peak_name, peak = max(((name, max(r["peak_rss_mib"] for r in record["sizes"].values()))
                           for name, record in tuning["functions"].items()), key=lambda x: x[1])
    oom_text = (f"At {smallest} MB, {', '.join(oom)} ran out of memory." if oom else
                f"No function runs out of memory at {smallest} MB: the largest peak RSS at any size is "
                f"{peak:.1f} MiB ({peak_name}).")
    changed = [f"{name} {mb_label(r['template_memory_mb'])} → {mb_label(r['recommended_mb'])}"
               for name, r in tuning["functions"].items()
               if r["recommended_mb"] is not None and r["recommended_mb"] != r["template_memory_mb"]]
    return [
        "",
        "## Memory sizes, tuned (`make tune`)",
        "",
        "Every function's scenario run under Lambda's resource model at each size: the function process "
        "(not the harness or the engines) in a cgroup with N/1,769 of a core (CFS quota of a 100 ms period) "
        "and an N MiB memory limit without swap, from before its first instruction, so init is throttled "
        "too; a kill at the limit is an OOM. Each cell is warm duration p50 / p99 ms · cold request "
        "(init + first invocation, p50) ms · Lambda arm64 cost per million invocations at the billed "
        "warm p50. The recommendation, in bold, is the cheapest size whose warm p50 is within "
        f"{tuning['rule']['tolerance']:.0%} of the fastest size's, or within {tuning['rule']['slack_ms']:g} ms "
        "(the billing unit; tenths of a millisecond are noise here) where that is wider, sizes that ran "
        "out of memory or time excluded. With hysteresis: the size configured when the run was made "
        f"stays while its warm p50 is within {tuning['rule'].get('stay_factor', 1)} times that band, unless "
        "the recommendation is cheaper, so sizes a millisecond apart do not swap from run to run. The "
        "template's `MemorySize` is that size (a test in the suite checks it). "
        f"{oom_text} Measured by {run_text(tuning)}. p99 of so few warm invocations is their slowest.",
        "",
        *table(tuning),
        "",
        ("Changed by this table: " + "; ".join(changed) + " MB." if changed else
         "The template's sizes were already the recommended ones."),
        "",
        f"![warm duration and cost per million against memory, per function]({CHART_NAME})",
    ]


def chart(tuning):
    """Small multiples: per function, warm p50 (blue) and cost per million (orange) against
    memory, each scaled to its own largest value; the recommended size is the green band, a size
    that ran out of memory a red cross. Plain SVG, as bench.py's chart."""
    sizes = sizes_of(tuning)
    names = list(tuning["functions"])
    columns, panel_w, panel_h, pad = 5, 200, 118, 10
    top = 52
    rows = -(-len(names) // columns)
    width, height = columns * panel_w + pad, top + rows * panel_h + pad
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="sans-serif" font-size="10">',
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="18" font-size="14" font-weight="bold">Warm duration and cost against memory '
           f'({", ".join(mb_label(mb) for mb in sizes)} MB)</text>',
           '<text x="10" y="36" fill="#555">blue: warm p50 · orange: $ per million · each scaled to its own '
           'largest value · green band: recommended · red ×: out of memory</text>']
    for i, name in enumerate(names):
        record = tuning["functions"][name]
        x0 = pad + (i % columns) * panel_w
        y0 = top + (i // columns) * panel_h
        plot_left, plot_right = x0 + 6, x0 + panel_w - 16
        plot_top, plot_bottom = y0 + 30, y0 + panel_h - 22

        def x(index):
            return plot_left + (plot_right - plot_left) * index / max(1, len(sizes) - 1)

        served = {mb: record["sizes"][str(mb)] for mb in sizes
                  if str(mb) in record["sizes"] and record["sizes"][str(mb)]["outcome"] == "ok"}
        out.append(f'<rect x="{x0}" y="{y0}" width="{panel_w - 6}" height="{panel_h - 6}" fill="none" '
                   'stroke="#ddd"/>')
        rec = record["recommended_mb"]
        title = f"{name} → {mb_label(rec)} MB" if rec else f"{name}: none served"
        out.append(f'<text x="{x0 + 6}" y="{y0 + 14}" font-weight="bold">{html.escape(title)}</text>')
        if served:
            p50s = [row["warm_p50_ms"] for row in served.values()]
            costs = [row["cost_per_million"] for row in served.values()]
            out.append(f'<text x="{x0 + 6}" y="{y0 + 25}" fill="#555">{min(p50s):.1f}–{max(p50s):.1f} ms · '
                       f'${min(costs):.2f}–{max(costs):.2f}</text>')
        if rec in sizes:
            cx = x(sizes.index(rec))
            out.append(f'<rect x="{cx - 7:.1f}" y="{plot_top - 2}" width="14" height="{plot_bottom - plot_top + 4}" '
                       'fill="#59a14f" opacity="0.25"/>')
        for key, colour in (("warm_p50_ms", "#4e79a7"), ("cost_per_million", "#f28e2b")):
            top_value = max((row[key] for row in served.values()), default=0) or 1
            points = [(x(sizes.index(mb)), plot_bottom - (plot_bottom - plot_top) * row[key] / top_value)
                      for mb, row in served.items()]
            if len(points) > 1:
                out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="'
                           + " ".join(f"{px:.1f},{py:.1f}" for px, py in points) + '"/>')
            out += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2" fill="{colour}"/>' for px, py in points]
        for index, mb in enumerate(sizes):
            row = record["sizes"].get(str(mb))
            if row and row["outcome"] != "ok":
                out.append(f'<text x="{x(index):.1f}" y="{plot_bottom}" text-anchor="middle" fill="#e15759" '
                           'font-size="12" font-weight="bold">×</text>')
        out.append(f'<line x1="{plot_left}" y1="{plot_bottom}" x2="{plot_right}" y2="{plot_bottom}" stroke="#999"/>')
        for index, mb in enumerate(sizes):
            out.append(f'<text x="{x(index):.1f}" y="{plot_bottom + 12}" text-anchor="middle" fill="#555" '
                       f'font-size="8">{mb}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    # A preview without bench.py: `python3 infra/bench/tuning_report.py infra/bench/tuning.json OUT.md`
    # writes the section to OUT.md and the chart beside it.
    import sys

    lines = section(sys.argv[1], sys.argv[2])
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(lines) + "\n")
