"""The pruning framework: registry, context, the ``prune`` entry point and thresholding.

Every module of :mod:`prunegraph.loader.pruning` builds on what is defined here;
all of it is public to those modules (and to new pruners):

- :data:`PRUNERS`, :class:`Pruner` and :func:`register_pruner`;
- :class:`PruneContext`, what a pruner function receives;
- :func:`prune`, which validates the arguments once and runs a pruner;
- :func:`threshold` (scores -> exact-count masks) and the counting helpers
  :func:`apportion`, :func:`n_keep`, :func:`top_k_mask`, :func:`layer_sizes`,
  :func:`counts_to_random_masks`;
- model helpers: :func:`current_masks`, :func:`safe_deepcopy`, :func:`masked_copy`.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import itertools
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from prunegraph._registry import Registry
from prunegraph.errors import ValidationError
from prunegraph.loader.masks import Masks, apply_masks, prunable_parameters
from prunegraph.loader.training import TrainingSettings

CATEGORIES = ("pai", "random", "magnitude", "dst", "graph")
MODES = ("init", "trained", "rewind", "during")
SCOPES = ("global", "layer")


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Pruner:
    """A registered pruning algorithm and how it is used.

    Attributes
    ----------
    name, category : str
        Registry name and family (one of :data:`CATEGORIES`).
    func : callable
        ``func(ctx, *, option=default, ...) -> Masks`` (see :class:`PruneContext`).
    needs_data : bool
        Whether it uses training data (when none is given, synthetic batches
        stand in).
    summary, source : str
        One line on the algorithm; the papers it follows.
    mode : {"init", "trained", "rewind", "during"}
        Where it sits in the train/prune pipeline (:data:`MODES`): ``init``
        prunes the initialisation, which is then trained; ``trained`` prunes
        the trained dense model, which is then fine-tuned; ``rewind`` trains,
        prunes and rewinds (the result is trained from the rewind point);
        ``during`` trains while pruning (the result is evaluated as is).
    trains : bool
        Whether it trains the model itself, with ``ctx.training`` (a
        :class:`~prunegraph.loader.training.TrainingSettings`); the training
        settings are then also accepted as options of :func:`prune`.
    models : tuple of str or None
        The registry names of the models it applies to; None: every model.
    """

    name: str
    category: str
    func: Callable[..., Masks]
    needs_data: bool
    summary: str
    source: str
    mode: str = "init"
    trains: bool = False
    models: tuple[str, ...] | None = None

    @property
    def own_defaults(self) -> dict[str, Any]:
        """The keyword-only options of ``func`` with their default values."""
        params = inspect.signature(self.func).parameters
        return {
            k: p.default
            for k, p in params.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
        }

    @property
    def training_options(self) -> tuple[str, ...]:
        """The training settings accepted as options (none unless the pruner trains).

        An option of ``func`` with the same name as a setting wins over it.
        """
        if not self.trains:
            return ()
        own = self.own_defaults
        return tuple(n for n in TrainingSettings.names() if n not in own)

    @property
    def defaults(self) -> dict[str, Any]:
        """Every option :func:`prune` accepts for this pruner, with its default."""
        train = TrainingSettings().train_kwargs()
        return {**{n: train[n] for n in self.training_options}, **self.own_defaults}

    def applies_to(self, model: str) -> str | None:
        """Why this pruner cannot prune the registered model ``model`` (None if it can)."""
        if self.models is None or model in self.models:
            return None
        return f"pruner '{self.name}' applies to the models {', '.join(self.models)} only"


PRUNERS: Registry[Pruner] = Registry("pruner")


def register_pruner(
    name: str,
    category: str,
    *,
    mode: str,
    needs_data: bool,
    summary: str,
    source: str,
    trains: bool | None = None,
    models: Sequence[str] | None = None,
) -> Callable[[Callable[..., Masks]], Callable[..., Masks]]:
    """Decorator registering a pruner function ``func(ctx, *, option=default, ...)``.

    ``trains`` defaults to ``mode in ("rewind", "during")``; see :class:`Pruner`
    for the fields.
    """
    if category not in CATEGORIES:
        raise ValueError(f"category {category!r} not in {CATEGORIES}")
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} not in {MODES}")
    uses_training = mode in ("rewind", "during") if trains is None else bool(trains)
    applies = None if models is None else tuple(models)

    def decorator(func: Callable[..., Masks]) -> Callable[..., Masks]:
        PRUNERS.add(
            name,
            Pruner(name, category, func, needs_data, summary, source, mode, uses_training, applies),
        )
        return func

    return decorator


def list_pruners() -> list[dict[str, Any]]:
    """One dict per pruner: name, category, mode, trains, models, needs_data, summary,
    source, defaults."""
    return [
        {
            "name": p.name,
            "category": p.category,
            "mode": p.mode,
            "trains": p.trains,
            "models": p.models,
            "needs_data": p.needs_data,
            "summary": p.summary,
            "source": p.source,
            "defaults": p.defaults,
        }
        for _, p in PRUNERS.items()
    ]


# --------------------------------------------------------------------------- context


@dataclass
class PruneContext:
    """What a pruner receives: the model, the target, the seed, access to data and,
    for pruners that train, the training settings (:meth:`train`)."""

    model: nn.Module
    sparsity: float
    seed: int
    data: Any = None
    input_shape: tuple[int, ...] | None = None
    synthetic: bool = False
    training: TrainingSettings = field(default_factory=TrainingSettings)
    #: Where the scores are computed (data batches are moved there); None: the CPU.
    device: torch.device | None = None
    _num_classes: int | None = field(default=None, repr=False)

    @property
    def density(self) -> float:
        return 1.0 - self.sparsity

    def params(self) -> dict[str, nn.Parameter]:
        return prunable_parameters(self.model)

    def require_input_shape(self, who: str) -> tuple[int, ...]:
        if self.input_shape is None:
            raise ValidationError(
                f"{who} needs the model's input shape: pass input_shape=(C, H, W) to prune, or "
                "build the model with loader.models.build_model (which records it)."
            )
        return self.input_shape

    def num_classes(self) -> int:
        if self._num_classes is None:
            shape = self.require_input_shape("Synthetic data")
            probe = safe_deepcopy(self.model).eval()
            with torch.no_grad():
                out = probe(torch.zeros(1, *shape, device=self.device))
            self._num_classes = int(out.shape[-1])
        return self._num_classes

    def train_dataset(self) -> Any:
        """The training set as a torch Dataset (a DatasetSplit's ``train``, or synthetic data)."""
        data = self.data
        if data is None:
            return self._synthetic_split().train
        if hasattr(data, "train") and hasattr(data, "test"):
            return data.train
        if isinstance(data, torch.utils.data.DataLoader):
            return data.dataset
        if isinstance(data, torch.utils.data.Dataset):
            return data
        raise ValidationError(
            "The 'data' parameter of prune must be a DatasetSplit, a torch Dataset or a "
            f"DataLoader. Got {type(data).__name__} instead."
        )

    def batches(
        self, n_batches: int, batch_size: int, *, offset: int = 0
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``n_batches`` (inputs, labels) batches, reproducible from the seed."""
        if isinstance(self.data, torch.utils.data.DataLoader):
            out = []
            for i, (x, y) in enumerate(self.data):
                if i >= offset:
                    out.append((x.float().to(self.device), y.long().to(self.device)))
                if len(out) == n_batches:
                    break
            if not out:
                raise ValidationError("The DataLoader given as 'data' yields no batches.")
            return out
        dataset = self.train_dataset()
        generator = torch.Generator().manual_seed(self.seed + 7919 * offset)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=True, generator=generator, drop_last=False
        )
        out = []
        for x, y in loader:
            out.append((x.float().to(self.device), y.long().to(self.device)))
            if len(out) == n_batches:
                break
        if not out:
            raise ValidationError("The training data is empty.")
        return out

    def _synthetic_split(self) -> Any:
        shape = self.require_input_shape("Pruning without data")
        if self.data is None:
            from prunegraph.loader.data import load_dataset

            self.data = load_dataset(
                "synthetic", input_shape=shape, num_classes=self.num_classes(), seed=self.seed
            )
            self.synthetic = True
        return self.data

    def train(self, masks: Masks, *, seed: int, hook: Any = None) -> Any:
        """Train ``model`` in place with :attr:`training`, keeping ``masks`` (pruners that train).

        ``hook(model, step)`` runs after every optimizer step (see
        :func:`prunegraph.loader.training.train`); returns its ``TrainResult``.
        """
        from prunegraph.loader.training import train

        return train(
            self.model,
            self.train_dataset(),
            masks=masks,
            step_hook=hook,
            seed=seed,
            **self.training.train_kwargs(),
        )


# --------------------------------------------------------------------------- public entry


def prune(
    model: nn.Module,
    pruner: str,
    sparsity: float,
    *,
    data: Any = None,
    seed: int = 0,
    input_shape: Sequence[int] | None = None,
    training: TrainingSettings | None = None,
    **options: Any,
) -> Masks:
    """Prune ``model`` to ``sparsity`` with the named pruner and return the masks.

    Parameters
    ----------
    model : torch.nn.Module
        Any model with Conv*/Linear weights (see :func:`~prunegraph.loader.masks.prunable_parameters`).
    pruner : str
        A name in :data:`PRUNERS` (``prunegraph prune list``).
    sparsity : float
        Target fraction of pruned prunable weights, in (0, 1). Pruners keep
        exactly ``round((1 - sparsity) * n_weights)`` weights unless their
        algorithm says otherwise (documented per pruner).
    data : DatasetSplit, torch Dataset or DataLoader, optional
        Training data for data-dependent pruners. If omitted, synthetic
        batches of the model's input shape are used (pruning at initialisation
        without data) and a warning says so.
    seed : int
        Seeds every random choice; data-free pruners are deterministic given it.
    input_shape : sequence of int, optional
        ``(C, H, W)`` or ``(features,)``; defaults to ``model.input_shape``
        (set by ``build_model``) or the data's ``input_shape``.
    training : TrainingSettings, optional
        How pruners that train (``Pruner.trains``: ``imp``, ``set``, ``rigl``,
        ``dsr``, ``ramanujan`` with ``base="imp"``) train; default
        ``TrainingSettings()``. Ignored by the others.
    **options
        Pruner-specific options (see ``docs/pruners.md``); unknown ones raise.
        For pruners that train, a training setting given here (``epochs=2``)
        overrides the one in ``training``.

    Returns
    -------
    dict[str, numpy.ndarray]
        One boolean mask per prunable weight, keyed by parameter name.
    """
    if (
        isinstance(sparsity, bool)
        or not isinstance(sparsity, (int, float, np.floating))
        or not (0.0 < float(sparsity) < 1.0)
    ):
        raise ValidationError(
            "The 'sparsity' parameter of prune must be a float in the range (0, 1). "
            f"Got {sparsity!r} instead."
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValidationError(
            f"The 'seed' parameter of prune must be a non-negative int. Got {seed!r} instead."
        )
    if not isinstance(pruner, str):
        raise ValidationError(
            f"The 'pruner' parameter of prune must be a str. Got {pruner!r} instead."
        )
    spec = PRUNERS.get(pruner)
    if not isinstance(model, nn.Module):
        raise ValidationError(
            f"The 'model' parameter of prune must be a torch.nn.Module. Got {type(model).__name__} instead."
        )
    params = prunable_parameters(model)
    if not params:
        raise ValidationError(
            f"{type(model).__name__} has nothing to prune: it has no Conv or Linear weights."
        )
    allowed = spec.defaults
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValidationError(
            f"Unknown option(s) {unknown} for pruner '{pruner}'. "
            f"Options: {', '.join(sorted(allowed)) or 'none'}."
        )
    if training is None:
        training = TrainingSettings()
    elif not isinstance(training, TrainingSettings):
        raise ValidationError(
            "The 'training' parameter of prune must be a TrainingSettings. "
            f"Got {type(training).__name__} instead."
        )
    overrides = {k: options.pop(k) for k in spec.training_options if k in options}
    if overrides:
        training = training.replace(**overrides)
    shape = resolve_input_shape(model, data, input_shape)
    ctx = PruneContext(
        model=model,
        sparsity=float(sparsity),
        seed=int(seed),
        data=data,
        input_shape=shape,
        training=training,
    )
    if spec.needs_data and data is None:
        warnings.warn(
            f"Pruner '{pruner}' uses data but none was given: using synthetic batches of shape "
            f"{shape} (pruning at initialisation without data).",
            UserWarning,
            stacklevel=2,
        )
    if spec.func.__module__.endswith(".pai") and not spec.trains:
        # SNIP, GraSP, SynFlow, ProsPr score on the training device; the model comes back
        from prunegraph.loader.training import resolve_device

        ctx.device = resolve_device(training.device)
        home = next(itertools.chain(model.parameters(), model.buffers())).device
        model.to(ctx.device)
        try:
            with _full_float32(ctx.device):
                masks = spec.func(ctx, **options)
        finally:
            model.to(home)
    else:
        masks = spec.func(ctx, **options)
    return {name: np.ascontiguousarray(masks[name], dtype=bool) for name in params}


@contextlib.contextmanager
def _full_float32(device: torch.device) -> Iterator[None]:
    """Scores in full float32 on CUDA: no TF32 convolutions or matmuls.

    TF32 keeps 10 mantissa bits, enough to reorder scores near the threshold,
    so the masks would depend on the device; full precision keeps them the
    CPU's up to float rounding.
    """
    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def resolve_input_shape(
    model: nn.Module, data: Any, input_shape: Sequence[int] | None
) -> tuple[int, ...] | None:
    for candidate in (
        input_shape,
        getattr(model, "input_shape", None),
        getattr(data, "input_shape", None),
    ):
        if candidate is not None:
            try:
                shape = tuple(int(s) for s in candidate)
            except (TypeError, ValueError):
                shape = ()
            if not shape or any(s <= 0 for s in shape):
                raise ValidationError(
                    "The 'input_shape' parameter of prune must be a sequence of positive ints. "
                    f"Got {candidate!r} instead."
                )
            return shape
    if isinstance(data, torch.utils.data.DataLoader):
        x, _ = next(iter(data))
        return tuple(int(s) for s in x.shape[1:])
    return None


# --------------------------------------------------------------------------- thresholding


def apportion(sizes: np.ndarray, densities: np.ndarray, total: int) -> np.ndarray:
    """Integer keep counts ``k_l <= n_l`` with ``sum k_l == total``, each close to ``d_l * n_l``.

    Largest-remainder rounding of ``d_l * n_l`` rescaled to ``total``; every
    non-empty layer keeps at least one weight when ``total`` allows, so no
    layer is cut off completely by rounding alone.
    """
    sizes = sizes.astype(np.int64)
    raw = densities * sizes
    if raw.sum() > 0:
        raw = raw * (total / raw.sum())
    raw = np.minimum(raw, sizes)
    counts = np.floor(raw).astype(np.int64)
    if total >= np.count_nonzero(sizes):
        counts = np.maximum(counts, (sizes > 0).astype(np.int64))
    counts = np.minimum(counts, sizes)
    remainder = raw - np.floor(raw)
    order = np.lexsort((np.arange(len(sizes)), -remainder))  # largest remainder, then position
    diff = int(total - counts.sum())
    while diff != 0:
        step = 1 if diff > 0 else -1
        candidates = [
            i
            for i in (order if step > 0 else order[::-1])
            if (
                counts[i] < sizes[i]
                if step > 0
                else counts[i] > (1 if sizes[i] > 0 and total >= np.count_nonzero(sizes) else 0)
            )
        ]
        if not candidates:
            break
        for i in candidates[: abs(diff)]:
            counts[i] += step
        diff = int(total - counts.sum())
    return counts


def n_keep(n_weights: int, sparsity: float) -> int:
    return max(1, round((1.0 - sparsity) * n_weights))


def threshold(scores: Mapping[str, np.ndarray], sparsity: float, scope: str = "global") -> Masks:
    """Keep the highest scores, pruning exactly the requested fraction.

    Parameters
    ----------
    scores : dict[str, numpy.ndarray]
        One score array per weight; higher means more important. ``-inf``
        marks weights that must be pruned first (e.g. already pruned).
    sparsity : float
        Fraction to prune, in [0, 1).
    scope : {"global", "layer"}
        ``global`` ranks all weights together and keeps
        ``k = round((1 - s) * N)`` (at least 1); ``layer`` keeps
        ``k_l ~ (1 - s) * n_l`` in each layer (largest-remainder rounding so
        that ``sum k_l = round((1 - s) * N)``, at least one per layer).

    Returns
    -------
    dict[str, numpy.ndarray]
        Boolean masks. Ties are broken by position (earlier layer and flat
        index first), so equal inputs give equal masks.

    Raises
    ------
    ValidationError
        Bad ``scope``, ``sparsity`` or NaN scores.
    """
    if scope not in SCOPES:
        raise ValidationError(
            f"The 'scope' parameter of threshold must be one of {SCOPES}. Got {scope!r} instead."
        )
    if not (0.0 <= float(sparsity) < 1.0):
        raise ValidationError(
            f"The 'sparsity' parameter of threshold must be a float in the range [0, 1). Got {sparsity!r} instead."
        )
    names = list(scores)
    if not names:
        raise ValidationError("threshold needs at least one score array.")
    arrays = [np.asarray(scores[n]) for n in names]
    arrays = [a if a.dtype.kind == "f" else a.astype(np.float64) for a in arrays]
    for name, array in zip(names, arrays, strict=True):
        if np.isnan(array).any():
            raise ValidationError(f"The scores of '{name}' contain NaN.")
    if scope == "global":
        flat = np.concatenate([a.ravel() for a in arrays])
        keep = top_k_mask(flat, n_keep(flat.size, sparsity))
        out: Masks = {}
        start = 0
        for name, array in zip(names, arrays, strict=True):
            out[name] = keep[start : start + array.size].reshape(array.shape)
            start += array.size
        return out
    sizes = np.array([a.size for a in arrays])
    counts = apportion(
        sizes, np.full(len(sizes), 1.0 - sparsity), n_keep(int(sizes.sum()), sparsity)
    )
    return {
        name: top_k_mask(array.ravel(), int(k)).reshape(array.shape)
        for name, array, k in zip(names, arrays, counts, strict=True)
    }


def top_k_mask(flat: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` largest entries; among equal scores the earliest index wins (O(n))."""
    n = flat.size
    if k >= n:
        return np.ones(n, dtype=bool)
    if k <= 0:
        return np.zeros(n, dtype=bool)
    # k-th largest score; torch's selection is several times faster than np.partition on
    # the tie-heavy score vectors of iterative pruning (many -inf)
    kth = torch.from_numpy(np.ascontiguousarray(flat)).kthvalue(n - k + 1).values.item()
    keep = flat > kth
    ties = np.flatnonzero(flat == kth)
    keep[ties[: k - int(keep.sum())]] = True
    return keep


def counts_to_random_masks(
    params: Mapping[str, Any], counts: Sequence[int] | np.ndarray, rng: np.random.Generator
) -> Masks:
    """Uniformly random masks with exactly ``counts[l]`` kept weights in layer ``l``."""
    masks: Masks = {}
    for (name, param), k in zip(params.items(), counts, strict=True):
        n = int(np.prod(param.shape))
        flat = np.zeros(n, dtype=bool)
        flat[rng.choice(n, size=int(k), replace=False)] = True
        masks[name] = flat.reshape(tuple(param.shape))
    return masks


def layer_sizes(params: Mapping[str, Any]) -> np.ndarray:
    return np.array([int(np.prod(p.shape)) for p in params.values()], dtype=np.int64)


def current_masks(model: nn.Module) -> dict[str, np.ndarray]:
    from prunegraph.loader.masks import prunable_modules

    out = {}
    for name, module in prunable_modules(model).items():
        buffer = getattr(module, "weight_mask", None)
        if isinstance(buffer, torch.Tensor):
            out[name] = buffer.detach().cpu().numpy() != 0
    return out


def safe_deepcopy(model: nn.Module) -> nn.Module:
    """``copy.deepcopy`` that also works on models carrying ``torch.nn.utils.prune`` masks.

    The reparametrisation stores ``weight = weight_orig * weight_mask`` as a
    plain non-leaf tensor attribute, which ``deepcopy`` refuses; it is set
    aside during the copy and recomputed on both models.
    """
    stash = {}
    for module in model.modules():
        if hasattr(module, "weight_orig") and "weight" in module.__dict__:
            stash[module] = module.__dict__.pop("weight")
    try:
        net = copy.deepcopy(model)
    finally:
        for module, weight in stash.items():
            module.__dict__["weight"] = weight
    for module in net.modules():
        orig, mask = getattr(module, "weight_orig", None), getattr(module, "weight_mask", None)
        if isinstance(orig, torch.Tensor) and isinstance(mask, torch.Tensor):
            module.__dict__["weight"] = orig * mask
    return net


# --------------------------------------------------------------------------- helpers


def check_positive_int(**values: Any) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValidationError(
                f"The '{key}' option must be a positive int. Got {value!r} instead."
            )


def masked_copy(model: nn.Module, masks: Mapping[str, np.ndarray]) -> nn.Module:
    """A deep copy of ``model`` with ``masks`` applied (for evaluation or iteration)."""
    return apply_masks(safe_deepcopy(model), masks)


def exponential_schedule(density: float, rounds: int) -> list[float]:
    """Sparsity after each of ``rounds`` rounds when each round keeps the same fraction."""
    return [1.0 - density ** (k / rounds) for k in range(1, rounds + 1)]
