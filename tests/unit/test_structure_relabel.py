"""The CSR views' pixel-major node ids (issue 18, fifth pass): same metrics, faster kernels.

From :data:`_structure.RELABEL_MIN_EDGES` edges on, :class:`GraphStructure` builds
its CSR views with each convolutional partition numbered pixel-major
(:func:`_structure.pixel_major_order`). Every metric must come out as with the
graph's own ids: integer counts equal, the sampled estimates equal (same
strata, same sample: they are drawn in graph order), the spectra within
rounding. The threshold is lowered here so small encoded networks take the path:
a ResNet (skip connections: the gap on ``A_s``) and a plain chain of
convolutions (bipartite: the folded gap), both with the sampled estimators forced
by a small budget and above the plain-Lanczos size.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from prunegraph.loader.encoding import encode
from prunegraph.loader.graph import Partition
from prunegraph.loader.models import build_model
from prunegraph.queries import _structure as ST
from prunegraph.queries import topometrics as T
from prunegraph.queries._structure import GraphStructure, pixel_major_order
from prunegraph.queries.paths import compute_section_d
from prunegraph.queries.topometrics import compute_section_a

PATHS = ["log_paths", "mean_path", "max_path", "edge_connectivity"]


def _masks(model, density, seed):
    from prunegraph.loader.masks import prunable_parameters

    rng = np.random.default_rng(seed)
    return {
        name: rng.random(tuple(p.shape)) < density for name, p in prunable_parameters(model).items()
    }


def _graph(arch, shape, density, seed=0):
    model = build_model(arch, input_shape=shape, num_classes=10, seed=seed)
    return encode(model, _masks(model, density, seed), shape, kind="mge")


def _all_metrics(graph, monkeypatch, threshold):
    monkeypatch.setattr(ST, "RELABEL_MIN_EDGES", threshold)
    st = GraphStructure(graph)
    values = compute_section_a(st, budget=2e4, seed=3)
    values.update(compute_section_d(graph, PATHS))
    return st, values


@pytest.mark.parametrize(
    ("arch", "shape", "density"),
    [("resnet20", (3, 8, 8), 0.5), ("conv6", (3, 8, 8), 0.3)],
)
def test_relabelled_structure_gives_the_same_metrics(arch, shape, density, monkeypatch):
    graph = _graph(arch, shape, density)
    assert graph.n_nodes > T.PLAIN_LANCZOS_MIN_NODES  # the large-graph solves run
    plain_st, plain = _all_metrics(graph, monkeypatch, 10**12)
    st, relabelled = _all_metrics(graph, monkeypatch, 0)
    assert plain_st.relabel is None
    assert st.relabel is not None and not np.array_equal(st.relabel, np.arange(graph.n_nodes))
    sampled = [m for m, v in plain.items() if getattr(v, "se", None) is not None]
    assert sampled  # the budget forces the sampled estimators
    for name, ref in plain.items():
        got = relabelled[name]
        if name in ("spectral_gap", "spectral_radius"):
            assert got.value == pytest.approx(ref.value, rel=1e-12), name
        elif hasattr(ref, "value"):
            assert (got.value, got.se, got.sample_size) == (ref.value, ref.se, ref.sample_size), (
                name
            )
        else:
            assert got == ref, name


def test_relabelled_upper_is_the_csr_of_the_renamed_edges(monkeypatch):
    graph = _graph("resnet20", (3, 8, 8), 0.4)
    monkeypatch.setattr(ST, "RELABEL_MIN_EDGES", 0)
    st = GraphStructure(graph)
    relabel = st.relabel.astype(np.int64)
    n = graph.n_nodes
    a = sp.csr_matrix(
        (np.abs(graph.weight).astype(np.float64), (relabel[graph.src], relabel[graph.dst])),
        shape=(n, n),
    )
    ref = sp.triu(a + a.T, k=1).tocsr()
    ref.sort_indices()
    ptr, idx, data, _ = st.upper
    assert np.array_equal(ptr, ref.indptr) and np.array_equal(idx.astype(np.int64), ref.indices)
    assert np.allclose(data, ref.data, rtol=1e-6)
    # per-node arrays of the views are in the new ids; to_structure maps graph-order ones
    degree = np.asarray((a + a.T != 0).sum(axis=1)).ravel()
    assert np.array_equal(st.degree, degree)
    x = np.arange(n, dtype=np.float64)
    assert np.array_equal(st.to_structure(x)[relabel], x)


def test_relabel_kept_off_when_an_edge_stays_inside_a_partition(monkeypatch):
    graph = _graph("conv6", (3, 8, 8), 0.3)
    monkeypatch.setattr(ST, "RELABEL_MIN_EDGES", 0)
    assert GraphStructure(graph).relabel is not None
    b = graph.blocks[1]
    first = graph.partitions[b.dst_partition].offset
    k = b.start + int(np.flatnonzero(graph.dst[b.start : b.stop] > first)[0])
    src = graph.src.copy()
    src[k] = first  # an edge inside one partition, still going up
    assert np.all(src < graph.dst)
    broken = type(graph)(
        graph.kind, graph.partitions, graph.blocks, src, graph.dst, graph.weight, graph.meta
    )
    assert GraphStructure(broken).relabel is None


def test_pixel_major_order():
    parts = (
        Partition(0, "in", (2, 2, 3), 0),  # 12 nodes, channel-major
        Partition(1, "fc", (5,), 12),  # kept
        Partition(2, "one_channel", (1, 2, 2), 17),  # kept: nothing to interleave
        Partition(3, "conv", (3, 1, 2), 21),
    )
    relabel = pixel_major_order(parts, 27)
    assert relabel.dtype == np.int32 and sorted(relabel.tolist()) == list(range(27))
    # node (c, h, w) = offset + (c H + h) W + w  ->  offset + (h W + w) C + c
    c, h, w = np.meshgrid(range(2), range(2), range(3), indexing="ij")
    assert relabel[:12].tolist() == ((h * 3 + w) * 2 + c).ravel().tolist()
    assert relabel[12:21].tolist() == list(range(12, 21))
    assert relabel[21:].tolist() == [21, 24, 22, 25, 23, 26]  # (c, w) -> w * 3 + c
    assert pixel_major_order(parts[1:3], 27) is None


def test_directed_degrees_from_the_built_csr(monkeypatch):
    """Once the full simple CSR exists (renamed ids), the directed degrees are read off its
    rows, in the graph's ids, equal to the pass over the edges; parallel edges keep the pass."""
    from prunegraph.queries import _kernels as K

    graph = _graph("resnet20", (3, 8, 8), 0.5)
    monkeypatch.setattr(ST, "RELABEL_MIN_EDGES", 0)
    st = GraphStructure(graph)
    assert st.relabel is not None
    _ = st.undirected
    passes = []
    count = K.directed_degrees
    monkeypatch.setattr(K, "directed_degrees", lambda *a: passes.append(1) or count(*a))
    out, inn = st.out_degree, st.in_degree
    assert not passes
    want_out, want_in = count(graph.src, graph.dst, graph.n_nodes)
    np.testing.assert_array_equal(out, want_out)
    np.testing.assert_array_equal(inn, want_in)
    blocks = [dataclasses.replace(graph.blocks[0], stop=graph.blocks[0].stop + 1)] + [
        dataclasses.replace(b, start=b.start + 1, stop=b.stop + 1) for b in graph.blocks[1:]
    ]  # edge 0 twice: a parallel edge inside the first block
    doubled = graph.__class__(
        graph.kind, graph.partitions, tuple(blocks), np.insert(graph.src, 1, graph.src[0]),
        np.insert(graph.dst, 1, graph.dst[0]), np.insert(graph.weight, 1, graph.weight[0]),
        dict(graph.meta),
    )  # fmt: skip
    st = GraphStructure(doubled)
    _ = st.undirected
    assert st.out_degree[graph.src[0]] == want_out[graph.src[0]] + 1 and passes


