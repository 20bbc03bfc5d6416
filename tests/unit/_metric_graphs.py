"""Hand-built graphs for the metric tests (numpy only; independent of the encoder)."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np

from prunegraph.loader.graph import EdgeBlock, MultipartiteGraph, Partition


def build(sizes, blocks, kind="mge", n_weights=None):
    """``sizes``: partition sizes; ``blocks``: (src_p, dst_p, [(i, j), ...], weights or None, kind)."""
    partitions, offset = [], 0
    for p, size in enumerate(sizes):
        partitions.append(Partition(index=p, name=f"p{p}", shape=(size,), offset=offset))
        offset += size
    src, dst, w, out, start = [], [], [], [], 0
    for b, (sp_, dp, pairs, weights, bkind) in enumerate(blocks):
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        n = len(pairs)
        src.append(pairs[:, 0] + partitions[sp_].offset)
        dst.append(pairs[:, 1] + partitions[dp].offset)
        w.append(np.ones(n) if weights is None else np.asarray(weights, dtype=float))
        nw = (n_weights or {}).get(b, (sizes[sp_] * sizes[dp] if bkind != "skip" else 0))
        out.append(
            EdgeBlock(
                index=b,
                name=f"b{b}",
                kind=bkind,
                src_partition=sp_,
                dst_partition=dp,
                start=start,
                stop=start + n,
                n_weights=nw,
                n_unmasked=n if bkind != "skip" else 0,
            )
        )
        start += n
    return MultipartiteGraph(
        kind=kind,
        partitions=tuple(partitions),
        blocks=tuple(out),
        src=np.concatenate(src).astype(np.int32) if src else np.zeros(0, np.int32),
        dst=np.concatenate(dst).astype(np.int32) if dst else np.zeros(0, np.int32),
        weight=np.concatenate(w).astype(np.float32) if w else np.zeros(0, np.float32),
    )


def full(a, b):
    return [(i, j) for i in range(a) for j in range(b)]


def mlp_232():
    """Fully connected 2-3-2 MLP, weights 1..6 and 7..12 (|w|)."""
    return build(
        [2, 3, 2],
        [
            (0, 1, full(2, 3), np.arange(1, 7), "linear"),
            (1, 2, full(3, 2), np.arange(7, 13), "linear"),
        ],
    )


def random_layered(seed, sizes=(6, 8, 8, 6), density=0.4, skip=True):
    """Random sparse layered graph with an identity skip from partition 1 to 3."""
    rng = np.random.default_rng(seed)
    blocks = []
    for p in range(len(sizes) - 1):
        pairs = [e for e in full(sizes[p], sizes[p + 1]) if rng.random() < density]
        blocks.append((p, p + 1, pairs, rng.random(len(pairs)) + 0.1, "conv"))
    if skip and len(sizes) >= 4:
        k = min(sizes[1], sizes[3])
        blocks.append((1, 3, [(i, i) for i in range(k)], None, "skip"))
        blocks.sort(key=lambda b: (b[1], b[0]))
    return build(list(sizes), blocks)


def undirected_nx(g):
    G = nx.Graph()
    G.add_nodes_from(range(g.n_nodes))
    G.add_edges_from(zip(g.src.tolist(), g.dst.tolist(), strict=True))
    return G


def brute_motifs(G, k):
    count = 0
    for nodes in itertools.combinations(G.nodes, k):
        if nx.is_connected(G.subgraph(nodes)):
            count += 1
    return count
