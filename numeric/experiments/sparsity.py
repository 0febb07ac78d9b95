"""Sparsity: how dropout changes the activations of a deep net as it trains (seed 003).

The article trains a 256-128-64-32 ReLU network on CIFAR-10 with and without dropout and
watches, on held-out data, (1) the number of active (positive) units per example in each
layer, (2) the mean and standard deviation of each layer's activations over training, and
(3) the histogram of the positive activations, at a few points of training. Its findings: with dropout, fewer
units are active per example and the activations are smaller and stay stable, while without
dropout their mean and spread keep growing.

Here both nets are identical except for dropout after every ReLU (one rate for all layers, as
the course networks have); after the first iteration and every epoch, the validation set goes
through each net in test mode and the statistics are recorded per layer.

The article's nets also batch-normalize every layer. Ours do not: with the course's batch
normalization the running statistics start at zero, so test-mode activations early in training
are inflated by the barely-updated running variance and the "over training" curves mostly show
that. (Tried on the digits: with batchnorm, dropout still leaves fewer units active in all four
layers, 114/51/23/12 against 124/58/29/13, but a smaller spread only in the first two.)
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from .common import Result, Settings, subset, train

__all__ = ["DEFAULTS", "NAME", "OPTIONS", "TITLE", "run"]

NAME = "sparsity"
TITLE = "Sparsity: active units and activation statistics per layer, with and without dropout"
OPTIONS = ("epochs", "learning_rate", "weight_scale")
"""The settings this experiment lets the command line change (the others it fixes itself)."""

HIDDEN = [256, 128, 64, 32]
DROP_RATE = 0.3
BINS = 60
DEFAULTS = {
    "digits": Settings(epochs=40, learning_rate=1e-3, batch_size=32, num_train=1197, weight_scale=0.05, seeds=(0,)),
    "cifar10": Settings(epochs=20, learning_rate=1e-3, batch_size=32, num_train=49000, weight_scale=1e-2,
                        seeds=(0,)),
}


def run(data: dict, settings: Settings, data_name: str = "digits") -> Result:
    """Train both nets, recording per-layer statistics of the validation activations."""
    train_data = subset(data, settings.num_train)
    X_val = data["X_val"]
    result = Result(NAME, TITLE, data_name, {**asdict(settings), "hidden_dims": HIDDEN, "drop_rate": DROP_RATE,
                                             "history_dir": None})
    snapshots = sorted({0, settings.epochs // 4, settings.epochs // 2, settings.epochs})
    kept: dict[str, dict[int, list[np.ndarray]]] = {}
    for label, rate in (("baseline", None), ("dropout", DROP_RATE)):
        stats = {"epoch": [], "active_per_example": [], "mean": [], "std": []}
        kept[label] = {}

        def record(solver, stats=stats, kept=kept[label]):
            hidden = solver.model.hidden_activations(X_val)
            if solver.epoch in snapshots:
                kept[solver.epoch] = [h[h > 0] for h in hidden]
            stats["epoch"].append(solver.epoch)
            stats["active_per_example"].append([float((h > 0).sum(axis=1).mean()) for h in hidden])
            stats["mean"].append([float(h.mean()) for h in hidden])
            stats["std"].append([float(h.std()) for h in hidden])

        solver = train(train_data, settings, label=label, seed=settings.seeds[0], hidden_dims=HIDDEN,
                       dropout=rate, on_record=record)
        result.runs[label] = {"drop_rate": rate or 0.0, **solver.histories(), **stats}
    epochs = sorted(set.intersection(*(set(k) for k in kept.values())))
    result.extra["histogram_epochs"] = epochs
    result.extra["histograms"] = []  # per layer: shared bin edges, and per net one histogram per epoch
    for layer in range(len(HIDDEN)):
        largest = max(float(k[e][layer].max(initial=0.0)) for k in kept.values() for e in epochs)
        edges = np.linspace(0, largest or 1.0, BINS + 1)
        result.extra["histograms"].append({"edges": edges.tolist(), **{
            label: [np.histogram(k[e][layer], bins=edges)[0].tolist() for e in epochs] for label, k in kept.items()
        }})
    result.header = ["net", "layer", "units", "active per example (first → last)", "mean activation (first → last)",
                     "std (first → last)", "final val acc"]
    base, drop = result.runs["baseline"], result.runs["dropout"]
    for label, r in result.runs.items():
        for layer, units in enumerate(HIDDEN):
            result.rows.append([
                label, layer + 1, units,
                f"{r['active_per_example'][0][layer]:.1f} → {r['active_per_example'][-1][layer]:.1f}",
                f"{r['mean'][0][layer]:.3f} → {r['mean'][-1][layer]:.3f}",
                f"{r['std'][0][layer]:.3f} → {r['std'][-1][layer]:.3f}",
                f"{r['val_acc_history'][-1]:.3f}",
            ])
    fewer = [layer + 1 for layer in range(len(HIDDEN))
             if drop["active_per_example"][-1][layer] < base["active_per_example"][-1][layer]]
    smaller = [layer + 1 for layer in range(len(HIDDEN)) if drop["std"][-1][layer] < base["std"][-1][layer]]
    growth = [base["std"][-1][layer] / base["std"][0][layer] for layer in range(len(HIDDEN))]
    growth_drop = [drop["std"][-1][layer] / drop["std"][0][layer] for layer in range(len(HIDDEN))]
    result.findings = [
        f"active units per example at the end: dropout has fewer in layers {fewer or 'none'} of {len(HIDDEN)} "
        f"(baseline {', '.join(f'{v:.1f}' for v in base['active_per_example'][-1])}; dropout "
        f"{', '.join(f'{v:.1f}' for v in drop['active_per_example'][-1])})",
        f"activation spread at the end is smaller with dropout in layers {smaller or 'none'}; over training the "
        f"baseline's std grew ×{', ×'.join(f'{g:.1f}' for g in growth)} per layer, the dropout net's "
        f"×{', ×'.join(f'{g:.1f}' for g in growth_drop)}",
    ]
    return result
