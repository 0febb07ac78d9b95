"""Index-engine terms shown with the index names they were written with.

The engine renames bound indices to fresh dummies (so nothing is ever captured) and, when it
collects, to canonical ones. A derivation reads better when a sum over :math:`n', f', i', j'`
stays a sum over those letters: :func:`own_names` turns terms back into an expression with
their original names, :func:`contracted` contracts Kronecker deltas and keeps the names, and
:func:`in_order` lists every sum's indices in a fixed order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from .index import Shapes, Term, contract_deltas, multiply_out

__all__ = ["contracted", "in_order", "own_names"]

_ORDER = "nfcijklm"


def in_order(expr: sp.Expr, order: Sequence[str] = _ORDER) -> sp.Expr:
    """Every sum's indices listed in ``order`` (by letter, primes ignored); the limits are
    independent, so their order does not change the value."""
    rank = {name: pos for pos, name in enumerate(order)}

    def key(limit: tuple) -> int:
        return rank.get(limit[0].name.rstrip("'"), len(rank))

    return expr.replace(lambda e: isinstance(e, sp.Sum), lambda e: sp.Sum(e.function, *sorted(e.limits, key=key)))


def own_names(terms: Sequence[Term], unprimed: bool = False) -> sp.Expr:
    """Terms as an expression whose summation indices keep the names they were written with
    (with ``unprimed``, without their primes where no free index has that name)."""
    parts = []
    for t in terms:
        if t.coeff == 0 or t.factor == 0:
            continue
        free = {s.name for s in (t.coeff * t.factor).free_symbols} - {dm.name for dm in t.dummies}
        names = {}
        for dummy in t.dummies:
            name = dummy.name.lstrip("_")
            if unprimed and name.rstrip("'") not in free | set(names.values()):
                name = name.rstrip("'")
            names[dummy] = name
        t = t.rename({dummy: sp.Symbol(name, integer=True) for dummy, name in names.items()})
        parts.append(t.coeff * (sp.Sum(t.factor, *t.limits) if t.limits else t.factor))
    return in_order(sp.Add(*parts))


def contracted(expr: sp.Expr, zero_outside: Shapes | None = None, eliminate: str = "kl") -> sp.Expr:
    """Contract the Kronecker deltas of ``expr`` (under zero outside the arrays of these shapes,
    where given), eliminating the dummies whose names start with a letter of ``eliminate``
    first (the kernel offsets, so dout keeps plain indices)."""
    terms = []
    for t in multiply_out(expr):
        first = sorted(t.limits, key=lambda lim: lim[0].name.lstrip("_")[0] not in eliminate)
        terms.append(Term(t.coeff, t.factor, tuple(first)))
    return own_names(contract_deltas(terms, zero_outside=zero_outside), unprimed=True)
