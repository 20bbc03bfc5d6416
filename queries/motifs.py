r"""Motif counts of size 3 and 4 and the 2-hop neighbourhood ``n2``: exact or estimated.

All counts are of *connected induced subgraphs* of the simple undirected graph
``G`` (direction dropped, parallel edges merged), summed over motif classes.

Size 3 (wedges minus the overcount of triangles)::

    motif3 = sum_v C(d_v, 2) - 2 T

Size 4 (the six connected classes: 3-star, 4-path, 4-cycle, tailed triangle,
diamond, 4-clique). With the *non-induced* subgraph counts ``N_star = sum_v
C(d_v, 3)``, ``N_path = sum_{uv in E} (d_u - 1)(d_v - 1) - 3T``, ``N_cycle``
(4-cycles), ``N_tailed = sum_v t_v (d_v - 2)``, ``N_diamond = sum_{e in E}
C(t_e, 2)`` and ``N_clique`` (4-cliques), inverting the containment matrix of
the six classes gives::

    motif4 = N_star + N_path - 3 N_cycle - 2 N_tailed + 4 N_diamond - 6 N_clique

Triangles (``T``, per node ``t_v``, per edge ``t_e``) and 4-cliques are listed
exactly (in the MGE they only come from skip connections: a triangle needs an
edge whose endpoint partitions have a common neighbouring partition). The
expensive term is ``N_cycle = 1/4 sum_u S(u)`` with ``S(u) = sum_{w != u}
C(c_uw, 2)`` (``c_uw`` common neighbours), whose cost is ``sum_u sum_{x in
N(u)} d_x``. When that exceeds ``budget`` it is estimated by stratified
uniform node sampling (strata = partitions, proportional allocation, at least
two nodes per stratum, without replacement)::

    S_hat = sum_h N_h mean_h(S),   Var = sum_h N_h^2 (1 - m_h / N_h) s_h^2 / m_h

an unbiased estimator of the total with the usual variance estimate; the
standard error of ``motif4`` is ``3/4`` times that of ``S_hat``. ``n2`` uses
the same estimator on the per-node 2-hop reach.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from prunegraph.errors import ValidationError
from prunegraph.queries import _kernels as K
from prunegraph.queries import _motif_kernels as MK
from prunegraph.queries._structure import GraphStructure, one_blas_thread

DEFAULT_BUDGET = 5e7
"""Work units (inner-loop steps) allowed for an exact count before switching to sampling."""
PILOT_FRACTION = 0.02
"""A sampled total first spends this fraction of ``budget``, then grows if its error is too large."""
TARGET_RSE = 0.005
"""Relative standard error of ``n2`` (and of any total by default) above which a sample grows."""
MOTIF4_TARGET_RSE = 0.002
"""Relative standard error of ``motif4`` itself above which its 4-cycle sample grows (5x
tighter than the 1 % docs/conventions.md allows)."""


@dataclass(frozen=True)
class Estimate:
    """A metric value with its provenance.

    ``se`` is None for exact values; ``estimator`` names the sampling scheme and
    ``sample_size`` / ``population`` its size when the value is an estimate.
    """

    value: float | None
    se: float | None = None
    estimator: str | None = None
    sample_size: int | None = None
    population: int | None = None

    @property
    def exact(self) -> bool:
        return self.se is None


def _check_budget(budget: float) -> float:
    if not isinstance(budget, int | float) or not budget > 0:
        raise ValidationError(
            f"The 'budget' parameter must be a positive number of work units. Got {budget!r} instead."
        )
    return float(budget)


COST_BINS = 8
"""Each partition of a sampled total is split into up to this many strata by cost quantiles."""
MIN_BIN_NODES = 16
"""A partition gets at most ``size // MIN_BIN_NODES`` cost strata (at least one)."""


MAX_GROWTHS = 3
"""A sample whose error is above its target grows at most this many times."""
COST_PROBE = 1024
"""Cost cut points of a partition come from at most this many evenly strided nodes."""


