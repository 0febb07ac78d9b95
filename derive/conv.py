r"""Convolution, derived: Quiz 8's 3×3 ∗ 2×2 example entry by entry, then the general layer.

**The quiz example** (:func:`quiz_example`, questions 3 and 4 of Quiz 8). With 1-based
indices, a 3×3 input :math:`X` and a 2×2 filter :math:`W` (cross-correlation, stride 1, no
padding),

.. math:: O_{ij} = \sum_{k=1}^{2}\sum_{l=1}^{2} X_{i+k-1,\,j+l-1} W_{kl}, \qquad i, j \in \{1, 2\},

which SymPy writes out into the quiz's four equations. With :math:`dO = \partial L/\partial O`
the gradients come out entry by entry and are recognised as
:math:`\partial L/\partial W = X \star dO` and
:math:`\partial L/\partial X = \operatorname{pad}_1(dO) \star \operatorname{rot}_{180}(W)`.

**The general layer** (:func:`general`): :math:`N` inputs with :math:`C` channels of size
:math:`H \times W`, :math:`F` filters of size :math:`C \times HH \times WW`, stride :math:`S`,
zero padding :math:`P`, dilation :math:`d`, all symbolic, indices from 0:

.. math:: \text{out}_{nfij} = b_f + \sum_{c,k,l} \text{xpad}_{n,c,Si+dk,Sj+dl}\, w_{fckl},

with output height :math:`H' = 1 + (H + 2P - d(HH-1) - 1)/S` kept as its own symbol (it is an
integer exactly when :math:`S` divides the numerator). The backward pass is derived by the
index engine from :math:`L = \sum \text{dout} \odot \text{out}`:
:math:`dw`, :math:`db`, :math:`d\text{xpad}` in scatter form (any dilation) and in the
closed form :math:`\sum_{f,i,j} \text{dout}_{nfij} w_{f,c,a-Si,b-Sj}` (:math:`d = 1`),
recognised as a full convolution of the zero-inserted, zero-padded dout with the
180°-rotated kernel (:func:`transposed`); :math:`dx` is :math:`d\text{xpad}` cropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from .choices import EXAMPLES
from .derivation import Assumption, Derivation, Prover, by_sympy
from .display import contracted, own_names
from .errors import LayergradError
from .index import IN_RANGE, ZERO_OUTSIDE, index_prover, multiply_out
from .matrix import MatrixGradient
from .printing import text
from .support import shapes_assumption, support_prover

__all__ = [
    "EXAMPLES",
    "Correlation",
    "General",
    "QuizExample",
    "Rotated180",
    "ZeroPadded",
    "backward_b",
    "backward_w",
    "backward_x",
    "backward_xpad",
    "derivations",
    "forward",
    "general",
    "output_size",
    "quiz_example",
    "symbols",
    "transposed",
    "window_count",
]

# ---------------------------------------------------------------------------------------------
# Quiz 8, question 3: X is 3×3, W is 2×2, indices from 1 as in the quiz.

X, Wq, O, dO = (sp.IndexedBase(name) for name in ("X", "W", "O", "dO"))
Xm, Wm, dOm = sp.MatrixSymbol("X", 3, 3), sp.MatrixSymbol("W", 2, 2), sp.MatrixSymbol("dO", 2, 2)
_QUIZ_ARRAYS = {Xm: X, Wm: Wq, dOm: dO}
_qi, _qj, _qk, _ql = sp.symbols("i j k l", integer=True)


class Correlation(sp.MatrixExpr):
    r"""The valid cross-correlation :math:`A \star B`:
    :math:`(A \star B)_{ij} = \sum_{k,l} A_{i+k,\,j+l} B_{kl}` (stride 1, no padding)."""

    def __new__(cls, a: sp.MatrixExpr, b: sp.MatrixExpr) -> Correlation:
        return super().__new__(cls, a, b)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        a, b = self.args
        return (a.shape[0] - b.shape[0] + 1, a.shape[1] - b.shape[1] + 1)

    def _entry(self, i, j, **kwargs):
        a, b = self.args
        rows, cols = b.shape
        return sp.Add(*(a[i + k, j + l] * b[k, l] for k in range(rows) for l in range(cols)))

    def _sympystr(self, printer) -> str:
        return " ⋆ ".join(printer.parenthesize(arg, 50) for arg in self.args)

    def _latex(self, printer) -> str:
        return r" \star ".join(printer.parenthesize(arg, 50) for arg in self.args)


class Rotated180(sp.MatrixExpr):
    r""":math:`\operatorname{rot}_{180}(A)_{ij} = A_{m-1-i,\,n-1-j}`: the matrix turned half a
    circle (both axes flipped)."""

    def __new__(cls, a: sp.MatrixExpr) -> Rotated180:
        return super().__new__(cls, a)

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        return self.args[0].shape

    def _entry(self, i, j, **kwargs):
        a = self.args[0]
        return a[a.shape[0] - 1 - i, a.shape[1] - 1 - j]

    def _sympystr(self, printer) -> str:
        return f"rot180({printer._print(self.args[0])})"

    def _latex(self, printer) -> str:
        return rf"\operatorname{{rot}}_{{180^\circ}}\left({printer._print(self.args[0])}\right)"


class ZeroPadded(sp.MatrixExpr):
    r""":math:`\operatorname{pad}_p(A)`: :math:`A` surrounded by :math:`p` rows and columns of zeros."""

    def __new__(cls, a: sp.MatrixExpr, p: int | sp.Integer) -> ZeroPadded:
        return super().__new__(cls, a, sp.Integer(p))

    @property
    def shape(self) -> tuple[sp.Expr, sp.Expr]:
        a, p = self.args
        return (a.shape[0] + 2 * p, a.shape[1] + 2 * p)

    def _entry(self, i, j, **kwargs):
        a, p = self.args
        inside = 0 <= i - p < a.shape[0] and 0 <= j - p < a.shape[1]
        return a[i - p, j - p] if inside else sp.S.Zero

    def _sympystr(self, printer) -> str:
        return f"pad{self.args[1]}({printer._print(self.args[0])})"

    def _latex(self, printer) -> str:
        return rf"\operatorname{{pad}}_{{{self.args[1]}}}\left({printer._print(self.args[0])}\right)"


def _explicit(expr: sp.Basic) -> sp.ImmutableMatrix:
    """A matrix expression as an explicit matrix of the quiz's 1-based entries."""
    if isinstance(expr, MatrixGradient):
        raise LayergradError(f"{expr} has no explicit entries")
    if isinstance(expr, sp.MatrixExpr):
        expr = expr.as_explicit()
    expr = sp.ImmutableMatrix(expr)
    return expr.replace(
        lambda e: isinstance(e, MatrixElement) and e.parent in _QUIZ_ARRAYS,
        lambda e: _QUIZ_ARRAYS[e.parent][e.i + 1, e.j + 1],
    )


