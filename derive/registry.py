"""The table of layers: one entry per layer, read by every consumer.

The CLI's ``derive`` command, the exporter, the checker and the sheets all iterate over
:data:`LAYERS`, so a layer added here appears everywhere at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import conv, dropout, pool
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
    )
}


def layer(name: str) -> Layer:
    """The registered layer called ``name``."""
    try:
        return LAYERS[name]
    except KeyError:
        known = ", ".join(sorted(LAYERS))
        raise LayergradError(f"unknown layer {name!r}; known layers: {known}") from None
