"""The command line: output, files, exit codes and one-line errors."""

import json

import pytest

from layergrad.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_derive_prints_every_step_with_its_rule(capsys):
    code, out, _ = run(capsys, "derive", "dropout", "--dropout-p", "drop")
    assert code == 0
    assert "Dropout backward pass (inverted, drop convention: p = drop rate r)" in out
    assert "Kronecker delta" in out and "keep convention" not in out
    code, out, _ = run(capsys, "derive", "dropout", "--format", "latex")
    assert code == 0 and r"\begin{align*}" in out


def test_derive_lists_layers(capsys):
    code, out, _ = run(capsys, "derive", "--list")
    assert code == 0 and out.startswith("dropout")


def test_export_then_check_both_conventions(capsys, tmp_path):
    for convention in ("keep", "drop"):
        target = tmp_path / f"layers_{convention}.py"
        code, out, _ = run(capsys, "export", "--dropout-p", convention, "-o", str(target))
        assert code == 0 and target.exists() and "wrote" in out
        code, out, _ = run(capsys, "check", str(target))
        assert code == 0 and "PASS    dropout_backward" in out and "functions passed" in out
        code, out, _ = run(capsys, "check", str(target), "--json")
        report = json.loads(out)
        assert code == 0 and report["passed"] and report["dropout_convention"] == convention
        assert all(f["status"] == "pass" for f in report["functions"])


def test_check_exits_1_on_a_failing_module(capsys, tmp_path):
    target = tmp_path / "layers.py"
    run(capsys, "export", "--dropout-p", "keep", "-o", str(target))
    target.write_text(target.read_text().replace("dx = dout*mask", "dx = dout"))
    code, out, _ = run(capsys, "check", str(target))
    assert code == 1 and "FAIL  dropout_backward (train)" in out and "dx = dout everywhere" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["derive", "softmaxx"], "unknown layer 'softmaxx'; known layers: "),
        (["check", "missing.py"], "missing.py is not a file"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_export_refuses_to_overwrite_a_users_file(capsys, tmp_path):
    target = tmp_path / "layers.py"
    target.write_text("# my own layers\n")
    code, _, err = run(capsys, "export", "--dropout-p", "keep", "-o", str(target))
    assert code == 2 and "--force" in err and target.read_text() == "# my own layers\n"
    code, _, _ = run(capsys, "export", "--dropout-p", "keep", "-o", str(target), "--force")
    assert code == 0 and "dropout_forward" in target.read_text()


def test_usage_errors_exit_2(capsys, tmp_path):
    assert main(["export", "-o", str(tmp_path / "x.py")]) == 2  # --dropout-p is needed without --define
    assert "--dropout-p keep|drop is required" in capsys.readouterr().err
    assert not (tmp_path / "x.py").exists()
