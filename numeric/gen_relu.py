r"""Generate ``relu_forward`` / ``relu_backward`` (course API) from the derivations.

Printed by the lowering (:class:`numeric.codegen.lowering.Lowering`): the output from the
layer's definition :math:`\max(0, X)` (``np.maximum(0, x)``), the mask from :math:`P = [X > 0]`
(``(x > 0)``) and the gradient from the backward derivation's result
:math:`(\partial L/\partial H \odot P)_{ij}` (``dout*mask``).
"""

from __future__ import annotations

from derive import relu
from derive.printing import text

from .codegen.lowering import Lowering
from .codegen.module import FLOATING_HELPER, GeneratedFunction, floating

__all__ = ["functions", "preamble"]


def preamble() -> list[str]:
    """Module-level helpers the ReLU functions use."""
    return [FLOATING_HELPER]


def functions() -> list[GeneratedFunction]:
    """The generated ``relu_forward`` and ``relu_backward``."""
    s = relu.symbols()
    axes = (s["i"], s["j"])
    forward, backward = relu.forward(), relu.backward()
    ranges, names = {s["i"]: relu.N, s["j"]: relu.M}, {s["X"]: "x", s["Pm"]: "mask", s["dL_dH"]: "dout"}
    out, grad = Lowering(dict(ranges), names), Lowering(dict(ranges), names)
    out.assign("out", relu.LAYER.statement.rhs, axes)
    grad.assign("mask", relu.MASK.statement.rhs, axes)
    grad.assign("dx", backward.result, axes)
    forward_source = f'''
def relu_forward(x):
    """ReLU forward pass: H = {text(relu.LAYER.statement.rhs)} entry by entry, i.e. H = X ⊙ [X > 0].

    Input: x, a floating-point array of any shape. Returns (out, cache) with cache = x.
    """
    {floating("x")}
{out.source(4)}
    return out, x
'''
    backward_source = f'''
def relu_backward(dout, cache):
    """ReLU backward pass: ∂L/∂X = {text(backward.result.parent)} with P = [X > 0] (0 at the kink X = 0).

    Inputs: dout, the upstream gradient; cache, the x given to relu_forward. Returns dx.
    """
    x = cache
    {floating("dout")}
    if dout.shape != x.shape:
        raise LayergradError(f"relu_backward: dout has shape {{dout.shape}}, expected x's shape {{x.shape}}")
{grad.source(4)}
    return dx
'''
    return [
        GeneratedFunction("relu_forward", forward_source, (forward.title,)),
        GeneratedFunction("relu_backward", backward_source, (backward.title,)),
    ]
