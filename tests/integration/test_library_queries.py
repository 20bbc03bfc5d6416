"""Every Cypher library query runs on a fixture network and returns the expected rows.

Expectations are computed independently from the in-memory graph with numpy/scipy.
"""

from __future__ import annotations

import itertools
import secrets
import uuid

import numpy as np
import pytest
import scipy.sparse as sp
from _graphs import resnet_block, rolled_of
from scipy.sparse.csgraph import shortest_path

from prunegraph.loader import export as ex
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries import data_model as dm
from prunegraph.queries.library import list_queries, load_query
from prunegraph.queries.store import Store

# Queries owned by other components (metrics, analysis, study runner) are tested there
# (the study lock and the GDS projection listing in test_safety_lock.py).
FOREIGN_PREFIXES = ("metric_", "study_lock_")
FOREIGN = {"network_features", "layer_metrics", "study_network_status", "gds_projections"}
# Write/protocol queries, exercised by test_export.py through the exporter.
PROTOCOL_PREFIXES = ("schema_", "export_", "delete_")
TESTED_HERE = {
    "list_studies",
    "list_networks",
    "study_networks",
    "list_incomplete_networks",
    "study_network_ids",
    "network_info",
    "network_layers",
    "dead_units",
    "pruned_units",
    "paths_to_output",
    "unit_neighbourhood",
    "compare_networks",
    "network_sample",
    "network_edges",
    "rolled_edges",
    "channel_edges",
    "similar_write",
    "similar_pairs",
    "stability_by_pruner",
}


def _record(study: str, seed: int) -> NetworkRecord:
    return NetworkRecord(
        network_id=secrets.token_hex(8),
        study=study,
        architecture="resnet_block",
        dataset="synthetic",
        pruner="random",
        pruner_category="pai",
        sparsity=0.5,
        seed=seed,
        input_shape=(2, 4, 4),
    )


@pytest.fixture(scope="module")
def fixture(store: Store):
    study = f"t{uuid.uuid4().hex[:10]}_library"
    graphs = [resnet_block(seed=s, density=0.35, c=2, h=4) for s in (0, 1)]
    records = [_record(study, s) for s in (0, 1)]
    for g, r in zip(graphs, records, strict=True):
        ex.export_network(
            store,
            {"mge": g, "rolled": rolled_of(g), "rolled_channel": rolled_of(g, channel=True)},
            record=r,
            progress=False,
        )
    # a third network left half-written: invisible to the listing queries
    writing = _record(study, 2)
    store.run(
        load_query("export_begin").text,
        {
            "record": writing.to_properties(),
            "graph": dm.graph_properties(graphs[0]),
            "target_level": "full",
        },
    )
    yield {"study": study, "graphs": graphs, "records": records, "writing": writing}
    dm.delete_study(store, study)


def degrees(g):
    return np.bincount(g.dst, minlength=g.n_nodes), np.bincount(g.src, minlength=g.n_nodes)


def test_every_library_query_is_tested_somewhere() -> None:
    mine = {
        q
        for q in list_queries()
        if not q.startswith(FOREIGN_PREFIXES + PROTOCOL_PREFIXES) and q not in FOREIGN
    }
    assert mine == TESTED_HERE
    for name in list_queries():
        q = load_query(name)
        assert q.description, f"{name} has no header comment"
        assert set(q.params) <= set(q.examples), f"{name}: every $param needs a // :param example"


def test_listing_queries(store: Store, fixture) -> None:
    study, records, writing = fixture["study"], fixture["records"], fixture["writing"]
    ids = {r.network_id for r in records}
    studies = {r["study"]: r for r in store.query("list_studies")}
    row = studies[study]
    assert (row["networks"], row["incomplete"]) == (2, 1)
    assert row["architectures"] == ["resnet_block"] and row["pruners"] == ["random"]
    assert row["full_edges"] == sum(g.n_edges for g in fixture["graphs"])
    listed = {r["network_id"] for r in store.query("list_networks")}
    assert ids <= listed and writing.network_id not in listed
    rows = store.query("study_networks", study=study)
    assert {r["network_id"] for r in rows} == ids
    assert [r["seed"] for r in rows] == [0, 1]
    incomplete = {r["network_id"]: r for r in store.query("list_incomplete_networks")}
    assert incomplete[writing.network_id]["status"] == "writing"
    assert not ids & set(incomplete)
    every = {r["network_id"]: r["status"] for r in store.query("study_network_ids", study=study)}
    assert every == {**dict.fromkeys(ids, "complete"), writing.network_id: "writing"}


