r"""Sums over the support of zero-padded arrays: reindexing rules for the index engine.

Under :data:`~derive.index.ZERO_OUTSIDE` an array is zero outside its shape. Then a sum whose
range is exactly the set where one factor can be non-zero,

.. math:: \sum_{k=lo-c}^{hi-c} A_{k + c}\, B_{a - k}
          \;=\; \sum_{k \in \mathbb{Z}} A_{k + c}\, B_{a - k}
          \;=\; \sum_{m=lo'}^{hi'} A_{a - m + c}\, B_{m},

may be re-expressed over the support of any other factor that reads the same dummy with slope
:math:`\pm 1`: shifting (:math:`k \to k' - c`) and reflecting (:math:`k \to -k'`) a sum over
all integers changes nothing. This is the step behind "the gradient of a convolution is the
full convolution with the 180°-rotated kernel".

:func:`sum_over_support` rewrites every such sum over the support of one canonically chosen
factor (by array name and axis), so reindexed, shifted and flipped sums reach the same normal
form; :func:`normalize_on_support` and :func:`support_prover` put it after the rules of
:func:`derive.index.normalize`. Shapes are declared per array as inclusive index ranges and
shown with :func:`shapes_assumption`.
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp

from .derivation import Assumption, Prover
from .index import SHAPES, Shapes, Term, ZeroSum, collect, index_prover, normalize, range_of, reads, same_range

__all__ = [
    "Shapes",
    "normalize_on_support",
    "shapes_assumption",
    "sum_over_support",
    "support_prover",
]

_SHAPE = sp.Function("shape")


def shapes_assumption(shapes: Shapes, name: str = SHAPES) -> Assumption:
    """The declared shapes as an assumption to list with a derivation: ``shape(x) = (N, C, H, W)``
    for each array (sizes, from index 0), or the index range of an axis that does not start at 0."""
    statements, parts = [], []
    for base, axes in shapes.items():
        extents = " × ".join(_extent_text(lo, hi) for lo, hi in axes)
        parts.append(f"{base} is {extents}")
        sizes = [sp.expand(hi - lo + 1) if lo == 0 else sp.Interval(lo, hi) for lo, hi in axes]
        statements.append(sp.Eq(_SHAPE(base.label), sp.Tuple(*sizes), evaluate=False))
    statement = statements[0] if len(statements) == 1 else sp.And(*statements, evaluate=False)
    return Assumption(
        name,
        statement,
        "indices start at 0 and each array is zero outside its shape: " + "; ".join(parts),
    )


def _extent_text(lo: sp.Expr, hi: sp.Expr) -> str:
    from .printing import text

    if lo != 0:
        return f"[{text(lo)}, {text(hi)}]"
    size = hi + 1
    return f"({text(size)})" if isinstance(size, sp.Add) else text(size)


def sum_over_support(terms: Iterable[Term], shapes: Shapes) -> tuple[Term, ...]:
    r"""Re-express each sum over the support of a canonical factor (needs ``ZERO_OUTSIDE``).

    A dummy :math:`k` qualifies when its range is exactly the support of some factor that
    reads it as :math:`\pm k + c` (the sum then runs over all integers in effect) and no
    other limit depends on it. It is replaced by :math:`k'` with :math:`\pm k + c = k'`,
    where the factor is the smallest by (array name, axis), and :math:`k'` runs over that
    factor's axis range."""
    out = []
    for t in terms:
        for dummy in t.dummies:
            limit = next(lim for lim in t.limits if lim[0] == dummy)
            if any(lim[1].has(dummy) or lim[2].has(dummy) for lim in t.limits if lim is not limit):
                continue
            found = reads(t, dummy, shapes)
            current = (limit[1], limit[2])
            if not any(same_range(current, range_of(s, c, r)) for _, s, c, r in found):
                continue
            _, slope, offset, axis_range = min(found, key=lambda read: read[0])
            fresh = sp.Dummy(dummy.name, integer=True)
            value = slope * (fresh - offset)
            limits = tuple(
                (fresh, *axis_range) if lim is limit else (lim[0], lim[1].xreplace({dummy: value}),
                                                           lim[2].xreplace({dummy: value}))
                for lim in t.limits
            )
            factor = t.factor.xreplace({dummy: value})
            factor = factor.replace(
                lambda e: isinstance(e, sp.Indexed),
                lambda e: e.func(e.base, *(sp.expand(i) for i in e.indices)),
            )
            t = Term(t.coeff, factor, limits)
        out.append(t)
    return tuple(out)


def normalize_on_support(
    expr: sp.Expr, shapes: Shapes, *, zero_sums: Iterable[ZeroSum] = ()
) -> tuple[Term, ...]:
    """:func:`derive.index.normalize` with ``zero_outside=True``, then every sum over its
    canonical support (:func:`sum_over_support`), then collected again."""
    terms = normalize(expr, zero_sums=zero_sums, zero_outside=shapes)
    return collect(sum_over_support(terms, shapes))


def support_prover(shapes: Shapes, *, zero_sums: Iterable[ZeroSum] = ()) -> Prover:
    """A prover that decides ``before == after`` by :func:`normalize_on_support`.

    Derivations using it must declare :data:`~derive.index.IN_RANGE`,
    :data:`~derive.index.ZERO_OUTSIDE`, the shapes (:func:`shapes_assumption`) and each
    identity in ``zero_sums``."""
    zero_sums = tuple(zero_sums)
    side_conditions = index_prover(zero_outside=shapes, zero_sums=zero_sums).uses

    def decide(before: sp.Basic, after: sp.Basic, unfold) -> bool:
        before, after = unfold(before), unfold(after)
        pairs = (
            [(before.lhs, after.lhs), (before.rhs, after.rhs)]
            if isinstance(before, sp.Equality) and isinstance(after, sp.Equality)
            else [(before, after)]
        )
        return all(normalize_on_support(b - a, shapes, zero_sums=zero_sums) == () for b, a in pairs)

    return Prover("index normal form (sums over array supports)", decide, side_conditions)
