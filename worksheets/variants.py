r"""Randomized Quiz 8 variants with answer keys computed by the generated code.

A seed fixes everything a variant asks: the dropout convention (``p`` is the keep probability
or the drop rate), the value of ``p``, the sizes and entries of :math:`Y` and of the upstream
gradient :math:`\partial L/\partial H`, and the mask (questions 1–2); the input and filter
sizes, stride, padding and entries of the convolution example (question 3); and the sizes of
the general layer (question 4). The mask and every numerical answer come from the generated
course-API functions (:func:`numeric.export.generated_module`), the same code ``layergrad
export`` writes, so the answer key is what that code computes on the variant's data.

Convolution sizes are drawn only among those whose output size, by the derived formula
:math:`1 + (H + 2P - HH)/S`, is a whole number: a variant is never an impossible quiz. Sizes
fixed by hand (``--input``, ``--filter``, ``--stride``, ``--pad``) that allow no whole output
size are refused with the formula and the numbers.

:func:`write_variants` writes one variant per seed, in parallel over the cores, with a progress
bar, and an index of all answer keys as CSV.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import sympy as sp

from derive import conv
from derive.dropout import Convention
from derive.errors import LayergradError
from numeric.course.progress import ProgressBar
from numeric.export import generated_module
from numeric.files import write_output

from .document import VERSIONS
from .formats import producible, write_sheet

__all__ = [
    "KEEP_PROBABILITIES",
    "BatchNormVariant",
    "ConvChoice",
    "ConvVariant",
    "DropoutVariant",
    "GeneralVariant",
    "QuizVariant",
    "conv_choices",
    "make_batchnorm_variant",
    "make_variant",
    "parse_seeds",
    "parse_size",
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
class BatchNormVariant:
    """A numerical batch-normalization question: a 3×2 batch ``X``, ``gamma``, ``beta``, the
    upstream gradient ``dY`` and the entry ``(row, col)`` of ∂L/∂X asked for; the answers ``mu``,
    ``var``, ``Z``, ``Y`` and ``dX`` from the generated ``batchnorm_forward`` and
    ``batchnorm_backward_alt`` (the closed form), with ``eps``."""

    seed: int
    X: np.ndarray
    gamma: np.ndarray
    beta: np.ndarray
    dY: np.ndarray
    row: int
    col: int
    eps: float
    mu: np.ndarray
    var: np.ndarray
    Z: np.ndarray
    Y: np.ndarray
    dX: np.ndarray

    def answer_key(self) -> dict[str, str]:
        """The variant's data and answers as one CSV row (arrays as JSON lists)."""
        return {"seed": str(self.seed), "X": _cells(self.X), "gamma": _cells(self.gamma), "beta": _cells(self.beta),
                "eps": f"{self.eps:g}", "dL_dY": _cells(self.dY), "mu": _cells(self.mu), "var": _cells(self.var),
                "Z": _cells(self.Z), "Y": _cells(self.Y), "entry": f"({self.row + 1}, {self.col + 1})",
                "dL_dX_entry": f"{round(float(self.dX[self.row, self.col]), 4) + 0.0:g}", "dL_dX": _cells(self.dX)}


def _cells(a: np.ndarray) -> str:
    values = np.round(np.atleast_2d(np.asarray(a, dtype=float)), 4) + 0.0  # + 0.0 turns -0.0 into 0.0
    return json.dumps([[int(x) if x.is_integer() else x for x in row] for row in values.tolist()])


def make_batchnorm_variant(seed: int) -> BatchNormVariant:
    """The batch-normalization variant for ``seed``: small whole numbers in, every answer from the
    generated code (train mode, momentum 0 so that the running statistics are the batch's)."""
    _check_seed(seed)
    rng = np.random.default_rng([int(seed), 2])
    layers = generated_module("keep", layers=("batchnorm",))
    gamma = rng.integers(1, 4, size=2).astype(float)
    beta = rng.integers(-1, 2, size=2).astype(float)
    while True:  # every feature varies over the batch, and the entry asked for is not (nearly) zero
        X = rng.integers(-3, 4, size=(3, 2)).astype(float)
        dY = rng.integers(-2, 3, size=(3, 2)).astype(float)
        param = {"mode": "train", "eps": 1e-5, "momentum": 0.0}
        Y, cache = layers.batchnorm_forward(X, gamma, beta, param)
        dX, _, _ = layers.batchnorm_backward_alt(dY, cache)
        row, col = int(rng.integers(3)), int(rng.integers(2))
        if np.all(X.std(axis=0) > 0) and abs(dX[row, col]) > 0.05:
            break
    return BatchNormVariant(int(seed), X, gamma, beta, dY, row, col, param["eps"], param["running_mean"],
                            param["running_var"], (Y - beta) / gamma, Y, dX)


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise LayergradError(f"variant seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")


