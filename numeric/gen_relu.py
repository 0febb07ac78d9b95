r"""Generate ``relu_forward`` / ``relu_backward`` (course API) from the derivations.

The output is printed from the layer's definition :math:`\max(0, X)` (``np.maximum(0, x)``),
the mask from :math:`P = [X > 0]` (``(x > 0)``) and the gradient from the backward
derivation's matrix form :math:`\partial L/\partial H \odot P` (``dout*mask``).
"""

from __future__ import annotations

from derive import relu
from derive.dropout import Convention
from derive.printing import text

from .arraycode import grid_code, matrix_code
from .codegen import FLOATING_HELPER, GeneratedFunction

__all__ = ["functions", "preamble"]


def preamble(convention: Convention | str) -> list[str]:
    """Module-level helpers the ReLU functions use."""
    return [FLOATING_HELPER]


def functions(convention: Convention | str) -> list[GeneratedFunction]:
    """The generated ``relu_forward`` and ``relu_backward``."""
    s = relu.symbols()
    grid = [(s["i"], relu.N), (s["j"], relu.M)]
    forward, backward = relu.forward(), relu.backward()
    out = grid_code(relu.LAYER.statement.rhs, grid, {s["X"]: "x"})
    mask = grid_code(relu.MASK.statement.rhs, grid, {s["X"]: "x"})
    grad = matrix_code(backward.result, {s["Pm"]: "mask", s["dL_dH"]: "dout"})
    forward_source = f'''
def relu_forward(x):
    """ReLU forward pass: H = {text(relu.LAYER.statement.rhs)} entry by entry, i.e. H = X ⊙ [X > 0].

    Input: x, a floating-point array of any shape. Returns (out, cache) with cache = x.
    """
    x = _floating("x", x)
    out = {out}
    return out, x
'''
    backward_source = f'''
def relu_backward(dout, cache):
    """ReLU backward pass: ∂L/∂X = {text(backward.result.parent)} with P = [X > 0] (0 at the kink X = 0).

    Inputs: dout, the upstream gradient; cache, the x given to relu_forward. Returns dx.
    """
    x = cache
    dout = _floating("dout", dout)
    if dout.shape != x.shape:
        raise LayergradError(f"relu_backward: dout has shape {{dout.shape}}, expected x's shape {{x.shape}}")
    mask = {mask}
    dx = {grad}
    return dx
'''
    return [
        GeneratedFunction("relu_forward", forward_source, (forward.title,)),
        GeneratedFunction("relu_backward", backward_source, (backward.title,)),
    ]
