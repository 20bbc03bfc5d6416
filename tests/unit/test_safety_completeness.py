"""Re-runs skip what is done: the resume check uses the keys the metric engine records."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from prunegraph.loader.encoding import encode
from prunegraph.queries.metrics import compute_metrics, write_metrics
from prunegraph.study.config import NetworkSpec
from prunegraph.study.run import is_complete, network_level_metrics

NETWORK_ID = "0123456789abcdef"


class _RecordingStore:
    """Records the Network properties write_metrics sets (the engine's own write path)."""

    def __init__(self) -> None:
        self.props: dict[str, Any] = {}

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        if name == "metric_network_info":
            return [{"metric_engines": None, "metric_estimators": None}]
        if name == "metric_write_network":
            self.props.update(params["props"])
        return [{"updated": 1}]


def _graphs() -> dict[str, Any]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))
    rng = np.random.default_rng(0)
    masks = {
        "0.weight": rng.random((3, 1, 3, 3)) < 0.6,
        "3.weight": rng.random((4, 48)) < 0.6,
    }
    kinds = ("mge", "rolled", "rolled_channel")
    return {kind: encode(model, masks, (1, 6, 6), kind=kind) for kind in kinds}


@pytest.mark.parametrize(
    "names",
    [
        ["layer_density"],
        ["layer_density", "kcore"],
        ["mean_layer_density"],
        ["kcore", "ch_layer_density"],
    ],
)
def test_what_the_engine_writes_counts_as_complete(names: list[str]) -> None:
    df = compute_metrics(_graphs(), NETWORK_ID, metrics=names, write=False)
    store = _RecordingStore()
    write_metrics(store, df)  # type: ignore[arg-type]
    row = {
        "status": "complete",
        "level": "summary",
        "metric_engines": store.props["metric_engines"],
    }
    spec = NetworkSpec(
        study="s", model="mlp", dataset="digits", pruner="random", sparsity=0.5, seed=0
    )
    assert is_complete(row, spec, network_level_metrics(names)), (
        names,
        json.loads(store.props["metric_engines"]),
    )
    # and a metric that was not computed still makes the network incomplete
    assert not is_complete(row, spec, network_level_metrics([*names, "rolled_kcore"]))
