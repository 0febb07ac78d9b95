"""Jupyter notebooks for exploration, built from jupytext sources kept in ``worksheets/notebooks``.

Each source is a ``py:percent`` file (readable, diffable, ruff-checked Python). Exercise code
sits between nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers: the solution
notebook keeps it (markers included, so nbgrader can release it as is); the student notebook
replaces each region by nbgrader's stub (``# YOUR CODE HERE`` / ``raise NotImplementedError()``
in code, ``YOUR ANSWER HERE`` in text). Cells with a region carry nbgrader's solution metadata
(written answers are also manually graded cells), and the code cell that checks an exercise is an
nbgrader autograder test, so that ``nbgrader generate_assignment`` releases the solution notebook
and ``nbgrader autograde`` scores a filled-in one. The checks a student runs are visible asserts;
a further cell holds hidden tests between nbgrader's ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN
TESTS`` markers (corners of the declared domains, tolerances to rounding): an autograder test of
its own, which the student version leaves out as ``nbgrader generate_assignment`` does, and which
``nbgrader autograde`` restores and runs.

The notebooks show derivations with :func:`show` (rendered from the derivation objects, never
retyped) and generated code with :func:`show_code`. :func:`execute` runs a notebook top to
bottom with nbclient and fails on the first error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from derive.derivation import Derivation
from derive.errors import LayergradError
from numeric.files import write_output

__all__ = [
    "BEGIN",
    "BEGIN_HIDDEN",
    "END",
    "END_HIDDEN",
    "NOTEBOOKS",
    "NotebookEntry",
    "build",
    "execute",
    "notebook_entry",
    "show",
    "show_code",
    "write_notebook",
]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = "YOUR ANSWER HERE"


@dataclass(frozen=True)
class NotebookEntry:
    """A notebook: its name (and source file name) and a one-line summary."""

    name: str
    summary: str

    def source(self) -> str:
        """The jupytext ``py:percent`` source."""
        return (resources.files("worksheets") / "notebooks" / f"{self.name}.py").read_text(encoding="utf-8")


NOTEBOOKS: dict[str, NotebookEntry] = {
    entry.name: entry
    for entry in (
        NotebookEntry("dropout", "dropout derived, the generated code, gradient checks, zero fraction and mean "
                                 "against p"),
        NotebookEntry("batchnorm", "batch normalization: graph, staged and closed-form backward, the generated "
                                   "code, gradient checks, output statistics"),
        NotebookEntry("conv", "convolution: the quiz example, the general layer, the generated code, gradient "
                              "checks, an output-size table"),
    )
}


def notebook_entry(name: str) -> NotebookEntry:
    """The notebook called ``name``; a clear error naming the known notebooks otherwise."""
    try:
        return NOTEBOOKS[name]
    except KeyError:
        raise LayergradError(f"unknown notebook {name!r}; known notebooks: {', '.join(NOTEBOOKS)}") from None


_OPENING = re.compile(rf"^[ \t]*{re.escape(BEGIN)}[ \t]*$", re.M)
_REGION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[ \t]*\n.*?^[ \t]*{re.escape(END)}[ \t]*$", re.M | re.S)


def _student_source(source: str, cell_type: str) -> str:
    def stub(match: re.Match) -> str:
        indent = match.group(1)
        lines = CODE_STUB if cell_type == "code" else (TEXT_STUB,)
        return "\n".join(indent + line for line in lines)

    return _REGION.sub(stub, source)


def _without_hidden_tests(source: str) -> str:
    """``source`` without its hidden-test regions, markers included (as nbgrader's ClearHiddenTests)."""
    lines, hidden = [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            hidden = True
        elif END_HIDDEN in line:
            hidden = False
        elif not hidden:
            lines.append(line)
    return "\n".join(lines)


def build(name: str, student: bool = False):
    """The notebook ``name`` as an ``nbformat`` notebook, solution or student version."""
    import jupytext

    entry = notebook_entry(name)
    notebook = jupytext.reads(entry.source(), fmt="py:percent")
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    count, checks, hidden, exercise = 0, 0, 0, False
    for cell in notebook.cells:
        cell.metadata.pop("lines_to_next_cell", None)
        if cell.cell_type == "code" and BEGIN_HIDDEN in cell.source:
            if cell.source.count(BEGIN_HIDDEN) != cell.source.count(END_HIDDEN):
                raise LayergradError(f"notebook {name}: a cell opens '{BEGIN_HIDDEN}' without a matching "
                                     f"'{END_HIDDEN}'")
            hidden += 1  # hidden tests: nbgrader's autograder test, one point
            cell.metadata["nbgrader"] = {"solution": False, "grade": True, "locked": True, "points": 1,
                                         "grade_id": f"{name}-hidden-{hidden}", "schema_version": 3}
            if student:
                cell.source = _without_hidden_tests(cell.source)
            exercise = False
            continue
        openings = len(_OPENING.findall(cell.source))
        if not openings:
            if exercise and cell.cell_type == "code" and "assert" in cell.source:
                checks += 1  # the check after an exercise: nbgrader's autograder test, one point
                cell.metadata["nbgrader"] = {"solution": False, "grade": True, "locked": True, "points": 1,
                                             "grade_id": f"{name}-check-{checks}", "schema_version": 3}
            exercise = exercise and cell.cell_type != "code"
            continue
        if len(_REGION.findall(cell.source)) != openings:
            raise LayergradError(f"notebook {name}: a cell opens '{BEGIN}' without a matching '{END}'")
        count += 1
        written = cell.cell_type == "markdown"  # a written answer: graded by hand in nbgrader, one point
        cell.metadata["nbgrader"] = {"solution": True, "grade": written, "locked": False,
                                     "grade_id": f"{name}-solution-{count}", "schema_version": 3,
                                     **({"points": 1} if written else {})}
        exercise = cell.cell_type == "code"
        if student:
            cell.source = _student_source(cell.source, cell.cell_type)
    return notebook


def execute(notebook, timeout: float = 300.0):
    """Run every cell top to bottom with nbclient, in a scratch folder (outputs are stored in
    ``notebook``); any error raises :class:`LayergradError` with the error's last line."""
    import tempfile

    import nbclient
    from jupyter_client.manager import KernelManager
    from nbclient.exceptions import CellExecutionError

    with tempfile.TemporaryDirectory(prefix="layergrad-notebook-") as scratch:
        # local sockets rather than TCP: nothing listens on the network while a notebook runs
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(scratch) / "kernel"))
        client = nbclient.NotebookClient(notebook, km=manager, timeout=timeout,
                                         resources={"metadata": {"path": scratch}})
        try:
            client.execute()
        except CellExecutionError as exc:
            plain = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # IPython colours its tracebacks
            last = [line for line in plain.strip().splitlines() if line.strip()][-1]
            raise LayergradError(f"notebook cell failed: {last}") from None
        finally:  # the client leaves a kernel it did not start running
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
    return notebook


def write_notebook(name: str, folder: Path, student: bool = False, run: bool = False, force: bool = False) -> Path:
    """Write ``{name}.ipynb`` (or ``{name}-student.ipynb``) into ``folder``; with ``run``,
    execute it first so that it opens with its outputs."""
    import nbformat

    notebook = build(name, student)
    if run:
        execute(notebook)
    path = Path(folder) / f"{name}{'-student' if student else ''}.ipynb"
    return write_output(path, nbformat.writes(notebook) + "\n", force)


def show(*derivations: Derivation) -> None:
    """Display derivations in a notebook, step by step, with their math rendered."""
    from IPython.display import Markdown, display

    from derive.render import render

    for d in derivations:
        display(Markdown(render(d, "markdown", level=3)))


def show_code(source: str) -> None:
    """Display source code, highlighted."""
    from IPython.display import Code, display

    display(Code(source.strip(), language="python"))


def names(spec: Sequence[str]) -> list[str]:
    """Notebook names from the command line, ``all`` meaning every notebook."""
    chosen = list(NOTEBOOKS) if "all" in spec else list(spec)
    for name in chosen:
        notebook_entry(name)
    return chosen
