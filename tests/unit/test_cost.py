"""Cost of a network (parameters, non-zero parameters, FLOPs as multiply-accumulates), hand-counted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from prunegraph.errors import ValidationError
from prunegraph.loader.cost import COST_COLUMNS, layer_costs, network_cost
from prunegraph.loader.encoding import encode


class Tiny(nn.Module):
    """conv(1->2, 3x3, pad 1) -> maxpool 2 -> conv(2->3, 3x3, stride 2, pad 1) -> linear(12->4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(2, 3, 3, stride=2, padding=1)
        self.fc = nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))  # (2, 6, 6) -> (2, 3, 3)
        x = torch.relu(self.conv2(x))  # (3, 2, 2)
        return self.fc(torch.flatten(x, 1))


def _masks(model: nn.Module) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    masks = {}
    for name, p in model.named_parameters():
        if name.endswith("weight"):
            m = rng.random(tuple(p.shape)) < 0.5
            m.flat[0] = True
            masks[name] = m
    return masks


def test_tiny_conv_linear_hand_counts():
    torch.manual_seed(0)
    model = Tiny()
    masks = _masks(model)
    graph = encode(model, masks, (1, 6, 6))
    costs = layer_costs(graph)
    kept = [int(masks[k].sum()) for k in ("conv1.weight", "conv2.weight", "fc.weight")]
    # by hand: conv1 18 weights at 6*6 outputs, conv2 54 weights at 2*2, fc 48 weights at 1
    assert costs["params"].tolist() == [18, 54, 48]
    assert costs["positions"].tolist() == [36, 4, 1]
    assert costs["flops_dense"].tolist() == [648, 216, 48]
    assert costs["params_nonzero"].tolist() == kept
    assert costs["flops_sparse"].tolist() == [36 * kept[0], 4 * kept[1], kept[2]]
    total = network_cost(graph)
    assert list(total) == list(COST_COLUMNS)
    assert total == {
        "params": 120,
        "params_nonzero": sum(kept),
        "flops_dense": 912,
        "flops_sparse": 36 * kept[0] + 4 * kept[1] + kept[2],
    }
    # padding positions draw no MGE edge: fewer edges than MACs for the padded conv1; conv2
    # reads a pooled tensor, whose edges are replicated over the 2x2 windows (more edges)
    assert graph.blocks[0].n_edges < costs["flops_sparse"][0]
    assert graph.blocks[1].pool is not None
    assert graph.blocks[1].n_edges > costs["flops_sparse"][1]


def test_dense_is_sparse_when_nothing_is_masked():
    graph = encode(Tiny(), None, (1, 6, 6))
    total = network_cost(graph)
    assert total["params"] == total["params_nonzero"] == 120
    assert total["flops_dense"] == total["flops_sparse"] == 912


@pytest.mark.parametrize("stride", [1, 2])
def test_mge_edge_count_is_the_sparse_mac_count_without_padding(stride):
    # no padding, no pooling before the layer: every MAC is one MGE edge
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, stride=stride), nn.ReLU(), nn.Conv2d(3, 2, 2))
    masks = _masks(model)
    graph = encode(model, masks, (2, 9, 9))
    costs = layer_costs(graph)
    assert costs["flops_sparse"].tolist() == [b.n_edges for b in graph.blocks]
    out1 = (9 - 3) // stride + 1
    assert costs["positions"].tolist() == [out1 * out1, (out1 - 1) ** 2]


def test_grouped_conv_counts_weights_per_group():
    model = nn.Sequential(nn.Conv2d(4, 6, 3, groups=2, bias=False))
    graph = encode(model, None, (4, 5, 5))
    costs = layer_costs(graph)
    assert costs["params"].tolist() == [6 * 2 * 9]
    assert costs["flops_dense"].tolist() == [6 * 2 * 9 * 9]
    assert costs["flops_sparse"].tolist() == [graph.blocks[0].n_edges]


