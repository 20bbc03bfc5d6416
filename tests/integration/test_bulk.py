"""Bulk path: neo4j-admin import builds the same graph as the streaming exporter.

Safety: the offline import REPLACES a whole database, so this test never
imports into the shared server. It runs a private scratch instance
(:class:`prunegraph.stack.ScratchServer`: same installation, its own
data directory, credentials and free ports, small heap), imports there,
compares with the streaming export of the same networks into the shared
server (under a unique study, deleted afterwards), then uses the scratch
server for the "database stopped mid-export" test, and removes it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from _graphs import cnn_with_pooling, mlp, resnet_block, rolled_of

from prunegraph import stack
from prunegraph.errors import DatabaseError
from prunegraph.loader import bulk
from prunegraph.loader import export as ex
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries import data_model as dm
from prunegraph.queries.schema import ensure_schema
from prunegraph.queries.store import Store

pytestmark = pytest.mark.slow

VOLATILE = {"created_at", "updated_at"}


def _networks(study: str) -> list[bulk.BulkNetwork]:
    out = []
    for k, (g, level) in enumerate(
        [
            (mlp(), "full"),
            (cnn_with_pooling(), "full"),
            (resnet_block(), "full"),
            (mlp(seed=5), "rolled"),
            (mlp(seed=6), "summary"),
        ]
    ):
        rec = NetworkRecord(
            network_id=secrets.token_hex(8),
            study=study if k != 2 else study + " 'other\" study",
            architecture=g.meta.get("model", "toy"),
            dataset="synthetic",
            pruner="random",
            pruner_category="pai",
            sparsity=0.25 * (k % 3),
            seed=k,
            input_shape=tuple(g.partitions[0].shape),
            acc_dense=0.9 if k % 2 else None,
            acc_sparse=0.8 if k % 2 else None,
            config={"k": k, "text": 'a,b;"c"'},
        )
        out.append(
            bulk.BulkNetwork(
                rec,
                {
                    "mge": g,
                    "rolled": rolled_of(g),
                    "rolled_channel": rolled_of(g, channel=True) if k != 1 else None,
                },
                level,
            )
        )
    return out


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.ScratchServer]:
    server = stack.ScratchServer(tmp_path_factory.mktemp("scratch-neo4j"))
    try:
        yield server
    finally:
        server.close()


def snapshot(store: Store, network_id: str) -> dict[str, Any]:
    """Everything stored for one network, in a comparable form."""
    net = store.run(
        "MATCH (s:Study)-[:HAS_NETWORK]->(n:Network {network_id: $id}) RETURN s.name AS study, properties(n) AS p",
        {"id": network_id},
    )
    layers = store.run(
        "MATCH (:Network {network_id: $id})-[:HAS_LAYER]->(l:Layer) RETURN properties(l) AS p ORDER BY l.index",
        {"id": network_id},
    )
    labels = store.run(
        "MATCH (u) WHERE (u:Unit OR u:RolledUnit OR u:ChannelUnit) AND u.network_id = $id "
        "WITH u ORDER BY u.uid RETURN labels(u) AS labels, properties(u) AS p",
        {"id": network_id},
    )
    unit_rows = sorted((tuple(sorted(r["labels"])), tuple(sorted(r["p"].items()))) for r in labels)
    edges = {g: dm.read_edges(store, network_id, graph=g) for g in dm.GRAPH_KINDS}
    return {
        "study": net[0]["study"],
        "network": {k: v for k, v in net[0]["p"].items() if k not in VOLATILE},
        "layers": [r["p"] for r in layers],
        "units": unit_rows,
        "edges": edges,
    }


def test_bulk_import_equals_streaming_export(
    store: Store, scratch: stack.ScratchServer, tmp_path
) -> None:
    study = f"t{uuid.uuid4().hex[:10]}_bulk"
    nets = _networks(study)
    files = bulk.write_bulk_files(nets, tmp_path / "files")
    assert files.n_relationships >= sum(n.mge.n_edges for n in nets if n.level == "full")
    scratch.import_files(files)
    scratch.start()
    try:
        for n in nets:
            ex.export_network(
                store,
                n.by_family,
                record=n.record,
                level=n.level,
                progress=False,
            )
        with Store(scratch.settings()) as imported:
            ensure_schema(imported, force=True)
            names = {r["name"] for r in imported.run("SHOW CONSTRAINTS YIELD name RETURN name")}
            assert {"unit_key", "network_id", "layer_key", "study_name"} <= names
            for n in nets:
                a, b = snapshot(store, n.record.network_id), snapshot(imported, n.record.network_id)
                assert a["study"] == b["study"] == n.record.study
                assert a["network"] == b["network"]
                assert a["layers"] == b["layers"]
                assert a["units"] == b["units"]
                for family in a["edges"]:
                    ea, eb = a["edges"][family], b["edges"][family]
                    for field in ("src", "dst", "layer", "rel_type", "weight"):
                        np.testing.assert_array_equal(getattr(ea, field), getattr(eb, field))
                assert len(a["units"]) == (n.mge.n_nodes if n.level == "full" else 0) + (
                    0
                    if n.level == "summary"
                    else sum(g.n_nodes for k, g in n.by_family.items() if k != "mge")
                )
            # the library works on the imported store too
            rows = imported.query("study_networks", study=study)
            assert {r["network_id"] for r in rows} == {
                n.record.network_id for n in nets if n.record.study == study
            }
    finally:
        for s in {n.record.study for n in nets}:
            dm.delete_study(store, s)


class StoppingStore:
    """The scratch store; before the k-th relationship batch, the scratch server is shut down."""

    def __init__(self, store: Store, server: stack.ScratchServer, at: int) -> None:
        self._store, self.server, self.at, self.calls = store, server, at, 0

    def run(self, cypher: str, params: dict | None = None, **kw: Any):
        if "CREATE (a)-[" in cypher:
            self.calls += 1
            if self.calls == self.at:
                self.server.stop()
        return self._store.run(cypher, params, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_database_stopped_mid_export(scratch: stack.ScratchServer) -> None:
    if not scratch.running:
        scratch.start()
    g = resnet_block(c=3, h=5)
    rec = NetworkRecord(
        network_id=secrets.token_hex(8),
        study="stopped",
        architecture="resnet_block",
        dataset="synthetic",
        pruner="random",
        pruner_category="pai",
        sparsity=0.5,
        seed=0,
        input_shape=(3, 5, 5),
    )
    with Store(scratch.settings()) as s:
        stopping = StoppingStore(s, scratch, at=3)
        with pytest.raises(DatabaseError, match="stays stored with status 'writing'") as info:
            ex.export_network(stopping, g, record=rec, batch_size=50, progress=False)  # type: ignore[arg-type]
        assert "No Neo4j server answers" in str(info.value) or "Neo4j" in str(info.value)
    scratch.start()
    with Store(scratch.settings()) as s:
        state = dm.network_state(s, rec.network_id)
        assert state is not None and state["status"] == "writing"
        assert rec.network_id not in {r["network_id"] for r in s.query("list_networks")}
        assert 0 < dm.verify(s, rec.network_id)["unit_rels"] < g.n_edges
        assert ex.export_network(s, g, record=rec, batch_size=50, progress=False).action == "redone"
        np.testing.assert_array_equal(dm.read_edges(s, rec.network_id).dst, dm.edges_of(g).dst)
        assert rec.network_id in {r["network_id"] for r in s.query("list_networks")}
