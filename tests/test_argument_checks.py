"""The generated argument checks read attributes only, yet keep their leniency and their refusals:
floating arrays pass through untouched (no copy), lists and integer or boolean arrays become
float64, anything else is refused with a LayergradError."""

import numpy as np
import pytest

from derive.errors import LayergradError
from numeric.course import layers


def test_floating_arrays_pass_through_uncopied():
    for dtype in (np.float64, np.float32, np.complex128):
        x = np.ones((2, 3), dtype=dtype)
        assert layers._floating("x", x) is x


@pytest.mark.parametrize("value", [[[1, 2], [3, 4]], np.array([[1, 2], [3, 4]]), np.array([[True, False]]),
                                   np.array([[1, 2]], dtype=np.uint8)])
def test_lists_integers_and_booleans_become_float64(value):
    out = layers._floating("x", value)
    assert out.dtype == np.float64 and np.array_equal(out, np.asarray(value, dtype=np.float64))


@pytest.mark.parametrize("value", [np.array([["a"]]), np.array([[None]], dtype=object), "text"])
def test_other_dtypes_are_refused(value):
    with pytest.raises(LayergradError, match="floating-point"):
        layers._floating("x", value)


def test_layers_accept_integers_and_refuse_strings_after_the_fast_path():
    x = np.arange(16).reshape(1, 1, 4, 4)
    out, _ = layers.max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert out.dtype == np.float64 and out.tolist() == [[[[5.0, 7.0], [13.0, 15.0]]]]
    w, b = np.ones((1, 1, 1, 1), dtype=np.int32), np.zeros(1, dtype=np.float32)
    conv, _ = layers.conv_forward_fast(x.astype(np.float32), w, b, {"stride": 1, "pad": 0})
    assert conv.dtype == np.float64  # int32 weights promote float32 as NumPy's arithmetic would
    with pytest.raises(LayergradError, match="floating-point"):
        layers.conv_forward_fast(x.astype(str), w, b, {"stride": 1, "pad": 0})
    with pytest.raises(LayergradError, match="integers"):
        layers.softmax_loss(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(LayergradError, match=r"0\.\.2"):
        layers.softmax_loss(np.zeros((2, 3)), [0, -1])
