r"""The measuring engine: rows, goals, alternating timing until stable, peak memory.

A :class:`Row` names what is compared and how to build its contenders; :func:`measure` times
them in alternation (round :math:`r` starts with contender :math:`r \bmod k`, so slow drifts of
a shared machine hit every contender alike), repeating rounds until the median of every
contender is known to about :data:`Settings.precision` or the row's time budget is spent. A
contender's time is the median over rounds of one batch of calls divided by the batch size;
its spread is half the interquartile range, relative to the median. The ratio of a contender
to another is the median of the per-round ratios (each round measures both back to back),
which cancels the drift that makes absolute times on a shared machine move by 25 %.
"""

from __future__ import annotations

import gc
import math
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from derive.errors import LayergradError

from .limits import LIMITS

__all__ = [
    "Elapsed",
    "Goal",
    "Row",
    "RowResult",
    "Settings",
    "Timing",
    "Unavailable",
    "Work",
    "fresh_process",
    "measure",
]


@dataclass(frozen=True)
class Unavailable:
    """Put in place of a contender's callable when it cannot run here (say why)."""

    reason: str


@dataclass(frozen=True)
class Elapsed:
    """Returned by a contender that timed itself (e.g. inside a fresh process)."""

    seconds: float


@dataclass(frozen=True)
class Goal:
    r"""A goal on a row, stated as a bound on a ratio (or, where a goal is stated in seconds,
    on the subject's median time).

    ``ratio`` is ``"A/B"``: the median over rounds of :math:`t_A / t_B` for two contenders, or
    ``"peak/BUFFER"``: the subject's peak memory over the row's :attr:`Row.buffer`; or the word
    ``"seconds"``. Exactly one of ``max`` (the ratio must stay at or below it) and ``min`` (at
    or above it) is given. ``Goal("generated/hand-written", max=1.10)`` reads "generated
    within 1.10× of hand-written"; ``Goal("staged/generated", min=1.5)`` reads "generated at
    least 1.5× faster than staged".
    """

    ratio: str
    max: float | None = None
    min: float | None = None

    def __post_init__(self) -> None:
        if (self.max is None) == (self.min is None):
            raise LayergradError(f"goal {self.ratio!r}: give exactly one of max= or min=")
        if self.ratio != "seconds" and self.ratio.count("/") != 1:
            raise LayergradError(f"goal {self.ratio!r}: expected 'A/B' or 'seconds'")

    @property
    def bound(self) -> float:
        return self.max if self.max is not None else self.min  # type: ignore[return-value]

    def met(self, value: float) -> bool:
        return value <= self.max if self.max is not None else value >= self.min  # type: ignore[operator]

    def text(self) -> str:
        sign = "≤" if self.max is not None else "≥"
        if self.ratio == "seconds":
            return f"{sign} {self.bound:g} s"
        return f"{self.ratio} {sign} {self.bound:g}"


@dataclass(frozen=True)
class Work:
    """What one call of the subject does, to turn its time into a rate.

    ``unit`` is ``"B"`` (bytes that must cross memory: inputs read once, outputs written once)
    or ``"flop"``. ``limit`` names the machine limit (:data:`numeric.bench.limits.LIMITS`) the
    rate is compared with: its probe runs in every round of the row, alternating with the
    contenders, and the fraction is the median of the per-round ratios of the two rates.
    """

    amount: float
    unit: str
    limit: str | None = None

    def __post_init__(self) -> None:
        from .limits import LIMITS

        if self.unit not in ("B", "flop"):
            raise LayergradError(f"work unit {self.unit!r}: expected 'B' or 'flop'")
        if self.limit is not None:
            if self.limit not in LIMITS:
                raise LayergradError(f"unknown machine limit {self.limit!r}; known: {', '.join(LIMITS)}")
            if LIMITS[self.limit].unit != self.unit:
                raise LayergradError(f"limit {self.limit!r} is in {LIMITS[self.limit].unit}, not {self.unit}")


