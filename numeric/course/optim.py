r"""First-order update rules in the course API: ``next_w, config = rule(w, dw, config)``.

``config`` holds the hyperparameters and whatever the rule carries from step to step
(velocity, moment estimates); a rule fills in its defaults on first use.

Momentum is defined two ways by the two courses, and both are here under their own names:

* ``sgd_momentum`` (CS231n): :math:`v \leftarrow \mu v - \alpha\, dw`, :math:`w \leftarrow w + v`
  — the velocity carries the learning rate;
* ``sgd_momentum_cs182`` (Berkeley CS182): :math:`v \leftarrow \mu v + dw`,
  :math:`w \leftarrow w - \alpha v` — the velocity is a running sum of gradients.

With a constant learning rate the two trajectories are identical (:math:`v_{231} = -\alpha
v_{182}`); they part as soon as the learning rate decays, because CS231n's velocity keeps the
old, larger steps while CS182's is rescaled by the new rate at once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .layers import LayergradError

__all__ = ["UPDATE_RULES", "adam", "rmsprop", "sgd", "sgd_momentum", "sgd_momentum_cs182", "update_rule"]

Config = dict


def sgd(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    r"""Vanilla stochastic gradient descent: :math:`w \leftarrow w - \alpha\, dw`."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    r"""CS231n momentum: :math:`v \leftarrow \mu v - \alpha\, dw`, :math:`w \leftarrow w + v`."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def sgd_momentum_cs182(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    r"""CS182 momentum: :math:`v \leftarrow \mu v + dw`, :math:`w \leftarrow w - \alpha v`."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v + dw
    config["velocity"] = v
    return w - config["learning_rate"] * v, config


def rmsprop(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    r"""RMSProp: :math:`c \leftarrow \rho c + (1 - \rho)\, dw^2`,
    :math:`w \leftarrow w - \alpha\, dw / (\sqrt{c} + \epsilon)`."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", np.zeros_like(w))
    cache = config["decay_rate"] * config["cache"] + (1 - config["decay_rate"]) * dw * dw
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def adam(w: np.ndarray, dw: np.ndarray, config: Config | None = None) -> tuple[np.ndarray, Config]:
    r"""Adam with bias correction: :math:`t \leftarrow t + 1`,
    :math:`m \leftarrow \beta_1 m + (1 - \beta_1) dw`, :math:`v \leftarrow \beta_2 v + (1 - \beta_2) dw^2`,
    :math:`w \leftarrow w - \alpha\, \hat m / (\sqrt{\hat v} + \epsilon)` with
    :math:`\hat m = m / (1 - \beta_1^t)`, :math:`\hat v = v / (1 - \beta_2^t)`."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    t = config["t"] + 1
    m = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    v = config["beta2"] * config["v"] + (1 - config["beta2"]) * dw * dw
    m_hat, v_hat = m / (1 - config["beta1"] ** t), v / (1 - config["beta2"] ** t)
    config.update(t=t, m=m, v=v)
    return w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


UPDATE_RULES: dict[str, Callable] = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "sgd_momentum_cs182": sgd_momentum_cs182,
    "rmsprop": rmsprop,
    "adam": adam,
}


def update_rule(name: str) -> Callable:
    """The update rule called ``name``."""
    try:
        return UPDATE_RULES[name]
    except KeyError:
        raise LayergradError(f"unknown update rule {name!r}; expected one of {', '.join(UPDATE_RULES)}") from None
