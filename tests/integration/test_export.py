"""Streaming exporter against the real server: round trips, idempotency, interruption, deletes."""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import numpy as np
import pytest
from _graphs import cnn_with_pooling, mlp, resnet_block, rolled_of

from prunegraph.errors import DatabaseError, NotFoundError, ValidationError
from prunegraph.loader import export as ex
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries import data_model as dm
from prunegraph.queries.store import Store

BUILDERS = {"mlp": mlp, "cnn_pool": cnn_with_pooling, "resnet_block": resnet_block}


def make_record(study: str, graph, **kw: Any) -> NetworkRecord:
    shape = tuple(graph.partitions[0].shape)
    fields = dict(
        network_id=secrets.token_hex(8),
        study=study,
        architecture=graph.meta.get("model", "toy"),
        dataset="synthetic",
        pruner="random",
        pruner_category="pai",
        sparsity=0.5,
        seed=0,
        input_shape=shape,
        acc_dense=0.9,
        acc_sparse=0.85,
        config={"model": graph.meta.get("model"), "seed": 0},
    )
    fields.update(kw)
    return NetworkRecord(**fields)


@pytest.fixture
def study(store: Store, unique_name: str):
    name = f"{unique_name}_export"
    yield name
    with contextlib.suppress(NotFoundError):
        dm.delete_study(store, name)


def assert_same_edges(got: dm.StoredEdges, want: dm.StoredEdges) -> None:
    np.testing.assert_array_equal(got.src, want.src)
    np.testing.assert_array_equal(got.dst, want.dst)
    np.testing.assert_array_equal(got.layer, want.layer)
    np.testing.assert_array_equal(got.rel_type, want.rel_type)
    np.testing.assert_allclose(got.weight, want.weight, rtol=1e-6, atol=0)
    # float32 in, float32 out: exact after the cast back
    np.testing.assert_array_equal(got.weight.astype(np.float32), want.weight.astype(np.float32))


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_round_trip_full(store: Store, study: str, name: str) -> None:
    g = BUILDERS[name]()
    rolled, channel = rolled_of(g), rolled_of(g, channel=True)
    rec = make_record(study, g)
    result = ex.export_network(
        store, {"mge": g, "rolled": rolled, "rolled_channel": channel}, record=rec, progress=False
    )
    assert result.action == "created" and result.level == "full"
    assert result.relationships == g.n_edges + rolled.n_edges + channel.n_edges

    assert_same_edges(dm.read_edges(store, rec.network_id, batch_size=7), dm.edges_of(g))
    assert_same_edges(dm.read_edges(store, rec.network_id, graph="rolled"), dm.edges_of(rolled, g))
    assert_same_edges(
        dm.read_edges(store, rec.network_id, graph="rolled_channel"), dm.edges_of(channel, g)
    )

    # layered and per-network labels on every unit
    for p in g.partitions:
        rows = store.run(
            "MATCH (u:$($labels)) RETURN count(u) AS n, min(u.i) AS lo, max(u.i) AS hi",
            {"labels": ["Unit", f"L{p.index}", dm.network_label(rec.network_id)]},
        )
        assert rows[0] == {"n": p.size, "lo": 0, "hi": p.size - 1}
    props = dm.get_network(store, rec.network_id)
    assert props["status"] == "complete" and props["level"] == "full"
    assert props["n_edges"] == g.n_edges and props["input_shape"] == list(rec.input_shape)
    assert props["content_hash"] == dm.graph_content_hash(g)
    assert props["config_json"] == rec.config_json
    layers = store.query("network_layers", network_id=rec.network_id)
    assert [r["edges"] for r in layers] == [b.n_edges for b in g.blocks]
    assert [r["type"] for r in layers] == [dm.block_rel_type(b) for b in g.blocks]


def test_pooled_and_skip_types(store: Store, study: str) -> None:
    cnn, block = cnn_with_pooling(), resnet_block()
    assert [dm.block_rel_type(b) for b in cnn.blocks] == ["CONV", "POOLED_LINEAR"]
    assert [dm.block_rel_type(b) for b in block.blocks] == ["CONV", "CONV", "SKIP"]
    rec = make_record(study, block)
    ex.export_network(store, block, record=rec, progress=False)
    rows = store.run(
        "MATCH (a:Unit {network_id: $id})-[r:SKIP]->(b) RETURN count(r) AS n, min(r.w) AS lo, max(r.w) AS hi",
        {"id": rec.network_id},
    )
    assert rows[0] == {"n": block.blocks[2].n_edges, "lo": 1.0, "hi": 1.0}


def test_reexport_is_a_noop(store: Store, study: str) -> None:
    g = mlp()
    rec = make_record(study, g)
    first = ex.export_network(store, g, record=rec, progress=False)
    before = dm.verify(store, rec.network_id)
    again = ex.export_network(store, g, record=rec, progress=False, workers=2)
    assert first.action == "created" and again.action == "unchanged"
    assert again.relationships == 0
    assert dm.verify(store, rec.network_id) == before
    assert (
        store.run(
            "MATCH (n:Network {network_id: $id}) RETURN count(n) AS n", {"id": rec.network_id}
        )[0]["n"]
        == 1
    )


