"""Generated affine, ReLU, softmax and SVM code: course API, exact against references, clear errors."""

import types

import numpy as np
import pytest
import sympy as sp

from derive import LayergradError, affine, softmax
from numeric.codegen.lowering import Lowering
from numeric.export import module_source
from numeric.gradcheck import numerical_gradient, rel_error


@pytest.fixture(scope="module")
def layers():
    module = types.ModuleType("layers")
    exec(compile(module_source("cs231n", "keep"), "layers", "exec"), module.__dict__)
    return module


def reference_softmax(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = len(y)
    dx = probs.copy()
    dx[np.arange(n), y] -= 1
    return -np.log(probs[np.arange(n), y]).mean(), dx / n


def reference_svm(x, y):
    n = len(y)
    margins = np.maximum(0, x - x[np.arange(n), y][:, None] + 1)
    margins[np.arange(n), y] = 0
    dx = (margins > 0).astype(float)
    dx[np.arange(n), y] -= dx.sum(axis=1)
    return margins.sum() / n, dx / n


def test_the_arithmetic_lines_come_from_the_derivations():
    source = module_source("cs231n", "keep")
    for line in ("_r0 = flat.dot(w)", "out = b + _r0", "dx = dout.dot(w.T).reshape(x.shape)", "dw = flat.T.dot(dout)",
                 "db = dout.sum(axis=0)", "out = np.maximum(0, x)", "mask = x > 0", "dx = dout*mask",
                 "shift = x.max(axis=1)", "_r2 = e.sum(axis=1)", "probs = e/_r2[:, None]",
                 "rows = np.arange(N)", "x[rows, y]", "_r1[rows, y] = 0", "dx = positive/N",
                 "dx[rows, y] = -_r4/N", "dx = probs/N", "dx[rows, y] = (probs[rows, y] - 1)/N",
                 "positive = margin > 0"):
        assert line in source, line
    assert "onehot" not in source  # every use of the one-hot labels is read or written at the labels
    assert source.count("def _floating(") == 1  # a helper shared by several layers appears once


def test_affine_matches_numpy_and_finite_differences(layers):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    out, cache = layers.affine_forward(x, w, b)
    assert np.allclose(out, x.reshape(4, 6) @ w + b, rtol=0, atol=1e-14)
    dx, dw, db = layers.affine_backward(dout, cache)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    for grad, f, at in ((dx, lambda v: layers.affine_forward(v, w, b)[0], x),
                        (dw, lambda v: layers.affine_forward(x, v, b)[0], w),
                        (db, lambda v: layers.affine_forward(x, w, v)[0], b)):
        assert rel_error(grad, numerical_gradient(f, at.copy(), dout)) < 1e-6


def test_affine_keeps_float32_and_refuses_mismatched_shapes(layers):
    x = np.ones((2, 3), dtype=np.float32)
    out, _ = layers.affine_forward(x, np.ones((3, 4), np.float32), np.zeros(4, np.float32))
    assert out.dtype == np.float32
    with pytest.raises(LayergradError, match=r"x has 3 features per example .* but w has 5 rows"):
        layers.affine_forward(x, np.ones((5, 4)), np.zeros(4))
    with pytest.raises(LayergradError, match=r"b \(M,\)"):
        layers.affine_forward(x, np.ones((3, 4)), np.zeros(3))
    _, cache = layers.affine_forward(x, np.ones((3, 4)), np.zeros(4))
    with pytest.raises(LayergradError, match="dout has shape"):
        layers.affine_backward(np.ones((2, 5)), cache)


def test_relu_masks_by_the_positive_part_with_zero_at_the_kink(layers):
    x = np.array([[-1.0, 0.0, 2.0]])
    out, cache = layers.relu_forward(x)
    assert np.array_equal(out, [[0.0, 0.0, 2.0]])
    assert np.array_equal(layers.relu_backward(np.array([[5.0, 6.0, 7.0]]), cache), [[0.0, 0.0, 7.0]])
    rng = np.random.default_rng(1)
    x, dout = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    numeric = numerical_gradient(lambda v: layers.relu_forward(v)[0], x.copy(), dout)
    assert rel_error(layers.relu_backward(dout, layers.relu_forward(x)[1]), numeric) < 1e-9


@pytest.mark.parametrize("name, reference", [("softmax_loss", reference_softmax), ("svm_loss", reference_svm)])
def test_losses_match_the_course_formulas_and_finite_differences(layers, name, reference):
    loss_fn = getattr(layers, name)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((50, 10)), rng.integers(0, 10, 50)
    loss, dx = loss_fn(x, y)
    expected_loss, expected_dx = reference(x, y)
    assert isinstance(loss, float) and abs(loss - expected_loss) < 1e-12
    assert rel_error(dx, expected_dx) < 1e-12
    small = x[:6]
    numeric = numerical_gradient(lambda v: np.array(loss_fn(v, y[:6])[0]), small.copy(), np.array(1.0))
    assert rel_error(loss_fn(small, y[:6])[1], numeric) < 1e-7
    out32 = loss_fn(x.astype(np.float32), y)
    assert out32[1].dtype == np.float32 and abs(out32[0] - expected_loss) < 1e-5


def test_softmax_loss_is_log_c_at_small_scores_and_stable_at_huge_ones(layers):
    rng = np.random.default_rng(3)
    loss, _ = layers.softmax_loss(1e-3 * rng.standard_normal((500, 10)), rng.integers(0, 10, 500))
    assert abs(loss - np.log(10)) < 1e-2  # the notebooks' sanity check: about 2.3
    loss, dx = layers.softmax_loss(np.array([[1000.0, 0.0, -1000.0]]), np.array([2]))
    assert loss == 2000.0 and np.array_equal(dx, [[1.0, 0.0, -1.0]])


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.ones(3), np.array([0]), r"x must have shape \(N, C\)"),
        (np.ones((2, 3)), np.array([0]), r"y must have shape \(2,\)"),
        (np.ones((2, 3)), np.array([0.0, 1.0]), "labels y must be integers"),
        (np.ones((2, 3)), np.array([0, 3]), r"labels must lie in 0..2"),
        (np.ones((2, 3)), np.array([[0], [1]]), r"y must have shape \(2,\).*got \(2, 1\)"),
        (np.ones((2, 3)), np.array([0, -1]), r"labels must lie in 0..2, got -1..0"),
        (np.ones((2, 3)), np.array([0, -3], np.int8), r"labels must lie in 0..2, got -3..0"),
        (np.ones((2, 3)), np.array([0, -2**31], np.int32), r"labels must lie in 0..2"),
        (np.ones((2, 3)), np.array([1, 2**32 - 1], np.uint32), r"labels must lie in 0..2"),
        (np.ones((2, 3)), np.array([True, False]), "labels y must be integers"),
        (np.ones((2, 3)), np.array([0, 1, 2]), r"y must have shape \(2,\)"),
        (np.array([["1", "2"]]), np.array([0]), "floating-point array"),
    ],
)
def test_loss_inputs_are_checked(layers, x, y, message):
    for loss_fn in (layers.softmax_loss, layers.svm_loss):
        with pytest.raises(LayergradError, match=message):
            loss_fn(x, y)


