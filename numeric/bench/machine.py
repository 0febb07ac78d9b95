r"""This machine's own limits, measured in the same run as everything they are compared with.

* matrix multiply :math:`C = AB` of two :math:`n \times n` matrices: :math:`2n^3` floating-point
  operations, in float64 and float32 (the ceiling for convolution written as a contraction);
* memory copy of an array much larger than the caches: every byte read once and written once
  (the ceiling for element-wise passes such as dropout and batchnorm).
"""

from __future__ import annotations

import numpy as np

from .core import Row, Work

__all__ = ["rows"]


def _matmul(n: int, dtype: str) -> dict:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    return {"numpy matmul": lambda: np.matmul(a, b, out=out)}


def _copy(megabytes: int) -> dict:
    src = np.ones(megabytes * 2**20 // 8)
    dst = np.empty_like(src)
    return {"numpy copyto": lambda: np.copyto(dst, src)}


def rows(quick: bool) -> list[Row]:
    n = 512 if quick else 1024
    megabytes = 64 if quick else 256
    matmuls = [
        Row(
            name=f"{dtype} matmul", group="machine", size=f"{n}×{n}", dtype=dtype,
            contenders=("numpy matmul",), setup=lambda dtype=dtype: _matmul(n, dtype),
            work=Work(2.0 * n**3, "flop", provides=f"{dtype} matmul"), memory=False,
        )
        for dtype in ("float64", "float32")
    ]
    copy = Row(
        name="memory copy", group="machine", size=f"{megabytes} MB", dtype="float64",
        contenders=("numpy copyto",), setup=lambda: _copy(megabytes),
        work=Work(2.0 * megabytes * 2**20, "B", provides="memory copy"), memory=False,
    )
    return [*matmuls, copy]
