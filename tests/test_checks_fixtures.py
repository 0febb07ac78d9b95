"""Every deliberately broken implementation is flagged with its diagnosis; every correct one
(layergrad's generated code and an independent hand-written set) passes on 200 seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from numeric.checks import TABLE, Limits, Options, check_module, load_module, run_parallel
from numeric.checks.reference import reference_module
from numeric.regenerate import CHECKED_LAYERS

FIXTURES = Path(__file__).parent / "fixtures"
CHECKED = {f.name for entry in TABLE for f in entry.functions}
BROKEN = sorted(p for p in (FIXTURES / "broken").glob("*.py") if set(load_module(p).EXPECTED_MISTAKES) <= CHECKED)
"""Broken modules of the layers in the checker's table (the others wait for their layer's reference)."""


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_each_broken_implementation_is_flagged_with_its_diagnosis(path: Path) -> None:
    module = load_module(path)
    report = check_module(module, path=path)
    assert set(module.EXPECTED_MISTAKES) <= {f.name for f in report.functions}
    for function in report.functions:
        expected = module.EXPECTED_MISTAKES.get(function.name)
        if expected is None:
            assert function.status == "pass", f"{function.name} should pass:\n{report.text()}"
        else:
            assert function.status == "fail" and expected in function.mistakes, report.text()
            assert function.diagnoses and all(d.strip() for d in function.diagnoses)


def test_every_checked_function_has_two_broken_implementations_with_known_mistakes() -> None:
    counts = {f.name: 0 for entry in TABLE if entry.layer in CHECKED_LAYERS for f in entry.functions}
    known = {f.name: {m.key for m in entry.mistakes} for entry in TABLE for f in entry.functions}
    for path in BROKEN:
        for name, key in load_module(path).EXPECTED_MISTAKES.items():
            if key is not None:
                assert key in known[name], f"{path.name}: {key} is not a mistake the {name} check knows"
                if name in counts:
                    counts[name] += key != "forward-wrong"  # a mistake of the function itself
    assert min(counts.values()) >= 2, {name: n for name, n in counts.items() if n < 2}


def test_every_layer_of_the_reference_is_checked() -> None:
    assert set(CHECKED_LAYERS) <= {entry.layer for entry in TABLE}
    module = reference_module("keep")
    assert all(callable(getattr(module, f.name, None)) for e in TABLE if e.layer in CHECKED_LAYERS for f in e.functions)


def _alarms(source: Path | str, layers: tuple[str, ...], seeds: range) -> list[str]:
    module = reference_module(source) if isinstance(source, str) else load_module(source)
    return [f"{source}, seed {seed}:\n{report.text()}" for seed in seeds
            if not (report := check_module(module, Options(seed=seed, only=layers))).passed]


def test_correct_layers_pass_on_200_seeds_without_a_false_alarm() -> None:
    """Generated and hand-written affine, ReLU, softmax, SVM, the normalization family,
    convolution and max pooling, 200 seeds each, in two processes (dropout has its own test)."""
    layers = tuple(entry.layer for entry in TABLE if entry.layer in CHECKED_LAYERS and entry.layer != "dropout")
    handwritten = ("layers_handwritten.py", "norm_handwritten.py", "conv_pool_handwritten.py")
    sources = ["keep", *(FIXTURES / "correct" / name for name in handwritten)]
    tasks = [(_alarms, (source, layers, seeds)) for source in sources for seeds in (range(100), range(100, 200))]
    outcomes = run_parallel(tasks, Limits(timeout=600), jobs=2)
    assert all(not o.failure for o in outcomes), [o.failure for o in outcomes]
    alarms = [alarm for o in outcomes for alarm in o.value]
    assert not alarms, alarms[:1]


def test_an_unknown_mistake_shows_the_smallest_disagreeing_input(tmp_path: Path) -> None:
    source = (FIXTURES / "correct" / "layers_handwritten.py").read_text()
    path = tmp_path / "layers.py"
    path.write_text(source.replace("db = np.sum(dout, axis=0)", "db = 1.5 * np.sum(dout, axis=0)"))
    report = check_module(load_module(path), Options(only=("affine_backward",)), path=path)
    function = report.function("affine_backward")
    assert function.status == "fail" and not function.mistakes
    (words,) = function.diagnoses
    assert words.startswith("the smallest input on which affine_backward disagrees with the reference is x (2, 3)")
    assert "db: yours [" in words and "reference [" in words


def test_a_near_miss_is_shown_with_the_digits_that_tell_it_apart(tmp_path: Path) -> None:
    source = (FIXTURES / "correct" / "layers_handwritten.py").read_text()
    path = tmp_path / "layers.py"
    path.write_text(source.replace("db = np.sum(dout, axis=0)", "db = 1.0001 * np.sum(dout, axis=0)"))
    report = check_module(load_module(path), Options(only=("affine_backward",)), path=path)
    (words,) = report.function("affine_backward").diagnoses
    yours, reference = words.split("db: yours ")[1].split(", reference ")
    assert yours.strip() != reference.strip()
