"""Pieces every suite uses: the generated module, optional PyTorch (with the run's thread count)."""

from __future__ import annotations

import types
from functools import cache

import numpy as np

from .core import Unavailable

__all__ = ["THREADS", "array_bytes", "exported", "exported_source", "missing", "torch_or_reason"]

THREADS: dict[str, int | None] = {"torch": None}
"""Threads PyTorch may use in this run (None: its default); set by :func:`numeric.bench.run`."""


@cache
def exported_source(dropout_p: str = "keep") -> str:
    """The text ``layergrad export --api cs231n`` writes (built once per run)."""
    from numeric.export import module_source

    return module_source("cs231n", dropout_p)


@cache
def exported(dropout_p: str = "keep") -> types.ModuleType:
    """The exported module, imported."""
    module = types.ModuleType(f"layergrad_bench_layers_{dropout_p}")
    exec(compile(exported_source(dropout_p), module.__name__, "exec"), module.__dict__)
    return module


def missing(module: types.ModuleType, *names: str) -> Unavailable | None:
    """Why ``module`` cannot run a contender (functions it does not define yet), or None."""
    absent = [name for name in names if not hasattr(module, name)]
    return Unavailable(f"not exported yet: {', '.join(absent)}") if absent else None


def torch_or_reason() -> types.ModuleType | Unavailable:
    """PyTorch (CPU, float64 allowed) when installed; otherwise why not, for the table."""
    try:
        import torch
    except ImportError:
        return Unavailable("torch not installed (pip install torch==2.13.0)")
    if THREADS["torch"]:
        torch.set_num_threads(THREADS["torch"])
    return torch


def array_bytes(*arrays: np.ndarray) -> int:
    """Bytes that must cross memory when each array is read or written once."""
    return int(sum(a.nbytes for a in arrays))
