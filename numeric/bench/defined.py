r"""Defined layers (``examples/layers/*.toml``): the generated forward + backward against PyTorch's
CPU autograd of the same layer (one thread, float64; the windowed layers in float32 too), and
against NumPy written by hand where that is short (:mod:`.defined_hand`, information: how far
NumPy itself gets).

Element-wise and normalization layers run at 256×1024, the windowed and attention layers at the
course's sizes. The goal stated for defined layers is generated ≤ 1.5 × PyTorch.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import numpy as np

from .common import torch_or_reason
from .core import Goal, Row, Unavailable
from .defined_hand import HAND

__all__ = ["rows"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "layers"


@cache
def _module(name: str):
    from derive.define import define
    from numeric.defined_check import generated

    return generated(define(EXAMPLES / f"{name}.toml"))


def _torch_layers(torch):
    f = torch.nn.functional
    return {
        "rmsnorm": lambda X, g: g * X / torch.sqrt((X * X).mean(dim=1, keepdim=True) + 1e-5),
        "gelu_tanh": lambda X: f.gelu(X, approximate="tanh"),
        "gelu_erf": lambda X: f.gelu(X),
        "silu": lambda X: f.silu(X),
        "softplus": lambda X: f.softplus(X),
        "elu": lambda X: f.elu(X, alpha=1.0),
        "leaky_relu": lambda X: f.leaky_relu(X, negative_slope=0.01),
        "huber": lambda X, T: f.huber_loss(X, T, reduction="mean", delta=1.0),
        "bce_logits": lambda X, T: f.binary_cross_entropy_with_logits(X, T, reduction="mean"),
        "l2norm": lambda X: X / torch.sqrt((X * X).sum(dim=1, keepdim=True) + 1e-12),
        "attention": lambda Q, K, V: torch.softmax(Q @ K.T / math.sqrt(Q.shape[1]), dim=1) @ V,
        "depthwise_conv": lambda X, W, b: f.conv2d(X, W[:, None], b, padding=1, groups=X.shape[1]),
        "avgpool": lambda X: f.avg_pool2d(X, 2, 2),  # K = S = 2, no padding (count_include_pad moot)
        "instancenorm": lambda X, gamma, beta: (
            gamma[None, :, None, None] * (X - X.mean(dim=(2, 3), keepdim=True))
            / torch.sqrt(X.var(dim=(2, 3), keepdim=True, unbiased=False) + 1e-5) + beta[None, :, None, None]),
    }


_SHAPES = {
    "rmsnorm": [(256, 1024), (1024,)],
    "gelu_tanh": [(256, 1024)],
    "gelu_erf": [(256, 1024)],
    "silu": [(256, 1024)],
    "softplus": [(256, 1024)],
    "elu": [(256, 1024)],
    "leaky_relu": [(256, 1024)],
    "huber": [(256, 1024), (256, 1024)],
    "bce_logits": [(256, 1024), (256, 1024)],
    "l2norm": [(256, 1024)],
    "attention": [(128, 64), (128, 64), (128, 64)],
    "depthwise_conv": [(8, 16, 32, 32), (16, 3, 3), (16,)],
    "avgpool": [(8, 16, 32, 32)],
    "instancenorm": [(8, 16, 32, 32), (16,), (16,)],
}


_DATA = {"huber": 1, "bce_logits": 1}
"""Layers whose last arguments are data (targets): no gradient, in PyTorch either."""

_QUICK = {
    "rmsnorm": [(64, 256), (256,)],
    "silu": [(64, 256)],
    "attention": [(32, 16), (32, 16), (32, 16)],
    "depthwise_conv": [(2, 8, 16, 16), (8, 3, 3), (8,)],
    "avgpool": [(2, 8, 16, 16)],
}

_WINDOWED = ("depthwise_conv", "avgpool")
"""Layers also measured in float32 (the dtype kept end to end)."""


def _setup(name: str, quick: bool, dtype: str = "float64") -> dict:
    rng = np.random.default_rng(0)
    shapes = (_QUICK if quick else _SHAPES)[name]
    args = [rng.standard_normal(s).astype(dtype) for s in shapes]
    data = _DATA.get(name, 0)
    if name == "bce_logits":
        args[1] = rng.uniform(size=shapes[1])  # targets are probabilities
    module = _module(name)
    forward, backward = getattr(module, f"{name}_forward"), getattr(module, f"{name}_backward")
    out, _ = forward(*args)
    dout = rng.standard_normal(out.shape).astype(dtype)

    def generated():
        _, c = forward(*args)
        return backward(dout, c)

    contenders = {"generated": generated}
    if name in HAND:
        contenders["hand-written"] = lambda: HAND[name](*args, dout)
    torch = torch_or_reason()
    if isinstance(torch, Unavailable):
        contenders["PyTorch"] = torch
        return contenders
    layer = _torch_layers(torch)[name]
    tensors = [torch.tensor(a, requires_grad=n < len(args) - data) for n, a in enumerate(args)]
    upstream = torch.tensor(dout)

    def autograd():
        for t in tensors:
            t.grad = None
        layer(*tensors).backward(upstream)
        return [t.grad for t in tensors if t.requires_grad]

    contenders["PyTorch"] = autograd
    return contenders


def rows(quick: bool) -> list[Row]:
    names = ["rmsnorm", "silu", "attention", "depthwise_conv", "avgpool"] if quick else list(_SHAPES)
    out = []
    for name in names:
        size = "×".join(map(str, (_QUICK if quick else _SHAPES)[name][0]))
        for dtype in ("float64", "float32") if name in _WINDOWED and not quick else ("float64",):
            out.append(Row(name=f"{name} forward+backward (defined)", group="defined", size=size, dtype=dtype,
                           contenders=("generated", "hand-written", "PyTorch") if name in HAND
                           else ("generated", "PyTorch"), reference="PyTorch",
                           setup=lambda n=name, q=quick, d=dtype: _setup(n, q, d),
                           goals=(Goal("generated/PyTorch", max=1.5),), memory=False))
    return out
