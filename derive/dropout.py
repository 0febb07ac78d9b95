r"""Dropout, derived: forward and backward as masked products, moments, the test-time rule,
the zero-out property and the Baldi–Sadowski regularizer.

Notation (the quiz's): :math:`Y` is the activation before dropout, :math:`H` the output,
:math:`D` a mask of independent Bernoulli variables with keep probability :math:`q`.
The course API has one parameter ``p``; two conventions give it opposite meanings, and both
are named everywhere:

* :attr:`Convention.KEEP` — ``p`` is the keep probability, :math:`q = p` (the quiz,
  Srivastava et al. 2014, newer CS231n);
* :attr:`Convention.DROP` — ``p`` is the drop rate :math:`r`, :math:`q = 1 - r` (Keras
  ``rate``, CS231n 2017, CS182).

The mask is drawn from a uniform :math:`U_{ij} \in [0, 1)`; with the drop rate two draws exist
in published runs, the same law with different seeded numbers (:class:`Draw`):
``U >= p`` (:attr:`Draw.GE`, CS231n 2017, CS182: the default) and ``U < 1 - p``
(:attr:`Draw.LT`, the cs6353 notebook). With the keep probability the draw is ``U < p``.

Inverted dropout trains with :math:`H = D \odot Y / q` and is the identity at test time;
vanilla dropout trains with :math:`H = D \odot Y` and multiplies by :math:`q` at test time.
"""

from __future__ import annotations

from enum import Enum
from functools import cache

import sympy as sp
from sympy import stats

from .derivation import Assumption, Derivation
from .errors import LayergradError
from .index import (
    IN_RANGE,
    Mean,
    bernoulli_mean,
    collect,
    contract_deltas,
    index_prover,
    multiply_out,
    normalize,
    tidy,
    to_expr,
)
from .matrix import MatrixGradient, entry, entrywise

__all__ = [
    "VARIANTS",
    "Convention",
    "Draw",
    "backward",
    "baldi_sadowski",
    "derivations",
    "draw_text",
    "forward",
    "keep_probability",
    "mask_draw",
    "moments",
    "no_rescaling",
    "p_range",
    "symbols",
    "zero_out",
]

VARIANTS = ("inverted", "vanilla")


class Convention(str, Enum):
    """What the course API's ``dropout_param['p']`` means."""

    KEEP = "keep"
    DROP = "drop"

    @classmethod
    def parse(cls, name: str | Convention) -> Convention:
        try:
            return cls(name)
        except ValueError:
            raise LayergradError(
                f"unknown dropout convention {name!r}; expected 'keep' (p is the keep "
                "probability) or 'drop' (p is the drop rate)"
            ) from None

    @property
    def meaning(self) -> str:
        if self is Convention.KEEP:
            return "p is the KEEP probability q (quiz, Srivastava et al. 2014, newer CS231n)"
        return "p is the DROP rate r, keep probability q = 1 − r (Keras rate, CS231n 2017, CS182)"


class Draw(str, Enum):
    """How a course draws the keep event from a uniform ``U`` (same law, other seeded numbers)."""

    LT = "lt"
    """``U < q``: ``U < p`` (keep convention) or ``U < 1 - p`` (drop convention, the cs6353 notebook)."""
    GE = "ge"
    """``U >= r``: ``U >= p``, drop convention only (CS231n 2017, CS182)."""

    @classmethod
    def parse(cls, name: str | Draw | None, convention: Convention | str) -> Draw:
        """The draw called ``name`` (``None``: the convention's default), refused where it cannot be."""
        convention = Convention.parse(convention)
        if name is None:
            return cls.LT if convention is Convention.KEEP else cls.GE
        try:
            draw = cls(name)
        except ValueError:
            raise LayergradError(
                f"unknown mask draw {name!r}; expected 'ge' (rand >= p, drop rate only) or 'lt' "
                "(rand < p for the keep probability, rand < 1 - p for the drop rate)"
            ) from None
        if draw is cls.GE and convention is Convention.KEEP:
            raise LayergradError("the mask draw 'ge' (rand >= p) is for the drop rate; with the keep probability "
                                 "the draw is rand < p ('lt')")
        return draw


