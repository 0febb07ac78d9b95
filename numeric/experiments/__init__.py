"""The seeds' experiments, run on layergrad's own generated layers.

:data:`EXPERIMENTS` maps each name to its module (``NAME``, ``TITLE``, ``DEFAULTS`` per
dataset, ``run``). :func:`run` picks the settings for the data, applies the user's overrides,
limits BLAS to the requested number of threads (one by default: these matrices are small, and
on a shared machine extra threads mostly wait for each other) and returns the
:class:`~numeric.experiments.common.Result`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import ModuleType

from derive.errors import LayergradError

from . import batchnorm_deep, dropout_regularization, scale_up, sparsity, weight_scale, zero_out
from .common import Result, Settings

__all__ = ["EXPERIMENTS", "Result", "Settings", "experiment", "run"]

EXPERIMENTS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (dropout_regularization, batchnorm_deep, weight_scale, sparsity, zero_out, scale_up)
}


TUNABLE = ("epochs", "learning_rate", "weight_scale")
"""Settings the command line offers; each experiment's ``OPTIONS`` says which of them it uses."""


def experiment(name: str) -> ModuleType:
    """The experiment called ``name``."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise LayergradError(f"unknown experiment {name!r}; expected one of {', '.join(EXPERIMENTS)}") from None


def run(name: str, data: dict, data_name: str = "digits", *, history_dir: Path | None = None,
        progress: bool | None = False, threads: int = 1, **overrides) -> Result:
    """Run experiment ``name`` on ``data`` (``data_name`` picks its default settings)."""
    from threadpoolctl import threadpool_limits

    module = experiment(name)
    unused = [key for key in TUNABLE if overrides.get(key) is not None and key not in module.OPTIONS]
    if unused:
        taken = ", ".join(k.replace("_", " ") for k in module.OPTIONS) or "none"
        raise LayergradError(f"experiment {name!r} sets its own {', '.join(k.replace('_', ' ') for k in unused)}; "
                             f"the settings it takes are: {taken}")
    kind = "cifar10" if data_name.startswith("cifar10") else "digits"
    settings = module.DEFAULTS[kind].with_overrides(**overrides)
    settings = replace(settings, history_dir=history_dir, progress=progress)  # None: a bar on a terminal
    if isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0:
        raise LayergradError(f"threads must be a positive integer, got {threads!r}")
    with threadpool_limits(limits=threads, user_api="blas"):
        return module.run(data, settings, data_name)
