"""``layergrad export --package``: a whole course package, NumPy only, in the course's convention.

The package is :mod:`numeric.course` — the network, solver, update rules, sandwich layers,
gradient checks and data loading layergrad itself runs on — copied file by file, with a
``layers.py`` generated for the course's dropout convention and mask draw in place of
layergrad's own. The copied modules import only NumPy, the standard library and each other
(relative imports), so the package works under any name and without layergrad installed::

    DIR/NAME/__init__.py, layers.py, fast_layers.py, layer_utils.py, solver.py, optim.py,
             gradient_check.py, data_utils.py, progress.py,
             classifiers/__init__.py, classifiers/fc_net.py, classifiers/cnn.py

Every file goes through :func:`numeric.files.write_output` (atomic; a file layergrad did not
write is replaced only with ``force``), and every target is checked before the first is
written, so a refusal leaves no half-written package.
"""

from __future__ import annotations

import keyword
from pathlib import Path

from derive.dropout import Convention, Draw, draw_text
from derive.errors import LayergradError

from .export import module_source
from .files import check_writable, write_output

__all__ = ["COPIED", "COURSE", "package_files", "write_package"]

COURSE = Path(__file__).resolve().parent / "course"
"""The package's source: the modules layergrad itself imports as :mod:`numeric.course`."""

COPIED = (
    "fast_layers.py", "layer_utils.py", "solver.py", "optim.py", "progress.py", "gradient_check.py",
    "data_utils.py", "classifiers/__init__.py", "classifiers/fc_net.py", "classifiers/cnn.py",
)
"""The files copied as they are (``__init__.py`` and ``layers.py`` are written for the package)."""


def _init(name: str, api: str, convention: Convention, draw: Draw, teaching_loops: bool) -> str:
    flags = f" --dropout-draw {draw.value}" if draw is not Draw.parse(None, convention) else ""
    flags += " --teaching-loops" if teaching_loops else ""
    return f'''"""The {name} course package ({api} API), written by layergrad.

Regenerate with: layergrad export --package DIR --name {name} --api {api} --dropout-p {convention.value}{flags}
Dropout: {convention.meaning}; mask drawn as {draw_text(convention, draw)}.
NumPy only. In a notebook beside this folder:

    from {name}.classifiers.fc_net import *
    from {name}.data_utils import get_CIFAR10_data
    from {name}.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
    from {name}.solver import Solver
"""
'''


def package_files(name: str = "cs231n", api: str = "cs231n", dropout_p: Convention | str = "keep",
                  draw: Draw | str | None = None, teaching_loops: bool = False) -> dict[str, str]:
    """Path inside the package → text, for every file of the package ``name``."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise LayergradError(f"package name {name!r} is not a Python identifier (it is what notebooks import)")
    convention = Convention.parse(dropout_p)
    draw = Draw.parse(draw, convention)
    files = {
        "__init__.py": _init(name, api, convention, draw, teaching_loops),
        "layers.py": module_source(api, convention, teaching_loops=teaching_loops, draw=draw, standalone=True),
    }
    files.update({path: (COURSE / path).read_text() for path in COPIED})
    return files


def write_package(folder: str | Path, name: str = "cs231n", api: str = "cs231n",
                  dropout_p: Convention | str = "keep", draw: Draw | str | None = None,
                  teaching_loops: bool = False, force: bool = False) -> list[Path]:
    """Write the package ``folder/name`` (see the module docstring); returns the files written."""
    target = Path(folder).expanduser() / name
    files = package_files(name, api, dropout_p, draw, teaching_loops)
    for path in files:
        check_writable(target / path, force)
    return [write_output(target / path, text, force) for path, text in files.items()]
