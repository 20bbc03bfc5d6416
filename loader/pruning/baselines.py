"""Random baselines: uniform layer-wise random, Erdős–Rényi (ER) and ER-Kernel (ERK)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prunegraph.loader.masks import Masks
from prunegraph.loader.pruning.core import (
    PruneContext,
    apportion,
    counts_to_random_masks,
    layer_sizes,
    n_keep,
    register_pruner,
)

# --------------------------------------------------------------------------- random family


@register_pruner(
    "random",
    "random",
    mode="init",
    needs_data=False,
    summary="uniform layer-wise random: every layer keeps a (1 - s) fraction, chosen uniformly",
    source="Zhu & Gupta 2017; Cunegatti et al. 2024, Table 7 (Uniform)",
)
def _random(ctx: PruneContext) -> Masks:
    params = ctx.params()
    sizes = layer_sizes(params)
    counts = apportion(
        sizes, np.full(len(sizes), ctx.density), n_keep(int(sizes.sum()), ctx.sparsity)
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
    sizes = layer_sizes(params)
    counts = apportion(sizes, densities, n_keep(int(sizes.sum()), ctx.sparsity))
    return counts_to_random_masks(params, counts, np.random.default_rng(ctx.seed))


@register_pruner(
    "er",
    "random",
    mode="init",
    needs_data=False,
    summary="Erdős–Rényi: random, layer density proportional to (n_in + n_out) / (n_in n_out)",
    source="Mocanu et al. 2018; Cunegatti et al. 2024, Table 7 (ER)",
)
def _er(ctx: PruneContext, *, kernel: bool = False, power: float = 1.0) -> Masks:
    return _er_masks(ctx, kernel=kernel, power=power)


@register_pruner(
    "erk",
    "random",
    mode="init",
    needs_data=False,
    summary="Erdős–Rényi-Kernel: random, layer density proportional to sum(shape) / prod(shape)",
    source="Evci et al. 2020; Cunegatti et al. 2024, Table 7 (ERK)",
)
def _erk(ctx: PruneContext, *, kernel: bool = True, power: float = 1.0) -> Masks:
    return _er_masks(ctx, kernel=kernel, power=power)
