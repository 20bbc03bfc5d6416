"""The Neo4j data model: its vocabulary, its graph families, and how it is read and removed.

This module is the one place that spells the store's labels, relationship
types, per-network labels, storage levels and network states. The writers
(:mod:`prunegraph.loader.export` streaming over Bolt, :mod:`prunegraph.loader.bulk`
writing ``neo4j-admin`` files) and every reader take them from here::

    (:Study {name})-[:HAS_NETWORK]->(:Network {network_id, ..., level, status})
    (:Network)-[:HAS_LAYER]->(:Layer {network_id, index, name, kind, rel_type, ...})
    (:Unit:L<p>:N_<id> {network_id, uid, p, i})
        -[:CONV|LINEAR|SKIP|POOLED_CONV|POOLED_LINEAR {w, layer}]->(:Unit)
    (:RolledUnit:R_<id> {network_id, uid, p, i, layer, side})-[:ROLLED {w, layer}]->(:RolledUnit)
    (:ChannelUnit:C_<id> {network_id, uid, p, i, layer, side})
        -[:ROLLED_CHANNEL {w, layer}]->(:ChannelUnit)
    (:Network)-[:SIMILAR {setting, jaccard, overlap}]->(:Network)

``SIMILAR`` holds the pairwise stability of two networks of one architecture
(:mod:`prunegraph.queries.stability`), one relationship per unordered pair and
setting, drawn from the smaller ``network_id``; deleting a network removes its
``SIMILAR`` relationships with it (``delete_network_nodes`` detaches the node).

Two registries are the extension points:

* :data:`LEVELS`, the storage levels in their one order (lowest first), and
* :data:`GRAPH_FAMILIES`, one :class:`GraphFamily` row per graph kind (MGE,
  rolled, rolled-channel): its builder, unit label, per-network label prefix,
  relationship type, lowest level that stores it, metric prefixes and its
  count, read and delete queries.

Besides the vocabulary, the reading side of the protocol lives here:
:func:`network_state`, :func:`get_network`, :func:`verify`, :func:`read_edges`
and the deletes (:func:`delete_network`, :func:`delete_study`).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from prunegraph.errors import NotFoundError, ValidationError
from prunegraph.loader.cost import COST_COLUMNS, layer_costs, network_cost
from prunegraph.loader.graph import BLOCK_KINDS
from prunegraph.loader.records import validate_network_id, validate_study_name
from prunegraph.queries.library import load_query

if TYPE_CHECKING:
    from prunegraph.loader.graph import EdgeBlock, MultipartiteGraph
    from prunegraph.queries.store import Store

# ------------------------------------------------------------------------- vocabulary

STUDY_LABEL = "Study"
NETWORK_LABEL = "Network"
LAYER_LABEL = "Layer"
HAS_NETWORK = "HAS_NETWORK"
HAS_LAYER = "HAS_LAYER"
SIMILAR = "SIMILAR"
"""Network-to-network stability relationship (``similar_write``, ``stability_by_pruner``)."""
SIMILAR_PROPERTIES: tuple[str, ...] = ("setting", "jaccard", "overlap")
"""The properties of a ``SIMILAR`` relationship: setting (``'init'``/``'data'``) and eq. 4's indices."""

LEVELS: tuple[str, ...] = ("summary", "rolled", "full")
"""Storage levels, lowest first; a higher level stores everything a lower one does.

``summary``: Study, Network and Layer nodes (and the metrics later written on
them); ``rolled``: plus the rolled graphs; ``full``: plus every unit and edge of
the MGE. To add a level, add it here in its place; a graph family is stored
from its :attr:`GraphFamily.min_level` up, so set that on the families the new
level should store (nothing else in the code lists the levels).
"""