def test_upgrade_summary_rolled_full_keeps_metrics(store: Store, study: str) -> None:
    g = cnn_with_pooling()
    rolled = rolled_of(g)
    rec = make_record(study, g)
    assert (
        ex.export_network(store, g, record=rec, level="summary", progress=False).action == "created"
    )
    assert dm.verify(store, rec.network_id)["units"] == 0
    # a metric written between exports must survive the upgrade
    store.run("MATCH (n:Network {network_id: $id}) SET n.sink = 3", {"id": rec.network_id})
    r = ex.export_network(
        store, {"mge": g, "rolled": rolled}, record=rec, level="rolled", progress=False
    )
    assert (r.action, r.level, r.parts) == ("upgraded", "rolled", ("rolled",))
    counts = dm.verify(store, rec.network_id)
    assert counts["units"] == 0 and counts["rolled_rels"] == rolled.n_edges
    r = ex.export_network(store, g, record=rec, level="full", progress=False)
    assert (r.action, r.level, r.parts) == ("upgraded", "full", ("mge",))
    # asking for a lower level later is a no-op, the stored level stays
    assert (
        ex.export_network(store, g, record=rec, level="summary", progress=False).action
        == "unchanged"
    )
    props = dm.get_network(store, rec.network_id)
    assert props["level"] == "full" and props["sink"] == 3 and props["has_rolled"] is True
    assert_same_edges(dm.read_edges(store, rec.network_id), dm.edges_of(g))


