"""The standard image datasets read from tiny files written in their real on-disk formats."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from _dataset_files import idx_bytes as _idx_bytes
from _dataset_files import png as _png
from _dataset_files import write_cifar as _write_cifar
from _dataset_files import write_mnist as _write_mnist
from _dataset_files import write_tinyimagenet as _write_tinyimagenet

from prunegraph.errors import PrunegraphError, UnknownNameError, ValidationError
from prunegraph.loader.data import (
    IMAGE_DATASETS,
    DatasetNotFoundError,
    describe_dataset,
    load_dataset,
    read_idx,
)

RNG = np.random.default_rng(99)


# ------------------------------------------------------------------- CIFAR
@pytest.mark.parametrize(
    ("name", "per_batch", "n_batches"), [("cifar10", 6, 5), ("cifar100", 6, 1)]
)
def test_cifar_pickle_batches(tmp_path: Path, name: str, per_batch: int, n_batches: int) -> None:
    folder = _write_cifar(tmp_path, name, n_train_per_batch=per_batch)
    split = load_dataset(name, root=str(tmp_path))
    k = 10 if name == "cifar10" else 100
    assert split.name == name and split.input_shape == (3, 32, 32) and split.num_classes == k
    assert len(split.train) == per_batch * n_batches and len(split.test) == 8
    assert split.train.x.dtype == torch.float32 and split.train.y.dtype == torch.int64
    assert int(split.train.y.min()) >= 0 and int(split.train.y.max()) < k
    # the pixels and labels are the file's, normalised with the published statistics
    key = b"labels" if name == "cifar10" else b"fine_labels"
    test_file = "test_batch" if name == "cifar10" else "test"
    with (folder / test_file).open("rb") as handle:
        raw = pickle.load(handle)
    mean = np.asarray(IMAGE_DATASETS[name].mean)[:, None, None]
    std = np.asarray(IMAGE_DATASETS[name].std)[:, None, None]
    expected = (raw[b"data"].reshape(-1, 3, 32, 32) / 255.0 - mean) / std
    np.testing.assert_allclose(split.test.x.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert split.test.y.tolist() == list(raw[key])
    assert split.mean == IMAGE_DATASETS[name].mean and split.std == IMAGE_DATASETS[name].std
    # a black pixel's normalised value is the padding fill of augmentation
    assert split.train.pad_value is not None
    np.testing.assert_allclose(split.train.pad_value, (-mean / std).ravel(), rtol=1e-6)
    # the root may also name the batches folder itself
    again = load_dataset(name, root=folder)
    assert torch.equal(again.test.x, split.test.x)


def test_cifar_train_statistics_and_no_normalisation(tmp_path: Path) -> None:
    _write_cifar(tmp_path, "cifar10")
    by_train = load_dataset("cifar10", root=tmp_path, normalize="train")
    x = by_train.train.x.numpy().astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=(0, 2, 3)), 1.0, atol=1e-4)
    assert by_train.mean is not None and all(0.3 < m < 0.7 for m in by_train.mean)
    raw = load_dataset("cifar10", root=tmp_path, normalize="none")
    assert raw.mean is None and raw.train.pad_value is None
    assert float(raw.train.x.min()) >= 0.0 and float(raw.train.x.max()) <= 1.0
    assert float(raw.train.x.max()) > 0.99  # uniform uint8 noise reaches 255
    with pytest.raises(UnknownNameError, match="normalize mode"):
        load_dataset("cifar10", root=tmp_path, normalize="per_image")


def test_subsets_are_fixed_across_seeds(tmp_path: Path) -> None:
    _write_cifar(tmp_path, "cifar10")
    a = load_dataset("cifar10", root=tmp_path, seed=0, train_samples=7, test_samples=3)
    b = load_dataset("cifar10", root=tmp_path, seed=5, train_samples=7, test_samples=3)
    assert len(a.train) == 7 and len(a.test) == 3
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    with pytest.raises(ValidationError, match="train_samples"):
        load_dataset("cifar10", root=tmp_path, train_samples=0)


def test_cifar_missing_and_malformed(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"no such folder.*download = true.*cs\.toronto"):
        load_dataset("cifar10", root=tmp_path / "absent")
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        load_dataset("cifar10", root=tmp_path)
    folder = _write_cifar(tmp_path, "cifar10")
    (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_3"):
        load_dataset("cifar10", root=tmp_path)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ValidationError, match="Cannot read CIFAR batch"):
        load_dataset("cifar10", root=tmp_path)
    with (folder / "data_batch_3").open("wb") as handle:
        pickle.dump({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, handle)
    with pytest.raises(ValidationError, match=r"\(N, 3072\)"):
        load_dataset("cifar10", root=tmp_path)
    with pytest.raises(ValidationError, match="10 classes"):
        load_dataset("cifar10", root=tmp_path, num_classes=12)


def test_cifar_pickles_may_not_run_code(tmp_path: Path) -> None:
    folder = _write_cifar(tmp_path, "cifar10")

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    with (folder / "test_batch").open("wb") as handle:
        pickle.dump({b"data": Evil(), b"labels": []}, handle)
    with pytest.raises(ValidationError, match=r"refusing to load builtins\.print"):
        load_dataset("cifar10", root=tmp_path)


# ------------------------------------------------------------------- MNIST
@pytest.mark.parametrize(
    ("name", "sub", "gz"),
    [
        ("mnist", "MNIST/raw", True),
        ("mnist", ".", False),
        ("fashion_mnist", "FashionMNIST/raw", False),
    ],
)
def test_mnist_idx_files(tmp_path: Path, name: str, sub: str, gz: bool) -> None:
    _write_mnist(tmp_path / sub, gz=gz)
    split = load_dataset(name, root=tmp_path, normalize="train")
    assert split.input_shape == (1, 28, 28) and split.num_classes == 10 and split.name == name
    assert len(split.train) == 20 and len(split.test) == 10
    assert split.train.y.tolist() == [i % 10 for i in range(20)]
    assert split.test.y.tolist() == [(3 * i) % 10 for i in range(10)]
    x = split.train.x.numpy().astype(np.float64)
    assert abs(x.mean()) < 1e-5 and abs(x.std() - 1.0) < 1e-4
    assert describe_dataset(name, root=str(tmp_path)) == ((1, 28, 28), 10)


def test_read_idx_checks_the_header(tmp_path: Path) -> None:
    good = tmp_path / "a-idx2-ubyte"
    good.write_bytes(_idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3)))
    np.testing.assert_array_equal(read_idx(good), np.arange(6).reshape(2, 3))
    bad = tmp_path / "b"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValidationError, match="magic"):
        read_idx(bad)
    short = tmp_path / "c"
    short.write_bytes(_idx_bytes(np.zeros((4, 4), np.uint8))[:-3])
    with pytest.raises(ValidationError, match="needs 16"):
        read_idx(short)


def test_mnist_missing_file(tmp_path: Path) -> None:
    _write_mnist(tmp_path, gz=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"train-labels-idx1-ubyte\[\.gz\].*lecun"):
        load_dataset("mnist", root=tmp_path)


# ------------------------------------------------------------ Tiny-ImageNet
def test_tinyimagenet_layout(tmp_path: Path) -> None:
    _write_tinyimagenet(tmp_path)
    split = load_dataset("tinyimagenet", root=tmp_path, normalize="none")
    assert split.input_shape == (3, 64, 64) and split.num_classes == 200
    assert len(split.train) == 12 and len(split.test) == 7
    # labels: index of the wnid among the sorted train folders
    assert sorted(set(split.train.y.tolist())) == [0, 1, 2]
    assert split.test.y.tolist() == [0, 1, 2, 0, 1, 2, 0]
    # the greyscale image was expanded to three equal channels
    grey = split.test.x[6]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    assert describe_dataset("tinyimagenet", root=tmp_path) == ((3, 64, 64), 200)
    small = load_dataset("tinyimagenet", root=tmp_path, image_size=[32, 32])
    assert small.input_shape == (3, 32, 32)
    assert describe_dataset("tinyimagenet", root=tmp_path, image_size=32) == ((3, 32, 32), 200)
    with pytest.raises(DatasetNotFoundError, match="no such folder"):
        describe_dataset("tinyimagenet", root=tmp_path / "elsewhere")


def test_tinyimagenet_bad_annotations(tmp_path: Path) -> None:
    folder = _write_tinyimagenet(tmp_path)
    (folder / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(ValidationError, match="line 1"):
        load_dataset("tinyimagenet", root=tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"tiny-imagenet-200\.zip"):
        load_dataset("tinyimagenet", root=tmp_path / "none")


# -------------------------------------------------------------- imagefolder
def test_imagefolder_with_train_and_test(tmp_path: Path) -> None:
    for split, n in (("train", 5), ("test", 2)):
        for c in ("cat", "dog"):
            for i in range(n):
                _png(tmp_path / split / c / f"{i}.png", RNG.integers(0, 256, (3, 12, 10), np.uint8))
    split = load_dataset("imagefolder", root=tmp_path)
    assert split.input_shape == (3, 12, 10) and split.num_classes == 2
    assert len(split.train) == 10 and len(split.test) == 4
    assert split.train.y.tolist() == [0] * 5 + [1] * 5
    x = split.train.x.numpy().astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    grey = load_dataset("imagefolder", root=tmp_path, channels=1, image_size=[8, 8])
    assert grey.input_shape == (1, 8, 8)


def test_imagefolder_split_by_fraction_and_errors(tmp_path: Path) -> None:
    for c in ("a", "b", "c"):
        for i in range(6):
            _png(tmp_path / "data" / c / f"{i}.png", RNG.integers(0, 256, (3, 8, 8), np.uint8))
    split = load_dataset("imagefolder", root=tmp_path / "data", test_fraction=1 / 3, seed=0)
    assert len(split.train) == 12 and len(split.test) == 6
    assert np.bincount(split.test.y.numpy()).tolist() == [2, 2, 2]
    _png(tmp_path / "data" / "a" / "odd.png", RNG.integers(0, 256, (3, 9, 8), np.uint8))
    with pytest.raises(ValidationError, match="image_size"):
        load_dataset("imagefolder", root=tmp_path / "data")
    with pytest.raises(ValidationError, match="needs a root"):
        load_dataset("imagefolder")
    with pytest.raises(DatasetNotFoundError, match="no such folder"):
        load_dataset("imagefolder", root=tmp_path / "missing")
    with pytest.raises(ValidationError, match="channels"):
        load_dataset("imagefolder", root=tmp_path / "data", channels=2)


def test_every_error_is_one_prunegraph_line(tmp_path: Path) -> None:
    for name in ("cifar10", "cifar100", "mnist", "fashion_mnist", "tinyimagenet"):
        with pytest.raises(PrunegraphError) as info:
            load_dataset(name, root=tmp_path / "nothing")
        message = str(info.value)
        assert "\n" not in message and name in message and "download = true" in message
    with pytest.raises(ValidationError, match="Bad option"):
        load_dataset("cifar10", root=tmp_path, colour=True)
    with pytest.raises(ValidationError, match="download"):
        load_dataset("cifar10", root=tmp_path, download="yes")


def test_default_root_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_cifar(tmp_path, "cifar100")
    monkeypatch.setenv("PRUNEGRAPH_DATASETS", str(tmp_path))
    assert load_dataset("cifar100").num_classes == 100
