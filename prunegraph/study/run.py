"""Run a study end to end: dense baselines, pruning, training, encoding, export, metrics, report.

Execution model
---------------
The parent process expands the study, asks the store which networks are
already complete (status ``'complete'``, the requested level, metrics
present) and submits the rest to an :mod:`executor <prunegraph.study.executors>`
in two phases:

1. **dense baselines**, one per ``(model, model options, dataset, seed,
   training)`` (:attr:`NetworkSpec.dense_key`), trained and evaluated once and
   cached on disk as ``<out>/cache/dense/<key>.pt`` (a resumed or repeated run
   reuses them);
2. **networks**: build (Kaiming init with the seed), prune, train or fine-tune,
   evaluate, encode, export at the chosen level, compute metrics. The masks
   (and trained weights when the study trains) are cached as
   ``<out>/cache/networks/<network_id>.pt`` so a network whose metrics or
   storage level changed is re-exported without re-training.

**Each worker opens its own** :class:`~prunegraph.queries.store.Store` (one
per process, from the parent's connection settings) and writes its network
itself: graphs never travel between processes, and a cluster executor runs
the same task function unchanged. The exporter's ``status`` property makes
this safe under interruption: a network is ``'complete'`` only after its last
write and its metrics, so a killed run leaves nothing that looks done, and
re-exporting the same ``network_id`` replaces a half-written copy.

The outcome of every network (complete, skipped, failed with error and
traceback, per-stage seconds) is written to ``<out>/run.json`` after each
network, so a crash loses nothing already recorded. Failures do not stop
the other networks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prunegraph.config import (
    count_driver_retries,
    driver_log_size,
    route_driver_log,
    unroute_driver_log,
)
from prunegraph.errors import DatabaseError, PrunegraphError, ValidationError
from prunegraph.queries.data_model import LEVELS as STORAGE_LEVELS
from prunegraph.study.config import (
    AnalysisSettings,
    NetworkSpec,
    StudyConfig,
    _thaw,
    code_versions,
    config_hash,
    expand,
)
from prunegraph.study.executors import Executor, SerialExecutor, make_executor

if TYPE_CHECKING:
    from prunegraph.config import ConnectionSettings
    from prunegraph.queries.store import Store

STAGES = ("dense", "build", "prune", "train", "evaluate", "encode", "export", "metrics")


# --------------------------------------------------------------------------- results
@dataclass
class NetworkOutcome:
    """What happened to one network in one run."""

    network_id: str
    label: str
    status: str  # 'complete' | 'skipped' | 'failed'
    level: str = ""
    seconds: dict[str, float] = field(default_factory=dict)
    acc_dense: float | None = None
    acc_sparse: float | None = None
    n_edges: int | None = None
    error: str | None = None
    traceback: str | None = None
    worker: str = ""  # host:pid that computed it (what ran where)
    training_log: list[str] = field(default_factory=list)  # per-epoch loss, accuracy, lr


@dataclass
class StudySummary:
    """The result of :func:`run_study`."""

    study: str
    out_dir: Path
    outcomes: list[NetworkOutcome]
    seconds: dict[str, float]
    report: Path | None = None
    analysis_error: str | None = None
    driver_retries: int = 0
    warning: str | None = None
    #: Collapsed layers of the run's networks (:func:`~prunegraph.analysis.sparsity_curves.collapse_in_store`).
    layer_collapse: list[dict[str, Any]] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failed(self) -> list[NetworkOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def stage_seconds(self) -> dict[str, float]:
        """Worker seconds per network stage, summed over networks (CPU-time-like)."""
        totals = dict.fromkeys(STAGES, 0.0)
        for outcome in self.outcomes:
            for stage, sec in outcome.seconds.items():
                totals[stage] = totals.get(stage, 0.0) + sec
        return totals

    def format(self) -> str:
        lines = [
            f"Study '{self.study}': {len(self.outcomes)} networks: {self.count('complete')} computed, "
            f"{self.count('skipped')} already complete (skipped), {self.count('failed')} failed.",
            "Wall time: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items()),
        ]
        stage = {k: v for k, v in self.stage_seconds().items() if v > 0}
        if stage:
            lines.append(
                "Worker time per stage: " + ", ".join(f"{k} {v:.1f}s" for k, v in stage.items())
            )
        for o in self.failed[:10]:
            lines.append(f"  FAILED {o.network_id} {o.label}: {o.error}")
        if len(self.failed) > 10:
            lines.append(
                f"  ... and {len(self.failed) - 10} more failures in {self.out_dir}/run.json"
            )
        if self.analysis_error:
            lines.append(f"Analysis failed: {self.analysis_error}")
        if self.report is not None:
            lines.append(f"Report: {self.report}")
        if self.driver_retries:
            lines.append(
                f"Driver retried {self.driver_retries} transaction(s) (e.g. deadlocks between "
                f"workers, resolved by the retry); details in {self.out_dir / 'driver.log'}"
            )
        if self.warning:
            lines.append(f"Warning: {self.warning}")
        if self.layer_collapse:
            from prunegraph.analysis.sparsity_curves import collapse_warning

            lines.append(f"Warning: {collapse_warning(self.layer_collapse)}")
        lines.append(f"Run log: {self.out_dir / 'run.json'}")
        return "\n".join(lines)


@dataclass(frozen=True)
class RunContext:
    """What a worker needs besides the network spec (picklable)."""

    out_dir: str
    settings: ConnectionSettings | None
    encodings: tuple[str, ...]
    metrics: tuple[str, ...] | None
    export_batch_size: int = 5_000
    threads: int | None = None


# --------------------------------------------------------------------------- per-process state
_STORES: dict[Any, Store] = {}
_DATASETS: dict[tuple[str, Any], Any] = {}


def _store_for(settings: ConnectionSettings | None) -> Store:
    """The process's store for ``settings`` (opened once per worker process)."""
    from prunegraph.queries.store import Store

    key = None if settings is None else (settings.uri, settings.user, settings.database)
    store = _STORES.get(key)
    if store is None:
        store = Store.connect() if settings is None else Store(settings)
        _STORES[key] = store
    return store


