"""The exported course package: standalone, gradient-checked as the course checks it, written safely."""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from layergrad.cli import main
from numeric.package import COPIED, package_files, write_package


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """An exported package ``course`` (drop rate, rand >= p), imported; removed from sys.modules after."""
    folder = tmp_path_factory.mktemp("package")
    write_package(folder, "course", dropout_p="drop")
    sys.path.insert(0, str(folder))
    try:
        import course.classifiers.cnn as cnn
        import course.classifiers.fc_net as fc_net
        import course.gradient_check as gradient_check

        yield fc_net, cnn, gradient_check
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == "course" or m.startswith("course.")]:
            del sys.modules[name]


def rel_error(x, y):
    return np.max(np.abs(x - y) / (np.maximum(1e-8, np.abs(x) + np.abs(y))))


def test_the_package_imports_nothing_but_numpy_and_the_standard_library(tmp_path):
    """Run in a fresh interpreter that refuses to import layergrad's packages."""
    write_package(tmp_path, "cs6353", dropout_p="drop", draw="lt")
    script = textwrap.dedent("""
        import sys
        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("derive", "numeric", "worksheets", "sympy"):
                    raise ImportError(f"the package imported {name}")
        sys.meta_path.insert(0, Refuse())
        import numpy as np
        from cs6353.classifiers.fc_net import *
        from cs6353.classifiers.cnn import ThreeLayerConvNet
        from cs6353.data_utils import get_CIFAR10_data
        from cs6353.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, grad_check_sparse
        from cs6353.solver import Solver
        from cs6353 import fast_layers, layer_utils, optim
        from cs6353 import layers
        assert layers.LayergradError.__module__ == "cs6353.layers" and layers.DROPOUT_DRAW == "rand < 1 - p"
        model = FullyConnectedNet([5], input_dim=4, num_classes=3, dropout=0.25, dtype=np.float64, seed=1)
        assert model.dropout_param["p"] == 0.25
        print(model.loss(np.ones((2, 4)), np.array([0, 2]))[0] > 0)
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "True", run.stderr


@pytest.mark.parametrize("options", [
    {},
    {"dropout": 0.3, "seed": 123},
    {"dropout_keep_ratio": 0.6, "seed": 5},
    {"normalization": "batchnorm", "reg": 0.7},
    {"use_batchnorm": True, "dropout": 0.5, "seed": 2},
    {"normalization": "layernorm", "dropout": 0.25, "seed": 9, "reg": 3.14},
])
def test_the_package_net_passes_the_course_gradient_check(course, options):
    """The notebooks' whole-net check with the package's own eval_numerical_gradient: relative
    errors at the course's printed levels ("around e-6 or less", e-5 allowed for one weight).
    The biases that feed batch normalization have gradient exactly 0 (it subtracts them): there the
    course's relative error is one rounding of the loss over its floor 1e-8, so both the analytic
    and the numerical gradient are checked to be zero instead."""
    fc_net, _, gradient_check = course
    np.random.seed(231)
    X, y = np.random.randn(2, 15), np.random.randint(10, size=(2,))
    if "normalization" in options or "use_batchnorm" in options:
        X, y = np.random.randn(6, 15), np.random.randint(10, size=(6,))
    model = fc_net.FullyConnectedNet([20, 30], input_dim=15, num_classes=10, weight_scale=5e-2,
                                     dtype=np.float64, **options)
    loss, grads = model.loss(X, y)
    assert 2.0 < loss < 2.6 + 0.5 * options.get("reg", 0) * 10
    batchnorm = options.get("normalization") == "batchnorm" or options.get("use_batchnorm", False)
    for name in sorted(grads):
        numeric = gradient_check.eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name],
                                                         verbose=False, h=1e-5)
        error = rel_error(numeric, grads[name])
        if batchnorm and name in ("b1", "b2"):
            assert np.abs(grads[name]).max() < 1e-12 and np.abs(numeric).max() < 1e-9, name
        else:
            assert error < 5e-5, (name, error)


def test_the_package_conv_net_and_sandwiches_pass_the_course_checks(course):
    fc_net, cnn, gradient_check = course
    np.random.seed(0)
    model = cnn.ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=3, filter_size=3, hidden_dim=7,
                                  weight_scale=1e-2, reg=0.5, dtype=np.float64)
    X, y = np.random.randn(2, 3, 8, 8), np.random.randint(10, size=2)
    loss, grads = model.loss(X, y)
    assert abs(loss - np.log(10)) < 0.05 + 0.5 * 0.5 * sum(np.sum(model.params[w] ** 2) for w in ("W1", "W2", "W3"))
    for name in sorted(grads):
        numeric = gradient_check.eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name],
                                                         verbose=False)
        assert rel_error(numeric, grads[name]) < 1e-5, name
    x, w, b = np.random.randn(2, 3, 6, 6), np.random.randn(4, 3, 3, 3), np.random.randn(4)
    conv, pool = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = fc_net.conv_relu_pool_forward(x, w, b, conv, pool)
    dout = np.random.randn(*out.shape)
    dx, _, _ = fc_net.conv_relu_pool_backward(dout, cache)
    f = lambda v: fc_net.conv_relu_pool_forward(v, w, b, conv, pool)[0]  # noqa: E731
    assert rel_error(dx, gradient_check.eval_numerical_gradient_array(f, x, dout)) < 1e-6
    gamma, beta = np.random.randn(5), np.random.randn(5)
    x2, w2, b2 = np.random.randn(4, 6), np.random.randn(6, 5), np.random.randn(5)
    out, cache = fc_net.affine_bn_relu_forward(x2, w2, b2, gamma, beta, {"mode": "train"})
    dout = np.random.randn(*out.shape)
    dgamma = fc_net.affine_bn_relu_backward(dout, cache)[3]
    g = lambda v: fc_net.affine_bn_relu_forward(x2, w2, b2, v, beta, {"mode": "train"})[0]  # noqa: E731
    assert rel_error(dgamma, gradient_check.eval_numerical_gradient_array(g, gamma, dout)) < 1e-7


def test_dropout_p_is_in_the_package_s_convention(tmp_path):
    for convention, expected in (("drop", 0.25), ("keep", 0.75)):
        files = package_files("pkg", dropout_p=convention)
        assert files["classifiers/fc_net.py"] == package_files("other")["classifiers/fc_net.py"]  # copied as is
        write_package(tmp_path / convention, "pkg", dropout_p=convention)
        sys.path.insert(0, str(tmp_path / convention))
        try:
            from pkg.classifiers.fc_net import FullyConnectedNet

            by_rate = FullyConnectedNet([4], input_dim=3, dropout=0.25)
            by_keep = FullyConnectedNet([4], input_dim=3, dropout_keep_ratio=0.75)
            assert by_rate.dropout_param["p"] == by_keep.dropout_param["p"] == expected
        finally:
            sys.path.remove(str(tmp_path / convention))
            for name in [m for m in sys.modules if m == "pkg" or m.startswith("pkg.")]:
                del sys.modules[name]


def test_the_package_solver_goes_on_like_the_course_and_checkpoints(course, tmp_path, monkeypatch):
    """The course's Solver keeps training through an infinite loss (its random draws stay the
    course's); layergrad's own stops. Checkpoints are pickled per epoch; .npz histories load
    without pickles."""
    fc_net, _, _ = course
    solver_module = importlib.import_module("course.solver")
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    data = {"X_train": rng.standard_normal((40, 6)), "y_train": rng.integers(0, 3, 40),
            "X_val": rng.standard_normal((10, 6)), "y_val": rng.integers(0, 3, 10)}
    np.random.seed(0)
    model = fc_net.FullyConnectedNet([8], input_dim=6, num_classes=3, dtype=np.float64)
    solver = solver_module.Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 1e300},
                                  batch_size=20, num_epochs=2, verbose=False, checkpoint_name="run")
    with np.errstate(all="ignore"):
        solver.train()
    assert len(solver.loss_history) == 4 and not np.isfinite(solver.loss_history[-1])
    assert solver.diverged is None
    with open("run_epoch_2.pkl", "rb") as stream:
        assert pickle.load(stream)["epoch"] == 2
    solver.record_histories_as_npz("histories")
    saved = np.load("histories.npz")  # no allow_pickle: no object arrays
    assert saved["diverged"].item() == "" and len(saved["loss_history"]) == 4

    from numeric.fc_net import FullyConnectedNet
    from numeric.solver import Solver

    np.random.seed(0)
    ours = Solver(FullyConnectedNet([8], input_dim=6, num_classes=3, dtype=np.float64), data, update_rule="sgd",
                  optim_config={"learning_rate": 1e300}, batch_size=20, num_epochs=2, verbose=False)
    with np.errstate(all="ignore"):
        ours.train()
    assert ours.diverged is not None and len(ours.loss_history) < 4
    ours.record_histories_as_npz("ours")
    assert np.load("ours.npz")["diverged"].item().startswith("the loss became")


def test_get_cifar10_data_names_the_folder_to_fill(course):
    data_utils, layers = importlib.import_module("course.data_utils"), importlib.import_module("course.layers")
    with pytest.raises(layers.LayergradError, match=r"course/datasets/cifar-10-batches-py does not exist"):
        data_utils.get_CIFAR10_data()


def test_export_package_from_the_command_line_is_guarded(capsys, tmp_path):
    assert main(["export", "--package", str(tmp_path), "--name", "cs182", "--dropout-p", "drop"]) == 0
    assert "wrote the package" in capsys.readouterr().out
    written = sorted(p.relative_to(tmp_path / "cs182").as_posix() for p in (tmp_path / "cs182").rglob("*.py"))
    assert written == sorted(["__init__.py", "layers.py", *COPIED])
    assert 'DROPOUT_DRAW = "rand >= p"' in (tmp_path / "cs182" / "layers.py").read_text()
    # again: every file is layergrad's, so it may be replaced
    assert main(["export", "--package", str(tmp_path), "--name", "cs182", "--dropout-p", "drop"]) == 0
    solver = tmp_path / "cs182" / "solver.py"
    solver.write_text(solver.read_text() + "# my change\n")
    layers_before = (tmp_path / "cs182" / "layers.py").read_text()
    assert main(["export", "--package", str(tmp_path), "--name", "cs182", "--dropout-p", "keep"]) == 2
    err = capsys.readouterr().err
    assert "solver.py exists and was not written by layergrad" in err and "Traceback" not in err
    assert (tmp_path / "cs182" / "layers.py").read_text() == layers_before  # nothing written before the refusal
    assert main(["export", "--package", str(tmp_path), "--name", "cs182", "--dropout-p", "keep", "--force"]) == 0
    for argv, message in (
        (["--name", "my-course"], "not a Python identifier"),
        (["--layers", "dropout"], "--layers applies only to a single module"),
        (["--dropout-draw", "ge", "--dropout-p", "keep"], "'ge' (rand >= p) is for the drop rate"),
    ):
        argv = ["export", "--package", str(tmp_path), *argv]
        if "--dropout-p" not in argv:
            argv += ["--dropout-p", "drop"]
        assert main(argv) == 2
        assert message in capsys.readouterr().err
