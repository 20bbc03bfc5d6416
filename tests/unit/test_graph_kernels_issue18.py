"""Issue 18 graph kernels (max flow, cores, cuts) against simple references.

References: scipy.sparse.csgraph (maximum flow, connected components) and tiny
brute forces (peeling for core numbers, edge/node deletion for bridges and
articulation points).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _metric_graphs import build, full
from scipy.sparse.csgraph import connected_components, maximum_flow

from prunegraph.queries import _kernels as K
from prunegraph.queries.paths import edge_connectivity


def _layered(seed, sizes, density, parallel=False):
    """Random layered graph, edges in random order inside a block, optional parallel edges."""
    rng = np.random.default_rng(seed)
    blocks = []
    for p in range(len(sizes) - 1):
        pairs = [e for e in full(sizes[p], sizes[p + 1]) if rng.random() < density]
        if parallel and pairs:
            pairs += [pairs[i] for i in rng.integers(0, len(pairs), len(pairs) // 3)]
        pairs = [pairs[i] for i in rng.permutation(len(pairs))]
        blocks.append((p, p + 1, pairs, rng.random(len(pairs)) + 0.1, "conv"))
    if len(sizes) >= 4:  # a skip over one partition (a ResNet shortcut)
        k = min(sizes[1], sizes[3])
        blocks.append((1, 3, [(i, i) for i in range(k) if rng.random() < 0.7], None, "skip"))
        blocks.sort(key=lambda b: (b[1], b[0]))
    return build(list(sizes), blocks)


def _scipy_max_flow(g):
    """Unit-capacity max flow from partition 0 to the last partition via scipy."""
    n = g.n_nodes
    part = g.node_partition
    s, t = n, n + 1
    sources = np.flatnonzero(part == 0)
    sinks = np.flatnonzero(part == g.n_partitions - 1)
    big = 10**6
    rows = np.concatenate((g.src, np.full(len(sources), s), sinks))
    cols = np.concatenate((g.dst, sources, np.full(len(sinks), t)))
    cap = np.concatenate(
        (np.ones(g.n_edges), np.full(len(sources), big), np.full(len(sinks), big))
    ).astype(np.int32)
    a = sp.csr_matrix((cap, (rows, cols)), shape=(n + 2, n + 2))  # parallel edges summed
    a.sum_duplicates()
    return int(maximum_flow(a, s, t).flow_value)


# The sizes choose the greedy start: a narrow last partition (backwards from the
# sinks), a narrow first one (forwards), or equal ends.
SHAPES = [(6, 9, 9, 8, 2), (2, 8, 9, 9, 7), (5, 7, 6, 7, 5), (3, 4, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("parallel", [False, True])
def test_unit_max_flow_matches_scipy_from_either_end(shape, parallel):
    short = 0
    for seed in range(25):
        g = _layered(seed, shape, density=0.35, parallel=parallel)
        expected = _scipy_max_flow(g)
        assert edge_connectivity(g) == expected, seed
        part = g.node_partition
        is_source, is_sink = part == 0, part == g.n_partitions - 1
        # No usable bound: the Dinic phases must prove optimality themselves.
        unbounded = K.unit_max_flow(g.n_nodes, g.src, g.dst, is_source, is_sink, 2**40)
        assert unbounded == expected, seed
        greedy = int(K._greedy_unit_flow(g.n_nodes, g.src, g.dst, is_source, is_sink).sum())
        short += greedy > 0
    assert short, "the graphs carry some flow"


def test_greedy_paths_backwards_are_edge_disjoint_source_to_sink_paths():
    for seed in range(20):
        g = _layered(seed, (6, 9, 9, 8, 2), density=0.4, parallel=True)
        n = g.n_nodes
        part = g.node_partition
        is_source, is_sink = part == 0, part == g.n_partitions - 1
        in_ptr = np.concatenate(([0], np.cumsum(np.bincount(g.dst, minlength=n))))
        used, paths = K._greedy_paths(n, g.dst, g.src, is_sink, is_source, in_ptr)
        # Flow conservation on the used edges: inner nodes balance, sources emit,
        # sinks absorb, and the number of paths is what leaves the sources.
        out_used = np.bincount(g.src[used], minlength=n)
        in_used = np.bincount(g.dst[used], minlength=n)
        inner = ~(is_source | is_sink)
        assert np.array_equal(out_used[inner], in_used[inner])
        assert in_used[is_source].sum() == 0 and out_used[is_sink].sum() == 0
        assert out_used[is_source].sum() == paths == in_used[is_sink].sum()
        assert paths <= _scipy_max_flow(g)


def _random_simple(seed, n, p):
    """A random simple undirected graph as a sorted CSR, with pendant paths and isolated nodes."""
    rng = np.random.default_rng(seed)
    a = np.triu(rng.random((n, n)) < p, 1)
    if n >= 6:  # a pendant path and a node left isolated
        a[:, n - 3 :] = False
        a[n - 3 :, :] = False
        a[0, n - 3] = a[n - 3, n - 2] = True
    a = a | a.T
    m = sp.csr_matrix(a.astype(np.int8))
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int32), a


def _brute_coreness(a):
    n = a.shape[0]
    core = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    k = 0
    while alive.any():
        deg = (a & alive[None, :] & alive[:, None]).sum(axis=1)
        low = alive & (deg <= k)
        if low.any():
            core[low] = k
            alive &= ~low
        else:
            k += 1
    return core


def _brute_cuts(a):
    n = a.shape[0]

    def n_comp(adj, keep):
        sub = adj[np.ix_(keep, keep)]
        return connected_components(sp.csr_matrix(sub), directed=False)[0]

    everyone = np.ones(n, dtype=bool)
    base = n_comp(a, everyone)
    bridges = 0
    for u, v in zip(*np.nonzero(np.triu(a, 1)), strict=True):
        b = a.copy()
        b[u, v] = b[v, u] = False
        bridges += n_comp(b, everyone) > base
    cut = np.zeros(n, dtype=bool)
    for v in range(n):
        keep = everyone.copy()
        keep[v] = False
        cut[v] = n_comp(a, keep) > base - (a[v].sum() == 0)
    return bridges, cut


@pytest.mark.parametrize("seed", range(12))
def test_coreness_bridges_and_cut_nodes_match_brute_force(seed):
    n = 6 + seed * 2
    ptr, idx, a = _random_simple(seed, n, p=0.08 + 0.03 * (seed % 5))
    core = K.coreness(ptr, idx)
    assert core.dtype == np.int32
    np.testing.assert_array_equal(core, _brute_coreness(a))
    bridges, cut = K.bridges_and_cut_nodes(ptr, idx)
    want_bridges, want_cut = _brute_cuts(a)
    assert bridges == want_bridges
    np.testing.assert_array_equal(cut, want_cut)


def test_coreness_and_cuts_on_structured_graphs():
    # A cycle: 2-core, no bridge, no cut node; a path: all edges bridges, inner nodes cut.
    n = 9
    cyc = np.zeros((n, n), dtype=bool)
    path = np.zeros((n, n), dtype=bool)
    for i in range(n):
        cyc[i, (i + 1) % n] = cyc[(i + 1) % n, i] = True
        if i + 1 < n:
            path[i, i + 1] = path[i + 1, i] = True
    for a, core, bridges, cuts in ((cyc, 2, 0, 0), (path, 1, n - 1, n - 2)):
        m = sp.csr_matrix(a.astype(np.int8))
        m.sort_indices()
        ptr, idx = m.indptr.astype(np.int64), m.indices.astype(np.int32)
        assert np.all(K.coreness(ptr, idx) == core)
        got_bridges, is_cut = K.bridges_and_cut_nodes(ptr, idx)
        assert (got_bridges, int(is_cut.sum())) == (bridges, cuts)
    empty = np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    assert K.coreness(*empty).shape == (0,)
    assert K.bridges_and_cut_nodes(*empty)[0] == 0
