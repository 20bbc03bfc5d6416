"""A network left in 'deleting' (a delete that died half-way) is finished by a retry or re-export."""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from _graphs import mlp

from prunegraph.errors import NotFoundError
from prunegraph.loader import export as ex
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries import data_model as dm
from prunegraph.queries.library import load_query


def _record(study: str, graph: Any) -> NetworkRecord:
    return NetworkRecord(
        network_id=secrets.token_hex(8),
        study=study,
        architecture="toy",
        dataset="synthetic",
        pruner="random",
        pruner_category="pai",
        sparsity=0.5,
        seed=0,
        input_shape=tuple(graph.partitions[0].shape),
    )


def _half_delete(store: Any, network_id: str) -> None:
    """What a delete that died after its first unit batch leaves behind."""
    store.run(load_query("delete_mark_network").text, {"network_id": network_id})
    query = load_query(dm.graph_family("mge").delete_query).text
    store.run(query, {"network_id": network_id, "batch_size": 3})


def test_a_half_deleted_network_is_finished_by_a_retry_and_redone_by_export(
    store: Any, unique_name: str
) -> None:
    study = f"{unique_name}_safety_delete"
    graph = mlp(seed=3)
    try:
        record = _record(study, graph)
        ex.export_network(store, graph, record=record, level="full", progress=False)
        full = dm.verify(store, record.network_id)
        _half_delete(store, record.network_id)
        assert dm.network_state(store, record.network_id)["status"] == dm.DELETING
        # exporting the same network again redoes it completely (nothing half-deleted kept)
        result = ex.export_network(store, graph, record=record, level="full", progress=False)
        assert result.action == "redone"
        assert dm.verify(store, record.network_id) == full
        assert dm.network_state(store, record.network_id)["status"] == dm.COMPLETE
        # a delete that died half-way is finished by the next delete, in tiny batches too
        _half_delete(store, record.network_id)
        counts = dm.delete_network(store, record.network_id, batch_size=2)
        assert counts["networks"] == 1
        assert dm.network_state(store, record.network_id) is None
    finally:
        with contextlib.suppress(NotFoundError):
            dm.delete_study(store, study)
