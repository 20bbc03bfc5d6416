"""Derived adjacency structures of one :class:`MultipartiteGraph`, built lazily and cached.

The metric functions share one :class:`GraphStructure` per graph so the
undirected simple adjacency (the most expensive piece) is built once.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.sparse as sp

from prunegraph.loader.graph import MultipartiteGraph
from prunegraph.queries import _kernels as K

# Which cached structures each section-A metric reads (to free them after their last use).
_NEEDS = {
    "directed": {"n1", "n2"},
    "forward": {"motif3", "motif4", "kcore", "cut_edges", "cut_nodes"},
    "backward": {"motif3", "motif4", "kcore", "cut_edges", "cut_nodes"},
    "undirected": {"motif3", "motif4", "kcore", "cut_edges", "cut_nodes"},
    "degree": {"motif3", "motif4"},
    "_lo_hi": {"motif3", "motif4", "kcore", "cut_edges", "cut_nodes"},
    "weighted": {"spectral_gap", "spectral_radius"},
    "weighted_degree": {"spectral_gap", "spectral_radius"},
    "out_degree": {"sink", "source", "disconnected", "r_out", "r_in"},
    "in_degree": {"sink", "source", "disconnected", "r_out", "r_in"},
}


class GraphStructure:
    """Lazily built views of a graph: degrees, directed / undirected simple CSR patterns.

    ``directed`` is the simple directed pattern (``src -> dst``, parallel edges
    merged). ``undirected`` is the simple undirected graph (direction dropped,
    parallel edges merged, self-loops dropped); ``forward`` / ``backward`` keep
    each undirected edge once, at its smaller / larger endpoint.
    """

    def __init__(self, graph: MultipartiteGraph) -> None:
        self.graph = graph
        self.n = graph.n_nodes
        self.n_edges = graph.n_edges

    def release_unneeded(self, remaining: set[str]) -> None:
        """Drop cached structures that none of the ``remaining`` metrics reads (peak memory)."""
        for name, users in _NEEDS.items():
            if not (users & remaining):
                self.__dict__.pop(name, None)

    # ----------------------------------------------------------- degrees
    @cached_property
    def out_degree(self) -> np.ndarray:
        return np.bincount(self.graph.src, minlength=self.n).astype(np.int64)

    @cached_property
    def in_degree(self) -> np.ndarray:
        return np.bincount(self.graph.dst, minlength=self.n).astype(np.int64)

    @cached_property
    def node_partition(self) -> np.ndarray:
        return self.graph.node_partition

    @cached_property
    def partition_ranges(self) -> list[tuple[int, int]]:
        return [(p.offset, p.offset + p.size) for p in self.graph.partitions]

    # ------------------------------------------------------ CSR patterns
    @cached_property
    def directed(self) -> tuple[np.ndarray, np.ndarray]:
        return K.csr_pattern(self.graph.src, self.graph.dst, self.n)

    @cached_property
    def _lo_hi(self) -> tuple[np.ndarray, np.ndarray]:
        s, d = self.graph.src, self.graph.dst
        keep = s != d
        s, d = s[keep], d[keep]
        return np.minimum(s, d), np.maximum(s, d)

    @cached_property
    def forward(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self._lo_hi
        return K.csr_pattern(lo, hi, self.n)

    @cached_property
    def backward(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self._lo_hi
        return K.csr_pattern(hi, lo, self.n)

    @cached_property
    def undirected(self) -> tuple[np.ndarray, np.ndarray]:
        fptr, fidx = self.forward
        bptr, bidx = self.backward
        return K.merge_directions(fptr, fidx, bptr, bidx)

    @cached_property
    def degree(self) -> np.ndarray:
        """Degree in the simple undirected graph."""
        ptr, _ = self.undirected
        return np.diff(ptr)

    @cached_property
    def n_simple_edges(self) -> int:
        return int(self.forward[0][-1])

    @cached_property
    def weighted(self) -> sp.csr_matrix:
        """Directed weighted adjacency ``A[u, v] = sum |w(u -> v)|`` (float32 data)."""
        a = sp.csr_matrix(
            (np.abs(self.graph.weight).astype(np.float32), (self.graph.src, self.graph.dst)),
            shape=(self.n, self.n),
        )
        a.sum_duplicates()
        return a

    @cached_property
    def weighted_degree(self) -> np.ndarray:
        """Weighted degree of the symmetric adjacency ``A + A.T`` (float64)."""
        w = np.abs(self.graph.weight).astype(np.float64)
        return np.bincount(self.graph.src, weights=w, minlength=self.n) + np.bincount(
            self.graph.dst, weights=w, minlength=self.n
        )

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
