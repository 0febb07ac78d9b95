"""``--define FILE`` on the command line, and the defined layer from Python."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from derive.define import define as read
from derive.errors import LayergradError
from layergrad.cli import main
from worksheets.defined import define

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "layers"
RMSNORM = str(EXAMPLES / "rmsnorm.toml")


def test_derive_prints_every_gradient(capsys):
    assert main(["derive", "--define", RMSNORM]) == 0
    out = capsys.readouterr().out
    assert "rmsnorm: ∂L/∂X" in out and "rmsnorm: ∂L/∂g" in out and "chain rule through the graph" in out


def test_export_then_check_then_a_wrong_student(tmp_path, capsys):
    module = tmp_path / "layers.py"
    assert main(["export", "--define", RMSNORM, "--define", str(EXAMPLES / "silu.toml"), "-o", str(module)]) == 0
    assert main(["check", str(module), "--define", RMSNORM, "--define", str(EXAMPLES / "silu.toml")]) == 0
    assert "8 of 8 checks passed" in capsys.readouterr().out
    wrong = tmp_path / "wrong.py"
    wrong.write_text(module.read_text().replace("return dX, dg", "return 2 * dX, dg"))
    assert main(["check", str(wrong), "--define", RMSNORM]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "dX (finite differences)" in out and "dg" not in out.split("FAIL", 1)[1].split("\n")[0]


def test_check_survives_a_submission_that_exits(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\ndef rmsnorm_forward(*a, **k):\n    sys.exit(3)\n")
    assert main(["check", str(bad), "--define", RMSNORM]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_export_does_not_overwrite_a_file_it_did_not_write(tmp_path, capsys):
    mine = tmp_path / "mine.py"
    mine.write_text("# my own work\n")
    assert main(["export", "--define", RMSNORM, "-o", str(mine)]) == 2
    assert "error" in capsys.readouterr().err
    assert mine.read_text() == "# my own work\n"


def test_a_bad_definition_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\ninputs = { X = ["N"] }\nforward = ["Y[n] = X[n, m]"]\n')
    assert main(["derive", "--define", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "X has 1 axis (N) but is indexed with 2" in err


def test_sheet_both_versions(tmp_path):
    assert main(["sheet", "--define", RMSNORM, "-o", str(tmp_path), "--format", "md,html,tex"]) == 0
    solution = (tmp_path / "rmsnorm-solution.md").read_text()
    student = (tmp_path / "rmsnorm-student.md").read_text()
    assert "differentiate term by term" not in solution and "def rmsnorm_backward" in solution
    assert "differentiate term by term" not in student and "Question 3" in student
    assert main(["sheet", "--define", RMSNORM, "-o", str(tmp_path / "full"), "--format", "md",
                 "--detail", "full"]) == 0
    assert "differentiate term by term" in (tmp_path / "full" / "rmsnorm-solution.md").read_text()


def test_python_api(tmp_path):
    layer = define(RMSNORM)
    assert layer.derivation()[0].title == "rmsnorm: forward pass"
    assert "\\partial" in layer._repr_latex_() and "<" in layer._repr_html_()
    assert "def rmsnorm_backward" in layer.code()
    assert all(v.passed for v in layer.check(layer.module()))
    same = define(read(RMSNORM).table)
    x = np.random.default_rng(0).standard_normal((3, 4))
    g = np.ones(4)
    np.testing.assert_array_equal(same.module().rmsnorm_forward(x, g)[0], layer.module().rmsnorm_forward(x, g)[0])


def test_reserved_and_clashing_names():
    with pytest.raises(LayergradError, match="reserved"):
        read({"name": "t", "inputs": {"float": ["N"]}, "forward": ["Y[n] = float[n]"]})
    with pytest.raises(LayergradError, match="gradient of one is named like the other"):
        read({"name": "t", "inputs": {"X": ["N"], "dX": ["N"]}, "forward": ["Y[n] = X[n] * dX[n]"]})


def test_notebook_runs_and_its_student_version_has_the_stub(tmp_path):
    path = define(RMSNORM).notebook(tmp_path, run=True)
    assert path.exists()
    student = define(RMSNORM).notebook(tmp_path, student=True)
    assert "raise NotImplementedError()" in student.read_text()


def test_a_summary_cannot_add_cells_to_the_notebook():
    from worksheets.defined import notebook_source

    defn = read({"name": "t", "summary": "x\n\n# %%\nimport os", "inputs": {"X": ["N"]},
                 "forward": ["Y[n] = X[n]"]})
    plain = read({"name": "t", "summary": "x", "inputs": {"X": ["N"]}, "forward": ["Y[n] = X[n]"]})
    source = notebook_source(defn)
    assert "\nimport os" not in source and source.count("\n# %%") == notebook_source(plain).count("\n# %%")


def test_the_front_door_defines():
    import layergrad as lg

    layer = lg.define(RMSNORM)
    assert layer.name == "rmsnorm" and "define" in lg.__all__


def test_a_defined_layers_derivations_show_as_math_in_jupyter():
    layer = define(EXAMPLES / "silu.toml")
    shown = layer.derivation()
    assert "<math" in shown._repr_html_() and "$" in shown._repr_markdown_()
    assert str(shown).startswith(layer.name) or layer.name in str(shown).splitlines()[0]