def _entrywise_decides(before, after, unfold) -> bool:
    b, a = _explicit(before), _explicit(after)
    if b.shape != a.shape:
        return False
    return all(by_sympy(x, y, unfold) for x, y in zip(b, a))


_entry_by_entry = Prover("entry by entry, SymPy simplify", _entrywise_decides)
"""Proves two explicit (or evaluable) matrices equal, entry by entry."""


def _quiz_definition() -> Assumption:
    return Assumption(
        "cross-correlation",
        sp.Eq(O[_qi, _qj], sp.Sum(X[_qi + _qk - 1, _qj + _ql - 1] * Wq[_qk, _ql], (_qk, 1, 2), (_ql, 1, 2))),
        "slide the 2×2 filter over the 3×3 input, stride 1, no padding; i, j ∈ {1, 2}, indices from 1",
        unfold=True,
    )


def _quiz_output(row: int, col: int) -> Derivation:
    definition = _quiz_definition()
    d = Derivation(f"Quiz 8, question 3: the output O_{row}{col}", O[row, col], [definition])
    d.step(definition.statement.rhs.xreplace({_qi: row, _qj: col}), definition.name,
           f"the definition at i = {row}, j = {col}")
    d.step(_quiz_order(d.result.doit(), Wq), "write out the sum", "the four products of the 2×2 window")
    return d


def _quiz_upstream(wrt: sp.IndexedBase, name: str) -> Assumption:
    return Assumption(
        "upstream gradient",
        sp.Eq(sp.Derivative(sp.Symbol("L"), wrt[_qk, _ql]),
              sp.Sum(dO[_qi, _qj] * sp.Derivative(O[_qi, _qj], wrt[_qk, _ql]), (_qi, 1, 2), (_qj, 1, 2))),
        f"L depends on {name} only through O, and dO = ∂L/∂O is given by the layer above",
    )


