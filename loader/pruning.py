"""Pruners: scores -> one shared threshold -> masks.

Every pruner is registered in :data:`PRUNERS` under a stable name with a
category (``pai``, ``random``, ``magnitude``, ``dst``, ``graph``) and is run
through :func:`prune`, which validates its arguments once::

    masks = prune(model, "synflow", 0.9, seed=0)

A pruner computes a score per prunable weight; :func:`threshold` keeps the
highest-scoring weights with an exact count (ties broken by position, so the
result is deterministic). Pruners that train (``imp``, ``set``, ``rigl``, ``dsr``) are in
:mod:`prunegraph.loader.pruning_train`, the graph-based ones (``spectral``,
``ramanujan``) in :mod:`prunegraph.loader.pruning_graph`; both register here.

Score computations run on a deep copy of the model, so ``prune`` leaves the
model's parameters and BatchNorm statistics untouched, except for the training
pruners, which train ``model`` in place (documented on each).
"""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from prunegraph._registry import Registry
from prunegraph.errors import ValidationError
from prunegraph.loader.masks import Masks, apply_masks, prunable_parameters, remove_masks

CATEGORIES = ("pai", "random", "magnitude", "dst", "graph")
SCOPES = ("global", "layer")

__all__ = [
    "CATEGORIES",
    "PRUNERS",
    "PruneContext",
    "Pruner",
    "erk_densities",
    "grasp_scores",
    "list_pruners",
    "magnitude_scores",
    "prune",
    "snip_scores",
    "synflow_scores",
    "threshold",
]


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Pruner:
    """A registered pruning algorithm.

    ``func(ctx, **options) -> Masks``; ``needs_data`` says whether it uses
    training data (when none is given, synthetic batches stand in);
    ``defaults`` are its options' default values (from the signature).
    """

    name: str
    category: str
    func: Callable[..., Masks]
    needs_data: bool
    summary: str
    source: str

    @property
    def defaults(self) -> dict[str, Any]:
        params = inspect.signature(self.func).parameters
        return {
            k: p.default
            for k, p in params.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
        }


PRUNERS: Registry[Pruner] = Registry("pruner")


def register_pruner(
    name: str, category: str, *, needs_data: bool, summary: str, source: str
) -> Callable[[Callable[..., Masks]], Callable[..., Masks]]:
    """Decorator registering a pruner function ``func(ctx, *, option=default, ...)``."""
    if category not in CATEGORIES:
        raise ValueError(f"category {category!r} not in {CATEGORIES}")

    def decorator(func: Callable[..., Masks]) -> Callable[..., Masks]:
        PRUNERS.add(name, Pruner(name, category, func, needs_data, summary, source))
        return func

    return decorator