def balanced_chunks(work: np.ndarray, per_thread: int = 4) -> np.ndarray:
    """Boundaries of about ``per_thread`` chunks per numba thread holding equal shares of ``work``.

    A sample lists its strata one after another, the costliest nodes together;
    chunks of equal node counts would leave one thread with most of the work.
    """
    count = int(work.shape[0])
    parts = max(1, min(count, numba.get_num_threads() * per_thread))
    if parts == 1:
        return np.array([0, count], dtype=np.int64)
    cum = np.cumsum(work, dtype=np.float64)
    cuts = np.searchsorted(cum, np.linspace(0.0, cum[-1], parts + 1)[1:-1], side="right")
    return np.concatenate(([0], np.maximum.accumulate(cuts), [count])).astype(np.int64)


def stratified_total(
    per_node: Callable[[np.ndarray], np.ndarray],
    cost: np.ndarray,
    strata: list[tuple[int, int]],
    budget: float,
    rng: np.random.Generator,
    name: str,
    *,
    target_rse: float = TARGET_RSE,
    relative_error: Callable[[float, float], float] | None = None,
    pilot: float = PILOT_FRACTION,
    max_extra: float = 8.0,
    relabel: np.ndarray | None = None,
) -> Estimate:
    """Total of ``per_node(v)`` over all nodes: exact if ``sum(cost) <= budget``, else sampled.

    ``strata`` are the partitions, contiguous node ranges ``[start, stop)``
    covering the nodes; each is split into up to :data:`COST_BINS` strata by
    quantiles of ``cost`` (:func:`_motif_kernels.cost_strata`: the work of the
    per-node count grows with the value it bounds, so nodes of similar cost
    have similar values and the within-stratum variance is far below the
    partition's). Each stratum's sample is a prefix of one random permutation
    (:func:`_motif_kernels.shuffle_prefixes`), so it is a simple random sample
    without replacement at any size. The first (pilot) sample costs about
    ``pilot * budget``; while its relative error ``relative_error(total, se)``
    (default ``se / |total|``) exceeds ``target_rse``, the sample grows by the
    factor ``1.2 (rse / target_rse)^2`` that the variance formula predicts (at
    least 1.5, at most :data:`MAX_GROWTHS` times), to at most ``max_extra *
    budget`` of work.

    ``relabel`` (a structure's :attr:`GraphStructure.relabel`): ``cost`` and
    ``per_node`` are in the CSR views' ids; the strata and the sample are drawn
    in the graph's node order all the same, so the estimate is the one the
    graph's own ids give.
    """
    if relabel is not None:
        cost, in_structure = cost[relabel], per_node
        per_node = lambda nodes: in_structure(relabel[nodes].astype(np.int64))  # noqa: E731
    total_cost = float(cost.sum())
    n = int(cost.shape[0])
    if total_cost <= budget or n == 0:
        return Estimate(float(per_node(np.arange(n, dtype=np.int64)).sum()))
    rel = relative_error or (lambda total, se: se / abs(total) if total else math.inf)
    ranges = np.asarray(strata, dtype=np.int64).reshape(-1, 2)
    order, bounds = MK.cost_strata(
        cost, ranges[:, 0].copy(), ranges[:, 1].copy(), COST_BINS, MIN_BIN_NODES, COST_PROBE
    )
    sizes = np.diff(bounds)
    taken = np.zeros_like(sizes)
    values = np.zeros(n, dtype=np.float64)  # values[i]: per_node(order[i]) once sampled

    def grow(fraction: float) -> tuple[float, float, int]:
        want = np.minimum(sizes, np.maximum(2, np.ceil(fraction * sizes).astype(np.int64)))
        want = np.maximum(want, taken)
        extra = want - taken
        MK.shuffle_prefixes(order, bounds, taken, want, rng.random(int(extra.sum())))
        pos = np.repeat(bounds[:-1] + taken - np.cumsum(extra) + extra, extra)
        pos += np.arange(pos.shape[0])
        if pos.shape[0]:
            values[pos] = per_node(order[pos])
        taken[:] = want
        total, variance = MK.strata_moments(values, bounds, taken)
        return float(total), math.sqrt(max(variance, 0.0)), int(taken.sum())

    fraction = min(1.0, pilot * budget / total_cost)
    limit = min(1.0, max_extra * budget / total_cost)
    total, se, sample = grow(fraction)
    for _ in range(MAX_GROWTHS):
        error = rel(total, se)
        if error <= target_rse or fraction >= limit:
            break
        factor = 1.2 * (error / target_rse) ** 2 if math.isfinite(error) else max_extra / pilot
        fraction = min(limit, fraction * max(factor, 1.5))
        total, se, sample = grow(fraction)
    return Estimate(
        total,
        se,
        estimator=f"stratified node sample ({name}; strata=partitions x cost classes, proportional)",
        sample_size=sample,
        population=n,
    )


