"""Ramanujan metrics (section B) on graphs with known spectra; undefined values are null."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _metric_graphs import build, full

from prunegraph.queries.ramanujan import (
    compute_section_b,
    layer_metrics,
    network_means,
    top_two_magnitudes,
)


def edges(pairs):
    a = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return a[:, 0], a[:, 1]


def metrics_of(pairs, n_left, n_right, weights=None, **kw):
    r, c = edges(pairs)
    w = np.ones(len(r)) if weights is None else np.asarray(weights, dtype=float)
    return layer_metrics(r, c, w, n_left, n_right, **kw)


def test_complete_bipartite():
    m = metrics_of(full(3, 4), 3, 4, n_weights=12, n_unmasked=12)
    t1 = math.sqrt(12)  # singular values sqrt(12), 0, 0
    assert m["layer_density"] == 1.0
    assert m["delta_s"] == pytest.approx(2 * math.sqrt(t1 - 1))
    assert m["delta_r"] == pytest.approx(math.sqrt(3) + math.sqrt(2))  # dl = 4, dr = 3, t2 = 0
    assert m["delta_s_rel"] is None and m["delta_r_rel"] is None  # t2 = 0: undefined
    assert m["delta_r_imdb"] == pytest.approx(math.sqrt(3) + math.sqrt(2))
    assert m["lambda_imsg"] == pytest.approx(t1)
    assert m["lambda2_nlap"] == pytest.approx(1.0)  # spectrum 0, 1 (x5), 2


def test_three_regular_bipartite():
    pairs = [(i, j) for i in range(4) for j in range(4) if i != j]  # J - I: singular 3, 1, 1, 1
    w = np.full(len(pairs), 0.5)
    m = metrics_of(pairs, 4, 4, weights=w)
    assert top_two_magnitudes(
        __import__("scipy.sparse", fromlist=["csr_matrix"]).csr_matrix(
            (np.ones(12), edges(pairs)), shape=(4, 4)
        )
    ) == pytest.approx((3.0, 1.0))
    assert m["delta_s"] == pytest.approx(2 * math.sqrt(2) - 1)
    assert m["delta_r"] == pytest.approx(2 * math.sqrt(2) - 1)
    assert m["delta_s_rel"] == pytest.approx(2 * math.sqrt(2) - 1)
    assert m["delta_r_imdb"] == pytest.approx(2 * math.sqrt(2) - 1)
    assert m["lambda_imsg"] == pytest.approx(0.5 * (3 - 1))  # weighted t1 - t2
    assert m["lambda2_nlap"] == pytest.approx(2 / 3)
    assert m["layer_density"] == pytest.approx(12 / 16)


def test_two_regular_cycle_has_no_iterative_subgraph():
    pairs = [(i, i) for i in range(3)] + [(i, (i + 1) % 3) for i in range(3)]  # C6
    m = metrics_of(pairs, 3, 3)
    assert m["delta_s"] == pytest.approx(1.0) and m["delta_r"] == pytest.approx(1.0)
    assert m["delta_r_imdb"] is None and m["lambda_imsg"] is None  # d = 2 < 3
    assert m["lambda2_nlap"] == pytest.approx(0.5)


def test_disconnected_layer():
    pairs = full(2, 2) + [(i + 2, j + 2) for i, j in full(2, 2)]  # two K_{2,2}
    m = metrics_of(pairs, 4, 4)
    assert m["delta_s"] == pytest.approx(2.0)  # t1 = 2 (twice), t2 = 0
    assert m["delta_s_rel"] is None
    assert m["lambda2_nlap"] == pytest.approx(1.0)  # largest component K_{2,2}


def test_isolated_nodes_are_removed_first():
    with_isolated = metrics_of(full(3, 4), 5, 6)
    assert with_isolated["delta_r"] == pytest.approx(math.sqrt(3) + math.sqrt(2))


def test_undefined_cases_are_null_never_zero():
    one_edge = metrics_of([(0, 0)], 1, 1)
    assert one_edge["delta_s"] is None and one_edge["delta_r"] is None
    assert one_edge["lambda2_nlap"] == pytest.approx(2.0)
    empty = layer_metrics(
        np.zeros(0, int), np.zeros(0, int), np.zeros(0), 3, 3, n_weights=9, n_unmasked=0
    )
    assert empty["layer_density"] == 0.0
    assert all(empty[k] is None for k in empty if k != "layer_density")


def test_rolled_graph_layers_and_means():
    g = build(
        [3, 4, 4, 4],
        [(0, 1, full(3, 4), None, "conv"), (2, 3, [(0, 0)], None, "linear")],
        kind="rolled",
    )
    per_layer = compute_section_b(g)
    assert set(per_layer) == {0, 1}
    means = network_means(per_layer)
    assert means["mean_delta_r"] == pytest.approx(math.sqrt(3) + math.sqrt(2))  # null skipped
    assert means["mean_layer_density"] == pytest.approx((1 + 1 / 16) / 2)


@pytest.mark.parametrize("seed", range(3))
def test_dense_and_sparse_layer_paths_agree(monkeypatch, seed):
    from prunegraph.queries import ramanujan

    rng = np.random.default_rng(seed)
    keep = rng.random((30, 40)) < 0.3
    rows, cols = np.nonzero(keep)
    weights = rng.normal(size=len(rows))
    dense = ramanujan.layer_metrics(rows, cols, weights, 30, 40)
    monkeypatch.setattr(ramanujan, "DENSE_GRAM_MAX_ENTRIES", 0)
    sparse = ramanujan.layer_metrics(rows, cols, weights, 30, 40)
    assert dense.keys() == sparse.keys()
    for name, value in sparse.items():
        if value is None:
            assert dense[name] is None, name
        else:
            assert dense[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_stacked_top_two_equals_one_by_one():
    from prunegraph.queries.ramanujan import _top_two_dense

    rng = np.random.default_rng(0)
    mats = [(rng.random((r, c)) < 0.5) * rng.random((r, c)) for r, c in ((3, 7), (6, 4), (5, 5))]
    mats.append(np.ones((2, 5)))  # t1 once, then the appended zero: t2 = 0
    mats.append(np.eye(3))  # all singular values equal, square: no t2
    stacked = _top_two_dense(mats)
    for m, (t1, t2) in zip(mats, stacked, strict=True):
        e1, e2 = top_two_magnitudes(m)
        assert t1 == pytest.approx(e1, rel=1e-12)
        assert (t2 is None) == (e2 is None)
        if t2 is not None:
            assert t2 == pytest.approx(e2, rel=1e-12, abs=1e-12)
    assert stacked[-1] == (pytest.approx(1.0), None)
    assert stacked[-2] == (pytest.approx(math.sqrt(10)), 0.0)
