"""layergrad's own generated code, loaded as the reference the checker compares against."""

from __future__ import annotations

from functools import cache
from types import ModuleType

from derive.dropout import Convention

from ..export import module_source

__all__ = ["reference_module"]


@cache
def reference_module(convention: Convention | str = Convention.KEEP) -> ModuleType:
    """The module ``layergrad export --api cs231n --dropout-p CONVENTION`` writes, imported."""
    convention = Convention.parse(convention)
    module = ModuleType(f"layergrad_reference_{convention.value}")
    exec(compile(module_source("cs231n", convention), f"<layergrad reference, {convention.value}>", "exec"),
         module.__dict__)
    return module