@dataclass(frozen=True)
class ConvChoice:
    """Sizes of question 3: input H×W, filter HH×WW, stride S, zero padding P."""

    H: int
    W: int
    HH: int
    WW: int
    S: int
    P: int

    def substitution(self) -> dict[sp.Symbol, int]:
        """Values for the output-size formula's symbols, height direction."""
        return {conv.H: self.H, conv.HH: self.HH, conv.S: self.S, conv.P: self.P}

    def output_size(self) -> tuple[int, int]:
        """(H', W') by the derived formula; a clear error when it is not a whole number."""
        formula = conv.output_size(dilation=False).result.rhs
        sizes = []
        for size, window, axis in ((self.H, self.HH, "height"), (self.W, self.WW, "width")):
            value = formula.subs({conv.H: size, conv.HH: window, conv.S: self.S, conv.P: self.P})
            if not value.is_integer or value < 1:
                raise LayergradError(
                    f"no quiz with input {self.H}×{self.W}, filter {self.HH}×{self.WW}, stride {self.S}, padding "
                    f"{self.P}: the output {axis} 1 + (H + 2P − HH)/S = 1 + ({size} + {2 * self.P} − {window})/"
                    f"{self.S} = {value} is not a whole number of at least 1"
                )
            sizes.append(int(value))
        return sizes[0], sizes[1]


INPUT_SIZES, FILTER_SIZES, STRIDES, PADDINGS = range(3, 7), range(2, 4), (1, 2), (0, 1)


def conv_choices(input_size: tuple[int, int] | None = None, filter_size: tuple[int, int] | None = None,
                 stride: int | None = None, pad: int | None = None) -> list[ConvChoice]:
    """Every question-3 configuration a variant may draw (given sizes fixed), each with a whole
    output size of 2×2 to 4×4; an error naming the formula when the fixed sizes allow none."""
    heights = [input_size[0]] if input_size else INPUT_SIZES
    widths = [input_size[1]] if input_size else INPUT_SIZES
    filters = [filter_size] if filter_size else [(k, k) for k in FILTER_SIZES]
    strides, pads = [stride] if stride else STRIDES, [pad] if pad is not None else PADDINGS
    for name, value, least in (("stride", stride, 1), ("padding", pad, 0)):
        if value is not None and value < least:
            raise LayergradError(f"the {name} must be at least {least}, got {value}")
    choices, whole, refusal = [], [], None
    for h, w, (hh, ww), s, p in itertools.product(heights, widths, filters, strides, pads):
        choice = ConvChoice(h, w, hh, ww, s, p)
        try:
            out = choice.output_size()
        except LayergradError as error:
            refusal = error
            continue
        whole.append(out)
        if (min(out) >= 2 and max(out) <= 4) or (input_size and filter_size):
            choices.append(choice)
    if choices:
        return choices
    if not whole:
        raise refusal or LayergradError("these sizes give no whole output size; choose others")
    sizes = sorted({n for out in whole for n in out})
    raise LayergradError(
        f"with these sizes fixed the output is {sizes[0]} to {sizes[-1]} rows or columns wide, but a variant's "
        "output is 2×2 to 4×4 (unless --input and --filter are both fixed); fix more sizes or choose others"
    )


@dataclass(frozen=True, eq=False)
class ConvVariant:
    """Question 3: sizes, the input X and filter W (entries), and the output O from the generated
    ``conv_forward_fast``."""

    choice: ConvChoice
    X: np.ndarray
    Wf: np.ndarray
    O: np.ndarray


