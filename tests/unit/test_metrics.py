"""Section A topometrics pinned on hand-checkable graphs, and the compute_metrics contract."""

from __future__ import annotations

import math

import igraph
import numpy as np
import pytest
from _metric_graphs import build, full, mlp_232, random_layered, undirected_nx

from prunegraph.errors import UnknownNameError, ValidationError
from prunegraph.queries.metrics import LONG_COLUMNS, METRICS, compute_metrics, property_names
from prunegraph.queries.topometrics import SECTION_A, compute_section_a


def values(graph, metrics=None, **kw):
    return {k: v.value for k, v in compute_section_a(graph, metrics, **kw).items()}


def tiny_conv():
    """1x3x3 input, 3x3 conv (padding 1) with only the centre and right kernel entries kept.

    Output (y, x) reads input (y, x) and (y, x + 1) when inside the image (no
    padding nodes): every image row becomes a 6-node path, three disjoint paths.
    """
    pairs = []
    for y in range(3):
        for x in range(3):
            pairs.append((3 * y + x, 3 * y + x))
            if x + 1 < 3:
                pairs.append((3 * y + x + 1, 3 * y + x))
    return build([9, 9], [(0, 1, pairs, None, "conv")])


def bridge_graph():
    """A 4-cycle (K_{2,2}) with a two-edge tail: p1 node 0 -> p2 node 0 -> p3 node 0."""
    return build(
        [2, 2, 1, 1],
        [
            (0, 1, full(2, 2), None, "linear"),
            (1, 2, [(0, 0)], None, "linear"),
            (2, 3, [(0, 0)], None, "linear"),
        ],
    )


def skip_triangle():
    return build(
        [1, 1, 1],
        [
            (0, 1, [(0, 0)], None, "conv"),
            (1, 2, [(0, 0)], None, "conv"),
            (0, 2, [(0, 0)], None, "skip"),
        ],
    )


def test_mlp_232_by_hand():
    v = values(mlp_232())
    assert v["sink"] == v["source"] == v["disconnected"] == v["r_in"] == v["r_out"] == 0
    assert v["n1"] == pytest.approx(12 / 7)
    assert v["n2"] == pytest.approx((2 * 5 + 3 * 2) / 7)
    # degrees 3,3 | 4,4,4 | 3,3: sum C(d,2) = 30, no triangles
    assert v["motif3"] == 30
    # stars 16 + 3-paths 72 - 3 * 18 four-cycles
    assert v["motif4"] == 34
    assert v["kcore"] == 3
    assert v["strength"] == pytest.approx(78 / 7)
    assert v["components"] == 1 and v["component_size"] == 7
    assert v["cut_edges"] == v["cut_nodes"] == 0
    a = np.zeros((7, 7))
    g = mlp_232()
    a[g.src, g.dst] = g.weight
    a = a + a.T
    ev = np.sort(np.linalg.eigvalsh(a))[::-1]
    assert v["spectral_gap"] == pytest.approx(ev[0] - ev[1], rel=1e-9)
    lap = np.diag(a.sum(1)) - a
    assert v["spectral_radius"] == pytest.approx(np.linalg.eigvalsh(lap).max(), rel=1e-9)


def test_tiny_conv_with_padding_by_hand():
    g = tiny_conv()
    assert g.n_edges == 15
    v = values(g)
    assert v["n1"] == pytest.approx(15 / 18) and v["n2"] == pytest.approx(15 / 18)
    assert v["motif3"] == 12 and v["motif4"] == 9  # three disjoint 6-node paths
    assert v["kcore"] == 1
    assert v["components"] == 3 and v["component_size"] == 6
    assert v["cut_edges"] == 15 and v["cut_nodes"] == 12
    # P6 spectrum 2cos(k pi / 7), top eigenvalue repeated three times: the gap skips copies.
    assert v["spectral_gap"] == pytest.approx(
        2 * math.cos(math.pi / 7) - 2 * math.cos(2 * math.pi / 7)
    )
    assert v["spectral_radius"] == pytest.approx(2 + math.sqrt(3))
    assert v["strength"] == pytest.approx(15 / 18)


def test_bridge_graph_by_hand():
    v = values(bridge_graph())
    assert v["cut_edges"] == 2 and v["cut_nodes"] == 2
    assert v["sink"] == 1 and v["r_in"] == 2  # p1 node 1: two inputs, no output
    assert v["source"] == 0 and v["disconnected"] == 0
    assert v["kcore"] == pytest.approx(10 / 6)
    assert v["motif3"] == 7
    assert v["components"] == 1


def test_skip_triangle_by_hand():
    v = values(skip_triangle())
    assert v["motif3"] == 1 and v["motif4"] == 0
    assert v["kcore"] == 2 and v["cut_edges"] == 0 and v["cut_nodes"] == 0
    assert v["n1"] == 1 and v["n2"] == 1
    assert v["spectral_gap"] == pytest.approx(3.0) and v["spectral_radius"] == pytest.approx(3.0)


