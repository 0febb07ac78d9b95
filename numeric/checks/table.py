"""The checker's table: one :class:`~numeric.checks.spec.LayerChecks` entry per layer.

A layer becomes checkable by adding its entry here; the runner, the command line, the report
and the tests iterate over :data:`TABLE`.
"""

from __future__ import annotations

from derive.errors import LayergradError

from . import affine, conv, dropout, losses, norm, relu
from .spec import LayerChecks

__all__ = ["FUNCTIONS", "TABLE", "entry"]

TABLE: tuple[LayerChecks, ...] = (
    dropout.CHECKS, affine.CHECKS, relu.CHECKS, losses.CHECKS_SOFTMAX, losses.CHECKS_SVM,
    norm.BATCHNORM, norm.LAYERNORM, norm.SPATIAL_BATCHNORM, norm.GROUPNORM,
    conv.CONV, conv.MAXPOOL,
)

FUNCTIONS: dict[str, tuple[LayerChecks, object]] = {
    check.name: (layer, check) for layer in TABLE for check in layer.functions
}
"""Function name → (its layer's entry, its check)."""


def entry(layer: str) -> LayerChecks:
    """The table entry of ``layer``."""
    for checks in TABLE:
        if checks.layer == layer:
            return checks
    raise LayergradError(f"no checks for layer {layer!r}; checked layers: {', '.join(c.layer for c in TABLE)}")
