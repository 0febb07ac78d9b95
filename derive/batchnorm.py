r"""Batch normalization and its family, derived with symbolic sizes.

One forward pass, written once in index notation over an input :math:`X` whose index tuple
is the layer's *layout*:

.. math::
    \mu_{\kappa} = \frac{1}{M} \sum_{\rho} X_{\kappa\rho}, \qquad
    \sigma^2_{\kappa} = \frac{1}{M} \sum_{\rho} (X_{\kappa\rho} - \mu_{\kappa})^2, \qquad
    Z_{\kappa\rho} = \frac{X_{\kappa\rho} - \mu_{\kappa}}{\sqrt{\sigma^2_{\kappa} + \epsilon}},
    \qquad Y = \gamma Z + \beta,

where :math:`\rho` are the *reduced* indices (summed over, :math:`M` values in all) and
:math:`\kappa` the *kept* ones. Choosing which indices are reduced gives the family
(:data:`FAMILIES`):

==========================  =====================  ==============  ===========================
layer                       layout                 reduced         :math:`\gamma, \beta` index
==========================  =====================  ==============  ===========================
batch normalization         :math:`(i, j)`         :math:`i`       :math:`j`
layer normalization         :math:`(i, j)`         :math:`j`       :math:`j`
spatial batch normalization :math:`(n, c, h, w)`   :math:`n, h, w` :math:`c`
group normalization         :math:`(n, g, c, h, w)` :math:`c, h, w` :math:`g, c`
==========================  =====================  ==============  ===========================

Group normalization views the :math:`C = G K` channels as :math:`G` groups of :math:`K`.

For each layer: :func:`forward` (the layer written out), :func:`graph` (the computational
graph as data), :func:`staged` (the backward pass node by node through the graph, summing
over branches), :func:`closed_form` (the gradient with respect to :math:`X` *recovered* by the
index engine: differentiate the written-out forward, name :math:`s = \sqrt{\sigma^2+\epsilon}`,
substitute :math:`X = sZ + \mu`, apply :math:`\sum_\rho Z = 0`, split the sums) and
:func:`equivalence` (a proof that the staged and closed forms agree). :func:`test_mode`
derives the backward pass with running statistics, and :func:`crosscheck` checks the closed
form of batch normalization against plain element-wise SymPy for a concrete :math:`n`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache, partial

import sympy as sp

from .derivation import Assumption, Derivation, Prover, unfold
from .errors import LayergradError
from .graph import Adjoint, Graph, Node, adjoint_notation
from .graph import staged as staged_gradient
from .index import (
    IN_RANGE,
    ZeroSum,
    abbreviate,
    apply_zero_sums,
    collect,
    contract_deltas,
    index_prover,
    multiply_out,
    normalize,
    substitute,
    sum_constants,
    to_expr,
)

__all__ = [
    "BATCHNORM",
    "EPS",
    "FAMILIES",
    "GROUPNORM",
    "LAYERNORM",
    "LOSS",
    "SPATIAL_BATCHNORM",
    "Axis",
    "Family",
    "arrays",
    "closed_form",
    "crosscheck",
    "derivations",
    "equivalence",
    "family",
    "forward",
    "graph",
    "stage",
    "staged",
    "test_mode",
]

EPS = sp.Symbol("epsilon", positive=True)


def _eq(lhs: sp.Expr, rhs: sp.Expr) -> sp.Equality:
    """``lhs = rhs`` as written (SymPy would otherwise try to decide it)."""
    return sp.Eq(lhs, rhs, evaluate=False)
LOSS = sp.Symbol("L")
X, Y, Z, GAMMA, BETA = (sp.IndexedBase(name, real=True) for name in ("X", "Y", "Z", "gamma", "beta"))
MU, VAR = sp.IndexedBase("mu", real=True), sp.IndexedBase(sp.Symbol("sigma^2"), real=True)
S = sp.IndexedBase("s", positive=True)
RUNNING_MEAN, RUNNING_VAR = sp.IndexedBase(sp.Symbol("m")), sp.IndexedBase(sp.Symbol("v"))


def arrays() -> dict[str, sp.IndexedBase]:
    """The arrays of the derivations by name, and the gradient arrays as ``d<name>``."""
    base = {"X": X, "Y": Y, "Z": Z, "gamma": GAMMA, "beta": BETA, "mu": MU, "var": VAR, "s": S,
            "running_mean": RUNNING_MEAN, "running_var": RUNNING_VAR}
    grads = {f"d{k}": Adjoint(v.label) for k, v in base.items() if k in ("X", "Y", "Z", "gamma", "beta", "mu", "var")}
    return base | grads


@dataclass(frozen=True)
class Axis:
    """One index of the layout: its symbol, its size, and what it counts."""

    index: sp.Symbol
    size: sp.Symbol
    meaning: str


def _axis(index: str, size: str, meaning: str) -> Axis:
    return Axis(sp.Symbol(index, integer=True), sp.Symbol(size, integer=True, positive=True), meaning)


@dataclass(frozen=True)
class Family:
    """A normalization layer: the layout of :math:`X`, which indices are reduced, which
    index :math:`\\gamma` and :math:`\\beta`, and whether it has running statistics."""

    name: str
    title: str
    axes: tuple[Axis, ...]
    reduced: tuple[str, ...]
    params: tuple[str, ...]
    running: bool
    extra: tuple[Assumption, ...] = ()

    @property
    def layout(self) -> tuple[sp.Symbol, ...]:
        return tuple(a.index for a in self.axes)

    def _pick(self, names) -> tuple[sp.Symbol, ...]:
        return tuple(a.index for a in self.axes if a.index.name in names)

    @property
    def reduced_indices(self) -> tuple[sp.Symbol, ...]:
        return self._pick(self.reduced)

    @property
    def kept(self) -> tuple[sp.Symbol, ...]:
        return tuple(i for i in self.layout if i.name not in self.reduced)

    @property
    def param_indices(self) -> tuple[sp.Symbol, ...]:
        return self._pick(self.params)

    @property
    def ranges(self) -> dict[sp.Symbol, tuple[sp.Expr, sp.Expr]]:
        return {a.index: (sp.S.One, a.size) for a in self.axes}

    @property
    def count(self) -> sp.Expr:
        """:math:`M`, the number of values each statistic is taken over."""
        return sp.Mul(*(a.size for a in self.axes if a.index.name in self.reduced))

    def dummies(self, letters: str = "klm") -> dict[sp.Symbol, sp.Symbol]:
        """The summation index used for each reduced index in a definition."""
        return {i: sp.Symbol(letters[n], integer=True) for n, i in enumerate(self.reduced_indices)}

    def zero_sum(self) -> ZeroSum:
        """:math:`\\sum_\\rho Z_{\\kappa\\rho} = 0`: the normalized values are centered."""
        positions = tuple(self.layout.index(i) for i in self.reduced_indices)
        sizes = tuple(self.ranges[i][1] for i in self.reduced_indices)
        return ZeroSum(Z, positions, tuple(sp.S.One for _ in positions), sizes)


BATCHNORM = Family("batchnorm", "Batch normalization",
                   (_axis("i", "n", "example"), _axis("j", "d", "feature")), ("i",), ("j",), True)
LAYERNORM = Family("layernorm", "Layer normalization",
                   (_axis("i", "n", "example"), _axis("j", "d", "feature")), ("j",), ("j",), False)
SPATIAL_BATCHNORM = Family(
    "spatial_batchnorm", "Spatial batch normalization",
    (_axis("n", "N", "example"), _axis("c", "C", "channel"), _axis("h", "H", "row"), _axis("w", "W", "column")),
    ("n", "h", "w"), ("c",), True,
)
_G, _K, _C = (sp.Symbol(name, integer=True, positive=True) for name in ("G", "K", "C"))
GROUPNORM = Family(
    "groupnorm", "Group normalization",
    (_axis("n", "N", "example"), _axis("g", "G", "group"), _axis("c", "K", "channel in its group"),
     _axis("h", "H", "row"), _axis("w", "W", "column")),
    ("c", "h", "w"), ("g", "c"), False,
    (Assumption("groups", _eq(_C, _G * _K),
                "G divides the C channels into groups of K; channel g·K + c of the input is channel c "
                "of group g, so X is viewed with shape (N, G, K, H, W)"),),
)
FAMILIES = {f.name: f for f in (BATCHNORM, LAYERNORM, SPATIAL_BATCHNORM, GROUPNORM)}


def family(name: str) -> Family:
    """The family member called ``name``."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise LayergradError(f"unknown normalization {name!r}; expected one of {', '.join(FAMILIES)}") from None


