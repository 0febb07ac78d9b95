r"""Dropout: statistics, conventions and gradients of ``dropout_forward`` / ``dropout_backward``.

Train mode keeps each unit with probability :math:`q` and scales kept units by :math:`1/q`;
``p`` means :math:`q` (keep convention) or :math:`1 - q` (drop convention), and the checks are
told which, never guess. On :math:`N = 500 \times 500` inputs :math:`x \approx 10` (the
notebooks' test), at each of their ``p``:

* the number of zeros is Binomial(:math:`N`, :math:`1-q`): the fraction must lie within
  :math:`Z\sqrt{q(1-q)/N}` of :math:`1-q` (:math:`Z = 6`: a correct layer fails with
  probability below :math:`2\cdot 10^{-9}`); a fraction that fits :math:`1 - q` for the other
  convention, or :math:`\Phi(\pm t)` (a normal draw ``randn < t``), is named as such;
* kept units equal :math:`x/q` (1 means not rescaled, :math:`1/(1-q)` the other convention);
* the train-time mean lies within :math:`Z \sqrt{\sum_i x_i^2 (1-q)/q}\,/N` of the input mean;
* test mode returns ``x`` unchanged (:math:`q x` or :math:`x/q` is rescaling at test time);

and a seed gives the same mask twice, different seeds different masks, float32 stays
float32, and with the notebooks' seed the report says which of the courses' draws the mask
comes from — for the drop rate either ``rand >= p`` or ``rand < 1 - p`` is right — or warns
that it matches none (another uniform draw is statistically just as right). The backward pass is checked against
directional derivatives of the seeded forward (entry by entry where it fails); a failure is
explained by comparing
:math:`dx/dout` with the forward's multiplier :math:`out/x` unit by unit. NumPy's global
random state is seeded before every draw, so every run gives the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from types import SimpleNamespace

import numpy as np

from derive.dropout import Convention

from ..gradcheck import Verdict, check_projections, check_vjp
from .spec import DTYPE_CHANGED, RAISED, REFUSED, WRITES_INPUT, Context, FunctionCheck, LayerChecks, Mistake, guarded

__all__ = ["CHECKS", "P_VALUES", "Z", "check_dropout"]

Z = 6.0
"""Width of the statistical bounds, in standard deviations."""

P_VALUES = (0.3, 0.6, 0.75)
"""The notebooks' values of ``p`` for the statistical test."""

_SCALE_ROWS = 40
"""Rows of the 500 × 500 output whose kept units are compared with x / q one by one."""

MISTAKES = (
    Mistake("randn-mask", "the mask is drawn from a normal distribution (randn) instead of a uniform one (rand)"),
    Mistake("convention-swapped", "keep and drop are swapped: p is used as the other probability"),
    Mistake("wrong-keep-fraction", "the fraction of kept units is not the keep probability q"),
    Mistake("not-rescaled", "kept units are not rescaled by 1/q, so the train-time mean is q × the input mean"),
    Mistake("wrong-scale", "kept units are scaled by something other than 1/q"),
    Mistake("rescaled-at-test", "inverted dropout rescales at test time, where it must be the identity"),
    Mistake("dropped-at-test", "units are dropped at test time"),
    Mistake("seed-ignored", "dropout_param['seed'] is ignored: the same seed gives different masks"),
    Mistake("seed-fixed", "different seeds give the same mask"),
    DTYPE_CHANGED,
    Mistake("backward-ignores-mask", "the backward pass does not apply the mask (dx = dout)"),
    Mistake("backward-unscaled", "the backward pass applies the mask but not the 1/q scale"),
    Mistake("backward-other-mask", "the backward pass does not use the forward's mask"),
    Mistake("backward-wrong-scale", "the backward pass scales kept units differently from the forward"),
    Mistake("backward-test-rescaled", "the backward pass rescales at test time"),
    RAISED,
    WRITES_INPUT,
    REFUSED,
)


def _phi(t: float) -> float:
    return 0.5 * (1 + math.erf(t / math.sqrt(2)))


def _other(convention: Convention) -> Convention:
    return Convention.DROP if convention is Convention.KEEP else Convention.KEEP


def _word(convention: Convention) -> str:
    return "keep probability" if convention is Convention.KEEP else "drop rate"


