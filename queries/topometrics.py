r"""Section A topometrics of a :class:`MultipartiteGraph`, in process (numpy, scipy, numba).

Definitions (``docs/metrics.md``, section A: Cunegatti, Farina, Bucur and Iacca,
2024, TMLR, Table 2; ``V``, ``E`` the
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

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numba
import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from prunegraph.loader.graph import MultipartiteGraph
from prunegraph.queries import _block_spectra as BS
from prunegraph.queries import _kernels as K
from prunegraph.queries import _spectral as S
from prunegraph.queries._structure import (
    PARALLEL_MATVEC_MIN_ENTRIES,
    GraphStructure,
    one_blas_thread,
)
from prunegraph.queries.metric_registry import (
    DEFINITIONS,
    DatabaseImpl,
    MetricContext,
    evaluate,
    register_metric,
    register_side_job,
    section_names,
)
from prunegraph.queries.motifs import DEFAULT_BUDGET, Estimate, motif3, motif4, n2, triangles

DENSE_EIGEN_MAX_NODES = 200
"""Up to this many nodes the spectra are computed densely (exact to rounding); above it
Lanczos is faster (a demo network's 900-node graph: ~5 ms against ~150 ms for ``syevr``)."""
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
    return cuts_and_components(st)[0]


def cuts_and_components(st: GraphStructure) -> tuple[tuple[int, int], tuple[int, float | None]]:
    """:func:`cuts` and :func:`components` from one DFS (its trees are the components)."""
    ptr, idx, _ = st.undirected
    n_bridges, is_cut, count = K.cuts_and_components(ptr, idx)
    return (int(n_bridges), int(is_cut.sum())), (count, st.n / count if count else None)


# ---------------------------------------------------------------- spectra
def _dense_matrix(st: GraphStructure, laplacian: bool) -> np.ndarray:
    """``A_s`` (or ``D - A_s``) as a dense float64 array (small graphs only)."""
    ptr, idx, data, loops = st.upper
    n = st.n
    dense = np.zeros((n, n))
    rows = np.repeat(np.arange(n), np.diff(ptr))
    dense[rows, idx] = data
    dense = dense + dense.T
    dense[np.diag_indices(n)] += loops
    if laplacian:
        dense = np.diag(st.weighted_degree) - dense
    return dense


def _upper_spans(st: GraphStructure) -> np.ndarray:
    """:func:`queries._spectral.upper_spans` of the structure's upper triangle, once per
    thread count (a read of every row's last entry: about 2 ms on ResNet-20 0.9)."""
    threads = numba.get_num_threads()
    cache: dict[int, np.ndarray] = st.__dict__.setdefault("_upper_spans", {})
    if threads not in cache:
        uptr, uidx, _, _ = st.upper
        cache[threads] = S.upper_spans(uptr, uidx, threads)
    return cache[threads]


def _product(
    st: GraphStructure, kernel: str, laplacian: bool
) -> Callable[[np.ndarray], np.ndarray]:
    """One mat-vec of ``A_s`` (or ``D - A_s``): ``gather`` (full symmetric CSR, parallel rows),
    ``serial`` (the same matrix through scipy's CSR product, in the calling thread) or ``upper`` (upper triangle, each entry
    gathered and scattered, per-thread accumulators: half the entries to read; one
    workspace for all the calls of the returned product, which must not overlap)."""
    wdeg = st.weighted_degree if laplacian or kernel == "upper" else np.zeros(0)
    if kernel == "upper":
        uptr, uidx, udata, loops = st.upper
        spans = _upper_spans(st)
        acc = np.zeros((spans.shape[0], st.n))  # workspace of this product's calls
        return lambda x: S.sym_matvec1_ws(uptr, uidx, udata, loops, x, wdeg, laplacian, spans, acc)
    ptr, idx, data, diag, chunks = st.symmetric
    if kernel == "gather":
        return lambda x: K.csr_matvec(ptr, idx, data, diag, x, wdeg, laplacian, chunks)
    # Small graphs: scipy's CSR product on a float64 copy (a few MB at most) is about
    # twice as fast as the compiled gather on float32 data at this size.
    matrix = sp.csr_matrix((data.astype(np.float64), idx, ptr), shape=(st.n, st.n))
    if diag.shape[0] == st.n:
        matrix = (matrix + sp.diags(diag)).tocsr()
    if laplacian:
        return lambda x: wdeg * x - matrix @ x
    return lambda x: matrix @ x


#: :func:`matvec_kernel` times each candidate product this many times, alternating.
MATVEC_TIMING_ROUNDS = 2
#: Upper-triangle entries per per-thread accumulator slot from which
#: :func:`matvec_kernel` keeps the upper kernel without timing it.
UPPER_KERNEL_MIN_RATIO = 4


def matvec_kernel(st: GraphStructure) -> str:
    """The fastest mat-vec for this graph, chosen once per structure.

    Below :data:`PARALLEL_MATVEC_MIN_ENTRIES` (or on one numba thread) the serial
    gather. Above, the parallel gather and the upper-triangle kernel are each
    timed on two products, alternating (a burst of load from other processes
    then slows one product of each rather than both of one), and the faster by
    its quicker product is kept: the gather reads twice the entries but writes
    nothing shared, the upper kernel zeroes and sums one accumulator per thread
    (on one thread it does 30-45 % less work on the ResNet-20 and Conv-6 MGEs).

    No timing when the upper triangle holds at least :data:`UPPER_KERNEL_MIN_RATIO`
    entries per accumulator slot (``threads * n``): the upper kernel is then
    kept outright. On the 2-core machine, at ratios 5 to 26 (ResNet-20 0.9 to
    Conv-6 0.9), it ran 1.5-1.6x faster than the gather, and the four timed
    products cost 13-82 ms per graph; with many threads the accumulators grow
    and the timing decides.
    """
    chosen = st.__dict__.get("_matvec_kernel")
    if chosen is not None:
        return str(chosen)
    idx = st.undirected[1]
    threads = numba.get_num_threads()
    if threads <= 1 or len(idx) < PARALLEL_MATVEC_MIN_ENTRIES:
        chosen = "serial"
    elif len(st.upper[1]) >= UPPER_KERNEL_MIN_RATIO * threads * st.n:
        chosen = "upper"
    else:
        x = np.random.default_rng(1).uniform(size=st.n)
        products = {kernel: _product(st, kernel, False) for kernel in ("gather", "upper")}
        best = dict.fromkeys(products, math.inf)
        for _ in range(MATVEC_TIMING_ROUNDS):
            for kernel, product in products.items():
                start = time.perf_counter()
                product(x)
                best[kernel] = min(best[kernel], time.perf_counter() - start)
        chosen = min(best, key=lambda k: best[k])
    st.__dict__["_matvec_kernel"] = chosen
    return chosen


def spectral_operator(
    st: GraphStructure, laplacian: bool, kernel: str | None = None
) -> spla.LinearOperator:
    """``A_s`` (or ``D - A_s``) as a LinearOperator with float64 products.

    Both spectra share one structure (:attr:`GraphStructure.symmetric`, or the
    upper triangle when :func:`matvec_kernel` found it faster): the Laplacian
    product is ``D x - A_s x`` in the same pass.
    """
    product = _product(st, kernel or matvec_kernel(st), laplacian)

    def matvec(x: np.ndarray) -> np.ndarray:
        return product(np.ascontiguousarray(x, dtype=np.float64).ravel())

    return spla.LinearOperator((st.n, st.n), matvec=matvec, dtype=np.float64)


#: ARPACK's Lanczos basis size: 20 needed the fewest products for both spectra on the
#: ResNet-20 and Conv-6 MGEs (10 or 40 need 15-40 % more).
LANCZOS_NCV = 20


#: Up to this many nodes the Lanczos solves keep their whole basis and reorthogonalise
#: fully (no restarts: 15-35 % fewer products than ARPACK's restarted basis of
#: :data:`LANCZOS_NCV`); above, the basis would cost more to sweep than the products.
LANCZOS_FULL_MAX_NODES = 5000
#: Most steps of the unrestarted Lanczos before it hands over to ARPACK.
LANCZOS_MAX_STEPS = 300
#: The unrestarted Lanczos tests convergence every this many steps (the small
#: tridiagonal eigensolve costs about as much as a product on a demo graph).
LANCZOS_CHECK_EVERY = 3


def _lanczos_top(
    product: Callable[[np.ndarray], np.ndarray], v0: np.ndarray, k: int, tol: float
) -> np.ndarray | None:
    r"""The ``k`` largest eigenvalues (descending) by Lanczos with full reorthogonalisation.

    From ``v_1 = v0 / |v0|``, ``w = A v_j - alpha_j v_j - beta_{j-1} v_{j-1}``
    is orthogonalised twice against the whole basis (classical Gram-Schmidt),
    so no restart and no spurious copies. The Ritz values ``theta_i`` of the
    tridiagonal ``T_m`` are accepted when every one of the top ``k`` meets
    ARPACK's test

    .. math:: \beta_m |s_{m,i}| \le \mathrm{tol}\, |\theta_i|

    (``s_{m,i}`` the last entry of the Ritz vector in the basis), so the
    accuracy contract is ARPACK's. Returns None when the Krylov space closes
    (an invariant subspace: eigenvalues outside it would be missed) or on no convergence within
    :data:`LANCZOS_MAX_STEPS`: the caller then runs ARPACK.
    """
    n = v0.shape[0]
    steps = min(n, LANCZOS_MAX_STEPS)
    basis = np.empty((steps + 1, n))
    basis[0] = v0 / np.linalg.norm(v0)
    alpha = np.empty(steps)
    beta = np.empty(steps)
    for m in range(steps):
        w = product(basis[m])
        alpha[m] = basis[m] @ w
        w -= alpha[m] * basis[m]
        if m:
            w -= beta[m - 1] * basis[m - 1]
        done = basis[: m + 1]
        for _ in range(2):
            w -= done.T @ (done @ w)
        b = float(np.linalg.norm(w))
        size = m + 1
        closed = b <= 1e-12 * max(1.0, float(np.abs(alpha[: m + 1]).max()))
        if closed:  # an invariant subspace: eigenvalues outside it would be missed
            return None
        if size >= k and (size % LANCZOS_CHECK_EVERY == 0 or size == steps):
            theta, s = sla.eigh_tridiagonal(
                alpha[:size], beta[: size - 1], select="i", select_range=(size - k, size - 1)
            )
            if np.all(b * np.abs(s[-1]) <= tol * np.abs(theta)):
                return theta[::-1]
        beta[m] = b
        basis[m + 1] = w / b
    return None


def start_vector(st: GraphStructure, seed: int = 0) -> np.ndarray:
    """The solves' fixed pseudo-random start vector, uniform in ``[0.5, 1.5)`` per graph node.

    Drawn in the graph's node order and placed in the CSR views' ids
    (:meth:`GraphStructure.to_structure`), so a relabelled structure starts
    from the same vector and takes the same steps.
    """
    return st.to_structure(np.random.default_rng(seed).uniform(0.5, 1.5, st.n))


def spike_node(st: GraphStructure) -> int:
    """The node of largest weighted degree (the first in graph order), in the CSR views' ids."""
    wdeg = st.weighted_degree
    if st.relabel is None:
        return int(np.argmax(wdeg))
    return int(st.relabel[int(np.argmax(wdeg[st.relabel]))])


def _top_eigenvalues(
    st: GraphStructure, laplacian: bool, k: int, tol: float, seed: int = 0
) -> np.ndarray:
    """The ``k`` largest eigenvalues (descending) of ``A_s`` or ``D - A_s``.

    Up to :data:`DENSE_EIGEN_MAX_NODES` nodes: LAPACK ``syevr`` for just the
    top ``k`` (exact to rounding). Up to :data:`LANCZOS_FULL_MAX_NODES`:
    unrestarted Lanczos with the whole basis kept (:func:`_lanczos_top`).
    Above (or when that one stops short): implicitly restarted Lanczos (ARPACK)
    over a parallel gather mat-vec of the full symmetric CSR. The start vector
    is a fixed pseudo-random one, so results repeat. BLAS is held to one
    thread either way: the dense steps are small and memory-bound, and a
    threaded BLAS inside worker processes only adds contention (numba's
    threads, the mat-vec, are another pool and stay as they are).
    """
    n = st.n
    with one_blas_thread():
        if n <= DENSE_EIGEN_MAX_NODES:
            vals = sla.eigvalsh(_dense_matrix(st, laplacian), subset_by_index=[n - k, n - 1])
            return np.sort(vals)[::-1]
        v0 = start_vector(st, seed)
        if n <= LANCZOS_FULL_MAX_NODES and k < n // 2:
            found = _lanczos_top(_product(st, matvec_kernel(st), laplacian), v0, k, tol)
            if found is not None:
                return found
        vals = spla.eigsh(
            spectral_operator(st, laplacian),
            k=k,
            which="LA",
            tol=tol,
            v0=v0,
            ncv=min(n, max(LANCZOS_NCV, 2 * k + 1)),
            return_eigenvectors=False,
        )
    return np.sort(vals)[::-1]


def bipartite_sides(st: GraphStructure) -> tuple[np.ndarray, np.ndarray] | None:
    """Row ranges of the two sides of a bipartite graph (:attr:`GraphStructure.bipartite_sides`)."""
    return st.bipartite_sides


#: A folded ``sigma_1^2`` below this fraction of ``sigma_0^2`` is left to the general solve
#: (the second eigenvalue of ``A_s`` may then be 0 or ``-sigma_0``, not ``sigma_1``).
FOLDED_MIN_RATIO = 1e-8


def _folded_product(
    st: GraphStructure, rows: np.ndarray, other: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """One product of ``B B^T``: the ``other`` side's rows of ``A_s x``, then ``rows``' of that."""
    ptr, idx, data, _, _ = st.symmetric
    parallel = numba.get_num_threads() > 1 and len(idx) >= PARALLEL_MATVEC_MIN_ENTRIES
    kernel = K.csr_matvec_ranges if parallel else K.csr_matvec_ranges_serial

    def product(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64).ravel()
        return kernel(ptr, idx, data, kernel(ptr, idx, data, x, other), rows)

    return product


def _folded_sides(st: GraphStructure) -> tuple[np.ndarray, np.ndarray] | None:
    """The sides of a bipartite graph to fold on (smaller first), or None (no folded gap)."""
    sides = bipartite_sides(st)
    if sides is None or st.diagonal.shape[0]:
        return None
    if int((sides[0][:, 1] - sides[0][:, 0]).sum()) < 3:
        return None
    return sides


def _folded_value(vals: np.ndarray) -> float | None:
    """``sigma_0 - sigma_1`` from the top two eigenvalues of ``B B^T``; None to fall back."""
    lam0, lam1 = float(vals[0]), float(vals[1])
    if not lam0 > 0 or lam1 <= FOLDED_MIN_RATIO * lam0:
        return None
    s0, s1 = math.sqrt(lam0), math.sqrt(lam1)
    if s1 >= s0 - DEGENERACY_RTOL * s0:
        return None
    return s0 - s1


def _folded_gap(st: GraphStructure, tol: float) -> float | None:
    r"""``sigma_0 - sigma_1`` of a bipartite ``A_s`` from the top of ``B B^T``; None to fall back.

    On a bipartite graph ``A_s = [[0, B], [B^T, 0]]`` has the eigenvalues
    ``+-sigma_i`` (the singular values of ``B``) and zeros, so ``mu_0 = sigma_0``
    and, when ``sigma_1`` is distinct and positive, ``mu_1 = sigma_1``. Lanczos
    on ``B B^T`` (one product = the rows of one side, then the other: the cost of
    one product of ``A_s``) sees the folded spectrum ``sigma_i^2``, whose top is
    far better separated: about half the products of the solve on ``A_s``.
    Same start vector (restricted to the smaller side) and tolerance; ARPACK's
    residual test on ``sigma^2`` bounds the error of ``sigma`` by ``tol / 2``
    (relative). None (the caller solves ``A_s``) when the graph is not
    bipartite, ``sigma_1`` repeats ``sigma_0`` or is below
    :data:`FOLDED_MIN_RATIO` of it. (Above :data:`PLAIN_LANCZOS_MIN_NODES`
    nodes :func:`_plain_spectra` runs the same folded solve by plain Lanczos.)
    """
    sides = _folded_sides(st)
    if sides is None:
        return None
    rows, other = sides
    n = st.n
    product = _folded_product(st, rows, other)
    mask = np.zeros(n)
    for start, stop in rows:
        mask[start:stop] = 1.0
    v0 = start_vector(st) * mask
    with one_blas_thread():
        vals = _lanczos_top(product, v0, 2, tol) if n <= LANCZOS_FULL_MAX_NODES else None
        if vals is None:
            op = spla.LinearOperator((n, n), matvec=product, dtype=np.float64)
            vals = np.sort(
                spla.eigsh(
                    op, k=2, which="LA", tol=tol, v0=v0, ncv=LANCZOS_NCV, return_eigenvectors=False
                )
            )[::-1]
    return _folded_value(vals)


#: Above this many nodes (and not dense) both spectra come from the plain Lanczos of
#: :mod:`queries._spectral` (no reorthogonalisation: each step costs its product),
#: the gap's and the radius's recurrences in lockstep through one two-column product.
#: Up to it (a demo network's graphs) the same recurrence runs compiled in one call per
#: spectrum (:func:`_small_spectra`: the Python steps would cost more than the products).
PLAIN_LANCZOS_MIN_NODES = LANCZOS_FULL_MAX_NODES
#: The convergence test of the plain Lanczos (a tridiagonal eigensolve) runs every
#: this many steps below :data:`PARALLEL_MATVEC_MIN_ENTRIES` stored entries (the test
#: costs more than a small product), every step above.
PLAIN_CHECK_EVERY_SMALL = 3

_LAPLACIAN_COLUMNS = np.array([False, True])


def _plain_folded(
    st: GraphStructure, sides: tuple[np.ndarray, np.ndarray], small: bool
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """The folded products of the plain Lanczos: ``(B B^T x, half)``, ``half(y)`` the rows
    of the smaller side of ``A_s y`` (the second half of ``B B^T``, after a joint product).

    Above :data:`PARALLEL_MATVEC_MIN_ENTRIES`: :func:`queries._spectral.folded_half`
    over the upper triangle (threads balanced by entries); below, the serial halves
    of :func:`_folded_product` over the full CSR.
    """
    rows, other = sides
    if small:
        ptr, idx, data, _, _ = st.symmetric

        def serial_half(y: np.ndarray) -> np.ndarray:
            return K.csr_matvec_ranges_serial(ptr, idx, data, y, rows)

        return _folded_product(st, rows, other), serial_half
    uptr, uidx, udata, _ = st.upper
    threads = numba.get_num_threads()
    on_rows = np.zeros(st.n, dtype=np.bool_)
    on_other = np.zeros(st.n, dtype=np.bool_)
    for flags, ranges in ((on_rows, rows), (on_other, other)):
        for start, stop in ranges:
            flags[start:stop] = True

    def half(y: np.ndarray) -> np.ndarray:
        return S.folded_half(uptr, uidx, udata, on_rows, y, threads)

    def folded(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64).ravel()
        return half(S.folded_half(uptr, uidx, udata, on_other, x, threads))

    return folded, half


def _joint_product(st: GraphStructure, kernel: str) -> Callable[[np.ndarray], np.ndarray]:
    """``[A_s x_0, (D - A_s) x_1]`` (rows of a ``(2, n)`` array) for an ``(n, 2)`` one: one pass."""
    wdeg = st.weighted_degree
    if kernel == "upper":
        uptr, uidx, udata, loops = st.upper
        spans = _upper_spans(st)
        acc = np.zeros((spans.shape[0], st.n, 2))  # workspace of this product's calls
        return lambda x: S.sym_matvec2_ws(
            uptr, uidx, udata, loops, x, wdeg, _LAPLACIAN_COLUMNS, spans, acc
        )
    # The gather reads each row's entries once for both columns: about the cost of one
    # one-column product (scipy's CSR times an (n, 2) array costs two).
    ptr, idx, data, diag, chunks = st.symmetric
    return lambda x: S.csr_matvec2(ptr, idx, data, diag, x, wdeg, _LAPLACIAN_COLUMNS, chunks)


def _plain_spectra(
    st: GraphStructure,
    gap: bool,
    radius: bool,
    tol_gap: float,
    tol_radius: float,
    fold: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, float | None]:
    r"""Plain-Lanczos solves of the requested spectra, in lockstep when both are wanted.

    Returns ``(gap_values, radius_values, folded_gap)``: the accepted top Ritz
    values (:func:`queries._spectral.accepted`) of ``A_s`` (``[mu_0, mu_1]``) and of
    ``D - A_s`` (``[lambda_max]``), each None when not requested or when its
    recurrence stopped short (the caller falls back to ARPACK); ``folded_gap`` is
    the gap of a bipartite graph from ``B B^T`` (:func:`_folded_gap`'s rules) when
    that applied, then ``gap_values`` is None (``fold=False``: never folded).

    Start vectors: the gap's is the fixed pseudo-random one of :func:`_top_eigenvalues`
    (restricted to the smaller side when folded); the radius's is the same plus a spike
    ``sqrt(n)`` on the node of largest weighted degree (where the Laplacian's top
    eigenvector concentrates: fewer steps). A step of both is one call of the
    two-column product; on a bipartite graph the gap's column is then folded
    (``B B^T x``: the other side's rows of ``A_s x``, then one more half product,
    :func:`_plain_folded`).
    """
    n = st.n
    kernel = matvec_kernel(st)
    small = len(st.undirected[1]) < PARALLEL_MATVEC_MIN_ENTRIES
    every = PLAIN_CHECK_EVERY_SMALL if small else 1
    v0 = start_vector(st)
    sides = _folded_sides(st) if gap and fold else None
    runs: list[S.LanczosRun] = []
    single: list[Callable[[np.ndarray], np.ndarray]] = []
    if gap:
        if sides is not None:
            mask = np.zeros(n)
            for start, stop in sides[0]:
                mask[start:stop] = 1.0
            runs.append(S.LanczosRun(v0 * mask, tol_gap, True, DEGENERACY_RTOL, check_every=every))
            folded_single, folded_half = _plain_folded(st, sides, small)
            single.append(folded_single)
        else:
            runs.append(S.LanczosRun(v0.copy(), tol_gap, True, DEGENERACY_RTOL, check_every=every))
            single.append(_product(st, kernel, False))
    if radius:
        vr = v0.copy()
        vr[spike_node(st)] += math.sqrt(n)
        runs.append(S.LanczosRun(vr, tol_radius, False, check_every=every))
        single.append(_product(st, kernel, True))
    joint: Callable[[np.ndarray], np.ndarray] | None = None
    if gap and radius:
        both = _joint_product(st, kernel)
        if sides is None:
            joint = both
        else:

            def folded_joint(x: np.ndarray) -> np.ndarray:
                y = both(x)  # row 0: A_s x_0, nonzero on the other side only
                y[0] = folded_half(y[0])
                return y

            joint = folded_joint

    with one_blas_thread():
        S.lockstep(runs, single, joint)
    gap_vals = runs[0].result if gap else None
    radius_vals = runs[-1].result if radius else None
    folded = None
    if sides is not None and gap_vals is not None:
        folded = _folded_value(gap_vals)
        gap_vals = None
        if folded is None:  # folded rules not met: the general solve decides
            sides = None
    if gap and sides is not None and folded is None:
        return None, radius_vals, None
    return gap_vals, radius_vals, folded


#: The compiled small-graph solve tests convergence every this many steps.
SMALL_CHECK_EVERY = 3


def _dense_blocks(st: GraphStructure) -> tuple[np.ndarray, np.ndarray] | None:
    """``A_s`` as dense partition blocks (:func:`queries._block_spectra.partition_blocks`), or None.

    None (the CSR products) when some edge joins two nodes of one partition or the
    blocks hold more than :data:`queries._block_spectra.DENSE_BLOCK_MAX_FILL` times
    the stored entries (a sparse graph: the CSR product reads less); that test
    runs first on the partition pairs of the graph's blocks (a few microseconds).
    """
    ranges = st.partition_ranges
    pairs = {
        (min(b.src_partition, b.dst_partition), max(b.src_partition, b.dst_partition))
        for b in st.graph.blocks
        if b.n_edges
    }
    if len(ranges) < 2 or not pairs or any(p == q for p, q in pairs):
        return None
    cells = sum((ranges[p][1] - ranges[p][0]) * (ranges[q][1] - ranges[q][0]) for p, q in pairs)
    ptr, idx, data, _ = st.upper
    if cells > BS.DENSE_BLOCK_MAX_FILL * int(ptr[-1]) or cells > BS.DENSE_BLOCK_MAX_CELLS:
        return None
    offsets = np.array([0, *(stop for _, stop in ranges)], dtype=np.int64)
    if offsets[-1] != st.n or [a for a, _ in ranges] != offsets[:-1].tolist():
        return None  # not partitions in node order (not a graph the encoder builds)
    return BS.partition_blocks(ptr, idx, data, st.node_partition, offsets, st.partition_adjacency)


def _small_spectra(
    st: GraphStructure, gap: bool, radius: bool, tol_gap: float, tol_radius: float
) -> tuple[float | None, float | None, bool, bool]:
    r"""Both spectra of a graph below :data:`PLAIN_LANCZOS_MIN_NODES` nodes, compiled.

    :func:`queries._spectral.small_lanczos` (the plain recurrence and
    :func:`queries._spectral.accepted`'s test in one numba call each, serial CSR
    products), or the same recurrence over dense partition blocks
    (:func:`queries._block_spectra.block_lanczos`, BLAS ``gemv``) when the graph's
    layers are dense enough (:func:`_dense_blocks`: the LeNet-5 and MLP graphs of
    the demo at low sparsity): the gap folded on a bipartite graph
    (:func:`_folded_value`'s rules), else on ``A_s``; the radius from the start
    vector of :func:`_plain_spectra`. Returns ``(gap, radius, gap_done,
    radius_done)``; a spectrum not done (not requested, or its recurrence gave up)
    is left to the caller.
    """
    n = st.n
    ptr, idx, data, diag, _ = st.symmetric
    wdeg = st.weighted_degree
    blocks = _dense_blocks(st)

    def solve(side: np.ndarray, v: np.ndarray, mode: int, tol: float, is_gap: bool) -> Any:
        if blocks is not None:
            return BS.block_lanczos(
                blocks[0], blocks[1], diag, wdeg, side, v, mode, tol, is_gap,
                DEGENERACY_RTOL, steps, SMALL_CHECK_EVERY,
            )  # fmt: skip
        return S.small_lanczos(
            ptr, idx, data, diag, wdeg, side, v, mode, tol, is_gap,
            DEGENERACY_RTOL, steps, SMALL_CHECK_EVERY,
        )  # fmt: skip

    v0 = start_vector(st)
    steps = min(n, S.MAX_STEPS)
    no_side = np.zeros(0, dtype=np.bool_)
    gap_value: float | None = None
    radius_value: float | None = None
    gap_done = radius_done = False
    # The block products call BLAS: one thread (small, memory-bound gemv).
    with one_blas_thread() if blocks is not None else contextlib.nullcontext():
        if gap:
            sides = _folded_sides(st)
            if sides is not None:
                side = np.zeros(n, dtype=np.bool_)
                for start, stop in sides[0]:
                    side[start:stop] = True
                status, t0, t1, _ = solve(side, v0 * side, 2, tol_gap, True)
                if status == 1:
                    gap_value = _folded_value(np.array([t0, t1]))
                    gap_done = gap_value is not None
            if not gap_done:
                status, t0, t1, _ = solve(no_side, v0, 0, tol_gap, True)
                if status == 1:
                    gap_value, gap_done = float(t0 - t1), True
        if radius:
            vr = v0.copy()
            vr[spike_node(st)] += math.sqrt(n)
            status, t0, _, _ = solve(no_side, vr, 1, tol_radius, False)
            if status == 1:
                radius_value, radius_done = float(t0), True
    return gap_value, radius_value, gap_done, radius_done


def _gap_from_values(vals: np.ndarray) -> float | None:
    """``mu0 - mu1`` from the top eigenvalues (descending); None when all equal ``mu0``."""
    mu0 = vals[0]
    threshold = mu0 - DEGENERACY_RTOL * abs(mu0) if mu0 != 0 else -DEGENERACY_RTOL
    below = vals[vals < threshold]
    return float(mu0 - below[0]) if below.size else None


def _gap_general(st: GraphStructure, tol: float) -> float | None:
    """The gap from :func:`_top_eigenvalues` with ``k`` doubled until some value is below ``mu0``."""
    n = st.n
    limit = n if n <= DENSE_EIGEN_MAX_NODES else min(n - 1, 256)
    k = min(limit, 2)
    while True:
        vals = _top_eigenvalues(st, False, k, tol)
        found = _gap_from_values(vals)
        if found is not None:
            return found
        if k >= limit:
            return None
        k = min(limit, 2 * k)


def spectral_pair(
    st: GraphStructure,
    *,
    gap: bool = True,
    radius: bool = True,
    tol_gap: float = 1e-8,
    tol_radius: float = 1e-7,
) -> tuple[float | None, float | None]:
    """``(spectral_gap, spectral_radius)`` of one graph, the requested ones (others None).

    Up to :data:`DENSE_EIGEN_MAX_NODES` nodes dense, up to
    :data:`PLAIN_LANCZOS_MIN_NODES` the compiled plain Lanczos of
    :func:`_small_spectra` (the fully reorthogonalised one, then ARPACK, where it
    gives up), each spectrum alone. Above, one plain-Lanczos pass for both (:func:`_plain_spectra`;
    a bipartite graph whose folded values fail :func:`_folded_value`'s rules has
    its gap solved again on ``A_s``); a recurrence that stops short hands its
    spectrum to the solves of :func:`_top_eigenvalues` (ARPACK).
    """
    n = st.n
    gap_value: float | None = None
    radius_value: float | None = None
    if radius and n == 1:
        radius_value = 0.0
    if n <= PLAIN_LANCZOS_MIN_NODES or n < 2:
        gap_done = radius_done = False
        if n > DENSE_EIGEN_MAX_NODES:
            gap_value, radius_value, gap_done, radius_done = _small_spectra(
                st, gap, radius, tol_gap, tol_radius
            )
        if gap and n >= 2 and not gap_done:
            gap_value = _gap_before_plain(st, tol_gap)
        if radius and n > 1 and not radius_done:
            radius_value = float(_top_eigenvalues(st, True, 1, tol_radius)[0])
        return gap_value, radius_value
    gap_vals, radius_vals, folded = _plain_spectra(st, gap, radius, tol_gap, tol_radius)
    if gap and folded is None and gap_vals is None and _folded_sides(st) is not None:
        # The folded rules were not met (sigma_1 repeats sigma_0 ...): solve A_s itself.
        gap_vals = _plain_spectra(st, True, False, tol_gap, tol_radius, fold=False)[0]
    if gap:
        if folded is not None:
            gap_value = folded
        elif gap_vals is not None:
            gap_value = _gap_from_values(gap_vals)
        else:
            gap_value = _gap_general(st, tol_gap)
    if radius:
        if radius_vals is None:
            radius_vals = _top_eigenvalues(st, True, 1, tol_radius)
        radius_value = float(radius_vals[0])
    return gap_value, radius_value


def _gap_before_plain(st: GraphStructure, tol: float) -> float | None:
    """The gap of a graph below :data:`PLAIN_LANCZOS_MIN_NODES` nodes: folded, else general."""
    if st.n > DENSE_EIGEN_MAX_NODES:
        folded = _folded_gap(st, tol)
        if folded is not None:
            return folded
    return _gap_general(st, tol)


def spectral_gap(st: GraphStructure, *, tol: float = 1e-8) -> float | None:
    """``mu0 - mu1`` of the symmetric ``|w|`` adjacency; None when no ``mu1`` exists.

    ``mu1`` is the largest eigenvalue below ``mu0 * (1 - 1e-9)`` (a repeated top
    eigenvalue, e.g. from identical components, is skipped). Dense and small
    graphs: only the top ``k`` eigenvalues are computed, ``k = 2`` first; if they
    all equal ``mu0``, ``k`` is doubled (up to every eigenvalue for a dense solve,
    256 for Lanczos); a bipartite graph above the dense size is first solved
    folded (:func:`_folded_gap`). Large graphs: plain Lanczos
    (:func:`spectral_pair`), whose copies of ``mu0`` are skipped the same way.
    """
    if st.n < 2:
        return None
    return spectral_pair(st, radius=False, tol_gap=tol)[0]


def spectral_radius(st: GraphStructure, *, tol: float = 1e-7) -> float | None:
    """Largest eigenvalue of the weighted Laplacian ``D - A_s`` (:func:`spectral_pair`)."""
    if st.n == 0:
        return None
    if st.n == 1:
        return 0.0
    return spectral_pair(st, gap=False, tol_radius=tol)[1]


# ------------------------------------------------------------ registrations
def _row_value(key: str) -> Callable[[Mapping[str, Any], Mapping[str, Any]], float | None]:
    """Database value: column ``key`` of the query's row as a float (null stays null)."""

    def value(row: Mapping[str, Any], info: Mapping[str, Any]) -> float | None:
        return None if row[key] is None else float(row[key])

    return value


def _local_counts_params(info: Mapping[str, Any]) -> dict[str, Any]:
    return {"last_partition": int(info["n_partitions"]) - 1}


def _component_size(row: Mapping[str, Any], info: Mapping[str, Any]) -> float | None:
    comps = row["components"]
    return int(info["n_nodes"]) / comps if comps else None


def _local(name: str) -> DatabaseImpl:
    return DatabaseImpl("metric_local_counts", _row_value(name), params=_local_counts_params)


_LOCAL_NEEDS = ("_directed_degrees", "local_counts")


def _local_count(ctx: MetricContext, name: str) -> float:
    return float(ctx.shared("local_counts", lambda c: local_counts(c.structure))[name])


@register_metric("sink", section="A", needs=_LOCAL_NEEDS, database=_local("sink"))
def sink_metric(ctx: MetricContext) -> float:
    """Non-output nodes with inputs and no outputs."""
    return _local_count(ctx, "sink")


@register_metric("source", section="A", needs=_LOCAL_NEEDS, database=_local("source"))
def source_metric(ctx: MetricContext) -> float:
    """Non-input nodes with outputs and no inputs."""
    return _local_count(ctx, "source")


@register_metric("disconnected", section="A", needs=_LOCAL_NEEDS, database=_local("disconnected"))
def disconnected_metric(ctx: MetricContext) -> float:
    """Nodes without any edge."""
    return _local_count(ctx, "disconnected")


@register_metric("r_out", section="A", needs=_LOCAL_NEEDS, database=_local("r_out"))
def r_out_metric(ctx: MetricContext) -> float:
    """Out-edges of the source nodes."""
    return _local_count(ctx, "r_out")


@register_metric("r_in", section="A", needs=_LOCAL_NEEDS, database=_local("r_in"))
def r_in_metric(ctx: MetricContext) -> float:
    """In-edges of the sink nodes."""
    return _local_count(ctx, "r_in")


@register_metric(
    "n1", section="A", needs=("directed", "upper"), engine="numba", database=_local("n1")
)
def n1_metric(ctx: MetricContext) -> float | None:
    """Mean number of distinct out-neighbours."""
    return n1(ctx.structure)


@register_metric("n2", section="A", needs=("directed", "upper"), engine="numba", sampled=True)
def n2_metric(ctx: MetricContext) -> Estimate:
    """Mean 2-hop directed reach (exact, or a stratified sample above the budget)."""
    return n2(ctx.structure, budget=ctx.budget, rng=ctx.rng)


_MOTIF_NEEDS = ("upper", "undirected", "degree", "triangles")


def _triangles(ctx: MetricContext) -> Any:
    return ctx.shared("triangles", lambda c: triangles(c.structure))


@register_metric("motif3", section="A", needs=_MOTIF_NEEDS, engine="numba")
def motif3_metric(ctx: MetricContext) -> Estimate:
    """Connected induced 3-node subgraphs."""
    return motif3(ctx.structure, _triangles(ctx))


@register_metric("motif4", section="A", needs=_MOTIF_NEEDS, engine="numba", sampled=True)
def motif4_metric(ctx: MetricContext) -> Estimate:
    """Connected induced 4-node subgraphs (4-cycles sampled above the budget)."""
    return motif4(ctx.structure, budget=ctx.budget, rng=ctx.rng, tri=_triangles(ctx))


@register_metric(
    "kcore",
    section="A",
    needs=("upper", "undirected", "coreness"),
    engine="numba",
    database=DatabaseImpl(
        "metric_gds_kcore", lambda row, info: row["kcore"], projection="UNDIRECTED"
    ),
)
def kcore_metric(ctx: MetricContext) -> float | None:
    """Mean core number (on a large graph a side job, beside the other serial kernels)."""
    return ctx.shared("coreness", lambda c: kcore(c.structure))


@register_metric(
    "strength",
    section="A",
    needs=("strength",),
    database=DatabaseImpl(
        "metric_gds_degree",
        lambda row, info: row["mean_degree"],
        projection="NATURAL",
        weighted=True,
        params=lambda info: {
            "config": {"orientation": "REVERSE", "relationshipWeightProperty": "w"}
        },
    ),
)
def strength_metric(ctx: MetricContext) -> float | None:
    """Mean summed ``|w|`` of incoming edges."""
    return ctx.shared("strength", lambda c: strength(c.structure))


def _components(ctx: MetricContext) -> tuple[int, float | None]:
    return ctx.shared("components", lambda c: components(c.structure))


@register_metric(
    "components",
    section="A",
    needs=("components",),
    engine="numba",
    database=DatabaseImpl("metric_gds_wcc", _row_value("components"), projection="UNDIRECTED"),
)
def components_metric(ctx: MetricContext) -> float:
    """Weakly connected components."""
    return float(_components(ctx)[0])


@register_metric(
    "component_size",
    section="A",
    needs=("components",),
    engine="numba",
    database=DatabaseImpl("metric_gds_wcc", _component_size, projection="UNDIRECTED"),
)
def component_size_metric(ctx: MetricContext) -> float | None:
    """Mean component size."""
    return _components(ctx)[1]


_CUT_NEEDS = ("upper", "undirected", "cuts")


def _cuts_job(ctx: MetricContext) -> tuple[int, int]:
    """The ``cuts`` side job; its DFS also fills ``components`` when those are requested
    (the union-find pass over the edges then does not run)."""
    found_cuts, found_components = cuts_and_components(ctx.structure)
    if (ctx.requested or frozenset()) & {"components", "component_size"}:
        ctx._shared.setdefault("components", found_components)
    return found_cuts


def _cuts(ctx: MetricContext) -> tuple[int, int]:
    return ctx.shared("cuts", lambda c: cuts(c.structure))


@register_metric(
    "cut_edges",
    section="A",
    needs=_CUT_NEEDS,
    engine="numba",
    database=DatabaseImpl("metric_gds_bridges", _row_value("cut_edges"), projection="UNDIRECTED"),
)
def cut_edges_metric(ctx: MetricContext) -> float:
    """Bridges of the undirected graph."""
    return float(_cuts(ctx)[0])


@register_metric(
    "cut_nodes",
    section="A",
    needs=_CUT_NEEDS,
    engine="numba",
    database=DatabaseImpl(
        "metric_gds_articulation", _row_value("cut_nodes"), projection="UNDIRECTED"
    ),
)
def cut_nodes_metric(ctx: MetricContext) -> float:
    """Articulation points of the undirected graph."""
    return float(_cuts(ctx)[1])


def _build_undirected(ctx: MetricContext) -> None:
    _ = ctx.structure.undirected


def _prepare_triangles(ctx: MetricContext) -> None:
    """Build what :func:`triangles` reads (nothing when no edge can close a triangle)."""
    st = ctx.structure
    if st.closable_pairs.any():
        for name in ("upper", "undirected", "degree", "node_partition", "partition_ranges"):
            getattr(st, name)
        _ = st.partition_k4_possible


def _prepare_local_counts(ctx: MetricContext) -> None:
    # The directed degrees are the job's own (nothing else reads them); the node
    # partition is shared with the triangles.
    _ = ctx.structure.node_partition


def _build_upper(ctx: MetricContext) -> None:
    _ = ctx.structure.upper


def _weighted_degree_job(ctx: MetricContext) -> np.ndarray:
    """The spectra's weighted degrees, built beside the other jobs rather than on
    the solves' path (a serial pass over the upper triangle)."""
    wdeg: np.ndarray = ctx.structure.weighted_degree
    return wdeg


# Side jobs of a large graph (metric_registry.run_side_jobs): the serial kernels, run two
# at a time before the metrics. Costs relative to the core numbers (ResNet-20 MGE at 0.9:
# core numbers 43 ms, cut search 50, triangles 13, union-find 11, strength 3.5,
# weighted degrees 3.4, directed degrees and local counts 4).
register_side_job(
    "coreness", lambda c: kcore(c.structure), metrics={"kcore"}, prepare=_build_undirected
)
register_side_job(
    "cuts", _cuts_job, metrics={"cut_edges", "cut_nodes"}, prepare=_build_undirected, cost=0.9
)
register_side_job(
    "components",
    lambda c: components(c.structure),
    metrics={"components", "component_size"},
    cost=0.2,
    skip_with="cuts",
)
register_side_job(
    "triangles",
    lambda c: triangles(c.structure),
    metrics={"motif3", "motif4"},
    prepare=_prepare_triangles,
    cost=0.25,
)
register_side_job("strength", lambda c: strength(c.structure), metrics={"strength"}, cost=0.05)
register_side_job(
    "local_counts",
    lambda c: local_counts(c.structure),
    metrics={"sink", "source", "disconnected", "r_out", "r_in"},
    prepare=_prepare_local_counts,
    cost=0.08,
)
register_side_job(
    "weighted_degree",
    _weighted_degree_job,
    metrics={"spectral_gap", "spectral_radius"},
    prepare=_build_upper,
    cost=0.06,
)


_SPECTRAL_NEEDS = ("upper", "weighted_degree", "symmetric", "_matvec_kernel")
#: Shared key: the spectral radius found by the gap's lockstep solve.
_RADIUS_KEY = "spectral_radius_value"


@register_metric("spectral_gap", section="A", needs=_SPECTRAL_NEEDS, engine="scipy")
def spectral_gap_metric(ctx: MetricContext) -> float | None:
    """``mu0 - mu1`` of the symmetric ``|w|`` adjacency.

    Unless the context says ``spectral_radius`` is not requested (a
    ``requested`` attribute, when the caller sets one), both spectra come from one
    lockstep solve (:func:`spectral_pair`) and the radius waits in the shared
    intermediates for its metric (a second column in the same pass over the
    matrix costs little: the products are bound by memory traffic).
    """
    requested = getattr(ctx, "requested", None)
    if requested is not None and "spectral_radius" not in requested:
        return spectral_gap(ctx.structure)
    st = ctx.structure
    if st.n < 2:
        return None
    gap, radius = spectral_pair(st)
    ctx.shared(_RADIUS_KEY, lambda _ctx: radius)
    return gap


@register_metric(
    "spectral_radius", section="A", needs=(*_SPECTRAL_NEEDS, _RADIUS_KEY), engine="scipy"
)
def spectral_radius_metric(ctx: MetricContext) -> float | None:
    """Largest eigenvalue of the weighted Laplacian (from the gap's solve when it ran)."""
    value: float | None = ctx.shared(_RADIUS_KEY, lambda c: spectral_radius(c.structure))
    return value


#: Section A names, in registration order (a snapshot; the registry is the source).
SECTION_A: tuple[str, ...] = section_names("A")


# ---------------------------------------------------------------- driver
def compute_section_a(
    graph: MultipartiteGraph | GraphStructure,
    metrics: list[str] | tuple[str, ...] | None = None,
    *,
    budget: float = DEFAULT_BUDGET,
    seed: int = 0,
    engines: dict[str, str] | None = None,
) -> dict[str, Estimate]:
    """Compute the requested section-A metrics (default: all) of one graph.

    Loops over the registered section-A metrics (registration order, each
    cached structure freed after its last use). Returns ``{metric: Estimate}``
    in the requested order; ``engines`` (if given) is filled with the engine
    that produced each value (``numpy``, ``numba``, ``scipy``, ``estimate``).
    """
    st = graph if isinstance(graph, GraphStructure) else GraphStructure(graph)
    names = section_names("A")
    wanted = list(names if metrics is None else metrics)
    unknown = [m for m in wanted if m not in names]
    if unknown:
        from prunegraph.errors import UnknownNameError

        raise UnknownNameError("section-A metric", unknown[0], names)
    defs = [DEFINITIONS[m] for m in dict.fromkeys(wanted)]
    out = evaluate(MetricContext(st, budget=budget, seed=seed), defs)
    if engines is not None:
        for m in defs:
            engines[m.name] = m.engine if out[m.name].exact else "estimate"
    return {m: out[m] for m in wanted}
