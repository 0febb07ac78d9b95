r"""layergrad: derive neural-network layers symbolically, generate NumPy code, check it, teach it.

The one front door, for a script or a notebook::

    import layergrad as lg

    lg.derive("batchnorm")                        # every derivation, step by step (math in Jupyter)
    lg.export("layers.py", dropout_p="keep")      # the layers in the course API
    lg.check("layers.py")                         # each function against the derivations
    lg.sheet("quiz8", "out", formats=["md", "html"])
    layer = lg.define("examples/layers/rmsnorm.toml")   # a layer defined in a few lines

Each function is the library call behind the ``layergrad`` subcommand of the same name and
takes the same choices; a mistake raises :class:`LayergradError` with one readable line. The
implementation lives in :mod:`derive` (symbolic), :mod:`numeric` (generated code, checks) and
:mod:`worksheets` (teaching output); nothing heavy is imported until a function is called.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from derive.errors import LayergradError

if TYPE_CHECKING:
    from derive.render import Derivations
    from numeric.checks import ModuleReport
    from worksheets.defined import DefinedLayer

__all__ = ["LayergradError", "check", "define", "derive", "export", "layers", "sheet"]


def define(source: str | os.PathLike | dict) -> DefinedLayer:
    """A layer defined in a few lines: a TOML file's path, a TOML string or a dict (see
    ``examples/layers``). The object derives it (``.derivation()``, shown as math in Jupyter),
    generates it (``.code()``, ``.module()``), checks an implementation (``.check(module)``) and
    teaches it (``.sheet(folder)``, ``.notebook(folder)``)."""
    from worksheets.defined import define as read

    return read(source)


def layers() -> list[str]:
    """The names :func:`derive` knows, in the registry's order."""
    from derive.registry import LAYERS

    return list(LAYERS)


def derive(layer: str, *, dropout_p: str | None = None, example: str | None = None) -> Derivations:
    r"""Every derivation of ``layer`` (see :func:`layers`), each step proved or assumed.

    ``dropout_p`` (dropout only): ``"keep"`` or ``"drop"``, the meaning of the API's ``p``;
    default both. ``example`` (conv only): ``"quiz"``, Quiz 8's 3×3 input with a 2×2 filter.
    ``print`` shows the steps as text; Jupyter shows them as math (:math:`\partial L/\partial X`)."""
    from derive.registry import layer as find
    from derive.render import Derivations

    entry = find(layer)
    options: dict[str, str] = {}
    if dropout_p is not None:
        if entry.name != "dropout":
            raise LayergradError(f"dropout_p is for the dropout layer only, not {entry.name!r}")
        options["convention"] = dropout_p
    if example is not None:
        if entry.name != "conv":
            raise LayergradError(f"example is for the conv layer only, not {entry.name!r}")
        options["example"] = example
    return Derivations(entry.derivations(**options), title=entry.name)


def export(path: str | os.PathLike, *, dropout_p: str, api: str = "cs231n", layers: Sequence[str] | None = None,
           teaching_loops: bool = False, force: bool = False) -> Path:
    """Write a NumPy module with the generated forward and backward functions of every layer (or of
    ``layers``) in the course ``api``, ``dropout_p`` being ``"keep"`` or ``"drop"``. Never replaces a
    file layergrad did not write unless ``force``; writes atomically. Returns the path."""
    from numeric.export import module_source
    from numeric.files import write_output

    return write_output(path, module_source(api, dropout_p, layers, teaching_loops=teaching_loops), force)


def check(module: str | os.PathLike | ModuleType, *, dropout_p: str | None = None, only: Sequence[str] = (),
          seed: int = 0, timeout: float = 10.0, memory: int = 1024) -> ModuleReport:
    """Check every course-API layer function of ``module``: a file (each function run in its own
    process, ``timeout`` seconds and ``memory`` MB at most) or an imported module (run here: trusted
    code only). The report prints as the command's text; ``.passed`` is the verdict."""
    from derive.dropout import Convention
    from numeric.checks import Limits, Options, check_module, check_path

    options = Options(convention=Convention.parse(dropout_p) if dropout_p else None, only=tuple(only),
                      seed=seed, limits=Limits(timeout, memory))
    if isinstance(module, ModuleType):
        return check_module(module, options)
    return check_path(module, options)


def sheet(name: str, folder: str | os.PathLike = "out", *, formats: Sequence[str] | None = None,
          versions: Sequence[str] = ("solution", "student"), seed: int | None = None,
          force: bool = False) -> list[Path]:
    """Write the worksheet ``name`` into ``folder``: the ``versions`` in the ``formats`` among md, html,
    tex, pdf (default: every one this machine can produce; asking for pdf without LaTeX is an error);
    with ``seed``, the randomized variant for that seed. Returns the paths written."""
    from worksheets.formats import write_sheet
    from worksheets.sheets import sheet_entry

    entry = sheet_entry(name)
    if seed is None:
        return write_sheet(entry.build(), Path(folder), formats, versions, force)
    if not entry.has_variants:
        raise LayergradError(f"sheet {entry.name!r} has no randomized variants")
    from worksheets.variants import make_variant

    return write_sheet(entry.build(make_variant(seed)), Path(folder), formats, versions, force)
