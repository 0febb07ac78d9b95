"""The checker on batch normalization and its family: the mistakes the issue names (wrong axis,
unbiased variance, ε missing or outside the root, the Z·Σ(dY·Z) term, swapped momentum) are
recognized, and correct implementations pass on 200 seeds, second order included.

Until layergrad's generated batch normalization is part of the checked reference, these tests
compare with an independent hand-written implementation (``fixtures/correct/norm_handwritten.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from numeric.checks import TABLE, Limits, Options, check_module, load_module, run_isolated
from numeric.checks.norm import BATCHNORM, GROUPNORM, LAYERNORM, SPATIAL_BATCHNORM

FIXTURES = Path(__file__).parent / "fixtures"
CHECKED = {entry.layer for entry in TABLE}
NORMS = tuple(e for e in (BATCHNORM, LAYERNORM, SPATIAL_BATCHNORM, GROUPNORM) if e.layer not in CHECKED)
FUNCTIONS = {f.name for e in NORMS for f in e.functions}
BROKEN = sorted(p for p in (FIXTURES / "broken").glob("*.py") if set(load_module(p).EXPECTED_MISTAKES) & FUNCTIONS)


def _options(**changes) -> Options:
    reference = load_module(FIXTURES / "correct" / "norm_handwritten.py")
    return Options(table=TABLE + NORMS, reference=reference, **changes)


@pytest.mark.skipif(not NORMS, reason="batch normalization is checked against the generated reference")
@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_each_broken_normalization_is_flagged_with_its_diagnosis(path: Path) -> None:
    module = load_module(path)
    report = check_module(module, _options(), path=path)
    assert set(module.EXPECTED_MISTAKES) <= {f.name for f in report.functions}
    for function in report.functions:
        expected = module.EXPECTED_MISTAKES.get(function.name)
        if expected is None:
            assert function.status == "pass", f"{function.name} should pass:\n{report.text()}"
        else:
            assert function.status == "fail" and expected in function.mistakes, report.text()


@pytest.mark.skipif(not NORMS, reason="batch normalization is checked against the generated reference")
def test_every_normalization_function_has_two_broken_implementations() -> None:
    counts = dict.fromkeys(FUNCTIONS, 0)
    for path in BROKEN:
        for name, key in load_module(path).EXPECTED_MISTAKES.items():
            counts[name] += key not in (None, "forward-wrong")
    assert min(counts.values()) >= 2, counts


def test_the_closed_form_backward_is_checked_to_second_order() -> None:
    table = TABLE + NORMS if NORMS else TABLE
    report = check_module(load_module(FIXTURES / "broken" / "bn_backward_missing_z_term.py"),
                          Options(table=table, reference=_options().reference, only=("batchnorm_backward_alt",)))
    second = [v for v in report.verdicts if "Hessian symmetry" in v.name or "second derivative" in v.name]
    assert len(second) == 2 and not any(v.passed for v in second)
    good = check_module(_options().reference, Options(table=table, reference=_options().reference,
                                                      only=("batchnorm_backward_alt",)))
    assert good.passed and sum("second derivative" in v.name for v in good.verdicts) == 1


def _alarms(seeds: range) -> list[str]:
    module = load_module(FIXTURES / "correct" / "norm_handwritten.py")
    options = _options()
    return [f"seed {seed}:\n{report.text()}" for seed in seeds
            if not (report := check_module(module, Options(**{**options.__dict__, "seed": seed}))).passed]


@pytest.mark.skipif(not NORMS, reason="batch normalization is checked against the generated reference")
def test_correct_normalization_passes_on_200_seeds_without_a_false_alarm() -> None:
    outcomes = run_isolated([(_alarms, (range(0, 100),)), (_alarms, (range(100, 200),))], Limits(timeout=600), jobs=2)
    assert all(not o.failure for o in outcomes), [o.failure for o in outcomes]
    alarms = [alarm for o in outcomes for alarm in o.value]
    assert not alarms, alarms[:1]
