"""Exporter, records and bulk writer without a database: validation, names, hashes, files."""

from __future__ import annotations

import csv
import re
from dataclasses import replace

import numpy as np
import pytest

from prunegraph.cli.query import format_table, parse_params
from prunegraph.errors import ValidationError
from prunegraph.loader import bulk
from prunegraph.loader import export as ex
from prunegraph.loader.graph import EdgeBlock, MultipartiteGraph, Partition
from prunegraph.loader.records import NetworkRecord, network_id_from_config
from prunegraph.queries import data_model as dm


def toy(pool: str | None = None, w_scale: float = 1.0) -> MultipartiteGraph:
    """input (2,) -> conv-ish (3,) -> linear (2,), plus a skip 0 -> 2."""
    parts = (
        Partition(0, "in", (2,), 0),
        Partition(1, "h", (3,), 2),
        Partition(2, "out", (2,), 5),
    )
    src = np.array([0, 1, 1, 2, 3, 4, 0, 1], dtype=np.int32)
    dst = np.array([2, 3, 4, 5, 6, 6, 5, 6], dtype=np.int32)
    blocks = (
        EdgeBlock(
            0, "conv1", "conv", 0, 1, 0, 3, "conv1.weight", (3, 2, 1, 1), n_weights=6, n_unmasked=3
        ),
        EdgeBlock(
            1, "fc", "linear", 1, 2, 3, 6, "fc.weight", (2, 3), pool=pool, n_weights=6, n_unmasked=3
        ),
        EdgeBlock(2, "skip", "skip", 0, 2, 6, 8),
    )
    w = np.array([0.5, 0.25, 0.125, 1.5, 2.5, 0.75, 1.0, 1.0], dtype=np.float32) * np.float32(
        w_scale
    )
    return MultipartiteGraph("mge", parts, blocks, src, dst, w)


def record(**kw) -> NetworkRecord:
    fields = dict(
        network_id="0123456789abcdef",
        study="s",
        architecture="toy",
        dataset="d",
        pruner="p",
        pruner_category="pai",
        sparsity=0.5,
        seed=0,
        input_shape=(2,),
    )
    fields.update(kw)
    return NetworkRecord(**fields)


