"""The index engine, one rewrite rule at a time, with symbolic sizes."""

import itertools

import pytest
import sympy as sp

from derive import Assumption, Derivation, LayergradError
from derive.index import (
    IN_RANGE,
    Mean,
    Term,
    ZeroSum,
    abbreviate,
    apply_zero_sums,
    bernoulli_mean,
    canonical_nested_sums,
    collect,
    contract_deltas,
    differentiate,
    index_prover,
    multiply_out,
    normalize,
    rename_bound,
    substitute,
    sum_constants,
    to_expr,
)

n, N, H, W = sp.symbols("n N H W", integer=True, positive=True)
i, j, k, l, m, a, b, c = sp.symbols("i j k l m a b c", integer=True)
x, y, z, s, mu, mask = (sp.IndexedBase(name) for name in ("x", "y", "z", "s", "mu", "delta"))
p = sp.Symbol("p", positive=True)


def same(left, right) -> bool:
    return normalize(left - right) == ()


# multiply_out ---------------------------------------------------------------------------------

def test_the_square_of_a_sum_becomes_one_double_sum():
    terms = multiply_out(sp.Sum(x[k], (k, 1, n)) ** 2)
    assert len(terms) == 1
    (t,) = terms
    assert len(t.limits) == 2 and all(lim[1:] == (1, n) for lim in t.limits)
    first, second = t.dummies
    assert t.factor == x[first] * x[second]


def test_products_of_sums_distribute_and_keep_their_own_ranges():
    terms = multiply_out((sp.Sum(x[k], (k, 1, n)) + 2) * sp.Sum(y[k], (k, 1, N)))
    ranges = {frozenset(lim[2] for lim in t.limits) for t in terms}
    assert ranges == {frozenset({N}), frozenset({N, n})}
    assert {t.coeff for t in terms} == {1, 2}


def test_summation_indices_become_fresh_dummies():
    (t,) = multiply_out(sp.Sum(x[k], (k, 1, n)))
    assert isinstance(t.dummies[0], sp.Dummy) and t.factor == x[t.dummies[0]]


# differentiate --------------------------------------------------------------------------------

def test_the_derivative_of_a_sum_of_squares_is_twice_the_entry():
    terms = contract_deltas(differentiate(multiply_out(sp.Sum(x[k] ** 2, (k, 1, n))), x[i]))
    assert to_expr(collect(terms)) == 2 * x[i]


def test_differentiating_with_respect_to_the_dummys_own_letter_is_not_captured():
    """SymPy differentiates Σ_k x_k² with respect to x[k] by treating k as the dummy."""
    expr = sp.Sum(x[k] ** 2, (k, 1, n))
    assert sp.diff(expr, x[k]) != 2 * x[k]  # the trap, as SymPy falls into it
    terms = collect(contract_deltas(differentiate(multiply_out(expr), x[k])))
    assert to_expr(terms) == 2 * x[k]


def test_a_derivative_inside_an_expression_is_taken_by_multiply_out():
    assert same(sp.Derivative(sp.Sum(x[k] * y[k], (k, 1, n)), x[j]), y[j])


def test_differentiating_through_a_definition_gives_the_total_derivative():
    mean = Assumption("mean", sp.Eq(mu[j], sp.Sum(x[k, j], (k, 1, n)) / n), "mean of column j")
    terms = differentiate(multiply_out(mu[j] ** 2), x[a, b], defined=[mean])
    assert same(to_expr(collect(contract_deltas(terms)), split=False),
                2 * mu[j] * sp.KroneckerDelta(j, b) / n)
    assert collect(differentiate(multiply_out(mu[j] ** 2), x[a, b])) == ()  # else μ is a constant


def test_differentiate_refuses_an_expression():
    with pytest.raises(LayergradError, match="entry or a symbol"):
        differentiate(multiply_out(x[k]), x[k] + 1)


# contract_deltas ------------------------------------------------------------------------------

def test_a_delta_against_a_dummy_leaves_the_entry_with_no_piecewise_guard():
    (t,) = contract_deltas(multiply_out(sp.Sum(sp.KroneckerDelta(i, k) * x[k], (k, 1, n))))
    assert t == Term(1, x[i], ())
    assert sp.Sum(sp.KroneckerDelta(i, k) * x[k], (k, 1, n)).doit().has(sp.Piecewise)


