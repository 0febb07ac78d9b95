"""The names the command line offers as choices, kept free of SymPy so that a subcommand's
parser is built without importing the layers: the registered layers (:data:`derive.registry.LAYERS`
checks that it lists exactly these), the output formats (:data:`derive.render.FORMATS`) and the
worked examples of the conv layer (:data:`derive.conv.EXAMPLES`)."""

from __future__ import annotations

__all__ = ["EXAMPLES", "FORMATS", "LAYER_NAMES"]

LAYER_NAMES = ("dropout", "conv", "maxpool", "affine", "relu", "softmax", "svm", "batchnorm", "layernorm",
               "spatial_batchnorm", "groupnorm")
"""The registered layers, in the order of :data:`derive.registry.LAYERS`."""

FORMATS = ("text", "latex", "markdown", "html")
"""The output formats of :func:`derive.render.render`."""

EXAMPLES = ("quiz",)
"""The conv layer's worked examples (``layergrad derive conv --example``)."""
