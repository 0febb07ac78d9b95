r"""The symbolic side: deriving, exporting, validating.

* ``derive LAYER``: every derivation of a registered layer (and, where a goal names one
  derivation, that one alone), built (each step proved when it is
  added, closed forms compared with their targets) in a fresh interpreter, so neither SymPy's
  cache nor ``functools.cache`` remembers an earlier run; the import of SymPy is not counted.
* ``layergrad export``: the command end to end (interpreter start, imports, deriving,
  generating, writing the file), as a user runs it.
* ``validate exported``: every check ``layergrad check`` runs on the exported module, as the
  command runs them (the module in its own sandboxed process) and in this process.
* ``check a class``: ``layergrad check DIR/`` on 20 copies of the exported module (sandboxed, in
  parallel) against checking them one after another in this process. Against another layergrad
  (e.g. an earlier version): ``python -m numeric.bench.class_check --other PATH/bin/layergrad``.
* ``layergrad sheet quiz8``: the Quiz 8 solution and student sheets as Markdown, HTML and LaTeX
  (no PDF), the command end to end. Commands run as subprocesses; nothing here imports the
  teaching layer.
* ``layergrad --help``: the command's start, interpreter included, against the interpreter
  starting and doing nothing (``python -c pass``).
* ``derive --define NAME``: ``layergrad derive --define FILE`` end to end for the slowest shipped
  definitions (:data:`DEFINED`, the normalizing ones with a closed form), interpreter start
  included: every derivation built with every step proved, then printed.

``--quick`` keeps only ``validate exported`` and ``layergrad --help``: the others take what they
take at any size.
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

from .common import exported, exported_source
from .core import Goal, Row, fresh_process

__all__ = ["DEFINED", "FOCUSED", "rows"]

FOCUSED: tuple[tuple[str, str, str, float], ...] = (
    ("batchnorm closed form", "from derive.batchnorm import BATCHNORM, closed_form", "closed_form(BATCHNORM)", 1.0),
)
"""Derivations with a goal in seconds: (row name, imports, the timed call, goal)."""


DEFINED: tuple[tuple[str, str, float], ...] = (
    ("instancenorm", "examples/layers/instancenorm.toml", 2.0),
    ("layernorm", "examples/layers/builtin/layernorm.toml", 2.0),
    ("batchnorm", "examples/layers/builtin/batchnorm.toml", 2.0),
)
"""Defined layers whose ``layergrad derive --define`` has a goal in seconds: (name, file, goal)."""


def _define(path: str) -> dict:
    """``layergrad derive --define PATH`` as a contender (its output discarded)."""
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "layergrad.cli", "derive", "--define", str(root / path)]

    def call() -> None:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LayergradError(f"layergrad derive --define {path} failed: {done.stderr.strip()}")

    return {"layergrad derive": call}


def _derive(name: str) -> dict:
    return {"derive + prove": lambda: fresh_process("from derive.registry import LAYERS",
                                                    f"LAYERS[{name!r}].derivations()")}


def _command(*args: str) -> dict:
    """``layergrad ARGS -o TMP --force`` as a contender named after its subcommand."""
    folder = Path(tempfile.mkdtemp(prefix="layergrad-bench-"))
    atexit.register(shutil.rmtree, folder, True)
    target = folder / "layers.py" if args[0] == "export" else folder
    command = [sys.executable, "-m", "layergrad.cli", *args, "-o", str(target), "--force"]

    def call() -> None:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LayergradError(f"layergrad {' '.join(args)} failed: {done.stderr.strip()}")

    return {f"layergrad {args[0]}": call}


def _startup() -> dict:
    def start(*args: str) -> None:
        subprocess.run([sys.executable, *args], capture_output=True, check=True)

    return {"layergrad --help": lambda: start("-m", "layergrad.cli", "--help"),
            "python -c pass": lambda: start("-c", "pass")}


def _validate() -> dict:
    from numeric.checks import check_module, check_path
    from numeric.files import write_output

    folder = Path(tempfile.mkdtemp(prefix="layergrad-bench-"))
    atexit.register(shutil.rmtree, folder, True)
    path = write_output(folder / "layers.py", exported_source("keep"))
    module = exported("keep")
    return {"isolated": lambda: check_path(path), "in process": lambda: check_module(module)}


def _class(count: int) -> dict:
    from numeric.checks import Options, check_module, check_paths

    folder = Path(tempfile.mkdtemp(prefix="layergrad-bench-"))
    atexit.register(shutil.rmtree, folder, True)
    source = exported_source("keep")
    paths = [folder / f"student{k:02d}.py" for k in range(count)]
    for path in paths:
        path.write_text(source)
    module = exported("keep")
    return {"sandboxed": lambda: check_paths(paths, Options()),
            "in process": lambda: [check_module(module) for _ in paths]}


def _layers() -> str:
    return f"{len(LAYERS)} layer{'s' * (len(LAYERS) != 1)}"


def rows(quick: bool) -> list[Row]:
    validate = Row(
        name="validate exported", group="symbolic", size="course test sizes", dtype="float64",
        contenders=("isolated", "in process"), reference="in process", setup=_validate,
        goals=(Goal("seconds", max=3.0),), memory=False,
        note="validate exported: isolated = layergrad check FILE (the module in its own sandboxed process); "
             "in process = check_module on the imported module")
    klass = Row(
        name="check a class", group="symbolic", size="20 modules", dtype="float64",
        contenders=("sandboxed", "in process"), reference="in process", setup=lambda: _class(20),
        memory=False, rounds=3, warmup=False,
        note="check a class: sandboxed = layergrad check DIR/ (each module in its own sandbox, in parallel); "
             "in process = check_module on each, one after another; before/after: python -m "
             "numeric.bench.class_check --other OLD/bin/layergrad")
    startup = Row(
        name="start-up", group="symbolic", size="layergrad --help", dtype="—",
        contenders=("layergrad --help", "python -c pass"), reference="python -c pass", setup=_startup,
        goals=(Goal("seconds", max=0.2),), memory=False,
        note="start-up: the command end to end in a fresh interpreter; python -c pass = the interpreter's own start")
    if quick:  # the other rows cost what they cost at any size: full runs only
        return [validate, startup]
    derive = [
        Row(name=f"derive {name}", group="symbolic", size="symbolic", dtype="—",
            contenders=("derive + prove",), setup=lambda name=name: _derive(name),
            memory=False, rounds=3, warmup=False)
        for name in LAYERS
    ]
    derive += [
        Row(name=name, group="symbolic", size="symbolic", dtype="—", contenders=("derive + prove",),
            setup=lambda prepare=prepare, timed=timed: {"derive + prove": lambda: fresh_process(prepare, timed)},
            goals=(Goal("seconds", max=goal),), memory=False, rounds=3, warmup=False,
            note=f"{name}: {timed} alone (recovered by the engine with symbolic n and proved)")
        for name, prepare, timed, goal in FOCUSED
    ]
    derive += [
        Row(name=f"derive --define {name}", group="symbolic", size="symbolic", dtype="—",
            contenders=("layergrad derive",), setup=lambda path=path: _define(path),
            goals=(Goal("seconds", max=goal),), memory=False, rounds=3, warmup=False,
            note=f"derive --define {name}: layergrad derive --define {path} end to end, interpreter start included")
        for name, path, goal in DEFINED
    ]
    return [
        *derive,
        Row(name="export module", group="symbolic", size=_layers(), dtype="—",
            contenders=("layergrad export",), setup=lambda: _command("export", "--dropout-p", "keep"),
            memory=False, rounds=3, warmup=False,
            note="export module, quiz8 sheets: the command end to end, interpreter start included"),
        validate,
        startup,
        klass,
        Row(name="quiz8 sheets", group="symbolic", size="md, html, tex", dtype="—",
            contenders=("layergrad sheet",), setup=lambda: _command("sheet", "quiz8", "--format", "md,html,tex"),
            memory=False, rounds=3, warmup=False),
    ]
