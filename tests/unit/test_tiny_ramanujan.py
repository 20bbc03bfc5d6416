"""Section B's small-layer shortcuts give what the general code gives (issue 18, third pass)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from prunegraph.queries import ramanujan as R


def scipy_labels(b: np.ndarray) -> np.ndarray:
    nl, nr = b.shape
    r, c = np.nonzero(b)
    adj = sp.csr_matrix((np.ones(len(r)), (r, c + nl)), shape=(nl + nr, nl + nr))
    return csgraph.connected_components(adj, directed=False)[1]


def random_layer(seed: int, nl: int, nr: int, density: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((nl, nr)) < density).astype(np.float64)


@pytest.mark.parametrize("seed", range(12))
def test_components_match_csgraph_connected_or_not(seed):
    # from one component to many (the sparser layers), isolated nodes included
    b = random_layer(seed, 7 + seed, 11, density=0.05 + 0.05 * (seed % 6))
    labels = R._components(b)
    expected = scipy_labels(b)
    assert np.array_equal(labels, expected)
    assert R._dense_connected(b) == (expected.max() == 0)


def test_two_blocks_and_a_chain():
    two = np.zeros((4, 4))
    two[:2, :2] = two[2:, 2:] = 1.0
    assert not R._dense_connected(two)
    assert np.array_equal(R._components(two), scipy_labels(two))
    chain = np.eye(6) + np.eye(6, k=1)  # a path 12 nodes long: many breadth-first levels
    assert R._dense_connected(chain)
    assert R._components(chain).max() == 0
    assert not R._dense_connected(np.zeros((0, 3)))


@pytest.mark.parametrize("dense", [True, False])
def test_distinct_cells_count_parallel_edges_once(monkeypatch, dense):
    if not dense:
        monkeypatch.setattr(R, "DENSE_GRAM_MAX_ENTRIES", 0)
    rows = np.array([0, 0, 1, 2, 2, 2])
    cols = np.array([1, 1, 0, 3, 3, 0])
    assert R._distinct_cells(rows, cols, 3, 4) == 4
    rng = np.random.default_rng(0)
    r, c = rng.integers(0, 20, 500), rng.integers(0, 30, 500)
    assert R._distinct_cells(r, c, 20, 30) == len(set(zip(r.tolist(), c.tolist(), strict=True)))


@pytest.mark.parametrize("seed", range(4))
def test_layer_values_match_the_definitions(seed):
    """delta_r from the one shared solve, lambda2 on the whole (connected) layer."""
    rng = np.random.default_rng(seed)
    keep = rng.random((20, 26)) < 0.3
    rows, cols = np.nonzero(keep)
    weights = rng.normal(size=len(rows))
    m = R.layer_metrics(rows, cols, weights, 20, 26)
    b = R._drop_isolated(keep.astype(np.float64))
    assert m["delta_r"] == R._delta_r(b)[0]
    sub = sp.csr_matrix(b)  # the sparse path: csgraph labels, scipy indexing
    assert m["lambda2_nlap"] == pytest.approx(R.lambda2_normalised_laplacian(sub), rel=1e-12)
    # the channel-graph density (no weight count): distinct cells over all cells
    dup = R.layer_metrics(
        np.r_[rows, rows[:5]], np.r_[cols, cols[:5]], np.r_[weights, weights[:5]], 20, 26
    )
    assert dup["layer_density"] == pytest.approx(keep.sum() / (20 * 26))
