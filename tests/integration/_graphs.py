"""Hand-built MGEs for the store tests (numpy only; independent of the encoder).

Each builder returns a valid :class:`MultipartiteGraph` whose edges follow the
encoding conventions (``docs/conventions.md``) closely enough for storage tests: an MLP, a small CNN with a
pooled conv -> linear transition, and a ResNet basic block with an identity
shortcut (SKIP edges). Masks are random with a fixed seed.
"""

from __future__ import annotations

import numpy as np

from prunegraph.loader.graph import EdgeBlock, MultipartiteGraph, Partition


def _assemble(kind, shapes, blocks_spec, meta=None):
    """``blocks_spec``: list of dicts with src, dst (partition), local src/dst arrays, weights, extras."""
    partitions, offset = [], 0
    for p, (name, shape) in enumerate(shapes):
        part = Partition(index=p, name=name, shape=tuple(shape), offset=offset)
        partitions.append(part)
        offset += part.size
    src, dst, w, blocks, start = [], [], [], [], 0
    for b, spec in enumerate(blocks_spec):
        s = spec["s"] + partitions[spec["src"]].offset
        d = spec["d"] + partitions[spec["dst"]].offset
        n = len(s)
        blocks.append(
            EdgeBlock(
                index=b,
                name=spec["name"],
                kind=spec["kind"],
                src_partition=spec["src"],
                dst_partition=spec["dst"],
                start=start,
                stop=start + n,
                param_name=spec.get("param"),
                weight_shape=spec.get("weight_shape"),
                stride=spec.get("stride"),
                padding=spec.get("padding"),
                pool=spec.get("pool"),
                n_weights=spec.get("n_weights", 0),
                n_unmasked=spec.get("n_unmasked", 0),
            )
        )
        src.append(s)
        dst.append(d)
        w.append(spec["w"])
        start += n
    return MultipartiteGraph(
        kind=kind,
        partitions=tuple(partitions),
        blocks=tuple(blocks),
        src=np.concatenate(src).astype(np.int32),
        dst=np.concatenate(dst).astype(np.int32),
        weight=np.concatenate(w).astype(np.float32),
        meta=meta or {},
    )


def _dense_block(rng, n_in, n_out, density):
    mask = rng.random((n_out, n_in)) < density
    out_idx, in_idx = np.nonzero(mask)
    order = np.lexsort((out_idx, in_idx))
    return in_idx[order], out_idx[order], rng.random(len(order)).astype(np.float32) + 0.01, mask


def mlp(seed: int = 0, density: float = 0.5, sizes=(8, 6, 5, 3)) -> MultipartiteGraph:
    rng = np.random.default_rng(seed)
    shapes = [(f"x{p}", (n,)) for p, n in enumerate(sizes)]
    specs = []
    for b in range(len(sizes) - 1):
        s, d, w, mask = _dense_block(rng, sizes[b], sizes[b + 1], density)
        specs.append(
            dict(
                name=f"fc{b + 1}",
                kind="linear",
                src=b,
                dst=b + 1,
                s=s,
                d=d,
                w=w,
                param=f"fc{b + 1}.weight",
                weight_shape=(sizes[b + 1], sizes[b]),
                n_weights=mask.size,
                n_unmasked=int(mask.sum()),
            )
        )
    return _assemble("mge", shapes, specs, {"model": "mlp"})


def _conv_edges(rng, c_in, h, w_, c_out, k, density):
    """3x3 stride-1 padding-1 conv edges between (c_in,h,w) and (c_out,h,w); no padding nodes."""
    mask = rng.random((c_out, c_in, k, k)) < density
    theta = rng.random((c_out, c_in, k, k)).astype(np.float32) + 0.01
    o, i, u, v = np.nonzero(mask)
    ys, xs = np.meshgrid(np.arange(h), np.arange(w_), indexing="ij")
    ys, xs = ys.ravel(), xs.ravel()
    yy = ys[None, :] - 1 + u[:, None]
    xx = xs[None, :] - 1 + v[:, None]
    ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w_)
    src = (i[:, None] * h * w_ + yy * w_ + xx)[ok]
    dst = (o[:, None] * h * w_ + ys[None, :] * w_ + xs[None, :])[ok]
    wt = np.broadcast_to(theta[o, i, u, v][:, None], ok.shape)[ok]
    order = np.lexsort((dst, src))
    return src[order], dst[order], wt[order], mask


