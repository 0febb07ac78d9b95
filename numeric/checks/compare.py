r"""Checks of deterministic layers, built from a table row: cases, outputs, gradients, known mistakes.

A :class:`Spec` says how to call one course-API function on named inputs and which arrays to
compare (the forward's ``out``; a backward's ``dx, dw, db``; a loss and its ``dx``). For each
:class:`Case` — the course notebooks' test sizes, plus small and probing inputs — the check

1. compares the module's outputs with layergrad's generated reference (relative error with a
   floor, :data:`RTOL`), shapes first;
2. checks each gradient the function returns against directional derivatives (complex step, or
   central differences) of the module's *own* forward along random directions, with a random
   upstream gradient (:func:`check_projections`: a few calls whatever the size; entry by entry,
   :func:`check_vjp`, only to say where a failing gradient is wrong), and on the first case in
   forward mode (:func:`check_jvp`);
3. explains a failure: if the outputs equal those of a known mistake (:class:`Wrong`, the
   layer computed the wrong way), it names that mistake in plain words; otherwise it shows the
   smallest case on which the function disagrees with the reference, with both outputs.

A gradient that disagrees with the module's own forward but equals the reference is not
blamed: the forward is wrong, and its own check says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..gradcheck import Tolerance, Verdict, check_jvp, check_projections, check_vjp
from .spec import (
    DTYPE_CHANGED,
    FORWARD_WRONG,
    RAISED,
    REFUSED,
    WRITES_INPUT,
    Context,
    FunctionCheck,
    LayerChecks,
    Mistake,
    StudentError,
    guarded,
)

__all__ = ["RTOL", "Case", "Gradient", "Spec", "Wrong", "entry", "frozen"]

RTOL = 1e-8
"""Relative tolerance between the module's outputs and the reference's: two float64 evaluations
of the same formula differ by rounding (≈1e-15 relative); a misplaced ε inside a square root
(≈ ε/σ² ≈ 1e-7 at the notebooks' sizes) must not pass."""

AGAINST = "against the reference"
DTYPE_WORDS = "the result is computed or returned in lower precision; keep the input's dtype (out.astype(x.dtype))"

Inputs = dict[str, Any]
Functions = Callable[[str], Callable[..., Any]]


def frozen(**arrays: Any) -> Inputs:
    """Named inputs with every array made read-only (writing into an input raises)."""
    for value in arrays.values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return arrays


def fresh(inputs: Inputs) -> Inputs:
    """A per-call copy of the mutable parameters (``bn_param`` is written to, its arrays perhaps in
    place); the read-only input arrays are shared."""
    return {k: {n: a.copy() if isinstance(a, np.ndarray) else a for n, a in v.items()} if isinstance(v, dict) else v
            for k, v in inputs.items()}


@dataclass(frozen=True)
class Case:
    """One input: a label with its sizes, and how to draw it."""

    label: str
    make: Callable[[np.random.Generator], Inputs]


@dataclass(frozen=True)
class Gradient:
    """A returned gradient to check numerically: ``analytic`` against ``f`` at ``at``, with ``dout``."""

    label: str
    f: Callable[[np.ndarray], np.ndarray]
    at: np.ndarray
    dout: np.ndarray
    analytic: np.ndarray
    vjp: Callable[[np.ndarray], np.ndarray] | None = None
    """``G ↦ ∂⟨G, f⟩/∂at`` from the module's backward, for the forward-mode check."""


@dataclass(frozen=True)
class Wrong:
    """A known mistake, reproduced: ``compute`` returns what the mistaken layer outputs."""

    key: str
    says: str
    compute: Callable[[Inputs], Mapping[str, Any]]
    symptom: Callable[[Mapping[str, Any]], bool] | None = None
    """Where a mistake has many spellings (an overflow gives inf in one, nan in another): a test
    on the function's outputs that names it without reproducing them exactly."""


@dataclass(frozen=True)
class Spec:
    """How to check one function: its cases, its outputs, its gradients, its known mistakes."""

    name: str
    cases: tuple[Case, ...]
    outputs: Callable[[Functions, Inputs], Mapping[str, Any]]
    gradients: Callable[[Functions, Inputs], list[Gradient]] | None = None
    wrongs: tuple[Wrong, ...] = ()
    needs: tuple[str, ...] = ()
    jvp: bool = True
    extra: Callable[[Context], list[Verdict]] | None = field(default=None)
    """Further checks that do not fit the pattern (a second-order check, statistics of outputs)."""
    forward: Callable[[Functions, Inputs], Mapping[str, Any]] | None = None
    """For a backward pass: its forward's outputs, to tell when a failure comes from the forward."""

    def check(self) -> FunctionCheck:
        return FunctionCheck(self.name, lambda ctx: _run(self, ctx), self.needs)


def entry(layer: str, *specs: Spec) -> LayerChecks:
    """The table entry of a layer whose functions are checked by ``specs``."""
    mistakes = (*(Mistake(w.key, w.says) for spec in specs for w in spec.wrongs),
                RAISED, REFUSED, WRITES_INPUT, FORWARD_WRONG, DTYPE_CHANGED)
    return LayerChecks(layer, tuple(spec.check() for spec in specs), mistakes)


def _agree(got: Any, want: Any) -> tuple[bool, float, tuple[int, ...] | None, str]:
    """Compare one output: (agrees, error, where, what differs)."""
    got_a, want_a = np.asarray(got), np.asarray(want)
    if got_a.shape != want_a.shape:
        return False, np.inf, None, f"shape {got_a.shape}, expected {want_a.shape}"
    if not np.issubdtype(got_a.dtype, np.number):
        return False, np.inf, None, f"dtype {got_a.dtype}, expected numbers"
    if np.issubdtype(got_a.dtype, np.inexact) and np.finfo(got_a.dtype).eps > np.finfo(np.float64).eps:
        return False, np.inf, None, f"dtype {got_a.dtype} for float64 inputs: {DTYPE_WORDS}"
    if got_a.size == 0:
        return True, 0.0, None, ""
    finite = np.isfinite(want_a)
    scale = float(np.max(np.abs(want_a[finite]), initial=0.0))
    tol = Tolerance(RTOL, 1e-4 * RTOL * scale, "")
    errors = tol.errors(got_a.real, want_a)
    same_special = ~finite & ((got_a == want_a) | (np.isnan(got_a) & np.isnan(want_a)))
    errors = np.where(same_special, 0.0, errors)  # nan where the reference has nan (a mistake reproduced)
    k = int(np.argmax(errors))
    where = tuple(int(i) for i in np.unravel_index(k, errors.shape)) if errors.ndim else None
    error = float(errors.reshape(-1)[k])
    return error <= RTOL, error, where, (f"{float(got_a.reshape(-1)[k].real):.6g} where the reference has "
                                         f"{float(want_a.reshape(-1)[k]):.6g}")


def _matches(got: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    return all(name in got and _agree(got[name], value)[0] for name, value in want.items())


def _shapes(inputs: Inputs) -> str:
    parts = [f"{k} {np.shape(v)}" for k, v in inputs.items() if isinstance(v, np.ndarray) and k != "dout"]
    params = [f"{k} {v}" for k, v in inputs.items() if isinstance(v, dict)]
    return ", ".join(parts + params)


def _show(value: Any, precision: int = 4) -> str:
    a = np.asarray(value)
    if a.size > 48:
        return f"array of shape {a.shape}"
    return np.array2string(a, precision=precision, suppress_small=True, max_line_width=110, separator=", ")


def _show_pair(got: Any, want: Any) -> tuple[str, str]:
    """Both values with the fewest digits (at least 4) that tell them apart."""
    for precision in (4, 6, 8, 12, 17):
        shown = _show(got, precision), _show(want, precision)
        if shown[0] != shown[1]:
            break
    return shown


def _run(spec: Spec, ctx: Context) -> list[Verdict]:
    student: Functions = ctx.fn

    def reference(name: str) -> Callable[..., Any]:
        return getattr(ctx.reference, name)

    verdicts: list[Verdict] = []
    failures: list[tuple[Case, Inputs, Mapping[str, Any], Mapping[str, Any], list[int]]] = []
    for n, case in enumerate(spec.cases):
        inputs = case.make(ctx.rng(spec.name, case.label))
        start = len(verdicts)
        got: Mapping[str, Any] = {}
        want = spec.outputs(reference, fresh(inputs))
        try:
            got = spec.outputs(student, fresh(inputs))
        except StudentError as exc:
            verdicts.append(Verdict(f"{spec.name} on {case.label}", False, np.inf, RTOL, "call",
                                    mistake=exc.mistake, diagnosis=str(exc)))
        else:
            for name, value in want.items():
                ok, error, where, what = _agree(got.get(name), value) if name in got else (
                    False, np.inf, None, "missing")
                verdicts.append(Verdict(f"{spec.name} {name} on {case.label}", ok, error, RTOL,
                                        AGAINST, where, "" if ok else what))
            if spec.gradients is not None:
                verdicts += guarded(f"{spec.name} gradients on {case.label}",
                                    lambda i=inputs, n=n, g=got, w=want: _gradients(spec, ctx, student, i, g, w, n))
        _excuse_inherited(spec, verdicts, start, inputs, student, reference)
        failed = [k for k in range(start, len(verdicts)) if not verdicts[k].passed]
        if failed:
            failures.append((case, inputs, got, want, failed))
    if failures:
        verdicts = _diagnose(spec, verdicts, failures, student, reference)
    if spec.extra is not None:
        verdicts += spec.extra(ctx)
    return verdicts


def _forward_differs(spec: Spec, inputs: Inputs, student: Functions, reference: Functions) -> bool:
    """Does the module's forward disagree with the reference's on ``inputs``?"""
    assert spec.forward is not None
    try:
        got = spec.forward(student, fresh(inputs))
    except StudentError:
        return True
    return not _matches(got, spec.forward(reference, fresh(inputs)))


def _excuse_inherited(spec: Spec, verdicts: list[Verdict], start: int, inputs: Inputs, student: Functions,
                      reference: Functions) -> None:
    """A backward whose gradients all equal those of this module's own forward, which differs from
    the reference's, inherits the forward's mistake (the cache holds it): it passes, with a note."""
    case = verdicts[start:]
    gradient_checks = [v for v in case if "gradient of your forward" in v.name]
    if spec.forward is None or not gradient_checks or not all(v.passed for v in gradient_checks):
        return
    if all(v.passed for v in case) or not _forward_differs(spec, inputs, student, reference):
        return
    if any(v.warnings and "equals the reference gradient" in " ".join(v.warnings) for v in gradient_checks):
        return
    for k in range(start, len(verdicts)):
        v = verdicts[k]
        if not v.passed and v.method == AGAINST:
            verdicts[k] = replace(v, passed=True, warnings=(
                *v.warnings, f"{spec.name} is the exact gradient of this module's {spec.needs[0]}, which is wrong "
                "(see its checks); it will match the reference once the forward pass does"))


def _gradients(spec: Spec, ctx: Context, student: Functions, inputs: Inputs, got: Mapping[str, Any],
               want: Mapping[str, Any], n: int) -> list[Verdict]:
    assert spec.gradients is not None
    rng = ctx.rng(spec.name, "gradients", str(n))
    out = []
    for g in spec.gradients(student, fresh(inputs)):
        name = f"{spec.name} {g.label} on {spec.cases[n].label}: gradient of your forward"
        verdict = check_projections(name, g.f, g.at, g.dout, g.analytic, rng=rng)
        if not verdict.passed:  # entry by entry, to say where
            verdict = check_vjp(name, g.f, g.at, g.dout, g.analytic, rng=rng)
        consistent = verdict.passed
        if not verdict.passed and g.label in want and _agree(got.get(g.label), want[g.label])[0]:
            verdict = replace(verdict, passed=True, detail="", warnings=(
                *verdict.warnings, f"{g.label} equals the reference gradient but not the gradient of this module's "
                "forward pass, which is wrong (see its checks)"))
        out.append(verdict)
        if spec.jvp and n == 0 and g.vjp is not None and consistent:
            out.append(check_jvp(f"{spec.name} {g.label} on {spec.cases[n].label}: forward mode (J v)",
                                 g.f, g.at, g.vjp, rng=rng, max_rows=0, count=4))
    return out


def _diagnose(spec: Spec, verdicts: list[Verdict],
              failures: list[tuple[Case, Inputs, Mapping[str, Any], Mapping[str, Any], list[int]]],
              student: Functions, reference: Functions) -> list[Verdict]:
    """Name the mistake every failing case shows, else point at the smallest failing case."""
    verdicts = list(verdicts)
    unexplained = []
    for case, inputs, got, want, failed in failures:
        if any(verdicts[k].mistake for k in failed):
            continue
        if any(DTYPE_WORDS in verdicts[k].detail for k in failed):
            for k in failed:
                verdicts[k] = replace(verdicts[k], mistake=DTYPE_CHANGED.key, diagnosis=DTYPE_WORDS)
            continue
        differs = {name: value for name, value in want.items() if not _agree(got.get(name), value)[0]}
        for wrong in spec.wrongs:
            try:
                mistaken = wrong.compute(fresh(inputs))
            except Exception:  # a mistake that cannot even run on this input is not this one
                continue
            if set(differs) & set(mistaken) and (_matches(got, mistaken) or (wrong.symptom and wrong.symptom(got))):
                for k in failed:
                    verdicts[k] = replace(verdicts[k], mistake=wrong.key, diagnosis=wrong.says)
                break
        else:
            if spec.forward is not None and _forward_differs(spec, inputs, student, reference):
                words = (f"{spec.name} cannot match the reference while {spec.needs[0]} is wrong on the same input "
                         f"(see its checks): fix {spec.needs[0]} first")
                for k in failed:
                    verdicts[k] = replace(verdicts[k], mistake=FORWARD_WRONG.key, diagnosis=words)
                continue
            unexplained.append((case, inputs, got, want, failed))
    if unexplained:
        case, inputs, got, want, failed = unexplained[0]
        shown = [f"{k} = {_show(v)}" for k, v in inputs.items() if isinstance(v, np.ndarray | dict)]
        outs = ["{}: yours {}, reference {}".format(name, *_show_pair(got.get(name), value))
                for name, value in want.items() if not _agree(got.get(name), value)[0]] if got else []
        words = (f"the smallest input on which {spec.name} disagrees with the reference is {case.label}: "
                 + "; ".join(shown) + (" — " + "; ".join(outs) if outs else ""))
        for _, _, _, _, indices in unexplained:
            for k in indices:
                if not verdicts[k].diagnosis:
                    verdicts[k] = replace(verdicts[k], diagnosis=words)
    return verdicts
