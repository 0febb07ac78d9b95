"""The convolution and max-pooling checks raise no false alarm on correct code."""

from pathlib import Path

from numeric.checks import Options, check_module, load_module
from numeric.checks.conv import definition, window_maxima
from numeric.checks.reference import reference_module

HANDWRITTEN = Path(__file__).parent / "fixtures" / "correct" / "conv_pool_handwritten.py"


def test_correct_layers_pass_on_several_seeds():
    for module in (reference_module("keep"), load_module(HANDWRITTEN)):
        for seed in range(3):
            report = check_module(module, Options(seed=seed, only=("conv", "maxpool")))
            assert report.passed, report.text()
            assert len(report.functions) == 8


def test_the_definitions_the_checks_compare_with():
    import numpy as np

    x = np.arange(2 * 5 * 5, dtype=float).reshape(1, 2, 5, 5)
    w = np.zeros((1, 2, 3, 3))
    w[0, 1, 1, 1] = 1.0  # picks the centre of channel 1
    out = definition(x, w, np.array([0.5]), {"stride": 2, "pad": 1})
    np.testing.assert_array_equal(out[0, 0], x[0, 1, ::2, ::2] + 0.5)
    pooled = window_maxima(x, {"pool_height": 3, "pool_width": 3, "stride": 2})
    np.testing.assert_array_equal(pooled[0, 0], x[0, 0, 2::2, 2::2])
