"""Symbolic layer of layergrad: derivations of layers, checked step by step with SymPy.

The names below load on first use, so that ``derive.errors`` (the one error type, which the
runtime pieces in :mod:`numeric` raise) imports without SymPy.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Assumption", "Derivation", "LayergradError", "Prover", "Step", "by_sympy", "unfold"]

_HOME = {name: ".errors" if name == "LayergradError" else ".derivation" for name in __all__}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name], __name__), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