def _quiz_gradient(wrt: sp.IndexedBase, matrix: sp.MatrixSymbol, recognised: sp.MatrixExpr,
                   rule: str, why: str) -> Derivation:
    name = wrt.name
    rows, cols = matrix.shape
    upstream = _quiz_upstream(wrt, name)
    d = Derivation(f"Quiz 8, question 3: the gradient ∂L/∂{name}, entry by entry",
                   MatrixGradient("L", name, rows, cols), [_quiz_definition(), upstream])
    chain = sp.ImmutableMatrix(rows, cols, lambda r, c: upstream.statement.rhs.xreplace({_qk: r + 1, _ql: c + 1}))
    d.step(chain, upstream.name, "the chain rule through every output O_ij, at each entry")
    written = chain.applyfunc(lambda e: _quiz_order(sp.expand(_unfold_quiz(e).doit()), dO))
    d.step(written, "differentiate", "O_ij is linear in the input and in the filter; write out every entry",
           by=_entry_by_entry)
    # a typed target (the correlation), checked entry by entry against the derived entries
    d.step(recognised, rule, f"recognised as {text(recognised)}, checked entry by entry: {why}", by=_entry_by_entry)
    return d


def _quiz_order(expr: sp.Expr, by: sp.IndexedBase) -> sp.Expr:
    """``expr`` (a sum of products of entries) written in the quiz's order, unevaluated:
    factors X, dO, W left to right, terms in row-major order of ``by``'s indices."""
    rank = {X: 0, dO: 1, Wq: 2}

    def factors(term: sp.Expr) -> list[sp.Expr]:
        return sorted(sp.Mul.make_args(term), key=lambda e: rank.get(getattr(e, "base", None), -1))

    def position(term: sp.Expr) -> tuple:
        return next((tuple(e.indices) for e in sp.Mul.make_args(term) if getattr(e, "base", None) == by), ())

    terms = sorted(sp.Add.make_args(expr), key=position)
    products = [sp.Mul(*factors(t), evaluate=False) if isinstance(t, sp.Mul) else t for t in terms]
    return sp.Add(*products, evaluate=False) if len(products) > 1 else products[0]


def _unfold_quiz(expr: sp.Expr) -> sp.Expr:
    from .derivation import unfold

    return unfold(expr, [_quiz_definition()])


@dataclass(frozen=True)
class QuizExample:
    """Quiz 8, question 3, solved: the four outputs and the two gradients.

    ``outputs`` holds the derivations of O11, O12, O21, O22 (in that order); ``equations`` the
    resulting equations ``O[i, j] = …`` with 1-based indices; ``grad_w`` and ``grad_x`` derive
    ∂L/∂W and ∂L/∂X entry by entry and end in the recognised correlations."""

    outputs: tuple[Derivation, ...]
    grad_w: Derivation
    grad_x: Derivation

    @property
    def equations(self) -> tuple[sp.Equality, ...]:
        return tuple(d.equation for d in self.outputs)

    @property
    def derivations(self) -> list[Derivation]:
        return [*self.outputs, self.grad_w, self.grad_x]


@cache
def quiz_example() -> QuizExample:
    """Quiz 8, question 3: :math:`O = X \\star W` for a 3×3 input and a 2×2 filter, derived
    from the definition, and both gradients, each entry written out and recognised."""
    outputs = tuple(_quiz_output(r, c) for r in (1, 2) for c in (1, 2))
    grad_w = _quiz_gradient(
        Wq, Wm, Correlation(Xm, dOm), "recognise a correlation",
        "entry (k, l) is Σ_ij X_{i+k−1, j+l−1} dO_ij: the input correlated with dO",
    )
    grad_x = _quiz_gradient(
        X, Xm, Correlation(ZeroPadded(dOm, 1), Rotated180(Wm)), "recognise a full correlation",
        "entry (p, q) is Σ_ij dO_ij W_{p−i+1, q−j+1}: dO padded with one ring of zeros, "
        "correlated with W turned by 180°",
    )
    grad_w.note("∂L/∂W = X ⋆ dO: the input correlated with the upstream gradient (a 2×2 result).")
    grad_x.note("∂L/∂X = pad1(dO) ⋆ rot180(W): the zero-padded upstream gradient correlated with "
                "the 180°-rotated filter, a full convolution (a 3×3 result).")
    return QuizExample(outputs, grad_w, grad_x)


# ---------------------------------------------------------------------------------------------
# The general layer: symbolic sizes, indices from 0.

