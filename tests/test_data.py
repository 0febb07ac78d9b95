"""The embedded digits data and CIFAR-10 from a folder in the course's pickle format."""

import hashlib
import os
import pickle

import numpy as np
import pytest

from derive import LayergradError
from numeric.data import CIFAR10_FILES, DIGITS, load, load_cifar10, load_digits


def test_digits_split_is_deterministic_disjoint_and_mean_subtracted():
    first, second = load_digits(), load_digits()
    assert {k: v.shape for k, v in first.items()} == {
        "X_train": (1197, 1, 8, 8), "y_train": (1197,), "X_val": (300, 1, 8, 8), "y_val": (300,),
        "X_test": (300, 1, 8, 8), "y_test": (300,)}
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert np.abs(first["X_train"].mean(axis=0)).max() < 1e-12
    rows = {tuple(x.ravel()) for part in ("train", "val", "test") for x in first[f"X_{part}"]}
    assert len(rows) > 1700  # the splits do not share images (a few digits are duplicates in the data)
    assert set(np.unique(first["y_val"])) == set(range(10))


def test_the_shipped_digits_are_sklearns_file_and_read_as_expected():
    # the bytes scikit-learn 1.9.1 ships as sklearn/datasets/data/digits.csv.gz (see numeric/datasets/README.md)
    assert hashlib.sha256(DIGITS.read_bytes()).hexdigest() == (
        "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22")
    raw = load_digits(subtract_mean=False)
    together = np.concatenate([raw["X_test"], raw["X_val"], raw["X_train"]]).reshape(-1, 64)
    labels = np.concatenate([raw["y_test"], raw["y_val"], raw["y_train"]])
    unshuffled = np.empty_like(together), np.empty_like(labels)
    order = np.random.default_rng(0).permutation(len(labels))
    unshuffled[0][order], unshuffled[1][order] = together, labels
    pixels = unshuffled[0].astype(np.uint8)
    assert np.array_equal(pixels, unshuffled[0]) and pixels.max() == 16
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # the pixels and labels in file order, as sklearn.datasets.load_digits() returns them
    assert hashlib.sha256(pixels.tobytes() + unshuffled[1].astype(np.uint8).tobytes()).hexdigest() == (
        "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826")


def write_batch(path, images, labels):
    batch = {b"batch_label": path.name.encode(), b"labels": [int(v) for v in labels],
             b"data": images, b"filenames": [f"{k}.png".encode() for k in range(len(labels))]}
    with path.open("wb") as stream:
        pickle.dump(batch, stream, protocol=2)


@pytest.fixture
def cifar_folder(tmp_path):
    """Six tiny batches in exactly the format of cifar-10-batches-py: 4 images each."""
    rng = np.random.default_rng(0)
    for name in CIFAR10_FILES:
        write_batch(tmp_path / name, rng.integers(0, 256, (4, 3072), dtype=np.uint8), rng.integers(0, 10, 4))
    return tmp_path


def test_cifar10_is_split_mean_subtracted_and_shaped_like_the_notebooks(cifar_folder):
    data = load_cifar10(cifar_folder, num_training=18, num_validation=2, num_test=3)
    assert data["X_train"].shape == (18, 3, 32, 32) and data["X_val"].shape == (2, 3, 32, 32)
    assert data["X_test"].shape == (3, 3, 32, 32) and data["y_train"].dtype == np.int64
    with (cifar_folder / "data_batch_1").open("rb") as stream:
        first = pickle.load(stream, encoding="bytes")
    raw = load_cifar10(cifar_folder, 18, 2, 3, subtract_mean=False)
    # the notebooks: reshape (N, 3, 32, 32) from the rows of 'data' (R, then G, then B planes)
    assert np.array_equal(raw["X_train"][0], first[b"data"][0].reshape(3, 32, 32))
    assert np.array_equal(raw["X_val"][0], load_cifar10(cifar_folder, 20, 0, 0, subtract_mean=False)["X_train"][18])
    assert np.allclose(data["X_train"] + raw["X_train"].mean(axis=0), raw["X_train"])
    assert np.allclose(data["X_val"] + raw["X_train"].mean(axis=0), raw["X_val"])


def test_cifar10_problems_are_named(cifar_folder, tmp_path_factory):
    with pytest.raises(LayergradError, match="holds 20 training and 4 test images; the split needs 49000 \\+ 1000"):
        load_cifar10(cifar_folder)
    with pytest.raises(LayergradError, match="does not exist; expected the extracted cifar-10-batches-py folder"):
        load_cifar10(cifar_folder / "nowhere")
    os.remove(cifar_folder / "data_batch_3")
    with pytest.raises(LayergradError, match="lacks data_batch_3"):
        load_cifar10(cifar_folder, 10, 2, 3)
    (cifar_folder / "data_batch_3").write_bytes(b"not a pickle at all")
    with pytest.raises(LayergradError, match="data_batch_3 is not a CIFAR-10 python batch"):
        load_cifar10(cifar_folder, 10, 2, 3)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"cos\nsystem\n(S'echo owned'\ntR.", "refusing to load os.system"),
        (pickle.dumps({"labels": [1]}, protocol=2), "KeyError"),
        (pickle.dumps({"data": np.zeros((2, 100), np.uint8), "labels": [1, 2]}, protocol=2), "expected n × 3072 uint8"),
        (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [1]}, protocol=2), "expected 2 integer labels"),
        (pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [12]}, protocol=2), "labels must lie in 0..9"),
    ],
)
def test_corrupt_or_hostile_batches_are_refused(cifar_folder, content, message):
    (cifar_folder / "test_batch").write_bytes(content)
    with pytest.raises(LayergradError, match=message):
        load_cifar10(cifar_folder, 10, 2, 1)


def test_the_data_option_is_parsed(cifar_folder):
    assert load("digits")["X_train"].shape[0] == 1197
    with pytest.raises(LayergradError, match="holds 20 training"):
        load(f"cifar10:{cifar_folder}")
    for spec in ("mnist", "cifar10:", "cifar100:/x"):
        with pytest.raises(LayergradError, match="expected 'digits' or 'cifar10:PATH'"):
            load(spec)
