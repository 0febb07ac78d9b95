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
    kind = "cifar10" if data_name.startswith("cifar10") else "digits"
    settings = module.DEFAULTS[kind].with_overrides(**overrides)
    settings = replace(settings, history_dir=history_dir, progress=progress)  # None: a bar on a terminal
    if isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0:
        raise LayergradError(f"threads must be a positive integer, got {threads!r}")
    with threadpool_limits(limits=threads, user_api="blas"):
        return module.run(data, settings, data_name)
