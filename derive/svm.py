r"""The multiclass SVM (hinge) loss, derived.

For scores :math:`s \in \mathbb{R}^{N \times C}`, labels :math:`y_i` with one-hot matrix
:math:`Y_{ic} = [c = y_i]` and margin :math:`\Delta = 1`, each wrong class :math:`c \ne y_i`
costs :math:`\max(0, s_{ic} - s_{i y_i} + 1)`:

.. math:: L = \frac{1}{N} \sum_{i,c} (1 - Y_{ic}) \max(0, M_{ic}), \qquad
          M_{ic} = s_{ic} - \sum_k Y_{ik} s_{ik} + 1 .

With :math:`P_{ic} = [M_{ic} > 0]` (the classes inside the margin), the index engine finds

.. math:: \frac{\partial L}{\partial s_{ab}} = \frac{1}{N}\Big((1 - Y_{ab}) P_{ab}
          - Y_{ab} \sum_c (1 - Y_{ac}) P_{ac}\Big):

each violating wrong class pushes its own score up by :math:`1/N` and the true class's score
down by the same amount. The hinge has a kink at :math:`M_{ic} = 0`; as for ReLU we take the
subgradient 0 there (declared).
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from .derivation import Assumption, Derivation
from .index import IN_RANGE, contract_deltas, index_prover, multiply_out, to_expr
from .softmax import LABELS, ONE_HOT, C, N, Y, a, b, c, i, s, y

__all__ = ["derivations", "gradient", "symbols"]

k = sp.Symbol("k", integer=True)
Mg, P = sp.IndexedBase("M"), sp.IndexedBase("P")
L = sp.Symbol("L")


def symbols() -> dict[str, sp.Basic]:
    """The symbols the derivations use, by name (for code generation and sheets)."""
    return {"s": s, "y": y, "Y": Y, "M": Mg, "P": P, "N": N, "C": C, "i": i, "c": c, "L": L}


def _margin(row: sp.Expr, col: sp.Expr) -> sp.Expr:
    return s[row, col] - sp.Sum(Y[row, k] * s[row, k], (k, 0, C - 1)) + 1


MARGIN = Assumption(
    "margin",
    sp.Eq(Mg[i, c], _margin(i, c)),
    "M_ic = s_ic − s_{i,y_i} + 1: how far class c comes within the margin 1 of the true score",
    unfold=True,
)

HINGE = Assumption(
    "multiclass hinge loss",
    sp.Eq(L, sp.Sum((1 - Y[i, c]) * sp.Max(0, Mg[i, c]), (i, 0, N - 1), (c, 0, C - 1)) / N),
    "every wrong class (1 − Y_ic = 1) inside the margin costs its margin; averaged over the batch",
    unfold=True,
)

VIOLATING = Assumption(
    "classes inside the margin",
    sp.Eq(P[i, c], sp.Heaviside(Mg[i, c], 0)),
    "P_ic = [M_ic > 0]",
    unfold=True,
)

KINK = Assumption(
    "subgradient at the kink",
    sp.Eq(sp.Heaviside(Mg[i, c]), sp.Heaviside(Mg[i, c], 0), evaluate=False),
    "max(0, M) has no derivative at M = 0; we take the subgradient 0 there, as the course code "
    "(margins > 0) does; the two agree wherever M_ic ≠ 0",
)


@cache
def gradient() -> Derivation:
    r""":math:`\partial L / \partial s_{ab}` by the index engine."""
    d = Derivation("Multiclass SVM loss gradient", sp.Derivative(L, s[a, b]),
                   [HINGE, MARGIN, ONE_HOT, LABELS, IN_RANGE, KINK, VIOLATING])
    prover = index_prover(nested_sums=True)
    written = sp.Sum((1 - Y[i, c]) * sp.Max(0, _margin(i, c)), (i, 0, N - 1), (c, 0, C - 1)) / N
    d.step(sp.Derivative(written, s[a, b]), "hinge loss written out", "L with M_ic substituted",
           by=prover)
    d.step(to_expr(multiply_out(d.result), split=False, own_names=True), "differentiate term by term",
           "d max(0, u)/du = θ(u); ∂M_ic/∂s_ab = δ_ia δ_cb − Σ_k Y_ik δ_ia δ_kb", by=prover)
    d.step(to_expr(contract_deltas(multiply_out(d.result)), own_names=True), "Kronecker delta",
           "i = a, and c = b or k = b", by=prover)
    kinked = d.result.replace(lambda e: isinstance(e, sp.Heaviside) and e.args[1] != 0,
                              lambda e: sp.Heaviside(e.args[0], 0))
    d.step(kinked, KINK.name, "take the value 0 at a zero margin")
    d.step(((1 - Y[a, b]) * P[a, b] - Y[a, b] * sp.Sum((1 - Y[a, c]) * P[a, c], (c, 0, C - 1))) / N,
           "name the violating classes", "P_ac = [M_ac > 0]; collect the terms", by=prover)
    d.note("A wrong class b inside the margin gets +1/N; the true class gets −1/N for every "
           "wrong class inside the margin; classes outside the margin get nothing.")
    return d


def derivations() -> list[Derivation]:
    """Every SVM loss derivation (the gradient; the loss is its definition)."""
    return [gradient()]
