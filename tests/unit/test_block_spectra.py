"""Dense partition blocks for the small-graph spectra (queries/_block_spectra.py) against the CSR."""

from __future__ import annotations

import numpy as np
import pytest
from _metric_graphs import build, full, random_layered

from prunegraph.queries import _block_spectra as BS
from prunegraph.queries import _spectral as S
from prunegraph.queries import topometrics as T
from prunegraph.queries._structure import GraphStructure
from prunegraph.queries.topometrics import _dense_matrix


def blocks_of(g, **kw):
    st = GraphStructure(g)
    ptr, idx, data, _ = st.upper
    offsets = np.array([0, *(b for _, b in st.partition_ranges)], dtype=np.int64)
    return st, BS.partition_blocks(
        ptr, idx, data, st.node_partition, offsets, st.partition_adjacency, **kw
    )


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_product_matches_the_csr_product(seed, skip):
    g = random_layered(seed, sizes=(30, 40, 40, 30), density=0.5, skip=skip)
    st, blocks = blocks_of(g, max_fill=1e9)
    assert blocks is not None
    flat, table = blocks
    ptr, idx, data, diag, _ = st.symmetric
    wdeg = st.weighted_degree
    n = st.n
    x = np.random.default_rng(seed).normal(size=n)
    tmp, want, got = np.empty(n), np.empty(n), np.empty(n)
    no_side = np.zeros(0, dtype=np.bool_)
    for mode in (0, 1):
        S._small_product(ptr, idx, data, diag, wdeg, x, mode, no_side, tmp, want)
        BS.block_product(flat, table, diag, wdeg, x, mode, no_side, tmp, got)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    dense = _dense_matrix(st, False)
    BS.block_product(flat, table, diag, wdeg, x, 0, no_side, tmp, got)
    np.testing.assert_allclose(got, dense @ x, rtol=1e-12, atol=1e-12 * np.abs(got).max())
    sides = T._folded_sides(st)
    assert (sides is None) == skip  # the skip joins partitions 1 and 3: odd cycles
    if sides is not None:
        side = np.zeros(n, dtype=np.bool_)
        for start, stop in sides[0]:
            side[start:stop] = True
        S._small_product(ptr, idx, data, diag, wdeg, x * side, 2, side, tmp, want)
        BS.block_product(flat, table, diag, wdeg, x * side, 2, side, tmp, got)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_blocks_hold_the_upper_triangle():
    g = random_layered(3, sizes=(5, 7, 6, 4), density=0.6)
    st, blocks = blocks_of(g, max_fill=1e9)
    assert blocks is not None
    flat, table = blocks
    upper = np.triu(_dense_matrix(st, False), 1)
    rebuilt = np.zeros_like(upper)
    for a0, a1, b0, b1, start in table:
        assert a1 <= b0
        rebuilt[a0:a1, b0:b1] = flat[start : start + (a1 - a0) * (b1 - b0)].reshape(
            a1 - a0, b1 - b0
        )
    np.testing.assert_array_equal(rebuilt, upper)
    assert len(table) == 4  # three layers and the skip 1 -> 3


def test_partition_blocks_refuse_internal_edges_and_sparse_graphs():
    # An edge inside partition 1: no block layout.
    inside = build([4, 5], [(0, 1, full(4, 5), None, "linear"), (1, 1, [(0, 3)], None, "skip")])
    assert blocks_of(inside, max_fill=1e9)[1] is None
    # Both sides of the fill threshold: 0.9 dense (about 1.1 cells per entry) and 0.1.
    dense = random_layered(0, sizes=(30, 40, 30), density=0.9, skip=False)
    sparse = random_layered(0, sizes=(30, 40, 30), density=0.1, skip=False)
    assert blocks_of(dense)[1] is not None
    assert blocks_of(sparse)[1] is None
    assert blocks_of(dense, max_cells=100)[1] is None


@pytest.fixture
def small(monkeypatch):
    """Graphs above 10 nodes take the compiled small-graph path; counts the block solves."""
    monkeypatch.setattr(T, "DENSE_EIGEN_MAX_NODES", 10)
    calls = []
    original = BS.block_lanczos

    def spy(*args):
        calls.append(args[6])  # the mode
        return original(*args)

    monkeypatch.setattr(BS, "block_lanczos", spy)
    return calls


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("density", [0.1, 0.35, 0.8])
@pytest.mark.parametrize("seed", [0, 1])
def test_small_spectra_on_blocks_match_the_csr_solve(small, monkeypatch, seed, density, skip):
    g = random_layered(seed, sizes=(30, 50, 40, 30), density=density, skip=skip)
    on_blocks = T.spectral_pair(GraphStructure(g))
    used = bool(small)
    st, blocks = blocks_of(g)
    assert used == (blocks is not None)
    assert used == (density > 0.2)  # 0.1: about 10 cells per entry, over the threshold
    monkeypatch.setattr(BS, "DENSE_BLOCK_MAX_FILL", 0.0)
    small.clear()
    on_csr = T.spectral_pair(GraphStructure(g))
    assert not small
    for a, b in zip(on_blocks, on_csr, strict=True):
        assert a == pytest.approx(b, rel=1e-11)
    adj = np.sort(np.linalg.eigvalsh(_dense_matrix(st, False)))[::-1]
    lap = np.linalg.eigvalsh(_dense_matrix(st, True))
    assert on_blocks[0] == pytest.approx(adj[0] - adj[1], rel=1e-6)
    assert on_blocks[1] == pytest.approx(lap[-1], rel=1e-6)


WARM_CHILD = """
import json
import numpy as np
from prunegraph.queries import _block_spectra as BS, metrics
from _metric_graphs import random_layered

def loaded():
    return {k: [str(s) for s in getattr(BS, k).signatures]
            for k in ("_fill_blocks", "block_lanczos")}

metrics.warm_up()
before = loaded()
# int32 ids and float32 weights, as the encoder writes them; dense layers take the blocks.
for skip in (True, False):
    g = random_layered(0, sizes=(60, 90, 80, 70), density=0.6, skip=skip)
    metrics.compute_metrics(g, metrics=["spectral_gap", "spectral_radius"])
print(json.dumps({"before": before, "after": loaded()}))
"""


def test_warm_up_loads_the_block_kernels():
    import json
    import subprocess
    import sys
    from pathlib import Path

    here = str(Path(__file__).parent)
    proc = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {here!r})\n{WARM_CHILD}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(out["before"].values())  # both kernels called from Python loaded by the warm-up
    assert out["after"] == out["before"]  # and none with new argument types later
