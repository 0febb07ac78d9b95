"""Index expressions printed as NumPy: each lowering agrees with a direct evaluation."""

import numpy as np
import pytest
import sympy as sp
from numpy.lib.stride_tricks import sliding_window_view

from derive import LayergradError
from numeric.codegen.windows import Stored, contraction, crop, embed, loop_nest, reduce_sum, scatter_add, window_view

n, f, c, i, j, k, l, a, b, u, v = sp.symbols("n f c i j k l a b u v", integer=True)
S, P, d = sp.symbols("S P d", integer=True, positive=True)
NAMES = {S: "stride", P: "pad", d: "dilation"}
N, F, C, HO, WO, HH, WW, H, W = 2, 3, 4, 3, 2, 2, 3, 5, 4
SIZES = {n: "N", f: "F", c: "C", i: "HO", j: "WO", k: "HH", l: "WW", u: "H", v: "W",
         a: "H + 2*pad", b: "W + 2*pad"}
ENV = {"np": np, "sliding_window_view": sliding_window_view, "N": N, "F": F, "C": C, "HO": HO, "WO": WO,
       "HH": HH, "WW": WW, "H": H, "W": W, "stride": 2, "pad": 1, "dilation": 2}
rng = np.random.default_rng(0)


def run(lines, **arrays):
    scope = {**ENV, **arrays}
    exec("\n".join(lines) if isinstance(lines, list) else lines, scope)
    return scope


def test_contraction_is_one_matmul_on_views_of_the_large_operand():
    cols = rng.standard_normal((N, HO, WO, HH, WW, C))
    w = rng.standard_normal((F, C, HH, WW))
    big = Stored("cols", (n, c, i, j, k, l), (n, i, j, k, l, c), size_rank=2)
    source, layout = contraction(Stored("w", (f, c, k, l)), big, (n, f, i, j), SIZES)
    assert layout == (n, f, i, j) and "cols.reshape(N, HO*WO, HH*WW*C).transpose(0, 2, 1)" in source
    got = run(f"out = {source}", cols=cols, w=w)["out"]
    np.testing.assert_allclose(got, np.einsum("nijklc,fckl->nfij", cols, w))


def test_contraction_orders_output_groups_as_the_large_operand_stores_them():
    dout = rng.standard_normal((N, F, HO, WO))
    cols = rng.standard_normal((N, HO, WO, HH, WW, C))
    big = Stored("cols", (n, c, i, j, k, l), (n, i, j, k, l, c), size_rank=2)
    source, layout = contraction(Stored("dout", (n, f, i, j), size_rank=1), big, (f, c, k, l), SIZES)
    assert layout == (f, k, l, c) and "cols.reshape(N*HO*WO, HH*WW*C)" in source
    got = run(f"dw = {source}", cols=cols, dout=dout)["dw"]
    np.testing.assert_allclose(got, np.einsum("nfij,nijklc->fklc", dout, cols))


def test_contraction_refuses_what_is_not_a_matrix_product():
    with pytest.raises(LayergradError, match="as a matrix multiply"):
        contraction(Stored("p", (n, f)), Stored("q", (n, f)), (n, f), SIZES)


def test_window_view_strided_and_dilated():
    xpad = rng.standard_normal((N, 9, 10, C))
    definition = sp.Eq(sp.IndexedBase("win")[n, c, i, j, k, l],
                       sp.IndexedBase("xpad")[n, c, S * i + d * k, S * j + d * l])
    line, win = window_view("win", definition, Stored("xpad", (n, c, a, b), (n, a, b, c)), (k, l), SIZES, NAMES)
    assert win.layout == (n, i, j, c, k, l) and "::stride, ::stride, :, ::dilation, ::dilation]" in line
    got = run(line, xpad=xpad)["win"]
    for index in [(1, 0, 1, 2, 1, 0), (0, 2, 0, 3, 0, 2)]:
        nn, ii, jj, cc, kk, ll = index
        assert got[index] == xpad[nn, 2 * ii + 2 * kk, 2 * jj + 2 * ll, cc]


def test_scatter_add_is_the_adjoint_of_the_window_view():
    definition = sp.Eq(sp.IndexedBase("win")[n, c, i, j, k, l], sp.IndexedBase("x")[n, c, S * i + d * k, S * j + d * l])
    x = rng.standard_normal((N, C, 2 * (HO - 1) + 2 * (HH - 1) + 1, 2 * (WO - 1) + 2 * (WW - 1) + 1))
    sizes = {**SIZES, a: str(x.shape[2]), b: str(x.shape[3])}
    line, win = window_view("win", definition, Stored("x", (n, c, a, b)), (k, l), sizes, NAMES)
    view = run(line, x=x)["win"][:, :, :HO, :WO]
    g = rng.standard_normal(view.shape)
    deltas = [sp.KroneckerDelta(a, S * i + d * k), sp.KroneckerDelta(b, S * j + d * l)]
    g_stored = Stored("g", win.logical, win.layout)
    lines = ["dx = np.zeros_like(x)", *scatter_add(Stored("dx", (n, c, a, b)), deltas, g_stored, (k, l), sizes, NAMES)]
    dx = run(lines, x=x, g=g)["dx"]
    assert np.isclose(np.sum(dx * x), np.sum(g * view))  # <scatter(g), x> = <g, window(x)>


