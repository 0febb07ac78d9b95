"""Batch normalization and weight initialization: 8-layer nets over 20 initial weight scales.

The notebook's experiment (seed 004 §2.6): seven hidden layers of 50 units, weight scales
``logspace(-4, 0, 20)``, 1,000 training examples, Adam at 1e-3, batches of 50, 10 epochs, with
and without batch normalization; best validation accuracy, best train accuracy and final
training loss (mean of the last 100 iterations) against the scale. Its finding: the plain net
trains only in a narrow band of scales (too small: the signal vanishes layer by layer; too
large: it explodes), the batchnorm net across nearly all of them.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from .common import Result, Settings, subset, train

__all__ = ["DEFAULTS", "NAME", "OPTIONS", "TITLE", "run"]

NAME = "weight-scale"
TITLE = "Batch normalization and weight initialization: 8-layer nets over 20 weight scales"
OPTIONS = ("epochs", "learning_rate")
"""The settings this experiment lets the command line change (the others it fixes itself)."""

HIDDEN = [50] * 7
SCALES = tuple(float(s) for s in np.logspace(-4, 0, num=20))
DEFAULTS = {
    "digits": Settings(epochs=10, learning_rate=1e-3, batch_size=50, num_train=1000, seeds=(0,)),
    "cifar10": Settings(epochs=10, learning_rate=1e-3, batch_size=50, num_train=1000, seeds=(0,)),
}
NETS = (("baseline", None), ("batchnorm", "batchnorm"))


def run(data: dict, settings: Settings, data_name: str = "digits") -> Result:
    """Train both nets at every scale; the summary counts the scales at which each trains."""
    small = subset(data, settings.num_train)
    result = Result(NAME, TITLE, data_name, {**asdict(settings), "hidden_dims": HIDDEN, "scales": list(SCALES),
                                             "weight_scale": None, "history_dir": None})
    for k, scale in enumerate(SCALES):
        for label, norm in NETS:
            solver = train(small, settings, label=f"{label}_scale{k:02d}", seed=settings.seeds[0], hidden_dims=HIDDEN,
                           weight_scale=scale, normalization=norm)
            losses = solver.loss_history
            result.runs[f"{label}_scale{k:02d}"] = {
                "net": label, "weight_scale": scale, **solver.histories(),
                "best_train_acc": max(solver.train_acc_history, default=0.0),
                "final_loss": float(np.mean(losses[-100:])) if losses and not solver.diverged else float("inf"),
            }
    chance = 1.0 / (int(data["y_train"].max()) + 1)
    best = max(r["val_acc_history"] and max(r["val_acc_history"]) for r in result.runs.values())
    level = chance + 0.5 * (best - chance)
    result.header = ["net", f"scales with best val acc ≥ {level:.2f}", "range of those scales",
                     "best val acc (median over scales)", "diverged runs"]
    summary = {}
    for label, _ in NETS:
        runs = [r for r in result.runs.values() if r["net"] == label]
        good = [r["weight_scale"] for r in runs if max(r["val_acc_history"], default=0.0) >= level]
        summary[label] = good
        span = f"{min(good):.1e} … {max(good):.1e}" if good else "none"
        result.rows.append([label, f"{len(good)} of {len(runs)}", span,
                            f"{np.median([max(r['val_acc_history'], default=0.0) for r in runs]):.3f}",
                            sum(bool(r["diverged"]) for r in runs)])
    wider = len(summary["batchnorm"]) > len(summary["baseline"])
    result.findings = [
        f"with batch normalization the net reaches a best validation accuracy of at least {level:.2f} (halfway "
        f"from chance to the best run) at {len(summary['batchnorm'])} of {len(SCALES)} weight scales, without it at "
        f"{len(summary['baseline'])} — {'a wider range: reproduces' if wider else 'NOT wider: does not reproduce'} "
        "the notebook's finding",
    ]
    return result
