"""Content identities of input files, so a network's identity changes when its data does.

A study dataset given as a file path (an ``.npz``) is identified by the
SHA-256 of its bytes, not by its path: after the file is edited, the same
study makes new networks (and a new dense baseline) instead of skipping the
old ones as complete with stale accuracies.

Hashing a large file on every run would be slow, so digests are cached in
``<PRUNEGRAPH_HOME>/digests.json`` keyed by the resolved path, its size and
its modification time in nanoseconds: a file whose size or mtime changed is
hashed again; an unchanged one is not. (An edit that keeps both size and
mtime, which needs a deliberate ``touch -d``, is the one case the cache
cannot see.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from prunegraph.config import prunegraph_home
from prunegraph.errors import ValidationError

_CHUNK = 1 << 20


def digest_cache_path() -> Path:
    """Where the (path, size, mtime) -> SHA-256 cache lives."""
    return prunegraph_home() / "digests.json"


def _read_cache(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def file_digest(path: str | os.PathLike[str], *, cache: bool = True) -> str:
    """``sha256:<hex>`` of a file's bytes (cached by resolved path, size and mtime).

    Raises
    ------
    ValidationError
        The file does not exist or cannot be read.
    """
    target = Path(path).expanduser().resolve()
    try:
        stat = target.stat()
    except OSError as exc:
        raise ValidationError(f"Cannot read '{path}' to identify it: {exc.strerror}.") from None
    if not target.is_file():
        raise ValidationError(f"'{path}' is not a file; only files are identified by content.")
    key = str(target)
    store = digest_cache_path()
    entries = _read_cache(store) if cache else {}
    hit = entries.get(key)
    if (
        isinstance(hit, dict)
        and hit.get("size") == stat.st_size
        and hit.get("mtime_ns") == stat.st_mtime_ns
        and isinstance(hit.get("sha256"), str)
    ):
        return f"sha256:{hit['sha256']}"
    sha = hashlib.sha256()
    try:
        with target.open("rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                sha.update(block)
    except OSError as exc:
        raise ValidationError(f"Cannot read '{path}' to identify it: {exc.strerror}.") from None
    value = sha.hexdigest()
    if cache:
        entries[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": value}
        with contextlib.suppress(OSError):  # a read-only home only costs the next hash
            store.parent.mkdir(parents=True, exist_ok=True)
            tmp = store.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(entries, indent=0, sort_keys=True))
            os.replace(tmp, store)
    return f"sha256:{value}"


def dataset_digest(dataset: str) -> str | None:
    """The content digest of a dataset given as a file path; ``None`` for a named dataset."""
    from prunegraph.loader.data import DATASETS

    if dataset in DATASETS:
        return None
    path = Path(dataset).expanduser()
    return file_digest(path) if path.is_file() else None