def test_a_delta_between_dummies_of_the_same_range_merges_them():
    expr = sp.Sum(sp.KroneckerDelta(k, l) * x[k] * y[l], (k, 1, n), (l, 1, n))
    (t,) = contract_deltas(multiply_out(expr))
    assert len(t.limits) == 1 and t.factor == x[t.dummies[0]] * y[t.dummies[0]]


def test_a_delta_with_an_affine_index_is_contracted_only_with_zero_outside_and_a_witness():
    expr = sp.Sum(sp.KroneckerDelta(a, 2 * i + k) * x[k], (k, 1, n))
    (kept,) = contract_deltas(multiply_out(expr))
    assert kept.limits and kept.factor.has(sp.KroneckerDelta)
    (t,) = contract_deltas(multiply_out(expr), zero_outside={x: [(1, n)]})
    assert t.limits == () and t.factor == x[a - 2 * i]
    with pytest.raises(LayergradError, match="needs the arrays' shapes"):
        contract_deltas(multiply_out(expr), zero_outside=True)
    # x read over another range than the summed one, or no array read at all: the delta stays
    for shapes in ({x: [(0, n)]}, {y: [(1, n)]}):
        (still,) = contract_deltas(multiply_out(expr), zero_outside=shapes)
        assert still.factor.has(sp.KroneckerDelta)


def test_false_statements_about_deltas_are_refused_under_zero_outside():
    K, S = sp.symbols("K S", integer=True, positive=True)
    shapes = {x: [(0, K - 1)], y: [(0, K - 1)]}
    prover = index_prover(zero_outside=shapes)
    lone = sp.Sum(sp.KroneckerDelta(k, a - S * i), (k, 0, K - 1))
    assert not prover(lone, 1)
    shifted = sp.Sum(sp.KroneckerDelta(k, a - S * i) * x[k + 5], (k, 0, K - 1))
    assert not prover(shifted, x[a - S * i + 5])
    # the true statements next to them are proved: a witness reads k over exactly 0 … K − 1
    assert prover(sp.Sum(sp.KroneckerDelta(k, a - S * i) * x[k], (k, 0, K - 1)), x[a - S * i])
    assert prover(sp.Sum(sp.KroneckerDelta(k, a - S * i) * x[k + 5], (k, -5, K - 6)), x[a - S * i + 5])


def test_a_delta_whose_value_always_lies_in_the_range_is_contracted_exactly():
    S = sp.Symbol("S", integer=True, positive=True)
    m = sp.Symbol("m", integer=True)
    inside = sp.Sum(sp.KroneckerDelta(m, S * i) * x[m], (m, 0, S * (n - 1)), (i, 0, n - 1))
    (t,) = contract_deltas(multiply_out(inside))
    assert not t.factor.has(sp.KroneckerDelta)
    beyond = sp.Sum(sp.KroneckerDelta(m, S * i) * x[m], (m, 0, S * (n - 2)), (i, 0, n - 1))
    (u,) = contract_deltas(multiply_out(beyond))
    assert u.factor.has(sp.KroneckerDelta)


# sum_constants --------------------------------------------------------------------------------

def test_sums_of_constants_are_counted():
    assert sp.simplify(sp.Sum(1, (j, 1, N))) != N  # SymPy leaves it as a sum
    (t,) = sum_constants(multiply_out(sp.Sum(1, (j, 1, N))))
    assert t.coeff * t.factor == N and t.limits == ()
    (u,) = sum_constants(multiply_out(sp.Sum(x[i], (j, a, b))))
    assert sp.expand(u.coeff * u.factor - (b - a + 1) * x[i]) == 0


# collect and canonical names ------------------------------------------------------------------

def test_sums_that_differ_only_in_dummy_names_cancel():
    assert sp.Sum(x[i], (i, 1, n)) - sp.Sum(x[j], (j, 1, n)) != 0  # SymPy does not see it
    assert normalize(sp.Sum(x[i], (i, 1, n)) - sp.Sum(x[j], (j, 1, n))) == ()


