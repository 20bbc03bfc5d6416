"""Magnitude pruning: global and layer-wise ``|theta|`` of a (trained) model."""

from __future__ import annotations

import numpy as np
from torch import nn

from prunegraph.loader.masks import Masks, prunable_parameters
from prunegraph.loader.pruning.core import PruneContext, current_masks, register_pruner, threshold

# --------------------------------------------------------------------------- magnitude


def magnitude_scores(model: nn.Module) -> dict[str, np.ndarray]:
    """``|theta|`` of every prunable weight (masked weights score ``-inf``)."""
    scores = {}
    masks = current_masks(model)
    for name, p in prunable_parameters(model).items():
        s = p.detach().abs().double().cpu().numpy()
        scores[name] = np.where(masks[name], s, -np.inf) if name in masks else s
    return scores


@register_pruner(
    "magnitude",
    "magnitude",
    mode="trained",
    needs_data=False,
    summary="global magnitude: keep the largest |theta| over the whole network",
    source="Han et al. 2015; Frankle & Carbin 2019 (one-shot)",
)
def _magnitude(ctx: PruneContext) -> Masks:
    return threshold(magnitude_scores(ctx.model), ctx.sparsity, "global")


@register_pruner(
    "magnitude_layer",
    "magnitude",
    mode="trained",
    needs_data=False,
    summary="layer-wise magnitude: keep the largest |theta| in every layer, same density per layer",
    source="Han et al. 2015; Zhu & Gupta 2017",
)
def _magnitude_layer(ctx: PruneContext) -> Masks:
    return threshold(magnitude_scores(ctx.model), ctx.sparsity, "layer")