def lowered(assignments, ranges, names, **rules) -> list[str]:
    lowering = Lowering(dict(ranges), names, **rules)
    for target, expr, axes in assignments:
        lowering.assign(target, expr, axes)
    return lowering.lines


def test_matrix_entries_lower_to_products_sums_and_broadcasts():
    s = affine.symbols()
    i, j, k = s["i"], s["j"], s["k"]
    names = {s["Xm"]: "x", s["Wm"]: "w", s["bm"]: "b", s["dL_dH"]: "g"}
    ranges = {i: s["N"], j: s["M"], k: s["D"]}
    assert lowered([("db", (s["ones_row"] * s["dL_dH"])[0, j], (j,))], ranges, names) == ["db = g.sum(axis=0)"]
    assert lowered([("h", (s["Xm"] * s["Wm"] + s["ones_column"] * s["bm"])[i, j], (i, j))], ranges, names) == [
        "_r0 = x.dot(w)", "h = b + _r0"]
    assert lowered([("dx", (s["dL_dH"] * s["Wm"].T)[i, k], (i, k))], ranges, names) == ["dx = g.dot(w.T)"]
    assert lowered([("dw", (s["Xm"].T * s["dL_dH"])[k, j], (k, j))], ranges, names) == ["dw = x.T.dot(g)"]
    with pytest.raises(LayergradError, match="no array name"):
        lowered([("h", (s["Xm"] * s["Wm"])[i, j], (i, j))], ranges, {s["Xm"]: "x"})