N, C, H, W, F, HH, WW = sp.symbols("N C H W F HH WW", integer=True, positive=True)
S, d = sp.symbols("S d", integer=True, positive=True)
P = sp.Symbol("P", integer=True, nonnegative=True)
H_out, W_out = sp.Symbol("H'", integer=True, positive=True), sp.Symbol("W'", integer=True, positive=True)
n, f, i, j, c, k, l, a, b_ = sp.symbols("n f i j c k l a b", integer=True)
u, v, m, m2 = sp.symbols("u v m m'", integer=True)
n2, f2, i2, j2, c2, k2, l2 = sp.symbols("n' f' i' j' c' k' l'", integer=True)
x, w, b, out, dout, xpad, dxpad, win = (
    sp.IndexedBase(name) for name in ("x", "w", "b", "out", "dout", "xpad", "dxpad", "win")
)
dout_up, dout_pad, w_rot = sp.IndexedBase("dout_up"), sp.IndexedBase("dout_pad"), sp.IndexedBase("w_rot")
L = sp.Symbol("L")


def symbols() -> dict[str, sp.Basic]:
    """The symbols of the general derivations, by name (for code generation and sheets)."""
    return {
        "N": N, "C": C, "H": H, "W": W, "F": F, "HH": HH, "WW": WW, "S": S, "P": P, "d": d,
        "H_out": H_out, "W_out": W_out, "x": x, "w": w, "b": b, "out": out, "dout": dout,
        "xpad": xpad, "dxpad": dxpad, "win": win, "n": n, "f": f, "i": i, "j": j, "c": c,
        "k": k, "l": l, "a": a, "b_index": b_, "u": u, "v": v,
    }


def _solves_for(symbol: sp.Symbol) -> Prover:
    """A prover for equations: both sides, solved for ``symbol``, give the same value."""

    def decide(before, after, unfold) -> bool:
        first, second = sp.solve(unfold(before), symbol), sp.solve(unfold(after), symbol)
        return len(first) == len(second) == 1 and sp.simplify(first[0] - second[0]) == 0

    return Prover(f"SymPy solve for {symbol}", decide)


def window_count(
    size: sp.Expr, window: sp.Expr, stride: sp.Expr, padding: sp.Expr, dilation: sp.Expr,
    count: sp.Symbol, what: str,
) -> Derivation:
    r"""How many windows fit: :math:`\text{count} = 1 + (\text{size} + 2P - d(\text{window}-1) - 1)/S`.

    Windows start at :math:`0, S, 2S, \ldots`; a dilated window covers :math:`d(\text{window}-1)+1`
    rows; they tile the padded input exactly when the last one ends on its last row. Used
    for convolution and pooling alike."""
    span = dilation * (window - 1) + 1
    numerator = size + 2 * padding - dilation * (window - 1) - 1
    tiling = sp.Eq(stride * (count - 1) + span, size + 2 * padding)
    assumptions = [
        Assumption("windows tile the input", tiling,
                   f"windows start every {stride} rows; the last one, at {stride}·({count} − 1), covers "
                   f"{text(span)} rows and ends on the last row of the (padded) input"),
        Assumption("integer window count", sp.Eq(sp.Mod(numerator, stride, evaluate=False), 0),
                   f"{count} is an integer exactly when the stride {stride} divides {text(numerator)}; "
                   "otherwise the windows do not tile the input and the layer is rejected"),
        Assumption("window fits", sp.GreaterThan(size + 2 * padding, span),
                   "one window is no larger than the (padded) input, so the count is at least 1"),
    ]
    dv = Derivation(f"Output {what}: how many windows fit", tiling, assumptions)
    dv.step(sp.Eq(count, 1 + numerator / stride), "solve for " + str(count),
            "the only unknown of the tiling equation", by=_solves_for(count))
    return dv


@cache
def output_size(dilation: bool = True) -> Derivation:
    r""":math:`H' = 1 + (H + 2P - d(HH-1) - 1)/S`, or with ``dilation=False`` (:math:`d = 1`)
    :math:`1 + (H + 2P - HH)/S`; :math:`W'` is the same with :math:`W, WW`."""
    dv = window_count(H, HH, S, P, d if dilation else sp.S.One, H_out, "height H'")
    dv.note("The width is the same formula with W, WW and W' in place of H, HH and H'.")
    return dv


