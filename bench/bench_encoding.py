"""Benchmark: MGE encoding speed and memory (zoo and torchvision models, 32x32 inputs).

Run: ``.venv/bin/python bench/bench_encoding.py [--archs resnet20 conv6 vgg11 tv_resnet18]
[--sparsities 0.6 0.9] [--repeat 3] [--rounds 1] [--baseline-path DIR]``

Architectures are zoo names or ``tv_<name>`` for a torchvision model built with
``num_classes=10`` and no pretrained weights (``tv_resnet18``: overlapping 3x3/s2
max-pooling after the stem; ``tv_vgg11``: 7x7 adaptive pooling of a 1x1 map before
a 25088-input Linear, every unit replicated 49 times). ``--baseline-path DIR``
runs every case a second time with ``PYTHONPATH=DIR`` (another prunegraph
install, e.g. ``pip install --no-deps --target DIR <old checkout>``), alternating
the two, and prints the speed ratio of the pair (warm and cold); ``--rounds N``
repeats every pair N times, alternating, and keeps each side's best.

Each case runs in a fresh subprocess pinned to one thread, with random masks
that keep exactly ``round((1 - s) * n)`` weights per layer. After one warm-up
encode (numba kernels loaded), ``--repeat`` *cold* encodes run with the trace
cache emptied before each (the first network of an architecture: trace and
forward pass included), then ``--repeat`` *warm* ones (the trace cached, as for
every further network of the architecture in a study). Printed per case:
edges, warm encode time (best and median), cold encode time (best), edges per
second of each (from the best), the tracemalloc
peak of the encode call (numpy arrays; the edge arrays themselves are 12 bytes
per edge) and the process's peak RSS (``ru_maxrss``, includes torch) and its increase over the
process with torch, the model and the masks loaded (``+RSS``).
Targets (issues 3 and 17): >= 20 M edges/s on one core, ResNet-20 at 0.6 within 1 GB.
The paper's code: ~4 us and ~500 bytes per edge.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_CHILD = r"""
import json, resource, sys, time, tracemalloc
import numpy as np, torch
torch.set_num_threads(1)
torch.manual_seed(0)  # exact zeros in an init would change the edge count
import prunegraph
from prunegraph.loader.encoding import encode
from prunegraph.loader.models import build_model
try:
    import numba
    numba.set_num_threads(1)
except Exception:
    pass
arch, sparsity, repeat = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
if arch.startswith("tv_"):
    import torchvision
    kwargs = {"aux_logits": False, "init_weights": False} if arch == "tv_googlenet" else {}
    model = getattr(torchvision.models, arch[3:])(weights=None, num_classes=10, **kwargs)
else:
    model = build_model(arch, input_shape=(3, 32, 32), num_classes=10)
model.eval()
rng = np.random.default_rng(0)
masks = {}
for name, mod in model.named_modules():
    if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
        n = mod.weight.numel()
        keep = int(round((1 - sparsity) * n))
        flat = np.zeros(n, dtype=bool)
        flat[rng.choice(n, size=keep, replace=False)] = True
        masks[name + ".weight"] = flat.reshape(tuple(mod.weight.shape))
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # torch + model + masks
from prunegraph.loader import tracing
clear = getattr(tracing, "clear_trace_cache", lambda: None)  # older installs have no cache
encode(model, masks, (3, 32, 32))  # warm-up (numba kernels loaded, page faults)
cold = []  # first encode of the architecture: the trace cache emptied before each
for _ in range(repeat):
    clear()
    t0 = time.perf_counter()
    g = encode(model, masks, (3, 32, 32))
    cold.append(time.perf_counter() - t0)
    del g
times = []  # warm: the architecture's trace cached (another network of the same study)
for _ in range(repeat):
    t0 = time.perf_counter()
    g = encode(model, masks, (3, 32, 32))
    times.append(time.perf_counter() - t0)
    n_edges, n_nodes = g.n_edges, g.n_nodes
    del g
tracemalloc.start()
g = encode(model, masks, (3, 32, 32))
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(json.dumps({"source": prunegraph.__file__, "edges": n_edges, "nodes": n_nodes, "seconds": min(times), "median": float(np.median(times)), "cold": min(cold), "peak": peak,
                  "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "rss_base": rss_before * 1024}))
"""


def run_case(arch: str, sparsity: float, repeat: int, pythonpath: str | None = None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")  # fmt: skip
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run(
        # -P: the working directory must not shadow the install under test
        [sys.executable, "-P", "-c", _CHILD, arch, str(sparsity), str(repeat)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{arch} at {sparsity} failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if pythonpath and not result["source"].startswith(os.path.abspath(pythonpath)):
        raise SystemExit(f"baseline run imported {result['source']}, not {pythonpath}")
    return result


def _best(runs: list[dict]) -> dict:
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["cold"] = min(r["cold"] for r in runs)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--archs", nargs="+", default=["resnet20", "conv6", "vgg11", "tv_resnet18", "tv_vgg11"]
    )
    parser.add_argument("--sparsities", nargs="+", type=float, default=[0.6, 0.9])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternating runs of each case (best kept)"
    )
    parser.add_argument(
        "--baseline-path",
        default=None,
        help="also run every case with PYTHONPATH=DIR (another install) and print the ratio",
    )
    args = parser.parse_args(argv)
    header = (
        f"{'arch':<12} {'sparsity':>8} {'nodes':>9} {'edges':>12} {'time s':>8} {'med s':>7} "
        f"{'M edges/s':>10} {'cold s':>7} {'cold M/s':>8} {'ns/edge':>8} {'peak MB':>8} "
        f"{'B/edge':>7} {'RSS MB':>7} {'+RSS MB':>8}"
    )
    print(header)
    print("-" * len(header))

    def row(label: str, s: float, r: dict) -> str:
        e = max(r["edges"], 1)
        return (
            f"{label:<12} {s:>8.2f} {r['nodes']:>9,} {r['edges']:>12,} {r['seconds']:>8.3f} "
            f"{r['median']:>7.3f} {e / r['seconds'] / 1e6:>10.1f} {r['cold']:>7.3f} "
            f"{e / r['cold'] / 1e6:>8.1f} {r['seconds'] / e * 1e9:>8.1f} "
            f"{r['peak'] / 2**20:>8.0f} {r['peak'] / e:>7.1f} {r['maxrss'] / 2**20:>7.0f} "
            f"{(r['maxrss'] - r['rss_base']) / 2**20:>8.0f}"
        )

    for arch in args.archs:
        for s in args.sparsities:
            mine, base = [], []
            for _ in range(max(1, args.rounds)):
                mine.append(run_case(arch, s, args.repeat))
                if args.baseline_path:
                    base.append(run_case(arch, s, args.repeat, args.baseline_path))
            r = _best(mine)
            print(row(arch, s, r), flush=True)
            if base:
                b = _best(base)
                print(row("  baseline", s, b), flush=True)
                same = "same edges" if b["edges"] == r["edges"] else "edges differ"
                print(
                    f"  speed-up {b['seconds'] / r['seconds']:.2f}x warm, "
                    f"{b['cold'] / r['cold']:.2f}x cold ({same})",
                    flush=True,
                )
    print(
        "paper's code: ~4000 ns/edge, ~500 B/edge; targets: >= 20 M edges/s, ResNet-20@0.6 < 1 GB;"
        " B/edge: tracemalloc peak of one encode call per output edge; time/M edges/s: warm"
        " (trace cached), cold: trace cache emptied"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
