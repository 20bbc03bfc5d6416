"""Streaming exporter: a network's graphs into Neo4j over Bolt, idempotently.

Data model (``docs/store.md``)::

    (:Study {name})-[:HAS_NETWORK]->(:Network {network_id, ..., level, status})
    (:Network)-[:HAS_LAYER]->(:Layer {network_id, index, name, kind, rel_type, ...})
    (:Unit:L<p>:N_<id> {network_id, uid, p, i})-[:CONV|LINEAR|SKIP|POOLED_CONV|POOLED_LINEAR {w, layer}]->(:Unit)
    (:RolledUnit:R_<id> {network_id, uid, p, i, layer, side})-[:ROLLED {w, layer}]->(:RolledUnit)
    (:ChannelUnit:C_<id> {network_id, uid, p, i, layer, side})-[:ROLLED_CHANNEL {w, layer}]->(:ChannelUnit)

Storage levels, chosen per export: ``summary`` (Study, Network, Layers and the
metrics later written on them), ``rolled`` (plus the per-layer rolled graphs),
``full`` (plus every unit and edge of the MGE).

Idempotency protocol
--------------------
1. Read the network's state. Complete with the same ``content_hash`` and
   nothing new requested: no-op. Complete but a higher level (or a rolled
   graph not stored yet) requested: upgrade, writing only the missing parts.
   Complete with a different ``content_hash``: refused unless ``overwrite``.
2. State ``writing`` (an earlier export died): delete, in batches, every unit
   family that its last *complete* level does not account for, then redo.
3. ``export_begin`` sets ``status = 'writing'`` before the first unit batch;
   ``export_complete`` sets ``status = 'complete'`` and ``level`` only after
   the last batch and after :func:`verify` counted every unit and edge. Every
   reading query filters on ``status = 'complete'``.

Relationship batches address their end nodes by the internal ids returned
when the units of the same export were created (``id()`` seeks, the cheapest
lookup Neo4j has); rows travel as three parallel lists (``$src``, ``$dst``,
``$w``) rather than one map per row, which keeps Bolt packing cheap. Edges are
written position-major (:func:`block_edge_order`), so a transaction touches few
distinct units, and concurrent batches cover far-apart positions
(:func:`batch_schedule`), so they do not wait for each other's node locks.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from prunegraph.errors import DatabaseError, NotFoundError, ValidationError
from prunegraph.loader.graph import EdgeBlock, MultipartiteGraph
from prunegraph.loader.records import NetworkRecord, validate_network_id, validate_study_name
from prunegraph.queries.library import load_query

if TYPE_CHECKING:
    from prunegraph.queries.store import Store

LEVELS = ("summary", "rolled", "full")
"""Storage levels, lowest first."""

MGE_REL_TYPES = ("CONV", "LINEAR", "SKIP", "POOLED_CONV", "POOLED_LINEAR")
ROLLED_REL_TYPE = "ROLLED"
CHANNEL_REL_TYPE = "ROLLED_CHANNEL"
REL_TYPES = frozenset((*MGE_REL_TYPES, ROLLED_REL_TYPE, CHANNEL_REL_TYPE))
"""The whitelist of relationship types the exporter may write."""

UNIT_LABEL = "Unit"
ROLLED_LABEL = "RolledUnit"
CHANNEL_LABEL = "ChannelUnit"

DEFAULT_BATCH_SIZE = 5_000
DEFAULT_DELETE_BATCH = 5_000

# graph family -> (base label, per-network label prefix, relationship type, delete query)
_FAMILIES: dict[str, tuple[str, str, str, str]] = {
    "mge": (UNIT_LABEL, "N_", "", "delete_units_batch"),
    "rolled": (ROLLED_LABEL, "R_", ROLLED_REL_TYPE, "delete_rolled_units_batch"),
    "rolled_channel": (CHANNEL_LABEL, "C_", CHANNEL_REL_TYPE, "delete_channel_units_batch"),
}


# ----------------------------------------------------------------------------- names


def network_label(network_id: str) -> str:
    """``N_<network_id>``: the per-network label of MGE units (GDS projects it natively)."""
    return "N_" + validate_network_id(network_id, where="network_label")


def rolled_label(network_id: str) -> str:
    """``R_<network_id>``: the per-network label of rolled-BGE units."""
    return "R_" + validate_network_id(network_id, where="rolled_label")


def channel_label(network_id: str) -> str:
    """``C_<network_id>``: the per-network label of rolled-channel units."""
    return "C_" + validate_network_id(network_id, where="channel_label")


def partition_label(p: int) -> str:
    """``L<p>``: the layered label of the units of partition ``p`` (``MATCH (n:L3)``)."""
    if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 0:
        raise ValidationError(f"A partition index must be a non-negative int. Got {p!r} instead.")
    return f"L{int(p)}"


def block_rel_type(block: EdgeBlock) -> str:
    """Relationship type of an MGE edge block: CONV, LINEAR, SKIP, or POOLED_CONV/POOLED_LINEAR
    when the block draws from pooled units."""
    kind = block.kind.upper()
    if kind not in ("CONV", "LINEAR", "SKIP"):
        raise ValidationError(
            f"Edge block {block.index} ({block.name}) has kind {block.kind!r}; the store knows "
            "'conv', 'linear' and 'skip'."
        )
    if block.pool is not None and kind != "SKIP":
        kind = "POOLED_" + kind
    return _checked_type(kind)


def _checked_type(rel_type: str) -> str:
    if rel_type not in REL_TYPES:
        raise ValidationError(
            f"Relationship type {rel_type!r} is not in the store's whitelist {sorted(REL_TYPES)}."
        )
    return rel_type


# ------------------------------------------------------------------------ properties


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
    """``(:Layer)`` properties of every MGE edge block (None-valued keys left out)."""
    rows = []
    for b in graph.blocks:
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
        }
        rows.append({k: v for k, v in props.items() if v is not None})
    return rows


def graph_properties(graph: MultipartiteGraph) -> dict[str, Any]:
    """Network-level sizes of the MGE: counts, partition sizes/offsets/shapes/names."""
    return {
        "n_nodes": graph.n_nodes,
        "n_edges": graph.n_edges,
        "n_partitions": graph.n_partitions,
        "partition_sizes": [p.size for p in graph.partitions],
        "partition_offsets": [p.offset for p in graph.partitions],
        "partition_names": [p.name for p in graph.partitions],
        "partition_shapes_json": json.dumps([list(p.shape) for p in graph.partitions]),
    }


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


# ------------------------------------------------------------------------- results


@dataclass
class ExportResult:
    """What :func:`export_network` did.

    ``action`` is ``created`` (first export), ``upgraded`` (a higher level or
    a rolled graph added), ``redone`` (an interrupted export cleaned up and
    written again), ``replaced`` (``overwrite`` of a different graph) or
    ``unchanged`` (already complete: nothing written).
    """

    network_id: str
    action: str
    level: str
    units: int = 0
    relationships: int = 0
    seconds: float = 0.0
    unit_seconds: float = 0.0
    relationship_seconds: float = 0.0
    parts: tuple[str, ...] = field(default_factory=tuple)

    @property
    def relationships_per_second(self) -> float:
        return self.relationships / self.seconds if self.seconds > 0 else 0.0


class _Batches:
    """Runs batch queries inline (1 worker) or on a thread pool, with one progress bar."""

    def __init__(self, store: Store, workers: int, total: int, progress: bool, label: str) -> None:
        self.store = store
        self.workers = workers
        self.pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        self.bar = None
        self.done_rels = 0
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=label, unit="row", unit_scale=True, leave=False)

    def run_all(self, calls: Iterable[Callable[[], int]]) -> None:
        """Run every call (each returns rows written); the first error stops the rest."""
        if self.pool is None:
            for call in calls:
                self._tick(call())
            return
        # Keep at most 2 * workers batches in flight: bounded memory for huge networks.
        pending: list[Future[int]] = []
        try:
            for call in calls:
                pending.append(self.pool.submit(call))
                if len(pending) >= 2 * self.workers:
                    self._tick(pending.pop(0).result())
            while pending:
                self._tick(pending.pop(0).result())
        except BaseException:
            for f in pending:
                f.cancel()
            raise

    def _tick(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------- state


def network_state(store: Store, network_id: str) -> dict[str, Any] | None:
    """The stored status/level/content hash of a network, None if it is not stored."""
    validate_network_id(network_id, where="network_state")
    rows = store.run(
        load_query("export_network_state").text, {"network_id": network_id}, write=False
    )
    return rows[0] if rows else None


def get_network(
    store: Store, network_id: str, *, include_incomplete: bool = False
) -> dict[str, Any]:
    """All properties of a stored network; :class:`NotFoundError` if absent (or incomplete)."""
    validate_network_id(network_id, where="get_network")
    rows = store.run(load_query("network_info").text, {"network_id": network_id}, write=False)
    if not rows or (rows[0]["status"] != "complete" and not include_incomplete):
        what = "is not stored" if not rows else f"is not complete (status {rows[0]['status']!r})"
        raise NotFoundError(f"Network '{network_id}' {what}.")
    return dict(rows[0]["properties"])


def verify(store: Store, network_id: str) -> dict[str, int]:
    """Counts of what is stored for a network: units, relationships, layers per family."""
    rows = store.run(load_query("export_verify").text, {"network_id": network_id}, write=False)
    return {k: int(v or 0) for k, v in rows[0].items()}


# -------------------------------------------------------------------------- delete


def _delete_family(store: Store, network_id: str, family: str, batch_size: int) -> int:
    query = load_query(_FAMILIES[family][3]).text
    return store.batched_autocommit(
        query, {"network_id": network_id, "batch_size": int(batch_size)}
    )


def delete_network(
    store: Store,
    network_id: str,
    *,
    batch_size: int = DEFAULT_DELETE_BATCH,
    missing_ok: bool = False,
) -> dict[str, int]:
    """Delete one network: its units and relationships in batches, then its layers and node.

    The Network node is marked ``writing`` first, so a delete that dies half-way
    never leaves a network that looks complete. Returns the counts deleted.
    Raises :class:`NotFoundError` for an unknown id unless ``missing_ok``.
    """
    validate_network_id(network_id, where="delete_network")
    _check_batch_size(batch_size, "delete_network")
    state = network_state(store, network_id)
    if state is None and not missing_ok:
        raise NotFoundError(f"Network '{network_id}' is not stored; nothing to delete.")
    if state is not None:
        store.run(
            "MATCH (n:Network {network_id: $network_id}) SET n.status = 'deleting'",
            {"network_id": network_id},
        )
    counts = {family: _delete_family(store, network_id, family, batch_size) for family in _FAMILIES}
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
    exists = store.run("MATCH (s:Study {name: $study}) RETURN count(s) AS n", {"study": study})
    ids = [
        r["network_id"] for r in store.run(load_query("study_network_ids").text, {"study": study})
    ]
    if not ids and not exists[0]["n"]:
        raise NotFoundError(f"Study {study!r} is not stored; nothing to delete.")
    for network_id in ids:
        delete_network(store, network_id, batch_size=batch_size, missing_ok=True)
    store.run(load_query("delete_empty_study").text, {"study": study})
    return len(ids)


# -------------------------------------------------------------------------- export


def _check_batch_size(batch_size: object, where: str) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(
            f"The 'batch_size' parameter of {where} must be a positive int. Got {batch_size!r} instead."
        )


def _validate_export_args(
    graph_mge: object,
    record: object,
    level: object,
    rolled: object,
    rolled_channel: object,
    batch_size: object,
    workers: object,
) -> None:
    if not isinstance(graph_mge, MultipartiteGraph) or graph_mge.kind != "mge":
        raise ValidationError(
            "The 'graph_mge' parameter of export_network must be a MultipartiteGraph of kind 'mge'. "
            f"Got {getattr(graph_mge, 'kind', type(graph_mge).__name__)!r} instead."
        )
    if not isinstance(record, NetworkRecord):
        raise ValidationError(
            "The 'record' parameter of export_network must be a NetworkRecord. "
            f"Got {type(record).__name__} instead."
        )
    if level not in LEVELS:
        raise ValidationError(
            f"The 'level' parameter of export_network must be one of {LEVELS}. Got {level!r} instead."
        )
    for name, graph, kind in (
        ("rolled", rolled, "rolled"),
        ("rolled_channel", rolled_channel, "rolled_channel"),
    ):
        if graph is not None and (not isinstance(graph, MultipartiteGraph) or graph.kind != kind):
            raise ValidationError(
                f"The '{name}' parameter of export_network must be None or a MultipartiteGraph of "
                f"kind '{kind}'. Got {getattr(graph, 'kind', type(graph).__name__)!r} instead."
            )
    if level == "rolled" and rolled is None and rolled_channel is None:
        raise ValidationError(
            "Level 'rolled' stores the per-layer rolled graphs: pass rolled= and/or rolled_channel= "
            "(from prunegraph.loader.encoding.encode(..., kind='rolled'))."
        )
    _check_batch_size(batch_size, "export_network")
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 8:
        raise ValidationError(
            f"The 'workers' parameter of export_network must be an int in [1, 8]. Got {workers!r} instead."
        )
    for name, graph in (
        ("graph_mge", graph_mge),
        ("rolled", rolled),
        ("rolled_channel", rolled_channel),
    ):
        if isinstance(graph, MultipartiteGraph) and graph.n_edges:
            w = np.asarray(graph.weight)
            if not np.isfinite(w).all():
                raise ValidationError(f"The '{name}' graph has non-finite edge weights.")


def _stored_parts(state: dict[str, Any]) -> set[str]:
    level = state.get("level")
    parts: set[str] = set()
    if level == "full":
        parts.add("mge")
    if level in ("rolled", "full"):
        if state.get("has_rolled"):
            parts.add("rolled")
        if state.get("has_rolled_channel"):
            parts.add("rolled_channel")
    return parts


def export_network(
    store: Store,
    graph_mge: MultipartiteGraph,
    *,
    record: NetworkRecord,
    level: str = "full",
    rolled: MultipartiteGraph | None = None,
    rolled_channel: MultipartiteGraph | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 2,
    progress: bool = True,
    overwrite: bool = False,
) -> ExportResult:
    """Write one network into the store at storage level ``level``, idempotently.

    Parameters
    ----------
    store : Store
        Connected store (schema is created if missing).
    graph_mge : MultipartiteGraph
        The network's MGE (kind ``'mge'``); its blocks become ``(:Layer)`` nodes
        and, at level ``full``, its units and edges are written.
    record : NetworkRecord
        Identity and outcomes; ``content_hash`` is computed from ``graph_mge``
        when empty.
    level : {'summary', 'rolled', 'full'}
        What to store; a later call with a higher level upgrades in place.
    rolled, rolled_channel : MultipartiteGraph, optional
        Per-layer rolled graphs (kinds ``'rolled'``, ``'rolled_channel'``),
        stored at levels ``rolled`` and ``full``.
    batch_size : int
        Rows (units or relationships) per transaction; 5,000 by default (smaller
        transactions keep the server's transaction state and GC work small).
    workers : int
        Concurrent Bolt sessions for the batches (1 to 8); 2 by default, which
        roughly doubles throughput on a 2-core server (concurrent relationship
        batches are scheduled to share no end node, see :func:`batch_schedule`).
    progress : bool
        Show a tqdm progress bar.
    overwrite : bool
        Replace a complete network whose ``content_hash`` differs (otherwise
        that is an error).

    Returns
    -------
    ExportResult
    """
    _validate_export_args(graph_mge, record, level, rolled, rolled_channel, batch_size, workers)
    from prunegraph.queries.schema import ensure_schema

    started = time.perf_counter()
    if not record.content_hash:
        record = record.with_content_hash(graph_content_hash(graph_mge))
    network_id = record.network_id
    ensure_schema(store)

    state = network_state(store, network_id)
    action = "created"
    stored: set[str] = set()
    stored_rank = -1
    if state is not None:
        same = state.get("content_hash") == record.content_hash
        if state["status"] == "complete" and not same:
            if not overwrite:
                raise ValidationError(
                    f"Network '{network_id}' is already stored with a different content hash "
                    f"({state.get('content_hash')} != {record.content_hash}): its graph changed. "
                    "Pass overwrite=True (CLI: --overwrite) to replace it, or delete it first."
                )
            delete_network(store, network_id, missing_ok=True)
            action = "replaced"
        elif not same:
            # A partial export of some other content: nothing of it can be kept.
            delete_network(store, network_id, missing_ok=True)
            action = "redone"
        else:
            stored = _stored_parts(state)
            stored_rank = LEVELS.index(state["level"]) if state.get("level") in LEVELS else -1
            if state["status"] != "complete":
                for family in _FAMILIES:
                    if family not in stored:
                        _delete_family(store, network_id, family, DEFAULT_DELETE_BATCH)
                action = "redone"
            else:
                action = "upgraded"

    target_rank = max(stored_rank, LEVELS.index(level))
    target = LEVELS[target_rank]
    wanted: set[str] = set()
    if target == "full":
        wanted.add("mge")
    if target_rank >= LEVELS.index("rolled"):
        if rolled is not None:
            wanted.add("rolled")
        if rolled_channel is not None:
            wanted.add("rolled_channel")
    to_write = wanted - stored
    if action == "upgraded" and not to_write and target_rank == stored_rank:
        return ExportResult(network_id, "unchanged", target, seconds=time.perf_counter() - started)

    has_rolled = "rolled" in stored | to_write
    has_channel = "rolled_channel" in stored | to_write
    if target == "rolled" and not (has_rolled or has_channel):
        raise ValidationError(
            f"Network '{network_id}' has no rolled graph stored: level 'rolled' needs rolled= "
            "and/or rolled_channel=."
        )

    store.run(
        load_query("export_begin").text,
        {
            "record": record.to_properties(),
            "graph": graph_properties(graph_mge),
            "target_level": target,
        },
    )
    store.run(
        load_query("export_layers").text,
        {"network_id": network_id, "layers": layer_properties(network_id, graph_mge)},
    )

    jobs: list[tuple[str, MultipartiteGraph]] = []
    if "mge" in to_write:
        jobs.append(("mge", graph_mge))
    if "rolled" in to_write and rolled is not None:
        jobs.append(("rolled", rolled))
    if "rolled_channel" in to_write and rolled_channel is not None:
        jobs.append(("rolled_channel", rolled_channel))

    total = sum(g.n_nodes + g.n_edges for _, g in jobs)
    batches = _Batches(store, workers, total, progress, f"export {network_id}")
    result = ExportResult(network_id, action, target, parts=tuple(f for f, _ in jobs))
    try:
        for family, graph in jobs:
            t0 = time.perf_counter()
            node_ids = _write_units(batches, network_id, family, graph_mge, graph, batch_size)
            t1 = time.perf_counter()
            _write_relationships(batches, family, graph_mge, graph, node_ids, batch_size)
            t2 = time.perf_counter()
            result.units += graph.n_nodes
            result.relationships += graph.n_edges
            result.unit_seconds += t1 - t0
            result.relationship_seconds += t2 - t1
    except DatabaseError as exc:
        raise DatabaseError(
            f"Export of network '{network_id}' stopped before its last batch: {exc} It stays "
            "stored with status 'writing' (never listed as complete); export it again to redo "
            f"it, or run `prunegraph delete --network {network_id}`."
        ) from None
    finally:
        batches.close()

    _check_counts(store, network_id, stored | to_write, graph_mge, rolled, rolled_channel)
    store.run(
        load_query("export_complete").text,
        {
            "network_id": network_id,
            "level": target,
            "has_rolled": has_rolled,
            "has_rolled_channel": has_channel,
        },
    )
    result.seconds = time.perf_counter() - started
    return result


def _write_units(
    batches: _Batches,
    network_id: str,
    family: str,
    mge: MultipartiteGraph,
    graph: MultipartiteGraph,
    batch_size: int,
) -> np.ndarray:
    """Create every node of ``graph`` (one family); returns internal ids indexed by uid."""
    node_ids = np.full(graph.n_nodes, -1, dtype=np.int64)
    store = batches.store
    if family == "mge":
        query = load_query("export_units").text
        per_partition: list[dict[str, Any]] = [
            {"labels": [partition_label(p.index), network_label(network_id)]}
            for p in graph.partitions
        ]
    else:
        query = load_query("export_rolled_units").text
        base, prefix, _, _ = _FAMILIES[family]
        labels = [base, prefix + network_id]
        # Each rolled block joins its own left (in) and right (out) partition.
        layer_of = rolled_layer_index(mge, graph)
        side: dict[int, tuple[int, str]] = {}
        for b, layer in zip(graph.blocks, layer_of, strict=True):
            side.setdefault(b.src_partition, (layer, "in"))
            side.setdefault(b.dst_partition, (layer, "out"))
        per_partition = [
            {
                "labels": labels,
                "layer": side.get(p.index, (-1, "in"))[0],
                "side": side.get(p.index, (-1, "in"))[1],
            }
            for p in graph.partitions
        ]

    def make_call(params: dict[str, Any], first: int, last: int, offset: int) -> Callable[[], int]:
        def call() -> int:
            rows = store.run(query, params, write=True)
            ids = rows[0]["ids"] if rows else []
            if len(ids) != last - first + 1:
                raise DatabaseError(
                    f"Unit batch {offset + first}..{offset + last} returned {len(ids)} ids."
                )
            node_ids[offset + first : offset + last + 1] = ids
            return len(ids)

        return call

    calls = []
    for p, extra in zip(graph.partitions, per_partition, strict=True):
        for first in range(0, p.size, batch_size):
            last = min(first + batch_size, p.size) - 1
            params = {
                "network_id": network_id,
                "p": p.index,
                "offset": p.offset,
                "first": first,
                "last": last,
                **extra,
            }
            calls.append(make_call(params, first, last, p.offset))
    batches.run_all(calls)
    if graph.n_nodes and (node_ids < 0).any():
        raise DatabaseError("Some units were not created (missing internal ids).")
    return node_ids


def _write_relationships(
    batches: _Batches,
    family: str,
    mge: MultipartiteGraph,
    graph: MultipartiteGraph,
    node_ids: np.ndarray,
    batch_size: int,
) -> None:
    query = load_query("export_rels").text
    store = batches.store
    if family == "mge":
        types = [block_rel_type(b) for b in graph.blocks]
        layers = [b.index for b in graph.blocks]
    else:
        types = [_checked_type(_FAMILIES[family][2])] * len(graph.blocks)
        layers = rolled_layer_index(mge, graph)

    def make_call(
        rel_type: str, layer: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray
    ) -> Callable[[], int]:
        def call() -> int:
            params = {
                "type": rel_type,
                "layer": int(layer),
                # tolist() is C-speed; numpy scalars cannot be packed by the driver.
                "src": src.tolist(),
                "dst": dst.tolist(),
                "w": weight.astype(np.float64).tolist(),
            }
            rows = store.run(query, params, write=True)
            written = int(rows[0]["n"]) if rows else 0
            if written != len(src):
                raise DatabaseError(
                    f"A {rel_type} batch wrote {written} of {len(src)} relationships "
                    "(its end nodes disappeared: was the network deleted meanwhile?)."
                )
            return written

        return call

    def calls() -> Iterable[Callable[[], int]]:
        for b, rel_type, layer in zip(graph.blocks, types, layers, strict=True):
            order = block_edge_order(graph, b)
            src = node_ids[graph.src[b.start : b.stop][order]]
            dst = node_ids[graph.dst[b.start : b.stop][order]]
            weight = graph.weight[b.start : b.stop][order]
            starts = batch_schedule(len(src), batch_size, interleave=batches.workers > 1)
            for start in starts:
                stop = start + batch_size
                yield make_call(
                    rel_type, layer, src[start:stop], dst[start:stop], weight[start:stop]
                )

    batches.run_all(calls())


def block_edge_order(graph: MultipartiteGraph, block: EdgeBlock) -> np.ndarray:
    """The order in which the exporter writes the edges of ``block`` (indices into the block).

    Spatial-position-major: edges are sorted by the position (``y*W + x``) of their
    destination unit, then by destination channel, then by source. A batch then
    holds every edge of a few neighbouring positions: few distinct end nodes per
    relationship (0.27 instead of 0.76 for source order on the ResNet-20 MGE at
    sparsity 0.9, with 5,000-row batches). Neo4j's commit does per-node work for
    every node a transaction touches (lock, node record and its relationship
    chain or groups, log command), so this is what the server's CPU per
    relationship follows. Blocks whose destination has no spatial axes (linear
    layers, rolled graphs) are sorted by (source, destination).
    """
    src = graph.src[block.start : block.stop]
    dst = graph.dst[block.start : block.stop]
    part = graph.partitions[block.dst_partition]
    local = dst - part.offset
    if len(part.shape) > 1:
        positions = int(np.prod(part.shape[1:], dtype=np.int64))
        return np.lexsort((src, local, local % positions))
    return np.lexsort((dst, src))


def batch_schedule(n_rows: int, batch_size: int, *, interleave: bool) -> list[int]:
    """Start offsets of the batches of one block, in the order they are submitted.

    With concurrent sessions the first and second halves of the block are
    interleaved (batch 0, batch h, batch 1, batch h + 1, ...): in the
    position-major order (:func:`block_edge_order`) two batches running at the
    same time then cover far-apart positions and share no end node, so neither
    waits for the other's node locks (neighbouring batches share the source
    units of their boundary rows).
    """
    starts = list(range(0, n_rows, batch_size))
    if not interleave or len(starts) < 3:
        return starts
    half = (len(starts) + 1) // 2
    out: list[int] = []
    for i in range(half):
        out.append(starts[i])
        if half + i < len(starts):
            out.append(starts[half + i])
    return out


def _check_counts(
    store: Store,
    network_id: str,
    parts: set[str],
    mge: MultipartiteGraph,
    rolled: MultipartiteGraph | None,
    rolled_channel: MultipartiteGraph | None,
) -> None:
    counts = verify(store, network_id)
    expected: dict[str, int] = {"layers": len(mge.blocks)}
    if "mge" in parts:
        expected.update(units=mge.n_nodes, unit_rels=mge.n_edges)
    if "rolled" in parts and rolled is not None:
        expected.update(rolled_units=rolled.n_nodes, rolled_rels=rolled.n_edges)
    if "rolled_channel" in parts and rolled_channel is not None:
        expected.update(channel_units=rolled_channel.n_nodes, channel_rels=rolled_channel.n_edges)
    wrong = {k: (counts.get(k), v) for k, v in expected.items() if counts.get(k) != v}
    if wrong:
        detail = ", ".join(
            f"{k}: stored {got}, expected {want}" for k, (got, want) in wrong.items()
        )
        raise DatabaseError(
            f"Export of network '{network_id}' did not verify ({detail}); it stays 'writing'."
        )


# ------------------------------------------------------------------------ read back


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
    """Read back every stored edge of one network's graph (``mge``, ``rolled``, ``rolled_channel``).

    ``src``/``dst`` are uids (global node ids of the graph that was exported);
    the result is sorted by ``(layer, src, dst)``.
    """
    validate_network_id(network_id, where="read_edges")
    if graph not in _FAMILIES:
        raise ValidationError(
            f"The 'graph' parameter of read_edges must be one of {tuple(_FAMILIES)}. Got {graph!r} instead."
        )
    query = load_query(
        {"mge": "network_edges", "rolled": "rolled_edges", "rolled_channel": "channel_edges"}[graph]
    ).text
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
    if graph.kind == "mge":
        layer_of = [b.index for b in graph.blocks]
        types = [block_rel_type(b) for b in graph.blocks]
    else:
        layer_of = (
            rolled_layer_index(mge, graph) if mge is not None else [b.index for b in graph.blocks]
        )
        types = [ROLLED_REL_TYPE if graph.kind == "rolled" else CHANNEL_REL_TYPE] * len(
            graph.blocks
        )
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


def export_many(
    store: Store,
    items: Sequence[tuple[NetworkRecord, MultipartiteGraph]],
    **kwargs: Any,
) -> list[ExportResult]:
    """Export several networks one after the other with the same options."""
    return [export_network(store, g, record=r, **kwargs) for r, g in items]
