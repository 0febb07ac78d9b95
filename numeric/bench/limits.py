r"""This machine's own limits, as probes a row runs in its own rounds.

* matrix multiply :math:`C = AB` of two :math:`n \times n` matrices: :math:`2n^3` floating-point
  operations, in float64 and float32 (the ceiling for convolution written as a contraction);
* memory copy of an array much larger than the caches: every byte read once and written once
  (the ceiling for element-wise passes such as dropout and batchnorm).

A row with ``Work(..., limit=NAME)`` times the probe NAME as one more contender in every round,
so its fraction of the limit is a ratio measured back to back, like every other ratio.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["LIMITS", "Limit"]


@dataclass(frozen=True)
class Limit:
    """A machine limit: a probe of ``amount(quick)`` units per call, built by ``build(quick)``."""

    name: str
    unit: str
    dtype: str
    size: Callable[[bool], str]
    amount: Callable[[bool], float]
    build: Callable[[bool], Callable[[], object]]


def _n(quick: bool) -> int:
    return 512 if quick else 1024


def _megabytes(quick: bool) -> int:
    return 64 if quick else 256


def _matmul(dtype: str) -> Limit:
    def build(quick: bool) -> Callable[[], object]:
        rng = np.random.default_rng(0)
        a, b = (rng.standard_normal((_n(quick),) * 2).astype(dtype) for _ in range(2))
        out = np.empty_like(a)
        return lambda: np.matmul(a, b, out=out)

    return Limit(f"{dtype} matmul", "flop", dtype, lambda q: f"{_n(q)}×{_n(q)}", lambda q: 2.0 * _n(q) ** 3, build)


def _copy(quick: bool) -> Callable[[], object]:
    src = np.ones(_megabytes(quick) * 2**20 // 8)
    dst = np.empty_like(src)
    return lambda: np.copyto(dst, src)


LIMITS: dict[str, Limit] = {
    limit.name: limit
    for limit in (
        _matmul("float64"),
        _matmul("float32"),
        Limit("memory copy", "B", "float64", lambda q: f"{_megabytes(q)} MB",
              lambda q: 2.0 * _megabytes(q) * 2**20, _copy),
    )
}
"""Machine limits by name (what ``Work(limit=…)`` may name)."""
