"""``import layergrad as lg``: the one front door, its four calls and how a notebook shows them."""

from __future__ import annotations

import importlib.util

import pytest

import layergrad as lg
from derive.errors import LayergradError


def test_the_front_door_names_exactly_its_calls():
    assert sorted(lg.__all__) == ["LayergradError", "check", "define", "derive", "export", "layers", "sheet"]
    assert lg.LayergradError is LayergradError and "dropout" in lg.layers()


def test_derive_prints_as_text_and_shows_as_math_in_jupyter():
    dropout = lg.derive("dropout", dropout_p="keep")
    text = str(dropout)
    assert text.startswith("dropout\n=======") and "Dropout backward pass (inverted, keep convention" in text
    assert "drop convention" not in text and len(dropout) >= 5
    html, markdown = dropout._repr_html_(), dropout._repr_markdown_()
    assert "<math" in html and "<h2>Dropout backward pass" in html
    assert "$$" in markdown and r"\frac" in markdown
    assert "drop convention" in str(lg.derive("dropout"))
    assert "O_12" in str(lg.derive("conv", example="quiz"))


@pytest.mark.parametrize("call, message", [
    (lambda: lg.derive("relu", dropout_p="keep"), "dropout_p is for the dropout layer only, not 'relu'"),
    (lambda: lg.derive("dropout", example="quiz"), "example is for the conv layer only"),
    (lambda: lg.derive("convolution"), "unknown layer 'convolution'"),
    (lambda: lg.sheet("dropout", seed=3), "no randomized variants"),
])
def test_mistakes_are_one_readable_error(call, message):
    with pytest.raises(LayergradError, match=message):
        call()


def test_export_check_and_sheet(tmp_path):
    path = lg.export(tmp_path / "layers.py", dropout_p="drop", layers=["relu", "dropout"])
    report = lg.check(path)
    assert report.passed and str(report).endswith("4 of 4 functions passed")
    assert [f.name for f in lg.check(path, only=["relu_backward"]).functions] == ["relu_backward"]
    spec = importlib.util.spec_from_file_location("exported_layers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert lg.check(module).passed  # an imported module: checked in this process
    with pytest.raises(LayergradError, match="--force"):
        (tmp_path / "mine.py").write_text("x = 1\n")
        lg.export(tmp_path / "mine.py", dropout_p="keep")
    written = lg.sheet("quiz8", tmp_path / "sheets", formats=["md"], versions=["student"], seed=4)
    assert [p.name for p in written] == ["quiz8-seed004-student.md"]