def list_pruners() -> list[dict[str, Any]]:
    """One dict per pruner: name, category, needs_data, summary, source, defaults."""
    return [
        {
            "name": p.name,
            "category": p.category,
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
    """What a pruner receives: the model, the target, the seed and access to data."""

    model: nn.Module
    sparsity: float
    seed: int
    data: Any = None
    input_shape: tuple[int, ...] | None = None
    synthetic: bool = False
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
                out = probe(torch.zeros(1, *shape))
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
                    out.append((x.float(), y.long()))
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
            out.append((x.float(), y.long()))
            if len(out) == n_batches:
                break
        if not out:
            raise ValidationError("The training data is empty.")
        return out

    def _synthetic_split(self) -> Any:
        shape = self.require_input_shape("Pruning without data")
        if self.data is None:
            try:
                from prunegraph.loader.data import load_dataset

                self.data = load_dataset(
                    "synthetic", input_shape=shape, num_classes=self.num_classes(), seed=self.seed
                )
            except (ImportError, TypeError):
                self.data = _SyntheticSplit(shape, self.num_classes(), self.seed)
            self.synthetic = True
        return self.data


class _SyntheticSplit:
    """Stand-in for ``load_dataset('synthetic')``: Gaussian inputs, uniform labels."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, seed: int, n: int = 512):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(n, *input_shape, generator=gen)
        y = torch.randint(0, num_classes, (n,), generator=gen)
        self.train = torch.utils.data.TensorDataset(x, y)
        self.test = torch.utils.data.TensorDataset(x[: n // 4], y[: n // 4])
        self.input_shape, self.num_classes = input_shape, num_classes


# --------------------------------------------------------------------------- public entry


def prune(
    model: nn.Module,
    pruner: str,
    sparsity: float,
    *,
    data: Any = None,
    seed: int = 0,
    input_shape: Sequence[int] | None = None,
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
    **options
        Pruner-specific options (see ``docs/pruners.md``); unknown ones raise.

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
    shape = _resolve_input_shape(model, data, input_shape)
    ctx = PruneContext(
        model=model, sparsity=float(sparsity), seed=int(seed), data=data, input_shape=shape
    )
    if spec.needs_data and data is None:
        warnings.warn(
            f"Pruner '{pruner}' uses data but none was given: using synthetic batches of shape "
            f"{shape} (pruning at initialisation without data).",
            UserWarning,
            stacklevel=2,
        )
    masks = spec.func(ctx, **options)
    return {name: np.ascontiguousarray(masks[name], dtype=bool) for name in params}


def _resolve_input_shape(
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


def _apportion(sizes: np.ndarray, densities: np.ndarray, total: int) -> np.ndarray:
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


def _n_keep(n_weights: int, sparsity: float) -> int:
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
        keep = _top_k_mask(flat, _n_keep(flat.size, sparsity))
        out: Masks = {}
        start = 0
        for name, array in zip(names, arrays, strict=True):
            out[name] = keep[start : start + array.size].reshape(array.shape)
            start += array.size
        return out
    sizes = np.array([a.size for a in arrays])
    counts = _apportion(
        sizes, np.full(len(sizes), 1.0 - sparsity), _n_keep(int(sizes.sum()), sparsity)
    )
    return {
        name: _top_k_mask(array.ravel(), int(k)).reshape(array.shape)
        for name, array, k in zip(names, arrays, counts, strict=True)
    }


def _top_k_mask(flat: np.ndarray, k: int) -> np.ndarray:
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


def _sizes(params: Mapping[str, Any]) -> np.ndarray:
    return np.array([int(np.prod(p.shape)) for p in params.values()], dtype=np.int64)


# --------------------------------------------------------------------------- random family


@register_pruner(
    "random",
    "random",
    needs_data=False,
    summary="uniform layer-wise random: every layer keeps a (1 - s) fraction, chosen uniformly",
    source="Zhu & Gupta 2017; seed 001 Table 7 (Uniform)",
)
def _random(ctx: PruneContext) -> Masks:
    params = ctx.params()
    sizes = _sizes(params)
    counts = _apportion(
        sizes, np.full(len(sizes), ctx.density), _n_keep(int(sizes.sum()), ctx.sparsity)
    )
    return counts_to_random_masks(params, counts, np.random.default_rng(ctx.seed))


def er_raw_scale(shape: Sequence[int], *, kernel: bool) -> float:
    """Erdős–Rényi layer factor: ``(n_in + n_out) / (n_in * n_out)`` or, with ``kernel``,
    ``(n_in + n_out + k_h + k_w) / (n_in * n_out * k_h * k_w)`` (= ``sum(shape) / prod(shape)``).

    ``shape`` is the weight shape ``(n_out, n_in, *kernel)``; for a Linear
    layer both forms agree.
    """
    dims = [int(s) for s in shape]
    if kernel:
        return float(sum(dims) / np.prod(dims, dtype=np.float64))
    n_out, n_in = dims[0], dims[1]
    return float((n_in + n_out) / (n_in * n_out))


def erk_densities(
    shapes: Sequence[Sequence[int]], density: float, *, kernel: bool = True, power: float = 1.0
) -> np.ndarray:
    """Per-layer densities of ER/ERK for a global ``density``.

    ``d_l = min(1, eps * r_l ** power)`` with ``r_l`` the ER factor
    (:func:`er_raw_scale`) and ``eps`` solving ``sum_l d_l n_l = density * N``:
    a layer whose density would exceed 1 is made dense and ``eps`` is solved
    again over the remaining layers (Evci et al. 2020, redistribution loop).
    Never returns a density above 1.
    """
    sizes = np.array([float(np.prod(s)) for s in shapes])
    raw = np.array([er_raw_scale(s, kernel=kernel) ** power for s in shapes])
    target = density * sizes.sum()
    dense = np.zeros(len(sizes), dtype=bool)
    while True:
        free = ~dense
        budget = target - sizes[dense].sum()
        if not free.any() or budget <= 0:
            break
        eps = budget / float((raw[free] * sizes[free]).sum())
        over = free & (eps * raw > 1.0)
        if not over.any():
            out = np.where(dense, 1.0, eps * raw)
            return np.minimum(out, 1.0)
        # make the layer(s) with the largest factor dense first, as in RigL's code
        dense |= free & (raw == raw[over].max())
    return np.where(dense, 1.0, 0.0)


def _er_masks(ctx: PruneContext, *, kernel: bool, power: float) -> Masks:
    params = ctx.params()
    shapes = [tuple(p.shape) for p in params.values()]
    densities = erk_densities(shapes, ctx.density, kernel=kernel, power=power)
    sizes = _sizes(params)
    counts = _apportion(sizes, densities, _n_keep(int(sizes.sum()), ctx.sparsity))
    return counts_to_random_masks(params, counts, np.random.default_rng(ctx.seed))


@register_pruner(
    "er",
    "random",
    needs_data=False,
    summary="Erdős–Rényi: random, layer density proportional to (n_in + n_out) / (n_in n_out)",
    source="Mocanu et al. 2018; seed 001 Table 7 (ER)",
)
def _er(ctx: PruneContext, *, kernel: bool = False, power: float = 1.0) -> Masks:
    return _er_masks(ctx, kernel=kernel, power=power)


@register_pruner(
    "erk",
    "random",
    needs_data=False,
    summary="Erdős–Rényi-Kernel: random, layer density proportional to sum(shape) / prod(shape)",
    source="Evci et al. 2020; seed 001 Table 7 (ERK)",
)
def _erk(ctx: PruneContext, *, kernel: bool = True, power: float = 1.0) -> Masks:
    return _er_masks(ctx, kernel=kernel, power=power)


# --------------------------------------------------------------------------- magnitude


def magnitude_scores(model: nn.Module) -> dict[str, np.ndarray]:
    """``|theta|`` of every prunable weight (masked weights score ``-inf``)."""
    scores = {}
    masks = _current_masks(model)
    for name, p in prunable_parameters(model).items():
        s = p.detach().abs().double().cpu().numpy()
        scores[name] = np.where(masks[name], s, -np.inf) if name in masks else s
    return scores


def _current_masks(model: nn.Module) -> dict[str, np.ndarray]:
    from prunegraph.loader.masks import prunable_modules

    out = {}
    for name, module in prunable_modules(model).items():
        buffer = getattr(module, "weight_mask", None)
        if isinstance(buffer, torch.Tensor):
            out[name] = buffer.detach().cpu().numpy() != 0
    return out


@register_pruner(
    "magnitude",
    "magnitude",
    needs_data=False,
    summary="global magnitude: keep the largest |theta| over the whole network",
    source="Han et al. 2015; Frankle & Carbin 2019 (one-shot)",
)
def _magnitude(ctx: PruneContext) -> Masks:
    return threshold(magnitude_scores(ctx.model), ctx.sparsity, "global")


@register_pruner(
    "magnitude_layer",
    "magnitude",
    needs_data=False,
    summary="layer-wise magnitude: keep the largest |theta| in every layer, same density per layer",
    source="Han et al. 2015; Zhu & Gupta 2017",
)
def _magnitude_layer(ctx: PruneContext) -> Masks:
    return threshold(magnitude_scores(ctx.model), ctx.sparsity, "layer")


# --------------------------------------------------------------------------- PaI: SNIP, GraSP


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


def _scoring_copy(
    model: nn.Module,
    dtype: torch.dtype | None = None,
    masks: Mapping[str, np.ndarray] | None = None,
) -> tuple[nn.Module, dict[str, nn.Parameter]]:
    """A deep copy with masks baked in as zeros, so scores never touch the caller's model."""
    net = safe_deepcopy(model)
    remove_masks(net)
    if masks:
        with torch.no_grad():
            for name, p in prunable_parameters(net).items():
                if name in masks:
                    p.mul_(torch.as_tensor(masks[name], dtype=p.dtype))
    if dtype is not None:
        net = net.to(dtype)
    return net, prunable_parameters(net)


def _loss_grads(
    net: nn.Module,
    params: Mapping[str, nn.Parameter],
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    temperature: float = 1.0,
) -> dict[str, torch.Tensor]:
    grads = {name: torch.zeros_like(p) for name, p in params.items()}
    for x, y in batches:
        net.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x) / temperature, y)
        g = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        for name, gi in zip(params, g, strict=True):
            if gi is not None:
                grads[name] += gi
    return grads


