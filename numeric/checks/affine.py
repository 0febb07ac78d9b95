r"""Affine layer: ``affine_forward(x, w, b)`` and ``affine_backward(dout, cache)``.

:math:`H = X W + 1_N b^\top` with :math:`X` the input flattened to (N, D); its gradients are
:math:`dX = G W^\top` (reshaped to x's shape), :math:`dW = X^\top G`, :math:`db = 1_N^\top G`.
Cases: a tiny one, then the notebooks' sizes (x (2, 4, 5, 6), w (120, 3) forward; x (10, 2, 3),
w (6, 5) backward).
"""

from __future__ import annotations

import numpy as np

from .compare import Case, Gradient, Spec, Wrong, entry, frozen

__all__ = ["CHECKS"]


def _inputs(x_shape: tuple[int, ...], m: int, dout: bool = False):
    def make(rng: np.random.Generator) -> dict:
        d = int(np.prod(x_shape[1:]))
        arrays = {"x": rng.standard_normal(x_shape), "w": rng.standard_normal((d, m)), "b": rng.standard_normal(m)}
        if dout:
            arrays["dout"] = rng.standard_normal((x_shape[0], m))
        return frozen(**arrays)
    return make


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1)


def _forward(fns, i):
    out, _ = fns("affine_forward")(i["x"], i["w"], i["b"])
    return {"out": out}


def _backward(fns, i):
    _, cache = fns("affine_forward")(i["x"], i["w"], i["b"])
    dx, dw, db = fns("affine_backward")(i["dout"], cache)
    return {"dx": dx, "dw": dw, "db": db}


def _gradients(fns, i):
    forward, backward = fns("affine_forward"), fns("affine_backward")
    _, cache = forward(i["x"], i["w"], i["b"])
    dx, dw, db = backward(i["dout"], cache)

    def vjp_x(g: np.ndarray) -> np.ndarray:
        return np.asarray(backward(g, cache)[0])

    return [
        Gradient("dx", lambda v: forward(v, i["w"], i["b"])[0], i["x"], i["dout"], np.asarray(dx), vjp_x),
        Gradient("dw", lambda v: forward(i["x"], v, i["b"])[0], i["w"], i["dout"], np.asarray(dw)),
        Gradient("db", lambda v: forward(i["x"], i["w"], v)[0], i["b"], i["dout"], np.asarray(db)),
    ]


def _right(i):
    return {"dx": (i["dout"] @ i["w"].T).reshape(i["x"].shape), "dw": _flat(i["x"]).T @ i["dout"],
            "db": i["dout"].sum(axis=0)}


FORWARD = Spec(
    "affine_forward",
    (Case("x (2, 3), w (3, 2)", _inputs((2, 3), 2)), Case("x (3, 2, 2), w (4, 3)", _inputs((3, 2, 2), 3)),
     Case("x (2, 4, 5, 6), w (120, 3) (the notebooks')", _inputs((2, 4, 5, 6), 3))),
    _forward,
    wrongs=(
        Wrong("bias-missing", "the bias is not added: out = x·w + b", lambda i: {"out": _flat(i["x"]) @ i["w"]}),
        Wrong("flatten-order", "x is flattened in the wrong order: use x.reshape(x.shape[0], -1), which keeps "
              "each example's entries together",
              lambda i: {"out": i["x"].reshape(i["x"].shape[0], -1, order="F") @ i["w"] + i["b"]}),
    ),
)

BACKWARD = Spec(
    "affine_backward",
    (Case("x (2, 3), w (3, 2)", _inputs((2, 3), 2, dout=True)),
     Case("x (10, 2, 3), w (6, 5) (the notebooks')", _inputs((10, 2, 3), 5, dout=True))),
    _backward,
    _gradients,
    wrongs=(
        Wrong("dx-not-reshaped", "dx has the flattened shape (N, D): reshape it to x.shape",
              lambda i: {**_right(i), "dx": i["dout"] @ i["w"].T}),
        Wrong("db-mean", "db is the mean of dout over the batch; the bias is added to every example, so db is "
              "the sum dout.sum(axis=0)", lambda i: {**_right(i), "db": i["dout"].mean(axis=0)}),
        Wrong("dw-transposed", "dw is transposed: dw = x_flat.T @ dout has w's shape (D, M)",
              lambda i: {**_right(i), "dw": i["dout"].T @ _flat(i["x"])}),
        Wrong("db-wrong-axis", "db sums dout over the wrong axis: the bias has one entry per output, so sum over "
              "the batch, dout.sum(axis=0)", lambda i: {**_right(i), "db": i["dout"].sum(axis=1)}),
    ),
    needs=("affine_forward",),
    forward=_forward,
)

CHECKS = entry("affine", FORWARD, BACKWARD)
