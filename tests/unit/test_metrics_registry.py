"""The metric registry: one registration makes a metric known to both engines and the features.

The worked example of ``docs/metrics.md`` ("Adding a metric"): a toy metric
is one function plus one registration; nothing else is edited.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from _metric_graphs import build, full, mlp_232

from prunegraph.errors import UnknownNameError, ValidationError
from prunegraph.queries import metric_names
from prunegraph.queries.gds_metrics import database_metrics
from prunegraph.queries.metric_registry import (
    DEFINITIONS,
    METRICS,
    DatabaseImpl,
    LayerContext,
    MetricContext,
    database_names,
    register_metric,
    remove_metric,
)
from prunegraph.queries.metrics import compute_metrics, property_names, wide

NETWORK_ID = "00000000000000aa"


@pytest.fixture
def toy() -> Iterator[None]:
    """Register a toy network metric (with a database implementation) and a toy layer metric."""

    @register_metric(
        "toy_nodes",
        section="A",
        database=DatabaseImpl(
            "metric_local_counts",
            lambda row, info: float(row["n_nodes"]),
            params=lambda info: {"last_partition": int(info["n_partitions"]) - 1},
        ),
    )
    def toy_nodes(ctx: MetricContext) -> float:
        """Number of nodes."""
        return float(ctx.graph.n_nodes)

    @register_metric("toy_left", section="B", scope="layer")
    def toy_left(layer: LayerContext) -> float:
        """Left-side units of the layer."""
        return float(layer.n_left)

    try:
        yield
    finally:
        remove_metric("toy_nodes")
        remove_metric("toy_left")


class RecordingStore:
    """Answers the metric engine's library queries for one stored MGE and records them."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.gds = None

    def run(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - never called
        raise AssertionError("the metric engine must use library queries only")

    def query(self, name: str, /, **params: Any) -> list[dict[str, Any]]:
        self.calls.append((name, params))
        if name == "metric_network_info":
            return [
                {
                    "level": "full",
                    "n_nodes": self.graph.n_nodes,
                    "n_edges": self.graph.n_edges,
                    "n_partitions": self.graph.n_partitions,
                }
            ]
        if name == "metric_local_counts":
            counts = dict.fromkeys(("sink", "source", "disconnected", "r_out", "r_in"), 0)
            return [{"n_nodes": self.graph.n_nodes, "n1": 12 / 7, **counts}]
        raise AssertionError(f"unexpected query {name}")


def test_toy_metric_reaches_the_in_process_engine(toy):
    df = compute_metrics(mlp_232(), network_id=NETWORK_ID)
    values = dict(zip(df["metric"], df["value"], strict=True))
    assert values["toy_nodes"] == 7
    assert df.loc[df["metric"] == "toy_nodes", "engine"].item() == "numpy"
    rolled = build([3, 4], [(0, 1, full(3, 4), None, "conv")], kind="rolled")
    r = compute_metrics(rolled)
    assert r.set_index("metric").loc["rolled_toy_nodes", "value"] == 7
    per_layer = r[r["metric"] == "toy_left"]
    assert list(per_layer["layer"]) == [0] and list(per_layer["value"]) == [3.0]
    assert r.set_index("metric").loc["mean_toy_left", "value"] == 3.0
    ch = build([3, 4], [(0, 1, full(3, 4), None, "conv")], kind="rolled_channel")
    assert compute_metrics(ch, metrics=["mean_ch_toy_left"])["value"].tolist() == [3.0]


def test_toy_metric_reaches_the_database_engine(toy):
    graph = mlp_232()
    assert "toy_nodes" in database_names() and METRICS["toy_nodes"].database
    store = RecordingStore(graph)
    rows = database_metrics(store, NETWORK_ID, ["toy_nodes", "sink", "n1"])
    assert [r["metric"] for r in rows] == ["toy_nodes", "sink", "n1"]
    assert [r["value"] for r in rows] == [7.0, 0.0, 12 / 7]
    assert {r["engine"] for r in rows} == {"cypher"}
    # The three metrics share one run of their query.
    local = [p for name, p in store.calls if name == "metric_local_counts"]
    assert local == [{"label": f"N_{NETWORK_ID}", "last_partition": 2}]


def test_toy_metric_reaches_names_whitelist_and_feature_table(toy):
    from prunegraph.analysis.features import feature_set_columns, metric_columns

    assert "toy_nodes" in metric_names.SECTION_A and "toy_left" in metric_names.SECTION_B
    assert {"toy_nodes", "rolled_toy_nodes", "ch_toy_nodes", "toy_left", "mean_ch_toy_left"} <= (
        property_names()
    )
    table = wide(compute_metrics(mlp_232(), network_id=NETWORK_ID)).reset_index()
    assert "toy_nodes" in feature_set_columns("mge", table.columns)
    assert "toy_nodes" in feature_set_columns("all", table.columns)
    assert "toy_nodes" in metric_columns(pd.DataFrame(columns=[*table.columns, "other"]))
    assert "rolled_toy_nodes" in feature_set_columns("rolled", ["rolled_toy_nodes"])
    assert "mean_toy_left" in feature_set_columns("ramanujan", ["mean_toy_left"])


def test_removed_metric_is_gone_everywhere(toy):
    remove_metric("toy_nodes")
    try:
        assert "toy_nodes" not in DEFINITIONS and "rolled_toy_nodes" not in METRICS
        assert "toy_nodes" not in metric_names.SECTION_A
        with pytest.raises(UnknownNameError, match="toy_nodes"):
            compute_metrics(mlp_232(), metrics=["toy_nodes"])
    finally:
        register_metric("toy_nodes", section="A")(lambda ctx: 0.0)


def test_registration_is_validated():
    with pytest.raises(ValidationError, match="registered twice"):
        register_metric("kcore", section="A")(lambda ctx: 0.0)
    with pytest.raises(ValidationError, match="'section'"):
        register_metric("toy_bad", section="E")(lambda ctx: 0.0)
    with pytest.raises(ValidationError, match="'graphs'"):
        register_metric("toy_bad", section="B", scope="layer", graphs=["mge"])(lambda c: 0.0)
    with pytest.raises(ValidationError, match="database implementation"):
        register_metric(
            "toy_bad",
            section="B",
            scope="layer",
            database=DatabaseImpl("metric_gds_kcore", lambda r, i: 0.0),
        )(lambda c: 0.0)
    with pytest.raises(ValidationError, match="'projection'"):
        DatabaseImpl("metric_gds_kcore", lambda r, i: 0.0, projection="SIDEWAYS")
    assert "toy_bad" not in DEFINITIONS


def test_exact_metric_returning_a_standard_error_is_refused():
    from prunegraph.queries.motifs import Estimate

    register_metric("toy_liar", section="A")(lambda ctx: Estimate(1.0, se=0.1))
    try:
        with pytest.raises(ValidationError, match="registered as exact"):
            compute_metrics(mlp_232(), metrics=["toy_liar"])
    finally:
        remove_metric("toy_liar")


def test_every_builtin_metric_is_registered_once_with_its_code():
    assert metric_names.SECTION_A[:2] == ("sink", "source") and len(metric_names.SECTION_A) == 17
    assert len(metric_names.SECTION_B) == 8 and len(metric_names.SECTION_D) == 7
    assert metric_names.SECTION_C == ("stability_jaccard", "stability_overlap")
    for metric in DEFINITIONS.values():
        assert callable(metric.compute) and metric.compute.__doc__, metric.name
    sampled = {m.name for m in DEFINITIONS.values() if m.sampled}
    assert sampled == {"n2", "motif4"}
