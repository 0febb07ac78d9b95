r"""Printers for derivation steps: compact one-line text, LaTeX, and MathML.

SymPy's own ``str`` output is Python syntax and its ``pretty`` output stacks sums seven lines
high; a derivation reads better as one line per step, so the text printer writes
:math:`\sum_{k} x_k` as ``Σ_k x[k]``, a derivative as ``∂L/∂Y[i, j]``, a Kronecker delta as
``δ(i, k)`` and a Hadamard product as ``D ⊙ Y``.
"""

from __future__ import annotations

import re
from html.entities import html5

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.mathml import MathMLPresentationPrinter
from sympy.printing.str import StrPrinter

__all__ = ["latex", "mathml", "text"]


def _prime_name(expr: sp.Subs) -> str | None:
    """``f`` when ``expr`` is f'(a), i.e. ``Subs(Derivative(f(t), t), t, a)``; else None."""
    d = expr.expr
    if (
        isinstance(d, sp.Derivative)
        and len(expr.variables) == 1
        and isinstance(d.expr, sp.core.function.AppliedUndef)
        and d.expr.args == expr.variables
        and d.variables == expr.variables
    ):
        return d.expr.func.__name__
    return None


class _TextPrinter(StrPrinter):
    """One-line Unicode math: the plain-text face of a derivation."""

    def _print_Sum(self, expr: sp.Sum) -> str:
        names = ",".join(self._print(limit[0]) for limit in expr.limits)
        return f"Σ_{{{names}}} {self.parenthesize(expr.function, 50)}"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        wrt = "".join(f"∂{self._print(v)}" for v, _ in expr.variable_count)
        body = self._print(expr.expr)
        if not isinstance(expr.expr, (sp.Symbol, sp.Indexed, sp.Function)):
            body = f"({body})"
        return f"∂{body}/{wrt}"

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta) -> str:
        return f"δ({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return " ⊙ ".join(self.parenthesize(a, 50) for a in expr.args)

    def _print_Mul(self, expr: sp.Mul) -> str:
        return super()._print_Mul(expr).replace("*", "·")

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        if expr.exp == sp.Rational(1, 2):
            return f"√({self._print(expr.base)})"
        if expr.exp == -sp.Rational(1, 2):
            return f"1/√({self._print(expr.base)})"
        if expr.exp == -1:
            return f"1/{self.parenthesize(expr.base, 50)}"
        exp = self._print(expr.exp)
        if not (expr.exp.is_Integer and expr.exp >= 0) and not expr.exp.is_Symbol:
            exp = f"({exp})"
        return f"{self.parenthesize(expr.base, 60)}^{exp}"

    def _print_Expectation(self, expr) -> str:
        return f"E[{self._print(expr.args[0])}]"

    def _print_Subs(self, expr: sp.Subs) -> str:
        name = _prime_name(expr)
        if name is None:
            return super()._print_Subs(expr)
        return f"{name}'({self._print(expr.point[0])})"

    def _print_Variance(self, expr) -> str:
        return f"Var[{self._print(expr.args[0])}]"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        parts = [f"{self._print(e)} if {self._print(c)}" for e, c in expr.args]
        return "{" + "; ".join(parts) + "}"

    def _print_Equality(self, expr: sp.Eq) -> str:
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"

    def _print_Unequality(self, expr) -> str:
        return f"{self._print(expr.lhs)} ≠ {self._print(expr.rhs)}"

    def _print_Relational(self, expr) -> str:
        ops = {"<": "<", "<=": "≤", ">": ">", ">=": "≥"}
        return f"{self._print(expr.lhs)} {ops.get(expr.rel_op, expr.rel_op)} {self._print(expr.rhs)}"

    def _print_Contains(self, expr) -> str:
        return f"{self._print(expr.args[0])} ∈ {self._print(expr.args[1])}"

    def _print_Interval(self, expr) -> str:
        left, right = ("(" if expr.left_open else "["), (")" if expr.right_open else "]")
        return f"{left}{self._print(expr.start)}, {self._print(expr.end)}{right}"

    def _print_Implies(self, expr) -> str:
        return f"({self._print(expr.args[0])}) ⇒ {self._print(expr.args[1])}"

    def _print_And(self, expr) -> str:
        return " ∧ ".join(self.parenthesize(a, 40) for a in expr.args)

    def _print_Or(self, expr) -> str:
        return " ∨ ".join(self.parenthesize(a, 40) for a in expr.args)

    def _print_FiniteSet(self, expr) -> str:
        return "{" + ", ".join(self._print(a) for a in expr.args) + "}"

    def _print_MatMul(self, expr: sp.MatMul) -> str:
        return "·".join(self.parenthesize(a, 50) for a in expr.args)

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        return f"{self.parenthesize(expr.arg, 60)}ᵀ"

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        rows, cols = expr.shape
        return f"1_{self._print(rows)}" if cols == 1 else f"1_{self._print(cols)}ᵀ"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        if len(expr.args) == 2 and expr.args[1] == 0:
            return f"[{self._print(expr.args[0])} > 0]"
        return f"θ({self._print(expr.args[0])})"

    def _print_Max(self, expr: sp.Max) -> str:
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"


