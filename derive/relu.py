r"""The rectified linear unit, derived: :math:`H = \max(0, X)` and its masked gradient.

ReLU is a masked product, like dropout: :math:`H_{ij} = X_{ij}\,[X_{ij} > 0]`, with the mask
read off the input instead of drawn at random. Its gradient masks the upstream gradient the
same way:

.. math:: \frac{\partial L}{\partial X} = \frac{\partial L}{\partial H} \odot [X > 0] .

At the kink :math:`X_{ij} = 0` the function has no derivative (the left slope is 0, the right
slope 1); every value in :math:`[0, 1]` is a subgradient. SymPy's derivative of
:math:`\max(0, x)` is the Heaviside step with :math:`\theta(0) = 1/2`; the course code
``dout * (x > 0)`` takes 0, and so do we — a declared assumption, shown with the derivation.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from .derivation import Assumption, Derivation, Prover
from .index import IN_RANGE, contract_deltas, index_prover, multiply_out, to_expr
from .matrix import MatrixGradient, entry, entrywise

__all__ = ["backward", "by_cases", "derivations", "forward", "symbols"]

N, M = sp.symbols("N M", integer=True, positive=True)
i, j, k, l = sp.symbols("i j k l", integer=True)
X = sp.IndexedBase("X", real=True)
H, G, P = sp.IndexedBase("H"), sp.IndexedBase("G"), sp.IndexedBase("P")
L = sp.Symbol("L")
Xm, Pm = sp.MatrixSymbol("X", N, M), sp.MatrixSymbol("P", N, M)
dL_dH = MatrixGradient("L", "H", N, M)


def symbols() -> dict[str, sp.Basic]:
    """The symbols the derivations use, by name (for code generation and sheets)."""
    return {"X": X, "H": H, "G": G, "P": P, "Xm": Xm, "Pm": Pm, "dL_dH": dL_dH, "i": i, "j": j}


def _by_cases(before: sp.Basic, after: sp.Basic, unfold) -> bool:
    difference = (unfold(before) - unfold(after)).rewrite(sp.Piecewise)
    return sp.simplify(difference) == 0


by_cases = Prover("case split (Piecewise)", _by_cases)
"""Proof by cases: rewrite ``max`` and the step function as ``Piecewise`` and simplify."""

LAYER = Assumption(
    "ReLU",
    sp.Eq(H[i, j], sp.Max(0, X[i, j])),
    "negative inputs become 0, positive ones pass unchanged",
    unfold=True,
)

MASK = Assumption(
    "positive-part mask",
    sp.Eq(P[i, j], sp.Heaviside(X[i, j], 0)),
    "P_ij = [X_ij > 0] is 1 where the input is positive and 0 elsewhere (0 at X_ij = 0 too)",
    unfold=True,
)

KINK = Assumption(
    "subgradient at the kink",
    sp.Eq(sp.Heaviside(X[i, j]), sp.Heaviside(X[i, j], 0), evaluate=False),
    "at X_ij = 0, max(0, x) has no derivative; we take the subgradient 0 there (SymPy's step "
    "function takes 1/2), as the course code dout * (x > 0) does; the two agree wherever X_ij ≠ 0",
)


def _matrix_prover():
    return entrywise({Xm: X, Pm: P, dL_dH: G})


@cache
def forward() -> Derivation:
    r"""The forward pass as a masked product :math:`H = X \odot P`, :math:`P = [X > 0]`."""
    d = Derivation("ReLU forward pass", H[i, j], [LAYER, MASK])
    d.step(LAYER.statement.rhs, LAYER.name, "the layer's definition, entry by entry")
    d.step(X[i, j] * P[i, j], "masked product", "max(0, x) = x when x > 0 and 0 otherwise",
           by=by_cases)
    d.step(entry(sp.HadamardProduct(Xm, Pm), i, j), "matrix form",
           "the same product at every entry: a Hadamard product, like dropout's D ⊙ Y",
           by=_matrix_prover())
    return d


@cache
def backward() -> Derivation:
    r""":math:`\partial L / \partial X_{ij}` by differentiating :math:`L = \sum_{kl} G_{kl} H_{kl}`."""
    upstream = Assumption(
        "upstream gradient",
        sp.Eq(sp.Derivative(L, X[i, j]),
              sp.Derivative(sp.Sum(G[k, l] * H[k, l], (k, 0, N - 1), (l, 0, M - 1)), X[i, j])),
        "L depends on X only through H, and G = ∂L/∂H is given by the layer above",
    )
    d = Derivation("ReLU backward pass", sp.Derivative(L, X[i, j]),
                   [upstream, IN_RANGE, LAYER, KINK, MASK])
    d.step(upstream.statement.rhs, upstream.name, "the chain rule through H, with G = ∂L/∂H")
    prover = index_prover()
    body = sp.Sum(G[k, l] * sp.Max(0, X[k, l]), (k, 0, N - 1), (l, 0, M - 1))
    d.step(sp.Derivative(body, X[i, j]), LAYER.name + " (substituted)", "H_kl written out", by=prover)
    d.step(to_expr(multiply_out(d.result), split=False, own_names=True), "differentiate term by term",
           "d max(0, x)/dx is the step function θ(x) (SymPy: θ(0) = 1/2); ∂X_kl/∂X_ij = δ_ik δ_jl",
           by=prover)
    d.step(to_expr(contract_deltas(multiply_out(d.result)), own_names=True), "Kronecker delta",
           "only k = i, l = j survives", by=prover)
    d.step(G[i, j] * sp.Heaviside(X[i, j], 0), KINK.name, "choose the value 0 at X_ij = 0")
    d.step(G[i, j] * P[i, j], "name the mask", "P = [X > 0], computed from the input the forward "
           "pass saved", by=prover)
    d.step(entry(sp.HadamardProduct(dL_dH, Pm), i, j), "matrix form",
           "the upstream gradient masked by where the input was positive", by=_matrix_prover())
    d.note("ReLU's gradient is a masked product by the indicator of X > 0: where the unit was "
           "off, no gradient flows back, exactly as for a unit dropout removed.")
    return d


def derivations() -> list[Derivation]:
    """Every ReLU derivation: forward and backward."""
    return [forward(), backward()]
