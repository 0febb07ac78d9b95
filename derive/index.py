r"""The index-notation engine: a normal form for sums of products of indexed arrays.

SymPy differentiates :math:`\sum_k x_k^2` with respect to :math:`x_i` correctly (a Kronecker
delta appears) but cannot tidy what comes out: ``doit`` leaves a ``Piecewise`` range guard,
:math:`\sum_i x_i - \sum_j x_j` is not recognised as zero, and :math:`(\sum_k x_k)^2` is never
multiplied out. This module closes that gap.

An expression becomes a tuple of :class:`Term`\ s, each

.. math:: c \cdot \prod_f \text{factor}_f \quad \text{under} \quad \sum_{d_1 = a_1}^{b_1}
          \cdots \sum_{d_m = a_m}^{b_m}

with a scalar coefficient :math:`c` (free of indices) and the bound dummies :math:`d_r` kept
as SymPy ``Dummy`` symbols, so no user index can ever be captured by a sum. Each rewrite rule
is a separate function from terms to terms:

========================  ==========================================================
:func:`multiply_out`      products and integer powers of sums become multi-sums
:func:`differentiate`     :math:`\partial/\partial x_{i}` term by term (fresh dummies),
                          through named definitions such as :math:`\sigma^2_j` when asked
:func:`contract_deltas`   :math:`\sum_k \delta_{ik} f_k = f_i` (free indices in range)
:func:`sum_constants`     :math:`\sum_{k=a}^{b} c = (b - a + 1)\,c`
:func:`collect`           canonical dummy names, like terms added, zeros dropped
:func:`abbreviate`        an atom equal to a definition's right side becomes its name
:func:`apply_zero_sums`   declared identities such as :math:`\sum_i z_{ij} = 0` (one or
                          several summed axes)
:func:`substitute`        declared substitutions such as :math:`x_{ij} = s_j z_{ij} + \mu_j`
:func:`bernoulli_mean`    :math:`E[\delta_a \delta_b] = p^2 + p(1-p)\,\delta_{ab}`
:func:`canonical_nested_sums` sums inside a log, a root or a step function renamed
                          canonically (:func:`rename_bound`), so equal atoms collect
:func:`to_expr`           back to SymPy, separable sums split into products of sums
========================  ==========================================================

:func:`normalize` runs them in order; two expressions are equal when their difference
normalizes to no terms at all, which is what the prover :func:`index_prover` checks.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sympy as sp
from sympy.printing.repr import ReprPrinter
from sympy.utilities.iterables import multiset_partitions

from .derivation import Assumption, Prover, instantiate
from .errors import LayergradError
from .renaming import renamed, shared

__all__ = [
    "IN_RANGE",
    "SHAPES",
    "ZERO_OUTSIDE",
    "Mean",
    "Shapes",
    "Term",
    "ZeroSum",
    "abbreviate",
    "always_in_range",
    "apply_zero_sums",
    "bernoulli_mean",
    "canonical_nested_sums",
    "collect",
    "contract_deltas",
    "differentiate",
    "freeze",
    "index_prover",
    "multiply_out",
    "normalize",
    "range_of",
    "reads",
    "rename_bound",
    "same_range",
    "substitute",
    "sum_constants",
    "tidy",
    "to_expr",
    "witnessed",
]

Limit = tuple[sp.Symbol, sp.Expr, sp.Expr]

Shapes = Mapping[sp.IndexedBase, Sequence[tuple[sp.Expr, sp.Expr]]]
"""Array → the inclusive range ``(lo, hi)`` of each of its axes."""

_i, _k, _lo, _hi = sp.symbols("i k lo hi", integer=True)
_f, _A = sp.IndexedBase("f"), sp.IndexedBase("A")

IN_RANGE = Assumption(
    "free indices in range",
    sp.Implies(sp.And(sp.Le(_lo, _i), sp.Le(_i, _hi)),
               sp.Eq(sp.Sum(sp.KroneckerDelta(_i, _k) * _f[_k], (_k, _lo, _hi)), _f[_i], evaluate=False)),
    "every free index lies inside the range of the dummy it is contracted with, so "
    "Σ_k δ(i, k) f(k) = f(i) holds without a range guard (a side condition of the index engine)",
)

ZERO_OUTSIDE = Assumption(
    "zero outside the array",
    sp.Implies(sp.Or(sp.Lt(_i, _lo), sp.Gt(_i, _hi)), sp.Eq(_A[_i], 0, evaluate=False)),
    "an array read at an index outside its shape [lo, hi] is zero (zero padding), so a Kronecker "
    "delta may fix a dummy to an affine expression such as a − S·i where an array reads that dummy "
    "over exactly its summed range (a side condition of the index engine)",
)


class Mean(sp.Expr):
    r"""Unevaluated :math:`E[\text{expr}]` over a mask whose entries are independent
    Bernoulli(:math:`p`) variables: ``Mean(expr, mask, p)``."""

    is_commutative = True

    def __new__(cls, expr: sp.Expr, mask: sp.IndexedBase, p: sp.Expr) -> Mean:
        return super().__new__(cls, sp.sympify(expr), mask, sp.sympify(p))

    @property
    def expr(self) -> sp.Expr:
        return self.args[0]

    def _latex(self, printer) -> str:
        return rf"\mathbb{{E}}\left[{printer._print(self.expr)}\right]"

    def _sympystr(self, printer) -> str:
        return f"E[{printer._print(self.expr)}]"


@dataclass(frozen=True)
class Term:
    """``coeff * factor`` summed over ``limits``; ``coeff`` holds no index, ``factor`` may."""

    coeff: sp.Expr
    factor: sp.Expr
    limits: tuple[Limit, ...] = ()

    @property
    def dummies(self) -> tuple[sp.Symbol, ...]:
        return tuple(limit[0] for limit in self.limits)

    def times(self, other: Term) -> Term:
        return Term(self.coeff * other.coeff, self.factor * other.factor, self.limits + other.limits)

    def rename(self, mapping: Mapping[sp.Symbol, sp.Expr]) -> Term:
        limits = tuple(
            (mapping.get(d, d), lo.xreplace(mapping), hi.xreplace(mapping))
            for d, lo, hi in self.limits
        )
        return Term(self.coeff, renamed(self.factor, mapping), limits)


def _fresh(symbol: sp.Symbol) -> sp.Dummy:
    return sp.Dummy(symbol.name.lstrip("_") or "k", integer=True)


def _fresh_inner_sums(expr: sp.Expr, canonical: bool = False) -> sp.Expr:
    """Rename the bound variables of every ``Sum`` inside ``expr`` to fresh dummies, or with
    ``canonical=True`` to the canonical names of :func:`rename_bound` (which no user symbol
    and no dummy of a term can take, so nothing is captured either; an atom met again keeps
    its names and is not rebuilt)."""
    if canonical:
        return rename_bound(expr)

    def fresh(s: sp.Sum) -> sp.Sum:
        return renamed(s, {limit[0]: _fresh(limit[0]) for limit in s.limits})

    return expr.replace(lambda e: isinstance(e, sp.Sum), fresh)


def multiply_out(
    expr: sp.Expr, *, defined: Sequence[Assumption] = (), canonical: bool = False
) -> tuple[Term, ...]:
    r"""Terms of ``expr``: sums become limits, products and positive integer powers of sums
    are multiplied out into multi-sums, derivatives are taken (:func:`differentiate`, through
    the ``defined`` entries). Sums left inside a factor get fresh bound variables, or with
    ``canonical=True`` canonical ones (:func:`rename_bound`, what :func:`normalize` uses with
    ``nested_sums=True``)."""
    expr = sp.sympify(expr)

    def again(e: sp.Expr) -> tuple[Term, ...]:
        return multiply_out(e, defined=defined, canonical=canonical)

    if isinstance(expr, sp.Add):
        return tuple(t for arg in expr.args for t in again(arg))
    if isinstance(expr, sp.Mul):
        # one product per resulting term (building it factor by factor is quadratic in SymPy)
        parts = [again(arg) for arg in expr.args]
        return tuple(
            Term(sp.Mul(*(t.coeff for t in pick)), sp.Mul(*(t.factor for t in pick)),
                 tuple(lim for t in pick for lim in t.limits))
            for pick in itertools.product(*parts)
        )
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 1 and _expandable(expr.base):
        return again(sp.Mul(*([expr.base] * int(expr.exp)), evaluate=False))
    if isinstance(expr, sp.Sum):
        mapping = {limit[0]: _fresh(limit[0]) for limit in expr.limits}
        limits = tuple(
            (mapping[d], sp.sympify(lo).xreplace(mapping), sp.sympify(hi).xreplace(mapping))
            for d, lo, hi in expr.limits
        )
        body = renamed(expr.function, mapping)
        return tuple(Term(t.coeff, t.factor, t.limits + limits) for t in again(body))
    if isinstance(expr, sp.Derivative):
        result = again(expr.expr)
        for variable, count in expr.variable_count:
            for _ in range(count):
                result = differentiate(result, variable, defined=defined, canonical=canonical)
        return result
    if isinstance(expr, Mean):
        mask, p = expr.args[1], expr.args[2]
        return bernoulli_mean(again(expr.expr), mask, p)
    if expr.is_number:
        return (Term(expr, sp.S.One),)
    return (Term(sp.S.One, _fresh_inner_sums(expr, canonical)),)


def _expandable(expr: sp.Expr) -> bool:
    return isinstance(expr, (sp.Add, sp.Sum, sp.Mul))


def differentiate(
    terms: Iterable[Term], wrt: sp.Expr, *, defined: Sequence[Assumption] = (), canonical: bool = False
) -> tuple[Term, ...]:
    r""":math:`\partial/\partial\,\text{wrt}` of every term.

    The dummies are SymPy ``Dummy`` symbols and every inner sum is renamed apart first (to
    fresh dummies, or with ``canonical=True`` to the canonical names of :func:`rename_bound`,
    which no user index can take), so ``wrt = x[k]`` with a user index ``k`` can never be
    captured by a sum over ``k``.

    ``defined`` lists definitions :math:`v_j = f_j(x)` (such as :math:`\sigma^2_j` as a sum
    over :math:`x`) whose entries stay *named* in the terms but depend on ``wrt``: the total
    derivative adds, for every occurrence of a defined entry, the chain-rule term
    :math:`\partial t / \partial v_j \cdot \partial f_j / \partial\,\text{wrt}`. The named
    entry can then sit inside a square root without its sum ever entering the atom."""
    if not isinstance(wrt, (sp.Indexed, sp.Symbol)):
        raise LayergradError(f"can differentiate with respect to an entry or a symbol, not {wrt}")
    table = _definition_table(defined)
    out: list[Term] = []
    for t in terms:
        expr = t.coeff * t.factor
        for piece in multiply_out(sp.diff(expr, wrt), defined=defined, canonical=canonical):
            out.append(Term(piece.coeff, piece.factor, piece.limits + t.limits))
        for piece in _through_definitions(expr, wrt, table, defined, canonical):
            out.append(Term(piece.coeff, piece.factor, piece.limits + t.limits))
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _definition_derivative(
    statement: sp.Equality, entry: sp.Expr, wrt: sp.Expr, defined: tuple[Assumption, ...], canonical: bool
) -> tuple[Term, ...]:
    r"""The terms of :math:`\partial\,\text{entry}/\partial\,\text{wrt}` through its definition."""
    body = instantiate(statement, entry.indices) if isinstance(entry, sp.Indexed) else statement.rhs
    return differentiate(multiply_out(body, defined=defined, canonical=canonical), wrt, defined=defined,
                         canonical=canonical)


def _definition_table(defined: Sequence[Assumption]) -> dict[sp.Basic, sp.Equality]:
    table = {}
    for a in defined:
        lhs = a.statement.lhs
        key = lhs.base if isinstance(lhs, sp.Indexed) else lhs
        if isinstance(lhs, sp.Indexed) and not all(i.is_Symbol for i in lhs.indices):
            raise LayergradError(f"a definition used for differentiation needs plain indices: {lhs}")
        table[key] = a.statement
    return table


def _through_definitions(
    expr: sp.Expr, wrt: sp.Expr, table: dict[sp.Basic, sp.Equality], defined: Sequence[Assumption],
    canonical: bool = False,
) -> tuple[Term, ...]:
    """The chain-rule terms of ``expr`` through every occurrence of a defined entry."""
    if not table:
        return ()
    entries = sorted(
        {e for e in expr.atoms(sp.Indexed, sp.Symbol) if (e.base if isinstance(e, sp.Indexed) else e) in table},
        key=sp.default_sort_key,
    )
    out: list[Term] = []
    for e in entries:
        stand_in = sp.Dummy("v")
        outer = sp.diff(expr.xreplace({e: stand_in}), stand_in).xreplace({stand_in: e})
        if outer == 0:
            continue
        statement = table[e.base if isinstance(e, sp.Indexed) else e]
        inner = _definition_derivative(statement, e, wrt, tuple(defined), canonical)
        for a in multiply_out(outer, defined=defined, canonical=canonical):
            for b in inner:
                out.append(a.times(b))
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _solve_delta(delta: sp.KroneckerDelta, limits: tuple[Limit, ...]) -> tuple[int, sp.Expr] | None:
    """Which bound dummy the delta fixes, and to what: ``(position in limits, value)``
    (remembered: :func:`_contract` asks again for every delta after each contraction)."""
    gap = sp.expand(delta.args[0] - delta.args[1])
    for pos, (d, _, _) in enumerate(limits):
        slope = gap.diff(d)
        rest = sp.expand(gap - slope * d)
        if slope in (1, -1) and not rest.has(d):
            return pos, sp.expand(-rest / slope)
    return None


_PLACEHOLDER = sp.Symbol("_p", integer=True)


def reads(t: Term, dummy: sp.Symbol, shapes: Shapes) -> list[tuple[tuple, int, sp.Expr, tuple]]:
    """Factors of ``t`` (plain entries of arrays with a declared shape) that read ``dummy`` as
    ``±dummy + offset`` (offset free of dummies): ``(sort key, slope, offset, axis range)`` each."""
    found = []
    others = set(t.dummies) - {dummy}
    for factor in sp.Mul.make_args(t.factor):
        if not (isinstance(factor, sp.Indexed) and factor.base in shapes):
            continue
        for axis, index in enumerate(factor.indices):
            index = sp.expand(index)
            slope = index.diff(dummy)
            offset = sp.expand(index - slope * dummy)
            if slope not in (1, -1) or offset.has(dummy, *others):
                continue
            key = (factor.base.name, axis, sp.srepr(index.xreplace({dummy: _PLACEHOLDER})))
            found.append((key, int(slope), offset, tuple(sp.sympify(v) for v in shapes[factor.base][axis])))
    return found


def range_of(slope: int, offset: sp.Expr, axis_range: tuple) -> tuple[sp.Expr, sp.Expr]:
    """The values of ``k`` for which ``slope*k + offset`` lies in ``axis_range``."""
    lo, hi = axis_range
    if slope == 1:
        return sp.expand(lo - offset), sp.expand(hi - offset)
    return sp.expand(offset - hi), sp.expand(offset - lo)


def same_range(a: tuple[sp.Expr, sp.Expr], b: tuple[sp.Expr, sp.Expr]) -> bool:
    """Are the inclusive ranges ``a`` and ``b`` the same for every value of their symbols?"""
    return sp.expand(a[0] - b[0]) == 0 and sp.expand(a[1] - b[1]) == 0


def witnessed(t: Term, limit: Limit, shapes: Shapes) -> bool:
    r"""Is ``t`` zero wherever its dummy ``limit[0]`` leaves the summed range? True when some
    factor reads the dummy with slope :math:`\pm 1` over exactly that range (the factor is zero
    outside its shape) and no other limit depends on the dummy: then the sum may run over all
    integers."""
    dummy, lo, hi = limit
    if any(other[1].has(dummy) or other[2].has(dummy) for other in t.limits if other[0] != dummy):
        return False
    return any(same_range((lo, hi), range_of(s, c, r)) for _, s, c, r in reads(t, dummy, shapes))


def always_in_range(value: sp.Expr, lo: sp.Expr, hi: sp.Expr, others: Sequence[Limit]) -> bool:
    r"""Does ``value``, affine in the other dummies with coefficients of known sign, lie in
    :math:`[lo, hi]` for every value of those dummies in their ranges? (Then
    :math:`\sum_{k=lo}^{hi} \delta_{k,\text{value}} f_k = f_{\text{value}}` holds exactly, as for
    :math:`m = S i` with :math:`0 \le i \le H' - 1` and :math:`0 \le m \le S (H' - 1)`.) A
    free index has no known range, so a value that holds one is never shown in range here."""
    low = high = sp.expand(value)
    for d, d_lo, d_hi in others:
        slope = sp.expand(value).diff(d)
        if slope == 0:
            continue
        if slope.has(*(o[0] for o in others)) or any(b.has(*(o[0] for o in others)) for b in (d_lo, d_hi)):
            return False
        if slope.is_positive:
            low, high = low.xreplace({d: d_lo}), high.xreplace({d: d_hi})
        elif slope.is_negative:
            low, high = low.xreplace({d: d_hi}), high.xreplace({d: d_lo})
        else:
            return False
    return bool(sp.expand(low - lo).is_nonnegative) and bool(sp.expand(hi - high).is_nonnegative)


def _shapes_of(zero_outside: Shapes | bool | None) -> Shapes | None:
    if zero_outside is True:
        raise LayergradError("contracting a delta under 'zero outside the array' needs the arrays' shapes "
                             "(a mapping array → axis ranges), to find an array that witnesses it")
    return zero_outside or None


def contract_deltas(terms: Iterable[Term], zero_outside: Shapes | None = None) -> tuple[Term, ...]:
    r"""Eliminate Kronecker deltas against bound dummies: :math:`\sum_k \delta_{ik} f_k = f_i`.

    A delta that fixes a dummy to a free index or to another dummy with the same range is
    contracted under :data:`IN_RANGE`; one that fixes it to a value that provably stays in the
    summed range (:func:`always_in_range`) is contracted exactly. A delta that fixes it to any
    other value (such as
    :math:`a - S i`) is contracted only under :data:`ZERO_OUTSIDE`, with ``zero_outside`` the
    arrays' shapes, and only when a factor *witnesses* it (:func:`witnessed`): it reads the
    dummy with slope :math:`\pm 1` over exactly the summed range, so the term vanishes wherever
    the value leaves that range. Otherwise the delta stays, an indicator that the value lies in
    the range. No ``Piecewise`` guard is ever produced."""
    shapes = _shapes_of(zero_outside)
    return tuple(_contract(t, shapes) for t in terms)


def _contract(t: Term, shapes: Shapes | None) -> Term:
    """The deltas of one term contracted (see :func:`contract_deltas`). The renamings are
    composed and the factor rebuilt once at the end; where a witness must read the factor as
    it is, or a delta is decided otherwise than 1 on the way, one renaming at a time."""
    if shapes is not None:
        return _contract_stepwise(t, shapes)
    deltas = t.factor.atoms(sp.KroneckerDelta)
    limits, renaming = t.limits, {}
    changed = True
    while changed:
        changed = False
        current = {delta.xreplace(renaming) for delta in deltas}
        if any(not isinstance(delta, sp.KroneckerDelta) and delta != 1 for delta in current):
            return _contract_stepwise(t, shapes)
        for delta in sorted((d for d in current if isinstance(d, sp.KroneckerDelta)), key=sp.default_sort_key):
            found = _contraction(delta, limits, None, shapes)
            if found is None:
                continue
            dummy, value, others = found
            limits = Term(sp.S.One, sp.S.One, others).rename({dummy: value}).limits
            renaming = {key: old.xreplace({dummy: value}) for key, old in renaming.items()}
            renaming[dummy] = value
            changed = True
            break
    return Term(t.coeff, renamed(t.factor, renaming), limits) if renaming else t


def _contract_stepwise(t: Term, shapes: Shapes | None) -> Term:
    changed = True
    while changed:
        changed = False
        for delta in sorted(t.factor.atoms(sp.KroneckerDelta), key=sp.default_sort_key):
            found = _contraction(delta, t.limits, t, shapes)
            if found is None:
                continue
            dummy, value, others = found
            t = Term(t.coeff, t.factor, others).rename({dummy: value})
            changed = True
            break
    return t


def _contraction(delta: sp.KroneckerDelta, limits: tuple[Limit, ...], t: Term | None,
                 shapes: Shapes | None) -> tuple[sp.Symbol, sp.Expr, tuple[Limit, ...]] | None:
    """The dummy ``delta`` fixes, its value and the other limits, where the contraction holds
    (``t``, the whole term, is read only for a witness under zero outside the arrays)."""
    solved = _solve_delta(delta, limits)
    if solved is None:
        return None
    pos, value = solved
    dummy, lo, hi = limits[pos]
    others = limits[:pos] + limits[pos + 1 :]
    bound = {limit[0]: limit for limit in others}
    same = value in bound and bound[value][1:] == (lo, hi)
    free_index = value.is_Symbol and value not in bound
    witness = shapes is not None and witnessed(t, limits[pos], shapes)
    if not (same or free_index or witness or always_in_range(value, lo, hi, others)):
        return None
    return dummy, value, others


def sum_constants(terms: Iterable[Term]) -> tuple[Term, ...]:
    r"""Sum dummies the summand does not depend on: :math:`\sum_{k=a}^{b} c = (b-a+1)\,c`."""
    out = []
    for t in terms:
        factor, limits = t.factor, list(t.limits)
        changed = True
        while changed:
            changed = False
            for d, lo, hi in limits:
                if factor.has(d) or any(o[1].has(d) or o[2].has(d) for o in limits):
                    continue
                factor = factor * (hi - lo + 1)
                limits.remove((d, lo, hi))
                changed = True
                break
        out.append(Term(t.coeff, factor, tuple(limits)))
    return tuple(out)


def _split_scalar(t: Term) -> Term:
    """Move every index-free factor of ``t.factor`` into ``t.coeff``."""
    indexed = t.factor.atoms(sp.Indexed)
    deltas = t.factor.atoms(sp.KroneckerDelta)
    indices = {s for a in indexed for i in a.indices for s in i.free_symbols}
    indices |= {s for a in deltas for s in a.free_symbols}
    deps = indexed | deltas | indices | set(t.dummies)
    if not deps:
        return Term(t.coeff * t.factor, sp.S.One, t.limits)
    scalar, rest = t.factor.as_independent(*deps, as_Add=False)
    return Term(t.coeff * scalar, rest, t.limits)


def _shape(factor: sp.Expr, limits: tuple[Limit, ...]) -> tuple:
    """A term's factor and limits, limits in name order (then by range, so that limits whose
    names are the same placeholder still sort the same way): equal shapes are equal terms."""
    return (factor, tuple(sorted(limits, key=lambda lim: (lim[0].name, _printed(lim[1]), _printed(lim[2])))))


@functools.lru_cache(maxsize=4096)
def _printed(bound: sp.Expr) -> str:
    """A limit's bound (or an index, an exponent) as text, remembered: a few such as ``N - 1``
    recur everywhere."""
    return str(bound)


def _key(factor: sp.Expr, limits: tuple[Limit, ...]) -> str:
    """A printed, run-independent form of :func:`_shape`, for ordering output: ``sp.srepr``
    of it, each sub-expression printed once (:class:`_Repr`)."""
    return _REPR.doprint(_shape(factor, limits))


class _Repr(ReprPrinter):
    """SymPy's ``srepr`` printer, remembering what it printed: the candidates :func:`_canonical`
    compares share most of their sub-expressions (a nested sum in a root, say), and printing
    one is the same every time (equal expressions have equal ``srepr``, it depends on nothing else)."""

    def _print(self, expr, **kwargs) -> str:
        if kwargs or not isinstance(expr, sp.Basic):
            return super()._print(expr, **kwargs)
        return _repr_of(expr)


_REPR = _Repr()


@functools.lru_cache(maxsize=8192)
def _repr_of(expr: sp.Basic) -> str:
    """``sp.srepr(expr)`` (its arguments through :data:`_REPR`, remembered too)."""
    return ReprPrinter._print(_REPR, expr)


_CANON = [sp.Symbol(f"_c{n}", integer=True) for n in range(32)]


def _canonical(t: Term) -> Term:
    """Rename dummies to ``_c0, _c1, …`` canonically: two terms that differ only in the names
    of their dummies come out identical.

    Dummies are first ordered by a signature that ignores names (where each appears); only
    dummies with equal signatures are permuted, and the candidate with the smallest printed
    form is taken, so the search stays small and the result is the same in every run."""
    dummies = t.dummies
    if not dummies:
        return t
    if len(dummies) == 1:
        return t.rename({dummies[0]: _CANON[0]})
    placeholder = sp.Symbol("_x", integer=True)
    other = sp.Symbol("_y", integer=True)

    def signature(d: sp.Symbol) -> str:
        mapping = {e: (placeholder if e == d else other) for e in dummies}
        return _key(t.factor.xreplace(mapping), tuple(
            (mapping[lim[0]], lim[1].xreplace(mapping), lim[2].xreplace(mapping))
            for lim in t.limits
        ))

    prints = _fingerprints(t)
    groups: dict[tuple, list[sp.Symbol]] = {}
    for d in dummies:
        groups.setdefault(prints[d], []).append(d)
    ordered_groups = []
    for key in sorted(groups):
        group = groups[key]
        if len(group) <= 2:
            ordered_groups.append(group)
            continue
        finer: dict[str, list[sp.Symbol]] = {}  # large groups: split by the full signature
        for d in group:
            finer.setdefault(signature(d), []).append(d)
        ordered_groups += [finer[k] for k in sorted(finer)]
    choices = [itertools.permutations(g) for g in ordered_groups]
    candidates = []
    for count, combo in enumerate(itertools.product(*choices)):
        if count >= 720:
            break
        order = [d for group in combo for d in group]
        candidates.append(t.rename(dict(zip(order, _CANON))))
    # one candidate (every dummy told apart by its fingerprint) needs no comparison; otherwise
    # the smallest printed form, the same in every interpreter
    canon = candidates[0] if len(candidates) == 1 else min(candidates, key=lambda c: _key(c.factor, c.limits))
    return Term(canon.coeff, canon.factor, tuple(sorted(canon.limits, key=lambda lim: lim[0].name)))


def _fingerprints(t: Term) -> dict[sp.Symbol, tuple]:
    """For each dummy of ``t``, a description that ignores dummy names: its range and, for
    each entry it indexes, the array, the position and what the other indices are. Computed
    without rebuilding the term (the cheap first cut of :func:`_canonical`)."""
    dummies = set(t.dummies)
    blank = {d: _ANY for d in dummies}

    def anonymous(e: sp.Basic) -> str:
        return _printed(e.xreplace(blank)) if e.free_symbols & dummies else _printed(e)

    found: dict[sp.Symbol, list] = {d: [] for d in dummies}
    for power in sp.Mul.make_args(t.factor):
        entry, exponent = power.as_base_exp()
        if isinstance(entry, sp.Indexed):
            kinds = tuple(anonymous(i) for i in entry.indices)
            for pos, index in enumerate(entry.indices):
                if index in dummies:
                    found[index].append((str(entry.base), anonymous(exponent), pos, kinds))
        else:
            for d in entry.free_symbols & dummies:
                found[d].append(("other", anonymous(exponent), type(entry).__name__))
    ranges = {lim[0]: (anonymous(lim[1]), anonymous(lim[2])) for lim in t.limits}
    return {d: (ranges[d], tuple(sorted(found[d], key=str))) for d in dummies}


_ANY = sp.Symbol("_any", integer=True)


@functools.lru_cache(maxsize=4096)
def rename_bound(expr: sp.Basic) -> sp.Basic:
    r"""Give the bound variable of every ``Sum`` inside ``expr`` a canonical name.

    The name depends only on where the sum sits (how deep it is nested, which limit), so two
    atoms that differ only in their bound names, such as
    :math:`(\sum_k x_k^2)^{-1/2}` and :math:`(\sum_l x_l^2)^{-1/2}`, become the same
    expression. The names (``_s0_0``, ``_s1_0``, …) never occur in user input."""
    expr = sp.sympify(expr)
    if not expr.has(sp.Sum):
        return expr
    mapping: dict[sp.Symbol, sp.Symbol] = {}
    consistent = True

    def walk(e: sp.Basic, depth: int) -> None:
        nonlocal consistent
        if isinstance(e, sp.Sum):
            for r, limit in enumerate(e.limits):
                target = sp.Symbol(f"_s{depth}_{r}", integer=True)
                consistent &= mapping.setdefault(limit[0], target) == target
            depth += 1
        for a in e.args:
            if a.has(sp.Sum):
                walk(a, depth)

    walk(expr, 0)
    if consistent and not (set(mapping) & expr.free_symbols):
        # one simultaneous replacement builds each renamed sub-expression once
        if all(k == v for k, v in mapping.items()):
            return expr
        return renamed(expr, mapping, apart=True)  # sums named alike lie side by side, never nested
    return _rename_bound(expr, 0)


def _rename_bound(expr: sp.Basic, depth: int, names: Mapping[sp.Symbol, sp.Symbol] | None = None) -> sp.Basic:
    """``expr`` (at sum depth ``depth``) with the bound variables of its sums renamed, and the
    variables bound by enclosing sums replaced by their new ``names``; each sub-expression is
    rebuilt once, and only where something in it changes."""
    return _bound_renamed(expr, depth, names or {})[0]


def _bound_renamed(expr: sp.Basic, depth: int, names: Mapping[sp.Symbol, sp.Symbol]) -> tuple[sp.Basic, bool]:
    """:func:`_rename_bound`, and whether what it did to ``expr`` is a renaming in the sense of
    :func:`derive.renaming.renamed` (symbols to ones of the same assumptions that ``expr`` does
    not hold already), so that the result shares what SymPy knows of ``expr``."""
    if isinstance(expr, sp.Symbol):
        if expr in names:
            return names[expr], names[expr].assumptions0 == expr.assumptions0
        return expr, not expr.name.startswith("_s")
    if not expr.args or not (expr.has(sp.Sum) or (names and expr.has(*names))):
        return expr, not _holds_canonical_names(expr)
    if isinstance(expr, sp.Sum):
        inner = dict(names)
        inner.update({lim[0]: sp.Symbol(f"_s{depth}_{r}", integer=True) for r, lim in enumerate(expr.limits)})
        clean = all(inner[lim[0]].assumptions0 == lim[0].assumptions0 for lim in expr.limits)

        def inside(e: sp.Basic) -> sp.Basic:
            nonlocal clean
            out, ok = _bound_renamed(sp.sympify(e), depth + 1, inner)
            clean &= ok
            return out

        new = sp.Sum(inside(expr.function), *[(inner[d], inside(lo), inside(hi)) for d, lo, hi in expr.limits])
    else:
        pairs = [_bound_renamed(a, depth, names) for a in expr.args]
        clean = all(ok for _, ok in pairs)
        if all(a is b for (a, _), b in zip(pairs, expr.args)):
            return expr, clean
        new = expr.func(*(a for a, _ in pairs))
    if clean:
        shared(expr, new)
    return new, clean


@functools.lru_cache(maxsize=4096)
def _holds_canonical_names(expr: sp.Basic) -> bool:
    """Does a symbol named like :func:`rename_bound`'s names (``_s…``) occur in ``expr``?"""
    return any(s.name.startswith("_s") for s in expr.atoms(sp.Symbol))


