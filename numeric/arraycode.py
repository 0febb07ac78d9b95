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
  arrays are named by the caller (``s[i, j] → x``, ``y[i] → y[:, None]``). Three rules keep
  it as lean as NumPy written by hand: a sum against a one-hot array,
  :math:`\sum_j Y_{ij} f_{ij} = f_{i, y_i}`, reads the labelled entries
  (``np.take_along_axis``); :math:`1 - B` of a 0/1 array stays boolean (``~B``); and a value
  that :func:`grid_statements` meets more than once is computed once.
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

    def __init__(self, axes: Sequence[tuple[sp.Symbol, sp.Symbol]], names: Mapping[sp.Basic, str],
                 one_hot: Mapping[sp.IndexedBase, str] = {}, booleans: Sequence[sp.IndexedBase] = (),
                 shared: Mapping[sp.Basic, str] = {}) -> None:
        super().__init__()
        self.axes = list(axes)
        self.names = dict(names)
        self.one_hot = dict(one_hot)
        self.booleans = set(booleans) | set(one_hot)
        self.shared = dict(shared)
        self.printed: list[tuple[sp.Basic, sp.Basic]] = []  # (key, expression) of every value, inner first

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

    def _print_Add(self, expr: sp.Add) -> str:
        # 1 − B for a 0/1 array B is its negation, which NumPy keeps boolean (1 − B would be int64)
        rest = expr - 1
        if expr.has(sp.S.One) and isinstance(-rest, sp.Indexed) and (-rest).base in self.booleans:
            return f"~{self._print(-rest)}"
        return super()._print_Add(expr)

    def _canonical(self, expr: sp.Basic) -> tuple[sp.Basic, list[int]]:
        """The summand with each summation variable renamed to the index of its axis, and the axes."""
        body, summed = expr.function, []
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
        return body, summed

    def _key(self, expr: sp.Basic) -> sp.Basic | None:
        """What identifies an array value worth computing once (a reduction by its summand on the
        grid's indices, an operation on arrays by itself); None for names, numbers and indices."""
        if isinstance(expr, (sp.Sum, Maximum)):
            body, summed = self._canonical(expr)
            return sp.Tuple(sp.Symbol(type(expr).__name__), body, *summed)
        if isinstance(expr, (sp.Add, sp.Mul, sp.Pow, sp.Function)) and expr.atoms(sp.Indexed):
            return expr
        return None

    def _print(self, expr, **settings) -> str:
        key = self._key(expr) if isinstance(expr, sp.Basic) else None
        if key is None:
            return super()._print(expr, **settings)
        code = self.shared[key] if key in self.shared else super()._print(expr, **settings)
        self.printed.append((key, expr))
        return code

    def parenthesize(self, item, level, *args, **kwargs) -> str:
        if isinstance(item, sp.Basic) and self._key(item) in self.shared:
            return self._print(item)  # a name needs no parentheses
        return super().parenthesize(item, level, *args, **kwargs)

    def _reduction(self, expr: sp.Basic, function: str) -> str:
        body, summed = self._canonical(expr)
        if function == "np.sum" and len(summed) == 1 and (gathered := self._gather(body, summed[0])):
            return gathered
        if not any(index in expr.free_symbols for index, _ in self.axes):
            return f"{function}({self._print(body)})"
        axis = summed[0] if len(summed) == 1 else tuple(sorted(summed))
        return f"{function}({self._print(body)}, axis={axis}, keepdims=True)"

    def _gather(self, body: sp.Basic, axis: int) -> str | None:
        r""":math:`\sum_j Y_{ij} f_{ij} = f_{i, y_i}` for one-hot :math:`Y_{ij} = [j = y_i]`: read the
        labelled entry of each row (``np.take_along_axis``) instead of multiplying by Y and summing."""
        index = self.axes[axis][0]
        factors = sp.Mul.make_args(body)
        hot = [e for e in factors if isinstance(e, sp.Indexed) and e.base in self.one_hot and e.indices[axis] == index]
        if len(hot) != 1:
            return None
        rest = sp.Mul(*(e for e in factors if e is not hot[0]))
        if not all(rest.has(i) for i, _ in self.axes):  # the entries must span the grid to be read
            return None
        return f"np.take_along_axis({self._print(rest)}, {self.one_hot[hot[0].base]}, axis={axis})"

    def _print_Sum(self, expr: sp.Sum) -> str:
        return self._reduction(expr, "np.sum")

    def _print_Maximum(self, expr: Maximum) -> str:
        return self._reduction(expr, "np.max")


def grid_code(
    expr: sp.Basic,
    axes: Sequence[tuple[sp.Symbol, sp.Symbol]],
    names: Mapping[sp.Basic, str],
    **rules,
) -> str:
    """NumPy source for an index expression whose free indices are the grid's axes.

    ``axes`` lists ``(index, size)`` in axis order, e.g. ``[(i, N), (j, C)]``; ``names`` maps
    indexed bases (and size symbols) to code, already shaped for broadcasting; ``one_hot`` maps
    one-hot arrays to their labels' code (sums against them become gathers) and ``booleans``
    names other 0/1 arrays (see :class:`GridPrinter`)."""
    return GridPrinter(axes, names, **rules).doprint(expr)


def grid_statements(
    assignments: Sequence[tuple[str, sp.Basic]],
    axes: Sequence[tuple[sp.Symbol, sp.Symbol]],
    names: Mapping[sp.Basic, str],
    **rules,
) -> str:
    """``name = code`` lines for a sequence of grid expressions; a value (a reduction, an operation
    on arrays) that occurs more than once is computed once, into ``r0``, ``r1``, …, just before the
    statement that first uses it."""
    counted, printed = GridPrinter(axes, names, **rules), []
    for _, e in assignments:
        start = len(counted.printed)
        counted.doprint(e)
        printed.append(counted.printed[start:])
    keys = [key for key, _ in counted.printed]
    shared: dict[sp.Basic, str] = {}
    lines = []
    for (target, e), values in zip(assignments, printed):
        for key, expr in values:
            if keys.count(key) > 1 and key not in shared:
                code = GridPrinter(axes, names, shared=shared, **rules).doprint(expr)
                shared[key] = f"r{len(shared)}"
                lines.append(f"{shared[key]} = {code}")
        lines.append(f"{target} = {GridPrinter(axes, names, shared=shared, **rules).doprint(e)}")
    return "\n".join(lines)