def _dataset(spec: NetworkSpec) -> Any:
    from prunegraph.loader.data import load_dataset

    key = (spec.dataset, spec.dataset_options)
    if key not in _DATASETS:
        _DATASETS[key] = load_dataset(spec.dataset, **_thaw(spec.dataset_options))
    return _DATASETS[key]


@contextlib.contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start


def _atomic_torch_save(obj: Any, path: Path) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)  # readers never see a half-written cache file


def _load_cache(path: Path) -> dict[str, Any] | None:
    """A cache entry, read safely (tensors and plain containers only: no code runs)."""
    import torch

    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a corrupt (or unsafe, or old-format) entry is recomputed, not fatal
        return None


# --------------------------------------------------------------------------- pruner facts
def pruner_category(name: str) -> str:
    """The registry category of a pruner (``pai``, ``random``, ``magnitude``, ``dst``, ``graph``)."""
    from prunegraph.loader.pruning import PRUNERS

    return PRUNERS.get(name).category


def pruning_mode(name: str) -> str:
    """How a pruner fits into the train/prune pipeline: its registered ``mode``.

    - ``'trained'``: it prunes the trained dense model, which is then
      fine-tuned for ``finetune_epochs`` (magnitude pruners);
    - ``'init'``: it prunes the freshly initialised model, which is then
      trained for ``epochs`` (from the same initialisation as its dense
      baseline; random, PaI and graph pruners);
    - ``'rewind'``: it trains, prunes and rewinds (IMP); the result is trained
      for ``epochs`` from the rewind point;
    - ``'during'``: it trains while pruning (SET, RigL, DSR); the result is
      evaluated as is.
    """
    from prunegraph.loader.pruning import PRUNERS

    return PRUNERS.get(name).mode


def pruner_options(spec: NetworkSpec) -> dict[str, Any]:
    """The keyword arguments of :func:`~prunegraph.loader.pruning.prune` for ``spec``.

    The study's ``[pruners.<name>]`` options and, when the study trains, its
    training settings as ``training=`` (used by the pruners that train, e.g.
    ``imp``, ``set``, ``ramanujan`` with ``base="imp"``); a training setting set
    in ``[pruners.<name>]`` wins over ``[training]``.
    """
    options = _thaw(spec.pruner_options)
    if spec.training.enabled:
        options["training"] = spec.training.settings()
    elif spec.training.device != "auto":  # where the PaI scores are computed, even untrained
        from prunegraph.loader.training import TrainingSettings

        options["training"] = TrainingSettings(device=spec.training.device)
    return options


def pruner_applies(pruner: str, model: str, dataset: str) -> str | None:
    from prunegraph.study.config import _pruner_applies

    return _pruner_applies(pruner, model, dataset)


# --------------------------------------------------------------------------- tasks
def _build(spec: NetworkSpec) -> Any:
    from prunegraph.loader.models import build_model

    assert spec.input_shape is not None and spec.num_classes is not None
    return build_model(
        spec.model,
        input_shape=spec.input_shape,
        num_classes=spec.num_classes,
        seed=spec.seed,
        **_thaw(spec.model_options),
    )


def dense_baseline(spec: NetworkSpec, out_dir: str) -> dict[str, Any]:
    """Train and evaluate the dense model of ``spec`` once; cached under ``out_dir``.

    Returns ``{"acc_dense", "state_dict", "seconds"}``.
    """
    from prunegraph.loader.training import evaluate, train

    path = Path(out_dir) / "cache" / "dense" / f"{spec.dense_key}.pt"
    cached = _load_cache(path)
    if cached is not None:
        return cached
    start = time.perf_counter()
    data = _dataset(spec)
    model = _build(spec)
    train(model, data.train, seed=spec.seed, **spec.training.settings().train_kwargs())
    acc = float(evaluate(model, data.test))
    entry = {
        "acc_dense": acc,
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "seconds": time.perf_counter() - start,
        "spec": spec.label(),
    }
    _atomic_torch_save(entry, path)
    return entry


def run_dense_task(spec: NetworkSpec, out_dir: str) -> tuple[str, float, float]:
    """Executor task: ``(dense_key, acc_dense, seconds)`` (the weights stay in the cache file)."""
    entry = dense_baseline(spec, out_dir)
    return spec.dense_key, float(entry["acc_dense"]), float(entry.get("seconds", 0.0))


