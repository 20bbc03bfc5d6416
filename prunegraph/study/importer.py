"""Import your own pruned networks (checkpoints + measured accuracies) into the store as a study.

Manifest
--------
A CSV file (one row per network) or a TOML file (``[defaults]`` plus one
``[[network]]`` table per network) with these fields; paths are relative to
the manifest's folder:

=============  ========  ===================================================
field          required  meaning
=============  ========  ===================================================
checkpoint     yes       ``torch.save``'d ``state_dict`` (optionally wrapped
                         as ``{"state_dict": ...}``, with or without
                         ``weight_mask`` buffers) or a whole ``nn.Module``
model          state     registry name (``prunegraph`` model zoo) to rebuild a
               dicts     ``state_dict`` into; for a saved module, a label
input_shape    yes       ``"1x8x8"`` / ``"3,32,32"`` (CSV) or a list (TOML)
num_classes    state     classes of the registry model
               dicts
masks          no        ``.npz`` of bool masks keyed by parameter name;
                         default: ``weight_mask`` buffers, else exact zeros
acc_dense      no        test accuracy of the dense model, in [0, 1]
acc_sparse     no        test accuracy of the pruned model, in [0, 1]
pruner         no        how it was pruned (a registry name gives its
                         category; anything else is category ``user``)
seed           no        default 0
dataset        no        default ``user``
=============  ========  ===================================================

The ``network_id`` is the hash of the study name and the SHA-256 of the
checkpoint and masks files, so importing the same manifest twice stores each
network once.

Checkpoints are untrusted data: every file is read with
``torch.load(weights_only=True)``, which loads tensors and plain containers
and never runs code. A whole pickled ``nn.Module`` (or any other pickled
object) cannot be read that way; importing one takes an explicit opt-in,
``trust_checkpoint=True`` (``prunegraph study import --trust-checkpoint``),
because unpickling it runs whatever code the file names. Without it such a
network fails with a message saying so, and nothing in the file is executed.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import sys
import time
import tomllib
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from prunegraph.errors import ValidationError
from prunegraph.study.config import ENCODINGS, LEVELS, AnalysisSettings, config_hash
from prunegraph.study.lock import StudyLock
from prunegraph.study.run import (
    NetworkOutcome,
    StudySummary,
    _write_run_log,
    run_analyses,
    store_network,
)

FIELDS = (
    "checkpoint",
    "model",
    "input_shape",
    "num_classes",
    "masks",
    "acc_dense",
    "acc_sparse",
    "pruner",
    "seed",
    "dataset",
)


@dataclass(frozen=True)
class ImportEntry:
    """One validated manifest row."""

    checkpoint: Path
    model: str | None
    input_shape: tuple[int, ...]
    num_classes: int | None
    masks: Path | None
    acc_dense: float | None
    acc_sparse: float | None
    pruner: str
    seed: int
    dataset: str
    row: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, str):
        parts = [p for p in value.replace("x", ",").replace(" ", "").split(",") if p]
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        parts = []
    try:
        shape = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        shape = ()
    if not shape or any(s <= 0 for s in shape):
        raise ValidationError(
            f"{where}: input_shape must look like '1x8x8' or [3, 32, 32]. Got {value!r} instead."
        )
    return shape


def _optional_float(value: Any, name: str, where: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not 0.0 <= number <= 1.0:
        raise ValidationError(f"{where}: {name} must be a float in [0, 1]. Got {value!r} instead.")
    return number


def read_manifest(path: str | Path) -> list[ImportEntry]:
    """Parse and validate a CSV or TOML manifest (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"Manifest {path} does not exist.")
    rows: list[dict[str, Any]]
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError(f"Manifest {path} is not valid TOML: {exc}") from None
        unknown = set(data) - {"defaults", "network"}
        if unknown:
            raise ValidationError(
                f"Manifest {path}: unknown top-level keys {sorted(unknown)}; use [defaults] and [[network]]."
            )
        defaults = data.get("defaults", {})
        rows = [{**defaults, **row} for row in data.get("network", [])]
    elif path.suffix.lower() == ".csv":
        with path.open(newline="") as fh:
            rows = [dict(r) for r in csv.DictReader(fh)]
    else:
        raise ValidationError(f"Manifest {path} must be a .csv or .toml file.")
    if not rows:
        raise ValidationError(f"Manifest {path} lists no networks.")
    base = path.parent
    entries = []
    for i, row in enumerate(rows, start=1):
        where = f"{path.name} network {i}"
        unknown_fields = [k for k in row if k not in FIELDS]
        if unknown_fields:
            import difflib

            hints = [difflib.get_close_matches(k, FIELDS, n=1) for k in unknown_fields]
            named = ", ".join(
                f"'{k}'" + (f" (did you mean '{h[0]}'?)" if h else "")
                for k, h in zip(unknown_fields, hints, strict=True)
            )
            raise ValidationError(
                f"{where}: unknown field(s) {named}. Fields: {', '.join(FIELDS)}."
            )
        if not row.get("checkpoint"):
            raise ValidationError(f"{where}: 'checkpoint' is required.")
        checkpoint = (base / str(row["checkpoint"])).resolve()
        if not checkpoint.is_file():
            raise ValidationError(f"{where}: checkpoint {checkpoint} does not exist.")
        masks = None
        if row.get("masks"):
            masks = (base / str(row["masks"])).resolve()
            if not masks.is_file():
                raise ValidationError(f"{where}: masks file {masks} does not exist.")
        if "input_shape" not in row or row["input_shape"] in (None, ""):
            raise ValidationError(f"{where}: 'input_shape' is required (e.g. '1x8x8').")
        num_classes = row.get("num_classes")
        try:
            n_classes = None if num_classes in (None, "") else int(num_classes)
        except (TypeError, ValueError):
            raise ValidationError(
                f"{where}: num_classes must be an int. Got {num_classes!r}."
            ) from None
        try:
            seed = int(row.get("seed") or 0)
        except (TypeError, ValueError):
            raise ValidationError(
                f"{where}: seed must be a non-negative int. Got {row.get('seed')!r}."
            ) from None
        if seed < 0:
            raise ValidationError(f"{where}: seed must be a non-negative int. Got {seed}.")
        entries.append(
            ImportEntry(
                checkpoint=checkpoint,
                model=str(row["model"]) if row.get("model") else None,
                input_shape=_shape(row["input_shape"], where),
                num_classes=n_classes,
                masks=masks,
                acc_dense=_optional_float(row.get("acc_dense"), "acc_dense", where),
                acc_sparse=_optional_float(row.get("acc_sparse"), "acc_sparse", where),
                pruner=str(row.get("pruner") or "user"),
                seed=seed,
                dataset=str(row.get("dataset") or "user"),
                row=i,
            )
        )
    return entries


