"""Update rules (both momentum definitions), the solver, and its histories."""

import json

import numpy as np
import pytest

from derive import LayergradError
from numeric import optim
from numeric.fc_net import FullyConnectedNet
from numeric.solver import Solver

N, D = 4, 5
W = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
DW = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
V = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)


def test_cs231n_momentum_carries_the_learning_rate_in_the_velocity():
    next_w, config = optim.sgd_momentum(W, DW, {"learning_rate": 1e-3, "velocity": V})
    expected_velocity = 0.9 * V - 1e-3 * DW
    assert np.allclose(config["velocity"], expected_velocity, rtol=0, atol=1e-15)
    assert np.allclose(next_w, W + expected_velocity, rtol=0, atol=1e-15)
    assert abs(next_w[0, 0] - 0.1406) < 1e-12  # the CS231n notebook's first expected entry


def test_cs182_momentum_matches_its_notebook():
    """The CS182 notebook's expected values (v ← μv + dw, w ← w − αv)."""
    next_w, config = optim.sgd_momentum_cs182(W, DW, {"learning_rate": 1e-3, "velocity": V})
    expected_w_first_row = [-0.39994, -0.347375263, -0.294810526, -0.242245789, -0.189681053]
    expected_v_first_row = [-0.06, 0.006842105, 0.073684211, 0.140526316, 0.207368421]
    assert np.allclose(next_w[0], expected_w_first_row, rtol=0, atol=1e-9)
    assert np.allclose(config["velocity"][0], expected_v_first_row, rtol=0, atol=1e-9)
    assert abs(next_w[-1, -1] - 0.59879) < 1e-9 and abs(config["velocity"][-1, -1] - 1.21) < 1e-9


def test_the_two_momenta_agree_at_a_constant_rate_and_part_when_it_decays():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(3) for _ in range(6)]
    for decay in (1.0, 0.5):
        w1 = w2 = np.zeros(3)
        c1, c2 = {"learning_rate": 0.1}, {"learning_rate": 0.1}
        for g in grads:
            w1, c1 = optim.sgd_momentum(w1, g, c1)
            w2, c2 = optim.sgd_momentum_cs182(w2, g, c2)
            c1["learning_rate"] *= decay
            c2["learning_rate"] *= decay
        assert np.allclose(w1, w2) == (decay == 1.0)


def test_rmsprop_and_adam_follow_their_formulas():
    w, config = optim.rmsprop(W, DW, {"learning_rate": 1e-2})
    cache = 0.01 * DW**2
    assert np.allclose(w, W - 1e-2 * DW / (np.sqrt(cache) + 1e-8)) and np.allclose(config["cache"], cache)
    w, config = optim.adam(W, DW, {"learning_rate": 1e-2})
    assert config["t"] == 1 and np.allclose(w, W - 1e-2 * DW / (np.abs(DW) + 1e-8))
    with pytest.raises(LayergradError, match="unknown update rule 'sgdm'"):
        optim.update_rule("sgdm")


def toy_data(n=60, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0).astype(int)
    return {"X_train": X[:40], "y_train": y[:40], "X_val": X[40:], "y_val": y[40:]}


@pytest.mark.parametrize("rule", list(optim.UPDATE_RULES))
def test_every_rule_lowers_the_loss_of_a_small_net(rule):
    np.random.seed(0)
    model = FullyConnectedNet([16], input_dim=6, num_classes=4, weight_scale=0.1, dtype=np.float64)
    rate = {"sgd": 0.5, "sgd_momentum": 0.1, "sgd_momentum_cs182": 0.1, "adam": 3e-2}.get(rule, 1e-2)
    solver = Solver(model, toy_data(), update_rule=rule, optim_config={"learning_rate": rate},
                    batch_size=20, num_epochs=15, verbose=False)
    solver.train()
    assert np.mean(solver.loss_history[-5:]) < 0.7 * np.mean(solver.loss_history[:5])
    assert len(solver.train_acc_history) == 16 and solver.best_val_acc == max(solver.val_acc_history)