def sparse_network(
    spec: NetworkSpec, ctx: RunContext, seconds: dict[str, float]
) -> tuple[Any, dict[str, Any], float | None, float | None]:
    """Build, prune, train and evaluate one network; ``(model, masks, acc_dense, acc_sparse)``.

    Cached in ``<out>/cache/networks/<network_id>.pt`` (masks, accuracies and,
    when trained, the weights).
    """
    import numpy as np
    import torch

    from prunegraph.loader.masks import apply_masks, remove_masks
    from prunegraph.loader.pruning import prune
    from prunegraph.loader.training import evaluate, train

    path = Path(ctx.out_dir) / "cache" / "networks" / f"{spec.network_id}.pt"
    cached = _load_cache(path)
    with _timed(seconds, "build"):
        model = _build(spec)
    if cached is not None:
        if cached.get("state_dict") is not None:
            model.load_state_dict(cached["state_dict"])
        masks = {k: np.asarray(v, dtype=bool) for k, v in cached["masks"].items()}
        return model, masks, cached.get("acc_dense"), cached.get("acc_sparse")

    training = spec.training
    data = _dataset(spec)
    acc_dense = acc_sparse = None
    mode = pruning_mode(spec.pruner)
    if training.enabled:
        with _timed(seconds, "dense"):
            dense = dense_baseline(spec, ctx.out_dir)
        acc_dense = float(dense["acc_dense"])
        if mode == "trained":
            model.load_state_dict(dense["state_dict"])
    with _timed(seconds, "prune"):
        masks = prune(
            model,
            spec.pruner,
            spec.sparsity,
            data=data.train,
            seed=spec.seed,
            **pruner_options(spec),
        )
    masks = {k: np.asarray(v, dtype=bool) for k, v in masks.items()}
    if training.enabled:
        epochs = {"trained": training.finetune_epochs, "during": 0}.get(mode, training.epochs)
        if epochs > 0:
            with _timed(seconds, "train"):
                train(
                    model,
                    data.train,
                    masks=masks,
                    seed=spec.seed,
                    **training.settings(epochs=epochs).train_kwargs(),
                )
        with _timed(seconds, "evaluate"):
            apply_masks(model, masks)
            acc_sparse = float(evaluate(model, data.test))
            remove_masks(model)
    else:
        # Untrained: zero the pruned weights so the encoding sees the sparse network.
        apply_masks(model, masks)
        remove_masks(model)
    entry = {
        "masks": {k: torch.from_numpy(v) for k, v in masks.items()},  # safe-loadable tensors
        "acc_dense": acc_dense,
        "acc_sparse": acc_sparse,
        # Untrained weights are reproducible from the seed: do not store them.
        "state_dict": model.state_dict() if training.enabled else None,
        "spec": spec.label(),
    }
    _atomic_torch_save(entry, path)
    return model, masks, acc_dense, acc_sparse


def _record(spec: NetworkSpec, acc_dense: float | None, acc_sparse: float | None) -> Any:
    from prunegraph.loader.records import NetworkRecord

    assert spec.input_shape is not None
    return NetworkRecord(
        network_id=spec.network_id,
        study=spec.study,
        architecture=spec.model,
        dataset=spec.dataset,
        pruner=spec.pruner,
        pruner_category=pruner_category(spec.pruner),
        sparsity=spec.sparsity,
        seed=spec.seed,
        input_shape=spec.input_shape,
        acc_dense=acc_dense,
        acc_sparse=acc_sparse,
        config=json.loads(spec.config_json()),
    )


def run_network_task(spec: NetworkSpec, ctx: RunContext) -> NetworkOutcome:
    """Executor task: the whole pipeline of one network, written to the store.

    Never raises for a failure of this network: the error and traceback are
    returned in the outcome (``KeyboardInterrupt`` still propagates).
    """
    seconds: dict[str, float] = {}
    outcome = NetworkOutcome(spec.network_id, spec.label(), "failed", level=spec.level)
    route_driver_log(Path(ctx.out_dir) / "driver.log")  # driver retry chatter off the console
    try:
        # Metric kernels load once per process (the pool initializer does it; a serial run
        # does it here); the seconds appear once per worker as "warmup", not as "metrics".
        from prunegraph.queries.metrics import take_warm_up_seconds, warm_up

        warm_up()
        warm = take_warm_up_seconds()
        if warm:
            seconds["warmup"] = warm
        from prunegraph.loader.training import capture_training_log

        outcome.worker = f"{socket.gethostname()}:{os.getpid()}"
        with capture_training_log() as epoch_lines:
            try:
                model, masks, acc_dense, acc_sparse = sparse_network(spec, ctx, seconds)
            finally:
                outcome.training_log = list(epoch_lines)
        outcome.acc_dense, outcome.acc_sparse = acc_dense, acc_sparse
        assert spec.input_shape is not None
        outcome.n_edges = store_network(
            _store_for(ctx.settings),
            model,
            masks,
            _record(spec, acc_dense, acc_sparse),
            level=spec.level,
            encodings=ctx.encodings,
            metrics=ctx.metrics,
            seconds=seconds,
            batch_size=ctx.export_batch_size,
        )
        outcome.status = "complete"
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.traceback = traceback.format_exc()
    outcome.seconds = seconds
    return outcome