WRITING = "writing"
"""Network state while an export (or upgrade) runs or after it was interrupted."""
COMPLETE = "complete"
"""Network state once its last batch is verified; only complete networks are listed."""
DELETING = "deleting"
"""Network state while :func:`delete_network` removes it (set by ``delete_mark_network``)."""
NETWORK_STATES: tuple[str, ...] = (WRITING, COMPLETE, DELETING)

MGE_REL_TYPES: tuple[str, ...] = ("CONV", "LINEAR", "SKIP", "POOLED_CONV", "POOLED_LINEAR")
"""Relationship types of MGE edges, one per edge-block kind (pooled kinds draw from pooled units)."""

DEFAULT_DELETE_BATCH = 5_000


@dataclass(frozen=True)
class GraphFamily:
    """One kind of graph the encoder builds and the store holds.

    To add a graph family, add a row to :data:`GRAPH_FAMILIES` (and write its
    builder, plus its ``count``/``read``/``delete`` queries and its unit
    uniqueness constraint in ``queries/cypher/``): the encoder's ``kind``
    choices, the exporters (streaming and bulk), the deletes, the read-back,
    the verification and the CLI/study choices all iterate over the table.

    Attributes
    ----------
    name : str
        The graph kind (``MultipartiteGraph.kind``, ``encode(..., kind=name)``).
    builder : str
        ``"module:function"`` of the function assembling the graph from the
        traced model: called as ``f(walker, weighted=..., meta=..., **builder_options)``.
    builder_options : tuple of (str, object)
        Extra keyword arguments of the builder.
    unit_label : str
        Base label of its unit nodes (``Unit``).
    label_prefix : str
        Per-network label prefix (``N_`` -> ``N_<network_id>``).
    rel_type : str or None
        Relationship type of all its edges; None for the MGE, whose type follows
        the edge block's kind (:func:`block_rel_type`).
    min_level : str
        Lowest storage level that stores the family's units and edges.
    stored_flag : str or None
        Boolean Network property telling the family is stored (None: implied by
        the level alone).
    metric_prefix : str
        Column prefix of its network-scope metrics (``rolled_sink``).
    layer_metric_prefix : str or None
        Column prefix of its per-layer metrics, None when it has none.
    count_query, read_query, delete_query : str
        Library queries: count its units and relationships of one network (one
        row, columns ``count_keys``), read its edges back page by page, delete
        one batch of its units.
    count_keys : tuple of (str, str)
        The count query's columns (units, relationships), keys of :func:`verify`.
    unit_file : str
        Stem of its node files in a bulk import directory (``units_<id>.csv``).
    """

    name: str
    builder: str
    unit_label: str
    label_prefix: str
    rel_type: str | None
    min_level: str
    stored_flag: str | None
    metric_prefix: str
    layer_metric_prefix: str | None
    count_query: str
    count_keys: tuple[str, str]
    read_query: str
    delete_query: str
    unit_file: str
    builder_options: tuple[tuple[str, Any], ...] = ()

    def network_label(self, network_id: str) -> str:
        """The per-network label of this family's units (``N_<id>``, ``R_<id>``, ...)."""
        return self.label_prefix + validate_network_id(network_id, where="network_label")

    def build_function(self) -> Callable[..., MultipartiteGraph]:
        """The builder, imported on first use (the encoder imports torch)."""
        module, _, attr = self.builder.partition(":")
        return getattr(importlib.import_module(module), attr)

    def stored_at(self, level: str) -> bool:
        """Whether storage level ``level`` keeps this family's units and edges."""
        return LEVELS.index(check_level(level, where="stored_at")) >= LEVELS.index(self.min_level)