def test_like_terms_are_added_and_zeros_dropped():
    (t,) = normalize(sp.Sum(x[k], (k, 1, n)) + 2 * sp.Sum(x[l], (l, 1, n)))
    assert t.coeff == 3
    assert normalize(sp.Sum(x[k], (k, 1, n)) - sp.Sum(x[k], (k, 1, N))) != ()


def test_canonical_names_do_not_depend_on_the_order_of_limits_with_different_ranges():
    first = sp.Sum(x[m, c, l, k] * y[m, c, l, k], (k, 1, W), (l, 1, H), (m, 1, N))
    second = sp.Sum(x[m, c, k, l] * y[m, c, k, l], (l, 1, W), (k, 1, H), (m, 1, N))
    third = sp.Sum(x[k, c, l, m] * y[k, c, l, m], (l, 1, H), (m, 1, W), (k, 1, N))
    assert normalize(first) == normalize(second) == normalize(third)
    assert normalize(first - second) == ()
    swapped = sp.Sum(x[m, c, l, k] * y[m, c, l, k], (k, 1, H), (l, 1, W), (m, 1, N))
    assert normalize(first - swapped) != ()
    limits = [(k, 1, W), (l, 1, H), (m, 1, N)]
    forms = {normalize(sp.Sum(x[m, c, l, k] * y[l, k], *order)) for order in itertools.permutations(limits)}
    assert len(forms) == 1


def test_canonical_nested_sums_lets_equal_atoms_collect():
    first = 1 / sp.sqrt(sp.Sum(x[k, j] ** 2, (k, 1, n)))
    second = 1 / sp.sqrt(sp.Sum(x[l, j] ** 2, (l, 1, n)))
    terms = [Term(1, y[j] * first), Term(-1, y[j] * second)]
    assert len(collect(terms)) == 2
    assert collect(canonical_nested_sums(terms)) == ()


# rename_bound ---------------------------------------------------------------------------------

def test_atoms_that_differ_only_in_bound_names_become_identical():
    first = 1 / sp.sqrt(sp.Sum(x[k, j] ** 2, (k, 1, n)))
    second = 1 / sp.sqrt(sp.Sum(x[l, j] ** 2, (l, 1, n)))
    assert first != second
    assert rename_bound(first) == rename_bound(second)
    assert normalize(x[i, j] * first - x[i, j] * second, nested_sums=True) == ()
    assert rename_bound(first) != rename_bound(1 / sp.sqrt(sp.Sum(x[k, i] ** 2, (k, 1, n))))


def test_nested_and_shadowing_sums_are_renamed_consistently():
    shadowing = sp.Sum((x[k] - sp.Sum(x[k], (k, 1, n)) / n) ** 2, (k, 1, n))
    plain = sp.Sum((x[l] - sp.Sum(x[m], (m, 1, n)) / n) ** 2, (l, 1, n))
    assert rename_bound(shadowing) == rename_bound(plain)
    free_and_bound = x[k] * sp.Sum(x[k], (k, 1, n))
    assert rename_bound(free_and_bound).has(x[k])  # the free k stays free


# abbreviate -----------------------------------------------------------------------------------

def test_powers_of_a_defined_root_become_powers_of_its_name():
    var = sp.Sum(x[k, j] ** 2, (k, 1, n)) / n
    eps = sp.Symbol("epsilon", positive=True)
    written = multiply_out(y[i, b] * (sp.Sum(x[l, b] ** 2, (l, 1, n)) / n + eps) ** sp.Rational(-3, 2))
    (t,) = abbreviate(written, s[j], sp.sqrt(var + eps))
    assert t.factor == y[i, b] / s[b] ** 3
    untouched = multiply_out(y[i, b] / sp.sqrt(sp.Sum(x[l, b] ** 3, (l, 1, n)) / n + eps))
    assert abbreviate(untouched, s[j], sp.sqrt(var + eps)) == untouched


def test_abbreviate_also_names_plain_expressions():
    (t,) = abbreviate(multiply_out(x[i] * (mu[b] + 1) ** -2), s[j], mu[j] + 1)
    assert t.factor == x[i] / s[b] ** 2


# zero sums ------------------------------------------------------------------------------------

