"""The in-memory graph type shared by every encoding: numpy arrays, no database.

A :class:`MultipartiteGraph` is a list of node *partitions* (one per
materialised activation tensor for the MGE; a left and a right partition per
layer for the rolled encodings) and a list of *edge blocks* (one per
conv/linear layer or skip connection), whose edges are stored contiguously in
three flat arrays ``src``, ``dst`` (global node ids) and ``weight``.

Node ``(p, i)`` (partition ``p``, flat unit index ``i = c*H*W + y*W + x``) has
the global id ``partitions[p].offset + i``. The edges of block ``b`` are
``src[b.start:b.stop]`` etc.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from prunegraph.errors import ValidationError

if TYPE_CHECKING:
    import igraph
    import networkx

BLOCK_KINDS = ("conv", "linear", "skip")
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Partition:
    """One layer of nodes: the units of one activation tensor (or one side of a rolled layer)."""

    index: int
    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        # math.prod: ~50x cheaper than np.prod on a short tuple, read per metric call
        return int(math.prod(self.shape)) if self.shape else 0


@dataclass(frozen=True)
class EdgeBlock:
    """The edges one layer (or one skip connection) draws between two partitions.

    ``start:stop`` slices the graph's edge arrays. ``n_weights`` and
    ``n_unmasked`` count the layer's parameters (``layer_density`` is their
    ratio); for a skip connection both are 0. ``pool`` describes the pooling
    applied between ``src_partition`` and this layer's input (its edges were
    replicated over the pooling windows), or is None.
    """

    index: int
    name: str
    kind: str
    src_partition: int
    dst_partition: int
    start: int
    stop: int
    param_name: str | None = None
    weight_shape: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    padding: tuple[int, ...] | None = None
    dilation: tuple[int, ...] | None = None
    groups: int = 1
    pool: str | None = None
    n_weights: int = 0
    n_unmasked: int = 0

    @property
    def n_edges(self) -> int:
        return self.stop - self.start

    @property
    def density(self) -> float | None:
        return self.n_unmasked / self.n_weights if self.n_weights else None


def _index_dtype(n_nodes: int) -> type[np.integer]:
    return np.int32 if n_nodes < np.iinfo(np.int32).max else np.int64


@dataclass(frozen=True, eq=False)
class MultipartiteGraph:
    """Directed multipartite graph as flat numpy arrays.

    Attributes
    ----------
    kind : {"mge", "rolled", "rolled_channel"}
        A graph family (:data:`prunegraph.queries.data_model.GRAPH_FAMILIES`).
    partitions : tuple of Partition, in order; offsets are cumulative sizes.
    blocks : tuple of EdgeBlock, in order; their slices tile the edge arrays.
    src, dst : int32 (int64 beyond 2**31 nodes) global node ids, ``src -> dst``.
    weight : float32, ``|theta|`` of the weight creating the edge (1.0 for skips).
    meta : JSON-serialisable dict (input shape, model name, ...).
    """

    kind: str
    partitions: tuple[Partition, ...]
    blocks: tuple[EdgeBlock, ...]
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from prunegraph.queries.data_model import GRAPH_KINDS  # the graph family table

        if self.kind not in GRAPH_KINDS:
            raise ValidationError(f"Graph kind must be one of {GRAPH_KINDS}. Got {self.kind!r}.")
        if not (len(self.src) == len(self.dst) == len(self.weight)):
            raise ValidationError("src, dst and weight must have the same length.")
        expected = 0
        for p in self.partitions:
            if p.offset != expected:
                raise ValidationError(
                    f"Partition {p.index} has offset {p.offset}, expected {expected}."
                )
            expected += p.size
        position = 0
        for b in self.blocks:
            if b.start != position or b.stop < b.start:
                raise ValidationError(
                    f"Edge block {b.index} ({b.name}) does not tile the edge arrays."
                )
            position = b.stop
        if position != len(self.src):
            raise ValidationError("Edge blocks do not cover all edges.")

    # ------------------------------------------------------------------ sizes
    @property
    def n_nodes(self) -> int:
        return self.partitions[-1].offset + self.partitions[-1].size if self.partitions else 0

    @property
    def n_edges(self) -> int:
        return len(self.src)

    @property
    def n_partitions(self) -> int:
        return len(self.partitions)

    @property
    def node_partition(self) -> np.ndarray:
        """Partition index of every node (int16/int32), length ``n_nodes``."""
        sizes = np.array([p.size for p in self.partitions], dtype=np.int64)
        dtype = np.int16 if len(self.partitions) < 2**15 else np.int32
        return np.repeat(np.arange(len(self.partitions), dtype=dtype), sizes)

    @property
    def node_unit(self) -> np.ndarray:
        """Flat unit index of every node inside its partition."""
        offsets = np.array([p.offset for p in self.partitions], dtype=np.int64)
        ids = np.arange(self.n_nodes, dtype=np.int64)
        return (ids - np.repeat(offsets, [p.size for p in self.partitions])).astype(
            _index_dtype(self.n_nodes)
        )

    def block_edges(self, block: int | EdgeBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(src, dst, weight)`` views of one edge block."""
        b = self.blocks[block] if isinstance(block, int) else block
        return self.src[b.start : b.stop], self.dst[b.start : b.stop], self.weight[b.start : b.stop]

    def block_local_edges(
        self, block: int | EdgeBlock
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Edges of one block with unit indices local to their source / target partition."""
        b = self.blocks[block] if isinstance(block, int) else block
        s, d, w = self.block_edges(b)
        return (
            s - self.partitions[b.src_partition].offset,
            d - self.partitions[b.dst_partition].offset,
            w,
        )

    # ------------------------------------------------------------ conversions
    def to_scipy(self, *, weighted: bool = True, symmetric: bool = False) -> sp.csr_matrix:
        """Adjacency matrix ``A[u, v] = w(u -> v)`` as CSR (duplicates summed).

        ``symmetric=True`` returns ``A + A.T``, the undirected weighted adjacency.
        """
        n = self.n_nodes
        data = self.weight if weighted else np.ones(self.n_edges, dtype=np.float32)
        a = sp.csr_matrix((data, (self.src, self.dst)), shape=(n, n))
        if symmetric:
            a = (a + a.T).tocsr()
        return a

    def to_igraph(self, *, directed: bool = True) -> igraph.Graph:
        """igraph Graph with edge attribute ``weight`` and vertex attribute ``partition``."""
        import igraph

        edges = np.column_stack((self.src, self.dst))
        g = igraph.Graph(n=self.n_nodes, edges=edges, directed=directed)
        g.es["weight"] = self.weight.astype(np.float64)
        g.vs["partition"] = self.node_partition.tolist()
        return g

    def to_networkx(self, *, max_edges: int = 200_000) -> networkx.DiGraph:
        """networkx DiGraph for small graphs; nodes carry ``subset`` (the partition)
        so ``networkx.multipartite_layout(G)`` draws the layers left to right."""
        import networkx as nx

        if self.n_edges > max_edges:
            raise ValidationError(
                f"to_networkx is for small graphs: this one has {self.n_edges} edges "
                f"(max_edges={max_edges}). Use to_igraph or to_scipy instead."
            )
        g = nx.DiGraph()
        part = self.node_partition
        unit = self.node_unit
        g.add_nodes_from(
            (int(i), {"subset": int(part[i]), "unit": int(unit[i])}) for i in range(self.n_nodes)
        )
        g.add_weighted_edges_from(
            zip(self.src.tolist(), self.dst.tolist(), self.weight.tolist(), strict=True)
        )
        return g

    # --------------------------------------------------------------- on disk
    def save(self, path: str | Path) -> Path:
        """Write a compressed ``.npz`` (arrays plus JSON metadata)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        header = {
            "format_version": _FORMAT_VERSION,
            "kind": self.kind,
            "partitions": [asdict(p) for p in self.partitions],
            "blocks": [asdict(b) for b in self.blocks],
            "meta": self.meta,
        }
        np.savez_compressed(
            path,
            header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
            src=self.src,
            dst=self.dst,
            weight=self.weight,
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> MultipartiteGraph:
        """Read a graph written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise ValidationError(f"Graph file {path} does not exist.")
        with np.load(path, allow_pickle=False) as data:
            try:
                header = json.loads(bytes(data["header"]).decode())
                src, dst, weight = data["src"], data["dst"], data["weight"]
            except (KeyError, ValueError) as exc:
                raise ValidationError(f"{path} is not a prunegraph graph file: {exc}") from None
        if header.get("format_version") != _FORMAT_VERSION:
            raise ValidationError(
                f"{path} has graph format version {header.get('format_version')}, "
                f"this prunegraph reads version {_FORMAT_VERSION}."
            )

        def tuples(d: dict[str, Any]) -> dict[str, Any]:
            return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

        return cls(
            kind=header["kind"],
            partitions=tuple(Partition(**tuples(p)) for p in header["partitions"]),
            blocks=tuple(EdgeBlock(**tuples(b)) for b in header["blocks"]),
            src=src,
            dst=dst,
            weight=weight,
            meta=header["meta"],
        )

    def __repr__(self) -> str:
        return (
            f"MultipartiteGraph(kind={self.kind!r}, partitions={self.n_partitions}, "
            f"blocks={len(self.blocks)}, nodes={self.n_nodes}, edges={self.n_edges})"
        )