GRAPH_FAMILIES: dict[str, GraphFamily] = {
    family.name: family
    for family in (
        GraphFamily(
            name="mge",
            builder="prunegraph.loader.encoding:_assemble_mge",
            unit_label="Unit",
            label_prefix="N_",
            rel_type=None,
            min_level="full",
            stored_flag=None,
            metric_prefix="",
            layer_metric_prefix=None,
            count_query="export_count_units",
            count_keys=("units", "unit_rels"),
            read_query="network_edges",
            delete_query="delete_units_batch",
            unit_file="units",
        ),
        GraphFamily(
            name="rolled",
            builder="prunegraph.loader.encoding:_assemble_rolled",
            builder_options=(("kind", "rolled"),),
            unit_label="RolledUnit",
            label_prefix="R_",
            rel_type="ROLLED",
            min_level="rolled",
            stored_flag="has_rolled",
            metric_prefix="rolled_",
            layer_metric_prefix="",
            count_query="export_count_rolled_units",
            count_keys=("rolled_units", "rolled_rels"),
            read_query="rolled_edges",
            delete_query="delete_rolled_units_batch",
            unit_file="rolled_units",
        ),
        GraphFamily(
            name="rolled_channel",
            builder="prunegraph.loader.encoding:_assemble_rolled",
            builder_options=(("kind", "rolled_channel"),),
            unit_label="ChannelUnit",
            label_prefix="C_",
            rel_type="ROLLED_CHANNEL",
            min_level="rolled",
            stored_flag="has_rolled_channel",
            metric_prefix="ch_",
            layer_metric_prefix="ch_",
            count_query="export_count_channel_units",
            count_keys=("channel_units", "channel_rels"),
            read_query="channel_edges",
            delete_query="delete_channel_units_batch",
            unit_file="channel_units",
        ),
    )
}
"""The graph families, in export order. To add a family, add a row here (see :class:`GraphFamily`)."""

GRAPH_KINDS: tuple[str, ...] = tuple(GRAPH_FAMILIES)
"""The family names (``encode``'s ``kind`` choices), in table order."""

MGE = GRAPH_FAMILIES["mge"]

REL_TYPES: frozenset[str] = frozenset(
    (*MGE_REL_TYPES, *(f.rel_type for f in GRAPH_FAMILIES.values() if f.rel_type))
)
"""The whitelist of relationship types the exporters may write."""

UNIT_LABELS: tuple[str, ...] = tuple(f.unit_label for f in GRAPH_FAMILIES.values())


