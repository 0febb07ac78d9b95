# %% [markdown]
# # Batch normalization, derived and explored
#
# The computational graph, the backward pass node by node, and the closed form the index
# engine recovers; then the generated code, gradient checks and what batch normalization does
# to a layer's statistics. Exercises sit between nbgrader's solution markers.

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

from derive import batchnorm as bn
from numeric.export import function_source, generated_module
from numeric.gradcheck import check_vjp
from worksheets.jupyter import show, show_code
from worksheets.sheets.batchnorm import graph_figure

layers = generated_module("keep", layers=("batchnorm",))
rng = np.random.default_rng(0)
family = bn.BATCHNORM

# %% [markdown]
# ## 1. The forward pass and its graph

# %%
show(bn.forward(family))
display(Image(graph_figure(bn.graph(family), "").png, width=560))

# %% [markdown]
# ## 2. Backward, node by node, and in closed form
#
# X feeds three nodes, so its staged gradient sums three branches; the closed form is what is
# left after substituting X = sZ + μ and using that Z sums to zero over the batch.

# %%
staged = {d.title.split("∂L/∂")[-1].split(" ")[0]: d for d in bn.staged(family)}
show(staged["X"], bn.closed_form(family))

# %% [markdown]
# ## 3. The generated code (closed form)

# %%
show_code(function_source("batchnorm_backward_alt"))

# %% [markdown]
# ## 4. Exercise: the closed-form backward by hand
#
# Given the upstream gradient `dout`, the normalized input `z`, `gamma` and the standard
# deviation `s` (one per feature), return `dx`. The cell after compares it with the generated
# code.

# %%
def my_batchnorm_backward_alt(dout, z, gamma, s):
    """The gradient with respect to x of training-time batch normalization."""
    ### BEGIN SOLUTION
    n = dout.shape[0]
    return gamma / (n * s) * (n * dout - dout.sum(axis=0) - z * (dout * z).sum(axis=0))
    ### END SOLUTION


# %%
x = rng.standard_normal((8, 5)) * 3 + 2
gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
out, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})
dout = rng.standard_normal(out.shape)
dx, dgamma, dbeta = layers.batchnorm_backward_alt(dout, cache)
s = np.sqrt(x.var(axis=0) + 1e-5)
z = (x - x.mean(axis=0)) / s
assert np.allclose(my_batchnorm_backward_alt(dout, z, gamma, s), dx)
print("your closed form matches the generated code")

# %%
# Hidden tests: nbgrader leaves them out of the student's notebook and runs them when grading
# (the corners N = 2 and D = 1, a tiny and a large variance, agreement to rounding).
### BEGIN HIDDEN TESTS
h_rng = np.random.default_rng(7)
for h_n, h_d, h_scale in [(2, 5, 1.0), (8, 1, 1.0), (16, 4, 1e-2), (3, 6, 50.0)]:
    h_x = h_rng.standard_normal((h_n, h_d)) * h_scale + 3
    h_gamma, h_beta = h_rng.standard_normal(h_d), h_rng.standard_normal(h_d)
    h_out, h_cache = layers.batchnorm_forward(h_x, h_gamma, h_beta, {"mode": "train"})
    h_dout = h_rng.standard_normal(h_out.shape)
    h_s = np.sqrt(h_x.var(axis=0) + 1e-5)
    h_z = (h_x - h_x.mean(axis=0)) / h_s
    assert np.allclose(my_batchnorm_backward_alt(h_dout, h_z, h_gamma, h_s),
                       layers.batchnorm_backward_alt(h_dout, h_cache)[0], rtol=1e-9, atol=1e-12), (
        f"dx differs from the generated code on a batch of {h_n} × {h_d}, scale {h_scale}")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Gradient check
#
# Central differences with a random upstream gradient (a plain sum would hide a wrong dx: the
# sum of a batch-normalized output does not depend on x). Staged and closed form, for x, γ, β.

# %%
for name in ("batchnorm_backward", "batchnorm_backward_alt"):
    grads = getattr(layers, name)(dout, cache)
    for label, value, grad, f in (
        ("dx", x, grads[0], lambda v: layers.batchnorm_forward(v, gamma, beta, {"mode": "train"})[0]),
        ("dgamma", gamma, grads[1], lambda v: layers.batchnorm_forward(x, v, beta, {"mode": "train"})[0]),
        ("dbeta", beta, grads[2], lambda v: layers.batchnorm_forward(x, gamma, v, {"mode": "train"})[0]),
    ):
        verdict = check_vjp(f"{name} {label}", f, value, dout, grad)
        print(verdict.line())
        assert verdict.passed

# %% [markdown]
# ## 6. Output statistics
#
# The course notebook's check: activations of a small two-layer network have arbitrary means
# and spreads per feature; after batch normalization with γ and β they have mean β and standard
# deviation |γ|.

# %%
X = rng.standard_normal((200, 50))
a = np.maximum(0, X @ rng.standard_normal((50, 60))) @ rng.standard_normal((60, 3))
gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.0, -1.0, 4.0])
normed, _ = layers.batchnorm_forward(a, gamma, beta, {"mode": "train"})
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
features = np.arange(3)
for ax, values, title in ((left, a, "before"), (right, normed, "after (γ = 1, 2, 3; β = 0, −1, 4)")):
    ax.bar(features - 0.2, values.mean(axis=0), 0.4, label="mean")
    ax.bar(features + 0.2, values.std(axis=0), 0.4, label="std")
    ax.set(xticks=features, xlabel="feature", title=title)
    ax.legend()
plt.show()
assert np.allclose(normed.mean(axis=0), beta) and np.allclose(normed.std(axis=0), np.abs(gamma), rtol=1e-4)

# %% [markdown]
# ## 7. Question
#
# Why would a gradient check with the loss L = sum of all outputs pass even for a wrong dx?

# %% [markdown]
# ### BEGIN SOLUTION
# Each column of a batch-normalized output sums to n times β, whatever x is: the normalized
# values sum to zero over the batch. The sum loss is constant in x, its true gradient is zero,
# and the upstream gradient it sends (all ones) is one that the closed form maps to zero for any
# γ. A random upstream gradient has no such blind spot.
# ### END SOLUTION