def snip_scores(
    model: nn.Module,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    masks: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """SNIP connection sensitivity ``|g ⊙ theta|`` with ``g = sum_b dL_b/dtheta``.

    ``L_b`` is the mean cross-entropy of batch ``b`` (model in train mode, on a
    copy); equal to ``|dL/dc|`` at ``c = 1`` for the mask ``c`` of Lee et al.
    2019. Weights masked in the model or in ``masks`` are zeroed and score ``-inf``.
    """
    masks = dict(masks) if masks is not None else _current_masks(model)
    net, params = _scoring_copy(model, masks=masks)
    net.train()
    grads = _loss_grads(net, params, batches)
    out = {}
    for name, p in params.items():
        s = (grads[name] * p.detach()).abs().double().numpy()
        out[name] = np.where(masks[name], s, -np.inf) if name in masks else s
    return out


@register_pruner(
    "snip",
    "pai",
    needs_data=True,
    summary="SNIP: keep the largest |g * theta| (connection sensitivity) on a few batches",
    source="Lee et al. 2019; seed 001 Table 6",
)
def _snip(ctx: PruneContext, *, n_batches: int = 1, batch_size: int = 128) -> Masks:
    _check_positive_int(n_batches=n_batches, batch_size=batch_size)
    scores = snip_scores(ctx.model, ctx.batches(n_batches, batch_size))
    return threshold(scores, ctx.sparsity, "global")


def grasp_scores(
    model: nn.Module,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    temperature: float = 200.0,
) -> dict[str, np.ndarray]:
    """GraSP *keep* scores ``theta ⊙ Hg`` (Wang et al. 2020).

    Wang et al. score ``S(-theta) = -theta ⊙ Hg`` (``H`` the Hessian, ``g`` the
    gradient of the temperature-scaled loss) and remove the weights with the
    *highest* ``S``. Equivalently we return ``-S = theta ⊙ Hg`` and keep the
    highest, so :func:`threshold` applies unchanged. ``Hg`` is the gradient of
    ``g_const · g(theta)`` (double backward).
    """
    masks = _current_masks(model)
    net, params = _scoring_copy(model)
    net.train()
    g_const = _loss_grads(net, params, batches, temperature=temperature)
    hg = {name: torch.zeros_like(p) for name, p in params.items()}
    for x, y in batches:
        loss = F.cross_entropy(net(x) / temperature, y)
        g = torch.autograd.grad(loss, list(params.values()), create_graph=True, allow_unused=True)
        z = sum((gi * g_const[n]).sum() for n, gi in zip(params, g, strict=True) if gi is not None)
        if not isinstance(z, torch.Tensor) or not z.requires_grad:
            continue
        h = torch.autograd.grad(z, list(params.values()), allow_unused=True)
        for name, hi in zip(params, h, strict=True):
            if hi is not None:
                hg[name] += hi
    out = {}
    for name, p in params.items():
        s = (p.detach() * hg[name]).double().numpy()
        out[name] = np.where(masks[name], s, -np.inf) if name in masks else s
    return out


@register_pruner(
    "grasp",
    "pai",
    needs_data=True,
    summary="GraSP: remove the weights with the highest -theta * Hg (gradient-flow preservation)",
    source="Wang et al. 2020; seed 001 Table 6",
)
def _grasp(
    ctx: PruneContext, *, n_batches: int = 1, batch_size: int = 128, temperature: float = 200.0
) -> Masks:
    _check_positive_int(n_batches=n_batches, batch_size=batch_size)
    scores = grasp_scores(ctx.model, ctx.batches(n_batches, batch_size), temperature=temperature)
    return threshold(scores, ctx.sparsity, "global")


# --------------------------------------------------------------------------- SynFlow


class _SynFlowRangeError(ArithmeticError):
    """R overflowed or underflowed in the working precision."""


def _unbound_activations(net: nn.Module) -> None:
    """Replace saturating activations (ReLU6, Hardtanh) by ReLU in a SynFlow copy.

    With non-negative parameters and an all-ones input every activation is
    non-negative, where ReLU is the identity, as in the linearised network of
    Tanaka et al.; ReLU6 would clip at 6 and zero the gradients of whole
    layers (MobileNet-V2).
    """
    for parent in net.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, (nn.ReLU6, nn.Hardtanh)):
                setattr(parent, child_name, nn.ReLU())


