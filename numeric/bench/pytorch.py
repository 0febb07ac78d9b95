r"""Rows against PyTorch's CPU kernels for every layer with a PyTorch counterpart (convolution and
max pooling have theirs in :mod:`numeric.bench.conv`): the exported functions, the hand-written
NumPy of the other suites and ``torch.nn.functional`` on one thread, forward and
forward+backward, in float32 and float64, at a small size and a large one.

What each row times:

* forward: the exported ``*_forward`` (or ``softmax_loss``, which returns the loss and its
  gradient together, so it has a forward+backward row only) against the PyTorch function under
  ``torch.no_grad()``;
* forward+backward: the exported forward then backward against PyTorch's forward then
  ``.backward(dout)`` (the gradient buffers reset each call).

Dropout draws a fresh mask on every call in all three contenders (the exported layer with
NumPy's generator, PyTorch with its own): what is compared is a whole train-mode call, draw
included, with keep probability :math:`q = 0.5`.

Rates: the normalizations, ReLU and dropout are memory-bound (bytes that must cross memory: read
:math:`X`, write :math:`Y`; backward reads :math:`dY` and :math:`X` and writes :math:`dX`),
the affine layer is a matrix multiply (:math:`2ndm` operations forward, twice that backward).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import batchnorm as norm
from . import dropout, fc
from .common import exported, missing, torch_or_reason
from .core import Goal, Row, Unavailable, Work

__all__ = ["LAYERS", "rows"]

Contenders = dict[str, Callable[[], object] | Unavailable]
EPS = 1e-5


@dataclass(frozen=True)
class Layer:
    """One layer's sizes (small, large), its exported functions and how to time each contender."""

    name: str
    sizes: tuple[tuple[int, ...], tuple[int, ...]]
    forward_row: bool = True
    memory_passes: tuple[int, int] = (2, 5)
    """Arrays of the input's size read or written: forward, forward+backward."""


LAYERS = {
    "batchnorm": Layer("batchnorm", ((100, 500), (4096, 1024))),
    "layernorm": Layer("layernorm", ((100, 500), (4096, 1024))),
    "groupnorm": Layer("groupnorm", ((2, 6, 4, 5), (32, 64, 32, 32))),
    "dropout": Layer("dropout", ((100, 500), (4096, 1024)), memory_passes=(3, 5)),
    "relu": Layer("relu", ((100, 500), (4096, 1024)), memory_passes=(2, 5)),
    "affine": Layer("affine", ((100, 500, 100), (4096, 1024, 1024))),
    "softmax": Layer("softmax", ((50, 10), (4096, 1000)), forward_row=False, memory_passes=(1, 2)),
}
"""Layer → sizes: (n, d) for the row-wise layers, (N, C, H, W) for group norm (G = 2 and 8),
(n, d, m) for affine, (n, classes) for the softmax cross-entropy loss."""

GOALS = {("batchnorm", 0): 1.3, ("batchnorm", 1): 1.0, ("layernorm", 0): 1.3, ("layernorm", 1): 1.0}
"""(layer, size index) → bound on generated/PyTorch, forward+backward, float64."""


def _groups(shape: tuple[int, ...]) -> int:
    return 2 if shape[1] <= 8 else 8