# Sizes, indices, arrays and probabilities shared by the derivations below.
n, m = sp.symbols("n m", integer=True, positive=True)
i, j, k, l = sp.symbols("i j k l", integer=True)
q = sp.Symbol("q", positive=True)
r = sp.Symbol("r", nonnegative=True)
p_api = sp.Symbol("p", real=True)
Y, H, D, M, G = (sp.IndexedBase(name) for name in "YHDMG")
L = sp.Symbol("L")
Ym, Hm, Dm, Mm = (sp.MatrixSymbol(name, n, m) for name in "YHDM")
dL_dH = MatrixGradient("L", "H", n, m)


def symbols() -> dict[str, sp.Basic]:
    """The symbols the derivations use, by name (for code generation and sheets)."""
    return {
        "Y": Y, "H": H, "D": D, "M": M, "G": G, "q": q, "r": r, "p": p_api,
        "Ym": Ym, "Hm": Hm, "Dm": Dm, "Mm": Mm, "dL_dH": dL_dH, "i": i, "j": j,
    }


def keep_probability(convention: Convention | str) -> sp.Expr:
    """The keep probability in terms of the API's ``p``: ``p`` or ``1 - p``."""
    return p_api if Convention.parse(convention) is Convention.KEEP else 1 - p_api


def p_range(convention: Convention | str) -> sp.Interval:
    """Allowed values of the API's ``p``: keep in (0, 1], drop in [0, 1)."""
    if Convention.parse(convention) is Convention.KEEP:
        return sp.Interval.Lopen(0, 1)
    return sp.Interval.Ropen(0, 1)


U = sp.Symbol("U", real=True)


def mask_draw(convention: Convention | str, draw: Draw | str | None = None) -> sp.Relational:
    r"""The event :math:`D_{ij} = 1` as the course notebooks draw it from a uniform
    :math:`U_{ij} \in [0, 1)`: ``U < p`` (keep), ``U >= p`` (drop, :attr:`Draw.GE`, the default) or
    ``U < 1 - p`` (drop, :attr:`Draw.LT`). Each has probability :math:`q`; the exact form matters
    for reproducing the notebooks' seeded numbers."""
    draw = Draw.parse(draw, convention)
    if draw is Draw.GE:
        return sp.GreaterThan(U, p_api)
    return sp.StrictLessThan(U, keep_probability(convention))


def draw_text(convention: Convention | str, draw: Draw | str | None = None) -> str:
    """The draw as NumPy code, e.g. ``rand >= p``."""
    event = mask_draw(convention, draw)
    return f"rand {event.rel_op} {event.rhs}"


def _keep(convention: Convention) -> sp.Expr:
    """The keep probability in the derivation's own symbols: ``q`` or ``1 - r``."""
    return q if convention is Convention.KEEP else 1 - r


def _convention_assumption(convention: Convention) -> Assumption:
    if convention is Convention.KEEP:
        return Assumption(
            "keep-probability convention",
            sp.Eq(p_api, q),
            "the API's p is the keep probability q",
        )
    return Assumption(
        "drop-rate convention",
        sp.Eq(q, 1 - r),
        "the API's p is the drop rate r, so the keep probability is q = 1 − r",
        unfold=True,
    )


def _mask_assumption(convention: Convention, draw: Draw | None = None) -> Assumption:
    P = sp.Function("P")
    drawn = "" if draw is None else (
        f"; drawn as D_ij = [{draw_text(convention, draw)}] with rand uniform on [0, 1) (the {draw.value} draw)")
    return Assumption(
        "Bernoulli mask",
        sp.Eq(P(sp.Eq(D[i, j], 1)), q),
        "the D_ij are independent; each is 1 (keep) with probability q and 0 (drop) otherwise" + drawn,
    )


def _layer_assumption(variant: str) -> Assumption:
    if variant == "inverted":
        return Assumption(
            "inverted dropout",
            sp.Eq(H[i, j], D[i, j] * Y[i, j] / q),
            "kept units are scaled up by 1/q during training; test time is the identity",
            unfold=True,
        )
    if variant == "vanilla":
        return Assumption(
            "vanilla dropout",
            sp.Eq(H[i, j], D[i, j] * Y[i, j]),
            "kept units pass unchanged during training; test time multiplies by q",
            unfold=True,
        )
    raise LayergradError(f"unknown dropout variant {variant!r}; expected one of {VARIANTS}")


