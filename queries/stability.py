r"""Section C: pairwise stability of two sparse networks of the same architecture.

Cunegatti, Bucur and Iacca (2023), eq. 4.

With per-layer edge sets ``E_i^1``, ``E_i^2`` and ``e_i = (|E_i^1| + |E_i^2|) / 2``::

    stability_jaccard = sum_i J_i e_i / sum_i e_i,   J_i = |E^1 n E^2| / |E^1 u E^2|
    stability_overlap = sum_i O_i e_i / sum_i e_i,   O_i = |E^1 n E^2| / min(|E^1|, |E^2|)

Layers are the conv/linear blocks (skip blocks are fixed by the architecture
and would inflate both indices). Settings: ``init`` (same pruner, sparsity,
dataset; different seed) and ``data`` (same pruner, sparsity, seed; different
dataset).
"""

from __future__ import annotations

import numpy as np

from prunegraph.errors import ValidationError
from prunegraph.loader.graph import MultipartiteGraph
from prunegraph.queries.metric_registry import register_metric

SETTINGS = ("init", "data")


def _layer_keys(graph: MultipartiteGraph, block) -> np.ndarray:
    s, d, _ = graph.block_local_edges(block)
    width = graph.partitions[block.dst_partition].size
    return np.unique(s.astype(np.int64) * width + d)


def stability(g1: MultipartiteGraph, g2: MultipartiteGraph) -> dict[str, float | None]:
    """``{'stability_jaccard', 'stability_overlap'}`` of two graphs of one architecture."""
    if g1.kind != g2.kind:
        raise ValidationError(
            f"Stability compares graphs of one encoding; got kinds {g1.kind!r} and {g2.kind!r}."
        )
    shapes1 = [p.shape for p in g1.partitions]
    shapes2 = [p.shape for p in g2.partitions]
    layers1 = [(b.src_partition, b.dst_partition, b.kind) for b in g1.blocks]
    layers2 = [(b.src_partition, b.dst_partition, b.kind) for b in g2.blocks]
    if shapes1 != shapes2 or layers1 != layers2:
        raise ValidationError(
            "Stability needs two networks of the same architecture: their partitions or "
            "layers differ."
        )
    num_j = num_o = den = 0.0
    for b1, b2 in zip(g1.blocks, g2.blocks, strict=True):
        if b1.kind == "skip":
            continue
        k1, k2 = _layer_keys(g1, b1), _layer_keys(g2, b2)
        inter = len(np.intersect1d(k1, k2, assume_unique=True))
        union = len(k1) + len(k2) - inter
        e = (len(k1) + len(k2)) / 2
        if e == 0:
            continue
        num_j += inter / union * e
        num_o += inter / min(len(k1), len(k2)) * e if min(len(k1), len(k2)) else 0.0
        den += e
    if den == 0:
        return {"stability_jaccard": None, "stability_overlap": None}
    return {"stability_jaccard": num_j / den, "stability_overlap": num_o / den}


@register_metric("stability_jaccard", section="C", scope="pair")
def stability_jaccard(g1: MultipartiteGraph, g2: MultipartiteGraph) -> float | None:
    """Edge-weighted mean per-layer Jaccard index of the two edge sets."""
    return stability(g1, g2)["stability_jaccard"]


@register_metric("stability_overlap", section="C", scope="pair")
def stability_overlap(g1: MultipartiteGraph, g2: MultipartiteGraph) -> float | None:
    """Edge-weighted mean per-layer overlap coefficient of the two edge sets."""
    return stability(g1, g2)["stability_overlap"]