def test_a_declared_zero_sum_removes_the_terms_it_covers_and_no_others():
    identity = ZeroSum(z, 0, 1, n)
    kept = sp.Sum(z[k, j] ** 2, (k, 1, n)) + sp.Sum(z[k, j] * y[k, j], (k, 1, n)) + sp.Sum(z[k, j], (k, 1, N))
    gone = y[i, j] * sp.Sum(z[k, j], (k, 1, n)) + sp.Sum(z[k, j] * y[l, j], (k, 1, n), (l, 1, n))
    assert apply_zero_sums(multiply_out(gone), [identity]) == ()
    assert len(apply_zero_sums(multiply_out(kept), [identity])) == 3


def test_a_zero_sum_over_several_axes_needs_all_of_them():
    identity = ZeroSum(z, (0, 2, 3), (1, 1, 1), (N, H, W))
    full = sp.Sum(z[m, c, k, l], (l, 1, W), (k, 1, H), (m, 1, N))
    partial = sp.Sum(z[m, c, k, l], (k, 1, H), (m, 1, N)) * y[l]
    assert apply_zero_sums(multiply_out(full), [identity]) == ()
    assert len(apply_zero_sums(multiply_out(partial), [identity])) == 1
    statement = identity.assumption("centered", "mean zero").statement
    assert isinstance(statement.lhs, sp.Sum) and len(statement.lhs.limits) == 3


def test_a_zero_sum_needs_one_range_per_axis():
    with pytest.raises(LayergradError, match="one \\(lo, hi\\) range per summed axis"):
        _ = ZeroSum(z, (0, 1), (1,), (n,)).ranges


# substitute -----------------------------------------------------------------------------------

def test_substituting_the_centered_input_and_the_zero_sum_leave_the_mean():
    centered = Assumption("centered input", sp.Eq(x[i, j], s[j] * z[i, j] + mu[j]), "X = sZ + μ")
    terms = substitute(multiply_out(sp.Sum(x[k, j], (k, 1, n))), [centered])
    terms = collect(apply_zero_sums(sum_constants(terms), [ZeroSum(z, 0, 1, n)]))
    assert to_expr(terms) == n * mu[j]


# bernoulli_mean -------------------------------------------------------------------------------

def test_bernoulli_moments_of_one_and_two_mask_entries():
    (t,) = collect(bernoulli_mean(multiply_out(mask[a] ** 2 * x[a]), mask, p))
    assert t.coeff * t.factor == p * x[a]
    two = to_expr(collect(bernoulli_mean(multiply_out(mask[a] * mask[b]), mask, p)))
    assert sp.expand(two - (p**2 + p * (1 - p) * sp.KroneckerDelta(a, b))) == 0
    assert same(Mean(sp.Sum(mask[k] * x[k], (k, 1, n)), mask, p), p * sp.Sum(x[k], (k, 1, n)))


# to_expr --------------------------------------------------------------------------------------

def test_separable_sums_split_into_products_and_names_clash_with_nothing():
    terms = multiply_out(sp.Sum(x[k] * y[l], (k, 1, n), (l, 1, n)) * z[k])
    expr = to_expr(collect(terms))
    assert expr.count(sp.Sum) == 2 and isinstance(expr, sp.Mul)
    sums = [f for f in expr.args if isinstance(f, sp.Sum)]
    assert all(f.limits[0][0] != k for f in sums)  # k is taken by the free z[k]
    assert to_expr(collect(terms), split=False).count(sp.Sum) == 1


def test_sums_inside_atoms_get_short_display_names():
    atom = 1 / sp.sqrt(sp.Sum(x[k, j] ** 2, (k, 1, n)))
    shown = to_expr(collect(multiply_out(sp.Sum(y[l, j], (l, 1, n)) * atom)))
    names = {lim[0].name for su in shown.atoms(sp.Sum) for lim in su.limits}
    assert not any(name.startswith("_") for name in names) and len(names) == 2


# index_prover ---------------------------------------------------------------------------------

