"""Datasets: the standard image sets from their files, bundled data, user arrays, torch datasets.

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
``"cifar10"``, ``"cifar100"``, ``"mnist"``, ``"fashion_mnist"``, ``"tinyimagenet"``
    the standard files under ``root`` (default ``$PRUNEGRAPH_DATASETS`` or
    ``~/.cache/prunegraph/datasets``): CIFAR's python pickle batches, MNIST's
    IDX files (gzipped or not, the layout torchvision downloads), the
    ``tiny-imagenet-200/`` folder (its labelled ``val/`` split is the test
    split); the official train/test split. ``download=True`` fetches the files
    with torchvision. Pixels are scaled to ``[0, 1]`` and standardised per
    channel, ``x' = (x - mu_c) / sigma_c``, with the published statistics
    (``normalize="dataset"``), the training split's (``"train"``), or not at
    all (``"none"``). ``train_samples``/``test_samples`` keep a fixed subset
    (the same for every seed) for quick runs.
``"imagefolder"``
    ``root/train/<class>/<image>`` and ``root/test/<class>/<image>`` (or
    ``val/``), or ``root/<class>/<image>`` split by ``test_fraction``; classes
    are the sorted folder names, images are decoded with torchvision (RGB, or
    grey with ``channels=1``) and resized with ``image_size=[H, W]`` when
    given; normalised with the training split's statistics by default.

The image datasets are held in memory as float32 (CIFAR-10: 0.6 GB;
Tiny-ImageNet: 4.9 GB) and their raw arrays are kept per process for the
next network that asks for the same files.
"""

from __future__ import annotations

import functools
import gzip
import os
import pickle
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from prunegraph._registry import Registry
from prunegraph.config import available_memory
from prunegraph.errors import UnknownNameError, ValidationError

__all__ = [
    "DATASETS",
    "IMAGE_DATASETS",
    "ArrayDataset",
    "DatasetNotFoundError",
    "DatasetSplit",
    "ImageDatasetInfo",
    "as_array_dataset",
    "data_home",
    "describe_dataset",
    "identity_options",
    "load_dataset",
    "read_idx",
]