def collect(terms: Iterable[Term]) -> tuple[Term, ...]:
    r"""Rename dummies canonically and add like terms, so :math:`\sum_i x_i - \sum_j x_j`
    becomes no terms at all. Coefficients that simplify to zero are dropped."""
    table: dict[tuple, Term] = {}
    for t in terms:
        t = _canonical_term(t)
        if t.coeff == 0 or t.factor == 0:
            continue
        key = _shape(t.factor, t.limits)
        if key in table:
            old = table[key]
            table[key] = Term(old.coeff + t.coeff, old.factor, old.limits)
        else:
            table[key] = t
    out = []
    for t in sorted(table.values(), key=lambda t: _order(t.factor, t.limits)):
        coeff = _tidy_coefficient(t.coeff)
        if coeff != 0:
            out.append(Term(coeff, t.factor, t.limits))
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _tidy_coefficient(coeff: sp.Expr) -> sp.Expr:
    """A collected coefficient expanded, cancelled, factored and :func:`tidy` (remembered: the
    same few coefficients, such as :math:`-1/(HW)`, recur in every normal form of a derivation)."""
    return tidy(sp.factor(sp.cancel(sp.expand(coeff))))


@functools.lru_cache(maxsize=4096)
def _canonical_term(t: Term) -> Term:
    """:func:`_canonical` of :func:`_split_scalar`, remembered: the normal forms of a
    derivation's steps share most of their terms."""
    return _canonical(_split_scalar(t))


