r"""Convolution and max pooling: ``conv_{forward,backward}_{naive,fast}`` and
``max_pool_{forward,backward}_{naive,fast}``.

Forward passes are compared with the layer's definition, evaluated directly (a window view
and ``einsum``, independent of the generated code and quick to build) on several strides,
paddings, odd and non-square sizes and a 1×1 kernel (and a dilation, for modules that declare
``CONV_DILATION``), after checking the output shape against the derived
:math:`H' = 1 + (H + 2P - d(HH-1) - 1)/S`. Backward passes are compared with numerical
gradients of :math:`\langle \text{dout}, f\rangle` for a random upstream gradient (the input
gradient through one batched forward call: convolution acts on each sample separately). The
classic mistakes are named: a flipped kernel (a true convolution instead of the layers'
cross-correlation), a missing bias, a flipped filter gradient, a pooling gradient sent to every
tied entry. The ``*_naive`` functions, often literal loops, run on smaller cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import ModuleType, SimpleNamespace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..gradcheck import Verdict, check_projections, check_vjp, without_ties
from .corners import Parameter, corners
from .spec import Context, FunctionCheck, LayerChecks, Mistake, guarded

__all__ = ["CONV", "CONV_CASES", "DILATED_CASE", "MAXPOOL", "POOL_CASES", "SMALL_CONV_CASES", "check_conv",
           "check_maxpool", "definition", "window_maxima"]

Case = tuple[tuple[int, ...], tuple[int, ...], dict]

def _whole(case: dict[str, int], axes: tuple[tuple[str, str], ...], pad: int,
           dilation: int = 1) -> dict[str, int] | None:
    """``case`` with each input size grown (by less than the stride) until the output size
    1 + (size + 2P − d(K − 1) − 1)/S is whole; ``None`` if a kernel does not fit."""
    case = dict(case)
    for size, kernel in axes:
        for _ in range(case["stride"]):
            span = case[size] + 2 * pad - dilation * (case[kernel] - 1) - 1
            if span < 0:
                return None
            if span % case["stride"] == 0:
                break
            case[size] += 1
    return case


CONV_PARAMETERS = (
    Parameter(("N",), 1), Parameter(("C",), 1), Parameter(("F",), 1), Parameter(("stride",), 1),
    Parameter(("pad",), 0),
    Parameter(("HH", "WW"), 1, lambda c, n: c["H" if n == "HH" else "W"] + 2 * c["pad"]),
)
"""The declared parameters of convolution: N, C, F ≥ 1, S ≥ 1, P ≥ 0, 1 ≤ HH ≤ H + 2P, 1 ≤ WW ≤ W + 2P."""


def _conv_corners(base: dict[str, int]) -> tuple[Case, ...]:
    def repair(case: dict[str, int]) -> dict[str, int] | None:
        return _whole(case, (("H", "HH"), ("W", "WW")), case["pad"])

    cases = [("base", base), *corners(base, CONV_PARAMETERS, repair)]
    return tuple(((c["N"], c["C"], c["H"], c["W"]), (c["F"], c["C"], c["HH"], c["WW"]),
                  {"stride": c["stride"], "pad": c["pad"]}) for _, c in cases)


CONV_BASE = {"N": 2, "C": 3, "H": 7, "W": 6, "F": 2, "HH": 3, "WW": 2, "stride": 2, "pad": 1}
SMALL_CONV_BASE = {"N": 2, "C": 2, "H": 5, "W": 4, "F": 2, "HH": 3, "WW": 2, "stride": 2, "pad": 1}

CONV_CASES: tuple[Case, ...] = _conv_corners(CONV_BASE)
"""(x shape, w shape, conv_param): a non-square base case (S = 2, P = 1) and the corners of the
declared domain: N = 1, C = 1, F = 1, S = 1, P = 0, a 1×1 kernel and
one as large as the padded input."""

SMALL_CONV_CASES: tuple[Case, ...] = _conv_corners(SMALL_CONV_BASE)
"""The same corners on smaller sizes, for literal loops within the checker's time limit."""

