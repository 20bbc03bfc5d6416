"""Motif counts against brute force, and the sampling estimators against exact values."""

from __future__ import annotations

import numpy as np
import pytest
from _metric_graphs import brute_motifs, build, full, random_layered, undirected_nx

from prunegraph.errors import ValidationError
from prunegraph.queries._structure import GraphStructure
from prunegraph.queries.motifs import motif3, motif4, n2, triangles


@pytest.mark.parametrize("seed", range(5))
def test_exact_counts_match_brute_force(seed):
    g = random_layered(seed, sizes=(5, 6, 6, 5), density=0.45)
    st = GraphStructure(g)
    G = undirected_nx(g)
    assert motif3(st).value == brute_motifs(G, 3)
    assert motif4(st).value == brute_motifs(G, 4)
    assert motif4(st).exact


def test_four_clique_and_diamond_classes():
    # Partitions 0-1-2-3 pairwise joined: one K4 plus pendant-free structure.
    blocks = [
        (p, q, [(0, 0)], None, "skip" if q - p > 1 else "conv")
        for p in range(4)
        for q in range(p + 1, 4)
    ]
    g = build([1, 1, 1, 1], blocks)
    st = GraphStructure(g)
    assert triangles(st).count == 4
    assert motif4(st).value == 1 and motif3(st).value == 4


def test_two_hop_reach_counts_union_once():
    # a -> b -> c and a -> c (skip): c is reached at one and two hops, counted once.
    g = build(
        [1, 1, 1],
        [
            (0, 1, [(0, 0)], None, "conv"),
            (1, 2, [(0, 0)], None, "conv"),
            (0, 2, [(0, 0)], None, "skip"),
        ],
    )
    assert n2(GraphStructure(g)).value == pytest.approx((2 + 1 + 0) / 3)


def _coverage(estimate_fn, exact, seeds):
    hits, zs = 0, []
    for s in seeds:
        est = estimate_fn(np.random.default_rng(s))
        assert est.se is not None and est.se > 0, "the budget should force sampling"
        assert est.sample_size is not None and est.sample_size < est.population
        z = (est.value - exact) / est.se
        zs.append(z)
        hits += abs(z) < 4
    return hits / len(seeds), float(np.mean(zs))


def test_motif4_estimate_within_its_standard_error():
    g = random_layered(11, sizes=(30, 40, 40, 30), density=0.3)
    st = GraphStructure(g)
    exact = motif4(st).value
    cover, mean_z = _coverage(lambda rng: motif4(st, budget=2_000, rng=rng), exact, range(40))
    assert cover >= 0.9
    assert abs(mean_z) < 1.0  # unbiased: z-scores centre on 0


def test_n2_estimate_within_its_standard_error():
    g = random_layered(12, sizes=(30, 40, 40, 30), density=0.3)
    st = GraphStructure(g)
    exact = n2(st).value
    cover, mean_z = _coverage(lambda rng: n2(st, budget=500, rng=rng), exact, range(40))
    assert cover >= 0.9
    assert abs(mean_z) < 1.0


def test_estimate_records_estimator_and_sample():
    st = GraphStructure(random_layered(1, sizes=(20, 20, 20, 20), density=0.3))
    est = motif4(st, budget=100)
    assert "stratified" in est.estimator and est.population == st.n


def test_budget_must_be_positive():
    st = GraphStructure(build([2, 2], [(0, 1, full(2, 2), None, "linear")]))
    with pytest.raises(ValidationError, match="'budget' parameter"):
        motif4(st, budget=0)


@pytest.mark.parametrize(("seed", "skip"), [(0, True), (1, True), (2, False), (3, True)])
def test_ranked_four_cycle_count_equals_the_per_node_wedge_sums(seed, skip):
    from prunegraph.queries import _kernels as K
    from prunegraph.queries import _motif_kernels as MK

    g = random_layered(seed, sizes=(20, 30, 30, 20), density=0.3, skip=skip)
    st = GraphStructure(g)
    ptr, idx, _ = st.undirected
    per_node = MK.pair_wedge_sums(ptr, idx, np.arange(st.n), K.chunk_bounds(st.n)).sum()
    rptr, ridx = K.degree_ranked_csr(ptr, idx, st.degree)
    assert np.all(np.diff(ridx[rptr[0] : rptr[1]]) > 0)  # rows sorted by rank
    for chunks in (1, 5):
        assert 4 * int(K.four_cycle_count(rptr, ridx, chunks)) == round(per_node)
    assert 4 * int(K.four_cycle_count(rptr, ridx, 1)) > 0


def test_exact_motif4_on_a_four_cycle_by_hand():
    # Two inputs both feeding two hidden units: exactly one 4-cycle (0-2-1-3-0).
    g = build([2, 2], [(0, 1, full(2, 2), None, "linear")])
    est = motif4(GraphStructure(g))
    assert est.exact and est.value == brute_motifs(undirected_nx(g), 4) == 1


@pytest.mark.parametrize("seed", range(3))
def test_dense_four_cycle_count_of_a_bipartite_chain(seed):
    from prunegraph.queries import _kernels as K
    from prunegraph.queries.motifs import _dense_cycle_work, _dense_four_cycle_total

    g = random_layered(seed, sizes=(5, 6, 6, 5), density=0.45, skip=False)
    st = GraphStructure(g)
    assert st.bipartite_sides is not None and np.isfinite(_dense_cycle_work(st))
    rptr, ridx = K.degree_ranked_csr(*st.undirected[:2], st.degree)
    assert _dense_four_cycle_total(st) == 4 * int(K.four_cycle_count(rptr, ridx, 1))
    est = motif4(st)
    assert est.exact and est.value == brute_motifs(undirected_nx(g), 4)
    # A skip joining partitions two apart: not bipartite, no dense count.
    assert _dense_cycle_work(GraphStructure(random_layered(seed))) == float("inf")


def test_dense_count_makes_an_over_budget_bipartite_graph_exact():
    g = random_layered(4, sizes=(20, 30, 30, 20), density=0.5, skip=False)
    st = GraphStructure(g)
    from prunegraph.queries.motifs import _dense_cycle_work

    work = _dense_cycle_work(st)
    assert motif4(st, budget=work).exact  # the dense count fits the budget
    assert not motif4(GraphStructure(g), budget=work / 2).exact  # neither count fits: sampled