def _scaled_mask(convention: Convention) -> Assumption:
    return Assumption(
        "scaled mask",
        sp.Eq(M[i, j], D[i, j] / _keep(convention)),
        "the mask with the 1/q scale folded in, computed once and kept for the backward pass",
        unfold=True,
    )


def _title(what: str, variant: str, convention: Convention) -> str:
    return f"Dropout {what} ({variant}, {convention.value} convention: p = {_p_name(convention)})"


def _p_name(convention: Convention) -> str:
    return "keep probability q" if convention is Convention.KEEP else "drop rate r"


def _matrix_prover():
    return entrywise({Ym: Y, Hm: H, Dm: D, Mm: M, dL_dH: G})


def forward(variant: str = "inverted", convention: Convention | str = "keep",
            draw: Draw | str | None = None) -> Derivation:
    r"""The training-time forward pass :math:`H_{ij}`, ending in matrix form; the mask event
    (``draw``, by default the convention's) is stated with the Bernoulli mask."""
    convention = Convention.parse(convention)
    return _forward(variant, convention, Draw.parse(draw, convention))


@cache
def _forward(variant: str, convention: Convention, draw: Draw) -> Derivation:
    layer = _layer_assumption(variant)
    assumptions = [_mask_assumption(convention, draw), _convention_assumption(convention), layer]
    if variant == "inverted":
        assumptions.append(_scaled_mask(convention))
    d = Derivation(_title("forward pass", variant, convention), H[i, j], assumptions)
    d.step(layer.statement.rhs, layer.name, "the layer's definition, entry by entry")
    keep = _keep(convention)
    if d.result.has(q) and convention is Convention.DROP:
        d.step(d.result.subs(q, keep), "substitute q = 1 − r", "write the keep probability with the drop rate")
    if variant == "inverted":
        d.step(
            entry(sp.HadamardProduct(Dm, Ym) / keep, i, j),
            "matrix form",
            "the same product at every entry (i, j) is a Hadamard product",
            by=_matrix_prover(),
        )
        d.step(
            entry(sp.HadamardProduct(Mm, Ym), i, j),
            "fold the scale into the mask",
            "fold 1/q into the mask M = D/q, the one array the backward pass needs",
            by=_matrix_prover(),
        )
    else:
        d.step(
            entry(sp.HadamardProduct(Dm, Ym), i, j),
            "matrix form",
            "the same product at every entry (i, j) is a Hadamard product",
            by=_matrix_prover(),
        )
    return d


@cache
def backward(variant: str = "inverted", convention: Convention | str = "keep") -> Derivation:
    r""":math:`\partial L/\partial Y_{ij}` by differentiating :math:`L = \sum_{kl} G_{kl} H_{kl}`."""
    convention = Convention.parse(convention)
    layer = _layer_assumption(variant)
    upstream = Assumption(
        "upstream gradient",
        sp.Eq(sp.Derivative(L, Y[i, j]), sp.Derivative(sp.Sum(G[k, l] * H[k, l], (k, 1, n), (l, 1, m)), Y[i, j])),
        "L depends on Y only through H, and G = ∂L/∂H is given (held fixed) by the layer above",
    )
    assumptions = [upstream, IN_RANGE, _convention_assumption(convention), layer]
    if variant == "inverted":
        assumptions.append(_scaled_mask(convention))
    d = Derivation(_title("backward pass", variant, convention), sp.Derivative(L, Y[i, j]), assumptions)
    d.step(upstream.statement.rhs, upstream.name, "the chain rule through H, with G = ∂L/∂H")
    keep = _keep(convention)
    definition = layer.statement.rhs.subs(q, keep)
    body = sp.Sum(G[k, l] * definition.xreplace({i: k, j: l}), (k, 1, n), (l, 1, m))
    prover = index_prover()
    d.step(sp.Derivative(body, Y[i, j]), layer.name + " (substituted)", "H_kl written out", by=prover)
    differentiated = to_expr(multiply_out(d.result), split=False, order="kl")
    d.step(differentiated, "differentiate term by term", "∂Y_kl/∂Y_ij = δ_ik δ_jl", by=prover)
    d.step(to_expr(contract_deltas(multiply_out(d.result))), "Kronecker delta", "only k = i, l = j survives", by=prover)
    if variant == "inverted":
        d.step(G[i, j] * M[i, j], "fold the scale into the mask", "M = D/q, saved by the forward pass",
               by=prover)
        # a typed target, checked: the prover must show it equal to the derived G[i, j]·M[i, j]
        d.step(
            entry(sp.HadamardProduct(dL_dH, Mm), i, j),
            "matrix form",
            "recognised as ∂L/∂H ⊙ M, checked entry by entry: the upstream gradient masked (and scaled) "
            "exactly as the forward pass masked Y",
            by=_matrix_prover(),
        )
    else:
        # a typed target, checked: the prover must show it equal to the derived entry
        d.step(
            entry(sp.HadamardProduct(dL_dH, Dm), i, j),
            "matrix form",
            "recognised as ∂L/∂H ⊙ D, checked entry by entry: the upstream gradient masked exactly as "
            "the forward pass masked Y",
            by=_matrix_prover(),
        )
    return d