def test_sums_reduce_along_axes_and_what_cannot_be_placed_is_refused():
    s = softmax.symbols()
    i, j, N, C = s["i"], s["j"], s["N"], s["C"]
    c = sp.Symbol("c", integer=True)
    x = s["s"]
    ranges, names = {i: N, j: C}, {x: "x", N: "N", C: "C"}
    assert lowered([("r", sp.Sum(x[i, c], (c, 0, C - 1)), (i,))], ranges, names) == ["r = x.sum(axis=1)"]
    assert lowered([("t", sp.Sum(x[i, j], (i, 0, N - 1), (j, 0, C - 1)), ())], ranges, names) == [
        "t = x.sum(axis=(0, 1))"]
    assert lowered([("d", sp.KroneckerDelta(j, i), (i, j))], ranges, names) == [
        "d = np.arange(N)[:, None] == np.arange(C)[None, :]"]
    with pytest.raises(LayergradError, match="must start at 0"):
        lowered([("r", sp.Sum(x[i, c], (c, 1, C)), (i,))], ranges, names)
    with pytest.raises(LayergradError, match="neither free nor summed"):
        lowered([("r", sp.Sum(x[i, j] * x[i, c], (c, 0, C - 1)), (i,))], ranges, names)


def test_sums_gather_against_one_hot_booleans_stay_boolean_and_repeats_are_computed_once():
    s = softmax.symbols()
    i, j, N, C, Y = s["i"], s["j"], s["N"], s["C"], s["Y"]
    c, k = sp.symbols("c k", integer=True)
    x, e, p = s["s"], sp.IndexedBase("E"), sp.IndexedBase("P")
    ranges, names = {i: N, j: C}, {x: "x", Y: "onehot", e: "e", p: "positive", s["y"]: "y", N: "N", C: "C"}
    rules = {"one_hot": {Y: "y"}, "booleans": frozenset({p})}
    picked = lowered([("picked", sp.Sum(Y[i, c] * x[i, c], (c, 0, C - 1)), (i,))], ranges, names, **rules)
    assert picked == ["rows = np.arange(N)", "picked = x[rows, y]"]
    assert lowered([("h", (1 - Y[i, j]) * x[i, j], (i, j))], ranges, names, **rules) == [
        "h = x.copy()", "rows = np.arange(N)", "h[rows, y] = 0"]  # never written into the argument
    counted = lowered([("n", sp.Sum((1 - Y[i, c]) * p[i, c], (c, 0, C - 1)), (i,))], ranges, names, **rules)
    assert counted == ["_r0 = positive.copy()", "rows = np.arange(N)", "_r0[rows, y] = False",
                       "n = _r0.sum(axis=1)"]  # a count, not einsum's or
    total = sp.Sum(e[i, c], (c, 0, C - 1))
    lines = lowered([("a", sp.log(total), (i,)), ("b", e[i, j] / sp.Sum(e[i, k], (k, 0, C - 1)), (i, j))],
                    ranges, names)
    assert lines == ["_r0 = e.sum(axis=1)", "a = np.log(_r0)", "b = e/_r0[:, None]"]
    rng = np.random.default_rng(0)
    scores, y = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    onehot = np.arange(4)[None, :] == y[:, None]
    positive = scores > 0
    scope = {"np": np, "x": scores, "y": y, "N": 5, "onehot": onehot, "positive": positive}
    exec("\n".join(picked + counted + ["h = x.copy()", "h[rows, y] = 0"]), scope)
    assert np.array_equal(scope["picked"], scores[np.arange(5), y])
    assert np.array_equal(scope["n"], (positive & ~onehot).sum(axis=1))
    assert np.array_equal(scope["h"], np.where(onehot, 0, scores))
    assert np.array_equal(scope["positive"], scores > 0)  # the copy left the named array alone


