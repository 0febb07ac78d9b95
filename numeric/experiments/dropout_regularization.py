"""Dropout as a regularizer: identical nets with and without dropout on a small training set.

The notebooks' experiment (seed 000 §5: drop rate 0.75, 25 epochs; seed 004 §3.4: drop rate
0.5, 15 epochs): one hidden layer of 500 units, 500 training examples, Adam at 5e-4, batch
100; train and validation accuracy after every epoch. Their finding: without dropout the net
fits the training set almost perfectly while validation accuracy stalls; with dropout training
accuracy rises more slowly and the gap between train and validation accuracy is narrower.

On the digits data the same settings leave the 64-feature inputs' first-layer pre-activations
small and the net nearly linear, so neither net overfits; ``DEFAULTS`` draws the weights at
scale 0.1 instead (pre-activations of a few units, the large-activation regime the notebook's
CIFAR-10 net is in). Every seed in ``settings.seeds`` trains each net once; the summary reports
the mean and spread over seeds.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from .common import Result, Settings, subset, summarize, train

__all__ = ["DEFAULTS", "NAME", "OPTIONS", "TITLE", "run"]

NAME = "dropout-regularization"
TITLE = "Dropout as a regularizer: train and validation accuracy with and without dropout"
OPTIONS = ("epochs", "learning_rate", "weight_scale")
"""The settings this experiment lets the command line change (the others it fixes itself)."""

DROP_RATES = (0.0, 0.5, 0.75)

DEFAULTS = {
    "digits": Settings(epochs=25, learning_rate=5e-4, batch_size=100, num_train=500, weight_scale=0.1,
                       seeds=(0, 1, 2)),
    "cifar10": Settings(epochs=25, learning_rate=5e-4, batch_size=100, num_train=500, weight_scale=1e-2),
}
"""Settings per dataset: on CIFAR-10 exactly the notebook's."""


def _gap(run: dict, last: int = 5) -> float:
    """Mean train − validation accuracy over the last ``last`` records."""
    train_acc, val_acc = np.array(run["train_acc_history"]), np.array(run["val_acc_history"])
    return float(np.mean(train_acc[-last:] - val_acc[-last:]))


def run(data: dict, settings: Settings, data_name: str = "digits") -> Result:
    """Train every drop rate with every seed; summarize accuracies and gaps."""
    small = subset(data, settings.num_train)
    result = Result(NAME, TITLE, data_name, {**asdict(settings), "drop_rates": list(DROP_RATES),
                                             "hidden_dims": [500], "history_dir": None})
    for rate in DROP_RATES:
        for seed in settings.seeds:
            label = f"dropout{rate:.2f}_seed{seed}"
            solver = train(small, settings, label=label, seed=seed, hidden_dims=[500], dropout=rate or None)
            result.runs[label] = {"drop_rate": rate, "seed": seed, **solver.histories()}
    result.header = ["drop rate", "final train acc", "final val acc", "best val acc", "train − val gap (last 5)"]
    gaps = {}
    for rate in DROP_RATES:
        runs = [r for r in result.runs.values() if r["drop_rate"] == rate]
        gaps[rate] = [_gap(r) for r in runs]
        result.rows.append([
            f"{rate:.2f}",
            summarize([r["train_acc_history"][-1] for r in runs]),
            summarize([r["val_acc_history"][-1] for r in runs]),
            summarize([max(r["val_acc_history"]) for r in runs]),
            summarize(gaps[rate]),
        ])
    base = np.mean(gaps[0.0])
    for rate in DROP_RATES[1:]:
        narrower = np.mean(gaps[rate]) < base
        result.findings.append(
            f"drop rate {rate:.2f}: the train − validation gap is {np.mean(gaps[rate]):.3f} against {base:.3f} "
            f"without dropout — {'narrower' if narrower else 'NOT narrower'} "
            f"({'reproduces' if narrower else 'does not reproduce'} the notebooks' finding)"
        )
    return result
