"""The benchmark table, as Markdown (readable in a terminal, pasteable into the README).

One line per contender: its median time and spread, its ratio to the row's reference, and on
the subject's line the peak memory and the achieved rate; each goal sits on the line of the
contender it judges, with the measured ratio and the verdict.
"""

from __future__ import annotations

import numpy as np

__all__ = ["README_BEGIN", "README_END", "bytes_text", "format_table", "goals_table", "machine_text",
           "measured_section", "replace_measured", "seconds_text", "verdict"]

README_BEGIN = "<!-- measured by layergrad bench (rewrite: layergrad bench --from run.json --readme README.md) -->"
README_END = "<!-- end of what layergrad bench measured -->"

HEADER = ("comparison", "size", "dtype", "contender", "median", "±", "× ref", "peak mem", "rate",
          "goal", "measured", "verdict")


def seconds_text(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def bytes_text(b: float) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b:.0f} B"


def _rate_text(rate: dict) -> str:
    unit = rate["unit"]
    value = rate["value"]
    text = f"{value / 1e9:.3g} GFLOP/s" if unit == "flop/s" else f"{value / 2**30:.3g} GB/s"
    if rate.get("fraction") is not None:
        text += f" = {100 * rate['fraction']:.0f}% of {rate['limit']}"
        if rate["fraction"] > 1 and rate["limit"] == "memory copy":  # the probe copies far more than the caches
            text += " (data in cache)"
    return text


def _quartiles(goal: dict, row: dict) -> tuple[float, float] | None:
    """Quartiles over rounds of what a goal judges (per-round ratios, or the subject's seconds)."""
    samples = {c["name"]: np.asarray(c["samples"]) for c in row["contenders"] if c["available"]}
    if goal["ratio"] == "seconds":
        values = samples.get(row["subject"])
    else:
        top, bottom = goal["ratio"].split("/")
        values = samples[top] / samples[bottom] if top in samples and bottom in samples else None
    if values is None or len(values) < 3:
        return None
    low, high = np.percentile(values, [25, 75])
    return float(low), float(high)


def verdict(goal: dict, row: dict) -> str:
    """met / SHORT on the median; "(unsure)" when the bound lies between the quartiles over
    rounds, i.e. the machine's noise in this run could have decided it either way."""
    if goal["met"] is None:
        return "n/a"
    word = "met" if goal["met"] else "SHORT"
    bound = goal["max"] if goal["max"] is not None else goal["min"]
    quartiles = _quartiles(goal, row)
    return f"{word} (unsure)" if quartiles and quartiles[0] <= bound <= quartiles[1] else word


def _value_text(goal: dict) -> str:
    if goal["value"] is None:
        return ""
    return seconds_text(goal["value"]) if goal["ratio"] == "seconds" else f"{goal['value']:.3g}"


def _goal_owner(goal: dict, row: dict) -> str:
    top = goal["ratio"].split("/")[0]
    return top if top in {c["name"] for c in row["contenders"]} else row["subject"]


def _lines(row: dict) -> list[tuple[str, ...]]:
    lines = []
    goals_of: dict[str, list[dict]] = {}
    for goal in row["goals"]:
        goals_of.setdefault(_goal_owner(goal, row), []).append(goal)
    for k, c in enumerate(row["contenders"]):
        first = k == 0
        head = (row["name"], row["size"], row["dtype"]) if first else ("", "", "")
        name = c["name"] + (" (ref)" if c["name"] == row["reference"] else "")
        if not c["available"]:
            lines.append((*head, name, "—", "", "", "", "", "", "", f"n/a: {c['reason']}"))
            continue
        runs = len(c["samples"])
        spread = (f"{100 * c['spread']:.0f}%" + ("" if row["stable"] else " ~")) if runs >= 3 else \
            f"{runs} run{'s' * (runs > 1)}"
        ratio = c.get("ratio_to_reference")
        ratio_text = "1" if c["name"] == row["reference"] else ("" if ratio is None else f"{ratio:.3g}")
        peak = rate = ""
        if c["name"] == row["subject"]:
            peak = bytes_text(row["peak_bytes"]) if row["peak_bytes"] is not None else ""
            if peak and row.get("buffer"):
                peak += f" ({row['buffer']['name']} {bytes_text(row['buffer']['bytes'])})"
            rate = _rate_text(row["rate"]) if row["rate"] else ""
        mine = goals_of.get(c["name"], [])
        goal_cells = [("", "", "")] if not mine else [
            (g["goal"], _value_text(g), verdict(g, row))
            for g in mine
        ]
        lines.append((*head, name, seconds_text(c["median"]), spread, ratio_text, peak, rate, *goal_cells[0]))
        lines += [("",) * 9 + cells for cells in goal_cells[1:]]
    for goal in row["goals"]:  # goals whose contender could not run
        owner = _goal_owner(goal, row)
        if not next(c for c in row["contenders"] if c["name"] == owner)["available"]:
            lines.append(("",) * 9 + (goal["goal"], "", "n/a"))
    return lines