def test_network_info_and_layers(store: Store, fixture) -> None:
    g, rec = fixture["graphs"][0], fixture["records"][0]
    info = store.query("network_info", network_id=rec.network_id)
    assert info[0]["status"] == "complete" and info[0]["properties"]["n_nodes"] == g.n_nodes
    layers = store.query("network_layers", network_id=rec.network_id)
    assert [(r["layer"], r["name"], r["src"], r["dst"], r["edges"]) for r in layers] == [
        (b.index, b.name, b.src_partition, b.dst_partition, b.n_edges) for b in g.blocks
    ]
    assert layers[0]["density"] == pytest.approx(g.blocks[0].density)
    assert layers[2]["type"] == "SKIP" and "density" in layers[2]
    assert store.query("network_layers", network_id=fixture["writing"].network_id) == []


@pytest.mark.parametrize("partition", [0, 1, 2])
def test_dead_units(store: Store, fixture, partition: int) -> None:
    g, rec = fixture["graphs"][0], fixture["records"][0]
    indeg, outdeg = degrees(g)
    part = g.partitions[partition]
    sl = slice(part.offset, part.offset + part.size)
    i_in, i_out = indeg[sl], outdeg[sl]
    last = g.n_partitions - 1
    expected = {
        "disconnected": np.flatnonzero((i_in == 0) & (i_out == 0)),
        "sink": np.flatnonzero((i_out == 0) & (i_in > 0))
        if partition < last
        else np.array([], int),
        "source": np.flatnonzero((i_in == 0) & (i_out > 0)) if partition > 0 else np.array([], int),
    }
    rows = {
        r["kind"]: r
        for r in store.query(
            "dead_units", network_id=rec.network_id, partition=partition, limit=100
        )
    }
    assert set(rows) == {"sink", "source", "disconnected"}
    for kind, units in expected.items():
        assert rows[kind]["units"] == len(units), kind
        assert rows[kind]["first_units"] == units.tolist(), kind
    if partition == 1:  # the fixture is sparse enough to have dead units there: not a vacuous test
        assert sum(len(u) for u in expected.values()) > 0


def test_pruned_units(store: Store, fixture) -> None:
    g, rec = fixture["graphs"][0], fixture["records"][0]
    indeg, outdeg = degrees(g)
    rows = store.query("pruned_units", network_id=rec.network_id, limit=3)
    assert [r["partition"] for r in rows] == list(range(g.n_partitions))
    for r, p in zip(rows, g.partitions, strict=True):
        sl = slice(p.offset, p.offset + p.size)
        iso = np.flatnonzero((indeg[sl] == 0) & (outdeg[sl] == 0))
        assert r["size"] == p.size and r["isolated"] == len(iso)
        assert r["first_isolated"] == iso[:3].tolist()
        assert r["no_inputs"] == (int((indeg[sl] == 0).sum()) if p.index > 0 else 0)
        assert r["no_outputs"] == (
            int((outdeg[sl] == 0).sum()) if p.index < g.n_partitions - 1 else 0
        )


def _hops(g, directed: bool) -> np.ndarray:
    a = sp.csr_matrix((np.ones(g.n_edges), (g.src, g.dst)), shape=(g.n_nodes, g.n_nodes))
    return shortest_path(a, directed=directed, unweighted=True)


@pytest.mark.parametrize("unit", [0, 5, 31])
def test_paths_to_output(store: Store, fixture, unit: int) -> None:
    g, rec = fixture["graphs"][0], fixture["records"][0]
    dist = _hops(g, directed=True)[unit]
    out = g.partitions[-1]
    reach = {
        i: int(dist[out.offset + i]) for i in range(out.size) if np.isfinite(dist[out.offset + i])
    }
    rows = store.query("paths_to_output", network_id=rec.network_id, unit=unit, limit=1000)
    assert {r["output_unit"]: r["hops"] for r in rows} == reach
    edges = set(zip(g.src.tolist(), g.dst.tolist(), strict=True))
    offsets = [p.offset for p in g.partitions]
    for r in rows:
        uids = [offsets[int(x.split(":")[0])] + int(x.split(":")[1]) for x in r["units"]]
        assert uids[0] == unit and uids[-1] == out.offset + r["output_unit"]
        assert all((a, b) in edges for a, b in itertools.pairwise(uids))