DILATED_CASE: Case = ((1, 2, 9, 9), (2, 2, 3, 3), {"stride": 1, "pad": 2, "dilation": 2})

POOL_PARAMETERS = (
    Parameter(("N",), 1), Parameter(("C",), 1),
    Parameter(("PH", "PW"), 1, lambda c, n: c["H" if n == "PH" else "W"]),
    Parameter(("stride",), 1, lambda c, n: max(c["PH"], c["PW"]) + 1),
)
"""The declared parameters of max pooling: N, C ≥ 1, 1 ≤ HH ≤ H, 1 ≤ WW ≤ W, 1 ≤ S ≤ max(HH, WW) + 1
(beyond, windows only skip more)."""


def _pool_corners(base: dict[str, int]) -> tuple[tuple[tuple[int, ...], dict], ...]:
    def repair(case: dict[str, int]) -> dict[str, int] | None:
        return _whole(case, (("H", "PH"), ("W", "PW")), 0)

    cases = [("base", base), *corners(base, POOL_PARAMETERS, repair)]
    return tuple(((c["N"], c["C"], c["H"], c["W"]),
                  {"pool_height": c["PH"], "pool_width": c["PW"], "stride": c["stride"]}) for _, c in cases)


POOL_BASE = {"N": 2, "C": 2, "H": 7, "W": 8, "PH": 3, "PW": 2, "stride": 2}

POOL_CASES: tuple[tuple[tuple[int, ...], dict], ...] = (
    ((2, 3, 8, 8), {"pool_height": 2, "pool_width": 2, "stride": 2}), *_pool_corners(POOL_BASE))
"""(x shape, pool_param): the notebooks' tiling, then a non-square base case with overlapping windows
and the corners of the declared domain: N = 1, C = 1, a 1×1 window, a window as large as x, stride 1
and a stride beyond the window."""

CONV_MISTAKES = (
    Mistake("wrong-output-size", "the output shape is not (N, F, H', W') with H' = 1 + (H + 2P − d(HH − 1) − 1)/S"),
    Mistake("kernel-flipped", "the kernel is flipped: a true convolution instead of the cross-correlation layers use"),
    Mistake("bias-missing", "the bias is not added"),
    Mistake("stride-ignored", "the stride is ignored (windows at every position)"),
    Mistake("padding-ignored", "the padding is ignored (no zeros around x)"),
    Mistake("wrong-output", "the output differs from the layer's definition"),
    Mistake("dw-flipped", "the filter gradient is flipped in its two spatial axes"),
    Mistake("dx-not-cropped", "the input gradient keeps the padding (shape of xpad, not x)"),
    Mistake("dx-crop-empty", "the input gradient is cropped with dxpad[:, :, P:-P, P:-P], empty when P = 0"),
    Mistake("dx-kernel-not-flipped", "the input gradient uses the filter unturned (not a full convolution with "
            "the 180°-rotated filter)"),
    Mistake("db-wrong-axes", "the bias gradient is not summed over the batch and both spatial axes"),
    Mistake("dtype-changed", "float32 inputs do not give float32 outputs and gradients"),
    Mistake("raised", "the function raised an exception or exited"),
    Mistake("refused", "the function cannot be checked numerically"),
)

POOL_MISTAKES = (
    Mistake("wrong-output", "the output is not the maximum of each window"),
    Mistake("wrong-output-size", "the output shape is not (N, C, H', W') with H' = 1 + (H − HH)/S"),
    Mistake("average-not-max", "the output is the mean of each window, not its maximum"),
    Mistake("gradient-averaged", "the gradient is spread evenly over each window instead of sent to its maximum"),
    Mistake("gradient-everywhere", "every entry of a window receives the whole gradient, not only its maximum"),
    Mistake("ties-all-routed", "at a tie every largest entry receives the gradient, not only the first one"),
    Mistake("dtype-changed", "float32 inputs do not give float32 outputs and gradients"),
    Mistake("raised", "the function raised an exception or exited"),
    Mistake("refused", "the function cannot be checked numerically"),
)


