"""The metric registry: every metric is one :class:`Metric` holding its own code.

A metric is registered next to its in-process function with
:func:`register_metric`::

    @register_metric("kcore", section="A", needs={"upper", "undirected"}, engine="numba",
                     database=DatabaseImpl("metric_gds_kcore", _column("kcore"),
                                           projection="UNDIRECTED"))
    def kcore_metric(ctx: MetricContext) -> float | None:
        return kcore(ctx.structure)

The registration records the metric's section, the graph kinds it applies to,
its scope (one value per network, per layer, or per pair of networks), the
cached structures it reads (so the engine can free them after their last use),
its estimator contract and, optionally, its database implementation. The
in-process engine (:func:`prunegraph.queries.metrics.compute_metrics`), the
database engine (:mod:`prunegraph.queries.gds_metrics`), the name lists of
:mod:`prunegraph.queries.metric_names` and the column names of the wide
feature table are all read off this registry: adding a metric is one function
plus one registration (plus its test).

Estimator contract: a metric registered with ``sampled=False`` is exact and
must return a plain value (or an :class:`~prunegraph.queries.motifs.Estimate`
without a standard error); one registered with ``sampled=True`` may return an
``Estimate`` whose ``se`` is the standard error of an unbiased estimate (its
long-table engine is then ``estimate`` and ``<metric>_se`` is stored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prunegraph._registry import Registry
from prunegraph.errors import ValidationError
from prunegraph.queries.metric_names import GRAPH_PREFIXES, LAYER_PREFIXES
from prunegraph.queries.motifs import Estimate

SECTIONS: tuple[str, ...] = ("A", "B", "C", "D")
SCOPES: tuple[str, ...] = ("network", "layer", "pair")
GRAPH_KINDS: tuple[str, ...] = tuple(GRAPH_PREFIXES)
PROJECTIONS: tuple[str, ...] = ("UNDIRECTED", "NATURAL")


@dataclass(frozen=True)
class DatabaseImpl:
    """How the database engine computes a metric on a network stored at level ``full``.

    Parameters
    ----------
    query : str
        Name of a library query (``queries/cypher/<query>.cypher``). Without a
        projection it receives ``label`` (the network's unit label) plus
        ``params(info)``; with one, ``graph_name`` plus ``params(info)``.
    value : callable
        ``value(row, info) -> float | None``: the metric from the query's first
        row and the stored Network's properties (``n_nodes``, ``n_partitions``...).
    projection : {None, "UNDIRECTED", "NATURAL"}
        GDS projection the query runs on: ``UNDIRECTED`` is the simple
        undirected graph (parallel relationships merged); ``NATURAL`` the
        directed graph (weighted by ``w`` when ``weighted``).
    weighted : bool
        Project the ``w`` property (``NATURAL`` only).
    params : callable, optional
        ``params(info) -> dict`` of further query parameters.

    Metrics sharing a projection are computed on one projection; metrics
    sharing a query and parameters on one run of it.
    """

    query: str
    value: Callable[[Mapping[str, Any], Mapping[str, Any]], float | None]
    projection: str | None = None
    weighted: bool = False
    params: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if self.projection is not None and self.projection not in PROJECTIONS:
            raise ValidationError(
                f"The 'projection' of a database metric must be None or one of {PROJECTIONS}. "
                f"Got {self.projection!r} instead."
            )

    @property
    def engine(self) -> str:
        """``cypher`` (plain query over the units) or ``gds`` (on a projection)."""
        return "cypher" if self.projection is None else "gds"


@dataclass(frozen=True)
class Metric:
    """One registered metric: its names, its code and its contracts.

    Attributes
    ----------
    name : str
        Base name (the MGE column; ``rolled_``/``ch_`` prefixed on other graphs).
    section : {"A", "B", "C", "D"}
        Section of the metric definitions (``docs/metrics.md``).
    scope : {"network", "layer", "pair"}
        ``network``: ``compute(ctx: MetricContext)``, one value per graph;
        ``layer``: ``compute(layer: LayerContext)``, one value per conv/linear
        layer of a rolled graph, plus the network mean ``mean_<name>``;
        ``pair``: ``compute(graph_a, graph_b)``, compares two networks.
    compute : callable
        The in-process implementation.
    graphs : tuple of str
        Graph kinds it is computed on.
    needs : frozenset of str
        Cached structures (:class:`~prunegraph.queries._structure.GraphStructure`
        attributes) and shared intermediates (:meth:`MetricContext.shared` keys)
        it reads; the engine frees each one after the last metric needing it.
    engine : str
        Long-table engine of an in-process value (``numpy``, ``numba``, ``scipy``,
        ``networkx``); ``estimate`` replaces it when a value carries a standard error.
    sampled : bool
        Whether the value may be a sampled estimate with a standard error.
    database : DatabaseImpl or None
        The database implementation (MGE only), if any.
    """

    name: str
    section: str
    scope: str
    compute: Callable[..., Any] = field(repr=False)
    graphs: tuple[str, ...]
    needs: frozenset[str] = frozenset()
    engine: str = "numpy"
    sampled: bool = False
    database: DatabaseImpl | None = None

    def columns(self) -> dict[str, str]:
        """Column (property) name on each graph kind: ``{kind: name}``."""
        if self.scope == "layer":
            return {kind: LAYER_PREFIXES[kind] + self.name for kind in self.graphs}
        if self.scope == "pair":
            return {kind: self.name for kind in self.graphs[:1]}
        return {kind: GRAPH_PREFIXES[kind] + self.name for kind in self.graphs}


@dataclass(frozen=True)
class MetricSpec:
    """What one metric column means: section, graph, level and database support.

    ``definition`` is the registered :class:`Metric` the column comes from.
    """

    name: str
    section: str
    graph: str
    base: str
    per_layer: bool = False
    database: bool = False
    pairwise: bool = False
    definition: Metric | None = field(default=None, compare=False, repr=False)


#: Registered metrics by base name, in registration (computation) order.
DEFINITIONS: dict[str, Metric] = {}
#: Every column name (``rolled_kcore``, ``mean_ch_delta_r``, ...) -> :class:`MetricSpec`.
METRICS: Registry[MetricSpec] = Registry("metric")


def _specs(metric: Metric) -> list[MetricSpec]:
    out = []
    for kind, column in metric.columns().items():
        if metric.scope == "layer":
            out.append(
                MetricSpec(column, metric.section, kind, metric.name, True, False, False, metric)
            )
            mean = f"mean_{column}"
            out.append(
                MetricSpec(mean, metric.section, kind, f"mean_{metric.name}", definition=metric)
            )
        else:
            out.append(
                MetricSpec(
                    column,
                    metric.section,
                    kind,
                    metric.name,
                    database=kind == "mge" and metric.database is not None,
                    pairwise=metric.scope == "pair",
                    definition=metric,
                )
            )
    return out


def add_metric(metric: Metric) -> Metric:
    """Register ``metric`` (and all its column names); names must be new."""
    if not isinstance(metric, Metric):
        raise ValidationError(f"add_metric takes a Metric. Got {type(metric).__name__} instead.")
    if not metric.name.isidentifier() or metric.name != metric.name.lower():
        raise ValidationError(
            f"A metric name must be a lowercase identifier. Got {metric.name!r} instead."
        )
    if metric.section not in SECTIONS:
        raise ValidationError(
            f"The 'section' of metric {metric.name!r} must be one of {SECTIONS}. "
            f"Got {metric.section!r} instead."
        )
    if metric.scope not in SCOPES:
        raise ValidationError(
            f"The 'scope' of metric {metric.name!r} must be one of {SCOPES}. "
            f"Got {metric.scope!r} instead."
        )
    allowed = tuple(LAYER_PREFIXES) if metric.scope == "layer" else GRAPH_KINDS
    bad = [g for g in metric.graphs if g not in allowed]
    if bad or not metric.graphs:
        raise ValidationError(
            f"The 'graphs' of metric {metric.name!r} must be a non-empty subset of {allowed}. "
            f"Got {metric.graphs!r} instead."
        )
    if metric.database is not None and (metric.scope != "network" or "mge" not in metric.graphs):
        raise ValidationError(
            f"Metric {metric.name!r}: a database implementation needs scope 'network' on the MGE."
        )
    if metric.name in DEFINITIONS:
        raise ValidationError(f"Metric {metric.name!r} is registered twice.")
    specs = _specs(metric)
    taken = [s.name for s in specs if s.name in METRICS]
    if taken:
        raise ValidationError(f"Metric {metric.name!r}: column names {taken} are already taken.")
    DEFINITIONS[metric.name] = metric
    for spec in specs:
        METRICS.add(spec.name, spec)
    return metric


def register_metric(
    name: str,
    *,
    section: str,
    graphs: Iterable[str] | None = None,
    scope: str = "network",
    needs: Iterable[str] = (),
    engine: str = "numpy",
    sampled: bool = False,
    database: DatabaseImpl | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering the decorated function as metric ``name`` (see :class:`Metric`).

    ``graphs`` defaults to every encoding for sections A (network scope), the
    rolled encodings for per-layer metrics, and the MGE otherwise.
    """

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        if graphs is not None:
            kinds = tuple(graphs)
        elif scope == "layer":
            kinds = tuple(LAYER_PREFIXES)
        elif section == "A":
            kinds = GRAPH_KINDS
        else:
            kinds = ("mge",)
        add_metric(
            Metric(
                name=name,
                section=section,
                scope=scope,
                compute=fn,
                graphs=kinds,
                needs=frozenset(needs),
                engine=engine,
                sampled=sampled,
                database=database,
            )
        )
        return fn

    return decorator


def remove_metric(name: str) -> Metric:
    """Unregister metric ``name`` and its columns (for tests and plug-ins that undo themselves)."""
    if name not in DEFINITIONS:
        from prunegraph.errors import UnknownNameError

        raise UnknownNameError("metric", name, DEFINITIONS)
    metric = DEFINITIONS.pop(name)
    items = METRICS._items  # the registry has no public removal
    for spec in _specs(metric):
        items.pop(spec.name, None)
    return metric


def definitions(
    *, section: str | None = None, scope: str | None = None, graph: str | None = None
) -> list[Metric]:
    """Registered metrics in computation order, optionally filtered."""
    return [
        m
        for m in DEFINITIONS.values()
        if (section is None or m.section == section)
        and (scope is None or m.scope == scope)
        and (graph is None or graph in m.graphs)
    ]


def section_names(section: str) -> tuple[str, ...]:
    """Base names of the metrics of one section, in registration order."""
    return tuple(m.name for m in definitions(section=section))


def database_names() -> tuple[str, ...]:
    """MGE metrics with a database implementation, in registration order."""
    return tuple(m.name for m in DEFINITIONS.values() if m.database is not None)


def structure_users() -> dict[str, set[str]]:
    """``{structure or shared key: metrics that read it}`` over the registry."""
    users: dict[str, set[str]] = {}
    for m in DEFINITIONS.values():
        for key in m.needs:
            users.setdefault(key, set()).add(m.name)
    return users


# ------------------------------------------------------------------ contexts
class MetricContext:
    """What a network-scope metric function receives: the graph, its structures, settings.

    Attributes
    ----------
    structure : GraphStructure
        Cached CSR views of the graph (``ctx.structure.undirected`` ...).
    graph : MultipartiteGraph
        The graph itself.
    budget : float
        Work units allowed for an exact count before a sampled metric samples.
    rng : numpy.random.Generator
        Seeded generator shared, in registration order, by the sampled metrics.
    requested : frozenset of str or None
        The metrics :func:`evaluate` was asked for (None outside it): a metric
        that can produce a sibling in the same pass (``spectral_gap`` the
        ``spectral_radius``) does so only when the sibling is wanted.
    """

    def __init__(self, structure: Any, *, budget: float, seed: int = 0) -> None:
        self.structure = structure
        self.graph = structure.graph
        self.budget = budget
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._shared: dict[str, Any] = {}
        self.requested: frozenset[str] | None = None

    def shared(self, key: str, build: Callable[[MetricContext], Any]) -> Any:
        """An intermediate several metrics read (``build(ctx)`` runs once per graph)."""
        if key not in self._shared:
            self._shared[key] = build(self)
        return self._shared[key]

    def release(self, keep: set[str]) -> None:
        """Free every cached structure and shared intermediate whose name is not in ``keep``."""
        for key in [k for k in self._shared if k not in keep]:
            del self._shared[key]
        self.structure.release_except(keep)


class LayerContext:
    """What a per-layer metric function receives: one layer's bipartite edge list.

    Attributes
    ----------
    rows, cols : ndarray
        Local left / right unit indices of the layer's edges.
    weights : ndarray
        The edges' weights.
    n_left, n_right : int
        Sizes of the two sides.
    n_weights, n_unmasked : int or None
        The layer's weight count and unmasked count (None for channel graphs).
    index : int
        The layer's block index.
    """

    def __init__(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        weights: np.ndarray,
        n_left: int,
        n_right: int,
        *,
        n_weights: int | None = None,
        n_unmasked: int | None = None,
        index: int = 0,
    ) -> None:
        self.rows, self.cols, self.weights = rows, cols, weights
        self.n_left, self.n_right = n_left, n_right
        self.n_weights, self.n_unmasked = n_weights, n_unmasked
        self.index = index
        self._shared: dict[str, Any] = {}

    def shared(self, key: str, build: Callable[[LayerContext], Any]) -> Any:
        """An intermediate several per-layer metrics read (built once per layer)."""
        if key not in self._shared:
            self._shared[key] = build(self)
        return self._shared[key]


def iter_columns() -> Iterator[tuple[str, MetricSpec]]:
    """Every registered column and its spec (sorted by name)."""
    yield from METRICS.items()


def as_estimate(metric: Metric, value: Any) -> Estimate:
    """A metric function's return value as an :class:`Estimate`, checking the contract."""
    if isinstance(value, Estimate):
        if value.se is not None and not metric.sampled:
            raise ValidationError(
                f"Metric {metric.name!r} is registered as exact but returned a standard error."
            )
        return value
    return Estimate(None if value is None else float(value))


@dataclass(frozen=True)
class SideJob:
    """A serial intermediate of a large graph, run beside the others before the metrics.

    Attributes
    ----------
    key : str
        The :meth:`MetricContext.shared` entry it fills (its readers declare it in ``needs``).
    build : callable
        ``build(ctx)``, the entry's value; a compiled kernel that releases the GIL,
        so two jobs on two threads run at once.
    metrics : frozenset of str
        The metrics that read it: the job runs when one of them is requested.
    prepare : callable
        ``prepare(ctx)`` builds, in the calling thread, every cached structure
        ``build`` reads (no job may build one another job reads).
    cost : float
        Relative cost, from measurements: the queue hands out the largest first.
    skip_with : str or None
        Another job's key that fills this entry too (this one then does not run).
    """

    key: str
    build: Callable[[MetricContext], Any] = field(repr=False)
    metrics: frozenset[str]
    prepare: Callable[[MetricContext], Any] = field(repr=False)
    cost: float = 1.0
    skip_with: str | None = None


#: Side jobs by key (:func:`register_side_job`).
SIDE_JOBS: dict[str, SideJob] = {}


def register_side_job(
    key: str,
    build: Callable[[MetricContext], Any],
    *,
    metrics: Iterable[str],
    prepare: Callable[[MetricContext], Any] = lambda ctx: None,
    cost: float = 1.0,
    skip_with: str | None = None,
) -> None:
    """Register :class:`SideJob` ``key`` (replacing one of the same key)."""
    SIDE_JOBS[key] = SideJob(key, build, frozenset(metrics), prepare, cost, skip_with)


def run_side_jobs(ctx: MetricContext, threads: int) -> list[str]:
    """Fill the shared entries of the requested metrics' side jobs, ``threads`` at a time.

    The serial kernels of a large graph (core numbers, cut search, path counts,
    triangles, flow, ...) are independent once the structures they read exist:
    two threads pulling the largest remaining job from one queue keep both cores
    busy, where running them metric by metric left one idle for all but the
    pairs written side by side. A job that raises leaves its entry empty (its
    metric computes it again and raises there). Returns the keys run, in start order.
    """
    wanted = ctx.requested or frozenset()
    jobs = [j for j in SIDE_JOBS.values() if j.metrics & wanted and j.key not in ctx._shared]
    keys = {j.key for j in jobs}
    jobs = [j for j in jobs if j.skip_with not in keys]
    if len(jobs) < 2 or threads < 2:
        return []
    for job in jobs:
        job.prepare(ctx)
    jobs.sort(key=lambda j: -j.cost)
    import threading
    from concurrent.futures import ThreadPoolExecutor

    lock = threading.Lock()
    queue = list(jobs)
    started: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop(0)
                started.append(job.key)
            try:
                ctx._shared[job.key] = job.build(ctx)
            except Exception:
                ctx._shared.pop(job.key, None)

    with ThreadPoolExecutor(min(threads, len(jobs)) - 1) as pool:
        futures = [pool.submit(worker) for _ in range(min(threads, len(jobs)) - 1)]
        worker()
        for f in futures:
            f.result()
    return started


def evaluate(ctx: MetricContext, metrics: Iterable[Metric]) -> dict[str, Estimate]:
    """Run network-scope ``metrics`` on one graph in registration order.

    Each cached structure and shared intermediate is freed right after the
    last requested metric that reads it (peak memory). Returns ``{name: Estimate}``.
    """
    wanted = {m.name for m in metrics}
    order = [m for m in DEFINITIONS.values() if m.name in wanted]
    missing = wanted - {m.name for m in order}
    if missing:
        from prunegraph.errors import UnknownNameError

        raise UnknownNameError("metric", sorted(missing)[0], DEFINITIONS)
    bad = [m.name for m in order if m.scope != "network"]
    if bad:
        raise ValidationError(f"Metric {bad[0]!r} is not a network-scope metric.")
    import numba

    from prunegraph.queries._structure import SERIAL_MAX_EDGES, kernel_threads, one_blas_thread

    ctx.requested = frozenset(wanted)
    out: dict[str, Estimate] = {}
    # BLAS on one thread throughout, not only in the dense branches: a threaded
    # OpenBLAS call (a norm or dot over a long vector) leaves its workers spinning
    # for a while, and they take a core from the next parallel numba kernel
    # (ResNet-20 MGE at 0.9: the lockstep's first ten products 8 ms instead of 4).
    with kernel_threads(ctx.graph.n_edges), one_blas_thread():
        if ctx.graph.n_edges > SERIAL_MAX_EDGES:
            run_side_jobs(ctx, numba.get_num_threads())
        for i, metric in enumerate(order):
            out[metric.name] = as_estimate(metric, metric.compute(ctx))
            ctx.release(set().union(*(m.needs for m in order[i + 1 :])))
    return out


__all__ = [
    "DEFINITIONS",
    "GRAPH_PREFIXES",
    "LAYER_PREFIXES",
    "METRICS",
    "SIDE_JOBS",
    "DatabaseImpl",
    "LayerContext",
    "Metric",
    "MetricContext",
    "MetricSpec",
    "SideJob",
    "add_metric",
    "as_estimate",
    "database_names",
    "definitions",
    "evaluate",
    "register_metric",
    "register_side_job",
    "remove_metric",
    "run_side_jobs",
    "section_names",
]
