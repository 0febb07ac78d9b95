r"""A layer the user defines in a few lines: the definition format, parsed and checked.

A definition is a TOML file (or the same table as a string or a dict)::

    name = "rmsnorm"
    summary = "RMS normalization over the features"
    inputs = { X = ["N", "D"] }          # differentiated, in this order
    params = { g = ["D"] }               # differentiated, after the inputs
    data = {}                            # not differentiated (labels, masks)
    constants = { eps = 1e-5 }           # keyword arguments of the generated forward
    sizes = {}                           # derived sizes, e.g. { Ho = "1 + (H + 2*P - K)/S" }
    outputs = {}                         # shapes that cannot be read off the right sides
    forward = [ "Y[n, d] = g[d] * X[n, d] / sqrt(mean(X[n, k]**2, k) + eps)" ]

Each statement ``A[i, j] = expr`` defines an array entry by entry; the last one is the output
(``L = expr`` for a scalar). An index runs over the size of the axis it is used on *plainly*
(``X[n, d]``: :math:`d` runs over :math:`D`), the same size everywhere in the definition; an
index expression may be affine (``X[n, c, S*i + k - P]``), and an array read outside its
shape is zero. Reductions bind indices:

.. math:: \texttt{sum(e, k)} = \sum_{k=0}^{K-1} e, \qquad
          \texttt{mean(e, k)} = \frac1K \sum_{k=0}^{K-1} e, \qquad
          \texttt{max(e, k)} = \max_{0 \le k < K} e

(``(k, l)`` for several indices). Element-wise: ``+ - * / **``, :data:`FUNCTIONS`,
``maximum``, ``minimum``, ``where(cond, a, b)`` with comparisons, numbers, constants and sizes.

:func:`define` reads a definition into a :class:`Definition` whose statements are SymPy index
expressions (``IndexedBase`` entries, ``Sum``, affine indices) for the engine, or raises a
one-line :class:`~derive.errors.LayergradError` that names the statement, the column and what
was wrong.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sympy as sp

from .errors import LayergradError
from .maximum import Maximum

try:  # Python ≥ 3.11
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["FUNCTIONS", "KEYS", "Definition", "Sigmoid", "Statement", "Where", "define", "free_indices"]

KEYS = ("name", "summary", "inputs", "params", "data", "constants", "sizes", "outputs", "ranges", "forward")
"""The keys a definition may have (``name`` and ``forward`` are required)."""


class Sigmoid(sp.Function):
    r""":math:`\sigma(x) = 1/(1 + e^{-x})`, kept whole so its derivative
    :math:`\sigma(x)(1 - \sigma(x))` and its code (computed without overflow) stay short."""

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        s = Sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, x: sp.Expr, **kwargs) -> sp.Expr:
        return 1 / (1 + sp.exp(-x))

    def _eval_evalf(self, prec: int) -> sp.Expr | None:
        x = self.args[0]
        return (1 / (1 + sp.exp(-x)))._eval_evalf(prec) if x.is_number else None

    def _latex(self, printer, exp=None) -> str:
        body = rf"\sigma\left({printer._print(self.args[0])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _sympystr(self, printer) -> str:
        return f"σ({printer._print(self.args[0])})"


class Where(sp.Function):
    r""":math:`a` where the comparison holds, else :math:`b`: ``Where(cond, a, b)``.

    Piecewise constant in its condition: the derivative is taken branch by branch,
    :math:`\partial\,\text{where}(c, a, b) = \text{where}(c, \partial a, \partial b)` (at the boundary
    itself, the branch the comparison selects), split over the terms of each branch so that the
    Kronecker deltas of the index engine stay outside."""

    @classmethod
    def eval(cls, cond, a, b):
        if cond == sp.true or a == b:
            return a
        if cond == sp.false:
            return b
        return None

    def _eval_derivative(self, s: sp.Basic) -> sp.Expr:
        cond, a, b = self.args
        parts = [(term, 0) for term in sp.Add.make_args(sp.expand(sp.diff(a, s)))]
        parts += [(0, term) for term in sp.Add.make_args(sp.expand(sp.diff(b, s)))]
        out = sp.S.Zero
        for x, y in parts:
            if x == 0 and y == 0:
                continue
            deltas = [f for f in sp.Mul.make_args(x if x != 0 else y) if isinstance(f, sp.KroneckerDelta)]
            common = sp.Mul(*deltas)
            out += common * Where(cond, sp.sympify(x) / common, sp.sympify(y) / common)
        return out

    def _latex(self, printer, exp=None) -> str:
        cond, a, b = (printer._print(x) for x in self.args)
        body = rf"\begin{{cases}} {a} & \text{{if }} {cond} \\ {b} & \text{{otherwise}} \end{{cases}}"
        return rf"\left({body}\right)^{{{exp}}}" if exp is not None else rf"\left.{body}\right."

    def _sympystr(self, printer) -> str:
        return "where(" + ", ".join(printer._print(x) for x in self.args) + ")"


FUNCTIONS: dict[str, Any] = {
    "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "tanh": sp.tanh, "sigmoid": Sigmoid,
    "erf": sp.erf, "abs": sp.Abs,
}
"""Element-wise functions of one argument."""

_BINARY = {"maximum": sp.Max, "minimum": sp.Min}
_REDUCTIONS = ("sum", "mean", "max")
_COMPARE = {ast.Gt: sp.StrictGreaterThan, ast.GtE: sp.GreaterThan, ast.Lt: sp.StrictLessThan,
            ast.LtE: sp.LessThan}
_KNOWN = ", ".join([*FUNCTIONS, *_BINARY, "where", *_REDUCTIONS])


@dataclass(frozen=True)
class Statement:
    """``lhs = rhs`` as written (``text``), number ``number`` (1-based) of the forward pass."""

    number: int
    text: str
    target: str
    lhs: sp.Expr
    rhs: sp.Expr

    @property
    def indices(self) -> tuple[sp.Symbol, ...]:
        return tuple(self.lhs.indices) if isinstance(self.lhs, sp.Indexed) else ()


@dataclass(frozen=True, eq=False)
class Definition:
    """A parsed, checked definition: its arrays (with shapes as size expressions), constants,
    sizes, the range of every index, and the statements as SymPy expressions."""

    name: str
    summary: str
    inputs: tuple[str, ...]
    params: tuple[str, ...]
    data: tuple[str, ...]
    constants: Mapping[str, float | int]
    derived_sizes: Mapping[str, sp.Expr]
    shapes: Mapping[str, tuple[sp.Expr, ...]]
    arrays: Mapping[str, sp.Basic]
    symbols: Mapping[str, sp.Symbol]
    ranges: Mapping[sp.Symbol, sp.Expr]
    statements: tuple[Statement, ...]
    source: str = field(default="", compare=False)
    table: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """The definition as read (a dict), enough to read it again."""

    @property
    def output(self) -> str:
        return self.statements[-1].target

    @property
    def differentiated(self) -> tuple[str, ...]:
        """The arrays whose gradients the backward pass returns: inputs, then params."""
        return self.inputs + self.params

    @property
    def arguments(self) -> tuple[str, ...]:
        """The positional arguments of the forward pass: inputs, params, data."""
        return self.inputs + self.params + self.data

    @property
    def base_sizes(self) -> tuple[str, ...]:
        """Sizes read off the arguments' shapes, in order of first appearance."""
        out: list[str] = []
        for name in self.arguments:
            for size in self.shapes[name]:
                for s in sorted(size.free_symbols, key=lambda s: s.name):
                    if s.name not in out and s.name not in self.derived_sizes and s.name not in self.constants:
                        out.append(s.name)
        return tuple(out)

    @property
    def scalar_output(self) -> bool:
        return not self.statements[-1].indices

    @property
    def index_names(self) -> set[str]:
        return {s.name for s in self.ranges}

    def free(self, expr: sp.Expr) -> set[sp.Symbol]:
        """The free indices of ``expr``."""
        return free_indices(expr, self.index_names)


