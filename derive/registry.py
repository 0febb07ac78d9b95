"""The table of layers: one entry per layer, read by every consumer.

The CLI's ``derive`` command, the exporter, the checker and the sheets all iterate over
:data:`LAYERS`, so a layer added here appears everywhere at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import dropout
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
    )
}


def layer(name: str) -> Layer:
    """The registered layer called ``name``."""
    try:
        return LAYERS[name]
    except KeyError:
        known = ", ".join(sorted(LAYERS))
        raise LayergradError(f"unknown layer {name!r}; known layers: {known}") from None
