"""Symbolic layer of layergrad: derivations of layers, checked step by step with SymPy.

SymPy is imported on first use of a derivation name, so ``derive.errors`` (which generated
modules import) loads without it.
"""

from typing import Any

from .errors import LayergradError

__all__ = ["Assumption", "Derivation", "LayergradError", "Prover", "Step", "by_sympy", "unfold"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import derivation

        return getattr(derivation, name)
    raise AttributeError(f"module 'derive' has no attribute {name!r}")
