r"""Rows for whole networks: one training epoch of the 500-unit net, and an experiment end to end.

* **network epoch**: the course's two-layer net (3,072 CIFAR-sized features → 500 ReLU units
  [→ dropout] → 10 classes, softmax loss, L2) trained for one epoch of 1,000 examples in
  minibatches of 100 with Adam — layergrad's :class:`~numeric.fc_net.FullyConnectedNet` on the
  generated layers and :func:`~numeric.optim.adam` against the same network and update written
  by hand in NumPy (the goal: within 1.5×). Both draw the same minibatches; the data is random
  (no CIFAR-10 is read).
* **dropout-regularization experiment**: ``layergrad experiment dropout-regularization`` on the
  digits data with its default settings (9 training runs), in seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .core import Goal, Row, Work

__all__ = ["hand_epoch", "rows"]

HIDDEN, CLASSES, BATCH = 500, 10, 100


def _hand_adam(w: np.ndarray, dw: np.ndarray, state: dict, lr: float = 1e-3) -> np.ndarray:
    state["t"] = state.get("t", 0) + 1
    state["m"] = 0.9 * state.get("m", 0) + 0.1 * dw
    state["v"] = 0.999 * state.get("v", 0) + 0.001 * dw * dw
    m_hat, v_hat = state["m"] / (1 - 0.9 ** state["t"]), state["v"] / (1 - 0.999 ** state["t"])
    return w - lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def hand_epoch(params: dict, states: dict, X: np.ndarray, y: np.ndarray, batches: list[np.ndarray],
               keep: float = 1.0, reg: float = 1e-3) -> float:
    """One epoch of the two-layer net written by hand (inverted dropout with keep probability
    ``keep``); updates ``params`` in place and returns the last loss."""
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    loss = 0.0
    for rows in batches:
        x, labels = X[rows].reshape(len(rows), -1), y[rows]
        hidden = np.maximum(0, x @ W1 + b1)
        mask = (np.random.rand(*hidden.shape) < keep) / keep if keep < 1 else None
        dropped = hidden * mask if mask is not None else hidden
        scores = dropped @ W2 + b2
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = len(rows)
        loss = -log_p[np.arange(n), labels].mean() + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dscores = np.exp(log_p)
        dscores[np.arange(n), labels] -= 1
        dscores /= n
        grads = {"W2": dropped.T @ dscores + reg * W2, "b2": dscores.sum(axis=0)}
        dhidden = dscores @ W2.T
        if mask is not None:
            dhidden *= mask
        dhidden *= hidden > 0
        grads["W1"], grads["b1"] = x.T @ dhidden + reg * W1, dhidden.sum(axis=0)
        for name, grad in grads.items():
            params[name] = _hand_adam(params[name], grad, states[name])
        W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    return float(loss)


def _epoch(n: int, features: int, dtype: str, drop: float | None) -> dict[str, Callable[[], object]]:
    from ..fc_net import FullyConnectedNet
    from ..optim import adam

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, features)).astype(dtype)
    y = rng.integers(0, CLASSES, n)
    batches = [rng.choice(n, BATCH) for _ in range(max(n // BATCH, 1))]
    np.random.seed(0)
    model = FullyConnectedNet([HIDDEN], input_dim=features, num_classes=CLASSES, dropout=drop, reg=1e-3,
                              weight_scale=1e-2, dtype=np.dtype(dtype))
    hand_params = {k: v.copy() for k, v in model.params.items()}
    configs = {k: {"learning_rate": 1e-3} for k in model.params}
    hand_states: dict = {k: {} for k in hand_params}

    def generated() -> float:
        loss = 0.0
        for rows in batches:
            loss, grads = model.loss(X[rows], y[rows])
            for name, w in model.params.items():
                model.params[name], configs[name] = adam(w, grads[name], configs[name])
        return loss

    keep = 1.0 - (drop or 0.0)
    return {"generated": generated, "hand-written": lambda: hand_epoch(hand_params, hand_states, X, y, batches, keep)}


def _experiment() -> dict[str, Callable[[], object]]:
    from ..data import load_digits
    from ..experiments import run

    data = load_digits()
    return {"experiment": lambda: run("dropout-regularization", data)}


def rows(quick: bool) -> list[Row]:
    n, features = (200, 768) if quick else (1000, 3072)
    flops = 3 * 2.0 * n * (features * HIDDEN + HIDDEN * CLASSES)  # forward, and backward twice that
    pair = {"contenders": ("generated", "hand-written"), "reference": "hand-written",
            "goals": (Goal("generated/hand-written", max=1.5),)}
    variants = [("float64", None)] if quick else [("float64", None), ("float32", None), ("float64", 0.5)]
    out = [
        Row(name="network epoch" + (f", dropout {drop:g}" if drop else ""), group="network",
            size=f"{n}×{features} → {HIDDEN} → {CLASSES}, batch {BATCH}, adam", dtype=dtype,
            setup=lambda dtype=dtype, drop=drop: _epoch(n, features, dtype, drop),
            work=Work(flops, "flop", limit=f"{dtype} matmul"), memory=False, **pair)
        for dtype, drop in variants
    ]
    if not quick:
        out.append(Row(name="dropout-regularization experiment", group="network", size="digits, 9 runs × 25 epochs",
                       dtype="float64", contenders=("experiment",), setup=_experiment, rounds=1, memory=False,
                       goals=(Goal("seconds", max=20.0),),
                       note="layergrad experiment dropout-regularization on the default data, in seconds"))
    return out