# The forward pass ---------------------------------------------------------------------------

def _entries(f: Family) -> dict[str, sp.Expr]:
    x, z, y = X[f.layout], Z[f.layout], Y[f.layout]
    mu, var, s = MU[f.kept], VAR[f.kept], S[f.kept]
    return {"x": x, "z": z, "y": y, "mu": mu, "var": var, "s": s,
            "gamma": GAMMA[f.param_indices], "beta": BETA[f.param_indices]}


def _reduce(f: Family, body: sp.Expr, letters: str) -> sp.Expr:
    r""":math:`\frac1M \sum_\rho` body, summed over the reduced indices renamed to ``letters``."""
    dummies = f.dummies(letters)
    limits = [(dummies[i], 1, f.ranges[i][1]) for i in f.reduced_indices]
    return sp.Sum(body.xreplace(dummies), *reversed(limits)) / f.count


@cache
def definitions(f: Family) -> dict[str, Assumption]:
    """The forward pass as definitions (unfolded by provers) and its assumptions."""
    e = _entries(f)
    return {
        "mean": Assumption("mean", _eq(e["mu"], _reduce(f, e["x"], "klm")),
                           f"μ is the mean over {_over(f)}", unfold=True),
        "variance": Assumption("biased variance", _eq(e["var"], _reduce(f, (e["x"] - e["mu"]) ** 2, "pqr")),
                               f"σ² is the mean squared deviation over {_over(f)} (divided by M, not M − 1)",
                               unfold=True),
        "normalize": Assumption("normalize", _eq(e["z"], (e["x"] - e["mu"]) / sp.sqrt(e["var"] + EPS)),
                                "Z is X centered and scaled to unit variance", unfold=True),
        "affine": Assumption("scale and shift", _eq(e["y"], e["gamma"] * e["z"] + e["beta"]),
                             "the learnable scale γ and shift β", unfold=True),
        "scale": Assumption("standard deviation", _eq(e["s"], sp.sqrt(e["var"] + EPS)),
                            "s names the square root that Z divides by", unfold=True),
        "positive": Assumption("ε positive", sp.StrictGreaterThan(EPS, 0, evaluate=False),
                               "ε > 0, so σ² + ε > 0 and s > 0: sqrt(s²) = s and nothing divides by zero"),
    }


