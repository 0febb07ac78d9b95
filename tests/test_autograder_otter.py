"""The Otter-Grader bundle in Otter's layout: its test files run as Otter runs them (the submission
first, then each test case with the submission's globals), and by Otter itself where it is installed
(``LAYERGRAD_OTTER_PYTHON``: a Python with otter-grader; it is not a dependency)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from layergrad.cli import main
from worksheets.autograder import otter_bundle

ROOT = Path(__file__).resolve().parents[1]
VISIBLE_ONLY = ROOT / "tests" / "fixtures" / "grading" / "visible_only.py"  # fails only hidden checks
STUDENT = ROOT / "examples" / "student_layers.py"
POINTS = {"affine_backward": 2.0,
          "softmax_loss": ({"tier": "visible", "points": 1.0}, {"tier": "hidden", "points": 2.0}),
          "dropout_forward": ({"tier": "visible", "points": 1.0},
                              {"tier": "hidden", "points": 2.0, "visibility": "after_published"})}
CHECK_ARGS = ["--dropout-p", "keep", "--only", "dropout,affine,softmax_loss"]

# Otter's exception-based test case (otter.test_files.test_case: name, points, hidden, messages)
STUB = '''class test_case:
    def __init__(self, name=None, points=None, hidden=False, success_message=None, failure_message=None):
        self.name, self.points, self.hidden = name, points, hidden

    def __call__(self, test_func):
        self.test_func = test_func
        return self
'''

# What Otter does with a Python script: run it, then every test case of tests/*.py against its globals
RUNNER = '''import json, pathlib, sys
from otter.test_files import test_case
env = {"__name__": "__main__"}
exec(compile(pathlib.Path(sys.argv[1]).read_text(), sys.argv[1], "exec"), env)
results = []
for path in sorted(pathlib.Path("tests").glob("*.py")):
    scope = {}
    exec(compile(path.read_text(), str(path), "exec"), scope)
    for case in [value for value in scope.values() if isinstance(value, test_case)]:
        try:
            case.test_func(env)
            passed, message = True, ""
        except Exception as exc:
            passed, message = False, f"{type(exc).__name__}: {exc}"
        results.append({"file": scope["name"], "name": case.name, "points": case.points, "hidden": case.hidden,
                        "passed": passed, "message": message})
print(json.dumps(results))
'''


@pytest.fixture(scope="module")
def bundle() -> bytes:
    return otter_bundle(points=POINTS, check_args=CHECK_ARGS)


def run_cases(tmp_path: Path, bundle: bytes, submission: Path) -> dict[str, dict]:
    """Lay out /autograder as Otter does (tests copied into the submission folder, working there) and
    run every test case; test case name → its result."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        archive.extractall(root / "source")
    (root / "submission").mkdir()
    (root / "submission" / "layers.py").write_bytes(submission.read_bytes())
    (root / "submission" / "tests").mkdir()
    for test in (root / "source" / "tests").iterdir():
        (root / "submission" / "tests" / test.name).write_bytes(test.read_bytes())
    (tmp_path / "stub" / "otter").mkdir(parents=True)
    (tmp_path / "stub" / "otter" / "__init__.py").write_text("")
    (tmp_path / "stub" / "otter" / "test_files.py").write_text(STUB)
    (tmp_path / "runner.py").write_text(RUNNER)
    env = os.environ | {"PYTHONPATH": f"{tmp_path / 'stub'}{os.pathsep}{ROOT}"}
    done = subprocess.run([sys.executable, str(tmp_path / "runner.py"), "layers.py"], cwd=root / "submission",
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return {r["name"]: r for r in json.loads(done.stdout)}


def test_the_bundle_has_otters_layout(bundle: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        names = set(archive.namelist())
        config = json.loads(archive.read("otter_config.json"))
        test = archive.read("tests/softmax_loss.py").decode()
        assert archive.getinfo("run_autograder").external_attr >> 16 & 0o111
    assert names == {"otter_config.json", "requirements.txt", "setup.sh", "run_autograder", "run_otter.py",
                     "tests/affine_backward.py", "tests/softmax_loss.py", "tests/dropout_forward.py"}
    assert config["lang"] == "python" and config["show_hidden"] is True  # a hidden case is shown after publishing
    assert "OK_FORMAT = False" in test and "name = 'softmax_loss'" in test
    compile(test, "softmax_loss.py", "exec")


def test_visible_cases_pass_and_the_hidden_case_fails_naming_the_mistake(tmp_path: Path, bundle: bytes) -> None:
    cases = run_cases(tmp_path, bundle, VISIBLE_ONLY)
    assert {name: (c["passed"], c["points"], c["hidden"]) for name, c in cases.items()} == {
        "affine_backward": (True, 2.0, False),
        "softmax_loss (visible checks)": (True, 1.0, False), "softmax_loss (hidden checks)": (False, 2.0, True),
        "dropout_forward (visible checks)": (True, 1.0, False), "dropout_forward (hidden checks)": (True, 2.0, True),
    }
    assert "mistake: softmax-unstable" in cases["softmax_loss (hidden checks)"]["message"]


def test_a_broken_submission_fails_the_cases_of_its_mistakes(tmp_path: Path, bundle: bytes) -> None:
    cases = run_cases(tmp_path, bundle, STUDENT)
    failed = {name for name, c in cases.items() if not c["passed"]}
    assert failed == {"affine_backward", "softmax_loss (hidden checks)", "dropout_forward (visible checks)",
                      "dropout_forward (hidden checks)"}
    assert "db-mean" in cases["affine_backward"]["message"]
    assert "randn-mask" in cases["dropout_forward (visible checks)"]["message"]


def _otter_python() -> str | None:
    if os.environ.get("LAYERGRAD_OTTER_PYTHON"):
        return os.environ["LAYERGRAD_OTTER_PYTHON"]
    return sys.executable if importlib.util.find_spec("otter") is not None else None


@pytest.mark.skipif(_otter_python() is None, reason="otter-grader is optional: set LAYERGRAD_OTTER_PYTHON")
def test_otter_itself_grades_with_the_bundle(tmp_path: Path, bundle: bytes) -> None:
    """``otter run`` replicates Otter's container layout and writes its results.json (Gradescope's fields)."""
    (tmp_path / "autograder.zip").write_bytes(bundle)
    (tmp_path / "layers.py").write_bytes(VISIBLE_ONLY.read_bytes())
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run([_otter_python(), "-m", "otter", "run", "-a", "autograder.zip", "-o", ".", "layers.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    fields = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
              "visibility", "extra_data"}
    assert all(set(t) <= fields for t in results["tests"])
    files = {t["name"]: t for t in results["tests"] if "max_score" in t}
    assert {n: (t["score"], t["max_score"]) for n, t in files.items()} == {
        "affine_backward": (2.0, 2.0), "softmax_loss": (1.0, 3.0), "dropout_forward": (3.0, 3.0)}
    assert "mistake: softmax-unstable" in files["softmax_loss"]["output"]
    public = next(t for t in results["tests"] if t["name"] == "Public Tests")
    assert public["status"] == "passed"  # the visible cases all pass


def test_cli_writes_the_otter_bundle_as_a_folder_or_a_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["autograder", "--otter", "--only", "relu", "-o", str(tmp_path / "otter")]) == 0
    tests = sorted(p.name for p in (tmp_path / "otter" / "tests").glob("*.py"))
    assert tests == ["relu_backward.py", "relu_forward.py"]
    assert os.access(tmp_path / "otter" / "run_autograder", os.X_OK)
    assert main(["autograder", "--otter", "--only", "relu", "-o", str(tmp_path / "otter")]) == 0  # its own files
    assert main(["autograder", "--otter", "--only", "relu", "-o", str(tmp_path / "otter.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "otter.zip") as archive:
        assert "tests/relu_forward.py" in archive.namelist()
    capsys.readouterr()
    assert main(["autograder", "--otter", "-o", str(tmp_path / "none")]) == 2  # which functions?
    assert main(["autograder", "--gradescope", "-o", str(tmp_path / "folder")]) == 2  # Gradescope takes a zip
    with pytest.raises(SystemExit):
        main(["autograder", "--gradescope", "--otter"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--points" in err and ".zip" in err