def _conv_cases(ctx: Context, kind: str) -> tuple[Case, ...]:
    """The cases for ``kind`` (smaller for the naive functions), unless the context names its own."""
    if ctx.options.get("conv_cases"):
        return tuple(ctx.options["conv_cases"])
    dilation = ctx.options.get("dilation", getattr(ctx.module, "CONV_DILATION", False) is True)
    return (SMALL_CONV_CASES if kind == "naive" else CONV_CASES) + ((DILATED_CASE,) if dilation else ())


def _pool_cases(ctx: Context) -> tuple:
    return tuple(ctx.options.get("pool_cases") or POOL_CASES)


def _size(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return 1 + (size + 2 * pad - dilation * (kernel - 1) - 1) // stride


def definition(x: np.ndarray, w: np.ndarray, b: np.ndarray, param: dict) -> np.ndarray:
    """out[n, f, i, j] = b[f] + Σ_{c,k,l} xpad[n, c, S·i + d·k, S·j + d·l]·w[f, c, k, l], evaluated as written."""
    stride, pad, dilation = param["stride"], param["pad"], param.get("dilation", 1)
    hh, ww = w.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(xpad, (dilation * (hh - 1) + 1, dilation * (ww - 1) + 1), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride, ::dilation, ::dilation]
    return np.einsum("ncijkl,fckl->nfij", windows, w) + b[None, :, None, None]


def window_maxima(x: np.ndarray, param: dict, reduce: Callable = np.max) -> np.ndarray:
    """out[n, c, i, j] = max_{k,l} x[n, c, S·i + k, S·j + l], evaluated as written (``reduce``
    replaces the maximum, e.g. by the mean)."""
    stride = param["stride"]
    windows = sliding_window_view(x, (param["pool_height"], param["pool_width"]), axis=(2, 3))
    return reduce(windows[:, :, ::stride, ::stride], axis=(4, 5))


def _gradient(name: str, f: Callable, x: np.ndarray, dout: np.ndarray, analytic: np.ndarray,
              rng: np.random.Generator, **options) -> Verdict:
    """Along random directions (a few calls); entry by entry only when that fails, to say where."""
    verdict = check_projections(name, f, x, dout, analytic, rng=rng, **options)
    return verdict if verdict.passed else check_vjp(name, f, x, dout, analytic, rng=rng, **options)


TIE_GAP = 1e-3
"""Smallest gap between the entries of a pooling input: far beyond the step of the differences,
so no window's maximum changes hands within it (ties are checked on their own)."""


def _fits(w: np.ndarray, x: np.ndarray, param: dict) -> bool:
    """Does the (dilated) kernel fit the padded input?"""
    d, pad = param.get("dilation", 1), param["pad"]
    return all(d * (w.shape[a] - 1) + 1 <= x.shape[a] + 2 * pad for a in (2, 3))


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return np.shape(a) == np.shape(b) and bool(np.allclose(a, b, rtol=1e-9, atol=1e-12))


def _conv_forward(kind: str) -> Callable[[Context], list[Verdict]]:
    name = f"conv_forward_{kind}"

    def run(ctx: Context) -> list[Verdict]:
        forward = ctx.fn(name)
        rng = ctx.rng(name)
        verdicts: list[Verdict] = []
        for x_shape, w_shape, param in _conv_cases(ctx, kind):
            x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
            where = f"{name}, x {x_shape}, w {w_shape}, {param}"
            verdicts += guarded(where, lambda x=x, w=w, b=b, p=param, where=where:
                                [_forward_case(where, forward, x, w, b, p)])
        verdicts += guarded(f"{name} keeps float32", lambda: [_conv_float32(name, forward, None, rng)])
        return verdicts

    return run


def _forward_case(where: str, forward: Callable, x, w, b, param) -> Verdict:
    d = param.get("dilation", 1)
    expected = (x.shape[0], w.shape[0], *(_size(x.shape[a], w.shape[a], param["stride"], param["pad"], d)
                                          for a in (2, 3)))
    out = np.asarray(forward(x.copy(), w.copy(), b.copy(), dict(param))[0])
    if out.shape != expected:
        for key, change, words in (
            ("stride-ignored", {"stride": 1}, "the stride is ignored: windows start every S·i, not at every i"),
            ("padding-ignored", {"pad": 0}, "the padding is ignored: pad x with P zeros on each side first"),
        ):
            if param[next(iter(change))] != next(iter(change.values())) and \
                    _fits(w, x, {**param, **change}) and _close(out, definition(x, w, b, {**param, **change})):
                return Verdict(where, False, np.inf, 0.0, "shape", mistake=key,
                               diagnosis=f"out has shape {out.shape}, expected {expected}: {words}")
        return Verdict(where, False, np.inf, 0.0, "shape", mistake="wrong-output-size",
                       diagnosis=f"out has shape {out.shape}, expected {expected}: H' = 1 + (H + 2P − d(HH − 1) − 1)/S")
    truth = definition(x, w, b, param)
    error = float(np.max(np.abs(out - truth)) / max(1e-300, float(np.max(np.abs(truth)))))
    if error <= 1e-9:
        return Verdict(where, True, error, 1e-9, "against the layer's definition")
    mistake, diagnosis = "wrong-output", ""
    if _close(out, definition(x, w[:, :, ::-1, ::-1], b, param)):
        mistake, diagnosis = "kernel-flipped", ("out equals the correlation with the kernel turned by 180°: the "
                                                "layer is a cross-correlation, index w[f, c, k, l] without flipping")
    elif _close(out, definition(x, w, np.zeros_like(b), param)):
        mistake, diagnosis = "bias-missing", ("out equals the layer without its bias: add b[f] to every output "
                                              "of filter f")
    elif param["stride"] != 1 and _close(out, definition(x, w, b, {**param, "stride": 1})[:, :, :out.shape[2],
                                                                                          :out.shape[3]]):
        mistake, diagnosis = "stride-ignored", ("the output size is right, but window (i, j) starts at row i, "
                                                "column j: with stride S it starts at S·i, S·j")
    else:
        worst = np.unravel_index(int(np.argmax(np.abs(out - truth))), out.shape)
        diagnosis = (f"on x of shape {x.shape}, w {w.shape}, {param}: out[{', '.join(map(str, worst))}] is "
                     f"{out[worst]:.6g}, the definition gives {truth[worst]:.6g} "
                     "(b[f] + Σ_{c,k,l} xpad[n, c, S·i + k, S·j + l]·w[f, c, k, l])")
    return Verdict(where, False, error, 1e-9, "against the layer's definition", mistake=mistake, diagnosis=diagnosis)


def _conv_float32(name: str, forward: Callable, backward: Callable | None, rng: np.random.Generator) -> Verdict:
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((1, 2, 5, 5), (2, 2, 3, 3), (2,)))
    out, cache = forward(x, w, b, {"stride": 1, "pad": 1})
    arrays = [out, *(backward(np.ones_like(out), cache) if backward else ())]
    dtypes = [np.asarray(a).dtype for a in arrays]
    passed = all(t == np.float32 for t in dtypes)
    return Verdict(name + " keeps float32", passed, 0.0, 0.0, "dtype", mistake="" if passed else "dtype-changed",
                   detail=f"dtypes: {', '.join(map(str, dtypes))}")


