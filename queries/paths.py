r"""Section D: path metrics (Janik and Nowak, Table 6) on the MGE as a DAG.

A virtual source ``s`` feeds every partition-0 node and a virtual sink ``t``
is fed by every last-partition node. With ``f(v)`` the number of ``s -> v``
paths and ``ell`` the number of real (non-virtual) edges on a path::

    log_paths  = ln sum_{v in last} f(v)                 (null if no path)
    mean_path  = mean of ell over all s -> t paths
    max_path   = max of ell over all s -> t paths
    edge_connectivity = min number of real edges whose removal separates s
                 from t (max flow with unit capacities; virtual edges are not
                 edges of the network and get infinite capacity)
    mean_degree = 2 |E| / |V|
    ln_communicability = ln [exp(A_u)]_{s,t} on the undirected graph with s, t
    pca_elongation = 2 (V1 - 0.5), V1 the explained-variance ratio of the first
                 principal axis of a 2-D Kamada-Kawai layout (Janik and Nowak print
                 "2V_1 - 0.5"; we read it as the map of V1 in [0.5, 1] to [0, 1])

Counts run partition by partition in log space: ``f = exp(s_p) g`` with
``max g = 1``, so counts far beyond float range stay exact to rounding.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from numba import njit

from prunegraph.errors import ValidationError
from prunegraph.loader.graph import MultipartiteGraph
from prunegraph.queries import _kernels as K
from prunegraph.queries._structure import GraphStructure
from prunegraph.queries.metric_registry import (
    DEFINITIONS,
    MetricContext,
    evaluate,
    register_metric,
    register_side_job,
    section_names,
)
from prunegraph.queries.motifs import DEFAULT_BUDGET

COMMUNICABILITY_MAX_NODES = 2000
PCA_ELONGATION_MAX_NODES = 600


def _check_dag(graph: MultipartiteGraph) -> None:
    for b in graph.blocks:
        if b.n_edges and b.dst_partition <= b.src_partition:
            raise ValidationError(
                f"Path metrics need edges from earlier to later partitions; block {b.index} "
                f"({b.name}) goes from partition {b.src_partition} to {b.dst_partition}."
            )


def path_counts(graph: MultipartiteGraph) -> tuple[float | None, float | None, int | None]:
    """``(log_paths, mean_path, max_path)`` by dynamic programming over partitions."""
    _check_dag(graph)
    k = graph.n_partitions
    if k == 0:
        return None, None, None
    # Per partition: scale s (log), normalised counts g, mean length m, max length ell.
    scale: list[float] = [0.0] * k
    g: list[np.ndarray] = [np.zeros(p.size) for p in graph.partitions]
    mean_len: list[np.ndarray] = [np.zeros(p.size) for p in graph.partitions]
    max_len: list[np.ndarray] = [np.full(p.size, -1, dtype=np.int64) for p in graph.partitions]
    g[0] = np.ones(graph.partitions[0].size)
    max_len[0][:] = 0
    incoming: dict[int, list] = {}
    for b in graph.blocks:
        incoming.setdefault(b.dst_partition, []).append(b)
    for r in range(1, k):
        blocks = [b for b in incoming.get(r, []) if b.n_edges]
        size = graph.partitions[r].size
        if not blocks:
            continue
        live = [b for b in blocks if g[b.src_partition].any()]
        top = max((scale[b.src_partition] for b in live), default=0.0)
        total = np.zeros(size)
        weighted_len = np.zeros(size)
        ell = np.full(size, -1, dtype=np.int64)
        for b in blocks:
            p = b.src_partition
            factor = math.exp(scale[p] - top) if b in live else 0.0
            K.path_block_update(
                graph.src[b.start : b.stop],
                graph.dst[b.start : b.stop],
                graph.partitions[p].offset,
                graph.partitions[r].offset,
                g[p],
                mean_len[p],
                max_len[p],
                factor,
                total,
                weighted_len,
                ell,
            )
        peak = total.max()
        if peak > 0:
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_len[r] = np.where(total > 0, weighted_len / total, 0.0)
            g[r] = total / peak
            scale[r] = top + math.log(peak)
        max_len[r] = ell
    last = k - 1
    total_last = g[last].sum()
    if total_last <= 0:
        return None, None, None
    log_paths = scale[last] + math.log(total_last)
    mean_path = float((g[last] * mean_len[last]).sum() / total_last)
    max_path = int(max_len[last].max())
    return log_paths, mean_path, max_path


def edge_connectivity(
    graph: MultipartiteGraph, structure: GraphStructure | None = None
) -> int | None:
    """Minimum number of real edges separating the virtual source from the virtual sink.

    Equals the maximum number of edge-disjoint partition-0 -> last-partition
    paths (Menger); computed by Dinic's algorithm on unit capacities, after a
    greedy pass of edge-disjoint paths that ends the search when it reaches the
    smallest layer cut. With a ``structure`` of the graph (the metric context's,
    whose full simple CSR other metrics read too) the greedy pass walks that CSR
    in place, built if needed (:func:`_kernels.greedy_paths_simple`; ResNet-20
    MGE at sparsity 0.6: 143 ms -> 18 ms when it meets the bound), provided it
    holds every edge once (every edge to a larger id, no parallel edges). Its ids
    may be renamed inside partitions (:attr:`GraphStructure.relabel`): the
    sources and sinks keep their id ranges and the flow its value.
    """
    _check_dag(graph)
    n = graph.n_nodes
    if n == 0 or graph.n_partitions < 2:
        return None
    if 2 * graph.n_edges >= 2**31:
        raise ValidationError(
            f"edge_connectivity supports up to 2^30 edges; this graph has {graph.n_edges:,}."
        )
    part = graph.node_partition
    is_source = part == 0
    is_sink = part == graph.n_partitions - 1
    # Every edge leaving partitions 0..p for a later one forms a cut: the smallest
    # such layer cut bounds the flow, and the search stops once it is reached.
    crossing = np.zeros(max(graph.n_partitions - 1, 1), dtype=np.int64)
    for b in graph.blocks:
        crossing[b.src_partition : b.dst_partition] += b.n_edges
    bound = int(crossing.min())
    csr = _simple_dag_csr(structure)
    if csr is not None and K.greedy_paths_simple(*csr, is_source, is_sink) >= bound:
        return bound
    return int(K.unit_max_flow(n, graph.src, graph.dst, is_source, is_sink, bound))


def _simple_dag_csr(st: GraphStructure | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``st.undirected`` when it is the graph itself (every edge to a larger id, no parallel
    edges: twice as many entries as edges), else None."""
    if st is None or not st.is_dag_order:
        return None
    ptr, idx, split = st.undirected
    return (ptr, idx, split) if int(ptr[-1]) == 2 * st.graph.n_edges else None


