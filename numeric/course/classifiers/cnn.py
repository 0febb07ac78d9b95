r"""The course's three-layer convolutional network, on this package's layers.

.. math:: \text{conv} \to \text{relu} \to \text{2×2 max pool} \to \text{affine} \to \text{relu}
          \to \text{affine} \to \text{softmax}

on inputs of shape (N, C, H, W). The convolution keeps the spatial size (stride 1, padding
(filter_size − 1)/2, so filter_size must be odd); the pooling halves it. Weights are drawn as
``weight_scale * np.random.randn`` in the order W1, W2, W3 (biases zero), as the notebooks do;
the loss adds :math:`\tfrac12 \lambda \sum_l \lVert W_l \rVert^2`.
"""

import numpy as np

from ..layer_utils import affine_relu_backward, affine_relu_forward, conv_relu_pool_backward, conv_relu_pool_forward
from ..layers import LayergradError, affine_backward, affine_forward, softmax_loss

__all__ = ["ThreeLayerConvNet"]


class ThreeLayerConvNet:
    """``params`` (``W1``…``b3``) and ``loss(X, y=None)``: scores, or ``(loss, grads)``."""

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0, dtype=np.float32):
        if len(input_dim) != 3:
            raise LayergradError(f"input_dim must be (C, H, W), got {input_dim!r}")
        C, H, W = input_dim
        if filter_size % 2 != 1:
            raise LayergradError(f"filter_size must be odd (the padding (filter_size - 1) / 2 keeps the size), "
                                 f"got {filter_size}")
        if H % 2 or W % 2:
            raise LayergradError(f"the 2×2 pooling needs an even height and width, got {H}×{W}")
        self.reg = float(reg)
        self.dtype = np.dtype(dtype)
        self.filter_size = filter_size
        self.params = {
            "W1": weight_scale * np.random.randn(num_filters, C, filter_size, filter_size),
            "b1": np.zeros(num_filters),
            "W2": weight_scale * np.random.randn(num_filters * (H // 2) * (W // 2), hidden_dim),
            "b2": np.zeros(hidden_dim),
            "W3": weight_scale * np.random.randn(hidden_dim, num_classes),
            "b3": np.zeros(num_classes),
        }
        for name, value in self.params.items():
            self.params[name] = value.astype(self.dtype)

    def loss(self, X, y=None):
        """Scores for ``X`` (no ``y``), or ``(loss, grads)`` for a labelled batch."""
        X = np.asarray(X).astype(self.dtype, copy=False)
        conv_param = {"stride": 1, "pad": (self.filter_size - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        p = self.params
        pooled, pool_cache = conv_relu_pool_forward(X, p["W1"], p["b1"], conv_param, pool_param)
        hidden, hidden_cache = affine_relu_forward(pooled, p["W2"], p["b2"])
        scores, scores_cache = affine_forward(hidden, p["W3"], p["b3"])
        if y is None:
            return scores
        data_loss, dscores = softmax_loss(scores, y)
        loss = data_loss + 0.5 * self.reg * sum(float(np.sum(p[w] * p[w])) for w in ("W1", "W2", "W3"))
        grads = {}
        dhidden, grads["W3"], grads["b3"] = affine_backward(dscores, scores_cache)
        dpooled, grads["W2"], grads["b2"] = affine_relu_backward(dhidden, hidden_cache)
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dpooled, pool_cache)
        for w in ("W1", "W2", "W3"):
            grads[w] = grads[w] + self.reg * p[w]
        return loss, grads
