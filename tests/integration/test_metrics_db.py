"""The database engine (GDS + Cypher) agrees with the in-process engine on stored networks."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from _metric_graphs import mlp_232, random_layered

from prunegraph.errors import ValidationError
from prunegraph.loader.export import export_network
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries.data_model import delete_network
from prunegraph.queries.gds_metrics import database_metrics, projection
from prunegraph.queries.metrics import DB_METRICS, compute_metrics, load_mge

STUDY = f"test_metrics_db_{uuid.uuid4().hex[:8]}"


def _store_graph(store, graph, level="full"):
    network_id = uuid.uuid4().hex[:16]
    record = NetworkRecord(
        network_id=network_id,
        study=STUDY,
        architecture="hand",
        dataset="none",
        pruner="random",
        pruner_category="random",
        sparsity=0.5,
        seed=0,
        input_shape=(graph.partitions[0].size,),
    )
    export_network(store, graph, record=record, level=level, progress=False)
    return network_id


@pytest.fixture
def stored(store):
    ids: list[str] = []

    def put(graph, level="full"):
        ids.append(_store_graph(store, graph, level))
        return ids[-1]

    yield put
    for network_id in ids:
        delete_network(store, network_id, missing_ok=True)
    store.run("MATCH (s:Study {name: $name}) DETACH DELETE s", {"name": STUDY})


def _values(df):
    return dict(zip(df["metric"], df["value"], strict=True))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_engines_agree_on_random_networks(store, stored, seed):
    graph = random_layered(seed, sizes=(7, 9, 9, 7, 5), density=0.35)
    network_id = stored(graph)
    db = compute_metrics(
        store, network_id, metrics=list(DB_METRICS), engine="database", write=False
    )
    mem = compute_metrics(graph, network_id, metrics=list(DB_METRICS), engine="inprocess")
    assert set(db["engine"]) <= {"gds", "cypher"}
    assert set(mem["engine"]) <= {"numpy", "numba", "scipy"}
    dbv, memv = _values(db), _values(mem)
    assert dbv.keys() == memv.keys() == set(DB_METRICS)
    for m in DB_METRICS:
        assert dbv[m] == pytest.approx(memv[m], rel=1e-6, abs=1e-9), m


def test_write_back_and_read_mge(store, stored):
    graph = mlp_232()
    network_id = stored(graph)
    back = load_mge(store, network_id)
    assert back.n_edges == graph.n_edges and back.n_nodes == graph.n_nodes
    df = compute_metrics(store, network_id, metrics=["kcore", "n2", "motif4", "spectral_gap"])
    engines = dict(zip(df["metric"], df["engine"], strict=True))
    assert engines["kcore"] == "gds" and engines["motif4"] == "numba"
    row = store.run(
        "MATCH (n:Network {network_id: $id}) RETURN n.kcore AS kcore, n.motif4 AS motif4, "
        "n.metric_engines AS engines",
        {"id": network_id},
    )[0]
    assert row["kcore"] == 3.0 and row["motif4"] == 34.0
    assert '"kcore": "gds"' in row["engines"]


def test_projection_is_dropped_on_error(store, stored):
    network_id = stored(mlp_232())
    name = None
    with pytest.raises(RuntimeError), projection(store, network_id, "UNDIRECTED") as g:
        name = g
        raise RuntimeError("boom")
    exists = store.run("CALL gds.graph.exists($n) YIELD exists RETURN exists", {"n": name})
    assert exists[0]["exists"] is False


def test_database_engine_needs_level_full(store, stored):
    network_id = stored(mlp_232(), level="summary")
    with pytest.raises(ValidationError, match="level 'full'"):
        database_metrics(store, network_id, ["kcore"])
    with pytest.raises(ValidationError, match="stored at level 'summary'"):
        compute_metrics(store, network_id, metrics=["kcore"], engine="database", write=False)
    # Summary-level networks still get the metrics of graphs passed in memory.
    df = compute_metrics(store, network_id, metrics=["kcore"], graphs=mlp_232(), write=False)
    assert df["engine"].tolist() == ["numba"] and df["value"].tolist() == [3.0]


def test_isolated_units_count_as_components(store, stored):
    graph = random_layered(5, sizes=(6, 8, 8, 6), density=0.15, skip=False)
    network_id = stored(graph)
    rows = database_metrics(store, network_id, ["components", "disconnected"])
    assert {r["engine"] for r in rows} == {"gds", "cypher"}
    db = {r["metric"]: r["value"] for r in rows}
    mem = _values(compute_metrics(graph, metrics=["components", "disconnected"]))
    assert db == mem
    assert np.isfinite(db["components"]) and db["disconnected"] > 0


def test_encoded_model_all_graphs_round_trip(store, stored):
    """A pruned LeNet-5 stored with its rolled graphs: the store-side run equals the in-memory one."""
    import torch

    from prunegraph.loader.encoding import encode
    from prunegraph.loader.masks import prunable_parameters
    from prunegraph.loader.models import build_model

    torch.manual_seed(0)
    model = build_model("lenet5", input_shape=(1, 16, 16), num_classes=3, seed=0)
    rng = np.random.default_rng(0)
    masks = {
        name: rng.random(tuple(p.shape)) < 0.3 for name, p in prunable_parameters(model).items()
    }
    graphs = {
        kind: encode(model, masks, (1, 16, 16), kind=kind)
        for kind in ("mge", "rolled", "rolled_channel")
    }
    network_id = uuid.uuid4().hex[:16]
    record = NetworkRecord(
        network_id=network_id,
        study=STUDY,
        architecture="lenet5",
        dataset="none",
        pruner="random",
        pruner_category="random",
        sparsity=0.7,
        seed=0,
        input_shape=(1, 16, 16),
    )
    export_network(
        store,
        graphs,
        record=record,
        level="full",
        progress=False,
    )
    try:
        from_store = compute_metrics(store, network_id, engine="auto", write=True)
        in_memory = compute_metrics(graphs, network_id, engine="inprocess")
        key = ["graph", "layer", "metric"]
        a = from_store.set_index(key)["value"].sort_index()
        b = in_memory.set_index(key)["value"].sort_index()
        assert list(a.index) == list(b.index)
        assert {"gds", "cypher"} <= set(from_store["engine"])
        np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-6, equal_nan=True)
        layers = store.run(
            "MATCH (:Network {network_id: $id})-[:HAS_LAYER]->(l:Layer) "
            "WHERE l.delta_r IS NOT NULL OR l.ch_layer_density IS NOT NULL RETURN count(l) AS n",
            {"id": network_id},
        )
        assert layers[0]["n"] >= 1
    finally:
        delete_network(store, network_id, missing_ok=True)


def test_write_back_refuses_unknown_property_names(store, stored):
    import pandas as pd

    from prunegraph.queries.metrics import write_metrics

    network_id = stored(mlp_232())
    df = pd.DataFrame(
        [
            {
                "network_id": network_id,
                "graph": "mge",
                "layer": None,
                "metric": "kcore} SET n.x = 1 //",
                "value": 1.0,
                "se": None,
                "engine": "numba",
            }
        ]
    )
    with pytest.raises(ValidationError, match="unknown metric properties"):
        write_metrics(store, df)
    row = store.run(
        "MATCH (n:Network {network_id: $id}) RETURN n.x AS x, n.kcore AS k", {"id": network_id}
    )
    assert row[0] == {"x": None, "k": None}
