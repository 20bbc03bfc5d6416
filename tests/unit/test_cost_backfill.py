"""Cost of stored networks, recomputed from their Layer/Network properties (db backfill-cost)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from test_cost import Tiny, _masks

from prunegraph.errors import ValidationError
from prunegraph.loader.cost import (
    COST_COLUMNS,
    STORED_LAYER_KEYS,
    cost_from_stored,
    layer_costs,
    network_cost,
)
from prunegraph.loader.encoding import encode
from prunegraph.queries import data_model as dm
from prunegraph.queries.backfill import backfill_cost


def _graph(name: str):
    from test_encoding import DenseBlock, SharedConv

    from prunegraph.loader import models

    torch.manual_seed(0)
    if name == "tiny":
        model: Any = Tiny()
        return encode(model, _masks(model), (1, 6, 6))
    if name == "resnet20":  # skip blocks
        model = models.build_model("resnet20", input_shape=(3, 8, 8), num_classes=10)
        masks = {k: v for k, v in _masks(model).items() if v.ndim > 1}  # conv/linear only
        return encode(model, masks, (3, 8, 8))
    if name == "shared":  # one weight applied twice
        return encode(SharedConv(), None, (2, 3, 4))
    model = DenseBlock()  # a layer reading a concatenation: two blocks of one weight
    return encode(model, _masks(model), (1, 3, 4))


def _stored(graph) -> tuple[list[int], list[dict[str, Any]]]:
    """What the store keeps of a network, without its cost (as before the cost existed)."""
    layers = [
        {k: v for k, v in row.items() if k in STORED_LAYER_KEYS}
        for row in dm.layer_properties("0123456789abcdef", graph)
    ]
    assert not any(set(COST_COLUMNS) & set(row) for row in layers)
    return dm.graph_properties(graph)["partition_sizes"], layers


@pytest.mark.parametrize("name", ["tiny", "resnet20", "shared", "dense_block"])
def test_stored_properties_give_the_exported_cost(name: str) -> None:
    graph = _graph(name)
    sizes, layers = _stored(graph)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(layers))  # the store's row order does not matter
    network, per_layer = cost_from_stored(sizes, [layers[k] for k in order])
    assert network == network_cost(graph)
    costs = layer_costs(graph)
    exported = {row["index"]: row for row in dm.layer_properties("0123456789abcdef", graph)}
    for row in per_layer:
        assert {k: row[k] for k in COST_COLUMNS} == {
            k: exported[row["index"]][k] for k in COST_COLUMNS
        }
    assert sum(r["flops_dense"] for r in per_layer) == int(costs["flops_dense"].sum())


def test_what_the_cost_cannot_be_computed_from_is_refused() -> None:
    sizes, layers = _stored(_graph("tiny"))
    broken = [dict(layers[0]), *layers[1:]]
    del broken[0]["weight_shape"]
    with pytest.raises(ValidationError, match=r"Layer 0 \('conv1'\) lacks weight_shape"):
        cost_from_stored(sizes, broken)
    with pytest.raises(ValidationError, match="has 2 partitions"):
        cost_from_stored(sizes[:2], layers)


class _Store:
    """Answers the backfill's two queries from in-memory networks; records the writes."""

    def __init__(self, graphs: dict[str, Any]) -> None:
        self.stored = {k: _stored(g) for k, g in graphs.items()}
        self.writes: list[list[dict[str, Any]]] = []

    def query(self, name: str, /, **params: Any) -> list[dict[str, Any]]:
        if name == "export_cost_inputs":
            return [
                {"network_id": k, "partition_sizes": self.stored[k][0], **layer}
                for k in params["network_ids"]
                for layer in self.stored[k][1]
            ]
        assert name == "export_cost_write"
        self.writes.append(params["rows"])
        rows = params["rows"]
        return [{"networks": len(rows), "layers": sum(len(r["layers"]) for r in rows)}]


def test_backfill_writes_computable_networks_and_names_the_others() -> None:
    graphs = {"a" * 16: _graph("tiny"), "b" * 16: _graph("shared"), "c" * 16: _graph("tiny")}
    store = _Store(graphs)
    missing = [
        {"network_id": k, "study": "s", "layers": 3, "has_partition_sizes": True} for k in graphs
    ]
    missing += [
        {"network_id": "d" * 16, "study": "s2", "layers": 0, "has_partition_sizes": True},
        {"network_id": "e" * 16, "study": "s2", "layers": 3, "has_partition_sizes": False},
    ]
    dry = backfill_cost(store, missing, batch_size=2, dry_run=True)
    assert not store.writes and dry.networks == 3 and dry.dry_run
    result = backfill_cost(store, missing, batch_size=2)
    assert [len(batch) for batch in store.writes] == [2, 1]
    assert result.networks == 3 and result.studies == ("s", "s2")
    assert result.layers == sum(len(g.blocks) for g in graphs.values())
    assert result.refused == {
        "d" * 16: "no Layer nodes are stored",
        "e" * 16: "the Network has no partition_sizes",
    }
    written = {row["network_id"]: row for batch in store.writes for row in batch}
    for network_id, graph in graphs.items():
        assert {k: written[network_id][k] for k in COST_COLUMNS} == network_cost(graph)
    with pytest.raises(ValidationError, match="batch_size"):
        backfill_cost(store, missing, batch_size=0)
