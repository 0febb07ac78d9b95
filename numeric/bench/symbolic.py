r"""The symbolic side: deriving, exporting, validating.

* ``derive LAYER``: every derivation of a registered layer, built (each step proved when it is
  added, closed forms compared with their targets) in a fresh interpreter, so neither SymPy's
  cache nor ``functools.cache`` remembers an earlier run; the import of SymPy is not counted.
* ``layergrad export``: the command end to end (interpreter start, imports, deriving,
  generating, writing the file), as a user runs it.
* ``validate exported``: every check ``layergrad check`` runs on the exported module.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from derive.errors import LayergradError
from derive.registry import LAYERS

from .common import exported
from .core import Goal, Row, fresh_process

__all__ = ["DERIVE_GOALS", "rows"]

DERIVE_GOALS: dict[str, float] = {"batchnorm": 1.0}
"""Layers with a stated goal, in seconds, for deriving them with symbolic sizes."""


def _derive(name: str) -> dict:
    return {"derive + prove": lambda: fresh_process(
        "from derive.registry import LAYERS", f"LAYERS[{name!r}].derivations()")}


def _export() -> dict:
    folder = Path(tempfile.mkdtemp(prefix="layergrad-bench-"))
    atexit.register(shutil.rmtree, folder, True)
    command = [sys.executable, "-m", "worksheets.cli", "export", "--api", "cs231n", "--dropout-p", "keep",
               "-o", str(folder / "layers.py"), "--force"]

    def export() -> None:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LayergradError(f"layergrad export failed: {done.stderr.strip()}")

    return {"layergrad export": export}


def _validate() -> dict:
    from numeric.checks import check_module

    module = exported("keep")
    return {"check_module": lambda: check_module(module)}


def rows(quick: bool) -> list[Row]:
    once = 1 if quick else 3
    derive = [
        Row(name=f"derive {name}", group="symbolic", size="symbolic", dtype="—",
            contenders=("derive + prove",), setup=lambda name=name: _derive(name),
            goals=(Goal("seconds", max=DERIVE_GOALS[name]),) if name in DERIVE_GOALS else (),
            memory=False, rounds=once, warmup=False)
        for name in LAYERS
    ]
    return [
        *derive,
        Row(name="export module", group="symbolic", size=f"{len(LAYERS)} layer{'s' * (len(LAYERS) != 1)}", dtype="—",
            contenders=("layergrad export",), setup=_export, memory=False, rounds=once, warmup=False,
            note="export module: the command end to end, interpreter start included"),
        Row(name="validate exported", group="symbolic", size="course test sizes", dtype="float64",
            contenders=("check_module",), setup=_validate, goals=(Goal("seconds", max=3.0),), memory=False),
    ]
