r"""Section B: per-layer Ramanujan metrics on the rolled (and rolled-channel) bipartite graphs.

For one layer's bi-adjacency ``B`` (left x right), after removing isolated
nodes, with ``dl = |E| / |L|``, ``dr = |E| / |R|`` and ``t1 >= t2`` the two
largest *distinct* eigenvalue magnitudes of the adjacency ``[[0, B], [B^T, 0]]``
(the singular values of ``B``, plus 0 when ``|L| + |R| > 2 rank(B)``)::

    delta_s      = 2 sqrt(t1 - 1) - t2                     (null if t1 < 1)
    delta_r      = sqrt(dl - 1) + sqrt(dr - 1) - t2
    delta_s_rel  = delta_s / t2,  delta_r_rel = delta_r / t2   (null if t2 = 0)
    delta_r_imdb = mean over left-degree groups (d > 0, >= 3 nodes; the group plus
                   all right nodes, isolated ones removed, kept when dl, dr >= 3)
                   of delta_r
    lambda_imsg  = mean over the same subgraphs of t1 - t2 of the |w|-weighted B
    lambda2_nlap = second smallest eigenvalue of the normalised Laplacian of the
                   largest connected component
    layer_density = unmasked weights / all weights

Magnitudes closer than ``1e-9`` (relative to ``t1``) count as one distinct
value. Undefined values are ``None`` (stored as null), never 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from prunegraph.loader.graph import EdgeBlock, MultipartiteGraph
from prunegraph.queries._structure import one_blas_thread
from prunegraph.queries.metric_registry import (
    DEFINITIONS,
    LayerContext,
    Metric,
    definitions,
    register_metric,
)

RAMANUJAN_VALUES: tuple[str, ...] = (
    "layer_density",
    "delta_s",
    "delta_r",
    "delta_s_rel",
    "delta_r_rel",
    "delta_r_imdb",
    "lambda_imsg",
    "lambda2_nlap",
)
"""The values :func:`layer_metrics` computes together (each registered as a per-layer metric)."""
DISTINCT_RTOL = 1e-9
DENSE_SVD_MAX = 4096
"""Bi-adjacencies with a side up to this size use a dense SVD (all singular values)."""
DENSE_GRAM_MAX_ENTRIES = 1 << 20
"""Bi-adjacencies up to this many cells form their Gram matrix densely (BLAS, one thread)."""


Matrix: TypeAlias = sp.csr_matrix | np.ndarray
"""A bi-adjacency: sparse CSR, or a dense array for small layers (same results, no scipy overhead)."""


def _biadjacency(rows, cols, weights, n_left, n_right, weighted: bool) -> sp.csr_matrix:
    data = np.abs(weights).astype(np.float64) if weighted else np.ones(len(rows))
    b = sp.csr_matrix((data, (rows, cols)), shape=(n_left, n_right))
    b.sum_duplicates()
    if not weighted:
        b.data[:] = 1.0
    return b


def _dense_biadjacency(rows, cols, weights, n_left, n_right, weighted: bool) -> np.ndarray:
    """:func:`_biadjacency` as a dense float64 array (duplicates summed, or 1 when unweighted)."""
    flat = np.asarray(rows, np.int64) * n_right + np.asarray(cols, np.int64)
    if weighted:
        w = np.abs(np.asarray(weights)).astype(np.float64)
        return np.bincount(flat, weights=w, minlength=n_left * n_right).reshape(n_left, n_right)
    out = np.zeros(n_left * n_right)
    out[flat] = 1.0
    return out.reshape(n_left, n_right)


def _nnz(b: Matrix) -> int:
    return int(np.count_nonzero(b)) if isinstance(b, np.ndarray) else int(b.nnz)


def _drop_isolated(b: Matrix) -> Matrix:
    if isinstance(b, np.ndarray):
        return b[b.any(axis=1)][:, b.any(axis=0)]
    keep_l = np.diff(b.indptr) > 0
    keep_r = np.bincount(b.indices, minlength=b.shape[1]) > 0
    return b[keep_l][:, keep_r].tocsr()


def _singular_values(b: Matrix, k: int | None = None) -> np.ndarray:
    """Singular values (descending); all of them for small ``b``, else the top ``k``."""
    if min(b.shape) == 0:
        return np.zeros(0)
    if min(b.shape) <= DENSE_SVD_MAX:
        if isinstance(b, np.ndarray) or b.shape[0] * b.shape[1] <= DENSE_GRAM_MAX_ENTRIES:
            dense = b if isinstance(b, np.ndarray) else b.toarray()
            small = dense @ dense.T if b.shape[0] <= b.shape[1] else dense.T @ dense
        else:
            small = (b @ b.T if b.shape[0] <= b.shape[1] else b.T @ b).toarray()
        ev = np.linalg.eigvalsh(small)
        return np.sqrt(np.clip(ev, 0, None))[::-1]
    sparse = sp.csr_matrix(b) if isinstance(b, np.ndarray) else b
    kk = min(k or 8, min(b.shape) - 1)
    return np.sort(spla.svds(sparse.astype(np.float64), k=kk, return_singular_vectors=False))[::-1]


def top_two_magnitudes(b: Matrix) -> tuple[float | None, float | None]:
    """``(t1, t2)``: the two largest distinct eigenvalue magnitudes of the bipartite adjacency."""
    if _nnz(b) == 0:
        return None, None
    s = _singular_values(b)
    t1 = float(s[0])
    full_rank_count = min(b.shape) if min(b.shape) <= DENSE_SVD_MAX else None
    mags = list(s)
    # Zero eigenvalues exist when |L| + |R| exceeds twice the number of singular values.
    if full_rank_count is not None and sum(b.shape) > 2 * full_rank_count:
        mags.append(0.0)
    tol = DISTINCT_RTOL * t1
    for m in mags[1:]:
        if m < t1 - tol:
            return t1, (0.0 if m <= tol else float(m))
    return t1, None


#: Gram matrices up to this size share one stacked solve (a LAPACK call costs more
#: than padding them); larger ones are stacked by power-of-two size.
SHARED_BUCKET_MAX = 16
#: Up to this many small matrices (one shared stack) the distinct-magnitude rule runs
#: per matrix: the vectorised form's fixed cost is larger there.
FEW_MATRICES = 8


def _top_two_one_stack(
    mats: list[np.ndarray], grams: list[np.ndarray]
) -> list[tuple[float | None, float | None]]:
    """:func:`_top_two_dense` for a few small matrices: one stack, the rule per matrix."""
    size = max(g.shape[0] for g in grams)
    stack = np.zeros((len(grams), size, size))
    for i, g in enumerate(grams):
        stack[i, : g.shape[0], : g.shape[0]] = g
    ev = np.linalg.eigvalsh(stack)
    out: list[tuple[float | None, float | None]] = []
    for i, b in enumerate(mats):
        if not b.any():
            out.append((None, None))
            continue
        r = min(b.shape)
        s = np.sqrt(np.clip(ev[i, size - r :], 0, None))[::-1]
        t1 = float(s[0])
        mags = list(s)
        if sum(b.shape) > 2 * r:
            mags.append(0.0)
        tol = DISTINCT_RTOL * t1
        pair: tuple[float | None, float | None] = (t1, None)
        for m in mags[1:]:
            if m < t1 - tol:
                pair = (t1, 0.0 if m <= tol else float(m))
                break
        out.append(pair)
    return out


def _top_two_dense(mats: list[np.ndarray]) -> list[tuple[float | None, float | None]]:
    """:func:`top_two_magnitudes` of many small dense matrices with a few stacked ``eigvalsh``.

    Each Gram matrix (the smaller side) is padded with zeros to the largest size
    of its bucket (sizes up to :data:`SHARED_BUCKET_MAX` in one, larger ones by
    ``2^(j-1) < r <= 2^j``: one LAPACK call per bucket, each matrix padded to
    less than twice its size, where one stack padded to the largest matrix cost
    up to twice as much on the MLP's layers); the padding
    only adds zero eigenvalues and only the top ``min(shape)`` are read, so each
    matrix gets its own singular values (to rounding). The distinct-magnitude
    rule of :func:`top_two_magnitudes` is applied to all of them at once.
    """
    if not mats:
        return []
    grams = [b @ b.T if b.shape[0] <= b.shape[1] else b.T @ b for b in mats]
    r = np.array([g.shape[0] for g in grams], dtype=np.int64)
    width = int(r.max())
    if len(mats) <= FEW_MATRICES and width <= SHARED_BUCKET_MAX:
        return _top_two_one_stack(mats, grams)
    # Row i: the singular values of matrix i (descending), then 0 where the adjacency
    # has zero eigenvalues (|L| + |R| > 2 min(|L|, |R|)), then -1 (nothing).
    mags = np.full((len(mats), width + 1), -1.0)
    bucket = np.ceil(np.log2(np.maximum(r, SHARED_BUCKET_MAX))).astype(np.int64)
    for j in np.unique(bucket):
        sel = np.flatnonzero(bucket == j)
        size = int(r[sel].max())
        if size == 0:
            continue
        stack = np.zeros((len(sel), size, size))
        for k, i in enumerate(sel.tolist()):
            stack[k, : r[i], : r[i]] = grams[i]
        top = np.sqrt(np.clip(np.linalg.eigvalsh(stack)[:, ::-1], 0, None))
        cols = np.arange(size)
        keep = cols[None, :] < r[sel][:, None]
        mags[sel, :size] = np.where(keep, top, -1.0)
    extra = np.array([sum(b.shape) for b in mats]) > 2 * r
    mags[np.flatnonzero(extra), r[extra]] = 0.0
    t1 = mags[:, 0]
    tol = DISTINCT_RTOL * t1
    rest = mags[:, 1:]
    below = (rest >= 0) & (rest < (t1 - tol)[:, None])
    has = np.asarray(below.any(axis=1), dtype=bool)
    second = rest[np.arange(len(mats)), np.argmax(below, axis=1)]
    nonzero = np.array([bool(b.any()) for b in mats])
    out: list[tuple[float | None, float | None]] = []
    for i in range(len(mats)):
        if not nonzero[i]:
            out.append((None, None))
        elif not has[i]:
            out.append((float(t1[i]), None))
        else:
            out.append((float(t1[i]), 0.0 if second[i] <= tol[i] else float(second[i])))
    return out


def _delta_r(b: Matrix) -> tuple[float | None, float, float]:
    """``(delta_r, dl, dr)`` of a bi-adjacency without isolated nodes."""
    e = _nnz(b)
    dl, dr = e / b.shape[0], e / b.shape[1]
    _, t2 = top_two_magnitudes(b)
    if t2 is None:
        return None, dl, dr
    return math.sqrt(dl - 1) + math.sqrt(dr - 1) - t2, dl, dr


def _components(b: Matrix) -> np.ndarray:
    """Component label of every node (left nodes first) of the bipartite graph of ``b``.

    Labels are numbered in the order of each component's smallest node (as
    ``scipy.sparse.csgraph.connected_components`` numbers them).
    """
    nl, nr = b.shape
    if isinstance(b, np.ndarray):
        if _dense_connected(b):
            return np.zeros(nl + nr, dtype=np.int32)
        r, c = np.nonzero(b)
        adj = sp.csr_matrix((np.ones(len(r)), (r, c + nl)), shape=(nl + nr, nl + nr))
    else:
        adj = sp.bmat([[None, b], [b.T, None]]).tocsr()
    _, labels = csgraph.connected_components(adj, directed=False)
    return np.asarray(labels)


def _dense_connected(b: np.ndarray) -> bool:
    """Whether the bipartite graph of a dense non-negative ``b`` is connected (no isolated node).

    Breadth-first from left node 0 by matrix-vector products (two per level,
    BLAS, one thread in the engine): a handful of levels on a layer, against
    building a sparse adjacency for ``csgraph``. False for a graph with an
    isolated node or several components (the caller then labels them).
    """
    nl, nr = b.shape
    if nl == 0 or nr == 0:
        return False
    left = np.zeros(nl)
    left[0] = 1.0
    reached = 1
    while True:
        right = (left @ b > 0).astype(np.float64)
        left = (b @ right > 0).astype(np.float64)
        now = int(np.count_nonzero(left))
        if now == nl:
            return bool(right.all()) or bool((left @ b > 0).all())
        if now == reached:
            return False
        reached = now


def lambda2_normalised_laplacian(b: Matrix) -> float | None:
    """Second smallest eigenvalue of the normalised Laplacian of the largest component.

    With ``N = D_L^{-1/2} B D_R^{-1/2}`` and singular values ``s_i`` the
    normalised Laplacian has eigenvalues ``1 -+ s_i`` and ``1`` for the
    remaining ``|L| + |R| - 2 min(|L|, |R|)`` dimensions.
    """
    if _nnz(b) == 0:
        return None
    nl = b.shape[0]
    labels = _components(b)
    sizes = np.bincount(labels)
    keep = labels == int(np.argmax(sizes))
    left, right = keep[:nl], keep[nl:]
    if isinstance(b, np.ndarray):
        sub_d = b if keep.all() else b[left][:, right]
        if sub_d.shape[0] + sub_d.shape[1] < 2:
            return None
        dl, dr = sub_d.sum(axis=1), sub_d.sum(axis=0)
        norm: Matrix = sub_d / np.sqrt(dl)[:, None] / np.sqrt(dr)[None, :]
        shape = sub_d.shape
    else:
        sub = b[left][:, right].tocsr()
        if sub.shape[0] + sub.shape[1] < 2:
            return None
        dl = np.asarray(sub.sum(axis=1)).ravel()
        dr = np.asarray(sub.sum(axis=0)).ravel()
        norm = sp.csr_matrix(sp.diags(1 / np.sqrt(dl)) @ sub @ sp.diags(1 / np.sqrt(dr)))
        shape = sub.shape
    s = _singular_values(norm, k=3)
    r = min(shape)
    eig = np.concatenate((1 - s, 1 + s, np.ones(sum(shape) - 2 * r)))
    eig.sort()
    return float(max(eig[1], 0.0))


def layer_metrics(
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    n_left: int,
    n_right: int,
    *,
    n_weights: int | None = None,
    n_unmasked: int | None = None,
) -> dict[str, float | None]:
    """All section-B metrics of one layer given its bipartite edge list (local indices)."""
    if n_weights:
        density = (n_unmasked if n_unmasked is not None else len(rows)) / n_weights
    elif n_left and n_right:
        density = _distinct_cells(rows, cols, n_left, n_right) / (n_left * n_right)
    else:
        density = None
    memo = _LAYER_MEMO
    if memo is not None:
        for (nl, nr, r, c, w), known in memo:
            if (
                (nl, nr) == (n_left, n_right)
                and np.array_equal(r, rows)
                and np.array_equal(c, cols)
                and np.array_equal(w, weights)
            ):
                return {**known, "layer_density": density}
    out = _spectral_layer_values(rows, cols, weights, n_left, n_right)
    if memo is not None:
        memo.append(((n_left, n_right, rows, cols, weights), out))
    return {**out, "layer_density": density}


def _distinct_cells(rows: np.ndarray, cols: np.ndarray, n_left: int, n_right: int) -> int:
    """Number of distinct ``(row, col)`` cells among the edges (parallel edges once).

    A boolean mask over the cells when it is small (:data:`DENSE_GRAM_MAX_ENTRIES`
    cells, every layer of the demo), else ``np.unique``: the same count.
    """
    flat = np.asarray(rows, np.int64) * n_right + np.asarray(cols, np.int64)
    cells = n_left * n_right
    if cells <= DENSE_GRAM_MAX_ENTRIES:
        seen = np.zeros(cells, dtype=bool)
        seen[flat] = True
        return int(np.count_nonzero(seen))
    return len(np.unique(flat))


_LAYER_MEMO: list[tuple[tuple[Any, ...], dict[str, float | None]]] | None = None


@contextmanager
def shared_layers() -> Iterator[None]:
    """Within this block, a layer whose edge list was already measured reuses its values.

    The rolled and rolled-channel graphs of a linear layer are the same bipartite
    graph (an MLP's two rolled graphs are identical): its spectral values
    (everything but ``layer_density``, which each graph defines its own way) are
    computed once. A layer matches on its sizes and edge arrays, compared exactly.
    """
    global _LAYER_MEMO
    outer = _LAYER_MEMO
    if outer is None:
        _LAYER_MEMO = []
    try:
        yield
    finally:
        _LAYER_MEMO = outer


def _spectral_layer_values(
    rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n_left: int, n_right: int
) -> dict[str, float | None]:
    """Every section-B value of one layer but ``layer_density`` (None there)."""
    out: dict[str, float | None] = dict.fromkeys(RAMANUJAN_VALUES)
    dense = n_left * n_right <= DENSE_GRAM_MAX_ENTRIES
    build = _dense_biadjacency if dense else _biadjacency
    b_full: Matrix = build(rows, cols, weights, n_left, n_right, weighted=False)
    if _nnz(b_full) == 0:
        return out
    b = _drop_isolated(b_full)
    t1, t2 = top_two_magnitudes(b)
    if t1 is not None and t2 is not None:
        if t1 >= 1:
            out["delta_s"] = 2 * math.sqrt(t1 - 1) - t2
        e = _nnz(b)  # delta_r as _delta_r(b) computes it, from the same t2 (one solve)
        out["delta_r"] = math.sqrt(e / b.shape[0] - 1) + math.sqrt(e / b.shape[1] - 1) - t2
        if t2 > 0:
            out["delta_s_rel"] = None if out["delta_s"] is None else out["delta_s"] / t2
            out["delta_r_rel"] = None if out["delta_r"] is None else out["delta_r"] / t2
    out["lambda2_nlap"] = lambda2_normalised_laplacian(b)

    # Iterative (degree-grouped) forms, on the graph before isolated-node removal.
    w_full = build(rows, cols, weights, n_left, n_right, weighted=True)
    left_deg = (
        np.count_nonzero(b_full, axis=1)
        if isinstance(b_full, np.ndarray)
        else np.diff(b_full.indptr)
    )
    deltas, gaps = [], []
    dense_groups: list[tuple[np.ndarray, np.ndarray]] = []
    if isinstance(b_full, np.ndarray) and isinstance(w_full, np.ndarray):
        dense_groups = _dense_degree_groups(b_full, w_full, left_deg)
        left_deg = left_deg[:0]  # every group is in dense_groups
    for d in np.unique(left_deg):
        group = np.flatnonzero(left_deg == d)
        if d == 0 or len(group) < 3:
            continue
        sub = b_full[group]
        if isinstance(sub, np.ndarray):
            keep_r = sub.any(axis=0)
            sub = sub[:, keep_r]
        else:
            keep_r = np.bincount(sub.indices, minlength=n_right) > 0
            sub = sub[:, keep_r].tocsr()
        dr = _nnz(sub) / sub.shape[1]
        if d < 3 or dr < 3:
            continue
        w_sub = w_full[group][:, keep_r]
        if isinstance(sub, np.ndarray) and isinstance(w_sub, np.ndarray):
            dense_groups.append((sub, w_sub))
            continue
        delta, _, _ = _delta_r(sub)
        if delta is not None:
            deltas.append(delta)
        wt1, wt2 = top_two_magnitudes(w_sub if isinstance(w_sub, np.ndarray) else w_sub.tocsr())
        if wt1 is not None and wt2 is not None:
            gaps.append(wt1 - wt2)
    if dense_groups:
        tops = _top_two_dense([m for pair in dense_groups for m in pair])
        for i, (sub, _) in enumerate(dense_groups):
            (_, t2), (wt1, wt2) = tops[2 * i], tops[2 * i + 1]
            if t2 is not None:
                e = _nnz(sub)
                deltas.append(
                    math.sqrt(e / sub.shape[0] - 1) + math.sqrt(e / sub.shape[1] - 1) - t2
                )
            if wt1 is not None and wt2 is not None:
                gaps.append(wt1 - wt2)
    out["delta_r_imdb"] = float(np.mean(deltas)) if deltas else None
    out["lambda_imsg"] = float(np.mean(gaps)) if gaps else None
    return out


def _dense_degree_groups(
    b_full: np.ndarray, w_full: np.ndarray, left_deg: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The kept left-degree groups of a dense layer: ``[(B_g, W_g)]`` in increasing degree.

    A group is the left nodes of one degree ``d >= 3`` (at least 3 of them) with
    every right node any of them reaches; it is kept when ``dr = d |g| / |R_g| >= 3``.
    Only the degrees with at least 3 nodes are visited (one ``unique`` with counts),
    not every distinct degree.
    """
    degs, counts = np.unique(left_deg, return_counts=True)
    out = []
    for d in degs[(degs >= 3) & (counts >= 3)].tolist():
        rows = np.flatnonzero(left_deg == d)
        sub = b_full[rows]
        keep = sub.any(axis=0)
        if d * len(rows) / int(np.count_nonzero(keep)) < 3:
            continue
        out.append((sub[:, keep], w_full[rows][:, keep]))
    return out


def _layer_values(layer: LayerContext) -> dict[str, float | None]:
    return layer.shared(
        "ramanujan",
        lambda c: layer_metrics(
            c.rows,
            c.cols,
            c.weights,
            c.n_left,
            c.n_right,
            n_weights=c.n_weights,
            n_unmasked=c.n_unmasked,
        ),
    )


def _register_ramanujan(name: str, summary: str) -> None:
    def compute(layer: LayerContext) -> float | None:
        return _layer_values(layer)[name]

    compute.__doc__ = summary
    compute.__name__ = compute.__qualname__ = f"{name}_metric"
    register_metric(name, section="B", scope="layer")(compute)


for _name, _summary in (
    ("layer_density", "Unmasked weights over all weights of the layer."),
    ("delta_s", "Spectral Ramanujan gap ``2 sqrt(t1 - 1) - t2``."),
    ("delta_r", "Degree Ramanujan gap ``sqrt(dl - 1) + sqrt(dr - 1) - t2``."),
    ("delta_s_rel", "``delta_s / t2``."),
    ("delta_r_rel", "``delta_r / t2``."),
    ("delta_r_imdb", "Mean ``delta_r`` over the left-degree groups."),
    ("lambda_imsg", "Mean weighted ``t1 - t2`` over the left-degree groups."),
    ("lambda2_nlap", "Second smallest normalised-Laplacian eigenvalue of the largest component."),
):
    _register_ramanujan(_name, _summary)


def compute_section_b(
    graph: MultipartiteGraph, metrics: list[str] | tuple[str, ...] | None = None
) -> dict[int, dict[str, float | None]]:
    """Per-layer metrics (default: every registered one) of each conv/linear block.

    ``graph`` is a rolled (or rolled-channel) graph; keys are the blocks'
    ``index`` (the layer index), values ``{metric: value}`` in registration order.
    """
    defs = (
        definitions(scope="layer")
        if metrics is None
        else [DEFINITIONS[m] for m in definitions_order(metrics)]
    )
    result: dict[int, dict[str, float | None]] = {}
    with one_blas_thread():
        for block in graph.blocks:
            if block.kind != "skip":
                result[block.index] = _block_values(graph, block, defs)
    return result


def _block_values(
    graph: MultipartiteGraph, block: EdgeBlock, defs: list[Metric]
) -> dict[str, float | None]:
    s, d, w = graph.block_local_edges(block)
    channel = graph.kind == "rolled_channel"
    # Channel graphs: density = kernel slices with any unmasked entry / all slices.
    layer = LayerContext(
        s,
        d,
        w,
        graph.partitions[block.src_partition].size,
        graph.partitions[block.dst_partition].size,
        n_weights=None if channel else (block.n_weights or None),
        n_unmasked=None if channel else block.n_unmasked,
        index=block.index,
    )
    values: dict[str, float | None] = {}
    for metric in defs:
        v = metric.compute(layer)
        values[metric.name] = None if v is None else float(v)
    return values


def definitions_order(names: list[str] | tuple[str, ...]) -> list[str]:
    """``names`` of per-layer metrics in registration order (unknown names raise)."""
    wanted = set(names)
    known = {m.name for m in definitions(scope="layer")}
    unknown = sorted(wanted - known)
    if unknown:
        from prunegraph.errors import UnknownNameError

        raise UnknownNameError("per-layer metric", unknown[0], known)
    return [m.name for m in definitions(scope="layer") if m.name in wanted]


def network_means(per_layer: dict[int, dict[str, float | None]]) -> dict[str, float | None]:
    """``mean_<name>`` over layers, nulls skipped (null when every layer is null)."""
    out: dict[str, float | None] = {}
    for metric in definitions(scope="layer"):
        name = metric.name
        vals = [float(x) for v in per_layer.values() if (x := v.get(name)) is not None]
        out[f"mean_{name}"] = float(np.mean(vals)) if vals else None
    return out


#: Section B names, in registration order (a snapshot; the registry is the source).
SECTION_B: tuple[str, ...] = tuple(m.name for m in definitions(section="B"))