def _over(f: Family) -> str:
    return ", ".join(f"{a.index} ({a.meaning})" for a in f.axes if a.index.name in f.reduced) + f"; M = {f.count}"


@cache
def graph(f: Family) -> Graph:
    """The computational graph: inputs X, γ, β; intermediates μ, σ², Z; output Y."""
    e = _entries(f)
    defs = definitions(f)
    return Graph((
        Node("X", X, f.layout, label="X"),
        Node("gamma", GAMMA, f.param_indices, label="γ"),
        Node("beta", BETA, f.param_indices, label="β"),
        Node("mu", MU, f.kept, defs["mean"].statement.rhs, label="μ"),
        Node("var", VAR, f.kept, defs["variance"].statement.rhs, label="σ²"),
        Node("Z", Z, f.layout, defs["normalize"].statement.rhs, label="Z"),
        Node("Y", Y, f.layout, e["gamma"] * e["z"] + e["beta"], label="Y"),
    ))


@cache
def forward(f: Family) -> Derivation:
    """Y written out in terms of X, one definition at a time."""
    defs = definitions(f)
    e = _entries(f)
    assumptions = [defs["affine"], defs["normalize"], defs["mean"], defs["variance"], defs["positive"], IN_RANGE,
                   *f.extra]
    d = Derivation(f"{f.title}: forward pass", e["y"], assumptions)
    prover = index_prover()
    d.step(defs["affine"].statement.rhs, "scale and shift", "Y = γ Z + β", by=prover)
    d.step(e["gamma"] * defs["normalize"].statement.rhs + e["beta"], "normalize",
           "Z = (X − μ)/√(σ² + ε), the intermediate the backward pass reuses", by=prover)
    written = d.result.xreplace({e["var"]: defs["variance"].statement.rhs})
    written = written.xreplace({e["mu"]: defs["mean"].statement.rhs})
    d.step(written, "mean and variance", f"the statistics over {_over(f)}", by=prover)
    d.note(f"Computational graph: {graph(f).describe()}.")
    return d


# The backward pass --------------------------------------------------------------------------

