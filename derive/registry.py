"""The table of layers: one entry per layer, read by every consumer.

The CLI's ``derive`` command, the exporter, the checker and the sheets all iterate over
:data:`LAYERS`, so a layer added here appears everywhere at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import affine, batchnorm, conv, dropout, pool, relu, softmax, svm
from .choices import LAYER_NAMES
from .derivation import Derivation
from .errors import LayergradError

__all__ = ["LAYERS", "Layer", "layer"]


@dataclass(frozen=True)
class Layer:
    """A layer: its name, a one-line summary, its derivations and its course-API functions."""

    name: str
    summary: str
    derivations: Callable[..., list[Derivation]]
    api: tuple[str, ...]


LAYERS: dict[str, Layer] = {
    entry.name: entry
    for entry in (
        Layer(
            "dropout",
            "masked product H = D ⊙ Y (/q), both conventions, moments, zero-out, Baldi–Sadowski",
            dropout.derivations,
            ("dropout_forward", "dropout_backward"),
        ),
        Layer(
            "conv",
            "convolution: Quiz 8's 3×3 ∗ 2×2 example (--example quiz) and the general N, C, H, W, F, "
            "HH, WW, stride, padding, dilation layer; backward as a full / strided transposed convolution",
            conv.derivations,
            ("conv_forward_naive", "conv_backward_naive", "conv_forward_fast", "conv_backward_fast"),
        ),
        Layer(
            "maxpool",
            "max pooling as a masked product: the argmax indicator routes the gradient (tie rule stated)",
            pool.derivations,
            ("max_pool_forward_naive", "max_pool_backward_naive", "max_pool_forward_fast",
             "max_pool_backward_fast"),
        ),
        Layer(
            "affine",
            "H = X·W + 1_N·b on flattened inputs; ∂L/∂X = G·Wᵀ, ∂L/∂W = Xᵀ·G, ∂L/∂b = 1_Nᵀ·G",
            affine.derivations,
            ("affine_forward", "affine_backward"),
        ),
        Layer(
            "relu",
            "H = max(0, X) = X ⊙ [X > 0]; ∂L/∂X = ∂L/∂H ⊙ [X > 0], subgradient 0 at the kink",
            relu.derivations,
            ("relu_forward", "relu_backward"),
        ),
        Layer(
            "softmax",
            "cross-entropy through the log-sum-exp, stable shift; ∂L/∂s = (softmax(s) − onehot(y))/N",
            softmax.derivations,
            ("softmax_loss",),
        ),
        Layer(
            "svm",
            "multiclass hinge loss with margin 1; gradient from the classes inside the margin",
            svm.derivations,
            ("svm_loss",),
        ),
        Layer(
            "batchnorm",
            "Y = γ (X − μ)/√(σ² + ε) + β over the batch; graph, staged and closed-form backward",
            batchnorm.layer_derivations["batchnorm"],
            ("batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt"),
        ),
        Layer(
            "layernorm",
            "normalization over the features of each example, from the batchnorm derivation",
            batchnorm.layer_derivations["layernorm"],
            ("layernorm_forward", "layernorm_backward"),
        ),
        Layer(
            "spatial_batchnorm",
            "batchnorm of (N, C, H, W) per channel, over N, H and W",
            batchnorm.layer_derivations["spatial_batchnorm"],
            ("spatial_batchnorm_forward", "spatial_batchnorm_backward"),
        ),
        Layer(
            "groupnorm",
            "normalization of (N, C, H, W) over each group of C/G channels and H, W",
            batchnorm.layer_derivations["groupnorm"],
            ("spatial_groupnorm_forward", "spatial_groupnorm_backward"),
        ),
    )
}

if tuple(LAYERS) != LAYER_NAMES:  # the command line offers derive.choices.LAYER_NAMES without importing this table
    raise LayergradError(f"derive.choices.LAYER_NAMES {LAYER_NAMES} must list the registered layers {tuple(LAYERS)}")


def layer(name: str) -> Layer:
    """The registered layer called ``name``."""
    try:
        return LAYERS[name]
    except KeyError:
        known = ", ".join(sorted(LAYERS))
        raise LayergradError(f"unknown layer {name!r}; known layers: {known}") from None
