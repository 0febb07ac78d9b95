r"""Normalization rows: the exported backward passes against hand-written NumPy.

Batch normalization of :math:`X \in \mathbb{R}^{n \times d}` (statistics over the batch axis),
layer normalization (over the feature axis) and spatial batch normalization of
:math:`X \in \mathbb{R}^{N \times C \times H \times W}` (over :math:`N, H, W`). Contenders:

* ``generated``: the exported closed form (``batchnorm_backward_alt``, ``layernorm_backward``,
  ``spatial_batchnorm_backward``);
* ``hand-written``: the closed form written by hand,
  :math:`\partial L/\partial X = \frac{\gamma}{M s}\big(M\,dY - \sum dY - Z \sum dY \odot Z\big)`
  with :math:`s = \sqrt{\sigma^2 + \epsilon}` and :math:`M` values per statistic;
* ``staged``: for batchnorm, the exported ``batchnorm_backward`` (the chain rule node by node,
  as the course notebook asks first); for the others, the staged backward written by hand.

Each backward reads :math:`dY` and :math:`X` (or :math:`Z`) and writes :math:`dX`: its rate is
compared with the memory-copy bandwidth measured in the same rounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .common import exported, missing
from .core import Goal, Row, Unavailable, Work

__all__ = ["hand_backward", "hand_forward", "rows", "staged_backward"]

EPS = 1e-5


def hand_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, axes: tuple[int, ...]) -> tuple:
    """Normalize over ``axes``; the cache holds what either backward needs."""
    mu = x.mean(axis=axes, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(axis=axes, keepdims=True)
    std = np.sqrt(var + EPS)
    z = xc / std
    return gamma * z + beta, (xc, std, z, gamma, axes)


def _shared(axes: tuple[int, ...]) -> tuple[int, ...]:
    """Axes γ and β are shared over: the normalized ones, except for layer normalization
    (normalized over features, γ per feature, shared over the batch)."""
    return (0,) if axes == (1,) else axes


def hand_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closed form: dX = γ/(M s) · (M dY − Σ dY − Z Σ dY⊙Z), reductions over the normalized
    axes; where γ is constant along them (batchnorm), the two sums are dβ and dγ themselves."""
    _, std, z, gamma, axes = cache
    m = math.prod(dout.shape[a] for a in axes)
    shared = _shared(axes)
    if shared == axes:
        dbeta = dout.sum(axis=axes, keepdims=True)
        dgamma = (dout * z).sum(axis=axes, keepdims=True)
        dx = (gamma / (m * std)) * (m * dout - dbeta - z * dgamma)
        return dx, dgamma.reshape(-1), dbeta.reshape(-1)
    g = dout * gamma
    dx = (m * g - g.sum(axis=axes, keepdims=True) - z * (g * z).sum(axis=axes, keepdims=True)) / (m * std)
    return dx, (dout * z).sum(axis=shared), dout.sum(axis=shared)


def staged_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node by node through Y = γZ + β, Z = Xc/s, s = √(σ² + ε), σ² = mean(Xc²), Xc = X − μ, μ = mean(X)."""
    xc, std, z, gamma, axes = cache
    m = math.prod(dout.shape[a] for a in axes)
    shared = _shared(axes)
    dbeta = dout.sum(axis=shared)
    dgamma = (dout * z).sum(axis=shared)
    dz = dout * gamma
    dxc = dz / std
    dstd = -(dz * xc).sum(axis=axes, keepdims=True) / std**2
    dvar = dstd / (2 * std)
    dxc = dxc + 2 * xc * dvar / m
    dmu = -dxc.sum(axis=axes, keepdims=True)
    return dxc + dmu / m, dgamma, dbeta


_KINDS = {  # name: (normalized axes, exported forward, exported closed-form backward, exported staged)
    "batchnorm": ((0,), "batchnorm_forward", "batchnorm_backward_alt", "batchnorm_backward"),
    "layernorm": ((1,), "layernorm_forward", "layernorm_backward", None),
    "spatial_batchnorm": ((0, 2, 3), "spatial_batchnorm_forward", "spatial_batchnorm_backward", None),
}


def _setup(kind: str, shape: tuple[int, ...], dtype: str) -> dict[str, Callable[[], object] | Unavailable]:
    axes, forward, backward, staged = _KINDS[kind]
    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal(shape) + 1).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    features = shape[1]
    gamma = rng.standard_normal(features).astype(dtype)
    beta = rng.standard_normal(features).astype(dtype)
    view = (1, features, 1, 1) if len(shape) == 4 else (features,)
    _, cache = hand_forward(x, gamma.reshape(view), beta.reshape(view), axes)
    out: dict[str, Callable[[], object] | Unavailable] = {"hand-written": lambda: hand_backward(dout, cache)}
    if staged is None:
        out["staged"] = lambda: staged_backward(dout, cache)
    module = exported("keep")
    if absent := missing(module, forward, backward):
        out["generated"] = absent
    else:
        _, generated_cache = getattr(module, forward)(x, gamma, beta, {"mode": "train", "eps": EPS})
        out["generated"] = lambda: getattr(module, backward)(dout, generated_cache)
    if staged is not None:  # batchnorm: the staged contender is the exported batchnorm_backward
        if absent := missing(module, forward, staged):
            out["staged"] = absent
        else:
            _, staged_cache = getattr(module, forward)(x, gamma, beta, {"mode": "train", "eps": EPS})
            out["staged"] = lambda: getattr(module, staged)(dout, staged_cache)
    return out


def _row(kind: str, shape: tuple[int, ...], dtype: str, goals: tuple[Goal, ...]) -> Row:
    n = int(np.prod(shape))
    item = np.dtype(dtype).itemsize
    staged_from = "exported batchnorm_backward" if kind == "batchnorm" else "hand-written"
    return Row(
        name=f"{kind} backward", group="batchnorm" if kind == "batchnorm" else kind,
        size="×".join(map(str, shape)), dtype=dtype, contenders=("generated", "hand-written", "staged"),
        reference="hand-written", setup=lambda: _setup(kind, shape, dtype),
        goals=(Goal("generated/hand-written", max=1.10), *goals),
        work=Work(3 * n * item, "B", limit="memory copy"),
        note=f"{kind} backward: staged = {staged_from}",
    )


def rows(quick: bool) -> list[Row]:
    small, large = (100, 500), (4096, 1024)
    out = [_row("batchnorm", small, "float64", (Goal("staged/generated", min=3.0),))]
    if not quick:
        out += [
            _row("batchnorm", large, "float64", (Goal("staged/generated", min=1.5),)),
            _row("batchnorm", large, "float32", ()),
        ]
    out.append(_row("layernorm", small, "float64", ()))
    if not quick:
        out += [_row("layernorm", large, "float64", ()), _row("layernorm", large, "float32", ())]
    out.append(_row("spatial_batchnorm", (8, 4, 8, 8) if quick else (32, 64, 32, 32), "float64", ()))
    return out