@functools.lru_cache(maxsize=4096)
def _order(factor: sp.Expr, limits: tuple[Limit, ...]) -> str:
    """The printed shape of a term, by which :func:`collect` orders its output (remembered)."""
    return str(_shape(factor, limits))


def tidy(coeff: sp.Expr) -> sp.Expr:
    """Prefer :math:`p(1 - p)` to :math:`-p(p - 1)` and :math:`r/(1 - r)` to :math:`-r/(r - 1)`:
    move a leading minus sign into a sum factor (or an odd power of one)."""
    if not isinstance(coeff, sp.Mul):
        return coeff
    for factor in coeff.args:
        base, power = factor.as_base_exp()
        if isinstance(base, sp.Add) and power.is_Integer and power % 2 == 1:
            others = coeff / factor
            if others.could_extract_minus_sign():
                return sp.Mul(-others, sp.expand(-base) ** power)
            return coeff
    return coeff


@dataclass(frozen=True)
class ZeroSum:
    r"""A declared identity :math:`\sum_{d=lo}^{hi} \text{base}[\ldots, d, \ldots] = 0`, with
    ``d`` at position ``axis`` of the index tuple.

    Several axes summed together: ``axis``, ``lo`` and ``hi`` are tuples, one entry per summed
    axis, e.g. :math:`\sum_{n,h,w} z_{nchw} = 0` is ``ZeroSum(z, (0, 2, 3), (1, 1, 1), (N, H, W))``
    (which does not imply that a sum over fewer of those axes vanishes).

    ``name`` is the assumption that declares the identity (``Σ z = 0`` for ``z`` unless given):
    a prover that applies it relies on it, and a derivation that uses the prover declares it."""

    base: sp.IndexedBase
    axis: int | tuple[int, ...]
    lo: sp.Expr | tuple[sp.Expr, ...]
    hi: sp.Expr | tuple[sp.Expr, ...]
    name: str = ""

    @property
    def declared_as(self) -> str:
        """The name of the assumption that declares the identity."""
        return self.name or f"Σ {self.base} = 0"

    @property
    def ranges(self) -> tuple[tuple[int, sp.Expr, sp.Expr], ...]:
        """``(axis, lo, hi)`` for every summed axis."""
        if isinstance(self.axis, int):
            return ((self.axis, sp.sympify(self.lo), sp.sympify(self.hi)),)
        if not (len(self.axis) == len(self.lo) == len(self.hi)) or not self.axis:
            raise LayergradError("a zero-sum identity needs one (lo, hi) range per summed axis")
        return tuple((a, sp.sympify(lo), sp.sympify(hi)) for a, lo, hi in zip(self.axis, self.lo, self.hi))

    def assumption(self, name: str, why: str) -> Assumption:
        ranges = self.ranges
        rank = max(a for a, _, _ in ranges) + 1
        idx: list[sp.Expr] = [sp.Symbol(f"j{n}", integer=True) for n in range(rank)]
        names = "klmpqr" if len(ranges) > 1 else "k"
        limits = []
        for (a, lo, hi), letter in zip(ranges, names):
            idx[a] = sp.Symbol(letter, integer=True)
            limits.append((idx[a], lo, hi))
        entry = self.base[tuple(idx)] if rank > 1 else self.base[idx[0]]
        return Assumption(name, sp.Eq(sp.Sum(entry, *reversed(limits)), 0), why)


