r"""``layergrad bench``: every performance claim in one table, measured side by side in one run.

A benchmark row compares contenders (the generated code, a hand-written NumPy version, a
staged backward, literal loops, PyTorch when installed, ...) on one size and dtype. The
contenders are timed in alternation and rounds repeat until every median is stable
(:mod:`numeric.bench.core`); the table shows each contender's median time and spread, the
ratio to the row's reference contender, the subject's peak memory and achieved rate, and a
verdict for each goal. Verdicts use ratios measured in the same run only (or, for the few goals
stated in seconds, the subject's median), because absolute times on a shared machine drift.

Registering rows
----------------
Rows live in suite modules, one per layer family: ``numeric/bench/<suite>.py`` defines

.. code-block:: python

    def rows(quick: bool) -> list[Row]: ...

and the suite's name is added to :data:`SUITES` below (order = order in the table). ``rows``
must be cheap: it only *declares* rows; each row's ``setup`` builds data and callables when the
row is about to run (and only if it was selected). ``quick=True`` asks for small sizes only: the
whole ``layergrad bench --quick`` must finish in well under a minute. A row is a
:class:`~numeric.bench.core.Row`:

.. code-block:: python

    from numeric.bench.core import Goal, Row, Unavailable, Work
    from numeric.bench.common import exported

    def rows(quick):
        shapes = [(100, 500)] if quick else [(100, 500), (4096, 1024)]
        return [Row(
            name="batchnorm backward",          # what is compared (unique with size and dtype)
            group="batchnorm",                  # what --only NAME selects (also by row name)
            size=f"{n}×{d}", dtype="float64",
            contenders=("generated", "hand-written", "staged"),  # first = subject (memory, rate)
            reference="hand-written",           # ratios in the table are t_contender / t_reference
            setup=lambda n=n, d=d: _setup(n, d),
            goals=(Goal("generated/hand-written", max=1.10),  # a max goal: ratio ≤ 1.10
                   Goal("staged/generated", min=1.5)),        # a min goal: ratio ≥ 1.5
            work=Work(amount=..., unit="B", limit="memory copy"),  # optional: rate, fraction of limit
        ) for n, d in shapes]

    def _setup(n, d):
        module = exported()                      # the generated module (cs231n API), built once
        ...                                      # build inputs, run forward once for the cache
        return {"generated": lambda: module.batchnorm_backward_alt(dout, cache),
                "hand-written": lambda: _hand(dout, cache),
                "staged": lambda: module.batchnorm_backward(dout, cache)}

``setup`` returns a mapping from contender name to a zero-argument callable (the thing that is
timed; do all preparation outside it) or :class:`~numeric.bench.core.Unavailable` with a reason
(``Unavailable("torch not installed")``, see :func:`numeric.bench.common.torch_or_reason`). Other
fields of :class:`~numeric.bench.core.Row`:

* ``goals``: :class:`~numeric.bench.core.Goal` ``("A/B", max=…)`` or ``(…, min=…)`` on the
  median per-round ratio :math:`t_A/t_B`; ``Goal("peak/im2col", max=1.5)`` with
  ``buffer=("im2col", nbytes)`` bounds the subject's peak memory by a buffer's size;
  ``Goal("seconds", max=1.0)`` bounds the subject's median time (for goals stated in seconds).
* ``work``: :class:`~numeric.bench.core.Work` ``(amount, "B" | "flop", limit=…)``: the subject's
  rate and its fraction of a machine limit — ``"memory copy"``, ``"float64 matmul"``,
  ``"float32 matmul"`` (:mod:`numeric.bench.limits`), whose probe runs in the row's own rounds.
* ``memory=False`` skips the peak-memory probe (``tracemalloc``; it sees NumPy's allocations,
  not PyTorch's); ``rounds=k`` measures exactly ``k`` rounds (for calls that take seconds);
  ``warmup=False`` skips the untimed first call (for contenders that run in a fresh process:
  return :class:`~numeric.bench.core.Elapsed` from :func:`~numeric.bench.core.fresh_process`).
* ``note``: one short line shown under the table.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from derive.errors import LayergradError

from . import common
from .core import Goal, Row, RowResult, Settings, Unavailable, Work, measure

__all__ = [
    "SUITES", "Goal", "Row", "Unavailable", "Work",
    "all_rows", "dumps", "machine_info", "run", "select", "to_json",
]

SUITES: tuple[str, ...] = ("machine", "dropout", "batchnorm", "conv", "fc", "pytorch", "course", "network", "symbolic",
                           "defined")
"""Suite modules in :mod:`numeric.bench`, in table order."""


def all_rows(quick: bool) -> list[Row]:
    """Every registered row, suite by suite."""
    rows: list[Row] = []
    for suite in SUITES:
        rows += importlib.import_module(f"{__name__}.{suite}").rows(quick)
    return rows


def select(rows: Sequence[Row], only: Sequence[str] | None) -> list[Row]:
    """Rows whose group or name matches one of ``only`` (shell patterns allowed)."""
    if not only:
        return list(rows)
    chosen = [r for r in rows if any(fnmatch.fnmatch(r.group, p) or fnmatch.fnmatch(r.name, p) for p in only)]
    if not chosen:
        groups = ", ".join(dict.fromkeys(r.group for r in rows))
        raise LayergradError(f"--only {' '.join(only)} matches no row; groups: {groups} (or a row name)")
    return chosen


def run(rows: Sequence[Row], quick: bool = False, threads: int | None = 1,
        progress: Callable[[str], None] | None = None) -> list[RowResult]:
    """Measure ``rows`` in order, reporting each as it starts.

    ``threads`` caps the threads of NumPy's BLAS and of PyTorch alike (None: each library's
    default). One thread is the default: every contender then computes on one core, and a
    shared machine's other work cannot stall a team of threads waiting for each other (PyTorch
    with two threads ran a small convolution 40× slower under load than with one)."""
    from threadpoolctl import threadpool_limits

    settings = Settings.quick() if quick else Settings()
    common.THREADS["torch"] = threads
    results = []
    with threadpool_limits(limits=threads):
        for k, row in enumerate(rows, 1):
            if progress:
                progress(f"[{k}/{len(rows)}] {row.name} {row.size} {row.dtype}")
            results.append(measure(row, settings))
    return results


def machine_info(threads: int | None = 1) -> dict[str, object]:
    """What the numbers were measured on (and with how many threads per contender)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas_name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (TypeError, KeyError, AttributeError):
        blas_name = "unknown"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_name,
        "torch": _torch_version(),
        "load_average_at_start": load,
        "threads": threads,
    }