def _mask_hypotheses(ctx: Context) -> list[tuple[str, Callable[[float], float], str]]:
    """Keep fractions that known mistakes produce, as functions of ``p``, with what to say."""
    convention = ctx.convention or Convention.KEEP
    other = _other(convention)
    swapped = (
        f"keep and drop are swapped: the code keeps a fraction 1 − q of the units, i.e. it treats p as the "
        f"{_word(other)}, but p is the {_word(convention)} here (--dropout-p {convention.value}); if the module "
        f"means p as the {_word(other)}, check it with --dropout-p {other.value}"
    )
    hypotheses: list[tuple[str, Callable[[float], float], str]] = [
        ("convention-swapped", lambda p: 1 - ctx.q(p), swapped)
    ]
    for threshold, text in ((lambda p: p, "p"), (lambda p: 1 - p, "1 - p")):
        for below in (True, False):
            op = "<" if below else ">="
            hypotheses.append((
                "randn-mask",
                (lambda p, t=threshold, b=below: _phi(t(p)) if b else 1 - _phi(t(p))),
                f"the mask is drawn from a normal distribution, np.random.randn(*x.shape) {op} {text}: the keep "
                f"fraction is {'Φ' if below else '1 − Φ'}({text}) instead of q; draw it from a uniform one, "
                "np.random.rand(*x.shape) < q",
            ))
    return hypotheses


def _frozen(x: np.ndarray) -> np.ndarray:
    """``x`` made read-only: a layer that writes into its input raises instead of corrupting the checks."""
    x.flags.writeable = False
    return x


def _seeded(forward: Callable, x: np.ndarray, param: dict, seed: int) -> np.ndarray:
    """``forward``'s output after seeding NumPy's global random state (where the function runs)."""
    seeded = getattr(forward, "seeded", None)
    if seeded is not None:
        out, _ = seeded(seed, x, dict(param))
    else:
        np.random.seed(seed)
        out, _ = forward(x, dict(param))
    return np.asarray(out)


def _forward(ctx: Context) -> list[Verdict]:
    forward = ctx.fn("dropout_forward")
    x = _frozen(ctx.rng("dropout_forward", "statistics").standard_normal((500, 500)) + 10)
    verdicts = guarded("dropout_forward statistics", lambda: _statistics(ctx, forward, x))
    verdicts += guarded("dropout_forward test mode", lambda: _test_mode(ctx, forward, x))
    verdicts += guarded("dropout_forward seeds", lambda: _seeds(ctx, forward))
    if all(v.passed for v in verdicts):
        verdicts += guarded("dropout_forward notebook draw", lambda: _notebook_draw(ctx, forward))
    return verdicts


def _statistics(ctx: Context, forward: Callable, x: np.ndarray) -> list[Verdict]:
    n = x.size
    observed = {}
    for k, p in enumerate(P_VALUES):
        out = _seeded(forward, x, {"mode": "train", "p": p}, ctx.seed * 7 + k)
        if out.shape != x.shape:
            return [Verdict("dropout_forward output shape", False, np.inf, 0.0, "shape",
                            detail=f"output has shape {out.shape}, expected {x.shape}")]
        observed[p] = out
    keep_fraction = {p: np.count_nonzero(out) / n for p, out in observed.items()}
    x_mean, x_square = float(x.mean()), float(np.vdot(x, x))
    mask_key, mask_words = "wrong-keep-fraction", ""
    if any(abs(keep_fraction[p] - ctx.q(p)) > Z * math.sqrt(ctx.q(p) * (1 - ctx.q(p)) / n) for p in P_VALUES):
        for key, predicted, words in _mask_hypotheses(ctx):
            if all(abs(keep_fraction[p] - predicted(p)) <= Z * math.sqrt(max(predicted(p) * (1 - predicted(p)), 1e-12)
                                                                         / n) for p in P_VALUES):
                mask_key, mask_words = key, words
                break
    verdicts = []
    for p, out in observed.items():
        q = ctx.q(p)
        bound = Z * math.sqrt(q * (1 - q) / n)
        zeros = 1 - keep_fraction[p]
        ok = abs(zeros - (1 - q)) <= bound
        verdicts.append(Verdict(
            f"dropout_forward zero fraction, p = {p}", ok, abs(zeros - (1 - q)), bound,
            f"binomial bound ({Z:g}σ)", detail=f"{zeros:.4f} of outputs are zero, expected 1 − q = {1 - q:.4f}",
            mistake="" if ok else mask_key,
            diagnosis="" if ok else (mask_words or f"{zeros:.4f} of train-time outputs are zero; with p = {p} "
                                     f"({_word(ctx.convention or Convention.KEEP)}) a fraction 1 − q = {1 - q:.4f} "
                                     "of units must be dropped"),
        ))
        verdicts += _scale(ctx, p, x, out, mask_key, mask_words, x_mean, x_square)
    return verdicts


