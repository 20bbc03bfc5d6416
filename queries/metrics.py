"""The metric engine's single entry point :func:`compute_metrics`.

Every metric is registered once, next to its in-process function, in
:mod:`prunegraph.queries.metric_registry` (sections A in ``topometrics``, B in
``ramanujan``, C in ``stability``, D in ``paths``); importing this module
registers them all. ``METRICS`` maps every metric column (the Neo4j property
and wide-table name, ``rolled_``/``ch_``/``mean_`` prefixed where it applies)
to a :class:`MetricSpec`: its section, graph, whether it is per layer, whether
the database engine implements it, and its registered definition. Both
engines loop over the registry.

Engine choice (``engine="auto"``), per metric:

* database (GDS / Cypher) when a store is given, the network is stored at
  level ``full``, the metric has a database implementation, and either no
  in-memory MGE was supplied or it has at most ``DB_AUTO_MAX_EDGES`` edges
  (beyond that, projecting 10^7+ relationships costs more than computing in
  process on arrays already in memory);
* in process otherwise (numpy / scipy / numba), exact unless the work of an
  exact ``n2`` / 4-cycle count exceeds ``budget``, in which case a stratified
  sample gives an unbiased estimate and its standard error.

``engine="database"`` runs every database-implemented metric in the database
(and fails if the network is not stored at ``full``); ``engine="inprocess"``
never touches GDS. Either way the long table records the engine of each value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from prunegraph.errors import NotFoundError, UnknownNameError, ValidationError
from prunegraph.loader.graph import EdgeBlock, MultipartiteGraph, Partition

# Importing the metric modules registers their metrics (sections A, B, C, D in this order).
from prunegraph.queries import paths as _paths  # noqa: F401
from prunegraph.queries import ramanujan as _ramanujan  # noqa: F401
from prunegraph.queries import stability as _stability  # noqa: F401
from prunegraph.queries import topometrics as _topometrics  # noqa: F401
from prunegraph.queries._structure import GraphStructure
from prunegraph.queries.data_model import GRAPH_FAMILIES, LEVELS, families_at, network_label
from prunegraph.queries.metric_registry import (
    DEFINITIONS,
    GRAPH_PREFIXES,
    LAYER_PREFIXES,
    METRICS,
    MetricContext,
    MetricSpec,
    database_names,
    evaluate,
)
from prunegraph.queries.motifs import DEFAULT_BUDGET, Estimate
from prunegraph.queries.ramanujan import compute_section_b, network_means, shared_layers

if TYPE_CHECKING:
    from prunegraph.queries.store import Store

LONG_COLUMNS = ("network_id", "graph", "layer", "metric", "value", "se", "engine")
ENGINES = ("auto", "inprocess", "database")
GRAPH_PREFIX = GRAPH_PREFIXES
LAYER_PREFIX = LAYER_PREFIXES
DB_AUTO_MAX_EDGES = 5_000_000
#: MGE metrics with a database implementation when this module was imported
#: (:func:`prunegraph.queries.metric_registry.database_names` is always current).
DB_METRICS: tuple[str, ...] = database_names()


def property_names() -> set[str]:
    """Every property name metric write-back may set (the whitelist)."""
    names = set(METRICS.names())
    return names | {f"{n}_se" for n in names} | {"metric_engines", "metric_estimators"}


# ------------------------------------------------------------------ inputs
def _as_graphs(source: Any, graphs: Any) -> dict[str, MultipartiteGraph]:
    found: dict[str, MultipartiteGraph] = {}
    for item in (source, graphs):
        if item is None:
            continue
        if isinstance(item, MultipartiteGraph):
            found[item.kind] = item
        elif isinstance(item, Mapping):
            for key, g in item.items():
                if not isinstance(g, MultipartiteGraph) or g.kind != key:
                    raise ValidationError(
                        f"The graphs mapping must map a kind to a MultipartiteGraph of that kind; "
                        f"got {key!r} -> {type(g).__name__}"
                        f"{'' if not isinstance(g, MultipartiteGraph) else f' of kind {g.kind!r}'}."
                    )
                found[key] = g
    return found


def _is_store(obj: Any) -> bool:
    return hasattr(obj, "run") and hasattr(obj, "query") and hasattr(obj, "gds")


def _resolve_metrics(metrics: Sequence[str] | str | None, available: set[str]) -> list[str]:
    if metrics is None:
        return [
            m for m in METRICS.names() if not METRICS[m].pairwise and METRICS[m].graph in available
        ]
    if isinstance(metrics, str):
        metrics = [metrics]
    out = []
    for m in metrics:
        spec = METRICS.get(m)  # raises UnknownNameError with a did-you-mean
        if spec.pairwise:
            raise ValidationError(
                f"Metric '{m}' compares two networks; use "
                "prunegraph.queries.stability.stability(graph_a, graph_b)."
            )
        out.append(m)
    return list(dict.fromkeys(out))


# ------------------------------------------------------------- in process
def _definition(spec: MetricSpec) -> Any:
    return spec.definition if spec.definition is not None else DEFINITIONS[spec.base]


def _inprocess(
    graph: MultipartiteGraph,
    wanted: list[str],
    mge: MultipartiteGraph | None,
    budget: float,
    seed: int,
    memo: list[tuple[MultipartiteGraph, dict[str, Estimate]]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Rows (without network_id) for the wanted metrics on one graph, plus estimator notes.

    Loops over the registry: network-scope metrics on one shared
    :class:`MetricContext` (rows by section, then in the requested order),
    then per-layer metrics and their network means. With ``memo``, a graph
    identical to one measured before in the same call (same partitions and
    edge arrays: an MLP's rolled and rolled-channel graphs) reuses its
    network-scope values instead of computing them again.
    """
    rows: list[dict[str, Any]] = []
    notes: dict[str, dict[str, Any]] = {}
    kind = graph.kind
    specs = [METRICS[m] for m in wanted]
    network = [s for s in specs if _definition(s).scope == "network"]
    if network:
        defs = [_definition(s) for s in network]
        known = next((v for g, v in memo or [] if _same_graph(g, graph)), None)
        if known is not None and all(d.name in known for d in defs):
            values = known
        else:
            ctx = MetricContext(GraphStructure(graph), budget=budget, seed=seed)
            values = evaluate(ctx, defs)
            if memo is not None:
                memo.append((graph, values))
        sections = list(dict.fromkeys(m.section for m in DEFINITIONS.values()))
        for spec in sorted(network, key=lambda s: sections.index(s.section)):
            definition = _definition(spec)
            est = values[definition.name]
            rows.append(_row(kind, None, spec.name, est, definition.engine))
            if not est.exact:
                notes[spec.name] = {
                    "estimator": est.estimator,
                    "sample_size": est.sample_size,
                    "population": est.population,
                }
    layer_specs = [s for s in specs if _definition(s).scope == "layer"]
    if layer_specs and kind in LAYER_PREFIX:
        lp = LAYER_PREFIX[kind]
        b_wanted = {s.name for s in layer_specs}
        bases = list(dict.fromkeys(_definition(s).name for s in layer_specs))
        per_layer = compute_section_b(graph, bases)
        if mge is not None:
            from prunegraph.queries.data_model import rolled_layer_index

            mapping = dict(
                zip([b.index for b in graph.blocks], rolled_layer_index(mge, graph), strict=True)
            )
            per_layer = {mapping[k]: v for k, v in per_layer.items()}
        for layer, vals in sorted(per_layer.items()):
            for base, v in vals.items():
                if lp + base in b_wanted:
                    rows.append(_row(kind, layer, lp + base, Estimate(v), "numpy"))
        for mean_name, v in network_means(per_layer).items():
            name = f"mean_{lp}{mean_name[len('mean_') :]}"
            if name in b_wanted:
                rows.append(_row(kind, None, name, Estimate(v), "numpy"))
    return rows, notes


