r"""Tolerances derived from the step size and the dtype, not picked by hand.

With unit roundoff :math:`\varepsilon` of the dtype the function ran in, a step :math:`h`
relative to the scale :math:`s` of the input (:math:`\eta = h/s`), a central difference has
relative truncation error of order :math:`\eta^2` and relative rounding error of order
:math:`\varepsilon/\eta`; a complex step has :math:`\eta^2` (negligible at
:math:`\eta = 10^{-20}`) and :math:`\varepsilon`. The tolerance is :data:`SAFETY` times that sum:

.. math:: \mathrm{rtol}_\text{central} = S\,(\eta^2 + \varepsilon/\eta), \qquad
          \mathrm{rtol}_\text{complex} = S\,(\eta^2 + \varepsilon),

and the absolute floor is :math:`S` times the measured rounding noise of the estimate, so
entries that are zero up to rounding (:math:`\sum_i \partial L/\partial x_i = 0` in batch
normalization) compare as equal. Entry :math:`k` agrees when

.. math:: e_k = \frac{|a_k - n_k|}{|a_k| + |n_k| + \mathrm{floor}/\mathrm{rtol}} \le \mathrm{rtol},

i.e. :math:`|a_k - n_k| \le \mathrm{rtol}\,(|a_k| + |n_k|) + \mathrm{floor}` — the course
notebooks' relative error with a floor that is measured rather than fixed at :math:`10^{-8}`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SAFETY", "Tolerance"]

SAFETY = 1000.0
"""How many times the error model's estimate a correct function may be off before it fails.
Wrong gradients are off by 1e-3 or (much) more; the model's estimate is below 1e-10."""


@dataclass(frozen=True)
class Tolerance:
    """A relative tolerance with an absolute floor, and how they were derived."""

    rtol: float
    floor: float | np.ndarray
    """Absolute floor: a scalar, or one per entry."""
    why: str

    @classmethod
    def derived(cls, method: str, h: float, scale: float, noise: float | np.ndarray,
                dtype: np.dtype | type = np.float64) -> Tolerance:
        """The tolerance for an estimate made with ``method`` at step ``h`` on inputs of size ``scale``."""
        eps = float(np.finfo(dtype).eps)
        eta = h / scale
        rounding = eps if method == "complex" else eps / eta
        rtol = SAFETY * (eta**2 + rounding)
        why = f"{SAFETY:g}·(η² + {'ε' if method == 'complex' else 'ε/η'}), η = h/scale = {eta:.1e}, ε = {eps:.1e}"
        return cls(rtol, SAFETY * noise, why)

    def errors(self, analytic: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        """The entry-wise errors :math:`e_k` (pass where ``<= rtol``)."""
        a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            e = np.abs(a - n) / (np.abs(a) + np.abs(n) + self.floor / self.rtol + np.finfo(float).tiny)
        return np.where(np.isfinite(a) & np.isfinite(n), e, np.inf)
