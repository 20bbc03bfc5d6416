"""The database engine: GDS on a native projection of one stored network, plus Cypher.

For a network stored at level ``full`` (units ``(:Unit:N_<id>)``, relationships
``CONV|LINEAR|SKIP|POOLED_CONV|POOLED_LINEAR {w}``):

* ``gds.wcc`` (components; ``component_size = |V| / components``),
  ``gds.kcore`` (mean core number), ``gds.bridges`` (cut_edges) and
  ``gds.articulationPoints`` (cut_nodes) on an UNDIRECTED projection with
  ``aggregation: 'SINGLE'`` (the simple undirected graph);
* ``gds.degree`` with ``orientation: 'REVERSE'`` weighted by ``w`` (strength)
  on a NATURAL projection;
* Cypher for ``sink, source, disconnected, r_out, r_in, n1`` from unit degrees
  (``queries/cypher/metric_local_counts.cypher``).

Projections are context managers that drop themselves, also on error.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prunegraph.errors import ValidationError
from prunegraph.loader.records import validate_network_id

if TYPE_CHECKING:
    from prunegraph.queries.store import Store

REL_TYPES = ("CONV", "LINEAR", "SKIP", "POOLED_CONV", "POOLED_LINEAR")
CYPHER_METRICS = ("sink", "source", "disconnected", "r_out", "r_in", "n1")
UNDIRECTED_METRICS = ("components", "component_size", "kcore", "cut_edges", "cut_nodes")
NATURAL_METRICS = ("strength",)
_GRAPH_NAME = re.compile(r"^prunegraph_[a-z]+_[0-9a-f]{16}_[0-9a-f]{8}$")


def relationship_types(store: Store, network_id: str) -> list[str]:
    """The whitelisted relationship types the network's layers use."""
    rows = store.query("metric_layer_types", network_id=network_id)
    types = sorted({r["rel_type"] for r in rows if r.get("rel_type")})
    if not types:  # Layer nodes missing (older or partial exports): ask the units
        rows = store.query("metric_unit_rel_types", label=f"N_{network_id}")
        types = sorted({r["rel_type"] for r in rows})
    bad = [t for t in types if t not in REL_TYPES]
    if bad:
        raise ValidationError(f"Unknown relationship types {bad} on network {network_id}.")
    return types


@contextmanager
def projection(
    store: Store, network_id: str, orientation: str, *, weighted: bool = False
) -> Iterator[str]:
    """Project one network's MGE natively into the GDS catalog; drop it on exit (also on error).

    ``orientation`` is ``'UNDIRECTED'`` (simple graph: parallel relationships
    merged) or ``'NATURAL'`` (weighted with ``w`` when ``weighted``).
    Yields the projection's name.
    """
    validate_network_id(network_id, where="projection")
    if orientation not in ("UNDIRECTED", "NATURAL"):
        raise ValidationError(
            f"The 'orientation' parameter of projection must be 'UNDIRECTED' or 'NATURAL'. "
            f"Got {orientation!r} instead."
        )
    types = relationship_types(store, network_id)
    spec: dict[str, Any] = {}
    for t in types:
        entry: dict[str, Any] = {"type": t, "orientation": orientation}
        if orientation == "UNDIRECTED":
            entry["aggregation"] = "SINGLE"
        if weighted:
            entry["properties"] = {"w": {"property": "w", "defaultValue": 0.0}}
        spec[t] = entry
    if not spec:  # a network without edges still has its units
        spec = {"ALL": {"type": "*", "orientation": orientation}}
    name = f"prunegraph_{orientation.lower()}_{network_id}_{uuid.uuid4().hex[:8]}"
    assert _GRAPH_NAME.match(name)
    store.query("metric_gds_project", graph_name=name, label=f"N_{network_id}", relationships=spec)
    try:
        yield name
    finally:
        store.query("metric_gds_drop", graph_name=name)


def database_metrics(
    store: Store,
    network_id: str,
    metrics: Sequence[str],
    *,
    info: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Long-table rows (without network_id) for the database-implemented ``metrics``."""
    validate_network_id(network_id, where="database_metrics")
    wanted = list(metrics)
    unsupported = [
        m for m in wanted if m not in CYPHER_METRICS + UNDIRECTED_METRICS + NATURAL_METRICS
    ]
    if unsupported:
        raise ValidationError(f"No database implementation for metrics {unsupported}.")
    if info is None:
        rows = store.query("metric_network_info", network_id=network_id)
        if not rows:
            from prunegraph.errors import NotFoundError

            raise NotFoundError(f"No network '{network_id}' in the store.")
        info = rows[0]
    if info.get("level") != "full":
        raise ValidationError(
            f"The database engine needs network {network_id} stored at level 'full' "
            f"(it is at {info.get('level')!r})."
        )
    out: list[dict[str, Any]] = []

    def add(metric: str, value: float | None, engine: str) -> None:
        if metric in wanted:
            out.append(
                {
                    "graph": "mge",
                    "layer": None,
                    "metric": metric,
                    "value": value,
                    "se": None,
                    "engine": engine,
                }
            )

    if any(m in wanted for m in CYPHER_METRICS):
        last = int(info["n_partitions"]) - 1
        r = store.query("metric_local_counts", label=f"N_{network_id}", last_partition=last)[0]
        for m in CYPHER_METRICS:
            add(m, None if r[m] is None else float(r[m]), "cypher")
    if any(m in wanted for m in UNDIRECTED_METRICS):
        with projection(store, network_id, "UNDIRECTED") as g:
            if "components" in wanted or "component_size" in wanted:
                comps = store.query("metric_gds_wcc", graph_name=g)[0]["components"]
                add("components", float(comps), "gds")
                n_nodes = int(info["n_nodes"])
                add("component_size", n_nodes / comps if comps else None, "gds")
            if "kcore" in wanted:
                add("kcore", store.query("metric_gds_kcore", graph_name=g)[0]["kcore"], "gds")
            if "cut_edges" in wanted:
                add(
                    "cut_edges",
                    float(store.query("metric_gds_bridges", graph_name=g)[0]["cut_edges"]),
                    "gds",
                )
            if "cut_nodes" in wanted:
                add(
                    "cut_nodes",
                    float(store.query("metric_gds_articulation", graph_name=g)[0]["cut_nodes"]),
                    "gds",
                )
    if "strength" in wanted:
        with projection(store, network_id, "NATURAL", weighted=True) as g:
            r = store.query(
                "metric_gds_degree",
                graph_name=g,
                config={"orientation": "REVERSE", "relationshipWeightProperty": "w"},
            )[0]
            add("strength", r["mean_degree"], "gds")
    order = {m: i for i, m in enumerate(wanted)}
    return sorted(out, key=lambda row: order[row["metric"]])
