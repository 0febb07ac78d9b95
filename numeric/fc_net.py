r"""A fully connected network in the course notebooks' shape, running on generated layers.

.. math:: \{\text{affine} \to [\text{batchnorm} \mid \text{layernorm}] \to \text{relu}
          \to [\text{dropout}]\} \times (L - 1) \to \text{affine} \to \text{softmax}

Every layer is the code layergrad generated from its derivation (:mod:`numeric.net_layers`,
checked in and tested for drift), so training this network exercises exactly what
``layergrad export`` gives users. The loss adds L2 regularization
:math:`\tfrac12 \lambda \sum_l \lVert W_l \rVert_F^2` over every weight matrix (not the biases);
weights are drawn as ``weight_scale * np.random.randn`` layer by layer, in order, from NumPy's
global random state — as the notebooks do, so a seed reproduces their numbers.

Normalization comes before every ReLU when enabled — ``normalization="batchnorm"`` or
``"layernorm"`` (newer CS231n) or ``use_batchnorm=True`` (CS231n 2017, CS182) — with
``gamma{l}`` = 1 and ``beta{l}`` = 0 for each hidden layer, batch normalization's running
statistics kept per layer in ``bn_params`` and its closed-form backward. Dropout follows every
ReLU when enabled. The two courses name its parameter differently and
both are accepted, never guessed: ``dropout=r`` is the drop rate (CS231n 2017, CS182;
``dropout=0`` means none) and ``dropout_keep_ratio=q`` the keep probability (newer CS231n;
``1`` means none).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from derive.errors import LayergradError

from . import net_layers as layers
from .gradcheck import numerical_gradient, rel_error

__all__ = ["FullyConnectedNet", "gradient_errors"]


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise LayergradError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _keep_probability(dropout: float | None, dropout_keep_ratio: float | None) -> float:
    """The keep probability from whichever of the two course parameters was given."""
    if dropout is not None and dropout_keep_ratio is not None:
        raise LayergradError(
            "give either dropout (the drop rate) or dropout_keep_ratio (the keep probability), not both"
        )
    if dropout is not None:
        if not 0 <= dropout < 1:
            raise LayergradError(f"dropout is the drop rate and must lie in [0, 1), got {dropout}")
        return 1.0 - dropout
    if dropout_keep_ratio is not None:
        if not 0 < dropout_keep_ratio <= 1:
            raise LayergradError(f"dropout_keep_ratio must lie in (0, 1], got {dropout_keep_ratio}")
        return float(dropout_keep_ratio)
    return 1.0


_NORMALIZATION = {
    "batchnorm": (layers.batchnorm_forward, layers.batchnorm_backward_alt),
    "layernorm": (layers.layernorm_forward, layers.layernorm_backward),
}


def _normalization(normalization: str | None, use_batchnorm: bool) -> str | None:
    """``batchnorm``, ``layernorm`` or None from either course's parameter."""
    if use_batchnorm and normalization not in (None, "batchnorm"):
        raise LayergradError(f"use_batchnorm=True contradicts normalization={normalization!r}")
    chosen = "batchnorm" if use_batchnorm else normalization
    if chosen not in (None, *_NORMALIZATION):
        raise LayergradError(f"unknown normalization {chosen!r}; expected 'batchnorm', 'layernorm' or None")
    return chosen


