r"""Compiled kernels of the motif counts (:mod:`prunegraph.queries.motifs`).

The triangle terms of ``motif4`` are counted in one pass over the edges that
can close a triangle, without listing the triangles: per node ``t_v``, the
pair count ``sum_e C(t_e, 2)`` and (when four partitions can be pairwise
adjacent) the 4-cliques.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


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


@njit(cache=True, nogil=True)
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
    ``per_node``, ``per_edge`` (one per ``fwd`` entry) and ``per_low`` (one per
    ``und`` entry, or length 1 when no pair is ``low_role``) must be zero on
    entry; the two edge counters may be uint16 when every degree is below
    ``2^16`` (``t_e < min(d_u, d_v)``). Returns ``(T, sum_e C(t_e, 2), K4)``.
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


# ------------------------------------------------------- sampled totals


@njit(cache=True)
def cost_strata(cost, p_start, p_stop, bins, min_bin, probe):  # pragma: no cover - compiled
    """Strata of a sampled total: each partition split into cost classes. Returns ``(order, bounds)``.

    Partition ``[start, stop)`` of ``N`` nodes gets ``b = max(1, min(bins, N //
    min_bin))`` classes with cut points at the ``k / b`` quantiles (``k = 1 ..
    b - 1``) of the costs of at most ``probe`` evenly strided nodes (a fixed
    rule, independent of any sample); node ``v`` falls in class ``#{cuts <=
    cost[v]}``. Stratum ``h`` is ``order[bounds[h]:bounds[h + 1]]`` (ids
    ascending; empty classes give empty strata).
    """
    k = p_start.shape[0]
    n_labels = 0
    for p in range(k):
        size = p_stop[p] - p_start[p]
        if size > 0:
            n_labels += max(1, min(bins, size // min_bin))
    labels = np.empty(cost.shape[0], dtype=np.int64)
    base = 0
    for p in range(k):
        start, stop = p_start[p], p_stop[p]
        size = stop - start
        if size <= 0:
            continue
        b = max(1, min(bins, size // min_bin))
        step = max(1, size // probe)
        sub = np.sort(cost[start:stop:step])
        cuts = np.empty(b - 1, dtype=cost.dtype)
        for q in range(b - 1):
            cuts[q] = sub[((q + 1) * sub.shape[0]) // b]
        for v in range(start, stop):
            c = cost[v]
            h = 0
            while h < b - 1 and cuts[h] <= c:
                h += 1
            labels[v] = base + h
        base += b
    return group_by_label(labels, n_labels)


@njit(cache=True)
def shuffle_prefixes(order, bounds, have, want, uniform):  # pragma: no cover - compiled
    """Extend each stratum's random prefix from ``have[h]`` to ``want[h]`` nodes (in place).

    Partial Fisher-Yates: position ``i`` of stratum ``h`` (ending at ``end``)
    swaps with position ``i + floor(u (end - i))``, ``u`` the next of the
    ``uniform`` draws in ``[0, 1)`` (one per new position), so the prefix is
    always a simple random sample without replacement, whatever the sizes of
    earlier and later calls.
    """
    k = 0
    for h in range(bounds.shape[0] - 1):
        end = bounds[h + 1]
        for i in range(bounds[h] + have[h], bounds[h] + want[h]):
            j = min(end - 1, i + np.int64(uniform[k] * (end - i)))
            k += 1
            t = order[i]
            order[i] = order[j]
            order[j] = t


@njit(cache=True)
def strata_moments(values, bounds, taken):  # pragma: no cover - compiled
    """Stratified total and variance: ``sum_h N_h mean_h`` and ``sum_h N_h^2 (1 - m_h/N_h) s_h^2 / m_h``.

    Stratum ``h``'s sample values are ``values[bounds[h] : bounds[h] + taken[h]]``.
    """
    total = 0.0
    variance = 0.0
    for h in range(bounds.shape[0] - 1):
        size = bounds[h + 1] - bounds[h]
        m = taken[h]
        if m == 0:
            continue
        lo = bounds[h]
        s = 0.0
        for i in range(lo, lo + m):
            s += values[i]
        mean = s / m
        total += size * mean
        if m < size:
            ss = 0.0
            for i in range(lo, lo + m):
                d = values[i] - mean
                ss += d * d
            variance += size * size * (1.0 - m / size) * (ss / (m - 1)) / m
    return total, variance


# ------------------------------------------------ per-node 2-hop counts


@njit(cache=True, parallel=True)
def pair_wedge_sums(indptr, indices, nodes, bounds):  # pragma: no cover - compiled
    """For each node ``u`` in ``nodes``: ``S(u) = sum_{w != u} C(c_uw, 2)``, ``c_uw`` = common neighbours.

    Branch-free: each wedge ``u - x - w`` adds the current count of ``w`` then
    increments it (``C(c, 2) = 0 + 1 + ... + (c - 1)``); ``w = u`` is reached
    once per neighbour and its ``C(d_u, 2)`` is subtracted; a second pass over
    the same rows resets the counters. Cost ``sum_{x in N(u)} d_x`` per node;
    chunks of ``nodes`` between ``bounds`` run in parallel with their own counters.
    """
    n = indptr.shape[0] - 1
    out = np.zeros(nodes.shape[0], dtype=np.float64)
    for chunk in prange(bounds.shape[0] - 1):
        count = np.zeros(n, dtype=np.int32)
        for k in range(bounds[chunk], bounds[chunk + 1]):
            u = nodes[k]
            s = np.int64(0)
            for p in range(indptr[u], indptr[u + 1]):
                x = indices[p]
                for q in range(indptr[x], indptr[x + 1]):
                    w = indices[q]
                    s += count[w]
                    count[w] += 1
            for p in range(indptr[u], indptr[u + 1]):
                x = indices[p]
                for q in range(indptr[x], indptr[x + 1]):
                    count[indices[q]] = 0
            d = np.int64(indptr[u + 1] - indptr[u])
            out[k] = s - d * (d - 1) // 2
    return out


@njit(cache=True, parallel=True)
def two_hop_reach(indptr, indices, nodes, bounds):  # pragma: no cover - compiled
    """For each node ``a`` in ``nodes``: number of nodes ``v != a`` within 2 directed hops.

    Marks visited nodes in a bit set (``n / 8`` bytes per chunk: cache-resident
    where an int stamp per node is not); each visit adds 1 if its bit was clear
    and sets it. The words touched (between the lowest and highest marked) are
    cleared after each node.
    """
    n = indptr.shape[0] - 1
    words = (n >> 6) + 1
    one = np.uint64(1)
    out = np.zeros(nodes.shape[0], dtype=np.float64)
    for chunk in prange(bounds.shape[0] - 1):
        bits = np.zeros(words, dtype=np.uint64)
        for k in range(bounds[chunk], bounds[chunk + 1]):
            a = nodes[k]
            bits[a >> 6] |= one << np.uint64(a & 63)
            first = a >> 6
            last = first
            reach = 0
            for p in range(indptr[a], indptr[a + 1]):
                x = indices[p]
                wx = x >> 6
                mx = one << np.uint64(x & 63)
                reach += (bits[wx] & mx) == 0
                bits[wx] |= mx
                first = min(first, wx)
                last = max(last, wx)
                for q in range(indptr[x], indptr[x + 1]):
                    w = indices[q]
                    ww = w >> 6
                    mw = one << np.uint64(w & 63)
                    reach += (bits[ww] & mw) == 0
                    bits[ww] |= mw
                    first = min(first, ww)
                    last = max(last, ww)
            out[k] = reach
            for i in range(first, last + 1):
                bits[i] = 0
    return out


@njit(cache=True)
def bi_adjacency(indptr, indices, side):  # pragma: no cover - compiled
    """Dense 0/1 bi-adjacency (float32) of a bipartite graph: rows the nodes with ``side``, in id order."""
    n = indptr.shape[0] - 1
    local = np.empty(n, dtype=np.int64)
    s = 0
    t = 0
    for v in range(n):
        if side[v]:
            local[v] = s
            s += 1
        else:
            local[v] = t
            t += 1
    b = np.zeros((s, t), dtype=np.float32)
    for v in range(n):
        if side[v]:
            row = local[v]
            for p in range(indptr[v], indptr[v + 1]):
                b[row, local[indices[p]]] = 1.0
    return b


@njit(cache=True, inline="always")
def _popcount(x):  # pragma: no cover - compiled
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True)
def word_spans(indptr, indices):  # pragma: no cover - compiled
    """``(lo, hi)``: node ``x``'s out-neighbours lie in the 64-bit words ``[lo[x], hi[x])``."""
    n = indptr.shape[0] - 1
    lo = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    for x in range(n):
        if indptr[x + 1] > indptr[x]:
            first = indices[indptr[x]]
            last = first
            for p in range(indptr[x], indptr[x + 1]):
                first = min(first, indices[p])
                last = max(last, indices[p])
            lo[x] = first >> 6
            hi[x] = (last >> 6) + 1
    return lo, hi