def _same_graph(a: MultipartiteGraph, b: MultipartiteGraph) -> bool:
    """Whether two graphs have the same partitions, blocks and edge arrays (compared exactly)."""
    return (
        a.n_nodes == b.n_nodes
        and a.n_edges == b.n_edges
        and [(p.offset, p.size) for p in a.partitions] == [(p.offset, p.size) for p in b.partitions]
        and [(x.src_partition, x.dst_partition, x.start, x.stop) for x in a.blocks]
        == [(x.src_partition, x.dst_partition, x.start, x.stop) for x in b.blocks]
        and np.array_equal(a.src, b.src)
        and np.array_equal(a.dst, b.dst)
        and np.array_equal(a.weight, b.weight)
    )


def _row(graph: str, layer: int | None, metric: str, est: Estimate, engine: str) -> dict[str, Any]:
    value = est.value
    if value is not None and not np.isfinite(value):
        value = None
    return {
        "graph": graph,
        "layer": layer,
        "metric": metric,
        "value": value,
        "se": est.se,
        "engine": "estimate" if est.se is not None else engine,
    }


def _floats(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _frame(rows: list[dict[str, Any]], network_id: str | None) -> pd.DataFrame:
    """The long table from column lists (a record-wise frame cost ~10 ms per call)."""
    n = len(rows)
    columns = {
        "network_id": np.array([network_id] * n, dtype=object),
        "graph": np.array([r["graph"] for r in rows], dtype=object),
        "layer": pd.array([r["layer"] for r in rows], dtype="Int64"),
        "metric": np.array([r["metric"] for r in rows], dtype=object),
        "value": _floats([r["value"] for r in rows]),
        "se": _floats([r["se"] for r in rows]),
        "engine": np.array([r["engine"] for r in rows], dtype=object),
    }
    return pd.DataFrame(columns, columns=list(LONG_COLUMNS))


# ------------------------------------------------------------ from store
def load_mge(store: Store, network_id: str) -> MultipartiteGraph:
    """Rebuild a stored (level ``full``) MGE in memory from its units' relationships."""
    from prunegraph.queries.data_model import read_edges

    info = _network_info(store, network_id)
    if info.get("level") != "full":
        raise ValidationError(
            f"Network {network_id} is stored at level {info.get('level')!r}; its MGE can only be "
            "read back from level 'full'."
        )
    if info.get("partition_shapes_json"):
        shapes = json.loads(info["partition_shapes_json"])
    else:  # older exports: partition sizes from the units themselves
        rows = store.query("metric_unit_partitions", label=network_label(network_id))
        shapes = [[int(r["size"])] for r in rows]
    partitions, offset = [], 0
    for p, shape in enumerate(shapes):
        part = Partition(index=p, name=f"p{p}", shape=tuple(shape), offset=offset)
        partitions.append(part)
        offset += part.size
    layers = store.query("metric_layer_types", network_id=network_id)
    edges = read_edges(store, network_id, graph="mge")
    expected = info.get("n_edges")
    if expected is not None and len(edges.src) != int(expected):
        raise ValidationError(
            f"Network {network_id} records {expected} MGE edges but {len(edges.src)} could be "
            "read back from its units; re-export it (loader.export.export_network) before "
            "computing in-process metrics from the store."
        )
    if not layers and len(edges.layer):
        # No Layer nodes: one block per stored `layer` value, partitions read off the units.
        unit_partition = np.repeat(np.arange(len(partitions)), [q.size for q in partitions])
        layers = []
        for idx in np.unique(edges.layer):
            sel = edges.layer == idx
            layers.append(
                {
                    "index": int(idx),
                    "name": None,
                    "kind": "skip" if str(edges.rel_type[sel][0]) == "SKIP" else "linear",
                    "src_partition": int(unit_partition[edges.src[sel][0]]),
                    "dst_partition": int(unit_partition[edges.dst[sel][0]]),
                    "pool": None,
                    "n_weights": 0,
                    "n_unmasked": 0,
                }
            )
    blocks, start = [], 0
    counts = np.bincount(edges.layer, minlength=len(layers)) if len(edges.layer) else None
    for row in layers:
        n = int(counts[row["index"]]) if counts is not None and row["index"] < len(counts) else 0
        blocks.append(
            EdgeBlock(
                index=row["index"],
                name=row["name"] or f"layer{row['index']}",
                kind=row["kind"],
                src_partition=row["src_partition"],
                dst_partition=row["dst_partition"],
                start=start,
                stop=start + n,
                pool=row["pool"],
                n_weights=row["n_weights"] or 0,
                n_unmasked=row["n_unmasked"] or 0,
            )
        )
        start += n
    return MultipartiteGraph(
        kind="mge",
        partitions=tuple(partitions),
        blocks=tuple(blocks),
        src=edges.src.astype(np.int32),
        dst=edges.dst.astype(np.int32),
        weight=edges.weight.astype(np.float32),
        meta={"network_id": network_id},
    )


ROLLED_UNIT_LABELS = {k: f.unit_label for k, f in GRAPH_FAMILIES.items() if f.rel_type}


def load_rolled(store: Store, network_id: str, kind: str) -> MultipartiteGraph | None:
    """Rebuild a stored rolled (``kind='rolled'``) or rolled-channel graph; None if not stored.

    Block ``index`` is the MGE layer index the exporter recorded on the units;
    ``n_weights`` / ``n_unmasked`` come from the Layer nodes.
    """
    from prunegraph.queries.data_model import read_edges

    if kind not in ROLLED_UNIT_LABELS:
        raise ValidationError(
            f"The 'kind' parameter of load_rolled must be one of {tuple(ROLLED_UNIT_LABELS)}. "
            f"Got {kind!r} instead."
        )
    parts = store.query(
        "metric_rolled_partitions", label=ROLLED_UNIT_LABELS[kind], network_id=network_id
    )
    if not parts:
        return None
    partitions, offset = [], 0
    for row in parts:
        if row["first_uid"] != offset:
            raise ValidationError(
                f"Stored {kind} graph of network {network_id} has a gap in its unit ids."
            )
        partitions.append(
            Partition(
                index=int(row["p"]),
                name=f"{row['side']}{row['layer']}",
                shape=(int(row["size"]),),
                offset=offset,
            )
        )
        offset += int(row["size"])
    layer_info = {r["index"]: r for r in store.query("metric_layer_types", network_id=network_id)}
    sides: dict[int, dict[str, int]] = {}
    for row in parts:
        sides.setdefault(int(row["layer"]), {})[row["side"]] = int(row["p"])
    edges = read_edges(store, network_id, graph=kind)
    blocks, start = [], 0
    for layer in sorted(sides):
        n = int((edges.layer == layer).sum())
        info = layer_info.get(layer, {})
        blocks.append(
            EdgeBlock(
                index=layer,
                name=info.get("name") or f"layer{layer}",
                kind=info.get("kind") or "conv",
                src_partition=sides[layer]["in"],
                dst_partition=sides[layer]["out"],
                start=start,
                stop=start + n,
                n_weights=info.get("n_weights") or 0,
                n_unmasked=info.get("n_unmasked") or 0,
            )
        )
        start += n
    order = np.argsort(edges.layer, kind="stable")
    return MultipartiteGraph(
        kind=kind,
        partitions=tuple(partitions),
        blocks=tuple(blocks),
        src=edges.src[order].astype(np.int32),
        dst=edges.dst[order].astype(np.int32),
        weight=edges.weight[order].astype(np.float32),
        meta={"network_id": network_id},
    )


def _network_info(store: Store, network_id: str) -> dict[str, Any]:
    rows = store.query("metric_network_info", network_id=network_id)
    if not rows:
        raise NotFoundError(f"No network '{network_id}' in the store.")
    return rows[0]


def write_metrics(
    store: Store, df: pd.DataFrame, *, estimators: Mapping[str, Any] | None = None
) -> int:
    """Write a long table back as Network / Layer properties (whitelisted names only).

    Network-level rows set ``<metric>`` (and ``<metric>_se`` for estimates) on
    the Network node; per-layer rows on the Layer node ``(network_id, index)``.
    ``metric_engines`` (JSON metric -> engine) and ``metric_estimators`` (JSON
    metric -> estimator, sample size) are merged with what is stored.
    Returns the number of nodes updated.
    """
    allowed = property_names()
    bad = sorted(set(df["metric"]) - allowed)
    if bad:
        raise ValidationError(f"Refusing to write unknown metric properties {bad}.")
    updated = 0
    for network_id, part in df.groupby("network_id", sort=False):
        info = _network_info(store, str(network_id))
        engines = json.loads(info.get("metric_engines") or "{}")
        notes = json.loads(info.get("metric_estimators") or "{}")
        props: dict[str, Any] = {}
        layer_props: dict[int, dict[str, Any]] = {}
        for r in part.itertuples(index=False):
            value = None if pd.isna(r.value) else float(r.value)
            se = None if pd.isna(r.se) else float(r.se)
            if pd.isna(r.layer):
                props[r.metric] = value
                props[f"{r.metric}_se"] = se
                engines[r.metric] = r.engine
                if se is None:
                    notes.pop(r.metric, None)
            else:
                target = layer_props.setdefault(int(r.layer), {})
                target[r.metric] = value
                engines[f"layer:{r.metric}"] = r.engine
        for m, note in (estimators or {}).items():
            notes[m] = note
        props["metric_engines"] = json.dumps(engines, sort_keys=True)
        props["metric_estimators"] = json.dumps(notes, sort_keys=True)
        res = store.query("metric_write_network", network_id=str(network_id), props=props)
        updated += int(res[0]["updated"]) if res else 0
        if layer_props:
            rows = [{"index": k, "props": v} for k, v in sorted(layer_props.items())]
            res = store.query("metric_write_layers", network_id=str(network_id), rows=rows)
            updated += int(res[0]["updated"]) if res else 0
    return updated


# ------------------------------------------------------------ entry point
def compute_metrics(
    source: Any,
    network_id: str | None = None,
    *,
    metrics: Sequence[str] | str | None = None,
    engine: str = "auto",
    write: bool = True,
    graphs: MultipartiteGraph | Mapping[str, MultipartiteGraph] | None = None,
    budget: float = DEFAULT_BUDGET,
    seed: int = 0,
) -> pd.DataFrame:
    """Compute metrics of one network and return them as a long table.

    Parameters
    ----------
    source : Store, MultipartiteGraph or mapping kind -> MultipartiteGraph
        A store (then ``network_id`` is required and the database engine is
        available) or in-memory graph(s) of kinds ``mge``, ``rolled``,
        ``rolled_channel``.
    network_id : str, optional
        16 lowercase hex characters; taken from ``graph.meta['network_id']``
        when omitted for in-memory graphs.
    metrics : names from ``METRICS``, optional
        Default: every non-pairwise metric whose graph is available.
    engine : {"auto", "inprocess", "database"}
        See the module docstring for the rule.
    write : bool
        With a store, write the values back as Network / Layer properties.
    graphs : MultipartiteGraph or mapping, optional
        In-memory graphs to use alongside a store (avoids reading the MGE back).
    budget : float
        Work units allowed for an exact ``n2`` / 4-cycle count before sampling.
    seed : int
        Seed of the sampling estimators.

    Returns
    -------
    pandas.DataFrame
        Columns ``network_id, graph, layer, metric, value, se, engine``;
        ``df.attrs['estimators']`` maps estimated metrics to their estimator
        and sample size.
    """
    from prunegraph.loader.records import validate_network_id

    if engine not in ENGINES:
        raise ValidationError(
            f"The 'engine' parameter of compute_metrics must be one of {ENGINES}. Got {engine!r} instead."
        )
    store = source if _is_store(source) else None
    in_memory = _as_graphs(None if store is not None else source, graphs)
    if store is None and not in_memory:
        raise ValidationError(
            "The 'source' parameter of compute_metrics must be a Store, a MultipartiteGraph or a "
            f"mapping of graph kind to MultipartiteGraph. Got {type(source).__name__} instead."
        )
    if network_id is None:
        for g in in_memory.values():
            network_id = g.meta.get("network_id") or network_id
    if store is not None:
        if network_id is None:
            raise ValidationError("compute_metrics needs a network_id when reading from a store.")
        validate_network_id(network_id, where="compute_metrics")
        info = _network_info(store, network_id)
        level = info.get("level")
    else:
        if network_id is not None:
            validate_network_id(network_id, where="compute_metrics")
        level = None
    available = set(in_memory)
    stored_kinds = [f.name for f in families_at(level)] if level in LEVELS else []
    if "mge" in stored_kinds:
        available.add("mge")
    if store is not None and network_id is not None and stored_kinds:
        requested = (
            None
            if metrics is None
            else {METRICS[m].graph for m in ([metrics] if isinstance(metrics, str) else metrics)}
        )
        for kind in (k for k in stored_kinds if k in ROLLED_UNIT_LABELS):
            if kind not in in_memory and (requested is None or kind in requested):
                loaded = load_rolled(store, network_id, kind)
                if loaded is not None:
                    in_memory[kind] = loaded
                    available.add(kind)
    wanted = _resolve_metrics(metrics, available)
    missing_graph = sorted({METRICS[m].graph for m in wanted} - available)
    if missing_graph:
        need = [m for m in wanted if METRICS[m].graph in missing_graph]
        raise ValidationError(
            f"Metrics {need} need the {missing_graph} graph(s), which were not given"
            + (
                f" and are not in the store for network {network_id} (stored at level {level!r})."
                if store is not None
                else "."
            )
        )

    # Engine choice per metric.
    db_wanted: list[str] = []
    if store is not None and engine != "inprocess":
        candidates = [m for m in wanted if METRICS[m].database]
        if engine == "database":
            if "mge" not in stored_kinds and candidates:
                raise ValidationError(
                    f"engine='database' needs network {network_id} stored at level "
                    f"'{GRAPH_FAMILIES['mge'].min_level}' "
                    f"(it is at {level!r})."
                )
            db_wanted = candidates
        elif "mge" in stored_kinds:  # the database engine works on the stored MGE
            mge = in_memory.get("mge")
            if mge is None or mge.n_edges <= DB_AUTO_MAX_EDGES:
                db_wanted = candidates
    rows: list[dict[str, Any]] = []
    notes: dict[str, dict[str, Any]] = {}
    if db_wanted:
        from prunegraph.queries.gds_metrics import database_metrics

        assert store is not None and network_id is not None  # db_wanted needs a stored network
        rows.extend(database_metrics(store, network_id, db_wanted, info=info))
    rest = [m for m in wanted if m not in db_wanted]
    if rest:
        if "mge" in {METRICS[m].graph for m in rest} and "mge" not in in_memory:
            assert store is not None and network_id is not None
            in_memory["mge"] = load_mge(store, network_id)
        memo: list[tuple[MultipartiteGraph, dict[str, Estimate]]] = []
        with shared_layers():
            for kind in GRAPH_FAMILIES:
                these = [m for m in rest if METRICS[m].graph == kind]
                if these:
                    r, n = _inprocess(
                        in_memory[kind], these, in_memory.get("mge"), budget, seed, memo
                    )
                    rows.extend(r)
                    notes.update(n)
    df = _frame(rows, network_id)
    df.attrs["estimators"] = notes
    if store is not None and write:
        write_metrics(store, df, estimators=notes)
    return df


# ------------------------------------------------------------- warm engine
_WARM: dict[str, float] = {}


def _warm_up_graph() -> MultipartiteGraph:
    """A small layered graph with a skip connection that reaches every in-process code path.

    Four partitions of 80 units (320 nodes: above the dense-eigensolver size, so
    the Lanczos path runs), three random linear layers and one identity skip
    (triangles, 4-cliques possible).
    """
    rng = np.random.default_rng(0)
    sizes = (80, 80, 80, 80)
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    partitions = tuple(
        Partition(index=p, name=f"p{p}", shape=(size,), offset=int(offsets[p]))
        for p, size in enumerate(sizes)
    )
    src, dst, blocks, start = [], [], [], 0
    for index, (a, b, kind) in enumerate(((0, 1, "linear"), (1, 2, "linear"), (2, 3, "linear"))):
        keep = rng.random((sizes[a], sizes[b])) < 0.15
        i, j = np.nonzero(keep)
        src.append(i + offsets[a])
        dst.append(j + offsets[b])
        n = len(i)
        blocks.append(EdgeBlock(index, f"l{index}", kind, a, b, start, start + n))
        start += n
    ident = np.arange(sizes[1])
    src.append(ident + offsets[1])
    dst.append(ident + offsets[3])
    blocks.append(EdgeBlock(3, "skip", "skip", 1, 3, start, start + sizes[1]))
    src_all = np.concatenate(src).astype(np.int32)
    return MultipartiteGraph(
        kind="mge",
        partitions=partitions,
        blocks=tuple(blocks),
        src=src_all,
        dst=np.concatenate(dst).astype(np.int32),
        weight=rng.normal(size=len(src_all)).astype(np.float32),
        meta={},
    )


def warm_up() -> float:
    """Load every compiled kernel of the in-process engine into this process; returns seconds.

    numba compiles the kernels once (cached on disk, ``cache=True``) and each
    process loads them on first use. A worker process calls this once (the
    study runner's pool initializer does), so no network pays the loading;
    later calls return 0. The sampled estimators and the parallel mat-vec, which
    a small graph does not reach, are called directly on small inputs.
    """
    if "seconds" in _WARM:
        return 0.0
    from time import perf_counter

    from prunegraph.queries import _kernels as K
    from prunegraph.queries import _spectral as S
    from prunegraph.queries.metric_registry import definitions

    start = perf_counter()
    graph = _warm_up_graph()
    # Everything but the networkx layout (no compiled code, seconds of work).
    names = [m.name for m in definitions(scope="network", graph="mge") if m.engine != "networkx"]
    compute_metrics(graph, metrics=names, budget=1e3)  # the sampling branches
    compute_metrics(graph, metrics=names)  # the exact ones
    st = GraphStructure(graph)
    ptr, idx, data, diag, chunks = st.symmetric
    x = np.ones(st.n)
    K.csr_matvec(ptr, idx, data, diag, x, st.weighted_degree, True, chunks)
    uptr, uidx, udata, loops = st.upper
    S.sym_matvec1(uptr, uidx, udata, loops, x, st.weighted_degree, True, 1)
    # The same layers without the skip: a bipartite chain (folded gap, dense 4-cycle
    # count, half products of ln_communicability), then the parallel folded product.
    stop = graph.blocks[2].stop
    chain = MultipartiteGraph(
        "mge",
        graph.partitions,
        graph.blocks[:3],
        graph.src[:stop],
        graph.dst[:stop],
        graph.weight[:stop],
        {},
    )
    compute_metrics(chain, metrics=["spectral_gap", "motif4", "ln_communicability"])
    K.csr_matvec_ranges(ptr, idx, data, x, np.array([[0, st.n]], dtype=np.int64))
    K.csr_pattern(graph.dst, graph.src, st.n)  # graphs whose edges do not all go up
    K.weighted_upper_csr(graph.dst, graph.src, graph.weight, st.n, is_dag=False)
    _warm_large_graph_paths(graph, chain)
    _warm_block_spectra(graph, chain)
    # Per-layer metrics of the rolled graphs (and the BLAS thread controller they build).
    compute_section_b(replace(graph, kind="rolled"))
    _WARM["seconds"] = _WARM["pending"] = perf_counter() - start
    return _WARM["seconds"]


def _warm_block_spectra(*graphs: MultipartiteGraph) -> None:
    """Run the small-graph spectra over dense partition blocks, so their kernels load now.

    The warm-up graphs are too sparse for :func:`topometrics._dense_blocks` (a demo
    network's dense layers take that path); the fill threshold is lifted for the
    call. With the skip the gap is solved on ``A_s``, on the chain folded.
    """
    from prunegraph.queries import _block_spectra
    from prunegraph.queries import topometrics as T

    saved = _block_spectra.DENSE_BLOCK_MAX_FILL
    try:
        _block_spectra.DENSE_BLOCK_MAX_FILL = float("inf")
        for graph in graphs:
            T._small_spectra(GraphStructure(graph), True, True, 1e-8, 1e-7)
    finally:
        _block_spectra.DENSE_BLOCK_MAX_FILL = saved


def _warm_large_graph_paths(*graphs: MultipartiteGraph) -> None:
    """Run the large-graph spectral code on small graphs, so its kernels load now.

    Above :data:`topometrics.PLAIN_LANCZOS_MIN_NODES` nodes the two spectra run
    in lockstep through the two-column products (the gather or the upper-triangle
    one, whichever :func:`topometrics.matvec_kernel` times faster), with the
    vectorised update step on long vectors: paths a small warm-up graph never
    takes. The size thresholds are lowered for the duration of the call (the
    worker's initializer runs alone, nothing else reads them meanwhile) and each
    product kernel is forced in turn, so the real call sites load the kernels
    with the real argument types.
    """
    import numba

    from prunegraph.queries import _spectral
    from prunegraph.queries import topometrics as T

    saved = (T.PLAIN_LANCZOS_MIN_NODES, T.PARALLEL_MATVEC_MIN_ENTRIES, _spectral.LONG_STEP_MIN)
    threads = numba.get_num_threads()
    try:
        # Large graphs on all threads (parallel products and steps), then one thread
        # per worker (serial halves of the folded product, the serial step).
        for lowered, n_threads in (((0, 0, 0), threads), ((0, *saved[1:]), 1)):
            T.PLAIN_LANCZOS_MIN_NODES, T.PARALLEL_MATVEC_MIN_ENTRIES = lowered[:2]
            _spectral.LONG_STEP_MIN = lowered[2]
            numba.set_num_threads(n_threads)
            for graph in graphs:
                for kernel in ("gather", "upper"):
                    st = GraphStructure(graph)
                    st.__dict__["_matvec_kernel"] = kernel
                    T.spectral_pair(st)
                    T.spectral_pair(st, radius=False)
                    T.spectral_pair(st, gap=False)
    finally:
        T.PLAIN_LANCZOS_MIN_NODES, T.PARALLEL_MATVEC_MIN_ENTRIES = saved[:2]
        _spectral.LONG_STEP_MIN = saved[2]
        numba.set_num_threads(threads)


def take_warm_up_seconds() -> float:
    """Seconds :func:`warm_up` spent in this process, reported once (0 afterwards).

    The study runner records them with the first network a worker computes,
    apart from that network's own stage times.
    """
    return _WARM.pop("pending", 0.0)


def wide(df: pd.DataFrame) -> pd.DataFrame:
    """Network-level rows of a long table pivoted to one row per network."""
    net = df[df["layer"].isna()]
    return net.pivot_table(index="network_id", columns="metric", values="value", aggfunc="first")


__all__ = [
    "DB_METRICS",
    "DEFINITIONS",
    "LONG_COLUMNS",
    "METRICS",
    "MetricSpec",
    "UnknownNameError",
    "compute_metrics",
    "load_mge",
    "property_names",
    "take_warm_up_seconds",
    "warm_up",
    "wide",
    "write_metrics",
]
