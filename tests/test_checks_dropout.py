"""The checker on dropout: the diagnoses the issue names, conventions, the notebooks' draw,
and correct implementations passed on 200 seeds."""

from __future__ import annotations

from pathlib import Path

from derive.dropout import Convention
from numeric.checks import Limits, Options, check_module, load_module, run_parallel
from numeric.checks.reference import reference_module

FIXTURES = Path(__file__).parent / "fixtures"
BROKEN = sorted((FIXTURES / "broken").glob("dropout_*.py"))


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


def test_either_drop_rate_draw_is_right_and_the_report_says_which() -> None:
    """rand >= p (CS231n 2017, CS182) and rand < 1 - p (cs6353): same law, both pass without a
    warning, and the seeded outputs tell which one a module draws."""
    from numeric.export import generated_module

    def draw_detail(module) -> tuple[bool, list[str], str]:
        report = check_module(module, Options(convention=Convention.DROP))
        verdict = next(v for v in report.verdicts if v.name == "dropout_forward seeded draw as in the notebooks")
        return report.passed, [w for v in report.verdicts for w in v.warnings], verdict.detail

    by_hand = load_module(FIXTURES / "correct" / "dropout_drop.py")  # keep = rand < 1 - p
    for module, draw in ((generated_module("drop", layers=("dropout",)), "rand >= p"),
                         (generated_module("drop", layers=("dropout",), draw="lt"), "rand < 1 - p"),
                         (by_hand, "rand < 1 - p")):
        passed, warnings, detail = draw_detail(module)
        assert passed and not warnings and f"drawn as {draw} " in detail
    keep = check_module(reference_module("keep"))
    assert any("drawn as rand < p " in v.detail for v in keep.verdicts)


def _alarms(source: Path | Convention, seeds: range) -> list[str]:
    """Check a correct module (a file, or the export in a convention) on ``seeds``; the failures."""
    module = reference_module(source) if isinstance(source, Convention) else load_module(source)
    return [f"{source}, seed {seed}:\n{report.text()}" for seed in seeds
            if not (report := check_module(module, Options(seed=seed, only=("dropout",)))).passed]


def test_correct_dropouts_pass_on_200_seeds_without_a_false_alarm() -> None:
    """The generated modules and the hand-written keep and drop ones on 200 seeds each, split over two
    processes (the binomial one, whose draw differs from the notebooks', on 50 of them)."""
    sources = [FIXTURES / "correct" / "dropout_keep.py", FIXTURES / "correct" / "dropout_drop.py", *Convention]
    tasks = [(_alarms, (source, seeds)) for source in sources for seeds in (range(0, 100), range(100, 200))]
    tasks.append((_alarms, (FIXTURES / "correct" / "dropout_binomial.py", range(0, 200, 4))))
    outcomes = run_parallel(tasks, Limits(timeout=600), jobs=2)
    assert all(not o.failure for o in outcomes), [o.failure for o in outcomes]
    alarms = [alarm for o in outcomes for alarm in o.value]
    assert not alarms, alarms[:1]


def test_the_reference_is_the_generated_module_in_each_convention() -> None:
    for convention in Convention:
        module = reference_module(convention)
        assert convention.value == module.DROPOUT_CONVENTION
        assert module.__doc__ and "generated by layergrad" in module.__doc__
