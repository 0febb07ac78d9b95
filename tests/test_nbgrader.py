"""A real nbgrader course, built in a temporary folder: release a layergrad notebook, autograde it."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbgrader", reason="nbgrader is optional: pip install 'layergrad[nbgrader]'")
nbformat = pytest.importorskip("nbformat")

from layergrad.cli import main  # noqa: E402

BIN = Path(sys.executable).parent


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # nbgrader calls alembic by name
    done = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_nbgrader_releases_and_autogrades_a_layergrad_notebook(tmp_path: Path) -> None:
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "layergrad"\n')
    assert main(["notebook", "dropout", "-o", str(course / "source" / "ps1")]) == 0

    nbgrader(course, "generate_assignment", "ps1", "--force")
    released = nbformat.read(course / "release" / "ps1" / "dropout.ipynb", as_version=4)
    assert main(["notebook", "dropout", "--student", "-o", str(tmp_path)]) == 0
    ours = nbformat.read(tmp_path / "dropout-student.ipynb", as_version=4)
    assert len(released.cells) == len(ours.cells)
    for theirs, mine in zip(released.cells, ours.cells):  # nbgrader's release is layergrad's student version
        assert theirs.source.strip() == mine.source.strip()
        assert "BEGIN SOLUTION" not in theirs.source

    # carol keeps the mask in float32: right to np.allclose's default tolerance (the visible check),
    # not to rounding (a hidden test)
    carol = nbformat.read(course / "source" / "ps1" / "dropout.ipynb", as_version=4)
    exact = "mask = (np.random.rand(*x.shape) < p) / p"
    (cell,) = [c for c in carol.cells if exact in c.source]
    cell.source = cell.source.replace(exact, "mask = (np.random.rand(*x.shape) < p).astype(np.float32) / np.float32(p)")
    nbformat.write(carol, tmp_path / "carol.ipynb")
    for student, notebook in (("alice", course / "source" / "ps1" / "dropout.ipynb"),  # filled in correctly
                              ("bob", course / "release" / "ps1" / "dropout.ipynb"),  # handed in blank
                              ("carol", tmp_path / "carol.ipynb")):
        (course / "submitted" / student / "ps1").mkdir(parents=True)
        shutil.copy(notebook, course / "submitted" / student / "ps1" / "dropout.ipynb")
    nbgrader(course, "autograde", "ps1", "--force")
    nbgrader(course, "export")
    with (course / "grades.csv").open(newline="") as stream:
        grades = {row["student_id"]: row for row in csv.DictReader(stream)}
    checks = sum(c.metadata.get("nbgrader", {}).get("grade", False) and c.cell_type == "code" for c in ours.cells)
    assert checks >= 1
    assert float(grades["alice"]["score"]) == checks  # every autograded check passes
    assert float(grades["bob"]["score"]) == 0  # the stubs raise NotImplementedError
    assert float(grades["alice"]["max_score"]) > checks  # written answers are left to a person

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        carols = {g.name: g.auto_score for g in gradebook.find_submission_notebook("dropout", "ps1", "carol").grades}
    assert carols["dropout-check-1"] == 1  # the visible check passes
    assert carols["dropout-hidden-1"] == 0  # the hidden test does not
    assert float(grades["carol"]["score"]) == checks - 1
    graded = nbformat.read(course / "autograded" / "carol" / "ps1" / "dropout.ipynb", as_version=4)
    (hidden,) = [c for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "dropout-hidden-1"]
    assert "BEGIN HIDDEN TESTS" in hidden.source  # nbgrader restored the hidden tests to grade
    assert "float32?" in "".join(o.get("evalue", "") for o in hidden.outputs)  # the mistake, named
