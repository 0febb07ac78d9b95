r"""Generate ``softmax_loss(x, y) -> (loss, dx)`` (course API) from the derivations.

Every line of arithmetic is printed by the lowering (:class:`numeric.codegen.lowering.Lowering`)
from :mod:`derive.softmax`, with :math:`i` the examples and :math:`j` the classes: the one-hot labels
:math:`Y_{ij} = [j = y_i]`, the shift :math:`m_i = \max_c s_{ic}`, the shifted exponentials
:math:`E_{ij} = e^{s_{ij} - m_i}`, the loss in its stable log-sum-exp form, the softmax
:math:`E_{ij} / \sum_c E_{ic}` and the gradient :math:`(P - Y)/N`.
"""

from __future__ import annotations

import sympy as sp

from derive import softmax
from derive.printing import text

from .codegen.lowering import Lowering
from .codegen.module import FLOATING_HELPER, GeneratedFunction

__all__ = ["LABELS_HELPER", "functions", "lowering", "preamble"]

LABELS_HELPER = '''def _scores_and_labels(name, x, y):
    """Check scores x of shape (N, C) (floating point) and labels y of shape (N,) in 0..C-1."""
    x = _floating("x", x)
    if type(y) is not np.ndarray:
        y = np.asarray(y)
    shape = x.shape
    if len(shape) != 2:
        raise LayergradError(f"{name}: x must have shape (N, C), got {shape}")
    if y.shape != shape[:1]:
        raise LayergradError(f"{name}: y must have shape ({shape[0]},), one label per row of x, got {y.shape}")
    kind = y.dtype.kind
    if kind not in "iu":
        raise LayergradError(f"{name}: labels y must be integers, got dtype {y.dtype}")
    if kind == "i":  # read as unsigned, a negative label is huge: one pass checks 0 <= y < C
        y_unsigned = y.view(np.uint64 if y.itemsize == 8 else f"u{y.itemsize}")
    else:
        y_unsigned = y
    if shape[0] and np.maximum.reduce(y_unsigned) >= shape[1]:
        raise LayergradError(f"{name}: labels must lie in 0..{shape[1] - 1}, got {y.min()}..{y.max()}")
    return x, y'''
"""Checks shared by the loss functions (appears once per module)."""


def preamble() -> list[str]:
    """Module-level helpers the loss uses."""
    return [FLOATING_HELPER, LABELS_HELPER]


def lowering(names: dict[sp.Basic, str], booleans: tuple[sp.IndexedBase, ...] = ()) -> Lowering:
    """The lowering of a loss over scores (examples :math:`i`, classes :math:`j`) and labels:
    ``x``, ``y``, the one-hot ``onehot`` (read at the labels where it can be, computed from ``y``
    otherwise), the sizes ``N`` and ``C``, and ``names``; ``loss`` and ``dx`` are its results."""
    s = softmax.symbols()
    return Lowering({s["i"]: s["N"], s["j"]: s["C"]},
                    {s["s"]: "x", s["y"]: "y", s["Y"]: "onehot", s["N"]: "N", s["C"]: "C", **names},
                    one_hot={s["Y"]: "y"}, booleans=frozenset(booleans), results=("loss", "dx"))


def functions() -> list[GeneratedFunction]:
    """The generated ``softmax_loss``."""
    s = softmax.symbols()
    i, j = s["i"], s["j"]
    loss, stable, gradient = softmax.loss(), softmax.stable_softmax(), softmax.gradient()
    lse = next(step.after for step in loss.steps if step.rule == "log-sum-exp")
    at_grid = {sp.Symbol("a", integer=True): i, sp.Symbol("b", integer=True): j}
    body = lowering({s["m"]: "shift", s["E"]: "e", s["P"]: "probs"})
    body.assign("shift", softmax.SHIFT.statement.rhs, (i,))
    body.assign("e", softmax.SHIFTED.statement.rhs, (i, j))
    body.assign("loss", loss.result, ())
    body.assign("probs", stable.result, (i, j))
    body.assign("dx", gradient.result.xreplace(at_grid), (i, j))
    source = f'''
def softmax_loss(x, y):
    """Softmax cross-entropy loss and its gradient, computed stably.

    L = {text(lse)}
      = {text(loss.result)},
    with m_i = max_c s_ic and E_ic = exp(s_ic − m_i);
    ∂L/∂s[a, b] = {text(gradient.result)}, with P the softmax and Y the one-hot labels.

    Inputs: x, scores of shape (N, C); y, integer labels of shape (N,) in 0..C-1.
    Returns (loss, dx): the loss as a float and dx = ∂L/∂x with x's shape and dtype.
    """
    x, y = _scores_and_labels("softmax_loss", x, y)
    N, C = x.shape
{body.source(4)}
    return float(loss), dx.astype(x.dtype, copy=False)
'''
    titles = (loss.title, stable.title, gradient.title)
    return [GeneratedFunction("softmax_loss", source, titles)]
