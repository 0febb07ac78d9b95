r"""A fully connected network in the course notebooks' shape, running on this package's layers.

.. math:: \{\text{affine} \to [\text{batchnorm} \mid \text{layernorm}] \to \text{relu}
          \to [\text{dropout}]\} \times (L - 1) \to \text{affine} \to \text{softmax}

Every layer is this package's own (``layers``, ``layer_utils``), so the network runs whatever
convention and mask draw the package was written in — or a student's ``layers.py`` put in its
place. The loss adds L2 regularization :math:`\tfrac12 \lambda \sum_l \lVert W_l \rVert_F^2`
over every weight matrix (not the biases); weights are drawn as ``weight_scale *
np.random.randn`` layer by layer, in order, from NumPy's global random state — as the notebooks
do, so a seed reproduces their numbers.

Normalization comes before every ReLU when enabled — ``normalization="batchnorm"`` or
``"layernorm"`` (newer CS231n) or ``use_batchnorm=True`` (CS231n 2017, CS182) — with
``gamma{l}`` = 1 and ``beta{l}`` = 0 for each hidden layer and batch normalization's running
statistics kept per layer in ``bn_params``. Dropout follows every ReLU when enabled. The two
courses name its parameter differently and both are accepted, never guessed: ``dropout=r`` is
the drop rate (CS231n 2017, CS182; ``dropout=0`` means none) and ``dropout_keep_ratio=q`` the
keep probability (newer CS231n; ``1`` means none). ``dropout_param['p']`` holds the value in
the convention of ``layers.DROPOUT_CONVENTION``: ``r`` (drop) or ``q`` (keep).

The module also offers every name of ``layers`` and ``layer_utils``, as the course's does
(notebooks run ``from <course>.classifiers.fc_net import *`` and call ``dropout_forward``).
"""

import itertools

import numpy as np

from .. import layer_utils, layers
from ..layer_utils import *  # noqa: F403 - the course's fc_net offers every layer
from ..layers import *  # noqa: F403
from ..layers import LayergradError, affine_backward, affine_forward, dropout_backward, dropout_forward, softmax_loss

__all__ = ["FullyConnectedNet", *layers.__all__, *layer_utils.__all__]


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise LayergradError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _dropout_p(dropout, dropout_keep_ratio):
    """(keep probability q, dropout_param['p'] in this package's convention) from whichever of
    the two course parameters was given."""
    if dropout is not None and dropout_keep_ratio is not None:
        raise LayergradError(
            "give either dropout (the drop rate) or dropout_keep_ratio (the keep probability), not both"
        )
    keep_convention = layers.DROPOUT_CONVENTION == "keep"
    if dropout is not None:
        if not 0 <= dropout < 1:
            raise LayergradError(f"dropout is the drop rate and must lie in [0, 1), got {dropout}")
        return 1.0 - dropout, (1.0 - dropout if keep_convention else dropout)
    if dropout_keep_ratio is not None:
        if not 0 < dropout_keep_ratio <= 1:
            raise LayergradError(f"dropout_keep_ratio must lie in (0, 1], got {dropout_keep_ratio}")
        keep = float(dropout_keep_ratio)
        return keep, (keep if keep_convention else 1.0 - keep)
    return 1.0, (1.0 if keep_convention else 0.0)


def _normalization(normalization, use_batchnorm):
    """``batchnorm``, ``layernorm`` or None from either course's parameter."""
    if use_batchnorm and normalization not in (None, "batchnorm"):
        raise LayergradError(f"use_batchnorm=True contradicts normalization={normalization!r}")
    chosen = "batchnorm" if use_batchnorm else normalization
    if chosen not in (None, *layer_utils.NORMALIZATIONS):
        raise LayergradError(f"unknown normalization {chosen!r}; expected 'batchnorm', 'layernorm' or None")
    return chosen


