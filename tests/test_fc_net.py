"""The fully connected network on generated layers: the notebooks' numbers and gradient checks."""

import numpy as np
import pytest

from derive import LayergradError
from numeric.fc_net import FullyConnectedNet, gradient_errors


def notebook_setup():
    np.random.seed(231)
    X = np.random.randn(2, 15)
    y = np.random.randint(10, size=(2,))
    return X, y


def test_initial_losses_and_gradients_match_the_dropout_notebook():
    """Seed 000 §4: the same draws in the same order give the printed initial losses."""
    X, y = notebook_setup()
    printed = {0: 2.300479089768492, 0.25: 2.302371489704412, 0.5: 2.30427592207859}
    for dropout, expected in printed.items():
        model = FullyConnectedNet([20, 30], input_dim=15, num_classes=10, weight_scale=5e-2,
                                  dtype=np.float64, dropout=dropout, seed=123)
        loss, _ = model.loss(X, y)
        assert abs(loss - expected) < 1e-14
        errors = gradient_errors(model, X, y)
        assert sorted(errors) == ["W1", "W2", "W3", "b1", "b2", "b3"]
        assert max(errors.values()) < 1e-4, errors  # the notebook: "around e-6 or less", W2 up to e-5


def test_regularization_adds_half_reg_sum_of_squares_and_its_gradient():
    X, y = notebook_setup()
    np.random.seed(0)
    plain = FullyConnectedNet([20, 30], input_dim=15, num_classes=10, weight_scale=5e-2, dtype=np.float64)
    np.random.seed(0)
    regular = FullyConnectedNet([20, 30], input_dim=15, num_classes=10, weight_scale=5e-2, dtype=np.float64,
                                reg=3.14)
    (loss0, grads0), (loss1, grads1) = plain.loss(X, y), regular.loss(X, y)
    penalty = 0.5 * 3.14 * sum(np.sum(regular.params[f"W{k}"] ** 2) for k in (1, 2, 3))
    assert abs(loss1 - loss0 - penalty) < 1e-12
    assert np.allclose(grads1["W2"] - grads0["W2"], 3.14 * regular.params["W2"])
    assert np.array_equal(grads1["b2"], grads0["b2"])
    assert max(gradient_errors(regular, X, y).values()) < 1e-5


def test_weights_are_drawn_in_layer_order_and_dtype_is_kept():
    np.random.seed(5)
    model = FullyConnectedNet([4, 3], input_dim=6, num_classes=2, weight_scale=0.5)
    np.random.seed(5)
    assert np.array_equal(model.params["W1"], (0.5 * np.random.randn(6, 4)).astype(np.float32))
    assert np.array_equal(model.params["W2"], (0.5 * np.random.randn(4, 3)).astype(np.float32))
    assert model.params["W3"].dtype == np.float32 and not model.params["b2"].any()
    scores = model.loss(np.ones((5, 2, 3)))
    assert scores.shape == (5, 2) and scores.dtype == np.float32
    _, grads = model.loss(np.ones((5, 6)), np.array([0, 1, 0, 1, 1]))
    assert all(g.dtype == np.float32 for g in grads.values())


def test_both_dropout_conventions_give_the_same_network():
    X, y = notebook_setup()
    np.random.seed(1)
    by_rate = FullyConnectedNet([20], input_dim=15, dtype=np.float64, dropout=0.25, seed=7)
    np.random.seed(1)
    by_keep = FullyConnectedNet([20], input_dim=15, dtype=np.float64, dropout_keep_ratio=0.75, seed=7)
    assert by_rate.keep == by_keep.keep == 0.75
    assert by_rate.loss(X, y)[0] == by_keep.loss(X, y)[0]
    assert not FullyConnectedNet([20], input_dim=15, dropout=0).use_dropout
    assert not FullyConnectedNet([20], input_dim=15, dropout_keep_ratio=1).use_dropout


def test_test_mode_scores_ignore_dropout_and_hidden_activations_are_relu_outputs():
    X, _ = notebook_setup()
    model = FullyConnectedNet([20, 30], input_dim=15, dtype=np.float64, dropout=0.5, seed=3)
    assert np.array_equal(model.loss(X), model.loss(X))
    hidden = model.hidden_activations(X)
    assert [h.shape for h in hidden] == [(2, 20), (2, 30)] and all((h >= 0).all() for h in hidden)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"dropout": 0.5, "dropout_keep_ratio": 0.5}, "not both"),
        ({"dropout": 1.0}, r"drop rate and must lie in \[0, 1\)"),
        ({"dropout_keep_ratio": 0.0}, r"must lie in \(0, 1\]"),
        ({"weight_scale": 0}, "weight_scale must be positive"),
        ({"reg": -1}, "reg must be non-negative"),
        ({"dtype": np.int32}, "float32 or float64"),
        ({"hidden_dims": [10, 0]}, "positive integer"),
    ],
)
def test_bad_settings_are_clear_errors(options, message):
    hidden = options.pop("hidden_dims", [10])
    with pytest.raises(LayergradError, match=message):
        FullyConnectedNet(hidden, input_dim=15, **options)


