r"""Rewrites of an element-wise expression that leave its value alone and take fewer passes over
the data: what a derivation by the chain rule leaves as separate terms, one term per branch.

* Complementary steps: with :math:`\theta(0) = \tfrac12`,
  :math:`\theta(-v) = 1 - \theta(v)` for every :math:`v` (at the tie both are
  :math:`\tfrac12`), so :math:`\alpha\,\theta(-v) + \theta(v) = \alpha + (1 - \alpha)\,\theta(v)`:
  one step, its argument computed once (leaky ReLU's backward); and
  :math:`\theta(v) = (1 + \operatorname{sign} v)/2` (also at 0), so the step's two coefficients
  fold into the sign's. A step with another value at 0
  (:math:`\theta(u, 0)`, a lone step after :meth:`.lowering.Lowering.kinks`) is left alone.
* Selections on one condition:
  :math:`\mathrm{where}(c, a_1, b_1) + \mathrm{where}(c, a_2, b_2) = \mathrm{where}(c, a_1 + a_2, b_1 + b_2)`
  entry by entry (each side picks the same branches), after the terms' common factors are taken
  out: one selection, the condition computed once (Huber's and ELU's backward).

* Constant factors of a sum: :math:`c\,(a + b\,u)\,v = (ca + cb\,u)\,v` for constants
  :math:`a, b, c` (no array in them), when every term of the sum already has a constant factor
  other than :math:`\pm 1` or is a constant: the multiplication by :math:`c` joins the terms'
  own, one pass over the data fewer (leaky ReLU's :math:`\tfrac12` of the collected sign).

All are exact identities of real numbers; the generated code computes each in a different
order, so results agree within rounding.
"""

from __future__ import annotations

import sympy as sp

from derive.define import Where

__all__ = ["array_operations", "collected", "complementary_steps", "constants_in_sums", "fewer_passes",
           "merged_wheres"]


def _half_step(h: sp.Heaviside) -> bool:
    return len(h.args) == 1 or h.args[1] == sp.S.Half


def complementary_steps(expr: sp.Expr) -> sp.Expr:
    r"""``expr`` with each pair :math:`\theta(v), \theta(-v)` (both :math:`\tfrac12` at 0) written
    with one of the two steps, collected: :math:`a\,\theta(-v) + b\,\theta(v) = a + (b - a)\,\theta(v)`
    (of the two ways, the shorter one; on a tie the one with fewer subtractions), and the step as
    the sign it is printed with, :math:`\theta(v) = (1 + \operatorname{sign} v)/2`, collected too:
    :math:`\tfrac{a + b}{2} + \tfrac{b - a}{2}\operatorname{sign} v`."""
    steps = sorted((h for h in expr.atoms(sp.Heaviside) if _half_step(h)), key=sp.default_sort_key)
    for h in steps:
        mirror = [g for g in steps if g != h and sp.expand(g.args[0] + h.args[0]) == 0]
        if not mirror or h not in expr.atoms(sp.Heaviside) or mirror[0] not in expr.atoms(sp.Heaviside):
            continue
        expr = min((_one_step(expr, kept, other) for kept, other in ((h, mirror[0]), (mirror[0], h))),
                   key=lambda e: (sp.count_ops(e), str(e).count("-")))
    return expr


def _one_step(expr: sp.Expr, kept: sp.Heaviside, other: sp.Heaviside) -> sp.Expr:
    r"""``expr`` with :math:`\theta(\pm v) = (1 \pm \operatorname{sign} v)/2` for ``kept`` and
    ``other``, collected in the sign; :math:`\operatorname{sign}(cu) = \operatorname{sign}(c)
    \operatorname{sign}(u)` for a constant :math:`c`, so only :math:`u` is read."""
    t = sp.Dummy("sign")
    half = (1 + t) / 2
    written = _with_arrays_out(sp.expand(expr.xreplace({kept: half, other: 1 - half})), t)
    constant, varying = sp.factor_terms(kept.args[0]).as_independent(sp.Indexed, as_Add=False)
    return written.xreplace({t: sp.sign(constant) * sp.sign(varying)})


def _with_arrays_out(total: sp.Expr, t: sp.Symbol) -> sp.Expr:
    """A sum as its common array factors times the rest, collected in ``t`` (constant factors
    stay in the terms: they cost no pass there)."""
    if not isinstance(total, sp.Add):
        return total
    factors = [set(sp.Mul.make_args(term)) for term in total.args]
    common = [f for f in set.intersection(*factors) if f.has(sp.Indexed) and not f.has(t)]
    outside = sp.Mul(*common)
    inner = sp.Add(*(term / outside for term in total.args))
    return outside * sp.collect(inner, t, func=sp.factor_terms)