def test_skip_blocks_cost_nothing():
    from prunegraph.loader import models

    graph = encode(
        models.build_model("resnet20", input_shape=(3, 8, 8), num_classes=10), None, (3, 8, 8)
    )
    costs = layer_costs(graph)
    skip = np.array([b.kind == "skip" for b in graph.blocks])
    assert skip.any()
    for name in COST_COLUMNS:
        assert (costs[name][skip] == 0).all()
        assert (costs[name][~skip] > 0).all()


def test_rolled_graph_is_refused():
    graph = encode(Tiny(), None, (1, 6, 6), kind="rolled")
    with pytest.raises(ValidationError, match="needs the MGE"):
        layer_costs(graph)
    with pytest.raises(ValidationError, match="needs the MGE"):
        network_cost("not a graph")  # type: ignore[arg-type]


def _record(graph, **kw):
    from prunegraph.loader.records import NetworkRecord

    fields = dict(
        network_id="0123456789abcdef",
        study="s",
        architecture="tiny",
        dataset="d",
        pruner="p",
        pruner_category="pai",
        sparsity=0.5,
        seed=0,
        input_shape=tuple(graph.partitions[0].shape),
    )
    fields.update(kw)
    return NetworkRecord(**fields)


def _csv_rows(directory, name):
    import csv

    header = (directory / f"{name}.header.csv").read_text().strip().split(",")
    with (directory / f"{name}.csv").open() as fh:
        return [dict(zip(header, row, strict=True)) for row in csv.reader(fh)]


def test_bulk_files_carry_the_cost(tmp_path):
    from prunegraph.loader import bulk

    torch.manual_seed(0)
    model = Tiny()
    graph = encode(model, _masks(model), (1, 6, 6))
    bulk.write_bulk_files([bulk.BulkNetwork(_record(graph), graph, "summary")], tmp_path / "b")
    total = network_cost(graph)
    (network,) = _csv_rows(tmp_path / "b", "networks")
    assert {k: int(network[f"{k}:long"]) for k in COST_COLUMNS} == total
    layers = _csv_rows(tmp_path / "b", "layers")
    costs = layer_costs(graph)
    for name in COST_COLUMNS:
        assert [int(row[f"{name}:long"]) for row in layers] == costs[name].tolist()
    assert total["flops_dense"] == 912


def test_layer_and_graph_properties_carry_the_cost():
    from prunegraph.queries import data_model as dm

    torch.manual_seed(0)
    model = Tiny()
    graph = encode(model, _masks(model), (1, 6, 6))
    props = dm.graph_properties(graph)
    assert {k: props[k] for k in COST_COLUMNS} == network_cost(graph)
    rows = dm.layer_properties("0123456789abcdef", graph)
    assert [r["flops_dense"] for r in rows] == [648, 216, 48]
    assert [r["params"] for r in rows] == [r["n_weights"] for r in rows]
    assert [r["params_nonzero"] for r in rows] == [r["n_unmasked"] for r in rows]


def test_shared_and_concatenated_weights_count_once_in_params():
    from test_encoding import DenseBlock, SharedConv

    # one conv (36 weights) applied twice at 3x4 outputs, a token-wise linear (6 weights)
    # applied at 12 positions, fc 72 weights: params count the conv once, FLOPs twice
    shared = network_cost(encode(SharedConv(), None, (2, 3, 4)))
    assert shared == {
        "params": 36 + 6 + 72,
        "params_nonzero": 36 + 6 + 72,
        "flops_dense": 2 * 36 * 12 + 6 * 12 + 72,
        "flops_sparse": 2 * 36 * 12 + 6 * 12 + 72,
    }
    # c2 (8 weights) reads a concatenation: two blocks of 4 weights each, summed
    torch.manual_seed(0)
    model = DenseBlock()
    masks = _masks(model)
    graph = encode(model, masks, (1, 3, 4))
    total = network_cost(graph)
    assert total["params"] == sum(m.size for m in masks.values()) == 18 + 36 + 8 + 48
    assert total["params_nonzero"] == sum(int(m.sum()) for m in masks.values())
    assert total["flops_dense"] == (18 + 36 + 8) * 12 + 48
