r"""Generate ``svm_loss(x, y) -> (loss, dx)`` (course API) from the derivations.

Printed by the lowering from :mod:`derive.svm`, as the softmax loss is: the one-hot labels, the
margins :math:`M_{ij} = s_{ij} - \sum_k Y_{ik} s_{ik} + 1`, the violating classes
:math:`P = [M > 0]`, the hinge loss and its derived gradient. The margin's row term is named
first, :math:`T_i = \sum_k Y_{ik} s_{ik} - 1` (so :math:`M_{ij} = s_{ij} - T_i`, checked by SymPy):
one pass over the scores instead of two.
"""

from __future__ import annotations

import sympy as sp

from derive import svm
from derive.errors import LayergradError
from derive.printing import text

from .codegen.module import FLOATING_HELPER, GeneratedFunction
from .gen_softmax import LABELS_HELPER, lowering

__all__ = ["functions", "preamble"]

THRESHOLD = sp.IndexedBase("T", real=True)
"""The margin's row term :math:`T_i = \\sum_k Y_{ik} s_{ik} - 1` (``threshold``), named for the code only."""


def preamble() -> list[str]:
    """Module-level helpers the loss uses."""
    return [FLOATING_HELPER, LABELS_HELPER]


def functions() -> list[GeneratedFunction]:
    """The generated ``svm_loss``."""
    s = svm.symbols()
    body = lowering({s["M"]: "margin", s["P"]: "positive", THRESHOLD: "threshold"}, booleans=(s["P"],))
    i, j = body.ranges
    gradient = svm.gradient()
    at_grid = {sp.Symbol("a", integer=True): i, sp.Symbol("b", integer=True): j}
    margin = svm.MARGIN.statement.rhs.xreplace({s["c"]: j})
    scores = s["s"][i, j]
    threshold = sp.expand(scores - margin)  # the terms of M that do not vary along j, negated
    if threshold.has(j):
        raise LayergradError(f"the margin {margin} is not s_ij minus a term constant along the classes")
    body.assign("threshold", threshold, (i,))
    body.assign("margin", scores - THRESHOLD[i], (i, j))
    body.assign("positive", svm.VIOLATING.statement.rhs.xreplace({s["c"]: j}), (i, j))
    body.assign("loss", svm.HINGE.statement.rhs, ())
    body.assign("dx", gradient.result.xreplace(at_grid), (i, j))
    source = f'''
def svm_loss(x, y):
    """Multiclass SVM (hinge) loss with margin 1, and its gradient.

    L = {text(svm.HINGE.statement.rhs)},
    M_ic = {text(svm.MARGIN.statement.rhs)};
    ∂L/∂s[a, b] = {text(gradient.result)},
    with P = [M > 0].

    Inputs: x, scores of shape (N, C); y, integer labels of shape (N,) in 0..C-1.
    Returns (loss, dx): the loss as a float and dx = ∂L/∂x with x's shape and dtype.
    """
    x, y = _scores_and_labels("svm_loss", x, y)
    N, C = x.shape
{body.source(4)}
    return float(loss), dx.astype(x.dtype, copy=False)
'''
    return [GeneratedFunction("svm_loss", source, (gradient.title,))]