#: Structure names behind the full simple CSR (:attr:`GraphStructure.undirected`).
_FULL_CSR = frozenset({"undirected", "symmetric", "_symmetric_full"})


def _flow_structure(ctx: MetricContext) -> GraphStructure | None:
    """The context's structure for :func:`edge_connectivity` when its full CSR is built or
    another requested metric reads it (then building it here costs nothing extra)."""
    st = ctx.structure
    if "_symmetric_full" in st.__dict__:
        return st
    others = (DEFINITIONS[m] for m in ctx.requested or () if m in DEFINITIONS)
    return st if any(m.needs & _FULL_CSR for m in others if m.name != "edge_connectivity") else None


def _with_terminals(graph: MultipartiteGraph) -> sp.csr_matrix:
    n = graph.n_nodes
    first, last = graph.partitions[0], graph.partitions[-1]
    rows = np.concatenate(
        (graph.src, np.full(first.size, n), np.arange(last.offset, last.offset + last.size))
    )
    cols = np.concatenate(
        (graph.dst, np.arange(first.offset, first.offset + first.size), np.full(last.size, n + 1))
    )
    a = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n + 2, n + 2))
    a = ((a + a.T) > 0).astype(np.float64)
    return a.tocsr()


COMMUNICABILITY_RTOL = 1e-13
"""Lanczos for ``exp(A) e_t`` stops when ``ln C`` moves less than this (relative) in 4 steps."""

LANCZOS_FIRST_ROWS = 32
"""Rows the Lanczos basis starts with (doubled when full; most runs settle in ~20 steps)."""