@pytest.mark.parametrize(("arch", "density"), [("resnet20", 0.5), ("conv6", 0.3)])
def test_block_upper_build_equals_the_global_one(arch, density, monkeypatch):
    """Per-block counting passes give the global radix build's CSR, entry for entry."""
    from prunegraph.queries import _kernels as K

    graph = _graph(arch, (3, 8, 8), density)
    monkeypatch.setattr(ST, "RELABEL_MIN_EDGES", 0)
    st = GraphStructure(graph)
    spans = st._block_spans
    assert spans is not None and len(spans) == sum(b.stop > b.start for b in graph.blocks)
    want = K.weighted_upper_csr(
        graph.src, graph.dst, graph.weight, graph.n_nodes, is_dag=True, relabel=st.relabel
    )
    got = K.block_upper_csr(graph.src, graph.dst, graph.weight, graph.n_nodes, spans, st.relabel)
    assert got is not None
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    # the structure takes this path; without renamed ids it does not
    built = []
    original = K.block_upper_csr
    monkeypatch.setattr(K, "block_upper_csr", lambda *a: built.append(1) or original(*a))
    np.testing.assert_array_equal(GraphStructure(graph).upper[1], want[1])
    assert built
    monkeypatch.setattr(ST, "RELABEL_MIN_EDGES", graph.n_edges + 1)
    assert GraphStructure(graph)._block_spans is None


