r"""Element-wise statements evaluated into one buffer: fewer full-size temporaries.

NumPy evaluates ``dX = (1 + X - X*s)*dY*s`` one operation at a time, each into a fresh array; at
the sizes of a network layer every fresh array is a fresh allocation (and, after the allocator
returned the memory, fresh page faults), which costs several passes over the data. :func:`chain`
prints the same tree of operations as ufunc calls with ``out=``, so that the statement's result is
the one buffer allocated and the rest run in place::

    dX = np.add(1, X)
    _s0 = np.multiply(X, s)
    np.subtract(dX, _s0, out=dX)
    del _s0
    np.multiply(dX, dY, out=dX)
    np.multiply(dX, s, out=dX)

The order of operations, and so every rounding, is the printed expression's after one
rewrite (:func:`reordered`): in each sum, the terms that are operations on full-size arrays
come right after the first term, so that the first operation's buffer takes the others in
place (an exact identity of real numbers; results agree within rounding). A buffer is allocated
only by an operation with a full-size floating-point operand (a name listed in
``full``), so it has the statement's shape and a floating dtype; smaller sub-expressions
(a per-row coefficient) stay ordinary expressions, and any other call (``np.where``, a helper) is
an operand computed as before, except a selection ``_where(c, a, b)`` with a branch of
full-size floating-point arithmetic: each branch a chain of its own, the selection written over
one of their buffers (``_where(..., out=)``), the rest of the chain in it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Collection

__all__ = ["FLOAT_FUNCTIONS", "chain", "reordered"]

_BINARY = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}
_UNARY = {"exp", "log", "log1p", "sqrt", "tanh", "abs", "square", "cosh", "sinh", "negative", "reciprocal", "sign"}
_PAIRS = {"maximum", "minimum"}

FLOAT_FUNCTIONS = ("_sigmoid(", "_softplus(", "_erf(")
"""Helper calls whose value is a floating-point array of their argument's shape."""