def define(source: str | Path | Mapping[str, Any]) -> Definition:
    """Read a definition from a TOML file path, a TOML string or a dict; check it."""
    text = ""
    if isinstance(source, Mapping):
        table = dict(source)
    else:
        if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and "=" not in source):
            path = Path(source)
            if not path.is_file():
                raise LayergradError(f"no definition file {str(path)!r}")
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise LayergradError(f"cannot read {str(path)!r}: {exc}") from None
        else:
            text = source
        try:
            table = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise LayergradError(f"the definition is not valid TOML: {exc}") from None
    return _Reader(table, text).definition()


# -- the reader --------------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_RESERVED = {"np", "cache", "dout", "sum", "mean", "max", "where", "maximum", "minimum", "LayergradError",
             *FUNCTIONS, *dir(builtins)}


class _Reader:
    """One pass over a definition table; every check raises a one-line LayergradError."""

    def __init__(self, table: dict[str, Any], text: str) -> None:
        self.table = table
        self.text = text
        unknown = sorted(set(table) - set(KEYS))
        if unknown:
            raise LayergradError(f"unknown key {unknown[0]!r} in the definition; keys: {', '.join(KEYS)}")
        for key in ("name", "forward"):
            if key not in table:
                raise LayergradError(f"the definition needs a {key!r}")
        self.name = self._identifier(table["name"], "the layer's name")
        self.summary = str(table.get("summary", ""))
        self.symbols: dict[str, sp.Symbol] = {}
        self.arrays: dict[str, sp.Basic] = {}
        self.shapes: dict[str, tuple[sp.Expr, ...]] = {}
        self.kinds: dict[str, str] = {}
        self.ranges: dict[sp.Symbol, tuple[sp.Expr, str]] = {}

    # -- declarations --------------------------------------------------------------------------

    def _identifier(self, name: Any, what: str) -> str:
        if not isinstance(name, str) or not _IDENT.match(name) or keyword.iskeyword(name):
            raise LayergradError(f"{what} must be a name of letters, digits and _, got {name!r}")
        return name

    def _claim(self, name: str, kind: str) -> None:
        self._identifier(name, f"the {kind} name")
        if name in self.kinds:
            raise LayergradError(f"{name!r} is declared twice (as {self.kinds[name]} and as {kind})")
        if name in _RESERVED or name.startswith("_"):
            raise LayergradError(f"{name!r} cannot be used as a name (it is reserved in the generated code)")
        if (name.startswith("d") and name[1:] in self.kinds) or f"d{name}" in self.kinds:
            clash = name[1:] if name.startswith("d") and name[1:] in self.kinds else f"d{name}"
            raise LayergradError(f"{name!r} cannot be used next to {clash!r}: the gradient of one is named like the "
                                 "other")
        self.kinds[name] = kind

    def _table(self, key: str) -> dict[str, Any]:
        value = self.table.get(key, {})
        if not isinstance(value, dict):
            raise LayergradError(f"{key} must be a table such as {{ X = [\"N\", \"D\"] }}, got {value!r}")
        return value

    def _constants(self) -> dict[str, float | int]:
        out = {}
        for name, value in self._table("constants").items():
            self._claim(name, "constant")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise LayergradError(f"constant {name} must be a finite number, got {value!r}")
            out[name] = value
            self.symbols[name] = sp.Symbol(name, integer=True) if isinstance(value, int) else sp.Symbol(name, real=True)
        return out

    def _size_expr(self, value: Any, where: str) -> sp.Expr:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise LayergradError(f"{where}: a size must be a positive whole number, got {value}")
            return sp.Integer(value)
        if not isinstance(value, str):
            raise LayergradError(f"{where}: a size is a name or a whole number, got {value!r}")
        if _IDENT.match(value):
            if self.kinds.get(value) == "constant" and self.symbols[value].is_integer:
                return self.symbols[value]
            if value in self.kinds and self.kinds[value] not in ("size", "derived size"):
                raise LayergradError(f"{where}: {value!r} is a {self.kinds[value]}, not a size")
            if value not in self.symbols:
                self._claim(value, "size")
                self.symbols[value] = sp.Symbol(value, integer=True, positive=True)
            return self.symbols[value]
        return self._formula(value, where)

    def _formula(self, value: str, where: str) -> sp.Expr:
        """A size formula over sizes, integer constants and numbers (``1 + (H + 2*P - K)/S``)."""
        try:
            tree = ast.parse(value, mode="eval").body
        except SyntaxError as exc:
            raise LayergradError(f"{where}: cannot read {value!r} (column {exc.offset}): {exc.msg}") from None

        def visit(node: ast.AST) -> sp.Expr:
            if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
                return sp.Integer(node.value)
            if isinstance(node, ast.Name):
                if node.id in self.symbols and self.kinds.get(node.id) in ("size", "derived size", "constant"):
                    if self.kinds[node.id] == "constant" and not self.symbols[node.id].is_integer:
                        raise LayergradError(f"{where}: constant {node.id} is not a whole number")
                    return self.symbols[node.id]
                self._claim(node.id, "size")
                self.symbols[node.id] = sp.Symbol(node.id, integer=True, positive=True)
                return self.symbols[node.id]
            if isinstance(node, ast.BinOp) and type(node.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div):
                a, b = visit(node.left), visit(node.right)
                op = type(node.op)
                return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b, ast.Div: a / b}[op]
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
                return -visit(node.operand)
            raise LayergradError(f"{where}: {ast.unparse(node)!r} is not allowed in a size "
                                 "(sizes, integer constants, whole numbers, + - * /)")

        return visit(tree)

    def _sizes(self) -> dict[str, sp.Expr]:
        out = {}
        for name, value in self._table("sizes").items():
            self._claim(name, "derived size")
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise LayergradError(f"size {name} must be a formula string such as \"1 + (H - K)/S\"")
            formula = sp.sympify(value) if isinstance(value, int) else self._formula(value, f"size {name}")
            if formula.is_number and not (formula.is_integer and formula > 0):
                raise LayergradError(f"size {name} = {value} is not a positive whole number")
            out[name] = formula
            self.symbols[name] = sp.Symbol(name, integer=True, positive=True)
        return out

    def _arrays(self, key: str) -> tuple[str, ...]:
        names = []
        for name, shape in self._table(key).items():
            self._claim(name, {"inputs": "input", "params": "parameter", "data": "data array",
                               "outputs": "output"}[key])
            if not isinstance(shape, list):
                raise LayergradError(f"the shape of {name} must be a list of sizes such as "
                                     f"[\"N\", \"D\"], got {shape!r}")
            self.shapes[name] = tuple(self._size_expr(s, f"shape of {name}") for s in shape)
            self.arrays[name] = sp.IndexedBase(name, real=True) if shape else sp.Symbol(name, real=True)
            names.append(name)
        return tuple(names)

    # -- statements ----------------------------------------------------------------------------

    def definition(self) -> Definition:
        constants = self._constants()
        inputs, params, data = self._arrays("inputs"), self._arrays("params"), self._arrays("data")
        derived = self._sizes()
        if not inputs + params:
            raise LayergradError("the definition differentiates nothing: declare at least one input or parameter")
        outputs = self._table("outputs")
        declared = {}
        for name, shape in outputs.items():
            if not isinstance(shape, list):
                raise LayergradError(f"the shape of output {name} must be a list of sizes, got {shape!r}")
            declared[name] = tuple(self._size_expr(s, f"shape of {name}") for s in shape)
        for index, size in self._table("ranges").items():
            self._index_name(index, "ranges", 1)
            symbol = self._index(self._identifier(index, "an index name"))
            self._fix(symbol, self._size_expr(size, f"range of {index}"), "ranges", "ranges", 1)
        forward = self.table["forward"]
        if isinstance(forward, str):
            forward = [forward]
        if not isinstance(forward, list) or not forward or not all(isinstance(s, str) for s in forward):
            raise LayergradError("forward must be a non-empty list of statements such as \"Y[n, d] = X[n, d]**2\"")
        statements = [self._statement(number, text, declared)
                      for number, text in enumerate(forward, start=1)]
        unused = sorted(set(declared) - {s.target for s in statements})
        if unused:
            raise LayergradError(f"outputs declares {unused[0]}, which no statement defines")
        for name in inputs + params:
            if not any(s.rhs.has(self.arrays[name]) for s in statements):
                raise LayergradError(f"{name} is declared but no statement reads it")
        ranges = {index: size for index, (size, _) in self.ranges.items()}
        return Definition(self.name, self.summary, inputs, params, data, constants, derived, dict(self.shapes),
                          dict(self.arrays), dict(self.symbols), ranges, tuple(statements), self.text,
                          self.table)

    def _statement(self, number: int, text: str, declared: dict[str, tuple[sp.Expr, ...]]) -> Statement:
        where = f"statement {number} ({text.strip()!r})"
        try:
            tree = ast.parse(text.strip(), mode="exec")
        except SyntaxError as exc:
            raise LayergradError(f"{where}, column {exc.offset}: {exc.msg}") from None
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign) or len(tree.body[0].targets) != 1:
            raise LayergradError(f"{where}, column 1: a statement is one assignment, \"A[i, j] = expression\"")
        assign = tree.body[0]
        target = assign.targets[0]
        if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            name = target.value.id
            parts = target.slice.elts if isinstance(target.slice, ast.Tuple) else [target.slice]
            if not all(isinstance(p, ast.Name) for p in parts):
                raise LayergradError(f"{where}, column {target.col_offset + 1}: the left side's indices must be "
                                     "plain names such as Y[n, d]")
            indices = [p.id for p in parts]
        elif isinstance(target, ast.Name):
            name, indices = target.id, []
        else:
            raise LayergradError(f"{where}, column 1: the left side must be an array entry Y[i, j] or a name L")
        if name in self.kinds and not (self.kinds[name] == "output" and name in declared and name not in self.arrays):
            kind = self.kinds[name]
            raise LayergradError(f"{where}, column 1: {name} is already {'an' if kind[0] in 'aeiou' else 'a'} {kind}; "
                                 "each array is defined once")
        if name not in self.kinds:
            self._claim(name, "intermediate")
        if len(set(indices)) != len(indices):
            raise LayergradError(f"{where}, column 1: an index appears twice on the left side")
        lhs_indices = []
        for index in indices:
            self._index_name(index, where, target.col_offset + 1)
            lhs_indices.append(self._index(index))
        shape = declared.get(name)
        if shape is not None and len(shape) != len(indices):
            raise LayergradError(f"{where}, column 1: {name} is declared with {len(shape)} axes in outputs "
                                 f"but has {len(indices)} indices")
        if shape is not None:
            for pos, index in enumerate(lhs_indices):
                self._fix(index, shape[pos], f"{name}, axis {pos}", where, target.col_offset + 1)
        rhs = _Expression(self, where, set(lhs_indices)).read(assign.value)
        free = free_indices(rhs, self.index_names)
        missing = sorted(free - set(lhs_indices), key=str)
        if missing:
            raise LayergradError(f"{where}: index {missing[0]} is free on the right side but missing on the left "
                                 f"(put it on the left, or bind it with sum(..., {missing[0]}))")
        sizes = []
        for index in lhs_indices:
            if index not in self.ranges:
                raise LayergradError(f"{where}: the range of {index} cannot be read off the right side; declare "
                                     f"{name}'s shape in outputs")
            sizes.append(self.ranges[index][0])
        self.shapes[name] = tuple(sizes)
        array = sp.IndexedBase(name, real=True) if lhs_indices else sp.Symbol(name, real=True)
        self.arrays[name] = array
        lhs = array[tuple(lhs_indices)] if lhs_indices else array
        return Statement(number, text.strip(), name, lhs, rhs)

    @property
    def index_names(self) -> set[str]:
        return {name for name, kind in self.kinds.items() if kind == "index"}

    def _index_name(self, name: str, where: str, column: int) -> None:
        kind = self.kinds.get(name)
        if kind is not None and kind != "index":
            raise LayergradError(f"{where}, column {column}: {name} is a {kind}, not an index")

    def _index(self, name: str) -> sp.Symbol:
        self.kinds.setdefault(name, "index")
        return sp.Symbol(name, integer=True)

    def _fix(self, index: sp.Symbol, size: sp.Expr, what: str, where: str, column: int) -> None:
        """``index`` runs over ``size`` (read at ``what``); one size per index everywhere."""
        if index in self.ranges and self.ranges[index][0] != size:
            old, at = self.ranges[index]
            raise LayergradError(f"{where}, column {column}: index {index} is used on {what} of size {size}, "
                                 f"but on {at} it runs over {old}")
        self.ranges.setdefault(index, (size, what))