@cache
def staged(f: Family) -> tuple[Derivation, ...]:
    """The gradient of every node, node by node through :func:`graph`, in backward order;
    gradients that involve X or the square root end in centered form (Z and s), the form the
    generated code evaluates."""
    g = graph(f)
    defs = definitions(f)
    _, _, substitution = _centering(f)
    upstream = adjoint_notation(g.node("Y"), LOSS)
    root = defs["scale"].statement.rhs
    prover = _centered_prover(f)
    out = []
    for node in reversed(g.nodes):
        if node.name == "Y":
            continue
        branches = len(g.consumers(node.name))
        title = f"{f.title}, staged backward: ∂L/∂{node.label}"
        if branches > 1:
            title += f" ({branches} branches)"
        d = staged_gradient(g, node.name, LOSS, f.ranges, title=title, order="klmpqr",
                            assumptions=[upstream, replace(defs["scale"], unfold=False), substitution, *f.extra])
        if d.result.has(X):
            terms = collect(sum_constants(substitute(multiply_out(d.result), [substitution])))
            d.step(to_expr(terms), "substitute the centered input", "X = s·Z + μ", by=prover)
        if d.result.has(root.base):
            terms = collect(abbreviate(multiply_out(d.result), S[f.kept], root))
            d.step(to_expr(terms), "name the square root",
                   "√(σ² + ε) = s: the centered form the generated code evaluates", by=prover)
        out.append(d)
    return tuple(out)


def _centered_prover(f: Family) -> Prover:
    """Index normal form after writing out Z and s by their definitions (declared in the
    derivations that use it, without being unfolded elsewhere)."""
    defs = definitions(f)
    written = [replace(defs["normalize"], unfold=True), replace(defs["scale"], unfold=True)]

    def decide(before: sp.Basic, after: sp.Basic, _unfold) -> bool:
        return normalize(unfold(before, written) - unfold(after, written)) == ()

    return Prover("index normal form, with Z and s written out", decide, (IN_RANGE.name, defs["scale"].name))


def stage(f: Family, name: str) -> Derivation:
    """The staged derivation of ∂L/∂(node ``name``)."""
    label = graph(f).node(name).label
    for d in staged(f):
        if d.title.split("∂L/∂")[-1].split(" ")[0] == label:
            return d
    raise LayergradError(f"no staged derivation for {name!r} in {f.name}")


def _free(f: Family) -> dict[sp.Symbol, sp.Symbol]:
    """Primed summation indices for ``L = Σ dY·Y``."""
    return {i: sp.Symbol(f"{i.name}'", integer=True) for i in f.layout}


def _centering(f: Family) -> tuple[ZeroSum, Assumption, Assumption]:
    """The zero-sum identity, its declared form, and the substitution X = s·Z + μ."""
    e = _entries(f)
    zero = f.zero_sum()
    dummies = f.dummies()
    summed = e["z"].xreplace(dummies)
    limits = [(dummies[i], 1, f.ranges[i][1]) for i in f.reduced_indices]
    centered = Assumption("Σ Z = 0", _eq(sp.Sum(summed, *reversed(limits)), 0),
                          "Z is centered: its mean over the reduced indices is zero because μ is the mean")
    substitution = Assumption("centered input", _eq(e["x"], e["s"] * e["z"] + e["mu"]),
                              "X = s·Z + μ, the definition of Z solved for X (s > 0)")
    return zero, centered, substitution


def _upstream(f: Family, wrt: sp.Indexed) -> sp.Expr:
    r""":math:`\sum dY \, \partial Y / \partial\,\text{wrt}` over every entry of Y."""
    primes = _free(f)
    limits = [(primes[i], 1, f.ranges[i][1]) for i in f.layout]
    y_entry = Y[tuple(primes[i] for i in f.layout)]
    return sp.Sum(Adjoint(Y.label)[y_entry.indices] * sp.Derivative(y_entry, wrt), *reversed(limits))


def _upstream_equation(f: Family) -> Assumption:
    """The upstream gradient as an equation, like convolution's: ∂L/∂X = Σ dY·∂Y/∂X."""
    x = _entries(f)["x"]
    return Assumption("upstream gradient", _eq(sp.Derivative(LOSS, x), _upstream(f, x)),
                      "L depends on X only through Y: ∂L/∂X = Σ dY·∂Y/∂X over every entry of Y, with "
                      "dY = ∂L/∂Y given by the layer above")