def _layer(stride: sp.Expr = S, dilation: sp.Expr = d) -> Assumption:
    body = xpad[n, c, stride * i + dilation * k, stride * j + dilation * l] * w[f, c, k, l]
    return Assumption(
        "convolution layer",
        sp.Eq(out[n, f, i, j], b[f] + sp.Sum(body, (c, 0, C - 1), (k, 0, HH - 1), (l, 0, WW - 1))),
        "F filters, each spanning all C channels, slide over the padded input with stride S"
        + (" and dilation d" if dilation != 1 else "") + " (cross-correlation, as every framework computes it)",
        unfold=True,
    )


def _padding() -> Assumption:
    return Assumption(
        "zero padding",
        sp.Eq(xpad[n, c, a, b_], x[n, c, a - P, b_ - P]),
        "xpad is x surrounded by P rows and columns of zeros: x read outside its shape is zero",
        unfold=True,
    )


def _window(stride: sp.Expr = S, dilation: sp.Expr = d) -> Assumption:
    return Assumption(
        "window view",
        sp.Eq(win[n, c, i, j, k, l], xpad[n, c, stride * i + dilation * k, stride * j + dilation * l]),
        "win[n, c, i, j, ·, ·] is the HH×WW window under output (i, j): a strided"
        + (", dilated" if dilation != 1 else "") + " view of xpad, no copy",
        unfold=True,
    )


def _shapes(*arrays: sp.IndexedBase, stride: sp.Expr = S) -> dict[sp.IndexedBase, list[tuple[sp.Expr, sp.Expr]]]:
    """The shapes (inclusive index ranges) of ``arrays``."""
    def axes(*sizes: sp.Expr) -> list[tuple[sp.Expr, sp.Expr]]:
        return [(sp.S.Zero, size - 1) for size in sizes]

    up_h, up_w = stride * (H_out - 1) + 1, stride * (W_out - 1) + 1
    table = {
        x: axes(N, C, H, W),
        xpad: axes(N, C, H + 2 * P, W + 2 * P),
        dxpad: axes(N, C, H + 2 * P, W + 2 * P),
        w: axes(F, C, HH, WW),
        w_rot: axes(F, C, HH, WW),
        dout: axes(N, F, H_out, W_out),
        dout_up: axes(N, F, up_h, up_w),
        dout_pad: axes(N, F, up_h + 2 * (HH - 1), up_w + 2 * (WW - 1)),
    }
    return {array: table[array] for array in arrays}


def _sizes(stride: sp.Expr = S, dilation: sp.Expr = d) -> Assumption:
    formula = output_size(dilation != 1).result
    if stride != S:
        formula = formula.subs(S, stride)
    return Assumption("output size", formula,
                      "i runs over 0 … H' − 1 and j over 0 … W' − 1 (see the output-size derivation)")


@cache
def forward(dilation: bool = True) -> Derivation:
    """The forward pass, from the definition to the window form the generated code computes."""
    dil = d if dilation else sp.S.One
    layer, padding, window = _layer(S, dil), _padding(), _window(S, dil)
    shapes = _shapes(x, xpad, w)
    dv = Derivation(
        "Convolution forward pass" + ("" if dilation else " (no dilation, d = 1)"),
        out[n, f, i, j],
        [layer, padding, window, _sizes(S, dil), IN_RANGE, ZERO_OUTSIDE, shapes_assumption(shapes)],
    )
    dv.step(layer.statement.rhs, layer.name, "the layer's definition, entry by entry")
    unpadded = x[n, c, S * i + dil * k - P, S * j + dil * l - P] * w[f, c, k, l]
    dv.step(b[f] + sp.Sum(unpadded, (c, 0, C - 1), (k, 0, HH - 1), (l, 0, WW - 1)), "substitute the padding",
            "read the input P rows and columns earlier; entries outside x are zero",
            by=index_prover(zero_outside=shapes))
    windowed = win[n, c, i, j, k, l] * w[f, c, k, l]
    dv.step(b[f] + sp.Sum(windowed, (c, 0, C - 1), (k, 0, HH - 1), (l, 0, WW - 1)), "read through the window view",
            "the affine indices S·i + d·k, S·j + d·l are a sliding window strided by S, dilated by d" if dilation
            else "the affine indices S·i + k, S·j + l are a sliding window strided by S",
            by=index_prover(zero_outside=shapes))
    dv.note("The generated code computes the window form: per example, an im2col copy of its windows "
            "and one matrix multiply over (c, k, l).")
    return dv


