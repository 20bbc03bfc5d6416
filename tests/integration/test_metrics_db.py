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
from prunegraph.loader.export import delete_network, export_network
from prunegraph.loader.records import NetworkRecord
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
    with pytest.raises(ValidationError, match="level 'full'"):
        compute_metrics(store, network_id, metrics=["kcore"], engine="database", write=False)


def test_isolated_units_count_as_components(store, stored):
    graph = random_layered(5, sizes=(6, 8, 8, 6), density=0.15, skip=False)
    network_id = stored(graph)
    db = _values(
        database_metrics(store, network_id, ["components", "disconnected"])
        and compute_metrics(
            store,
            network_id,
            metrics=["components", "disconnected"],
            engine="database",
            write=False,
        )
    )
    mem = _values(compute_metrics(graph, metrics=["components", "disconnected"]))
    assert db == mem
    assert np.isfinite(db["components"]) and db["disconnected"] > 0