def free_indices(expr: sp.Expr, names: set[str]) -> set[sp.Symbol]:
    """Index symbols (named in ``names``) free in ``expr``: read in array entries, not bound by a
    reduction."""
    out: set[sp.Symbol] = set()

    def walk(e: sp.Basic, bound: frozenset) -> None:
        if isinstance(e, (sp.Sum, Maximum)):
            inner = bound | {lim[0] for lim in e.limits}
            walk(e.function, inner)
            return
        if isinstance(e, sp.Indexed):
            out.update(s for i in e.indices for s in i.free_symbols if s not in bound and s.name in names)
            return
        for a in e.args:
            walk(a, bound)

    walk(expr, frozenset())
    return out


class _Expression:
    """The right side of one statement, from Python's syntax tree to SymPy."""

    def __init__(self, reader: _Reader, where: str, lhs: set[sp.Symbol]) -> None:
        self.r = reader
        self.where = where
        self.lhs = lhs

    def fail(self, node: ast.AST, what: str) -> LayergradError:
        return LayergradError(f"{self.where}, column {getattr(node, 'col_offset', 0) + 1}: {what}")

    def read(self, node: ast.AST) -> sp.Expr:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.fail(node, f"{ast.unparse(node)!r} is not allowed here")
        return method(node)

    def _Constant(self, node: ast.Constant) -> sp.Expr:
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise self.fail(node, f"{node.value!r} is not a number")
        return sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value)

    def _Name(self, node: ast.Name) -> sp.Expr:
        name, kind = node.id, self.r.kinds.get(node.id)
        if kind in ("constant", "size", "derived size"):
            return self.r.symbols[name]
        if name in self.r.arrays:
            if self.r.shapes.get(name):
                raise self.fail(node, f"{name} has {len(self.r.shapes[name])} axes; read it as {name}[...]")
            return self.r.arrays[name]
        if kind == "index" or name in {s.name for s in self.lhs}:
            raise self.fail(node, f"the index {name} cannot be used as a number")
        if name in FUNCTIONS or name in _BINARY or name in _REDUCTIONS:
            raise self.fail(node, f"{name} is a function; call it, {name}(...)")
        raise self.fail(node, f"undeclared name {name} (declare it in inputs, params, data, constants or sizes, "
                              "or define it in an earlier statement)")

    def _UnaryOp(self, node: ast.UnaryOp) -> sp.Expr:
        if isinstance(node.op, ast.USub):
            return -self.read(node.operand)
        if isinstance(node.op, ast.UAdd):
            return self.read(node.operand)
        raise self.fail(node, f"the operator in {ast.unparse(node)!r} is not allowed")

    def _BinOp(self, node: ast.BinOp) -> sp.Expr:
        a, b = self.read(node.left), self.read(node.right)
        ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
               ast.Div: lambda: a / b, ast.Pow: lambda: a**b}
        if type(node.op) not in ops:
            raise self.fail(node, f"the operator in {ast.unparse(node)!r} is not allowed (+ - * / **)")
        return ops[type(node.op)]()

    def _Compare(self, node: ast.Compare) -> sp.Expr:
        if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
            raise self.fail(node, f"{ast.unparse(node)!r}: one comparison, one of > >= < <=")
        return _COMPARE[type(node.ops[0])](self.read(node.left), self.read(node.comparators[0]), evaluate=False)

    def _Subscript(self, node: ast.Subscript) -> sp.Expr:
        if not isinstance(node.value, ast.Name):
            raise self.fail(node, f"{ast.unparse(node)!r}: only arrays are indexed")
        name = node.value.id
        if name not in self.r.arrays:
            if name in self.r.kinds and self.r.kinds[name] != "output":
                raise self.fail(node, f"{name} is a {self.r.kinds[name]}, not an array")
            raise self.fail(node, f"undeclared array {name} (declare it in inputs, params or data, or define it "
                                  "in an earlier statement)")
        shape = self.r.shapes[name]
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if len(parts) != len(shape):
            raise self.fail(node, f"{name} has {len(shape)} ax{'is' if len(shape) == 1 else 'es'}"
                                  f" ({', '.join(map(str, shape))}) but is indexed with {len(parts)}")
        indices = []
        for pos, part in enumerate(parts):
            if isinstance(part, ast.Name) and self.r.kinds.get(part.id) in (None, "index"):
                index = self.r._index(part.id)
                self.r._fix(index, shape[pos], f"{name}, axis {pos}", self.where, part.col_offset + 1)
                indices.append(index)
            else:
                indices.append(self._affine(part))
        return self.r.arrays[name][tuple(indices)]

    def _affine(self, node: ast.AST) -> sp.Expr:
        """An index expression: affine in indices, with integer constants and whole numbers."""

        def visit(n: ast.AST) -> sp.Expr:
            if isinstance(n, ast.Constant) and isinstance(n.value, int) and not isinstance(n.value, bool):
                return sp.Integer(n.value)
            if isinstance(n, ast.Name):
                kind = self.r.kinds.get(n.id)
                if kind in (None, "index"):
                    return self.r._index(n.id)
                if kind == "constant" and self.r.symbols[n.id].is_integer:
                    return self.r.symbols[n.id]
                raise self.fail(n, f"{n.id} is a {kind}; an index expression holds indices, integer constants "
                                   "and whole numbers")
            if isinstance(n, ast.BinOp) and type(n.op) in (ast.Add, ast.Sub, ast.Mult):
                a, b = visit(n.left), visit(n.right)
                return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}[type(n.op)]
            if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
                return -visit(n.operand)
            raise self.fail(n, f"{ast.unparse(n)!r} is not an index expression (indices, integer constants, + - *)")

        expr = sp.expand(visit(node))
        indices = [s for s in expr.free_symbols if self.r.kinds.get(s.name) == "index"]
        poly = sp.Poly(expr, *indices) if indices else None
        if poly is not None and poly.total_degree() > 1:
            raise self.fail(node, f"{ast.unparse(node)!r} is not affine in its indices")
        return expr

    def _Call(self, node: ast.Call) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, f"{ast.unparse(node.func)!r} is not a function; available: {_KNOWN}")
        name = node.func.id
        if node.keywords:
            raise self.fail(node, f"{name}() takes no keyword arguments")
        args = node.args
        if name in FUNCTIONS:
            self._count(node, 1)
            return FUNCTIONS[name](self.read(args[0]))
        if name in _BINARY:
            self._count(node, 2)
            return _BINARY[name](self.read(args[0]), self.read(args[1]))
        if name == "where":
            self._count(node, 3)
            cond = self.read(args[0])
            if not isinstance(cond, sp.core.relational.Relational):
                raise self.fail(args[0], "the first argument of where() is a comparison such as X[n, d] > 0")
            return Where(cond, self.read(args[1]), self.read(args[2]))
        if name in _REDUCTIONS:
            return self._reduction(node, name)
        raise self.fail(node, f"unknown function {name}; available: {_KNOWN}")

    def _count(self, node: ast.Call, count: int) -> None:
        if len(node.args) != count:
            raise self.fail(node, f"{node.func.id}() takes {count} argument{'s' if count > 1 else ''}, "
                                  f"got {len(node.args)}")

    def _reduction(self, node: ast.Call, name: str) -> sp.Expr:
        self._count(node, 2)
        over = node.args[1]
        names = over.elts if isinstance(over, ast.Tuple) else [over]
        if not names or not all(isinstance(n, ast.Name) for n in names):
            raise self.fail(over, f"{name}(e, k) reduces over an index k or a tuple (k, l) of indices")
        dummies = []
        for n in names:
            self.r._index_name(n.id, self.where, n.col_offset + 1)
            index = self.r._index(n.id)
            if index in self.lhs:
                raise self.fail(n, f"{n.id} is free on the left side; it cannot also be reduced over")
            dummies.append(index)
        body = self.read(node.args[0])
        limits = []
        for n, d in zip(names, dummies):
            if d not in free_indices(body, self.r.index_names):
                raise self.fail(n, f"{name}(..., {d}): the expression does not depend on {d}")
            if d not in self.r.ranges:
                raise self.fail(n, f"the range of {d} cannot be read off: use it plainly on some array axis")
            limits.append((d, 0, self.r.ranges[d][0] - 1))
        if name == "max":
            return Maximum(body, *limits)
        total = sp.Sum(body, *limits)
        if name == "mean":
            return total / sp.Mul(*(self.r.ranges[d][0] for d in dummies))
        return total