def _upstream(wrt: sp.Indexed) -> Assumption:
    total = sp.Sum(dout[n2, f2, i2, j2] * out[n2, f2, i2, j2],
                   (n2, 0, N - 1), (f2, 0, F - 1), (i2, 0, H_out - 1), (j2, 0, W_out - 1))
    return Assumption(
        "upstream gradient",
        sp.Eq(sp.Derivative(L, wrt), sp.Derivative(total, wrt)),
        "L depends on the layer's inputs only through out, and dout = ∂L/∂out is given (held "
        "fixed) by the layer above: L = Σ dout ⊙ out to first order",
    )


def _substituted(stride: sp.Expr, dilation: sp.Expr) -> sp.Expr:
    """Σ dout ⊙ out with out written out, every bound index primed."""
    body = xpad[n2, c2, stride * i2 + dilation * k2, stride * j2 + dilation * l2] * w[f2, c2, k2, l2]
    entry = b[f2] + sp.Sum(body, (c2, 0, C - 1), (k2, 0, HH - 1), (l2, 0, WW - 1))
    return sp.Sum(dout[n2, f2, i2, j2] * entry,
                  (n2, 0, N - 1), (f2, 0, F - 1), (i2, 0, H_out - 1), (j2, 0, W_out - 1))


def _differentiated(title: str, wrt: sp.Indexed, stride: sp.Expr, dilation: sp.Expr,
                    extra: Sequence[Assumption] = (), arrays: Sequence[sp.IndexedBase] = (xpad, w, dout)
                    ) -> Derivation:
    """The first three steps every gradient shares: upstream gradient, substitute, differentiate."""
    layer, upstream = _layer(stride, dilation), _upstream(wrt)
    assumptions = [upstream, layer, _sizes(stride, dilation), IN_RANGE, ZERO_OUTSIDE,
                   shapes_assumption(_shapes(*arrays, stride=stride)), *extra]
    dv = Derivation(title, sp.Derivative(L, wrt), assumptions)
    dv.step(upstream.statement.rhs, upstream.name, "the chain rule through every output entry")
    dv.step(sp.Derivative(_substituted(stride, dilation), wrt), layer.name + " (substituted)",
            "out written out; every summation index primed", by=index_prover())
    dv.step(own_names(multiply_out(dv.result)), "differentiate term by term",
            "only the products containing the entry differentiated by survive, each as a Kronecker delta",
            by=index_prover())
    return dv


def _suffix(stride: sp.Expr, dilation: sp.Expr) -> str:
    parts = [f"S = {stride}"] if stride != S else []
    parts += [] if dilation == d else [f"d = {dilation}"]
    return f" ({', '.join(parts)})" if parts else ""


@cache
def backward_w(dilation: bool = True) -> Derivation:
    """:math:`\\partial L/\\partial w_{fckl} = \\sum_{n,i,j} \\text{dout}_{nfij}\\,\\text{xpad}_{n,c,Si+dk,Sj+dl}`."""
    dil = d if dilation else sp.S.One
    window = _window(S, dil)
    dv = _differentiated("Convolution backward: the filter gradient dw" + _suffix(S, dil),
                         w[f, c, k, l], S, dil, [window])
    dv.step(contracted(dv.result), "Kronecker delta",
            "f′ = f, c′ = c, k′ = k, l′ = l: the filter entry appears once per window", by=index_prover())
    dv.step(sp.Sum(dout[n, f, i, j] * win[n, c, i, j, k, l], (n, 0, N - 1), (i, 0, H_out - 1), (j, 0, W_out - 1)),
            "read through the window view", "the same windows as the forward pass, now weighted by dout",
            by=index_prover(zero_outside=_shapes(xpad, w, dout)))
    dv.note("dw is the padded input correlated with dout (dout dilated by the stride S): one matrix "
            "multiply per example of dout with that example's im2col windows.")
    return dv


@cache
def backward_b() -> Derivation:
    """:math:`\\partial L/\\partial b_f = \\sum_{n,i,j} \\text{dout}_{nfij}`."""
    dv = _differentiated("Convolution backward: the bias gradient db", b[f], S, d)
    dv.step(contracted(dv.result), "Kronecker delta",
            "f′ = f: the bias is added to every output of filter f", by=index_prover())
    dv.note("db sums dout over the batch and over every output position.")
    return dv