def _per_sample(forward: Callable, w, b, param) -> Callable[[np.ndarray], np.ndarray]:
    """x ↦ out, also for a stack of inputs (a leading axis): convolution acts on each sample alone."""
    def f(x: np.ndarray) -> np.ndarray:
        lead, sample = x.shape[:-4], x.shape[-4:]
        out = np.asarray(forward(x.reshape(-1, *sample[1:]), w, b, param)[0])
        return out.reshape(*lead, sample[0], *out.shape[1:])

    return f


def _conv_backward(kind: str) -> Callable[[Context], list[Verdict]]:
    name = f"conv_backward_{kind}"

    def run(ctx: Context) -> list[Verdict]:
        forward, backward = ctx.fn(f"conv_forward_{kind}"), ctx.fn(name)
        rng = ctx.rng(name)
        verdicts: list[Verdict] = []
        for x_shape, w_shape, param in _conv_cases(ctx, kind):
            x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
            where = f"x {x_shape}, w {w_shape}, {param}"
            verdicts += guarded(f"{name}, {where}", lambda x=x, w=w, b=b, p=param, where=where:
                                _gradients(name, where, forward, backward, ctx.reference, x, w, b, p, rng))
        verdicts += guarded(f"{name} keeps float32", lambda: [_conv_float32(name, forward, backward, rng)])
        return verdicts

    return run