def _numpy_contenders(layer: str, shape: tuple[int, ...], dtype: str, backward: bool,
                      rng: np.random.Generator) -> tuple[Contenders, dict[str, np.ndarray]]:
    """The exported layer and the hand-written NumPy; the arrays PyTorch gets too."""
    module = exported("keep")
    cast = {"dtype": dtype}
    if layer in ("batchnorm", "layernorm", "groupnorm", "dropout", "relu"):
        x = (3 * rng.standard_normal(shape) + 1).astype(**cast)
        dout = rng.standard_normal(shape).astype(**cast)
    if layer in ("batchnorm", "layernorm"):
        d = shape[1]
        gamma, beta = rng.standard_normal(d).astype(**cast), rng.standard_normal(d).astype(**cast)
        forward, backward_name = {"batchnorm": ("batchnorm_forward", "batchnorm_backward_alt"),
                                  "layernorm": ("layernorm_forward", "layernorm_backward")}[layer]
        axes = (0,) if layer == "batchnorm" else (1,)
        param = {"mode": "train", "eps": EPS}

        def gen_f() -> object:
            return getattr(module, forward)(x, gamma, beta, dict(param))

        def hand_f() -> object:
            return norm.hand_forward(x, gamma, beta, axes)

        arrays = {"x": x, "dout": dout, "gamma": gamma, "beta": beta}
        names = (forward, backward_name)
        if backward:
            def gen_fb() -> object:
                return getattr(module, backward_name)(dout, getattr(module, forward)(x, gamma, beta, dict(param))[1])

            def hand_fb() -> object:
                return norm.hand_backward(dout, norm.hand_forward(x, gamma, beta, axes)[1])

    elif layer == "groupnorm":
        n, c, h, w = shape
        g = _groups(shape)
        gamma = rng.standard_normal((1, c, 1, 1)).astype(**cast)
        beta = rng.standard_normal((1, c, 1, 1)).astype(**cast)
        names = ("spatial_groupnorm_forward", "spatial_groupnorm_backward")
        grouped = (n, g, c // g, h, w)

        def gen_f() -> object:
            return module.spatial_groupnorm_forward(x, gamma, beta, g, {"eps": EPS})

        def hand_f() -> object:
            out, cache = norm.hand_forward(x.reshape(grouped), 1.0, 0.0, (2, 3, 4))
            return gamma * out.reshape(shape) + beta, cache

        def hand_fb() -> object:
            _, (xc, std, z, _, axes) = hand_f()
            dz = (dout * gamma).reshape(grouped)
            dx = norm.hand_backward(dz, (xc, std, z, 1.0, axes))[0].reshape(shape)
            return dx, (dout * z.reshape(shape)).sum(axis=(0, 2, 3), keepdims=True), \
                dout.sum(axis=(0, 2, 3), keepdims=True)

        arrays = {"x": x, "dout": dout, "gamma": gamma.reshape(-1), "beta": beta.reshape(-1)}
        if backward:
            def gen_fb() -> object:
                return module.spatial_groupnorm_backward(dout, gen_f()[1])

    elif layer == "dropout":
        names = ("dropout_forward", "dropout_backward")
        param = {"mode": "train", "p": dropout.P}

        def gen_f() -> object:
            return module.dropout_forward(x, param)

        def hand_f() -> object:
            return dropout.hand_forward(x, dropout.P)

        arrays = {"x": x, "dout": dout}
        if backward:
            def gen_fb() -> object:
                return module.dropout_backward(dout, gen_f()[1])

            def hand_fb() -> object:
                return dropout.hand_backward(dout, hand_f()[1])

    elif layer == "relu":
        names = ("relu_forward", "relu_backward")

        def gen_f() -> object:
            return module.relu_forward(x)

        def hand_f() -> object:
            return fc.relu(x)

        arrays = {"x": x, "dout": dout}
        if backward:
            def gen_fb() -> object:
                return module.relu_backward(dout, gen_f()[1])

            def hand_fb() -> object:
                fc.relu(x)
                return fc.relu_grad(dout, x)

    elif layer == "affine":
        n, d, m = shape
        x = rng.standard_normal((n, d)).astype(**cast)
        w = (rng.standard_normal((d, m)) / np.sqrt(d)).astype(**cast)
        b = rng.standard_normal(m).astype(**cast)
        dout = rng.standard_normal((n, m)).astype(**cast)
        names = ("affine_forward", "affine_backward")

        def gen_f() -> object:
            return module.affine_forward(x, w, b)

        def hand_f() -> object:
            return fc.affine(x, w, b)

        arrays = {"x": x, "w": w, "b": b, "dout": dout}
        if backward:
            def gen_fb() -> object:
                return module.affine_backward(dout, gen_f()[1])

            def hand_fb() -> object:
                fc.affine(x, w, b)
                return fc.affine_grads(dout, x, w)

    else:  # softmax cross-entropy: loss and gradient in one call
        n, classes = shape
        x = rng.standard_normal(shape).astype(**cast)
        y = rng.integers(0, classes, n)
        names = ("softmax_loss",)

        def gen_f() -> object:
            return module.softmax_loss(x, y)

        def hand_f() -> object:
            return fc.softmax_loss(x, y)

        arrays = {"x": x, "y": y}
        gen_fb, hand_fb = gen_f, hand_f  # the loss and its gradient come from one call
    generated, hand = (gen_fb, hand_fb) if backward else (gen_f, hand_f)
    contenders: Contenders = {"generated": missing(module, *names) or generated, "hand-written": hand}
    return contenders, arrays


def _torch_contender(torch, layer: str, shape: tuple[int, ...], backward: bool,
                     arrays: dict[str, np.ndarray]) -> Callable[[], object]:
    F = torch.nn.functional
    t = {name: torch.from_numpy(a) for name, a in arrays.items()}
    x = t["x"]
    if layer == "batchnorm":
        def call() -> object:
            return F.batch_norm(x, None, None, t["gamma"], t["beta"], training=True, eps=EPS)
        leaves = ("x", "gamma", "beta")
    elif layer == "layernorm":
        def call() -> object:
            return F.layer_norm(x, (shape[1],), t["gamma"], t["beta"], eps=EPS)
        leaves = ("x", "gamma", "beta")
    elif layer == "groupnorm":
        groups = _groups(shape)

        def call() -> object:
            return F.group_norm(x, groups, t["gamma"], t["beta"], eps=EPS)
        leaves = ("x", "gamma", "beta")
    elif layer == "dropout":
        def call() -> object:
            return F.dropout(x, p=1 - dropout.P, training=True)
        leaves = ("x",)
    elif layer == "relu":
        def call() -> object:
            return F.relu(x)
        leaves = ("x",)
    elif layer == "affine":
        def call() -> object:
            return torch.addmm(t["b"], x, t["w"])
        leaves = ("x", "w", "b")
    else:
        def call() -> object:
            return F.cross_entropy(x, t["y"])
        leaves = ("x",)
    if not backward:
        def forward() -> object:
            with torch.no_grad():
                return call()
        return forward
    for name in leaves:
        t[name].requires_grad_(True)
    dout = t.get("dout")

    def both() -> None:
        for name in leaves:
            t[name].grad = None
        out = call()
        out.backward() if dout is None else out.backward(dout)

    return both


def _setup(layer: str, shape: tuple[int, ...], dtype: str, backward: bool) -> Contenders:
    rng = np.random.default_rng(0)
    contenders, arrays = _numpy_contenders(layer, shape, dtype, backward, rng)
    torch = torch_or_reason()
    contenders["PyTorch"] = torch if isinstance(torch, Unavailable) else \
        _torch_contender(torch, layer, shape, backward, arrays)
    return contenders


def _work(layer: Layer, shape: tuple[int, ...], dtype: str, backward: bool) -> Work:
    item = np.dtype(dtype).itemsize
    if layer.name == "affine":
        n, d, m = shape
        return Work(2.0 * n * d * m * (3 if backward else 1), "flop", limit=f"{dtype} matmul")
    passes = layer.memory_passes[1 if backward else 0]
    return Work(passes * int(np.prod(shape)) * item, "B", limit="memory copy")


def _size_text(layer: str, shape: tuple[int, ...]) -> str:
    if layer == "affine":
        return f"{shape[0]}×{shape[1]} → {shape[2]}"
    if layer == "groupnorm":
        return "×".join(map(str, shape)) + f" G{_groups(shape)}"
    return "×".join(map(str, shape))


def rows(quick: bool) -> list[Row]:
    """Every layer at both sizes, in both dtypes, forward and forward+backward; ``quick``: the small
    size's float64 forward+backward only."""
    out = []
    for layer in LAYERS.values():
        for which, shape in enumerate(layer.sizes[:1] if quick else layer.sizes):
            for dtype in ("float64",) if quick else ("float64", "float32"):
                for backward in (False, True) if layer.forward_row and not quick else (True,):
                    bound = GOALS.get((layer.name, which)) if backward and dtype == "float64" else None
                    out.append(Row(
                        name=f"{layer.name} {'forward+backward' if backward else 'forward'} vs PyTorch",
                        group=f"{layer.name}-torch", size=_size_text(layer.name, shape), dtype=dtype,
                        contenders=("generated", "hand-written", "PyTorch"), reference="PyTorch",
                        setup=lambda n=layer.name, s=shape, d=dtype, b=backward: _setup(n, s, d, b),
                        goals=(Goal("generated/PyTorch", max=bound),) if bound else (),
                        work=_work(layer, shape, dtype, backward), memory=False,
                        note="dropout vs PyTorch: every contender draws its own mask in each call"
                        if layer.name == "dropout" else None,
                    ))
    return out