def _scale(ctx: Context, p: float, x: np.ndarray, out: np.ndarray, mask_key: str, mask_words: str,
           x_mean: float, x_square: float) -> list[Verdict]:
    q = ctx.q(p)
    rows = slice(0, _SCALE_ROWS)  # every kept unit is scaled alike: 20,000 units show any scale
    kept, sample, inputs = out[rows] != 0, out[rows], x[rows]
    deviation = sample * (q / inputs)  # 1 on kept units, 0 on dropped ones
    deviation -= kept
    error = float(np.max(np.abs(deviation)))
    ok = error <= 1e-12
    ratio = sample[kept] / inputs[kept] if not ok and kept.any() else np.array([1 / q])
    factor = float(ratio[0]) if ok else float(np.median(ratio))
    key, words = "", ""
    if not ok:
        uniform = bool(np.allclose(ratio, factor, rtol=1e-12))
        if not uniform:
            key, words = "wrong-scale", (f"kept units are not all scaled by the same factor (from {ratio.min():.4g} "
                                         f"to {ratio.max():.4g}); each must be x / q with q = {q:g}")
        elif math.isclose(factor, 1.0, rel_tol=1e-12):
            key, words = "not-rescaled", (
                "kept units are not rescaled: they pass unchanged, so the train-time mean is about q × the input "
                "mean; inverted dropout divides kept units by q: "
                "mask = (np.random.rand(*x.shape) < q) / q")
        elif math.isclose(factor, 1 / (1 - q), rel_tol=1e-12):
            key = "convention-swapped" if mask_key == "convention-swapped" else "wrong-scale"
            words = ("kept units are scaled by 1/(1 − q) instead of 1/q: the scale uses p the other way round"
                     + (" as well" if key == "convention-swapped" else " from the mask"))
        elif math.isclose(factor, q, rel_tol=1e-12):
            key, words = "wrong-scale", "kept units are multiplied by q instead of divided by it"
        else:
            key, words = "wrong-scale", "kept units must be scaled by 1/q"
    out_mean = float(out.mean())
    mean_gap = abs(out_mean - x_mean)
    spread = Z * math.sqrt(x_square * (1 - q) / q) / x.size
    mean_ok = mean_gap <= spread
    return [
        Verdict(f"dropout_forward kept units scaled by 1/q, p = {p}", ok, error, 1e-12, "exact (relative)",
                detail=f"kept units are {factor:.6g} × x, expected 1/q = {1 / q:.6g}", mistake=key, diagnosis=words),
        Verdict(f"dropout_forward train-time mean, p = {p}", mean_ok, mean_gap, spread, f"mean within {Z:g}σ",
                detail=f"output mean {out_mean:.4f}, input mean {x_mean:.4f}",
                mistake="" if mean_ok else (key or mask_key),
                diagnosis="" if mean_ok else (words or mask_words or "the train-time mean must equal the input mean")),
    ]


def _test_mode(ctx: Context, forward: Callable, x: np.ndarray) -> list[Verdict]:
    verdicts = []
    for p in P_VALUES:
        q = ctx.q(p)
        out = _seeded(forward, x, {"mode": "test", "p": p}, ctx.seed)
        same = out.shape == x.shape and np.array_equal(out, x)
        key, words, error = "", "", 0.0
        if not same:
            error = float(np.max(np.abs(out - x))) if out.shape == x.shape else np.inf
            ratio = out / x if out.shape == x.shape else np.array([np.nan])
            if np.count_nonzero(out) < out.size:
                key, words = "dropped-at-test", ("test-time outputs contain zeros: the mask is applied at test "
                                                 "time; test mode must return x unchanged")
            elif np.allclose(ratio, q, rtol=1e-12):
                key, words = "rescaled-at-test", (
                    "test-time output is q × x: that is vanilla dropout's test-time rule; inverted "
                    "dropout already divides by q during training, so test mode must return x unchanged")
            elif np.allclose(ratio, 1 / q, rtol=1e-12):
                key, words = "rescaled-at-test", ("test-time output is x / q: rescaling is applied at test time; "
                                                  "inverted dropout's test mode returns x unchanged")
            else:
                words = "test mode must return x unchanged"
        detail = "" if same or error == np.inf else f"output/input = {float(np.median(out / x)):.4g}, q = {q:g}"
        verdicts.append(Verdict(f"dropout_forward test-time identity, p = {p}", same, error, 0.0, "exact",
                                detail=detail, mistake=key, diagnosis=words))
    return verdicts


