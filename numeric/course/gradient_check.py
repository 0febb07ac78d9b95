r"""The course's numerical gradients: central differences, one entry at a time.

.. math:: \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}

Each entry of ``x`` is changed in place and restored, in NumPy's index order, exactly as the
course notebooks' ``gradient_check`` does it — so the relative errors they print come out the
same. (layergrad's own checks batch the perturbations and pick their step; these are the
course's, kept for its notebooks.)
"""

from random import randrange

import numpy as np

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array", "grad_check_sparse"]


def eval_numerical_gradient(f, x, verbose=True, h=0.00001):
    """The gradient of the scalar function ``f`` at ``x`` (an array, changed and restored in place)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        fxph = f(x)
        x[ix] = oldval - h
        fxmh = f(x)
        x[ix] = oldval
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    r"""The vector–Jacobian product :math:`\sum_k df_k\, \partial f_k / \partial x_i` of an
    array-valued ``f`` at ``x`` with the upstream gradient ``df``."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h
        pos = f(x).copy()
        x[ix] = oldval - h
        neg = f(x).copy()
        x[ix] = oldval
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5):
    """Compare ``analytic_grad`` with central differences at ``num_checks`` random entries
    (drawn with Python's ``random``), printing each and returning nothing, as the course does."""
    for _ in range(num_checks):
        ix = tuple(randrange(m) for m in x.shape)
        oldval = x[ix]
        x[ix] = oldval + h
        fxph = f(x)
        x[ix] = oldval - h
        fxmh = f(x)
        x[ix] = oldval
        grad_numerical = (fxph - fxmh) / (2 * h)
        grad_analytic = analytic_grad[ix]
        rel_error = abs(grad_numerical - grad_analytic) / (abs(grad_numerical) + abs(grad_analytic))
        print(f"numerical: {grad_numerical:f} analytic: {grad_analytic:f}, relative error: {rel_error:e}")