def test_sources_sinks_and_isolated_nodes():
    # p1: node 0 fed, node 1 feeds only (source), node 2 isolated; p2 node 1 fed by source.
    g = build([2, 3, 2], [(0, 1, [(0, 0), (1, 0)], None, "conv"), (1, 2, [(1, 1)], None, "conv")])
    v = values(g, ["sink", "source", "disconnected", "r_in", "r_out", "components"])
    assert v == {"sink": 1, "source": 1, "disconnected": 2, "r_in": 2, "r_out": 1, "components": 4}


@pytest.mark.parametrize("seed", range(4))
def test_against_igraph_on_random_graphs(seed):
    g = random_layered(seed, sizes=(10, 14, 14, 10), density=0.25)
    v = values(g)
    G = undirected_nx(g)
    ig = igraph.Graph(n=g.n_nodes, edges=list(G.edges()))
    assert v["kcore"] == pytest.approx(np.mean(ig.coreness()))
    assert v["cut_edges"] == len(ig.bridges())
    assert v["cut_nodes"] == len(ig.articulation_points())
    assert v["components"] == len(ig.connected_components())
    assert v["motif3"] == ig.motifs_randesu(size=3)[2] + ig.motifs_randesu(size=3)[3]


def test_large_graph_uses_sparse_eigensolver_and_matches_dense(monkeypatch):
    from prunegraph.queries import topometrics

    g = random_layered(3, sizes=(30, 40, 40, 30), density=0.3)
    dense = values(g, ["spectral_gap", "spectral_radius"])
    monkeypatch.setattr(topometrics, "DENSE_EIGEN_MAX_NODES", 10)
    sparse = values(g, ["spectral_gap", "spectral_radius"])
    for k in dense:
        assert sparse[k] == pytest.approx(dense[k], rel=1e-6)


def test_empty_graph_values_are_null_not_zero():
    g = build([3, 2], [(0, 1, [], None, "linear")])
    v = values(g)
    assert v["disconnected"] == 5 and v["components"] == 5
    assert v["spectral_gap"] is None


def test_long_table_columns_are_pinned():
    df = compute_metrics(mlp_232(), network_id="0123456789abcdef")
    assert (
        tuple(df.columns)
        == LONG_COLUMNS
        == (
            "network_id",
            "graph",
            "layer",
            "metric",
            "value",
            "se",
            "engine",
        )
    )
    assert set(df["metric"]) == set(SECTION_A) | {
        "log_paths",
        "mean_path",
        "max_path",
        "edge_connectivity",
        "mean_degree",
        "ln_communicability",
        "pca_elongation",
    }
    assert (df["network_id"] == "0123456789abcdef").all()
    assert df["layer"].isna().all() and df["se"].isna().all()


def test_rolled_metrics_are_prefixed_and_per_layer():
    rolled = build([3, 4], [(0, 1, full(3, 4), None, "conv")], kind="rolled")
    df = compute_metrics(rolled)
    names = set(df["metric"])
    assert "rolled_kcore" in names and "delta_r" in names and "mean_delta_r" in names
    per_layer = df[df["layer"].notna()]
    assert set(per_layer["layer"]) == {0}
    assert set(per_layer["graph"]) == {"rolled"}
    ch = build([3, 4], [(0, 1, full(3, 4), None, "conv")], kind="rolled_channel")
    assert "ch_delta_r" in set(compute_metrics(ch)["metric"])


def test_metric_names_are_the_whitelist():
    names = property_names()
    for m in (
        "motif4",
        "motif4_se",
        "rolled_kcore",
        "ch_kcore",
        "ch_delta_r",
        "mean_delta_r_imdb",
        "mean_ch_lambda_imsg",
        "metric_engines",
        "log_paths",
        "stability_jaccard",
    ):
        assert m in names
    assert "kcore; DROP" not in names


def test_bad_inputs_raise_named_errors():
    with pytest.raises(UnknownNameError, match="Did you mean 'kcore'"):
        compute_metrics(mlp_232(), metrics=["kcor"])
    with pytest.raises(ValidationError, match="'engine' parameter"):
        compute_metrics(mlp_232(), engine="gpu")
    with pytest.raises(ValidationError, match="'source' parameter"):
        compute_metrics([1, 2, 3])
    with pytest.raises(ValidationError, match="network_id"):
        compute_metrics(mlp_232(), network_id="XYZ")
    with pytest.raises(ValidationError, match="rolled"):
        compute_metrics(mlp_232(), metrics=["delta_r"])
    with pytest.raises(ValidationError, match="compares two networks"):
        compute_metrics(mlp_232(), metrics=["stability_jaccard"])
    with pytest.raises(ValidationError, match="graphs mapping"):
        compute_metrics({"rolled": mlp_232()})
    with pytest.raises(ValidationError, match="budget"):
        compute_metrics(mlp_232(), metrics=["n2"], budget=-1)


def test_registry_covers_every_section():
    sections = {METRICS[m].section for m in METRICS}
    assert sections == {"A", "B", "C", "D"}
    assert METRICS["kcore"].database and not METRICS["motif4"].database