class _SynFlowNet:
    """A float64 copy of the model with every parameter and buffer replaced by its absolute value."""

    def __init__(
        self, model: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype = torch.float32
    ) -> None:
        net, params = _scoring_copy(model, dtype)
        net.eval()  # BatchNorm uses its (abs) running statistics, not batch statistics
        _unbound_activations(net)
        with torch.no_grad():
            for tensor in net.state_dict().values():
                if tensor.is_floating_point():
                    tensor.abs_()
        self.net, self.params = net, params
        self.original = {n: p.detach().clone() for n, p in params.items()}
        self.x = torch.ones(1, *input_shape, dtype=dtype)
        self.dtype = dtype

    def scores(self, masks: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        with torch.no_grad():
            for name, p in self.params.items():
                p.copy_(self.original[name])
                if masks is not None:
                    p.mul_(torch.as_tensor(masks[name], dtype=self.dtype))
        self.net.zero_grad(set_to_none=True)
        r = self.net(self.x).sum()
        if not torch.isfinite(r) or (r == 0 and self.dtype != torch.float64):
            # overflow, or underflow that float64 may resolve; R == 0 in float64 means the
            # masks disconnect input from output: every score is then 0
            raise _SynFlowRangeError(f"SynFlow's objective is {r.item()} in {self.dtype}")
        grads = torch.autograd.grad(r, list(self.params.values()), allow_unused=True)
        out = {}
        for (name, p), g in zip(self.params.items(), grads, strict=True):
            s = torch.zeros_like(p) if g is None else (g * p.detach()).abs()
            arr = s.numpy().copy()
            out[name] = np.where(masks[name], arr, -np.inf) if masks is not None else arr
        return out


def synflow_scores(
    model: nn.Module, input_shape: Sequence[int], masks: Mapping[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """SynFlow scores ``|dR/dtheta ⊙ theta|``, ``R = 1^T (prod_l |theta^l|) 1``.

    ``R`` is the sum of the outputs of a float64 copy of the model whose
    parameters and buffers are replaced by their absolute values, evaluated on
    an all-ones input of ``input_shape`` (BatchNorm in eval mode). No data is
    used. Weights masked in ``masks`` are zeroed and score ``-inf``.
    """
    masks = masks if masks is not None else (_current_masks(model) or None)
    if masks is not None:
        params = prunable_parameters(model)
        masks = {n: masks.get(n, np.ones(tuple(p.shape), dtype=bool)) for n, p in params.items()}
    return _synflow_auto(model, tuple(input_shape), "auto", lambda flow: flow.scores(masks))


@register_pruner(
    "synflow",
    "pai",
    needs_data=False,
    summary="SynFlow: iterative synaptic-flow pruning, data-free, exponential schedule",
    source="Tanaka et al. 2020; seed 001 Table 6",
)
def _synflow(ctx: PruneContext, *, rounds: int = 100, precision: str = "auto") -> Masks:
    _check_positive_int(rounds=rounds)
    shape = ctx.require_input_shape("SynFlow")
    current = _current_masks(ctx.model)

    def run(flow: _SynFlowNet) -> Masks:
        masks: Masks = {
            n: current.get(n, np.ones(tuple(p.shape), dtype=bool)) for n, p in flow.params.items()
        }
        for k in range(1, rounds + 1):
            # exponential schedule: density after round k is d^(k/rounds)
            round_sparsity = 1.0 - ctx.density ** (k / rounds)
            masks = threshold(flow.scores(masks), round_sparsity, "global")
        return masks

    return _synflow_auto(ctx.model, shape, precision, run)


_PRECISIONS = {"float32": torch.float32, "float64": torch.float64}


def _synflow_auto(
    model: nn.Module, shape: tuple[int, ...], precision: str, run: Callable[[_SynFlowNet], Any]
) -> Any:
    """Run in float32 (fast) and redo in float64 if ``R`` over- or underflows (deep nets)."""
    if precision not in ("auto", *_PRECISIONS):
        raise ValidationError(
            "The 'precision' option of synflow must be one of ('auto', 'float32', 'float64'). "
            f"Got {precision!r} instead."
        )
    order = ["float32", "float64"] if precision == "auto" else [precision]
    for i, name in enumerate(order):
        try:
            return run(_SynFlowNet(model, shape, _PRECISIONS[name]))
        except _SynFlowRangeError as exc:
            if i == len(order) - 1:
                raise ValidationError(
                    f"{exc}: SynFlow cannot rank this model's weights (too deep or wide for "
                    "floating point)."
                ) from exc
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- ProsPr


def prospr_scores(
    model: nn.Module,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    steps: int = 3,
    lr: float = 0.1,
    masks: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """ProsPr meta-gradient scores ``|dL(theta_M)/dc|`` at ``c = 1``.

    ``theta_0 ⊙ c`` takes ``steps`` plain SGD steps (learning rate ``lr``) on
    ``batches[0..steps-1]`` with the graph kept (second order), and ``L`` is the
    loss of the result on the next batch (Alizadeh et al. 2022). Batches are
    reused cyclically if fewer are given.
    """
    from torch.func import functional_call

    current = masks if masks is not None else _current_masks(model)
    net, params = _scoring_copy(model)
    net.train()
    all_params = dict(net.named_parameters())
    buffers = {n: b.clone() for n, b in net.named_buffers()}
    prunable = {name: name for name in params}
    c = {name: torch.ones_like(params[name], requires_grad=True) for name in prunable}
    weights: dict[str, torch.Tensor] = {}
    for name, p in all_params.items():
        base = p.detach()
        if name in c:
            m = torch.as_tensor(current[name], dtype=base.dtype) if name in current else 1.0
            weights[name] = base * m * c[name]
        else:
            weights[name] = base.clone().requires_grad_(True)
    for step in range(steps):
        x, y = batches[step % len(batches)]
        loss = F.cross_entropy(functional_call(net, (weights, buffers), (x,)), y)
        grads = torch.autograd.grad(
            loss, list(weights.values()), create_graph=True, allow_unused=True
        )
        weights = {
            n: (w - lr * g) if g is not None else w
            for (n, w), g in zip(weights.items(), grads, strict=True)
        }
    x, y = batches[steps % len(batches)]
    loss = F.cross_entropy(functional_call(net, (weights, buffers), (x,)), y)
    meta = torch.autograd.grad(loss, [c[n] for n in prunable], allow_unused=True)
    out = {}
    for name, g in zip(prunable, meta, strict=True):
        s = np.zeros(tuple(params[name].shape)) if g is None else g.abs().double().numpy()
        out[name] = np.where(current[name], s, -np.inf) if name in current else s
    return out


@register_pruner(
    "prospr",
    "pai",
    needs_data=True,
    summary="ProsPr: keep the largest meta-gradients |dL(theta_M)/dc| through M SGD steps, iterative",
    source="Alizadeh et al. 2022; seed 001 Table 6",
)
def _prospr(
    ctx: PruneContext,
    *,
    rounds: int = 3,
    steps: int = 3,
    lr: float = 0.1,
    batch_size: int = 64,
) -> Masks:
    _check_positive_int(rounds=rounds, steps=steps, batch_size=batch_size)
    params = ctx.params()
    current = _current_masks(ctx.model)
    masks: Masks = {
        n: current.get(n, np.ones(tuple(p.shape), dtype=bool)) for n, p in params.items()
    }
    for k in range(1, rounds + 1):
        batches = ctx.batches(steps + 1, batch_size, offset=k - 1)
        scores = prospr_scores(ctx.model, batches, steps=steps, lr=lr, masks=masks)
        masks = threshold(scores, 1.0 - ctx.density ** (k / rounds), "global")
    return masks


# --------------------------------------------------------------------------- helpers


def _check_positive_int(**values: Any) -> None:
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


# Register the pruners defined in the sibling modules (they import helpers from here).
from prunegraph.loader import pruning_graph as _pruning_graph  # noqa: E402, F401
from prunegraph.loader import pruning_train as _pruning_train  # noqa: E402, F401