_STEVD = sla.get_lapack_funcs(("stevd",), (np.zeros(2),))[0]
"""LAPACK ``dstevd``: the driver ``scipy.linalg.eigh_tridiagonal`` picks for all eigenpairs,
called directly (the same numbers, without the wrapper's checks: ~20 us a call)."""


def _eigh_tridiagonal(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of the symmetric tridiagonal ``(alpha, beta)`` (as ``eigh_tridiagonal``)."""
    if alpha.shape[0] == 1:
        return alpha.copy(), np.ones((1, 1))
    w, v, info = _STEVD(alpha, beta, compute_v=1)
    if info != 0:  # pragma: no cover - LAPACK failure
        return sla.eigh_tridiagonal(alpha, beta)
    return w, v


@njit(cache=True)
def _terminal_matvec(indptr, indices, x, first, last, ranges):  # pragma: no cover - compiled
    """Rows ``ranges`` of ``A x`` for the simple undirected graph plus its two terminals.

    ``indptr, indices`` is the graph's simple undirected pattern (``n`` rows,
    sorted); the source ``s = n`` is joined to the nodes ``first = (lo, hi)``
    (partition 0) and the sink ``t = n + 1`` to ``last``. Row ``u < n`` sums
    ``x`` over its neighbours in column order, then ``x[s]``, then ``x[t]``:
    the order of a CSR product of the matrix with the terminals appended, so
    the sums are the same numbers. Rows outside ``ranges`` are 0.
    """
    n = indptr.shape[0] - 1
    out = np.zeros(n + 2)
    for c in range(ranges.shape[0]):
        for u in range(ranges[c, 0], ranges[c, 1]):
            s = 0.0
            if u < n:
                for p in range(indptr[u], indptr[u + 1]):
                    s += x[indices[p]]
                if first[0] <= u < first[1]:
                    s += x[n]
                if last[0] <= u < last[1]:
                    s += x[n + 1]
            elif u == n:
                for v in range(first[0], first[1]):
                    s += x[v]
            else:
                for v in range(last[0], last[1]):
                    s += x[v]
            out[u] = s
    return out


@njit(cache=True)
def _lanczos_terminal(
    indptr, indices, first, last, even, odd, s, t, rtol, first_rows
):  # pragma: no cover - compiled
    """:func:`_lanczos_ln_exp_entry` compiled, on :func:`_terminal_matvec`'s operator.

    The same recurrence, full reorthogonalisation (classical Gram-Schmidt,
    twice), tridiagonal solve (``eigh`` of ``T_m``) and stopping rule, in one
    call: on the demo's graphs the Python steps cost as much as the products.
    ``even`` / ``odd`` are the row ranges computed for even / odd steps (the
    side opposite the basis vector on a bipartite graph, else all rows).
    Returns NaN where :func:`_lanczos_ln_exp_entry` returns None.
    """
    n = indptr.shape[0] + 1
    limit = min(n, 512)
    cap = min(limit, first_rows) + 1
    basis = np.zeros((cap, n))
    basis[0, t] = 1.0
    alpha = np.zeros(limit)
    beta = np.zeros(limit)
    hist = np.zeros(limit)
    nh = 0
    value = np.nan
    c = np.zeros(limit)
    for m in range(limit):
        w = _terminal_matvec(indptr, indices, basis[m], first, last, even if m % 2 == 0 else odd)
        a = 0.0
        for k in range(n):
            a += basis[m, k] * w[k]
        alpha[m] = a
        for k in range(n):
            w[k] -= a * basis[m, k]
        if m:
            bm = beta[m - 1]
            for k in range(n):
                w[k] -= bm * basis[m - 1, k]
        for _ in range(2):
            for i in range(m + 1):
                acc = 0.0
                for k in range(n):
                    acc += basis[i, k] * w[k]
                c[i] = acc
            for i in range(m + 1):
                ci = c[i]
                for k in range(n):
                    w[k] -= ci * basis[i, k]
        nb = 0.0
        for k in range(n):
            nb += w[k] * w[k]
        b = math.sqrt(nb)
        reached = False
        for i in range(m + 1):
            if basis[i, s] != 0.0:
                reached = True
                break
        value = np.nan
        if reached:
            tri = np.zeros((m + 1, m + 1))
            for i in range(m + 1):
                tri[i, i] = alpha[i]
                if i < m:
                    tri[i, i + 1] = beta[i]
                    tri[i + 1, i] = beta[i]
            theta, u = np.linalg.eigh(tri)
            top = theta.max()
            total = 0.0
            for j in range(m + 1):
                coef = 0.0
                for i in range(m + 1):
                    coef += basis[i, s] * u[i, j]
                total += coef * u[0, j] * math.exp(theta[j] - top)
            if total > 0:
                value = top + math.log(total)
        exhausted = b <= 1e-12 * max(1.0, abs(a))
        if not np.isnan(value):
            hist[nh] = value
            nh += 1
            if nh > 4 and abs(hist[nh - 1] - hist[nh - 5]) <= rtol * max(1.0, abs(value)):
                return value
        if exhausted:
            return value
        beta[m] = b
        if m + 1 == basis.shape[0]:
            grown = np.zeros((min(2 * m, limit) + 1, n))
            grown[: m + 1] = basis[: m + 1]
            basis = grown
        for k in range(n):
            basis[m + 1, k] = w[k] / b
    return value


def _lanczos_ln_exp_entry(
    a: sp.csr_matrix, s: int, t: int, sides: tuple[np.ndarray, np.ndarray] | None = None
) -> float | None:
    """``ln [exp(A)]_{s,t}`` of a symmetric ``A`` by Lanczos on ``exp(A) e_t`` (Krylov, no dense solve).

    With the Lanczos basis ``V_m`` from ``e_t`` and ``T_m = U diag(theta) U^T``,
    ``exp(A) e_t ~ V_m U exp(theta) U^T e_1``, so ``[exp(A)]_{s,t} = sum_i
    c_i exp(theta_i)`` with ``c_i = (V_m^T e_s)^T U_i U_{0i}``; the largest
    ``theta`` is factored out (no overflow). Full reorthogonalisation keeps the
    basis orthogonal; the iteration stops when ``ln C`` has settled to
    :data:`COMMUNICABILITY_RTOL` or the Krylov space is exhausted (exact).

    On a bipartite graph (``sides``: the row ranges of its two sides) the
    basis vectors alternate sides, so each product computes only the rows of
    the side opposite the vector (the others are exactly 0): half the
    entries, the same numbers. :func:`_lanczos_terminal` is the same iteration
    compiled, on the pattern with the terminals added on the fly.
    """
    n = a.shape[0]
    ptr, idx, data = a.indptr, a.indices, a.data

    def product(x: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        if rows is None:
            return a @ x
        return K.csr_matvec_ranges_serial(ptr, idx, data, x, rows)

    targets: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
    if sides is not None:
        own = 0 if any(lo <= t < hi for lo, hi in sides[0]) else 1
        # basis[m] lies on side `own` for even m: its product lives on the other side.
        targets = (sides[1 - own], sides[own])

    limit = min(n, 512)
    basis = np.zeros((min(limit, LANCZOS_FIRST_ROWS) + 1, n))  # grown on demand
    basis[0, t] = 1.0
    alpha = np.zeros(limit)
    beta = np.zeros(limit)
    history: list[float] = []
    value: float | None = None
    for m in range(limit):
        w = product(basis[m], targets[m % 2])
        alpha[m] = basis[m] @ w
        w -= alpha[m] * basis[m]
        if m:
            w -= beta[m - 1] * basis[m - 1]
        head = basis[: m + 1]
        for _ in range(2):  # full reorthogonalisation, twice is enough
            w -= head.T @ (head @ w)
        b = float(np.linalg.norm(w))
        reach = basis[: m + 1, s]
        value = None
        if reach.any():  # before the basis reaches s every coefficient is 0 (no value yet)
            theta, u = _eigh_tridiagonal(alpha[: m + 1], beta[:m])
            coef = (reach @ u) * u[0]
            top = float(theta.max())
            total = float((coef * np.exp(theta - top)).sum())
            value = top + math.log(total) if total > 0 else None
        exhausted = b <= 1e-12 * max(1.0, abs(alpha[m]))
        if value is not None:
            history.append(value)
            if len(history) > 4 and abs(history[-1] - history[-5]) <= COMMUNICABILITY_RTOL * max(
                1.0, abs(value)
            ):
                return value
        if exhausted:
            return value
        beta[m] = b
        if m + 1 == basis.shape[0]:
            grown = np.zeros((min(2 * m, limit) + 1, n))
            grown[: m + 1] = basis
            basis = grown
        basis[m + 1] = w / b
    return value


def ln_communicability(
    graph: MultipartiteGraph, structure: GraphStructure | None = None
) -> float | None:
    """``ln C(s, t)``, ``C = [exp(A_u)]_{s,t} = sum_i phi_s^i phi_t^i exp(lambda_i)``.

    Computed by Lanczos on ``exp(A_u) e_t`` (:func:`_lanczos_ln_exp_entry`):
    tens of sparse products instead of a full dense eigendecomposition. Null
    above the size limit. The products read the simple undirected pattern of
    ``structure`` (the engine's shared :class:`GraphStructure`, built here when
    not given) and add the two terminals' rows and columns on the fly
    (:func:`_terminal_matvec`), the whole iteration compiled
    (:func:`_lanczos_terminal`); a graph with self-loops builds ``A_u`` with
    its terminals as a scipy matrix instead.
    """
    n = graph.n_nodes
    if n + 2 > COMMUNICABILITY_MAX_NODES or graph.n_partitions == 0:
        return None
    sides = _terminal_sides(graph)
    if graph.n_edges and bool(np.any(graph.src == graph.dst)):
        return _lanczos_ln_exp_entry(_with_terminals(graph), n, n + 1, sides)
    st = structure if structure is not None else GraphStructure(graph)
    ptr, idx, _ = st.undirected
    f, lp = graph.partitions[0], graph.partitions[-1]
    first = np.array([f.offset, f.offset + f.size], dtype=np.int64)
    last = np.array([lp.offset, lp.offset + lp.size], dtype=np.int64)
    even = odd = np.array([[0, n + 2]], dtype=np.int64)
    if sides is not None:  # basis vectors alternate sides; t's side first
        own = 0 if any(lo <= n + 1 < hi for lo, hi in sides[0]) else 1
        even, odd = sides[1 - own], sides[own]
    value = _lanczos_terminal(
        ptr, idx, first, last, even, odd, n, n + 1, COMMUNICABILITY_RTOL, LANCZOS_FIRST_ROWS
    )
    return None if math.isnan(value) else float(value)


def _terminal_sides(graph: MultipartiteGraph) -> tuple[np.ndarray, np.ndarray] | None:
    """Row ranges of the two sides of the graph with its terminals, if it is bipartite.

    The virtual source joins partition 0 and the sink the last partition, so
    they take the colour opposite to theirs. None when the partition graph is
    not two-colourable (skip connections two partitions apart, edges inside a
    partition).
    """
    k = graph.n_partitions
    adj = np.zeros((k, k), dtype=bool)
    for b in graph.blocks:
        if b.n_edges:
            adj[b.src_partition, b.dst_partition] = adj[b.dst_partition, b.src_partition] = True
    if k == 0 or adj.diagonal().any():
        return None
    color = np.full(k, -1)
    for first in range(k):
        if color[first] >= 0:
            continue
        color[first] = 0
        stack = [first]
        while stack:
            p = stack.pop()
            for q in np.flatnonzero(adj[p]):
                if color[q] < 0:
                    color[q] = 1 - color[p]
                    stack.append(int(q))
                elif color[q] == color[p]:
                    return None
    n = graph.n_nodes
    sides: list[list[tuple[int, int]]] = [[], []]
    for part, c in zip(graph.partitions, color, strict=True):
        sides[int(c)].append((part.offset, part.offset + part.size))
    sides[1 - int(color[0])].append((n, n + 1))
    sides[1 - int(color[k - 1])].append((n + 1, n + 2))
    first_side, second_side = (np.array(x, dtype=np.int64).reshape(-1, 2) for x in sides)
    return first_side, second_side


def pca_elongation(graph: MultipartiteGraph) -> float | None:
    """``2 (V1 - 0.5)`` of the Kamada-Kawai layout (networkx); null above the size limit."""
    if graph.n_nodes + 2 > PCA_ELONGATION_MAX_NODES:
        return None
    import networkx as nx

    a = _with_terminals(graph)
    g = nx.from_scipy_sparse_array(a)
    pos = nx.kamada_kawai_layout(g)
    xy = np.array([pos[i] for i in range(a.shape[0])])
    xy = xy - xy.mean(axis=0)
    ev = np.linalg.eigvalsh(np.cov(xy.T))
    if ev.sum() <= 0:
        return None
    return float(2 * (ev[-1] / ev.sum() - 0.5))


def _paths(ctx: MetricContext) -> tuple[float | None, float | None, int | None]:
    return ctx.shared("paths", lambda c: path_counts(c.graph))


def _flow_job(ctx: MetricContext) -> int | None:
    return edge_connectivity(ctx.graph, _flow_structure(ctx))


def _prepare_flow(ctx: MetricContext) -> None:
    st = _flow_structure(ctx)
    if st is not None and st.is_dag_order:
        _ = st.undirected


# Side jobs of a large graph (metric_registry.run_side_jobs), beside the other serial kernels.
register_side_job(
    "paths",
    lambda c: path_counts(c.graph),
    metrics={"log_paths", "mean_path", "max_path"},
    cost=0.4,
)
register_side_job(
    "edge_connectivity",
    _flow_job,
    metrics={"edge_connectivity"},
    prepare=_prepare_flow,
    cost=0.15,
)


@register_metric("log_paths", section="D", needs=("paths",))
def log_paths_metric(ctx: MetricContext) -> float | None:
    """Log of the number of input-to-output paths."""
    return _paths(ctx)[0]


@register_metric("mean_path", section="D", needs=("paths",))
def mean_path_metric(ctx: MetricContext) -> float | None:
    """Mean length of the input-to-output paths."""
    return _paths(ctx)[1]


@register_metric("max_path", section="D", needs=("paths",))
def max_path_metric(ctx: MetricContext) -> float | None:
    """Longest input-to-output path."""
    xp = _paths(ctx)[2]
    return None if xp is None else float(xp)


@register_metric("edge_connectivity", section="D", needs=("edge_connectivity",), engine="numba")
def edge_connectivity_metric(ctx: MetricContext) -> float | None:
    """Minimum number of edges separating the inputs from the outputs."""
    ec = ctx.shared("edge_connectivity", _flow_job)
    return None if ec is None else float(ec)


@register_metric("mean_degree", section="D")
def mean_degree_metric(ctx: MetricContext) -> float | None:
    """``2 |E| / |V|``."""
    g = ctx.graph
    return 2 * g.n_edges / g.n_nodes if g.n_nodes else None


@register_metric("ln_communicability", section="D", needs=("undirected",))
def ln_communicability_metric(ctx: MetricContext) -> float | None:
    """Log communicability between the virtual source and sink."""
    return ln_communicability(ctx.graph, ctx.structure)


@register_metric("pca_elongation", section="D", engine="networkx")
def pca_elongation_metric(ctx: MetricContext) -> float | None:
    """Elongation of the Kamada-Kawai layout."""
    return pca_elongation(ctx.graph)


#: Section D names, in registration order (a snapshot; the registry is the source).
SECTION_D: tuple[str, ...] = section_names("D")


def compute_section_d(
    graph: MultipartiteGraph, metrics: list[str] | tuple[str, ...] | None = None
) -> dict[str, float | None]:
    """The requested section-D metrics (default: all) of one MGE."""
    names = section_names("D")
    wanted = list(names if metrics is None else metrics)
    unknown = [m for m in wanted if m not in names]
    if unknown:
        from prunegraph.errors import UnknownNameError

        raise UnknownNameError("section-D metric", unknown[0], names)
    ctx = MetricContext(GraphStructure(graph), budget=DEFAULT_BUDGET)
    out = evaluate(ctx, [DEFINITIONS[m] for m in dict.fromkeys(wanted)])
    return {m: out[m].value for m in wanted}