def test_best_parameters_are_restored_and_histories_saved(tmp_path):
    np.random.seed(1)
    model = FullyConnectedNet([16], input_dim=6, num_classes=4, weight_scale=0.1, dtype=np.float64)
    solver = Solver(model, toy_data(), update_rule="adam", optim_config={"learning_rate": 1e-2},
                    lr_decay=0.9, batch_size=20, num_epochs=6, verbose=False, history_path=tmp_path / "h.json")
    solver.train()
    assert solver.check_accuracy(solver.X_val, solver.y_val) == solver.best_val_acc
    assert abs(solver.optim_configs["W1"]["learning_rate"] - 1e-2 * 0.9**6) < 1e-15
    saved = json.loads((tmp_path / "h.json").read_text())
    assert saved["loss_history"] == solver.loss_history and saved["epochs_completed"] == 6
    solver.record_histories_as_npz(tmp_path / "h")
    arrays = np.load(tmp_path / "h.npz")
    assert np.array_equal(arrays["val_acc_history"], solver.val_acc_history)
    with pytest.raises(LayergradError, match=r"\.json or \.npz"):
        solver.save_histories(tmp_path / "h.csv")


def test_an_interrupted_run_keeps_the_histories_recorded_so_far(tmp_path):
    np.random.seed(2)
    model = FullyConnectedNet([8], input_dim=6, num_classes=4, dtype=np.float64)

    def interrupt(solver):
        if solver.epoch == 3:
            raise KeyboardInterrupt

    solver = Solver(model, toy_data(), batch_size=20, num_epochs=10, verbose=False, on_record=interrupt,
                    history_path=tmp_path / "partial.json")
    with pytest.raises(KeyboardInterrupt):
        solver.train()
    saved = json.loads((tmp_path / "partial.json").read_text())
    assert saved["epochs_completed"] == 3 and len(saved["loss_history"]) == 6 and len(saved["val_acc_history"]) == 4


def test_a_diverging_run_stops_and_says_so():
    np.random.seed(3)
    model = FullyConnectedNet([8], input_dim=6, num_classes=4, dtype=np.float64)
    data = toy_data()
    data["X_train"] = data["X_train"].copy()
    data["X_train"][5, 0] = np.inf
    solver = Solver(model, data, batch_size=40, num_epochs=3, verbose=False)
    with np.errstate(invalid="ignore"):
        solver.train()
    assert solver.diverged is not None and "the loss became nan at iteration" in solver.diverged
    assert solver.histories()["diverged"] == solver.diverged


@pytest.mark.parametrize(
    "options, message",
    [
        ({"optim_config": {"learning_rate": 0}}, "learning rate must be a positive number"),
        ({"optim_config": {"learning_rate": -1e-3}}, "learning rate must be a positive number"),
        ({"num_epochs": 0}, "num_epochs must be a positive integer"),
        ({"num_epochs": 2.5}, "num_epochs must be a positive integer"),
        ({"batch_size": -3}, "batch_size must be a positive integer"),
        ({"update_rule": "lbfgs"}, "unknown update rule"),
    ],
)
def test_bad_training_settings_are_clear_errors(options, message):
    model = FullyConnectedNet([8], input_dim=6, num_classes=4)
    with pytest.raises(LayergradError, match=message):
        Solver(model, toy_data(), **options)


def test_data_that_does_not_fit_is_a_clear_error():
    model = FullyConnectedNet([8], input_dim=6, num_classes=4)
    data = toy_data()
    with pytest.raises(LayergradError, match="data is missing y_val"):
        Solver(model, {k: v for k, v in data.items() if k != "y_val"})
    with pytest.raises(LayergradError, match="one label per example"):
        Solver(model, data | {"y_train": data["y_train"][:-1]})
    solver = Solver(model, data | {"X_train": np.ones((40, 7))}, verbose=False)
    with pytest.raises(LayergradError, match="expects inputs with 6 features"):
        solver.train()
