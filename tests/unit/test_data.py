"""Datasets: digits, synthetic, .npz files, torch datasets, determinism and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from prunegraph.errors import UnknownNameError, ValidationError
from prunegraph.loader.data import ArrayDataset, DatasetSplit, as_array_dataset, load_dataset


def test_digits_shapes_split_and_standardisation() -> None:
    split = load_dataset("digits", seed=0)
    assert isinstance(split, DatasetSplit)
    assert split.input_shape == (1, 8, 8) and split.num_classes == 10 and split.name == "digits"
    assert len(split.train) + len(split.test) == 1797
    assert len(split.test) == 360  # ceil(0.2 * 1797)
    x_train, y_train = split.train.x, split.train.y
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert tuple(x_train.shape[1:]) == (1, 8, 8)
    # standardised with train statistics
    assert abs(float(x_train.mean())) < 1e-4
    assert abs(float(x_train.std()) - 1.0) < 1e-3
    # stratified: every class keeps its share in the test split within one sample
    train_counts = np.bincount(y_train.numpy(), minlength=10)
    test_counts = np.bincount(split.test.y.numpy(), minlength=10)
    expected = (train_counts + test_counts) * len(split.test) / 1797
    assert np.all(np.abs(test_counts - expected) <= 1)


def test_digits_is_deterministic_and_seed_dependent() -> None:
    a, b = load_dataset("digits", seed=3), load_dataset("digits", seed=3)
    c = load_dataset("digits", seed=4)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.test.x, c.test.x)


def test_digits_test_fraction() -> None:
    split = load_dataset("digits", test_fraction=0.5)
    assert abs(len(split.test) - 1797 / 2) <= 1


def test_synthetic_is_configurable_and_deterministic() -> None:
    a = load_dataset("synthetic", seed=1)
    assert a.input_shape == (3, 32, 32) and a.num_classes == 10
    assert len(a.train) + len(a.test) == 640
    b = load_dataset("synthetic", seed=1, input_shape=(2, 5, 5), num_classes=3, n_samples=50)
    assert tuple(b.train.x.shape[1:]) == (2, 5, 5) and b.num_classes == 3
    assert len(b.test) == 10 and int(b.train.y.max()) <= 2
    again = load_dataset("synthetic", seed=1, input_shape=(2, 5, 5), num_classes=3, n_samples=50)
    other = load_dataset("synthetic", seed=2, input_shape=(2, 5, 5), num_classes=3, n_samples=50)
    assert torch.equal(b.train.x, again.train.x)
    assert not torch.equal(b.train.x, other.train.x)


def _write_npz(path: Path, **overrides: object) -> Path:
    rng = np.random.default_rng(0)
    arrays: dict[str, Any] = {
        "x_train": rng.normal(size=(20, 2, 4, 4)).astype(np.float32),
        "y_train": np.arange(20) % 3,
        "x_test": rng.normal(size=(6, 2, 4, 4)),
        "y_test": np.arange(6) % 3,
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_npz_round_trip(tmp_path: Path) -> None:
    path = _write_npz(tmp_path / "mine.npz")
    split = load_dataset(path)
    assert split.input_shape == (2, 4, 4) and split.num_classes == 3 and split.name == "mine"
    assert len(split.train) == 20 and len(split.test) == 6
    assert split.test.x.dtype == torch.float32
    with np.load(path) as data:
        np.testing.assert_allclose(split.test.x.numpy(), data["x_test"], rtol=1e-6)
    assert load_dataset(str(path), num_classes=5).num_classes == 5


def test_npz_grey_images_get_a_channel_axis(tmp_path: Path) -> None:
    path = _write_npz(
        tmp_path / "grey.npz", x_train=np.zeros((20, 4, 4)), x_test=np.zeros((6, 4, 4))
    )
    assert load_dataset(path).input_shape == (1, 4, 4)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"y_test": None}, "lacks the arrays"),
        ({"x_train": np.full((20, 2, 4, 4), np.nan)}, "NaN"),
        ({"y_train": np.arange(19) % 3}, "samples but"),
        ({"y_train": -(np.arange(20) % 3)}, "negative labels"),
        ({"y_train": np.full(20, 0.5)}, "integer class labels"),
        ({"x_test": np.zeros((6, 2, 5, 5))}, "differ in shape"),
        ({"y_test": np.zeros((6, 2))}, "1-D"),
        ({"x_train": np.zeros(20)}, "n_samples"),
        ({"x_train": np.array(["a"] * 20)}, "numeric array"),
        ({"y_train": np.zeros(20, dtype=int), "y_test": np.zeros(6, dtype=int)}, "2 classes"),
    ],
)
def test_bad_npz_contents(tmp_path: Path, overrides: dict[str, object], message: str) -> None:
    path = _write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(ValidationError, match=message):
        load_dataset(path)


def test_npz_labels_beyond_num_classes(tmp_path: Path) -> None:
    path = _write_npz(tmp_path / "k.npz")
    with pytest.raises(ValidationError, match="num_classes=2"):
        load_dataset(path, num_classes=2)


def test_missing_corrupt_and_wrong_suffix_files(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        load_dataset(tmp_path / "nope.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a zip file")
    with pytest.raises(ValidationError, match="Cannot read"):
        load_dataset(corrupt)
    text = tmp_path / "data.csv"
    text.write_text("1,2\n")
    with pytest.raises(ValidationError, match=r"\.npz"):
        load_dataset(text)


def test_torch_dataset_is_split_and_validated() -> None:
    x = torch.randn(40, 5)
    y = torch.arange(40) % 4
    split = load_dataset(TensorDataset(x, y), seed=0, test_fraction=0.25, name="toy")
    assert split.input_shape == (5,) and split.num_classes == 4 and split.name == "toy"
    assert len(split.train) == 30 and len(split.test) == 10
    # stratified: 10 samples per class, 10 test samples -> 2 or 3 of each class
    assert set(np.bincount(split.test.y.numpy(), minlength=4).tolist()) <= {2, 3}
    paired = load_dataset(TensorDataset(x, y), test_dataset=TensorDataset(x[:8], y[:8]))
    assert len(paired.train) == 40 and len(paired.test) == 8
    with pytest.raises(ValidationError, match="NaN"):
        load_dataset(TensorDataset(torch.full((10, 2), float("nan")), torch.arange(10) % 2))
    with pytest.raises(ValidationError, match="empty"):
        load_dataset(TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)))


def test_as_array_dataset() -> None:
    ds = TensorDataset(torch.randn(6, 3), torch.arange(6) % 2)
    arr = as_array_dataset(ds)
    assert isinstance(arr, ArrayDataset) and arr.input_shape == (3,)
    assert as_array_dataset(arr) is arr


def test_unknown_dataset_name_suggests_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'digits'"):
        load_dataset("digit")


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, "0.2", True])
def test_bad_test_fraction(fraction: object) -> None:
    with pytest.raises(ValidationError, match="test_fraction"):
        load_dataset("digits", test_fraction=fraction)


def test_bad_seed_type_and_options() -> None:
    with pytest.raises(ValidationError, match="seed"):
        load_dataset("digits", seed=-1)
    with pytest.raises(ValidationError, match="name_or_path"):
        load_dataset(42)
    with pytest.raises(ValidationError, match="Bad option"):
        load_dataset("digits", colour=True)
    with pytest.raises(ValidationError, match="input_shape"):
        load_dataset("synthetic", input_shape=(0, 4))
    with pytest.raises(ValidationError, match="num_classes"):
        load_dataset("synthetic", num_classes=1)
