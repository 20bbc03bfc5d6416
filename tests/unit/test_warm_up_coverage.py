"""A worker's warm-up loads every compiled kernel a large network reaches (none loads later)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import importlib, json
    from dataclasses import replace

    import numpy as np
    from numba.core.registry import CPUDispatcher

    from prunegraph.loader.graph import EdgeBlock, MultipartiteGraph, Partition
    from prunegraph.queries import metrics
    from prunegraph.queries.metric_registry import definitions
    from prunegraph.queries.ramanujan import compute_section_b

    MODULES = ["_kernels", "_spectral", "_motif_kernels", "motifs", "paths", "ramanujan",
               "topometrics", "_structure", "stability"]

    def loaded():
        out = {}
        for name in MODULES:
            mod = importlib.import_module(f"prunegraph.queries.{name}")
            for attr, obj in vars(mod).items():
                if isinstance(obj, CPUDispatcher) and obj.__module__ == mod.__name__:
                    out[f"{name}.{attr}"] = [str(s) for s in obj.signatures]
        return out

    def layered(width, per_block, skip):
        rng = np.random.default_rng(1)
        parts = tuple(Partition(index=p, name=f"p{p}", shape=(width,), offset=p * width)
                      for p in range(4))
        pairs = [(0, 1), (1, 2), (2, 3)] + ([(1, 3)] if skip else [])
        src, dst, blocks, start = [], [], [], 0
        for i, (a, b) in enumerate(pairs):
            flat = np.unique(rng.integers(0, width * width, per_block))
            src.append(flat // width + a * width)
            dst.append(flat % width + b * width)
            kind = "skip" if (a, b) == (1, 3) else "linear"
            blocks.append(EdgeBlock(i, f"l{i}", kind, a, b, start, start + len(flat)))
            start += len(flat)
        # int32 ids and float32 weights, as the encoder writes them.
        s = np.concatenate(src).astype(np.int32)
        d = np.concatenate(dst).astype(np.int32)
        w = rng.uniform(-1, 1, len(s)).astype(np.float32)
        return MultipartiteGraph("mge", parts, tuple(blocks), s, d, w, {})

    metrics.warm_up()
    before = loaded()
    names = [m.name for m in definitions(scope="network", graph="mge") if m.engine != "networkx"]
    for skip in (True, False):
        graph = layered(30_000, 110_000, skip)
        metrics.compute_metrics(graph, metrics=names)
        compute_section_b(replace(graph, kind="rolled"))
    after = loaded()
    late = {k: sorted(set(after[k]) - set(before.get(k, []))) for k in after}
    print(json.dumps({k: v for k, v in late.items() if v}))
    """
)


def test_no_kernel_loads_after_the_warm_up() -> None:
    # A fresh process: kernels this test process already used would hide a gap.
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    late = json.loads(proc.stdout.strip().splitlines()[-1])
    assert late == {}, f"kernels first loaded by a large network, not by warm_up(): {late}"