def test_inputs_of_the_wrong_size_and_unseeded_gradient_checks_are_refused():
    model = FullyConnectedNet([10], input_dim=15, dtype=np.float64, dropout=0.5)
    with pytest.raises(LayergradError, match="expects inputs with 15 features per example"):
        model.loss(np.ones((3, 16)))
    with pytest.raises(LayergradError, match="need a seed"):
        gradient_errors(model, np.ones((2, 15)), np.array([0, 1]))
    with pytest.raises(LayergradError, match="float64"):
        gradient_errors(FullyConnectedNet([10], input_dim=15), np.ones((2, 15)), np.array([0, 1]))


def test_batchnorm_net_reproduces_the_notebooks_initial_forward_pass():
    """Seed 004 §2.4: fixed parameters; its expected scores use the batch's statistics."""
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2, dtype=np.float64,
                              use_batchnorm=True)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H1).reshape(D, H1)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H1)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H1 * H2).reshape(H1, H2)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=H2)
    model.params["W3"] = np.linspace(-0.3, 0.4, num=H2 * C).reshape(H2, C)
    model.params["b3"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    expected = np.array([
        [0.28397701, 0.46532063, 0.64666426, 0.82800788, 1.0093515, 1.19069513, 1.37203875, 1.55338238,
         1.734726, 1.91606962],
        [-0.9, -0.78888889, -0.67777778, -0.56666667, -0.45555556, -0.34444444, -0.23333333, -0.12222222,
         -0.01111111, 0.1]])
    scores = model.scores(X, mode="train")
    error = np.max(np.abs(scores - expected) / np.maximum(1e-8, np.abs(scores) + np.abs(expected)))
    assert error < 1e-7  # the notebook prints 5.00e-08: its expected values have 8 decimals


@pytest.mark.parametrize("options", [{"use_batchnorm": True}, {"normalization": "batchnorm", "reg": 3.14},
                                     {"normalization": "layernorm", "reg": 3.14},
                                     {"normalization": "batchnorm", "dropout": 0.25, "seed": 123}])
def test_whole_network_gradients_with_normalization(options):
    np.random.seed(1)  # data whose pre-activations stay farther than the step from ReLU's kink
    X, y = np.random.randn(8, 15), np.random.randint(10, size=(8,))
    model = FullyConnectedNet([20, 30], input_dim=15, num_classes=10, weight_scale=5e-2, dtype=np.float64, **options)
    errors = gradient_errors(model, X, y)
    assert {"gamma1", "beta1", "gamma2", "beta2"} <= set(errors)
    if model.normalization == "batchnorm":
        # a bias before batch normalization cancels in the centring: its gradient is 0, and the
        # finite difference is rounding noise, so its relative error says nothing
        _, grads = model.loss(X, y)
        assert np.abs(grads["b1"]).max() < 1e-12 and np.abs(grads["b2"]).max() < 1e-12
        del errors["b1"], errors["b2"]
    assert max(errors.values()) < 1e-5, errors


def test_batchnorm_keeps_running_statistics_per_layer_and_uses_them_at_test_time():
    np.random.seed(0)
    model = FullyConnectedNet([6, 4], input_dim=5, num_classes=3, dtype=np.float64, normalization="batchnorm")
    # before any training, test mode uses zero running statistics, as the course's
    # bn_param.get('running_mean', np.zeros(D)) does: the first layer's output is γ·a/√ε + β
    before = model.hidden_activations(np.ones((2, 5)))[0]
    a = np.ones((2, 5)) @ model.params["W1"] + model.params["b1"]
    assert np.allclose(before, np.maximum(0, a / np.sqrt(1e-5)), rtol=1e-12)
    assert all(not p["running_mean"].any() and not p["running_var"].any() for p in model.bn_params)
    X = np.random.randn(10, 5)
    model.loss(X, np.zeros(10, dtype=int))
    assert [p["running_mean"].shape for p in model.bn_params] == [(6,), (4,)]
    first = model.loss(X)
    assert np.array_equal(first, model.loss(X))  # test mode does not move the running statistics
    assert not np.allclose(first, model.scores(X, mode="train"))


@pytest.mark.parametrize("options, message", [({"normalization": "groupnorm"}, "unknown normalization"),
                                              ({"normalization": "layernorm", "use_batchnorm": True}, "contradicts")])
def test_bad_normalization_is_refused(options, message):
    with pytest.raises(LayergradError, match=message):
        FullyConnectedNet([10], input_dim=15, **options)