@dataclass(frozen=True)
class Row:
    """One comparison in the table. See the package docstring for how to register rows."""

    name: str
    group: str
    size: str
    dtype: str
    contenders: tuple[str, ...]
    setup: Callable[[], Mapping[str, Callable[[], object] | Unavailable]]
    reference: str | None = None
    goals: tuple[Goal, ...] = ()
    work: Work | None = None
    buffer: tuple[str, int] | None = None
    memory: bool = True
    rounds: int | None = None
    warmup: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        known = set(self.contenders)
        if not self.contenders or len(known) != len(self.contenders):
            raise LayergradError(f"row {self.name!r}: contenders must be distinct and non-empty")
        if self.reference is not None and self.reference not in known:
            raise LayergradError(f"row {self.name!r}: reference {self.reference!r} is not a contender")
        for goal in self.goals:
            if goal.ratio == "seconds":
                continue
            top, bottom = goal.ratio.split("/")
            if top == "peak":
                if self.buffer is None or bottom != self.buffer[0]:
                    raise LayergradError(f"row {self.name!r}: goal {goal.ratio!r} needs buffer=({bottom!r}, bytes)")
            elif top not in known or bottom not in known:
                raise LayergradError(f"row {self.name!r}: goal {goal.ratio!r} names an unknown contender; "
                                     f"contenders: {', '.join(self.contenders)}")

    @property
    def subject(self) -> str:
        """The contender whose memory and rate are reported: the first one."""
        return self.contenders[0]


@dataclass(frozen=True)
class Settings:
    """How hard to measure: time per batch, rounds, precision of the median, budget per row."""

    batch_seconds: float = 0.02
    min_rounds: int = 7
    max_rounds: int = 60
    precision: float = 0.01
    row_budget: float = 8.0
    small: bool = False
    """Build machine-limit probes at their small (``--quick``) scale."""

    @classmethod
    def quick(cls) -> Settings:
        return cls(batch_seconds=0.003, min_rounds=3, max_rounds=10, precision=0.05, row_budget=0.5, small=True)


@dataclass
class Timing:
    """One contender's measurements: seconds per call, one entry per round."""

    name: str
    samples: list[float] = field(default_factory=list)
    number: int = 1
    reason: str = ""

    @property
    def available(self) -> bool:
        return not self.reason

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def spread(self) -> float:
        """Half the interquartile range, relative to the median."""
        q25, q75 = np.percentile(self.samples, [25, 75])
        return float((q75 - q25) / 2 / self.median) if self.median > 0 else 0.0

    def settled(self, precision: float) -> bool:
        """Is the median known to about ``precision`` (relative standard error)?"""
        return self.spread / math.sqrt(len(self.samples)) <= precision


@dataclass
class RowResult:
    """A measured row: timings, ratios, peak memory, rate and goals' verdicts."""

    row: Row
    timings: dict[str, Timing]
    stable: bool
    seconds: float
    peak: int | None = None
    rate: float | None = None
    fraction: float | None = None
    probe: Timing | None = None

    def ratio(self, top: str, bottom: str) -> float | None:
        """Median over rounds of t_top / t_bottom (None if either could not run)."""
        a, b = self.timings[top], self.timings[bottom]
        if not (a.available and b.available):
            return None
        return float(np.median(np.asarray(a.samples) / np.asarray(b.samples)))

    def ratio_range(self, top: str, bottom: str) -> tuple[float, float] | None:
        """Quartiles of the per-round ratios."""
        a, b = self.timings[top], self.timings[bottom]
        if not (a.available and b.available):
            return None
        lo, hi = np.percentile(np.asarray(a.samples) / np.asarray(b.samples), [25, 75])
        return float(lo), float(hi)

    def goal_value(self, goal: Goal) -> float | None:
        """The measured value a goal is judged on (None if it cannot be judged here)."""
        if goal.ratio == "seconds":
            subject = self.timings[self.row.subject]
            return subject.median if subject.available else None
        top, bottom = goal.ratio.split("/")
        if top == "peak":
            return None if self.peak is None else self.peak / self.row.buffer[1]  # type: ignore[index]
        return self.ratio(top, bottom)


