r"""Data for the networks: a small real dataset that needs no download, and CIFAR-10 from disk.

* :func:`load_digits` — the 8×8 handwritten digits (1,797 images, 10 classes, pixels 0..16),
  read from ``numeric/datasets/digits.csv.gz``, which ships with layergrad (57 kB; scikit-learn's
  copy of the UCI test set, licence and attribution in ``numeric/datasets/README.md``): a
  fixed shuffle (seed 0) split into 1,197 train / 300 validation / 300 test images, the
  training mean subtracted, shaped (N, 1, 8, 8).
* :func:`load_cifar10` — the course notebooks' ``get_CIFAR10_data``: the python-pickle
  batches ``data_batch_1`` … ``data_batch_5`` and ``test_batch`` from a local folder (the
  extracted ``cifar-10-batches-py``), split 49,000 / 1,000 / 1,000, the mean training image
  subtracted, shaped (N, 3, 32, 32). Nothing is ever downloaded.

:func:`load` reads the command line's ``--data`` value: ``digits`` or ``cifar10:PATH``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from derive.errors import LayergradError

from .course.data_utils import CIFAR10_FILES, _finish, load_cifar10

__all__ = ["CIFAR10_FILES", "DIGITS", "load", "load_cifar10", "load_digits"]

Data = dict[str, np.ndarray]

DIGITS = Path(__file__).parent / "datasets" / "digits.csv.gz"
"""The digits as scikit-learn ships them (the same bytes; a test holds their SHA-256)."""


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """Pixels (1797, 64) in 0..16 and labels 0..9: one row per image, its label last."""
    table = np.loadtxt(DIGITS, delimiter=",")
    return table[:, :-1], table[:, -1].astype(np.int64)


def load_digits(num_validation: int = 300, num_test: int = 300, dtype=np.float64,
                subtract_mean: bool = True) -> Data:
    """The digits dataset, split deterministically (see the module docstring)."""
    images, y = _digits()
    X = images.reshape(-1, 1, 8, 8)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    if num_validation + num_test >= len(y):
        raise LayergradError(f"the digits data has {len(y)} images; cannot hold out {num_validation + num_test}")
    test, val = slice(0, num_test), slice(num_test, num_test + num_validation)
    train = slice(num_test + num_validation, None)
    return _finish(X[train], y[train], X[val], y[val], X[test], y[test], dtype, subtract_mean)


def load(spec: str, dtype=np.float64) -> Data:
    """``digits`` or ``cifar10:PATH``, as given to ``--data``."""
    if spec == "digits":
        return load_digits(dtype=dtype)
    if spec.startswith("cifar10:") and len(spec) > len("cifar10:"):
        return load_cifar10(spec[len("cifar10:"):], dtype=dtype)
    raise LayergradError(f"unknown data {spec!r}; expected 'digits' or 'cifar10:PATH'")
