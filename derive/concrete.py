r"""Index expressions evaluated at concrete sizes with random entries: a check independent of
the index engine.

:func:`value` replaces every size (a positive integer symbol) by a small number, every other
integer symbol (a free index) by a fixed index, lets SymPy write out every sum and take every
derivative (``doit``), and gives every array entry and every remaining symbol a random value.
:func:`agree` compares two expressions this way at several random draws. Plain SymPy does the
work; the engine's normal form is never consulted, so this can judge it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping

import sympy as sp

__all__ = ["agree", "value"]


def _integers(expr: sp.Basic, sizes: Mapping[sp.Symbol, int], index: int, default: int | None,
              rng: random.Random) -> dict[sp.Symbol, int]:
    table: dict[sp.Symbol, int] = {}
    bound = {lim[0] for e in expr.atoms(sp.concrete.expr_with_limits.ExprWithLimits) for lim in e.limits}
    for s in sorted(expr.atoms(sp.Symbol) - bound, key=sp.default_sort_key):
        if not isinstance(s, sp.Symbol) or not s.is_integer:
            continue
        if s in sizes:
            table[s] = sizes[s]
        elif s.is_positive:
            table[s] = default if default is not None else rng.choice((2, 3))
        else:
            table[s] = index
    return table


def _written_out(expr: sp.Basic) -> sp.Basic:
    """Every sum whose limits are numbers written out term by term, outermost first, so that a
    Kronecker delta meets numbers only (SymPy's own summation of deltas may leave a condition
    it cannot decide)."""
    def concrete(e: sp.Basic) -> bool:
        return isinstance(e, sp.Sum) and all(lo.is_Integer and hi.is_Integer for _, lo, hi in e.limits)

    while True:
        outer = [e for e in sp.preorder_traversal(expr) if concrete(e)]
        if not outer:
            return expr
        total = outer[0]
        dummies = [lim[0] for lim in total.limits]
        ranges = [range(int(lo), int(hi) + 1) for _, lo, hi in total.limits]
        terms = [total.function.subs(dict(zip(dummies, map(sp.Integer, point))))  # subs: a dummy rebound inside stays
                 for point in itertools.product(*ranges)]
        expr = expr.xreplace({total: sp.Add(*terms)})


def value(
    expr: sp.Basic,
    sizes: Mapping[sp.Symbol, int] | None = None,
    *,
    index: int = 1,
    default: int | None = None,
    entries: dict | None = None,
    rng: random.Random | None = None,
    shapes: Mapping | None = None,
) -> complex:
    """``expr`` as a number: sizes from ``sizes`` (else ``default``, else 2 or 3 drawn from
    ``rng``), free indices ``index``, array
    entries and real symbols random in :math:`[0.5, 1.5)` (remembered in ``entries``, so two
    expressions can share them); with ``shapes`` (array → axis ranges, in the symbols of
    ``expr``) an entry outside its array's shape is zero. Raises ``ValueError`` when something
    stays symbolic."""
    expr = sp.sympify(expr)
    sizes = dict(sizes or {})
    entries = {} if entries is None else entries
    rng = rng or random.Random(0)
    integers = _integers(expr, sizes, index, default, random.Random(rng.random()))
    concrete = sp.sympify(expr).replace(
        lambda e: isinstance(e, sp.Derivative),
        lambda e: sp.Derivative(e.expr.xreplace(integers), *((v.xreplace(integers), n) for v, n in e.variable_count)),
    ).xreplace(integers)
    concrete = _written_out(concrete).doit().xreplace(integers)

    bounds = {base: [(int(sp.sympify(lo).xreplace(sizes | integers)), int(sp.sympify(hi).xreplace(sizes | integers)))
                     for lo, hi in axes]
              for base, axes in (shapes or {}).items()}

    def draw(key: sp.Basic) -> sp.Float:
        if isinstance(key, sp.Indexed) and key.base in bounds and not all(
                lo <= int(i) <= hi for i, (lo, hi) in zip(key.indices, bounds[key.base])):
            return sp.S.Zero  # zero outside the array's shape
        if key not in entries:
            entries[key] = sp.Float(rng.uniform(0.5, 1.5))
        return entries[key]

    concrete = concrete.replace(lambda e: isinstance(e, sp.Indexed) and all(i.is_Integer for i in e.indices),
                                draw)
    symbols = [s for s in concrete.free_symbols if isinstance(s, sp.Symbol)]
    if any(s.is_integer for s in symbols):
        raise ValueError(f"an index stayed symbolic in {concrete}")
    concrete = concrete.xreplace({s: draw(s) for s in symbols})
    number = complex(sp.N(concrete.doit()))
    return number


def agree(a: sp.Basic, b: sp.Basic, sizes: Mapping[sp.Symbol, int] | None = None, *, draws: int = 3,
          seed: int = 0, tolerance: float = 1e-9, default: int | None = None,
          shapes: Mapping | None = None) -> bool | None:
    """Do ``a`` and ``b`` take the same value at ``draws`` random points (sizes from ``sizes``)?
    ``None`` when either cannot be evaluated to a number."""
    rng = random.Random(seed)
    for _ in range(draws):
        entries: dict = {}
        state = rng.random()
        try:
            x = value(a, sizes, entries=entries, rng=random.Random(state), default=default, shapes=shapes)
            y = value(b, sizes, entries=entries, rng=random.Random(state), default=default, shapes=shapes)
        except (TypeError, ValueError, AttributeError, NotImplementedError, ZeroDivisionError, RecursionError):
            return None
        if abs(x - y) > tolerance * (1 + abs(x) + abs(y)):
            return False
    return True