def _unit(variant: str, convention: Convention) -> tuple[stats.rv.RandomSymbol, sp.Symbol, sp.Expr]:
    keep = _keep(convention)
    mask = stats.Bernoulli("D_ij", keep)
    y = sp.Symbol("Y_ij", real=True)
    h = mask * y / keep if variant == "inverted" else mask * y
    return mask, y, h


@cache
def moments(variant: str = "inverted", convention: Convention | str = "keep") -> tuple[Derivation, Derivation]:
    r""":math:`E[H_{ij}]` and :math:`\mathrm{Var}[H_{ij}]` for one entry, by ``sympy.stats``."""
    convention = Convention.parse(convention)
    mask, _, h = _unit(variant, convention)
    keep = _keep(convention)
    scale = h / mask
    assumptions = [
        Assumption("Bernoulli mask", sp.Eq(stats.Expectation(mask), keep, evaluate=False),
                   "D_ij is 1 with probability q, else 0"),
        _convention_assumption(convention),
    ]
    mean = Derivation(_title("train-time mean", variant, convention), stats.Expectation(h), assumptions)
    mean.step(scale * stats.Expectation(mask), "linearity of expectation", "Y_ij is fixed; only D_ij is random")
    mean.step(sp.simplify(scale * stats.E(mask)), "Bernoulli mean", "E[D_ij] = q")
    var = Derivation(_title("train-time variance", variant, convention), stats.Variance(h), assumptions)
    var.step(scale**2 * stats.Variance(mask), "variance of a scaled variable", "Var[aX] = a² Var[X]")
    var.step(scale**2 * tidy(sp.factor(stats.variance(mask))), "Bernoulli variance", "Var[D_ij] = q(1 − q)")
    simplified = tidy(sp.factor(var.result))
    if simplified != var.result:
        var.step(simplified, "simplify", "cancel the common factor")
    if variant == "inverted":
        mean.note(
            "The train-time mean equals Y_ij, which is what the test-time layer outputs: "
            "inverted dropout divides by q during training so that test time is the identity."
        )
    else:
        mean.note(
            "The train-time mean is q·Y_ij, so vanilla dropout must multiply by q at test time "
            "(or scale the outgoing weights by q) for test outputs to match."
        )
    var.note("The variance vanishes at q = 1 (no dropout) and grows without bound as q → 0.")
    return mean, var


@cache
def no_rescaling(convention: Convention | str = "keep") -> Derivation:
    """Inverted dropout with the 1/q forgotten: the train-time mean shrinks by the factor q."""
    convention = Convention.parse(convention)
    mask, y, _ = _unit("vanilla", convention)
    keep = _keep(convention)
    d = Derivation(
        f"Dropout without the 1/q rescaling ({convention.value} convention)",
        stats.Expectation(mask * y),
        [
            Assumption("Bernoulli mask", sp.Eq(stats.Expectation(mask), keep, evaluate=False),
                       "D_ij is 1 with probability q"),
            Assumption("identity at test time", sp.Eq(sp.Symbol("H_test"), y),
                       "an inverted-dropout layer leaves test inputs untouched"),
            _convention_assumption(convention),
        ],
    )
    d.step(y * stats.Expectation(mask), "linearity of expectation", "Y_ij is fixed")
    d.step(y * stats.E(mask), "Bernoulli mean", "E[D_ij] = q")
    d.note(
        "Train-time activations average q·Y_ij while test-time ones are Y_ij: the next layer "
        "sees inputs 1/q times larger at test time than it was trained on."
    )
    return d