class FullyConnectedNet:
    """The course's ``FullyConnectedNet``: ``params`` (``W1``, ``b1``, …), ``loss(X, y=None)``.

    ``loss(X)`` returns the class scores (test mode); ``loss(X, y)`` returns ``(loss, grads)``
    with ``grads`` keyed like ``params`` (train mode: dropout masks are drawn).
    """

    def __init__(
        self,
        hidden_dims: Sequence[int],
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        dropout: float | None = None,
        dropout_keep_ratio: float | None = None,
        normalization: str | None = None,
        use_batchnorm: bool = False,
        reg: float = 0.0,
        weight_scale: float = 1e-2,
        dtype: type = np.float32,
        seed: int | None = None,
    ) -> None:
        dims = [_positive_int("input_dim", input_dim)]
        dims += [_positive_int("each hidden dimension", h) for h in hidden_dims]
        dims.append(_positive_int("num_classes", num_classes))
        if reg < 0:
            raise LayergradError(f"reg must be non-negative, got {reg}")
        if not weight_scale > 0:
            raise LayergradError(f"weight_scale must be positive, got {weight_scale}")
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise LayergradError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
        self.dims = dims
        self.num_layers = len(dims) - 1
        self.reg = float(reg)
        self.dtype = np.dtype(dtype)
        self.keep = _keep_probability(dropout, dropout_keep_ratio)
        self.normalization = _normalization(normalization, use_batchnorm)
        self.use_dropout = self.keep < 1
        self.dropout_param: dict = {"mode": "train", "p": self.keep}
        if seed is not None:
            self.dropout_param["seed"] = seed
        self.params: dict[str, np.ndarray] = {}
        for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(dims), start=1):
            self.params[f"W{layer}"] = weight_scale * np.random.randn(fan_in, fan_out)
            self.params[f"b{layer}"] = np.zeros(fan_out)
        hidden = range(1, self.num_layers)
        if self.normalization is not None:
            for layer in hidden:
                self.params[f"gamma{layer}"] = np.ones(dims[layer])
                self.params[f"beta{layer}"] = np.zeros(dims[layer])
        self.bn_params: list[dict] = [
            {"mode": "train"} if self.normalization == "batchnorm" else {} for _ in hidden
        ]
        for name, value in self.params.items():
            self.params[name] = value.astype(self.dtype)

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        features = int(np.prod(X.shape[1:])) if X.ndim >= 2 else -1
        if features != self.dims[0]:
            raise LayergradError(
                f"the network expects inputs with {self.dims[0]} features per example, "
                f"got an array of shape {X.shape}"
            )
        return X.astype(self.dtype, copy=False)

    def _forward(self, X: np.ndarray, mode: str) -> tuple[np.ndarray, list, list[np.ndarray]]:
        """Scores, the caches of every layer, and each hidden layer's ReLU output."""
        self.dropout_param["mode"] = mode
        for param in self.bn_params:
            if self.normalization == "batchnorm":
                param["mode"] = mode
        h, caches, activations = X, [], []
        for layer in range(1, self.num_layers):
            a, affine_cache = layers.affine_forward(h, self.params[f"W{layer}"], self.params[f"b{layer}"])
            norm_cache = None
            if self.normalization is not None:
                forward = _NORMALIZATION[self.normalization][0]
                a, norm_cache = forward(a, self.params[f"gamma{layer}"], self.params[f"beta{layer}"],
                                        self.bn_params[layer - 1])
            h, relu_cache = layers.relu_forward(a)
            activations.append(h)
            dropout_cache = None
            if self.use_dropout:
                h, dropout_cache = layers.dropout_forward(h, self.dropout_param)
            caches.append((affine_cache, norm_cache, relu_cache, dropout_cache))
        last = self.num_layers
        scores, cache = layers.affine_forward(h, self.params[f"W{last}"], self.params[f"b{last}"])
        caches.append(cache)
        return scores, caches, activations

    def scores(self, X: np.ndarray, mode: str = "test") -> np.ndarray:
        """Class scores for ``X``. In ``"train"`` mode batch normalization uses the batch's
        statistics (and updates its running ones) and dropout draws masks — the batchnorm
        notebook's check of the initial forward pass is made that way."""
        if mode not in ("train", "test"):
            raise LayergradError(f"mode must be 'train' or 'test', got {mode!r}")
        return self._forward(self._inputs(X), mode)[0]

    def hidden_activations(self, X: np.ndarray) -> list[np.ndarray]:
        """Each hidden layer's output after its ReLU, in test mode (dropout is the identity)."""
        return self._forward(self._inputs(X), "test")[2]

    def loss(self, X: np.ndarray, y: np.ndarray | None = None):
        """Scores for ``X`` (no ``y``), or ``(loss, grads)`` for a labelled batch."""
        if y is None:
            return self.scores(X)
        scores, caches, _ = self._forward(self._inputs(X), "train")
        data_loss, dscores = layers.softmax_loss(scores, y)
        weights = [self.params[f"W{layer}"] for layer in range(1, self.num_layers + 1)]
        loss = data_loss + 0.5 * self.reg * sum(float(np.sum(w * w)) for w in weights)
        grads: dict[str, np.ndarray] = {}
        last = self.num_layers
        dh, grads[f"W{last}"], grads[f"b{last}"] = layers.affine_backward(dscores, caches[-1])
        for layer in range(last - 1, 0, -1):
            affine_cache, norm_cache, relu_cache, dropout_cache = caches[layer - 1]
            if dropout_cache is not None:
                dh = layers.dropout_backward(dh, dropout_cache)
            da = layers.relu_backward(dh, relu_cache)
            if norm_cache is not None:
                backward = _NORMALIZATION[self.normalization][1]
                da, grads[f"gamma{layer}"], grads[f"beta{layer}"] = backward(da, norm_cache)
            dh, grads[f"W{layer}"], grads[f"b{layer}"] = layers.affine_backward(da, affine_cache)
        for layer, w in enumerate(weights, start=1):
            grads[f"W{layer}"] = grads[f"W{layer}"] + self.reg * w
        return loss, grads


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
