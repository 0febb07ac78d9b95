r"""Matrix notation on top of index notation.

Layers are derived entry by entry (:math:`H_{ij} = D_{ij} Y_{ij} / q`); students read them in
matrix form (:math:`H = D \odot Y / q`). :func:`entrywise` is the prover that connects the two:
it compares the :math:`(i, j)` entry of a matrix expression with an index expression, mapping
each matrix symbol to the indexed array of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from .derivation import Prover, by_sympy

__all__ = ["MatrixGradient", "RowVector", "entry", "entrywise"]


class MatrixGradient(sp.MatrixSymbol):
    r"""The gradient :math:`\partial L / \partial X` of a scalar loss, as a matrix symbol.

    Its internal name is ``dL_dX``; every printer shows it as the fraction."""

    def __new__(cls, *args) -> MatrixGradient:
        """``MatrixGradient(loss, wrt, rows, cols)``, or SymPy's ``(name, rows, cols)`` rebuild."""
        if len(args) == 4:
            loss, wrt, rows, cols = args
            args = (f"d{loss}_d{wrt}", rows, cols)
        return super().__new__(cls, *args)

    @property
    def parts(self) -> tuple[str, str]:
        loss, wrt = self.name[1:].split("_d", 1)
        return loss, wrt

    def _latex(self, printer) -> str:
        loss, wrt = self.parts
        return rf"\frac{{\partial {loss}}}{{\partial {wrt}}}"

    def _sympystr(self, printer) -> str:
        loss, wrt = self.parts
        return f"∂{loss}/∂{wrt}"

    def _mathml_presentation(self, printer):
        loss, wrt = self.parts
        frac = printer.dom.createElement("mfrac")
        for name in (loss, wrt):
            row = printer.dom.createElement("mrow")
            for tag, content in (("mo", "∂"), ("mi", name)):
                node = printer.dom.createElement(tag)
                node.appendChild(printer.dom.createTextNode(content))
                row.appendChild(node)
            frac.appendChild(row)
        return frac


class RowVector:
    r"""A vector :math:`b_j` seen as the :math:`1 \times M` matrix of matrix notation.

    Give it to :func:`entrywise` in place of an indexed array: the entry :math:`(0, j)` of the
    matrix symbol becomes ``base[j]``, so :math:`(\mathbf{1}_N b)_{ij} = b_j` (a bias added to
    every row) compares with the index form."""

    def __init__(self, base: sp.IndexedBase) -> None:
        self.base = base

    def __getitem__(self, index: tuple[sp.Expr, sp.Expr]) -> sp.Indexed:
        return self.base[index[1]]


def entry(matrix_expr: sp.MatrixExpr, i: sp.Symbol, j: sp.Symbol) -> MatrixElement:
    r"""The unevaluated entry :math:`(\text{matrix\_expr})_{ij}`."""
    return MatrixElement(matrix_expr, i, j)


def entrywise(arrays: Mapping[sp.MatrixSymbol, sp.IndexedBase | RowVector], inner: Prover = by_sympy) -> Prover:
    """A prover that evaluates matrix entries and maps each matrix symbol to its array.

    ``(D ⊙ Y / q)[i, j]`` becomes ``D[i, j]*Y[i, j]/q`` with ``D``, ``Y`` the indexed arrays
    given in ``arrays``; then ``inner`` decides."""
    table = dict(arrays)

    def to_index(expr: sp.Basic) -> sp.Basic:
        expr = expr.replace(
            lambda e: isinstance(e, MatrixElement) and not isinstance(e.parent, sp.MatrixSymbol),
            lambda e: e.parent[e.i, e.j],
        )
        return expr.replace(
            lambda e: isinstance(e, MatrixElement) and e.parent in table,
            lambda e: table[e.parent][e.i, e.j],
        )

    def decide(before, after, unfold) -> bool:
        return inner(to_index(before), to_index(after), unfold)

    return Prover(f"entrywise, then {inner.name}", decide)