@dataclass(frozen=True)
class Triangles:
    """The triangle terms of the motif counts (all exact).

    ``count`` is ``T``; ``tailed = sum_v t_v (d_v - 2)``; ``diamond = sum_e
    C(t_e, 2)``; ``clique`` the 4-cliques (``t_v``, ``t_e``: triangles on node
    ``v``, edge ``e``).
    """

    count: int
    tailed: int = 0
    diamond: int = 0
    clique: int = 0


def _pair_roles(adj: np.ndarray) -> np.ndarray:
    """``L[Q, R]``: an edge of partitions ``Q < R`` can only be a triangle's edge ``bc``.

    In a triangle ``a < b < c`` (node ids; partitions are contiguous id ranges
    in order) an edge ``(u, v)``, ``u < v``, is ``ab`` or ``ac`` when some node
    ``w > u`` is adjacent to both; that needs a partition ``S >= part[u]``
    adjacent to both partitions. Without one the edge is only ever ``bc``.
    """
    k = adj.shape[0]
    low = np.zeros((k, k), dtype=np.bool_)
    for q in range(k):
        for r in range(q + 1, k):
            if adj[q, r]:
                low[q, r] = not (adj[q, q:] & adj[r, q:]).any()
    return low


def triangles(st: GraphStructure) -> Triangles:
    """Count the triangle terms exactly, without listing the triangles.

    Only edges whose endpoint partitions share a neighbouring partition can
    close a triangle (``closable_pairs``); when there are none (every graph
    whose partitions form a chain: MLP, LeNet-5, Conv-6, VGG) the answer is 0
    from the partition adjacency alone, without building any edge structure.
    Otherwise the ResNet MGE's candidates are its skip connections and the
    work is ``sum over them of (deg_fwd(a) + deg_low(c))``
    (:func:`_motif_kernels.triangle_terms`).
    """
    can_close = st.closable_pairs
    if not can_close.any():
        return Triangles(0)
    fptr, fidx = st.forward
    uptr, uidx, usplit = st.undirected
    ranges = np.asarray(st.partition_ranges, dtype=np.int64).reshape(-1, 2)
    low = _pair_roles(st.partition_adjacency)
    per_node = np.zeros(st.n, dtype=np.int64)
    # t_e < max degree: 16-bit counters when they fit (half the pages touched)
    counter = np.uint16 if int(st.degree.max(initial=0)) <= 65535 else np.int32
    per_edge = np.zeros(fidx.shape[0], dtype=counter)  # calloc: pages touched only where hit
    per_low = np.zeros(uidx.shape[0] if low.any() else 1, dtype=counter)
    count, diamond, clique = MK.triangle_terms(
        fptr, fidx, uptr, usplit, uidx, st.node_partition, ranges[:, 0].copy(),
        ranges[:, 1].copy(), can_close, low, bool(st.partition_k4_possible),
        per_node, per_edge, per_low,
    )  # fmt: skip
    tailed = int((per_node * (st.degree - 2)).sum())
    return Triangles(int(count), tailed, int(diamond), int(clique))