def cnn_with_pooling(seed: int = 1, density: float = 0.6) -> MultipartiteGraph:
    """conv(1->2, 4x4) -> maxpool 2x2 -> linear(2*2*2 -> 3); pooled units replicated."""
    rng = np.random.default_rng(seed)
    s, d, w, mask = _conv_edges(rng, 1, 4, 4, 2, 3, density)
    conv = dict(
        name="conv1",
        kind="conv",
        src=0,
        dst=1,
        s=s,
        d=d,
        w=w,
        param="conv1.weight",
        weight_shape=(2, 1, 3, 3),
        stride=(1, 1),
        padding=(1, 1),
        n_weights=mask.size,
        n_unmasked=int(mask.sum()),
    )
    # linear over the pooled (2,2,2) tensor; each pooled unit stands for a 2x2 window of (2,4,4)
    lin_mask = rng.random((3, 8)) < density
    lin_w = rng.random((3, 8)).astype(np.float32) + 0.01
    k_idx, j_idx = np.nonzero(lin_mask)
    c, py, px = j_idx // 4, (j_idx // 2) % 2, j_idx % 2
    src, dst, wt = [], [], []
    for dy in (0, 1):
        for dx in (0, 1):
            src.append(c * 16 + (2 * py + dy) * 4 + (2 * px + dx))
            dst.append(k_idx)
            wt.append(lin_w[k_idx, j_idx])
    src, dst, wt = np.concatenate(src), np.concatenate(dst), np.concatenate(wt)
    order = np.lexsort((dst, src))
    fc = dict(
        name="fc",
        kind="linear",
        src=1,
        dst=2,
        s=src[order],
        d=dst[order],
        w=wt[order],
        param="fc.weight",
        weight_shape=(3, 8),
        pool="maxpool2d(2)",
        n_weights=lin_mask.size,
        n_unmasked=int(lin_mask.sum()),
    )
    return _assemble(
        "mge",
        [("input", (1, 4, 4)), ("conv1", (2, 4, 4)), ("fc", (3,))],
        [conv, fc],
        {"model": "cnn"},
    )


def resnet_block(seed: int = 2, density: float = 0.5, c: int = 2, h: int = 3) -> MultipartiteGraph:
    """x -> conv1 -> conv2 (+ identity shortcut x -> conv2 output, SKIP weight 1.0)."""
    rng = np.random.default_rng(seed)
    s1, d1, w1, m1 = _conv_edges(rng, c, h, h, c, 3, density)
    s2, d2, w2, m2 = _conv_edges(rng, c, h, h, c, 3, density)
    n = c * h * h
    specs = [
        dict(
            name="conv1",
            kind="conv",
            src=0,
            dst=1,
            s=s1,
            d=d1,
            w=w1,
            param="conv1.weight",
            weight_shape=(c, c, 3, 3),
            stride=(1, 1),
            padding=(1, 1),
            n_weights=m1.size,
            n_unmasked=int(m1.sum()),
        ),
        dict(
            name="conv2",
            kind="conv",
            src=1,
            dst=2,
            s=s2,
            d=d2,
            w=w2,
            param="conv2.weight",
            weight_shape=(c, c, 3, 3),
            stride=(1, 1),
            padding=(1, 1),
            n_weights=m2.size,
            n_unmasked=int(m2.sum()),
        ),
        dict(
            name="shortcut",
            kind="skip",
            src=0,
            dst=2,
            s=np.arange(n),
            d=np.arange(n),
            w=np.ones(n, dtype=np.float32),
        ),
    ]
    shapes = [("input", (c, h, h)), ("conv1", (c, h, h)), ("conv2", (c, h, h))]
    return _assemble("mge", shapes, specs, {"model": "resnet_block"})


def rolled_of(mge: MultipartiteGraph, *, channel: bool = False) -> MultipartiteGraph:
    """A rolled-looking bipartite graph per non-skip block (random, but deterministic)."""
    rng = np.random.default_rng(len(mge.blocks))
    shapes, specs = [], []
    for b in mge.blocks:
        if b.kind == "skip":
            continue
        n_out = b.weight_shape[0]
        n_in = int(np.prod(b.weight_shape[1:2] if channel else b.weight_shape[1:]))
        s, d, w, _ = _dense_block(rng, n_in, n_out, 0.5)
        p = len(shapes)
        shapes += [(f"{b.name}.in", (n_in,)), (f"{b.name}.out", (n_out,))]
        specs.append(
            dict(name=b.name, kind=b.kind, src=p, dst=p + 1, s=s, d=d, w=w, param=b.param_name)
        )
    return _assemble("rolled_channel" if channel else "rolled", shapes, specs)


def random_mge(n_per_partition, edges_per_block, seed: int = 0) -> MultipartiteGraph:
    """A large random layered graph (for benchmarks): consecutive partitions, conv blocks."""
    rng = np.random.default_rng(seed)
    shapes = [(f"p{p}", (n,)) for p, n in enumerate(n_per_partition)]
    specs = []
    for b in range(len(n_per_partition) - 1):
        n_in, n_out = n_per_partition[b], n_per_partition[b + 1]
        m = edges_per_block[b]
        flat = rng.choice(n_in * n_out, size=m, replace=False)
        flat.sort()
        s, d = flat // n_out, flat % n_out
        specs.append(
            dict(
                name=f"conv{b}",
                kind="conv",
                src=b,
                dst=b + 1,
                s=s,
                d=d,
                w=rng.random(m).astype(np.float32),
                n_weights=n_in * n_out,
                n_unmasked=m,
            )
        )
    return _assemble("mge", shapes, specs)