@cache
def zero_out() -> tuple[Derivation, Derivation]:
    r"""In :math:`\hat y = f_2(w_2 x_2 + b_2)`, :math:`x_2 = D f_1(w_1 x_1 + b_1)`, the
    gradients of :math:`L = \tfrac12(\hat y - y)^2` with respect to :math:`w_2, w_1` vanish
    when the unit is dropped (:math:`D = 0`)."""
    x1, w1, b1, w2, b2, mask, y = sp.symbols("x_1 w_1 b_1 w_2 b_2 D y", real=True)
    z1, z2, x2, yhat, loss = sp.symbols("z_1 z_2 x_2 yhat L", real=True)
    f1, f2 = sp.Function("f_1"), sp.Function("f_2")
    t = sp.Symbol("t")

    def prime(f: sp.Function, at: sp.Expr) -> sp.Subs:
        return sp.Subs(sp.Derivative(f(t), t), t, at)

    definitions = [
        Assumption("network", sp.Eq(loss, (yhat - y) ** 2 / 2), "squared error on the output", unfold=True),
        Assumption("output unit", sp.Eq(yhat, f2(z2)), "f_2 is the output activation", unfold=True),
        Assumption("output pre-activation", sp.Eq(z2, w2 * x2 + b2), "affine output unit", unfold=True),
        Assumption("dropout on the hidden unit", sp.Eq(x2, mask * f1(z1)), "D ∈ {0, 1}", unfold=True),
        Assumption("hidden pre-activation", sp.Eq(z1, w1 * x1 + b1), "affine hidden unit", unfold=True),
        Assumption("dropped unit", sp.Eq(mask, 0), "this iteration's mask drops the hidden unit"),
    ]
    dw2 = Derivation("Zero-out: the outgoing weight w_2 of a dropped unit", sp.Derivative(loss, w2), definitions)
    dw2.step((yhat - y) * prime(f2, z2) * x2, "chain rule", "∂L/∂ŷ · ∂ŷ/∂z_2 · ∂z_2/∂w_2")
    dw2.step((yhat - y) * prime(f2, z2) * mask * f1(z1), "substitute x_2", "x_2 = D f_1(z_1)")
    dw2.step(sp.S.Zero, "dropped unit", "D = 0 makes the product zero")
    dw2.note("w_2 ← w_2 − α·0: the weight leaving a dropped unit is not updated this iteration.")

    dw1 = Derivation("Zero-out: the incoming weight w_1 of a dropped unit", sp.Derivative(loss, w1), definitions)
    dw1.step(
        (yhat - y) * prime(f2, z2) * w2 * mask * prime(f1, z1) * x1,
        "chain rule",
        "∂L/∂ŷ · ∂ŷ/∂z_2 · ∂z_2/∂x_2 · ∂x_2/∂z_1 · ∂z_1/∂w_1, with ∂x_2/∂z_1 = D f_1'(z_1)",
    )
    dw1.step(sp.S.Zero, "dropped unit", "D = 0 makes ∂x_2/∂z_1 = 0")
    dw1.note("w_1 ← w_1 − α·0: the weight entering a dropped unit is not updated either.")
    return dw2, dw1


