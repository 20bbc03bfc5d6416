"""The database engine: GDS on a native projection of one stored network, plus Cypher.

For a network stored at level ``full`` (units ``(:Unit:N_<id>)``, relationships
``CONV|LINEAR|SKIP|POOLED_CONV|POOLED_LINEAR {w}``):

which metrics run here, and how, is each metric's registered
:class:`~prunegraph.queries.metric_registry.DatabaseImpl` (a library query, the
projection it runs on, and how its row becomes the value). Built in:

* ``gds.wcc`` (components; ``component_size = |V| / components``),
  ``gds.kcore`` (mean core number), ``gds.bridges`` (cut_edges) and
  ``gds.articulationPoints`` (cut_nodes) on an UNDIRECTED projection with
  ``aggregation: 'SINGLE'`` (the simple undirected graph);
* ``gds.degree`` with ``orientation: 'REVERSE'`` weighted by ``w`` (strength)
  on a NATURAL projection;
* Cypher for ``sink, source, disconnected, r_out, r_in, n1`` from unit degrees
  (``queries/cypher/metric_local_counts.cypher``).

Metrics sharing a projection share one projection, and metrics sharing a
query one run of it. Projections are context managers that drop themselves,
also on error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prunegraph.errors import ValidationError
from prunegraph.loader.records import validate_network_id
from prunegraph.queries.data_model import LEVELS, MGE, MGE_REL_TYPES, network_label
from prunegraph.queries.metric_registry import DEFINITIONS, DatabaseImpl

if TYPE_CHECKING:
    from prunegraph.queries.store import Store

REL_TYPES = MGE_REL_TYPES  # the MGE's relationship types (the data model's)
_GRAPH_NAME = re.compile(r"^prunegraph_[a-z]+(?:_w)?_[0-9a-f]{16}$")


def relationship_types(store: Store, network_id: str) -> list[str]:
    """The whitelisted relationship types the network's layers use."""
    rows = store.query("metric_layer_types", network_id=network_id)
    types = sorted({r["rel_type"] for r in rows if r.get("rel_type")})
    if not types:  # Layer nodes missing (older or partial exports): ask the units
        rows = store.query("metric_unit_rel_types", label=network_label(network_id))
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
    # Deterministic per network: a projection left by a killed run is replaced here, and
    # swept by name when the study's next run starts (prunegraph.study.lock).
    name = f"prunegraph_{orientation.lower()}{'_w' if weighted else ''}_{network_id}"
    assert _GRAPH_NAME.match(name)
    store.query("metric_gds_drop", graph_name=name)
    store.query(
        "metric_gds_project", graph_name=name, label=network_label(network_id), relationships=spec
    )
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
    """Long-table rows (without network_id) for the database-implemented ``metrics``.

    Loops over the metrics' registered database implementations, grouped by
    projection (``None`` first: plain Cypher over the units) and by query.
    """
    validate_network_id(network_id, where="database_metrics")
    wanted = list(dict.fromkeys(metrics))
    unsupported = [m for m in wanted if m not in DEFINITIONS or DEFINITIONS[m].database is None]
    if unsupported:
        raise ValidationError(f"No database implementation for metrics {unsupported}.")
    if info is None:
        rows = store.query("metric_network_info", network_id=network_id)
        if not rows:
            from prunegraph.errors import NotFoundError

            raise NotFoundError(f"No network '{network_id}' in the store.")
        info = rows[0]
    if not (info.get("level") in LEVELS and MGE.stored_at(info["level"])):
        raise ValidationError(
            f"The database engine needs network {network_id} stored at level '{MGE.min_level}' "
            f"(it is at {info.get('level')!r})."
        )
    impls: dict[str, DatabaseImpl] = {}
    for m in wanted:
        impl = DEFINITIONS[m].database
        assert impl is not None
        impls[m] = impl
    # Projections in a fixed order (plain Cypher, undirected, natural), queries by first use.
    groups: dict[tuple[str | None, bool], list[str]] = {}
    for m in sorted(wanted, key=lambda m: _PROJECTION_ORDER.index(impls[m].projection)):
        groups.setdefault((impls[m].projection, impls[m].weighted), []).append(m)
    out: list[dict[str, Any]] = []
    for (orientation, weighted), names in groups.items():
        if orientation is None:
            _run_queries(store, names, impls, info, {"label": network_label(network_id)}, out)
        else:
            with projection(store, network_id, orientation, weighted=weighted) as g:
                _run_queries(store, names, impls, info, {"graph_name": g}, out)
    order = {m: i for i, m in enumerate(wanted)}
    return sorted(out, key=lambda row: order[row["metric"]])


_PROJECTION_ORDER: tuple[str | None, ...] = (None, "UNDIRECTED", "NATURAL")


def _run_queries(
    store: Store,
    names: list[str],
    impls: dict[str, DatabaseImpl],
    info: dict[str, Any],
    base: dict[str, Any],
    out: list[dict[str, Any]],
) -> None:
    """Run each distinct (query, parameters) once and read every metric's value off its row."""
    results: dict[str, dict[str, Any]] = {}
    for m in names:
        impl = impls[m]
        params = {**base, **(impl.params(info) if impl.params is not None else {})}
        key = json.dumps([impl.query, params], sort_keys=True, default=str)
        if key not in results:
            rows = store.query(impl.query, **params)
            if not rows:
                raise ValidationError(f"Query '{impl.query}' returned no row for metric {m!r}.")
            results[key] = rows[0]
        out.append(
            {
                "graph": "mge",
                "layer": None,
                "metric": m,
                "value": impl.value(results[key], info),
                "se": None,
                "engine": impl.engine,
            }
        )
