r"""Generate ``affine_forward`` / ``affine_backward`` (course API) from the derivations.

The arithmetic is printed by the lowering (:class:`numeric.codegen.lowering.Lowering`) from the
matrix forms the derivations end in (:mod:`derive.affine`), each entry written as a sum over
the shared index: :math:`XW + \mathbf{1}_N b` → ``flat @ w`` plus ``b``,
:math:`G W^\top` → ``dout @ w.T``, :math:`X^\top G` → ``flat.T @ dout``,
:math:`\mathbf{1}_N^\top G` → ``dout.sum(axis=0)``. The rest is plumbing: flattening the input
to :math:`(N, D)` and back, and clear errors for arrays that do not fit together.
"""

from __future__ import annotations

import sympy as sp

from derive import affine
from derive.printing import text

from .codegen.lowering import Lowering, atom
from .codegen.module import FLOATING_HELPER, GeneratedFunction, floating

__all__ = ["functions", "preamble"]


def preamble() -> list[str]:
    """Module-level helpers the affine functions use."""
    return [FLOATING_HELPER]


def _lowered(assignments: list[tuple[str, sp.Expr]]) -> Lowering:
    """The statements ``target = entry`` for entries of matrix expressions."""
    s = affine.symbols()
    lowering = Lowering({}, {s["Xm"]: "flat", s["Wm"]: "w", s["bm"]: "b", s["dL_dH"]: "dout"})
    for target, entry in assignments:
        free = [(i, n) for i, n in zip(entry.indices, entry.parent.shape) if isinstance(i, sp.Symbol)]
        lowering.ranges |= dict(free)
        lowering.assign(target, entry, tuple(i for i, _ in free))
    return lowering


def functions() -> list[GeneratedFunction]:
    """The generated ``affine_forward`` and ``affine_backward``."""
    forward = affine.forward()
    grads = {wrt: affine.backward(wrt) for wrt in "XWb"}
    backward = _lowered([("dx", grads["X"].result), ("dw", grads["W"].result), ("db", grads["b"].result)])
    target, product = backward.lines[0].split(" = ", 1)
    backward.lines[0] = f"{target} = {atom(product)}.reshape(x.shape)"
    formulas = ", ".join(f"∂L/∂{wrt} = {text(d.result.parent)}" for wrt, d in grads.items())
    forward_source = f'''
def affine_forward(x, w, b):
    """Affine (fully connected) forward pass: H = {text(forward.result.parent)}.

    Inputs:
    - x: array of shape (N, d_1, ..., d_k); each example is flattened to D = d_1*...*d_k features.
    - w: weights, shape (D, M).
    - b: bias, shape (M,).

    Returns (out, cache): out of shape (N, M); cache = (x, w, b).
    """
    {floating("x", "w", "b")}
    if x.ndim < 2 or w.ndim != 2 or b.shape != (w.shape[1],):
        raise LayergradError(
            f"affine_forward: expected x of shape (N, ...), w (D, M), b (M,); got x {{x.shape}}, "
            f"w {{w.shape}}, b {{b.shape}}"
        )
    flat = x.reshape(x.shape[0], -1)
    if flat.shape[1] != w.shape[0]:
        raise LayergradError(
            f"affine_forward: x has {{flat.shape[1]}} features per example (shape {{x.shape}}) but w has "
            f"{{w.shape[0]}} rows; they must be equal"
        )
{_lowered([("out", forward.result)]).source(4)}
    return out, (x, w, b)
'''
    backward_source = f'''
def affine_backward(dout, cache):
    """Affine backward pass, with G = ∂L/∂H = dout and X the flattened input:

    {formulas}.

    Inputs: dout, the upstream gradient ∂L/∂H of shape (N, M); cache from affine_forward.
    Returns (dx, dw, db) with the shapes of x, w and b.
    """
    x, w, _ = cache
    {floating("dout")}
    flat = x.reshape(x.shape[0], -1)
    if dout.shape != (flat.shape[0], w.shape[1]):
        raise LayergradError(
            f"affine_backward: dout has shape {{dout.shape}}, expected {{(flat.shape[0], w.shape[1])}}"
        )
{backward.source(4)}
    return dx, dw, db
'''
    return [
        GeneratedFunction("affine_forward", forward_source, (forward.title,)),
        GeneratedFunction("affine_backward", backward_source, tuple(d.title for d in grads.values())),
    ]