@cache
def backward_xpad(dilation: bool = True) -> Derivation:
    r""":math:`\partial L/\partial \text{xpad}_{ncab}`: with dilation, the scatter form
    :math:`\sum_{f,i,j,k,l} \delta_{a,Si+dk}\,\delta_{b,Sj+dl}\,\text{dout}_{nfij} w_{fckl}`;
    with ``dilation=False`` (:math:`d = 1`) the deltas fix :math:`k = a - Si` under
    :data:`~derive.index.ZERO_OUTSIDE`, giving :math:`\sum_{f,i,j}\text{dout}_{nfij}\,w_{f,c,a-Si,b-Sj}`."""
    dil = d if dilation else sp.S.One
    dv = _differentiated("Convolution backward: the padded-input gradient dxpad" + _suffix(S, dil),
                         xpad[n, c, a, b_], S, dil)
    if dilation:
        dv.step(contracted(dv.result), "Kronecker delta (batch and channel)",
                "n′ = n, c′ = c; the position deltas stay: each dout entry scatters its window's "
                "filter back onto the input rows S·i + d·k it read", by=index_prover())
        dv.note("The scatter form: for each kernel offset (k, l), add dout·w to the strided slice "
                "xpad[:, :, d·k + S·i, d·l + S·j]. This is what the generated code computes.")
    else:
        shapes = _shapes(xpad, w, dout)
        dv.step(contracted(dv.result, zero_outside=shapes), "Kronecker delta (zero outside w)",
                "n′ = n, c′ = c, and k′ = a − S·i, l′ = b − S·j; where that falls outside the "
                "filter, w is zero", by=index_prover(zero_outside=shapes))
        dv.note("For S = 1 this is a full convolution of dout with the flipped filter; for S > 1 "
                "the strided transpose (see the transposed-convolution derivation).")
    return dv


@cache
def backward_x() -> Derivation:
    """:math:`\\partial L/\\partial x_{ncuv} = d\\text{xpad}_{n,c,u+P,v+P}`: the padding cropped."""
    padding = _padding()
    through = sp.Sum(dxpad[n2, c2, m, m2] * xpad[n2, c2, m, m2],
                     (n2, 0, N - 1), (c2, 0, C - 1), (m, 0, H + 2 * P - 1), (m2, 0, W + 2 * P - 1))
    upstream = Assumption(
        "gradient through the padding",
        sp.Eq(sp.Derivative(L, x[n, c, u, v]), sp.Derivative(through, x[n, c, u, v])),
        "L depends on x only through xpad, whose gradient dxpad was derived above",
    )
    dv = Derivation("Convolution backward: the input gradient dx", sp.Derivative(L, x[n, c, u, v]),
                    [upstream, padding, IN_RANGE, ZERO_OUTSIDE, shapes_assumption(_shapes(x, xpad, dxpad))])
    dv.step(upstream.statement.rhs, upstream.name, "the chain rule through every entry of xpad")
    substituted = sp.Sum(dxpad[n2, c2, m, m2] * x[n2, c2, m - P, m2 - P],
                         (n2, 0, N - 1), (c2, 0, C - 1), (m, 0, H + 2 * P - 1), (m2, 0, W + 2 * P - 1))
    dv.step(sp.Derivative(substituted, x[n, c, u, v]), padding.name + " (substituted)",
            "xpad read P rows and columns later is x", by=index_prover())
    dv.step(own_names(multiply_out(dv.result)), "differentiate term by term",
            "each x entry appears once in xpad", by=index_prover())
    shapes = _shapes(x, xpad, dxpad)
    dv.step(contracted(dv.result, zero_outside=shapes), "Kronecker delta",
            "the entry of xpad that holds x[n, c, u, v] is at (u + P, v + P)", by=index_prover(zero_outside=shapes))
    dv.note("dx is dxpad with the P-wide border cropped: the border's gradient belongs to zeros.")
    return dv