def _gradients(name: str, where: str, forward: Callable, backward: Callable, reference: ModuleType, x, w, b, param,
               rng: np.random.Generator) -> list[Verdict]:
    out, cache = forward(x.copy(), w.copy(), b.copy(), dict(param))
    dout = rng.standard_normal(np.shape(out))
    dx, dw, db = (np.asarray(g) for g in backward(dout.copy(), cache))
    verdicts = [
        _gradient(f"{name} dx, {where}", _per_sample(forward, w, b, param), x, dout, dx, rng),
        _gradient(f"{name} dw, {where}", lambda ww: forward(x, ww, b, param)[0], w, dout, dw, rng),
        _gradient(f"{name} db, {where}", lambda bb: forward(x, w, bb, param)[0], b, dout, db, rng),
    ]
    if all(v.passed for v in verdicts) or np.shape(out) != np.shape(dout):
        return verdicts

    def truth(weights: np.ndarray) -> tuple[np.ndarray, ...]:
        return reference.conv_backward_fast(dout, reference.conv_forward_fast(x, weights, b, param)[1])

    (true_dx, true_dw, _), (flipped_dx, _, _) = truth(w), truth(w[:, :, ::-1, ::-1])
    pad = param["pad"]
    named = [
        (0, pad > 0 and dx.shape == (*x.shape[:2], x.shape[2] + 2 * pad, x.shape[3] + 2 * pad),
         "dx-not-cropped", f"dx has the padded input's shape {dx.shape}: crop the padding, "
         "dx = dxpad[:, :, P:P + H, P:P + W]"),
        (0, pad == 0 and dx.ndim == 4 and 0 in dx.shape[2:], "dx-crop-empty",
         f"dx has shape {dx.shape} for pad = 0: dxpad[:, :, P:-P, P:-P] is empty when P = 0 (-0 is 0); crop "
         "with dxpad[:, :, P:P + H, P:P + W]"),
        (0, _close(dx, flipped_dx[:, :, :, :]) and not _close(dx, true_dx), "dx-kernel-not-flipped",
         "dx scatters dout through the filter without turning it: dxpad[n, c, S·i + k, S·j + l] += "
         "dout[n, f, i, j]·w[f, c, k, l] (a full convolution with the 180°-rotated filter)"),
        (1, _close(dw, true_dw[:, :, ::-1, ::-1]), "dw-flipped",
         "dw is the right gradient turned by 180°: dw[f, c, k, l] = Σ dout[n, f, i, j]·xpad[n, c, S·i + k, "
         "S·j + l], no flip"),
        (2, db.shape != b.shape, "db-wrong-axes", f"db has shape {db.shape}, expected {b.shape}: sum dout over the "
         "batch and both spatial axes, db = dout.sum(axis=(0, 2, 3))"),
    ]
    for k, found, key, words in named:
        if found and not verdicts[k].passed:
            verdicts[k] = replace(verdicts[k], mistake=key, diagnosis=words)
    return verdicts