def _batch(fn: Callable[[], object], number: int) -> float:
    """Seconds per call over ``number`` calls; results are dropped at once, as in a training
    loop, so memory is reused. A single call may time itself by returning :class:`Elapsed`."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        if number == 1:
            start = time.perf_counter()
            result = fn()
            total = time.perf_counter() - start
            return result.seconds if isinstance(result, Elapsed) else total
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) / number
    finally:
        if enabled:
            gc.enable()


def _calibrate(fn: Callable[[], object], seconds: float) -> int:
    """Calls per batch so that a batch takes about ``seconds`` (every contender of a row then
    spends the same time per round, equally exposed to whatever else the machine does)."""
    number, fastest, spent = 1, math.inf, 0.0
    while spent < seconds / 2 and number < 10**6:
        each = _batch(fn, number)
        fastest, spent = min(fastest, each), spent + each * number
        number *= 3
    return max(1, round(seconds / max(fastest, 1e-9)))


def _peak_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes allocated (NumPy arrays included) during one call, above what was live before."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return max(0, peak - before)


def measure(row: Row, settings: Settings) -> RowResult:
    """Time the row's contenders (and its machine-limit probe) in alternation until stable;
    add the subject's peak memory, rate and fraction of the limit."""
    started = time.perf_counter()
    built = row.setup()
    gc.collect()  # once per row: the batches run with the collector off
    timings = {name: Timing(name) for name in row.contenders}
    calls: dict[str, Callable[[], object]] = {}
    for name in row.contenders:
        entry = built.get(name, Unavailable("not provided by the row's setup"))
        if isinstance(entry, Unavailable):
            timings[name].reason = entry.reason
        else:
            calls[name] = entry
    if not calls:
        return RowResult(row, timings, stable=False, seconds=time.perf_counter() - started)
    for name, fn in calls.items():
        first = _batch(fn, 1)
        if not row.warmup:
            timings[name].samples.append(first)
        elif first < settings.batch_seconds:  # the first call was a warm-up; calibrate on warm calls
            timings[name].number = _calibrate(fn, settings.batch_seconds)
    limit = LIMITS[row.work.limit] if row.work is not None and row.work.limit else None
    probe = Timing(f"{limit.name} (limit)") if limit is not None and row.subject in calls else None
    if probe is not None:
        calls[probe.name] = limit.build(settings.small)  # type: ignore[union-attr]
        timings[probe.name] = probe
        if _batch(calls[probe.name], 1) < settings.batch_seconds:
            probe.number = _calibrate(calls[probe.name], settings.batch_seconds)
        if not row.warmup:
            probe.samples.append(_batch(calls[probe.name], 1))
    names = list(calls)
    rounds = row.rounds if row.rounds is not None else settings.max_rounds
    least = row.rounds if row.rounds is not None else settings.min_rounds
    r = len(timings[names[0]].samples)
    while r < rounds:
        for name in names[r % len(names):] + names[: r % len(names)]:
            timings[name].samples.append(_batch(calls[name], timings[name].number))
        r += 1
        if r >= least:
            spent = time.perf_counter() - started
            if all(timings[n].settled(settings.precision) for n in names) or spent > settings.row_budget:
                break
    stable = row.rounds is not None or all(timings[n].settled(settings.precision) for n in names)
    if probe is not None:
        del timings[probe.name]
    result = RowResult(row, timings, stable, seconds=0.0, probe=probe)
    subject = row.subject
    if subject in calls:
        if row.memory:
            result.peak = _peak_bytes(calls[subject])
        if row.work is not None:
            result.rate = row.work.amount / timings[subject].median
        if probe is not None and limit is not None:
            per_round = (row.work.amount / np.asarray(timings[subject].samples)) / (  # type: ignore[union-attr]
                limit.amount(settings.small) / np.asarray(probe.samples))
            result.fraction = float(np.median(per_round))
    result.seconds = time.perf_counter() - started
    return result


def fresh_process(prepare: str, timed: str, timeout: float = 600.0) -> Elapsed:
    """Run ``prepare`` then ``timed`` (Python source) in a new interpreter; the seconds ``timed``
    took there. Nothing cached by earlier runs (SymPy's cache, ``functools.cache``) helps it."""
    code = f"import time\n{prepare}\n_t = time.perf_counter()\n{timed}\nprint(time.perf_counter() - _t)\n"
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise LayergradError(f"benchmark subprocess failed: {tail}")
    return Elapsed(float(done.stdout.strip().splitlines()[-1]))
