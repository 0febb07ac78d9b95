"""Normal-form index expressions (Lowering.collect) printed as NumPy with hoisted reductions."""

import numpy as np
import pytest
import sympy as sp

from derive import LayergradError
from numeric.codegen.lowering import Lowering

i, j, k, l = sp.symbols("i j k l", integer=True)
n, d = sp.symbols("n d", integer=True, positive=True)
X, Z, G, S, GAMMA = (sp.IndexedBase(name) for name in ("X", "Z", "G", "S", "gamma"))
NAMES = {X: "x", Z: "z", G: "g", S: "s", GAMMA: "gamma", n: "n", d: "d"}


def lowering() -> Lowering:
    return Lowering({i: n, j: d}, NAMES)


def run(program: Lowering, **arrays) -> dict:
    scope = {"np": np, **arrays}
    exec(compile("\n".join(program.lines), "<program>", "exec"), scope)
    return scope


def test_reductions_are_hoisted_and_shared_between_assignments():
    program = lowering()
    total = sp.Sum(G[k, j], (k, 1, n))
    program.collect("a", G[i, j] / S[j] - total / (n * S[j]), (i, j))
    program.collect("b", sp.Sum(G[l, j], (l, 1, n)), (j,))  # the same sum under another name
    assert sum("g.sum(axis=0)" in line for line in program.lines) == 1
    rng = np.random.default_rng(0)
    g, s = rng.standard_normal((4, 3)), rng.random(3) + 1
    out = run(program, g=g, s=s, n=4)
    assert np.allclose(out["a"], (g - g.mean(axis=0)) / s) and np.allclose(out["b"], g.sum(axis=0))


def test_a_contraction_is_one_einsum_and_a_square_no_array_of_squares():
    program = lowering()
    program.collect("c", Z[i, j] * sp.Sum(G[k, j] * Z[k, j], (k, 1, n)), (i, j))
    program.collect("q", sp.Sum(Z[k, j] ** 2, (k, 1, n)), (j,))
    assert any("np.einsum('aj,aj->j', g, z)" in line for line in program.lines)
    assert any("np.einsum('aj,aj->j', z, z)" in line for line in program.lines)
    assert not any("square" in line or "**" in line for line in program.lines)
    rng = np.random.default_rng(1)
    g, z = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    out = run(program, g=g, z=z)
    assert np.allclose(out["c"], z * (g * z).sum(axis=0)) and np.allclose(out["q"], (z * z).sum(axis=0))


def test_terms_are_grouped_by_their_full_size_factors():
    program = lowering()
    expr = GAMMA[i] * G[i, j] / S[j] + 3 * GAMMA[i] * G[i, j] - Z[i, j] * S[j] + S[j] ** 2
    program.collect("y", expr, (i, j))
    assert program.lines[-2:] == ["y = g*_c0 + _c1", "y -= z*s"]  # each full-size array read once
    rng = np.random.default_rng(2)
    g, z, s, gamma = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), rng.random(2) + 1, \
        rng.standard_normal(3)
    want = gamma[:, None] * g / s + 3 * gamma[:, None] * g - z * s + s**2
    assert np.allclose(run(program, g=g, z=z, s=s, gamma=gamma)["y"], want)


def test_float32_sums_add_up_in_the_wide_dtype():
    program = Lowering({i: n, j: d}, NAMES, accumulate=("wide", "dtype"))
    program.collect("m", sp.Sum(X[k, j], (k, 1, n)) / n, (j,))
    x = np.full((1_000_000, 2), 0.1, dtype=np.float32)  # summed along the non-contiguous axis: row by row
    out = run(program, x=x, n=len(x), wide=np.float64, dtype=np.float32)
    assert out["m"].dtype == np.float32 and abs(float(out["m"][0]) - 0.1) < 1e-7
    assert abs(float(x.sum(axis=0)[0] / len(x)) - 0.1) > 1e-4  # what a float32 sum would give


def test_what_cannot_be_vectorized_is_refused():
    with pytest.raises(LayergradError, match="only products of array entries"):
        lowering().collect("bad", sp.Sum(sp.exp(X[k, j]), (k, 1, n)), (j,))
    with pytest.raises(LayergradError, match="identically zero"):
        lowering().collect("zero", X[i, j] - X[i, j], (i, j))


def test_a_contraction_with_a_vector_is_a_matrix_vector_product():
    program = lowering()
    program.collect("v", sp.Sum(S[l] * G[i, l], (l, 1, d)), (i,))
    program.collect("w", sp.Sum(S[l] * G[i, l] * Z[i, l], (l, 1, d)), (i,))  # no product array: einsum
    assert "v = g.dot(s)" in program.lines and any(line.startswith("w = np.einsum(") for line in program.lines)
    rng = np.random.default_rng(3)
    g, z, s = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    out = run(program, g=g, z=z, s=s)
    assert np.allclose(out["v"], (g * s).sum(axis=1)) and np.allclose(out["w"], (g * z * s).sum(axis=1))
