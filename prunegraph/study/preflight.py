"""Validate everything a study asks for before anything is computed.

:func:`preflight` runs after the names were checked against the registries
(:func:`prunegraph.study.config.check_registries`) and before any dataset is
loaded or model trained. It checks:

* every option of ``[models.X]``, ``[datasets.X]`` and ``[pruners.X]``
  against the registered component's signature: the name (with a
  did-you-mean) and the type, inferred from the default value (``rounds =
  "many"`` for an int option is refused);
* ``[analysis]``: ``normalize``, ``regressors`` and ``feature_sets`` against
  their registries;
* ``[export] full``: every selector must select at least one network of the
  grid (a sparsity or seed the grid does not list selects nothing);
* the memory a synthetic dataset would take, estimated as
  ``n_samples * prod(input_shape) * 4`` bytes per process (float32), times the
  worker processes, against the memory available now;
* that every model accepts its datasets' input shape: one forward pass of a
  zero batch through a freshly built model (an input too small for its
  convolutions and pools fails here, with the model's message).

Each problem raises a one-line :class:`~prunegraph.errors.ValidationError`
naming the table, the key and the value.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prunegraph.config import available_memory
from prunegraph.errors import PrunegraphError, ValidationError

if TYPE_CHECKING:
    from prunegraph.study.config import StudyConfig

#: Arguments a model builder receives from the study itself, never from ``[models.X]``.
_MODEL_FIXED = ("input_shape", "num_classes")
#: Share of the available memory one study may plan to fill with synthetic data.
MEMORY_SHARE = 0.5


def preflight(config: StudyConfig, *, shapes: Callable[..., Any] | None = None) -> StudyConfig:
    """Run every check of this module on ``config``; returns it unchanged.

    Parameters
    ----------
    config : StudyConfig
        A parsed study whose names were checked against the registries.
    shapes : callable, optional
        ``shapes(dataset, options) -> (input_shape, num_classes)``; default:
        :func:`prunegraph.study.config.dataset_shape` (loads the dataset).

    Raises
    ------
    ValidationError
        The first problem found, in one line.
    """
    check_component_options(config)
    check_metric_graphs(config)
    check_analysis(config)
    check_export_selectors(config)
    check_memory(config)
    check_input_shapes(config, shapes=shapes)
    return config


# --------------------------------------------------------------------------- options
def _hint(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def check_value_type(where: str, key: str, value: Any, default: Any) -> None:
    """Refuse ``value`` when its type cannot stand for ``default``'s.

    ``bool`` needs ``true``/``false``; an int needs an int (not a bool); a
    float takes an int or a float; a string needs a string; a list or tuple
    needs a list. A default of ``None`` (or none at all) accepts anything.
    """
    if default is None or default is inspect.Parameter.empty:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, list | tuple):
        ok = isinstance(value, list | tuple)
    else:
        return
    if not ok:
        raise ValidationError(
            f"{where} {key} = {value!r} must be {_type_name(default)} (its default is {default!r})."
        )


def check_signature_options(
    where: str,
    name: str,
    fn: Callable[..., Any],
    options: Sequence[tuple[str, Any]],
    *,
    fixed: Sequence[str] = (),
) -> None:
    """Check option names and types of ``options`` against ``fn``'s signature.

    ``fixed`` names parameters the study fills itself (not settable in the table).
    """
    params = {
        n: p
        for n, p in inspect.signature(fn).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in fixed
    }
    takes_any = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())
    for key, value in options:
        if key in fixed:
            raise ValidationError(
                f"{where} sets '{key}', which the study fills itself (from the dataset)."
            )
        if key not in params:
            if takes_any:
                continue
            raise ValidationError(
                f"Unknown option '{key}' in {where}.{_hint(key, list(params))} Options of "
                f"'{name}': {', '.join(params) or 'none'}."
            )
        check_value_type(where, key, value, params[key].default)


def check_component_options(config: StudyConfig) -> None:
    """Model, dataset and pruner options: names and types against the registered components."""
    from prunegraph.loader.data import DATASETS
    from prunegraph.loader.models import MODELS
    from prunegraph.loader.pruning import PRUNERS

    for model, options in config.model_options:
        if model in config.models:
            check_signature_options(
                f"[models.{model}]", model, MODELS.get(model), options, fixed=_MODEL_FIXED
            )
    for dataset, options in config.dataset_options:
        if dataset in config.datasets and dataset in DATASETS:
            check_signature_options(
                f"[datasets.{dataset}]", dataset, DATASETS.get(dataset), options
            )
    for pruner, options in config.pruner_options:
        if pruner in config.pruners and pruner in PRUNERS:
            defaults = PRUNERS.get(pruner).defaults
            for key, value in options:
                if key in defaults:
                    check_value_type(f"[pruners.{pruner}]", key, value, defaults[key])


# --------------------------------------------------------------------------- metrics
def check_metric_graphs(config: StudyConfig) -> None:
    """Every metric in ``[metrics] names`` is computed on a graph the study stores.

    A metric of a graph kind not in ``[export] encodings`` would never be
    written, so every run would find the network unfinished and redo it.
    """
    if not config.metrics:
        return
    from prunegraph.queries.metrics import METRICS

    stored = {"mge", *config.export.encodings}
    for name in config.metrics:
        graph = METRICS.get(name).graph
        if graph not in stored:
            raise ValidationError(
                f"[metrics] names lists '{name}', a metric of the {graph} graph, which "
                f"[export] encodings does not store ({', '.join(sorted(stored))}); add "
                f"'{graph}' to encodings or drop the metric."
            )


# --------------------------------------------------------------------------- analysis
def check_analysis(config: StudyConfig) -> None:
    """``[analysis]`` normalize, regressors and feature_sets against their registries."""
    settings = config.analysis
    if not settings.run:
        return
    from prunegraph.analysis.features import FEATURE_SETS, NORMALISATIONS
    from prunegraph.analysis.regression import REGRESSORS

    def one_of(key: str, value: str, choices: Sequence[str]) -> None:
        if value not in choices:
            raise ValidationError(
                f"[analysis] {key} '{value}' is not known.{_hint(value, choices)} Choose from: "
                f"{', '.join(choices)}."
            )

    if settings.normalize is not None:
        one_of("normalize", settings.normalize, NORMALISATIONS)
    for name in settings.regressors or ():
        one_of("regressors entry", name, REGRESSORS.names())
    for name in settings.feature_sets or ():
        one_of("feature_sets entry", name, list(FEATURE_SETS))


# --------------------------------------------------------------------------- export
def check_export_selectors(config: StudyConfig) -> None:
    """Every ``[export] full`` selector selects at least one grid point."""
    listed: Mapping[str, Sequence[Any]] = {
        "model": config.models,
        "dataset": config.datasets,
        "pruner": config.pruners,
        "seed": config.seeds,
    }
    for i, selector in enumerate(config.export.full):
        for key, value in selector:
            if key == "sparsity":
                ok = isinstance(value, int | float) and any(
                    math.isclose(float(value), s, rel_tol=0, abs_tol=1e-12)
                    for s in config.sparsities
                )
                choices = [f"{s:g}" for s in config.sparsities]
            else:
                ok = value in listed[key]
                choices = [str(v) for v in listed[key]]
            if not ok:
                raise ValidationError(
                    f"[export] full[{i}] selects {key} = {value!r}, which matches no network of "
                    f"the grid ({key} is one of {', '.join(choices)})."
                )


# --------------------------------------------------------------------------- memory
def synthetic_bytes(options: Mapping[str, Any]) -> int:
    """Bytes a synthetic dataset takes: ``n_samples * (prod(input_shape) * 4 + 8)``."""
    from prunegraph.loader.data import DATASETS

    params = inspect.signature(DATASETS.get("synthetic")).parameters
    n = options.get("n_samples", params["n_samples"].default)
    shape = options.get("input_shape", params["input_shape"].default)
    if not isinstance(n, int) or not isinstance(shape, list | tuple):
        return 0  # the loader names the bad value
    if not all(isinstance(s, int) for s in shape):
        return 0
    return int(n) * (math.prod(int(s) for s in shape) * 4 + 8)


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_memory(config: StudyConfig, *, available: int | None = None) -> None:
    """Refuse a synthetic dataset that would not fit in memory, before allocating it."""
    if "synthetic" not in config.datasets:
        return
    need = synthetic_bytes(dict(config.options_for("dataset", "synthetic")))
    processes = 1 + (config.run.workers if config.run.executor == "process" else 0)
    have = available_memory() if available is None else available
    if have and need * processes > MEMORY_SHARE * have:
        raise ValidationError(
            f"[datasets.synthetic] needs about {_gib(need)} per process ({processes} processes: "
            f"{_gib(need * processes)}), more than half of the {_gib(have)} available; lower "
            "n_samples or input_shape."
        )


# --------------------------------------------------------------------------- shapes
def check_input_shapes(config: StudyConfig, *, shapes: Callable[..., Any] | None = None) -> None:
    """Build every model for every dataset's input shape and run one zero batch through it."""
    import torch

    from prunegraph.loader.models import build_model
    from prunegraph.study.config import _thaw, dataset_shape

    shapes = shapes or dataset_shape
    for dataset in config.datasets:
        input_shape, num_classes = shapes(dataset, config.options_for("dataset", dataset))
        for model_name in config.models:
            options = _thaw(config.options_for("model", model_name))
            try:
                model = build_model(
                    model_name, input_shape=input_shape, num_classes=num_classes, **options
                )
                model.eval()
                with torch.no_grad():
                    model(torch.zeros((1, *input_shape)))
            except PrunegraphError as exc:
                raise ValidationError(
                    f"Model '{model_name}' on dataset '{dataset}' (input shape "
                    f"{tuple(input_shape)}): {exc}"
                ) from None
            except (RuntimeError, ValueError, TypeError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ValidationError(
                    f"Model '{model_name}' cannot take dataset '{dataset}''s input shape "
                    f"{tuple(input_shape)} (too small or wrong rank for its layers): {first}"
                ) from None