# ------------------------------------------------------------------ records


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("network_id", "0123456789ABCDEF", "16 lowercase hex"),
        ("network_id", "x') DETACH DELETE", "16 lowercase hex"),
        ("study", "", "non-empty string"),
        ("study", "a\x00b", "control characters"),
        ("study", "x" * 201, "at most 200"),
        ("sparsity", 1.0, r"range \[0, 1\)"),
        ("sparsity", float("nan"), r"range \[0, 1\)"),
        ("seed", -1, "non-negative int"),
        ("seed", True, "non-negative int"),
        ("input_shape", (3, 0), "positive"),
        ("input_shape", (), "positive"),
        ("acc_dense", 1.5, r"range \[0, 1\]"),
        ("architecture", "", "non-empty string"),
        ("config", {"x": object()}, "JSON serialisable"),
        ("content_hash", "XYZ", "hex digest"),
    ],
)
def test_record_validation(field: str, value, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        record(**{field: value})


def test_record_acc_drop_and_round_trip() -> None:
    r = record(acc_dense=0.9, acc_sparse=0.7, config={"b": (1, 2), "a": np.float32(0.5)})
    assert r.acc_drop == pytest.approx(1 - 0.7 / 0.9)  # relative drop, Cunegatti et al. 2024
    assert record(acc_dense=0.0, acc_sparse=0.0).acc_drop is None  # undefined, not 0
    assert r.config_json == '{"a":0.5,"b":[1,2]}'
    with pytest.raises(ValidationError, match="1 - acc_sparse / acc_dense"):
        record(acc_dense=0.9, acc_sparse=0.7, acc_drop=0.5)
    props = r.to_properties()
    assert "acc_drop" in props and props["input_shape"] == [2]
    assert NetworkRecord.from_properties(props) == r
    assert "acc_dense" not in record().to_properties()  # None values are left out


def test_study_names_with_cypher_metacharacters_are_accepted_verbatim() -> None:
    name = "x'}) MATCH (n) DETACH DELETE n // `;\"$p"
    assert record(study=name).study == name


def test_network_id_from_config_is_stable_hex() -> None:
    a = network_id_from_config({"model": "mlp", "seed": 1})
    assert re.fullmatch(r"[0-9a-f]{16}", a)
    assert a == network_id_from_config({"seed": 1, "model": "mlp"})
    assert a != network_id_from_config({"model": "mlp", "seed": 2})


# ------------------------------------------------------------------ names and properties


def test_rel_types_and_labels() -> None:
    g, pooled = toy(), toy(pool="maxpool2d(2)")
    assert [dm.block_rel_type(b) for b in g.blocks] == ["CONV", "LINEAR", "SKIP"]
    assert [dm.block_rel_type(b) for b in pooled.blocks] == ["CONV", "POOLED_LINEAR", "SKIP"]
    assert dm.network_label("0123456789abcdef") == "N_0123456789abcdef"
    assert dm.GRAPH_FAMILIES["rolled"].network_label("0123456789abcdef") == "R_0123456789abcdef"
    assert dm.partition_label(3) == "L3"
    with pytest.raises(ValidationError):
        dm.network_label("0123456789abcdeF")
    with pytest.raises(ValidationError):
        dm.partition_label(-1)
    bad = replace(g.blocks[0], kind="attention")
    with pytest.raises(ValidationError, match="attention"):
        dm.block_rel_type(bad)
    assert set(dm.MGE_REL_TYPES) <= dm.REL_TYPES


def test_content_hash_is_stable_and_sensitive() -> None:
    h = dm.graph_content_hash(toy())
    assert h == dm.graph_content_hash(toy()) and re.fullmatch(r"[0-9a-f]{32}", h)
    assert h != dm.graph_content_hash(toy(w_scale=2.0))
    assert h != dm.graph_content_hash(toy(pool="avg"))


def test_layer_and_graph_properties() -> None:
    g = toy()
    layers = dm.layer_properties("0123456789abcdef", g)
    assert [lay["rel_type"] for lay in layers] == ["CONV", "LINEAR", "SKIP"]
    assert layers[0]["weight_shape"] == [3, 2, 1, 1] and layers[0]["layer_density"] == 0.5
    assert "layer_density" not in layers[2] and "pool" not in layers[0]  # None dropped
    props = dm.graph_properties(g)
    assert props["partition_sizes"] == [2, 3, 2] and props["partition_offsets"] == [0, 2, 5]
    assert (props["n_nodes"], props["n_edges"], props["n_partitions"]) == (7, 8, 3)


def test_edges_of_sorts_by_layer_src_dst() -> None:
    e = dm.edges_of(toy())
    keys = list(zip(e.layer.tolist(), e.src.tolist(), e.dst.tolist(), strict=True))
    assert keys == sorted(keys) and len(keys) == 8
    assert e.rel_type.tolist().count("SKIP") == 2


def conv_toy(seed: int = 0) -> MultipartiteGraph:
    """A (2, 3, 3) -> (2, 3, 3) 3x3 'same' convolution with about half of its edges."""
    rng = np.random.default_rng(seed)
    parts = (Partition(0, "in", (2, 3, 3), 0), Partition(1, "out", (2, 3, 3), 18))
    src, dst = [], []
    for co in range(2):
        for y in range(3):
            for x in range(3):
                for ci in range(2):
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            if 0 <= y + dy < 3 and 0 <= x + dx < 3 and rng.random() < 0.5:
                                src.append(ci * 9 + (y + dy) * 3 + x + dx)
                                dst.append(18 + co * 9 + y * 3 + x)
    n = len(src)
    blocks = (EdgeBlock(0, "conv", "conv", 0, 1, 0, n, "conv.weight", (2, 2, 3, 3)),)
    w = rng.standard_normal(n).astype(np.float32)
    return MultipartiteGraph(
        "mge", parts, blocks, np.array(src, np.int32), np.array(dst, np.int32), w
    )


def test_block_edge_order_is_position_major() -> None:
    g = conv_toy()
    b = g.blocks[0]
    order = ex.block_edge_order(g, b)
    assert sorted(order.tolist()) == list(range(b.n_edges))  # a permutation
    local = g.dst[order] - 18
    keys = list(zip((local % 9).tolist(), local.tolist(), g.src[order].tolist(), strict=True))
    assert keys == sorted(keys)
    # destinations without spatial axes: (source, destination) order
    t = toy()
    fc = t.blocks[1]
    o = ex.block_edge_order(t, fc)
    pairs = list(zip(t.src[3:6][o].tolist(), t.dst[3:6][o].tolist(), strict=True))
    assert pairs == sorted(pairs)


def test_batch_schedule_interleaves_far_apart_batches() -> None:
    assert ex.batch_schedule(10, 2, interleave=False) == [0, 2, 4, 6, 8]
    assert ex.batch_schedule(10, 2, interleave=True) == [0, 6, 2, 8, 4]
    assert ex.batch_schedule(11, 2, interleave=True) == [0, 6, 2, 8, 4, 10]
    assert ex.batch_schedule(4, 2, interleave=True) == [0, 2]
    assert ex.batch_schedule(0, 2, interleave=True) == []
    for n in range(0, 40):
        for size in (1, 3, 7):
            got = ex.batch_schedule(n, size, interleave=True)
            assert sorted(got) == list(range(0, n, size))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level": "all"}, "'level' parameter"),
        ({"level": "rolled"}, "graphs="),
        ({"workers": 0}, "'workers' parameter"),
        ({"workers": 9}, "'workers' parameter"),
        ({"batch_size": 0}, "'batch_size' parameter"),
        ({"graphs": {"mge": toy(), "rolled": "not a graph"}}, "'rolled' graph"),
        ({"graphs": {"mge": toy(), "rolld": None}}, "Did you mean 'rolled'"),
        ({"graphs": {"rolled": None}}, "kind 'mge'"),
    ],
)
def test_export_validates_before_touching_the_store(kwargs, message: str) -> None:
    graphs = kwargs.pop("graphs", toy())
    with pytest.raises(ValidationError, match=message):
        ex.export_network(None, graphs, record=record(), progress=False, **kwargs)  # type: ignore[arg-type]