def test_embed_crop_and_reduce():
    x = rng.standard_normal((N, C, H, W))
    padding = sp.Eq(sp.IndexedBase("xpad")[n, c, a, b], sp.IndexedBase("x")[n, c, a - P, b - P])
    xpad = Stored("xpad", (n, c, a, b), (n, a, b, c))
    lines = embed(xpad, padding, Stored("x", (n, c, u, v)), SIZES, NAMES)
    padded = run(lines, x=x)["xpad"]
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).transpose(0, 2, 3, 1))
    back = crop(Stored("dx", (n, c, u, v)), sp.IndexedBase("xpad")[n, c, u + P, v + P], xpad, SIZES, NAMES)
    np.testing.assert_array_equal(run(f"dx = {back}", xpad=padded)["dx"], x)
    total = reduce_sum(Stored("x", (n, c, u, v)), (n, u, v), (c,))
    np.testing.assert_allclose(run(f"s = {total}", x=x)["s"], x.sum(axis=(0, 2, 3)))


def test_loop_nest_prints_the_sum_and_turns_deltas_into_targets():
    x, w = rng.standard_normal((N, C, H)), rng.standard_normal((F, C, HH))
    out_, x_, w_ = sp.IndexedBase("out"), sp.IndexedBase("x"), sp.IndexedBase("w")
    forward = sp.Sum(x_[n, c, i + k] * w_[f, c, k], (c, 0, C - 1), (k, 0, HH - 1))
    lines = ["out = np.zeros((N, F, HO))", *loop_nest(out_[n, f, i], forward, SIZES, NAMES)]
    assert lines[-1].strip() == "out[n, f, i] += w[f, c, k]*x[n, c, i + k]"
    got = run(lines, x=x, w=w)["out"]
    expected = np.stack([np.einsum("nck,fck->nf", x[:, :, t:t + HH], w) for t in range(HO)], axis=2)
    np.testing.assert_allclose(got, expected)
    g = rng.standard_normal((N, F, HO))
    scatter = sp.Sum(sp.KroneckerDelta(a, i + k) * sp.IndexedBase("g")[n, f, i] * w_[f, c, k],
                     (f, 0, F - 1), (i, 0, HO - 1), (k, 0, HH - 1))
    lines = ["dx = np.zeros((N, C, H))", *loop_nest(sp.IndexedBase("dx")[n, c, a], scatter, SIZES, NAMES)]
    assert "dx[n, c, i + k] +=" in lines[-1] and not any("for a in" in line for line in lines)
    dx = run(lines, g=g, w=w)["dx"]
    assert np.isclose(np.sum(dx * x), np.sum(g * got))


def test_scatter_contraction_equals_the_contraction_then_the_scatter():
    from numeric.codegen.windows import scatter_contraction

    dout = rng.standard_normal((N, F, HO, WO))
    w = rng.standard_normal((F, C, HH, WW))
    sizes = {**SIZES, a: "9", b: "10"}
    deltas = [sp.KroneckerDelta(a, S * i + d * k), sp.KroneckerDelta(b, S * j + d * l)]
    target = Stored("dxpad", (n, c, a, b), (n, a, b, c))
    lines = ["dxpad = np.zeros((N, 9, 10, C))", *scatter_contraction(
        target, deltas, Stored("dout", (n, f, i, j), size_rank=1), Stored("w", (f, c, k, l)), (k, l), sizes, NAMES)]
    assert "np.matmul(" in lines[-1] and "w[:, :, k, l]" in lines[-1]
    got = run(lines, dout=dout, w=w)["dxpad"]
    expected = np.zeros((N, 9, 10, C))
    for kk in range(HH):
        for ll in range(WW):
            expected[:, 2 * kk:2 * kk + 2 * HO - 1:2, 2 * ll:2 * ll + 2 * WO - 1:2, :] += np.einsum(
                "nfij,fc->nijc", dout, w[:, :, kk, ll])
    np.testing.assert_allclose(got, expected)


def test_reuse_computes_in_a_dead_buffer_only_in_the_forms_it_knows():
    import sympy as sp

    from numeric.codegen.lowering import Lowering

    program = Lowering({}, {})
    program.lines = ["g = dout*gamma", "dx = g/s[:, None] - c", "dx -= z*k"]
    program.reuse("dx", "g")
    assert program.lines[1:] == ["dx = np.divide(g, s[:, None], out=g if g.dtype == s.dtype else None)",
                                 "dx -= c", "dx -= z*k"]
    for lines in (["dx = g/s[:, None]", "y = g + 1"],  # g is read again: left alone
                  ["dx = g/(a + b)"], ["dx = g/s[0]"], ["dx = g + s"], ["dx = h/s"]):
        program.lines = list(lines)
        program.reuse("dx", "g")
        assert program.lines == lines
    i, k = sp.symbols("i k", integer=True)
    a, b = sp.IndexedBase("A"), sp.IndexedBase("B")
    rows = Lowering({i: sp.Integer(3), k: sp.Integer(4)}, {a: "a", b: "b"})
    rows.assign("r", sp.Sum(a[i, k] * b[i, k], (k, 0, 3)), (i,))
    assert rows.lines == ["r = np.vecdot(a.conj(), b)"]
    x = np.arange(12.0).reshape(3, 4) + 1j
    y = np.ones((3, 4)) - 2j
    r = eval(rows.lines[0].split(" = ", 1)[1], {"np": np, "a": x, "b": y})
    np.testing.assert_allclose(r, np.einsum("ik,ik->i", x, y))  # no conjugation
