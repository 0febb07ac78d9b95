"""Figures of the experiments, drawn from their results (:mod:`numeric.experiments`).

:data:`FIGURES` maps an experiment's name to a function ``result -> [(stem, Figure)]``; every
figure has a title, labelled axes and a legend. Figures are built with matplotlib's object
interface (no global state) and saved by :mod:`worksheets.experiments`.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from numeric.experiments import Result

__all__ = ["FIGURES"]

Figures = list[tuple[str, Figure]]
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
DROPPED = "#0288d1"


def _band(ax, curves: list[list[float]], color: str, label: str, marker: str = "o") -> None:
    """Mean over runs as a line, min–max over runs as a shaded band."""
    length = min(len(c) for c in curves)
    values = np.array([c[:length] for c in curves])
    x = np.arange(length)
    ax.plot(x, values.mean(axis=0), "-", marker=marker, ms=3, color=color, label=label)
    if len(curves) > 1:
        ax.fill_between(x, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2, lw=0)


def dropout_regularization(result: Result) -> Figures:
    rates = result.settings["drop_rates"]
    seeds = len(result.settings["seeds"])
    fig = Figure(figsize=(9, 11), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    panels = (("train_acc_history", "Train accuracy"), ("val_acc_history", "Validation accuracy"),
              (None, "Train − validation accuracy (the gap)"))
    for ax, (key, title) in zip(axes, panels):
        for color, rate in zip(COLORS, rates):
            runs = [r for r in result.runs.values() if r["drop_rate"] == rate]
            curves = ([r[key] for r in runs] if key else
                      [list(np.subtract(r["train_acc_history"], r["val_acc_history"])) for r in runs])
            _band(ax, curves, color, f"{rate:.2f} dropout" if rate else "no dropout")
        ax.set_title(title)
        ax.set_ylabel("accuracy" if key else "accuracy gap")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if key else "upper left", ncol=len(rates))
    axes[-1].set_xlabel("epoch")
    fig.suptitle(f"Dropout as a regularizer: 500-unit net, {result.settings['num_train']} training examples "
                 f"({result.data}; mean and min–max over {seeds} seed{'s' * (seeds > 1)})")
    return [("dropout-regularization", fig)]


def sparsity(result: Result) -> Figures:
    dims = result.settings["hidden_dims"]
    nets = (("baseline", "no dropout"), ("dropout", f"dropout {result.settings['drop_rate']:.2f}"))
    active = Figure(figsize=(11, 7), layout="constrained")
    for layer, ax in enumerate(active.subplots(2, 2).ravel()):
        for color, (key, label) in zip(COLORS, nets):
            r = result.runs[key]
            ax.plot(r["epoch"], [v[layer] for v in r["active_per_example"]], "-o", ms=3, color=color, label=label)
        ax.set_title(f"Hidden layer {layer + 1} ({dims[layer]} units)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("active units per example")
        ax.grid(alpha=0.3)
        ax.legend()
    active.suptitle(f"Active (positive) units per validation example over training ({result.data})")

    stats = Figure(figsize=(11, 3 * len(dims)), layout="constrained")
    grid = stats.subplots(len(dims), 2, sharex=True)
    for layer in range(len(dims)):
        for column, (key, name) in enumerate((("mean", "mean"), ("std", "standard deviation"))):
            ax = grid[layer, column]
            for color, (net, label) in zip(COLORS, nets):
                r = result.runs[net]
                ax.plot(r["epoch"], [v[layer] for v in r[key]], "-", color=color, label=label)
            ax.set_title(f"Layer {layer + 1}: activation {name}")
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            ax.legend()
        grid[layer, 0].set_xlabel("epoch")
        grid[layer, 1].set_xlabel("epoch")
    stats.suptitle(f"Statistics of the ReLU outputs on the validation set over training ({result.data})")

    epochs = result.extra["histogram_epochs"]
    shades = matplotlib.colormaps["viridis"](np.linspace(0.1, 0.9, len(epochs)))
    hist = Figure(figsize=(11, 2.8 * len(dims)), layout="constrained")
    panels = hist.subplots(len(dims), 2, squeeze=False)
    for layer in range(len(dims)):
        histogram = result.extra["histograms"][layer]
        edges = np.array(histogram["edges"])
        for column, (key, label) in enumerate(nets):
            ax = panels[layer, column]
            for shade, epoch, values in zip(shades, epochs, histogram[key]):
                ax.stairs(values, edges, baseline=None, color=shade, label=f"epoch {epoch} ({sum(values)} positive)")
            ax.set_yscale("log")
            ax.set_title(f"Layer {layer + 1} ({dims[layer]} units), {label}")
            ax.set_xlabel("activation value")
            ax.set_ylabel("count (log scale)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
    hist.suptitle(f"Histograms of the positive activations on the validation set over training ({result.data})")
    return [("sparsity-active-units", active), ("sparsity-statistics", stats), ("sparsity-histograms", hist)]


def zero_out(result: Result) -> Figures:
    first = result.runs["sgd"]["first_step"]
    dropped = first["dropped_units"]
    heat = Figure(figsize=(12, 5.5), layout="constrained")
    left, right = heat.subplots(1, 2, width_ratios=(2, 1))
    panels = ((left, "dW1", "|ΔW1| (input → hidden)", 1), (right, "dW2", "|ΔW2| (hidden → output)", 0))
    for ax, key, title, axis in panels:
        values = np.array(first[key])
        image = ax.imshow(values, aspect="auto", cmap="magma", interpolation="nearest")
        heat.colorbar(image, ax=ax, label="size of the update")
        rows, columns = values.shape
        if axis == 1:  # a triangle above each dropped unit's column
            ax.plot(dropped, [-1.2] * len(dropped), "v", color=DROPPED, ms=6, clip_on=False)
        else:  # and left of each dropped unit's row
            ax.plot([-0.9] * len(dropped), dropped, ">", color=DROPPED, ms=6, clip_on=False)
            ax.tick_params(axis="y", pad=14)
        ax.set_xlim(-0.5, columns - 0.5)
        ax.set_ylim(rows - 0.5, -0.5)
        ax.set_title(title, pad=14)
        if axis == 1:
            ax.set_xlabel("hidden unit")
            ax.set_ylabel("input feature")
        else:
            ax.set_xlabel("class")
            ax.set_ylabel("hidden unit")
    marker = Line2D([], [], color=DROPPED, marker="v", ls="", ms=6,
                    label=f"dropped unit ({len(dropped)} of {np.array(first['dW2']).shape[0]}): its column of ΔW1 "
                    "and row of ΔW2 are exactly 0 (black); kept units the ReLU switched off are 0 as well")
    heat.legend(handles=[marker], loc="outside lower center")
    heat.suptitle("One SGD step on one example: the weights of dropped units (marked ▼ ▶) are not updated")

    steps = Figure(figsize=(10, 6), layout="constrained")
    ax = steps.subplots()
    for color, rule in zip(COLORS, ("sgd", "adam")):
        r = result.runs[rule]
        x = np.arange(1, len(r["dropped_move"]) + 1)
        ax.plot(x, r["kept_move"], "-", color=color, alpha=0.5, label=f"{rule}: weights of kept units")
        ax.plot(x, r["dropped_move"], "o", ms=4, color=color, label=f"{rule}: weights of dropped units")
    ax.set_yscale("symlog", linthresh=1e-6)
    ax.set_xlabel("training step (one example each)")
    ax.set_ylabel("largest |update| of attached weights (symlog)")
    ax.set_title("Zero-out step by step: SGD leaves dropped units' weights exactly in place; "
                 "Adam's momentum still moves them")
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", bbox_to_anchor=(1.0, 0.33))
    return [("zero-out-first-step", heat), ("zero-out-steps", steps)]


def scale_up(result: Result) -> Figures:
    runs = list(result.runs.values())
    fig = Figure(figsize=(13, 8.5), layout="constrained")
    top = fig.subplots(2, len(runs), height_ratios=(3, 2))
    for k, r in enumerate(runs):
        ax = top[0, k]
        x_in, x_out = np.array(r["sample_in"]), np.array(r["sample_out"])
        kept = x_out != 0
        ax.plot(x_in[kept], x_out[kept], "o", ms=3, color=COLORS[0], label="kept: scaled up")
        ax.plot(x_in[~kept], x_out[~kept], "x", ms=4, color=COLORS[1], label="dropped: zeroed out")
        line = np.array([0, x_in.max()])
        ax.plot(line, line * r["expected_scale"], "k--", lw=1, label=f"y = x/(1 − r) = {r['expected_scale']:g}·x")
        ax.plot(line, line, ":", color="gray", lw=1, label="y = x (no scaling)")
        ax.set_title(f"drop rate r = {r['rate']:g}")
        ax.set_xlabel("activation before dropout")
        ax.set_ylabel("activation after dropout (train mode)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for k, r in enumerate(runs):
        ax = top[1, k]
        ratio = np.array(r["output_means"]) / r["input_mean"]
        ax.hist(ratio, bins=20, color=COLORS[2], label=f"{len(ratio)} draws")
        ax.axvline(1.0, color="k", ls="--", label="1 (mean preserved)")
        ax.set_xlabel("mean after / mean before")
        ax.set_ylabel("draws")
        ax.set_title(f"r = {r['rate']:g}: the mean is kept on average")
        ax.legend(fontsize="small")
    fig.suptitle(f"Scale-up in the generated dropout layer ({result.data}: first ReLU layer's activations)")
    return [("scale-up", fig)]


def batchnorm_deep(result: Result) -> Figures:
    nets = (("baseline", "baseline"), ("batchnorm", "batchnorm"))
    seeds = len(result.settings["seeds"])
    fig = Figure(figsize=(10, 12), layout="constrained")
    loss_ax, train_ax, val_ax = fig.subplots(3, 1)
    for color, (key, label) in zip(COLORS, nets):
        runs = [r for r in result.runs.values() if r["net"] == key]
        length = min(len(r["loss_history"]) for r in runs)
        losses = np.array([r["loss_history"][:length] for r in runs])
        loss_ax.plot(np.arange(1, length + 1), losses.mean(axis=0), "-", lw=0.8, color=color, label=label)
        if seeds > 1:
            loss_ax.fill_between(np.arange(1, length + 1), losses.min(axis=0), losses.max(axis=0), color=color,
                                 alpha=0.2, lw=0)
        _band(train_ax, [r["train_acc_history"] for r in runs], color, label)
        _band(val_ax, [r["val_acc_history"] for r in runs], color, label)
    loss_ax.set(title="Training loss", xlabel="iteration", ylabel="loss")
    train_ax.set(title="Training accuracy", xlabel="epoch", ylabel="accuracy")
    val_ax.set(title="Validation accuracy", xlabel="epoch", ylabel="accuracy")
    for ax, where in ((loss_ax, "upper right"), (train_ax, "lower right"), (val_ax, "lower right")):
        ax.grid(alpha=0.3)
        ax.legend(loc=where)
    dims = "-".join(str(h) for h in result.settings["hidden_dims"])
    fig.suptitle(f"A {len(result.settings['hidden_dims']) + 1}-layer net ({dims} hidden units, weight scale "
                 f"{result.settings['weight_scale']:g}) with and without batch normalization\n"
                 f"({result.data}; mean and min–max over {seeds} seed{'s' * (seeds > 1)})")
    return [("batchnorm-deep", fig)]


def weight_scale(result: Result) -> Figures:
    fig = Figure(figsize=(10, 12), layout="constrained")
    panels = fig.subplots(3, 1, sharex=True)
    measures = (("best val accuracy", lambda r: max(r["val_acc_history"], default=np.nan)),
                ("best train accuracy", lambda r: r["best_train_acc"]),
                ("final training loss", lambda r: r["final_loss"]))
    for ax, (name, measure) in zip(panels, measures):
        for color, key in zip(COLORS, ("baseline", "batchnorm")):
            runs = sorted((r for r in result.runs.values() if r["net"] == key), key=lambda r: r["weight_scale"])
            values = np.array([measure(r) for r in runs], dtype=float)
            ax.semilogx([r["weight_scale"] for r in runs], np.where(np.isfinite(values), values, np.nan), "-o",
                        ms=4, color=color, label=key)
        ax.set_title(f"{name.capitalize()} vs weight initialization scale")
        ax.set_ylabel(name + (" (log scale)" if "loss" in name else ""))
        if "loss" in name:
            ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="best")
    panels[-1].set_xlabel("weight initialization scale")
    fig.suptitle(f"8-layer nets with and without batch normalization over {len(result.settings['scales'])} "
                 f"initial weight scales ({result.data})")
    return [("weight-scale", fig)]


FIGURES: dict[str, Callable[[Result], Figures]] = {
    "dropout-regularization": dropout_regularization,
    "batchnorm-deep": batchnorm_deep,
    "weight-scale": weight_scale,
    "sparsity": sparsity,
    "zero-out": zero_out,
    "scale-up": scale_up,
}
