"""layergrad's ``Solver``: the course package's (:mod:`numeric.course.solver`), with layergrad's
file guard and its own default for a diverging run.

It is the same training loop the exported package runs; two things differ, both about
layergrad's own runs rather than the notebooks': files go through
:func:`numeric.files.write_output` (never replacing a file layergrad did not write, unless
``force``), and a loss that is no longer finite stops the run (``stop_on_divergence=True``),
so an experiment reports the divergence instead of training on NaNs.
"""

from __future__ import annotations

from pathlib import Path

from .course import solver as course_solver
from .files import write_output

__all__ = ["Solver"]


class Solver(course_solver.Solver):
    """:class:`numeric.course.solver.Solver`, stopping on divergence by default, writing through
    layergrad's file guard."""

    def __init__(self, model, data: dict, *, stop_on_divergence: bool = True, **options) -> None:
        super().__init__(model, data, stop_on_divergence=stop_on_divergence, **options)

    def _write(self, path: str | Path, data: str | bytes, force: bool = False) -> Path:
        return write_output(path, data, force)
