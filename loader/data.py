"""Datasets that ship offline: digits, synthetic batches, user arrays and torch datasets.

:func:`load_dataset` returns a :class:`DatasetSplit` whose ``train`` and
``test`` members are :class:`ArrayDataset` objects (float32 inputs, int64
labels, held in memory), the form :mod:`prunegraph.loader.training` consumes.
Nothing is downloaded; every split is deterministic given ``seed``.

Sources
-------
``"digits"``
    scikit-learn's bundled 8x8 handwritten digits (1,797 samples, 10 classes),
    shape ``(1, 8, 8)``; pixels scaled from ``[0, 16]`` to ``[0, 1]`` and then
    standardised with the training split's mean and standard deviation,
    ``x' = (x - mu_train) / sigma_train``; stratified train/test split.
``"synthetic"``
    i.i.d. standard-normal inputs of ``input_shape`` (default CIFAR-shaped
    ``(3, 32, 32)``) with uniformly random labels: data for pruning at
    initialisation when no real data is given.
a path to ``.npz``
    arrays ``x_train, y_train, x_test, y_test`` (validated: shapes, dtypes,
    finite values, labels in ``0..K-1``). ``(N, H, W)`` images get a channel
    axis.
a ``torch.utils.data.Dataset``
    samples ``(x, y)``; materialised and split (stratified) by
    ``test_fraction`` unless ``test_dataset`` is given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from prunegraph._registry import Registry
from prunegraph.errors import UnknownNameError, ValidationError

__all__ = [
    "DATASETS",
    "ArrayDataset",
    "DatasetSplit",
    "as_array_dataset",
    "load_dataset",
]


class ArrayDataset(Dataset):
    """An in-memory dataset of ``x`` (float32, ``(N, *input_shape)``) and ``y`` (int64, ``(N,)``)."""

    def __init__(self, x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> None:
        self.x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        self.y = torch.as_tensor(np.asarray(y, dtype=np.int64))
        if self.x.shape[0] != self.y.shape[0]:
            raise ValidationError(
                f"x and y must have the same number of samples. Got {self.x.shape[0]} and "
                f"{self.y.shape[0]} instead."
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.x.shape[1:])


@dataclass(frozen=True)
class DatasetSplit:
    """A train/test pair with the shape of one sample and the number of classes."""

    train: ArrayDataset
    test: ArrayDataset
    input_shape: tuple[int, ...]
    num_classes: int
    name: str


DatasetLoader = Callable[..., DatasetSplit]
DATASETS: Registry[DatasetLoader] = Registry("dataset")


def _check_fraction(test_fraction: float) -> float:
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, int | float | np.floating)
        or not 0.0 < float(test_fraction) < 1.0
    ):
        raise ValidationError(
            "The 'test_fraction' parameter of load_dataset must be a float in the range (0, 1). "
            f"Got {test_fraction!r} instead."
        )
    return float(test_fraction)


def _stratified_split(
    y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(y))
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    try:
        train_idx, test_idx = train_test_split(
            indices, test_size=test_fraction, random_state=seed, stratify=stratify
        )
    except ValueError as exc:  # too few samples for the requested split
        raise ValidationError(
            f"Cannot split {len(y)} samples with test_fraction={test_fraction}: {exc}"
        ) from None
    return np.sort(train_idx), np.sort(test_idx)


@DATASETS.register("digits")
def _digits(*, seed: int = 0, test_fraction: float = 0.2) -> DatasetSplit:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    train_idx, test_idx = _stratified_split(y, test_fraction, seed)
    mean = float(x[train_idx].mean())
    std = float(x[train_idx].std())
    x = (x - mean) / std
    return DatasetSplit(
        train=ArrayDataset(x[train_idx], y[train_idx]),
        test=ArrayDataset(x[test_idx], y[test_idx]),
        input_shape=(1, 8, 8),
        num_classes=10,
        name="digits",
    )


@DATASETS.register("synthetic")
def _synthetic(
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    n_samples: int = 640,
) -> DatasetSplit:
    shape = tuple(input_shape)
    if not shape or not all(isinstance(s, int | np.integer) and s >= 1 for s in shape):
        raise ValidationError(
            "The 'input_shape' parameter of the synthetic dataset must be a tuple of positive "
            f"ints. Got {input_shape!r} instead."
        )
    if not isinstance(num_classes, int | np.integer) or num_classes < 2:
        raise ValidationError(
            "The 'num_classes' parameter of the synthetic dataset must be an int >= 2. "
            f"Got {num_classes!r} instead."
        )
    if not isinstance(n_samples, int | np.integer) or n_samples < 2:
        raise ValidationError(
            "The 'n_samples' parameter of the synthetic dataset must be an int >= 2. "
            f"Got {n_samples!r} instead."
        )
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((int(n_samples), *shape), dtype=np.float32)
    y = rng.integers(0, num_classes, size=int(n_samples), dtype=np.int64)
    n_test = max(1, round(test_fraction * n_samples))
    return DatasetSplit(
        train=ArrayDataset(x[n_test:], y[n_test:]),
        test=ArrayDataset(x[:n_test], y[:n_test]),
        input_shape=tuple(int(s) for s in shape),
        num_classes=int(num_classes),
        name="synthetic",
    )


def _validate_arrays(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    source: str,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Check shapes, dtypes, finiteness and label range; return float32/int64 copies and K."""
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    for key, arr in arrays.items():
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
            kind = getattr(getattr(arr, "dtype", None), "name", type(arr).__name__)
            raise ValidationError(f"{source}: '{key}' must be a numeric array. Got {kind} instead.")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim < 2:
            raise ValidationError(
                f"{source}: 'x_{split}' must have shape (n_samples, *input_shape). Got shape {x.shape}."
            )
        if y.ndim != 1:
            raise ValidationError(f"{source}: 'y_{split}' must be 1-D. Got shape {y.shape}.")
        if x.shape[0] != y.shape[0]:
            raise ValidationError(
                f"{source}: 'x_{split}' has {x.shape[0]} samples but 'y_{split}' has {y.shape[0]}."
            )
        if x.shape[0] == 0:
            raise ValidationError(f"{source}: the {split} split is empty.")
        if not np.isfinite(x).all():
            raise ValidationError(f"{source}: 'x_{split}' contains NaN or infinite values.")
        if y.dtype.kind == "f" and (not np.isfinite(y).all() or not np.array_equal(y, np.round(y))):
            raise ValidationError(f"{source}: 'y_{split}' must hold integer class labels.")
        if y.min() < 0:
            raise ValidationError(f"{source}: 'y_{split}' has negative labels (min {y.min()}).")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValidationError(
            f"{source}: train and test samples differ in shape: {x_train.shape[1:]} vs {x_test.shape[1:]}."
        )
    y_train_i, y_test_i = y_train.astype(np.int64), y_test.astype(np.int64)
    k = int(max(y_train_i.max(), y_test_i.max())) + 1
    if num_classes is not None:
        if k > num_classes:
            raise ValidationError(
                f"{source}: labels must be in 0..{num_classes - 1} for num_classes={num_classes}. "
                f"Got label {k - 1}."
            )
        k = num_classes
    if k < 2:
        raise ValidationError(f"{source}: need at least 2 classes. Got {k}.")
    x_tr, x_te = x_train.astype(np.float32), x_test.astype(np.float32)
    if x_tr.ndim == 3:  # (N, H, W) grey images get a channel axis
        x_tr, x_te = x_tr[:, None], x_te[:, None]
    return x_tr, y_train_i, x_te, y_test_i, k


