"""Autograder bundles for layers defined in TOML: the definitions travel in the bundle, each
submission is checked with ``layergrad check --define``, and the report has the built-in checker's
shape (one function report per ``{name}_forward`` / ``{name}_backward``)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from test_autograder import run_bundle
from test_autograder_otter import run_cases

from derive.define import define
from layergrad.cli import main
from numeric.defined_code import module_source
from worksheets.autograder import definition_files, gradescope_bundle, otter_bundle

ROOT = Path(__file__).resolve().parents[1]
HUBER = ROOT / "examples" / "layers" / "huber.toml"
RMSNORM = ROOT / "examples" / "layers" / "rmsnorm.toml"


@pytest.fixture(scope="module")
def correct() -> str:
    return module_source([define(HUBER.read_text())])


def doubled_gradient(source: str) -> str:
    """The Huber module with a backward pass that returns twice the gradient."""
    wrong = source.replace("    dX = dR\n    return dX", "    dX = 2 * dR\n    return dX")
    assert wrong != source
    return wrong


def test_check_define_json_has_the_built_in_reports_shape(tmp_path: Path, correct: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.py").write_text(correct)
    assert main(["check", str(tmp_path / "good.py"), "--define", str(HUBER), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True and report["error"] is None
    assert [(f["name"], f["layer"], f["status"]) for f in report["functions"]] == [
        ("huber_forward", "huber", "pass"), ("huber_backward", "huber", "pass")]
    backward = report["functions"][1]["checks"]
    assert [c["name"] for c in backward] == ["huber_backward dX (finite differences), at N=3 D=4",
                                             "huber_backward dX (derived), at N=3 D=4"]
    (tmp_path / "wrong.py").write_text(doubled_gradient(correct))
    assert main(["check", str(tmp_path / "wrong.py"), "--define", str(HUBER), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [f["status"] for f in report["functions"]] == ["pass", "fail"]


def test_a_missing_function_fails_both_saying_why(tmp_path: Path, correct: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "half.py").write_text(correct.replace("def huber_backward(", "def huber_backward_unused("))
    assert main(["check", str(tmp_path / "half.py"), "--define", str(HUBER), "--json"]) == 1
    functions = json.loads(capsys.readouterr().out)["functions"]
    assert [f["status"] for f in functions] == ["fail", "fail"]
    assert all("huber_backward" in f["note"] for f in functions)


def test_a_missing_file_is_a_json_error_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "none.py"), "--define", str(HUBER), "--json"]) == 2
    assert "is not a file" in json.loads(capsys.readouterr().out)["error"]


def test_gradescope_bundle_grades_a_defined_layer(tmp_path: Path, correct: str) -> None:
    bundle = gradescope_bundle(definitions=definition_files([HUBER]))
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert archive.read("definitions/huber.toml").decode() == HUBER.read_text()
        assert '--define "$root/source/definitions"' in archive.read("run_autograder").decode()
    results = run_bundle(tmp_path / "good", correct.encode(), bundle)
    assert {t["name"]: t["score"] for t in results["tests"]} == {"huber_forward": 1.0, "huber_backward": 1.0}
    results = run_bundle(tmp_path / "wrong", doubled_gradient(correct).encode(), bundle)
    tests = {t["name"]: t for t in results["tests"]}
    assert (tests["huber_forward"]["score"], tests["huber_backward"]["score"]) == (1.0, 0.0)
    assert "dX (finite differences)" in tests["huber_backward"]["output"]
    results = run_bundle(tmp_path / "none", None, bundle)  # nothing submitted: 0 of 2, saying why
    assert {(t["name"], t["score"], t["max_score"]) for t in results["tests"]} == {
        ("huber_forward", 0.0, 1.0), ("huber_backward", 0.0, 1.0)}
    assert "is not a file" in results["tests"][0]["output"]


def test_visible_checks_of_a_defined_layer_are_all_of_them(tmp_path: Path, correct: str) -> None:
    """A defined layer is checked at one point: the visible tier grades every check. A loss scaled
    by 2 with its gradient scaled to match passes the finite differences of its own forward pass
    and fails only against the derived gradient, which the visible test must grade too."""
    scaled, count = re.subn(r"\n    L = (_r\d+)/\(D\*N\)\n", r"\n    L = 2*\1/(D*N)\n", doubled_gradient(correct))
    assert count == 1
    points = {"huber_backward": ({"tier": "visible", "points": 1.0}, {"tier": "hidden", "points": 2.0})}
    bundle = gradescope_bundle(points=points, definitions=definition_files([HUBER]))
    results = run_bundle(tmp_path, scaled.encode(), bundle)
    scores = {t["name"]: (t["score"], t["max_score"]) for t in results["tests"]}
    assert scores["huber_backward (visible checks)"] == (0.0, 1.0)
    assert scores["huber_backward (hidden checks)"] == (0.0, 2.0)
    output = next(t["output"] for t in results["tests"] if t["name"] == "huber_backward (visible checks)")
    assert "dX (derived)" in output and "finite differences" not in output


def test_otter_bundle_grades_a_defined_layer(tmp_path: Path, correct: str) -> None:
    points = {"huber_forward": 1.0, "huber_backward": 2.0}
    bundle = otter_bundle(points=points, definitions=definition_files([HUBER]))
    submission = tmp_path / "layers.py"
    submission.write_text(doubled_gradient(correct))
    cases = run_cases(tmp_path / "run", bundle, submission)
    assert {name: c["passed"] for name, c in cases.items()} == {"huber_forward": True, "huber_backward": False}


def test_cli_writes_defined_bundles_and_refuses_what_does_not_apply(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["autograder", "--gradescope", "--define", str(HUBER), "--define", str(RMSNORM),
                 "-o", str(tmp_path / "ag.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "ag.zip") as archive:
        assert {"definitions/huber.toml", "definitions/rmsnorm.toml"} <= set(archive.namelist())
    assert main(["autograder", "--otter", "--define", str(HUBER), "-o", str(tmp_path / "otter")]) == 0
    assert sorted(p.name for p in (tmp_path / "otter" / "tests").glob("*.py")) == ["huber_backward.py",
                                                                                "huber_forward.py"]
    assert "../source/definitions" in (tmp_path / "otter" / "tests" / "huber_forward.py").read_text()
    capsys.readouterr()
    assert main(["autograder", "--gradescope", "--define", str(HUBER), "--only", "relu",
                 "-o", str(tmp_path / "x.zip")]) == 2
    assert "without --only" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "broken"\nforward = ["Y[n] = "]\n')
    assert main(["autograder", "--gradescope", "--define", str(broken), "-o", str(tmp_path / "y.zip")]) == 2
    assert not (tmp_path / "y.zip").exists()
    twin = tmp_path / "twin" / "huber.toml"
    twin.parent.mkdir()
    twin.write_text(HUBER.read_text())
    assert main(["autograder", "--gradescope", "--define", str(HUBER), "--define", str(twin),
                 "-o", str(tmp_path / "z.zip")]) == 2
    assert "two definitions name the layer huber" in capsys.readouterr().err