@cache
def baldi_sadowski() -> tuple[Derivation, ...]:
    r"""Dropout on a linear unit is a regularizer in expectation (Baldi & Sadowski 2014).

    With :math:`y_D = \sum_k \delta_k w_k x_k`, :math:`y_E = \sum_k p\,w_k x_k` and the
    squared losses :math:`L_D, L_E`:
    :math:`E[\partial L_D/\partial w_i] = \partial L_E/\partial w_i + w_i p(1-p) x_i^2`, hence
    :math:`E[L_D] = L_E + \tfrac12 p(1-p) \sum_k (w_k x_k)^2` — for symbolic :math:`n` by the
    index engine's moment rule, for :math:`n = 3` by ``sympy.stats``, and the lecture's
    worked example."""
    size = sp.Symbol("n", integer=True, positive=True)
    delta, w, x = sp.IndexedBase("delta"), sp.IndexedBase("w"), sp.IndexedBase("x")
    p = sp.Symbol("p", positive=True)
    y = sp.Symbol("y", real=True)
    yD, yE, LD, LE = sp.symbols("y_D y_E L_D L_E", real=True)
    y_dropout = sp.Sum(delta[k] * w[k] * x[k], (k, 1, size))
    y_ensemble = sp.Sum(p * w[k] * x[k], (k, 1, size))
    loss_d, loss_e = (y - y_dropout) ** 2 / 2, (y - y_ensemble) ** 2 / 2
    P = sp.Function("P")
    assumptions = [
        Assumption("Bernoulli mask", sp.Eq(P(sp.Eq(delta[i], 1)), p),
                   "the δ_k are independent; each is 1 (retained) with probability p"),
        IN_RANGE,
        Assumption("dropout loss", sp.Eq(LD, (y - yD) ** 2 / 2), "squared error of the thinned unit", unfold=True),
        Assumption("ensemble loss", sp.Eq(LE, (y - yE) ** 2 / 2), "squared error of the averaged unit", unfold=True),
        Assumption("dropout output", sp.Eq(yD, y_dropout), "the unit with a dropout mask", unfold=True),
        Assumption("ensemble output", sp.Eq(yE, y_ensemble), "the unit with weights scaled by p", unfold=True),
    ]
    prover = index_prover()

    def mean(e: sp.Expr) -> Mean:
        return Mean(e, delta, p)

    grad = Derivation("Baldi–Sadowski: expected gradient of a linear unit with dropout (symbolic n)",
                      mean(sp.Derivative(LD, w[i])), assumptions)
    grad.step(mean(-(y - y_dropout) * delta[i] * x[i]), "differentiate", "∂y_D/∂w_i = δ_i x_i", by=prover)
    grad.step(mean(to_expr(collect(multiply_out(grad.result.expr)), order="k")), "multiply out",
              "expand the product into single sums", by=prover)
    moments_terms = collect(bernoulli_mean(multiply_out(grad.result.expr), delta, p))
    grad.step(to_expr(moments_terms, order="k"), "Bernoulli moments",
              "E[δ_i] = p, E[δ_i δ_k] = p² + p(1 − p) δ_ik", by=prover)
    grad.step(to_expr(collect(contract_deltas(multiply_out(grad.result))), order="k"), "Kronecker delta",
              "the k = i term carries the variance p(1 − p)", by=prover)
    penalty = to_expr(normalize(grad.result - sp.Derivative(loss_e, w[i])), order="k")
    grad.step(sp.Derivative(LE, w[i]) + penalty, "recognise the ensemble gradient",
              "what remains beyond ∂L_E/∂w_i is the regularizer's gradient", by=prover)

    loss = Derivation("Baldi–Sadowski: expected loss of a linear unit with dropout (symbolic n)",
                      mean(LD), assumptions)
    loss.step(to_expr(normalize(mean(loss_d)), order="k"), "Bernoulli moments",
              "expand the square; E[δ_k] = p, E[δ_k δ_l] = p² + p(1 − p) δ_kl", by=prover)
    regularizer = to_expr(normalize(loss.result - loss_e), order="k")
    loss.step(LE + regularizer, "recognise the ensemble loss",
              "dropout adds ½ p(1 − p) Σ (w_k x_k)², largest at p = 1/2", by=prover)
    loss.note("The regularization constant p(1 − p)/2 is largest at p = 1/2.")

    three_grad, three = _baldi_sadowski_three()
    return grad, loss, three_grad, three, *_worked_example(delta, w, x, p, y_dropout, y_ensemble, yD, yE)


def _expectation(expr: sp.Expr) -> stats.Expectation:
    """E[expr], kept even where ``expr`` is a name (L_D) that becomes random only once unfolded
    (``stats.Expectation`` returns a non-random argument unchanged)."""
    obj = sp.Expr.__new__(stats.Expectation, expr)
    obj._condition = None
    return obj


