"""Gradient and dropout checks pass correct layers and fail broken ones."""

import numpy as np
import pytest

from derive import LayergradError
from numeric.checks import check_dropout, check_module, load_module
from numeric.export import module_source
from numeric.gradcheck import check_vjp, numerical_gradient, rel_error


def test_numerical_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    dout = np.array([[1.0, 2.0], [-1.0, 0.5]])
    assert rel_error(numerical_gradient(lambda v: v**3, x.copy(), dout), 3 * x**2 * dout) < 1e-8


def test_check_vjp_flags_a_wrong_gradient_and_where():
    x = np.linspace(1, 2, 6).reshape(2, 3)
    dout = np.ones_like(x)
    good = check_vjp("square", lambda v: v**2, x, dout, 2 * x)
    wrong = 2 * x
    wrong[1, 2] += 0.1
    bad = check_vjp("square", lambda v: v**2, x, dout, wrong)
    assert good.passed and not bad.passed and bad.where == (1, 2)
    assert "FAIL" in bad.line() and "(1, 2)" in bad.line()


def test_float32_inputs_are_refused_for_finite_differences():
    with pytest.raises(LayergradError, match="float64"):
        numerical_gradient(lambda v: v, np.ones(3, dtype=np.float32), np.ones(3))


def generated(convention):
    namespace: dict = {}
    exec(module_source("cs231n", convention), namespace)
    return namespace["dropout_forward"], namespace["dropout_backward"]


@pytest.mark.parametrize("convention", ["keep", "drop"])
def test_generated_dropout_passes_every_check(convention):
    verdicts = check_dropout(*generated(convention), convention)
    assert len(verdicts) >= 14 and all(v.passed for v in verdicts), [v.line() for v in verdicts if not v.passed]


def failing(verdicts):
    return {v.name.split(",")[0] for v in verdicts if not v.passed}


def test_kept_units_not_rescaled_fail_the_mean_check():
    def forward(x, param):
        mask = (np.random.rand(*x.shape) < param["p"]) if param["mode"] == "train" else None
        return (x * mask if mask is not None else x), (param, mask)

    _, backward = generated("keep")
    assert "dropout_forward train-time mean" in failing(check_dropout(forward, backward, "keep"))


def test_a_normal_mask_fails_the_zero_fraction_check():
    def forward(x, param):
        p = param["p"]
        if "seed" in param:
            np.random.seed(param["seed"])
        mask = (np.random.randn(*x.shape) < p) / p if param["mode"] == "train" else None
        return (x * mask if mask is not None else x), (param, mask)

    _, backward = generated("keep")
    assert "dropout_forward zero fraction" in failing(check_dropout(forward, backward, "keep"))


def test_the_swapped_convention_fails():
    forward, backward = generated("keep")
    assert "dropout_forward zero fraction" in failing(check_dropout(forward, backward, "drop"))


def test_check_module_needs_a_declared_or_given_convention(tmp_path):
    path = tmp_path / "student.py"
    source = module_source("cs231n", "keep").replace('DROPOUT_CONVENTION = "keep"', "")
    path.write_text(source)
    with pytest.raises(LayergradError, match="--dropout-p"):
        check_module(load_module(path))
    assert check_module(load_module(path), "keep").passed


def test_a_module_that_fails_to_import_is_reported_in_one_block(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import numpy as np\nraise RuntimeError('half-finished homework')\n")
    with pytest.raises(LayergradError, match="failed to import:\n  RuntimeError: half-finished homework\n  "
                       r"\(broken.py, line 2: raise RuntimeError\('half-finished homework'\)\)"):
        load_module(path)