def _load_npz(path: Path, *, num_classes: int | None = None, **_: Any) -> DatasetSplit:
    if not path.is_file():
        raise ValidationError(f"Dataset file '{path}' does not exist.")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in data]
            if missing:
                raise ValidationError(
                    f"Dataset file '{path}' lacks the arrays {missing}; it must contain "
                    "x_train, y_train, x_test, y_test."
                )
            arrays = [data[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except ValidationError:
        raise
    except Exception as exc:  # zipfile/pickle/format errors of a corrupt file
        raise ValidationError(f"Cannot read dataset file '{path}' as .npz: {exc}") from None
    x_tr, y_tr, x_te, y_te, k = _validate_arrays(*arrays, source=str(path), num_classes=num_classes)
    return DatasetSplit(
        train=ArrayDataset(x_tr, y_tr),
        test=ArrayDataset(x_te, y_te),
        input_shape=tuple(int(s) for s in x_tr.shape[1:]),
        num_classes=k,
        name=path.stem,
    )


def _materialise(dataset: Dataset, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Read every ``(x, y)`` sample of a torch dataset into two arrays."""
    if isinstance(dataset, ArrayDataset):
        return dataset.x.numpy(), dataset.y.numpy()
    try:
        n = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise ValidationError(f"The {what} dataset must define __len__.") from None
    if n == 0:
        raise ValidationError(f"The {what} dataset is empty.")
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    try:
        for xb, yb in DataLoader(dataset, batch_size=512, shuffle=False):
            xs.append(np.asarray(xb))
            ys.append(np.asarray(yb).reshape(-1))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValidationError(
            f"The {what} dataset must yield (x, y) pairs of a tensor and an integer label: {exc}"
        ) from None
    return np.concatenate(xs), np.concatenate(ys)


def as_array_dataset(dataset: Dataset) -> ArrayDataset:
    """Return ``dataset`` as an :class:`ArrayDataset` (materialising a generic one)."""
    if isinstance(dataset, ArrayDataset):
        return dataset
    x, y = _materialise(dataset, "given")
    return ArrayDataset(x, y)


def _from_torch(
    dataset: Dataset,
    *,
    seed: int,
    test_fraction: float,
    test_dataset: Dataset | None,
    num_classes: int | None,
    name: str | None,
) -> DatasetSplit:
    x, y = _materialise(dataset, "train" if test_dataset is not None else "given")
    if test_dataset is not None:
        x_te, y_te = _materialise(test_dataset, "test")
        x_tr, y_tr = x, y
    else:
        if y.dtype.kind in "iub" and y.size and y.min() >= 0:
            train_idx, test_idx = _stratified_split(y.astype(np.int64), test_fraction, seed)
        else:  # let validation report the bad labels
            train_idx, test_idx = np.arange(len(y)), np.arange(min(1, len(y)))
        x_tr, y_tr, x_te, y_te = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
    x_tr, y_tr, x_te, y_te, k = _validate_arrays(
        x_tr, y_tr, x_te, y_te, source=f"dataset {type(dataset).__name__}", num_classes=num_classes
    )
    return DatasetSplit(
        train=ArrayDataset(x_tr, y_tr),
        test=ArrayDataset(x_te, y_te),
        input_shape=tuple(int(s) for s in x_tr.shape[1:]),
        num_classes=k,
        name=name or type(dataset).__name__,
    )


def load_dataset(
    name_or_path: str | os.PathLike[str] | Dataset,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    test_dataset: Dataset | None = None,
    num_classes: int | None = None,
    name: str | None = None,
    **options: Any,
) -> DatasetSplit:
    """Load a dataset by name, from an ``.npz`` file, or from a torch ``Dataset``.

    Parameters
    ----------
    name_or_path : str, path or torch.utils.data.Dataset
        ``"digits"``, ``"synthetic"``, a path to an ``.npz`` file with
        ``x_train, y_train, x_test, y_test``, or a dataset of ``(x, y)`` pairs.
    seed : int
        Seeds the split (and the synthetic data).
    test_fraction : float in (0, 1)
        Share of samples held out for testing (digits, synthetic, a single
        torch dataset); ``.npz`` files carry their own split.
    test_dataset : Dataset, optional
        Test set to pair with a torch ``Dataset`` instead of splitting it.
    num_classes : int, optional
        Number of classes of user data (default: largest label + 1).
    name : str, optional
        Name recorded in the split (torch datasets; default the class name).
    **options
        Passed to the named dataset, e.g. ``input_shape``, ``num_classes``,
        ``n_samples`` for ``"synthetic"``.

    Returns
    -------
    DatasetSplit
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValidationError(
            f"The 'seed' parameter of load_dataset must be a non-negative int. Got {seed!r} instead."
        )
    fraction = _check_fraction(test_fraction)
    if isinstance(name_or_path, Dataset):
        if options:
            raise ValidationError(f"Options {sorted(options)} do not apply to a torch Dataset.")
        return _from_torch(
            name_or_path,
            seed=int(seed),
            test_fraction=fraction,
            test_dataset=test_dataset,
            num_classes=num_classes,
            name=name,
        )
    if not isinstance(name_or_path, str | os.PathLike):
        raise ValidationError(
            "The 'name_or_path' parameter of load_dataset must be a dataset name, a path to an "
            f".npz file or a torch Dataset. Got {type(name_or_path).__name__} instead."
        )
    text = os.fspath(name_or_path)
    if text in DATASETS:
        if num_classes is not None:
            options["num_classes"] = num_classes
        try:
            return DATASETS.get(text)(seed=int(seed), test_fraction=fraction, **options)
        except TypeError as exc:  # an option the dataset does not take
            raise ValidationError(f"Bad option for dataset '{text}': {exc}") from None
    path = Path(text)
    if path.suffix == ".npz" or path.exists() or os.sep in text:
        if path.suffix != ".npz":
            raise ValidationError(f"Dataset file '{path}' must be an .npz file.")
        return _load_npz(path, num_classes=num_classes)
    raise UnknownNameError("dataset", text, DATASETS.names())
