r"""The outcome of one check, and the course notebooks' relative error.

A :class:`Verdict` says what was checked, whether it passed, the worst error and where it
occurred, the tolerance it was held to and the method used; when a check fails and the cause
is recognized, ``mistake`` names it and ``diagnosis`` says it in plain words.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from derive.errors import LayergradError

__all__ = ["Verdict", "rel_error"]


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    r"""The notebooks' :math:`\max_k |x_k - y_k| / \max(10^{-8}, |x_k| + |y_k|)`."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise LayergradError(f"cannot compare arrays of shapes {x.shape} and {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Verdict:
    """One check: what, whether it passed, how far off, where, against what, and why not."""

    name: str
    passed: bool
    error: float
    tolerance: float
    method: str
    where: tuple[int, ...] | None = None
    detail: str = ""
    mistake: str = ""
    diagnosis: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:  # plain Python numbers, whatever NumPy scalars came in
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "error", float(self.error))
        object.__setattr__(self, "tolerance", float(self.tolerance))
        if self.where is not None:
            object.__setattr__(self, "where", tuple(int(i) for i in self.where))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    def line(self, method: bool = True) -> str:
        """One terminal line: mark, name, method (unless ``method=False``), error against
        tolerance, where, detail."""
        mark = "PASS" if self.passed else "FAIL"
        at = f" at {self.where}" if self.where is not None and not self.passed else ""
        extra = f" — {self.detail}" if self.detail else ""
        how = f"{self.method}, " if method else ""
        return f"{mark}  {self.name}: {how}error {self.error:.2e} (tolerance {self.tolerance:.0e}){at}{extra}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (non-finite numbers become ``None``)."""
        data = asdict(self)
        data["error"] = _finite(self.error)
        data["tolerance"] = _finite(self.tolerance)
        data["where"] = list(self.where) if self.where is not None else None
        data["warnings"] = list(self.warnings)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """The inverse of :meth:`to_dict`."""
        data = dict(data)
        data["error"] = math.inf if data.get("error") is None else float(data["error"])
        data["tolerance"] = math.inf if data.get("tolerance") is None else float(data["tolerance"])
        data["where"] = tuple(data["where"]) if data.get("where") is not None else None
        data["warnings"] = tuple(data.get("warnings", ()))
        return cls(**data)
