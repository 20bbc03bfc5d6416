"""Derived adjacency structures of one :class:`MultipartiteGraph`, built lazily and cached.

The metric functions share one :class:`GraphStructure` per graph so the
undirected simple adjacency (the most expensive piece) is built once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache, cached_property
from typing import Any

import numpy as np

from prunegraph.loader.graph import MultipartiteGraph, Partition
from prunegraph.queries import _kernels as K


@cache
def _blas_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # scans the loaded libraries once per process (~10 ms)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Hold BLAS/LAPACK to one thread (every dense branch of the metric engine runs inside).

    Small dense solves are memory-bound and, in worker processes that share the
    cores, a threaded BLAS is 5-10x slower than one thread. The controller is
    built once per process; entering and leaving the limit costs microseconds.
    """
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


SERIAL_MAX_EDGES = 200_000
"""Graphs up to this many edges run their numba kernels on one thread: waking a parallel
region's workers costs more than the work (2-3x slower on a demo network's graphs)."""


@contextmanager
def kernel_threads(n_edges: int) -> Iterator[None]:
    """One numba thread for small graphs (:data:`SERIAL_MAX_EDGES`), all of them otherwise."""
    import numba

    if n_edges > SERIAL_MAX_EDGES:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def concurrently(*jobs: Callable[[], Any]) -> list[Any]:
    """Run ``jobs`` at once (the first on the calling thread); their results, in order.

    For serial compiled kernels that release the GIL (``nogil``) on a large
    graph: on ``c`` idle cores the wall time is the longest job's rather than
    their sum, at the same CPU time (no parallel region, nothing spins). A job
    must not build a cached :class:`GraphStructure` property another job reads
    (build it before). A job's exception is raised here, after the others end.
    """
    if len(jobs) < 2:
        return [job() for job in jobs]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(jobs) - 1) as pool:
        futures = [pool.submit(job) for job in jobs[1:]]
        first = jobs[0]()
        return [first, *(f.result() for f in futures)]


RELABEL_MIN_EDGES = 1_000_000
"""From this many edges on, the CSR views number each convolutional partition's nodes
pixel-major (:func:`pixel_major_order`): the kernels then read each row's neighbours
from a few runs of adjacent ids. Below, the graph's own ids: on the ResNet-20 MGE at
sparsity 0.98 (0.82 M edges) the renaming made the whole metric set 7-10 % slower, at
0.9 (3.8 M edges) 10 % faster."""


def pixel_major_order(partitions: Sequence[Partition], n: int) -> np.ndarray | None:
    r"""New ids that number each ``(C, H, W)`` partition pixel-major, channels innermost.

    Returns ``relabel`` (int32, length ``n``): node ``offset + (c H + h) W + w``
    (the encoder's channel-major order) becomes ``offset + (h W + w) C + c``;
    nodes of other partitions keep their ids. None when no partition has both
    several channels and several pixels (nothing moves).

    Why: a convolution joins pixel ``(h, w)`` to a ``k x k`` window of the next
    feature map in every channel. Channel-major, a node's neighbours lie in
    ``C k`` runs of ``k`` ids, one per channel and kernel row, each its own cache
    line; pixel-major they lie in ``k`` runs of ``k C`` ids. The upper-triangle
    product of the spectral solves runs 15-25 % faster (ResNet-20 MGE at
    sparsity 0.6: 11.8 -> 10.1 ms) and the CSR builds, the core numbers and the
    triangle counts gain too. Renaming nodes inside their own partition changes no
    metric: the graph is the same up to isomorphism, the partitions keep their
    ranges and the edges between partitions keep their direction.
    """
    relabel: np.ndarray | None = None
    for p in partitions:
        if len(p.shape) != 3 or p.shape[0] < 2 or p.shape[1] * p.shape[2] < 2:
            continue
        if relabel is None:
            relabel = np.arange(n, dtype=np.int32)
        c, pixels = p.shape[0], p.shape[1] * p.shape[2]
        local = np.arange(p.size, dtype=np.int64)
        relabel[p.offset : p.offset + p.size] = p.offset + (local % pixels) * c + local // pixels
    return relabel


PARALLEL_MATVEC_MIN_ENTRIES = 500_000
"""Below this many stored entries of the full symmetric CSR the spectral mat-vec runs in
the calling thread (starting a parallel region costs more than the product, about 2 ms
on a busy 2-core machine) and reads that CSR, which then carries the ``|w|`` sums; above,
the solves read the upper triangle and the full CSR is built as a pattern alone (see
:attr:`GraphStructure._symmetric_full`): half the build's writes and 4 bytes per stored
entry less (Conv-6 MGE at sparsity 0.6: 386 MB)."""