def test_block_upper_build_hands_duplicates_to_the_global_one(monkeypatch):
    """A pair twice in a block: the block build gives up, the global one merges it."""
    from prunegraph.queries import _kernels as K

    graph = _graph("resnet20", (3, 8, 8), 0.5)
    blocks = [dataclasses.replace(graph.blocks[0], stop=graph.blocks[0].stop + 1)] + [
        dataclasses.replace(b, start=b.start + 1, stop=b.stop + 1) for b in graph.blocks[1:]
    ]
    doubled = graph.__class__(
        graph.kind, graph.partitions, tuple(blocks), np.insert(graph.src, 1, graph.src[0]),
        np.insert(graph.dst, 1, graph.dst[0]), np.insert(graph.weight, 1, graph.weight[0]),
        dict(graph.meta),
    )  # fmt: skip
    monkeypatch.setattr(ST, "RELABEL_MIN_EDGES", 0)
    st = GraphStructure(doubled)
    assert st._block_spans is not None
    assert K.block_upper_csr(doubled.src, doubled.dst, doubled.weight, doubled.n_nodes,
                             st._block_spans, st.relabel) is None  # fmt: skip
    ptr, idx, data, _ = st.upper
    assert int(ptr[-1]) == graph.n_edges  # the repeat merged
    single = GraphStructure(graph)
    np.testing.assert_array_equal(idx, single.upper[1])
    assert data.sum() == pytest.approx(single.upper[2].sum() + abs(graph.weight[0]), rel=1e-6)


def test_blocks_joining_the_same_partitions_take_the_global_build(monkeypatch):
    graph = _graph("resnet20", (3, 8, 8), 0.5)
    first = graph.blocks[0]
    mid = (first.start + first.stop) // 2
    halves = (dataclasses.replace(first, stop=mid), dataclasses.replace(first, start=mid))
    split = graph.__class__(
        graph.kind, graph.partitions, halves + tuple(graph.blocks[1:]), graph.src, graph.dst,
        graph.weight, dict(graph.meta),
    )  # fmt: skip
    monkeypatch.setattr(ST, "RELABEL_MIN_EDGES", 0)
    st = GraphStructure(split)
    assert st.relabel is not None and st._block_spans is None
    np.testing.assert_array_equal(st.upper[1], GraphStructure(graph).upper[1])
