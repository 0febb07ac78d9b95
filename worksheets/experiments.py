"""Run an experiment end to end: load the data, train, write histories and figures, print a summary.

Everything goes into one folder: ``NAME.json`` (settings, summary, findings and every run's
histories), ``histories/RUN.json`` (each training run, rewritten at every epoch so that an
interrupted experiment keeps what it measured) and the figures as PNG and SVG. All files are
written atomically and never over a file layergrad did not write (unless ``force``).
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from matplotlib.figure import Figure

from numeric import experiments
from numeric.data import load
from numeric.experiments import Result
from numeric.files import write_output

from .experiment_figures import FIGURES

__all__ = ["format_summary", "run", "save_figure"]


def save_figure(figure: Figure, stem: Path, force: bool = False) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg``."""
    paths = []
    for fmt in ("png", "svg"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=110, metadata={"Date": None} if fmt == "svg" else None)
        paths.append(write_output(stem.with_suffix(f".{fmt}"), buffer.getvalue(), force))
    return paths


def format_summary(result: Result) -> str:
    """The summary table (Markdown) and the findings."""
    widths = [max(len(str(row[k])) for row in [result.header, *result.rows]) for k in range(len(result.header))]
    lines = ["| " + " | ".join(str(v).ljust(w) for v, w in zip(row, widths)) + " |"
             for row in [result.header, *result.rows]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join([f"{result.title} ({result.data})", "", *lines, "", *(f"- {f}" for f in result.findings)])


def run(name: str, data_spec: str, folder: Path, *, force: bool = False, quiet: bool = False,
        threads: int = 1, echo: bool = True, **overrides) -> Result:
    """Run experiment ``name`` on ``data_spec`` (``digits`` or ``cifar10:PATH``) into ``folder``;
    with ``echo``, print the summary and the files written."""
    experiments.experiment(name)  # an unknown name fails before any data is read
    folder = Path(folder)
    started = time.monotonic()
    data = load(data_spec)
    result = experiments.run(name, data, data_spec, history_dir=folder / "histories",
                             progress=False if quiet else None, threads=threads, **overrides)
    result.extra["seconds"] = round(time.monotonic() - started, 2)
    written = [write_output(folder / f"{name}.json", json.dumps(result.as_json(), indent=1) + "\n", force)]
    for stem, figure in FIGURES[name](result):
        written += save_figure(figure, folder / stem, force)
    result.extra["written"] = [str(p) for p in written]
    if echo:
        print(format_summary(result))
        print(f"\n{name}: {result.extra['seconds']:.1f} s; wrote {', '.join(map(str, written))}")
    return result
