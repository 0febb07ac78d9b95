r"""Batch normalization and its family: batch, layer, spatial batch and group normalization.

Each normalizes :math:`x` over some axes :math:`R` (:math:`M` entries),
:math:`Z = (x - \mu_R)/\sqrt{\sigma^2_R + \varepsilon}` with the biased variance, then
:math:`Y = \gamma Z + \beta`; its gradients are :math:`\partial L/\partial\beta = \sum dY`,
:math:`\partial L/\partial\gamma = \sum dY \odot Z` and, with :math:`dZ = \gamma\, dY`,

.. math:: \frac{\partial L}{\partial x} = \frac{1}{M\sqrt{\sigma^2+\varepsilon}}
          \Big(M\,dZ - \sum_R dZ - Z \sum_R dZ \odot Z\Big).

Batch norm (and spatial batch norm) also keep running statistics,
running = momentum·running + (1 − momentum)·batch, starting at zero and written back into
``bn_param``; test mode normalizes with them. Known mistakes are reproduced by :func:`normalize`
and :func:`gradients` with one thing changed (the axes, the variance's divisor, where ε goes,
the momentum's weights, a missing term), so a module whose outputs equal one of them is told
which. Cases: a small one, the notebooks' sizes, a feature of variance 1e-4 (where ε matters,
about 10 %), and test mode with running statistics. ``batchnorm_backward_alt`` (the closed
form) is also checked to second order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..gradcheck import Verdict, check_second_order
from .compare import Case, Gradient, Spec, Wrong, entry, fresh, frozen
from .corners import Parameter, corners
from .spec import Context, guarded

__all__ = ["BATCHNORM", "FAMILIES", "GROUPNORM", "LAYERNORM", "SPATIAL_BATCHNORM", "gradients", "normalize"]

EPS = 1e-5
MOMENTUM = 0.9


@dataclass(frozen=True)
class Family:
    """Where a member of the family normalizes, and how it is called."""

    name: str
    forward: str
    backward: tuple[str, ...]
    param: str
    axes: Callable[[tuple[int, ...], int], tuple[tuple[int, ...], tuple[int, ...]]]
    """(shape of x, G) → (shape to view x in, axes of that view reduced over)."""
    running: bool
    groups: bool = False

    def call(self, fn: Callable, i: dict):
        extra = (i["G"],) if self.groups else ()
        return fn(i["x"], i["gamma"], i["beta"], *extra, i["param"])


def _rows(shape, _):  # batch norm: over the batch axis
    return shape, (0,)


def _features(shape, _):  # layer norm: over the features of each example
    return shape, (1,)


def _spatial(shape, _):  # spatial batch norm: per channel, over N, H, W
    return shape, (0, 2, 3)


def _grouped(shape, groups):  # group norm: per example and group of channels
    n, c, h, w = shape
    return (n, groups, c // groups, h, w), (2, 3, 4)


def _interleaved(shape, groups):  # group norm's axis mistake: channel c in group c mod G
    n, c, h, w = shape
    return (n, c // groups, groups, h, w), (1, 3, 4)


BN = Family("batchnorm", "batchnorm_forward", ("batchnorm_backward", "batchnorm_backward_alt"), "bn_param",
            _rows, running=True)
LN = Family("layernorm", "layernorm_forward", ("layernorm_backward",), "ln_param", _features, running=False)
SBN = Family("spatial_batchnorm", "spatial_batchnorm_forward", ("spatial_batchnorm_backward",), "bn_param",
             _spatial, running=True)
GN = Family("groupnorm", "spatial_groupnorm_forward", ("spatial_groupnorm_backward",), "gn_param", _grouped,
            running=False, groups=True)


def normalize(f: Family, i: dict, *, axes: tuple[int, ...] | None = None, ddof: int = 0, eps: float | None = None,
              eps_outside: bool = False, swapped: bool = False, batch_at_test: bool = False) -> dict:
    """What ``f``'s forward outputs (with one thing changed, for a known mistake)."""
    x, param = i["x"], i["param"]
    eps = param.get("eps", EPS) if eps is None else eps
    view, reduce = f.axes(x.shape, i.get("G", 1))
    reduce = reduce if axes is None else axes
    xv = x.reshape(view)
    count = int(np.prod([view[a] for a in reduce]))
    test = f.running and param.get("mode") == "test" and not batch_at_test
    if test:
        shape = [1] * x.ndim
        shape[1 if x.ndim == 4 else -1] = -1
        mean = param["running_mean"].reshape(shape)
        var = param["running_var"].reshape(shape)
        z = (x - mean) / np.sqrt(var + eps)
    else:
        mean = xv.mean(axis=reduce, keepdims=True)
        var = ((xv - mean) ** 2).sum(axis=reduce, keepdims=True) / (count - ddof)
        std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
        z = ((xv - mean) / std).reshape(x.shape)
    out = {"out": _affine(f, z, i)}
    if f.running and axes is None:  # with other axes the running statistics are anyone's guess
        out.update(_running(i, mean, var, swapped, test or param.get("mode") == "test"))
    return out