def motif3(st: GraphStructure, tri: Triangles | None = None) -> Estimate:
    """Connected induced 3-node subgraphs: ``sum_v C(d_v, 2) - 2T`` (always exact)."""
    tri = tri if tri is not None else triangles(st)
    d = st.degree
    return Estimate(float(int((d * (d - 1) // 2).sum()) - 2 * tri.count))


DENSE_CYCLE_MAX_NODES = 3000
"""Up to this many nodes a bipartite graph may count its 4-cycles by dense products."""
DENSE_CYCLE_MIN_RATIO = 0.1
"""The dense count runs when its ``s^2 t`` multiply-adds are at most the wedge
work ``sum_u sum_{x in N(u)} d_x`` divided by this (a float32 BLAS multiply-add costs about
1/20 of one step of the ranked sparse count)."""


def _dense_cycle_work(st: GraphStructure) -> float:
    """Work units of the dense count (``DENSE_CYCLE_MIN_RATIO * s^2 t``); inf when it does not apply."""
    n = st.n
    sides = st.bipartite_sides if 4 <= n <= DENSE_CYCLE_MAX_NODES else None
    if sides is None:
        return math.inf
    s = int((sides[0][:, 1] - sides[0][:, 0]).sum())
    return DENSE_CYCLE_MIN_RATIO * float(s) * s * (n - s)


def _dense_four_cycle_total(st: GraphStructure) -> int:
    r"""``sum_u S(u)`` of a small bipartite graph by one symmetric Gram product.

    With the bi-adjacency ``B`` (smaller side of ``s`` nodes, other side ``t``,
    0/1), the common-neighbour counts of the smaller side are ``C = B B^T`` (no
    pair across sides has one). A 4-cycle of a bipartite graph has two opposite
    corners on each side, so each side's pairs count every cycle once and

    .. math:: \sum_u S(u) = 4 C_4 = 4 \sum_{u < w} \binom{C_{uw}}{2}

    over the smaller side only: ``4 C_4 = sum_{u != w} C_uw (C_uw - 1)``. The
    product runs in float32 BLAS (``s^2 t`` multiply-adds), exact for integer
    counts below ``2^24`` (at most :data:`DENSE_CYCLE_MAX_NODES`), and the sum
    in float64 (exact below ``2^53``).
    """
    sides = st.bipartite_sides
    assert sides is not None
    side = np.zeros(st.n, dtype=np.bool_)
    for start, stop in sides[0]:
        side[start:stop] = True
    ptr, idx, _ = st.undirected
    b = MK.bi_adjacency(ptr, idx, side)
    with one_blas_thread():
        gram = b @ b.T
    pairs = gram * (gram - 1)  # exact in float32: entries below 2^24
    return round(float(pairs.sum(dtype=np.float64)) - float(np.trace(pairs, dtype=np.float64)))


def wedge_cost(st: GraphStructure) -> np.ndarray:
    """Per-node wedge work ``sum_{x in N(u)} d_x`` (one pass over the edges, each once)."""
    fptr, fidx = st.forward
    return MK.fwd_neighbour_sums(fptr, fidx, st.degree, st.n)


def four_cycle_total(
    st: GraphStructure,
    budget: float,
    rng: np.random.Generator,
    relative_error: Callable[[float, float], float] | None = None,
    target_rse: float = TARGET_RSE,
    cost: np.ndarray | None = None,
) -> Estimate:
    """``sum_u S(u)`` (four times the 4-cycle count), exact or stratified-sampled.

    Exact when the cheaper exact method fits the budget: on a small bipartite
    graph the dense Gram products (:func:`_dense_four_cycle_total`, counted as
    :func:`_dense_cycle_work` units) when they cost less than the wedge work
    ``sum_u sum_{x in N(u)} d_x``; otherwise, with that work ``<= budget``, a
    degree-ranked relabelling (:func:`_kernels.four_cycle_count`: each cycle
    once, from its highest-ranked node, a fraction of the per-node work). Above
    the budget, the per-node sums ``S(u)`` of a stratified node sample.
    ``cost`` (optional) is the per-node work :func:`wedge_cost`.
    """
    ptr, idx, _ = st.undirected
    cost = wedge_cost(st) if cost is None else cost
    work, dense_work = float(cost.sum()), _dense_cycle_work(st)
    if dense_work <= min(work, budget):
        return Estimate(float(_dense_four_cycle_total(st)))
    if work <= budget:
        rptr, ridx = K.degree_ranked_csr(ptr, idx, st.degree)
        threads = numba.get_num_threads()
        chunks = 1 if threads == 1 else 4 * threads
        return Estimate(float(4 * int(K.four_cycle_count(rptr, ridx, chunks))))
    return stratified_total(
        lambda nodes: MK.pair_wedge_sums(ptr, idx, nodes, balanced_chunks(cost[nodes])),
        cost,
        st.partition_ranges,
        budget,
        rng,
        "sum_w C(common(u, w), 2)",
        target_rse=target_rse,
        relative_error=relative_error,
        relabel=st.relabel,
    )


def motif4(
    st: GraphStructure,
    *,
    budget: float = DEFAULT_BUDGET,
    rng: np.random.Generator | None = None,
    tri: Triangles | None = None,
) -> Estimate:
    """Connected induced 4-node subgraphs of the undirected graph (all six classes)."""
    budget = _check_budget(budget)
    rng = rng if rng is not None else np.random.default_rng(0)
    tri = tri if tri is not None else triangles(st)
    d = st.degree
    star = int((d * (d - 1) * (d - 2) // 6).sum())
    # sum_{uv in E} (d_u - 1)(d_v - 1) = 1/2 sum_u (d_u - 1)(sum_{x in N(u)} d_x - d_u)
    cost = wedge_cost(st)
    path = int(((d - 1) * (cost - d)).sum()) // 2 - 3 * tri.count
    exact_part = star + path - 2 * tri.tailed + 4 * tri.diamond - 6 * tri.clique

    def motif4_rse(total: float, se: float) -> float:
        value = exact_part - 0.75 * total
        return 0.75 * se / abs(value) if value else math.inf

    cyc = four_cycle_total(st, budget, rng, motif4_rse, MOTIF4_TARGET_RSE, cost)
    assert cyc.value is not None
    if cyc.exact:
        cycles = round(cyc.value) // 4
        return Estimate(float(exact_part - 3 * cycles))
    return Estimate(
        exact_part - 0.75 * cyc.value,
        0.75 * (cyc.se or 0.0),
        estimator=cyc.estimator,
        sample_size=cyc.sample_size,
        population=cyc.population,
    )


BITSET_MAX_NODES = 8192
"""Up to this many nodes (8 MiB of bit rows) ``n2`` may count exactly by 64-bit word sets."""


def n2(
    st: GraphStructure,
    *,
    budget: float = DEFAULT_BUDGET,
    rng: np.random.Generator | None = None,
) -> Estimate:
    """Mean over nodes ``a`` of ``|{v != a : v reachable from a in <= 2 directed hops}|``.

    Exact by word sets (:func:`_motif_kernels.two_hop_reach_bits`) on a graph of
    at most :data:`BITSET_MAX_NODES` nodes when their word operations cost less
    than the per-node marking's ``sum_a (d_out(a) + sum_{x in N_out(a)} d_out(x))``
    and fit the budget; else by marking, exact within the budget or sampled.
    """
    budget = _check_budget(budget)
    rng = rng if rng is not None else np.random.default_rng(0)
    if st.n == 0:
        return Estimate(None)
    ptr, idx = st.directed
    cost = MK.reach_cost(ptr, idx, K.row_chunks(ptr, 4 * numba.get_num_threads()))
    if st.n <= BITSET_MAX_NODES:
        lo, hi = MK.word_spans(ptr, idx)
        bit_work = float(K.neighbour_sums(ptr, idx, hi - lo).sum()) + st.n * st.n / 64
        if bit_work <= min(float(cost.sum()), budget):
            return Estimate(float(MK.two_hop_reach_bits(ptr, idx, lo, hi)) / st.n)
    total = stratified_total(
        lambda nodes: MK.two_hop_reach(ptr, idx, nodes, balanced_chunks(cost[nodes])),
        cost,
        st.partition_ranges,
        budget,
        rng,
        "2-hop reach",
        relabel=st.relabel,
    )
    assert total.value is not None
    return Estimate(
        total.value / st.n,
        None if total.se is None else total.se / st.n,
        total.estimator,
        total.sample_size,
        total.population,
    )