@pytest.mark.parametrize(("partition", "unit", "k"), [(1, 0, 1), (1, 7, 2), (0, 3, 3)])
def test_unit_neighbourhood(store: Store, fixture, partition: int, unit: int, k: int) -> None:
    g, rec = fixture["graphs"][0], fixture["records"][0]
    start = g.partitions[partition].offset + unit
    dist = _hops(g, directed=False)[start]
    part = g.node_partition
    expected: dict[tuple[int, int], int] = {}
    for node in np.flatnonzero((dist >= 1) & (dist <= k)):
        key = (int(dist[node]), int(part[node]))
        expected[key] = expected.get(key, 0) + 1
    rows = store.query(
        "unit_neighbourhood",
        network_id=rec.network_id,
        partition=partition,
        unit=unit,
        k=k,
        limit=2,
    )
    assert {(r["hops"], r["partition"]): r["units"] for r in rows} == expected
    assert all(len(r["first_units"]) <= 2 for r in rows)


def test_compare_networks(store: Store, fixture) -> None:
    (ga, gb), (ra, rb) = fixture["graphs"], fixture["records"]
    rows = store.query("compare_networks", network_a=ra.network_id, network_b=rb.network_id)
    assert [r["layer"] for r in rows] == [b.index for b in ga.blocks]
    js, os_, es = [], [], []
    for r, ba, bb in zip(rows, ga.blocks, gb.blocks, strict=True):
        sa, da, _ = ga.block_edges(ba)
        sb, db, _ = gb.block_edges(bb)
        a, b = (
            set(zip(sa.tolist(), da.tolist(), strict=True)),
            set(zip(sb.tolist(), db.tolist(), strict=True)),
        )
        shared = len(a & b)
        assert (r["edges_a"], r["edges_b"], r["shared"]) == (len(a), len(b), shared)
        assert r["jaccard"] == pytest.approx(shared / len(a | b))
        assert r["overlap"] == pytest.approx(shared / min(len(a), len(b)))
        js.append(shared / len(a | b))
        os_.append(shared / min(len(a), len(b)))
        es.append((len(a) + len(b)) / 2)
    sj = float(np.dot(js, es) / np.sum(es))
    so = float(np.dot(os_, es) / np.sum(es))
    assert all(r["sj"] == pytest.approx(sj) and r["so"] == pytest.approx(so) for r in rows)
    assert rows[2]["jaccard"] == 1.0  # the identity shortcut is the same in both
    same = store.query("compare_networks", network_a=ra.network_id, network_b=ra.network_id)
    assert all(r["jaccard"] == 1.0 for r in same) and same[0]["sj"] == pytest.approx(1.0)


def test_similar_and_stability_by_pruner(store: Store, fixture) -> None:
    from prunegraph.queries.stability import similar_rows, write_similar

    (ga, gb), (ra, rb) = fixture["graphs"], fixture["records"]
    ids = {ra.network_id: ga, rb.network_id: gb}
    rows = similar_rows(ids, {"init": dict.fromkeys(ids, "random-0.5")})
    assert write_similar(store, rows) == 1
    assert write_similar(store, rows) == 1  # MERGE: still one relationship
    # eq. 4 by hand, from the edge sets of the non-skip layers
    js, os_, es = [], [], []
    for ba, bb in zip(ga.blocks, gb.blocks, strict=True):
        if ba.kind == "skip":
            continue
        sa, da, _ = ga.block_edges(ba)
        sb, db, _ = gb.block_edges(bb)
        a = set(zip(sa.tolist(), da.tolist(), strict=True))
        b = set(zip(sb.tolist(), db.tolist(), strict=True))
        js.append(len(a & b) / len(a | b))
        os_.append(len(a & b) / min(len(a), len(b)))
        es.append((len(a) + len(b)) / 2)
    sj, so = float(np.dot(js, es) / np.sum(es)), float(np.dot(os_, es) / np.sum(es))
    pairs = store.query("similar_pairs", study=fixture["study"])
    assert len(pairs) == 1
    assert {pairs[0]["network_a"], pairs[0]["network_b"]} == set(ids)
    # one relationship per pair, drawn from the smaller network_id; each end's own seed
    seeds = {ra.network_id: ra.seed, rb.network_id: rb.seed}
    pair = pairs[0]
    assert pair["setting"] == "init" and pair["network_a"] < pair["network_b"]
    assert (pair["seed_a"], pair["seed_b"]) == (seeds[pair["network_a"]], seeds[pair["network_b"]])
    assert {pair["seed_a"], pair["seed_b"]} == {0, 1}
    assert pairs[0]["jaccard"] == pytest.approx(sj) and pairs[0]["overlap"] == pytest.approx(so)
    assert 0 < sj < 1
    ranked = store.query("stability_by_pruner", study=fixture["study"])
    assert [(r["setting"], r["architecture"], r["sparsity"], r["pruners"]) for r in ranked] == [
        ("init", "resnet_block", 0.5, 1)
    ]
    assert ranked[0]["most_stable"] == ranked[0]["least_stable"] == "random"
    assert ranked[0]["most_jaccard"] == pytest.approx(sj)
    assert ranked[0]["least_overlap"] == pytest.approx(so)


