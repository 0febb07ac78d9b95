"""The course's ``fast_layers`` names: the vectorized convolution and max pooling of ``layers``."""

from .layers import conv_backward_fast, conv_forward_fast, max_pool_backward_fast, max_pool_forward_fast

__all__ = ["conv_backward_fast", "conv_forward_fast", "max_pool_backward_fast", "max_pool_forward_fast"]