def test_one_hot_terms_are_written_at_the_labels_exactly_and_the_one_hot_is_computed_only_where_needed():
    """f(Y) = (1 - Y) f(0) + Y f(1): the array f(0) with the labelled entries set to f(1), read at
    the labels; a copy of an array the code computed is elided after its last read; where no such
    form applies (the one-hot inside a function) the one-hot array is computed once."""
    s = softmax.symbols()
    i, j, N, C, Y = s["i"], s["j"], s["N"], s["C"], s["Y"]
    c = sp.Symbol("c", integer=True)
    x, p, b = s["s"], sp.IndexedBase("P"), sp.IndexedBase("b")
    ranges, names = {i: N, j: C}, {x: "x", Y: "onehot", p: "positive", b: "b", s["y"]: "y", N: "N", C: "C"}
    rules = {"one_hot": {Y: "y"}, "booleans": frozenset({p})}
    rng = np.random.default_rng(1)
    scores, y, bias = rng.standard_normal((6, 4)), np.array([0, 3, 1, 1, 2, 3]), rng.standard_normal(4)
    onehot = np.arange(4)[None, :] == y[:, None]
    cases = [(((x[i, j] - Y[i, j]) / N), (scores - onehot) / 6),
             (x[i, j] / N + Y[i, j] * b[j] * x[i, j], scores / 6 + onehot * bias * scores),
             (((1 - Y[i, j]) * p[i, j] - Y[i, j] * sp.Sum((1 - Y[i, c]) * p[i, c], (c, 0, C - 1))) / N, None)]
    for expr, expected in cases[:2]:
        lines = lowered([("t", expr, (i, j))], ranges, names, **rules)
        assert not any("onehot" in line for line in lines) and any("[rows, y] = " in line for line in lines), lines
        scope = {"np": np, "x": scores, "y": y, "N": 6, "b": bias}
        exec("\n".join(lines), scope)
        np.testing.assert_allclose(scope["t"], expected, rtol=1e-14, atol=0)  # within rounding
    low = Lowering({i: N, j: C}, names, results=("t",), **rules)
    low.assign("positive", sp.StrictGreaterThan(x[i, j], 0), (i, j))
    low.assign("t", cases[2][0], (i, j))
    assert "_r0 = positive" in low.source(0).splitlines()  # positive is not read again: masked in place
    scope = {"np": np, "x": scores, "y": y, "N": 6}
    exec(low.source(0), scope)
    mask = (scores > 0) & ~onehot
    assert np.array_equal(scope["t"], np.where(onehot, -mask.sum(axis=1)[:, None] / 6, (scores > 0) / 6))
    kept = Lowering({i: N, j: C}, names, **rules)  # positive may be read after the statements: copied
    kept.assign("positive", sp.StrictGreaterThan(x[i, j], 0), (i, j))
    kept.assign("t", cases[2][0], (i, j))
    assert "_r0 = positive.copy()" in kept.source(0).splitlines()
    # an unlabelled value that might be an integer array cannot hold a float at the labels: as before
    lines = lowered([("t", x[i, j] + Y[i, j] * b[j] * x[i, j], (i, j)), ("u", x[i, j] + Y[i, j], (i, j))],
                    ranges, names, **rules)
    assert sum(line.startswith("onehot = ") for line in lines) == 1


@pytest.mark.parametrize("name, reference", [("softmax_loss", reference_softmax), ("svm_loss", reference_svm)])
def test_losses_read_any_memory_layout_and_refuse_negative_labels(layers, name, reference):
    """The margin's row term is read through the labelled entries of x itself: a Fortran-ordered
    or strided x gives the contiguous answer, and a negative label (which NumPy's indexing would
    read from the end of the row) is refused."""
    loss_fn = getattr(layers, name)
    rng = np.random.default_rng(4)
    wide, y = 5 * rng.standard_normal((30, 20)), rng.integers(0, 10, 30)
    contiguous = np.ascontiguousarray(wide[:, ::2])
    expected_loss, expected_dx = reference(contiguous, y)
    for x in (wide[:, ::2], np.asfortranarray(contiguous), contiguous):
        loss, dx = loss_fn(x, y)
        assert abs(loss - expected_loss) < 1e-12 * max(1.0, expected_loss) and rel_error(dx, expected_dx) < 1e-12
        assert dx.shape == x.shape
    with pytest.raises(LayergradError, match=r"labels must lie in 0..9, got -1\.\."):
        loss_fn(contiguous, np.where(np.arange(30) == 3, -1, y))
