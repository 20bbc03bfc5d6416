"""Section B's dense degree groups and bucketed stacked solves against the one-by-one code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prunegraph.queries import ramanujan as R


def loop_groups(b_full: np.ndarray, w_full: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The groups as the per-degree loop of before selected them."""
    left_deg = np.count_nonzero(b_full, axis=1)
    out = []
    for d in np.unique(left_deg):
        group = np.flatnonzero(left_deg == d)
        if d == 0 or len(group) < 3:
            continue
        sub = b_full[group]
        keep = sub.any(axis=0)
        sub = sub[:, keep]
        if d < 3 or np.count_nonzero(sub) / sub.shape[1] < 3:
            continue
        out.append((sub, w_full[group][:, keep]))
    return out


def layer(seed: int, nl: int, nr: int) -> tuple[np.ndarray, np.ndarray]:
    """A layer whose left degrees spread widely (many groups of many sizes)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.9, size=(nl, 1))  # per-row density
    keep = rng.random((nl, nr)) < p
    w = rng.normal(size=(nl, nr)) * keep
    return keep.astype(np.float64), np.abs(w)


@pytest.mark.parametrize("seed", range(6))
def test_dense_groups_equal_the_loop(seed):
    b, w = layer(seed, 120 + 40 * seed, 60 + 30 * (seed % 3))
    got = R._dense_degree_groups(b, w, np.count_nonzero(b, axis=1))
    want = loop_groups(b, w)
    assert len(got) == len(want) > 0
    for (gb, gw), (wb, ww) in zip(got, want, strict=True):
        np.testing.assert_array_equal(gb, wb)
        np.testing.assert_array_equal(gw, ww)


def test_no_group_when_degrees_are_small_or_unique():
    b = np.eye(6)  # degree 1 everywhere
    assert R._dense_degree_groups(b, b, np.count_nonzero(b, axis=1)) == []
    b = np.triu(np.ones((6, 6)))  # every degree once
    assert R._dense_degree_groups(b, b, np.count_nonzero(b, axis=1)) == []


@pytest.mark.parametrize("seed", range(4))
def test_bucketed_top_two_equal_one_by_one(seed):
    # Sizes on both sides of the power-of-two bucket edges (1, 2, 4, 8, 16, 32, 64).
    rng = np.random.default_rng(seed)
    shapes = [(r, r + int(rng.integers(0, 9))) for r in (1, 2, 3, 4, 5, 8, 9, 16, 17, 31, 33, 64)]
    shapes += [(c + 3, c) for c in (2, 7, 15)]  # Gram on the columns
    mats = [(rng.random(s) < 0.6) * rng.random(s) for s in shapes]
    mats.append(np.zeros((3, 4)))  # no edge
    mats.append(np.ones((4, 4)))  # rank one, square: t2 = 0 from the rank
    mats.append(np.eye(5))  # one distinct magnitude, square: no t2
    stacked = R._top_two_dense(mats)
    for m, (t1, t2) in zip(mats, stacked, strict=True):
        e1, e2 = R.top_two_magnitudes(m)
        assert (t1 is None) == (e1 is None)
        if t1 is not None:
            assert t1 == pytest.approx(e1, rel=1e-12)
        assert (t2 is None) == (e2 is None)
        if t2 is not None:
            assert t2 == pytest.approx(e2, rel=1e-9, abs=1e-7)
    assert stacked[-3] == (None, None)
    assert stacked[-2][0] == pytest.approx(4.0)
    assert stacked[-1] == (pytest.approx(1.0), None)


def test_layer_values_match_the_sparse_path(monkeypatch):
    b, w = layer(7, 150, 80)
    rows, cols = np.nonzero(b)
    weights = w[rows, cols] * np.where(np.arange(len(rows)) % 2, 1.0, -1.0)
    dense = R.layer_metrics(rows, cols, weights, 150, 80)
    monkeypatch.setattr(R, "DENSE_GRAM_MAX_ENTRIES", 0)
    sparse = R.layer_metrics(rows, cols, weights, 150, 80)
    for name in ("delta_r_imdb", "lambda_imsg"):
        assert dense[name] is not None and math.isfinite(dense[name])
        assert dense[name] == pytest.approx(sparse[name], rel=1e-9), name
