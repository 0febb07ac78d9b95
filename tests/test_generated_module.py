"""The generated module imported in memory, and element-wise expressions as functions."""

from __future__ import annotations

import numpy as np
import pytest

from derive import dropout
from derive.errors import LayergradError
from numeric.codegen.printer import elementwise_function
from numeric.export import function_source, generated_module, module_source


def test_generated_module_is_the_exported_source():
    # the drop rate's draw: rand >= p by default (CS231n 2017, CS182), rand < 1 - p on request (cs6353)
    for convention, draw in (("keep", None), ("drop", None), ("drop", "lt")):
        module = generated_module(convention, draw=draw)
        assert convention == module.DROPOUT_CONVENTION
        assert module_source("cs231n", convention).count("def dropout_forward") == 1
        x = np.arange(12.0).reshape(3, 4) + 1
        out, (_, mask) = module.dropout_forward(x, {"p": 0.25, "mode": "train", "seed": 3})
        q = 0.25 if convention == "keep" else 0.75
        np.random.seed(3)
        u = np.random.rand(3, 4)
        expected = ((u >= 0.25) if convention == "drop" and draw is None else (u < q)) / q
        np.testing.assert_array_equal(mask, expected)
        np.testing.assert_array_equal(out, x * expected)
    assert generated_module("keep") is generated_module("keep")


def test_elementwise_function_from_a_derivation():
    s = dropout.symbols()
    vanilla = elementwise_function(dropout.forward("vanilla", "keep").result, {s["Dm"]: "keep", s["Ym"]: "x"})
    assert vanilla.source == "lambda keep, x: keep*x"
    np.testing.assert_array_equal(vanilla(np.array([0, 1, 1]), np.array([2.0, 3.0, 4.0])), [0.0, 3.0, 4.0])


def test_function_source():
    assert function_source("dropout_backward").lstrip().startswith("def dropout_backward(dout, cache):")
    with pytest.raises(LayergradError, match="no generated function"):
        function_source("resnet_forward")
