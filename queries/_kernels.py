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
def _row_pointers(rows, n):  # pragma: no cover - compiled
    indptr = np.zeros(n + 1, dtype=np.int64)
    for k in range(rows.shape[0]):
        indptr[rows[k] + 1] += 1
    for r in range(n):
        indptr[r + 1] += indptr[r]
    return indptr


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
    rows = np.ascontiguousarray(rows)
    cols = np.ascontiguousarray(cols, dtype=np.int32)
    indptr = _row_pointers(rows, n)
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


# ------------------------------------------------------------- components


@njit(cache=True)
def _find(parent, x):  # pragma: no cover - compiled
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(cache=True)
def count_components(n, src, dst):  # pragma: no cover - compiled
    """Number of weakly connected components (union-find over the edge list, isolated nodes count)."""
    parent = np.arange(n, dtype=np.int64)
    components = n
    for k in range(src.shape[0]):
        a = _find(parent, src[k])
        b = _find(parent, dst[k])
        if a != b:
            if a < b:
                parent[b] = a
            else:
                parent[a] = b
            components -= 1
    return components


# ---------------------------------------------------------------- max flow


@njit(cache=True)
def unit_max_flow(n, src, dst, is_source, is_sink):  # pragma: no cover - compiled
    """Maximum number of edge-disjoint paths from any ``is_source`` node to any ``is_sink`` node.

    Dinic's algorithm on unit capacities; the sources and sinks are joined to
    a virtual source / sink by edges of unlimited capacity (never cut).
    Residual edge ``2k`` is edge ``k`` forward (capacity 1), ``2k + 1`` its reverse.
    """
    m = src.shape[0]
    deg = np.zeros(n + 1, dtype=np.int64)
    for k in range(m):
        deg[src[k] + 1] += 1
        deg[dst[k] + 1] += 1
    ptr = np.cumsum(deg)
    fill = ptr[:-1].copy()
    adj = np.empty(2 * m, dtype=np.int64)
    to = np.empty(2 * m, dtype=np.int32)
    cap = np.zeros(2 * m, dtype=np.int8)
    for k in range(m):
        u, v = src[k], dst[k]
        to[2 * k] = v
        to[2 * k + 1] = u
        cap[2 * k] = 1
        adj[fill[u]] = 2 * k
        fill[u] += 1
        adj[fill[v]] = 2 * k + 1
        fill[v] += 1
    level = np.empty(n, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    it = np.empty(n, dtype=np.int64)
    stack = np.empty(n + 1, dtype=np.int64)
    flow = 0
    # Greedy start: edge-disjoint paths along original edges only. The graph is
    # a DAG, so a current-arc DFS with dead-end marking is one O(E) pass; the
    # Dinic phases below then only repair what the greedy choice got wrong.
    it[:] = ptr[:-1]
    dead = np.zeros(n, dtype=np.bool_)
    for s in range(n):
        if not is_source[s]:
            continue
        while True:
            depth = 0
            v = s
            found = False
            while True:
                if is_sink[v] and depth > 0:
                    found = True
                    break
                advanced = False
                while it[v] < ptr[v + 1]:
                    e = adj[it[v]]
                    w = to[e]
                    if (e & 1) == 0 and cap[e] > 0 and not dead[w] and not is_source[w]:
                        stack[depth] = e
                        depth += 1
                        v = w
                        advanced = True
                        break
                    it[v] += 1
                if advanced:
                    continue
                if depth == 0:
                    break
                dead[v] = True
                depth -= 1
                v = to[stack[depth] ^ 1]
                it[v] += 1
            if not found:
                break
            for d in range(depth):
                e = stack[d]
                cap[e] -= 1
                cap[e ^ 1] += 1
            flow += 1
    while True:
        level[:] = -1
        head = tail = 0
        for v in range(n):
            if is_source[v]:
                level[v] = 0
                queue[tail] = v
                tail += 1
        reached = False
        sink_level = n + 1
        while head < tail:
            v = queue[head]
            head += 1
            if is_sink[v]:
                reached = True
                sink_level = min(sink_level, level[v])
                continue  # paths end at the first sink they meet
            if level[v] >= sink_level:
                continue  # only shortest augmenting paths matter in this phase
            for p in range(ptr[v], ptr[v + 1]):
                e = adj[p]
                w = to[e]
                if cap[e] > 0 and level[w] < 0:
                    level[w] = level[v] + 1
                    queue[tail] = w
                    tail += 1
        if not reached:
            return flow
        it[:] = ptr[:-1]
        for s in range(n):
            if not is_source[s]:
                continue
            while True:
                depth = 0
                v = s
                found = False
                while True:
                    if is_sink[v] and depth > 0:
                        found = True
                        break
                    advanced = False
                    while it[v] < ptr[v + 1]:
                        e = adj[it[v]]
                        w = to[e]
                        if cap[e] > 0 and level[w] == level[v] + 1:
                            stack[depth] = e
                            depth += 1
                            v = w
                            advanced = True
                            break
                        it[v] += 1
                    if advanced:
                        continue
                    if depth == 0:
                        break
                    level[v] = -1  # dead end for this phase
                    depth -= 1
                    v = to[stack[depth] ^ 1]
                    it[v] += 1
                if not found:
                    break
                for d in range(depth):
                    e = stack[d]
                    cap[e] -= 1
                    cap[e ^ 1] += 1
                flow += 1


@njit(cache=True)
def merge_directions(fwd_ptr, fwd_idx, bwd_ptr, bwd_idx):  # pragma: no cover - compiled
    """Undirected CSR from the larger-id (``fwd``) and smaller-id (``bwd``) neighbour lists.

    Row ``u`` is ``bwd[u]`` (all ``< u``) followed by ``fwd[u]`` (all ``> u``):
    already sorted, so no sort is needed.
    """
    n = fwd_ptr.shape[0] - 1
    ptr = np.zeros(n + 1, dtype=np.int64)
    for u in range(n):
        ptr[u + 1] = ptr[u] + (bwd_ptr[u + 1] - bwd_ptr[u]) + (fwd_ptr[u + 1] - fwd_ptr[u])
    idx = np.empty(ptr[n], dtype=np.int32)
    for u in range(n):
        out = ptr[u]
        for p in range(bwd_ptr[u], bwd_ptr[u + 1]):
            idx[out] = bwd_idx[p]
            out += 1
        for p in range(fwd_ptr[u], fwd_ptr[u + 1]):
            idx[out] = fwd_idx[p]
            out += 1
    return ptr, idx


@njit(cache=True)
def closing_candidates(fwd_ptr, fwd_idx, part, can_close):  # pragma: no cover - compiled
    """Edges ``(u, w)``, ``u < w``, whose partitions share a neighbouring partition."""
    n = fwd_ptr.shape[0] - 1
    count = 0
    for u in range(n):
        pu = part[u]
        for p in range(fwd_ptr[u], fwd_ptr[u + 1]):
            if can_close[pu, part[fwd_idx[p]]]:
                count += 1
    a = np.empty(count, dtype=np.int64)
    c = np.empty(count, dtype=np.int64)
    k = 0
    for u in range(n):
        pu = part[u]
        for p in range(fwd_ptr[u], fwd_ptr[u + 1]):
            if can_close[pu, part[fwd_idx[p]]]:
                a[k] = u
                c[k] = fwd_idx[p]
                k += 1
    return a, c