def store_network(
    store: Store,
    model: Any,
    masks: dict[str, Any],
    record: Any,
    *,
    level: str,
    encodings: Sequence[str],
    metrics: Sequence[str] | None,
    seconds: dict[str, float] | None = None,
    batch_size: int = 5_000,
) -> int:
    """Encode a pruned model, export it at ``level`` and compute its metrics; returns MGE edges.

    Shared by :func:`run_network_task` and :mod:`prunegraph.study.importer`.
    """
    from prunegraph.loader.encoding import encode
    from prunegraph.loader.export import export_network

    seconds = {} if seconds is None else seconds
    graphs: dict[str, Any] = {}
    with _timed(seconds, "encode"):
        for kind in ("mge", *encodings):
            if kind not in graphs:
                graphs[kind] = encode(model, masks, record.input_shape, kind=kind)
    with _timed(seconds, "export"):
        export_network(
            store,
            graphs,
            record=record,
            level=level,
            batch_size=batch_size,
            progress=False,
        )
    with _timed(seconds, "metrics"):
        _compute_metrics(store, record.network_id, graphs, metrics)
    return int(graphs["mge"].n_edges)


def _compute_metrics(
    store: Store, network_id: str, graphs: dict[str, Any], metrics: Sequence[str] | None
) -> None:
    """Compute and write the network's metrics (in-process from the graphs, as the level allows)."""
    from prunegraph.queries.metrics import compute_metrics

    compute_metrics(
        store,
        network_id,
        metrics=None if metrics is None else list(metrics),
        write=True,
        graphs=graphs,
    )


def resolve_metrics(config: StudyConfig) -> tuple[str, ...] | None:
    """The metric names a study computes per network (``None``: the engine's default set).

    ``names = "all"`` with an ``exclude`` list becomes every single-network
    metric whose graph the study encodes, minus the excluded ones.
    """
    if config.metrics is None and not config.metrics_exclude:
        return None
    from prunegraph.queries.metrics import METRICS

    graphs = {"mge", *config.export.encodings}
    names = config.metrics or tuple(
        n for n, spec in METRICS.items() if not spec.pairwise and spec.graph in graphs
    )
    return tuple(n for n in names if n not in set(config.metrics_exclude))


# --------------------------------------------------------------------------- store status
def stored_networks(store: Store, study: str) -> dict[str, dict[str, Any]]:
    """``network_id -> {status, level, metric_engines, ...}`` for the study's stored networks."""
    return {row["network_id"]: row for row in store.query("study_network_status", study=study)}


def network_level_metrics(names: Sequence[str] | None) -> tuple[str, ...] | None:
    """The keys ``metric_engines`` of a Network records for ``names``, from the metric registry.

    The metric engine records every metric it wrote in the Network's
    ``metric_engines`` JSON: a network-scope column under its own name, a
    per-layer column (``METRICS[name].per_layer``, e.g. ``layer_density``)
    as ``layer:<name>`` (its values are on the Layer nodes; the network mean
    ``mean_<name>`` is a separate column, written only when asked for). The
    resume check compares these keys, so a per-layer metric in ``[metrics]
    names`` no longer makes every network look unfinished.
    """
    if names is None:
        return None
    from prunegraph.queries.metrics import METRICS

    out = []
    for name in names:
        spec = METRICS.get(name) if name in METRICS else None
        out.append(f"layer:{name}" if spec is not None and spec.per_layer else name)
    return tuple(dict.fromkeys(out))


def is_complete(
    row: dict[str, Any] | None, spec: NetworkSpec, metrics: Sequence[str] | None
) -> bool:
    """A stored network is done when complete, at the requested level, with its metrics."""
    # Export only ever upgrades a level (LEVELS, lowest first), so a higher stored level is fine.
    rank = {name: k for k, name in enumerate(STORAGE_LEVELS)}
    if not row or row.get("status") != "complete" or row.get("level") not in rank:
        return False
    if rank[row["level"]] < rank[spec.level]:
        return False
    engines = row.get("metric_engines")
    if not engines:
        return False
    try:
        present = set(json.loads(engines)) if isinstance(engines, str) else set(engines)
    except ValueError:
        return False
    return bool(present) and (metrics is None or set(metrics) <= present)