def _torch_version() -> str | None:
    if "torch" in sys.modules:
        return sys.modules["torch"].__version__
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return None


def to_json(results: Sequence[RowResult], quick: bool, info: dict[str, object], started: float) -> dict:
    """Everything measured, as plain data (what ``--json`` writes and ``--plot`` draws)."""
    rows = []
    for res in results:
        row = res.row
        contenders = []
        for name in row.contenders:
            t = res.timings[name]
            entry: dict[str, object] = {"name": name, "available": t.available, "reason": t.reason or None}
            if t.available:
                entry |= {"median": t.median, "spread": t.spread, "calls_per_round": t.number,
                          "samples": t.samples}
                if row.reference and row.reference in res.timings and name != row.reference:
                    entry["ratio_to_reference"] = res.ratio(name, row.reference)
                    entry["ratio_quartiles"] = res.ratio_range(name, row.reference)
            contenders.append(entry)
        goals = []
        for goal in row.goals:
            value = res.goal_value(goal)
            goals.append({"goal": goal.text(), "ratio": goal.ratio, "max": goal.max, "min": goal.min,
                          "value": value, "met": None if value is None else goal.met(value)})
        rows.append({
            "name": row.name, "group": row.group, "size": row.size, "dtype": row.dtype,
            "reference": row.reference, "subject": row.subject, "contenders": contenders,
            "goals": goals, "stable": res.stable, "seconds": res.seconds, "note": row.note or None,
            "peak_bytes": res.peak,
            "buffer": {"name": row.buffer[0], "bytes": row.buffer[1]} if row.buffer else None,
            "rate": None if res.rate is None else {
                "value": res.rate, "unit": f"{row.work.unit}/s",  # type: ignore[union-attr]
                "limit": row.work.limit, "fraction": res.fraction,  # type: ignore[union-attr]
                "limit_samples": res.probe.samples if res.probe else None,
            },
        })
    return {"layergrad_bench": 1, "quick": quick,
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
            "seconds": time.time() - started, "machine": info, "rows": rows}


def dumps(report: dict) -> str:
    return json.dumps(report, indent=1, ensure_ascii=False) + "\n"
