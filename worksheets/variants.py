r"""Randomized Quiz 8 variants with answer keys computed by the generated code.

A seed fixes everything a variant asks: the dropout convention (``p`` is the keep probability
or the drop rate), the value of ``p``, the sizes and entries of :math:`Y` and of the upstream
gradient :math:`\partial L/\partial H`, and the mask. The mask and every numerical answer come
from the generated course-API functions (:func:`numeric.export.generated_module`), the same
code ``layergrad export`` writes, so the answer key is what that code computes on the
variant's data.

:func:`write_variants` writes one variant per seed, in parallel over the cores, with a progress
bar, and an index of all answer keys as CSV.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from derive.dropout import Convention
from derive.errors import LayergradError
from numeric.export import generated_module
from numeric.files import write_output
from numeric.progress import ProgressBar

from .document import VERSIONS
from .formats import FORMATS, write_sheet

__all__ = [
    "KEEP_PROBABILITIES",
    "DropoutVariant",
    "QuizVariant",
    "make_variant",
    "parse_seeds",
    "write_variants",
]

KEEP_PROBABILITIES = (0.5, 0.25, 0.8, 0.4, 0.2)
"""Keep probabilities q a variant draws from: 1/q is 2, 4, 1.25, 2.5 or 5, so answers stay short."""

MAX_SEED = 10**6


@dataclass(frozen=True, eq=False)
class DropoutVariant:
    """Given data of questions 1–2 and their answers (``D``, ``H``, ``dY``) from the generated code."""

    convention: Convention
    p: float
    mask_seed: int
    Y: np.ndarray
    G: np.ndarray
    D: np.ndarray
    H: np.ndarray
    dY: np.ndarray

    @property
    def q(self) -> float:
        return self.p if self.convention is Convention.KEEP else 1 - self.p


@dataclass(frozen=True, eq=False)
class QuizVariant:
    """One randomized Quiz 8."""

    seed: int
    dropout: DropoutVariant

    def answer_key(self) -> dict[str, str]:
        """The variant's given data and answers as one CSV row (arrays as JSON lists)."""
        v = self.dropout

        def cells(a: np.ndarray) -> str:
            values = np.round(np.asarray(a, dtype=float), 10) + 0.0  # + 0.0 turns -0.0 into 0.0
            return json.dumps([[int(x) if x.is_integer() else x for x in row] for row in values.tolist()])

        return {
            "seed": str(self.seed), "dropout_convention": v.convention.value, "p": f"{v.p:g}",
            "q": f"{v.q:g}", "mask_seed": str(v.mask_seed), "Y": cells(v.Y), "D": cells(v.D),
            "H": cells(v.H), "dL_dH": cells(v.G), "dL_dY": cells(v.dY),
        }


def _dropout_variant(rng: np.random.Generator, seed: int) -> DropoutVariant:
    convention = Convention.KEEP if rng.random() < 0.5 else Convention.DROP
    q = float(rng.choice(KEEP_PROBABILITIES))
    p = q if convention is Convention.KEEP else round(1 - q, 10)
    shape = (int(rng.integers(2, 4)), int(rng.integers(3, 5)))
    Y = rng.integers(-5, 6, size=shape).astype(float)
    G = rng.integers(-3, 4, size=shape).astype(float)
    layers = generated_module(convention, layers=("dropout",))
    for attempt in range(100):  # a mask that keeps some entries and drops others
        mask_seed = seed * 100 + attempt
        H, cache = layers.dropout_forward(Y, {"p": p, "mode": "train", "seed": mask_seed})
        D = (cache[1] != 0).astype(int)
        if 0 < D.sum() < D.size:
            break
    dY = layers.dropout_backward(G, cache)
    return DropoutVariant(convention, p, mask_seed, Y, G, D, H, dY)


def make_variant(seed: int) -> QuizVariant:
    """The Quiz 8 variant for ``seed`` (a whole number from 0 to 10⁶)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise LayergradError(f"variant seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    return QuizVariant(int(seed), _dropout_variant(rng, int(seed)))


def parse_seeds(spec: str) -> list[int]:
    """``"1-300"``, ``"7"`` or ``"1,4,10-12"`` → the seeds, in order, without repeats."""
    seeds: list[int] = []
    for part in spec.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise LayergradError(f"cannot read seeds {spec!r}; expected a range such as 1-300 or a list 1,4,10-12")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if last < first or last > MAX_SEED:
            raise LayergradError(f"seed range {part.strip()!r} must go upwards and stay within 0..{MAX_SEED}")
        seeds += range(first, last + 1)
    return list(dict.fromkeys(seeds))


def _write_one(seed: int, folder: Path, formats: Sequence[str], versions: Sequence[str],
               force: bool) -> tuple[dict[str, str], list[Path]]:
    from .sheets import quiz8

    variant = make_variant(seed)
    paths = write_sheet(quiz8.build(variant), folder, formats, versions, force, report=lambda _: None)
    return variant.answer_key(), paths


def write_variants(
    seeds: Sequence[int],
    folder: Path,
    formats: Sequence[str] = FORMATS,
    versions: Sequence[str] = VERSIONS,
    force: bool = False,
    jobs: int | None = None,
    progress: bool | None = None,
    report: Callable[[str], None] = print,
) -> Path:
    """Write one variant per seed (solution and student sheets) into ``folder``, ``jobs``
    processes at a time (default: one per core), and ``quiz8-answer-key.csv`` indexing every
    variant's data and answers. A progress bar runs on standard error (``progress=None``: when
    it is a terminal). Returns the CSV's path."""
    from .formats.pdf import LATEX_INSTALL_HINT, latexmk_available

    if not seeds:
        raise LayergradError("no seeds given; expected at least one, such as --seeds 1-30")
    folder = Path(folder)
    if "pdf" in formats and not latexmk_available():
        report(LATEX_INSTALL_HINT)
        formats = tuple(f for f in formats if f != "pdf") or ("tex",)
    make_variant(seeds[0])  # derive and generate once here, so that forked workers inherit the caches
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(seeds)))
    bar = ProgressBar(len(seeds), "variants", enabled=progress)
    start = time.monotonic()

    def advance() -> None:
        elapsed = time.monotonic() - start
        left = elapsed / len(rows) * (len(seeds) - len(rows))
        bar.update(len(rows), f"{elapsed:.0f} s elapsed, ~{left:.0f} s left", force=True)

    rows: dict[int, dict[str, str]] = {}
    bar.update(0, force=True)
    try:
        if jobs == 1:
            for seed in seeds:
                rows[seed], _ = _write_one(seed, folder, formats, versions, force)
                advance()
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(_write_one, s, folder, formats, versions, force): s for s in seeds}
                for future in as_completed(futures):
                    rows[futures[future]], _ = future.result()
                    advance()
    finally:
        bar.close()
    table = io.StringIO()
    ordered = [rows[s] | {"files": f"quiz8-seed{s:03d}-{{{','.join(versions)}}}.{{{','.join(formats)}}}"}
               for s in sorted(rows)]
    writer = csv.DictWriter(table, fieldnames=list(ordered[0]))
    writer.writeheader()
    writer.writerows(ordered)
    return write_output(folder / "quiz8-answer-key.csv", table.getvalue(), force)
