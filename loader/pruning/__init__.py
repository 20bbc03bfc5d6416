"""Pruners: scores -> one shared threshold -> masks.

Every pruner is registered in :data:`PRUNERS` under a stable name with a
category (``pai``, ``random``, ``magnitude``, ``dst``, ``graph``) and is run
through :func:`prune`, which validates its arguments once::

    masks = prune(model, "synflow", 0.9, seed=0)

A pruner computes a score per prunable weight; :func:`threshold` keeps the
highest-scoring weights with an exact count (ties broken by position, so the
result is deterministic).

The package's modules, one per family, all build on :mod:`.core` (registry,
context, thresholding, helpers):

- :mod:`.baselines`: ``random``, ``er``, ``erk``;
- :mod:`.magnitude`: ``magnitude``, ``magnitude_layer``;
- :mod:`.pai`: ``snip``, ``grasp``, ``synflow``, ``prospr``;
- :mod:`.imp`: ``imp`` (train, prune, rewind);
- :mod:`.dst`: ``set``, ``rigl``, ``dsr`` (train while pruning);
- :mod:`.graph`: ``spectral``, ``ramanujan``;
- :mod:`.resource`: ``resource`` (Janik and Nowak: L1 resource loss on a DAG network, thresholding).

Score computations run on a deep copy of the model, so ``prune`` leaves the
model's parameters and BatchNorm statistics untouched, except for the training
pruners, which train ``model`` in place (documented on each).
"""

from __future__ import annotations

# Importing the family modules registers their pruners.
from prunegraph.loader.pruning import baselines, dst, graph, imp, magnitude, pai, resource
from prunegraph.loader.pruning.baselines import er_raw_scale, erk_densities
from prunegraph.loader.pruning.core import (
    CATEGORIES,
    PRUNERS,
    PruneContext,
    Pruner,
    list_pruners,
    prune,
    register_pruner,
    threshold,
)
from prunegraph.loader.pruning.magnitude import magnitude_scores
from prunegraph.loader.pruning.pai import grasp_scores, prospr_scores, snip_scores, synflow_scores

__all__ = [
    "CATEGORIES",
    "PRUNERS",
    "PruneContext",
    "Pruner",
    "baselines",
    "dst",
    "er_raw_scale",
    "erk_densities",
    "graph",
    "grasp_scores",
    "imp",
    "list_pruners",
    "magnitude",
    "magnitude_scores",
    "pai",
    "prospr_scores",
    "prune",
    "register_pruner",
    "resource",
    "snip_scores",
    "synflow_scores",
    "threshold",
]