def test_network_sample(store: Store, fixture) -> None:
    g, rec = fixture["graphs"][0], fixture["records"][0]
    s, _d, _ = g.block_edges(0)
    first = np.unique(s)[:2]
    rows = store.query("network_sample", network_id=rec.network_id, layer=0, limit=2)
    assert len(rows) == int(np.isin(s, first).sum())
    assert {r["a"]["uid"] for r in rows} == set(first.tolist())


@pytest.mark.parametrize("graph", ["mge", "rolled", "rolled_channel"])
def test_edge_pages(store: Store, fixture, graph: str) -> None:
    g, rec = fixture["graphs"][0], fixture["records"][0]
    want = {"mge": g, "rolled": rolled_of(g), "rolled_channel": rolled_of(g, channel=True)}[graph]
    got = dm.read_edges(store, rec.network_id, graph=graph, batch_size=5)
    ref = dm.edges_of(want, g)
    np.testing.assert_array_equal(got.src, ref.src)
    np.testing.assert_array_equal(got.dst, ref.dst)
    name = {"mge": "network_edges", "rolled": "rolled_edges", "rolled_channel": "channel_edges"}[
        graph
    ]
    page = store.query(name, network_id=rec.network_id, after=-1, batch_size=4)
    assert page[0]["units"] == [0, 1, 2, 3]


def test_cli_query_export_delete(store: Store, fixture, tmp_path, capsys) -> None:
    import json

    from _graphs import mlp

    from prunegraph.cli import main

    rec = fixture["records"][0]
    assert main(["query", "study_networks", "--param", f"study={fixture['study']}"]) == 0
    out = capsys.readouterr().out
    assert rec.network_id in out and "(2 rows)" in out
    assert (
        main(["query", "network_layers", "-p", f"network_id={rec.network_id}", "--format", "json"])
        == 0
    )
    layers = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in layers] == [b.name for b in fixture["graphs"][0].blocks]
    assert main(["query", "network_layers"]) == 2
    assert "missing network_id" in capsys.readouterr().err

    g = mlp()
    g.save(tmp_path / "g.npz")
    study = f"{fixture['study']}_cli"
    record = {
        "network_id": secrets.token_hex(8),
        "study": study,
        "architecture": "mlp",
        "dataset": "synthetic",
        "pruner": "random",
        "pruner_category": "pai",
        "sparsity": 0.5,
        "seed": 0,
        "input_shape": [8],
    }
    (tmp_path / "r.json").write_text(json.dumps(record))
    args = [
        "export",
        "--graph",
        str(tmp_path / "g.npz"),
        "--record",
        str(tmp_path / "r.json"),
        "--no-progress",
    ]
    assert main(args) == 0
    assert "created at level full" in capsys.readouterr().out
    assert main(args) == 0
    assert "unchanged" in capsys.readouterr().out
    assert main([*args, "--bulk"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["delete", "--study", study]) == 0
    assert "with 1 network" in capsys.readouterr().out
    assert main(["delete", "--network", record["network_id"]]) == 2
    assert "is not stored" in capsys.readouterr().err