def _seeds(ctx: Context, forward: Callable) -> list[Verdict]:
    x = _frozen(ctx.rng("dropout_forward", "seeds").standard_normal((50, 40)))
    p = 0.7
    param = {"mode": "train", "p": p, "seed": 231}
    first, second = (_seeded(forward, x, param, ctx.seed + k) for k in (11, 12))
    other = _seeded(forward, x, {**param, "seed": 232}, ctx.seed + 13)
    same = np.array_equal(first, second)
    out32 = _seeded(forward, _frozen(x.astype(np.float32)), param, ctx.seed)
    return [
        Verdict("dropout_forward seed reproducibility", same,
                float(np.max(np.abs(first - second))) if first.shape == second.shape else np.inf, 0.0, "exact",
                mistake="" if same else "seed-ignored",
                diagnosis="" if same else ("two calls with dropout_param['seed'] = 231 give different masks: call "
                                           "np.random.seed(dropout_param['seed']) when a seed is given")),
        Verdict("dropout_forward different seeds differ", not np.array_equal(first, other), 0.0, 0.0, "exact",
                mistake="" if not np.array_equal(first, other) else "seed-fixed",
                diagnosis="" if not np.array_equal(first, other) else (
                    "seeds 231 and 232 give the same mask: the function seeds NumPy with a fixed value instead of "
                    "dropout_param['seed']")),
        Verdict("dropout_forward keeps float32", out32.dtype == np.float32, 0.0, 0.0, "dtype",
                detail=f"output dtype {out32.dtype} for a float32 input",
                mistake="" if out32.dtype == np.float32 else "dtype-changed",
                diagnosis="" if out32.dtype == np.float32 else (
                    "a float32 input gives a float64 output: end with out = out.astype(x.dtype, copy=False)")),
    ]


def _notebook_draws(ctx: Context) -> dict[str, Callable]:
    """The courses' seeded draws in this context's convention, as forward functions: keep
    ``rand < p``; drop rate ``rand >= p`` (CS231n 2017, CS182) or ``rand < 1 - p`` (cs6353, the
    keep-convention reference at q = 1 - p, bit for bit)."""
    from .reference import reference_module

    if ctx.convention is not Convention.DROP:
        return {"rand < p": ctx.reference.dropout_forward}
    keep = reference_module(Convention.KEEP).dropout_forward
    return {
        "rand >= p": ctx.reference.dropout_forward,
        "rand < 1 - p": lambda x, param: keep(x, {**param, "p": 1 - param["p"]}),
    }


def _notebook_draw(ctx: Context, forward: Callable) -> list[Verdict]:
    """A passing check that says which course draw the seeded numbers come from (either is
    right), or warns when they match none (statistically fine, but no notebook's printed numbers
    will be reproduced)."""
    x = _frozen(ctx.rng("dropout_forward", "seeds").standard_normal((50, 40)))
    param = {"mode": "train", "p": 0.7, "seed": 231}
    mine = _seeded(forward, x, param, 0)
    draws = _notebook_draws(ctx)
    same = [draw for draw, reference in draws.items()
            if mine.shape == x.shape and np.array_equal(mine, _seeded(reference, x, param, 0))]
    listed = " or ".join(f"({d}) / q" for d in draws)
    notes = () if same else (f"with seed 231 the output differs from the course notebooks' draws, mask = {listed}: "
                             "statistically fine, but the notebooks' printed numbers will not be reproduced",)
    detail = f"the mask is drawn as {same[0]} (DROPOUT_DRAW = {same[0]!r})" if same else "other numbers"
    return [Verdict("dropout_forward seeded draw as in the notebooks", True, 0.0, 0.0, "exact (advice only)",
                    detail=detail, warnings=notes)]


def _backward(ctx: Context) -> list[Verdict]:
    forward, backward = ctx.fn("dropout_forward"), ctx.fn("dropout_backward")
    rng = ctx.rng("dropout_backward")
    x = rng.standard_normal((10, 10)) + 10
    dout = rng.standard_normal(x.shape)
    verdicts: list[Verdict] = []
    for mode in ("train", "test"):
        param = {"mode": mode, "p": 0.8, "seed": 123 + ctx.seed}
        verdicts += guarded(f"dropout_backward ({mode})",
                            lambda param=param: _gradient(ctx, forward, backward, x, dout, param, rng))
    return verdicts


