"""The motif kernels of issue 18 (``queries/_motif_kernels.py``) against brute force."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from _metric_graphs import brute_motifs, build, full, random_layered, undirected_nx

from prunegraph.queries import _kernels as K
from prunegraph.queries import _motif_kernels as MK
from prunegraph.queries._structure import GraphStructure
from prunegraph.queries.motifs import (
    _dense_cycle_work,
    _dense_four_cycle_total,
    motif3,
    motif4,
    n2,
    triangles,
)


def random_blocks(seed, sizes, pairs, density):
    """Random graph with a block of edges (density ``density``) for each partition pair."""
    rng = np.random.default_rng(seed)
    blocks = []
    for p, q in pairs:
        cand = [(i, j) for i, j in full(sizes[p], sizes[q]) if p != q or i != j]
        keep = [e for e in cand if rng.random() < density]
        blocks.append((p, q, keep, None, "skip" if q - p > 1 else "conv"))
    blocks.sort(key=lambda b: (b[1], b[0]))
    return build(list(sizes), blocks)


def simple_nx(g):
    G = undirected_nx(g)
    G.remove_edges_from(list(nx.selfloop_edges(G)))
    return G


def brute_triangle_terms(G):
    """``(T, sum_v t_v (d_v - 2), sum_e C(t_e, 2), K4)`` by enumeration."""
    t_v = nx.triangles(G)
    tri = sum(t_v.values()) // 3
    tailed = sum(t * (G.degree(v) - 2) for v, t in t_v.items())
    diamond = 0
    for u, v in G.edges:
        t = len(set(G[u]) & set(G[v]))
        diamond += t * (t - 1) // 2
    k4 = sum(1 for c in nx.enumerate_all_cliques(G) if len(c) == 4)
    return tri, tailed, diamond, k4


CASES = {
    # one skip 1 -> 3 (partition pair (2, 3) only ever edge bc: counted at its lower row)
    "one skip": ((6, 7, 7, 6), [(0, 1), (1, 2), (2, 3), (1, 3)]),
    # skips at every step: edges of (1, 2) are ab of one triangle and bc of another
    "chained skips": ((5, 6, 6, 5, 5), [(0, 1), (1, 2), (2, 3), (3, 4), (0, 2), (1, 3), (2, 4)]),
    # four pairwise adjacent partitions: 4-cliques
    "k4": ((4, 4, 4, 4), [(p, q) for p in range(4) for q in range(p + 1, 4)]),
    # edges inside partitions
    "internal": ((6, 6, 6), [(0, 0), (0, 1), (1, 1), (1, 2), (0, 2)]),
    # a chain: bipartite, no triangle at all
    "chain": ((6, 7, 7, 6), [(0, 1), (1, 2), (2, 3)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", range(3))
def test_triangle_terms_match_enumeration(case, seed):
    sizes, pairs = CASES[case]
    g = random_blocks(seed, sizes, pairs, density=0.5)
    st = GraphStructure(g)
    tri = triangles(st)
    expected = brute_triangle_terms(simple_nx(g))
    assert (tri.count, tri.tailed, tri.diamond, tri.clique) == expected
    if case in ("k4", "chained skips", "internal"):
        assert tri.count > 0
    if case == "k4":
        assert tri.clique > 0


def test_pair_roles_pick_the_lower_row_counter_only_where_safe():
    from prunegraph.queries.motifs import _pair_roles

    one = GraphStructure(random_blocks(0, *CASES["one skip"], 0.5))
    chained = GraphStructure(random_blocks(0, *CASES["chained skips"], 0.5))
    assert _pair_roles(one.partition_adjacency)[2, 3]  # only ever bc
    assert not _pair_roles(one.partition_adjacency)[1, 2]  # ab of the skip's triangles
    low = _pair_roles(chained.partition_adjacency)
    assert not low[1, 2] and not low[2, 3] and low[3, 4]  # (3, 4) closes no later triangle


def test_chain_answers_triangles_without_edge_structures():
    st = GraphStructure(random_blocks(0, (6, 7, 7, 6), CASES["chain"][1], 0.5))
    assert triangles(st).count == 0
    assert "upper" not in st.__dict__ and "_symmetric_full" not in st.__dict__


@pytest.mark.parametrize("case", ["one skip", "chained skips", "internal"])
def test_motif4_of_block_graphs_matches_brute_force(case):
    sizes, pairs = CASES[case]
    g = random_blocks(7, tuple(min(s, 4) for s in sizes), pairs, density=0.6)
    st = GraphStructure(g)
    G = simple_nx(g)
    assert motif3(st).value == brute_motifs(G, 3)
    assert motif4(st).value == brute_motifs(G, 4)


def brute_pair_wedge(G, u):
    total = 0
    for w in G.nodes:
        if w != u:
            c = len(set(G[u]) & set(G[w]))
            total += c * (c - 1) // 2
    return total


@pytest.mark.parametrize("skip", [True, False])
def test_pair_wedge_sums_match_enumeration(skip):
    g = random_layered(3, sizes=(8, 9, 9, 8), density=0.4, skip=skip)
    st = GraphStructure(g)
    G = simple_nx(g)
    ptr, idx, _ = st.undirected
    nodes = np.arange(st.n)
    got = MK.pair_wedge_sums(ptr, idx, nodes, K.chunk_bounds(st.n))
    assert got.tolist() == [brute_pair_wedge(G, u) for u in range(st.n)]
    assert got.sum() > 0


def brute_reach(succ, a):
    one = set(succ[a])
    two = set(itertools.chain.from_iterable(succ[x] for x in one))
    return len((one | two) - {a})


def test_two_hop_kernels_match_enumeration_on_a_cyclic_graph():
    rng = np.random.default_rng(5)
    n = 150
    src = rng.integers(0, n, 900)
    dst = rng.integers(0, n, 900)  # cycles, self-loops and parallel edges
    ptr, idx = K.csr_pattern(src, dst, n)
    succ = [idx[ptr[a] : ptr[a + 1]].tolist() for a in range(n)]
    expected = [brute_reach(succ, a) for a in range(n)]
    marked = MK.two_hop_reach(ptr, idx, np.arange(n), K.chunk_bounds(n))
    assert marked.tolist() == expected
    lo, hi = MK.word_spans(ptr, idx)
    assert MK.two_hop_reach_bits(ptr, idx, lo, hi) == sum(expected)


@pytest.mark.parametrize("seed", range(3))
def test_n2_word_sets_equal_the_marking_count(seed):
    g = random_layered(seed, sizes=(60, 80, 80, 60), density=0.4)
    st = GraphStructure(g)
    ptr, idx = st.directed
    marked = MK.two_hop_reach(ptr, idx, np.arange(st.n), K.chunk_bounds(st.n)).sum() / st.n
    est = n2(st)
    assert est.exact and est.value == marked


@pytest.mark.parametrize("seed", range(3))
def test_dense_four_cycles_of_one_side_match_enumeration(seed):
    g = random_layered(seed, sizes=(5, 7, 6, 5), density=0.5, skip=False)
    st = GraphStructure(g)
    assert np.isfinite(_dense_cycle_work(st))
    G = simple_nx(g)
    cycles = sum(brute_pair_wedge(G, u) for u in G.nodes)  # 4 C4
    assert _dense_four_cycle_total(st) == cycles > 0


def test_cost_strata_partition_the_nodes_by_cost_class():
    rng = np.random.default_rng(0)
    cost = rng.integers(0, 50, 1000)
    starts = np.array([0, 10, 300, 1000], dtype=np.int64)
    stops = np.array([10, 300, 1000, 1000], dtype=np.int64)
    order, bounds = MK.cost_strata(cost, starts, stops, 8, 16, 64)
    assert np.array_equal(np.sort(order), np.arange(1000))
    # 1 class for 10 nodes, 8 for 290, 8 for 700, none for the empty partition
    assert bounds.shape[0] - 1 == 1 + 8 + 8
    part = np.searchsorted(stops, order, side="right")
    for h in range(bounds.shape[0] - 1):
        members = order[bounds[h] : bounds[h + 1]]
        assert np.all(np.diff(members) > 0)
        assert len(set(part[bounds[h] : bounds[h + 1]].tolist())) <= 1
    # within a partition, the classes are ordered by cost
    for first, last in ((1, 9), (9, 17)):
        for h in range(first, last - 1):
            a, b = order[bounds[h] : bounds[h + 1]], order[bounds[h + 1] : bounds[h + 2]]
            if len(a) and len(b):
                assert cost[a].max() < cost[b].min()


def test_shuffle_prefixes_grow_a_simple_random_sample():
    order = np.arange(20, dtype=np.int64)
    bounds = np.array([0, 5, 20], dtype=np.int64)
    rng = np.random.default_rng(1)
    first = np.zeros(20, dtype=np.int64)
    for _ in range(3000):
        o = order.copy()
        MK.shuffle_prefixes(o, bounds, np.array([0, 0]), np.array([2, 3]), rng.random(5))
        prefix = o.copy()
        MK.shuffle_prefixes(o, bounds, np.array([2, 3]), np.array([5, 9]), rng.random(9))
        assert np.array_equal(o[:2], prefix[:2]) and np.array_equal(o[5:8], prefix[5:8])
        assert sorted(o[:5].tolist()) == list(range(5))
        assert sorted(o[5:].tolist()) == list(range(5, 20))
        first[o[0]] += 1
        first[o[5]] += 1
    # each member of a stratum comes first about equally often (3000/5, 3000/15)
    assert np.all(np.abs(first[:5] - 600) < 120) and np.all(np.abs(first[5:] - 200) < 70)


def test_strata_moments_match_the_stratified_formula():
    rng = np.random.default_rng(2)
    bounds = np.array([0, 10, 30, 31], dtype=np.int64)
    taken = np.array([4, 20, 1], dtype=np.int64)
    values = rng.random(31)
    total, var = MK.strata_moments(values, bounds, taken)
    exp_total = exp_var = 0.0
    for h in range(3):
        size, m = bounds[h + 1] - bounds[h], taken[h]
        v = values[bounds[h] : bounds[h] + m]
        exp_total += size * v.mean()
        if m < size:
            exp_var += size**2 * (1 - m / size) * v.var(ddof=1) / m
    assert total == pytest.approx(exp_total) and var == pytest.approx(exp_var)


@pytest.mark.parametrize("counter", [np.uint16, np.int32])
def test_triangle_kernel_counts_alike_with_both_counter_widths(counter):
    from prunegraph.queries.motifs import _pair_roles

    g = random_blocks(4, *CASES["chained skips"], 0.6)
    st = GraphStructure(g)
    fptr, fidx = st.forward
    uptr, uidx, usplit = st.undirected
    ranges = np.asarray(st.partition_ranges, dtype=np.int64)
    per_node = np.zeros(st.n, dtype=np.int64)
    count, diamond, clique = MK.triangle_terms(
        fptr, fidx, uptr, usplit, uidx, st.node_partition, ranges[:, 0].copy(),
        ranges[:, 1].copy(), st.closable_pairs, _pair_roles(st.partition_adjacency), True,
        per_node, np.zeros(fidx.shape[0], dtype=counter), np.zeros(uidx.shape[0], dtype=counter),
    )  # fmt: skip
    tri, tailed, pairs, k4 = brute_triangle_terms(simple_nx(g))
    assert (count, diamond, clique) == (tri, pairs, k4) and count > 0
    assert int((per_node * (st.degree - 2)).sum()) == tailed


def test_reach_cost_is_the_marking_work():
    g = random_layered(6, sizes=(20, 30, 30, 20), density=0.3)
    st = GraphStructure(g)
    ptr, idx = st.directed
    out = np.diff(ptr)
    expected = [out[a] + sum(out[x] for x in idx[ptr[a] : ptr[a + 1]]) for a in range(st.n)]
    for chunks in (1, 7):
        got = MK.reach_cost(ptr, idx, K.row_chunks(ptr, chunks))
        assert got.tolist() == [int(e) for e in expected] and got.sum() > st.n


def test_balanced_chunks_split_the_work_evenly():
    from prunegraph.queries.motifs import balanced_chunks

    work = np.concatenate((np.full(90, 1.0), np.full(10, 100.0)))  # costly nodes last
    bounds = balanced_chunks(work, per_thread=4)
    assert bounds[0] == 0 and bounds[-1] == 100 and np.all(np.diff(bounds) >= 0)
    shares = np.add.reduceat(work, bounds[:-1][np.diff(bounds) > 0])
    if len(shares) > 1:
        assert shares.max() <= 2 * work.sum() / (len(bounds) - 1) + 100
    assert balanced_chunks(np.ones(1)).tolist() == [0, 1]
