r"""Janik and Nowak's resource pruner: train a DAG network under an L1 resource loss, threshold.

The ``dagnet`` model (:class:`~prunegraph.loader.models.DagNet`) joins its
conv-block nodes by trainable scalar edges ``tanh(w_e)``. ``resource`` trains
it (from its initialisation, every edge at ``tanh w = 0.5``) on

.. math:: L_{total} = L_{CE} + \lambda \sum_e |\tanh w_e|

(Janik and Nowak, eqs. 1-2), then erases every edge with ``|tanh w_e| < tau``
(their threshold, 0.006) and the "dead paths" this leaves: edges not on any
path from the input node to the output node (section 3, Fig. 1c). What is
left is the network's learned size and topology; the removed edges' gates
are zeroed in ``model.edge_mask`` (so the forward pass and the MGE, where a
zero gate removes the paths through it, see the same network) and the
returned masks drop the weights of every node that is left off all
input-to-output paths and of every reduce block no kept edge uses.

The kept fraction is the *outcome* of ``lam`` and ``tau``, not a target: the
``sparsity`` argument of :func:`~prunegraph.loader.pruning.prune` is not used
(a study lists one nominal sparsity and sweeps ``lam`` with ``[grid.sweep]``,
see ``examples/janik-nowak-resources.toml``). No fine-tuning follows (Janik
and Nowak do not fine-tune either): mode ``during``.
"""

from __future__ import annotations

import numpy as np
import torch

from prunegraph.errors import ValidationError
from prunegraph.loader.masks import Masks
from prunegraph.loader.pruning.core import PruneContext, register_pruner

#: Janik and Nowak's threshold on |tanh w| (section 4: "tau = 0.006 ... for all datasets").
PAPER_TAU = 0.006
#: Janik and Nowak's weight of the resource loss (Appendix A: lambda = 1e-3).
PAPER_LAMBDA = 1e-3


def alive_nodes(adjacency: np.ndarray) -> np.ndarray:
    """Nodes on some path from node 0 to node ``N-1`` of a DAG in topological order.

    ``alive[v] = reach_0[v] & reach_{N-1}[v]``, with the reachability vectors
    computed by boolean matrix-vector sweeps (at most ``N`` of them, each one
    vectorised over all nodes). An empty graph (no path) has no alive node.

    Parameters
    ----------
    adjacency : ndarray, (N, N)
        Non-zero ``A[i, j]`` is an edge ``i -> j``.
    """
    linked = np.asarray(adjacency) != 0
    n = linked.shape[0]
    forward = np.zeros(n, dtype=bool)
    forward[0] = True
    backward = np.zeros(n, dtype=bool)
    backward[-1] = True
    for _ in range(n):
        grown_f = forward | (forward @ linked)
        grown_b = backward | (linked @ backward)
        if (grown_f == forward).all() and (grown_b == backward).all():
            break
        forward, backward = grown_f, grown_b
    alive = forward & backward
    if not (alive[0] and alive[-1]):
        return np.zeros(n, dtype=bool)
    return alive


def resource_masks(model: torch.nn.Module, tau: float, *, remove_dead: bool = True) -> Masks:
    """Threshold ``model``'s edges at ``tau``, drop dead paths, and mask what no path uses.

    Zeroes the removed edges' gates in ``model.edge_mask`` (in place) and
    returns one boolean mask per prunable weight: the weights of a node
    (``stem`` for node 0, ``nodes.<j>``) are kept iff the node is alive (on an
    input-to-output path, or every node when ``remove_dead`` is false), a
    reduce block's iff a kept edge uses it; the classifier is always kept.
    """
    from prunegraph.loader.masks import prunable_parameters
    from prunegraph.loader.models import DagNet

    if not isinstance(model, DagNet):
        raise ValidationError(
            f"The 'resource' pruner needs a dagnet model (Janik and Nowak). Got {type(model).__name__}."
        )
    if isinstance(tau, bool) or not isinstance(tau, int | float) or not 0.0 <= tau < 1.0:
        raise ValidationError(
            f"The 'tau' option of resource must be a float in [0, 1). Got {tau!r} instead."
        )
    model.threshold_edges(float(tau))
    src, dst = model.edge_index
    kept = model.edge_strength() > 0
    if remove_dead:
        adjacency = np.zeros((model.n_nodes, model.n_nodes), dtype=bool)
        adjacency[src[kept], dst[kept]] = True
        alive = alive_nodes(adjacency)
        kept &= alive[src] & alive[dst]
        with torch.no_grad():
            model.edge_mask.mul_(torch.from_numpy(kept).to(model.edge_mask.dtype))
    else:
        alive = np.ones(model.n_nodes, dtype=bool)
    stage = np.asarray(model.node_stage)
    cross = kept & (stage[dst] > stage[src])
    used_reduce = {f"{i}_{s}" for i, s in zip(src[cross], stage[dst[cross]], strict=True)}
    masks: Masks = {}
    for name, param in prunable_parameters(model).items():
        parts = name.split(".")
        if parts[0] == "stem":
            keep = bool(alive[0])
        elif parts[0] == "nodes":
            keep = bool(alive[int(parts[1])])
        elif parts[0] == "reduce":
            keep = parts[1] in used_reduce
        else:  # the classifier
            keep = True
        masks[name] = np.full(tuple(param.shape), keep, dtype=bool)
    return masks


@register_pruner(
    "resource",
    "magnitude",
    mode="during",
    needs_data=True,
    models=("dagnet",),
    summary=(
        "Train a DAG network under the L1 resource loss lam * sum |tanh w_e|, erase edges with "
        "|tanh w_e| < tau and the dead paths left (the kept fraction is the outcome, not a target)"
    ),
    source="Janik and Nowak, Connectivity Properties of Neural Networks Under Performance-Resources Trade-off",
)
def _resource(
    ctx: PruneContext,
    *,
    lam: float = PAPER_LAMBDA,
    tau: float = PAPER_TAU,
    remove_dead: bool = True,
) -> Masks:
    """Train ``ctx.model`` with the resource loss of weight ``lam``, then :func:`resource_masks`.

    ``ctx.sparsity`` is not used: what is kept is what ``lam`` and ``tau`` leave.
    """
    from prunegraph.loader.models import DagNet
    from prunegraph.loader.training import train

    if not isinstance(ctx.model, DagNet):
        raise ValidationError(
            "The 'resource' pruner needs a dagnet model (Janik and Nowak). "
            f"Got {type(ctx.model).__name__}."
        )
    if isinstance(lam, bool) or not isinstance(lam, int | float) or not 0.0 <= lam < float("inf"):
        raise ValidationError(
            f"The 'lam' option of resource must be a float >= 0. Got {lam!r} instead."
        )
    train(
        ctx.model,
        ctx.train_dataset(),
        seed=ctx.seed,
        resource_weight=float(lam),
        **ctx.training.train_kwargs(),
    )
    return resource_masks(ctx.model, tau, remove_dead=bool(remove_dead))
