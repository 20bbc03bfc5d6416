r"""Section C: pairwise stability of two sparse networks of the same architecture.

Cunegatti, Bucur and Iacca (2023), eq. 4.

With per-layer edge sets ``E_i^1``, ``E_i^2`` and ``e_i = (|E_i^1| + |E_i^2|) / 2``::

    stability_jaccard = sum_i J_i e_i / sum_i e_i,   J_i = |E^1 n E^2| / |E^1 u E^2|
    stability_overlap = sum_i O_i e_i / sum_i e_i,   O_i = |E^1 n E^2| / min(|E^1|, |E^2|)

Layers are the conv/linear blocks (skip blocks are fixed by the architecture
and would inflate both indices). Settings: ``init`` (same pruner, sparsity,
dataset; different seed) and ``data`` (same pruner, sparsity, seed; different
dataset).

Stability as a graph: :func:`pairwise_stability` computes both indices for
every pair of a group of networks at once (per layer, a sparse 0/1 incidence
matrix ``X`` of networks by edge keys, so ``X X^T`` holds every pairwise
intersection ``|E_i^a n E_i^b|``), :func:`similar_rows` groups networks by
setting and :func:`write_similar` stores the pairs as
``(:Network)-[:SIMILAR {setting, jaccard, overlap}]->(:Network)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from prunegraph.errors import ValidationError
from prunegraph.loader.graph import MultipartiteGraph
from prunegraph.loader.records import validate_network_id
from prunegraph.queries.metric_registry import register_metric

if TYPE_CHECKING:
    from prunegraph.queries.store import Store

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


# ------------------------------------------------------------------ stability as a graph


def architecture_signature(graph: MultipartiteGraph) -> tuple[Any, ...]:
    """What two graphs must share to be compared: kind, partition shapes and layer layout."""
    return (
        graph.kind,
        tuple(tuple(p.shape) for p in graph.partitions),
        tuple((b.src_partition, b.dst_partition, b.kind) for b in graph.blocks),
    )


def layer_keys(graph: MultipartiteGraph) -> list[np.ndarray]:
    """Sorted unique edge keys ``src_local * width + dst_local`` of each non-skip layer."""
    return [_layer_keys(graph, b) for b in graph.blocks if b.kind != "skip"]


def pairwise_stability(keys: Sequence[Sequence[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    r"""Stability of every pair of networks of one architecture, all pairs at once.

    Parameters
    ----------
    keys : sequence of sequences of int arrays
        ``keys[a][i]``: the unique edge keys of layer ``i`` of network ``a``
        (:func:`layer_keys`); every network has the same number of layers.

    Returns
    -------
    jaccard, overlap : ndarray of shape (n, n)
        Cunegatti et al. (2023), eq. 4, for every pair ``(a, b)``:

        .. math::

            SJ_{ab} = \frac{\sum_i J_i e_i}{\sum_i e_i},\quad
            SO_{ab} = \frac{\sum_i O_i e_i}{\sum_i e_i},\quad
            e_i = \frac{|E_i^a| + |E_i^b|}{2}

        with :math:`J_i = |E_i^a \cap E_i^b| / |E_i^a \cup E_i^b|` and
        :math:`O_i = |E_i^a \cap E_i^b| / \min(|E_i^a|, |E_i^b|)` (0 when
        the smaller set is empty). NaN where both networks have no edges.

    Notes
    -----
    Per layer, the networks' key sets form a sparse 0/1 matrix ``X`` (one
    row per network); ``X X^T`` gives every pairwise intersection in one
    sparse product, so nothing loops over edges or pairs.
    """
    n = len(keys)
    if n == 0:
        return np.zeros((0, 0)), np.zeros((0, 0))
    n_layers = {len(k) for k in keys}
    if len(n_layers) != 1:
        raise ValidationError(
            "Stability needs networks of the same architecture: their numbers of layers "
            f"differ ({sorted(n_layers)})."
        )
    num_j = np.zeros((n, n))
    num_o = np.zeros((n, n))
    den = np.zeros((n, n))
    for i in range(n_layers.pop()):
        layer = [np.asarray(k[i], dtype=np.int64) for k in keys]
        sizes = np.array([len(k) for k in layer], dtype=np.int64)
        indices = np.concatenate(layer) if sizes.sum() else np.zeros(0, np.int64)
        indptr = np.concatenate(([0], np.cumsum(sizes)))
        width = int(indices.max()) + 1 if len(indices) else 1
        x = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.int64), indices, indptr), shape=(n, width)
        )
        inter = (x @ x.T).toarray().astype(np.float64)
        total = (sizes[:, None] + sizes[None, :]).astype(np.float64)
        smaller = np.minimum(sizes[:, None], sizes[None, :]).astype(np.float64)
        union = total - inter
        e = total / 2
        num_j += np.divide(inter, union, out=np.zeros_like(inter), where=union > 0) * e
        num_o += np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0) * e
        den += e
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(den > 0, num_j / np.where(den > 0, den, 1.0), np.nan)
        overlap = np.where(den > 0, num_o / np.where(den > 0, den, 1.0), np.nan)
    return jaccard, overlap


def similar_rows(
    networks: Mapping[str, MultipartiteGraph | Sequence[np.ndarray]],
    groups: Mapping[str, Mapping[str, Hashable]],
    *,
    signatures: Mapping[str, Hashable] | None = None,
) -> list[dict[str, Any]]:
    """The ``SIMILAR`` rows of every pair of networks that share a setting's group.

    Parameters
    ----------
    networks : mapping of network id to graph (or to its :func:`layer_keys`)
        The networks to compare.
    groups : mapping of setting to (mapping of network id to group key)
        ``groups['init'][id]``: the network's identity without its seed;
        ``groups['data'][id]``: without its dataset. Two networks are compared
        in a setting when their keys (and architectures) are equal; an id
        missing from a setting's mapping takes no part in it.
    signatures : mapping of network id to hashable, optional
        Architecture of each network (default: :func:`architecture_signature`
        of the graphs; required when ``networks`` holds keys).

    Returns
    -------
    list of dict
        ``{a, b, setting, jaccard, overlap}`` with ``a < b`` (one row per
        unordered pair and setting); pairs of two edgeless networks are left out.
    """
    unknown = sorted(set(groups) - set(SETTINGS))
    if unknown:
        raise ValidationError(
            f"Unknown stability setting(s) {unknown}; the settings are {', '.join(SETTINGS)}."
        )
    keys: dict[str, Sequence[np.ndarray]] = {}
    sig: dict[str, Hashable] = {}
    for nid, item in networks.items():
        validate_network_id(nid, where="similar_rows")
        if isinstance(item, MultipartiteGraph):
            keys[nid] = layer_keys(item)
            sig[nid] = architecture_signature(item)
        else:
            if signatures is None or nid not in signatures:
                raise ValidationError(
                    f"similar_rows: network {nid!r} is given as layer keys without a signature."
                )
            keys[nid] = item
        if signatures is not None and nid in signatures:
            sig[nid] = signatures[nid]
    rows: list[dict[str, Any]] = []
    for setting, of in groups.items():
        members: dict[Hashable, list[str]] = defaultdict(list)
        for nid in sorted(set(of) & set(keys)):
            members[(sig[nid], of[nid])].append(nid)
        for ids in members.values():
            if len(ids) < 2:
                continue
            jac, ovl = pairwise_stability([keys[nid] for nid in ids])
            a, b = np.triu_indices(len(ids), k=1)
            keep = ~np.isnan(jac[a, b])
            rows.extend(
                {
                    "a": ids[i],
                    "b": ids[j],
                    "setting": setting,
                    "jaccard": float(jac[i, j]),
                    "overlap": float(ovl[i, j]),
                }
                for i, j in zip(a[keep].tolist(), b[keep].tolist(), strict=True)
            )
    return rows


def write_similar(store: Store, rows: Sequence[Mapping[str, Any]]) -> int:
    """Store ``SIMILAR`` relationships (idempotent: one per pair and setting, values replaced).

    ``rows`` as returned by :func:`similar_rows`; both networks must be
    stored. Returns the number of rows written.
    """
    from prunegraph.queries.library import load_query

    for row in rows:
        if row.get("setting") not in SETTINGS:
            raise ValidationError(
                f"A SIMILAR row needs a setting in {', '.join(SETTINGS)}; got {row.get('setting')!r}."
            )
        validate_network_id(row.get("a"), where="write_similar")
        validate_network_id(row.get("b"), where="write_similar")
    return store.write_batches(load_query("similar_write").text, [dict(r) for r in rows])
