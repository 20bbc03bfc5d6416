"""The exporter's protocol, the deletes and the metric writer against a recording fake store.

Each test checks the sequence of library queries and their parameters (state,
delete, begin, unit and relationship batches, verify, complete), without a
server; ``tests/integration/test_export.py`` runs the same code against Neo4j.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from _fake_store import RecordingStore
from test_export_unit import record as unit_record
from torch import nn

from prunegraph.errors import DatabaseError, NotFoundError, ValidationError
from prunegraph.loader import export as ex
from prunegraph.loader.encoding import encode
from prunegraph.loader.graph import MultipartiteGraph
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries import data_model as dm
from prunegraph.queries import schema

NETWORK_ID = "00112233445566ff"
# fake internal ids: one range per unit label, so relationship ends can be traced back
ID_BASE = {"Unit": 0, "RolledUnit": 1_000_000, "ChannelUnit": 2_000_000}
COUNT_QUERIES = [f.count_query for f in dm.GRAPH_FAMILIES.values()]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.fc = nn.Linear(3 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.fixture(scope="module")
def graphs() -> dict[str, MultipartiteGraph]:
    torch.manual_seed(0)
    model = Net()
    masks = {
        n: (torch.rand_like(p) < 0.5).numpy()
        for n, p in model.named_parameters()
        if n.endswith("weight")
    }
    return {kind: encode(model, masks, (2, 4, 4), kind=kind) for kind in dm.GRAPH_KINDS}


def record(**kw: object) -> NetworkRecord:
    return unit_record(network_id=NETWORK_ID, input_shape=(2, 4, 4), **kw)


def protocol_store(state: dict[str, object] | None = None) -> RecordingStore:
    """A fake that hands out internal ids and counts what was 'written', like the server."""
    store = RecordingStore()
    written = {label: 0 for label in ID_BASE}
    rels = {label: 0 for label in ID_BASE}
    label_of_type = {"ROLLED": "RolledUnit", "ROLLED_CHANNEL": "ChannelUnit"}

    def units(params: dict) -> list[dict]:
        labels = params["labels"]
        label = labels[0] if labels[0] in ID_BASE else "Unit"
        written[label] += params["last"] - params["first"] + 1
        first = ID_BASE[label] + params["offset"]
        return [{"ids": list(range(first + params["first"], first + params["last"] + 1))}]

    def relationships(params: dict) -> list[dict]:
        rels[label_of_type.get(params["type"], "Unit")] += len(params["src"])
        return [{"n": len(params["src"])}]

    def counts(label: str, keys: tuple[str, str]):
        return lambda _p: [{keys[0]: written[label], keys[1]: rels[label]}]

    store.answer("export_network_state", [state] if state else [])
    store.answer("export_units", units).answer("export_rolled_units", units)
    store.answer("export_rels", relationships)
    store.answer(
        "export_count_layers",
        lambda _p: [
            {
                "layers": len(store.of("export_layers")[-1]["layers"])
                if store.of("export_layers")
                else 0
            }
        ],
    )
    for family in dm.GRAPH_FAMILIES.values():
        store.answer(family.count_query, counts(family.unit_label, family.count_keys))
    return store


def protocol(store: RecordingStore) -> list[str]:
    """The recorded library queries without the schema statements and batch repeats."""
    out: list[str] = []
    for name in store.names():
        if name is None or name.startswith(schema.SCHEMA_PREFIX):
            continue
        if not out or out[-1] != name:
            out.append(name)
    return out


def test_first_export_follows_the_protocol(graphs: dict[str, MultipartiteGraph]) -> None:
    store = protocol_store()
    g = graphs["mge"]
    r = ex.export_network(store, graphs, record=record(), batch_size=7, workers=1, progress=False)  # type: ignore[arg-type]
    assert (r.action, r.level, r.parts) == ("created", "full", dm.GRAPH_KINDS)
    assert protocol(store) == [
        "export_network_state",
        "export_begin",
        "export_layers",
        "export_units",
        "export_rels",
        "export_rolled_units",
        "export_rels",
        "export_rolled_units",
        "export_rels",
        "export_count_layers",
        *COUNT_QUERIES,
        "export_complete",
    ]
    assert store.names()[0].startswith(schema.SCHEMA_PREFIX)  # schema first
    (begin,) = store.of("export_begin")
    assert begin["target_level"] == "full" and begin["record"]["network_id"] == NETWORK_ID
    assert begin["record"]["content_hash"] == dm.graph_content_hash(g)
    assert begin["graph"]["n_edges"] == g.n_edges
    (complete,) = store.of("export_complete")
    assert complete == {
        "network_id": NETWORK_ID,
        "level": "full",
        "flags": {"has_rolled": True, "has_rolled_channel": True},
    }
    # MGE units: layered labels and the per-network label, uids by partition offset
    for params in store.of("export_units"):
        assert params["labels"] == [dm.partition_label(params["p"]), f"N_{NETWORK_ID}"]
        assert params["last"] - params["first"] + 1 <= 7
    assert {p["labels"][1] for p in store.of("export_rolled_units")} == {
        f"R_{NETWORK_ID}",
        f"C_{NETWORK_ID}",
    }
    # every edge of every family written exactly once, with its weight, type and layer
    batches = store.of("export_rels")
    assert max(len(b["src"]) for b in batches) <= 7
    for kind, graph in graphs.items():
        base = ID_BASE[dm.GRAPH_FAMILIES[kind].unit_label]
        mine = [b for b in batches if dm.GRAPH_FAMILIES[kind].rel_type in (None, b["type"])]
        mine = [b for b in mine if base <= b["src"][0] < base + 1_000_000]
        src = np.concatenate([np.asarray(b["src"]) for b in mine]) - base
        dst = np.concatenate([np.asarray(b["dst"]) for b in mine]) - base
        w = np.concatenate([np.asarray(b["w"]) for b in mine])
        layer = np.concatenate([np.full(len(b["src"]), b["layer"]) for b in mine])
        types = np.concatenate([np.full(len(b["src"]), b["type"], dtype=object) for b in mine])
        order = np.lexsort((dst, src, layer))
        want = dm.edges_of(graph, graphs["mge"])
        np.testing.assert_array_equal(src[order], want.src)
        np.testing.assert_array_equal(dst[order], want.dst)
        np.testing.assert_array_equal(layer[order], want.layer)
        np.testing.assert_array_equal(types[order], want.rel_type)
        np.testing.assert_allclose(w[order], want.weight, rtol=1e-6)


def test_a_complete_network_is_left_alone(graphs: dict[str, MultipartiteGraph]) -> None:
    state = {
        "status": "complete",
        "level": "full",
        "content_hash": dm.graph_content_hash(graphs["mge"]),
        "study": "protocol",
        "flags": ["has_rolled", "has_rolled_channel"],
    }
    store = protocol_store(state)
    r = ex.export_network(store, graphs, record=record(), progress=False)  # type: ignore[arg-type]
    assert r.action == "unchanged" and r.units == r.relationships == 0
    assert protocol(store) == ["export_network_state"]


def test_an_upgrade_writes_only_what_is_missing(graphs: dict[str, MultipartiteGraph]) -> None:
    state = {
        "status": "complete",
        "level": "summary",
        "content_hash": dm.graph_content_hash(graphs["mge"]),
        "study": "protocol",
        "flags": [],
    }
    store = protocol_store(state)
    given = {"mge": graphs["mge"], "rolled": graphs["rolled"]}
    r = ex.export_network(store, given, record=record(), level="rolled", progress=False)  # type: ignore[arg-type]
    assert (r.action, r.level, r.parts) == ("upgraded", "rolled", ("rolled",))
    assert "export_units" not in protocol(store)  # the MGE is not stored at 'rolled'
    (complete,) = store.of("export_complete")
    assert complete["level"] == "rolled"
    assert complete["flags"] == {"has_rolled": True, "has_rolled_channel": False}


def test_an_interrupted_export_is_cleaned_up_before_it_is_redone(
    graphs: dict[str, MultipartiteGraph],
) -> None:
    state = {
        "status": "writing",
        "level": None,
        "content_hash": dm.graph_content_hash(graphs["mge"]),
        "study": "protocol",
        "flags": [],
    }
    store = protocol_store(state)
    for family in dm.GRAPH_FAMILIES.values():  # one batch left over, then none
        store.answer_once(family.delete_query, [{"n": 3}], [{"n": 0}])
    r = ex.export_network(store, graphs["mge"], record=record(), progress=False)  # type: ignore[arg-type]
    assert r.action == "redone"
    names = protocol(store)
    deletes = [f.delete_query for f in dm.GRAPH_FAMILIES.values()]
    assert names[: 1 + len(deletes)] == ["export_network_state", *deletes]
    assert names.index("export_begin") > names.index(deletes[-1])
    assert len(store.of(deletes[0])) == 2  # repeated until a batch deletes nothing


def test_a_count_mismatch_never_marks_the_network_complete(
    graphs: dict[str, MultipartiteGraph],
) -> None:
    store = protocol_store()
    store.answer(dm.MGE.count_query, [{"units": 1, "unit_rels": 1}])
    with pytest.raises(DatabaseError, match=r"did not verify.*units: stored 1"):
        ex.export_network(store, graphs["mge"], record=record(), progress=False)  # type: ignore[arg-type]
    assert "export_complete" not in store.names()


def test_a_failed_batch_leaves_the_network_writing(graphs: dict[str, MultipartiteGraph]) -> None:
    store = protocol_store()
    store.answer("export_rels", [{"n": 0}])  # its end nodes vanished
    with pytest.raises(DatabaseError, match="stays stored with status 'writing'"):
        ex.export_network(store, graphs["mge"], record=record(), workers=1, progress=False)  # type: ignore[arg-type]
    assert "export_complete" not in store.names()


def test_a_changed_graph_is_refused_unless_overwritten(
    graphs: dict[str, MultipartiteGraph],
) -> None:
    state = {"status": "complete", "level": "full", "content_hash": "0" * 32, "flags": []}
    store = protocol_store(state)
    with pytest.raises(ValidationError, match="different content hash"):
        ex.export_network(store, graphs["mge"], record=record(), progress=False)  # type: ignore[arg-type]
    assert protocol(store) == ["export_network_state"]


def test_delete_network_marks_then_deletes_every_family_in_batches() -> None:
    store = RecordingStore()
    store.answer("export_network_state", [{"status": "complete", "level": "full", "study": "s"}])
    store.answer_once(dm.MGE.delete_query, [{"n": 5}], [{"n": 2}], [{"n": 0}])
    store.answer("delete_network_nodes", [{"layers": 4, "networks": 1}])
    counts = dm.delete_network(store, NETWORK_ID, batch_size=5)  # type: ignore[arg-type]
    assert counts == {"mge": 7, "rolled": 0, "rolled_channel": 0, "layers": 4, "networks": 1}
    names = protocol(store)
    assert names == [
        "export_network_state",
        "delete_mark_network",
        *(f.delete_query for f in dm.GRAPH_FAMILIES.values()),
        "delete_network_nodes",
        "delete_empty_study",
    ]
    assert store.of(dm.MGE.delete_query)[0] == {"network_id": NETWORK_ID, "batch_size": 5}
    assert store.of("delete_empty_study") == [{"study": "s"}]
    with pytest.raises(NotFoundError, match="nothing to delete"):
        dm.delete_network(RecordingStore(), NETWORK_ID)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="batch_size"):
        dm.delete_network(RecordingStore(), NETWORK_ID, batch_size=0)  # type: ignore[arg-type]


def test_network_state_reports_every_family_flag() -> None:
    store = RecordingStore().answer(
        "export_network_state",
        [
            {
                "status": "complete",
                "level": "rolled",
                "content_hash": "ab",
                "study": "s",
                "flags": ["has_rolled"],
            }
        ],
    )
    state = dm.network_state(store, NETWORK_ID)  # type: ignore[arg-type]
    assert state is not None
    assert state["has_rolled"] is True and state["has_rolled_channel"] is False
    assert dm.stored_families(state) == {"rolled"}
    assert dm.network_state(RecordingStore(), NETWORK_ID) is None  # type: ignore[arg-type]


def test_read_edges_pages_until_an_empty_page() -> None:
    pages = [
        [
            {
                "units": [0, 1],
                "src": [0, 1],
                "dst": [2, 2],
                "w": [0.5, 1.5],
                "layer": [0, 0],
                "type": ["LINEAR"] * 2,
            }
        ],
        [{"units": [2], "src": [], "dst": [], "w": [], "layer": [], "type": []}],
        [{"units": [], "src": [], "dst": [], "w": [], "layer": [], "type": []}],
    ]
    store = RecordingStore().answer_once("rolled_edges", *pages)
    edges = dm.read_edges(store, NETWORK_ID, graph="rolled", batch_size=2)  # type: ignore[arg-type]
    assert edges.src.tolist() == [0, 1] and edges.weight.tolist() == [0.5, 1.5]
    assert [p["after"] for p in store.of("rolled_edges")] == [-1, 1, 2]
    with pytest.raises(ValidationError, match="Did you mean 'rolled'"):
        dm.read_edges(store, NETWORK_ID, graph="roled")  # type: ignore[arg-type]


def test_metric_writer_sets_network_and_layer_properties() -> None:
    from prunegraph.queries.metrics import LONG_COLUMNS, write_metrics

    store = RecordingStore()
    store.answer(
        "metric_network_info", [{"metric_engines": '{"old": "numpy"}', "metric_estimators": "{}"}]
    )
    store.answer("metric_write_network", [{"updated": 1}])
    store.answer("metric_write_layers", lambda p: [{"updated": len(p["rows"])}])
    long = pd.DataFrame(
        [
            (NETWORK_ID, "mge", None, "sink", 3.0, None, "numpy"),
            (NETWORK_ID, "mge", None, "motif4", 10.0, 0.5, "sampled"),
            (NETWORK_ID, "rolled", 1, "delta_r", 0.25, None, "numpy"),
            (NETWORK_ID, "rolled", 0, "delta_r", float("nan"), None, "numpy"),
        ],
        columns=list(LONG_COLUMNS),
    )
    assert write_metrics(store, long, estimators={"motif4": {"samples": 100}}) == 3  # type: ignore[arg-type]
    assert protocol(store) == ["metric_network_info", "metric_write_network", "metric_write_layers"]
    (net,) = store.of("metric_write_network")
    props = net["props"]
    assert (props["sink"], props["sink_se"], props["motif4"], props["motif4_se"]) == (
        3.0,
        None,
        10.0,
        0.5,
    )
    assert (
        '"old": "numpy"' in props["metric_engines"] and '"layer:delta_r"' in props["metric_engines"]
    )
    assert '"samples": 100' in props["metric_estimators"]
    (layers,) = store.of("metric_write_layers")
    assert layers["rows"] == [
        {"index": 0, "props": {"delta_r": None}},
        {"index": 1, "props": {"delta_r": 0.25}},
    ]
    bad = long.assign(metric="x) DETACH DELETE n //")
    with pytest.raises(ValidationError, match="unknown metric properties"):
        write_metrics(RecordingStore(), bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("family", list(dm.GRAPH_FAMILIES.values()), ids=list(dm.GRAPH_FAMILIES))
def test_every_family_row_names_queries_that_exist(family: dm.GraphFamily) -> None:
    """What a new row must come with: its queries (on its own label) and a unit key."""
    from prunegraph.queries.library import list_queries, load_query

    for name in (family.count_query, family.read_query, family.delete_query):
        q = load_query(name)
        assert f":{family.unit_label} {{network_id: $network_id}}" in q.text, name
    count = load_query(family.count_query).text
    assert all(f"AS {key}" in count for key in family.count_keys)
    keys = [load_query(n).text for n in list_queries() if n.startswith(schema.SCHEMA_PREFIX)]
    assert any(f"(u:{family.unit_label}) REQUIRE (u.network_id, u.uid)" in k for k in keys)
    assert family.min_level in dm.LEVELS and family.name in dm.GRAPH_KINDS
    assert callable(family.build_function())
    assert family.rel_type is None or family.rel_type in dm.REL_TYPES
    assert family.network_label(NETWORK_ID) == family.label_prefix + NETWORK_ID
    prefixes = [f.label_prefix for f in dm.GRAPH_FAMILIES.values()]
    assert len(set(prefixes)) == len(prefixes)  # per-network labels never collide