class FullyConnectedNet:
    """The course's ``FullyConnectedNet``: ``params`` (``W1``, ``b1``, …), ``loss(X, y=None)``.

    ``loss(X)`` returns the class scores (test mode); ``loss(X, y)`` returns ``(loss, grads)``
    with ``grads`` keyed like ``params`` (train mode: dropout masks are drawn).
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout=None, dropout_keep_ratio=None,
                 normalization=None, use_batchnorm=False, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
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
        self.keep, p = _dropout_p(dropout, dropout_keep_ratio)
        self.normalization = _normalization(normalization, use_batchnorm)
        self.use_dropout = self.keep < 1
        self.dropout_param = {"mode": "train", "p": p}
        if seed is not None:
            self.dropout_param["seed"] = seed
        self.params = {}
        for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(dims), start=1):
            self.params[f"W{layer}"] = weight_scale * np.random.randn(fan_in, fan_out)
            self.params[f"b{layer}"] = np.zeros(fan_out)
        hidden = range(1, self.num_layers)
        if self.normalization is not None:
            for layer in hidden:
                self.params[f"gamma{layer}"] = np.ones(dims[layer])
                self.params[f"beta{layer}"] = np.zeros(dims[layer])
        self.bn_params = [{"mode": "train"} if self.normalization == "batchnorm" else {} for _ in hidden]
        for name, value in self.params.items():
            self.params[name] = value.astype(self.dtype)

    def _inputs(self, X):
        X = np.asarray(X)
        features = int(np.prod(X.shape[1:])) if X.ndim >= 2 else -1
        if features != self.dims[0]:
            raise LayergradError(
                f"the network expects inputs with {self.dims[0]} features per example, "
                f"got an array of shape {X.shape}"
            )
        return X.astype(self.dtype, copy=False)

    def _forward(self, X, mode):
        """Scores, the caches of every layer, and each hidden layer's ReLU output."""
        self.dropout_param["mode"] = mode
        if self.normalization == "batchnorm":
            for param in self.bn_params:
                param["mode"] = mode
        h, caches, activations = X, [], []
        for layer in range(1, self.num_layers):
            W, b = self.params[f"W{layer}"], self.params[f"b{layer}"]
            if self.normalization is None:
                h, cache = layer_utils.affine_relu_forward(h, W, b)
            else:
                h, cache = layer_utils.affine_norm_relu_forward(
                    h, W, b, self.params[f"gamma{layer}"], self.params[f"beta{layer}"], self.bn_params[layer - 1],
                    self.normalization)
            activations.append(h)
            dropout_cache = None
            if self.use_dropout:
                h, dropout_cache = dropout_forward(h, self.dropout_param)
            caches.append((cache, dropout_cache))
        last = self.num_layers
        scores, cache = affine_forward(h, self.params[f"W{last}"], self.params[f"b{last}"])
        caches.append(cache)
        return scores, caches, activations

    def scores(self, X, mode="test"):
        """Class scores for ``X``. In ``"train"`` mode batch normalization uses the batch's
        statistics (and updates its running ones) and dropout draws masks — the batchnorm
        notebook's check of the initial forward pass was made that way."""
        if mode not in ("train", "test"):
            raise LayergradError(f"mode must be 'train' or 'test', got {mode!r}")
        return self._forward(self._inputs(X), mode)[0]

    def hidden_activations(self, X):
        """Each hidden layer's output after its ReLU, in test mode (dropout is the identity)."""
        return self._forward(self._inputs(X), "test")[2]

    def loss(self, X, y=None):
        """Scores for ``X`` (no ``y``), or ``(loss, grads)`` for a labelled batch."""
        if y is None:
            return self.scores(X)
        scores, caches, _ = self._forward(self._inputs(X), "train")
        data_loss, dscores = softmax_loss(scores, y)
        weights = [self.params[f"W{layer}"] for layer in range(1, self.num_layers + 1)]
        loss = data_loss + 0.5 * self.reg * sum(float(np.sum(w * w)) for w in weights)
        grads = {}
        last = self.num_layers
        dh, grads[f"W{last}"], grads[f"b{last}"] = affine_backward(dscores, caches[-1])
        for layer in range(last - 1, 0, -1):
            cache, dropout_cache = caches[layer - 1]
            if dropout_cache is not None:
                dh = dropout_backward(dh, dropout_cache)
            if self.normalization is None:
                dh, grads[f"W{layer}"], grads[f"b{layer}"] = layer_utils.affine_relu_backward(dh, cache)
            else:
                dh, grads[f"W{layer}"], grads[f"b{layer}"], grads[f"gamma{layer}"], grads[f"beta{layer}"] = (
                    layer_utils.affine_norm_relu_backward(dh, cache))
        for layer, w in enumerate(weights, start=1):
            grads[f"W{layer}"] = grads[f"W{layer}"] + self.reg * w
        return loss, grads
