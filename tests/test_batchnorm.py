"""Batch normalization and its family: each derived result against the formula it must equal."""

import json

import pytest
import sympy as sp

from derive import LayergradError
from derive import batchnorm as bn
from derive.graph import Adjoint
from derive.index import index_prover
from derive.prose import prose_text
from derive.render import md_prose, render, tex_prose

A = bn.arrays()
X, Z, S, GAMMA = A["X"], A["Z"], A["s"], A["gamma"]
dY = Adjoint(A["Y"].label)
k, l, m = sp.symbols("k l m", integer=True)


def sizes(f):
    return {a.index.name: a.size for a in f.axes}


@pytest.mark.parametrize("name", list(bn.FAMILIES))
def test_every_derivation_rechecks_and_renders(name):
    for d in bn.derivations(name):
        assert d.steps and d.verify() == [], d.title
        rule = d.steps[-1].rule
        for fmt, typeset in (("text", prose_text), ("latex", tex_prose), ("markdown", md_prose)):
            assert typeset(rule) in render(d, fmt)


def test_batchnorm_closed_form_is_the_notebooks_formula():
    f = bn.BATCHNORM
    i, j = f.layout
    n = sizes(f)["i"]
    d = bn.closed_form(f)
    target = GAMMA[j] / (n * S[j]) * (
        n * dY[i, j] - sp.Sum(dY[k, j], (k, 1, n)) - Z[i, j] * sp.Sum(dY[k, j] * Z[k, j], (k, 1, n))
    )
    assert d.proves(target, by=index_prover())
    without_projection = GAMMA[j] / (n * S[j]) * (n * dY[i, j] - sp.Sum(dY[k, j], (k, 1, n)))
    assert not d.proves(without_projection, by=index_prover())


def test_the_closed_form_is_recovered_by_named_rules_with_declared_assumptions():
    d = bn.closed_form(bn.BATCHNORM)
    rules = [s.rule for s in d.steps]
    for rule in ("differentiate term by term", "Kronecker delta", "name the square root",
                 "substitute the centered input", "apply Σ Z = 0", "factor"):
        assert rule in rules
    assert all(s.proof.startswith("proved") for s in d.steps[1:])
    names = {a.name for a in d.assumptions}
    assert {"ε positive", "Σ Z = 0", "free indices in range", "biased variance"} <= names
    assert not d.result.has(X)  # centered form: no raw input left


def test_the_staged_gradients_of_gamma_and_beta():
    f = bn.BATCHNORM
    _, j = f.layout
    n = sizes(f)["i"]
    by_title = {d.title.split("∂L/∂")[1].split(" ")[0]: d for d in bn.staged(f)}
    assert by_title["γ"].proves(sp.Sum(dY[k, j] * Z[k, j], (k, 1, n)), by=index_prover())
    assert by_title["β"].proves(sp.Sum(dY[k, j], (k, 1, n)), by=index_prover())
    assert "(3 branches)" in by_title["X"].title and "(2 branches)" in by_title["μ"].title


def test_layernorm_keeps_gamma_inside_its_sums():
    f = bn.LAYERNORM
    i, j = f.layout
    d_ = sizes(f)["j"]
    target = (d_ * GAMMA[j] * dY[i, j] - sp.Sum(GAMMA[k] * dY[i, k], (k, 1, d_))
              - Z[i, j] * sp.Sum(GAMMA[k] * dY[i, k] * Z[i, k], (k, 1, d_))) / (d_ * S[i])
    assert bn.closed_form(f).proves(target, by=index_prover())


def test_spatial_batchnorm_reduces_over_n_h_w():
    f = bn.SPATIAL_BATCHNORM
    n, c, h, w = f.layout
    N, H, W = (sizes(f)[x] for x in "nhw")
    total = sp.Sum(dY[k, c, l, m], (m, 1, W), (l, 1, H), (k, 1, N))
    projection = sp.Sum(dY[k, c, l, m] * Z[k, c, l, m], (m, 1, W), (l, 1, H), (k, 1, N))
    target = GAMMA[c] / (N * H * W * S[c]) * (N * H * W * dY[n, c, h, w] - total - Z[n, c, h, w] * projection)
    assert bn.closed_form(f).proves(target, by=index_prover())


def test_groupnorm_reduces_over_the_channels_of_a_group():
    f = bn.GROUPNORM
    n, g, c, h, w = f.layout
    K, H, W = (sizes(f)[x] for x in "chw")
    total = sp.Sum(GAMMA[g, k] * dY[n, g, k, l, m], (m, 1, W), (l, 1, H), (k, 1, K))
    projection = sp.Sum(GAMMA[g, k] * dY[n, g, k, l, m] * Z[n, g, k, l, m], (m, 1, W), (l, 1, H), (k, 1, K))
    target = (K * H * W * GAMMA[g, c] * dY[n, g, c, h, w] - total - Z[n, g, c, h, w] * projection) / (
        K * H * W * S[n, g])
    assert bn.closed_form(f).proves(target, by=index_prover())
    assert "groups" in {a.name for a in bn.forward(f).assumptions}


@pytest.mark.parametrize("name", list(bn.FAMILIES))
def test_staged_and_closed_forms_are_proved_equal(name):
    f = bn.family(name)
    proof = bn.equivalence(f)
    assert proof.start == next(d for d in bn.staged(f) if "∂L/∂X" in d.title).result
    assert proof.result == bn.closed_form(f).result
    assert proof.steps[-1].proof.startswith("proved")


def test_the_computational_graph_is_the_notebooks():
    g = bn.graph(bn.BATCHNORM)
    roles = {n.name: g.role(n.name) for n in g.nodes}
    assert roles == {"X": "input", "gamma": "input", "beta": "input", "mu": "intermediate",
                     "var": "intermediate", "Z": "intermediate", "Y": "output"}
    assert set(g.edges) == {("X", "mu"), ("X", "var"), ("mu", "var"), ("X", "Z"), ("mu", "Z"),
                            ("var", "Z"), ("Z", "Y"), ("gamma", "Y"), ("beta", "Y")}
    data = json.loads(g.to_json())
    assert [node["label"] for node in data["nodes"]] == ["X", "γ", "β", "μ", "σ²", "Z", "Y"]
    assert data["nodes"][3]["definition_latex"] == r"\mu_{j} = \frac{\sum_{k=1}^{n} X_{kj}}{n}"


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_elementwise_sympy_agrees_with_the_closed_form(n):
    d = bn.crosscheck(n)
    assert d.verify() == [] and [s.rule for s in d.steps][-1] == f"closed form at n = {n}"
    for wrt in ("gamma", "beta"):
        d = bn.crosscheck(n, wrt)
        assert d.verify() == [] and [s.rule for s in d.steps][-1] == f"staged result at n = {n}"


def test_test_mode_backward_scales_by_the_running_variance():
    f = bn.BATCHNORM
    i, j = f.layout
    eps, v = bn.EPS, A["running_var"]
    assert bn.test_mode(f).proves(GAMMA[j] * dY[i, j] / sp.sqrt(v[j] + eps), by=index_prover())


def test_bad_requests_are_clear_errors():
    with pytest.raises(LayergradError, match="unknown normalization 'instancenorm'"):
        bn.family("instancenorm")
    with pytest.raises(LayergradError, match="no test mode"):
        bn.test_mode(bn.LAYERNORM)
    with pytest.raises(LayergradError, match="integer n ≥ 2"):
        bn.crosscheck(1)
    with pytest.raises(LayergradError, match="for X, gamma or beta"):
        bn.crosscheck(2, "mu")