def apply_zero_sums(terms: Iterable[Term], identities: Iterable[ZeroSum]) -> tuple[Term, ...]:
    r"""Drop every term that contains :math:`\sum_d z_{\ldots d \ldots}` alone in ``d``,
    for a declared :class:`ZeroSum` identity on ``z`` (alone in all of its summed axes)."""
    identities = tuple(identities)
    out = []
    for t in terms:
        if not any(_vanishes(t, z) for z in identities):
            out.append(t)
    return tuple(out)


def _vanishes(t: Term, z: ZeroSum) -> bool:
    """Does ``t`` hold, for every summed axis of ``z``, a dummy found only in one entry of
    ``z`` at that axis, over exactly that axis's range?"""
    factors = sp.Mul.make_args(t.factor)
    ranges = {limit[0]: limit[1:] for limit in t.limits}
    for f in factors:
        if not (isinstance(f, sp.Indexed) and f.base == z.base):
            continue
        summed = z.ranges
        if len(f.indices) <= max(a for a, _, _ in summed):
            continue
        dummies = [f.indices[a] for a, _, _ in summed]
        if len(set(dummies)) != len(dummies) or any(
            d not in ranges or ranges[d] != (lo, hi) for d, (_, lo, hi) in zip(dummies, summed)
        ):
            continue
        axes = {a for a, _, _ in summed}
        if any(i.has(d) for pos, i in enumerate(f.indices) if pos not in axes for d in dummies):
            continue
        if any(g.has(d) for g in factors if g is not f for d in dummies):
            continue
        if any(lim[1].has(d) or lim[2].has(d) for lim in t.limits for d in dummies):
            continue
        return True
    return False


