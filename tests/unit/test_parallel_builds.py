"""Issue 18, fourth pass: the CSR builds in pieces and the kernels run side by side.

The builds (:func:`_kernels.weighted_upper_csr`, :func:`_kernels.csr_pattern`,
:func:`_kernels.symmetric_from_upper`) split their passes into pieces, one per
numba thread; the result must be the one-piece result entry for entry, and both
must be the scipy CSR of the same pairs. The graphs: random multipartite graphs
with edges in random order inside each block, parallel edges, isolated nodes
and a skip connection (not bipartite), plus unconstrained random pairs (both
directions, self-loops). Then the metric engine's side-by-side kernels (core
numbers with cuts and components; path counts with the edge connectivity) on a
graph above ``SERIAL_MAX_EDGES``, against each metric computed alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _metric_graphs import build

from prunegraph.errors import ValidationError
from prunegraph.queries import _kernels as K
from prunegraph.queries import paths as P
from prunegraph.queries._structure import SERIAL_MAX_EDGES, concurrently
from prunegraph.queries.paths import compute_section_d
from prunegraph.queries.topometrics import compute_section_a


def _multipartite(seed, sizes=(9, 14, 12, 10, 6), density=0.35, parallel=True, skip=True):
    """Edges in random order per block, some repeated, the last node of each partition isolated."""
    rng = np.random.default_rng(seed)
    pairs_of = [(p, p + 1) for p in range(len(sizes) - 1)] + ([(1, 3)] if skip else [])
    blocks = []
    for a, b in pairs_of:
        pairs = [
            (i, j)
            for i in range(sizes[a] - 1)
            for j in range(sizes[b] - 1)
            if rng.random() < density
        ]
        if parallel and pairs:
            pairs += [pairs[i] for i in rng.integers(0, len(pairs), len(pairs) // 3 + 1)]
        pairs = [pairs[i] for i in rng.permutation(len(pairs))]
        weights = rng.normal(size=len(pairs))  # signed: |w| is summed
        blocks.append((a, b, pairs, weights, "skip" if (a, b) == (1, 3) else "conv"))
    return build(list(sizes), blocks)


def _random_pairs(seed, n=57, m=900):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n, m).astype(np.int32)
    dst = rng.integers(0, n, m).astype(np.int32)
    src, dst = np.concatenate((src, src[:100])), np.concatenate((dst, dst[:100]))  # repeats
    weight = rng.normal(size=src.shape[0]).astype(np.float32)
    return n, src, dst, weight


def _cases():
    for seed in range(3):
        g = _multipartite(seed)
        yield g.n_nodes, g.src, g.dst, g.weight, True
        n, s, d, w = _random_pairs(seed)
        yield n, s, d, w, False


@pytest.fixture
def pieces(monkeypatch):
    """Force a number of pieces regardless of the numba threads and the graph size."""

    def force(count):
        monkeypatch.setattr(K, "build_chunks", lambda n_entries, n: count)

    return force


def _reference_upper(n, src, dst, weight):
    a = sp.coo_matrix((np.abs(weight).astype(np.float64), (src, dst)), shape=(n, n)).tocsr()
    sym = (a + a.T).tocsr()
    upper = sp.triu(sym, 1).tocsr()
    upper.sort_indices()
    return upper, sym.diagonal()


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_upper_csr_in_pieces_is_scipys_and_the_one_piece_build(pieces, count):
    for n, src, dst, weight, upward in _cases():
        pieces(1)
        one = K.weighted_upper_csr(src, dst, weight, n, is_dag=upward)
        one_pattern = K.csr_pattern(src, dst, n)
        pieces(count)
        ptr, idx, data, loops = K.weighted_upper_csr(src, dst, weight, n, is_dag=upward)
        upper, diagonal = _reference_upper(n, src, dst, weight)
        np.testing.assert_array_equal(ptr, upper.indptr)
        np.testing.assert_array_equal(idx, upper.indices)
        np.testing.assert_allclose(data, upper.data, rtol=1e-6)
        np.testing.assert_allclose(loops, diagonal, rtol=1e-6)
        for got, want in zip((ptr, idx, data), one[:3], strict=True):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)  # same float32 sums, same order
        pattern = sp.coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)).tocsr()
        pattern.sort_indices()
        pptr, pidx = K.csr_pattern(src, dst, n)
        np.testing.assert_array_equal(pptr, pattern.indptr)
        np.testing.assert_array_equal(pidx, pattern.indices)
        np.testing.assert_array_equal(pidx, one_pattern[1])


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_symmetric_from_upper_in_pieces(pieces, count):
    for n, src, dst, weight, _ in _cases():
        pieces(1)
        ptr, idx, data, _ = K.weighted_upper_csr(src, dst, weight, n, is_dag=False)
        one = K.symmetric_from_upper(ptr, idx, data)
        pieces(count)
        fptr, fidx, fsplit, fdata = K.symmetric_from_upper(ptr, idx, data)
        upper = sp.csr_matrix((data.astype(np.float64), idx, ptr), shape=(n, n))
        sym = (upper + upper.T).tocsr()
        sym.sort_indices()
        np.testing.assert_array_equal(fptr, sym.indptr)
        np.testing.assert_array_equal(fidx, sym.indices)
        np.testing.assert_allclose(fdata, sym.data, rtol=1e-6)
        rows = np.repeat(np.arange(n), np.diff(fptr))
        before = np.arange(len(fidx)) < np.repeat(fsplit, np.diff(fptr))
        assert np.array_equal(before, fidx < rows), "split: neighbours below u first"
        for got, want in zip((fptr, fidx, fsplit, fdata), one, strict=True):
            np.testing.assert_array_equal(got, want)


def test_build_chunks_is_one_piece_on_one_thread_and_bounded():
    import numba

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert K.build_chunks(10**8, 1000) == 1
    finally:
        numba.set_num_threads(before)
    assert K.build_chunks(10, 1000) == 1  # the per-node counters would outweigh the entries
    assert 1 <= K.build_chunks(10**9, 10) <= 16


def test_concurrently_returns_in_order_and_raises():
    assert concurrently() == []
    assert concurrently(lambda: 1) == [1]
    assert concurrently(lambda: 1, lambda: 2, lambda: 3) == [1, 2, 3]

    def fail():
        raise ValueError("side job")

    with pytest.raises(ValueError, match="side job"):
        concurrently(lambda: 1, fail)


def _large(seed=0, width=700, per_block=75_000):
    """Four layers of ``width`` units and a skip (just above SERIAL_MAX_EDGES edges), then a
    fifth partition of 60 nodes, 40 of them hanging on one edge each (bridges, cut nodes)
    and 20 isolated (components)."""
    rng = np.random.default_rng(seed)
    blocks = []
    for a, b in [(0, 1), (1, 2), (2, 3), (1, 3)]:
        flat = np.unique(rng.integers(0, width * width, per_block if b - a == 1 else 9_000))
        pairs = np.column_stack((flat // width, flat % width))
        pairs = pairs[rng.permutation(len(pairs))]
        blocks.append((a, b, pairs, rng.normal(size=len(pairs)), "conv"))
    blocks.sort(key=lambda b: (b[1], b[0]))
    blocks.append((3, 4, [(7 * i, i) for i in range(40)], None, "conv"))
    g = build([width] * 4 + [60], blocks)
    assert g.n_edges > SERIAL_MAX_EDGES
    return g


def _spy(monkeypatch):
    """The keys of every side-job run (metric_registry.run_side_jobs), in start order."""
    from prunegraph.queries import metric_registry as R

    runs = []
    original = R.run_side_jobs

    def spy(ctx, threads):
        started = original(ctx, threads)
        runs.append(started)
        return started

    monkeypatch.setattr(R, "run_side_jobs", spy)
    return runs


def test_kcore_beside_cuts_and_components_equals_each_alone(monkeypatch):
    g = _large()
    runs = _spy(monkeypatch)
    union_find = []
    count = K.count_components
    monkeypatch.setattr(K, "count_components", lambda *a: union_find.append(1) or count(*a))
    together = compute_section_a(
        g, ["kcore", "components", "component_size", "cut_edges", "cut_nodes", "motif3"]
    )
    if numba_threads() > 1:
        assert sorted(runs[0]) == ["coreness", "cuts", "triangles"], "side by side"
        assert runs[0][0] == "coreness"  # the largest first
        assert not union_find, "the components came from the cuts' DFS"
    for name in ("kcore", "components", "component_size", "cut_edges", "cut_nodes", "motif3"):
        alone = compute_section_a(g, [name])[name]
        assert together[name].value == alone.value, name
    assert together["components"].value == 21  # the isolated nodes
    assert together["cut_edges"].value >= 40 and together["cut_nodes"].value >= 40


def test_paths_beside_edge_connectivity_equals_each_alone(monkeypatch):
    g = _large(1)
    runs = _spy(monkeypatch)
    both = compute_section_d(g, ["log_paths", "max_path", "edge_connectivity"])
    if numba_threads() > 1:
        assert runs[0] == ["paths", "edge_connectivity"], "side by side, the larger first"
    assert (
        both["edge_connectivity"]
        == compute_section_d(g, ["edge_connectivity"])["edge_connectivity"]
    )
    alone = compute_section_d(g, ["log_paths", "max_path"])
    assert both["log_paths"] == alone["log_paths"] and both["max_path"] == alone["max_path"]
    assert both["edge_connectivity"] > 0

    # An error of the flow is raised by its own metric, not by the path counts.
    def refuse(graph, structure=None):
        raise ValidationError("flow refused")

    monkeypatch.setattr(P, "edge_connectivity", refuse)
    assert compute_section_d(g, ["log_paths"])["log_paths"] == alone["log_paths"]
    with pytest.raises(ValidationError, match="flow refused"):
        compute_section_d(g, ["log_paths", "edge_connectivity"])


def test_side_jobs_skip_small_graphs_and_single_jobs(monkeypatch):
    runs = _spy(monkeypatch)
    small = _multipartite(3)
    assert small.n_edges <= SERIAL_MAX_EDGES
    compute_section_a(small, ["kcore", "cut_edges"])
    assert runs == []  # not called: one thread's serial order is cheaper there
    compute_section_a(_large(), ["kcore"])
    assert runs == [[]]  # one job alone: nothing to run beside it


def numba_threads() -> int:
    import numba

    return int(numba.get_num_threads())


def test_structure_indices_are_unsigned_views_of_the_build():
    """The structure hands the kernels uint32 views (no copy) of the int32 builds, same ids."""
    from prunegraph.queries._structure import GraphStructure, unsigned

    graph = _multipartite(5)
    st = GraphStructure(graph)
    ptr, idx, data, _ = K.weighted_upper_csr(
        graph.src, graph.dst, graph.weight, graph.n_nodes, is_dag=True
    )
    uptr, uidx, udata, _ = st.upper
    assert uidx.dtype == np.uint32 and np.array_equal(uidx.astype(np.int64), idx)
    assert np.array_equal(uptr, ptr) and np.array_equal(udata, data)
    full_idx = st.undirected[1]
    assert full_idx.dtype == np.uint32 and np.shares_memory(full_idx, st.symmetric[1])
    ref = sp.csr_matrix(
        (np.ones(graph.n_edges), (graph.src, graph.dst)), shape=(graph.n_nodes,) * 2
    )
    ref = ((ref + ref.T) > 0).tocsr()
    ref.sort_indices()
    assert np.array_equal(full_idx.astype(np.int64), ref.indices)
    assert unsigned(np.arange(3, dtype=np.int64)).dtype == np.int64  # only int32 is viewed


def test_large_graphs_build_the_full_csr_as_a_pattern(monkeypatch):
    """From PARALLEL_MATVEC_MIN_ENTRIES on the full CSR has no sums; ``symmetric`` adds them."""
    import numba

    from prunegraph.queries import _structure as ST

    if numba.get_num_threads() < 2:
        pytest.skip("on one numba thread the full CSR always carries the sums")
    from prunegraph.queries._structure import GraphStructure

    graph = _multipartite(6)
    weighted = GraphStructure(graph)
    monkeypatch.setattr(ST, "PARALLEL_MATVEC_MIN_ENTRIES", 0)
    pattern = GraphStructure(graph)
    assert pattern._symmetric_full[3].shape == (0,)
    for got, want in zip(pattern.undirected, weighted.undirected, strict=True):
        assert np.array_equal(got, want)
    for got, want in zip(pattern.symmetric, weighted.symmetric, strict=True):
        assert np.array_equal(got, want)
    values = compute_section_a(GraphStructure(graph), seed=0)
    monkeypatch.setattr(ST, "PARALLEL_MATVEC_MIN_ENTRIES", 10**12)
    assert values == compute_section_a(GraphStructure(graph), seed=0)
    _, idx, _, data = K.symmetric_from_upper(*weighted.upper[:3], weighted=False)
    assert data.shape == (0,) and np.array_equal(idx, weighted.undirected[1].view(np.int32))
    monkeypatch.setattr(ST, "PARALLEL_MATVEC_MIN_ENTRIES", 0)
    before = numba.get_num_threads()
    numba.set_num_threads(1)  # one thread: the solves read the full CSR, built with its sums
    try:
        assert GraphStructure(graph)._symmetric_full[3].shape == weighted.symmetric[2].shape
    finally:
        numba.set_num_threads(before)
