"""The command line's choices (:mod:`derive.choices`) match the modules they stand for, and
building the ``derive`` parser imports none of those modules."""

from __future__ import annotations

import subprocess
import sys

from derive import choices


def test_layer_names_are_the_registered_layers():
    from derive.registry import LAYERS

    assert tuple(LAYERS) == choices.LAYER_NAMES


def test_formats_and_examples_are_the_renderer_and_conv_ones():
    from derive.conv import EXAMPLES
    from derive.render import FORMATS

    assert FORMATS is choices.FORMATS
    assert EXAMPLES is choices.EXAMPLES


def test_derive_parser_imports_no_layer():
    heavy = "('sympy', 'derive.registry', 'derive.conv', 'derive.render')"
    code = ("import sys; from layergrad.cli import _parser; _parser('derive'); "
            f"print(sorted(m for m in {heavy} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_maximum_is_the_one_softmax_exports():
    from derive.maximum import Maximum
    from derive.softmax import Maximum as FromSoftmax

    assert Maximum is FromSoftmax