@cache
def transposed(strided: bool = True) -> Derivation:
    r"""The :math:`d = 1` input gradient recognised as a full convolution.

    With ``strided=False`` (:math:`S = 1`): the (HH−1, WW−1)-zero-padded dout correlated with
    the 180°-rotated filter. With ``strided=True``: first insert :math:`S - 1` zeros between
    the rows and columns of dout (the strided transpose), then the same."""
    stride = S if strided else sp.S.One
    source = dout_up if strided else dout
    up_extent = (S * (H_out - 1), S * (W_out - 1)) if strided else (H_out - 1, W_out - 1)
    definitions = [
        Assumption("rotated filter", sp.Eq(w_rot[f, c, k, l], w[f, c, HH - 1 - k, WW - 1 - l]),
                   "w turned by 180° in its two spatial axes", unfold=True),
        Assumption("padded dout", sp.Eq(dout_pad[n, f, m, m2], source[n, f, m - HH + 1, m2 - WW + 1]),
                   f"{source} surrounded by HH − 1 rows and WW − 1 columns of zeros", unfold=True),
    ]
    if strided:
        definitions.insert(0, Assumption(
            "zero insertion",
            sp.Eq(dout_up[n, f, m, m2], sp.Sum(sp.KroneckerDelta(m, S * i) * sp.KroneckerDelta(m2, S * j)
                                               * dout[n, f, i, j], (i, 0, H_out - 1), (j, 0, W_out - 1))),
            "dout with S − 1 zeros inserted between its rows and between its columns", unfold=True,
        ))
    title = "Convolution backward: dxpad as a " + ("strided transposed convolution" if strided
                                                  else "full convolution (S = 1)")
    arrays = (xpad, w, dout, *([dout_up] if strided else []), dout_pad, w_rot)
    dv = _differentiated(title, xpad[n, c, a, b_], stride, sp.S.One, definitions, arrays)
    shapes = _shapes(*arrays, stride=stride)
    prover = support_prover(shapes)
    dv.step(contracted(dv.result, zero_outside=shapes), "Kronecker delta (zero outside w)",
            f"n′ = n, c′ = c, k′ = {text(a - stride * i)}, l′ = {text(b_ - stride * j)}", by=prover)
    if strided:
        dv.step(sp.Sum(dout_up[n, f, m, m2] * w[f, c, a - m, b_ - m2],
                       (f, 0, F - 1), (m, 0, up_extent[0]), (m2, 0, up_extent[1])),
                "insert zeros", "sum over every row m of the zero-inserted dout; only m = S·i are non-zero",
                by=prover)
    dv.step(sp.Sum(source[n, f, a - k, b_ - l] * w[f, c, k, l], (f, 0, F - 1), (k, 0, HH - 1), (l, 0, WW - 1)),
            "reindex over the filter", f"k = a − {'m' if strided else 'i'}: both {source} and w are zero outside "
            "their shapes, so "
            "the sum may run over the filter's rows instead", by=prover)
    dv.step(sp.Sum(dout_pad[n, f, a + k, b_ + l] * w_rot[f, c, k, l], (f, 0, F - 1), (k, 0, HH - 1), (l, 0, WW - 1)),
            "flip the filter", "k → HH − 1 − k turns w by 180° and shifts dout by HH − 1 rows: pad it",
            by=prover)
    what = "the zero-inserted dout" if strided else "dout"
    dv.note(f"dxpad is {what}, zero-padded by HH − 1 and WW − 1, correlated (stride 1) with the "
            "180°-rotated filter, with the roles of the channels c and filters f exchanged: the "
            "forward pass's own form, a full convolution.")
    return dv


@dataclass(frozen=True)
class General:
    """Quiz 8, question 4 and the layer behind the generated code: every general derivation."""

    output_size: Derivation
    output_size_undilated: Derivation
    forward: Derivation
    backward_w: Derivation
    backward_b: Derivation
    backward_xpad: Derivation
    backward_xpad_undilated: Derivation
    backward_x: Derivation
    full_convolution: Derivation
    strided_transpose: Derivation

    @property
    def derivations(self) -> list[Derivation]:
        return [getattr(self, name) for name in self.__dataclass_fields__]


@cache
def general() -> General:
    """Every derivation of the general convolution layer, with symbolic sizes."""
    return General(
        output_size=output_size(True),
        output_size_undilated=output_size(False),
        forward=forward(True),
        backward_w=backward_w(True),
        backward_b=backward_b(),
        backward_xpad=backward_xpad(True),
        backward_xpad_undilated=backward_xpad(False),
        backward_x=backward_x(),
        full_convolution=transposed(False),
        strided_transpose=transposed(True),
    )


def derivations(example: str | None = None) -> list[Derivation]:
    """The general derivations, or with ``example="quiz"`` Quiz 8's 3×3 ∗ 2×2 example."""
    if example is None:
        return general().derivations
    if example not in EXAMPLES:
        raise LayergradError(f"unknown convolution example {example!r}; expected one of {', '.join(EXAMPLES)}")
    return quiz_example().derivations