def _markdown(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def fmt(r: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(r, widths)) + " |"

    return [fmt(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, rows[1:])]


def goals_table(report: dict) -> str:
    """Every goal in one short Markdown table: where, what, the measured value, the verdict."""
    lines = [("comparison", "size", "dtype", "goal", "measured", "verdict")]
    for row in report["rows"]:
        for g in row["goals"]:
            lines.append((row["name"], row["size"], row["dtype"], g["goal"], _value_text(g), verdict(g, row)))
    return "\n".join(_markdown(lines)) + "\n" if len(lines) > 1 else ""


def format_table(report: dict) -> str:
    """The Markdown table of a report made by :func:`numeric.bench.to_json`, then the goals
    alone, then the notes."""
    out = _markdown([HEADER, *(line for row in report["rows"] for line in _lines(row))])
    goals = [g for row in report["rows"] for g in row["goals"]]
    met = sum(g["met"] is True for g in goals)
    short = sum(g["met"] is False for g in goals)
    out.append("")
    out.append("ratios are medians of per-round ratios (contenders alternate within each round); "
               "± is half the interquartile range; ~ marks a row stopped by its time budget before stable; "
               "(unsure): the goal's bound lies between the quartiles over rounds.")
    out += [f"note: {note}" for note in dict.fromkeys(row["note"] for row in report["rows"] if row.get("note"))]
    if goals:
        out += ["", f"goals: {met} met, {short} short, {len(goals) - met - short} not measurable here", "",
                goals_table(report).rstrip("\n")]
    return "\n".join(out) + "\n"


def machine_text(report: dict) -> str:
    """One line on what the numbers were measured on."""
    m = report["machine"]
    load = m.get("load_average_at_start")
    parts = [f"{m['cpu']}, {m['cores']} cores", m["system"], f"Python {m['python']}",
             f"NumPy {m['numpy']} ({m['blas']})", f"torch {m['torch']}" if m.get("torch") else "torch not installed"]
    threads = m.get("threads")
    parts.append(f"{threads} thread{'s' * (threads != 1)} per contender" if threads else "library-default threads")
    if load is not None:
        parts.append(f"load average {load:.1f} at start")
    mode = "--quick" if report["quick"] else "full"
    return f"measured {report['started']} ({mode}, {report['seconds']:.0f} s) on " + "; ".join(parts)


def measured_section(report: dict) -> str:
    """The README's measured block for a report: the machine line, every goal with its verdict,
    then the whole table folded away."""
    run = "layergrad bench" + (" --quick" if report["quick"] else "")
    goals = goals_table(report).rstrip("\n")
    parts = [f"`{run}`, {machine_text(report)}.", ""]
    if goals:
        parts += ["Every goal, with the verdict this run gave:", "", goals, ""]
    parts += ["<details><summary>The whole table</summary>", "", format_table(report).rstrip("\n"), "",
              "</details>"]
    return "\n".join(parts) + "\n"


def replace_measured(text: str, report: dict, where: str = "the file") -> str:
    """``text`` with the block between :data:`README_BEGIN` and :data:`README_END` replaced by
    :func:`measured_section` of ``report``; everything else kept as it is."""
    from derive.errors import LayergradError

    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise LayergradError(f"{where} has no measured block: expected the line {README_BEGIN} "
                             f"and, after it, the line {README_END}")
    start = begin + len(README_BEGIN)
    return text[:start] + "\n" + measured_section(report) + text[end:]