def _affine(f: Family, z: np.ndarray, i: dict) -> np.ndarray:
    gamma, beta = i["gamma"], i["beta"]
    if z.ndim == 4 and gamma.ndim == 1:
        gamma, beta = gamma.reshape(1, -1, 1, 1), beta.reshape(1, -1, 1, 1)
    return gamma * z + beta


def _running(i: dict, mean: np.ndarray, var: np.ndarray, swapped: bool, test: bool) -> dict:
    param = i["param"]
    features = i["gamma"].shape
    old_mean = param.get("running_mean", np.zeros(features))
    old_var = param.get("running_var", np.zeros(features))
    if test:
        return {"running_mean": old_mean, "running_var": old_var}
    m = param.get("momentum", MOMENTUM)
    keep, new = (1 - m, m) if swapped else (m, 1 - m)
    return {"running_mean": keep * old_mean + new * mean.reshape(features),
            "running_var": keep * old_var + new * var.reshape(features)}


def gradients(f: Family, i: dict, *, z_term: bool = True, mean_term: bool = True, dgamma_z: bool = True,
              dbeta_axis: int | None = None, dx_gamma: bool = True) -> dict:
    """``f``'s (dx, dgamma, dbeta) by the closed form (with one thing changed, for a known mistake)."""
    x, dout = i["x"], i["dout"]
    eps = i["param"].get("eps", EPS)
    view, reduce = f.axes(x.shape, i.get("G", 1))
    count = int(np.prod([view[a] for a in reduce]))
    xv = x.reshape(view)
    mean = xv.mean(axis=reduce, keepdims=True)
    std = np.sqrt(((xv - mean) ** 2).mean(axis=reduce, keepdims=True) + eps)
    z = ((xv - mean) / std).reshape(x.shape)
    gamma = i["gamma"]
    param_axes = tuple(a for a in range(x.ndim) if a != 1)  # γ, β: one entry per feature / channel (axis 1)
    keep = gamma.ndim == x.ndim
    g = gamma.reshape(1, -1, 1, 1) if x.ndim == 4 and gamma.ndim == 1 else gamma
    dz = (dout * g if dx_gamma else dout).reshape(view)
    zv = z.reshape(view)
    inner = count * dz - (dz.sum(axis=reduce, keepdims=True) if mean_term else 0) - \
        (zv * (dz * zv).sum(axis=reduce, keepdims=True) if z_term else 0)
    dx = (inner / (count * std)).reshape(x.shape)
    dgamma = (dout * z if dgamma_z else dout).sum(axis=param_axes, keepdims=keep)
    dbeta = dout.sum(axis=param_axes if dbeta_axis is None else dbeta_axis, keepdims=keep)
    return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def _inputs(f: Family, shape: tuple[int, ...], *, scale: float = 5.0, offset: float = 12.0, groups: int = 1,
            test: bool = False, dout: bool = False, momentum: float | None = None):
    features = (1, shape[1], 1, 1) if f.groups else ((shape[1],) if len(shape) == 4 else (shape[-1],))

    def make(rng: np.random.Generator) -> dict:
        arrays = {"x": scale * rng.standard_normal(shape) + offset, "gamma": rng.standard_normal(features),
                  "beta": rng.standard_normal(features)}
        if dout:
            arrays["dout"] = rng.standard_normal(shape)
        param: dict = {"mode": "test" if test else "train"} if f.running else {}
        if momentum is not None:
            param["momentum"] = momentum
        if test:
            size = int(np.prod(features))
            param["running_mean"] = offset + scale * rng.standard_normal(size) / 3
            param["running_var"] = scale**2 * rng.uniform(0.5, 1.5, size)
        if f.groups:
            arrays["G"] = groups
        return {**frozen(**arrays), "param": param}

    return make