@cache
def closed_form(f: Family) -> Derivation:
    r""":math:`\partial L/\partial X` recovered by the index engine with symbolic sizes."""
    defs = definitions(f)
    e = _entries(f)
    zero, centered, substitution = _centering(f)
    mean, variance = defs["mean"], replace(defs["variance"], unfold=False)
    upstream = _upstream_equation(f)
    assumptions = [upstream, IN_RANGE, defs["affine"], defs["normalize"], mean, variance, defs["scale"],
                   defs["positive"], substitution, centered, *f.extra]
    d = Derivation(f"{f.title}: closed-form ∂L/∂X (symbolic sizes)", sp.Derivative(LOSS, e["x"]), assumptions)
    d.step(upstream.statement.rhs, upstream.name, "chain rule through every entry of Y")
    prover = index_prover(defined=[mean, variance])
    d.step(unfold(d.result, [defs["affine"], defs["normalize"]]), "forward pass",
           "Y = γ (X − μ)/√(σ² + ε) + β; μ and σ² stay named, each a function of X by its definition",
           by=prover)
    terms = multiply_out(d.result, defined=[mean, variance])
    d.step(to_expr(terms, split=False), "differentiate term by term",
           "product and power rules; through μ and σ² by their definitions; "
           "∂X[k]/∂X[a] is a product of Kronecker deltas", by=prover)
    terms = contract_deltas(terms)
    d.step(to_expr(terms, split=False), "Kronecker delta",
           "each delta fixes one summation index to the free index (free indices in range)", by=prover)
    terms = collect(sum_constants(terms))
    d.step(to_expr(terms), "collect", "sums of constants evaluated, like terms added", by=prover)
    terms = collect(abbreviate(terms, e["s"], defs["scale"].statement.rhs))
    d.step(to_expr(terms), "name the square root", "√(σ² + ε) = s, so (σ² + ε)^(−3/2) = s^(−3)", by=prover)
    terms = collect(sum_constants(substitute(terms, [substitution])))
    d.step(to_expr(terms), "substitute the centered input", "X = s·Z + μ everywhere; the μ terms cancel",
           by=prover)
    with_zero = index_prover(zero_sums=[zero], defined=[mean, variance])
    terms = collect(apply_zero_sums(terms, [zero]))
    d.step(to_expr(terms), "apply Σ Z = 0", "every sum of Z alone over the reduced indices vanishes",
           by=with_zero)
    d.step(sp.factor(d.result), "factor", "take out the common factor", by=with_zero)
    return d


@cache
def equivalence(f: Family) -> Derivation:
    """The staged ∂L/∂X, its stages composed, equals the closed form."""
    defs = definitions(f)
    g = graph(f)
    stages = {name: stage(f, name) for name in ("Z", "var", "mu", "X")}
    composed = [
        Assumption(f"staged ∂L/∂{g.node(name).label}",
                   _eq(g.node(name).adjoint[g.node(name).indices], stages[name].result),
                   f"the result of the staged derivation of ∂L/∂{g.node(name).label}", unfold=True)
        for name in ("Z", "var", "mu")
    ]
    zero, centered, _ = _centering(f)
    named = [replace(defs[key], unfold=False) for key in ("normalize", "scale")]
    assumptions = [IN_RANGE, *composed, *named, defs["positive"], centered, *f.extra]
    d = Derivation(f"{f.title}: staged ∂L/∂X equals the closed form", stages["X"].result, assumptions)
    prover = index_prover()
    d.step(unfold(d.result, composed), "compose the stages",
           "substitute dZ, dσ² and dμ by their staged results", by=prover)
    terms = collect(sum_constants(multiply_out(d.result)))
    d.step(to_expr(terms), "multiply out", "products of sums become multi-sums, like terms added", by=prover)
    terms = collect(apply_zero_sums(terms, [zero]))
    with_zero = index_prover(zero_sums=[zero])
    d.step(to_expr(terms), "apply Σ Z = 0",
           "the branch through ∂σ²/∂μ, proportional to Σ (X − μ) = s Σ Z, contributes nothing", by=with_zero)
    d.step(closed_form(f).result, "factor", "the closed form", by=with_zero)
    return d


@cache
def test_mode(f: Family) -> Derivation:
    """∂L/∂X in test mode, where μ and σ² are the running statistics (constants)."""
    if not f.running:
        raise LayergradError(f"{f.title} has no test mode: it always normalizes with the current statistics")
    e = _entries(f)
    m, v = RUNNING_MEAN[f.kept], RUNNING_VAR[f.kept]
    layer = Assumption("test-mode layer", _eq(e["y"], e["gamma"] * (e["x"] - m) / sp.sqrt(v + EPS) + e["beta"]),
                       "normalize with the running mean m and running variance v, fixed numbers", unfold=True)
    upstream = _upstream_equation(f)
    positive = definitions(f)["positive"]
    d = Derivation(f"{f.title}: backward pass in test mode", sp.Derivative(LOSS, e["x"]),
                   [upstream, IN_RANGE, layer, positive])
    d.step(upstream.statement.rhs, upstream.name, "chain rule through every entry of Y")
    prover = index_prover()
    d.step(unfold(d.result, [layer]), "write out the layer", "Y with the running statistics",
           by=prover)
    terms = collect(sum_constants(contract_deltas(multiply_out(d.result))))
    d.step(to_expr(terms), "differentiate",
           "m and v do not depend on X: only the X in the numerator is differentiated", by=prover)
    return d