def substitute(terms: Iterable[Term], definitions: Iterable[Assumption]) -> tuple[Term, ...]:
    r"""Replace defined entries (e.g. :math:`x_{ij} = s_j z_{ij} + \mu_j`) and multiply out."""
    from .derivation import unfold

    definitions = [Assumption(a.name, a.statement, a.why, unfold=True) for a in definitions]
    out: list[Term] = []
    for t in terms:
        body = unfold(t.factor, definitions)
        for piece in multiply_out(t.coeff * body):
            out.append(Term(piece.coeff, piece.factor, piece.limits + t.limits))
    return tuple(out)


def abbreviate(terms: Iterable[Term], name: sp.Expr, definition: sp.Expr) -> tuple[Term, ...]:
    r"""Replace every atom equal to ``definition`` by ``name``, the converse of unfolding.

    ``name`` is a symbol or an entry such as :math:`s_j`, and ``definition`` its right side
    written out, such as :math:`\sqrt{\sigma^2_j + \epsilon}` with :math:`\sigma^2_j` a sum.
    Atoms match up to the names of their bound variables and with the indices of ``name``
    free to take any value, so :math:`(\sigma^2_b + \epsilon)^{-3/2}` becomes :math:`s_b^{-3}`:
    a power :math:`B^e` of the definition's base :math:`B` (where the definition is
    :math:`B^r`) becomes :math:`\text{name}^{e/r}`. This is how the engine returns from a
    differentiated expression full of nested sums to the names a reader knows."""
    name, definition = sp.sympify(name), sp.sympify(definition)
    indices = list(name.indices) if isinstance(name, sp.Indexed) else []
    if not all(i.is_Symbol for i in indices):
        raise LayergradError(f"abbreviate needs a name with plain indices, got {name}")
    wilds = {i: sp.Wild(f"w{n}") for n, i in enumerate(indices)}
    base, power = (definition.base, definition.exp) if isinstance(definition, sp.Pow) else (definition, 1)
    pattern = rename_bound(base).xreplace(wilds)

    def matched(e: sp.Basic) -> sp.Expr | None:
        if not e.has(sp.Sum) and base.has(sp.Sum):
            return None
        found = rename_bound(e).match(pattern)
        if found is None or any(w not in found for w in wilds.values()):
            return None
        return name.xreplace({i: found[w] for i, w in wilds.items()})

    def visit(e: sp.Basic) -> sp.Basic:
        if isinstance(e, sp.Pow):
            hit = matched(e.base)
            if hit is not None:
                return hit ** (e.exp / power)
        hit = matched(e)
        if hit is not None:
            return hit ** (1 / sp.sympify(power))
        if not e.args or isinstance(e, (sp.Indexed, sp.IndexedBase)):
            return e
        return e.func(*(visit(a) for a in e.args))

    return tuple(Term(visit(t.coeff), visit(t.factor), t.limits) for t in terms)


