r"""CIFAR-10 from a local folder, as the course notebooks' ``get_CIFAR10_data`` prepares it.

The python-pickle batches ``data_batch_1`` … ``data_batch_5`` and ``test_batch`` (the extracted
``cifar-10-batches-py`` folder) are read, split 49,000 train / 1,000 validation / 1,000 test,
the mean training image subtracted, and shaped (N, 3, 32, 32). Nothing is ever downloaded: by
default the folder is ``datasets/cifar-10-batches-py`` inside this package, and a missing folder
is named in the error. The batches are unpickled accepting plain containers and NumPy arrays
only (a pickle is a program; a data folder should not be able to run one).
"""

import codecs
import pickle
from pathlib import Path

import numpy as np

from .layers import LayergradError

__all__ = ["CIFAR10_FILES", "DEFAULT_CIFAR10_DIR", "get_CIFAR10_data", "load_cifar10"]

CIFAR10_FILES = (*(f"data_batch_{k}" for k in range(1, 6)), "test_batch")

DEFAULT_CIFAR10_DIR = Path(__file__).resolve().parent / "datasets" / "cifar-10-batches-py"
"""Where :func:`get_CIFAR10_data` looks when no folder is given."""


def _finish(X_train, y_train, X_val, y_val, X_test, y_test, dtype, subtract_mean):
    X_train, X_val, X_test = (X.astype(dtype) for X in (X_train, X_val, X_test))
    if subtract_mean:
        mean = X_train.mean(axis=0)
        X_train, X_val, X_test = X_train - mean, X_val - mean, X_test - mean
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val,
            "X_test": X_test, "y_test": y_test}


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

    def find_class(self, module, name):
        try:
            return _UNPICKLABLE[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _field(batch, name):
    for key in (name, name.encode()):
        if key in batch:
            return batch[key]
    raise KeyError(name)


def _read_batch(path):
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


def load_cifar10(folder, num_training=49000, num_validation=1000, num_test=1000, dtype=np.float64,
                 subtract_mean=True):
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



def get_CIFAR10_data(num_training=49000, num_validation=1000, num_test=1000, subtract_mean=True, cifar10_dir=None):
    """The course's CIFAR-10 dictionary (``X_train``, ``y_train``, ``X_val``, ``y_val``,
    ``X_test``, ``y_test``) from ``cifar10_dir`` (default :data:`DEFAULT_CIFAR10_DIR`)."""
    folder = DEFAULT_CIFAR10_DIR if cifar10_dir is None else cifar10_dir
    return load_cifar10(folder, num_training, num_validation, num_test, np.float64, subtract_mean)