#: The large cached structures, freed after their last use. Which metric reads
#: which is declared by each metric's registration (``needs``).
RELEASABLE: tuple[str, ...] = (
    "directed",
    "upper",
    "_symmetric_full",
    "degree",
    "weighted_degree",
    "symmetric",
    "_matvec_kernel",
    "_directed_degrees",
)
#: Names metrics declare that are views of another cached structure.
_BACKING = {"undirected": "_symmetric_full", "symmetric": "_symmetric_full"}


def unsigned(indices: np.ndarray) -> np.ndarray:
    """``indices`` (int32 node ids, all >= 0) viewed as uint32, no copy.

    A compiled kernel indexing an array with a signed integer checks it for a
    negative (wrap-around) index at every access; with an unsigned one it does
    not. In the products' inner loops (one gather and one scatter per stored
    entry) that check cost 5-20 % of the time (ResNet-20 MGE at sparsity 0.9:
    3.0 -> 2.3-2.6 ms per product), with identical results.
    """
    return indices.view(np.uint32) if indices.dtype == np.int32 else indices


class GraphStructure:
    """Lazily built views of a graph: degrees, directed / undirected simple CSR patterns.

    Column indices are uint32 views of the int32 arrays the kernels build
    (:func:`unsigned`). ``directed`` is the simple directed pattern (``src -> dst``, parallel edges
    merged). ``upper`` is the upper triangle of the weighted symmetric
    adjacency and ``forward`` its pattern (each simple undirected edge once, at
    its smaller endpoint; self-loops dropped). ``undirected`` is the full
    simple undirected graph with a per-row split between smaller and larger
    neighbours. All are built by counting passes, O(edges + nodes).
    """

    def __init__(self, graph: MultipartiteGraph) -> None:
        self.graph = graph
        self.n = graph.n_nodes
        self.n_edges = graph.n_edges

    def release_except(self, keep: set[str]) -> None:
        """Drop the cached :data:`RELEASABLE` structures not named in ``keep`` (peak memory)."""
        keep = keep | {_BACKING[k] for k in keep if k in _BACKING}
        for name in RELEASABLE:
            if name not in keep:
                self.__dict__.pop(name, None)

    def release_unneeded(self, remaining: set[str]) -> None:
        """Drop cached structures that none of the ``remaining`` metrics reads (peak memory).

        What each metric reads is its registration's ``needs``
        (:mod:`prunegraph.queries.metric_registry`).
        """
        from prunegraph.queries.metric_registry import DEFINITIONS

        keep: set[str] = set()
        for name in remaining:
            if name in DEFINITIONS:
                keep |= DEFINITIONS[name].needs
        self.release_except(keep)

    # ----------------------------------------------------------- degrees
    @cached_property
    def _directed_degrees(self) -> tuple[np.ndarray, np.ndarray]:
        """Out- and in-degrees in the graph's ids, counting parallel edges.

        From the full simple CSR when it is built and holds every edge once (every
        edge to a larger id, no parallel edges): a row's upper and lower lengths,
        O(n) instead of a pass over the edges (ResNet-20 MGE at sparsity 0.6: 20 ms).
        """
        full = self.__dict__.get("_symmetric_full")
        if full is not None and self.is_dag_order and int(full[0][-1]) == 2 * self.n_edges:
            ptr, _, split, _ = full
            out, inn = ptr[1:] - split, split - ptr[:-1]
            if self.relabel is not None:  # graph node v is row relabel[v]
                out, inn = out[self.relabel], inn[self.relabel]
            return out, inn
        return K.directed_degrees(self.graph.src, self.graph.dst, self.n)

    @property
    def out_degree(self) -> np.ndarray:
        return self._directed_degrees[0]

    @property
    def in_degree(self) -> np.ndarray:
        return self._directed_degrees[1]

    @cached_property
    def node_partition(self) -> np.ndarray:
        return self.graph.node_partition

    @cached_property
    def partition_ranges(self) -> list[tuple[int, int]]:
        return [(p.offset, p.offset + p.size) for p in self.graph.partitions]

    # ------------------------------------------------------ CSR patterns
    @cached_property
    def relabel(self) -> np.ndarray | None:
        """The ids of the CSR views, ``relabel[v]`` for graph node ``v`` (None: the same ids).

        :func:`pixel_major_order` on a graph of at least :data:`RELABEL_MIN_EDGES`
        edges whose edges all go up between two different partitions (the MGE);
        checked per block from its edges' smallest and largest ids, so a graph
        that breaks it keeps its ids. Every per-node array of a CSR view
        (``degree``, ``weighted_degree``, the rows) is in these ids; the edge
        arrays, ``out_degree`` and ``in_degree`` in the graph's. A metric stays the
        same either way; what depends on ids maps through :meth:`to_structure`
        (the spectral start vectors, the sampled estimators' strata), so the
        values are the ones the graph's own ids give.
        """
        g = self.graph
        if g.n_edges < RELABEL_MIN_EDGES or not self.is_dag_order:
            return None
        for b in g.blocks:
            if b.stop == b.start:
                continue
            if b.src_partition == b.dst_partition:
                return None
            for ids, part in ((g.src, b.src_partition), (g.dst, b.dst_partition)):
                p = g.partitions[part]
                piece = ids[b.start : b.stop]
                if int(piece.min()) < p.offset or int(piece.max()) >= p.offset + p.size:
                    return None
        return pixel_major_order(g.partitions, self.n)

    def to_structure(self, values: np.ndarray) -> np.ndarray:
        """A per-node array in graph ids (``values[v]``) re-indexed to the CSR views' ids."""
        if self.relabel is None:
            return values
        out = np.empty_like(values)
        out[self.relabel] = values
        return out

    @cached_property
    def is_dag_order(self) -> bool:
        """Every edge goes from a smaller to a larger node id (the MGE: partitions in order)."""
        return bool(np.all(self.graph.src < self.graph.dst))

    @cached_property
    def upper(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Upper triangle of ``A_s = A + A.T`` (``|w|``): ``(indptr, indices, data, loops)``.

        Row ``u`` lists its simple undirected neighbours ``v > u`` (sorted) with
        the summed ``|w|`` of every edge between them; ``loops`` is the diagonal.
        """
        g = self.graph
        built = None
        spans = self._block_spans
        if spans is not None:
            built = K.block_upper_csr(g.src, g.dst, g.weight, self.n, spans, self.relabel)
        if built is None:
            built = K.weighted_upper_csr(
                g.src, g.dst, g.weight, self.n, is_dag=self.is_dag_order, relabel=self.relabel
            )
        ptr, idx, data, loops = built
        return ptr, unsigned(idx), data, loops

    @property
    def _block_spans(self) -> np.ndarray | None:
        """The blocks for :func:`_kernels.block_upper_csr`, or None (the global build).

        Where the CSR views are renamed (:attr:`relabel`: a large graph whose every
        block was checked to join two different partitions, its ids inside them)
        and no two blocks join the same two partitions.
        """
        if self.relabel is None:
            return None
        g = self.graph
        blocks = [b for b in g.blocks if b.stop > b.start]
        if len({(b.src_partition, b.dst_partition) for b in blocks}) < len(blocks):
            return None
        spans = []
        for b in blocks:
            p, q = g.partitions[b.src_partition], g.partitions[b.dst_partition]
            spans.append((b.start, b.stop, p.offset, p.size, q.offset, q.size, 0))
        return np.array(spans, dtype=np.int64).reshape(-1, 7)

    @property
    def forward(self) -> tuple[np.ndarray, np.ndarray]:
        """Each simple undirected edge once, at its smaller endpoint (sorted rows)."""
        ptr, idx, _, _ = self.upper
        return ptr, idx

    @cached_property
    def directed(self) -> tuple[np.ndarray, np.ndarray]:
        """Simple directed pattern ``src -> dst`` (the upper pattern when edges go up)."""
        if self.is_dag_order:
            return self.forward
        ptr, idx = K.csr_pattern(self.graph.src, self.graph.dst, self.n)
        return ptr, unsigned(idx)

    @cached_property
    def _symmetric_full(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Full symmetric CSR of ``A_s``: ``(indptr, indices, split, data)``.

        With the ``|w|`` sums (``data``) below :data:`PARALLEL_MATVEC_MIN_ENTRIES`
        entries or on one numba thread, where the spectra read this CSR; otherwise
        the pattern alone (``data`` empty): the solves use the upper triangle, and
        :attr:`symmetric` adds the sums only if a product on the full CSR is asked for.
        """
        import numba

        ptr, idx, data, _ = self.upper
        # On one numba thread the solves' products read this CSR (matvec_kernel: serial)
        weighted = 2 * idx.shape[0] < PARALLEL_MATVEC_MIN_ENTRIES or numba.get_num_threads() <= 1
        full_ptr, full_idx, split, full_data = K.symmetric_from_upper(
            ptr, idx, data, weighted=weighted
        )
        return full_ptr, unsigned(full_idx), split, full_data

    @property
    def undirected(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Simple undirected graph ``(indptr, indices, split)``, rows sorted.

        Row ``u``'s neighbours below ``u`` are ``indices[indptr[u]:split[u]]``. It is
        the pattern of :attr:`symmetric` (one structure serves both).
        """
        ptr, idx, split, _ = self._symmetric_full
        return ptr, idx, split

    @cached_property
    def degree(self) -> np.ndarray:
        """Degree in the simple undirected graph."""
        ptr = self.undirected[0]
        return np.diff(ptr)

    @cached_property
    def n_simple_edges(self) -> int:
        return int(self.forward[0][-1])

    @cached_property
    def symmetric(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Full weighted symmetric CSR of ``A_s`` for the spectral solves.

        ``(indptr, indices, data, diag, chunks)``: float32 ``|w|`` sums, ``diag``
        the diagonal of ``A_s`` (empty without self-loops) and ``chunks`` the row
        ranges of the parallel mat-vec (:func:`_kernels.csr_matvec`), balanced by entries.
        """
        from numba import get_num_threads

        ptr, idx, data, _ = self.upper
        full_ptr, full_idx, _, full_data = self._symmetric_full
        if full_data.shape[0] != full_idx.shape[0]:  # built as a pattern: add the sums
            full_data = K.symmetric_from_upper(ptr, idx, data)[3]
        chunks = K.row_chunks(full_ptr, get_num_threads())
        return full_ptr, full_idx, full_data, self.diagonal, chunks

    @property
    def diagonal(self) -> np.ndarray:
        """The diagonal of ``A_s`` (``2 |w|`` of the self-loops), empty without self-loops."""
        loops = self.upper[3]
        return loops if loops.shape[0] == self.n and loops.any() else np.zeros(0)

    @cached_property
    def weighted_degree(self) -> np.ndarray:
        """Weighted degree of the symmetric adjacency ``A_s`` (float64)."""
        ptr, idx, data, loops = self.upper
        return K.weighted_degree(ptr, idx, data, loops)

    @cached_property
    def partition_adjacency(self) -> np.ndarray:
        """Boolean ``P[p, q]``: some edge joins partitions ``p`` and ``q`` (symmetric)."""
        k = self.graph.n_partitions
        p = np.zeros((k, k), dtype=bool)
        for b in self.graph.blocks:
            if b.n_edges:
                p[b.src_partition, b.dst_partition] = True
                p[b.dst_partition, b.src_partition] = True
        return p

    @cached_property
    def closable_pairs(self) -> np.ndarray:
        """Boolean ``C[p, r]``: an edge between partitions ``p`` and ``r`` can close a triangle.

        Its middle node lies in a partition ``q`` between them (inclusive, which
        only matters when a partition has internal edges) adjacent to both.
        """
        adj = self.partition_adjacency
        k = adj.shape[0]
        out = np.zeros((k, k), dtype=bool)
        for p in range(k):
            for r in range(p, k):
                if adj[p, r] and (adj[p, p : r + 1] & adj[p : r + 1, r]).any():
                    out[p, r] = out[r, p] = True
        return out

    @cached_property
    def partition_k4_possible(self) -> bool:
        """Whether four partitions (or fewer, with internal edges) are pairwise adjacent."""
        adj = self.partition_adjacency
        if adj.diagonal().any():
            return True
        k = adj.shape[0]
        for p in range(k):
            for q in range(p + 1, k):
                if adj[p, q]:
                    common = adj[p] & adj[q]
                    if (adj[np.ix_(common, common)]).any():
                        return True
        return False

    @cached_property
    def bipartite_sides(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Row ranges ``(start, stop)`` of the two sides of a bipartite graph, smaller side first.

        The graph is bipartite when its partition graph (which partitions some edge
        joins) is two-colourable without an edge inside a partition: every MGE of a
        chain of layers (MLP, LeNet-5, Conv-6, VGG); not ResNets, whose skip
        connections join partitions two apart. None otherwise. Each partition's rows
        are split into pieces of about equal entries for the parallel product.
        """
        from numba import get_num_threads

        adj = self.partition_adjacency
        k = adj.shape[0]
        color = np.full(k, -1)
        ok = not adj.diagonal().any()
        for first in range(k):
            if not ok or color[first] >= 0:
                continue
            color[first] = 0
            stack = [first]
            while stack and ok:
                p = stack.pop()
                for q in np.flatnonzero(adj[p]):
                    if color[q] < 0:
                        color[q] = 1 - color[p]
                        stack.append(int(q))
                    elif color[q] == color[p]:
                        ok = False
        result = None
        if ok:
            ptr = self.undirected[0]
            target = max(1, int(ptr[-1]) // (8 * get_num_threads()))
            sides: list[list[tuple[int, int]]] = [[], []]
            for (start, stop), c in zip(self.partition_ranges, color, strict=True):
                if stop > start:
                    pieces = max(1, min(stop - start, int(ptr[stop] - ptr[start]) // target))
                    cuts = np.linspace(start, stop, pieces + 1).astype(np.int64)
                    sides[int(c)].extend(zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True))
            a, b = (np.array(s, dtype=np.int64).reshape(-1, 2) for s in sides)
            size_a, size_b = int((a[:, 1] - a[:, 0]).sum()), int((b[:, 1] - b[:, 0]).sum())
            result = (a, b) if size_a <= size_b else (b, a)
        return result