@dataclass(frozen=True, eq=False)
class GeneralVariant:
    """Question 4: the sizes of the general layer and the output shape, by the derived formula
    and confirmed by the generated code."""

    N: int
    C: int
    F: int
    choice: ConvChoice
    out_shape: tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class QuizVariant:
    """One randomized Quiz 8."""

    seed: int
    dropout: DropoutVariant
    conv: ConvVariant
    general: GeneralVariant

    def answer_key(self) -> dict[str, str]:
        """The variant's given data and answers as one CSV row (arrays as JSON lists)."""
        v, c, g = self.dropout, self.conv, self.general

        def cells(a: np.ndarray) -> str:
            values = np.round(np.asarray(a, dtype=float), 10) + 0.0  # + 0.0 turns -0.0 into 0.0
            return json.dumps([[int(x) if x.is_integer() else x for x in row] for row in values.tolist()])

        return {
            "seed": str(self.seed), "dropout_convention": v.convention.value, "p": f"{v.p:g}",
            "q": f"{v.q:g}", "mask_seed": str(v.mask_seed), "Y": cells(v.Y), "D": cells(v.D),
            "H": cells(v.H), "dL_dH": cells(v.G), "dL_dY": cells(v.dY),
            "conv_input": f"{c.choice.H}x{c.choice.W}", "conv_filter": f"{c.choice.HH}x{c.choice.WW}",
            "conv_stride": str(c.choice.S), "conv_pad": str(c.choice.P), "X": cells(c.X), "W": cells(c.Wf),
            "O": cells(c.O),
            "general_sizes": json.dumps({"N": g.N, "C": g.C, "H": g.choice.H, "W": g.choice.W, "F": g.F,
                                         "HH": g.choice.HH, "WW": g.choice.WW, "S": g.choice.S, "P": g.choice.P}),
            "general_out_shape": "x".join(map(str, g.out_shape)),
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


def _conv_variant(rng: np.random.Generator, choices: list[ConvChoice]) -> ConvVariant:
    choice = choices[int(rng.integers(len(choices)))]
    X = rng.integers(-3, 4, size=(choice.H, choice.W)).astype(float)
    Wf = rng.integers(-2, 3, size=(choice.HH, choice.WW)).astype(float)
    layers = generated_module("keep", layers=("conv",))
    out, _ = layers.conv_forward_fast(X[None, None], Wf[None, None], np.zeros(1), {"stride": choice.S, "pad": choice.P})
    O = out[0, 0]
    if O.shape != choice.output_size():
        raise LayergradError(f"generated conv_forward_fast gave shape {O.shape}, the formula {choice.output_size()}")
    return ConvVariant(choice, X, Wf, O)


_GENERAL_SIZES = {"N": (2, 3, 4), "C": (1, 3, 8), "F": (4, 8, 16), "H": tuple(range(7, 33)), "HH": (1, 3, 5, 7),
                  "S": (1, 2, 3), "P": (0, 1, 2, 3)}


def _general_variant(rng: np.random.Generator) -> GeneralVariant:
    """Sizes drawn at random; height and width then move up to the next values the stride tiles
    (there is one among any S consecutive sizes), so the formula always gives whole numbers."""
    pick = {name: int(rng.choice(values)) for name, values in _GENERAL_SIZES.items()}
    width = int(rng.choice(_GENERAL_SIZES["H"]))

    condition = conv.output_size(dilation=False).assumption("integer window count").statement

    fixed = {conv.HH: pick["HH"], conv.P: pick["P"], conv.S: pick["S"]}

    def tiled(size: int) -> int:
        return next(v for v in range(size, size + pick["S"]) if condition.subs(fixed | {conv.H: v}) == sp.true)

    choice = ConvChoice(tiled(pick["H"]), tiled(width), pick["HH"], pick["HH"], pick["S"], pick["P"])
    h_out, w_out = choice.output_size()
    N, C, F = pick["N"], pick["C"], pick["F"]
    out, _ = generated_module("keep", layers=("conv",)).conv_forward_fast(
        np.zeros((N, C, choice.H, choice.W)), np.zeros((F, C, choice.HH, choice.WW)), np.zeros(F),
        {"stride": choice.S, "pad": choice.P})
    shape = (N, F, h_out, w_out)
    if out.shape != shape:
        raise LayergradError(f"generated conv_forward_fast gave shape {out.shape}, the formula {shape}")
    return GeneralVariant(N, C, F, choice, shape)


def make_variant(seed: int, choices: list[ConvChoice] | None = None) -> QuizVariant:
    """The Quiz 8 variant for ``seed`` (a whole number from 0 to 10⁶); question 3 draws its sizes
    from ``choices`` (default: :func:`conv_choices` with nothing fixed)."""
    _check_seed(seed)
    rng = np.random.default_rng(int(seed))
    dropout_part = _dropout_variant(rng, int(seed))
    conv_part = _conv_variant(rng, choices if choices is not None else _default_choices())
    return QuizVariant(int(seed), dropout_part, conv_part, _general_variant(rng))


@cache
def _default_choices() -> list[ConvChoice]:
    return conv_choices()


def parse_size(spec: str | None, option: str) -> tuple[int, int] | None:
    """``"5x5"`` → ``(5, 5)``; ``None`` stays ``None``."""
    if spec is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[x×]\s*(\d+)\s*", spec)
    if not match or min(int(match.group(1)), int(match.group(2))) < 1:
        raise LayergradError(f"cannot read {option} {spec!r}; expected two positive whole numbers such as 5x5")
    return int(match.group(1)), int(match.group(2))


def parse_seeds(spec: str) -> list[int]:
    """``"1-300"``, ``"7"`` or ``"1,4,10-12"`` → the seeds, in order, without repeats."""
    seeds: list[int] = []
    for part in spec.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise LayergradError(f"cannot read seeds {spec!r}; expected a range such as 1-300 or a list 1,4,10-12")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if last > MAX_SEED:
            what = f"seed {last}" if match.group(2) is None else f"seed range {part.strip()!r} ends at {last}, which"
            raise LayergradError(f"{what} is larger than {MAX_SEED:,}; seeds are whole numbers from 0 to {MAX_SEED:,}")
        if last < first:
            raise LayergradError(f"seed range {part.strip()!r} goes downwards; write it as {last}-{first}")
        seeds += range(first, last + 1)
    return list(dict.fromkeys(seeds))


def _write_one(seed: int, folder: Path, formats: Sequence[str], versions: Sequence[str],
               force: bool, choices: list[ConvChoice] | None, sheet: str = "quiz8",
               detail: str = "concise") -> tuple[dict[str, str], list[Path]]:
    from .sheets import batchnorm, quiz8

    variant: QuizVariant | BatchNormVariant
    if sheet == "batchnorm":
        variant = make_batchnorm_variant(seed)
        built = batchnorm.build(variant)
    else:
        variant = make_variant(seed, choices)
        built = quiz8.build(variant)
    paths = write_sheet(built, folder, formats, versions, force, detail=detail)
    return variant.answer_key(), paths


def write_variants(
    seeds: Sequence[int],
    folder: Path,
    formats: Sequence[str] | None = None,
    versions: Sequence[str] = VERSIONS,
    force: bool = False,
    jobs: int | None = None,
    progress: bool | None = None,
    choices: list[ConvChoice] | None = None,
    sheet: str = "quiz8",
    detail: str = "concise",
) -> Path:
    """Write one variant of ``sheet`` (``quiz8`` or ``batchnorm``) per seed (solution and student
    sheets) into ``folder``, ``jobs`` processes at a time (default: one per core), and
    ``{sheet}-answer-key.csv`` indexing every
    variant's data and answers. A progress bar runs on standard error (``progress=None``: when
    it is a terminal). Returns the CSV's path."""
    if not seeds:
        raise LayergradError("no seeds given; expected at least one, such as --seeds 1-30")
    folder = Path(folder)
    formats = producible(formats)
    _write_one_args = (folder, formats, versions, force, choices, sheet, detail)
    if sheet == "batchnorm":  # derive and generate once here, so that forked workers inherit the caches
        make_batchnorm_variant(seeds[0])
    else:
        make_variant(seeds[0], choices)
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
                rows[seed], _ = _write_one(seed, *_write_one_args)
                advance()
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(_write_one, s, *_write_one_args): s for s in seeds}
                for future in as_completed(futures):
                    rows[futures[future]], _ = future.result()
                    advance()
    finally:
        bar.close()
    written = {s: rows[s] | {"files": f"{sheet}-seed{s:03d}-{{{','.join(versions)}}}.{{{','.join(formats)}}}"}
               for s in rows}
    key = folder / f"{sheet}-answer-key.csv"
    fields = list(next(iter(written.values())))
    keys = _earlier_keys(key, fields) | written
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=fields)
    writer.writeheader()
    writer.writerows(keys[s] for s in sorted(keys))
    return write_output(key, table.getvalue(), force)


def _earlier_keys(path: Path, fields: list[str]) -> dict[int, dict[str, str]]:
    """The rows of an answer key already in the folder (variants written by an earlier run), so
    that writing more seeds adds to the index instead of replacing it; none if it has other columns."""
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            if reader.fieldnames != fields:
                return {}
            return {int(row["seed"]): row for row in reader}
    except (OSError, ValueError, KeyError, csv.Error):
        return {}
