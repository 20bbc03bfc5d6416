r"""Section A topometrics of a :class:`MultipartiteGraph`, in process (numpy, scipy, numba).

Definitions (``../shared/spec/topometrics.md``, section A; ``V``, ``E`` the
graph's nodes and edges, ``d_in``/``d_out`` directed degrees counting edges)::

    sink         = |{v : p(v) != last, d_out(v) = 0, d_in(v) > 0}|
    source       = |{v : p(v) != 0,    d_in(v) = 0,  d_out(v) > 0}|
    disconnected = |{v : d_in(v) = d_out(v) = 0}|
    r_out        = sum_{v in source} d_out(v)
    r_in         = sum_{v in sink} d_in(v)
    n1           = (1/|V|) sum_a |N_out(a)|          (distinct out-neighbours)
    n2           = (1/|V|) sum_a |N_out(a) u N_out(N_out(a)) \ {a}|
    motif3/4     = connected induced subgraphs on 3/4 nodes (see motifs.py)
    kcore        = mean core number in the simple undirected graph
    strength     = (1/|V|) sum_v sum_{u -> v} |w|
    components   = number of weakly connected components (isolated nodes count)
    component_size = |V| / components        (union-find)
    cut_edges    = number of bridges, cut_nodes = number of articulation points
    spectral_gap = mu0 - mu1 of A_s = A + A^T (|w|), mu1 the largest eigenvalue
                   below mu0 (1 - 1e-9)
    spectral_radius = largest eigenvalue of L = D - A_s

For a bipartite graph (a single layer) the adjacency spectrum is symmetric
(``mu`` and ``-mu``); the MGE with skip connections is not bipartite in
general. ``largest algebraic`` eigenvalues are taken either way.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np
import scipy.linalg as sla
import scipy.sparse.linalg as spla
from threadpoolctl import threadpool_limits

from prunegraph.loader.graph import MultipartiteGraph
from prunegraph.queries import _kernels as K
from prunegraph.queries._structure import GraphStructure
from prunegraph.queries.metric_names import SECTION_A
from prunegraph.queries.motifs import DEFAULT_BUDGET, Estimate, motif3, motif4, n2, triangles

DENSE_EIGEN_MAX_NODES = 2500
"""Below this many nodes the spectra are computed densely (exact to rounding)."""
DEGENERACY_RTOL = 1e-9
"""Eigenvalues within this relative distance of ``mu0`` count as equal to it."""


# ------------------------------------------------------------ local metrics
def local_counts(st: GraphStructure) -> dict[str, int]:
    """``sink, source, disconnected, r_out, r_in`` from two ``bincount`` calls."""
    g = st.graph
    dout, din = st.out_degree, st.in_degree
    part = st.node_partition
    last = g.n_partitions - 1
    sink = (part != last) & (dout == 0) & (din > 0)
    source = (part != 0) & (din == 0) & (dout > 0)
    return {
        "sink": int(sink.sum()),
        "source": int(source.sum()),
        "disconnected": int(((din == 0) & (dout == 0)).sum()),
        "r_out": int(dout[source].sum()),
        "r_in": int(din[sink].sum()),
    }


def n1(st: GraphStructure) -> float | None:
    """Mean number of distinct out-neighbours (``|E_simple| / |V|``)."""
    if st.n == 0:
        return None
    ptr, _ = st.directed
    return float(ptr[-1]) / st.n


def kcore(st: GraphStructure) -> float | None:
    """Mean core number of the simple undirected graph."""
    if st.n == 0:
        return None
    ptr, idx, _ = st.undirected
    return float(K.coreness(ptr, idx).mean())


def strength(st: GraphStructure) -> float | None:
    """Mean over nodes of the summed ``|w|`` of incoming edges."""
    if st.n == 0:
        return None
    return float(K.abs_sum(st.graph.weight)) / st.n


def components(st: GraphStructure) -> tuple[int, float | None]:
    """Number of weakly connected components and the mean component size."""
    if st.n == 0:
        return 0, None
    count = int(K.count_components(st.n, st.graph.src, st.graph.dst))
    return count, st.n / count


def cuts(st: GraphStructure) -> tuple[int, int]:
    """Number of bridges and of articulation points of the undirected graph."""
    ptr, idx, _ = st.undirected
    n_bridges, is_cut = K.bridges_and_cut_nodes(ptr, idx)
    return int(n_bridges), int(is_cut.sum())


# ---------------------------------------------------------------- spectra
def _top_eigenvalues(
    st: GraphStructure, laplacian: bool, k: int, tol: float, seed: int = 0
) -> np.ndarray:
    """The ``k`` largest eigenvalues (descending) of ``A_s`` or ``D - A_s``.

    Implicitly restarted Lanczos (ARPACK) over a parallel mat-vec of the upper
    triangle; the start vector is a fixed pseudo-random one, so results repeat.
    """
    ptr, idx, data, loops = st.upper
    n = st.n
    wdeg = st.weighted_degree
    if n <= DENSE_EIGEN_MAX_NODES:
        dense = np.zeros((n, n))
        rows = np.repeat(np.arange(n), np.diff(ptr))
        dense[rows, idx] = data
        dense = dense + dense.T + np.diag(loops)
        if laplacian:
            dense = np.diag(wdeg) - dense
        return np.sort(sla.eigvalsh(dense))[::-1][:k]

    def matvec(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64).ravel()
        return K.sym_matvec(ptr, idx, data, loops, x, wdeg, laplacian, threads)

    threads = numba.get_num_threads()
    op = spla.LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(seed).uniform(0.5, 1.5, n)
    # ARPACK's dense steps are small and memory-bound: threaded BLAS only adds
    # contention (measured 2-3 ms vs 20+ ms per step). Numba's own threads
    # (the mat-vec) are another pool and stay as they are.
    with threadpool_limits(limits=1, user_api="blas"):
        vals = spla.eigsh(op, k=k, which="LA", tol=tol, v0=v0, return_eigenvectors=False)
    return np.sort(vals)[::-1]


def spectral_gap(st: GraphStructure, *, tol: float = 1e-8) -> float | None:
    """``mu0 - mu1`` of the symmetric ``|w|`` adjacency; None when no ``mu1`` exists.

    ``mu1`` is the largest eigenvalue below ``mu0 * (1 - 1e-9)`` (a repeated top
    eigenvalue, e.g. from identical components, is skipped). If the first ``k``
    eigenvalues all equal ``mu0``, ``k`` is doubled.
    """
    n = st.n
    if n < 2:
        return None
    k = min(n - 1, 2)
    while True:
        vals = _top_eigenvalues(st, False, k if n > DENSE_EIGEN_MAX_NODES else n, tol)
        mu0 = vals[0]
        threshold = mu0 - DEGENERACY_RTOL * abs(mu0) if mu0 != 0 else -DEGENERACY_RTOL
        below = vals[vals < threshold]
        if below.size:
            return float(mu0 - below[0])
        if n <= DENSE_EIGEN_MAX_NODES or k >= n - 1 or k >= 256:
            return None
        k = min(n - 1, 2 * k)


def spectral_radius(st: GraphStructure, *, tol: float = 1e-7) -> float | None:
    """Largest eigenvalue of the weighted Laplacian ``D - A_s``."""
    if st.n == 0:
        return None
    if st.n == 1:
        return 0.0
    return float(_top_eigenvalues(st, True, 1, tol)[0])


# ---------------------------------------------------------------- driver
MetricFn = Callable[[GraphStructure, dict], dict[str, Estimate]]


def compute_section_a(
    graph: MultipartiteGraph | GraphStructure,
    metrics: list[str] | tuple[str, ...] | None = None,
    *,
    budget: float = DEFAULT_BUDGET,
    seed: int = 0,
    engines: dict[str, str] | None = None,
) -> dict[str, Estimate]:
    """Compute the requested section-A metrics (default: all) of one graph.

    Returns ``{metric: Estimate}``; ``engines`` (if given) is filled with the
    engine that produced each value (``numpy``, ``numba``, ``scipy``,
    ``estimate``).
    """
    st = graph if isinstance(graph, GraphStructure) else GraphStructure(graph)
    wanted = list(SECTION_A if metrics is None else metrics)
    unknown = [m for m in wanted if m not in SECTION_A]
    if unknown:
        from prunegraph.errors import UnknownNameError

        raise UnknownNameError("section-A metric", unknown[0], SECTION_A)
    eng = engines if engines is not None else {}
    out: dict[str, Estimate] = {}
    rng = np.random.default_rng(seed)
    # Free each cached structure after its last use (stages run in this order).
    stages = [
        {"sink", "source", "disconnected", "r_out", "r_in"},
        {"n1"},
        {"n2"},
        {"motif3", "motif4"},
        {"kcore"},
        {"strength"},
        {"components", "component_size"},
        {"cut_edges", "cut_nodes"},
        {"spectral_gap"},
        {"spectral_radius"},
    ]

    def done(stage: int) -> None:
        st.release_unneeded(set(wanted) & set().union(*stages[stage + 1 :]))

    if any(m in wanted for m in ("sink", "source", "disconnected", "r_out", "r_in")):
        for name, value in local_counts(st).items():
            if name in wanted:
                out[name] = Estimate(float(value))
                eng[name] = "numpy"
    done(0)
    if "n1" in wanted:
        out["n1"] = Estimate(n1(st))
        eng["n1"] = "numba"
    done(1)
    if "n2" in wanted:
        out["n2"] = n2(st, budget=budget, rng=rng)
        eng["n2"] = "numba" if out["n2"].exact else "estimate"
    done(2)
    if "motif3" in wanted or "motif4" in wanted:
        tri = triangles(st)
        if "motif3" in wanted:
            out["motif3"] = motif3(st, tri)
            eng["motif3"] = "numba"
        if "motif4" in wanted:
            out["motif4"] = motif4(st, budget=budget, rng=rng, tri=tri)
            eng["motif4"] = "numba" if out["motif4"].exact else "estimate"
    done(3)
    if "kcore" in wanted:
        out["kcore"] = Estimate(kcore(st))
        eng["kcore"] = "numba"
    done(4)
    if "strength" in wanted:
        out["strength"] = Estimate(strength(st))
        eng["strength"] = "numpy"
    if "components" in wanted or "component_size" in wanted:
        count, size = components(st)
        if "components" in wanted:
            out["components"] = Estimate(float(count))
            eng["components"] = "numba"
        if "component_size" in wanted:
            out["component_size"] = Estimate(size)
            eng["component_size"] = "numba"
    if "cut_edges" in wanted or "cut_nodes" in wanted:
        n_bridges, n_cut = cuts(st)
        if "cut_edges" in wanted:
            out["cut_edges"] = Estimate(float(n_bridges))
            eng["cut_edges"] = "numba"
        if "cut_nodes" in wanted:
            out["cut_nodes"] = Estimate(float(n_cut))
            eng["cut_nodes"] = "numba"
    done(7)
    if "spectral_gap" in wanted:
        out["spectral_gap"] = Estimate(spectral_gap(st))
        eng["spectral_gap"] = "scipy"
    done(8)
    if "spectral_radius" in wanted:
        out["spectral_radius"] = Estimate(spectral_radius(st))
        eng["spectral_radius"] = "scipy"
    return {m: out[m] for m in wanted}