def bernoulli_mean(terms: Iterable[Term], mask: sp.IndexedBase, p: sp.Expr) -> tuple[Term, ...]:
    r"""Take the expectation over a mask of independent Bernoulli(:math:`p`) entries.

    With :math:`\delta^2 = \delta` and independence, :math:`E[\prod_{r=1}^m \delta_{a_r}]`
    is :math:`\sum_\pi p^{|\pi|}` over the partitions :math:`\pi` of the factors into groups
    of equal indices, each group distinct from the others
    (:math:`[a \ne b] = 1 - \delta_{ab}`); for two factors,
    :math:`E[\delta_a\delta_b] = p^2 + p(1-p)\,\delta_{ab}`."""
    p = sp.sympify(p)
    out: list[Term] = []
    for t in terms:
        rest, entries = sp.S.One, []
        for f in sp.Mul.make_args(t.factor):
            base, power = f.as_base_exp()
            if isinstance(base, sp.Indexed) and base.base == mask and power.is_Integer and power > 0:
                entries.append(base)
            else:
                rest *= f
        moment = _mask_moment(entries, p)
        for piece in multiply_out(moment):
            out.append(Term(t.coeff * piece.coeff, rest * piece.factor, t.limits + piece.limits))
    return tuple(out)


def _equal(a: sp.Indexed, b: sp.Indexed) -> sp.Expr:
    return sp.Mul(*(sp.KroneckerDelta(x, y) for x, y in zip(a.indices, b.indices)))


