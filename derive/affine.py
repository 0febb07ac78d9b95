r"""The affine (fully connected) layer, derived: :math:`H = XW + \mathbf{1}_N b`.

Notation (the course's): a batch of :math:`N` inputs, each flattened to :math:`D` features,
is the matrix :math:`X \in \mathbb{R}^{N \times D}`; the weights are
:math:`W \in \mathbb{R}^{D \times M}`, the bias :math:`b \in \mathbb{R}^{M}`, and

.. math:: H_{ij} = \sum_{k} X_{ik} W_{kj} + b_j .

Each gradient comes from :math:`L = \sum_{a,c} G_{ac} H_{ac}` with :math:`G = \partial L /
\partial H` held fixed: differentiate term by term, contract the Kronecker deltas, read off the
matrix product.

.. math:: \frac{\partial L}{\partial X} = G W^\top, \qquad
          \frac{\partial L}{\partial W} = X^\top G, \qquad
          \frac{\partial L}{\partial b} = \mathbf{1}_N^\top G .
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from .derivation import Assumption, Derivation
from .errors import LayergradError
from .index import IN_RANGE, contract_deltas, index_prover, multiply_out, to_expr
from .matrix import MatrixGradient, RowVector, entry, entrywise

__all__ = ["backward", "derivations", "forward", "symbols"]

N, D, M = sp.symbols("N D M", integer=True, positive=True)
i, j, k = sp.symbols("i j k", integer=True)
a, c, d = sp.symbols("a c d", integer=True)
X, W, b, H, G = (sp.IndexedBase(name) for name in ("X", "W", "b", "H", "G"))
L = sp.Symbol("L")
Xm, Wm = sp.MatrixSymbol("X", N, D), sp.MatrixSymbol("W", D, M)
bm = sp.MatrixSymbol("b", 1, M)
dL_dH = MatrixGradient("L", "H", N, M)
ones_column, ones_row = sp.OneMatrix(N, 1), sp.OneMatrix(1, N)


def symbols() -> dict[str, sp.Basic]:
    """The symbols the derivations use, by name (for code generation and sheets)."""
    return {
        "X": X, "W": W, "b": b, "H": H, "G": G, "Xm": Xm, "Wm": Wm, "bm": bm, "dL_dH": dL_dH,
        "ones_column": ones_column, "ones_row": ones_row, "N": N, "D": D, "M": M,
        "i": i, "j": j, "k": k,
    }


LAYER = Assumption(
    "affine layer",
    sp.Eq(H[i, j], sp.Sum(X[i, k] * W[k, j], (k, 0, D - 1)) + b[j]),
    "each output is a weighted sum of the D input features plus a bias",
    unfold=True,
)

FLATTEN = Assumption(
    "flattened inputs",
    sp.Eq(sp.Symbol("X"), sp.Function("reshape")(sp.Symbol("x"), sp.Tuple(N, D)), evaluate=False),
    "an input x of shape (N, d_1, …, d_r) enters as X = x.reshape(N, D), D = d_1⋯d_r; the "
    "gradient with respect to x is ∂L/∂X reshaped back to x's shape",
)


def _matrix_prover():
    return entrywise({Xm: X, Wm: W, bm: RowVector(b), dL_dH: G}, inner=index_prover())


@cache
def forward() -> Derivation:
    r"""The forward pass :math:`H_{ij}`, ending in matrix form :math:`XW + \mathbf{1}_N b`."""
    d_ = Derivation("Affine forward pass", H[i, j], [FLATTEN, LAYER])
    d_.step(LAYER.statement.rhs, LAYER.name, "the layer's definition, entry by entry")
    d_.step(
        entry(Xm * Wm + ones_column * bm, i, j),
        "matrix form",
        "Σ_k X_ik W_kj is the (i, j) entry of the product XW; 1_N b repeats the bias on every row",
        by=_matrix_prover(),
    )
    return d_


_TARGETS = {
    # name: (the entry differentiated, the gradient's matrix form, why that form)
    "X": (X[i, k], entry(dL_dH * Wm.T, i, k), "Σ_c G_ic W_kc is the (i, k) entry of G Wᵀ"),
    "W": (W[k, j], entry(Xm.T * dL_dH, k, j), "Σ_a X_ak G_aj is the (k, j) entry of Xᵀ G"),
    "b": (b[j], entry(ones_row * dL_dH, 0, j),
          "Σ_a G_aj sums the upstream gradient over the batch: the row vector 1_Nᵀ G"),
}


@cache
def backward(wrt: str) -> Derivation:
    r""":math:`\partial L / \partial X`, :math:`\partial L / \partial W` or
    :math:`\partial L / \partial b` (``wrt`` = ``"X"``, ``"W"``, ``"b"``), by differentiating
    :math:`L = \sum_{a,c} G_{ac} H_{ac}`."""
    if wrt not in _TARGETS:
        raise LayergradError(f"unknown affine parameter {wrt!r}; expected one of X, W, b")
    variable, matrix_form, why = _TARGETS[wrt]
    upstream = Assumption(
        "upstream gradient",
        sp.Eq(sp.Derivative(L, variable),
              sp.Derivative(sp.Sum(G[a, c] * H[a, c], (a, 0, N - 1), (c, 0, M - 1)), variable)),
        "L depends on the layer's inputs only through H, and G = ∂L/∂H is given by the layer above",
    )
    d_ = Derivation(f"Affine backward pass: ∂L/∂{wrt}", sp.Derivative(L, variable),
                    [upstream, IN_RANGE, LAYER])
    d_.step(upstream.statement.rhs, upstream.name, "the chain rule through H, with G = ∂L/∂H")
    prover = index_prover()
    written = sp.Sum(G[a, c] * (sp.Sum(X[a, d] * W[d, c], (d, 0, D - 1)) + b[c]),
                     (a, 0, N - 1), (c, 0, M - 1))
    d_.step(sp.Derivative(written, variable), LAYER.name + " (substituted)", "H_ac written out",
            by=prover)
    d_.step(to_expr(multiply_out(d_.result), split=False, own_names=True), "differentiate term by term",
            "∂X_ad/∂X_ik = δ_ai δ_dk, ∂W_dc/∂W_kj = δ_dk δ_cj, ∂b_c/∂b_j = δ_cj; the other "
            "factors are constants", by=prover)
    d_.step(to_expr(contract_deltas(multiply_out(d_.result)), own_names=True), "Kronecker delta",
            "each delta fixes a summation index to a free one", by=prover)
    d_.step(matrix_form, "matrix form", why, by=_matrix_prover())
    return d_


def derivations() -> list[Derivation]:
    """Every affine derivation: the forward pass and the three gradients."""
    return [forward(), *(backward(name) for name in _TARGETS)]