def test_export_rejects_bad_graph_and_record() -> None:
    g = toy()
    with pytest.raises(ValidationError, match="kind 'mge'"):
        ex.export_network(None, replace(g, kind="rolled"), record=record())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="NetworkRecord"):
        ex.export_network(None, g, record={"network_id": "x"})  # type: ignore[arg-type]
    nan = toy()
    nan.weight[0] = np.nan
    with pytest.raises(ValidationError, match="non-finite"):
        ex.export_network(None, nan, record=record())  # type: ignore[arg-type]


def test_rolled_layer_index_matches_by_parameter_name() -> None:
    g = toy()
    parts = (Partition(0, "fc.in", (3,), 0), Partition(1, "fc.out", (2,), 3))
    rolled = MultipartiteGraph(
        "rolled",
        parts,
        (EdgeBlock(0, "fc", "linear", 0, 1, 0, 1, "fc.weight"),),
        np.array([0], np.int32),
        np.array([3], np.int32),
        np.array([1.0], np.float32),
    )
    assert dm.rolled_layer_index(g, rolled) == [1]


# ------------------------------------------------------------------ bulk files


def test_bulk_files(tmp_path) -> None:
    g = toy(pool="max")
    nets = [
        bulk.BulkNetwork(record(), g, "full"),
        bulk.BulkNetwork(record(network_id="fedcba9876543210", study='o"dd, study;'), g, "summary"),
    ]
    files = bulk.write_bulk_files(nets, tmp_path / "b")
    assert files.n_relationships == 2 + 6 + g.n_edges  # HAS_NETWORK x2, HAS_LAYER x6, edges
    assert files.n_nodes == 2 + 2 + 6 + g.n_nodes  # studies, networks, layers, units
    header = (tmp_path / "b" / "units_0123456789abcdef.header.csv").read_text().strip()
    assert header == ":ID(N_0123456789abcdef),network_id,uid:long,p:long,i:long,:LABEL"
    with (tmp_path / "b" / "units_0123456789abcdef.csv").open() as fh:
        units = list(csv.reader(fh))
    assert [int(r[0]) for r in units] == list(range(g.n_nodes))
    assert units[3][4:] == ["1", "Unit;L1;N_0123456789abcdef"]
    with (tmp_path / "b" / "rels_0123456789abcdef.csv").open() as fh:
        rels = list(csv.reader(fh))
    assert [r[2] for r in rels] == ["CONV"] * 3 + ["POOLED_LINEAR"] * 3 + ["SKIP"] * 2
    assert [np.float32(float(r[3])) for r in rels] == g.weight.tolist()
    with (tmp_path / "b" / "studies.csv").open() as fh:
        assert sorted(r[1] for r in csv.reader(fh)) == sorted(["s", 'o"dd, study;'])
    args = files.import_arguments()
    assert (
        sum(a.startswith("--nodes=") for a in args) == 4
        and not (tmp_path / "b" / "units_fedcba9876543210.csv").exists()
    )


def test_bulk_refuses_bad_input(tmp_path) -> None:
    g = toy()
    with pytest.raises(ValidationError, match="REPLACES the whole Neo4j database"):
        bulk.bulk_load([bulk.BulkNetwork(record(), g)], overwrite=False)
    with pytest.raises(ValidationError, match="only once"):
        bulk.write_bulk_files([bulk.BulkNetwork(record(), g)] * 2, tmp_path / "dup")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ValidationError, match="empty"):
        bulk.write_bulk_files([bulk.BulkNetwork(record(), g)], tmp_path / "full")
    with pytest.raises(ValidationError, match="rolled"):
        bulk.BulkNetwork(record(), g, "rolled")


# ------------------------------------------------------------------ CLI helpers


def test_parse_params_and_table() -> None:
    assert parse_params(["k=3", "x=0.5", "s=demo", "l=[1,2]", "n=null", 'q="7"']) == {
        "k": 3,
        "x": 0.5,
        "s": "demo",
        "l": [1, 2],
        "n": None,
        "q": "7",
    }
    with pytest.raises(ValidationError, match="name=value"):
        parse_params(["novalue"])
    text = format_table([{"a": 1, "b": [1, 2]}, {"a": 22, "b": None}], ["a", "b"])
    lines = text.splitlines()
    assert lines[0].split() == ["a", "b"] and lines[-1] == "(2 rows)" and "[1, 2]" in text