def _choice(value: object, choices: tuple[str, ...], what: str, where: str) -> str:
    if isinstance(value, str) and value in choices:
        return value
    close = difflib.get_close_matches(str(value), choices, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    of = f" of {where}" if where else ""
    raise ValidationError(
        f"The '{what}' parameter{of} must be one of {', '.join(choices)}. "
        f"Got {value!r} instead.{hint}"
    )


def check_level(level: object, *, what: str = "level", where: str = "") -> str:
    """``level`` if it is a storage level, else a :class:`ValidationError` naming the choices."""
    return _choice(level, LEVELS, what, where)


def graph_family(name: object, *, what: str = "graph", where: str = "") -> GraphFamily:
    """The :class:`GraphFamily` called ``name`` (:class:`ValidationError` with a did-you-mean)."""
    return GRAPH_FAMILIES[_choice(name, GRAPH_KINDS, what, where)]


def families_at(level: str) -> tuple[GraphFamily, ...]:
    """The families a network stored at ``level`` may hold, in table order."""
    check_level(level, where="families_at")
    return tuple(f for f in GRAPH_FAMILIES.values() if f.stored_at(level))


def stored_families(state: dict[str, Any] | None) -> set[str]:
    """Names of the families a stored network holds, from its level and stored flags."""
    if not state or state.get("level") not in LEVELS:
        return set()
    return {
        f.name
        for f in families_at(state["level"])
        if f.stored_flag is None or state.get(f.stored_flag)
    }


def network_label(network_id: str) -> str:
    """``N_<network_id>``: the per-network label of MGE units (GDS projects it natively)."""
    return MGE.network_label(network_id)


def partition_label(p: int) -> str:
    """``L<p>``: the layered label of the units of partition ``p`` (``MATCH (n:L3)``)."""
    if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 0:
        raise ValidationError(f"A partition index must be a non-negative int. Got {p!r} instead.")
    return f"L{int(p)}"


def checked_rel_type(rel_type: str) -> str:
    """``rel_type`` if it is in the whitelist :data:`REL_TYPES`, else a :class:`ValidationError`."""
    if rel_type not in REL_TYPES:
        raise ValidationError(
            f"Relationship type {rel_type!r} is not in the store's whitelist {sorted(REL_TYPES)}."
        )
    return rel_type


def block_rel_type(block: EdgeBlock) -> str:
    """Relationship type of an MGE edge block: CONV, LINEAR, SKIP, or POOLED_CONV/POOLED_LINEAR
    when the block draws from pooled units."""
    if block.kind not in BLOCK_KINDS:
        raise ValidationError(
            f"Edge block {block.index} ({block.name}) has kind {block.kind!r}; the store knows "
            f"{', '.join(repr(k) for k in BLOCK_KINDS)}."
        )
    kind = block.kind.upper()
    if block.pool is not None and kind != "SKIP":
        kind = "POOLED_" + kind
    return checked_rel_type(kind)


def rolled_layer_index(mge: MultipartiteGraph, rolled: MultipartiteGraph) -> list[int]:
    """For each block of a rolled graph, the index of the MGE layer it rolls.

    Blocks are matched by ``param_name`` (else ``name``); an unmatched block
    keeps its own index.
    """
    by_key: dict[str, int] = {}
    for b in mge.blocks:
        for key in (b.param_name, b.name):
            if key:
                by_key.setdefault(key, b.index)
    return [by_key.get(b.param_name or "", by_key.get(b.name, b.index)) for b in rolled.blocks]


def block_types_and_layers(
    graph: MultipartiteGraph, mge: MultipartiteGraph | None = None
) -> tuple[list[str], list[int]]:
    """The stored relationship type and ``layer`` property of each block of ``graph``.

    MGE blocks: their own type and index. Other families: the family's type and
    the index of the MGE layer the block rolls (its own index without ``mge``).
    """
    family = graph_family(graph.kind)
    if family.rel_type is None:
        return [block_rel_type(b) for b in graph.blocks], [b.index for b in graph.blocks]
    layers = rolled_layer_index(mge, graph) if mge is not None else [b.index for b in graph.blocks]
    return [checked_rel_type(family.rel_type)] * len(graph.blocks), layers


def rolled_sides(mge: MultipartiteGraph, graph: MultipartiteGraph) -> tuple[list[int], list[str]]:
    """``layer`` and ``side`` (``'in'``/``'out'``) of each partition of a rolled graph.

    Each rolled block joins its own left (in) and right (out) partition; a
    partition no block touches gets layer -1, side ``'in'``.
    """
    layer = [-1] * graph.n_partitions
    side = ["in"] * graph.n_partitions
    seen = [False] * graph.n_partitions
    for b, index in zip(graph.blocks, rolled_layer_index(mge, graph), strict=True):
        for p, name in ((b.src_partition, "in"), (b.dst_partition, "out")):
            if not seen[p]:
                seen[p], layer[p], side[p] = True, index, name
    return layer, side


# ------------------------------------------------------------------------- properties


def graph_content_hash(graph: MultipartiteGraph) -> str:
    """SHA-256 (first 32 hex digits) of a graph's structure and weights.

    Covers the kind, partitions (shapes), blocks (partition pairs, kinds,
    pooling, slices) and the ``src``, ``dst`` and float32 ``weight`` arrays,
    so two exports of the same graph agree and any edit changes it.
    """
    digest = hashlib.sha256()
    header = {
        "kind": graph.kind,
        "partitions": [list(p.shape) for p in graph.partitions],
        "blocks": [
            [b.kind, b.src_partition, b.dst_partition, b.start, b.stop, b.pool]
            for b in graph.blocks
        ],
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for array, dtype in ((graph.src, np.int64), (graph.dst, np.int64), (graph.weight, np.float32)):
        digest.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
    return digest.hexdigest()[:32]


def _listify(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def layer_properties(network_id: str, graph: MultipartiteGraph) -> list[dict[str, Any]]:
    """``(:Layer)`` properties of every MGE edge block (None-valued keys left out).

    Includes the layer's cost :data:`~prunegraph.loader.cost.COST_COLUMNS`
    (``params, params_nonzero, flops_dense, flops_sparse``; FLOPs counted as
    multiply-accumulates, see :mod:`prunegraph.loader.cost`).
    """
    costs = layer_costs(graph)
    rows = []
    for position, b in enumerate(graph.blocks):
        props: dict[str, Any] = {
            "network_id": network_id,
            "index": b.index,
            "name": b.name,
            "kind": b.kind,
            "rel_type": block_rel_type(b),
            "param_name": b.param_name,
            "src_partition": b.src_partition,
            "dst_partition": b.dst_partition,
            "weight_shape": _listify(b.weight_shape),
            "stride": _listify(b.stride),
            "padding": _listify(b.padding),
            "dilation": _listify(b.dilation),
            "groups": b.groups,
            "pool": b.pool,
            "n_weights": b.n_weights,
            "n_unmasked": b.n_unmasked,
            "n_edges": b.n_edges,
            "layer_density": b.density,
            **{name: int(costs[name][position]) for name in COST_COLUMNS},
        }
        rows.append({k: v for k, v in props.items() if v is not None})
    return rows


def graph_properties(graph: MultipartiteGraph) -> dict[str, Any]:
    """Network-level sizes of the MGE: counts, partition sizes/offsets/shapes/names, cost.

    The cost (``params, params_nonzero, flops_dense, flops_sparse``) is the sum
    over the layers, :func:`prunegraph.loader.cost.network_cost`.
    """
    return {
        "n_nodes": graph.n_nodes,
        "n_edges": graph.n_edges,
        "n_partitions": graph.n_partitions,
        "partition_sizes": [p.size for p in graph.partitions],
        "partition_offsets": [p.offset for p in graph.partitions],
        "partition_names": [p.name for p in graph.partitions],
        "partition_shapes_json": json.dumps([list(p.shape) for p in graph.partitions]),
        **network_cost(graph),
    }


def stored_flags(families: set[str]) -> dict[str, bool]:
    """The Network's stored-family flags (``has_rolled`` ...) for the stored ``families``."""
    return {f.stored_flag: f.name in families for f in GRAPH_FAMILIES.values() if f.stored_flag}


# ----------------------------------------------------------------------------- state


def network_state(store: Store, network_id: str) -> dict[str, Any] | None:
    """The stored status, level, content hash, study and stored-family flags of a network.

    None if it is not stored. The flags are the :attr:`GraphFamily.stored_flag`
    keys (``has_rolled`` ...), False when absent.
    """
    validate_network_id(network_id, where="network_state")
    rows = store.run(
        load_query("export_network_state").text, {"network_id": network_id}, write=False
    )
    if not rows:
        return None
    row = dict(rows[0])
    flags = set(row.pop("flags", None) or ())
    row.update({k: k in flags for k in stored_flags(set())})
    return row


def get_network(
    store: Store, network_id: str, *, include_incomplete: bool = False
) -> dict[str, Any]:
    """All properties of a stored network; :class:`NotFoundError` if absent (or incomplete)."""
    validate_network_id(network_id, where="get_network")
    rows = store.run(load_query("network_info").text, {"network_id": network_id}, write=False)
    if not rows or (rows[0]["status"] != COMPLETE and not include_incomplete):
        what = "is not stored" if not rows else f"is not complete (status {rows[0]['status']!r})"
        raise NotFoundError(f"Network '{network_id}' {what}.")
    return dict(rows[0]["properties"])


def verify(store: Store, network_id: str) -> dict[str, int]:
    """Counts of what is stored for a network: its layers, and units and relationships per family.

    Keys: ``layers`` and the columns of each family's count query (``units``,
    ``unit_rels``, ``rolled_units``, ``rolled_rels``, ``channel_units``,
    ``channel_rels``).
    """
    validate_network_id(network_id, where="verify")
    params = {"network_id": network_id}
    counts: dict[str, int] = {}
    for name in ("export_count_layers", *(f.count_query for f in GRAPH_FAMILIES.values())):
        rows = store.run(load_query(name).text, params, write=False)
        counts.update({k: int(v or 0) for k, v in (rows[0] if rows else {}).items()})
    return counts


# ---------------------------------------------------------------------------- delete


def check_batch_size(batch_size: object, where: str) -> int:
    """``batch_size`` if it is a positive int, else a :class:`ValidationError` naming ``where``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(
            f"The 'batch_size' parameter of {where} must be a positive int. Got {batch_size!r} instead."
        )
    return batch_size


def delete_family(store: Store, network_id: str, family: str, batch_size: int) -> int:
    """Delete one network's units (and their relationships) of one family, in batches.

    Batches adapt to the server (:func:`adaptive_batches`): one that exceeds the
    transaction memory limit is halved and retried.
    """
    query = load_query(graph_family(family).delete_query).text
    return adaptive_batches(store, query, {"network_id": network_id}, int(batch_size))


def _out_of_memory(exc: Exception) -> bool:
    text = str(exc)
    return "MemoryPoolOutOfMemoryError" in text or "dbms.memory.transaction" in text


def adaptive_batches(
    store: Store,
    cypher: str,
    params: dict[str, Any],
    batch_size: int,
    *,
    until_zero: str = "n",
) -> int:
    """Repeat a ``LIMIT $batch_size`` write until it reports ``until_zero`` = 0; returns the total.

    Each batch runs in its own auto-commit transaction (not retried by the
    driver). A batch the server refuses for exceeding its transaction memory
    limit (``MemoryPoolOutOfMemoryError``, e.g. a unit with very many
    relationships on a small heap) is halved and retried, down to 1; the
    smaller size is kept for the rest of the loop. Nothing of a refused batch
    was written (its transaction rolled back), so the loop can always resume.

    Raises
    ------
    DatabaseError
        Any other failure, or a single-item batch still too large (the message
        names the limit to raise).
    """
    from prunegraph.errors import DatabaseError

    size = check_batch_size(batch_size, "adaptive_batches")
    total = 0
    while True:
        try:
            rows = store.run_autocommit(cypher, {**params, "batch_size": size})
        except DatabaseError as exc:
            if not _out_of_memory(exc):
                raise
            if size == 1:
                raise DatabaseError(
                    "Even a batch of one exceeds the server's transaction memory limit; raise "
                    "db.memory.transaction.max (or the heap) and run the same command again: "
                    f"{exc}"
                ) from None
            size = max(1, size // 2)
            continue
        done = int(rows[0][until_zero]) if rows else 0
        total += done
        if done == 0:
            return total


def delete_network(
    store: Store,
    network_id: str,
    *,
    batch_size: int = DEFAULT_DELETE_BATCH,
    missing_ok: bool = False,
) -> dict[str, int]:
    """Delete one network: its units and relationships in batches, then its layers and node.

    The Network node is marked ``deleting`` first, so a delete that dies half-way
    never leaves a network that looks complete. Returns the counts deleted (one
    entry per graph family, then ``layers`` and ``networks``). Raises
    :class:`NotFoundError` for an unknown id unless ``missing_ok``.
    """
    validate_network_id(network_id, where="delete_network")
    check_batch_size(batch_size, "delete_network")
    state = network_state(store, network_id)
    if state is None and not missing_ok:
        raise NotFoundError(f"Network '{network_id}' is not stored; nothing to delete.")
    if state is not None:
        store.run(load_query("delete_mark_network").text, {"network_id": network_id})
    counts = {f: delete_family(store, network_id, f, batch_size) for f in GRAPH_FAMILIES}
    rows = store.run(load_query("delete_network_nodes").text, {"network_id": network_id})
    counts["layers"] = int(rows[0]["layers"]) if rows else 0
    counts["networks"] = int(rows[0]["networks"]) if rows else 0
    if state is not None and state.get("study") is not None:
        store.run(load_query("delete_empty_study").text, {"study": state["study"]})
    return counts


def delete_study(store: Store, study: str, *, batch_size: int = DEFAULT_DELETE_BATCH) -> int:
    """Delete every network of a study (in batches) and the study; returns the number of networks.

    Raises :class:`NotFoundError` if the study is not stored.
    """
    validate_study_name(study, where="delete_study")
    check_batch_size(batch_size, "delete_study")
    exists = store.run(load_query("delete_study_exists").text, {"study": study}, write=False)
    ids = [
        r["network_id"] for r in store.run(load_query("study_network_ids").text, {"study": study})
    ]
    if not ids and not (exists and exists[0]["n"]):
        raise NotFoundError(f"Study {study!r} is not stored; nothing to delete.")
    for network_id in ids:
        delete_network(store, network_id, batch_size=batch_size, missing_ok=True)
    store.run(load_query("delete_empty_study").text, {"study": study})
    return len(ids)


# ------------------------------------------------------------------------- read back


@dataclass(frozen=True)
class StoredEdges:
    """Edges read back from the store, sorted by (layer, src, dst)."""

    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    layer: np.ndarray
    rel_type: np.ndarray


def read_edges(
    store: Store, network_id: str, *, graph: str = "mge", batch_size: int = 50_000
) -> StoredEdges:
    """Read back every stored edge of one network's graph of family ``graph``.

    ``src``/``dst`` are uids (global node ids of the graph that was exported);
    the result is sorted by ``(layer, src, dst)``.
    """
    validate_network_id(network_id, where="read_edges")
    query = load_query(graph_family(graph, where="read_edges").read_query).text
    check_batch_size(batch_size, "read_edges")
    parts: list[dict[str, list[Any]]] = []
    last = -1
    while True:
        rows = store.run(
            query,
            {"network_id": network_id, "after": last, "batch_size": int(batch_size)},
            write=False,
        )
        row = rows[0] if rows else None
        if not row or not row["units"]:
            break
        parts.append(row)
        last = int(row["units"][-1])

    def cat(key: str, dtype: Any) -> np.ndarray:
        return (
            np.concatenate([np.asarray(p[key], dtype=dtype) for p in parts])
            if parts
            else np.zeros(0, dtype)
        )

    src, dst = cat("src", np.int64), cat("dst", np.int64)
    weight, layer = cat("w", np.float64), cat("layer", np.int64)
    rel_type = cat("type", object)
    order = np.lexsort((dst, src, layer))
    return StoredEdges(src[order], dst[order], weight[order], layer[order], rel_type[order])


def edges_of(graph: MultipartiteGraph, mge: MultipartiteGraph | None = None) -> StoredEdges:
    """The edges of an in-memory graph in :class:`StoredEdges` form (for comparisons)."""
    types, layer_of = block_types_and_layers(graph, mge)
    sizes = [b.n_edges for b in graph.blocks]
    layer = np.repeat(np.asarray(layer_of, dtype=np.int64), sizes)
    rel_type = np.repeat(np.asarray(types, dtype=object), sizes)
    src, dst = graph.src.astype(np.int64), graph.dst.astype(np.int64)
    order = np.lexsort((dst, src, layer))
    return StoredEdges(
        src[order],
        dst[order],
        graph.weight.astype(np.float64)[order],
        layer[order],
        rel_type[order],
    )
