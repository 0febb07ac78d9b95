# %% [markdown]
# # Convolution, derived and explored
#
# From Quiz 8's 3×3 input and 2×2 filter to the general layer with stride and padding. Every
# formula is printed from a derivation layergrad checked step by step; every number comes from
# the code it generated. Exercises sit between nbgrader's solution markers.

# %%
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
from IPython.display import Image, display

from derive import conv
from numeric.export import function_source, generated_module
from numeric.gradcheck import check_vjp
from worksheets.jupyter import show, show_code
from worksheets.sheets.quiz8 import quiz_grid_figure

layers = generated_module("keep", layers=("conv",))
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The quiz's example
#
# A 3×3 input, a 2×2 filter, stride 1, no padding: SymPy writes each output out from the
# definition, with the quiz's 1-based indices.

# %%
display(Image(quiz_grid_figure().png, width=520))
show(*conv.quiz_example().outputs[:2])

# %% [markdown]
# ## 2. The general layer and its output size

# %%
show(conv.output_size(dilation=False), conv.forward(dilation=False))

# %% [markdown]
# ## 3. The generated code

# %%
show_code(function_source("conv_forward_fast"))

# %% [markdown]
# ## 4. Exercise: the output size, and a convolution with loops
#
# Write `output_size` (return `None` when the windows do not tile the padded input) and a
# literal-loop convolution of one input channel with one filter. The cell after compares them
# with the derived formula and the generated code.

# %%
def output_size(size, window, stride, pad):
    """The number of window positions along one axis, or None when they do not tile."""
    ### BEGIN SOLUTION
    span = size + 2 * pad - window
    if span < 0 or span % stride:
        return None
    return 1 + span // stride
    ### END SOLUTION


def correlate(x, w, stride, pad):
    """Cross-correlate the 2-D input x with the 2-D filter w, with loops."""
    ### BEGIN SOLUTION
    xpad = np.pad(x, pad)
    rows, cols = output_size(x.shape[0], w.shape[0], stride, pad), output_size(x.shape[1], w.shape[1], stride, pad)
    out = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            window = xpad[stride * i: stride * i + w.shape[0], stride * j: stride * j + w.shape[1]]
            out[i, j] = np.sum(window * w)
    return out
    ### END SOLUTION


# %%
formula = conv.output_size(dilation=False).result.rhs
for size, window, stride, pad in [(3, 2, 1, 0), (5, 3, 2, 1), (6, 3, 2, 0), (7, 3, 3, 1)]:
    derived = formula.subs({conv.H: size, conv.HH: window, conv.S: stride, conv.P: pad})
    assert output_size(size, window, stride, pad) == (int(derived) if derived.is_integer else None)
x, w = rng.standard_normal((5, 7)), rng.standard_normal((3, 3))
generated, _ = layers.conv_forward_fast(x[None, None], w[None, None], np.zeros(1), {"stride": 2, "pad": 1})
assert np.allclose(correlate(x, w, stride=2, pad=1), generated[0, 0])
print("your output size and loops match the formula and the generated code")

# %%
# Hidden tests: nbgrader leaves them out of the student's notebook and runs them when grading
# (the corners of the declared sizes: a 1×1 filter, a filter as large as the padded input, a
# stride as large as the filter, a 1×1 input; agreement to rounding).
### BEGIN HIDDEN TESTS
h_rng = np.random.default_rng(7)
for h_size, h_window, h_stride, h_pad in [(1, 1, 1, 0), (4, 4, 1, 0), (4, 6, 1, 1), (9, 3, 3, 0), (8, 3, 2, 0)]:
    h_derived = formula.subs({conv.H: h_size, conv.HH: h_window, conv.S: h_stride, conv.P: h_pad})
    assert output_size(h_size, h_window, h_stride, h_pad) == (int(h_derived) if h_derived.is_integer else None), (
        f"output_size({h_size}, {h_window}, {h_stride}, {h_pad}) differs from the formula")
for h_in, h_filter, h_stride, h_pad in [((4, 5), (1, 1), 1, 0), ((3, 3), (5, 5), 1, 1), ((6, 6), (3, 3), 3, 0),
                                        ((1, 1), (1, 1), 1, 0)]:
    h_x, h_w = h_rng.standard_normal(h_in), h_rng.standard_normal(h_filter)
    h_generated, _ = layers.conv_forward_fast(h_x[None, None], h_w[None, None], np.zeros(1),
                                              {"stride": h_stride, "pad": h_pad})
    assert np.allclose(correlate(h_x, h_w, h_stride, h_pad), h_generated[0, 0], rtol=1e-12, atol=1e-12), (
        f"correlate differs on a {h_in} input, {h_filter} filter, stride {h_stride}, pad {h_pad}")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Gradient check
#
# Central differences with a random upstream gradient, for the input, the filters and the bias.

# %%
param = {"stride": 2, "pad": 1}
x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
out, cache = layers.conv_forward_fast(x, w, b, param)
dout = rng.standard_normal(out.shape)
dx, dw, db = layers.conv_backward_fast(dout, cache)
for name, value, grad, f in (
    ("dx", x, dx, lambda v: layers.conv_forward_fast(v, w, b, param)[0]),
    ("dw", w, dw, lambda v: layers.conv_forward_fast(x, v, b, param)[0]),
    ("db", b, db, lambda v: layers.conv_forward_fast(x, w, v, param)[0]),
):
    verdict = check_vjp(f"conv_backward_fast {name}", f, value, dout, grad)
    print(verdict.line())
    assert verdict.passed

# %% [markdown]
# ## 6. Output sizes at a glance
#
# The derived output height for a 3×3 filter, by input height and stride; blank where the
# windows do not tile the padded input (the layer is then refused).

# %%
sizes, strides = list(range(4, 13)), [1, 2, 3]
fig, axes = plt.subplots(1, 2, figsize=(10, 2.8))
for ax, pad in zip(axes, (0, 1)):
    table = np.full((len(strides), len(sizes)), np.nan)
    for r, stride in enumerate(strides):
        for c, size in enumerate(sizes):
            value = formula.subs({conv.H: size, conv.HH: 3, conv.S: stride, conv.P: pad})
            if value.is_integer:
                table[r, c] = int(value)
                ax.text(c, r, int(value), ha="center", va="center")
    ax.imshow(table, cmap="Blues", vmin=0, vmax=14)
    ax.set(xticks=range(len(sizes)), xticklabels=sizes, yticks=range(len(strides)), yticklabels=strides,
           xlabel="input height H", ylabel="stride S", title=f"H' for HH = 3, P = {pad}")
plt.show()
print(sp.Eq(conv.H_out, formula))