def read_checkpoint(path: Path, *, trust: bool = False, where: str = "checkpoint") -> Any:
    """Load a checkpoint safely: tensors and plain containers only, unless ``trust``.

    Parameters
    ----------
    path : Path
        A ``torch.save``'d file.
    trust : bool
        Also unpickle arbitrary objects (a whole ``nn.Module``). Unpickling
        runs code named by the file: only for files you trust.
    where : str
        Prefix of error messages (names the manifest row).

    Raises
    ------
    ValidationError
        Unreadable file, or (without ``trust``) a file holding pickled objects
        other than tensors and plain containers; the message names the opt-in.
    """
    import pickle

    import torch

    if trust:
        try:
            return torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ValidationError(f"{where}: cannot read the checkpoint: {exc}") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refused a global (a module class, a function, ...): the file is a
        # pickle of Python objects, and loading it would run code. Never retried silently.
        named = re.search(r"GLOBAL ([\w.]+)", str(exc))
        detail = f" ({named.group(1)})" if named else ""
        raise ValidationError(
            f"{where}: the checkpoint is not a plain state_dict: it holds pickled Python objects"
            f"{detail}, and loading it would "
            "run code from the file. It was not loaded. Save model.state_dict() instead, or, "
            "only for a file you trust, pass --trust-checkpoint (trust_checkpoint=True)."
        ) from None
    except Exception as exc:
        raise ValidationError(f"{where}: cannot read the checkpoint: {exc}") from None


