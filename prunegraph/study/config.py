"""Study definitions: a TOML grid of sparse networks, parsed, validated and expanded.

A study is the Cartesian product ``models x datasets x pruners x sparsities x
seeds`` plus the settings shared by every network of the grid (per-pruner
options, training, storage level, encodings, metrics, analyses, output
folder). :func:`load_study` reads the TOML file into a frozen
:class:`StudyConfig`; :func:`expand` turns it into one :class:`NetworkSpec`
per network, in a deterministic order.

Identity
--------
Each network's ``network_id`` (16 lowercase hex characters) is the first 64
bits of ``sha256`` over the canonical JSON (sorted keys, no whitespace) of
everything that determines the sparse network and its accuracies::

    {study, model, model_options, dataset, dataset_options, input_shape,
     num_classes, pruner, pruner_options, sparsity, seed, training,
     versions: {pipeline, torch}}

The study name is part of the identity so that two studies never share (or
delete) each other's networks. Storage settings (level, encodings, metrics)
are *not* part of it: changing them re-exports or recomputes metrics of the
same network instead of creating a new one. ``PIPELINE_VERSION`` is bumped
whenever a change in prunegraph alters the networks it produces (init,
pruning or training semantics); the torch ``major.minor`` enters because
initialisation and training results depend on it.

Study file (TOML)
-----------------
::

    [study]
    name = "demo"                 # required; letters, digits, _ . -
    description = "..."
    output = "results/demo"       # report + caches; relative to the CWD

    [grid]
    models = ["mlp", "conv2"]
    datasets = ["digits"]
    pruners = ["random", "snip"]  # or "applicable": every registered pruner that applies
    sparsities = [0.5, 0.9]       # each in (0, 1)
    seeds = [0, 1]
    [grid.sweep.resource]         # optional: options of a listed pruner swept as a grid axis
    lam = [0.0, 0.01, 0.1]        # one network per value (see "Sweeps" below)

    [models.conv2]                # keyword options of build_model (optional)
    [datasets.synthetic]          # keyword options of load_dataset (optional)
    input_shape = [3, 32, 32]
    num_classes = 10
    [pruners.synflow]             # keyword options of prune (optional)
    iterations = 20

    [training]                    # omit or enabled = false: no training, no accuracies
    enabled = true
    epochs = 8
    finetune_epochs = 4           # magnitude pruners fine-tune the trained dense model
    lr = 0.05
    optimizer = "sgd"
    momentum = 0.9
    weight_decay = 0.0005
    schedule = "cosine"           # cosine | step | multistep (with milestones) | none
    batch_size = 64
    # milestones = [80, 120]      # multistep: epochs after which lr is divided by 10
    # augment = "crop_flip"       # none | flip | crop_flip (pad H/8, random crop, h-flip)
    # device = "auto"             # auto | cpu | cuda | cuda:N (not part of network ids)
    # amp = "bf16"                # none | bf16 autocast

    [export]
    level = "summary"             # full | rolled | summary
    encodings = ["mge", "rolled", "rolled_channel"]
    full = [{model = "conv2", sparsity = 0.9, seed = 0}]   # these networks are stored at 'full'

    [metrics]
    names = "all"                 # or a list of metric names
    exclude = ["pca_elongation"]  # leave out slow or unwanted metrics

    [analysis]
    run = ["regress", "importance", "classify", "rank", "ramanujan"]
    cv = "grouped"                # grouped | kfold (the papers' protocol)
    n_splits = 5
    n_repeats = 5

    [run]
    workers = 2
    executor = "process"          # process | serial | dask
    # executor "dask" only: a running scheduler (default: a local cluster of `workers`
    # processes) and the resources each network needs (workers started with --resources)
    # scheduler = "tcp://host:8786"
    # resources = { GPU = 1 }

Sweeps
------
``[grid.sweep.<pruner>]`` maps options of a pruner listed in ``[grid] pruners``
to a non-empty list of values; each value (each combination, when several
options of one pruner are swept) is a variant of that pruner, expanded like
another grid axis between pruner and sparsity. A variant's values are merged
into the pruner's ``[pruners.<name>]`` options, so they are part of its
networks' identity (``pruner_options``), and the label shows them
(``dagnet/digits/resource[lam=0.01]/s=0.5/seed=0``). An option may not be
both swept and set in ``[pruners.<name>]``; values are checked like options.
Example: ``examples/janik-nowak-resources.toml`` sweeps the weight ``lam`` of
the L1 resource loss of the ``resource`` pruner (Janik and Nowak).
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prunegraph.errors import UnknownNameError, ValidationError
from prunegraph.loader.data import identity_options
from prunegraph.loader.training import TrainingSettings
from prunegraph.queries.data_model import GRAPH_KINDS
from prunegraph.queries.data_model import LEVELS as STORAGE_LEVELS

PIPELINE_VERSION = 1
"""Bumped when prunegraph changes the networks it produces (see module docstring)."""

LEVELS = tuple(reversed(STORAGE_LEVELS))  # the storage levels, listed highest first
ENCODINGS = GRAPH_KINDS  # the graph families
ANALYSES = ("regress", "importance", "classify", "rank", "ramanujan")
CV_PROTOCOLS = ("grouped", "kfold")  # kfold: the papers' plain k-fold
EXECUTORS = ("process", "serial", "dask")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "step", "multistep", "none")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
_ID_RE = re.compile(r"^[0-9a-f]{16}$")

_SECTIONS = {
    "study": ("name", "description", "output"),
    "grid": ("models", "datasets", "pruners", "sparsities", "seeds", "sweep"),
    "training": ("enabled", "finetune_epochs", *TrainingSettings.names()),
    "export": ("level", "encodings", "full", "batch_size"),
    "metrics": ("names", "exclude"),
    "analysis": ("run", "cv", "n_splits", "n_repeats", "normalize", "regressors", "feature_sets"),
    "run": ("workers", "executor", "scheduler", "resources"),
    "models": None,  # free tables: name -> options
    "datasets": None,
    "pruners": None,
}
_SELECTOR_KEYS = ("model", "dataset", "pruner", "sparsity", "seed")


# --------------------------------------------------------------------------- dataclasses
@dataclass(frozen=True)
class StudyTraining(TrainingSettings):
    """The ``[training]`` table: the training settings plus when and how long to train.

    The settings themselves (``epochs``, ``lr``, ``batch_size``, ``optimizer``,
    ``momentum``, ``weight_decay``, ``schedule``) are those of
    :class:`~prunegraph.loader.training.TrainingSettings`, with study defaults
    (10 epochs, weight decay 5e-4). ``enabled`` says whether networks are
    trained at all; ``finetune_epochs`` applies to pruners of mode ``trained``
    (they prune the trained dense model, which is then fine-tuned); pruners of
    mode ``init`` and ``rewind`` train their sparse network for ``epochs``, and
    pruners that train (``Pruner.trains``) receive :meth:`settings`.
    """

    epochs: int = 10
    weight_decay: float = 5e-4
    enabled: bool = False
    finetune_epochs: int = 5

    def settings(self, *, epochs: int | None = None) -> TrainingSettings:
        """The training settings alone (``epochs`` overridden when given)."""
        values: dict[str, Any] = {name: getattr(self, name) for name in TrainingSettings.names()}
        if epochs is not None:
            values["epochs"] = epochs
        return TrainingSettings(**values)


@dataclass(frozen=True)
class ExportSettings:
    level: str = "summary"
    encodings: tuple[str, ...] = ENCODINGS
    full: tuple[tuple[tuple[str, Any], ...], ...] = ()
    batch_size: int = 5_000  # the streaming exporter's measured optimum (docs/store.md)


@dataclass(frozen=True)
class AnalysisSettings:
    run: tuple[str, ...] = ANALYSES
    cv: str = "grouped"
    n_splits: int = 5
    n_repeats: int = 5
    normalize: str | None = None
    regressors: tuple[str, ...] | None = None  # None: the analysis layer's default panel
    feature_sets: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RunSettings:
    workers: int = 1
    executor: str = "process"
    scheduler: str | None = None  # executor "dask": address of a running scheduler
    resources: tuple[tuple[str, float], ...] = ()  # executor "dask": per-task resources


@dataclass(frozen=True)
class StudyConfig:
    """A parsed, validated study (see the module docstring for the file format)."""

    name: str
    models: tuple[str, ...]
    datasets: tuple[str, ...]
    pruners: tuple[str, ...]
    sparsities: tuple[float, ...]
    seeds: tuple[int, ...]
    description: str = ""
    output: Path = Path("results")
    model_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    dataset_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    pruner_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    #: ``[grid.sweep]``: pruner -> ((option, (value, ...)), ...), in file order
    sweeps: tuple[tuple[str, tuple[tuple[str, tuple[Any, ...]], ...]], ...] = ()
    training: StudyTraining = field(default_factory=StudyTraining)
    export: ExportSettings = field(default_factory=ExportSettings)
    metrics: tuple[str, ...] | None = None  # None = every metric
    metrics_exclude: tuple[str, ...] = ()
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    run: RunSettings = field(default_factory=RunSettings)
    source: Path | None = None

    def options_for(self, kind: str, name: str) -> dict[str, Any]:
        table = {"model": self.model_options, "dataset": self.dataset_options}.get(
            kind, self.pruner_options
        )
        return dict(dict(table).get(name, ()))

    def variants(self, pruner: str) -> list[tuple[tuple[str, Any], ...]]:
        """The swept option values of ``pruner``, one tuple per variant (``[()]``: not swept)."""
        swept = dict(self.sweeps).get(pruner, ())
        if not swept:
            return [()]
        names = [name for name, _ in swept]
        return [
            tuple(zip(names, values, strict=True))
            for values in itertools.product(*(values for _, values in swept))
        ]

    @property
    def n_networks(self) -> int:
        return (
            len(self.models)
            * len(self.datasets)
            * sum(len(self.variants(p)) for p in self.pruners)
            * len(self.sparsities)
            * len(self.seeds)
        )


@dataclass(frozen=True)
class NetworkSpec:
    """Everything that defines one network of a study (hashable, picklable).

    ``input_shape``/``num_classes`` are filled by :func:`expand` from the
    dataset (``None`` until known).
    """

    study: str
    model: str
    dataset: str
    pruner: str
    sparsity: float
    seed: int
    model_options: tuple[tuple[str, Any], ...] = ()
    dataset_options: tuple[tuple[str, Any], ...] = ()
    pruner_options: tuple[tuple[str, Any], ...] = ()
    input_shape: tuple[int, ...] | None = None
    num_classes: int | None = None
    training: StudyTraining = field(default_factory=StudyTraining)
    level: str = "summary"
    dataset_digest: str | None = None
    #: the ``[grid.sweep]`` values of this variant (already in ``pruner_options``; shown in labels)
    sweep: tuple[tuple[str, Any], ...] = ()

    def identity(self) -> dict[str, Any]:
        """The JSON-able configuration hashed into :attr:`network_id`.

        A dataset given as a file also contributes its content digest
        (:mod:`prunegraph.study.digests`), so editing the file makes new
        networks and a new dense baseline; named datasets have none.
        """
        ident = self._identity()
        if self.dataset_digest:
            ident["dataset_digest"] = self.dataset_digest
        return ident

    def _identity(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "model": self.model,
            "model_options": dict(self.model_options),
            "dataset": self.dataset,
            "dataset_options": identity_options(self.dataset, dict(self.dataset_options)),
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "num_classes": self.num_classes,
            "pruner": self.pruner,
            "pruner_options": dict(self.pruner_options),
            "sparsity": self.sparsity,
            "seed": self.seed,
            # where training runs (device) is not what it computes: left out
            "training": self.training.identity() if self.training.enabled else None,
            "versions": code_versions(),
        }

    @property
    def network_id(self) -> str:
        return config_hash(self.identity())

    @property
    def dense_key(self) -> str:
        """Identity of the dense baseline shared by every pruner and sparsity."""
        ident = self.identity()
        for key in ("study", "pruner", "pruner_options", "sparsity"):
            ident.pop(key)
        return config_hash(ident)

    def label(self) -> str:
        pruner = self.pruner
        if self.sweep:
            pruner += (
                "["
                + ",".join(
                    f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.sweep
                )
                + "]"
            )
        return f"{self.model}/{self.dataset}/{pruner}/s={self.sparsity:g}/seed={self.seed}"

    def config_json(self) -> str:
        ident = self.identity()
        ident["network_id"] = config_hash(self.identity())
        ident["level"] = self.level
        return canonical_json(ident)


# --------------------------------------------------------------------------- identity
#: Sparsities closer than this are one sparsity (no realistic layer tells them apart).
SPARSITY_RESOLUTION = 1e-9


def canonical_sparsities(values: Sequence[float]) -> tuple[float, ...]:
    """Sparsities rounded to 10 decimals (their identity); near-duplicates refused.

    ``0.5`` and ``0.50000000001`` would prune every realistic layer to the same
    masks yet hash to two networks: they are refused, naming both, and every
    value is stored rounded, so the same sparsity always has the same identity.
    """
    ordered = sorted(enumerate(values), key=lambda kv: kv[1])
    for (i, a), (j, b) in itertools.pairwise(ordered):
        if b - a < SPARSITY_RESOLUTION:
            raise ValidationError(
                f"[grid] sparsities[{i}] = {a!r} and sparsities[{j}] = {b!r} are the same "
                f"sparsity (closer than {SPARSITY_RESOLUTION:g}): list it once."
            )
    return tuple(round(float(v), 10) for v in values)


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal configurations, equal strings."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_jsonable
    )


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, tuple | set | frozenset):
        return list(obj)
    if hasattr(obj, "item"):  # numpy scalar
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def config_hash(obj: Any) -> str:
    """First 16 hex characters of ``sha256(canonical_json(obj))``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:16]


