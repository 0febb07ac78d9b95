"""The derivation core: steps are checked when built, re-checked by verify, rendered."""

import pytest
import sympy as sp

from derive import Assumption, Derivation, LayergradError, unfold
from derive.render import render

x, y, a = sp.symbols("x y a", real=True)
f = sp.IndexedBase("f")
i, j = sp.symbols("i j", integer=True)


def test_a_proven_step_is_accepted_and_labelled():
    d = Derivation("square", (x + y) ** 2).step(x**2 + 2 * x * y + y**2, "expand", "binomial formula")
    assert d.result == x**2 + 2 * x * y + y**2
    assert d.steps[0].proof == "proved: SymPy simplify"
    assert d.verify() == []


def test_a_wrong_step_is_refused_when_built():
    d = Derivation("square", (x + y) ** 2)
    with pytest.raises(LayergradError, match="step 1 \\(expand\\) is not proven"):
        d.step(x**2 + y**2, "expand", "forgot the cross term")


def test_a_step_named_after_a_declared_assumption_is_accepted_when_it_follows_from_it():
    positive = Assumption("a is one", sp.Eq(a, 1), "given")
    d = Derivation("use it", a * x, [positive]).step(x, "a is one", "substitute")
    assert d.steps[0].proof == "by its equation" and d.justification(1) == ("equation", "a is one", ())
    assert d.accepts(1, x) and not d.accepts(1, -x) and not d.accepts(1, 2 * x)


def test_a_step_that_does_not_follow_from_its_assumption_is_refused():
    dropped = Assumption("dropped unit", sp.Eq(a, 0), "the mask is 0")
    with pytest.raises(LayergradError, match="does not follow from the equation 'dropped unit'"):
        Derivation("use it", a * x + y, [dropped]).step(42, "dropped unit", "claims anything")
    assert Derivation("use it", a * x + y, [dropped]).step(y, "dropped unit", "substitute").result == y


def test_an_assumption_about_a_function_applies_at_any_argument():
    m = sp.IndexedBase("M")
    kink = Assumption("kink", sp.Eq(sp.Heaviside(m[i]), sp.Heaviside(m[i], 0), evaluate=False), "θ(0) = 0")
    d = Derivation("t", sp.Heaviside(x + 1) * sp.Heaviside(m[j]), [kink])
    d.step(sp.Heaviside(x + 1, 0) * sp.Heaviside(m[j], 0), "kink", "take the subgradient 0")
    with pytest.raises(LayergradError, match="does not follow"):
        Derivation("t", sp.Heaviside(x + 1), [kink]).step(sp.Heaviside(x + 2, 0), "kink", "wrong argument")


def test_an_assumption_that_is_not_an_equation_justifies_no_step():
    through = Assumption("chain rule", sp.Implies(sp.Eq(a, 1), sp.Eq(x, y, evaluate=False)),
                         "L depends on x only through y")
    with pytest.raises(LayergradError, match=r"'chain rule' .* not an equation"):
        Derivation("t", x, [through]).step(y, "chain rule", "given")
    positive = Assumption("a positive", sp.StrictGreaterThan(a, 0, evaluate=False), "given")
    with pytest.raises(LayergradError, match="not an equation"):
        Derivation("t", sp.sqrt(a**2), [positive]).step(a, "a positive", "sqrt(a²) = a")
    d = Derivation("t", x, [positive]).step(x + 0 * y, "tidy", "nothing changes")
    d.steps[0] = d.steps[0].__class__(x, y, "a positive", "tampered", "by its equation")
    assert d.verify() == [1] and not d.accepts(1, y)


def test_an_assumption_that_evaluates_to_true_or_false_is_refused():
    for statement in (sp.true, sp.Eq(x, x), sp.Eq(sp.Integer(1), 2)):
        with pytest.raises(LayergradError, match="evaluated to"):
            Assumption("empty", statement, "says nothing")


def test_a_prover_with_undeclared_side_conditions_is_refused():
    from derive.derivation import Prover

    relies = Prover("needs a premise", lambda before, after, unfold: True, ("premise",))
    with pytest.raises(LayergradError, match="relies on 'premise'"):
        Derivation("t", x).step(y, "anything", "claimed", by=relies)
    premise = Assumption("premise", sp.StrictGreaterThan(a, 0, evaluate=False), "given")
    d = Derivation("t", x, [premise]).step(y, "anything", "claimed", by=relies)
    assert d.justification(1) == ("prover", "needs a premise", ("premise",))


def test_undeclared_assumption_is_not_enough():
    with pytest.raises(LayergradError):
        Derivation("use it", a * x).step(x, "a is one", "substitute")


def test_definitions_unfold_at_any_index():
    definition = Assumption("f", sp.Eq(f[i], x * i), "definition", unfold=True)
    assert unfold(f[j] + f[2], [definition]) == x * j + 2 * x
    d = Derivation("f at j", f[j], [definition]).step(x * j, "evaluate f", "unfold the definition")
    assert d.steps[0].proof.startswith("proved")


def test_cyclic_definitions_are_reported():
    cycle = [
        Assumption("x", sp.Eq(x, y + 1), "", unfold=True),
        Assumption("y", sp.Eq(y, x + 1), "", unfold=True),
    ]
    with pytest.raises(LayergradError, match="cycle"):
        unfold(x, cycle)


def test_verify_finds_a_tampered_step():
    d = Derivation("double", 2 * x).step(x + x, "split", "2x = x + x").step(x + x, "again", "same")
    assert d.verify() == []
    d.steps[1] = d.steps[1].__class__(d.steps[1].before, 3 * x, "again", "tampered", d.steps[1].proof,
                                      d.steps[1].prover)
    assert d.verify() == [2]


def test_proves_compares_the_result_with_a_target():
    d = Derivation("d/dx", sp.Derivative(x**3, x)).step(3 * x**2, "power rule", "d/dx x^n = n x^(n-1)")
    assert d.proves(3 * x**2)
    assert not d.proves(2 * x**2)


def test_duplicate_assumption_names_are_refused():
    with pytest.raises(LayergradError, match="unique"):
        Derivation("t", x, [Assumption("a", sp.Eq(a, 1), ""), Assumption("a", sp.Eq(a, 2), "")])


def test_renders_every_step_rule_and_assumption_in_every_format():
    given = Assumption("given", sp.Eq(a, 2), "because", unfold=True)
    d = Derivation("Demo", a * x, [given]).step(2 * x, "substitute a", "a = 2").note("Done.")
    text = render(d, "text")
    assert "substitute a" in text and "a = 2" in text and "given" in text and "Done." in text
    latex = render(d, "latex")
    assert r"\begin{align*}" in latex and "substitute a" in latex and "2 x" in latex
    markdown = render(d, "markdown")
    assert markdown.startswith("## Demo") and "$$" in markdown and "**substitute a**" in markdown
    with pytest.raises(LayergradError, match="unknown format 'pdf'"):
        render(d, "pdf")


def test_unfolding_at_an_index_named_like_the_definitions_summation_index_is_not_captured():
    n, k = sp.Symbol("n", integer=True, positive=True), sp.Symbol("k", integer=True)
    g = sp.IndexedBase("g")
    mean = Assumption("mean", sp.Eq(g[i], sp.Sum(f[k] * i, (k, 1, n))), "a sum over its own k", unfold=True)
    unfolded = unfold(g[k], [mean])
    assert unfolded != sp.Sum(f[k] * k, (k, 1, n))  # the capture: the sum's k would take the index
    (bound,) = [lim[0] for lim in unfolded.limits]
    assert bound != k and unfolded.function == f[bound] * k
