"""Renaming without asking SymPy again (:mod:`derive.renaming`): the same expression as
``xreplace``, and what SymPy settled shared only where the renaming keeps every property."""

from __future__ import annotations

import sympy as sp

from derive.index import rename_bound
from derive.renaming import renamed

x, y, z = sp.symbols("x y z", real=True)
i, j, k, m = sp.symbols("i j k m", integer=True)
n = sp.Symbol("n", integer=True, positive=True)
eps = sp.Symbol("epsilon", positive=True)
X = sp.IndexedBase("X")


def _norm(d: sp.Symbol) -> sp.Expr:
    mean = sp.Sum(X[m, d], (m, 0, n - 1)) / n
    return (eps + sp.Sum((X[k, d] - mean) ** 2, (k, 0, n - 1)) / n) ** sp.Rational(-1, 2)


EXPRESSIONS = [
    x * y + sp.sqrt(x**2 + 1) / (y - z),
    _norm(j) * X[i, j] + sp.Sum(X[i, k], (k, 0, n - 1)),
    sp.KroneckerDelta(i, j) * X[i, k] ** 2 - sp.exp(x) * sp.log(y**2 + 1),
]


def test_renamed_builds_what_xreplace_builds():
    fresh = sp.Dummy("j", integer=True)
    mappings = [
        {j: fresh},                        # a renaming to a fresh dummy
        {i: j, j: i},                      # a swap
        {x: y, y: x, z: sp.Symbol("w", real=True)},
        {i: j},                            # onto a symbol already there: not a renaming
        {x: z, y: z},                      # two onto one: not a renaming
        {k: sp.Symbol("k", integer=True, nonnegative=True)},  # other assumptions: not a renaming
        {i: j + 1},                        # not a symbol
    ]
    for expr in EXPRESSIONS:
        for mapping in mappings:
            assert renamed(expr, mapping) == expr.xreplace(mapping), (expr, mapping)


def test_a_renamed_copy_shares_what_sympy_settled():
    original = _norm(j)
    term = next(a for a in original.base.args if a.has(sp.Sum))
    assert term.is_infinite is None  # settled (after a search through the summand)
    copy = renamed(original, {j: sp.Dummy("j", integer=True)})
    twin = next(a for a in copy.base.args if a.has(sp.Sum))
    assert twin != term
    assert twin._assumptions is term._assumptions


def test_nothing_is_shared_where_the_target_was_already_there():
    s = sp.Sum(x - z, (k, 0, n))
    assert s.is_zero is None
    merged = renamed(s, {x: z})
    assert merged == sp.Sum(0, (k, 0, n))
    assert merged.is_zero is True  # its own answer, not the original's


def test_rename_bound_names_side_by_side_and_nested_sums():
    side = sp.Sum(X[k], (k, 0, n)) * sp.Sum(X[m] ** 2, (m, 0, n))
    s00 = sp.Symbol("_s0_0", integer=True)
    assert rename_bound(side) == sp.Sum(X[s00], (s00, 0, n)) * sp.Sum(X[s00] ** 2, (s00, 0, n))
    # k bound at two depths (the fallback): each sum named by where it sits
    nested = sp.Sum(X[k] * sp.Sum(X[m] * X[k], (m, 0, n)), (k, 0, n)) + sp.Sum(sp.Sum(X[k] ** 3, (k, 0, n)), (m, 0, n))
    s01, s10 = sp.Symbol("_s0_1", integer=True), sp.Symbol("_s1_0", integer=True)
    expected = (sp.Sum(X[s00] * sp.Sum(X[s10] * X[s00], (s10, 0, n)), (s00, 0, n))
                + sp.Sum(X[s00] ** 3, (s00, 0, n), (s01, 0, n)))
    assert rename_bound(nested) == expected
    # k free outside its sum (the fallback): only the bound k is renamed
    free = X[k] * sp.Sum(X[k] ** 2, (k, 0, n)) + sp.sqrt(sp.Sum(X[m] * X[i], (m, 0, k)))
    assert rename_bound(free) == X[k] * sp.Sum(X[s00] ** 2, (s00, 0, n)) + sp.sqrt(sp.Sum(X[s00] * X[i], (s00, 0, k)))
