"""The benchmark harness: structure of ``layergrad bench --quick``, and the engine's arithmetic
on contenders whose times are known exactly (they report them through ``Elapsed``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from derive.errors import LayergradError
from layergrad.cli import main
from numeric import bench
from numeric.bench.core import Elapsed, Goal, Row, Settings, Unavailable, Work, measure
from numeric.bench.limits import LIMITS, Limit
from numeric.bench.table import format_table


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One real ``layergrad bench --quick`` run: its report, table and plot."""
    folder = tmp_path_factory.mktemp("bench")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["bench", "--quick", "--json", str(folder / "b.json"), "--plot", str(folder / "b.png")])
    return code, json.loads((folder / "b.json").read_text()), out.getvalue(), folder


def test_quick_run_reports_every_registered_row(quick):
    code, report, table, folder = quick
    assert code == 0
    declared = [(r.name, r.size, r.dtype) for r in bench.all_rows(quick=True)]
    assert [(r["name"], r["size"], r["dtype"]) for r in report["rows"]] == declared
    for row in report["rows"]:
        assert row["name"] in table
        for c in row["contenders"]:
            if c["available"]:
                assert c["median"] > 0 and len(c["samples"]) >= 1
            else:
                assert c["reason"]
    assert report["machine"]["cores"] >= 1 and report["quick"] is True and report["machine"]["threads"] == 1
    assert (folder / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quick_run_has_the_rows_the_table_promises(quick):
    _, report, _, _ = quick
    names = {row["name"] for row in report["rows"]}
    assert {"float64 matmul", "float32 matmul", "memory copy", "dropout forward", "dropout backward",
            "batchnorm backward", "layernorm backward", "spatial_batchnorm backward", "conv forward",
            "conv forward+backward", "max pool forward", "max pool forward+backward",
            "affine forward", "relu backward", "softmax_loss", "validate exported"} <= names
    by_name = {row["name"]: row for row in report["rows"]}
    forward = by_name["dropout forward"]
    generated = next(c for c in forward["contenders"] if c["name"] == "generated")
    assert generated["ratio_to_reference"] > 0
    assert forward["peak_bytes"] > 0  # at least the output array
    assert forward["rate"]["fraction"] > 0 and forward["rate"]["limit"] == "memory copy"
    assert by_name["float64 matmul"]["rate"]["unit"] == "flop/s"
    for row in report["rows"]:
        for goal in row["goals"]:
            assert goal["met"] in (True, False, None)
            assert goal["met"] is None or goal["met"] == (
                goal["value"] <= goal["max"] if goal["max"] is not None else goal["value"] >= goal["min"])


def test_plot_from_a_saved_report_and_bad_requests(quick, tmp_path, capsys):
    _, _, _, folder = quick
    assert main(["bench", "--plot", str(tmp_path / "again.svg"), "--from", str(folder / "b.json")]) == 0
    assert (tmp_path / "again.svg").read_text().lstrip().startswith("<?xml")
    assert main(["bench", "--plot", str(tmp_path / "x.gif"), "--from", str(folder / "b.json")]) == 2
    assert main(["bench", "--from", str(folder / "b.json")]) == 2
    assert main(["bench", "--only", "no-such-row"]) == 2
    (tmp_path / "other.json").write_text("{}")
    assert main(["bench", "--plot", str(tmp_path / "p.png"), "--from", str(tmp_path / "other.json")]) == 2
    err = capsys.readouterr().err
    assert "no-such-row" in err and "groups: machine" in err and "not a report" in err


def test_readme_block_is_rewritten_from_a_saved_report(quick, tmp_path, capsys):
    """--readme replaces only what lies between the markers; the rest stays byte for byte; a file
    without the markers is refused before anything is measured."""
    from numeric.bench.table import README_BEGIN, README_END

    _, report, _, folder = quick
    readme = tmp_path / "README.md"
    before, after = "# Title\n\n### Measured\n\n", "\n\nWhat the table says: prose kept.\n"
    readme.write_text(f"{before}{README_BEGIN}\nold numbers\n{README_END}{after}")
    assert main(["bench", "--from", str(folder / "b.json"), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith(before + README_BEGIN + "\n`layergrad bench --quick`, measured ")
    assert text.endswith(README_END + after) and "old numbers" not in text
    assert "<details><summary>The whole table</summary>" in text
    for row in report["rows"]:
        for goal in row["goals"]:
            assert f"| {row['name']}" in text and goal["goal"] in text
    assert main(["bench", "--from", str(folder / "b.json"), "--readme", str(readme)]) == 0
    assert readme.read_text() == text  # the same report, the same block
    plain = tmp_path / "plain.md"
    plain.write_text("no markers here\n")
    assert main(["bench", "--only", "dropout", "--readme", str(plain)]) == 2
    assert plain.read_text() == "no markers here\n"
    assert "no measured block" in capsys.readouterr().err


def test_only_selects_by_group_or_name_pattern():
    rows = bench.all_rows(quick=True)
    chosen = bench.select(rows, ["dropout"])
    assert chosen and {r.group for r in chosen} == {"dropout"}
    backward = [r.name for r in rows if r.name.endswith(" backward")]
    assert backward and [r.name for r in bench.select(rows, ["* backward"])] == backward
    assert [r.size for r in bench.select(rows, ["conv forward"])] == [r.size for r in rows if r.name == "conv forward"]


def _row(times: dict[str, float], **fields) -> Row:
    calls = []

    def setup():
        return {name: (lambda name=name, t=t: calls.append(name) or Elapsed(t)) for name, t in times.items()}

    row = Row(name="fake", group="fake", size="1", dtype="float64", contenders=tuple(times), setup=setup,
              warmup=False, memory=False, **fields)
    return row, calls


def test_ratios_goals_and_rates_from_known_times():
    row, calls = _row({"generated": 0.3, "hand-written": 0.1, "staged": 0.6}, reference="hand-written",
                      goals=(Goal("generated/hand-written", max=1.10), Goal("staged/generated", min=1.5),
                             Goal("seconds", max=0.25)),
                      work=Work(3e9, "B"), rounds=4)
    result = measure(row, Settings.quick())
    assert result.ratio("generated", "hand-written") == pytest.approx(3.0)
    assert result.ratio("staged", "generated") == pytest.approx(2.0)
    assert [goal.met(result.goal_value(goal)) for goal in row.goals] == [False, True, False]
    assert result.rate == pytest.approx(1e10)
    assert len(calls) == 12  # four rounds of three


def test_fraction_of_a_machine_limit_is_measured_in_the_rows_own_rounds(monkeypatch):
    fake = Limit("fake copy", "B", "float64", lambda quick: "1 GB", lambda quick: 4e9,
                 lambda quick: lambda: Elapsed(0.2))
    monkeypatch.setitem(LIMITS, fake.name, fake)
    row, _ = _row({"generated": 0.3, "hand-written": 0.1}, work=Work(3e9, "B", limit="fake copy"), rounds=3)
    result = measure(row, Settings.quick())
    assert result.fraction == pytest.approx((3e9 / 0.3) / (4e9 / 0.2))
    assert len(result.probe.samples) == 3 and "fake copy (limit)" not in result.timings
    with pytest.raises(LayergradError, match="unknown machine limit"):
        Work(1.0, "B", limit="no such limit")
    with pytest.raises(LayergradError, match="not flop"):
        Work(1.0, "flop", limit="memory copy")


def test_contenders_alternate_round_by_round():
    row, calls = _row({"a": 0.1, "b": 0.1, "c": 0.1}, rounds=3)
    measure(row, Settings.quick())
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]


def test_unavailable_contender_is_reported_not_timed():
    row = Row(name="torch row", group="fake", size="1", dtype="float64", contenders=("generated", "torch"),
              reference="torch", goals=(Goal("generated/torch", max=1.25),), memory=False, rounds=3,
              warmup=False,
              setup=lambda: {"generated": lambda: Elapsed(0.1), "torch": Unavailable("torch not installed")})
    result = measure(row, Settings.quick())
    assert result.ratio("generated", "torch") is None and result.goal_value(row.goals[0]) is None
    report = bench.to_json([result], True, {}, 0.0)
    table = format_table(report)
    assert "n/a: torch not installed" in table and "generated/torch ≤ 1.25" in table


def test_peak_memory_counts_numpy_allocations():
    import numpy as np

    row = Row(name="alloc", group="fake", size="1", dtype="float64", contenders=("alloc",), rounds=1,
              setup=lambda: {"alloc": lambda: np.ones(2**20)})
    assert measure(row, Settings.quick()).peak >= 8 * 2**20


@pytest.mark.parametrize("make", [
    lambda: Goal("a/b"),
    lambda: Goal("a/b", max=1, min=2),
    lambda: Goal("ab", max=1),
    lambda: Row("r", "g", "1", "f", ("a", "a"), dict),
    lambda: Row("r", "g", "1", "f", ("a",), dict, reference="b"),
    lambda: Row("r", "g", "1", "f", ("a", "b"), dict, goals=(Goal("a/c", max=1),)),
    lambda: Row("r", "g", "1", "f", ("a",), dict, goals=(Goal("peak/im2col", max=1.5),)),
])
def test_malformed_rows_and_goals_are_refused(make):
    with pytest.raises(LayergradError):
        make()


@pytest.mark.parametrize("axes, shape", [((0,), (5, 4)), ((1,), (5, 4)), ((0, 2, 3), (3, 2, 3, 2))])
def test_hand_written_normalization_baselines_are_right(axes, shape):
    """The baselines the generated code is timed against compute the true gradient."""
    import numpy as np

    from numeric.bench.batchnorm import hand_backward, hand_forward, staged_backward
    from numeric.gradcheck import numerical_gradient

    rng = np.random.default_rng(1)
    x = 2 * rng.standard_normal(shape) + 1
    dout = rng.standard_normal(shape)
    view = (1, shape[1], 1, 1) if len(shape) == 4 else (shape[1],)
    gamma, beta = rng.standard_normal(view), rng.standard_normal(view)
    _, cache = hand_forward(x, gamma, beta, axes)
    dx = numerical_gradient(lambda xx: hand_forward(xx, gamma, beta, axes)[0], x, dout)
    dgamma = numerical_gradient(lambda g: hand_forward(x, g, beta, axes)[0], gamma.copy(), dout)
    for backward in (hand_backward, staged_backward):
        got_dx, got_dgamma, got_dbeta = backward(dout, cache)
        assert np.max(np.abs(got_dx - dx)) < 1e-7
        assert np.max(np.abs(got_dgamma.reshape(view) - dgamma)) < 1e-7
        assert np.allclose(got_dbeta.reshape(view), dout.sum(axis=(0,) if axes == (1,) else axes).reshape(view))
    single = [a.astype(np.float32) for a in (x, gamma, beta, dout)]
    _, cache32 = hand_forward(*single[:3], axes)
    for backward in (hand_backward, staged_backward):  # a fair baseline computes in the input's dtype
        assert {a.dtype for a in backward(single[3], cache32)} == {np.dtype(np.float32)}


@pytest.mark.parametrize("stride", [1, 2])
def test_hand_written_convolution_baselines_are_right(stride):
    import numpy as np

    from numeric.bench.conv import im2col_backward, im2col_forward, loops_forward, pool_backward, pool_forward
    from numeric.gradcheck import numerical_gradient

    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out, cache = im2col_forward(x, w, b, stride, 1)
    assert np.allclose(out, loops_forward(x, w, b, stride, 1))
    assert out[0, 1, 0, 0] == pytest.approx(b[1] + np.sum(x[0, :, :2, :2] * w[1, :, 1:, 1:]))  # padded corner
    dout = rng.standard_normal(out.shape)
    dx, dw, db = im2col_backward(dout, cache)
    assert np.allclose(dx, numerical_gradient(lambda xx: im2col_forward(xx, w, b, stride, 1)[0], x, dout))
    assert np.allclose(dw, numerical_gradient(lambda ww: im2col_forward(x, ww, b, stride, 1)[0], w.copy(), dout))
    assert np.allclose(db, dout.sum(axis=(0, 2, 3)))
    pooled = pool_forward(x[:, :, :6, :6], 2)
    assert pooled[1, 2, 1, 0] == x[1, 2, 2:4, 0:2].max()
    dpool = rng.standard_normal(pooled.shape)
    assert np.allclose(pool_backward(dpool, x[:, :, :6, :6], pooled, 2),
                       numerical_gradient(lambda xx: pool_forward(xx, 2), x[:, :, :6, :6].copy(), dpool))


def test_hand_written_network_layer_baselines_agree_with_the_exported_ones():
    import numpy as np

    from numeric.bench.common import exported
    from numeric.bench.fc import HAND

    module = exported("keep")
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    out, cache = module.affine_forward(x, w, b)
    assert np.allclose(HAND["affine"](x, w, b), out)
    dout = rng.standard_normal(out.shape)
    for mine, theirs in zip(HAND["affine_grads"](dout, x, w), module.affine_backward(dout, cache)):
        assert np.allclose(mine, theirs)
    r = rng.standard_normal((5, 7))
    assert np.array_equal(HAND["relu"](r), module.relu_forward(r)[0])
    assert np.array_equal(HAND["relu_grad"](r[::-1], r), module.relu_backward(r[::-1], module.relu_forward(r)[1]))
    scores, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    for name in ("softmax_loss", "svm_loss"):
        loss, dx = HAND[name](scores, labels)
        their_loss, their_dx = getattr(module, name)(scores, labels)
        assert loss == pytest.approx(their_loss) and np.allclose(dx, their_dx)


def test_full_runs_time_the_symbolic_side_in_fresh_processes():
    from derive.registry import LAYERS
    from numeric.bench.core import fresh_process

    names = [row.name for row in bench.all_rows(quick=False) if row.group == "symbolic"]
    defined = [f"derive --define {name}" for name in ("instancenorm", "layernorm", "batchnorm")]
    assert names == [f"derive {name}" for name in LAYERS] + ["batchnorm closed form", *defined, "export module",
                                                             "validate exported", "start-up", "check a class",
                                                             "quiz8 sheets"]
    goals = {row.name: row.goals for row in bench.all_rows(quick=False) if row.name in defined}
    assert all(g[0].max == 2.0 for g in goals.values()) and len(goals) == 3
    assert fresh_process("import math", "x = math.fsum(range(10))").seconds >= 0
    with pytest.raises(LayergradError, match="ZeroDivisionError"):
        fresh_process("", "1 / 0")


def test_hand_written_network_epoch_matches_the_generated_network():
    import numpy as np

    from numeric.bench.network import hand_epoch
    from numeric.fc_net import FullyConnectedNet
    from numeric.optim import adam

    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((30, 12)), rng.integers(0, 10, 30)
    batches = [rng.choice(30, 10) for _ in range(3)]
    np.random.seed(0)
    model = FullyConnectedNet([500], input_dim=12, num_classes=10, reg=1e-3, weight_scale=1e-1, dtype=np.float64)
    params = {k: v.copy() for k, v in model.params.items()}
    configs = {k: {"learning_rate": 1e-3} for k in params}
    for rows in batches:
        loss, grads = model.loss(X[rows], y[rows])
        for name, w in model.params.items():
            model.params[name], configs[name] = adam(w, grads[name], configs[name])
    hand_loss = hand_epoch(params, {k: {} for k in params}, X, y, batches)
    assert hand_loss == pytest.approx(loss)
    for name, value in params.items():
        assert np.allclose(value, model.params[name])


def test_verdict_is_unsure_when_the_bound_lies_between_the_quartiles():
    from numeric.bench.table import verdict

    def row(generated):
        return {"subject": "generated", "contenders": [
            {"name": "generated", "available": True, "samples": generated},
            {"name": "hand-written", "available": True, "samples": [1.0] * len(generated)}]}

    goal = {"ratio": "generated/hand-written", "max": 1.10, "min": None, "met": True}
    assert verdict(goal, row([1.0, 1.01, 1.02, 1.03])) == "met"
    assert verdict(goal, row([0.9, 1.0, 1.2, 1.3])) == "met (unsure)"
    assert verdict({**goal, "met": False}, row([1.3, 1.4, 1.5])) == "SHORT"
    assert verdict({**goal, "met": None}, row([1.0, 1.0, 1.0])) == "n/a"


def test_every_layer_with_a_pytorch_counterpart_has_rows_against_it():
    """Forward and forward+backward, both dtypes, small and large; the issue's goals on batch and
    layer norm; convolution and max pooling keep theirs in the conv suite."""
    rows = bench.all_rows(quick=False)
    against = {(r.group, r.name.split(" vs ")[0].split(" ", 1)[1], r.dtype) for r in rows if r.group.endswith("-torch")}
    for layer in ("batchnorm", "layernorm", "groupnorm", "dropout", "relu", "affine"):
        for step in ("forward", "forward+backward"):
            assert {(f"{layer}-torch", step, d) for d in ("float32", "float64")} <= against
    assert {("softmax-torch", "forward+backward", d) for d in ("float32", "float64")} <= against
    goals = {(r.name, r.size, g.text()) for r in rows for g in r.goals if g.ratio == "generated/PyTorch"}
    for layer in ("batchnorm", "layernorm"):
        assert (f"{layer} forward+backward vs PyTorch", "4096×1024", "generated/PyTorch ≤ 1") in goals
        assert (f"{layer} forward+backward vs PyTorch", "100×500", "generated/PyTorch ≤ 1.3") in goals
    assert sum(1 for r in rows if r.name == "max pool forward+backward"
               and any(g.ratio == "generated/PyTorch" for g in r.goals)) == 4
    assert any(r.name == "conv forward+backward" and r.dtype == "float32" and r.size.startswith("x(16,32,64,64)")
               and any(g.text() == "generated/PyTorch ≤ 1.3" for g in r.goals) for r in rows)


@pytest.mark.parametrize("layer", ["batchnorm", "layernorm", "groupnorm", "relu", "affine", "softmax"])
def test_pytorch_rows_compute_what_the_generated_layer_computes(layer):
    """The PyTorch contender of each row computes the same forward values as the exported layer
    (so the rows compare like with like)."""
    torch = pytest.importorskip("torch")
    from numeric.bench import pytorch

    shape = pytorch.LAYERS[layer].sizes[0]
    for dtype in ("float64", "float32"):
        contenders, arrays = pytorch._numpy_contenders(layer, shape, dtype, False, np.random.default_rng(0))
        ours = contenders["generated"]()
        theirs = pytorch._torch_contender(torch, layer, shape, False, arrays)()
        ours = ours[0] if isinstance(ours, tuple) else ours
        tolerance = 1e-3 if dtype == "float32" else 1e-9
        assert np.asarray(ours).dtype == dtype or layer == "softmax"  # the loss is a Python float
        assert np.allclose(ours, theirs.numpy(), rtol=tolerance, atol=tolerance)


def test_course_size_baselines_do_what_the_course_functions_do():
    """The hand-written contenders at the course's sizes compute what the generated functions
    compute, running averages and test mode included."""
    from numeric.bench.common import exported
    from numeric.bench.course import hand_batchnorm_forward, hand_dropout_backward

    m, rng = exported("keep"), np.random.default_rng(3)
    x, gamma, beta = rng.standard_normal((4, 5)), rng.standard_normal(5), rng.standard_normal(5)
    ours, theirs = {"mode": "train", "momentum": 0.8}, {"mode": "train", "momentum": 0.8}
    for _ in range(3):
        out, _ = m.batchnorm_forward(x, gamma, beta, ours)
        hand, _ = hand_batchnorm_forward(x, gamma, beta, theirs)
        np.testing.assert_allclose(hand, out, rtol=1e-12)
    for key in ("running_mean", "running_var"):
        np.testing.assert_allclose(theirs[key], ours[key], rtol=1e-12)
    dout = rng.standard_normal((4, 5))
    for mode in ("train", "test"):
        _, cache = m.dropout_forward(x, {"mode": mode, "p": 0.5, "seed": 1})
        np.testing.assert_array_equal(hand_dropout_backward(dout, cache), m.dropout_backward(dout, cache))


@pytest.mark.parametrize("name", ["leaky_relu", "elu", "softplus", "silu", "gelu_tanh", "huber", "bce_logits"])
def test_hand_written_defined_layers_compute_what_the_generated_code_computes(name):
    """The hand-written NumPy of a defined row: the same forward value and gradients as the
    generated functions, on inputs with both signs and (Huber) residuals beyond delta."""
    import numpy as np

    from numeric.bench.defined import _module
    from numeric.bench.defined_hand import HAND

    rng = np.random.default_rng(3)
    args = [2 * rng.standard_normal((16, 32))]
    if name in ("huber", "bce_logits"):
        args.append(rng.uniform(size=(16, 32)) if name == "bce_logits" else rng.standard_normal((16, 32)))
    module = _module(name)
    out, cache = getattr(module, f"{name}_forward")(*args)
    dout = rng.standard_normal(np.shape(out)) if np.ndim(out) else 0.7
    grads = getattr(module, f"{name}_backward")(dout, cache)
    value, hand = HAND[name](*args, dout)
    np.testing.assert_allclose(value, out, rtol=1e-12, atol=1e-15)
    # atol: a gradient that cancels to about 1e-6 (GELU near its minimum) keeps the roundings of its O(1) terms
    np.testing.assert_allclose(hand[0], grads if isinstance(grads, np.ndarray) else grads[0], rtol=1e-12, atol=1e-14)
    assert (np.abs(args[0] - (args[1] if len(args) > 1 else 0)) > 1).any()  # beyond the kinks' neighbourhoods


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape, kernel, pad", [((8, 16, 32, 32), (3, 3), 1), ((2, 3, 7, 5), (3, 3), 1),
                                                ((1, 2, 6, 9), (3, 3), 0), ((2, 3, 7, 8), (5, 5), 2),
                                                ((2, 2, 5, 5), (1, 1), 0), ((3, 4, 9, 7), (3, 3), 2),
                                                ((2, 3, 4, 9), (3, 5), 1)])
def test_hand_written_depthwise_convolution_computes_what_the_generated_code_computes(shape, kernel, pad, dtype):
    """The BLAS depthwise convolution of the defined rows (Toeplitz products over all images' rows,
    rows straddling two images dropped): the generated code's values and gradients, in its dtype,
    at odd sizes, padding 0 to K - 1, a 1×1 and a non-square kernel."""
    import numpy as np

    from numeric.bench.defined import _module
    from numeric.bench.defined_hand import HAND

    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((shape[1], *kernel)).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    module = _module("depthwise_conv")
    y, cache = module.depthwise_conv_forward(x, w, b, P=pad)
    dout = rng.standard_normal(y.shape).astype(dtype)
    value, grads = HAND["depthwise_conv"](x, w, b, dout, pad=pad)
    tolerance = {"rtol": 1e-4, "atol": 1e-4} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-12}
    for got, want in zip((value, *grads), (y, *module.depthwise_conv_backward(dout, cache))):
        assert got.dtype == want.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **tolerance)
