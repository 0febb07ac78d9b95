"""layergrad's own generated code, the reference the checker compares against.

The modules are the output of ``layergrad export`` for the checked layers, one per dropout
convention, checked in (so checking never waits for SymPy) and kept identical to their
generators by a test (``python -m numeric.regenerate`` rewrites them).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from derive.dropout import Convention

__all__ = ["reference_module"]


def reference_module(convention: Convention | str = Convention.KEEP) -> ModuleType:
    """The generated module for the checked layers in ``convention``."""
    return importlib.import_module(f"numeric.checks.reference_{Convention.parse(convention).value}")
