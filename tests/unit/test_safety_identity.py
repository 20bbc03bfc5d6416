"""Identities that change when the inputs change: dataset files by content, sparsities canonical."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prunegraph.errors import ValidationError
from prunegraph.study.config import expand, parse_study
from prunegraph.study.digests import digest_cache_path, file_digest


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PRUNEGRAPH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _npz(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        x_train=rng.standard_normal((20, 1, 4, 4)).astype(np.float32),
        y_train=np.arange(20) % 2,
        x_test=rng.standard_normal((6, 1, 4, 4)).astype(np.float32),
        y_test=np.arange(6) % 2,
    )
    return path


def _study(dataset: str, sparsities: list[Any] | None = None) -> Any:
    return parse_study(
        {
            "study": {"name": "safety-identity"},
            "grid": {
                "models": ["mlp"],
                "datasets": [dataset],
                "pruners": ["random"],
                "sparsities": sparsities or [0.5],
                "seeds": [0],
            },
        },
        check_names=False,
    )


def test_editing_an_npz_dataset_makes_new_networks(tmp_path: Path) -> None:
    data = _npz(tmp_path / "data.npz", seed=0)
    config = _study(str(data))
    (before,) = expand(config)
    (again,) = expand(config)
    assert again.network_id == before.network_id
    _npz(data, seed=1)  # same path, new content
    (after,) = expand(config)
    assert after.network_id != before.network_id
    assert after.dense_key != before.dense_key  # the dense baseline cache is not reused
    assert after.dataset_digest != before.dataset_digest


def test_a_named_dataset_keeps_its_identity() -> None:
    (spec,) = expand(_study("digits"))
    assert spec.dataset_digest is None
    assert "dataset_digest" not in spec.identity()  # ids of named datasets are unchanged


def test_digests_are_cached_by_size_and_mtime(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 100)
    first = file_digest(path)
    assert first.startswith("sha256:") and digest_cache_path().is_file()
    stat = path.stat()
    path.write_bytes(b"b" * 100)  # same size; restore the mtime: the cache answers
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digest(path) == first
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: hashed again
    assert file_digest(path) != first
    assert file_digest(path, cache=False) == file_digest(path)
    with pytest.raises(ValidationError, match="to identify it"):
        file_digest(tmp_path / "missing.npz")


def test_near_duplicate_sparsities_are_refused() -> None:
    with pytest.raises(
        ValidationError, match=r"sparsities\[0\] = 0\.5 and sparsities\[1\] = 0\.50000000001"
    ):
        _study("digits", [0.5, 0.50000000001])


def test_a_sparsity_has_one_identity() -> None:
    (a,) = expand(_study("digits", [0.5]))
    (b,) = expand(_study("digits", [0.50000000001]))
    assert b.sparsity == 0.5 and a.network_id == b.network_id
