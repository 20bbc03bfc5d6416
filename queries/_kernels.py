"""Compiled (numba) graph kernels behind the in-process metric engine.

Every kernel works on a CSR adjacency ``(indptr, indices)`` with sorted,
duplicate-free rows and runs in O(edges) memory: no kernel materialises
``A @ A``. The Python callers in :mod:`topometrics`, :mod:`motifs` and
:mod:`paths` choose what to run; these functions only count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ----------------------------------------------------------------- CSR build


@njit(cache=True)
def _fill_rows(rows, cols, indptr, n_entries):  # pragma: no cover - compiled
    indices = np.empty(n_entries, dtype=np.int32)
    pos = indptr[:-1].copy()
    for k in range(rows.shape[0]):
        r = rows[k]
        indices[pos[r]] = cols[k]
        pos[r] += 1
    return indices


@njit(cache=True)
def _sort_dedupe_rows(indptr, indices):  # pragma: no cover - compiled
    n = indptr.shape[0] - 1
    new_ptr = np.zeros(n + 1, dtype=np.int64)
    out = 0
    for r in range(n):
        lo, hi = indptr[r], indptr[r + 1]
        row = np.sort(indices[lo:hi])
        last = -1
        for x in row:
            if x != last:
                indices[out] = x
                out += 1
                last = x
        new_ptr[r + 1] = out
    return new_ptr, indices[:out]


def csr_pattern(rows: np.ndarray, cols: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Binary CSR pattern of the pairs ``(rows[k], cols[k])``: sorted rows, duplicates merged.

    Counting sort (O(edges), no argsort of the whole edge list); returns
    ``indptr`` (int64, length ``n + 1``) and ``indices`` (int32).
    """
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    cols = np.ascontiguousarray(cols, dtype=np.int32)
    counts = np.bincount(rows, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = _fill_rows(rows, cols, indptr, len(rows))
    return _sort_dedupe_rows(indptr, indices)


# ------------------------------------------------------------ cores, cuts


@njit(cache=True)
def coreness(indptr, indices):  # pragma: no cover - compiled
    """Core number of every node (Batagelj & Zaversnik 2003, O(edges))."""
    n = indptr.shape[0] - 1
    deg = np.empty(n, dtype=np.int64)
    for v in range(n):
        deg[v] = indptr[v + 1] - indptr[v]
    max_deg = 0
    for v in range(n):
        max_deg = max(max_deg, deg[v])
    bins = np.zeros(max_deg + 1, dtype=np.int64)
    for v in range(n):
        bins[deg[v]] += 1
    start = 0
    for d in range(max_deg + 1):
        num = bins[d]
        bins[d] = start
        start += num
    pos = np.empty(n, dtype=np.int64)
    vert = np.empty(n, dtype=np.int64)
    for v in range(n):
        pos[v] = bins[deg[v]]
        vert[pos[v]] = v
        bins[deg[v]] += 1
    for d in range(max_deg, 0, -1):
        bins[d] = bins[d - 1]
    bins[0] = 0
    for i in range(n):
        v = vert[i]
        for k in range(indptr[v], indptr[v + 1]):
            u = indices[k]
            if deg[u] > deg[v]:
                du = deg[u]
                pu = pos[u]
                pw = bins[du]
                w = vert[pw]
                if u != w:
                    pos[u] = pw
                    vert[pu] = w
                    pos[w] = pu
                    vert[pw] = u
                bins[du] += 1
                deg[u] -= 1
    return deg


@njit(cache=True)
def bridges_and_cut_nodes(indptr, indices):  # pragma: no cover - compiled
    """Number of bridges and articulation-point mask of a simple undirected graph.

    Iterative Tarjan DFS with low-links: tree edge ``(p, v)`` is a bridge iff
    ``low[v] > disc[p]``; non-root ``p`` is a cut node iff some child has
    ``low[v] >= disc[p]``; a DFS root iff it has two or more children.
    """
    n = indptr.shape[0] - 1
    disc = np.full(n, -1, dtype=np.int64)
    low = np.zeros(n, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    nxt = indptr[:-1].copy()
    stack = np.empty(n, dtype=np.int64)
    is_cut = np.zeros(n, dtype=np.bool_)
    n_bridges = 0
    timer = 0
    for root in range(n):
        if disc[root] != -1:
            continue
        disc[root] = timer
        low[root] = timer
        timer += 1
        sp = 0
        stack[sp] = root
        sp += 1
        root_children = 0
        while sp > 0:
            v = stack[sp - 1]
            if nxt[v] < indptr[v + 1]:
                w = indices[nxt[v]]
                nxt[v] += 1
                if disc[w] == -1:
                    parent[w] = v
                    disc[w] = timer
                    low[w] = timer
                    timer += 1
                    stack[sp] = w
                    sp += 1
                    if v == root:
                        root_children += 1
                elif w != parent[v]:
                    low[v] = min(low[v], disc[w])
            else:
                sp -= 1
                p = parent[v]
                if p != -1:
                    low[p] = min(low[p], low[v])
                    if low[v] > disc[p]:
                        n_bridges += 1
                    if p != root and low[v] >= disc[p]:
                        is_cut[p] = True
        if root_children >= 2:
            is_cut[root] = True
    return n_bridges, is_cut


# ------------------------------------------------------------- triangles


@njit(cache=True)
def _merge_count(a, b):  # pragma: no cover - compiled
    i = j = c = 0
    while i < a.shape[0] and j < b.shape[0]:
        if a[i] < b[j]:
            i += 1
        elif a[i] > b[j]:
            j += 1
        else:
            c += 1
            i += 1
            j += 1
    return c


@njit(cache=True)
def triangles_on_edges(fwd_ptr, fwd_idx, bwd_ptr, bwd_idx, a, c):  # pragma: no cover
    """List the triangles ``x < b < y`` closed by the candidate edges ``(x, y) = (a[k], c[k])``.

    ``fwd`` holds the larger-id neighbours of each node, ``bwd`` the smaller-id
    ones, so every triangle is found once, at its edge between smallest and
    largest node. Returns three arrays (smallest, middle, largest node).
    """
    m = a.shape[0]
    counts = np.zeros(m, dtype=np.int64)
    for k in range(m):
        counts[k] = _merge_count(
            fwd_idx[fwd_ptr[a[k]] : fwd_ptr[a[k] + 1]], bwd_idx[bwd_ptr[c[k]] : bwd_ptr[c[k] + 1]]
        )
    total = counts.sum()
    t0 = np.empty(total, dtype=np.int64)
    t1 = np.empty(total, dtype=np.int64)
    t2 = np.empty(total, dtype=np.int64)
    out = 0
    for k in range(m):
        if counts[k] == 0:
            continue
        x = fwd_idx[fwd_ptr[a[k]] : fwd_ptr[a[k] + 1]]
        y = bwd_idx[bwd_ptr[c[k]] : bwd_ptr[c[k] + 1]]
        i = j = 0
        while i < x.shape[0] and j < y.shape[0]:
            if x[i] < y[j]:
                i += 1
            elif x[i] > y[j]:
                j += 1
            else:
                t0[out] = a[k]
                t1[out] = x[i]
                t2[out] = c[k]
                out += 1
                i += 1
                j += 1
    return t0, t1, t2


@njit(cache=True)
def k4_on_triangles(fwd_ptr, fwd_idx, t0, t1, t2):  # pragma: no cover - compiled
    """Count 4-cliques ``a < b < c < d``: for each triangle, common larger neighbours of all three."""
    total = 0
    for k in range(t0.shape[0]):
        x = fwd_idx[fwd_ptr[t0[k]] : fwd_ptr[t0[k] + 1]]
        y = fwd_idx[fwd_ptr[t1[k]] : fwd_ptr[t1[k] + 1]]
        z = fwd_idx[fwd_ptr[t2[k]] : fwd_ptr[t2[k] + 1]]
        i = j = h = 0
        while i < x.shape[0] and j < y.shape[0] and h < z.shape[0]:
            m = max(x[i], y[j], z[h])
            if x[i] == m and y[j] == m and z[h] == m:
                total += 1
                i += 1
                j += 1
                h += 1
            else:
                if x[i] < m:
                    i += 1
                if y[j] < m:
                    j += 1
                if z[h] < m:
                    h += 1
    return total


# ------------------------------------------------- per-node 2-hop counts


@njit(cache=True)
def pair_wedge_sums(indptr, indices, nodes):  # pragma: no cover - compiled
    """For each node ``u`` in ``nodes``: ``sum_{w != u} C(c_uw, 2)``, ``c_uw`` = common neighbours.

    Summed over all nodes this is four times the number of 4-cycles.
    Cost per node: ``sum_{x in N(u)} deg(x)``; memory O(n).
    """
    n = indptr.shape[0] - 1
    count = np.zeros(n, dtype=np.int64)
    touched = np.empty(n, dtype=np.int64)
    out = np.zeros(nodes.shape[0], dtype=np.float64)
    for k in range(nodes.shape[0]):
        u = nodes[k]
        nt = 0
        for p in range(indptr[u], indptr[u + 1]):
            x = indices[p]
            for q in range(indptr[x], indptr[x + 1]):
                w = indices[q]
                if w == u:
                    continue
                if count[w] == 0:
                    touched[nt] = w
                    nt += 1
                count[w] += 1
        s = 0
        for t in range(nt):
            c = count[touched[t]]
            s += c * (c - 1) // 2
            count[touched[t]] = 0
        out[k] = s
    return out


@njit(cache=True)
def two_hop_reach(indptr, indices, nodes):  # pragma: no cover - compiled
    """For each node ``a`` in ``nodes``: number of nodes ``v != a`` within 2 directed hops."""
    n = indptr.shape[0] - 1
    stamp = np.full(n, -1, dtype=np.int64)
    out = np.zeros(nodes.shape[0], dtype=np.float64)
    for k in range(nodes.shape[0]):
        a = nodes[k]
        stamp[a] = k
        reach = 0
        for p in range(indptr[a], indptr[a + 1]):
            x = indices[p]
            if stamp[x] != k:
                stamp[x] = k
                reach += 1
            for q in range(indptr[x], indptr[x + 1]):
                w = indices[q]
                if stamp[w] != k:
                    stamp[w] = k
                    reach += 1
        out[k] = reach
        # nodes visited in earlier rounds carry older stamps; no reset needed
    return out


# --------------------------------------------------- symmetric mat-vec


@njit(cache=True)
def sym_matvec(indptr, indices, data, x):  # pragma: no cover - compiled
    """``(A + A.T) @ x`` from the one-directional CSR ``A`` (float32 data, float64 sums)."""
    n = indptr.shape[0] - 1
    y = np.zeros(n, dtype=np.float64)
    for u in range(n):
        xu = x[u]
        acc = 0.0
        for p in range(indptr[u], indptr[u + 1]):
            w = indices[p]
            val = np.float64(data[p])
            acc += val * x[w]
            y[w] += val * xu
        y[u] += acc
    return y


@njit(cache=True)
def neighbour_sums(indptr, indices, values):  # pragma: no cover - compiled
    """``out[u] = sum_{x in N(u)} values[x]`` (int64)."""
    n = indptr.shape[0] - 1
    out = np.zeros(n, dtype=np.int64)
    for u in range(n):
        s = 0
        for p in range(indptr[u], indptr[u + 1]):
            s += values[indices[p]]
        out[u] = s
    return out


@njit(cache=True)
def edge_degree_products(indptr, indices, deg):  # pragma: no cover - compiled
    """``sum over edges (u, w) of (deg[u] - 1) * (deg[w] - 1)`` for a one-directional CSR."""
    n = indptr.shape[0] - 1
    total = 0
    for u in range(n):
        du = deg[u] - 1
        for p in range(indptr[u], indptr[u + 1]):
            total += du * (deg[indices[p]] - 1)
    return total