def _gradient(ctx: Context, forward: Callable, backward: Callable, x: np.ndarray, dout: np.ndarray,
              param: dict, rng: np.random.Generator) -> list[Verdict]:
    mode = param["mode"]
    name = f"dropout_backward ({mode})"
    out, cache = forward(x.copy(), dict(param))
    again, _ = forward(x.copy(), dict(param))
    if not np.array_equal(np.asarray(out), np.asarray(again)):
        return [Verdict(name, False, np.inf, 0.0, "central differences", mistake="seed-ignored",
                        diagnosis="dropout_forward gives different outputs for the same dropout_param['seed'], "
                        "so no backward pass can match it: seed NumPy with dropout_param['seed']")]
    dx = np.asarray(backward(dout.copy(), cache))
    def f(xx: np.ndarray) -> np.ndarray:
        return forward(xx, dict(param))[0]

    verdict = check_projections(name, f, x, dout, dx, rng=rng)
    if not verdict.passed:  # entry by entry, to say where
        verdict = check_vjp(name, f, x, dout, dx, rng=rng)
    if verdict.passed or dx.shape != x.shape:
        return [verdict]
    q = ctx.q(param["p"])
    true = dout if mode == "test" else dout * (np.asarray(out) != 0) / q
    if np.allclose(dx, true, rtol=1e-12, atol=0):
        rule = "dout" if mode == "test" else "dout · D / q"
        note = (f"dropout_backward returns the layer's gradient ({rule}) but disagrees with this module's "
                f"dropout_forward in {mode} mode, which is wrong (see its checks)")
        return [Verdict(name, True, float(np.max(np.abs(dx - true))), 0.0,
                        f"exact, against the layer's gradient {rule}", warnings=(note,))]
    key, words = _diagnose_backward(mode, np.asarray(out) / x, dx / dout, q)
    return [replace(verdict, mistake=key, diagnosis=words)]


def _diagnose_backward(mode: str, multiplier: np.ndarray, ratio: np.ndarray, q: float) -> tuple[str, str]:
    """Name the mistake from dx/dout (``ratio``) against the forward's out/x (``multiplier``)."""
    def close(a: np.ndarray | float, b: np.ndarray | float) -> bool:
        return bool(np.allclose(a, b, rtol=1e-9, atol=1e-12))

    if mode == "test":
        if close(ratio, q) or close(ratio, 1 / q):
            return "backward-test-rescaled", (f"at test time dx = {float(np.median(ratio)):.4g} × dout, but test "
                                              "mode is the identity, so dx = dout")
        return "", "at test time the forward is the identity, so dx must equal dout"
    kept = multiplier != 0
    if close(ratio, 1.0) and not kept.all():
        return "backward-ignores-mask", ("dx = dout everywhere: the backward pass sends gradient to the units the "
                                         "forward dropped; multiply by the forward's mask: dx = dout * mask")
    if close(ratio, kept.astype(float)):
        return "backward-unscaled", ("dx = dout on kept units and 0 on dropped ones: the backward applies the mask "
                                     "but not its 1/q scale; use the same scaled mask as the forward (mask / q)")
    if not np.array_equal(ratio == 0, ~kept):
        return "backward-other-mask", (
            f"dx is zero on {int(np.sum((ratio == 0) & kept))} units the forward kept and nonzero on "
            f"{int(np.sum((ratio != 0) & ~kept))} it dropped: the backward does not use the forward's mask (is it "
            "drawing a new one? take the mask from the cache)")
    if kept.any() and close(ratio[kept], float(np.median(ratio[kept]))):
        return "backward-wrong-scale", (f"on kept units dx/dout is {float(np.median(ratio[kept])):.4g} but the "
                                        f"forward scales them by {float(np.median(multiplier[kept])):.4g}: the "
                                        "backward must use the forward's scaled mask")
    return "", ""


CHECKS = LayerChecks(
    "dropout",
    (
        FunctionCheck("dropout_forward", _forward),
        FunctionCheck("dropout_backward", _backward, needs=("dropout_forward",)),
    ),
    MISTAKES,
    needs_convention=True,
)


def check_dropout(forward: Callable, backward: Callable, convention: Convention | str, seed: int = 0
                  ) -> list[Verdict]:
    """Every dropout check of a ``dropout_forward`` / ``dropout_backward`` pair in ``convention``,
    run in this process (for functions at hand rather than a module on disk)."""
    module = SimpleNamespace(dropout_forward=forward, dropout_backward=backward)
    context = Context(module, None, Convention.parse(convention), seed)  # type: ignore[arg-type]
    return [v for check in CHECKS.functions for v in check.run(context)]
