"""The checker on dropout: every broken implementation flagged with the right diagnosis,
every correct one passed on 200 seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from derive.dropout import Convention
from numeric.checks import Limits, Options, check_module, entry, load_module, run_isolated
from numeric.checks.reference import reference_module
from numeric.export import module_source

FIXTURES = Path(__file__).parent / "fixtures"
BROKEN = sorted((FIXTURES / "broken").glob("dropout_*.py"))
CORRECT = sorted((FIXTURES / "correct").glob("dropout_*.py"))


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_each_broken_dropout_is_flagged_with_its_diagnosis(path: Path) -> None:
    module = load_module(path)
    report = check_module(module, path=path)
    for function in report.functions:
        expected = module.EXPECTED_MISTAKES.get(function.name)
        if expected is None:
            assert function.status == "pass", f"{function.name} should pass:\n{report.text()}"
        else:
            assert function.status == "fail" and expected in function.mistakes, report.text()
            assert function.diagnoses and all(d.strip() for d in function.diagnoses)


def test_every_exported_dropout_function_has_two_broken_implementations() -> None:
    counts = {f.name: 0 for f in entry("dropout").functions}
    for path in BROKEN:
        for name in load_module(path).EXPECTED_MISTAKES:
            counts[name] += 1
    assert min(counts.values()) >= 2, counts


def test_the_issue_s_dropout_diagnoses_are_all_covered() -> None:
    found = {key for path in BROKEN for key in load_module(path).EXPECTED_MISTAKES.values()}
    assert {"not-rescaled", "rescaled-at-test", "randn-mask", "convention-swapped"} <= found


def test_diagnoses_are_plain_words_with_the_numbers_that_show_them(tmp_path: Path) -> None:
    report = check_module(load_module(FIXTURES / "broken" / "dropout_randn.py"))
    forward = report.function("dropout_forward")
    assert any("normal distribution" in d and "Φ(p)" in d for d in forward.diagnoses)
    failed = forward.failed[0]
    assert "0.38" in failed.detail and "0.7000" in failed.detail  # 1 − Φ(0.3) ≈ 0.382 zeros, not 0.7


def test_the_swapped_convention_is_blamed_on_the_flag_or_the_code() -> None:
    module = load_module(FIXTURES / "broken" / "dropout_swapped.py")
    as_declared = check_module(module)
    assert "--dropout-p drop" in as_declared.function("dropout_forward").diagnoses[0]
    assert check_module(module, Options(convention=Convention.DROP)).passed  # it is a correct drop-rate layer


def test_a_backward_that_is_right_is_not_blamed_for_a_wrong_forward() -> None:
    report = check_module(load_module(FIXTURES / "broken" / "dropout_test_scaled.py"))
    backward = report.function("dropout_backward")
    assert backward.status == "pass"
    assert any("dropout_forward" in w for v in backward.verdicts for w in v.warnings)


def test_the_notebooks_seeded_numbers_are_advice_not_a_failure() -> None:
    report = check_module(load_module(FIXTURES / "correct" / "dropout_binomial.py"))
    assert report.passed
    notes = [w for v in report.verdicts for w in v.warnings]
    assert any("notebooks' printed numbers" in w for w in notes)
    exported = check_module(reference_module("keep"))
    assert not [w for v in exported.verdicts for w in v.warnings]  # the export draws exactly as the notebooks


def _alarms(source: Path | Convention, seeds: range) -> list[str]:
    """Check a correct module (a file, or the export in a convention) on ``seeds``; the failures."""
    module = reference_module(source) if isinstance(source, Convention) else load_module(source)
    return [f"{source}, seed {seed}:\n{report.text()}" for seed in seeds
            if not (report := check_module(module, Options(seed=seed))).passed]


def test_correct_dropouts_pass_on_200_seeds_without_a_false_alarm() -> None:
    """The generated modules and the hand-written keep and drop ones on 200 seeds each, split over two
    processes (the binomial one, whose draw differs from the notebooks', on 50 of them)."""
    sources = [FIXTURES / "correct" / "dropout_keep.py", FIXTURES / "correct" / "dropout_drop.py", *Convention]
    tasks = [(_alarms, (source, seeds)) for source in sources for seeds in (range(0, 100), range(100, 200))]
    tasks.append((_alarms, (FIXTURES / "correct" / "dropout_binomial.py", range(0, 200, 4))))
    outcomes = run_isolated(tasks, Limits(timeout=600), jobs=2)
    assert all(not o.failure for o in outcomes), [o.failure for o in outcomes]
    alarms = [alarm for o in outcomes for alarm in o.value]
    assert not alarms, alarms[:1]


def test_the_reference_is_the_exported_module() -> None:
    module = reference_module("drop")
    assert module.DROPOUT_CONVENTION == "drop"
    assert "dropout_forward" in module_source("cs231n", "drop")
