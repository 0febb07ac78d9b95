r"""Losses: ``softmax_loss(x, y)`` and ``svm_loss(x, y)``, each returning ``(loss, dx)``.

Softmax cross-entropy :math:`L = \frac1N\sum_i(-s_{iy_i} + \log\sum_c e^{s_{ic}})`,
:math:`dx = (\mathrm{softmax}(s) - \mathrm{onehot}(y))/N`; multiclass SVM with margin 1,
:math:`L = \frac1N \sum_i \sum_{c \ne y_i} \max(0, s_{ic} - s_{iy_i} + 1)`. Cases: a small one,
the notebooks' N = 50, C = 10 with scores 0.001·randn (every SVM margin active), scores of
size 1 (some margins inactive, all kept away from the hinge's kink) and, for softmax, scores
near 1000 (where exp overflows unless each row's maximum is subtracted first).
"""

from __future__ import annotations

import numpy as np

from .compare import Case, Gradient, Spec, Wrong, entry, frozen

__all__ = ["CHECKS_SOFTMAX", "CHECKS_SVM", "SOFTMAX", "SVM"]

MARGIN = 1e-3
"""Smallest distance of an SVM margin from the hinge's kink at 0."""


def _scores(n: int, c: int, scale: float, hinge: bool = False, offset: float = 0.0):
    def make(rng: np.random.Generator) -> dict:
        x = offset + scale * rng.standard_normal((n, c))
        y = rng.integers(c, size=n)
        if hinge:  # move scores whose margin x_ic - x_iy + 1 is within MARGIN of 0
            margin = x - x[np.arange(n), y][:, None] + 1
            near = (np.abs(margin) < MARGIN) & (np.arange(c)[None, :] != y[:, None])
            x = x + near * 2 * MARGIN
        return frozen(x=x, y=y)
    return make


def _outputs(name: str):
    def outputs(fns, i):
        loss, dx = fns(name)(i["x"], i["y"])
        return {"loss": loss, "dx": dx}
    return outputs


def _gradients(name: str):
    def gradients(fns, i):
        loss_fn = fns(name)
        _, dx = loss_fn(i["x"], i["y"])
        # the loss is a scalar: its upstream gradient is 1, which dx is the gradient for
        return [Gradient("dx", lambda v: np.asarray(loss_fn(v, i["y"])[0]), i["x"], np.ones(()), np.asarray(dx))]
    return gradients


def _softmax_parts(x: np.ndarray, y: np.ndarray, shift: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    z = x - x.max(axis=1, keepdims=True) if shift else x
    with np.errstate(all="ignore"):
        e = np.exp(z)
        probs = e / e.sum(axis=1, keepdims=True)
    onehot = np.arange(x.shape[1])[None, :] == y[:, None]
    return probs, onehot, len(y)


def _softmax(i, *, mean: bool = True, dx_mean: bool = True, shift: bool = True, onehot_in_dx: bool = True):
    probs, onehot, n = _softmax_parts(i["x"], i["y"], shift)
    with np.errstate(all="ignore"):
        loss = -np.log(probs[onehot]).sum() / (n if mean else 1)
        dx = (probs - onehot * onehot_in_dx) / (n if dx_mean else 1)
    return {"loss": loss, "dx": dx}


def _svm(i, *, mean: bool = True, own_margin: bool = False, clamp: bool = True, correct_class: bool = True):
    x, y = i["x"], i["y"]
    n = len(y)
    onehot = np.arange(x.shape[1])[None, :] == y[:, None]
    margin = x - x[np.arange(n), y][:, None] + 1
    kept = np.maximum(0, margin) if clamp else margin
    counted = kept if own_margin else kept * ~onehot
    positive = ((margin > 0) if clamp else np.ones_like(margin, dtype=bool)) & ~onehot
    dx = positive - onehot * positive.sum(axis=1, keepdims=True) * correct_class
    return {"loss": counted.sum() / (n if mean else 1), "dx": dx / (n if mean else 1)}


SOFTMAX = Spec(
    "softmax_loss",
    (Case("x (3, 4)", _scores(3, 4, 1.0)), Case("x (50, 10) = 0.001·randn (the notebooks')", _scores(50, 10, 1e-3)),
     Case("x (50, 10), scores of size 1", _scores(50, 10, 1.0)),
     Case("x (5, 4) = 1000 + randn (np.exp overflows)", _scores(5, 4, 1.0, offset=1000.0))),
    _outputs("softmax_loss"),
    _gradients("softmax_loss"),
    wrongs=(
        Wrong("softmax-unstable", "it overflows for large scores (np.exp of a large number is inf): subtract each "
              "row's maximum before np.exp; the softmax does not change", lambda i: _softmax(i, shift=False),
              symptom=lambda got: not np.all(np.isfinite(got.get("loss", 0.0)))),
        Wrong("softmax-not-averaged", "the loss and dx are sums over the N examples; the notebooks average: divide "
              "both by N", lambda i: _softmax(i, mean=False, dx_mean=False)),
        Wrong("softmax-dx-not-averaged", "dx is N times too large: the loss is averaged over N, so divide dx by N too",
              lambda i: _softmax(i, dx_mean=False)),
        Wrong("softmax-dx-missing-onehot", "dx misses the −1 on each example's correct class: "
              "dx = (softmax − onehot(y)) / N", lambda i: _softmax(i, onehot_in_dx=False)),
    ),
    jvp=False,
)

SVM = Spec(
    "svm_loss",
    (Case("x (3, 4)", _scores(3, 4, 1.0, hinge=True)),
     Case("x (50, 10) = 0.001·randn (the notebooks')", _scores(50, 10, 1e-3, hinge=True)),
     Case("x (50, 10), scores of size 1", _scores(50, 10, 1.0, hinge=True))),
    _outputs("svm_loss"),
    _gradients("svm_loss"),
    wrongs=(
        Wrong("svm-own-margin", "the loss counts each example's own class, whose margin is always 1: leave out "
              "c = y (margins[np.arange(N), y] = 0)", lambda i: _svm(i, own_margin=True)),
        Wrong("svm-no-clamp", "negative margins are added to the loss: only max(0, margin) counts",
              lambda i: _svm(i, clamp=False)),
        Wrong("svm-dx-no-correct-class", "dx misses the correct class's entry: it gets minus the number of classes "
              "inside the margin", lambda i: _svm(i, correct_class=False)),
        Wrong("svm-not-averaged", "the loss and dx are sums over the N examples; divide both by N",
              lambda i: _svm(i, mean=False)),
    ),
    jvp=False,
)

CHECKS_SOFTMAX = entry("softmax", SOFTMAX)
CHECKS_SVM = entry("svm", SVM)