def _forward_outputs(f: Family):
    def outputs(fns, i):
        out, _ = f.call(fns(f.forward), i)
        result = {"out": out}
        if f.running:
            result.update(running_mean=i["param"].get("running_mean"), running_var=i["param"].get("running_var"))
        return result
    return outputs


def _backward_outputs(f: Family, backward: str):
    def outputs(fns, i):
        _, cache = f.call(fns(f.forward), i)
        dx, dgamma, dbeta = fns(backward)(i["dout"], cache)
        return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}
    return outputs


def _backward_gradients(f: Family, backward: str):
    def grads(fns, i):
        forward, back = fns(f.forward), fns(backward)

        def run(**change):
            return f.call(forward, fresh({**i, **change}))

        cache = run()[1]
        dx, dgamma, dbeta = back(i["dout"], cache)
        return [
            Gradient("dx", lambda v: run(x=v)[0], i["x"], i["dout"], np.asarray(dx),
                     lambda g: np.asarray(back(g, cache)[0])),
            Gradient("dgamma", lambda v: run(gamma=v)[0], i["gamma"], i["dout"], np.asarray(dgamma)),
            Gradient("dbeta", lambda v: run(beta=v)[0], i["beta"], i["dout"], np.asarray(dbeta)),
        ]
    return grads


def _second_order(f: Family, backward: str) -> Callable[[Context], list[Verdict]]:
    def run(ctx: Context) -> list[Verdict]:
        forward, back = ctx.fn(f.forward), ctx.fn(backward)
        rng = ctx.rng(backward, "second order")
        i = _inputs(f, (4, 5), dout=True)(rng)

        def out(v: np.ndarray) -> np.ndarray:
            return f.call(forward, fresh({**i, "x": v}))[0]

        def grad(v: np.ndarray) -> np.ndarray:
            return np.asarray(back(i["dout"], f.call(forward, fresh({**i, "x": v}))[1])[0])

        return guarded(f"{backward} second order",
                       lambda: check_second_order(f"{backward} on x (4, 5)", out, i["x"], grad, i["dout"], rng=rng))
    return run


FAMILY_PARAMETERS: dict[str, tuple[dict[str, int], tuple[Parameter, ...]]] = {
    "batchnorm": ({"N": 4, "D": 5}, (Parameter(("N",), 2), Parameter(("D",), 1))),
    "layernorm": ({"N": 4, "D": 5}, (Parameter(("N",), 1), Parameter(("D",), 2))),
    "spatial_batchnorm": ({"N": 2, "C": 3, "H": 2, "W": 3}, (Parameter(("N",), 1), Parameter(("C",), 1))),
    "groupnorm": ({"N": 2, "C": 6, "H": 2, "W": 3, "G": 2},
                  (Parameter(("N",), 1), Parameter(("G",), 1, lambda c, n: c["C"]))),
}
"""Each member's base case and declared parameters: at least two values per statistic (where
normalization is defined; a single value has variance 0 and layergrad's layers refuse it), so
N ≥ 2, D ≥ 1 for batch norm and N ≥ 1, D ≥ 2 for layer norm; N, C ≥ 1 for spatial batch norm;
1 ≤ G ≤ C groups (G dividing C) for group norm."""


def _corners(f: Family) -> tuple[tuple[str, dict], ...]:
    """The corners of ``f``'s declared domain as (label, keyword arguments of _inputs): the smallest
    batch, one feature or channel, one group and one group per channel. Their inputs have variance
    1e-4, where ε keeps the gradient well away from rounding (with two values per statistic and a
    large variance, Z = ±1 whatever x, and dx is rounding noise)."""
    base, parameters = FAMILY_PARAMETERS[f.name]

    def repair(case: dict[str, int]) -> dict[str, int] | None:
        return case if "G" not in case or case["C"] % case["G"] == 0 else None

    found = []
    for label, c in corners(base, parameters, repair):
        shape = (c["N"], c["D"]) if "D" in c else (c["N"], c["C"], c["H"], c["W"])
        groups = {"groups": c["G"]} if "G" in c else {}
        shown = f", G = {c['G']}" if groups and "G =" not in label else ""
        found.append((f"x {shape}{shown}, {label} (a corner), variance 1e-4",
                      {"shape": shape, "scale": 0.01, "offset": 1.0, **groups}))
    return tuple(found)


