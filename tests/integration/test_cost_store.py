"""The network's cost (params, non-zero params, FLOPs) stored on Network and Layer nodes, read back."""

from __future__ import annotations

import contextlib
import secrets
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from prunegraph.analysis.features import COST_COLUMNS, load_features
from prunegraph.errors import NotFoundError
from prunegraph.loader import export as ex
from prunegraph.loader.cost import layer_costs, network_cost
from prunegraph.loader.encoding import encode
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries import data_model as dm
from prunegraph.queries.store import Store


class Tiny(nn.Module):
    """conv(1->2, 3x3, pad 1) -> maxpool 2 -> conv(2->3, 3x3, stride 2, pad 1) -> linear(12->4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(2, 3, 3, stride=2, padding=1)
        self.fc = nn.Linear(12, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


@pytest.fixture
def study(store: Store, unique_name: str):
    name = f"{unique_name}_cost"
    yield name
    with contextlib.suppress(NotFoundError):
        dm.delete_study(store, name)


def _graph(seed: int, density: float):
    torch.manual_seed(seed)
    model = Tiny()
    rng = np.random.default_rng(seed)
    masks = {
        n: rng.random(tuple(p.shape)) < density
        for n, p in model.named_parameters()
        if n.endswith("weight")
    }
    return encode(model, masks, (1, 6, 6))


@pytest.mark.parametrize("level", ["summary", "full"])
def test_stored_cost_equals_the_computed_one(store: Store, study: str, level: str) -> None:
    graphs = [_graph(0, 0.3), _graph(1, 0.7)]
    ids = []
    for seed, graph in enumerate(graphs):
        rec = NetworkRecord(
            network_id=secrets.token_hex(8),
            study=study,
            architecture="tiny",
            dataset="synthetic",
            pruner="random",
            pruner_category="pai",
            sparsity=0.5,
            seed=seed,
            input_shape=(1, 6, 6),
            acc_dense=0.9,
            acc_sparse=0.8 + 0.05 * seed,
        )
        ex.export_network(store, graph, record=rec, level=level, progress=False)
        ids.append(rec.network_id)

    for network_id, graph in zip(ids, graphs, strict=True):
        props = dm.get_network(store, network_id)
        assert {k: props[k] for k in COST_COLUMNS} == network_cost(graph)
        assert props["flops_dense"] == 912 and props["params"] == 120

    layers = store.query_df("layer_metrics", study=study)
    costs = {network_id: layer_costs(g) for network_id, g in zip(ids, graphs, strict=True)}
    assert len(layers) == 6
    for row in layers.itertuples():
        for name in COST_COLUMNS:
            assert row.props[name] == costs[row.network_id][name][row.layer]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load_features(store, study=study)
    data = table.data.set_index("network_id")
    for network_id, graph in zip(ids, graphs, strict=True):
        assert {k: int(data.loc[network_id, k]) for k in COST_COLUMNS} == network_cost(graph)
    assert data["params_nonzero"].nunique() == 2


def test_study_run_writes_cost_and_weights_columns(store: Store, tiny_run) -> None:
    import pandas as pd

    from prunegraph.analysis.weights import WEIGHT_COLUMNS

    assert tiny_run["summary"].analysis_error is None
    features = pd.read_csv(tiny_run["out"] / "report" / "features.csv")
    assert set(COST_COLUMNS) <= set(features.columns)
    assert (features["params_nonzero"] < features["params"]).all()
    assert (features["flops_sparse"] < features["flops_dense"]).all()
    # trained study: every network has its weight statistics (constant ones may be dropped)
    present = [c for c in WEIGHT_COLUMNS if c in features.columns]
    assert len(present) >= 10 and features[present].notna().all().all()
    stored = dm.get_network(store, str(features["network_id"].iloc[0]))
    assert {k: stored[k] for k in COST_COLUMNS} == {
        k: int(features[k].iloc[0]) for k in COST_COLUMNS
    }