@njit(cache=True)
def two_hop_reach_bits(indptr, indices, lo, hi):  # pragma: no cover - compiled
    """Total over all nodes ``a`` of ``|N(a) u N(N(a)) minus {a}|`` by 64-bit word sets (rows sorted).

    Row ``x``'s out-neighbours become a bit row over the words its row spans;
    node ``a`` ORs, for each out-neighbour ``x``, ``x``'s own bit and ``x``'s
    bit row into an accumulator, then counts its bits (without ``a``). Cost
    ``sum over edges (a, x) of hi[x] - lo[x]`` word operations (:func:`word_spans`)
    plus ``n^2 / 64`` for the accumulators; memory ``n^2 / 8`` bytes.
    """
    n = indptr.shape[0] - 1
    words = (n + 63) >> 6
    bits = np.zeros((n, words), dtype=np.uint64)
    one = np.uint64(1)
    for x in range(n):
        for p in range(indptr[x], indptr[x + 1]):
            w = indices[p]
            bits[x, w >> 6] |= one << np.uint64(w & 63)
    acc = np.zeros(words, dtype=np.uint64)
    total = np.int64(0)
    for a in range(n):
        first = words
        last = 0
        for p in range(indptr[a], indptr[a + 1]):
            x = indices[p]
            acc[x >> 6] |= one << np.uint64(x & 63)
            first = min(first, x >> 6)
            last = max(last, (x >> 6) + 1)
            for k in range(lo[x], hi[x]):
                acc[k] |= bits[x, k]
            if hi[x] > lo[x]:
                first = min(first, lo[x])
                last = max(last, hi[x])
        if last > first:
            acc[a >> 6] &= ~(one << np.uint64(a & 63))
            s = np.uint64(0)
            for k in range(first, last):
                s += _popcount(acc[k])
                acc[k] = 0
            total += np.int64(s)
    return total


@njit(cache=True, parallel=True)
def reach_cost(indptr, indices, bounds):  # pragma: no cover - compiled
    """``out[a] = d_out(a) + sum_{x in N_out(a)} d_out(x)`` (int64), row ranges ``bounds`` in parallel."""
    n = indptr.shape[0] - 1
    out = np.empty(n, dtype=np.int64)
    for c in prange(bounds.shape[0] - 1):
        for a in range(bounds[c], bounds[c + 1]):
            s = np.int64(indptr[a + 1] - indptr[a])
            for p in range(indptr[a], indptr[a + 1]):
                x = indices[p]
                s += indptr[x + 1] - indptr[x]
            out[a] = s
    return out
