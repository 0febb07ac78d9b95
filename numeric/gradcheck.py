r"""Central-difference gradient checks with a verdict.

For a function :math:`f` of an array :math:`x` and an upstream gradient :math:`G`, the
vector–Jacobian product :math:`\nabla_x \langle G, f(x)\rangle` is approximated entry by entry
by

.. math:: \frac{\langle G, f(x + h e_k)\rangle - \langle G, f(x - h e_k)\rangle}{2h},

with an error of order :math:`h^2 f''' + \varepsilon / h`. The upstream gradient is always
random (a plain sum hides wrong gradients: :math:`\sum \mathrm{BN}(x)` is constant in
:math:`x`), and the comparison uses the course notebooks' relative error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from derive.errors import LayergradError

__all__ = ["Verdict", "check_vjp", "numerical_gradient", "rel_error"]


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    r"""The notebooks' :math:`\max |x - y| / \max(10^{-8}, |x| + |y|)`."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise LayergradError(f"cannot compare arrays of shapes {x.shape} and {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    r""":math:`\nabla_x \langle \text{dout}, f(x)\rangle` by central differences, one entry at a
    time (``x`` is restored after each probe)."""
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise LayergradError(f"finite differences need float64 inputs, got {x.dtype}")
    grad = np.zeros_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + h
        plus = np.sum(f(x) * dout)
        flat[k] = old - h
        minus = np.sum(f(x) * dout)
        flat[k] = old
        out[k] = (plus - minus) / (2 * h)
    return grad


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: what, whether it passed, how far off, where, against what."""

    name: str
    passed: bool
    error: float
    tolerance: float
    method: str
    where: tuple[int, ...] | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "error", float(self.error))
        object.__setattr__(self, "tolerance", float(self.tolerance))

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        at = f" at {self.where}" if self.where is not None and not self.passed else ""
        extra = f" — {self.detail}" if self.detail else ""
        return f"{mark}  {self.name}: {self.method}, error {self.error:.2e} (tolerance {self.tolerance:.0e}){at}{extra}"


def check_vjp(
    name: str,
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    dout: np.ndarray,
    analytic: np.ndarray,
    *,
    tolerance: float = 1e-7,
    h: float = 1e-5,
) -> Verdict:
    """Compare an analytic gradient with central differences of ``<dout, f(x)>``."""
    numeric = numerical_gradient(f, np.array(x, dtype=np.float64), dout, h)
    analytic = np.asarray(analytic)
    if analytic.shape != numeric.shape:
        return Verdict(name, False, float("inf"), tolerance, "central differences",
                       detail=f"gradient has shape {analytic.shape}, expected {numeric.shape}")
    scale = np.maximum(1e-8, np.abs(numeric) + np.abs(analytic))
    errors = np.abs(numeric - analytic) / scale
    worst = np.unravel_index(int(np.argmax(errors)), errors.shape) if errors.size else None
    error = float(errors.max()) if errors.size else 0.0
    where = tuple(int(i) for i in worst) if worst is not None else None
    return Verdict(name, error <= tolerance, error, tolerance, "central differences", where)
