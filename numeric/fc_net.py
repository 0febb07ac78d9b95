r"""The course's fully connected network (:mod:`numeric.course.classifiers.fc_net`, the same code
``layergrad export --package`` writes) and layergrad's whole-network gradient check.

The network runs on ``numeric/course/layers.py``, the generated layers in the keep convention
(checked in, tested for drift); :func:`gradient_errors` checks every parameter's gradient
against central differences of the loss with layergrad's own finite differences.
"""

from __future__ import annotations

import numpy as np

from derive.errors import LayergradError

from .course.classifiers.fc_net import FullyConnectedNet
from .gradcheck import numerical_gradient, rel_error

__all__ = ["FullyConnectedNet", "gradient_errors"]


def gradient_errors(model: FullyConnectedNet, X: np.ndarray, y: np.ndarray, h: float = 1e-5) -> dict[str, float]:
    """The notebooks' whole-network check: for every parameter, the relative error between the
    analytic gradient and central differences of the loss (float64 models only; dropout must
    be seeded so that every evaluation draws the same masks)."""
    if model.dtype != np.float64:
        raise LayergradError("gradient checks need a float64 model (finite differences in float32 are noise)")
    if model.use_dropout and "seed" not in model.dropout_param:
        raise LayergradError("gradient checks with dropout need a seed, so that every evaluation uses the same mask")
    _, grads = model.loss(X, y)
    errors = {}
    for name in sorted(grads):
        original = model.params[name]

        def loss_at(value, name=name):
            model.params[name] = value
            return np.array(model.loss(X, y)[0])

        try:
            numeric = numerical_gradient(loss_at, original.copy(), np.array(1.0), h, batched=False)
        finally:
            model.params[name] = original
        errors[name] = rel_error(numeric, grads[name])
    return errors