def _shapes(f: Family) -> tuple[tuple[str, dict], ...]:
    """(label, keyword arguments of _inputs), smallest first, then the corners."""
    if f.groups:
        return (("x (1, 4, 2, 3), G = 2", {"shape": (1, 4, 2, 3), "groups": 2}),
                ("x (2, 6, 4, 5), G = 2 (the notebooks')", {"shape": (2, 6, 4, 5), "groups": 2, "scale": 4.0,
                                                           "offset": 10.0}),
                ("x (2, 6, 4, 5), G = 3, a variance of 1e-4 (ε matters)",
                 {"shape": (2, 6, 4, 5), "groups": 3, "scale": 0.01, "offset": 1.0}), *_corners(f))
    if f.name == "spatial_batchnorm":
        return (("x (2, 2, 2, 3)", {"shape": (2, 2, 2, 3)}),
                ("x (2, 3, 4, 5) (the notebooks')", {"shape": (2, 3, 4, 5), "scale": 4.0, "offset": 10.0}),
                ("x (2, 3, 4, 5), variance 1e-4 (ε matters)", {"shape": (2, 3, 4, 5), "scale": 0.01, "offset": 1.0}),
                *_corners(f))
    return (("x (3, 7)", {"shape": (3, 7)}),
            ("x (4, 5) = 5·randn + 12 (the notebooks')", {"shape": (4, 5)}),
            ("x (6, 3), variance 1e-4 (ε matters)", {"shape": (6, 3), "scale": 0.01, "offset": 1.0}), *_corners(f))


def _wrong_axes(f: Family) -> tuple[int, ...]:
    return {"batchnorm": (1,), "layernorm": (0,), "spatial_batchnorm": (2, 3), "groupnorm": (1, 2, 3, 4)}[f.name]


def _forward_spec(f: Family) -> Spec:
    cases = [Case(f"{label}, train" if f.running else label, _inputs(f, **kw)) for label, kw in _shapes(f)]
    if f.running:
        shape = (4, 5) if f is BN else (2, 3, 4, 5)
        cases.append(Case(f"x {shape}, momentum 0.8, train", _inputs(f, shape, momentum=0.8)))
        cases.append(Case(f"x {shape}, test mode with running statistics", _inputs(f, shape, test=True)))
    wrong_axes = {"batchnorm": "normalizes each example over its features (axis 1) instead of each feature over "
                               "the batch (axis 0)",
                  "layernorm": "normalizes each feature over the batch (axis 0) instead of each example over its "
                               "features (axis 1)",
                  "spatial_batchnorm": "normalizes each example's channel over H, W only; spatial batch norm "
                                       "normalizes each channel over N, H and W",
                  "groupnorm": "normalizes over all channels of an example (layer norm) instead of within each "
                               "group of C/G channels"}[f.name]
    wrongs = [
        Wrong(f"{f.name}-wrong-axis", wrong_axes, lambda i: normalize(f, i, axes=_wrong_axes(f))),
        Wrong(f"{f.name}-unbiased-variance", "the variance is the unbiased one (divided by M − 1); normalization "
              "uses the biased variance, divided by M (np.var's default)", lambda i: normalize(f, i, ddof=1)),
        Wrong(f"{f.name}-eps-missing", "ε is missing: divide by sqrt(var + eps), which also keeps a constant "
              "feature from dividing by zero", lambda i: normalize(f, i, eps=0.0)),
        Wrong(f"{f.name}-eps-outside", "ε is added outside the square root: divide by sqrt(var + eps), not "
              "sqrt(var) + eps", lambda i: normalize(f, i, eps_outside=True)),
    ]
    if f.running:
        wrongs += [
            Wrong(f"{f.name}-momentum-swapped", "the running statistics swap the momentum's weights: running = "
                  "momentum·running + (1 − momentum)·batch", lambda i: normalize(f, i, swapped=True)),
            Wrong(f"{f.name}-batch-stats-at-test", "test mode normalizes with the batch's statistics; it must use "
                  "bn_param's running_mean and running_var", lambda i: normalize(f, i, batch_at_test=True)),
        ]
    return Spec(f.forward, tuple(cases), _forward_outputs(f), wrongs=(*_axis_mistakes(f, False), *wrongs))