def test_dense_top_eigenvalues_are_the_top_of_the_full_spectrum():
    from prunegraph.queries._structure import GraphStructure
    from prunegraph.queries.topometrics import _dense_matrix, _top_eigenvalues

    st = GraphStructure(random_layered(1, sizes=(8, 10, 10, 6), density=0.4))
    for laplacian in (False, True):
        full = np.sort(np.linalg.eigvalsh(_dense_matrix(st, laplacian)))[::-1]
        np.testing.assert_allclose(_top_eigenvalues(st, laplacian, 3, 1e-8), full[:3], rtol=1e-10)


def test_warm_up_loads_the_kernels_once():
    from prunegraph.queries import metrics

    metrics._WARM.clear()
    assert metrics.warm_up() > 0
    assert metrics.warm_up() == 0.0


def _dense_top(st, laplacian, k):
    from prunegraph.queries.topometrics import _dense_matrix

    return np.sort(np.linalg.eigvalsh(_dense_matrix(st, laplacian)))[::-1][:k]


@pytest.mark.parametrize("skip", [False, True])
def test_unrestarted_lanczos_matches_dense_and_arpack(monkeypatch, skip):
    from prunegraph.queries import topometrics
    from prunegraph.queries._structure import GraphStructure

    g = random_layered(5, sizes=(60, 80, 80, 60), density=0.2, skip=skip)
    st = GraphStructure(g)
    assert st.n > topometrics.DENSE_EIGEN_MAX_NODES
    for laplacian, k in ((False, 2), (True, 1), (False, 3)):
        lanczos = topometrics._top_eigenvalues(st, laplacian, k, 1e-10)
        np.testing.assert_allclose(lanczos, _dense_top(st, laplacian, k), rtol=1e-9)
    monkeypatch.setattr(topometrics, "LANCZOS_FULL_MAX_NODES", 10)  # ARPACK
    arpack = topometrics._top_eigenvalues(st, False, 2, 1e-10)
    np.testing.assert_allclose(arpack, _dense_top(st, False, 2), rtol=1e-9)


def test_folded_gap_of_a_bipartite_graph_matches_the_dense_gap(monkeypatch):
    from prunegraph.queries import topometrics
    from prunegraph.queries._structure import GraphStructure

    chain = random_layered(6, sizes=(60, 80, 80, 60), density=0.2, skip=False)
    st = GraphStructure(chain)
    sides = topometrics.bipartite_sides(st)
    assert sides is not None
    rows, other = sides
    # Partitions 0 and 2 on one side, 1 and 3 on the other; the smaller side first.
    assert (rows[:, 1] - rows[:, 0]).sum() == 140 and (other[:, 1] - other[:, 0]).sum() == 140
    top = _dense_top(st, False, 2)
    folded = topometrics._folded_gap(st, 1e-8)
    assert folded == pytest.approx(top[0] - top[1], rel=1e-9)
    assert values(chain, ["spectral_gap"])["spectral_gap"] == pytest.approx(folded, rel=1e-12)
    monkeypatch.setattr(topometrics, "LANCZOS_FULL_MAX_NODES", 10)  # ARPACK on B B^T
    assert topometrics._folded_gap(GraphStructure(chain), 1e-8) == pytest.approx(folded, rel=1e-9)
    # A skip joining partitions two apart makes it non-bipartite: no folding.
    assert topometrics.bipartite_sides(GraphStructure(random_layered(6))) is None
    assert topometrics._folded_gap(GraphStructure(random_layered(6)), 1e-8) is None


def test_identical_graphs_are_measured_once_with_the_same_values(monkeypatch):
    from prunegraph.queries import metric_registry, metrics

    rolled = build(
        [3, 4, 2],
        [(0, 1, full(3, 4), None, "linear"), (1, 2, full(4, 2), None, "linear")],
        kind="rolled",
    )
    channel = build(
        [3, 4, 2],
        [(0, 1, full(3, 4), None, "linear"), (1, 2, full(4, 2), None, "linear")],
        kind="rolled_channel",
    )
    calls = []
    real = metric_registry.evaluate

    def counting(ctx, defs):
        calls.append(ctx.graph.kind)
        return real(ctx, defs)

    monkeypatch.setattr(metrics, "evaluate", counting)
    both = compute_metrics({"rolled": rolled, "rolled_channel": channel})
    assert calls == ["rolled"]  # the channel graph is the same graph
    alone = compute_metrics({"rolled_channel": channel})
    assert calls == ["rolled", "rolled_channel"]
    a = both[both["graph"] == "rolled_channel"].set_index(["metric", "layer"])["value"]
    b = alone.set_index(["metric", "layer"])["value"]
    pd_equal = a.sort_index().equals(b.sort_index())
    assert pd_equal
    other = build(
        [3, 4, 2],
        [(0, 1, full(3, 4), None, "linear"), (1, 2, [(0, 0)], None, "linear")],
        kind="rolled_channel",
    )
    compute_metrics({"rolled": rolled, "rolled_channel": other})
    assert calls[-2:] == ["rolled", "rolled_channel"]  # different edges: measured anew
