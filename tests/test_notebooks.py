"""Notebooks: built from their jupytext sources, executed top to bottom, student versions stubbed."""

from __future__ import annotations

import nbformat
import pytest

from derive.errors import LayergradError
from layergrad.cli import main
from worksheets import jupyter
from worksheets.jupyter import BEGIN, BEGIN_HIDDEN, END, END_HIDDEN, NOTEBOOKS, build, execute


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_executes_top_to_bottom(name):
    notebook = execute(build(name))
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "a plot"
    assert any("$$" in o.get("data", {}).get("text/markdown", "") for o in outputs), "rendered derivations"
    nbformat.validate(notebook)


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_student_version_differs_exactly_in_the_solutions(name):
    solution, student = build(name), build(name, student=True)
    assert len(solution.cells) == len(student.cells)
    graded = hidden = 0
    for ours, theirs in zip(solution.cells, student.cells):
        if BEGIN_HIDDEN in ours.source:  # hidden tests: a locked autograder test, its tests left out
            hidden += 1
            assert ours.metadata["nbgrader"]["grade"] and ours.metadata["nbgrader"]["locked"]
            assert BEGIN_HIDDEN not in theirs.source and END_HIDDEN not in theirs.source
            tests = ours.source.split(BEGIN_HIDDEN)[1].split(END_HIDDEN)[0].strip().splitlines()
            assert tests and not any(line in theirs.source for line in tests)
            continue
        if not ours.metadata.get("nbgrader", {}).get("solution"):
            assert ours.source == theirs.source
            continue
        graded += ours.source.count(BEGIN)
        assert theirs.metadata["nbgrader"]["solution"] is True
        assert BEGIN in ours.source and BEGIN not in theirs.source and END not in theirs.source
        stub = "raise NotImplementedError()" if ours.cell_type == "code" else "YOUR ANSWER HERE"
        assert stub in theirs.source
        solution_lines = ours.source.split(BEGIN)[1].split(END)[0].strip().splitlines()
        assert not any(line.strip() and line in theirs.source for line in solution_lines)
    assert graded >= 2, "at least two exercises"
    assert hidden >= 1, "hidden tests of the exercises"
    nbformat.validate(student)


def test_unmatched_marker_is_an_error(monkeypatch):
    monkeypatch.setitem(NOTEBOOKS, "broken", jupyter.NotebookEntry("broken", "x"))
    monkeypatch.setattr(jupyter.NotebookEntry, "source", lambda self: f"# %%\ndef f():\n    {BEGIN}\n    return 1\n")
    with pytest.raises(LayergradError, match="without a matching"):
        build("broken")


def test_the_student_notebook_runs_up_to_the_first_exercise():
    """Everything before the exercise works for a student; the exercise stops with nbgrader's stub."""
    notebook = build("dropout", student=True)
    with pytest.raises(LayergradError, match="NotImplementedError"):
        execute(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    failed = [k for k, c in enumerate(code) if any(o.output_type == "error" for o in c.get("outputs", []))]
    first_exercise = next(k for k, c in enumerate(code) if c.metadata.get("nbgrader", {}).get("solution"))
    assert failed == [first_exercise + 1], "only the check right after the first exercise may fail"
    assert all(c.get("execution_count") for c in code[: first_exercise + 2])


def test_cli_notebook(tmp_path, capsys):
    assert main(["notebook", "--list"]) == 0
    assert "dropout" in capsys.readouterr().out
    assert main(["notebook", "all", "--student", "-o", str(tmp_path)]) == 0
    written = nbformat.read(tmp_path / "dropout-student.ipynb", as_version=4)
    assert any("raise NotImplementedError()" in c.source for c in written.cells)
    assert "jupyter lab" in capsys.readouterr().out
    assert main(["notebook", "resnet", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown notebook 'resnet'" in err and len(err.strip().splitlines()) == 1
    assert main(["notebook", "dropout", "--student", "--execute", "-o", str(tmp_path)]) == 2
    assert "stops at its first exercise" in capsys.readouterr().err
