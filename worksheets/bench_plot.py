"""Draw a ``layergrad bench`` report: ratios with their goals, fractions of the machine's limits,
and the times of the symbolic side.

Three panels, top to bottom: every contender's time over its row's reference (log scale; the
quartiles of the per-round ratios as error bars; each goal's bound as a black tick, the bar green
when the goal is met and red when it is not); each subject's achieved rate as a fraction of the
machine limit measured in the same run; and the median seconds of rows that have one contender.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker

from derive.errors import LayergradError
from numeric.bench.table import machine_text
from numeric.files import write_output

__all__ = ["plot"]

FORMATS = ("png", "svg", "pdf")
MET, SHORT, PLAIN = "#2e7d32", "#c62828", "#78909c"


def _label(row: dict, contender: str | None = None) -> str:
    words = [row["name"], *(w for w in (row["size"], row["dtype"]) if w not in ("symbolic", "—"))]
    return " ".join(words) + (f": {contender}" if contender else "")


def _ticks(ax, goals: list[list[dict]]) -> None:
    """A black tick at each goal's bound, on the line of the item it judges."""
    for k, item_goals in enumerate(goals):
        for g in item_goals:
            bound = g["max"] if g["max"] is not None else g["min"]
            ax.plot([bound, bound], [k - 0.35, k + 0.35], "k-", lw=2)


def _ratios(report: dict) -> list[tuple[str, float, tuple[float, float], list[dict]]]:
    bars = []
    for row in report["rows"]:
        for c in row["contenders"]:
            value = c.get("ratio_to_reference")
            if value is None:
                continue
            goals = [g for g in row["goals"] if g["ratio"].split("/")[0] == c["name"] and g["value"] is not None]
            bars.append((_label(row, f"{c['name']} / {row['reference']}"), value,
                         tuple(c["ratio_quartiles"]), goals))
    return bars


def _color(goals: list[dict]) -> str:
    if not goals:
        return PLAIN
    return MET if all(g["met"] for g in goals) else SHORT


def plot(report: dict, path: str | Path, force: bool = False) -> Path:
    """Draw ``report`` (from :func:`numeric.bench.to_json`) into an image file (PNG, SVG or PDF)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise LayergradError(f"cannot draw {path.name}: expected a file name ending in .png, .svg or .pdf")
    ratios = _ratios(report)
    fractions = [(_label(r), r["rate"]["fraction"], r["rate"]["limit"]) for r in report["rows"]
                 if r["rate"] and r["rate"].get("fraction") is not None]
    times = [(_label(r), r["contenders"][0]["median"], [g for g in r["goals"] if g["ratio"] == "seconds"])
             for r in report["rows"] if len(r["contenders"]) == 1 and not r["rate"] and r["contenders"][0]["available"]]
    if not (ratios or fractions or times):
        raise LayergradError("the report has no measured row to plot")
    panels = [p for p in (("ratios", ratios), ("fractions", fractions), ("times", times)) if p[1]]
    heights = [max(1.5, 0.32 * len(items) + 0.8) for _, items in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, sum(heights) + 1.6),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (kind, items) in zip(axes[:, 0], panels):
        y = range(len(items))
        labels = [item[0] for item in items]
        if kind == "ratios":
            values = [item[1] for item in items]
            low = [max(v - q[0], 0) for v, (_, _, q, _) in zip(values, items)]
            high = [max(q[1] - v, 0) for v, (_, _, q, _) in zip(values, items)]
            for k, (value, item) in enumerate(zip(values, items)):
                ax.errorbar([value], [k], xerr=[[low[k]], [high[k]]], fmt="o", color=_color(item[3]),
                            capsize=3, ms=6)
                ax.annotate(f"{value:.3g}", (value, k), textcoords="offset points", xytext=(0, 6),
                            ha="center", fontsize=7)
            _ticks(ax, [item[3] for item in items])
            ax.axvline(1.0, color="k", lw=0.8, ls=":")
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel("time of contender / time of reference (log; < 1 is faster; whiskers: quartiles)")
            ax.set_title("Ratios to each row's reference")
        elif kind == "fractions":
            ax.barh(y, [100 * item[1] for item in items], color=PLAIN)
            for k, item in enumerate(items):
                ax.text(100 * item[1], k, f" {100 * item[1]:.0f}% of {item[2]}", va="center", fontsize=8)
            ax.set_xlim(0, max(130, 100 * max(item[1] for item in items) * 1.45))
            ax.set_xlabel("achieved rate, % of this machine's limit measured in the same run")
            ax.set_title("Fraction of the machine's own limits")
        else:
            ax.barh(y, [item[1] for item in items], color=[_color(item[2]) for item in items])
            _ticks(ax, [item[2] for item in items])
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.set_xlabel("median seconds (log scale)")
            ax.set_title("Single-contender rows")
        ax.set_yticks(list(y), labels, fontsize=8)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("layergrad bench — green: goal met, red: short, grey: no goal; black tick: the goal's bound",
                 fontsize=10)
    words = machine_text(report).split("; ")
    half = (len(words) + 1) // 2
    fig.text(0.01, 0.004, "; ".join(words[:half]) + ";\n" + "; ".join(words[half:]), fontsize=7,
             ha="left", va="bottom")
    fig.tight_layout(rect=(0, 1.0 / (sum(heights) + 1.6), 1, 1 - 0.5 / (sum(heights) + 1.6)))
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=130)
    plt.close(fig)
    return write_output(path, buffer.getvalue(), force)