# Cross-check ---------------------------------------------------------------------------------

def _expansion(scale: sp.Symbol, base: sp.Expr) -> Prover:
    def decide(before, after, unfold) -> bool:
        def tidy(expr):
            expr = unfold(expr).doit()
            return expr.replace(lambda p: isinstance(p, sp.Pow) and p.base == base,
                                lambda p: scale ** (2 * p.exp))
        return sp.expand(tidy(before) - tidy(after)) == 0

    return Prover("SymPy expand, with the square root named", decide)


@cache
def crosscheck(n: int, wrt: str = "X") -> Derivation:
    r"""Batch normalization of one feature written out for ``n`` examples with plain SymPy:
    :math:`\partial L / \partial x_1` (``wrt="X"``), :math:`\partial L / \partial \gamma`
    (``"gamma"``) or :math:`\partial L / \partial \beta` (``"beta"``) by ``sympy.diff`` equals
    the engine's result with :math:`n` replaced by the number."""
    if not isinstance(n, int) or n < 2:
        raise LayergradError(f"the element-wise cross-check needs an integer n ≥ 2, got {n!r}")
    if wrt not in ("X", "gamma", "beta"):
        raise LayergradError(f"the element-wise cross-check is for X, gamma or beta, got {wrt!r}")
    xs = sp.symbols(f"x_1:{n + 1}", real=True)
    gs = sp.symbols(f"g_1:{n + 1}", real=True)
    gamma, beta = sp.symbols("gamma beta", real=True)
    scale = sp.Symbol("s", positive=True)
    mean = sum(xs) / n
    variance = sum((x - mean) ** 2 for x in xs) / n
    ys = [gamma * (x - mean) / sp.sqrt(variance + EPS) + beta for x in xs]
    loss = sum(g * y for g, y in zip(gs, ys))
    variable, shown = {"X": (xs[0], "x_1"), "gamma": (gamma, "γ"), "beta": (beta, "β")}[wrt]
    d = Derivation(f"{BATCHNORM.title}: cross-check of ∂L/∂{shown} written out element by element, n = {n}",
                   sp.Derivative(LOSS, variable),
                   [Assumption("loss", _eq(LOSS, loss), f"n = {n} examples of one feature, dY = g",
                               unfold=True),
                    Assumption("standard deviation", _eq(scale, sp.sqrt(variance + EPS)),
                               "s names the square root", unfold=True)])
    prover = _expansion(scale, variance + EPS)
    derivative = sp.diff(loss, variable).replace(
        lambda p: isinstance(p, sp.Pow) and p.base == variance + EPS, lambda p: scale ** (2 * p.exp))
    d.step(derivative, "differentiate (plain SymPy)", "sympy.diff of the written-out loss", by=prover)
    engine = closed_form(BATCHNORM).result if wrt == "X" else stage(BATCHNORM, wrt).result
    i, j = BATCHNORM.layout
    n_sym = BATCHNORM.axes[0].size
    z = [(x - mean) / scale for x in xs]
    dY = Adjoint(Y.label)
    table = {dY: gs, Z: z}
    concrete = engine.xreplace({n_sym: n, i: 1}).doit()
    concrete = concrete.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base in (dY, Z),
        lambda e: table[e.base][int(e.indices[0]) - 1],
    ).xreplace({GAMMA[j]: gamma, S[j]: scale})
    d.step(concrete, f"{'closed form' if wrt == 'X' else 'staged result'} at n = {n}",
           "the engine's result with n and the sums written out", by=prover)
    return d


def derivations(name: str = "batchnorm") -> list[Derivation]:
    """Every derivation of the family member ``name``."""
    f = family(name)
    out = [forward(f), *staged(f), closed_form(f), equivalence(f)]
    if f.running:
        out.append(test_mode(f))
    if f is BATCHNORM:
        out += [crosscheck(2, wrt) for wrt in ("X", "gamma", "beta")]  # n = 3, 4, 5 in the tests (a screen each)
    return out


layer_derivations = {name: partial(derivations, name) for name in FAMILIES}