def _mask_moment(entries: list[sp.Indexed], p: sp.Expr) -> sp.Expr:
    if len(entries) > 4:
        raise LayergradError(f"mask moments above order 4 are not supported (got {len(entries)})")
    if not entries:
        return sp.S.One
    total = sp.S.Zero
    for partition in multiset_partitions(list(range(len(entries)))):
        weight = p ** len(partition)
        for block in partition:
            for other in block[1:]:
                weight *= _equal(entries[block[0]], entries[other])
        for a, b in itertools.combinations(partition, 2):
            weight *= 1 - _equal(entries[a[0]], entries[b[0]])
        total += weight
    return total


def canonical_nested_sums(terms: Iterable[Term]) -> tuple[Term, ...]:
    r"""Rename the bound variable of every sum nested inside a factor — in a log, a
    denominator, a square root, a step function — by its depth and position
    (:func:`rename_bound`), so that :math:`\log \sum_c e^{s_{ic}}` and
    :math:`\log \sum_k e^{s_{ik}}` become one expression.

    Such sums are not multiplied out (they sit inside a function), and :func:`multiply_out`
    gives each occurrence fresh dummies; without this rule two equal factors never collect.
    Renaming a bound variable never changes a value."""
    return tuple(Term(rename_bound(t.coeff), rename_bound(t.factor), t.limits) for t in terms)


def normalize(
    expr: sp.Expr,
    *,
    zero_sums: Iterable[ZeroSum] = (),
    zero_outside: Shapes | None = None,
    nested_sums: bool = False,
    defined: Sequence[Assumption] = (),
) -> tuple[Term, ...]:
    """The normal form: multiply out (derivatives through the ``defined`` entries), contract
    deltas (under zero outside the arrays of shapes ``zero_outside``, where given), sum
    constants, apply identities, collect. Two expressions are equal when their difference
    normalizes to ``()``. With ``nested_sums=True``, sums nested inside factors are renamed
    canonically first (:func:`canonical_nested_sums`)."""
    terms = multiply_out(expr, defined=tuple(defined), canonical=nested_sums)
    terms = contract_deltas(terms, zero_outside=zero_outside)
    terms = sum_constants(terms)
    terms = apply_zero_sums(terms, zero_sums)
    if nested_sums:
        terms = canonical_nested_sums(terms)
    return collect(terms)


_NAMES = "klmabcdefghpqrstuvw"


def _display_names(taken: set[str], count: int) -> list[sp.Symbol]:
    names: list[str] = []
    for suffix in ["", "_2", "_3", "_4"]:
        for letter in _NAMES:
            if letter + suffix not in taken:
                names.append(letter + suffix)
    if len(names) < count:
        raise LayergradError("too many summation indices to name")
    return [sp.Symbol(n, integer=True) for n in names[:count]]


def to_expr(
    terms: Iterable[Term], *, split: bool = True, order: Sequence[str] = (), own_names: bool = False
) -> sp.Expr:
    r"""Back to a SymPy expression, dummies renamed to short letters that clash with nothing.

    With ``split=True`` a separable multi-sum becomes a product of sums:
    :math:`\sum_{k,l} a_k b_l = (\sum_k a_k)(\sum_l b_l)`. ``order`` lists preferred dummy
    names. With ``own_names=True`` a term whose dummies still carry the distinct names of the
    sums they came from (``a``, ``c`` in :math:`\sum_{a,c}`) keeps those names."""
    terms = tuple(terms)
    bound = {d for t in terms for d in t.dummies}
    taken = {s.name for t in terms for s in (t.coeff * t.factor).free_symbols - bound}
    taken |= {
        s.name for t in terms for lim in t.limits for s in (lim[1] + lim[2]).free_symbols - bound
    }
    parts = []
    for t in terms:
        own = [d.name.lstrip("_") for d in t.dummies]
        if own_names and len(set(own)) == len(own) and not set(own) & taken:
            t = t.rename({d: sp.Symbol(name, integer=True) for d, name in zip(t.dummies, own)})
            t = _own_nested_names(t)
            parts.append(t.coeff * (_split(t) if split else _whole(t)))
            continue
        pool = [sp.Symbol(n, integer=True) for n in order if n not in taken]
        pool += [s for s in _display_names(taken | set(order), len(t.limits)) if s not in pool]
        t = _display(t, dict(zip(t.dummies, pool)), taken)
        parts.append(t.coeff * (_split(t) if split else _whole(t)))
    return sp.Add(*parts)


