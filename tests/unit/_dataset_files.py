"""Writers of tiny image datasets in their real on-disk formats (CIFAR pickle batches, MNIST IDX,
Tiny-ImageNet folders, image folders), for the dataset tests and the end-to-end study test."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

RNG = np.random.default_rng(1234)


def write_cifar(root: Path, name: str, n_train_per_batch: int = 6, n_test: int = 8) -> Path:
    """CIFAR python batches: pickled dicts with bytes keys (as the real files unpickle)."""
    if name == "cifar10":
        folder, train_files, test_file, key, k = (
            root / "cifar-10-batches-py",
            [f"data_batch_{i}" for i in range(1, 6)],
            "test_batch",
            b"labels",
            10,
        )
    else:
        folder, train_files, test_file, key, k = (
            root / "cifar-100-python",
            ["train"],
            "test",
            b"fine_labels",
            100,
        )
    folder.mkdir(parents=True)
    for i, file in enumerate([*train_files, test_file]):
        n = n_test if file == test_file else n_train_per_batch
        data = RNG.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [(i * 7 + j) % k for j in range(n)]
        batch = {b"batch_label": file.encode(), key: labels, b"data": data}
        if name == "cifar100":
            batch[b"coarse_labels"] = [lab // 5 for lab in labels]
        with (folder / file).open("wb") as handle:
            pickle.dump(batch, handle, protocol=2)
    return folder


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, *, gz: bool, n_train: int = 20, n_test: int = 10) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": RNG.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": RNG.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    for stem, array in arrays.items():
        blob = idx_bytes(array)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(blob))
        else:
            (folder / stem).write_bytes(blob)


def save(path: Path, image: np.ndarray, **kwargs: object) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
    Image.fromarray(np.ascontiguousarray(pixels)).save(path, **kwargs)


def png(path: Path, image: np.ndarray) -> None:
    save(path, image)


def jpeg(path: Path, image: np.ndarray) -> None:
    save(path, image, format="JPEG", quality=95)


def write_tinyimagenet(
    root: Path, wnids: tuple[str, ...] = ("n01443537", "n01629819", "n01641577")
) -> Path:
    folder = root / "tiny-imagenet-200"
    (folder / "wnids.txt").parent.mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for w in wnids:
        for j in range(4):
            jpeg(
                folder / "train" / w / "images" / f"{w}_{j}.JPEG",
                RNG.integers(0, 256, size=(3, 64, 64), dtype=np.uint8),
            )
        (folder / "train" / w / f"{w}_boxes.txt").write_text("")
    lines = []
    for i in range(6):
        name = f"val_{i}.JPEG"
        jpeg(
            folder / "val" / "images" / name, RNG.integers(0, 256, size=(3, 64, 64), dtype=np.uint8)
        )
        lines.append(f"{name}\t{wnids[i % len(wnids)]}\t0\t0\t63\t63")
    # one greyscale validation image, as the real set has a few
    jpeg(
        folder / "val" / "images" / "val_6.JPEG",
        RNG.integers(0, 256, size=(1, 64, 64), dtype=np.uint8),
    )
    lines.append(f"val_6.JPEG\t{wnids[0]}\t0\t0\t63\t63")
    (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return folder


def write_all(root: Path) -> dict[str, Path]:
    """One tiny copy of every supported dataset under ``root``; returns name -> its root."""
    roots = {name: root / name for name in ("cifar10", "cifar100", "mnist", "fashion_mnist")}
    write_cifar(roots["cifar10"], "cifar10")
    write_cifar(roots["cifar100"], "cifar100", n_train_per_batch=30, n_test=12)
    write_mnist(roots["mnist"] / "MNIST" / "raw", gz=True)
    write_mnist(roots["fashion_mnist"] / "FashionMNIST" / "raw", gz=False)
    roots["tinyimagenet"] = root / "tinyimagenet"
    write_tinyimagenet(roots["tinyimagenet"])
    roots["imagefolder"] = root / "imagefolder"
    for split, n in (("train", 6), ("test", 3)):
        for c in ("cat", "dog", "eel"):
            for i in range(n):
                png(
                    roots["imagefolder"] / split / c / f"{i}.png",
                    RNG.integers(0, 256, (3, 16, 16), np.uint8),
                )
    return roots
