# %% [markdown]
# # Dropout, derived and explored
#
# Every formula in this notebook is printed from a derivation that layergrad checked step by
# step, and every number is computed by the code layergrad generated from those derivations.
# Exercises sit between nbgrader's solution markers; the student version of this
# notebook has `raise NotImplementedError()` there instead.

# %%
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

from derive import dropout
from numeric import gen_dropout
from numeric.export import generated_module
from numeric.gradcheck import check_vjp
from worksheets.jupyter import show, show_code

layers = generated_module("keep", layers=("dropout",))  # p is the KEEP probability here
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Forward pass
#
# Y is the activation before dropout, H the output and D the Bernoulli mask. Vanilla dropout
# multiplies by the mask; inverted dropout also divides by the keep probability q.

# %%
show(dropout.forward("vanilla", "keep"), dropout.forward("inverted", "keep"))

# %% [markdown]
# ## 2. Backward pass
#
# The gradient flows back through the kept units only, scaled like the forward pass.

# %%
show(dropout.backward("inverted", "keep"))

# %% [markdown]
# ## 3. The generated code
#
# The course-API functions below were printed from the derivations above.

# %%
for function in gen_dropout.functions("keep"):
    show_code(function.source)

# %% [markdown]
# ## 4. Exercise: inverted dropout by hand
#
# Implement the training-time forward pass (draw the mask exactly as the course notebooks do:
# seed NumPy's global generator, keep an entry when a uniform draw is below the keep
# probability) and the backward pass. The cell after checks your functions against the
# generated ones.

# %%
def my_dropout_forward(x, p, seed):
    """Inverted dropout, training time; p is the keep probability. Returns (out, mask)."""
    ### BEGIN SOLUTION
    np.random.seed(seed)
    mask = (np.random.rand(*x.shape) < p) / p
    return x * mask, mask
    ### END SOLUTION


def my_dropout_backward(dout, mask):
    """The gradient with respect to the input, given the upstream gradient and the saved mask."""
    ### BEGIN SOLUTION
    return dout * mask
    ### END SOLUTION


# %%
x = rng.standard_normal((6, 8))
dout = rng.standard_normal(x.shape)
mine, mask = my_dropout_forward(x, 0.6, seed=3)
generated, cache = layers.dropout_forward(x, {"p": 0.6, "mode": "train", "seed": 3})
assert np.allclose(mine, generated), "forward pass differs from the generated code"
assert np.allclose(my_dropout_backward(dout, mask), layers.dropout_backward(dout, cache))
print("your dropout matches the generated code")

# %%
# Hidden tests: nbgrader leaves them out of the student's notebook and runs them when grading
# (the keep probability's corner p = 1, a batch of one, the mask drawn again from its seed, and
# agreement to rounding rather than to np.allclose's default tolerance).
### BEGIN HIDDEN TESTS
h_rng = np.random.default_rng(7)
for h_p, h_shape in [(1.0, (1, 1)), (1.0, (4, 3)), (0.25, (1, 7)), (0.9, (300, 200))]:
    h_x, h_dout = h_rng.standard_normal(h_shape), h_rng.standard_normal(h_shape)
    h_mine, h_mask = my_dropout_forward(h_x, h_p, seed=11)
    h_generated, h_cache = layers.dropout_forward(h_x, {"p": h_p, "mode": "train", "seed": 11})
    assert np.allclose(h_mine, h_generated, rtol=1e-12, atol=0), (
        f"forward pass differs from the generated code beyond rounding at p = {h_p}, shape {h_shape} "
        "(a mask or a scale computed in float32?)")
    assert np.allclose(my_dropout_backward(h_dout, h_mask), layers.dropout_backward(h_dout, h_cache),
                       rtol=1e-12, atol=0), f"backward pass differs at p = {h_p}, shape {h_shape}"
assert np.array_equal(my_dropout_forward(h_x, 0.9, seed=11)[1], h_mask), "the same seed must draw the same mask"
assert not np.array_equal(my_dropout_forward(h_x, 0.9, seed=12)[1], h_mask), "another seed must draw another mask"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Gradient check
#
# Central differences of the loss with a random upstream gradient (never a plain sum), with the
# mask fixed by the seed.

# %%
param = {"p": 0.8, "mode": "train", "seed": 123}
x = rng.standard_normal((10, 10)) + 10
dout = rng.standard_normal(x.shape)
_, cache = layers.dropout_forward(x, param)
verdict = check_vjp("dropout_backward", lambda xx: layers.dropout_forward(xx, param)[0], x, dout,
                    layers.dropout_backward(dout, cache))
print(verdict.line())
assert verdict.passed

# %% [markdown]
# ## 6. Zero fraction and mean against p
#
# The fraction of zeros should be the drop probability, and inverted dropout should keep the
# mean of the activation at every p. The lines are what the derivations predict; the dots are
# what the generated code does, in both conventions for p. The drop rate has two seeded draws in
# the courses (the same law, other numbers): `rand >= p` (CS231n 2017, CS182; the default) and
# `rand < 1 - p` (cs6353, `--dropout-draw lt`); each module records its own in `DROPOUT_DRAW`.

# %%
x = rng.standard_normal((300, 300)) + 10
ps = np.linspace(0.05, 0.95, 19)
q = dropout.symbols()["q"]
keep_law = dropout.forward("inverted", "keep").assumption("Bernoulli mask").statement.rhs  # P(D = 1)
mean_law = dropout.moments("inverted", "keep")[0].result  # E[H] in terms of Y
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
for convention, draw, marker in (("keep", None, "o"), ("drop", "ge", "s"), ("drop", "lt", "^")):
    module = generated_module(convention, layers=("dropout",), draw=draw)
    outs = [module.dropout_forward(x, {"p": p, "mode": "train", "seed": 0})[0] for p in ps]
    keep_of_p = sp.lambdify(dropout.symbols()["p"], dropout.keep_probability(convention))
    predicted_zeros = [float(1 - keep_law.subs(q, keep_of_p(p))) for p in ps]
    left.plot(ps, predicted_zeros, "-", color="gray")
    left.plot(ps, [np.mean(o == 0) for o in outs], marker, label=f"{convention}, {module.DROPOUT_DRAW}")
    right.plot(ps, [o.mean() for o in outs], marker, label=f"{convention}, {module.DROPOUT_DRAW}")
right.plot(ps, [float(mean_law.subs(sp.Symbol("Y_ij", real=True), x.mean()))] * len(ps), "-", color="gray",
           label="derived E[H]")
left.set(xlabel="p", ylabel="fraction of zeros", title="zeros (line: derived 1 - q)")
right.set(xlabel="p", ylabel="mean of training output", title="mean (input mean about 10)")
right.set_ylim(9, 11)
left.legend()
right.legend()
plt.show()

# %% [markdown]
# ## 7. Question
#
# Why does the mean of the training-time output stay at the input's mean for every p, while the
# fraction of zeros changes?

# %% [markdown]
# ### BEGIN SOLUTION
# Inverted dropout divides every kept entry by the keep probability q. An entry survives with
# probability q, so its expected value is q times Y divided by q: the mean derivation in
# section 1 ends in Y itself. The zeros are the dropped entries, a fraction 1 - q of them.
# ### END SOLUTION