def test_the_prover_accepts_true_steps_and_refuses_false_ones():
    prover = index_prover()
    d = Derivation("square of a sum", sp.Sum(x[k], (k, 1, n)) ** 2, [IN_RANGE])
    d.step(sp.Sum(x[k] * x[l], (k, 1, n), (l, 1, n)), "multiply out", "double sum", by=prover)
    with pytest.raises(LayergradError, match="not proven"):
        d.step(sp.Sum(x[k] ** 2, (k, 1, n)), "drop the cross terms", "wrong", by=prover)
    assert d.verify() == []


def test_the_prover_uses_declared_zero_sums_only_when_given():
    identity = ZeroSum(z, 0, 1, n)
    before, after = y[i] + sp.Sum(z[k, j], (k, 1, n)), y[i]
    assert not index_prover()(before, after)
    assert index_prover(zero_sums=[identity])(before, after)


def test_rename_bound_tells_a_bound_variable_from_the_same_name_free():
    x, y = sp.IndexedBase("x"), sp.IndexedBase("y")
    k, m = sp.symbols("k m", integer=True)
    s0, s1 = sp.Symbol("_s0_0", integer=True), sp.Symbol("_s1_0", integer=True)
    assert rename_bound(x[k] + sp.Sum(x[k], (k, 0, N - 1))) == x[k] + sp.Sum(x[s0], (s0, 0, N - 1))
    nested = sp.Sum(x[k] * sp.Sum(y[k] * x[m], (k, 0, N - 1)), (k, 0, N - 1))  # the inner sum rebinds k
    assert rename_bound(nested) == sp.Sum(x[s0] * sp.Sum(y[s1] * x[m], (s1, 0, N - 1)), (s0, 0, N - 1))


def test_chained_deltas_contract_as_one_renaming_at_a_time_would():
    f = sp.IndexedBase("f")
    a, b, c = (sp.Dummy(name, integer=True) for name in "abc")
    i = sp.Symbol("i", integer=True)
    term = Term(sp.S.One, sp.KroneckerDelta(a, i) * sp.KroneckerDelta(b, a) * sp.KroneckerDelta(c, b) * f[a, b, c],
                ((a, sp.S.Zero, N - 1), (b, sp.S.Zero, N - 1), (c, sp.S.Zero, N - 1)))
    assert contract_deltas([term]) == (Term(sp.S.One, f[i, i, i], ()),)
    # a delta decided 0 on the way (two different numbers): the term as one renaming at a time leaves it
    zero = Term(sp.S.One, sp.KroneckerDelta(a, 0) * sp.KroneckerDelta(a, 1) * f[a, b, c], ((a, sp.S.Zero, N - 1),))
    assert contract_deltas([zero]) == (Term(sp.S.One, sp.S.Zero, ()),)


def test_canonical_inner_names_give_the_same_normal_form():
    x = sp.IndexedBase("x")
    k, j = sp.symbols("k j", integer=True)
    root = sp.sqrt(sp.Sum(x[k] ** 2, (k, 0, N - 1)))
    expr = sp.Derivative(sp.Sum(x[j] / root, (j, 0, N - 1)), x[n])
    plain = collect(canonical_nested_sums(sum_constants(contract_deltas(multiply_out(expr)))))
    assert normalize(expr, nested_sums=True) == plain
    assert normalize(expr - to_expr(plain), nested_sums=True) == ()


def test_a_zero_sum_identity_is_a_side_condition_the_derivation_declares():
    z = sp.IndexedBase("z")
    k = sp.Symbol("k", integer=True)
    identity = ZeroSum(z, 0, sp.S.Zero, N - 1)
    prover = index_prover(zero_sums=[identity])
    assert prover.uses == (IN_RANGE.name, "Σ z = 0")
    declared = identity.assumption("Σ z = 0", "z is centred")
    d = Derivation("uses the identity", 3 + sp.Sum(z[k], (k, 0, N - 1)), [IN_RANGE, declared])
    d.step(sp.Integer(3), "apply Σ z = 0", "the sum vanishes", by=prover)
    assert d.justification(1) == ("prover", prover.name, (IN_RANGE.name, "Σ z = 0"))
    bare = Derivation("does not declare it", 3 + sp.Sum(z[k], (k, 0, N - 1)), [IN_RANGE])
    with pytest.raises(LayergradError, match="Σ z = 0"):
        bare.step(sp.Integer(3), "apply Σ z = 0", "the sum vanishes", by=prover)