def _backward_spec(f: Family, backward: str) -> Spec:
    cases = tuple(Case(f"{label}, train" if f.running else label, _inputs(f, dout=True, **kw))
                  for label, kw in _shapes(f))
    wrongs = (
        Wrong(f"{f.name}-missing-z-term", "dx misses the term −Z·Σ(dY·Z): the variance depends on x too, so "
              "dx = γ/(M·σ)·(M·dY − Σ dY − Z·Σ(dY·Z))", lambda i: gradients(f, i, z_term=False)),
        Wrong(f"{f.name}-missing-mean-term", "dx misses the term −Σ dY: the mean depends on every x, so "
              "dx = γ/(M·σ)·(M·dY − Σ dY − Z·Σ(dY·Z))", lambda i: gradients(f, i, mean_term=False)),
        Wrong(f"{f.name}-dgamma-without-z", "dgamma is Σ dout; out = γ·Z + β, so dgamma = Σ dout·Z",
              lambda i: gradients(f, i, dgamma_z=False)),
        Wrong(f"{f.name}-dbeta-wrong-axis", "dbeta sums dout over the wrong axis: β has one entry per feature, so "
              "sum over every other axis", lambda i: gradients(f, i, dbeta_axis=1)),
        Wrong(f"{f.name}-dx-without-gamma", "dx misses the factor γ: dZ = γ·dY", lambda i: gradients(f, i,
                                                                                                   dx_gamma=False)),
    )
    extra = _second_order(f, backward) if backward == "batchnorm_backward_alt" else None
    wrongs = (*_axis_mistakes(f, True), *wrongs)
    return Spec(backward, cases, _backward_outputs(f, backward), _backward_gradients(f, backward), wrongs,
                needs=(f.forward,), extra=extra, forward=_forward_outputs(f))


FAMILIES = (BN, LN, SBN, GN)
GN_INTERLEAVED = replace(GN, axes=_interleaved)

RESHAPED = ("x of shape (N, C, H, W) is reshaped to (N·H·W, C) without moving the channel axis last, so each "
            "'channel' column mixes channels and positions; move C last first: x.transpose(0, 2, 3, 1).reshape(-1, C) "
            "(and transpose the result back with .reshape(N, H, W, C).transpose(0, 3, 1, 2))")
INTERLEAVED = ("the groups are interleaved: x.reshape(N, C // G, G, H, W) puts channel c in group c mod G; group "
               "norm's groups are contiguous, x.reshape(N, G, C // G, H, W) (group g holds channels g·C/G to "
               "(g + 1)·C/G − 1)")


def _flat(i: dict) -> dict:
    """Spatial batch norm's inputs as the axis mistake sees them: (N, C, H, W) reshaped to (−1, C)."""
    c = i["x"].shape[1]
    return {**i, **{k: i[k].reshape(-1, c) for k in ("x", "dout") if k in i}}


def _reshaped_forward(i: dict) -> dict:
    out = normalize(BN, _flat(i))
    return {**out, "out": out["out"].reshape(i["x"].shape)}


def _reshaped_backward(i: dict) -> dict:
    grads = gradients(BN, _flat(i))
    return {**grads, "dx": grads["dx"].reshape(i["x"].shape)}


def _axis_mistakes(f: Family, backward: bool) -> list[Wrong]:
    """The axis mistakes named with their axes: spatial batch norm's reshape without moving C last,
    group norm's interleaved groups."""
    if f is SBN:
        return [Wrong("spatial_batchnorm-reshape-without-transpose", RESHAPED,
                      _reshaped_backward if backward else _reshaped_forward)]
    if f is GN:
        return [Wrong("groupnorm-interleaved-groups", INTERLEAVED,
                      (lambda i: gradients(GN_INTERLEAVED, i)) if backward else
                      (lambda i: normalize(GN_INTERLEAVED, i)))]
    return []


BATCHNORM, LAYERNORM, SPATIAL_BATCHNORM, GROUPNORM = (
    entry(f.name, _forward_spec(f), *(_backward_spec(f, b) for b in f.backward)) for f in FAMILIES
)
