"""Section D path metrics and section C stability on hand-checkable graphs."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from _metric_graphs import build, full, mlp_232, random_layered

from prunegraph.errors import ValidationError
from prunegraph.queries.paths import compute_section_d, edge_connectivity, path_counts
from prunegraph.queries.stability import stability


def test_mlp_paths_by_hand():
    d = compute_section_d(mlp_232())
    assert d["log_paths"] == pytest.approx(math.log(12))
    assert d["mean_path"] == 2 and d["max_path"] == 2
    assert d["edge_connectivity"] == 6
    assert d["mean_degree"] == pytest.approx(24 / 7)


def test_skip_changes_path_lengths():
    g = build(
        [1, 1, 1],
        [
            (0, 1, [(0, 0)], None, "conv"),
            (1, 2, [(0, 0)], None, "conv"),
            (0, 2, [(0, 0)], None, "skip"),
        ],
    )
    lp, mp, xp = path_counts(g)
    assert lp == pytest.approx(math.log(2)) and mp == pytest.approx(1.5) and xp == 2
    assert edge_connectivity(g) == 2


@pytest.mark.parametrize("seed", range(3))
def test_path_dp_matches_networkx(seed):
    g = random_layered(seed, sizes=(4, 5, 5, 4), density=0.5)
    G = nx.DiGraph()
    G.add_edges_from(zip(g.src.tolist(), g.dst.tolist(), strict=True))
    first = range(g.partitions[0].size)
    last = range(g.partitions[-1].offset, g.n_nodes)
    lengths = [
        len(p) - 1
        for s in first
        for t in last
        if s in G and t in G
        for p in nx.all_simple_paths(G, s, t)
    ]
    lp, mp, xp = path_counts(g)
    assert lp == pytest.approx(math.log(len(lengths)))
    assert mp == pytest.approx(np.mean(lengths)) and xp == max(lengths)
    G.add_edges_from(("s", u, {"capacity": 10**6}) for u in first)
    G.add_edges_from((t, "t", {"capacity": 10**6}) for t in last)
    for _u, _v, data in G.edges(data=True):
        data.setdefault("capacity", 1)
    assert edge_connectivity(g) == nx.maximum_flow_value(G, "s", "t")


def test_huge_path_counts_stay_finite():
    layers = [50] * 30  # 50^29 * 50 paths: far beyond float range
    blocks = [(p, p + 1, full(50, 50), None, "linear") for p in range(29)]
    lp, mp, xp = path_counts(build(layers, blocks))
    assert lp == pytest.approx(30 * math.log(50)) and mp == 29 and xp == 29


def test_no_path_is_null_and_big_graphs_skip_embeddings():
    g = build([2, 2, 2], [(0, 1, [(0, 0)], None, "conv"), (1, 2, [(1, 1)], None, "conv")])
    assert path_counts(g) == (None, None, None)
    assert edge_connectivity(g) == 0
    big = random_layered(0, sizes=(600, 600, 600, 600), density=0.005)
    d = compute_section_d(big, ["ln_communicability", "pca_elongation"])
    assert d == {"ln_communicability": None, "pca_elongation": None}


def test_small_graph_embedding_metrics():
    d = compute_section_d(mlp_232(), ["ln_communicability", "pca_elongation"])
    assert np.isfinite(d["ln_communicability"])
    assert 0 <= d["pca_elongation"] <= 1


def test_backward_block_is_rejected():
    g = build([2, 2], [(1, 0, [(0, 0)], None, "conv")])
    with pytest.raises(ValidationError, match="earlier to later"):
        path_counts(g)


def two_layer(e0, e1):
    return build([3, 3, 3], [(0, 1, e0, None, "conv"), (1, 2, e1, None, "conv")])


def test_stability_by_hand():
    a = two_layer([(0, 0), (0, 1)], [(2, 2)])
    b = two_layer([(0, 1), (1, 1)], [(2, 2)])
    s = stability(a, b)
    # layer 0: J = 1/3, O = 1/2, e = 2; layer 1: J = O = 1, e = 1
    assert s["stability_jaccard"] == pytest.approx((2 / 3 + 1) / 3)
    assert s["stability_overlap"] == pytest.approx((1 + 1) / 3)
    assert stability(a, a) == {"stability_jaccard": 1.0, "stability_overlap": 1.0}


def test_stability_needs_same_architecture():
    with pytest.raises(ValidationError, match="same architecture"):
        stability(two_layer([(0, 0)], [(0, 0)]), build([3, 3], [(0, 1, [(0, 0)], None, "conv")]))


def test_edge_connectivity_matches_networkx_whether_or_not_greedy_is_optimal():
    """The greedy start stops early only at the layer-cut bound; otherwise Dinic repairs it."""
    from prunegraph.queries import _kernels as K

    greedy_short = greedy_optimal = 0
    for seed in range(60):
        g = random_layered(seed, sizes=(5, 7, 6, 7, 4), density=0.35)
        part = g.node_partition
        is_source, is_sink = part == 0, part == g.n_partitions - 1
        G = nx.DiGraph()
        G.add_edges_from(zip(g.src.tolist(), g.dst.tolist(), strict=True), capacity=1)
        G.add_edges_from(("s", int(u), {"capacity": 10**6}) for u in np.flatnonzero(is_source))
        G.add_edges_from((int(t), "t", {"capacity": 10**6}) for t in np.flatnonzero(is_sink))
        expected = nx.maximum_flow_value(G, "s", "t")
        assert edge_connectivity(g) == expected, seed
        used = K._greedy_unit_flow(g.n_nodes, g.src, g.dst, is_source, is_sink)
        greedy = int((used & is_source[g.src]).sum())
        greedy_short += greedy < expected
        greedy_optimal += greedy == expected
    assert greedy_short and greedy_optimal, "both branches of unit_max_flow must be exercised"


def test_dagnet_path_metrics_compute():
    """The zoo's DAG network (Janik and Nowak) encodes in partition order, so its
    path metrics compute (issue 17); a thresholded edge removes paths."""
    import torch

    from prunegraph.loader.encoding import encode
    from prunegraph.loader.models import build_model

    model = build_model("dagnet", input_shape=(3, 8, 8), num_classes=4, n_nodes=6, channels=2)
    graph = encode(model, None, (3, 8, 8))
    d = compute_section_d(graph)
    assert np.isfinite(d["log_paths"]) and d["log_paths"] > 0
    assert d["max_path"] >= d["mean_path"] >= 1
    with torch.no_grad():
        model.edge_weights[model.edge_pairs.index((4, 5))] = 0.0
    model.threshold_edges(0.006)
    thresholded = compute_section_d(encode(model, None, (3, 8, 8)))
    assert thresholded["log_paths"] < d["log_paths"]


@pytest.mark.parametrize(("seed", "skip"), [(0, True), (1, True), (2, True), (3, False)])
def test_ln_communicability_lanczos_matches_the_dense_eigendecomposition(seed, skip):
    from prunegraph.queries.paths import _terminal_sides, _with_terminals, ln_communicability

    g = random_layered(seed, sizes=(12, 30, 30, 10), density=0.3, skip=skip)
    # A chain is bipartite (its products skip the rows that are exactly 0); a skip is not.
    assert (_terminal_sides(g) is None) == skip
    a = _with_terminals(g).toarray()
    lam, phi = np.linalg.eigh(a)
    top = lam.max()
    s, t = g.n_nodes, g.n_nodes + 1
    expected = top + math.log(float((phi[s] * phi[t] * np.exp(lam - top)).sum()))
    assert ln_communicability(g) == pytest.approx(expected, rel=1e-11)


def test_edge_connectivity_on_the_structure_csr_matches_networkx():
    """The greedy pass over the built simple CSR (both walking directions, with and
    without renamed ids) gives the max flow; short of the layer-cut bound, Dinic does."""
    from prunegraph.queries import _kernels as K
    from prunegraph.queries._structure import GraphStructure

    csr_hits = directions = 0
    for seed in range(40):
        sizes = (5, 7, 6, 7, 4) if seed % 2 else (3, 7, 6, 7, 9)  # narrow end first or last
        g = random_layered(seed, sizes=sizes, density=0.35)
        st = GraphStructure(g)
        if seed % 3 == 0:  # ids renamed inside partitions (as pixel-major order does)
            rng = np.random.default_rng(seed)
            relabel = np.arange(g.n_nodes, dtype=np.int32)
            for p in g.partitions:
                relabel[p.offset : p.offset + p.size] = p.offset + rng.permutation(p.size)
            st.__dict__["relabel"] = relabel
        _ = st.undirected  # built, as after section A
        part = g.node_partition
        G = nx.DiGraph()
        G.add_edges_from(zip(g.src.tolist(), g.dst.tolist(), strict=True), capacity=1)
        G.add_edges_from(("s", int(u), {"capacity": 10**6}) for u in np.flatnonzero(part == 0))
        last = part == g.n_partitions - 1
        G.add_edges_from((int(t), "t", {"capacity": 10**6}) for t in np.flatnonzero(last))
        expected = nx.maximum_flow_value(G, "s", "t")
        ptr, idx, split = st.undirected
        greedy = K.greedy_paths_simple(ptr, idx, split, part == 0, last)
        assert greedy <= expected, seed  # a set of edge-disjoint paths
        assert edge_connectivity(g, st) == expected, seed
        csr_hits += greedy == expected
        directions += sizes[0] < sizes[-1]
    assert 0 < csr_hits < 40 and 0 < directions < 40


def test_edge_connectivity_leaves_a_structure_with_parallel_edges_alone(monkeypatch):
    """Parallel edges merge in the simple CSR: the flow must count each one."""
    from prunegraph.queries import _kernels as K
    from prunegraph.queries._structure import GraphStructure

    g = build([1, 1], [(0, 1, [(0, 0), (0, 0)], None, "conv")])  # two unit edges, one pair
    st = GraphStructure(g)
    _ = st.undirected
    walked = []
    original = K.greedy_paths_simple
    monkeypatch.setattr(K, "greedy_paths_simple", lambda *a: walked.append(1) or original(*a))
    assert edge_connectivity(g, st) == 2
    assert not walked
    simple = build([2, 2], [(0, 1, [(0, 0), (1, 1)], None, "conv")])
    assert edge_connectivity(simple, GraphStructure(simple)) == 2 and walked


def test_edge_connectivity_builds_the_csr_only_when_other_metrics_read_it(monkeypatch):
    from prunegraph.queries import _kernels as K

    walked = []
    original = K.greedy_paths_simple
    monkeypatch.setattr(K, "greedy_paths_simple", lambda *a: walked.append(1) or original(*a))
    g = random_layered(3, sizes=(5, 7, 6, 7, 4), density=0.35)
    alone = compute_section_d(g, ["edge_connectivity"])["edge_connectivity"]
    assert not walked  # nothing else reads the CSR: the flow's own edge scan is cheaper
    both = compute_section_d(g, ["log_paths", "edge_connectivity", "ln_communicability"])
    assert walked and both["edge_connectivity"] == alone