class FailingStore:
    """The real store, with a fault injected: the k-th relationship batch raises."""

    def __init__(self, store: Store, fail_at: int, error: Exception) -> None:
        self._store, self.fail_at, self.error, self.calls = store, fail_at, error, 0

    def run(self, cypher: str, params: dict | None = None, **kw: Any):
        if "CREATE (a)-[" in cypher:
            self.calls += 1
            if self.calls == self.fail_at:
                raise self.error
        return self._store.run(cypher, params, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.mark.parametrize("workers", [1, 2])
def test_interrupted_export_is_never_complete_and_is_redone(
    store: Store, study: str, workers: int
) -> None:
    g = resnet_block(c=3, h=4)
    rec = make_record(study, g)
    failing = FailingStore(store, fail_at=3, error=RuntimeError("killed half-way"))
    with pytest.raises(RuntimeError, match="killed half-way"):
        ex.export_network(failing, g, record=rec, batch_size=40, workers=workers, progress=False)  # type: ignore[arg-type]
    state = dm.network_state(store, rec.network_id)
    assert state is not None and state["status"] == "writing" and state["level"] is None
    partial = dm.verify(store, rec.network_id)
    assert 0 < partial["unit_rels"] < g.n_edges
    listed = {r["network_id"] for r in store.query("study_networks", study=study)}
    assert rec.network_id not in listed
    assert rec.network_id in {r["network_id"] for r in store.query("list_incomplete_networks")}
    with pytest.raises(NotFoundError, match="not complete"):
        dm.get_network(store, rec.network_id)

    redo = ex.export_network(store, g, record=rec, batch_size=40, workers=workers, progress=False)
    assert redo.action == "redone"
    assert dm.verify(store, rec.network_id)["unit_rels"] == g.n_edges
    assert_same_edges(dm.read_edges(store, rec.network_id), dm.edges_of(g))
    assert dm.network_state(store, rec.network_id)["status"] == "complete"


def test_database_error_mid_export_is_reported_and_left_writing(store: Store, study: str) -> None:
    g = mlp()
    rec = make_record(study, g)
    failing = FailingStore(
        store, fail_at=2, error=DatabaseError("No Neo4j server answers at bolt://x.")
    )
    with pytest.raises(DatabaseError, match=r"stays stored with status 'writing'.*export it again"):
        ex.export_network(failing, g, record=rec, batch_size=10, progress=False)  # type: ignore[arg-type]
    assert dm.network_state(store, rec.network_id)["status"] == "writing"


def test_changed_graph_needs_overwrite(store: Store, study: str) -> None:
    g1, g2 = mlp(seed=1), mlp(seed=2)
    rec = make_record(study, g1)
    ex.export_network(store, g1, record=rec, progress=False)
    with pytest.raises(ValidationError, match="different content hash"):
        ex.export_network(store, g2, record=rec, progress=False)
    r = ex.export_network(store, g2, record=rec, progress=False, overwrite=True)
    assert r.action == "replaced"
    assert_same_edges(dm.read_edges(store, rec.network_id), dm.edges_of(g2))


def test_delete_network_and_study(store: Store, study: str) -> None:
    g = cnn_with_pooling()
    recs = [make_record(study, g, seed=s) for s in range(2)]
    for r in recs:
        ex.export_network(store, {"mge": g, "rolled": rolled_of(g)}, record=r, progress=False)
    counts = dm.delete_network(store, recs[0].network_id, batch_size=7)
    assert (
        counts["mge"] == g.n_nodes and counts["networks"] == 1 and counts["layers"] == len(g.blocks)
    )
    assert dm.network_state(store, recs[0].network_id) is None
    assert dm.verify(store, recs[0].network_id) == dict.fromkeys(
        dm.verify(store, recs[0].network_id), 0
    )
    assert dm.delete_study(store, study) == 1
    assert store.run("MATCH (s:Study {name: $s}) RETURN count(s) AS n", {"s": study})[0]["n"] == 0
    assert dm.verify(store, recs[1].network_id)["units"] == 0
    with pytest.raises(NotFoundError, match="not stored"):
        dm.delete_study(store, study)


def test_unknown_network_id(store: Store) -> None:
    missing = "fedcba9876543210"
    assert dm.network_state(store, missing) is None
    with pytest.raises(NotFoundError, match="fedcba9876543210' is not stored"):
        dm.get_network(store, missing)
    with pytest.raises(NotFoundError, match="nothing to delete"):
        dm.delete_network(store, missing)
    assert store.query("network_layers", network_id=missing) == []
    with pytest.raises(ValidationError, match="16 lowercase hex"):
        dm.delete_network(store, "abc) DETACH DELETE n //")


def test_study_name_with_cypher_metacharacters_is_stored_literally(
    store: Store, unique_name: str
) -> None:
    name = f"{unique_name} x'}}) MATCH (n) DETACH DELETE n // `;\"$param"
    g = mlp()
    rec = make_record(name, g)
    try:
        ex.export_network(store, g, record=rec, progress=False)
        rows = store.run(
            "MATCH (s:Study {name: $s})-[:HAS_NETWORK]->(n) RETURN s.name AS name, n.network_id AS id",
            {"s": name},
        )
        assert rows == [{"name": name, "id": rec.network_id}]
        assert [r["network_id"] for r in store.query("study_networks", study=name)] == [
            rec.network_id
        ]
    finally:
        assert dm.delete_study(store, name) == 1
    with pytest.raises(ValidationError, match="control characters"):
        make_record("bad\nstudy", g)


def test_level_rolled_requires_rolled_graphs(store: Store, study: str) -> None:
    g = mlp()
    with pytest.raises(ValidationError, match="rolled"):
        ex.export_network(store, g, record=make_record(study, g), level="rolled", progress=False)
    with pytest.raises(ValidationError, match="'level' parameter"):
        ex.export_network(
            store, g, record=make_record(study, g), level="everything", progress=False
        )


def test_wrong_password_is_a_clear_error() -> None:
    secret = "definitely-not-the-password-" + secrets.token_hex(4)
    with pytest.raises(DatabaseError) as info:
        Store.connect(password=secret)
    assert "refused the credentials" in str(info.value)
    assert secret not in str(info.value)


@pytest.mark.parametrize(
    ("arch", "shape"), [("mlp", (64,)), ("lenet5", (1, 16, 16)), ("resnet20", (3, 8, 8))]
)
def test_round_trip_real_encodings(
    store: Store, study: str, arch: str, shape: tuple[int, ...]
) -> None:
    """The encoder's own MGE and rolled graphs (MLP, CNN with pooling, ResNet with skips)."""
    import torch

    from prunegraph.loader.encoding import encode
    from prunegraph.loader.models import build_model

    torch.manual_seed(0)
    model = build_model(arch, input_shape=shape, num_classes=10)
    rng = np.random.default_rng(0)
    masks = {
        f"{name}.weight": rng.random(tuple(mod.weight.shape)) < 0.04
        for name, mod in model.named_modules()
        if isinstance(mod, torch.nn.Conv2d | torch.nn.Linear)
    }
    g = encode(model, masks, shape)
    rolled = encode(model, masks, shape, kind="rolled")
    channel = encode(model, masks, shape, kind="rolled_channel")
    rec = make_record(study, g, architecture=arch, input_shape=shape)
    ex.export_network(
        store,
        {"mge": g, "rolled": rolled, "rolled_channel": channel},
        record=rec,
        workers=2,
        progress=False,
    )
    assert_same_edges(dm.read_edges(store, rec.network_id), dm.edges_of(g))
    assert_same_edges(dm.read_edges(store, rec.network_id, graph="rolled"), dm.edges_of(rolled, g))
    assert_same_edges(
        dm.read_edges(store, rec.network_id, graph="rolled_channel"), dm.edges_of(channel, g)
    )
    types = {r["type"] for r in store.query("network_layers", network_id=rec.network_id)}
    expected = {"mlp": {"LINEAR"}, "lenet5": {"CONV", "POOLED_CONV", "POOLED_LINEAR"}}
    if arch in expected:
        assert expected[arch] <= types
    else:
        assert {"CONV", "SKIP"} <= types