class ArrayDataset(Dataset):
    """An in-memory dataset of ``x`` (float32, ``(N, *input_shape)``) and ``y`` (int64, ``(N,)``)."""

    def __init__(
        self,
        x: torch.Tensor | np.ndarray,
        y: torch.Tensor | np.ndarray,
        *,
        pad_value: Sequence[float] | None = None,
    ) -> None:
        self.x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        self.y = torch.as_tensor(np.asarray(y, dtype=np.int64))
        if self.x.shape[0] != self.y.shape[0]:
            raise ValidationError(
                f"x and y must have the same number of samples. Got {self.x.shape[0]} and "
                f"{self.y.shape[0]} instead."
            )
        # What a black (raw 0) pixel became after normalisation, per channel: the fill
        # value of padding-based augmentation (a random crop pads with black images).
        self.pad_value: tuple[float, ...] | None = (
            None if pad_value is None else tuple(float(v) for v in pad_value)
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
    """A train/test pair with the shape of one sample and the number of classes.

    ``mean`` and ``std`` are the per-channel statistics the image datasets
    were normalised with (``x' = (x / 255 - mean) / std``), None otherwise.
    """

    train: ArrayDataset
    test: ArrayDataset
    input_shape: tuple[int, ...]
    num_classes: int
    name: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


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
    need = int(n_samples) * (int(np.prod(shape)) * 4 + 8)
    have = available_memory()
    if have and need > have:  # refuse before allocating, not with a MemoryError half-way
        raise ValidationError(
            f"The synthetic dataset would take {need / 2**30:.1f} GiB (n_samples {int(n_samples)} "
            f"x input_shape {shape} x 4 bytes), more than the {have / 2**30:.1f} GiB available; "
            "lower n_samples or input_shape."
        )
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


# ------------------------------------------------------------ image datasets
#: Environment variable naming the default folder of the image datasets.
DATA_HOME_ENV = "PRUNEGRAPH_DATASETS"


@dataclass(frozen=True)
class ImageDatasetInfo:
    """What prunegraph knows of a standard image dataset before reading it.

    Attributes
    ----------
    name : str
        Registry name (``"cifar10"``, ...).
    input_shape : tuple of int
        ``(C, H, W)`` of one sample.
    num_classes : int
    mean, std : tuple of float
        Per-channel statistics of the training images in ``[0, 1]`` units, the
        constants of the usual ``Normalize(mean, std)`` transform.
    layout : str
        The folder layout the reader expects under ``root``.
    home : str
        Where the dataset is published.
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    layout: str
    home: str


IMAGE_DATASETS: dict[str, ImageDatasetInfo] = {
    "cifar10": ImageDatasetInfo(
        "cifar10",
        (3, 32, 32),
        10,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        "ROOT/cifar-10-batches-py/{data_batch_1..data_batch_5, test_batch} (the python version)",
        "https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    "cifar100": ImageDatasetInfo(
        "cifar100",
        (3, 32, 32),
        100,
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
        "ROOT/cifar-100-python/{train, test} (the python version, fine labels)",
        "https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    "mnist": ImageDatasetInfo(
        "mnist",
        (1, 28, 28),
        10,
        (0.1307,),
        (0.3081,),
        "ROOT/MNIST/raw/ (or ROOT/) with train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz)",
        "https://yann.lecun.com/exdb/mnist/",
    ),
    "fashion_mnist": ImageDatasetInfo(
        "fashion_mnist",
        (1, 28, 28),
        10,
        (0.2860,),
        (0.3530,),
        "ROOT/FashionMNIST/raw/ (or ROOT/) with train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each optionally .gz)",
        "https://github.com/zalandoresearch/fashion-mnist",
    ),
    "tinyimagenet": ImageDatasetInfo(
        "tinyimagenet",
        (3, 64, 64),
        200,
        (0.4802, 0.4481, 0.3975),
        (0.2770, 0.2691, 0.2821),
        "ROOT/tiny-imagenet-200/ with train/<wnid>/images/*.JPEG and val/images/*.JPEG "
        "labelled by val/val_annotations.txt",
        "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
    ),
}

_TINYIMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
NORMALIZATIONS = ("dataset", "none", "train")
_IMAGE_SUFFIXES = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
)


class DatasetNotFoundError(ValidationError, FileNotFoundError):
    """An image dataset's files are missing or do not have the expected layout."""


def data_home() -> Path:
    """Default folder of the image datasets: ``$PRUNEGRAPH_DATASETS`` or ``~/.cache/prunegraph/datasets``."""
    env = os.environ.get(DATA_HOME_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "prunegraph" / "datasets"


def _resolve_root(name: str, root: str | os.PathLike[str] | None) -> Path:
    if root is None:
        return data_home()
    if not isinstance(root, str | os.PathLike) or not os.fspath(root):
        raise ValidationError(
            f"The 'root' option of dataset '{name}' must be a folder path. Got {root!r} instead."
        )
    return Path(os.fspath(root)).expanduser()


def _not_found(name: str, root: Path, problem: str) -> DatasetNotFoundError:
    if name in IMAGE_DATASETS:
        info = IMAGE_DATASETS[name]
        how = (
            f"Expected {info.layout}. Set download = true in [datasets.{name}] to fetch it "
            f"(needs internet), or get it from {info.home} and unpack it into the root."
        )
    else:
        how = (
            "Expected ROOT/train/<class>/<image> and ROOT/test/<class>/<image> (or ROOT/val/), "
            "or ROOT/<class>/<image> to split by test_fraction."
        )
    return DatasetNotFoundError(f"Dataset '{name}' at root '{root}': {problem}. {how}")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles the CIFAR batch dicts: plain containers and numpy arrays, nothing else."""

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(uint8 (N, 3, 32, 32), int64 (N,))`` of one CIFAR python batch file."""
    try:
        with path.open("rb") as handle:
            raw = _ArrayUnpickler(handle, encoding="bytes").load()
    except (
        OSError,
        EOFError,
        pickle.UnpicklingError,
        ValueError,
        TypeError,
        AttributeError,
    ) as exc:
        raise ValidationError(f"Cannot read CIFAR batch '{path}': {exc}") from None
    if not isinstance(raw, dict):
        raise ValidationError(f"CIFAR batch '{path}' is not a pickled dict.")
    batch = {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in raw.items()}
    if "data" not in batch or label_key not in batch:
        raise ValidationError(
            f"CIFAR batch '{path}' lacks the keys 'data' and '{label_key}' (has {sorted(batch)})."
        )
    data = np.asarray(batch["data"])
    labels = np.asarray(batch[label_key], dtype=np.int64).reshape(-1)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValidationError(
            f"CIFAR batch '{path}': 'data' must be uint8 of shape (N, 3072). "
            f"Got {data.dtype} {data.shape}."
        )
    if data.shape[0] != labels.shape[0]:
        raise ValidationError(
            f"CIFAR batch '{path}' has {data.shape[0]} images but {labels.shape[0]} labels."
        )
    return data.reshape(-1, 3, 32, 32), labels


def _find_folder(root: Path, candidates: Sequence[str], probe: str) -> Path | None:
    """The first of ``root/<c>`` (or ``root`` itself) that contains ``probe``."""
    for sub in (*candidates, "."):
        folder = (root / sub) if sub != "." else root
        if any(folder.glob(probe)):
            return folder
    return None


def _download(name: str, root: Path) -> None:
    """Fetch ``name`` into ``root`` with torchvision (the layout the readers expect)."""
    try:
        import torchvision.datasets as tvd
        from torchvision.datasets.utils import download_and_extract_archive
    except ImportError as exc:  # pragma: no cover - torchvision is a dependency
        raise ValidationError(f"download = true needs torchvision: {exc}") from None
    root.mkdir(parents=True, exist_ok=True)
    try:
        if name == "tinyimagenet":
            if not (root / "tiny-imagenet-200" / "wnids.txt").is_file():
                download_and_extract_archive(_TINYIMAGENET_URL, download_root=str(root))
            return
        cls = {
            "cifar10": tvd.CIFAR10,
            "cifar100": tvd.CIFAR100,
            "mnist": tvd.MNIST,
            "fashion_mnist": tvd.FashionMNIST,
        }[name]
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except Exception as exc:  # network, disk or checksum errors from deep inside torchvision
        info = IMAGE_DATASETS[name]
        raise DatasetNotFoundError(
            f"Cannot download dataset '{name}' into '{root}': {type(exc).__name__}: {exc}. "
            f"Get it from {info.home} and unpack it there ({info.layout})."
        ) from None


def _raw_cifar(name: str, root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if name == "cifar10":
        folder_name, train_files, test_files, key = (
            "cifar-10-batches-py",
            [f"data_batch_{i}" for i in range(1, 6)],
            ["test_batch"],
            "labels",
        )
    else:
        folder_name, train_files, test_files, key = (
            "cifar-100-python",
            ["train"],
            ["test"],
            "fine_labels",
        )
    folder = _find_folder(root, [folder_name], test_files[0])
    if folder is None:
        problem = "no such folder" if not root.exists() else f"'{folder_name}/' not found"
        raise _not_found(name, root, problem)
    missing = [f for f in (*train_files, *test_files) if not (folder / f).is_file()]
    if missing:
        raise _not_found(name, root, f"'{folder}' lacks {missing}")
    train = [_read_cifar_batch(folder / f, key) for f in train_files]
    x_te, y_te = _read_cifar_batch(folder / test_files[0], key)
    x_tr = np.concatenate([b[0] for b in train])
    y_tr = np.concatenate([b[1] for b in train])
    return x_tr, y_tr, x_te, y_te


_IDX_DTYPES: dict[int, Any] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, into an array.

    The header is two zero bytes, a type code (``0x08`` = uint8, ...), the
    number of dimensions ``d`` and ``d`` big-endian uint32 sizes; the data
    follow in C order.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            blob = handle.read()
    except (OSError, EOFError) as exc:
        raise ValidationError(f"Cannot read IDX file '{path}': {exc}") from None
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] not in _IDX_DTYPES:
        raise ValidationError(f"'{path}' is not an IDX file (bad magic number).")
    ndim = blob[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(blob) < header:
        raise ValidationError(f"'{path}' is not an IDX file (truncated header).")
    shape = tuple(int(v) for v in np.frombuffer(blob, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[blob[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(blob) - header != expected:
        raise ValidationError(
            f"IDX file '{path}' holds {len(blob) - header} data bytes; its header "
            f"{shape} needs {expected}."
        )
    return np.frombuffer(blob, dtype=dtype, offset=header).reshape(shape)


def _raw_mnist(name: str, root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    sub = "MNIST" if name == "mnist" else "FashionMNIST"
    folder = _find_folder(root, [f"{sub}/raw", "raw"], "t10k-images-idx3-ubyte*")
    if folder is None:
        problem = "no such folder" if not root.exists() else "no t10k-images-idx3-ubyte[.gz]"
        raise _not_found(name, root, problem)
    arrays = []
    for stem in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        path = next((p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()), None)
        if path is None:
            raise _not_found(name, root, f"'{folder}' lacks {stem}[.gz]")
        arrays.append(read_idx(path))
    x_tr, y_tr, x_te, y_te = arrays
    for x, y, split in ((x_tr, y_tr, "train"), (x_te, y_te, "t10k")):
        if x.ndim != 3 or x.dtype != np.uint8 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise ValidationError(
                f"Dataset '{name}' at '{folder}': {split} images must be uint8 (N, H, W) and labels "
                f"(N,). Got {x.dtype} {x.shape} and {y.shape}."
            )
    return x_tr[:, None], y_tr.astype(np.int64), x_te[:, None], y_te.astype(np.int64)


def _decode_images(
    paths: Sequence[Path], channels: int, size: tuple[int, int] | None
) -> np.ndarray:
    """Decode image files into one uint8 ``(N, C, H, W)`` array (Pillow, in threads).

    ``size`` ``(H, W)`` resizes with Pillow's antialiased bilinear filter, as
    torchvision's ``Resize`` does on PIL images.
    """
    from PIL import Image, UnidentifiedImageError

    mode = "RGB" if channels == 3 else "L"

    def one(path: Path) -> np.ndarray:
        try:
            with Image.open(path) as handle:
                image = handle.convert(mode)
                if size is not None and image.size != (size[1], size[0]):
                    image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                array = np.asarray(image, dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise ValidationError(f"Cannot decode image '{path}': {exc}") from None
        return array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)

    if not paths:
        return np.zeros((0, channels, *(size or (1, 1))), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        images = list(pool.map(one, paths))
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValidationError(
            f"Images differ in size ({sorted(shapes)[:3]}...); set image_size = [H, W] to resize "
            "them to one size."
        )
    return np.stack(images)


def _raw_tinyimagenet(
    name: str, root: Path, image_size: tuple[int, int] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    folder = _find_folder(root, ["tiny-imagenet-200"], "val/val_annotations.txt")
    if folder is None:
        problem = (
            "no such folder"
            if not root.exists()
            else "no tiny-imagenet-200/val/val_annotations.txt"
        )
        raise _not_found(name, root, problem)
    train_dir = folder / "train"
    wnids = sorted(p.name for p in train_dir.iterdir() if p.is_dir()) if train_dir.is_dir() else []
    if not wnids:
        raise _not_found(name, root, f"'{train_dir}' has no class folders")
    index = {w: i for i, w in enumerate(wnids)}
    train_paths: list[Path] = []
    train_labels: list[int] = []
    for wnid in wnids:
        files = sorted(
            p
            for p in (train_dir / wnid / "images").glob("*")
            if p.suffix.lower() in _IMAGE_SUFFIXES
        )
        train_paths += files
        train_labels += [index[wnid]] * len(files)
    val_paths: list[Path] = []
    val_labels: list[int] = []
    annotations = folder / "val" / "val_annotations.txt"
    for number, line in enumerate(annotations.read_text().splitlines(), start=1):
        fields = line.split("\t")
        if not line.strip():
            continue
        if len(fields) < 2 or fields[1] not in index:
            raise ValidationError(
                f"'{annotations}' line {number}: expected '<file>\\t<wnid>\\t...' with a wnid of "
                f"train/. Got {line[:80]!r}."
            )
        val_paths.append(folder / "val" / "images" / fields[0])
        val_labels.append(index[fields[1]])
    if not train_paths or not val_paths:
        raise _not_found(name, root, "no training images or no validation images")
    missing = [p for p in val_paths if not p.is_file()]
    if missing:
        raise _not_found(
            name, root, f"{len(missing)} validation images are missing, e.g. '{missing[0]}'"
        )
    size = image_size or (64, 64)
    x_tr = _decode_images(train_paths, 3, size)
    x_te = _decode_images(val_paths, 3, size)
    return x_tr, np.asarray(train_labels, np.int64), x_te, np.asarray(val_labels, np.int64)


def _list_class_folder(folder: Path) -> tuple[list[str], list[Path], list[str]]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths: list[Path] = []
    labels: list[str] = []
    for cls in classes:
        files = sorted(
            p
            for p in (folder / cls).rglob("*")
            if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES
        )
        paths += files
        labels += [cls] * len(files)
    return classes, paths, labels


def _raw_imagefolder(
    root: Path, channels: int, image_size: tuple[int, int] | None, seed: int, test_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    if not root.is_dir():
        raise _not_found("imagefolder", root, "no such folder")
    test_dir = next((root / d for d in ("test", "val") if (root / d).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        classes, train_paths, train_names = _list_class_folder(root / "train")
        test_classes, test_paths, test_names = _list_class_folder(test_dir)
        unknown = sorted(set(test_classes) - set(classes))
        if unknown:
            raise ValidationError(
                f"imagefolder '{root}': {test_dir.name}/ has classes that train/ lacks: {unknown[:5]}."
            )
        index = {c: i for i, c in enumerate(classes)}
        if not train_paths or not test_paths:
            raise _not_found("imagefolder", root, "train/ or test/ holds no images")
        x_tr = _decode_images(train_paths, channels, image_size)
        x_te = _decode_images(test_paths, channels, image_size)
        if x_tr.shape[1:] != x_te.shape[1:]:
            raise ValidationError(
                f"imagefolder '{root}': train images are {x_tr.shape[2:]} but test images are "
                f"{x_te.shape[2:]}; set image_size = [H, W]."
            )
        y_tr = np.asarray([index[c] for c in train_names], np.int64)
        y_te = np.asarray([index[c] for c in test_names], np.int64)
        return x_tr, y_tr, x_te, y_te, classes
    classes, paths, names = _list_class_folder(root)
    if not paths:
        raise _not_found("imagefolder", root, "no images in class folders")
    index = {c: i for i, c in enumerate(classes)}
    y = np.asarray([index[c] for c in names], np.int64)
    x = _decode_images(paths, channels, image_size)
    train_idx, test_idx = _stratified_split(y, test_fraction, seed)
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx], classes


def _subset(x: np.ndarray, y: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` samples of a fixed (seed 0) permutation: the same slice for every seed."""
    if n is None or n >= len(y):
        return x, y
    order = np.sort(np.random.default_rng(0).permutation(len(y))[:n])
    return x[order], y[order]


def _optional_count(value: object, key: str, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValidationError(
            f"The '{key}' option of dataset '{name}' must be a positive int. Got {value!r} instead."
        )
    return int(value)


def _image_size(value: object, name: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise ValidationError(
            f"The 'image_size' option of dataset '{name}' must be [H, W] of positive ints. "
            f"Got {value!r} instead."
        )
    return int(value[0]), int(value[1])


def _normalise(
    x_tr: np.ndarray,
    x_te: np.ndarray,
    mode: str,
    published: tuple[tuple[float, ...], tuple[float, ...]] | None,
) -> tuple[np.ndarray, np.ndarray, tuple[float, ...] | None, tuple[float, ...] | None]:
    """Scale uint8 images to ``[0, 1]`` and standardise per channel, ``(x - mean) / std``.

    ``dataset`` uses the published statistics, ``train`` the training split's
    per-channel mean and standard deviation, ``none`` stops at ``[0, 1]``.
    """
    channels = x_tr.shape[1]
    if mode == "none":
        return (
            x_tr.astype(np.float32) / np.float32(255.0),
            x_te.astype(np.float32) / np.float32(255.0),
            None,
            None,
        )
    if mode == "dataset" and published is not None:
        mean = np.asarray(published[0], dtype=np.float64)
        std = np.asarray(published[1], dtype=np.float64)
    else:
        # mean/std of x/255 per channel from uint8 sums (exact in float64, no float copy)
        axes = (0, 2, 3)
        count = x_tr.shape[0] * x_tr.shape[2] * x_tr.shape[3]
        first = x_tr.sum(axis=axes, dtype=np.float64) / (255.0 * count)
        second = np.einsum("nchw,nchw->c", x_tr, x_tr, dtype=np.float64) / (255.0**2 * count)
        mean = first
        std = np.sqrt(np.maximum(second - first**2, 0.0))
        std[std == 0] = 1.0
    if mean.shape != (channels,):
        raise ValidationError(
            f"Normalisation statistics have {mean.shape[0]} channels, data {channels}."
        )
    # one fused affine map per channel: x' = x * a + b with a = 1 / (255 std), b = -mean / std
    scale = (1.0 / (255.0 * std)).astype(np.float32)[None, :, None, None]
    shift = (-mean / std).astype(np.float32)[None, :, None, None]

    def apply(x: np.ndarray) -> np.ndarray:
        out = x.astype(np.float32)
        out *= scale
        out += shift
        return out

    return apply(x_tr), apply(x_te), tuple(float(v) for v in mean), tuple(float(v) for v in std)


@functools.lru_cache(maxsize=2)
def _cached_raw(
    name: str, root: str, stamp: tuple[Any, ...], image_size: tuple[int, int] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw uint8 arrays of a standard dataset, kept for the next network of this process."""
    path = Path(root)
    if name in ("cifar10", "cifar100"):
        return _raw_cifar(name, path)
    if name in ("mnist", "fashion_mnist"):
        return _raw_mnist(name, path)
    return _raw_tinyimagenet(name, path, image_size)


def _stamp(root: Path) -> tuple[Any, ...]:
    """Cheap identity of a dataset folder's content (its entries' names and mtimes)."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
        return tuple((e.name, e.stat().st_mtime_ns) for e in entries)
    except OSError:
        return ()


def _standard_image_dataset(
    name: str,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    normalize: str = "dataset",
    train_samples: int | None = None,
    test_samples: int | None = None,
    num_classes: int | None = None,
    image_size: Sequence[int] | int | None = None,
) -> DatasetSplit:
    info = IMAGE_DATASETS[name]
    path = _resolve_root(name, root)
    if not isinstance(download, bool):
        raise ValidationError(
            f"The 'download' option of dataset '{name}' must be true or false. Got {download!r}."
        )
    if normalize not in NORMALIZATIONS:
        raise UnknownNameError("normalize mode", str(normalize), NORMALIZATIONS)
    n_train = _optional_count(train_samples, "train_samples", name)
    n_test = _optional_count(test_samples, "test_samples", name)
    size = _image_size(image_size, name)
    if size is not None and name != "tinyimagenet":
        raise ValidationError(f"The 'image_size' option applies to tinyimagenet, not '{name}'.")
    if num_classes is not None and num_classes != info.num_classes:
        raise ValidationError(
            f"Dataset '{name}' has {info.num_classes} classes. Got num_classes={num_classes!r}."
        )
    if download:
        _download(name, path)
    resolved = str(path.resolve())
    x_tr, y_tr, x_te, y_te = _cached_raw(name, resolved, _stamp(path), size)
    for y, split in ((y_tr, "train"), (y_te, "test")):
        if y.size and (y.min() < 0 or y.max() >= info.num_classes):
            raise ValidationError(
                f"Dataset '{name}' at '{path}': {split} labels must lie in 0..{info.num_classes - 1}. "
                f"Got {int(y.min())}..{int(y.max())}."
            )
    x_tr, y_tr = _subset(x_tr, y_tr, n_train)
    x_te, y_te = _subset(x_te, y_te, n_test)
    xf_tr, xf_te, mean, std = _normalise(x_tr, x_te, normalize, (info.mean, info.std))
    pad = (
        None
        if mean is None or std is None
        else tuple(-m / s for m, s in zip(mean, std, strict=True))
    )
    return DatasetSplit(
        train=ArrayDataset(xf_tr, y_tr, pad_value=pad),
        test=ArrayDataset(xf_te, y_te, pad_value=pad),
        input_shape=tuple(int(s) for s in xf_tr.shape[1:]),
        num_classes=info.num_classes,
        name=name,
        mean=mean,
        std=std,
    )


def _register_standard(name: str) -> None:
    def loader(**options: Any) -> DatasetSplit:
        return _standard_image_dataset(name, **options)

    loader.__name__ = f"_{name}"
    loader.__doc__ = f"The {name} dataset from its standard files ({IMAGE_DATASETS[name].layout})."
    DATASETS.add(name, loader)


for _name in IMAGE_DATASETS:
    _register_standard(_name)


@DATASETS.register("imagefolder")
def _imagefolder(
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    root: str | os.PathLike[str] | None = None,
    channels: int = 3,
    image_size: Sequence[int] | int | None = None,
    normalize: str = "train",
    train_samples: int | None = None,
    test_samples: int | None = None,
    num_classes: int | None = None,
) -> DatasetSplit:
    if root is None:
        raise ValidationError(
            "Dataset 'imagefolder' needs a root: set root = \"...\" in [datasets.imagefolder]."
        )
    path = _resolve_root("imagefolder", root)
    if channels not in (1, 3) or isinstance(channels, bool):
        raise ValidationError(
            f"The 'channels' option of dataset 'imagefolder' must be 1 or 3. Got {channels!r}."
        )
    if normalize not in NORMALIZATIONS:
        raise UnknownNameError("normalize mode", str(normalize), NORMALIZATIONS)
    size = _image_size(image_size, "imagefolder")
    n_train = _optional_count(train_samples, "train_samples", "imagefolder")
    n_test = _optional_count(test_samples, "test_samples", "imagefolder")
    x_tr, y_tr, x_te, y_te, classes = _raw_imagefolder(path, channels, size, seed, test_fraction)
    k = len(classes)
    if num_classes is not None:
        if num_classes < k:
            raise ValidationError(
                f"imagefolder '{path}' has {k} classes. Got num_classes={num_classes!r}."
            )
        k = int(num_classes)
    if k < 2:
        raise ValidationError(f"imagefolder '{path}': need at least 2 classes. Got {k}.")
    x_tr, y_tr = _subset(x_tr, y_tr, n_train)
    x_te, y_te = _subset(x_te, y_te, n_test)
    xf_tr, xf_te, mean, std = _normalise(x_tr, x_te, normalize, None)
    pad = (
        None
        if mean is None or std is None
        else tuple(-m / s for m, s in zip(mean, std, strict=True))
    )
    return DatasetSplit(
        train=ArrayDataset(xf_tr, y_tr, pad_value=pad),
        test=ArrayDataset(xf_te, y_te, pad_value=pad),
        input_shape=tuple(int(s) for s in xf_tr.shape[1:]),
        num_classes=k,
        name="imagefolder",
        mean=mean,
        std=std,
    )


#: Dataset options that say where the files are, not what they hold.
LOCATION_OPTIONS = ("root", "download")


def identity_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options of dataset ``name`` that decide its content (hashed into network ids).

    The standard image datasets are identified by their name: where their
    files lie (``root``) and whether they were downloaded do not change a
    network's id, so a study moves between machines and cluster workers.
    An ``imagefolder`` keeps its ``root``, which is its content.
    """
    if name not in IMAGE_DATASETS:
        return dict(options)
    return {k: v for k, v in options.items() if k not in LOCATION_OPTIONS}


_PROBES = {
    "cifar10": (["cifar-10-batches-py"], "test_batch"),
    "cifar100": (["cifar-100-python"], "test"),
    "mnist": (["MNIST/raw", "raw"], "t10k-images-idx3-ubyte*"),
    "fashion_mnist": (["FashionMNIST/raw", "raw"], "t10k-images-idx3-ubyte*"),
    "tinyimagenet": (["tiny-imagenet-200"], "val/val_annotations.txt"),
}


def describe_dataset(name: str, **options: Any) -> tuple[tuple[int, ...], int]:
    """``(input_shape, num_classes)`` of a named dataset, without reading it when known.

    The standard image datasets answer from their published shapes (Tiny-ImageNet
    with ``image_size`` when given) after checking that their files are where
    ``root`` says, or downloading them there when ``download`` is set (a study
    does this once while planning, so its workers never download concurrently);
    anything else is loaded.
    """
    if name in IMAGE_DATASETS:
        info = IMAGE_DATASETS[name]
        root = _resolve_root(name, options.get("root"))
        if options.get("download", False) is True:
            _download(name, root)  # once, in the planning process, before any worker reads
        else:
            subs, probe = _PROBES[name]
            if _find_folder(root, subs, probe) is None:
                problem = "no such folder" if not root.exists() else f"no {subs[0]}/{probe}"
                raise _not_found(name, root, problem)
        size = _image_size(options.get("image_size"), name)
        shape = info.input_shape if size is None else (info.input_shape[0], *size)
        return tuple(shape), info.num_classes
    split = load_dataset(name, **options)
    return split.input_shape, split.num_classes


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
