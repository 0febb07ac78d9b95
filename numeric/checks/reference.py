"""layergrad's own generated code, the reference the checker compares against."""

from __future__ import annotations

from types import ModuleType

from derive.dropout import Convention

from ..export import generated_module

__all__ = ["reference_module"]


def reference_module(convention: Convention | str = Convention.KEEP) -> ModuleType:
    """The module ``layergrad export --api cs231n --dropout-p CONVENTION`` writes, imported in memory."""
    return generated_module(Convention.parse(convention))
