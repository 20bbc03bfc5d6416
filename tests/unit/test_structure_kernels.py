"""The CSR builders and the parallel mat-vec behind GraphStructure, against scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from prunegraph.queries import _kernels as K
from prunegraph.queries import _spectral as S


def _random_pairs(seed, n=40, m=300, upward=False):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n, m).astype(np.int32)
    dst = rng.integers(0, n, m).astype(np.int32)
    if upward:
        keep = src < dst
        src, dst = src[keep], dst[keep]
    weight = rng.normal(size=src.shape[0]).astype(np.float32)  # signed: |w| is used
    return n, src, dst, weight


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("upward", [False, True])
def test_weighted_upper_csr_is_the_upper_triangle_of_a_plus_at(seed, upward):
    n, src, dst, weight = _random_pairs(seed, upward=upward)
    a = sp.coo_matrix((np.abs(weight).astype(np.float64), (src, dst)), shape=(n, n)).toarray()
    sym = a + a.T
    ptr, idx, data, loops = K.weighted_upper_csr(src, dst, weight, n, is_dag=upward)
    rebuilt = np.zeros((n, n))
    rows = np.repeat(np.arange(n), np.diff(ptr))
    assert np.all(idx > rows), "strictly upper, self-loops left out"
    for r in range(n):
        row = idx[ptr[r] : ptr[r + 1]]
        assert np.all(np.diff(row) > 0), "sorted, duplicates merged"
    rebuilt[rows, idx] = data
    np.testing.assert_allclose(rebuilt, np.triu(sym, 1), rtol=1e-6)
    np.testing.assert_allclose(loops, np.diag(sym), rtol=1e-6)
    wdeg = K.weighted_degree(ptr, idx, data, loops)
    np.testing.assert_allclose(wdeg, sym.sum(axis=1), rtol=1e-6)
    x = np.random.default_rng(seed).normal(size=n)
    for threads in (1, 2, 3):
        y = S.sym_matvec1(ptr, idx, data, loops, x, wdeg, False, threads)
        # float32 storage of summed weights: errors relative to the row sums
        np.testing.assert_allclose(y, sym @ x, rtol=1e-6, atol=1e-6 * np.abs(sym).sum())
        lap = S.sym_matvec1(ptr, idx, data, loops, x, wdeg, True, threads)
        expected = (np.diag(sym.sum(axis=1)) - sym) @ x
        np.testing.assert_allclose(lap, expected, rtol=1e-6, atol=1e-6 * np.abs(sym).sum())


@pytest.mark.parametrize("seed", range(4))
def test_undirected_from_upper_and_its_split(seed):
    n, src, dst, weight = _random_pairs(seed)
    ptr, idx, _, _ = K.weighted_upper_csr(src, dst, weight, n, is_dag=False)
    uptr, uidx, split = K.undirected_from_upper(ptr, idx)
    pattern = sp.coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)).toarray() > 0
    pattern = (pattern | pattern.T) & ~np.eye(n, dtype=bool)
    for u in range(n):
        row = uidx[uptr[u] : uptr[u + 1]]
        np.testing.assert_array_equal(row, np.flatnonzero(pattern[u]))
        assert np.all(uidx[uptr[u] : split[u]] < u) and np.all(uidx[split[u] : uptr[u + 1]] > u)


def test_csr_pattern_merges_duplicates():
    rows = np.array([2, 0, 2, 2, 1, 0], dtype=np.int32)
    cols = np.array([1, 3, 1, 0, 1, 3], dtype=np.int32)
    ptr, idx = K.csr_pattern(rows, cols, 4)
    assert ptr.tolist() == [0, 1, 2, 4, 4]
    assert idx.tolist() == [3, 1, 0, 1]


@pytest.mark.parametrize("seed", range(4))
def test_symmetric_csr_and_its_gather_matvec(seed):
    n, src, dst, weight = _random_pairs(seed)
    a = sp.coo_matrix((np.abs(weight).astype(np.float64), (src, dst)), shape=(n, n)).toarray()
    sym = a + a.T
    ptr, idx, data, loops = K.weighted_upper_csr(src, dst, weight, n, is_dag=False)
    fptr, fidx, fsplit, fdata = K.symmetric_from_upper(ptr, idx, data)
    uptr, uidx, usplit = K.undirected_from_upper(ptr, idx)
    np.testing.assert_array_equal(fptr, uptr)
    np.testing.assert_array_equal(fidx, uidx)
    np.testing.assert_array_equal(fsplit, usplit)
    rebuilt = np.zeros((n, n))
    rows = np.repeat(np.arange(n), np.diff(fptr))
    rebuilt[rows, fidx] = fdata
    for r in range(n):
        assert np.all(np.diff(fidx[fptr[r] : fptr[r + 1]]) > 0), "sorted rows"
    np.testing.assert_allclose(rebuilt, sym - np.diag(np.diag(sym)), rtol=1e-6)
    wdeg = sym.sum(axis=1)
    x = np.random.default_rng(seed).normal(size=n)
    lap_expected = (np.diag(wdeg) - sym) @ x
    tol = {"rtol": 1e-6, "atol": 1e-6 * np.abs(sym).sum()}
    for chunks in (1, 2, 5):
        bounds = K.row_chunks(fptr, chunks)
        assert bounds[0] == 0 and bounds[-1] == n and np.all(np.diff(bounds) >= 0)
        y = K.csr_matvec(fptr, fidx, fdata, loops, x, wdeg, False, bounds)
        np.testing.assert_allclose(y, sym @ x, **tol)
        lap = K.csr_matvec(fptr, fidx, fdata, loops, x, wdeg, True, bounds)
        np.testing.assert_allclose(lap, lap_expected, **tol)
