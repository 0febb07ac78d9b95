"""The checker on batch normalization and its family: the mistakes the issue names are among the
recognized ones, and the closed-form backward is checked to second order."""

from __future__ import annotations

from pathlib import Path

from numeric.checks import Options, check_module, load_module
from numeric.checks.reference import reference_module

FIXTURES = Path(__file__).parent / "fixtures"


def test_the_issue_s_batchnorm_diagnoses_are_all_covered_by_broken_modules() -> None:
    found = {key for path in (FIXTURES / "broken").glob("*.py")
             for key in load_module(path).EXPECTED_MISTAKES.values() if key}
    assert {"batchnorm-wrong-axis", "batchnorm-unbiased-variance", "batchnorm-eps-missing",
            "batchnorm-eps-outside", "batchnorm-missing-z-term", "batchnorm-momentum-swapped"} <= found


def test_the_closed_form_backward_is_checked_to_second_order() -> None:
    only = Options(only=("batchnorm_backward_alt",))
    report = check_module(load_module(FIXTURES / "broken" / "bn_backward_missing_z_term.py"), only)
    second = [v for v in report.verdicts if "Hessian symmetry" in v.name or "second derivative" in v.name]
    assert len(second) == 2 and not any(v.passed for v in second)
    good = check_module(reference_module("keep"), only)
    assert good.passed and sum("second derivative" in v.name for v in good.verdicts) == 1


def test_diagnoses_name_the_formula() -> None:
    report = check_module(load_module(FIXTURES / "broken" / "bn_backward_missing_z_term.py"),
                          Options(only=("batchnorm_backward",)))
    (words,) = report.function("batchnorm_backward").diagnoses
    assert "Z·Σ(dY·Z)" in words and "dx = γ/(M·σ)" in words
