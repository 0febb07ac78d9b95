"""Batch normalization in a deep network: the same six-layer net trained with and without it.

The notebook's experiment (seed 004 §2.5): five hidden layers of 100 units, weights drawn at
scale 0.02, 1,000 training examples, Adam at 1e-3, batches of 50, 10 epochs; training loss per
iteration, train and validation accuracy per epoch. Its finding: batch normalization makes the
deep network converge faster. At this weight scale each layer of the plain network shrinks its
input (a factor of about 0.02·√100·0.6 ≈ 0.1), so the scores start near zero and the early
gradients are tiny; batch normalization rescales every layer to unit variance.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from .common import Result, Settings, subset, summarize, train

__all__ = ["DEFAULTS", "NAME", "OPTIONS", "TITLE", "run"]

NAME = "batchnorm-deep"
TITLE = "Batch normalization in a deep network: training loss and accuracy with and without it"
OPTIONS = ("epochs", "learning_rate", "weight_scale")
"""The settings this experiment lets the command line change (the others it fixes itself)."""

HIDDEN = [100, 100, 100, 100, 100]
DEFAULTS = {
    "digits": Settings(epochs=10, learning_rate=1e-3, batch_size=50, num_train=1000, weight_scale=2e-2,
                       seeds=(0, 1, 2)),
    "cifar10": Settings(epochs=10, learning_rate=1e-3, batch_size=50, num_train=1000, weight_scale=2e-2),
}
NETS = (("baseline", None), ("batchnorm", "batchnorm"))


def _epochs_to(accuracies: list[float], level: float) -> float:
    """The first epoch at which the accuracy reaches ``level`` (inf if never)."""
    return next((float(e) for e, a in enumerate(accuracies) if a >= level), float("inf"))


def run(data: dict, settings: Settings, data_name: str = "digits") -> Result:
    """Train both nets with every seed; compare how fast they learn."""
    small = subset(data, settings.num_train)
    result = Result(NAME, TITLE, data_name, {**asdict(settings), "hidden_dims": HIDDEN, "history_dir": None})
    for label, norm in NETS:
        for seed in settings.seeds:
            solver = train(small, settings, label=f"{label}_seed{seed}", seed=seed, hidden_dims=HIDDEN,
                           normalization=norm)
            result.runs[f"{label}_seed{seed}"] = {"net": label, "seed": seed, **solver.histories()}
    per_epoch = len(next(iter(result.runs.values()))["loss_history"]) // settings.epochs
    target = 0.9
    result.header = ["net", "mean loss, epoch 1", "train acc after epoch 1", "after epoch 3",
                     "final train acc", "final val acc", f"epochs to {target:.0%} train acc"]
    summary = {}
    for label, _ in NETS:
        runs = [r for r in result.runs.values() if r["net"] == label]
        first_loss = [float(np.mean(r["loss_history"][:per_epoch])) for r in runs]
        reach = [_epochs_to(r["train_acc_history"], target) for r in runs]
        summary[label] = (first_loss, [r["train_acc_history"][1] for r in runs], reach)
        result.rows.append([label, summarize(first_loss), summarize([r["train_acc_history"][1] for r in runs]),
                            summarize([r["train_acc_history"][min(3, settings.epochs)] for r in runs]),
                            summarize([r["train_acc_history"][-1] for r in runs]),
                            summarize([r["val_acc_history"][-1] for r in runs]),
                            ", ".join("never" if x == np.inf else f"{x:g}" for x in reach)])
    base, bn = summary["baseline"], summary["batchnorm"]
    faster = np.mean(bn[1]) > np.mean(base[1]) and np.mean(bn[0]) < np.mean(base[0])
    result.findings = [
        f"after one epoch the batchnorm net has train accuracy {np.mean(bn[1]):.3f} against {np.mean(base[1]):.3f} "
        f"and a mean first-epoch loss of {np.mean(bn[0]):.3f} against {np.mean(base[0]):.3f}; it reaches "
        f"{target:.0%} train accuracy after {np.mean(bn[2]):.1f} epochs on average against "
        f"{np.mean(base[2]):.1f} — {'faster: reproduces' if faster else 'NOT faster: does not reproduce'} "
        "the notebook's finding",
    ]
    return result