def _pool_forward(kind: str) -> Callable[[Context], list[Verdict]]:
    name = f"max_pool_forward_{kind}"

    def run(ctx: Context) -> list[Verdict]:
        forward = ctx.fn(name)
        rng = ctx.rng(name)
        verdicts: list[Verdict] = []
        for shape, param in _pool_cases(ctx):
            x = rng.standard_normal(shape)
            where = f"{name}, x {shape}, {param}"

            def case(x=x, param=param, where=where) -> list[Verdict]:
                out, truth = np.asarray(forward(x.copy(), dict(param))[0]), window_maxima(x, param)
                if out.shape != truth.shape:
                    return [Verdict(where, False, np.inf, 0.0, "shape", mistake="wrong-output-size",
                                    diagnosis=f"out has shape {out.shape}, expected {truth.shape}: "
                                    "H' = 1 + (H − HH)/S, W' = 1 + (W − WW)/S")]
                passed = _close(out, truth)
                mistake, words = ("", "") if passed else ("wrong-output", "")
                if not passed and _close(out, window_maxima(x, param, np.mean)):
                    mistake, words = "average-not-max", "out is the mean of each window: max pooling takes its maximum"
                return [Verdict(where, passed, float(np.max(np.abs(out - truth))), 0.0, "against the window maxima",
                                mistake=mistake, diagnosis=words)]

            verdicts += guarded(where, case)
        verdicts += guarded(f"{name} keeps float32", lambda: [_pool_float32(name, forward, None, rng)])
        return verdicts

    return run


def _pool_float32(name: str, forward: Callable, backward: Callable | None, rng: np.random.Generator) -> Verdict:
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    out, cache = forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    arrays = [out, *((backward(np.ones_like(out), cache),) if backward else ())]
    dtypes = [np.asarray(a).dtype for a in arrays]
    passed = all(t == np.float32 for t in dtypes)
    return Verdict(name + " keeps float32", passed, 0.0, 0.0, "dtype", mistake="" if passed else "dtype-changed",
                   detail=f"dtypes: {', '.join(map(str, dtypes))}")


def _pool_backward(kind: str) -> Callable[[Context], list[Verdict]]:
    name = f"max_pool_backward_{kind}"

    def run(ctx: Context) -> list[Verdict]:
        forward, backward = ctx.fn(f"max_pool_forward_{kind}"), ctx.fn(name)
        rng = ctx.rng(name)
        verdicts: list[Verdict] = []
        for shape, param in _pool_cases(ctx):
            x = without_ties(rng.standard_normal(shape), TIE_GAP)
            where = f"{name} dx, x {shape}, {param}"

            def case(x=x, param=param, where=where) -> list[Verdict]:
                out, cache = forward(x.copy(), dict(param))
                dout = rng.standard_normal(np.shape(out))
                dx = np.asarray(backward(dout.copy(), cache))
                verdict = _gradient(where, lambda xx: forward(xx, param)[0], x, dout, dx, rng, method="central")
                if not verdict.passed and _close(dx, _spread(dout, x.shape, param)):
                    verdict = replace(verdict, mistake="gradient-averaged", diagnosis=(
                        "dx spreads dout / (HH·WW) over every entry of a window (average pooling's gradient): "
                        "send all of dout to the window's maximum"))
                elif not verdict.passed and _close(dx, _spread(dout, x.shape, param, whole=True)):
                    verdict = replace(verdict, mistake="gradient-everywhere", diagnosis=(
                        "dx sends all of dout to every entry of each window: only the window's maximum "
                        "contributed to the output, so only it receives dout"))
                return [verdict]

            verdicts += guarded(where, case)
        verdicts += guarded(f"{name} tie rule", lambda: [_ties(name, forward, backward)])
        verdicts += guarded(f"{name} keeps float32", lambda: [_pool_float32(name, forward, backward, rng)])
        return verdicts

    return run


