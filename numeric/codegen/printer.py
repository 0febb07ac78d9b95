r"""The one printer of generated code: SymPy expressions as NumPy source.

Every generator prints through :class:`ArrayPrinter` (SymPy's NumPy printer with ``np.``
names): comparisons stay infix (``(x > 0)``, a boolean array) and combine with ``&`` and ``|``,
:math:`H(u)` with :math:`H(0) = 0` is ``(u > 0)``, :math:`\delta_{ab}` is ``(a == b)``, a
Hadamard product is ``*``, a matrix product ``@``, a transpose ``.T``,
:math:`\mathbf{1}_N^\top A` is ``A.sum(axis=0)`` and :math:`\mathbf{1}_N b` is ``b`` (NumPy
broadcasts the row). :func:`code` prints an expression with its arrays and symbols renamed to
the variables that hold them (``M[i, j] → mask``); :func:`elementwise_function` makes a Python
function of such an element-wise expression.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy.printing.numpy import NumPyPrinter

from derive.errors import LayergradError

__all__ = ["ArrayPrinter", "code", "elementwise_function"]


class ArrayPrinter(NumPyPrinter):
    """NumPy source with ``np.`` names, ``@`` for products and masks as comparisons."""

    def _module_format(self, fqn: str, register: bool = True) -> str:
        name = super()._module_format(fqn, register)
        return "np." + name[len("numpy."):] if name.startswith("numpy.") else name

    def _print_Relational(self, expr: sp.core.relational.Relational) -> str:
        return f"({self._print(expr.lhs)} {expr.rel_op} {self._print(expr.rhs)})"

    def _print_And(self, expr: sp.And) -> str:
        return "(" + " & ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr: sp.Or) -> str:
        return "(" + " | ".join(self._print(a) for a in expr.args) + ")"

    def _print_Max(self, expr: sp.Max) -> str:
        first, *rest = expr.args
        code = self._print(first)
        for arg in rest:
            code = f"np.maximum({code}, {self._print(arg)})"
        return code

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        if len(expr.args) > 1 and expr.args[1] == 0:
            return f"({self._print(expr.args[0])} > 0)"
        half = expr.args[1] if len(expr.args) > 1 else sp.S.Half
        return f"np.heaviside({self._print(expr.args[0])}, {self._print(sp.Float(half))})"

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta) -> str:
        return f"({self._print(expr.args[0])} == {self._print(expr.args[1])})"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return "*".join(self.parenthesize(a, 50) for a in expr.args)

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        return f"{self.parenthesize(expr.arg, 100)}.T"

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        coeff, matrices = expr.as_coeff_matrices()
        first = matrices[0]
        if isinstance(first, sp.OneMatrix) and len(matrices) > 1:
            rest = self._product(matrices[1:])
            # 1_Nᵀ A sums the rows of A; 1_N b repeats the row b, which NumPy broadcasting does
            code = f"{rest}.sum(axis=0)" if first.shape[0] == 1 else rest
        else:
            code = self._product(matrices)
        return code if coeff == 1 else f"{self._print(coeff)}*{code}"

    def _product(self, matrices: Sequence[sp.MatrixExpr]) -> str:
        return " @ ".join(self.parenthesize(m, 60) for m in matrices)


def renamed(expr: sp.Basic, names: Mapping[sp.Basic, str]) -> sp.Basic:
    """``expr`` with each array (indexed base, matrix symbol, and their entries) and each named
    symbol replaced by the variable that holds it; matrix symbols stay matrices (for ``@``)."""
    table: dict[sp.Basic, sp.Basic] = {}
    for key, value in names.items():
        table[key] = sp.MatrixSymbol(value, *key.shape) if isinstance(key, sp.MatrixSymbol) else sp.Symbol(value)

    def rename(e: sp.Basic) -> sp.Basic:
        if isinstance(e, sp.Indexed) and e.base in table:
            return table[e.base]
        if isinstance(e, MatrixElement) and e.parent in table:
            return sp.Symbol(names[e.parent])
        if e in table:
            return table[e]
        if e.args and not isinstance(e, MatrixElement):
            return e.func(*(rename(a) for a in e.args))
        return e

    result = rename(expr)
    leftover = [a for a in result.atoms(sp.Indexed, sp.MatrixSymbol) if str(a) not in names.values()]
    if leftover:
        raise LayergradError(f"no array name given for {sorted(map(str, leftover))} in {expr}")
    return result


def code(expr: sp.Basic, names: Mapping[sp.Basic, str] = {}) -> str:
    """NumPy source for ``expr`` with its arrays and symbols renamed by ``names``; one entry of a
    matrix expression prints the whole matrix (``(X W)[i, j] → x @ w``)."""
    if isinstance(expr, MatrixElement):
        expr = expr.parent
    return ArrayPrinter().doprint(renamed(expr, names))


def elementwise_function(expr: sp.Basic, names: Mapping[sp.Basic, str]) -> Callable[..., object]:
    """The element-wise expression as a Python function of its named arrays, in the order of
    ``names``: ``(M ⊙ Y)[i, j]`` with ``{M: "mask", Y: "x"}`` → ``lambda mask, x: mask*x``."""
    arguments = ", ".join(dict.fromkeys(names.values()))
    source = f"lambda {arguments}: {code(expr, names)}"
    function = eval(compile(source, "<layergrad elementwise>", "eval"), {"np": __import__("numpy"), "math": math})
    function.source = source
    return function
