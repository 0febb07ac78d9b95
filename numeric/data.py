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

import codecs
import pickle
from pathlib import Path

import numpy as np

from derive.errors import LayergradError

__all__ = ["CIFAR10_FILES", "DIGITS", "load", "load_cifar10", "load_digits"]

Data = dict[str, np.ndarray]

CIFAR10_FILES = (*(f"data_batch_{k}" for k in range(1, 6)), "test_batch")

DIGITS = Path(__file__).parent / "datasets" / "digits.csv.gz"
"""The digits as scikit-learn ships them (the same bytes; a test holds their SHA-256)."""


def _finish(X_train, y_train, X_val, y_val, X_test, y_test, dtype, subtract_mean: bool) -> Data:
    X_train, X_val, X_test = (X.astype(dtype) for X in (X_train, X_val, X_test))
    if subtract_mean:
        mean = X_train.mean(axis=0)
        X_train, X_val, X_test = X_train - mean, X_val - mean, X_test - mean
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val,
            "X_test": X_test, "y_test": y_test}


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


_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_UNPICKLABLE = {
    ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes in protocol 2
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only: a pickle is a program, and a data
    folder should not be able to run one."""

    def find_class(self, module: str, name: str):
        try:
            return _UNPICKLABLE[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _field(batch: dict, name: str):
    for key in (name, name.encode()):
        if key in batch:
            return batch[key]
    raise KeyError(name)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch: images (n, 3, 32, 32) uint8 and labels (n,)."""
    what = "a CIFAR-10 python batch (a pickled dict with 'data' (n × 3072 uint8) and 'labels')"
    try:
        with path.open("rb") as stream:
            batch = _ArrayUnpickler(stream, encoding="latin1").load()
        data, labels = np.asarray(_field(batch, "data")), np.asarray(_field(batch, "labels"))
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError,
            IndexError, UnicodeDecodeError) as error:
        raise LayergradError(f"{path} is not {what}: {type(error).__name__}: {error}") from None
    except OSError as error:
        raise LayergradError(f"cannot read {path}: {error.strerror}") from None
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise LayergradError(f"{path}: 'data' has shape {data.shape} and dtype {data.dtype}; expected n × 3072 uint8")
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise LayergradError(f"{path}: expected {data.shape[0]} integer labels, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise LayergradError(f"{path}: labels must lie in 0..9, got {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(folder: str | Path, num_training: int = 49000, num_validation: int = 1000,
                 num_test: int = 1000, dtype=np.float64, subtract_mean: bool = True) -> Data:
    """CIFAR-10 from the extracted python batches in ``folder``, as the notebooks prepare it."""
    folder = Path(folder).expanduser()
    expected = f"the extracted cifar-10-batches-py folder with {', '.join(CIFAR10_FILES)}"
    if not folder.is_dir():
        raise LayergradError(f"CIFAR-10 folder {folder} does not exist; expected {expected}")
    missing = [name for name in CIFAR10_FILES if not (folder / name).is_file()]
    if missing:
        raise LayergradError(f"{folder} lacks {', '.join(missing)}; expected {expected}")
    train = [_read_batch(folder / name) for name in CIFAR10_FILES[:-1]]
    X, y = np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])
    X_test, y_test = _read_batch(folder / "test_batch")
    if num_training + num_validation > len(y) or num_test > len(y_test):
        raise LayergradError(
            f"{folder} holds {len(y)} training and {len(y_test)} test images; the split needs "
            f"{num_training} + {num_validation} and {num_test}"
        )
    val = slice(num_training, num_training + num_validation)
    return _finish(X[:num_training], y[:num_training], X[val], y[val], X_test[:num_test],
                   y_test[:num_test], dtype, subtract_mean)


def load(spec: str, dtype=np.float64) -> Data:
    """``digits`` or ``cifar10:PATH``, as given to ``--data``."""
    if spec == "digits":
        return load_digits(dtype=dtype)
    if spec.startswith("cifar10:") and len(spec) > len("cifar10:"):
        return load_cifar10(spec[len("cifar10:"):], dtype=dtype)
    raise LayergradError(f"unknown data {spec!r}; expected 'digits' or 'cifar10:PATH'")