def _spread(dout: np.ndarray, shape: tuple[int, ...], param: dict, whole: bool = False) -> np.ndarray:
    """Average pooling's gradient: dout / (HH·WW) added to every entry of each window (``whole``:
    all of dout to every entry)."""
    hh, ww, stride = param["pool_height"], param["pool_width"], param["stride"]
    share = dout if whole else dout / (hh * ww)
    dx = np.zeros(shape)
    for k in range(hh):
        for l in range(ww):
            dx[:, :, k:k + stride * dout.shape[2]:stride, l:l + stride * dout.shape[3]:stride] += share
    return dx


def _ties(name: str, forward: Callable, backward: Callable) -> Verdict:
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    _, cache = forward(np.zeros((1, 1, 4, 4)), param)
    dx = np.asarray(backward(np.ones((1, 1, 2, 2)), cache))
    first = np.zeros((1, 1, 4, 4))
    first[..., ::2, ::2] = 1
    passed = np.array_equal(dx, first)
    all_ties = dx.shape == first.shape and np.array_equal(dx, np.ones_like(first))
    return Verdict(f"{name} tie rule: the first largest entry takes the gradient", passed,
                   float(np.max(np.abs(dx - first))) if dx.shape == first.shape else np.inf, 0.0, "exact",
                   mistake="ties-all-routed" if all_ties else ("" if passed else "wrong-output"),
                   diagnosis="" if passed else "with all-zero windows only each window's first (top-left) entry "
                   "may receive dout; sending it to every tied entry counts the gradient several times")


CONV = LayerChecks(
    "conv",
    tuple(check for kind in ("naive", "fast") for check in (
        FunctionCheck(f"conv_forward_{kind}", _conv_forward(kind)),
        FunctionCheck(f"conv_backward_{kind}", _conv_backward(kind), needs=(f"conv_forward_{kind}",)),
    )),
    CONV_MISTAKES,
)

MAXPOOL = LayerChecks(
    "maxpool",
    tuple(check for kind in ("naive", "fast") for check in (
        FunctionCheck(f"max_pool_forward_{kind}", _pool_forward(kind)),
        FunctionCheck(f"max_pool_backward_{kind}", _pool_backward(kind), needs=(f"max_pool_forward_{kind}",)),
    )),
    POOL_MISTAKES,
)


def _run(entry: LayerChecks, functions: dict[str, Callable], seed: int, options: dict) -> list[Verdict]:
    context = Context(SimpleNamespace(**functions), None, None, seed, options)  # type: ignore[arg-type]
    return [v for check in entry.functions if check.name in functions for v in check.run(context)]


def check_conv(forward: Callable, backward: Callable, seed: int = 0, cases: tuple[Case, ...] | None = None,
               dilation: bool = True) -> list[Verdict]:
    """Every check of a convolution forward/backward pair at hand (run in this process), on
    :data:`CONV_CASES` (with ``dilation``, also :data:`DILATED_CASE`) or on ``cases``."""
    functions = {"conv_forward_fast": forward, "conv_backward_fast": backward}
    return _run(CONV, functions, seed, {"conv_cases": cases, "dilation": dilation})


def check_maxpool(forward: Callable, backward: Callable, seed: int = 0, cases: tuple | None = None) -> list[Verdict]:
    """Every check of a max-pooling forward/backward pair at hand (run in this process)."""
    functions = {"max_pool_forward_fast": forward, "max_pool_backward_fast": backward}
    return _run(MAXPOOL, functions, seed, {"pool_cases": cases})
