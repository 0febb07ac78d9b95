r"""Sandwich layers: a few layers in a row, each ``*_forward(...) -> (out, cache)`` with its
``*_backward(dout, cache)``, as the course's ``layer_utils`` has them.

* affine–ReLU: :math:`\max(0, xW + b)`;
* affine–norm–ReLU: :math:`\max(0, \mathrm{norm}(xW + b; \gamma, \beta))` with batch or layer
  normalization (``affine_bn_relu_*`` and ``affine_ln_relu_*`` name the two);
* conv–ReLU, conv–ReLU–pool (2×2 max pooling in the course's nets), conv–batchnorm–ReLU.

The backward passes run the layers' own backward passes in reverse order (the chain rule).
"""

from .layers import (
    LayergradError,
    affine_backward,
    affine_forward,
    batchnorm_backward_alt,
    batchnorm_forward,
    conv_backward_fast,
    conv_forward_fast,
    layernorm_backward,
    layernorm_forward,
    max_pool_backward_fast,
    max_pool_forward_fast,
    relu_backward,
    relu_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)

__all__ = [
    "NORMALIZATIONS",
    "affine_bn_relu_backward",
    "affine_bn_relu_forward",
    "affine_ln_relu_backward",
    "affine_ln_relu_forward",
    "affine_norm_relu_backward",
    "affine_norm_relu_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "conv_bn_relu_backward",
    "conv_bn_relu_forward",
    "conv_relu_backward",
    "conv_relu_forward",
    "conv_relu_pool_backward",
    "conv_relu_pool_forward",
]

NORMALIZATIONS = {
    "batchnorm": (batchnorm_forward, batchnorm_backward_alt),
    "layernorm": (layernorm_forward, layernorm_backward),
}
"""``normalization`` → (forward, backward) of the normalization layer."""


def affine_relu_forward(x, w, b):
    """Affine then ReLU; returns (out, cache)."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Backward pass of affine–ReLU; returns (dx, dw, db)."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def _normalization(normalization):
    if normalization not in NORMALIZATIONS:
        raise LayergradError(f"unknown normalization {normalization!r}; expected one of {', '.join(NORMALIZATIONS)}")
    return NORMALIZATIONS[normalization]


def affine_norm_relu_forward(x, w, b, gamma, beta, norm_param, normalization="batchnorm"):
    """Affine, then batch or layer normalization (``normalization``), then ReLU; returns (out, cache)."""
    forward, _ = _normalization(normalization)
    a, fc_cache = affine_forward(x, w, b)
    an, norm_cache = forward(a, gamma, beta, norm_param)
    out, relu_cache = relu_forward(an)
    return out, (fc_cache, norm_cache, relu_cache, normalization)


def affine_norm_relu_backward(dout, cache):
    """Backward pass of affine–norm–ReLU; returns (dx, dw, db, dgamma, dbeta)."""
    fc_cache, norm_cache, relu_cache, normalization = cache
    _, backward = _normalization(normalization)
    dan, dgamma, dbeta = backward(relu_backward(dout, relu_cache), norm_cache)
    dx, dw, db = affine_backward(dan, fc_cache)
    return dx, dw, db, dgamma, dbeta


def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    """Affine–batchnorm–ReLU; returns (out, cache)."""
    return affine_norm_relu_forward(x, w, b, gamma, beta, bn_param, "batchnorm")


def affine_bn_relu_backward(dout, cache):
    """Backward pass of affine–batchnorm–ReLU; returns (dx, dw, db, dgamma, dbeta)."""
    return affine_norm_relu_backward(dout, cache)


def affine_ln_relu_forward(x, w, b, gamma, beta, ln_param):
    """Affine–layernorm–ReLU; returns (out, cache)."""
    return affine_norm_relu_forward(x, w, b, gamma, beta, ln_param, "layernorm")


def affine_ln_relu_backward(dout, cache):
    """Backward pass of affine–layernorm–ReLU; returns (dx, dw, db, dgamma, dbeta)."""
    return affine_norm_relu_backward(dout, cache)


def conv_relu_forward(x, w, b, conv_param):
    """Convolution then ReLU; returns (out, cache)."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache):
    """Backward pass of conv–ReLU; returns (dx, dw, db)."""
    conv_cache, relu_cache = cache
    return conv_backward_fast(relu_backward(dout, relu_cache), conv_cache)


def conv_bn_relu_forward(x, w, b, gamma, beta, conv_param, bn_param):
    """Convolution, spatial batch normalization, ReLU; returns (out, cache)."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    an, bn_cache = spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout, cache):
    """Backward pass of conv–batchnorm–ReLU; returns (dx, dw, db, dgamma, dbeta)."""
    conv_cache, bn_cache, relu_cache = cache
    dan, dgamma, dbeta = spatial_batchnorm_backward(relu_backward(dout, relu_cache), bn_cache)
    dx, dw, db = conv_backward_fast(dan, conv_cache)
    return dx, dw, db, dgamma, dbeta


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    """Convolution, ReLU, max pooling; returns (out, cache)."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout, cache):
    """Backward pass of conv–ReLU–pool; returns (dx, dw, db)."""
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward_fast(dout, pool_cache)
    return conv_backward_fast(relu_backward(ds, relu_cache), conv_cache)
