r"""Where to evaluate: float64 inputs, points away from kinks, windows without ties.

Finite differences in float32 are meaningless at the usual steps (rounding of order
:math:`10^{-7}\,|f|` divided by :math:`h = 10^{-5}` swamps the derivative), so every input is
taken to float64 and every output must stay there. A central difference straddling a kink
(ReLU at 0) or a tie (two equal entries in a max-pooling window) measures the average of two
one-sided slopes, which no backward pass returns; :func:`away_from_kinks` and
:func:`without_ties` move evaluation points by the smallest amount that avoids both.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from derive.errors import LayergradError

__all__ = ["as_float64", "away_from_kinks", "require_float64", "without_ties"]


def as_float64(name: str, a: np.ndarray | float) -> np.ndarray:
    """A float64 copy of ``a``; lower-precision floats are widened, anything else refused."""
    a = np.asarray(a)
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.floating):
        raise LayergradError(f"{name} must be a real floating-point array to check gradients, got dtype {a.dtype}")
    return np.array(a, dtype=np.float64)


def require_float64(name: str, y: np.ndarray) -> np.ndarray:
    """``y`` as an array, refusing any output computed in less than double precision."""
    y = np.asarray(y)
    if y.dtype not in (np.float64, np.complex128):
        raise LayergradError(
            f"{name} returned dtype {y.dtype} for a float64 input; finite differences need float64 "
            "throughout (float32 rounding divided by the step swamps the derivative): keep the input's dtype"
        )
    return y


def away_from_kinks(x: np.ndarray, margin: float, kinks: Iterable[float] = (0.0,)) -> np.ndarray:
    """``x`` with every entry closer than ``margin`` to a kink pushed out to ``margin``, on its own side."""
    x = np.array(x, dtype=np.float64)
    for kink in kinks:
        offset = x - kink
        near = np.abs(offset) < margin
        side = np.where(offset >= 0, 1.0, -1.0)
        x[near] = kink + side[near] * margin
    return x


def without_ties(x: np.ndarray, gap: float) -> np.ndarray:
    r"""``x`` with all entries at least ``gap`` apart, each moved up as little as possible.

    Sorting gives :math:`s_0 \le s_1 \le \dots`; with :math:`t_k = s_k - k\,\mathrm{gap}`, the
    values :math:`y_k = \max_{j \le k} t_j + k\,\mathrm{gap}` satisfy :math:`y_k \ge s_k` and
    :math:`y_k - y_{k-1} \ge \mathrm{gap}` (no two entries of any pooling window tie)."""
    x = np.array(x, dtype=np.float64)
    flat = x.reshape(-1)
    order = np.argsort(flat, kind="stable")
    k = np.arange(flat.size) * gap
    flat[order] = np.maximum.accumulate(flat[order] - k) + k
    return x
