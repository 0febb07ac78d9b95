"""Normal-form index expressions printed as NumPy programs with hoisted reductions."""

import numpy as np
import pytest
import sympy as sp

from derive import LayergradError
from numeric.codegen.lowering import Grid, Program

i, j, k, l = sp.symbols("i j k l", integer=True)
n, d = sp.symbols("n d", integer=True, positive=True)
X, Z, G, S, GAMMA = (sp.IndexedBase(name) for name in ("X", "Z", "G", "S", "gamma"))
GRID = Grid((i, j), {X: ("x", (i, j)), Z: ("z", (i, j)), G: ("g", (i, j)), S: ("s", (j,)),
                     GAMMA: ("gamma", (i,))}, {n: "n"})


def run(program: Program, **arrays) -> dict:
    scope = {"np": np, **arrays}
    exec(compile("\n".join(program.lines), "<program>", "exec"), scope)
    return scope


def test_reductions_are_hoisted_and_shared_between_assignments():
    program = Program(GRID)
    total = sp.Sum(G[k, j], (k, 1, n))
    program.assign("a", G[i, j] / S[j] - total / (n * S[j]))
    program.assign("b", sp.Sum(G[l, j], (l, 1, n)))  # the same sum under another name
    assert sum("g.sum(axis=0, keepdims=True)" in line for line in program.lines) == 1
    rng = np.random.default_rng(0)
    g, s = rng.standard_normal((4, 3)), rng.random((1, 3)) + 1
    out = run(program, g=g, s=s, n=4)
    assert np.allclose(out["a"], (g - g.mean(axis=0)) / s) and np.allclose(out["b"], g.sum(axis=0))


def test_a_contraction_is_one_einsum_kept_on_the_grid():
    program = Program(GRID)
    program.assign("c", Z[i, j] * sp.Sum(G[k, j] * Z[k, j], (k, 1, n)))
    assert any("np.einsum('kj,kj->j', g, z)" in line for line in program.lines)
    rng = np.random.default_rng(1)
    g, z = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    assert np.allclose(run(program, g=g, z=z)["c"], z * (g * z).sum(axis=0))


def test_terms_are_grouped_by_their_full_size_factors():
    program = Program(GRID)
    expr = GAMMA[i] * G[i, j] / S[j] + 3 * GAMMA[i] * G[i, j] - Z[i, j] * S[j] + S[j] ** 2
    program.assign("y", expr)
    assert program.lines[-2:] == ["y = g*c0 + c1", "y -= z*s"]  # each full-size array read once
    rng = np.random.default_rng(2)
    g, z, s, gamma = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), rng.random((1, 2)) + 1, \
        rng.standard_normal((3, 1))
    want = gamma * g / s + 3 * gamma * g - z * s + s**2
    assert np.allclose(run(program, g=g, z=z, s=s, gamma=gamma)["y"], want)


def test_what_cannot_be_vectorized_is_refused():
    with pytest.raises(LayergradError, match="only products of array entries"):
        Program(GRID).assign("bad", sp.Sum(sp.exp(X[k, j]), (k, 1, n)))
    with pytest.raises(LayergradError, match="not on the grid"):
        Program(GRID).assign("bad", sp.Sum(X[j, k], (k, 1, d)))
    with pytest.raises(LayergradError, match="identically zero"):
        Program(GRID).assign("zero", X[i, j] - X[i, j])
