"""Untrusted checkpoints never run code: study import loads safely, the run cache too."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from prunegraph.errors import ValidationError


class _Evil:
    """Unpickling this calls ``os.system``: the classic malicious checkpoint."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.sentinel}",))


class _NoStore:
    """Enough of a Store for import_study to plan: nothing is stored yet."""

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        if name == "study_lock_acquire":  # the study's writer lock is free
            return [{"acquired": True, "took_over": False}]
        return []


def _manifest(tmp_path: Path, checkpoint: Path) -> Path:
    path = tmp_path / "manifest.csv"
    path.write_text(
        f"checkpoint,model,input_shape,num_classes,acc_sparse\n{checkpoint.name},mlp,1x8x8,10,0.5\n"
    )
    return path


def test_a_malicious_pickle_in_study_import_does_not_execute(tmp_path: Path) -> None:
    from prunegraph.loader.models import build_model
    from prunegraph.study.importer import import_study

    sentinel = tmp_path / "pwned"
    state = build_model("mlp", input_shape=(1, 8, 8), num_classes=10).state_dict()
    checkpoint = tmp_path / "evil.pt"
    torch.save({"state_dict": state, "payload": _Evil(sentinel)}, checkpoint)
    messages: list[str] = []
    summary = import_study(
        _manifest(tmp_path, checkpoint),
        study="safety-ckpt",
        out_dir=tmp_path / "out",
        analyses=False,
        store=_NoStore(),
        log=messages.append,
    )
    assert not sentinel.exists(), "the checkpoint's code ran"
    (failed,) = summary.failed
    assert "holds pickled Python objects (posix.system)" in str(failed.error)
    assert "--trust-checkpoint" in str(failed.error)
    assert messages == []  # no trust announced, none given
    # the import's run.json is merged like a study run's: a second import keeps the record
    import json

    import_study(
        _manifest(tmp_path, checkpoint),
        study="safety-ckpt",
        out_dir=tmp_path / "out",
        analyses=False,
        store=_NoStore(),
    )
    log = json.loads((tmp_path / "out" / "run.json").read_text())
    assert len(log["networks"]) == 1 and log["networks"][0]["status"] == "failed"
    assert len(log["runs"]) >= 1 and all(r["import"] for r in log["runs"])


def test_a_whole_module_needs_the_explicit_opt_in(tmp_path: Path) -> None:
    from prunegraph.study.importer import ImportEntry, load_entry, read_checkpoint

    path = tmp_path / "module.pt"
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), path)
    with pytest.raises(ValidationError, match=r"row 3: .*torch\.nn\.modules.*--trust-checkpoint"):
        read_checkpoint(path, where="row 3")
    entry = ImportEntry(path, None, (4,), None, None, None, None, "user", 0, "user", 1)
    with pytest.raises(ValidationError, match="not a plain state_dict"):
        load_entry(entry)
    _model, masks, architecture = load_entry(entry, trust_checkpoint=True)
    assert architecture == "Sequential" and list(masks) == ["1.weight"]


def test_trust_is_announced_and_typed(tmp_path: Path) -> None:
    from prunegraph.study.importer import import_study

    path = tmp_path / "module.pt"
    torch.save(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), path)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"checkpoint,input_shape\n{path.name},4\n")
    with pytest.raises(ValidationError, match="trust_checkpoint must be True or False"):
        import_study(manifest, study="s", trust_checkpoint="yes", store=_NoStore())  # type: ignore[arg-type]
    messages: list[str] = []
    kwargs: dict[str, Any] = {"out_dir": tmp_path / "o", "analyses": False, "log": messages.append}
    store = _NoStore()
    store.run = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no db"))  # type: ignore[attr-defined]
    import_study(manifest, study="s", trust_checkpoint=True, store=store, **kwargs)
    assert len(messages) == 1 and "runs any code" in messages[0]


def test_the_cli_has_the_opt_in_flag() -> None:
    from prunegraph.cli import build_parser

    args = build_parser().parse_args(["study", "import", "m.csv", "--study", "s"])
    assert args.trust_checkpoint is False
    args = build_parser().parse_args(
        ["study", "import", "m.csv", "--study", "s", "--trust-checkpoint"]
    )
    assert args.trust_checkpoint is True


def test_the_run_cache_is_read_safely(tmp_path: Path) -> None:
    from prunegraph.study.run import _atomic_torch_save, _load_cache

    sentinel = tmp_path / "pwned"
    poisoned = tmp_path / "cache" / "networks" / "0123456789abcdef.pt"
    _atomic_torch_save({"masks": {}, "x": _Evil(sentinel)}, poisoned)
    assert _load_cache(poisoned) is None  # recomputed, never unpickled
    assert not sentinel.exists()
    good = tmp_path / "cache" / "dense" / "k.pt"
    _atomic_torch_save({"acc_dense": 0.5, "state_dict": {"w": torch.ones(2)}, "spec": "x"}, good)
    assert _load_cache(good)["acc_dense"] == 0.5  # type: ignore[index]
