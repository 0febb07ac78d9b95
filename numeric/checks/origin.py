"""Is a submitted function layergrad's own code? Copied from an export, or imported from layergrad.

A copy is recognised by its syntax tree: a function whose tree (without its docstring)
equals the tree of the same function in layergrad's generated modules (either dropout
convention) is a copy, whatever its comments, blank lines or quotes. The source is parsed
here, never run. An import is recognised by the function's ``__module__``, as the child
reports it. Either way the function is checked like any other; the report says where it came from.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

from .text import clean

__all__ = ["MAX_SOURCE", "remarks"]

MAX_SOURCE = 2 * 2**20
"""Sources longer than this are not compared (a submission may be anything)."""

PACKAGES = ("numeric", "derive", "worksheets", "layergrad")


def _trees(source: str, names: Iterable[str] | None = None) -> dict[str, str]:
    """Top-level function name (among ``names``) → its syntax tree without docstring, as text."""
    found = {}
    wanted = None if names is None else set(names)
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and (wanted is None or node.name in wanted):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                body = body[1:]
            found[node.name] = ast.dump(ast.Module(body=body, type_ignores=[]))
    return found


@cache
def _reference_trees() -> dict[str, set[str]]:
    trees: dict[str, set[str]] = {}
    for convention in ("keep", "drop"):
        source = (Path(__file__).parent / f"reference_{convention}.py").read_text()
        for name, tree in _trees(source).items():
            trees.setdefault(name, set()).add(tree)
    return trees


def remarks(source: bytes, names: Iterable[str], origins: Mapping[str, str]) -> dict[str, str]:
    """Function name → what to say about where it came from, for those of ``names`` that are layergrad's."""
    names = list(names)
    said = {}
    for name in names:
        origin = origins.get(name, "")
        if isinstance(origin, str) and origin.split(".")[0] in PACKAGES:
            said[name] = (f"reference-copy: {name} is imported from layergrad ({clean(origin, 120)}): it passes, "
                          "but it is layergrad's code, not the module's own")
    if len(source) <= MAX_SOURCE:
        try:
            theirs = _trees(source.decode("utf-8"), set(names) - set(said))
        except (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
            theirs = {}
        reference = _reference_trees()
        for name in names:
            if name not in said and name in theirs and theirs[name] in reference.get(name, ()):
                said[name] = (f"reference-copy: {name} is layergrad's generated code (as `layergrad export` writes "
                              "it): it passes, but it is not the module's own work")
    return said
