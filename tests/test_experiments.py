"""The experiments: what they measure, the files they write, and the command line."""

import io
import json

import numpy as np
import pytest

from derive import LayergradError
from layergrad.cli import main
from numeric import experiments
from numeric.course.progress import ProgressBar
from numeric.data import load_digits


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_zero_out_sgd_leaves_dropped_units_exactly_in_place_and_adam_does_not(digits):
    result = experiments.run("zero-out", digits, num_train=12)
    sgd, adam = result.runs["sgd"], result.runs["adam"]
    assert sum(sgd["dropped"]) > 0 and max(sgd["dropped_grad"]) == 0 and max(sgd["dropped_move"]) == 0
    assert max(sgd["kept_move"]) > 0
    assert max(adam["dropped_grad"]) == 0 and max(adam["dropped_move"]) > 0  # momentum moves them anyway
    assert "reproduces" in result.findings[0]


def test_scale_up_multiplies_kept_units_by_one_over_keep(digits):
    result = experiments.run("scale-up", digits)
    for run in result.runs.values():
        assert run["max_relative_scale_error"] <= 2.3e-16 and run["test_is_identity"]
        assert abs(run["zero_fraction"] - run["rate"]) <= run["zero_fraction_bound"]
        assert abs(np.mean(run["output_means"]) / run["input_mean"] - 1) < 0.02
    assert [row[1] for row in result.rows] == ["1.2500", "2.0000", "5.0000"]


def test_dropout_regularization_records_every_rate_and_seed(digits, tmp_path):
    result = experiments.run("dropout-regularization", digits, epochs=2, seeds=(0, 1), history_dir=tmp_path)
    assert sorted(result.runs) == sorted(f"dropout{r:.2f}_seed{s}" for r in (0, 0.5, 0.75) for s in (0, 1))
    assert all(len(r["val_acc_history"]) == 3 for r in result.runs.values())
    assert len(result.rows) == 3 and len(result.findings) == 2
    saved = json.loads((tmp_path / "dropout0.50_seed1.json").read_text())
    assert saved["val_acc_history"] == result.runs["dropout0.50_seed1"]["val_acc_history"]


def test_sparsity_records_statistics_per_layer_and_epoch(digits):
    result = experiments.run("sparsity", digits, epochs=2, num_train=300)
    for run in result.runs.values():
        assert run["epoch"] == [0, 1, 2]
        assert all(len(v) == 4 for v in run["active_per_example"])
    assert len(result.extra["histograms"]) == 4 and len(result.rows) == 8


def test_batchnorm_deep_trains_both_nets_with_every_seed(digits):
    result = experiments.run("batchnorm-deep", digits, epochs=2, seeds=(0,))
    assert sorted(result.runs) == ["baseline_seed0", "batchnorm_seed0"]
    bn, base = result.runs["batchnorm_seed0"], result.runs["baseline_seed0"]
    assert len(bn["loss_history"]) == 2 * 1000 // 50 and len(bn["train_acc_history"]) == 3
    assert bn["train_acc_history"][1] > base["train_acc_history"][1]  # 0.93 against 0.21 at full size


def test_weight_scale_runs_twenty_scales_for_both_nets(digits):
    result = experiments.run("weight-scale", digits, epochs=1, num_train=100)
    scales = sorted({r["weight_scale"] for r in result.runs.values()})
    assert len(result.runs) == 40 and len(scales) == 20 and scales[0] == 1e-4 and scales[-1] == 1.0
    assert all("final_loss" in r and "best_train_acc" in r for r in result.runs.values())
    assert [row[0] for row in result.rows] == ["baseline", "batchnorm"]


def test_unknown_experiment_and_bad_settings_are_refused(digits):
    with pytest.raises(LayergradError, match="unknown experiment 'dropout'; expected one of dropout-regularization"):
        experiments.run("dropout", digits)
    with pytest.raises(LayergradError, match="epochs must be a positive integer"):
        experiments.run("sparsity", digits, epochs=0)
    with pytest.raises(LayergradError, match="learning rate must be a positive number"):
        experiments.run("sparsity", digits, learning_rate=-1.0)
    with pytest.raises(LayergradError, match="the data has 1197 training examples"):
        experiments.run("sparsity", digits, num_train=5000)


def test_the_command_writes_histories_and_figures_and_prints_the_summary(capsys, tmp_path):
    code = main(["experiment", "zero-out", "-o", str(tmp_path), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "| update rule | steps |" in out and "reproduces the lecture's zero-out" in out
    written = {p.name for p in tmp_path.iterdir()}
    assert {"zero-out.json", "zero-out-first-step.png", "zero-out-first-step.svg", "zero-out-steps.png",
            "zero-out-steps.svg"} <= written
    assert (tmp_path / "zero-out-steps.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (tmp_path / "zero-out-steps.svg").read_text()
    assert json.loads((tmp_path / "zero-out.json").read_text())["experiment"] == "zero-out"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["experiment", "dropout"], "unknown experiment 'dropout'"),
        (["experiment", "sparsity", "--epochs", "0"], "epochs must be a positive integer"),
        (["experiment", "sparsity", "--lr", "-1"], "learning rate must be a positive number"),
        (["experiment", "sparsity", "--data", "cifar10:/nonexistent"], "does not exist"),
        (["experiment", "sparsity", "--data", "imagenet"], "expected 'digits' or 'cifar10:PATH'"),
        (["experiment", "weight-scale", "--weight-scale", "0.1"], "sets its own weight scale"),
        (["experiment", "scale-up", "--epochs", "3"], "sets its own epochs; the settings it takes are: weight scale"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, message):
    code = main([*argv, "-o", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 2 and message in err and err.count("\n") == 1


def test_the_list_names_every_experiment(capsys):
    assert main(["experiment", "--list"]) == 0
    out = capsys.readouterr()[0]
    assert all(name in out for name in experiments.EXPERIMENTS)


def test_the_progress_bar_draws_only_on_a_terminal():
    quiet = io.StringIO()
    ProgressBar(10, "run", stream=quiet).update(10, "done")
    assert quiet.getvalue() == ""  # a StringIO is not a terminal
    shown = io.StringIO()
    bar = ProgressBar(10, "run", enabled=True, stream=shown)
    bar.update(5, "half", force=True)
    bar.close()
    assert shown.getvalue().startswith("\rrun [###############...............] 5/10 half")
    assert shown.getvalue().endswith("\n")
