"""What every experiment shares: its settings, its result, and one training run.

An experiment is a module with ``NAME``, ``TITLE``, ``DEFAULTS`` (its settings on the
default data) and ``run(data, settings) -> Result``. The result holds everything that was
measured, JSON-ready: the histories of every training run, a summary table and the findings
in words with their numbers. Drawing it is the teaching layer's job
(:mod:`worksheets.experiments`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from derive.errors import LayergradError

from ..fc_net import FullyConnectedNet
from ..solver import Solver

__all__ = ["Result", "Settings", "subset", "summarize", "train"]


@dataclass(frozen=True)
class Settings:
    """Knobs of an experiment; each experiment's ``DEFAULTS`` fills them for its own setup."""

    epochs: int = 10
    learning_rate: float = 1e-3
    batch_size: int = 50
    num_train: int = 1000
    weight_scale: float = 1e-2
    seeds: tuple[int, ...] = (0,)
    update_rule: str = "adam"
    quick: bool = False
    progress: bool | None = False
    history_dir: Path | None = None
    dtype: str = "float64"

    def with_overrides(self, **changes) -> Settings:
        """These settings with every change that is not ``None``, checked."""
        changes = {k: v for k, v in changes.items() if v is not None}
        for name in ("epochs", "batch_size", "num_train"):
            value = changes.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise LayergradError(f"{name.replace('_', ' ')} must be a positive integer, got {value!r}")
        for name in ("learning_rate", "weight_scale"):
            value = changes.get(name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise LayergradError(f"{name.replace('_', ' ')} must be a positive number, got {value!r}")
        return replace(self, **changes)


@dataclass
class Result:
    """What an experiment measured."""

    name: str
    title: str
    data: str
    settings: dict
    runs: dict[str, dict] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"experiment": self.name, "title": self.title, "data": self.data, "settings": self.settings,
                "summary": {"header": self.header, "rows": self.rows}, "findings": self.findings,
                "runs": self.runs, **self.extra}


def subset(data: dict, num_train: int) -> dict:
    """The first ``num_train`` training examples and the whole validation set."""
    available = len(data["y_train"])
    if num_train > available:
        raise LayergradError(f"the data has {available} training examples; the experiment asks for {num_train}")
    return {"X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
            "X_val": data["X_val"], "y_val": data["y_val"]}


def train(
    data: dict,
    settings: Settings,
    *,
    label: str,
    seed: int,
    hidden_dims: list[int],
    weight_scale: float | None = None,
    on_record: Callable[[Solver], None] | None = None,
    **net_options,
) -> Solver:
    """Build a net (weights drawn after ``np.random.seed(seed)``) and train it; return the solver.

    Histories go to ``settings.history_dir / f"{label}.json"`` at every epoch, so an
    interrupted experiment keeps what it measured."""
    np.random.seed(seed)
    input_dim = int(np.prod(data["X_train"].shape[1:]))
    num_classes = int(max(data["y_train"].max(), data["y_val"].max())) + 1
    model = FullyConnectedNet(hidden_dims, input_dim=input_dim, num_classes=max(num_classes, 2),
                              weight_scale=weight_scale or settings.weight_scale,
                              dtype=np.dtype(settings.dtype), **net_options)
    history = settings.history_dir / f"{label}.json" if settings.history_dir is not None else None
    solver = Solver(model, data, update_rule=settings.update_rule,
                    optim_config={"learning_rate": settings.learning_rate}, batch_size=settings.batch_size,
                    num_epochs=settings.epochs, verbose=False, progress=settings.progress, label=label,
                    history_path=history, on_record=on_record)
    solver.train()
    return solver


def summarize(values: list[float]) -> str:
    """``mean ± sd`` (or the single value) with three decimals."""
    values = [float(v) for v in values]
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"