def merged_wheres(expr: sp.Expr) -> sp.Expr:
    r"""``expr`` with the terms of a sum that are selections on one condition (times a common
    factor) merged into one selection of the summed branches."""
    if sum(1 for _ in expr.atoms(Where)) < 2:
        return expr
    expr = sp.factor_terms(expr)
    return expr.replace(lambda e: isinstance(e, sp.Add) and sum(isinstance(a, Where) for a in e.args) > 1,
                        _merge_sum)


def _merge_sum(total: sp.Add) -> sp.Expr:
    by_condition: dict[sp.Basic, list[Where]] = {}
    rest = []
    for term in total.args:
        if isinstance(term, Where):
            by_condition.setdefault(term.args[0], []).append(term)
        else:
            rest.append(term)
    merged = [Where(c, sp.Add(*(w.args[1] for w in ws)), sp.Add(*(w.args[2] for w in ws)))
              for c, ws in by_condition.items()]
    return sp.Add(*rest, *merged)


def constants_in_sums(expr: sp.Expr) -> sp.Expr:
    r"""``expr`` with the constant factor of each product moved into the one sum among its other
    factors, where every term of that sum has a constant factor of its own (other than
    :math:`\pm 1`) or is a constant."""
    return expr.replace(lambda e: isinstance(e, sp.Mul), _constant_inside)


def _constant_inside(product: sp.Mul) -> sp.Expr:
    constant, varying = product.as_independent(sp.Indexed, as_Add=False)
    factors = sp.Mul.make_args(varying)
    sums = [f for f in factors if isinstance(f, sp.Add) and f.has(sp.Indexed)]
    if constant == 1 or len(sums) != 1 or not all(_has_own_constant(t) for t in sums[0].args):
        return product
    inner = sp.Add(*(constant * t for t in sums[0].args))
    return sp.Mul(*(inner if f is sums[0] else f for f in factors))


def _has_own_constant(term: sp.Expr) -> bool:
    constant, varying = term.as_independent(sp.Indexed, as_Add=False)
    return varying == 1 or constant not in (1, -1)


def fewer_passes(expr: sp.Expr) -> sp.Expr:
    """The first two rewrites, where they apply (``expr`` itself otherwise); the third,
    :func:`constants_in_sums`, undoes what taking common factors out does and so comes after it."""
    return merged_wheres(complementary_steps(expr))


def array_operations(expr: sp.Expr) -> int:
    r"""How many operations of ``expr`` make an array (a pass over the data each, at the sizes of a
    layer): in a sum or product, one per array operand after the first and one for all the
    constant ones together (a factor of :math:`-1` is a subtraction, free); an integer power
    :math:`u^k`, :math:`k - 1` products; any other function or power of an array, one."""
    if not expr.has(sp.Indexed) or isinstance(expr, sp.Indexed):
        return 0
    count = sum(array_operations(a) for a in expr.args)
    if isinstance(expr, (sp.Add, sp.Mul)):
        arrays = [a for a in expr.args if a.has(sp.Indexed)]
        constants = [a for a in expr.args if not a.has(sp.Indexed)]
        free = isinstance(expr, sp.Mul) and constants == [sp.S.NegativeOne]
        return count + len(arrays) - 1 + (1 if constants and not free else 0)
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 0:
        return count + int(expr.exp) - 1
    return count + 1


def collected(expr: sp.Expr) -> sp.Expr | None:
    r"""``expr`` multiplied out and collected in its functions of arrays (and their powers), each
    coefficient in Horner's form where it is a polynomial in the arrays, common factors taken out:
    :math:`\tfrac12(1 + t) + (1 - t^2)(a x^3 + b x)` from GELU's expanded derivative. None when
    ``expr`` has no function of an array."""
    expanded = sp.expand(expr)
    atoms = {f for f in expanded.atoms(sp.Function) if f.has(sp.Indexed)}
    atoms |= {p for p in expanded.atoms(sp.Pow) if p.base in atoms}
    if not atoms:
        return None

    def coefficient(c: sp.Expr) -> sp.Expr:
        arrays = c.atoms(sp.Indexed)
        return sp.horner(c, *sorted(arrays, key=sp.default_sort_key)) if arrays and c.is_polynomial(*arrays) else c

    return sp.factor_terms(sp.collect(expanded, sorted(atoms, key=sp.default_sort_key), func=coefficient))