def _baldi_sadowski_three() -> tuple[Derivation, Derivation]:
    """The expected gradient (with respect to w_1) and the expected loss for n = 3, by sympy.stats."""
    p = sp.Symbol("p", positive=True)
    y = sp.Symbol("y", real=True)
    ws = sp.symbols("w_1:4", real=True)
    xs = sp.symbols("x_1:4", real=True)
    deltas = [stats.Bernoulli(f"delta_{n_}", p) for n_ in (1, 2, 3)]
    LE = sp.Symbol("L_E", real=True)
    dLE = sp.Derivative(LE, ws[0])
    loss_e = (y - sum(p * w_ * x_ for w_, x_ in zip(ws, xs))) ** 2 / 2
    loss_d = (y - sum(dl * w_ * x_ for dl, w_, x_ in zip(deltas, ws, xs))) ** 2 / 2
    mask = Assumption("Bernoulli mask", sp.Eq(stats.Expectation(deltas[0]), p, evaluate=False),
                      "δ_1, δ_2, δ_3 independent Bernoulli(p)")

    LD = sp.Symbol("L_D", real=True)
    grad = Derivation(
        "Baldi–Sadowski for three inputs, by sympy.stats: the expected gradient",
        _expectation(sp.Derivative(LD, ws[0])),
        [mask, Assumption("dropout loss", sp.Eq(LD, loss_d), "squared error of the thinned unit", unfold=True),
         Assumption("ensemble loss", sp.Eq(LE, loss_e), "squared error of the averaged unit", unfold=True)],
    )
    grad.step(stats.Expectation(sp.diff(loss_d, ws[0])), "differentiate", "inside the expectation: "
              "the mask does not depend on w_1")
    grad.step(sp.expand(stats.E(grad.result.args[0])), "expectation over three Bernoulli variables",
              "sympy.stats sums over the 8 outcomes of the mask")
    grad.step(dLE + tidy(sp.factor(sp.expand(grad.result - sp.diff(loss_e, ws[0])))),
              "recognise the ensemble gradient", "what remains is w_1 p(1 − p) x_1², the regularizer's gradient")

    d = Derivation(
        "Baldi–Sadowski for three inputs, by sympy.stats: the expected loss",
        stats.Expectation(loss_d),
        [mask, Assumption("ensemble loss", sp.Eq(LE, loss_e), "squared error of the averaged unit", unfold=True)],
    )
    d.step(sp.expand(stats.E(d.start.args[0])), "expectation over three Bernoulli variables",
           "sympy.stats sums over the 8 outcomes of the mask")
    d.step(LE + tidy(sp.factor(sp.expand(d.result - loss_e))), "recognise the ensemble loss",
           "what remains is the regularizer")
    return grad, d


def _worked_example(delta, w, x, p, y_dropout, y_ensemble, yD, yE) -> tuple[Derivation, Derivation]:
    values = {"x": (1, 2, 3), "w": (2, 2, 2), "delta": (0, 1, 1)}
    arrays = {"x": x, "w": w, "delta": delta}
    example = [
        Assumption(f"{name}_{pos}", sp.Eq(arrays[name][pos], v), "the lecture's example", unfold=True)
        for name, vs in values.items()
        for pos, v in enumerate(vs, start=1)
    ] + [Assumption("p", sp.Eq(p, sp.Rational(2, 3)), "the lecture's retention probability", unfold=True)]
    out = []
    for symbol, total, label in ((yD, y_dropout, "thinned"), (yE, y_ensemble, "ensemble")):
        concrete = total.xreplace({total.limits[0][2]: 3})
        d = Derivation(f"Worked example: the {label} output for x = [1, 2, 3], w = [2, 2, 2], "
                       "δ = [0, 1, 1], p = 2/3", symbol,
                       [Assumption("output", sp.Eq(symbol, concrete), f"the {label} unit with n = 3", unfold=True),
                        *example])
        d.step(concrete.doit(), "write out the sum", "n = 3 terms")
        d.step(sp.nsimplify(d.result.subs({e.statement.lhs: e.statement.rhs for e in example})),
               "substitute the example", "plug in x, w, δ and p")
        out.append(d)
    return out[0], out[1]


def derivations(convention: Convention | str | None = None, draw: Draw | str | None = None) -> list[Derivation]:
    """Every dropout derivation, for one convention or (``None``) for both; the forward passes
    state the mask draw (``draw``, or each convention's default)."""
    conventions = list(Convention) if convention is None else [Convention.parse(convention)]
    if draw is not None and convention is None:
        raise LayergradError("a mask draw is given with one convention (--dropout-p drop --dropout-draw lt)")
    out: list[Derivation] = []
    for c in conventions:
        for variant in VARIANTS:
            out += [forward(variant, c, draw), backward(variant, c), *moments(variant, c)]
        out.append(no_rescaling(c))
    out += [*zero_out(), *baldi_sadowski()]
    return out
