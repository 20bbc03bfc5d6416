"""Iterative magnitude pruning with rewinding (the lottery-ticket procedure).

``imp`` trains ``model`` in place with :func:`prunegraph.loader.training.train`
and leaves it at the rewind point (initial weights, or the weights after
``rewind_step`` steps).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from prunegraph.errors import ValidationError
from prunegraph.loader.masks import Masks, prunable_parameters
from prunegraph.loader.pruning.core import (
    PruneContext,
    check_positive_int,
    register_pruner,
    threshold,
)
from prunegraph.loader.pruning.magnitude import magnitude_scores

# --------------------------------------------------------------------------- IMP


@register_pruner(
    "imp",
    "magnitude",
    mode="rewind",
    needs_data=True,
    summary="iterative magnitude pruning with rewinding (lottery ticket): train, prune, rewind, repeat",
    source="Frankle & Carbin 2019; Frankle et al. 2020 (rewinding); Ramanujan-graph LTH paper",
)
def _imp(
    ctx: PruneContext,
    *,
    rounds: int = 3,
    rewind_step: int = 0,
    scope: str = "global",
) -> Masks:
    """Each round trains with ``ctx.training``, then prunes the same fraction
    ``1 - d^(1/rounds)`` of the surviving weights by magnitude and rewinds."""
    check_positive_int(rounds=rounds)
    if isinstance(rewind_step, bool) or not isinstance(rewind_step, int) or rewind_step < 0:
        raise ValidationError(
            f"The 'rewind_step' option of imp must be a non-negative int. Got {rewind_step!r} instead."
        )
    model = ctx.model
    masks: Masks = {
        n: np.ones(tuple(p.shape), dtype=bool) for n, p in prunable_parameters(model).items()
    }
    rewind: dict[str, torch.Tensor] | None = (
        copy.deepcopy(model.state_dict()) if rewind_step == 0 else None
    )

    def capture(net: nn.Module, step: int) -> None:
        nonlocal rewind
        if rewind is None and step == rewind_step:
            rewind = copy.deepcopy(net.state_dict())

    for k in range(1, rounds + 1):
        ctx.train(masks, seed=ctx.seed + k, hook=capture if rewind is None else None)
        if rewind is None:
            raise ValidationError(
                f"The 'rewind_step' option of imp ({rewind_step}) is beyond the first round's "
                "training steps; lower it or train longer."
            )
        masks = threshold(
            magnitude_scores_masked(model, masks), 1.0 - ctx.density ** (k / rounds), scope
        )
        model.load_state_dict(rewind)
    with torch.no_grad():
        for name, p in prunable_parameters(model).items():
            p.mul_(torch.as_tensor(masks[name], dtype=p.dtype))
    return masks


def magnitude_scores_masked(model: nn.Module, masks: Masks) -> dict[str, np.ndarray]:
    """``|theta|`` with the weights already pruned by ``masks`` at ``-inf``."""
    scores = magnitude_scores(model)
    return {n: np.where(masks[n], s, -np.inf) for n, s in scores.items()}