# --------------------------------------------------------------------------- the runner
class _PlainProgress:
    """Progress as plain lines (a log file, CI): count, share, elapsed time and ETA."""

    def __init__(self, total: int, desc: str, every: float = 10.0) -> None:
        self.total, self.desc, self.every = total, desc, every
        self.done = 0
        self.start = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last < self.every and self.done < self.total and self.done > 1:
            return
        self.last = now
        elapsed = now - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        print(
            f"{self.desc}: {self.done}/{self.total} ({100 * self.done / self.total:.0f}%), "
            f"{_clock(elapsed)} elapsed, ETA {_clock(eta)}",
            file=sys.stderr,
            flush=True,
        )

    def write(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        return None


def _clock(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _progress(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar with ETA in a terminal; plain progress lines otherwise."""
    if enabled and total and not sys.stderr.isatty():
        return _PlainProgress(total, desc)
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="net",
        disable=not enabled or total == 0,
        dynamic_ncols=True,
        file=sys.stderr,
    )


def _read_run_log(path: Path) -> dict[str, Any]:
    """The run log as written, or ``{}`` when absent or unreadable (kept aside, never lost)."""
    if not path.is_file():
        return {}
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            os.replace(path, path.with_suffix(f".unreadable-{int(time.time())}.json"))
        return {}
    return payload if isinstance(payload, dict) else {}


def _write_run_log(
    path: Path,
    config: StudyConfig,
    outcomes: dict[str, NetworkOutcome],
    extra: dict[str, Any],
    *,
    run: dict[str, Any] | None = None,
) -> None:
    """Merge this run's outcomes into ``run.json``; earlier records are kept, never dropped.

    ``networks`` holds the latest record of every network any run touched (a
    network this run only skipped keeps its earlier record unless that one was
    not ``complete``); ``runs`` lists every run (``run``: when, selection,
    counts), this one updated in place while it is in progress.
    """
    previous = _read_run_log(path)
    networks = {
        str(row.get("network_id")): row
        for row in previous.get("networks", [])
        if isinstance(row, dict) and row.get("network_id")
    }
    for outcome in outcomes.values():
        old = networks.get(outcome.network_id)
        if outcome.status == "skipped" and old is not None and old.get("status") == "complete":
            continue
        networks[outcome.network_id] = asdict(outcome)
    runs = [r for r in previous.get("runs", []) if isinstance(r, dict)]
    if run is not None:
        counts = Counter(o.status for o in outcomes.values())
        entry = {**run, **extra, "counts": dict(sorted(counts.items()))}
        runs = [r for r in runs if r.get("run_id") != run.get("run_id")] + [entry]
    payload = {
        "study": config.name,
        "source": str(config.source) if config.source else None,
        **extra,
        "runs": runs,
        "networks": list(networks.values()),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str))
    os.replace(tmp, path)


def select(
    specs: Sequence[NetworkSpec], *, limit: int | None = None, where: dict[str, Any] | None = None
) -> list[NetworkSpec]:
    """Filter specs by field values (``where``) and keep the first ``limit``."""
    out = list(specs)
    for key, value in (where or {}).items():
        if key not in {"model", "dataset", "pruner", "sparsity", "seed"}:
            raise ValidationError(f"Cannot select networks by '{key}'.")
        out = [s for s in out if str(getattr(s, key)) == str(value)]
    if limit is not None:
        if limit < 1:
            raise ValidationError(
                f"The 'limit' parameter must be an int >= 1. Got {limit} instead."
            )
        out = out[:limit]
    return out


def empty_selection_message(grid: Sequence[NetworkSpec], where: dict[str, Any] | None) -> str:
    """Why ``--where`` selects nothing: each value that matches no network, with the values
    that exist (and a did-you-mean)."""
    import difflib

    if not grid:
        return "the study's grid has no networks (every pruner/model pair was dropped)."
    parts = []
    for key, value in (where or {}).items():
        existing = sorted({str(getattr(s, key)) for s in grid})
        if str(value) not in existing:
            close = difflib.get_close_matches(str(value), existing, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            parts.append(
                f"{key}={value} matches no network{hint}; {key} is one of {', '.join(existing)}"
            )
    if not parts:
        parts.append(
            "the --where values exist but no network has them all: "
            + ", ".join(f"{k}={v}" for k, v in (where or {}).items())
        )
    return (
        "the selection is empty, nothing was run and run.json is unchanged: "
        + "; ".join(parts)
        + "."
    )


def run_study(
    config: StudyConfig,
    *,
    out_dir: str | Path | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    limit: int | None = None,
    where: dict[str, Any] | None = None,
    store: Store | None = None,
    analyses: bool = True,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    wait: bool | float = False,
) -> StudySummary:
    """Run every network of ``config`` not yet complete in the store, then the analyses.

    One writer per study: the run holds the study's lock in the store
    (:class:`~prunegraph.study.lock.StudyLock`) from planning to the report; a
    second run of the same study stops naming the holder, or waits for it
    with ``wait`` (True, or at most that many seconds). SIGTERM is handled
    like Ctrl-C: workers stopped, outcomes recorded, then the interrupt is
    raised.

    Parameters
    ----------
    config : StudyConfig
        From :func:`prunegraph.study.load_study`.
    out_dir : path, optional
        Output folder (default ``config.output``): ``run.json``, caches, report.
    workers : int, optional
        Worker processes (default ``[run] workers``); ignored when ``executor`` is given.
    executor : Executor, optional
        Any object with ``submit``/``map``/``shutdown`` (see :mod:`prunegraph.study.executors`).
    limit, where
        Run only the first ``limit`` networks / those matching ``where``.
    store : Store, optional
        Parent connection (default: :meth:`Store.connect`); workers open their own.
    analyses : bool
        Run the analyses and write the report afterwards.
    """
    from prunegraph.study.lock import StudyLock, drop_stale_projections, terminate_as_interrupt

    say = log or (lambda msg: print(msg, file=sys.stderr))
    guards = contextlib.ExitStack()
    t0 = time.perf_counter()
    walls: dict[str, float] = {}
    out = Path(out_dir) if out_dir is not None else Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    driver_log = out / "driver.log"
    driver_log_start = driver_log_size(driver_log)
    route_driver_log(driver_log)
    own_store = store is None
    if store is None:
        from prunegraph.queries.store import Store

        store = Store.connect()
    try:
        grid = expand(config, applies=pruner_applies)
        specs = select(grid, limit=limit, where=where)
        run_log = out / "run.json"
        if not specs:
            # Nothing to do: say why, and leave run.json (earlier outcomes) untouched.
            summary = StudySummary(config.name, out, [], {"total": time.perf_counter() - t0})
            summary.warning = empty_selection_message(grid, where)
            say(f"Warning: {summary.warning}")
            return summary
        run_info = {
            "run_id": f"{time.strftime('%Y-%m-%dT%H:%M:%S')}-{os.getpid()}",
            "where": {k: str(v) for k, v in (where or {}).items()},
            "limit": limit,
        }
        guards.enter_context(terminate_as_interrupt())
        guards.enter_context(StudyLock(store, config.name, wait=wait, log=say))
        existing = stored_networks(store, config.name)
        stale = drop_stale_projections(store, existing)
        if stale:
            say(f"Dropped {len(stale)} GDS projection(s) left by an interrupted run.")
        wanted_metrics = resolve_metrics(config)
        required = network_level_metrics(wanted_metrics)
        todo = [s for s in specs if not is_complete(existing.get(s.network_id), s, required)]
        outcomes: dict[str, NetworkOutcome] = {}
        for s in specs:
            if s not in todo:
                row = existing[s.network_id]
                outcomes[s.network_id] = NetworkOutcome(
                    s.network_id,
                    s.label(),
                    "skipped",
                    level=s.level,
                    acc_sparse=row.get("acc_sparse"),
                )
        walls["plan"] = time.perf_counter() - t0
        say(
            f"Study '{config.name}': {len(specs)} networks, {len(specs) - len(todo)} already "
            f"complete, {len(todo)} to compute; output in {out}"
        )
        n_workers = workers if workers is not None else config.run.workers
        ctx = RunContext(
            out_dir=str(out.resolve()),
            settings=store.settings,
            encodings=tuple(config.export.encodings),
            metrics=resolve_metrics(config),
            export_batch_size=config.export.batch_size,
        )
        pool = executor or make_executor(
            config.run.executor,
            n_workers,
            scheduler=config.run.scheduler,
            resources=dict(config.run.resources),
        )
        interrupted = False
        _STORES[(store.settings.uri, store.settings.user, store.settings.database)] = store
        try:
            t = time.perf_counter()
            _run_dense(todo, ctx, pool, progress, say)
            walls["dense"] = time.perf_counter() - t
            t = time.perf_counter()
            _run_networks(store, todo, ctx, pool, progress, outcomes, config, run_log, run_info)
            walls["networks"] = time.perf_counter() - t
        except (KeyboardInterrupt, DatabaseError):
            # Do not wait for running networks: they are left 'writing' (never complete)
            # and the next run redoes them.
            interrupted = True
            _stop(pool)
            _write_run_log(run_log, config, outcomes, {"interrupted": True}, run=run_info)
            raise
        finally:
            if executor is None and not interrupted:
                pool.shutdown(wait=True, cancel_futures=True)
        summary = StudySummary(config.name, out, list(outcomes.values()), walls)
        t = time.perf_counter()
        try:
            _run_stability(store, specs, outcomes, out)
        except Exception as exc:  # the networks are stored; report the stability problem
            summary.analysis_error = f"stability: {type(exc).__name__}: {exc}"
        walls["stability"] = time.perf_counter() - t
        try:  # a layer of density 0 or without edges cuts the network (layer collapse)
            from prunegraph.analysis.sparsity_curves import collapse_in_store

            summary.layer_collapse = collapse_in_store(
                store, config.name, [s.network_id for s in specs]
            )
        except Exception as exc:  # the networks are stored; say the check could not run
            say(f"Layer-collapse check skipped: {type(exc).__name__}: {exc}")
        if analyses and config.analysis.run:
            t = time.perf_counter()
            try:
                summary.report = run_analyses(
                    store, config.name, config.analysis, out, outcomes=config.training.enabled
                )
            except PrunegraphError as exc:
                summary.analysis_error = str(exc)
            except Exception as exc:  # the networks are stored; report the analysis problem
                summary.analysis_error = f"{type(exc).__name__}: {exc}"
                (out / "analysis_error.txt").write_text(traceback.format_exc())
            walls["analysis"] = time.perf_counter() - t
        walls["total"] = time.perf_counter() - t0
        summary.driver_retries = count_driver_retries(driver_log, driver_log_start)
        _write_run_log(
            run_log,
            config,
            outcomes,
            {
                "seconds": walls,
                "report": str(summary.report or ""),
                "layer_collapse": summary.layer_collapse,
            },
            run={**run_info, "analysis_error": summary.analysis_error},
        )
        return summary
    finally:
        guards.close()  # release the study lock, restore the SIGTERM handler
        _STORES.pop((store.settings.uri, store.settings.user, store.settings.database), None)
        if own_store:
            store.close()
        unroute_driver_log(driver_log)


def _stop(pool: Executor) -> None:
    """Cancel pending work and end a local process pool's workers now."""
    # shutdown() forgets the worker processes: take them first.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _database_down(store: Store) -> bool:
    try:
        store.run("RETURN 1 AS ok", write=False)
    except DatabaseError:
        return True
    return False


def _run_dense(
    todo: Sequence[NetworkSpec],
    ctx: RunContext,
    pool: Executor,
    progress: bool,
    say: Callable[[str], None],
) -> None:
    """Phase 1: every missing dense baseline, in parallel, before the networks that need it."""
    needed: dict[str, NetworkSpec] = {}
    for spec in todo:
        if spec.training.enabled and spec.dense_key not in needed:
            cached = Path(ctx.out_dir) / "cache" / "dense" / f"{spec.dense_key}.pt"
            if not cached.is_file():
                needed[spec.dense_key] = spec
    if not needed:
        return
    bar = _progress(len(needed), "dense baselines", progress)
    try:
        for spec, fut in _completed(pool, run_dense_task, list(needed.values()), ctx.out_dir):
            exc = fut.exception()
            if exc is not None:  # the networks needing it fail with the same error, recorded
                say(f"dense baseline of {spec.model}/{spec.dataset}/seed={spec.seed} failed: {exc}")
            bar.update(1)
    finally:
        bar.close()


def _completed(
    pool: Executor, fn: Callable[..., Any], specs: Sequence[NetworkSpec], *args: Any
) -> Iterator[tuple[NetworkSpec, Future[Any]]]:
    """``(spec, finished future)`` pairs as tasks finish.

    A serial executor runs a task inside ``submit``, so its tasks are submitted
    one at a time (results, progress and the run log advance per network);
    other executors get every task at once and report in completion order.
    """
    if isinstance(pool, SerialExecutor):
        for spec in specs:
            yield spec, pool.submit(fn, spec, *args)
        return
    futures = {pool.submit(fn, spec, *args): spec for spec in specs}
    for fut in as_completed(futures):
        yield futures[fut], fut


def _run_networks(
    store: Store,
    todo: Sequence[NetworkSpec],
    ctx: RunContext,
    pool: Executor,
    progress: bool,
    outcomes: dict[str, NetworkOutcome],
    config: StudyConfig,
    run_log: Path,
    run: dict[str, Any] | None = None,
) -> None:
    """Phase 2: each network's pipeline; results recorded as they arrive."""
    bar = _progress(len(todo), f"networks ({config.name})", progress)
    try:
        for spec, fut in _completed(pool, run_network_task, todo, ctx):
            exc = fut.exception()
            if exc is not None:  # the worker itself died (e.g. killed, out of memory)
                outcome = NetworkOutcome(
                    spec.network_id,
                    spec.label(),
                    "failed",
                    level=spec.level,
                    error=f"{type(exc).__name__}: {exc}",
                )
            else:
                outcome = fut.result()
            outcomes[spec.network_id] = outcome
            bar.update(1)
            if outcome.status == "failed":
                bar.write(f"FAILED {spec.label()}: {outcome.error}")
            _write_run_log(run_log, config, outcomes, {"in_progress": True}, run=run)
            if (
                outcome.status == "failed"
                and (outcome.error or "").startswith("DatabaseError")
                and _database_down(store)
            ):
                # Every other network would fail the same way: stop, the next run resumes.
                raise DatabaseError(
                    f"The database stopped answering during the study ({outcome.error}). "
                    "Nothing is lost: start it again and re-run the same command to resume."
                )
    finally:
        bar.close()


# -------------------------------------------------------------------------- stability
STABILITY_GROUPS: dict[str, Callable[[NetworkSpec], Any]] = {
    "init": lambda s: (s.model, s.model_options, s.dataset, s.dataset_options,
                       s.dataset_digest, s.pruner, s.pruner_options, s.sparsity, s.training),
    "data": lambda s: (s.model, s.model_options, s.pruner, s.pruner_options, s.sparsity,
                       s.seed, s.training),
}  # fmt: skip
"""Per stability setting, the identity two networks share to be compared (seed / dataset left out)."""


def _run_stability(
    store: Store, specs: Sequence[NetworkSpec], outcomes: dict[str, NetworkOutcome], out: Path
) -> int:
    """Stability stage: ``SIMILAR`` relationships between the selection's stored networks.

    For each setting (:data:`STABILITY_GROUPS`) and each group of two or more
    complete networks, the MGE edge sets are rebuilt from the cached masks
    (and trained weights) exactly as a resumed run encodes them, compared all
    pairs at once (:func:`~prunegraph.queries.stability.similar_rows`) and
    written idempotently. Networks without a cache entry are left out.
    Returns the number of relationships written.
    """
    import numpy as np

    from prunegraph.loader.encoding import encode
    from prunegraph.queries.stability import similar_rows, write_similar

    done = [
        s
        for s in specs
        if outcomes.get(s.network_id) is not None
        and outcomes[s.network_id].status in ("complete", "skipped")
        and (out / "cache" / "networks" / f"{s.network_id}.pt").is_file()
    ]
    written = 0
    for setting, key in STABILITY_GROUPS.items():
        groups: dict[Any, list[NetworkSpec]] = {}
        for s in done:
            groups.setdefault(key(s), []).append(s)
        for members in groups.values():
            if len(members) < 2:
                continue
            graphs = {}
            for s in members:
                cached = _load_cache(out / "cache" / "networks" / f"{s.network_id}.pt")
                if cached is None:
                    continue
                model = _build(s)
                if cached.get("state_dict") is not None:
                    model.load_state_dict(cached["state_dict"])
                masks = {k: np.asarray(v, dtype=bool) for k, v in cached["masks"].items()}
                graphs[s.network_id] = encode(model, masks, s.input_shape, kind="mge")
            rows = similar_rows(graphs, {setting: dict.fromkeys(graphs, 0)})
            written += write_similar(store, rows)
    return written


# --------------------------------------------------------------------------- analyses
def _topology_report(store: Store, study: str, report_dir: Path) -> Path:
    """Ramanujan metrics vs layer density (Cunegatti et al. 2024, section 4.1) for a study without accuracies."""
    import html

    from prunegraph.analysis.features import FeatureTable, features_from_store
    from prunegraph.analysis.ramanujan import density_correlations, plot_density_profiles
    from prunegraph.analysis.report import figure_to_base64

    networks, layers = features_from_store(store, study)
    report_dir.mkdir(parents=True, exist_ok=True)
    networks.to_csv(report_dir / "features.csv", index=False)
    table = FeatureTable(data=networks, layers=layers)
    correlations = density_correlations(table)
    correlations.to_csv(report_dir / "ramanujan_correlations.csv", index=False)
    summary = correlations.pivot_table(
        index="metric", columns="sparsity", values="r", aggfunc="mean"
    )
    summary.to_csv(report_dir / "ramanujan_by_sparsity.csv")
    parts = [
        f"<h1>prunegraph study '{html.escape(study)}': topology without accuracies</h1>",
        f"<p>{len(networks)} networks, {len(layers)} layers. Pearson r between each layer's "
        "density and its Ramanujan metrics, averaged over architectures (Cunegatti et al. 2024, section "
        "4.1 / Appendix D).</p>",
        "<h2>Ramanujan metrics vs layer density</h2>",
        summary.round(3).to_html(),
    ]
    for sparsity in sorted(networks["sparsity"].dropna().unique()):
        figure = plot_density_profiles(table, sparsity=float(sparsity))
        parts.append(f"<h3>sparsity {sparsity:g}</h3>")
        parts.append(f'<img src="data:image/png;base64,{figure_to_base64(figure)}">')
    report = report_dir / "report.html"
    report.write_text("<html><body>" + "\n".join(parts) + "</body></html>")
    return report


_SECTIONS = {
    "regress": "regression",
    "importance": "importance",
    "classify": "classification",
    "rank": "ranking",
    "ramanujan": "ramanujan",
}


def run_analyses(
    store: Store, study: str, settings: AnalysisSettings, out: Path, *, outcomes: bool = True
) -> Path:
    """Feature table of the study from the store, then the report; returns ``report.html``.

    Writes ``<out>/report/`` (HTML plus one CSV per table, and ``features.csv``,
    the wide feature table it analysed). A study without accuracies
    (``outcomes=False``, e.g. pruning at initialisation without training) gets
    the analyses that need none: the Ramanujan-vs-layer-density report.
    """
    from prunegraph.analysis.cells import report_jobs, start_workers
    from prunegraph.analysis.features import load_features
    from prunegraph.analysis.regression import DEFAULT_FEATURE_SETS

    if not outcomes:
        return _topology_report(store, study, out / "report")

    cache = out / "cache"  # trained weights: the `weights` feature set (Unterthiner et al. 2020)
    # The report's worker processes import the analyses while the table is read: their
    # number from the networks in the cache (a hint; the report decides on the table).
    cached = len(list((cache / "networks").glob("*.pt"))) if (cache / "networks").is_dir() else 0
    start_workers(report_jobs(cached, len(settings.feature_sets or DEFAULT_FEATURE_SETS)))
    from prunegraph.analysis.report import REPORT_VERSION, write_report

    table = load_features(
        store,
        study=study,
        normalisation=settings.normalize or "raw",
        weights=cache if (cache / "networks").is_dir() else None,
    )
    report_dir = out / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    frame = getattr(table, "data", None)
    features_csv = frame.to_csv(index=False) if frame is not None else ""
    pairs = store.query_df("similar_pairs", study=study)  # stability section (SIMILAR pairs)
    # The report is a pure function of the feature table and the analysis settings: when
    # neither changed since the last report, keep it (a re-run of a complete study is fast).
    key = config_hash(
        {
            "features": hashlib.sha256(features_csv.encode()).hexdigest(),
            "stability": hashlib.sha256(pairs.to_csv(index=False).encode()).hexdigest(),
            "settings": asdict(settings),
            "versions": code_versions(),
            "report": REPORT_VERSION,  # a new report layout replaces a cached report
        }
    )
    stamp, report = report_dir / ".inputs", report_dir / "report.html"
    if report.is_file() and stamp.is_file() and stamp.read_text() == key:
        return report
    stamp.unlink(missing_ok=True)
    (report_dir / "features.csv").write_text(features_csv)
    optional: dict[str, Any] = {}
    if settings.regressors is not None:
        optional["regressors"] = settings.regressors
    if settings.feature_sets is not None:
        optional["feature_sets"] = settings.feature_sets
    written = Path(
        write_report(
            table,
            report_dir,
            sections=tuple(_SECTIONS[a] for a in settings.run),
            protocol=settings.cv,
            n_splits=settings.n_splits,
            n_repeats=settings.n_repeats,
            title=f"prunegraph study '{study}'",
            stability=pairs,
            **optional,
        )
    )
    stamp.write_text(key)
    return written


def replace_level(spec: NetworkSpec, level: str) -> NetworkSpec:
    return replace(spec, level=level)
