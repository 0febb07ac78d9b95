r"""Generate ``softmax_loss(x, y) -> (loss, dx)`` (course API) from the derivations.

Every line of arithmetic is printed from :mod:`derive.softmax` on the grid
:math:`i \to` axis 0 (examples), :math:`j \to` axis 1 (classes): the one-hot labels
:math:`Y_{ij} = [j = y_i]`, the shift :math:`m_i = \max_c s_{ic}`, the shifted exponentials
:math:`E_{ij} = e^{s_{ij} - m_i}`, the loss in its stable log-sum-exp form, the softmax
:math:`E_{ij} / \sum_c E_{ic}` and the gradient :math:`(P - Y)/N`.
"""

from __future__ import annotations

import sympy as sp

from derive import softmax
from derive.dropout import Convention
from derive.printing import text

from .arraycode import grid_statements
from .codegen import FLOATING_HELPER, GeneratedFunction

__all__ = ["LABELS_HELPER", "functions", "grid", "preamble"]

LABELS_HELPER = '''def _scores_and_labels(name, x, y):
    """Check scores x of shape (N, C) (floating point) and labels y of shape (N,) in 0..C-1."""
    x = _floating("x", x)
    if type(y) is not np.ndarray:
        y = np.asarray(y)
    if x.ndim != 2:
        raise LayergradError(f"{name}: x must have shape (N, C), got {x.shape}")
    if y.shape != (x.shape[0],):
        raise LayergradError(f"{name}: y must have shape ({x.shape[0]},), one label per row of x, got {y.shape}")
    if y.dtype.kind not in "iu":
        raise LayergradError(f"{name}: labels y must be integers, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= x.shape[1]):
        raise LayergradError(f"{name}: labels must lie in 0..{x.shape[1] - 1}, got {y.min()}..{y.max()}")
    return x, y'''
"""Checks shared by the loss functions (appears once per module)."""


def preamble(convention: Convention | str) -> list[str]:
    """Module-level helpers the loss uses."""
    return [FLOATING_HELPER, LABELS_HELPER]


def grid() -> tuple[list[tuple[sp.Symbol, sp.Symbol]], dict[sp.Basic, str]]:
    """The axes (examples, classes) and the names of the arrays and sizes on them."""
    s = softmax.symbols()
    axes = [(s["i"], s["N"]), (s["j"], s["C"])]
    names = {s["s"]: "x", s["y"]: "y[:, None]", s["Y"]: "onehot", s["N"]: "N", s["C"]: "C"}
    return axes, names


def one_hot() -> sp.Expr:
    """:math:`Y_{ij} = [j = y_i]`, the one-hot definition at the grid's indices."""
    s = softmax.symbols()
    return softmax.ONE_HOT.statement.rhs.xreplace({sp.Symbol("c", integer=True): s["j"]})


def functions(convention: Convention | str) -> list[GeneratedFunction]:
    """The generated ``softmax_loss``."""
    s = softmax.symbols()
    axes, names = grid()
    names |= {s["m"]: "shift", s["E"]: "e", s["P"]: "probs"}
    loss, stable, gradient = softmax.loss(), softmax.stable_softmax(), softmax.gradient()
    lse = next(step.after for step in loss.steps if step.rule == "log-sum-exp")
    at_grid = {sp.Symbol("a", integer=True): s["i"], sp.Symbol("b", integer=True): s["j"]}
    body = grid_statements(
        [
            ("onehot", one_hot()),
            ("shift", softmax.SHIFT.statement.rhs),
            ("e", softmax.SHIFTED.statement.rhs),
            ("loss", loss.result),
            ("probs", stable.result),
            ("dx", gradient.result.xreplace(at_grid)),
        ],
        axes,
        names,
        one_hot={s["Y"]: "y[:, None]"},
    )
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
{_indent(body, 4)}
    return float(loss), dx.astype(x.dtype, copy=False)
'''
    titles = (loss.title, stable.title, gradient.title)
    return [GeneratedFunction("softmax_loss", source, titles)]


def _indent(block: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in block.splitlines())
