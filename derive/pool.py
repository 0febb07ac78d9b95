r"""Max pooling, derived as a masked product: the argmax indicator routes the gradient.

Each output is the largest entry of its :math:`HH \times WW` window (stride :math:`S`, no
padding). Writing the maximum as the window weighted by its argmax indicator :math:`M`,

.. math:: \text{out}_{ncij} = \max_{k,l} x_{n,c,Si+k,Sj+l}
          = \sum_{k,l} M_{ncijkl}\, x_{n,c,Si+k,Sj+l},

turns max pooling into the same masked product as dropout: :math:`M` is piecewise constant in
:math:`x`, so the index engine differentiates :math:`L = \sum \text{dout} \odot \text{out}` to

.. math:: \frac{\partial L}{\partial x_{ncuv}}
          = \sum_{i,j,k,l} \delta_{u,Si+k}\,\delta_{v,Sj+l}\,\text{dout}_{ncij} M_{ncijkl}
          = \sum_{i,j} \text{dout}_{ncij}\, M_{n,c,i,j,u-Si,v-Sj}:

each window sends its upstream gradient to the one entry its mask selects. **Tie rule**: when
several entries of a window share the maximum, :math:`M` selects the first of them in row-major
order (as ``numpy.argmax`` does), so each window routes its gradient to exactly one input.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sympy as sp

from .conv import window_count
from .derivation import Assumption, Derivation
from .display import contracted, own_names
from .index import IN_RANGE, ZERO_OUTSIDE, index_prover, multiply_out
from .support import shapes_assumption

__all__ = ["TIE_RULE", "MaxPool", "WindowMax", "backward", "derivations", "forward", "general",
           "output_size", "symbols"]

TIE_RULE = ("when several entries of a window share the maximum, the first of them in row-major "
            "order (as numpy.argmax picks it) takes the whole gradient")

N, C, H, W, HH, WW, S = sp.symbols("N C H W HH WW S", integer=True, positive=True)
H_out, W_out = sp.Symbol("H'", integer=True, positive=True), sp.Symbol("W'", integer=True, positive=True)
n, c, i, j, k, l, u, v = sp.symbols("n c i j k l u v", integer=True)
n2, c2, i2, j2, k2, l2 = sp.symbols("n' c' i' j' k' l'", integer=True)
x, out, dout, M, win = (sp.IndexedBase(name) for name in ("x", "out", "dout", "M", "win"))
L = sp.Symbol("L")


class WindowMax(sp.Expr):
    r"""Unevaluated :math:`\max_{k,l} \text{expr}` over a window: ``WindowMax(expr, k, l)``."""

    is_commutative = True

    def __new__(cls, expr: sp.Expr, *indices: sp.Symbol) -> WindowMax:
        return super().__new__(cls, sp.sympify(expr), *indices)

    def _sympystr(self, printer) -> str:
        names = ",".join(printer._print(a) for a in self.args[1:])
        return f"max_{{{names}}} {printer._print(self.args[0])}"

    def _latex(self, printer) -> str:
        names = ",".join(printer._print(a) for a in self.args[1:])
        return rf"\max_{{{names}}} {printer._print(self.args[0])}"


def symbols() -> dict[str, sp.Basic]:
    """The symbols of the derivations, by name (for code generation and sheets)."""
    return {"N": N, "C": C, "H": H, "W": W, "HH": HH, "WW": WW, "S": S, "H_out": H_out, "W_out": W_out,
            "x": x, "out": out, "dout": dout, "M": M, "win": win, "n": n, "c": c, "i": i, "j": j,
            "k": k, "l": l, "u": u, "v": v}


def _window_entry(nn=n, cc=c, ii=i, jj=j, kk=k, ll=l) -> sp.Indexed:
    return x[nn, cc, S * ii + kk, S * jj + ll]


def _assumptions() -> list[Assumption]:
    return [
        Assumption("max pooling", sp.Eq(out[n, c, i, j], WindowMax(_window_entry(), k, l)),
                   "each output is the largest entry of its HH×WW window; windows start every S rows "
                   "and columns, no padding"),
        Assumption("argmax indicator", sp.Eq(sp.Sum(M[n, c, i, j, k, l], (k, 0, HH - 1), (l, 0, WW - 1)), 1),
                   "M[n, c, i, j, k, l] is 1 at the window's largest entry and 0 elsewhere; tie rule: "
                   + TIE_RULE),
        Assumption("masked window", sp.Eq(out[n, c, i, j], sp.Sum(M[n, c, i, j, k, l] * _window_entry(),
                                                                  (k, 0, HH - 1), (l, 0, WW - 1))),
                   "the maximum is the window weighted by its argmax indicator", unfold=True),
        Assumption("window view", sp.Eq(win[n, c, i, j, k, l], _window_entry()),
                   "win[n, c, i, j, ·, ·] is the window under output (i, j): a strided view of x, no copy",
                   unfold=True),
    ]


SHAPES = {
    x: [(0, N - 1), (0, C - 1), (0, H - 1), (0, W - 1)],
    dout: [(0, N - 1), (0, C - 1), (0, H_out - 1), (0, W_out - 1)],
    M: [(0, N - 1), (0, C - 1), (0, H_out - 1), (0, W_out - 1), (0, HH - 1), (0, WW - 1)],
}


def _shapes() -> Assumption:
    return shapes_assumption(SHAPES)


@cache
def output_size() -> Derivation:
    """:math:`H' = 1 + (H - HH)/S`: the windows must tile the input (no padding, no dilation)."""
    dv = window_count(H, HH, S, sp.S.Zero, sp.S.One, H_out, "height H' of max pooling")
    dv.note("The width is the same formula with W, WW and W'. Pooling windows that do not tile "
            "the input are rejected, not silently cropped.")
    return dv


@cache
def forward() -> Derivation:
    """The forward pass as a masked product over the window view."""
    assumptions = _assumptions()
    dv = Derivation("Max pooling forward pass", out[n, c, i, j], [*assumptions, IN_RANGE, _shapes()])
    dv.step(assumptions[0].statement.rhs, "max pooling", "the layer's definition")
    dv.step(assumptions[2].statement.rhs, "masked window", "the argmax indicator selects the maximum")
    dv.step(sp.Sum(M[n, c, i, j, k, l] * win[n, c, i, j, k, l], (k, 0, HH - 1), (l, 0, WW - 1)),
            "read through the window view", "S·i + k, S·j + l is a sliding window strided by S",
            by=index_prover())
    dv.note("A masked product, like dropout's: out = Σ_window M ⊙ win, with one 1 per window in M.")
    return dv


@cache
def backward() -> Derivation:
    """:math:`\\partial L/\\partial x`: the scatter form, then each input's share."""
    wrt = x[n, c, u, v]
    total = sp.Sum(dout[n2, c2, i2, j2] * out[n2, c2, i2, j2],
                   (n2, 0, N - 1), (c2, 0, C - 1), (i2, 0, H_out - 1), (j2, 0, W_out - 1))
    upstream = Assumption(
        "upstream gradient", sp.Eq(sp.Derivative(L, wrt), sp.Derivative(total, wrt)),
        "L depends on x only through out, and dout = ∂L/∂out is given by the layer above",
    )
    constant = Assumption(
        "piecewise-constant mask", sp.Eq(sp.Derivative(M[n2, c2, i2, j2, k2, l2], wrt), 0),
        "moving one input a little does not change which entry of a window is largest (except at "
        "ties, where the tie rule fixes the choice), so M is held fixed, like the dropout mask",
    )
    assumptions = [upstream, *_assumptions()[1:3], constant, IN_RANGE, ZERO_OUTSIDE, _shapes()]
    dv = Derivation("Max pooling backward pass", sp.Derivative(L, wrt), assumptions)
    dv.step(upstream.statement.rhs, upstream.name, "the chain rule through every output entry")
    masked = sp.Sum(M[n2, c2, i2, j2, k2, l2] * _window_entry(n2, c2, i2, j2, k2, l2), (k2, 0, HH - 1), (l2, 0, WW - 1))
    body = sp.Sum(dout[n2, c2, i2, j2] * masked, (n2, 0, N - 1), (c2, 0, C - 1), (i2, 0, H_out - 1), (j2, 0, W_out - 1))
    prover = index_prover()
    dv.step(sp.Derivative(body, wrt), "masked window (substituted)", "out written out; indices primed", by=prover)
    dv.step(own_names(multiply_out(dv.result)), "differentiate term by term",
            "M is held fixed; each window entry contributes a Kronecker delta", by=prover)
    dv.step(contracted(dv.result, eliminate=""), "Kronecker delta (batch and channel)",
            "n′ = n, c′ = c; each window scatters dout·M back onto the inputs it read", by=prover)
    dv.step(contracted(dv.result, zero_outside=SHAPES), "Kronecker delta (zero outside M)",
            "k = u − S·i, l = v − S·j; where that falls outside the window, M is zero",
            by=index_prover(zero_outside=SHAPES))
    dv.note("Each window sends its dout to the single input its mask selects; with overlapping "
            "windows (S < HH) one input can collect from several windows. Tie rule: " + TIE_RULE + ".")
    return dv


@dataclass(frozen=True)
class MaxPool:
    """Every max-pooling derivation."""

    output_size: Derivation
    forward: Derivation
    backward: Derivation

    @property
    def derivations(self) -> list[Derivation]:
        return [self.output_size, self.forward, self.backward]


@cache
def general() -> MaxPool:
    """Max pooling with symbolic sizes."""
    return MaxPool(output_size(), forward(), backward())


def derivations() -> list[Derivation]:
    """Every max-pooling derivation, in reading order."""
    return general().derivations
