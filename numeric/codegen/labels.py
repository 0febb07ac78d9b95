r"""The one-hot labels :math:`Y_{ik} = [k = y_i]` in index form, and arrays the code owns.

A value that depends on :math:`Y_{ik}` at its own indices is, :math:`Y_{ik}` being 0 or 1,

.. math:: f(Y_{ik}) = (1 - Y_{ik})\, f(0) + Y_{ik}\, f(1)

(:func:`split`; exact for every :math:`f`). The lowering prints it as the array :math:`f(0)`
with its labelled entries :math:`(i, y_i)` set to :math:`f(1)` read at the labels
(``t[rows, y] = v``): a factor :math:`1 - Y` on an array zeroes the labelled entries, a term
:math:`Y_{ik} v_i` added to an array sets them, with no one-hot array, no product with it and no
pass over the whole array for the labelled column. :func:`fresh` and :func:`elide_copies` let
such a write go into an array the code computed itself, after its last use, instead of a copy.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Sequence

import sympy as sp

__all__ = ["elide_copies", "fresh", "split"]

_NEW_ARRAY = {"maximum", "minimum", "where", "exp", "log", "log1p", "sqrt", "abs", "sign", "tanh", "cosh", "sinh",
              "square", "add", "subtract", "multiply", "divide", "negative", "reciprocal"}
"""NumPy functions whose value is a new array (never a view of an argument)."""


def split(expr: sp.Expr, entry: sp.Indexed) -> tuple[sp.Expr, sp.Expr]:
    r"""``(f(0), f(1))`` for ``expr`` :math:`= f(Y_{ik})` with ``entry`` :math:`= Y_{ik}` a 0/1
    value, so that ``expr`` :math:`= (1 - Y_{ik}) f(0) + Y_{ik} f(1)`. Entries of :math:`Y` at
    other indices (under a sum) are left alone."""
    return expr.xreplace({entry: sp.S.Zero}), expr.xreplace({entry: sp.S.One})


def fresh(code: str) -> bool:
    """Is the value of ``code`` a new array (arithmetic, a comparison or a NumPy function that
    allocates its result), never a view of a variable? Anything else may be a view."""
    try:
        node = ast.parse(code, mode="eval").body
    except SyntaxError:
        return False
    if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare)):
        return True
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "np"
            and node.func.attr in _NEW_ARRAY and not any(k.arg == "out" for k in node.keywords))


def _mentions(line: str, name: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", line) is not None


def elide_copies(lines: Sequence[str], read_later: Callable[[str], bool]) -> list[str]:
    """``lines`` with each ``t = a.copy()`` made ``t = a`` where the copy is not needed: ``a`` was
    computed by these lines as a new array (:func:`fresh`), nothing made an alias of it since, no
    later line reads it and ``read_later(a)`` (read after the lines) is false."""
    out = list(lines)
    for n, line in enumerate(out):
        match = re.fullmatch(r"(\w+) = (\w+)\.copy\(\)", line)
        if match is None or read_later(match.group(2)):
            continue
        target, source = match.groups()
        defined = [k for k in range(n) if out[k].startswith(f"{source} = ")]
        if not defined or not fresh(out[defined[-1]].split(" = ", 1)[1]):
            continue
        values = [line.split(" = ", 1)[1] for line in out[defined[-1] + 1:n] if re.match(r"\w+ = ", line)]
        aliased = any(_mentions(value, source) and not fresh(value) for value in values)
        if aliased or any(_mentions(after, source) for after in out[n + 1:]):
            continue
        out[n] = f"{target} = {source}"
    return out