def _is_atom_like(expr: sp.Basic) -> bool:
    """Is ``expr`` printed as a single name (so ∂L/∂x rather than ∂/∂x (…))?"""
    return isinstance(expr, (sp.Symbol, sp.Indexed)) or (
        isinstance(expr, sp.core.function.AppliedUndef) and not expr.args
    )


_WIDE_MATRIX = 120
"""Characters of LaTeX in a matrix's widest row beyond which it is set as a ``smallmatrix``."""


class _LatexPrinter(LatexPrinter):
    """LaTeX with Kronecker deltas as :math:`\\delta_{ik}` and ⊙ for Hadamard products; a
    matrix of long entries (a gradient written out entry by entry) in a ``smallmatrix``."""

    def _print_MatrixBase(self, expr) -> str:
        out = super()._print_MatrixBase(expr)
        widest = max((sum(len(self._print(e)) for e in expr.row(r)) for r in range(expr.rows)), default=0)
        if widest > _WIDE_MATRIX:
            out = out.replace(r"\begin{matrix}", r"\begin{smallmatrix}").replace(r"\end{matrix}", r"\end{smallmatrix}")
        return out

    def _print_KroneckerDelta(self, expr: sp.KroneckerDelta, exp=None) -> str:
        body = rf"\delta_{{{self._print(expr.args[0])}, {self._print(expr.args[1])}}}"
        return rf"{body}^{{{exp}}}" if exp else body

    def _print_HadamardProduct(self, expr: sp.HadamardProduct) -> str:
        return r" \odot ".join(self.parenthesize(a, 50) for a in expr.args)

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        if isinstance(expr.expr, (sp.Symbol, sp.Indexed)) and len(expr.variables) == 1:
            return rf"\frac{{\partial {self._print(expr.expr)}}}{{\partial {self._print(expr.variables[0])}}}"
        return super()._print_Derivative(expr)

    def _print_Expectation(self, expr) -> str:
        return rf"\mathbb{{E}}\left[{self._print(expr.args[0])}\right]"

    def _print_Subs(self, expr: sp.Subs) -> str:
        name = _prime_name(expr)
        if name is None:
            return super()._print_Subs(expr)
        head = self._print(sp.Symbol(name))
        return rf"{head}'\left({self._print(expr.point[0])}\right)"

    def _print_Variance(self, expr) -> str:
        return rf"\operatorname{{Var}}\left[{self._print(expr.args[0])}\right]"

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        rows, cols = expr.shape
        if cols == 1:
            return rf"\mathbf{{1}}_{{{self._print(rows)}}}"
        return rf"\mathbf{{1}}_{{{self._print(cols)}}}^{{T}}"

    def _print_Heaviside(self, expr: sp.Heaviside, exp=None) -> str:
        if len(expr.args) == 2 and expr.args[1] == 0:
            body = rf"\left[{self._print(expr.args[0])} > 0\right]"
        else:
            body = rf"\theta\left({self._print(expr.args[0])}\right)"
        return rf"{body}^{{{exp}}}" if exp else body