def load_entry(
    entry: ImportEntry, *, trust_checkpoint: bool = False
) -> tuple[Any, dict[str, Any], str]:
    """The pruned model (masked weights zero), its masks and its architecture label.

    The checkpoint is read by :func:`read_checkpoint` (safe unless
    ``trust_checkpoint``).
    """
    import numpy as np
    from torch import nn

    from prunegraph.loader.masks import (
        apply_masks,
        load_masks,
        masks_from_checkpoint,
        masks_from_model,
        remove_masks,
    )
    from prunegraph.loader.models import MODELS, build_model

    where = f"network {entry.row} ({entry.checkpoint.name})"
    obj = read_checkpoint(entry.checkpoint, trust=trust_checkpoint, where=where)
    if isinstance(obj, nn.Module):
        model = obj
        if any(hasattr(m, "weight_orig") for m in model.modules()):
            masks_inline = masks_from_model(model)
            remove_masks(model)
        else:
            masks_inline = masks_from_model(model)
        architecture = entry.model or type(model).__name__
    else:
        if entry.model is None or entry.num_classes is None:
            raise ValidationError(
                f"{where}: a state_dict checkpoint needs 'model' (one of {', '.join(MODELS.names())}) "
                "and 'num_classes' to rebuild the network."
            )
        model = build_model(
            entry.model, input_shape=entry.input_shape, num_classes=entry.num_classes
        )
        masks_inline = masks_from_checkpoint(obj, model)  # validates keys and shapes
        state = obj["state_dict"] if isinstance(obj, dict) and "state_dict" in obj else obj
        state = {k.removeprefix("module."): v for k, v in state.items()}
        merged = {}
        for key, value in state.items():
            if key.endswith("_mask"):
                continue
            if key.endswith("_orig"):
                base = key.removesuffix("_orig")
                mask = state.get(f"{base}_mask")
                merged[base] = value * mask if mask is not None else value
            else:
                merged[key] = value
        try:
            model.load_state_dict(merged)
        except RuntimeError as exc:
            raise ValidationError(
                f"{where}: the checkpoint does not fit '{entry.model}': {exc}"
            ) from None
        architecture = entry.model
    masks = load_masks(entry.masks, model) if entry.masks is not None else masks_inline
    masks = {k: np.asarray(v, dtype=bool) for k, v in masks.items()}
    apply_masks(model, masks)
    remove_masks(model)  # weights now exactly zero where masked
    return model, masks, architecture


def _category(pruner: str) -> str:
    from prunegraph.loader.pruning import PRUNERS

    return PRUNERS.get(pruner).category if pruner in PRUNERS else "user"


