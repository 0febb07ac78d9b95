"""The mutation audit: every step justified by a prover or an equation, every mutant refused.

The suite audits a representative subset (one derivation of each kind of step: an equation, the
index engine, the engine with zero outside the arrays, matrix form, the staged chain rule);
``layergrad derive --audit`` audits every shipped derivation of every layer."""

import pytest
import sympy as sp

from derive import LayergradError, affine, batchnorm, conv, dropout, pool, relu
from derive.audit import audit, mutate, summary
from derive.derivation import Derivation
from derive.registry import LAYERS

SUBSET = {
    "affine ∂L/∂W": lambda: affine.backward("W"),
    "relu backward": relu.backward,
    "dropout backward": lambda: dropout.backward("inverted", "keep"),
    "maxpool backward": pool.backward,
    "conv dxpad (d = 1)": lambda: conv.backward_xpad(False),
    "layernorm ∂L/∂γ": lambda: batchnorm.stage(batchnorm.LAYERNORM, "gamma"),
}


@pytest.mark.parametrize("name", list(SUBSET))
def test_every_step_is_justified_and_every_mutant_refused(name):
    report = audit(SUBSET[name]())
    totals = summary([report])
    assert totals["bare"] == 0 and totals["survived"] == 0, [s.line() for s in report.steps]
    assert totals["mutants"] >= 2 * totals["steps"]  # most steps give several real mutants


def test_every_registered_assumption_says_something():
    for entry in LAYERS.values():
        for d in entry.derivations():
            for a in d.assumptions:
                assert a.statement not in (sp.true, sp.false), (entry.name, d.title, a.name)
                assert not isinstance(a.statement, sp.logic.boolalg.BooleanAtom)


def test_no_registered_step_rests_on_a_bare_assumption():
    for entry in LAYERS.values():
        for d in entry.derivations():
            for number in range(1, len(d.steps) + 1):
                kind, by, _ = d.justification(number)
                assert kind == "prover" or d.assumption(by).is_equation, (d.title, number)


def test_layernorm_gamma_chain_rule_sabotaged_does_not_build():
    honest = batchnorm.stage(batchnorm.LAYERNORM, "gamma")
    sabotaged = Derivation(honest.title, honest.start, honest.assumptions)
    with pytest.raises(LayergradError, match="does not follow from the equation 'chain rule'"):
        sabotaged.step(-2 * honest.steps[0].after, "chain rule", "sabotaged")
    assert not honest.accepts(1, -2 * honest.steps[0].after)


def test_mutations_are_what_they_say():
    x, y = sp.IndexedBase("x"), sp.IndexedBase("y")
    i, j = sp.symbols("i j", integer=True)
    m = mutate(x[i, j] + y[j])
    assert m["sign"] == -(x[i, j] + y[j]) and m["factor 2"] == 2 * (x[i, j] + y[j])
    assert m["swap"] == x[j, i] + y[j] and m["drop term"] in (x[i, j], y[j])
    nothing = mutate(sp.S.Zero)
    assert all(v is None for v in nothing.values())


def test_the_command_prints_the_audit_and_fails_on_a_survivor(capsys, monkeypatch):
    from derive import audit as audit_module
    from layergrad.cli import main

    assert main(["derive", "relu", "--audit"]) == 0
    out = capsys.readouterr().out
    assert "0 on a bare assumption" in out and "0 survived" in out and "(100 %)" in out
    assert "prover: index normal form (side conditions: free indices in range)" in out
    monkeypatch.setattr(audit_module.Derivation, "accepts", lambda self, number, after: True)
    assert main(["derive", "relu", "--audit"]) == 1
    assert "SURVIVED" in capsys.readouterr().out


# -- the closed form of a defined normalizing layer, where the prover takes its shortcuts ---------

def _closed_form(path: str) -> Derivation:
    from pathlib import Path

    from derive.define import define
    from derive.defined import derive

    layers = Path(__file__).resolve().parent.parent / "examples" / "layers"
    return derive(define(layers / path)).closed_forms["X"]


def test_every_mutant_of_a_defined_closed_form_is_refused():
    d = _closed_form("builtin/batchnorm.toml")
    report = audit(d)
    assert [s.rule for s in d.steps][-4:] == ["name the square root", "substitute the centered input",
                                              "apply Σ x̂ = 0", "factor"]
    totals = summary([report])
    assert report.passed and totals["bare"] == 0 and totals["mutants"] >= 3 * totals["steps"]


def test_a_closed_form_step_equal_only_up_to_a_free_index_is_refused():
    # the steps equal to the one before up to the names of bound variables ("forward pass",
    # "name the square root") are accepted without normalizing: a renamed free index is not bound
    d = _closed_form("builtin/batchnorm.toml")
    for number, rule in enumerate((s.rule for s in d.steps), start=1):
        if rule not in ("forward pass", "name the square root"):
            continue
        after = d.steps[number - 1].after
        assert d.accepts(number, after)
        n, k = sp.Symbol("n", integer=True), sp.Symbol("k", integer=True)
        assert not d.accepts(number, after.xreplace({n: k}))  # a free index renamed: another entry
        outer = next(s for s in sp.preorder_traversal(after) if isinstance(s, sp.Sum))
        bound = outer.limits[0][0]
        renamed = after.xreplace({outer: outer.xreplace({bound: sp.Symbol("q", integer=True)})})
        assert renamed != after and d.accepts(number, renamed)  # a bound variable's name changes nothing
        free = after.xreplace({outer: sp.Sum(outer.function.xreplace({bound: n}), *outer.limits)})
        assert not d.accepts(number, free)  # the summand reads the free n: N times one entry


def test_a_wrong_closed_form_result_does_not_build():
    from derive.errors import LayergradError as Error

    d = _closed_form("builtin/layernorm.toml")
    wrong = Derivation(d.title, d.start, d.assumptions, list(d.steps[:-1]))
    with pytest.raises(Error, match="not proven"):
        wrong.step(2 * d.result, "factor", "take out the common factor", by=d.steps[-1].prover)
    wrong.step(d.result, "factor", "take out the common factor", by=d.steps[-1].prover)
    assert wrong.result == d.result and not wrong.verify()