_ACCENTS = {"hat": "^", "bar": "¯", "tilde": "~", "dot": "˙"}


class _MathMLPrinter(MathMLPresentationPrinter):
    """Presentation MathML that reads like the LaTeX printer: indices as plain subscripts
    (``Y_{i,j}``, not ``Y_{(i,j)}``), partial derivatives, a sum sign per summation index,
    Kronecker deltas as :math:`\\delta_{ik}`, :math:`\\hat y` for ``yhat`` and
    :math:`f_2'(z)` for the derivative of an undefined function at a point."""

    def _node(self, tag: str, content: str = "", *children):
        node = self.dom.createElement(tag)
        if content:
            node.appendChild(self.dom.createTextNode(content))
        for child in children:
            node.appendChild(child)
        return node

    def _print_Symbol(self, sym, style="plain"):
        for accent, mark in _ACCENTS.items():
            if sym.name.endswith(accent) and len(sym.name) > len(accent):
                over = self._node("mover", "", super()._print_Symbol(sp.Symbol(sym.name[: -len(accent)]), style),
                                  self._node("mo", mark))
                over.setAttribute("accent", "true")
                return over
        return super()._print_Symbol(sym, style)

    def _print_Function(self, e):
        if isinstance(e, sp.core.function.AppliedUndef):
            return self._node("mrow", "", self._print(sp.Symbol(e.func.__name__)), self._paren_comma_separated(*e.args))
        return super()._print_Function(e)

    def _print_Subs(self, expr):
        name = _prime_name(expr)
        if name is None:
            return super()._print_Subs(expr)
        head = self._node("msup", "", self._print(sp.Symbol(name)), self._node("mo", "′"))
        return self._node("mrow", "", head, self._paren_comma_separated(*expr.point))

    # Layer-specific objects, printed as their LaTeX shows them (dispatch is by class name).
    def _print_Adjoint(self, expr):
        if isinstance(expr, sp.IndexedBase):  # derive.graph.Adjoint: the gradient array dv
            return self._node("mrow", "", self._node("mi", "d"), self._print(expr.label))
        return super()._print_Adjoint(expr)

    def _print_Correlation(self, expr):
        row = self._node("mrow")
        for pos, arg in enumerate(expr.args):
            if pos:
                row.appendChild(self._node("mo", "⋆"))
            row.appendChild(self.parenthesize(arg, 50))
        return row

    def _print_Rotated180(self, expr):
        head = self._node("msub", "", self._node("mi", "rot"), self._node("mn", "180°"))
        return self._node("mrow", "", head, self._paren_comma_separated(expr.args[0]))

    def _print_ZeroPadded(self, expr):
        head = self._node("msub", "", self._node("mi", "pad"), self._print(expr.args[1]))
        return self._node("mrow", "", head, self._paren_comma_separated(expr.args[0]))

    def _print_KroneckerDelta(self, expr):
        row = self._node("mrow")
        for pos, index in enumerate(expr.args):
            if pos:
                row.appendChild(self._node("mo", ","))
            row.appendChild(self._print(index))
        return self._node("msub", "", self._node("mi", "δ"), row)

    def _print_Derivative(self, e):
        order = sum(n for _, n in e.variable_count)

        def partial(power: int):
            mark = self._node("mo", "∂")
            return mark if power == 1 else self._node("msup", "", mark, self._print(sp.Integer(power)))

        bottom = self._node("mrow")
        for variable, count in e.variable_count:
            bottom.appendChild(partial(count))
            bottom.appendChild(self._print(variable))
        top = self._node("mrow", "", partial(order))
        if _is_atom_like(e.expr):
            top.appendChild(self._print(e.expr))
            return self._node("mfrac", "", top, bottom)
        return self._node("mrow", "", self._node("mfrac", "", top, bottom), self.parenthesize(e.expr, 50))

    def _print_Sum(self, e):
        row = self._node("mrow")
        for variable, low, high in e.limits:
            under = self._node("mrow", "", self._print(variable), self._node("mo", "="), self._print(low))
            row.appendChild(self._node("munderover", "", self._node("mo", "∑"), under, self._print(high)))
        row.appendChild(self.parenthesize(e.function, 50))
        return row

    def _print_Indexed(self, e):
        msub = self.dom.createElement("msub")
        msub.appendChild(self._print(e.base))
        if len(e.indices) == 1:
            msub.appendChild(self._print(e.indices[0]))
            return msub
        row = self.dom.createElement("mrow")
        for pos, index in enumerate(e.indices):
            if pos:
                sep = self.dom.createElement("mo")
                sep.appendChild(self.dom.createTextNode(","))
                row.appendChild(sep)
            row.appendChild(self._print(index))
        msub.appendChild(row)
        return msub

    def _print_HadamardProduct(self, expr):
        row = self.dom.createElement("mrow")
        for pos, arg in enumerate(expr.args):
            if pos:
                op = self.dom.createElement("mo")
                op.appendChild(self.dom.createTextNode("⊙"))
                row.appendChild(op)
            row.appendChild(self._print(arg))
        return row

    def _print_Expectation(self, expr):
        return self._bracketed("E", expr.args[0])

    def _print_Variance(self, expr):
        return self._bracketed("Var", expr.args[0])

    def _print_Mean(self, expr):
        return self._bracketed("E", expr.args[0])

    def _bracketed(self, name: str, arg):
        row = self.dom.createElement("mrow")
        for tag, text in (("mi", name), ("mo", "[")):
            node = self.dom.createElement(tag)
            node.appendChild(self.dom.createTextNode(text))
            row.appendChild(node)
        row.appendChild(self._print(arg))
        close = self.dom.createElement("mo")
        close.appendChild(self.dom.createTextNode("]"))
        row.appendChild(close)
        return row


