r"""Compiled kernels of the motif counts (:mod:`prunegraph.queries.motifs`).

The triangle terms of ``motif4`` are counted in one pass over the edges that
can close a triangle, without listing the triangles: per node ``t_v``, the
pair count ``sum_e C(t_e, 2)`` and (when four partitions can be pairwise
adjacent) the 4-cliques.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _lower_bound(arr, lo, hi, value):  # pragma: no cover - compiled
    """First position in ``arr[lo:hi]`` (sorted) whose entry is ``>= value``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if arr[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _k4_above(fwd_ptr, fwd_idx, a, b, c, ka):  # pragma: no cover - compiled
    """Common larger neighbours ``d > c`` of ``a``, ``b`` and ``c`` (``ka``: position after ``c`` in row ``a``)."""
    i, i_end = ka, fwd_ptr[a + 1]
    j_end = fwd_ptr[b + 1]
    j = _lower_bound(fwd_idx, fwd_ptr[b], j_end, c + 1)
    h, h_end = fwd_ptr[c], fwd_ptr[c + 1]
    total = 0
    while i < i_end and j < j_end and h < h_end:
        x, y, z = fwd_idx[i], fwd_idx[j], fwd_idx[h]
        m = max(x, max(y, z))
        if x == m and y == m and z == m:
            total += 1
            i += 1
            j += 1
            h += 1
        else:
            if x < m:
                i += 1
            if y < m:
                j += 1
            if z < m:
                h += 1
    return total


@njit(cache=True)
def triangle_terms(
    fwd_ptr, fwd_idx, und_ptr, und_split, und_idx, part, p_start, p_stop, can_close, low_role, k4,
    per_node, per_edge, per_low,
):  # pragma: no cover - compiled  # fmt: skip
    r"""Triangle count ``T``, ``sum_e C(t_e, 2)`` and 4-cliques, with ``t_v`` into ``per_node``.

    Every triangle ``a < b < c`` is found once, from its closing edge ``(a, c)``
    (a *candidate*: partitions ``P = part[a]``, ``R = part[c]`` with
    ``can_close[P, R]``, located in the sorted row ``fwd(a)`` by binary search
    over partition ``R``'s id range ``[p_start[R], p_stop[R])``), by merging
    ``fwd(a)`` below ``c`` with the lower neighbours of ``c`` above ``a``.
    The pair count uses ``C(t, 2) = sum_{k < t} k``: each increment of an
    edge's counter adds its value before the increment, so no pass over the
    edges is needed. Edge ``ab`` and the candidate ``ac`` are counted at their
    ``fwd`` positions (``per_edge``); edge ``bc`` at its position in ``c``'s
    lower row (``per_low``) when ``low_role[part[b], part[c]]`` says no triangle
    can use an edge of that partition pair in another role, else at its
    ``fwd`` position (one binary search). With ``k4``, each triangle adds the
    common neighbours above ``c`` of its three nodes (each 4-clique once).
    ``per_node``, ``per_edge`` (int32, one per ``fwd`` entry) and ``per_low``
    (int32, one per ``und`` entry, or length 1 when no pair is ``low_role``)
    must be zero on entry. Returns ``(T, sum_e C(t_e, 2), K4)``.
    """
    k_parts = p_start.shape[0]
    tri = np.int64(0)
    pairs = np.int64(0)
    cliques = np.int64(0)
    for pp in range(k_parts):
        any_close = False
        for rr in range(k_parts):
            if can_close[pp, rr]:
                any_close = True
        if not any_close:
            continue
        for a in range(p_start[pp], p_stop[pp]):
            row_lo, row_hi = fwd_ptr[a], fwd_ptr[a + 1]
            if row_lo == row_hi:
                continue
            for rr in range(k_parts):
                if not can_close[pp, rr] or p_stop[rr] <= a + 1:
                    continue
                lo = _lower_bound(fwd_idx, row_lo, row_hi, p_start[rr])
                hi = _lower_bound(fwd_idx, lo, row_hi, p_stop[rr])
                for e_ac in range(lo, hi):
                    c = fwd_idx[e_ac]
                    i = row_lo
                    j_hi = und_split[c]
                    j = _lower_bound(und_idx, und_ptr[c], j_hi, a + 1)
                    m = np.int64(0)
                    while i < e_ac and j < j_hi:
                        x = fwd_idx[i]
                        y = und_idx[j]
                        if x < y:
                            i += 1
                        elif x > y:
                            j += 1
                        else:
                            b = x
                            m += 1
                            per_node[b] += 1
                            pairs += per_edge[i]
                            per_edge[i] += 1
                            if low_role[part[b], part[c]]:
                                pairs += per_low[j]
                                per_low[j] += 1
                            else:
                                e_bc = _lower_bound(fwd_idx, fwd_ptr[b], fwd_ptr[b + 1], c)
                                pairs += per_edge[e_bc]
                                per_edge[e_bc] += 1
                            if k4:
                                cliques += _k4_above(fwd_ptr, fwd_idx, a, b, c, e_ac + 1)
                            i += 1
                            j += 1
                    if m:
                        tri += m
                        per_node[a] += m
                        per_node[c] += m
                        t = np.int64(per_edge[e_ac])
                        pairs += t * m + m * (m - 1) // 2
                        per_edge[e_ac] += m
    return tri, pairs, cliques


@njit(cache=True)
def group_by_label(labels, n_labels):  # pragma: no cover - compiled
    """Counting sort: ``(order, bounds)`` with group ``h`` = ``order[bounds[h]:bounds[h + 1]]``, ids ascending."""
    n = labels.shape[0]
    bounds = np.zeros(n_labels + 1, dtype=np.int64)
    for v in range(n):
        bounds[labels[v] + 1] += 1
    for h in range(n_labels):
        bounds[h + 1] += bounds[h]
    fill = bounds[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for v in range(n):
        h = labels[v]
        order[fill[h]] = v
        fill[h] += 1
    return order, bounds


@njit(cache=True)
def fwd_neighbour_sums(fwd_ptr, fwd_idx, values, n):  # pragma: no cover - compiled
    """``out[u] = sum_{x in N(u)} values[x]`` over the undirected graph given once per edge (``fwd``)."""
    out = np.zeros(n, dtype=np.int64)
    for u in range(fwd_ptr.shape[0] - 1):
        vu = values[u]
        s = np.int64(0)
        for p in range(fwd_ptr[u], fwd_ptr[u + 1]):
            x = fwd_idx[p]
            s += values[x]
            out[x] += vu
        out[u] += s
    return out