_VERSIONS: dict[str, Any] | None = None


def code_versions() -> dict[str, Any]:
    """Versions that change what a configuration produces (see module docstring)."""
    global _VERSIONS
    if _VERSIONS is None:
        import torch

        torch_version = ".".join(torch.__version__.split("+")[0].split(".")[:2])
        _VERSIONS = {"pipeline": PIPELINE_VERSION, "torch": torch_version}
    return dict(_VERSIONS)


def is_network_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID_RE.match(value))


# --------------------------------------------------------------------------- parsing
def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _check_keys(where: str, table: Mapping[str, Any], allowed: Sequence[str]) -> None:
    for key in table:
        if key not in allowed:
            raise ValidationError(
                f"Unknown key '{key}' in {where}.{_did_you_mean(key, allowed)} "
                f"Allowed keys: {', '.join(allowed)}."
            )


def _table(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{where} must be a table. Got {type(value).__name__} instead.")
    return value


def _str_list(where: str, value: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"{where} must be a list of strings. Got {value!r} instead.")
    if not value and not allow_empty:
        raise ValidationError(f"{where} must not be empty.")
    if len(set(value)) != len(value):
        dup = sorted({v for v in value if value.count(v) > 1})
        raise ValidationError(f"{where} lists {', '.join(dup)} more than once.")
    return tuple(value)


def _number(
    where: str,
    value: Any,
    kind: type,
    *,
    low: float,
    high: float = math.inf,
    open_low: bool = False,
    open_high: bool = False,
) -> Any:
    ok_type = (
        isinstance(value, int) and not isinstance(value, bool)
        if kind is int
        else isinstance(value, int | float) and not isinstance(value, bool)
    )
    inside = (
        ok_type
        and (value > low if open_low else value >= low)
        and (value < high if open_high else value <= high)
    )
    if not inside:
        lo = "(" if open_low else "["
        hi = ")" if open_high else "]"
        hi_val = "inf" if math.isinf(high) else f"{high:g}"
        raise ValidationError(
            f"{where} must be {'an int' if kind is int else 'a float'} in the range "
            f"{lo}{low:g}, {hi_val}{hi}. Got {value!r} instead."
        )
    return kind(value)


def _choice(where: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        hint = _did_you_mean(value, choices) if isinstance(value, str) else ""
        raise ValidationError(
            f"{where} must be one of {', '.join(choices)}. Got {value!r} instead.{hint}"
        )
    return value


def _options(where: str, value: Any) -> tuple[tuple[str, Any], ...]:
    table = _table(where, value)
    for key, val in table.items():
        try:
            canonical_json(val)
        except (TypeError, ValueError):
            raise ValidationError(f"{where}.{key} must be a plain TOML value.") from None
    return tuple(sorted((k, _freeze(v)) for k, v in table.items()))


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def parse_study(
    data: Mapping[str, Any],
    *,
    source: Path | None = None,
    check_names: bool = True,
) -> StudyConfig:
    """Validate a study mapping (the parsed TOML) into a :class:`StudyConfig`.

    Parameters
    ----------
    data : mapping
        The TOML document as a dict.
    source : Path, optional
        The file it came from (named in messages, stored on the config).
    check_names : bool
        Check model, pruner, dataset and metric names against their
        registries, and each pruner's applicability to each model.

    Raises
    ------
    ValidationError
        On any unknown key (with a did-you-mean), wrong type or value.
    UnknownNameError
        On an unknown model, pruner or metric name.
    """
    where = f"study file {source}" if source else "study"
    _check_keys(where, data, list(_SECTIONS))
    study = _table("[study]", data.get("study", {}))
    _check_keys("[study]", study, _SECTIONS["study"])  # type: ignore[arg-type]
    name = study.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError(
            "[study] name is required: 1-100 letters, digits, '_', '.' or '-' (it names the "
            f"Study node and the output folder). Got {name!r} instead."
        )
    description = study.get("description", "")
    if not isinstance(description, str):
        raise ValidationError("[study] description must be a string.")
    output = study.get("output", f"results/{name}")
    if not isinstance(output, str) or not output:
        raise ValidationError(f"[study] output must be a folder path. Got {output!r} instead.")

    grid = _table("[grid]", data.get("grid", {}))
    _check_keys("[grid]", grid, _SECTIONS["grid"])  # type: ignore[arg-type]
    for key in _SECTIONS["grid"]:  # type: ignore[union-attr]
        if key not in grid and key != "sweep":  # the only optional key
            raise ValidationError(f"[grid] needs '{key}'.")
    models = _str_list("[grid] models", grid["models"])
    datasets = _str_list("[grid] datasets", grid["datasets"])
    pruners_raw = grid["pruners"]
    if pruners_raw == "applicable":
        pruners: tuple[str, ...] = ("applicable",)
    else:
        pruners = _str_list("[grid] pruners", pruners_raw)
    if not isinstance(grid["sparsities"], list) or not grid["sparsities"]:
        raise ValidationError("[grid] sparsities must be a non-empty list of floats in (0, 1).")
    sparsities = tuple(
        _number(
            f"[grid] sparsities[{i}]", s, float, low=0.0, high=1.0, open_low=True, open_high=True
        )
        for i, s in enumerate(grid["sparsities"])
    )
    if len(set(sparsities)) != len(sparsities):
        raise ValidationError("[grid] sparsities lists a value more than once.")
    sparsities = canonical_sparsities(sparsities)
    if not isinstance(grid["seeds"], list) or not grid["seeds"]:
        raise ValidationError("[grid] seeds must be a non-empty list of non-negative ints.")
    seeds = tuple(
        _number(f"[grid] seeds[{i}]", s, int, low=0, high=2**32 - 1)
        for i, s in enumerate(grid["seeds"])
    )
    if len(set(seeds)) != len(seeds):
        raise ValidationError("[grid] seeds lists a value more than once.")

    option_tables = {}
    for kind, listed in (("models", models), ("datasets", datasets), ("pruners", pruners)):
        table = _table(f"[{kind}]", data.get(kind, {}))
        parsed = {}
        for key, value in table.items():
            if key not in listed and listed != ("applicable",):
                raise ValidationError(
                    f"[{kind}.{key}] gives options for '{key}', which [grid] {kind} does not "
                    f"list.{_did_you_mean(key, listed)}"
                )
            parsed[key] = _options(f"[{kind}.{key}]", value)
        option_tables[kind] = tuple(sorted(parsed.items()))
    sweeps = _parse_sweep(grid.get("sweep", {}), pruners, dict(option_tables["pruners"]))

    training = _parse_training(data.get("training", {}))
    export = _parse_export(data.get("export", {}), models, datasets, pruners)
    metrics_table = _table("[metrics]", data.get("metrics", {}))
    _check_keys("[metrics]", metrics_table, _SECTIONS["metrics"])  # type: ignore[arg-type]
    names = metrics_table.get("names", "all")
    metrics = None if names == "all" else _str_list("[metrics] names", names)
    metrics_exclude = _str_list(
        "[metrics] exclude", metrics_table.get("exclude", []), allow_empty=True
    )
    analysis = _parse_analysis(data.get("analysis", {}))
    run_table = _table("[run]", data.get("run", {}))
    _check_keys("[run]", run_table, _SECTIONS["run"])  # type: ignore[arg-type]
    run = RunSettings(
        workers=_number("[run] workers", run_table.get("workers", 1), int, low=1, high=256),
        executor=_choice("[run] executor", run_table.get("executor", "process"), EXECUTORS),
        **_parse_dask(run_table),
    )
    config = StudyConfig(
        name=name,
        description=description,
        output=Path(output),
        models=models,
        datasets=datasets,
        pruners=pruners,
        sparsities=sparsities,
        seeds=seeds,
        model_options=option_tables["models"],
        dataset_options=option_tables["datasets"],
        pruner_options=option_tables["pruners"],
        sweeps=sweeps,
        training=training,
        export=export,
        metrics=metrics,
        metrics_exclude=metrics_exclude,
        analysis=analysis,
        run=run,
        source=source,
    )
    if check_names:
        config = check_registries(config)
        from prunegraph.study.preflight import preflight

        preflight(config)  # option types, [analysis], selectors, memory, input shapes
        _check_sweep_types(config)
    return config


def _check_sweep_types(config: StudyConfig) -> None:
    """Each ``[grid.sweep]`` value has a type its pruner option's default allows."""
    from prunegraph.loader.pruning import PRUNERS
    from prunegraph.study.preflight import check_value_type

    for pruner, swept in config.sweeps:
        defaults = PRUNERS.get(pruner).defaults
        for key, values in swept:
            for i, value in enumerate(values):
                check_value_type(f"[grid.sweep.{pruner}]", f"{key}[{i}]", value, defaults.get(key))


def _parse_sweep(
    value: Any, pruners: Sequence[str], pruner_options: Mapping[str, Any]
) -> tuple[tuple[str, tuple[tuple[str, tuple[Any, ...]], ...]], ...]:
    """``[grid.sweep.<pruner>]``: option -> non-empty list of distinct plain values."""
    table = _table("[grid] sweep", value)
    out = []
    for pruner, options in table.items():
        where = f"[grid.sweep.{pruner}]"
        if pruner not in pruners and pruners != ("applicable",):
            raise ValidationError(
                f"{where} sweeps options of '{pruner}', which [grid] pruners does not list."
                f"{_did_you_mean(pruner, pruners)}"
            )
        options = _table(where, options)
        if not options:
            raise ValidationError(f"{where} is empty: name an option and its list of values.")
        fixed = dict(pruner_options.get(pruner, ()))
        swept = []
        for key, values in options.items():
            if key in fixed:
                raise ValidationError(
                    f"{where} sweeps '{key}', which [pruners.{pruner}] also sets: keep one."
                )
            if not isinstance(values, list) or not values:
                raise ValidationError(
                    f"{where} {key} must be a non-empty list of values. Got {values!r} instead."
                )
            _options(where, {f"{key}[{i}]": v for i, v in enumerate(values)})  # plain values
            items = tuple(_freeze(v) for v in values)
            if len({canonical_json(v) for v in items}) != len(items):
                raise ValidationError(f"{where} {key} lists a value more than once.")
            swept.append((key, items))
        out.append((pruner, tuple(swept)))
    return tuple(out)


def _parse_dask(table: dict[str, Any]) -> dict[str, Any]:
    """``[run] scheduler`` and ``resources`` (executor ``dask`` only)."""
    out: dict[str, Any] = {}
    executor = table.get("executor", "process")
    for key in ("scheduler", "resources"):
        if key in table and executor != "dask":
            raise ValidationError(f"[run] {key} applies to executor = 'dask'. Got '{executor}'.")
    scheduler = table.get("scheduler")
    if scheduler is not None:
        if not isinstance(scheduler, str) or not re.match(r"^[a-z+]+://\S+$", scheduler):
            raise ValidationError(
                f"[run] scheduler must be an address such as 'tcp://host:8786'. Got {scheduler!r}."
            )
        out["scheduler"] = scheduler
    resources = table.get("resources", {})
    if not isinstance(resources, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and v > 0
        for k, v in resources.items()
    ):
        raise ValidationError(
            "[run] resources must be a table of positive numbers, e.g. resources = { GPU = 1 }. "
            f"Got {resources!r}."
        )
    if resources:
        out["resources"] = tuple(sorted((k, float(v)) for k, v in resources.items()))
    return out


def _parse_training(value: Any) -> StudyTraining:
    table = _table("[training]", value)
    _check_keys("[training]", table, _SECTIONS["training"])  # type: ignore[arg-type]
    enabled = table.get("enabled", bool(table))
    if not isinstance(enabled, bool):
        raise ValidationError(f"[training] enabled must be true or false. Got {enabled!r}.")
    d = StudyTraining()
    return StudyTraining(
        enabled=enabled,
        epochs=_number("[training] epochs", table.get("epochs", d.epochs), int, low=1, high=10_000),
        finetune_epochs=_number(
            "[training] finetune_epochs",
            table.get("finetune_epochs", d.finetune_epochs),
            int,
            low=0,
            high=10_000,
        ),
        lr=_number(
            "[training] lr", table.get("lr", d.lr), float, low=0.0, high=10.0, open_low=True
        ),
        optimizer=_choice("[training] optimizer", table.get("optimizer", d.optimizer), OPTIMIZERS),
        momentum=_number(
            "[training] momentum",
            table.get("momentum", d.momentum),
            float,
            low=0.0,
            high=1.0,
            open_high=True,
        ),
        weight_decay=_number(
            "[training] weight_decay",
            table.get("weight_decay", d.weight_decay),
            float,
            low=0.0,
            high=1.0,
        ),
        schedule=_choice("[training] schedule", table.get("schedule", d.schedule), SCHEDULES),
        batch_size=_number(
            "[training] batch_size",
            table.get("batch_size", d.batch_size),
            int,
            low=1,
            high=1_000_000,
        ),
        # milestones, augment, device, amp, compile: validated by TrainingSettings
        **{
            k: table[k] for k in ("milestones", "augment", "device", "amp", "compile") if k in table
        },
    )


def _parse_export(
    value: Any, models: Sequence[str], datasets: Sequence[str], pruners: Sequence[str]
) -> ExportSettings:
    table = _table("[export]", value)
    _check_keys("[export]", table, _SECTIONS["export"])  # type: ignore[arg-type]
    level = _choice("[export] level", table.get("level", "summary"), LEVELS)
    encodings = _str_list("[export] encodings", table.get("encodings", list(ENCODINGS)))
    for enc in encodings:
        _choice("[export] encodings entry", enc, ENCODINGS)
    full_raw = table.get("full", [])
    if not isinstance(full_raw, list):
        raise ValidationError("[export] full must be a list of tables like {model = 'conv6'}.")
    selectors = []
    for i, sel in enumerate(full_raw):
        sel = _table(f"[export] full[{i}]", sel)
        _check_keys(f"[export] full[{i}]", sel, _SELECTOR_KEYS)
        if not sel:
            raise ValidationError(f"[export] full[{i}] is empty: it would select every network.")
        for key, listed in (("model", models), ("dataset", datasets), ("pruner", pruners)):
            if key in sel and listed != ("applicable",) and sel[key] not in listed:
                raise ValidationError(
                    f"[export] full[{i}] selects {key} '{sel[key]}', which [grid] does not list."
                    f"{_did_you_mean(str(sel[key]), listed)}"
                )
        selectors.append(tuple(sorted(sel.items())))
    batch = _number(
        "[export] batch_size", table.get("batch_size", 5_000), int, low=1, high=10_000_000
    )
    return ExportSettings(level=level, encodings=encodings, full=tuple(selectors), batch_size=batch)


def _parse_analysis(value: Any) -> AnalysisSettings:
    table = _table("[analysis]", value)
    _check_keys("[analysis]", table, _SECTIONS["analysis"])  # type: ignore[arg-type]
    run = _str_list("[analysis] run", table.get("run", list(ANALYSES)), allow_empty=True)
    for item in run:
        _choice("[analysis] run entry", item, ANALYSES)
    normalize = table.get("normalize")
    if normalize is not None and not isinstance(normalize, str):
        raise ValidationError("[analysis] normalize must be a string (e.g. 'paper').")
    return AnalysisSettings(
        run=run,
        cv=_choice("[analysis] cv", table.get("cv", "grouped"), CV_PROTOCOLS),
        n_splits=_number("[analysis] n_splits", table.get("n_splits", 5), int, low=2, high=100),
        n_repeats=_number("[analysis] n_repeats", table.get("n_repeats", 5), int, low=1, high=1000),
        normalize=normalize,
        regressors=_str_list("[analysis] regressors", table["regressors"])
        if "regressors" in table
        else None,
        feature_sets=_str_list("[analysis] feature_sets", table["feature_sets"])
        if "feature_sets" in table
        else None,
    )


def load_study(path: str | Path, *, check_names: bool = True) -> StudyConfig:
    """Read and validate a study TOML file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"Study file {path} does not exist.")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"Study file {path} is not valid TOML: {exc}") from None
    return parse_study(data, source=path, check_names=check_names)


# --------------------------------------------------------------------------- registries
@dataclass(frozen=True)
class Registries:
    """The names a study may use, and how to tell whether a pruner applies to a model.

    ``applies(pruner, model, dataset)`` returns None when it applies, else the reason.
    """

    models: Sequence[str]
    pruners: Sequence[str]
    datasets: Callable[[str], bool] | None = None
    metrics: Sequence[str] | None = None
    applies: Callable[[str, str, str], str | None] | None = None
    pruner_options: Callable[[str], Sequence[str] | None] | None = None


def default_registries() -> Registries:
    """Registries of the installed loader (models, pruners) and metric engine."""
    from prunegraph.loader.models import MODELS
    from prunegraph.loader.pruning import PRUNERS
    from prunegraph.queries.metrics import METRICS  # importing it registers every metric

    return Registries(
        models=MODELS.names(),
        pruners=PRUNERS.names(),
        metrics=[name for name, spec in METRICS.items() if not spec.pairwise],
        applies=_pruner_applies,
        pruner_options=lambda name: sorted(PRUNERS.get(name).defaults),
    )


def _pruner_applies(pruner: str, model: str, dataset: str) -> str | None:
    """Why ``pruner`` cannot prune ``model`` on ``dataset`` (None if it can).

    Each registered pruner declares the models it applies to
    (:attr:`~prunegraph.loader.pruning.Pruner.models`).
    """
    from prunegraph.loader.pruning import PRUNERS

    return PRUNERS.get(pruner).applies_to(model)


def check_registries(config: StudyConfig, registries: Registries | None = None) -> StudyConfig:
    """Check names against the registries; resolve ``pruners = "applicable"``.

    An explicitly listed pruner that cannot prune a listed model is an error
    naming the pair and the reason; with ``"applicable"`` such pairs are
    dropped from the grid instead (see :func:`expand`).
    """
    reg = registries or default_registries()
    for model in config.models:
        if model not in reg.models:
            raise UnknownNameError("model", model, reg.models)
    if config.pruners == ("applicable",):
        config = replace(config, pruners=tuple(reg.pruners))
        explicit = False
    else:
        explicit = True
        for pruner in config.pruners:
            if pruner not in reg.pruners:
                raise UnknownNameError("pruner", pruner, reg.pruners)
    if reg.pruner_options is not None:
        for pruner, options in config.pruner_options:
            if pruner not in config.pruners:
                continue
            allowed = reg.pruner_options(pruner)
            if allowed is None:
                continue
            for key, _ in options:
                if key not in allowed:
                    raise ValidationError(
                        f"Unknown option '{key}' in [pruners.{pruner}].{_did_you_mean(key, allowed)} "
                        f"Options of '{pruner}': {', '.join(allowed) or 'none'}."
                    )
    for pruner, swept in config.sweeps:
        if pruner not in config.pruners:
            raise ValidationError(
                f"[grid.sweep.{pruner}] sweeps options of '{pruner}', which is not a pruner of "
                f"the grid.{_did_you_mean(pruner, config.pruners)}"
            )
        allowed = reg.pruner_options(pruner) if reg.pruner_options is not None else None
        for key, _ in swept:
            if allowed is not None and key not in allowed:
                raise ValidationError(
                    f"Unknown option '{key}' in [grid.sweep.{pruner}].{_did_you_mean(key, allowed)} "
                    f"Options of '{pruner}': {', '.join(allowed) or 'none'}."
                )
    if reg.metrics is not None:
        for metric in (*(config.metrics or ()), *config.metrics_exclude):
            if metric not in reg.metrics:
                raise UnknownNameError("metric", metric, reg.metrics)
    if explicit and reg.applies is not None:
        problems = []
        for model, dataset, pruner in itertools.product(
            config.models, config.datasets, config.pruners
        ):
            reason = reg.applies(pruner, model, dataset)
            if reason:
                problems.append(f"{pruner} x {model} on {dataset}: {reason}")
        if problems:
            raise ValidationError(
                "These pruners do not apply to these models (remove them from [grid] or use "
                'pruners = "applicable"): ' + "; ".join(problems) + "."
            )
    return config


# --------------------------------------------------------------------------- expansion
def _selected(spec: NetworkSpec, selector: tuple[tuple[str, Any], ...]) -> bool:
    for key, value in selector:
        actual = getattr(spec, key)
        if key == "sparsity":
            if not math.isclose(actual, float(value), rel_tol=0, abs_tol=1e-12):
                return False
        elif actual != value:
            return False
    return True


def expand(
    config: StudyConfig,
    *,
    shapes: Callable[[str, dict[str, Any]], tuple[tuple[int, ...], int]] | None = None,
    applies: Callable[[str, str, str], str | None] | None = None,
) -> list[NetworkSpec]:
    """One :class:`NetworkSpec` per grid point, ordered model, dataset, seed, pruner (and its
    ``[grid.sweep]`` variants), sparsity.

    Parameters
    ----------
    shapes : callable, optional
        ``shapes(dataset, options) -> (input_shape, num_classes)``; defaults to
        loading the dataset (cheap for the bundled ones).
    applies : callable, optional
        ``applies(pruner, model, dataset) -> reason or None``; inapplicable
        pairs are dropped (they were rejected at validation when listed
        explicitly).

    The order keeps networks that share a dense baseline next to each other.
    """
    shapes = shapes or dataset_shape
    from prunegraph.study.digests import dataset_digest

    known: dict[str, tuple[tuple[int, ...], int]] = {}
    digests: dict[str, str | None] = {}
    specs = []
    axes = [(p, v) for p in config.pruners for v in config.variants(p)]
    for model, dataset, seed, (pruner, variant), sparsity in itertools.product(
        config.models, config.datasets, config.seeds, axes, config.sparsities
    ):
        if applies is not None and applies(pruner, model, dataset):
            continue
        if dataset not in known:
            known[dataset] = shapes(dataset, config.options_for("dataset", dataset))
            digests[dataset] = dataset_digest(dataset)
        input_shape, num_classes = known[dataset]
        spec = NetworkSpec(
            study=config.name,
            model=model,
            dataset=dataset,
            pruner=pruner,
            sparsity=sparsity,
            seed=seed,
            model_options=tuple(sorted(config.options_for("model", model).items())),
            dataset_options=tuple(sorted(config.options_for("dataset", dataset).items())),
            pruner_options=tuple(
                sorted({**config.options_for("pruner", pruner), **dict(variant)}.items())
            ),
            input_shape=tuple(int(d) for d in input_shape),
            num_classes=int(num_classes),
            training=config.training,
            level=config.export.level,
            dataset_digest=digests[dataset],
            sweep=variant,
        )
        if any(_selected(spec, sel) for sel in config.export.full):
            spec = replace(spec, level="full")
        specs.append(spec)
    return specs


def dataset_shape(dataset: str, options: dict[str, Any]) -> tuple[tuple[int, ...], int]:
    """``(input_shape, num_classes)`` of a dataset (standard image sets: without reading them)."""
    from prunegraph.loader.data import describe_dataset

    shape, classes = describe_dataset(dataset, **_thaw(options))
    return tuple(shape), int(classes)


def _thaw(options: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    items = options.items() if isinstance(options, Mapping) else options
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in items}
