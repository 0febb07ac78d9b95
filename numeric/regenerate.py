"""The generated modules layergrad itself uses, checked in, and the command that rewrites them.

The course package :mod:`numeric.course` (the network, solver and sandwich layers that
``layergrad export --package`` copies) runs on generated layer code, ``numeric/course/layers.py``,
the same code ``layergrad export`` writes for users. That code is checked in (so that importing layergrad
never runs SymPy) and, like the output of any code generator kept under version control, a
test regenerates it and fails when the checked-in text differs. To bring it up to date::

    python -m numeric.regenerate
"""

from __future__ import annotations

import ast
from pathlib import Path

from .export import module_source
from .files import write_output

__all__ = ["CHECKED_LAYERS", "PACKAGED", "expected", "main", "stale"]

HERE = Path(__file__).resolve().parent

CHECKED_LAYERS = (
    "dropout", "affine", "relu", "softmax", "svm", "batchnorm", "layernorm", "spatial_batchnorm", "groupnorm",
    "conv", "maxpool",
)
"""Layers whose generated code is the reference of ``layergrad check`` (one module per convention)."""

PACKAGED: dict[Path, dict] = {
    HERE / "course" / "layers.py": {"api": "cs231n", "dropout_p": "keep", "layers": CHECKED_LAYERS},
    **{HERE / "checks" / f"reference_{p}.py": {"api": "cs231n", "dropout_p": p, "layers": CHECKED_LAYERS,
                                                "docstrings": False}
       for p in ("keep", "drop")},
}
"""Checked-in generated module → the :func:`numeric.export.module_source` arguments it comes from
(``docstrings: False``: the code alone, without the functions' docstrings — the checker's
references need only the code, and the formulas printed in the docstrings of the normalization
layers name their summation indices differently from one interpreter to the next)."""


def expected(path: Path) -> str:
    """The text ``path`` must hold: what the generators produce today."""
    arguments = dict(PACKAGED[path])
    docstrings = arguments.pop("docstrings", True)
    source = module_source(**arguments)
    return source if docstrings else _code_only(source)


def _code_only(source: str) -> str:
    """``source`` without its functions' docstrings and without the export's own hash line."""
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and ast.get_docstring(node) is not None:
            first = node.body[0]
            drop.update(range(first.lineno - 1, first.end_lineno or first.lineno))
    kept = [line for k, line in enumerate(lines) if k not in drop and not line.startswith("# layergrad-sha256: ")]
    return "".join(kept).rstrip("\n") + "\n"


def stale() -> list[Path]:
    """The checked-in generated modules whose text differs from a fresh generation."""
    return [path for path in PACKAGED if not path.exists() or path.read_text() != expected(path)]


def main() -> None:
    """Rewrite every stale checked-in module (even a hand-edited one: version control keeps the
    old text, and a generated module is never edited by hand)."""
    for path in stale():
        write_output(path, expected(path), force=True)
        print(f"regenerated {path}")


if __name__ == "__main__":
    main()
