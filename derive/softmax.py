r"""Softmax cross-entropy, derived through the log-sum-exp.

For scores :math:`s \in \mathbb{R}^{N \times C}` and labels :math:`y_i \in \{0, \dots, C-1\}`,
with the one-hot matrix :math:`Y_{ic} = [c = y_i]` and the softmax
:math:`P_{ij} = e^{s_{ij}} / \sum_c e^{s_{ic}}`, the loss is

.. math:: L = -\frac{1}{N} \sum_i \log P_{i y_i}
            = \frac{1}{N} \sum_i \Big( \log \sum_c e^{s_{ic}} - \sum_c Y_{ic} s_{ic} \Big),

and its gradient, differentiated through the log-sum-exp by the index engine, is

.. math:: \frac{\partial L}{\partial s_{ij}} = \frac{P_{ij} - Y_{ij}}{N}.

Computed as written, :math:`e^{s}` overflows for scores above about 709 (float64) or 88
(float32). Shifting every row by :math:`m_i = \max_c s_{ic}` changes neither the softmax nor
the loss — both identities are proved below — and keeps every exponent at most 0.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from .derivation import Assumption, Derivation
from .index import IN_RANGE, contract_deltas, index_prover, multiply_out, to_expr
from .maximum import Maximum

__all__ = ["Maximum", "derivations", "gradient", "loss", "stable_softmax", "symbols"]

N, C = sp.symbols("N C", integer=True, positive=True)
i, j, a, b, c = sp.symbols("i j a b c", integer=True)
s = sp.IndexedBase("s", real=True)
y = sp.IndexedBase("y", integer=True)
Y, P, E = sp.IndexedBase("Y"), sp.IndexedBase("P"), sp.IndexedBase("E")
m = sp.IndexedBase("m", real=True)
Z = sp.IndexedBase("Z", positive=True)
L = sp.Symbol("L")


def symbols() -> dict[str, sp.Basic]:
    """The symbols the derivations use, by name (for code generation and sheets)."""
    return {"s": s, "y": y, "Y": Y, "P": P, "E": E, "m": m, "Z": Z, "N": N, "C": C,
            "i": i, "j": j, "L": L}


ONE_HOT = Assumption(
    "one-hot labels",
    sp.Eq(Y[i, c], sp.KroneckerDelta(c, y[i])),
    "Y_ic is 1 in the column of example i's class y_i and 0 elsewhere",
    unfold=True,
)

LABELS = Assumption(
    "labels are classes",
    sp.Eq(sp.Sum(Y[i, c], (c, 0, C - 1)), 1),
    "each y_i is one of 0, …, C − 1, so every row of Y holds exactly one 1",
)

SOFTMAX = Assumption(
    "softmax",
    sp.Eq(P[i, j], sp.exp(s[i, j]) / sp.Sum(sp.exp(s[i, c]), (c, 0, C - 1))),
    "the scores of each row exponentiated and normalized to probabilities",
    unfold=True,
)

PARTITION = Assumption(
    "normalizer",
    sp.Eq(Z[i], sp.Sum(sp.exp(s[i, c]), (c, 0, C - 1))),
    "Z_i = Σ_c exp(s_ic) > 0, a sum of positive terms",
    unfold=True,
)

CROSS_ENTROPY = Assumption(
    "cross-entropy",
    sp.Eq(L, -sp.Sum(Y[i, c] * sp.log(P[i, c]), (i, 0, N - 1), (c, 0, C - 1)) / N),
    "the mean over the batch of −log P_{i, y_i}: the one-hot Y picks the true class",
)

SHIFT = Assumption(
    "stabilizing shift",
    sp.Eq(m[i], Maximum(s[i, c], (c, 0, C - 1))),
    "any real m_i leaves softmax and loss unchanged (proved below); m_i = max_c s_ic makes every "
    "exponent s_ic − m_i ≤ 0, so nothing overflows, and one term equals 1, so the sum is ≥ 1",
)

SHIFTED = Assumption(
    "shifted exponentials",
    sp.Eq(E[i, j], sp.exp(s[i, j] - m[i])),
    "E_ij = exp(s_ij − m_i) ≤ 1 with the shift above",
    unfold=True,
)


def _loss_lse() -> sp.Expr:
    """:math:`\\frac1N \\sum_i (\\log \\sum_c e^{s_{ic}} - \\sum_c Y_{ic} s_{ic})`."""
    lse = sp.log(sp.Sum(sp.exp(s[i, c]), (c, 0, C - 1)))
    return sp.Sum(lse - sp.Sum(Y[i, c] * s[i, c], (c, 0, C - 1)), (i, 0, N - 1)) / N


@cache
def loss() -> Derivation:
    r"""The loss from :math:`-\log P_{i y_i}` to the stable log-sum-exp form."""
    d = Derivation("Softmax cross-entropy loss through the log-sum-exp", L,
                   [CROSS_ENTROPY, ONE_HOT, LABELS, SOFTMAX, PARTITION, SHIFT, SHIFTED, IN_RANGE])
    d.step(CROSS_ENTROPY.statement.rhs, CROSS_ENTROPY.name, "the loss's definition")
    unfolded = index_prover(nested_sums=True)
    d.step(-sp.Sum(Y[i, c] * sp.log(sp.exp(s[i, c]) / Z[i]), (i, 0, N - 1), (c, 0, C - 1)) / N,
           "softmax with its normalizer", "P_ic = exp(s_ic)/Z_i", by=unfolded)
    d.step(-sp.Sum(Y[i, c] * (s[i, c] - sp.log(Z[i])), (i, 0, N - 1), (c, 0, C - 1)) / N,
           "logarithm of a quotient", "log(exp(s)/Z) = s − log Z, as Z > 0")
    d.step(sp.Sum(sp.log(Z[i]) * sp.Sum(Y[i, c], (c, 0, C - 1)) - sp.Sum(Y[i, c] * s[i, c], (c, 0, C - 1)),
                  (i, 0, N - 1)) / N,
           "split the sum", "log Z_i does not depend on c", by=unfolded)
    d.step(sp.Sum(sp.log(Z[i]) - sp.Sum(Y[i, c] * s[i, c], (c, 0, C - 1)), (i, 0, N - 1)) / N,
           LABELS.name, "Σ_c Y_ic = 1")
    d.step(_loss_lse(), "log-sum-exp", "write out Z_i: the loss is the row's log-sum-exp minus the "
           "score of the true class", by=unfolded)
    shifted = m[i] + sp.log(sp.Sum(sp.exp(s[i, c] - m[i]), (c, 0, C - 1)))
    d.step(sp.Sum(shifted - sp.Sum(Y[i, c] * s[i, c], (c, 0, C - 1)), (i, 0, N - 1)) / N,
           "shift the log-sum-exp",
           "log Σ_c exp(s_ic) = m_i + log Σ_c exp(s_ic − m_i) for any real m_i")
    d.step(sp.Sum(m[i] + sp.log(sp.Sum(E[i, c], (c, 0, C - 1))) - sp.Sum(Y[i, c] * s[i, c], (c, 0, C - 1)),
                  (i, 0, N - 1)) / N,
           "name the shifted exponentials", "E_ic = exp(s_ic − m_i), shared with the softmax", by=unfolded)
    d.note("With m_i = max_c s_ic every exponent is ≤ 0 and the largest term is exp(0) = 1: "
           "no overflow, and the logarithm's argument is at least 1.")
    return d


@cache
def stable_softmax() -> Derivation:
    r""":math:`P_{ij}` with the shift :math:`m_i` folded in: the same probabilities."""
    d = Derivation("Softmax, computed stably", P[i, j], [SOFTMAX, SHIFT, SHIFTED])
    d.step(SOFTMAX.statement.rhs, SOFTMAX.name, "the definition")
    d.step(sp.exp(s[i, j] - m[i]) / sp.Sum(sp.exp(s[i, c] - m[i]), (c, 0, C - 1)),
           "multiply above and below by exp(−m_i)", "the factor exp(−m_i) cancels, whatever m_i is")
    d.step(E[i, j] / sp.Sum(E[i, c], (c, 0, C - 1)), "name the shifted exponentials",
           "each probability is a shifted exponential over its row's sum")
    return d


@cache
def gradient() -> Derivation:
    r""":math:`\partial L / \partial s_{ab}` through the log-sum-exp, by the index engine."""
    loss_form = Assumption(
        "loss as log-sum-exp",
        sp.Eq(L, _loss_lse()),
        "the loss derived above",
        unfold=True,
    )
    d = Derivation("Softmax cross-entropy gradient", sp.Derivative(L, s[a, b]),
                   [loss_form, IN_RANGE, SOFTMAX])
    prover = index_prover(nested_sums=True)
    d.step(sp.Derivative(_loss_lse(), s[a, b]), loss_form.name, "L written out", by=prover)
    d.step(to_expr(multiply_out(d.result), split=False, own_names=True), "differentiate term by term",
           "d log u = du/u; ∂exp(s_ic)/∂s_ab = exp(s_ic) δ_ia δ_cb; ∂s_ic/∂s_ab = δ_ia δ_cb",
           by=prover)
    d.step(to_expr(contract_deltas(multiply_out(d.result)), own_names=True), "Kronecker delta",
           "i = a and c = b", by=prover)
    # a typed target, checked: the index engine must show it equal to the derived expression
    d.step((P[a, b] - Y[a, b]) / N, "recognise the softmax",
           "recognised as (P − Y)/N, checked: exp(s_ab)/Σ_c exp(s_ac) is P_ab", by=prover)
    d.note("The gradient is the predicted probabilities minus the one-hot truth, averaged over "
           "the batch: it lies in (−1/N, 1/N) and each row sums to zero.")
    return d


def derivations() -> list[Derivation]:
    """Every softmax cross-entropy derivation: the loss, the stable softmax, the gradient."""
    return [loss(), stable_softmax(), gradient()]