def import_study(
    manifest: str | Path,
    *,
    study: str,
    level: str = "summary",
    encodings: tuple[str, ...] = ENCODINGS,
    metrics: tuple[str, ...] | None = None,
    out_dir: str | Path | None = None,
    analyses: bool = True,
    store: Any = None,
    analysis: AnalysisSettings | None = None,
    trust_checkpoint: bool = False,
    log: Any = None,
) -> StudySummary:
    """Import every network of ``manifest`` under ``study``; failures are recorded, not fatal.

    Networks already complete in the store (same checkpoint and masks bytes)
    are skipped. Returns the same :class:`~prunegraph.study.run.StudySummary`
    as a study run (the report is written when ``analyses``).

    Checkpoints are loaded with ``torch.load(weights_only=True)``; a file that
    needs full unpickling (a saved ``nn.Module``) fails its row unless
    ``trust_checkpoint`` is True, which unpickles it (running any code it
    names) and says so through ``log`` (default: stderr).
    """
    from prunegraph.loader.masks import sparsity as mask_sparsity
    from prunegraph.loader.records import NetworkRecord, validate_study_name
    from prunegraph.study.run import stored_networks

    validate_study_name(study, where="import_study")
    if not isinstance(trust_checkpoint, bool):
        raise ValidationError(
            f"trust_checkpoint must be True or False. Got {trust_checkpoint!r} instead."
        )
    if trust_checkpoint:
        say = log or (lambda msg: print(msg, file=sys.stderr))
        say(
            "Trusting the checkpoints: pickled objects in them are unpickled, which runs any "
            "code they name. Only do this for files you made or trust."
        )
    if level not in LEVELS:
        raise ValidationError(f"level must be one of {', '.join(LEVELS)}. Got {level!r} instead.")
    if out_dir is None and ("/" in study or "\\" in study or study.startswith(".")):
        raise ValidationError(
            f"Study name {study!r} names the output folder results/<study>: it may not contain "
            "'/' or '\\' or start with '.' (or pass out_dir / --out)."
        )
    entries = read_manifest(manifest)
    out = Path(out_dir) if out_dir is not None else Path("results") / study
    out.mkdir(parents=True, exist_ok=True)
    own = store is None
    if store is None:
        from prunegraph.queries.store import Store

        store = Store.connect()
    t0 = time.perf_counter()
    outcomes: list[NetworkOutcome] = []
    lock = StudyLock(
        store,
        study,
        log=log or (lambda msg: print(msg, file=sys.stderr)),
        wait_hint="retry the import when it ends",
    )
    try:
        lock.acquire()  # one writer per study, as for study run
        existing = stored_networks(store, study)
        for entry in entries:
            files = {"checkpoint": _sha256(entry.checkpoint)}
            if entry.masks is not None:
                files["masks"] = _sha256(entry.masks)
            identity = {
                "study": study,
                "files": files,
                "model": entry.model,
                "input_shape": list(entry.input_shape),
                "pruner": entry.pruner,
                "seed": entry.seed,
                "dataset": entry.dataset,
                "acc": [entry.acc_dense, entry.acc_sparse],
            }
            network_id = config_hash(identity)
            label = f"{entry.checkpoint.name} ({entry.pruner})"
            row = existing.get(network_id)
            if (
                row
                and row.get("status") == "complete"
                and row.get("level") == level
                and row.get("metric_engines")
            ):
                outcomes.append(NetworkOutcome(network_id, label, "skipped", level=level))
                continue
            seconds: dict[str, float] = {}
            outcome = NetworkOutcome(network_id, label, "failed", level=level)
            try:
                t = time.perf_counter()
                model, masks, architecture = load_entry(entry, trust_checkpoint=trust_checkpoint)
                seconds["build"] = time.perf_counter() - t
                record = NetworkRecord(
                    network_id=network_id,
                    study=study,
                    architecture=architecture,
                    dataset=entry.dataset,
                    pruner=entry.pruner,
                    pruner_category=_category(entry.pruner),
                    sparsity=float(mask_sparsity(masks)),
                    seed=entry.seed,
                    input_shape=entry.input_shape,
                    acc_dense=entry.acc_dense,
                    acc_sparse=entry.acc_sparse,
                    config={**identity, "checkpoint": str(entry.checkpoint), "imported": True},
                )
                outcome.n_edges = store_network(
                    store,
                    model,
                    masks,
                    record,
                    level=level,
                    encodings=encodings,
                    metrics=metrics,
                    seconds=seconds,
                )
                outcome.status = "complete"
                outcome.acc_dense, outcome.acc_sparse = entry.acc_dense, entry.acc_sparse
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                outcome.error = f"{type(exc).__name__}: {exc}"
                outcome.traceback = traceback.format_exc()
            outcome.seconds = seconds
            outcomes.append(outcome)
        walls = {"networks": time.perf_counter() - t0}
        summary = StudySummary(study, out, outcomes, walls)
        if analyses:
            t = time.perf_counter()
            try:
                summary.report = run_analyses(store, study, analysis or AnalysisSettings(), out)
            except Exception as exc:
                summary.analysis_error = f"{type(exc).__name__}: {exc}"
            walls["analysis"] = time.perf_counter() - t
        # merged into run.json like a study run's: earlier outcomes are never lost
        _write_run_log(
            out / "run.json",
            cast(Any, SimpleNamespace(name=study, source=Path(manifest))),
            {o.network_id: o for o in outcomes},
            {"manifest": str(manifest), "seconds": walls},
            run={"run_id": f"{time.strftime('%Y-%m-%dT%H:%M:%S')}-{os.getpid()}", "import": True},
        )
        return summary
    finally:
        lock.release()
        if own:
            store.close()