def _display(t: Term, outer: dict[sp.Symbol, sp.Symbol], taken: set[str]) -> Term:
    """``t`` with its dummies renamed by ``outer``, then the sums inside its atoms named
    (:func:`_name_inner_sums`): in one rebuild of the factor where the two renamings touch
    different symbols, as they do unless an inner sum is bound by a dummy or a display name."""
    inner = _inner_bound(t)
    if inner & (set(outer) | set(outer.values())):
        t = t.rename(outer)
        return _name_inner_sums(t, taken | {d.name for d in t.dummies})
    limits = tuple((outer.get(d, d), lo.xreplace(outer), hi.xreplace(outer)) for d, lo, hi in t.limits)
    names = dict(zip(sorted(inner, key=sp.default_sort_key),
                     _display_names(taken | {v.name for v in outer.values()}, len(inner))))
    return Term(renamed(t.coeff, names), renamed(t.factor, {**outer, **names}), limits)


def _inner_bound(t: Term) -> set[sp.Symbol]:
    """The bound variables of the sums inside the atoms of ``t``."""
    return {lim[0] for e in (t.coeff, t.factor) for s in e.atoms(sp.Sum) for lim in s.limits}


def _own_nested_names(t: Term) -> Term:
    """Sums nested in ``t``'s factor get plain names for their bound dummies — their own
    where no other symbol of the term has it, else the next free letter (for display only)."""
    used = {x.name for x in t.factor.free_symbols} | {d.name for d in t.dummies}

    def plain(e: sp.Sum) -> sp.Sum:
        mapping = {}
        for v, _, _ in e.limits:
            if not isinstance(v, sp.Dummy):
                continue
            name = v.name.lstrip("_")
            if not name or name in used:
                name = _display_names(used, 1)[0].name
            used.add(name)
            mapping[v] = sp.Symbol(name, integer=True)
        return renamed(e, mapping)

    return Term(t.coeff, t.factor.replace(lambda e: isinstance(e, sp.Sum), plain), t.limits)


def _name_inner_sums(t: Term, taken: set[str]) -> Term:
    """Short display names for the bound variables of sums inside atoms of ``t``."""
    inner = _inner_bound(t)
    if not inner:
        return t
    mapping = dict(zip(sorted(inner, key=sp.default_sort_key), _display_names(taken, len(inner))))
    return Term(renamed(t.coeff, mapping), renamed(t.factor, mapping), t.limits)


def _whole(t: Term) -> sp.Expr:
    if not t.limits:
        return t.factor
    return sp.Sum(t.factor, *t.limits)


def _split(t: Term) -> sp.Expr:
    factors = list(sp.Mul.make_args(t.factor))
    remaining = list(t.limits)
    result = sp.S.One
    free = [f for f in factors if not any(f.has(lim[0]) for lim in remaining)]
    factors = [f for f in factors if f not in free]
    result = sp.Mul(*free)
    while remaining:
        group = [remaining.pop(0)]
        grew = True
        while grew:
            grew = False
            names = {lim[0] for lim in group}
            for lim in list(remaining):
                linked = any(f.has(lim[0]) and any(f.has(n) for n in names) for f in factors)
                bounds = any(g[1].has(lim[0]) or g[2].has(lim[0]) for g in group)
                bounds = bounds or lim[1].has(*names) or lim[2].has(*names)
                if linked or bounds:
                    group.append(lim)
                    remaining.remove(lim)
                    grew = True
        names = {lim[0] for lim in group}
        body = [f for f in factors if any(f.has(n) for n in names)]
        factors = [f for f in factors if f not in body]
        result *= sp.Sum(sp.Mul(*body), *group)
    return result


@functools.lru_cache(maxsize=512)
def _normal_form(expr: sp.Expr, options: tuple) -> tuple[Term, ...]:
    zero_sums, frozen, nested_sums, defined = options
    shapes = None if frozen is None else {base: axes for base, axes in frozen}
    return normalize(expr, zero_sums=zero_sums, zero_outside=shapes, nested_sums=nested_sums, defined=defined)


def freeze(shapes: Shapes | None) -> tuple | None:
    """Shapes as a hashable tuple (for caching normal forms), in a run-independent order."""
    if shapes is None:
        return None
    return tuple(sorted(((base, tuple((sp.sympify(lo), sp.sympify(hi)) for lo, hi in axes))
                         for base, axes in shapes.items()), key=lambda item: str(item[0])))


def _equal_normal_forms(before: sp.Expr, after: sp.Expr, options: tuple) -> bool:
    """Does ``before - after`` normalize to nothing? Each side's normal form is remembered
    (in a derivation, one step's ``after`` is the next step's ``before``), so usually only
    the new side is normalized; the full difference is normalized when that shortcut fails."""
    if rename_bound(before) == rename_bound(after):
        return True  # the same up to the names of bound variables
    b, a = _normal_form(before, options), _normal_form(after, options)
    if b == a:  # the same terms: their difference collects to nothing
        return True
    if collect(b + tuple(Term(-t.coeff, t.factor, t.limits) for t in a)) == ():
        return True
    return _normal_form(before - after, options) == ()


def index_prover(
    *,
    zero_sums: Iterable[ZeroSum] = (),
    zero_outside: Shapes | None = None,
    nested_sums: bool = False,
    defined: Iterable[Assumption] = (),
) -> Prover:
    """A prover that decides ``before == after`` by :func:`normalize` of the difference.

    Derivations using it must declare its side conditions (:attr:`Prover.uses`):
    :data:`IN_RANGE`, with ``zero_outside`` (the arrays' shapes) also :data:`ZERO_OUTSIDE` and
    the shapes (``array shapes``), each definition in ``defined`` (the entries that
    derivatives go through without being unfolded) and each identity in ``zero_sums``
    (:attr:`ZeroSum.declared_as`).
    ``nested_sums=True`` lets it recognise equal sums nested inside factors
    (:func:`canonical_nested_sums`)."""
    shapes = _shapes_of(zero_outside)
    defined, zero_sums = tuple(defined), tuple(zero_sums)
    options = (zero_sums, freeze(shapes), nested_sums, defined)

    def decide(before: sp.Basic, after: sp.Basic, unfold) -> bool:
        before, after = unfold(before), unfold(after)
        pairs = (
            [(before.lhs, after.lhs), (before.rhs, after.rhs)]
            if isinstance(before, sp.Equality) and isinstance(after, sp.Equality)
            else [(before, after)]
        )
        return all(_equal_normal_forms(b, a, options) for b, a in pairs)

    name = "index normal form"
    uses = [IN_RANGE.name, *(a.name for a in defined)]
    if defined:
        name += " (differentiating through " + ", ".join(a.name for a in defined) + ")"
    if shapes is not None:
        name += " (zero outside arrays)"
        uses += [ZERO_OUTSIDE.name, SHAPES]
    if zero_sums:
        name += " (with zero-sum identities)"
        uses += [z.declared_as for z in zero_sums]
    if nested_sums:
        name += " (nested sums renamed)"
    return Prover(name, decide, tuple(uses))


SHAPES = "array shapes"
"""The name under which derivations declare their arrays' shapes (see
:func:`derive.support.shapes_assumption`)."""
