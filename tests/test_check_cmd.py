"""``layergrad check``: exit codes, terminal and JSON reports, folders, and someone else's
code that loops, exits, crashes or eats memory, each contained in its own process."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import pytest

from layergrad.cli import main
from numeric.checks import TABLE, Limits, Options, check_path, run_parallel

FIXTURES = Path(__file__).parent / "fixtures"
HOSTILE = FIXTURES / "hostile"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_exported_module_passes_with_exit_code_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layers = ("dropout", "affine", "relu")  # quick to derive; every layer's code is checked elsewhere
    assert main(["export", "--dropout-p", "drop", "--layers", ",".join(layers), "-o", str(tmp_path / "layers.py")]) == 0
    code, out, _ = _run(capsys, str(tmp_path / "layers.py"))
    total = sum(len(entry.functions) for entry in TABLE if entry.layer in layers)
    assert code == 0 and "PASS    dropout_forward" in out and f"{total} of {total} functions passed" in out


def test_a_broken_module_fails_with_exit_code_1_and_a_diagnosis(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(FIXTURES / "broken" / "dropout_randn.py"))
    assert code == 1 and "FAIL    dropout_forward" in out and "normal distribution" in out


def test_json_report_is_valid_json_even_when_the_module_prints(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(HOSTILE / "noisy_correct.py"), "--json")
    report = json.loads(out)
    assert code == 0 and report["passed"] and report["dropout_convention"] == "drop"
    assert {f["name"] for f in report["functions"]} == {"dropout_forward", "dropout_backward"}
    check = report["functions"][0]["checks"][0]
    assert {"name", "passed", "error", "tolerance", "method", "where", "diagnosis"} <= set(check)


def test_only_selects_functions_and_rejects_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(FIXTURES / "broken" / "dropout_randn.py"), "--only", "dropout_backward")
    assert code == 0 and "dropout_forward" not in out.split("\n", 1)[1]
    code, _, err = _run(capsys, str(FIXTURES / "broken" / "dropout_randn.py"), "--only", "dropout_sideways")
    assert code == 2 and "unknown name dropout_sideways" in err


def test_the_convention_flag_overrides_the_module_and_is_never_guessed(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    swapped = FIXTURES / "broken" / "dropout_swapped.py"
    assert _run(capsys, str(swapped))[0] == 1
    assert _run(capsys, str(swapped), "--dropout-p", "drop")[0] == 0
    undeclared = tmp_path / "layers.py"
    undeclared.write_text(swapped.read_text().replace('DROPOUT_CONVENTION = "keep"', ""))
    code, _, err = _run(capsys, str(undeclared))
    assert code == 2 and "--dropout-p keep" in err and "\n" not in err.strip()


def test_a_module_that_cannot_be_imported_is_a_usage_error_shown_in_one_block(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, str(HOSTILE / "import_error.py"))
    assert code == 2 and not out
    assert "failed to import" in err and "No module named 'numpyy'" in err and "Traceback" not in err
    code, _, err = _run(capsys, str(HOSTILE / "no_layers.py"))
    assert code == 2 and "defines no layer function" in err
    code, _, err = _run(capsys, str(HOSTILE / "missing.py"))
    assert code == 2 and "is not a file" in err
    code, out, err = _run(capsys, str(HOSTILE / "import_error.py"), "--json")
    assert code == 2 and "failed to import" in err
    assert json.loads(out)["exit_code"] == 2 and "No module named 'numpyy'" in json.loads(out)["error"]


def test_an_endless_loop_is_stopped_at_the_timeout_and_reported(capsys: pytest.CaptureFixture[str]) -> None:
    start = time.monotonic()
    code, out, _ = _run(capsys, str(HOSTILE / "endless_loop.py"), "--timeout", "1")
    assert time.monotonic() - start < 8
    assert code == 1 and "did not finish within 1 s" in out


def test_exits_and_crashes_are_that_function_s_failure(capsys: pytest.CaptureFixture[str]) -> None:
    report = check_path(HOSTILE / "exits.py", Options(limits=Limits(timeout=5)))
    forward, backward = report.function("dropout_forward"), report.function("dropout_backward")
    assert forward.status == "fail" and any("sys.exit('giving up')" in d for d in forward.diagnoses)
    assert backward.status == "fail" and "exit code 7" in backward.note
    crash = check_path(HOSTILE / "segfault.py", Options(limits=Limits(timeout=5)))
    assert "SIGSEGV" in crash.function("dropout_forward").note


def test_a_huge_allocation_hits_the_memory_limit_not_the_machine(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(HOSTILE / "huge_allocation.py"), "--memory", "300", "--timeout", "20")
    assert code == 1 and "dropout_forward ran out of memory" in out and "blocks.append" in out


def test_a_folder_is_checked_in_parallel_into_one_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("dropout_keep.py", "dropout_drop.py"):
        (folder / f"good_{name}").write_text((FIXTURES / "correct" / name).read_text())
    for name in ("dropout_randn.py", "dropout_backward_no_mask.py"):
        (folder / f"bad_{name}").write_text((FIXTURES / "broken" / name).read_text())
    (folder / "cannot_import.py").write_text((HOSTILE / "import_error.py").read_text())
    code, out, _ = _run(capsys, str(folder), "--jobs", "2")
    assert code == 1 and "2 of 5 modules passed" in out
    rows = {Path(r["module"]).name: r for r in csv.DictReader((folder / "layergrad-check.csv").open())}
    assert rows["good_dropout_keep.py"]["passed"] == "yes"
    assert rows["bad_dropout_randn.py"]["dropout_forward"] == "fail"
    assert rows["bad_dropout_randn.py"]["mistakes"] == "randn-mask"
    assert rows["bad_dropout_backward_no_mask.py"]["dropout_backward"] == "fail"
    assert "failed to import" in rows["cannot_import.py"]["error"]
    summary = json.loads((folder / "layergrad-check.json").read_text())
    assert summary["passed"] == 2 and len(summary["reports"]) == 5
    code, out, _ = _run(capsys, str(folder), "--json", "--summary", str(tmp_path / "again"))
    assert json.loads(out)["modules"] == 5 and (tmp_path / "again.csv").exists()


def test_an_empty_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, str(tmp_path))
    assert code == 2 and "holds no Python files" in err


def test_isolated_tasks_run_in_other_processes_in_task_order() -> None:
    outcomes = run_parallel([(os.getpid, ()), (sum, ([1, 2],)), (int, ("x",))], Limits(timeout=5), jobs=2)
    assert outcomes[0].value != os.getpid() and outcomes[1].value == 3
    assert "ValueError" in outcomes[2].failure


def test_a_course_solution_can_be_the_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    solution = FIXTURES / "correct" / "layers_handwritten.py"
    code, out, _ = _run(capsys, str(FIXTURES / "broken" / "affine_db_mean.py"), "--reference", str(solution))
    assert code == 1 and "db is the mean of dout" in out
    odd = tmp_path / "solution.py"  # a solution that scales db: now the correct module disagrees with it
    odd.write_text(solution.read_text().replace("db = np.sum(dout, axis=0)", "db = 2 * np.sum(dout, axis=0)"))
    code, out, _ = _run(capsys, str(solution), "--only", "affine_backward", "--reference", str(odd))
    assert code == 1 and "FAIL    affine_backward" in out


def test_a_convention_given_against_the_modules_declaration_is_pointed_out(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, str(HOSTILE / "noisy_correct.py"), "--dropout-p", "keep")
    assert code == 1 and "but the module declares DROPOUT_CONVENTION = 'drop'" in out
