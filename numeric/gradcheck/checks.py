r"""Gradient checks that return a :class:`~numeric.gradcheck.verdict.Verdict`.

* :func:`check_vjp` — the backward pass (a vector–Jacobian product :math:`J^\top G`) against
  the numerical gradient of :math:`\langle G, f(x)\rangle`, entry by entry: a wrong entry is
  located in the input.
* :func:`check_projections` — the same for large inputs, along a few random directions
  :math:`v`: :math:`\langle J^\top G, v\rangle` against the directional derivative of
  :math:`\langle G, f\rangle` (two calls each, whatever the size of :math:`x`);
* :func:`check_jvp` — forward mode: the directional derivative :math:`J v` from two (or one)
  forward calls against :math:`J v` assembled from the backward pass, row by row
  (:math:`(Jv)_i = \langle J^\top e_i, v\rangle`): a wrong entry is located in the output.
* :func:`check_second_order` — the derivative of a gradient: the Hessian it implies must be
  symmetric, :math:`\langle u, H v\rangle = \langle v, H u\rangle`, and equal the forward
  pass's mixed second derivative :math:`\partial_s \partial_t \ell(x + s u + t v)`.

The upstream gradient is random unless given, and a warning is attached when the loss is
constant in the input (then no gradient, right or wrong, can be told apart) or when a given
upstream gradient is constant (a plain sum loss: :math:`\sum_{ij} \mathrm{BN}(x)_{ij}` is
constant in :math:`x`, so a sum loss passes any batchnorm backward). ``method="auto"`` uses
the complex step when one complex evaluation agrees with central differences along a random
direction (the forward is analytic), and central differences otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from derive.errors import LayergradError

from .differences import EPS, Estimate, directional, estimate_gradient, scale_of, step
from .points import as_float64
from .tolerance import SAFETY, Tolerance
from .verdict import Verdict

__all__ = ["check_jvp", "check_projections", "check_second_order", "check_vjp", "choose_method"]

Array = np.ndarray


def choose_method(f: Callable[[Array], Array], x: Array, rng: np.random.Generator,
                  method: str = "auto") -> tuple[str, tuple[str, ...]]:
    """``"complex"`` if ``f`` is analytic at ``x`` (one complex-step directional derivative
    agrees with central differences), else ``"central"``; with a note when it fell back."""
    if method != "auto":
        return method, ()
    v = rng.standard_normal(np.shape(x))
    scale, spread = scale_of(x), scale_of(v)
    try:
        exact = directional(f, x, v, method="complex", h=1e-20 * scale / spread)
    except LayergradError:
        raise
    except Exception:
        return "central", ("complex step not applicable: the forward rejects complex input",)
    approx = directional(f, x, v, method="central", h=EPS ** (1 / 3) * scale / spread)
    tol = Tolerance.derived("central", approx.h * spread, scale, approx.noise)
    if np.all(tol.errors(exact.value, approx.value) <= tol.rtol):
        return "complex", ()
    return "central", ("complex step not applicable: the forward is not analytic in x or drops the imaginary "
                       "part (abs, comparisons, np.var, float())",)


def _describe(estimate: Estimate) -> str:
    name = "complex step" if estimate.method == "complex" else "central differences"
    calls = f"{estimate.calls} call{'s' if estimate.calls != 1 else ''}"
    return f"{name} (h = {estimate.h:.1e}, {calls}{', batched' if estimate.batched else ''})"


def _upstream(dout: Array | None, shape: tuple[int, ...], rng: np.random.Generator) -> tuple[Array, tuple[str, ...]]:
    if dout is None:
        return rng.standard_normal(shape), ()
    dout = as_float64("dout", dout)
    if dout.size > 1 and np.all(dout == dout.reshape(-1)[0]):
        return dout, ("the upstream gradient is constant, i.e. a plain sum loss, which is blind to wrong "
                      "gradients of layers whose output sum is fixed (Σ BN(x) is): use a random one",)
    return dout, ()


def check_vjp(
    name: str,
    f: Callable[[Array], Array],
    x: Array,
    dout: Array | None,
    analytic: Array,
    *,
    method: str = "auto",
    tolerance: float | None = None,
    h: float | None = None,
    batched: bool | None = None,
    rng: np.random.Generator | None = None,
) -> Verdict:
    r"""Compare a backward pass's ``analytic`` :math:`J^\top G` with the numerical gradient of
    :math:`\langle G, f(x)\rangle`; ``dout`` (:math:`G`) is drawn at random when ``None``."""
    rng = np.random.default_rng(0) if rng is None else rng
    x = as_float64("x", x)
    dout, notes = _upstream(dout, np.shape(f(x.copy())), rng)
    analytic = np.asarray(analytic)
    if analytic.shape != x.shape:
        return Verdict(name, False, np.inf, tolerance or 0.0, "shape",
                       detail=f"gradient has shape {analytic.shape}, expected {x.shape} (the input's shape)")
    def run(chosen: str) -> tuple[Verdict, Array]:
        estimate = estimate_gradient(f, x, dout, h, method=chosen, batched=batched)
        tol = Tolerance.derived(chosen, estimate.h, scale_of(x), estimate.noise)
        tol = Tolerance(tol.rtol if tolerance is None else tolerance, tol.floor, tol.why)
        errors = tol.errors(analytic, estimate.value)
        found = notes
        if estimate.kinks.any():
            errors = np.where(estimate.kinks, 0.0, errors)
            where = [tuple(int(i) for i in k) for k in np.argwhere(estimate.kinks)[:3]]
            found += (f"{int(estimate.kinks.sum())} entries sit within h of a kink (one-sided slopes differ), "
                      f"e.g. {', '.join(map(str, where))}; they were not compared",)
        if float(np.max(np.abs(estimate.value), initial=0.0)) <= tol.floor:
            found += (CONSTANT,)
        verdict = _verdict(name, errors, tol, _describe(estimate), analytic, estimate.value, "backward", found)
        return verdict, estimate.value

    return _auto(method, run, f, x, rng)


CONSTANT = ("the loss ⟨G, f(x)⟩ is constant in x (its numerical gradient is rounding noise): "
            "this check cannot tell a right gradient from a wrong one")


def _auto(method: str, run: Callable[[str], tuple[Verdict, Array]], f: Callable[[Array], Array], x: Array,
          rng: np.random.Generator) -> Verdict:
    """``run`` with ``method``, or for ``"auto"`` with the method :func:`choose_method` picks.

    The choice is made before, not after: a forward that is not analytic gives a wrong
    complex-step derivative, and a backward can be wrong the same way (``np.var`` conjugates, so
    the complex step of a batch norm written with it holds the variance constant, exactly as a
    backward that forgets the variance's term does)."""
    chosen, why = choose_method(f, x, rng, method)
    verdict = run(chosen)[0]
    return replace(verdict, method=verdict.method + "".join(f"; {w}" for w in why)) if why else verdict


def check_projections(
    name: str,
    f: Callable[[Array], Array],
    x: Array,
    dout: Array | None,
    analytic: Array,
    *,
    count: int = 2,
    method: str = "auto",
    rng: np.random.Generator | None = None,
) -> Verdict:
    r"""Compare :math:`\langle J^\top G, v_j\rangle` (``analytic`` projected) with the directional
    derivative of :math:`\langle G, f(x)\rangle` along ``count`` random directions :math:`v_j`.
    A wrong gradient fails along a random direction with probability one."""
    rng = np.random.default_rng(0) if rng is None else rng
    x = as_float64("x", x)
    dout, notes = _upstream(dout, np.shape(f(x.copy())), rng)
    analytic = np.asarray(analytic)
    if analytic.shape != x.shape:
        return Verdict(name, False, np.inf, 0.0, "shape",
                       detail=f"gradient has shape {analytic.shape}, expected {x.shape} (the input's shape)")
    directions = rng.standard_normal((count, *x.shape))

    def loss(z: Array) -> Array:
        return np.sum(np.asarray(f(z)) * dout)

    def run(chosen: str) -> tuple[Verdict, Array]:
        numeric, analytic_p, floors = [], [], []
        h = step(x, chosen) / scale_of(directions[0])
        for v in directions:
            estimate = directional(loss, x, v, method=chosen, h=h)
            numeric.append(float(estimate.value))
            analytic_p.append(float(np.sum(analytic * v)))
            inputs = EPS * float(np.sum(np.abs(analytic * x))) / estimate.h if chosen == "central" else 0.0
            floors.append(max(estimate.noise, EPS * float(np.sum(np.abs(analytic * v)))) + inputs)
        tol = Tolerance.derived(chosen, h * scale_of(directions[0]), scale_of(x), 0.0)
        tol = Tolerance(tol.rtol, SAFETY * np.array(floors), tol.why)
        a, n = np.array(analytic_p), np.array(numeric)
        how = ("complex step" if chosen == "complex" else "central differences") + \
            f" along {count} random directions (h = {h:.1e})"
        return _verdict(name, tol.errors(a, n), tol, how, a, n, "⟨gradient, v⟩", notes), n

    return _auto(method, run, loss, x, rng)


def _verdict(name: str, errors: Array, tol: Tolerance, method: str, analytic: Array, numeric: Array,
             label: str, notes: tuple[str, ...]) -> Verdict:
    if errors.size == 0:
        return Verdict(name, True, 0.0, tol.rtol, method, warnings=notes)
    k = int(np.argmax(errors))
    where = tuple(int(i) for i in np.unravel_index(k, errors.shape)) if errors.ndim else None
    error = float(errors.reshape(-1)[k])
    passed = error <= tol.rtol
    detail = "" if passed else (f"{label} gives {float(analytic.reshape(-1)[k]):.6g}, "
                                f"numerically {float(numeric.reshape(-1)[k]):.6g}")
    return Verdict(name, passed, error, tol.rtol, method, where, detail, warnings=notes)


def check_jvp(
    name: str,
    f: Callable[[Array], Array],
    x: Array,
    vjp: Callable[[Array], Array],
    *,
    v: Array | None = None,
    method: str = "auto",
    rng: np.random.Generator | None = None,
    max_rows: int = 1024,
    count: int = 64,
) -> Verdict:
    r"""Forward mode: :math:`J v` by a directional derivative of ``f`` against :math:`J v`
    assembled from ``vjp`` (:math:`G \mapsto J^\top G` at ``x``), one output row at a time,
    or through ``count`` random projections :math:`\langle G_j, Jv\rangle = \langle J^\top G_j, v\rangle`
    when the output has more than ``max_rows`` entries."""
    rng = np.random.default_rng(0) if rng is None else rng
    x = as_float64("x", x)
    v = rng.standard_normal(x.shape) if v is None else as_float64("v", v)
    shape = np.shape(f(x.copy()))
    size = int(np.prod(shape))
    if size <= max_rows:  # row i of J is the backward pass of the basis vector e_i
        cotangents = np.eye(size).reshape(size, *shape)
        label = "the backward pass (row by row)"
    else:
        cotangents = rng.standard_normal((count, *shape))
        label = f"the backward pass ({count} random projections)"
    rows = np.stack([np.asarray(vjp(g.copy())).reshape(-1) for g in cotangents])
    analytic = rows @ v.reshape(-1)
    # rounding of each dot product is bounded by ε Σ_k |r_ik v_k|: a floor for the analytic side
    terms = np.abs(rows) @ np.abs(v.reshape(-1))

    def run(chosen: str) -> tuple[Verdict, Array]:
        estimate = directional(f, x, v, method=chosen)
        numeric = cotangents.reshape(len(cotangents), -1) @ estimate.value.reshape(-1)
        tol = Tolerance.derived(chosen, estimate.h * scale_of(v), scale_of(x), 0.0)
        inputs = EPS * (np.abs(rows) @ np.abs(x.reshape(-1))) / estimate.h if chosen == "central" else 0.0
        tol = Tolerance(tol.rtol, SAFETY * (np.maximum(estimate.noise, EPS * terms) + inputs), tol.why)
        if size <= max_rows:
            a, n, err = analytic.reshape(shape), numeric.reshape(shape), tol.errors(analytic, numeric).reshape(shape)
        else:
            a, n, err = analytic, numeric, tol.errors(analytic, numeric)
        return _verdict(name, err, tol, _describe(estimate).replace("(", "(J v, ", 1), a, n, label, ()), n

    return _auto(method, run, f, x, rng)


def check_second_order(
    name: str,
    f: Callable[[Array], Array],
    x: Array,
    gradient: Callable[[Array], Array],
    dout: Array | None = None,
    *,
    method: str = "auto",
    rng: np.random.Generator | None = None,
) -> list[Verdict]:
    r"""Check the derivative of ``gradient`` (:math:`x \mapsto \nabla_x \langle G, f(x)\rangle`,
    e.g. a closed-form backward pass): along random :math:`u, v`, the Hessian it implies must be
    symmetric and agree with the forward's mixed second derivative

    .. math:: \langle u, H v \rangle = \partial_s \partial_t\, \ell(x + s u + t v)
              \approx \operatorname{Im}\frac{\ell(x + i h u + k v) - \ell(x + i h u - k v)}{2 h k}

    (complex step in :math:`u`, central in :math:`v`; four real evaluations when ``f`` is not analytic)."""
    rng = np.random.default_rng(0) if rng is None else rng
    x = as_float64("x", x)
    dout, notes = _upstream(dout, np.shape(f(x.copy())), rng)
    u, v = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    scale = scale_of(x)

    def loss(z: Array) -> complex:
        return complex(np.sum(np.asarray(f(z)) * dout))

    grad_method, notes_g = choose_method(gradient, x, rng, method)
    hv, hu = directional(gradient, x, v, method=grad_method), directional(gradient, x, u, method=grad_method)
    a, b = float(np.sum(u * hv.value)), float(np.sum(v * hu.value))
    noise = max(hv.noise * float(np.sum(np.abs(u))), hu.noise * float(np.sum(np.abs(v))))
    tol = Tolerance.derived(grad_method, hv.h, scale, noise)
    symmetric = _verdict(f"{name}: Hessian symmetry", tol.errors(np.array(a), np.array(b)), tol,
                         f"⟨u, Hv⟩ vs ⟨v, Hu⟩ by {_describe(hv)}" + "".join(f"; {w}" for w in notes_g),
                         np.array(a), np.array(b), "⟨u, Hv⟩", notes)
    forward_method, notes_f = choose_method(f, x, rng, method)
    if forward_method == "complex":
        h, k = step(x, "complex"), step(x, "central")
        c = (loss(x + 1j * h * u + k * v) - loss(x + 1j * h * u - k * v)).imag / (2 * h * k)
        ftol = Tolerance.derived("central", k, scale, EPS * abs(c) * scale / k)
        how = f"mixed complex-step/central second difference of the forward (h = {h:.0e}, k = {k:.1e})"
    else:
        k = EPS ** (1 / 4) * scale
        c = (loss(x + k * u + k * v) - loss(x + k * u - k * v) - loss(x - k * u + k * v)
             + loss(x - k * u - k * v)).real / (4 * k * k)
        magnitude = float(np.sum(np.abs(np.asarray(f(x)) * dout)))
        eta = k / scale
        ftol = Tolerance(SAFETY * (eta**2 + EPS / eta**2), SAFETY * EPS * magnitude / k**2,
                         f"{SAFETY:g}·(η² + ε/η²), η = {eta:.1e}")
        how = f"four-point second difference of the forward (h = {k:.1e})"
    agrees = _verdict(f"{name}: second derivative", ftol.errors(np.array(a), np.array(c)), ftol,
                      how + "".join(f"; {w}" for w in notes_f), np.array(a), np.array(c), "⟨u, Hv⟩ from the gradient",
                      notes)
    return [symmetric, agrees]
