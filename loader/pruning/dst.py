"""Dynamic sparse training: SET, RigL and DSR train while pruning.

They use :func:`prunegraph.loader.training.train` and change ``model`` in
place, leaving it trained with the returned masks applied as zeros.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from prunegraph.errors import ValidationError
from prunegraph.loader.masks import Masks, prunable_parameters
from prunegraph.loader.pruning.baselines import erk_densities
from prunegraph.loader.pruning.core import (
    PruneContext,
    apportion,
    check_positive_int,
    counts_to_random_masks,
    layer_sizes,
    n_keep,
    register_pruner,
)

# --------------------------------------------------------------------------- SET / RigL


def _initial_masks(ctx: PruneContext, distribution: str, rng: np.random.Generator) -> Masks:
    params = ctx.params()
    sizes = layer_sizes(params)
    if distribution == "erk":
        densities = erk_densities([tuple(p.shape) for p in params.values()], ctx.density)
    elif distribution == "uniform":
        densities = np.full(len(sizes), ctx.density)
    else:
        raise ValidationError(
            "The 'distribution' option must be one of ('erk', 'uniform'). "
            f"Got {distribution!r} instead."
        )
    counts = apportion(sizes, densities, n_keep(int(sizes.sum()), ctx.sparsity))
    return counts_to_random_masks(params, counts, rng)


def update_fraction(step: int, t_end: int, alpha: float) -> float:
    """Cosine-annealed drop fraction ``alpha/2 * (1 + cos(pi t / T_end))`` (Evci et al. 2020)."""
    return 0.5 * alpha * (1.0 + math.cos(math.pi * step / t_end))


def drop_and_grow(
    mask: np.ndarray,
    magnitude: np.ndarray,
    grow_score: np.ndarray | None,
    fraction: float,
    rng: np.random.Generator,
) -> int:
    """Drop the ``round(fraction * active)`` smallest-magnitude active weights, regrow as many.

    Regrowth picks the highest ``grow_score`` among inactive weights (RigL), or
    uniformly at random among inactive weights that were not just dropped
    (SET, ``grow_score=None``). Edits ``mask`` in place, keeps its count;
    returns the number of weights moved.
    """
    flat = mask.reshape(-1)
    active = np.flatnonzero(flat)
    inactive = np.flatnonzero(~flat)
    n = min(round(fraction * active.size), inactive.size, active.size)
    if n <= 0:
        return 0
    mags = magnitude.reshape(-1)[active]
    dropped = active[np.argsort(mags, kind="stable")[:n]]
    if grow_score is None:
        grown = rng.choice(inactive, size=n, replace=False)
    else:
        candidates = np.concatenate([inactive, dropped])
        scores = grow_score.reshape(-1)[candidates]
        grown = candidates[np.argsort(-scores, kind="stable")[:n]]
    flat[dropped] = False
    flat[grown] = True
    return n


def _batch_stream(
    ctx: PruneContext, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(ctx.seed + 104729)
    dataset = ctx.train_dataset()
    while True:
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=True, generator=generator
        )
        for x, y in loader:
            yield x.float(), y.long()


def _dst(
    ctx: PruneContext,
    *,
    grow: str,
    distribution: str,
    update_interval: int,
    drop_fraction: float,
    stop_fraction: float,
) -> Masks:
    check_positive_int(update_interval=update_interval)
    if not 0.0 < drop_fraction < 1.0:
        raise ValidationError(
            f"The 'drop_fraction' option must be a float in the range (0, 1). Got {drop_fraction!r} instead."
        )
    if not 0.0 < stop_fraction <= 1.0:
        raise ValidationError(
            f"The 'stop_fraction' option must be a float in the range (0, 1]. Got {stop_fraction!r} instead."
        )
    rng = np.random.default_rng(ctx.seed)
    masks = _initial_masks(ctx, distribution, rng)
    n_samples = len(ctx.train_dataset())
    total_steps = ctx.training.epochs * math.ceil(n_samples / ctx.training.batch_size)
    t_end = max(1, int(stop_fraction * total_steps))
    stream = _batch_stream(ctx, ctx.training.batch_size) if grow == "gradient" else None

    def hook(model: nn.Module, step: int) -> None:
        if step % update_interval != 0 or step >= t_end:
            return
        fraction = update_fraction(step, t_end, drop_fraction)
        params = prunable_parameters(model)
        grads: dict[str, np.ndarray] = {}
        if stream is not None:
            # RigL needs the dense gradient, including at masked (zero) weights
            x, y = next(stream)
            device = next(iter(params.values())).device  # the training device
            loss = F.cross_entropy(model(x.to(device)), y.to(device))
            g = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
            grads = {
                n: (np.zeros(tuple(p.shape)) if gi is None else gi.detach().abs().cpu().numpy())
                for (n, p), gi in zip(params.items(), g, strict=True)
            }
        for name, p in params.items():
            drop_and_grow(
                masks[name],
                p.detach().abs().cpu().numpy(),
                grads.get(name) if stream is not None else None,
                fraction,
                rng,
            )
        # regrown weights start at zero (they are zero while masked; keep it explicit)
        with torch.no_grad():
            for name, p in params.items():
                p.mul_(torch.from_numpy(masks[name]).to(device=p.device, dtype=p.dtype))

    ctx.train(masks, seed=ctx.seed, hook=hook)
    return masks


@register_pruner(
    "set",
    "dst",
    mode="during",
    needs_data=True,
    summary="SET: sparse training from ERK; drop smallest |theta|, regrow at random (cosine fraction)",
    source="Mocanu et al. 2018; Liu et al. 2021 (SET-ITOP); Cunegatti et al. 2023, Table 4",
)
def _set(
    ctx: PruneContext,
    *,
    distribution: str = "erk",
    update_interval: int = 100,
    drop_fraction: float = 0.3,
    stop_fraction: float = 0.75,
) -> Masks:
    return _dst(
        ctx,
        grow="random",
        distribution=distribution,
        update_interval=update_interval,
        drop_fraction=drop_fraction,
        stop_fraction=stop_fraction,
    )


@register_pruner(
    "rigl",
    "dst",
    mode="during",
    needs_data=True,
    summary="RigL: sparse training from ERK; drop smallest |theta|, regrow largest |gradient|",
    source="Evci et al. 2020; Cunegatti et al. 2023, Table 4",
)
def _rigl(
    ctx: PruneContext,
    *,
    distribution: str = "erk",
    update_interval: int = 100,
    drop_fraction: float = 0.3,
    stop_fraction: float = 0.75,
) -> Masks:
    return _dst(
        ctx,
        grow="gradient",
        distribution=distribution,
        update_interval=update_interval,
        drop_fraction=drop_fraction,
        stop_fraction=stop_fraction,
    )


# --------------------------------------------------------------------------- DSR


def dsr_reallocate(
    masks: Masks,
    magnitudes: dict[str, np.ndarray],
    threshold_value: float,
    rng: np.random.Generator,
) -> int:
    """One DSR update (Mostafa & Wang 2019): prune every active weight with
    ``|theta| < H`` network-wide, then regrow as many at random positions,
    allotted to layers in proportion to their surviving weights (largest
    remainder, capped by each layer's free slots). Edits ``masks`` in place and
    returns the number of weights moved; the global count is unchanged.
    """
    pruned_total = 0
    for name, mask in masks.items():
        flat = mask.reshape(-1)
        victims = np.flatnonzero(flat & (magnitudes[name].reshape(-1) < threshold_value))
        flat[victims] = False
        pruned_total += victims.size
    if pruned_total == 0:
        return 0
    names = list(masks)
    surviving = np.array([int(masks[n].sum()) for n in names], dtype=float)
    free = np.array([int((~masks[n]).sum()) for n in names], dtype=np.int64)
    share = (
        surviving / surviving.sum() if surviving.sum() > 0 else np.full(len(names), 1 / len(names))
    )
    counts = apportion(
        free, np.minimum(1.0, share * pruned_total / np.maximum(free, 1)), pruned_total
    )
    for name, k in zip(names, counts, strict=True):
        flat = masks[name].reshape(-1)
        flat[rng.choice(np.flatnonzero(~flat), size=int(k), replace=False)] = True
    return pruned_total


@register_pruner(
    "dsr",
    "dst",
    mode="during",
    needs_data=True,
    summary="DSR: sparse training; prune below an adaptive global threshold, regrow at random, "
    "reallocated across layers by surviving weights",
    source="Mostafa & Wang 2019; Cunegatti et al. 2023, Table 4",
)
def _dsr(
    ctx: PruneContext,
    *,
    distribution: str = "uniform",
    update_interval: int = 100,
    drop_fraction: float = 0.3,
    stop_fraction: float = 0.75,
    initial_threshold: float = 1e-3,
    tolerance: float = 0.1,
) -> Masks:
    """The adaptive threshold ``H`` doubles when fewer than ``(1 - tolerance) N_p`` weights
    fell below it and halves when more than ``(1 + tolerance) N_p`` did, with
    ``N_p = f_t * active`` the cosine-annealed target of SET/RigL."""
    check_positive_int(update_interval=update_interval)
    if not 0.0 < drop_fraction < 1.0:
        raise ValidationError(
            f"The 'drop_fraction' option must be a float in the range (0, 1). Got {drop_fraction!r} instead."
        )
    rng = np.random.default_rng(ctx.seed)
    masks = _initial_masks(ctx, distribution, rng)
    total_steps = ctx.training.epochs * math.ceil(
        len(ctx.train_dataset()) / ctx.training.batch_size
    )
    t_end = max(1, int(stop_fraction * total_steps))
    state = {"H": float(initial_threshold)}

    def hook(model: nn.Module, step: int) -> None:
        if step % update_interval != 0 or step >= t_end:
            return
        params = prunable_parameters(model)
        magnitudes = {n: p.detach().abs().cpu().numpy() for n, p in params.items()}
        active = sum(int(m.sum()) for m in masks.values())
        wanted = update_fraction(step, t_end, drop_fraction) * active
        moved = dsr_reallocate(masks, magnitudes, state["H"], rng)
        if moved < (1 - tolerance) * wanted:
            state["H"] *= 2.0
        elif moved > (1 + tolerance) * wanted:
            state["H"] /= 2.0
        with torch.no_grad():
            for name, p in params.items():
                p.mul_(torch.from_numpy(masks[name]).to(device=p.device, dtype=p.dtype))

    ctx.train(masks, seed=ctx.seed, hook=hook)
    return masks