def text(expr: sp.Basic) -> str:
    """One line of Unicode math for ``expr``."""
    return _TextPrinter({"order": "none"}).doprint(expr)


def latex(expr: sp.Basic) -> str:
    """LaTeX for ``expr`` (no surrounding ``$``)."""
    return _LatexPrinter({"order": "none"}).doprint(expr)


def _numeric_entity(match: re.Match) -> str:
    """``&InvisibleTimes;`` → ``&#x2062;``: named HTML entities are not valid XML."""
    char = html5.get(match.group(1) + ";")
    return f"&#x{ord(char):x};" if char and len(char) == 1 else match.group(0)


def mathml(expr: sp.Basic, display: bool = False) -> str:
    """A complete ``<math>`` element in presentation MathML for ``expr``."""
    inner = _MathMLPrinter({"order": "none"}).doprint(expr)
    inner = re.sub(r"&([A-Za-z]+);", _numeric_entity, inner)
    inner = inner.replace("</mn><mo>&#x2062;</mo><mn>", "</mn><mo>\u00b7</mo><mn>")  # 2·0, never 20
    inner = inner.replace("<mo>-</mo>", "<mo>\u2212</mo>").replace("<mn>-", "<mn>\u2212")  # a minus, not a hyphen
    inner = inner.replace("<mo><</mo>", "<mo>&lt;</mo>").replace("<mo>></mo>", "<mo>&gt;</mo>")  # SymPy leaves them raw
    mode = "block" if display else "inline"
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="{mode}">{inner}</math>'