class _Chain:
    def __init__(self, full: Collection[str], fresh: Callable[[], str]) -> None:
        self.full = full
        self.fresh = fresh
        self.lines: list[str] = []
        self.spare: list[str] = []
        self.scratch: list[str] = []

    def buffer(self, call: str, *args: str) -> str:
        """A full-size buffer holding ``call(*args)``: a spare one if any, else a fresh array."""
        if self.spare:
            name = self.spare.pop()
            self.lines.append(f"{call}({', '.join(args)}, out={name})")
            return name
        name = self.fresh()
        self.scratch.append(name)
        self.lines.append(f"{name} = {call}({', '.join(args)})")
        return name

    def emit(self, node: ast.expr) -> tuple[str, bool, bool]:
        """``node`` as (code, is a buffer of this chain, has the full shape)."""
        if isinstance(node, ast.Name):
            return node.id, False, node.id in self.full
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return self.binary(f"np.{_BINARY[type(node.op)]}", node, node.left, node.right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self.unary("np.negative", node, node.operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_where" \
                and len(node.args) == 3 and not node.keywords and any(map(self.floating, node.args[1:])):
            return self.select(node)
        if isinstance(node, ast.Call) and not node.keywords and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "np":
            if node.func.attr in _UNARY and len(node.args) == 1:
                return self.unary(f"np.{node.func.attr}", node, node.args[0])
            if node.func.attr in _PAIRS and len(node.args) == 2:
                return self.binary(f"np.{node.func.attr}", node, *node.args)
        return _operand(node), False, False

    def select(self, node: ast.Call) -> tuple[str, bool, bool]:
        """``_where(c, a, b)`` with a branch of full-size floating-point arithmetic: each branch
        computed as a chain, the selection written over a branch's buffer (``out=``; ``_where``
        allocates when it cannot use it), the other buffer spare; with no buffer, a fresh array.
        The rest runs in the result."""
        condition = _operand(node.args[0])
        a, a_owned, _ = self.emit(node.args[1])
        b, b_owned, _ = self.emit(node.args[2])
        if not (a_owned or b_owned):
            name = self.fresh()
            self.scratch.append(name)
            self.lines.append(f"{name} = _where({condition}, {a}, {b})")
            return name, True, True
        out = a if a_owned else b
        self.lines.append(f"{out} = _where({condition}, {a}, {b}, out={out})")
        if a_owned and b_owned:
            self.spare.append(b)
        return out, True, True

    def floating(self, node: ast.expr) -> bool:
        """Whether ``node`` is arithmetic on a full-size floating-point array (no comparison)."""
        parts = list(ast.walk(node))
        return any(isinstance(n, ast.Name) and n.id in self.full for n in parts) \
            and not any(isinstance(n, (ast.Compare, ast.Call)) for n in parts)

    def unary(self, call: str, node: ast.expr, operand: ast.expr) -> tuple[str, bool, bool]:
        code, owned, full = self.emit(operand)
        if owned:
            self.lines.append(f"{call}({code}, out={code})")
            return code, True, True
        if full:
            return self.buffer(call, code), True, True
        return _operand(node), False, False

    def binary(self, call: str, node: ast.expr, left: ast.expr, right: ast.expr) -> tuple[str, bool, bool]:
        a, a_owned, a_full = self.emit(left)
        b, b_owned, b_full = self.emit(right)
        if a_owned:
            self.lines.append(f"{call}({a}, {b}, out={a})")
            if b_owned:
                self.spare.append(b)
            return a, True, True
        if b_owned:
            self.lines.append(f"{call}({a}, {b}, out={b})")
            return b, True, True
        if a_full or b_full:
            return self.buffer(call, a, b), True, True
        return _operand(node), False, False


def reordered(node: ast.expr, full: Collection[str]) -> ast.expr:
    """``node`` with each sum's terms reordered: the terms without a full-size array (numbers,
    per-row coefficients) together first, else a positive full-size name, then the operations on
    full-size arrays, then the other names; so that the first operation's buffer takes every other
    term in place (``Y + s - Y*s``: ``Y*s`` into a buffer, ``Y - buffer`` and ``+ s`` in it, where
    the printed order needs a second buffer for ``Y + s``). A sum that starts with an operation,
    or has none, keeps its order."""
    if isinstance(node, ast.Compare):  # a condition is computed as printed: its ties stay where they are
        return node
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        terms = _terms(node)
        scalars = [t for t in terms if not _reads(t[1], full)]  # kept together, in their order
        operations = [t for t in terms if _reads(t[1], full) and not isinstance(t[1], ast.Name)]
        names = [t for t in terms if isinstance(t[1], ast.Name) and t[1].id in full]
        head = (False, _summed(scalars)) if scalars else next((t for t in names if not t[0]), None)
        if operations and head is not None and terms[0] is not operations[0]:
            ordered = [head, *operations, *(t for t in names if t is not head)]
            return _summed([(negative, reordered(term, full)) for negative, term in ordered])
    for field, child in ast.iter_fields(node):
        if isinstance(child, ast.expr):
            setattr(node, field, reordered(child, full))
        elif isinstance(child, list):
            setattr(node, field, [reordered(c, full) if isinstance(c, ast.expr) else c for c in child])
    return node


def _terms(node: ast.expr) -> list[tuple[bool, ast.expr]]:
    """The terms of a sum, each with whether it is subtracted."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        right = _terms(node.right)
        if isinstance(node.op, ast.Sub):
            right = [(not negative, term) for negative, term in right]
        return _terms(node.left) + right
    return [(False, node)]


def _summed(terms: list[tuple[bool, ast.expr]]) -> ast.expr:
    """The sum of signed terms, left to right."""
    out = ast.UnaryOp(ast.USub(), terms[0][1]) if terms[0][0] else terms[0][1]
    for negative, term in terms[1:]:
        out = ast.BinOp(out, ast.Sub() if negative else ast.Add(), term)
    return out


def _reads(node: ast.expr, full: Collection[str]) -> bool:
    """Does ``node`` read a full-size array?"""
    return any(isinstance(n, ast.Name) and n.id in full for n in ast.walk(node))


def _operand(node: ast.expr) -> str:
    code = ast.unparse(node)
    simple = isinstance(node, (ast.Name, ast.Constant, ast.Call, ast.Subscript, ast.Attribute))
    return code if simple else f"({code})"


def chain(target: str, code: str, full: Collection[str], fresh: Callable[[], str]) -> list[str] | None:
    """Statements computing ``target = code`` in one buffer (the statement as it is when it is a
    single operation), or None when its value is not a full-size floating-point array computed
    here (no operation on a full-size array, or a call this module does not know). ``full`` names
    the floating-point arrays of the statement's full shape; ``fresh`` gives an unused name."""
    try:
        tree = ast.parse(code, mode="eval").body
    except SyntaxError:
        return None
    if any(isinstance(n, ast.Name) and n.id == target for n in ast.walk(tree)):
        return None
    tree = reordered(tree, full)
    work = _Chain(full, fresh)
    result, owned, _ = work.emit(tree)
    if not owned:
        return None
    if len(work.lines) == 1:
        return [f"{target} = {code}"]
    lines = [re.sub(rf"(?<![\w.]){re.escape(result)}(?!\w)", target, line) for line in work.lines]
    dropped = [name for name in work.scratch if name != result]
    return lines + ([f"del {', '.join(dropped)}"] if dropped else [])
