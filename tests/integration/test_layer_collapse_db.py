"""Layer collapse read from the store: a planted empty layer is found; a clean network and its skip connection are not."""

from __future__ import annotations

import contextlib
import json
import secrets

import numpy as np
import torch
from torch import nn

from prunegraph.analysis.sparsity_curves import COLLAPSE_REASONS, collapse_in_store
from prunegraph.errors import NotFoundError
from prunegraph.loader import export as ex
from prunegraph.loader.encoding import encode
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries import data_model as dm
from prunegraph.queries.store import Store


class Tiny(nn.Module):
    """conv(1->2, 3x3, pad 1) -> conv(2->2, 3x3, pad 1) plus a skip connection -> linear(32->4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, padding=1)
        self.conv2 = nn.Conv2d(2, 2, 3, padding=1)
        self.fc = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x))
        h = torch.relu(self.conv2(h) + h)  # the skip connection: a block without weights
        return self.fc(torch.flatten(h, 1))


def _export(store: Store, study: str, seed: int, *, empty: str | None) -> str:
    torch.manual_seed(seed)
    model = Tiny()
    rng = np.random.default_rng(seed)
    masks = {
        n: rng.random(tuple(p.shape)) < 0.6
        for n, p in model.named_parameters()
        if n.endswith("weight")
    }
    if empty is not None:
        masks[empty][:] = False  # the whole layer pruned: the network is cut there
    record = NetworkRecord(
        network_id=secrets.token_hex(8),
        study=study,
        architecture="tiny",
        dataset="synthetic",
        pruner="synflow" if empty else "snip",
        pruner_category="pai",
        sparsity=0.9,
        seed=seed,
        input_shape=(1, 4, 4),
        acc_dense=0.9,
        acc_sparse=0.1 if empty else 0.8,
    )
    ex.export_network(store, encode(model, masks, (1, 4, 4)), record=record, progress=False)
    return record.network_id


def test_a_planted_empty_layer_is_found_in_the_store(store: Store, unique_name: str) -> None:
    study = f"{unique_name}_collapse"
    try:
        cut = _export(store, study, 0, empty="conv2.weight")
        clean = _export(store, study, 1, empty=None)
        kinds = set(store.query_df("layer_metrics", study=study)["kind"])
        assert "skip" in kinds  # stored, and not taken for a collapsed layer below
        records = collapse_in_store(store, study)
        assert [r["network_id"] for r in records] == [cut]
        assert records[0]["layer_name"] == "conv2"
        assert records[0]["reason"] == COLLAPSE_REASONS["density_zero"]
        assert records[0]["label"] == "tiny/synthetic/synflow/s=0.9/seed=0"
        assert collapse_in_store(store, study, network_ids=[clean]) == []
    finally:
        with contextlib.suppress(NotFoundError):
            dm.delete_study(store, study)


def test_the_study_run_records_the_check_in_run_json(tiny_run) -> None:
    summary = tiny_run["summary"]
    log = json.loads((tiny_run["out"] / "run.json").read_text())
    assert "layer_collapse" in log
    assert log["layer_collapse"] == summary.layer_collapse
    assert log["runs"][-1]["layer_collapse"] == summary.layer_collapse
    warned = [line for line in summary.format().splitlines() if "layer collapse" in line]
    assert len(warned) == (1 if summary.layer_collapse else 0)
