"""Small pieces the sheets share: a derivation's result in matrix form, numbers as SymPy."""

from __future__ import annotations

import io

import numpy as np
import sympy as sp
from matplotlib.figure import Figure
from sympy.matrices.expressions.matexpr import MatrixElement

from derive.derivation import Derivation
from derive.errors import LayergradError
from derive.matrix import MatrixGradient

__all__ = ["matrix_equation", "number", "numbers", "png"]


def matrix_equation(d: Derivation, step: str | None = None) -> sp.Equality:
    r"""A derivation that ends in an entry of a matrix expression, read as a matrix equation:
    :math:`H_{ij} = (D \odot Y)_{ij}` gives :math:`H = D \odot Y`, and
    :math:`\partial L/\partial Y_{ij} = (\partial L/\partial H \odot D)_{ij}` gives
    :math:`\partial L/\partial Y = \partial L/\partial H \odot D`. With ``step``, the
    expression reached by the last step of that rule instead of the final result."""
    result, start = d.result, d.start
    if step is not None:
        reached = [s.after for s in d.steps if s.rule == step]
        if not reached:
            raise LayergradError(f"{d.title}: no step uses the rule {step!r}")
        result = reached[-1]
    if not isinstance(result, MatrixElement):
        raise LayergradError(f"{d.title}: its result {result} is not an entry of a matrix expression")
    rhs = result.parent
    if isinstance(start, sp.Indexed):
        lhs = sp.MatrixSymbol(str(start.base), *rhs.shape)
    elif isinstance(start, sp.Derivative) and isinstance(start.variables[0], sp.Indexed):
        lhs = MatrixGradient(str(start.expr), str(start.variables[0].base), *rhs.shape)
    else:
        raise LayergradError(f"{d.title}: cannot name its start {start} as a matrix")
    return sp.Eq(lhs, rhs, evaluate=False)


def number(value: float, digits: int = 4) -> sp.Number:
    """A computed value as a SymPy number for printing: an integer when it is one, else rounded."""
    value = float(value)
    rounded = round(value, digits)
    if rounded == int(rounded):
        return sp.Integer(int(rounded))
    return sp.Float(rounded, 15)


def numbers(array: np.ndarray, digits: int = 4) -> sp.Matrix:
    """A computed 1-D or 2-D array as a SymPy matrix of :func:`number` entries."""
    array = np.atleast_2d(np.asarray(array, dtype=float))
    return sp.Matrix([[number(v, digits) for v in row] for row in array])


def png(figure: Figure) -> bytes:
    """A matplotlib figure as PNG bytes. Sheets build figures with the object API
    (``matplotlib.figure.Figure``), which needs no GUI backend and leaves pyplot alone."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    return buffer.getvalue()
