r"""Print derived expressions as whole-array NumPy: matrix products and row-wise reductions.

:mod:`numeric.codegen` prints element-wise expressions (dropout's ``mask*x``). Two more shapes
of expression come out of the derivations:

* **matrix form** (:func:`matrix_code`): :math:`XW + \mathbf{1}_N b` becomes ``x @ w + b``,
  :math:`G W^\top` becomes ``dout @ w.T``, :math:`\mathbf{1}_N^\top G` becomes
  ``dout.sum(axis=0)`` — products go to BLAS, never to a Python loop;
* **index form on a grid** (:func:`grid_code`): the free indices name the axes of an array
  (:math:`i \to` axis 0, :math:`j \to` axis 1); a sum over an index that runs along an axis
  becomes ``np.sum(..., axis=k, keepdims=True)`` (``np.sum(...)`` when nothing is left free),
  the maximum likewise, an axis index alone becomes an ``np.arange`` along its axis, and
  arrays are named by the caller (``s[i, j] → x``, ``y[i] → y[:, None]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement
from sympy.printing.numpy import NumPyPrinter

from derive.errors import LayergradError
from derive.softmax import Maximum

__all__ = ["ArrayPrinter", "GridPrinter", "grid_code", "grid_statements", "matrix_code"]


class ArrayPrinter(NumPyPrinter):
    """NumPy source with ``np.`` names, ``@`` for products and masks as comparisons."""

    def _module_format(self, fqn: str, register: bool = True) -> str:
        name = super()._module_format(fqn, register)
        return "np." + name[len("numpy."):] if name.startswith("numpy.") else name

    def _print_Max(self, expr: sp.Max) -> str:
        first, *rest = expr.args
        code = self._print(first)
        for arg in rest:
            code = f"np.maximum({code}, {self._print(arg)})"
        return code

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        if expr.args[1] == 0:
            return f"({self._print(expr.args[0])} > 0)"
        return f"np.heaviside({self._print(expr.args[0])}, {self._print(expr.args[1])})"

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


def _renamed_matrices(expr: sp.Basic, names: Mapping[sp.Basic, str]) -> sp.Basic:
    if isinstance(expr, MatrixElement):
        expr = expr.parent
    table = {
        key: sp.MatrixSymbol(value, *key.shape) if isinstance(key, sp.MatrixSymbol) else sp.Symbol(value)
        for key, value in names.items()
    }
    missing = {m for m in expr.atoms(sp.MatrixSymbol) if m not in table}
    if missing:
        raise LayergradError(f"no array name given for {sorted(map(str, missing))} in {expr}")
    return expr.xreplace(table)


def matrix_code(expr: sp.Basic, names: Mapping[sp.Basic, str]) -> str:
    """NumPy source for a matrix expression (or one entry of it: the whole matrix is printed).

    ``names`` maps each matrix symbol (and scalar symbol) to the variable that holds it."""
    return ArrayPrinter().doprint(_renamed_matrices(expr, names))


class GridPrinter(ArrayPrinter):
    """Index expressions over a grid of axes: see :func:`grid_code`."""

    def __init__(self, axes: Sequence[tuple[sp.Symbol, sp.Symbol]], names: Mapping[sp.Basic, str]) -> None:
        super().__init__()
        self.axes = list(axes)
        self.names = dict(names)

    def _axis(self, size: sp.Expr) -> int:
        for pos, (_, extent) in enumerate(self.axes):
            if extent == size:
                return pos
        raise LayergradError(f"no axis of size {size}; the axes are {[str(e) for _, e in self.axes]}")

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        if expr.base in self.names:
            return self.names[expr.base]
        raise LayergradError(f"no array name given for {expr.base} in {expr}")

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        for pos, (index, extent) in enumerate(self.axes):
            if expr == index:
                view = ", ".join(":" if p == pos else "None" for p in range(len(self.axes)))
                return f"np.arange({self._print(extent)})[{view}]"
        return self.names.get(expr, super()._print_Symbol(expr))

    def _reduction(self, expr: sp.Basic, function: str) -> str:
        body = expr.function
        summed = []
        for variable, lo, hi in expr.limits:
            pos = self._axis(sp.simplify(hi - lo + 1))
            index = self.axes[pos][0]
            if lo != 0:
                raise LayergradError(f"sums must start at 0 to run along an axis, got {expr}")
            if variable != index and body.has(index):
                raise LayergradError(f"{index} is both free and summed in {expr}")
            body = body.xreplace({variable: index})
            if not body.has(index):
                raise LayergradError(f"the summand of {expr} does not depend on {variable}")
            summed.append(pos)
        code = self._print(body)
        if not any(index in expr.free_symbols for index, _ in self.axes):
            return f"{function}({code})"
        axis = summed[0] if len(summed) == 1 else tuple(sorted(summed))
        return f"{function}({code}, axis={axis}, keepdims=True)"

    def _print_Sum(self, expr: sp.Sum) -> str:
        return self._reduction(expr, "np.sum")

    def _print_Maximum(self, expr: Maximum) -> str:
        return self._reduction(expr, "np.max")


def grid_code(
    expr: sp.Basic,
    axes: Sequence[tuple[sp.Symbol, sp.Symbol]],
    names: Mapping[sp.Basic, str],
) -> str:
    """NumPy source for an index expression whose free indices are the grid's axes.

    ``axes`` lists ``(index, size)`` in axis order, e.g. ``[(i, N), (j, C)]``; ``names`` maps
    indexed bases (and size symbols) to code, already shaped for broadcasting."""
    return GridPrinter(axes, names).doprint(expr)


def grid_statements(
    assignments: Sequence[tuple[str, sp.Basic]],
    axes: Sequence[tuple[sp.Symbol, sp.Symbol]],
    names: Mapping[sp.Basic, str],
) -> str:
    """``name = code`` lines for a sequence of grid expressions."""
    return "\n".join(f"{target} = {grid_code(e, axes, names)}" for target, e in assignments)
