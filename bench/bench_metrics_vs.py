"""Benchmark: every section-A and section-D metric of one graph in one call, this tree against
another install, side by side.

Run: ``.venv/bin/python bench/bench_metrics_vs.py --baseline-path DIR [--cases resnet20:0.9
resnet20:0.6 conv6:0.9] [--rounds 3] [--alternations 3]``

``DIR`` holds another prunegraph install (``pip install --no-deps --no-build-isolation
--target DIR <old checkout>``). Each case runs in fresh subprocesses, alternating
baseline, this tree, baseline, ... (``--alternations`` pairs): a process loads the
case's cached MGE (``bench/bench_metrics.py``'s cache, encoded there on first use),
loads the compiled kernels on the graph's first layer, computes the metrics once
(untimed: the first touch of new memory) and then ``--rounds`` times, timed:
``compute_metrics(graph, metrics=<sections A and D>, write=False)``, the call a study
makes per network. Printed per case and version: wall seconds (min, median, max over
every timed round), median CPU seconds, and the ratio of the medians. Both versions
run the same graph in the same run on the same machine; the load of other processes
moves both, so compare ratios, not the seconds of different runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

_CHILD = r"""
import json, sys, time
import prunegraph
from prunegraph.loader.graph import MultipartiteGraph
from prunegraph.queries.metrics import compute_metrics
path, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
graph = MultipartiteGraph.load(path)
stop = graph.blocks[0].stop
first = MultipartiteGraph(
    graph.kind, graph.partitions[: graph.blocks[0].dst_partition + 1], graph.blocks[:1],
    graph.src[:stop].copy(), graph.dst[:stop].copy(), graph.weight[:stop].copy(), dict(graph.meta),
)
compute_metrics(first, "0" * 16, metrics=names, write=False)  # kernels loaded
compute_metrics(graph, "0" * 16, metrics=names, write=False)  # new memory touched once
wall, cpu = [], []
for _ in range(rounds):
    t, c = time.perf_counter(), time.process_time()
    compute_metrics(graph, "0" * 16, metrics=names, write=False)
    wall.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
print(json.dumps({"wall": wall, "cpu": cpu, "source": prunegraph.__file__}))
"""

#: The sections' metrics in both versions (a fixed list, so an older install is asked the same).
METRICS = (
    "sink,source,disconnected,r_out,r_in,n1,n2,motif3,motif4,kcore,strength,components,"
    "component_size,cut_edges,cut_nodes,spectral_gap,spectral_radius,log_paths,mean_path,"
    "max_path,edge_connectivity,mean_degree,ln_communicability,pca_elongation"
)


def run(path: Path, rounds: int, pythonpath: str | None) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run(
        # -P: the working directory must not shadow the install under test
        [sys.executable, "-P", "-c", _CHILD, str(path), str(rounds), METRICS],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{path.name} failed:\n{out.stderr}")
    result: dict = json.loads(out.stdout.strip().splitlines()[-1])
    if pythonpath and not result["source"].startswith(os.path.abspath(pythonpath)):
        raise SystemExit(f"baseline run imported {result['source']}, not {pythonpath}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-path", required=True, help="another install (PYTHONPATH)")
    parser.add_argument("--cases", nargs="+", default=["resnet20:0.9", "resnet20:0.6", "conv6:0.9"])
    parser.add_argument("--rounds", type=int, default=3, help="timed calls per process")
    parser.add_argument("--alternations", type=int, default=3, help="baseline/this pairs")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_metrics import encode_case, graph_path

    for case in args.cases:
        path = graph_path(case)
        if not path.exists():
            encode_case(case)
        runs: dict[str, list[dict]] = {"baseline": [], "this tree": []}
        for _ in range(args.alternations):
            runs["baseline"].append(run(path, args.rounds, args.baseline_path))
            runs["this tree"].append(run(path, args.rounds, None))
        medians = {}
        for label, results in runs.items():
            wall = np.array([w for r in results for w in r["wall"]])
            cpu = np.array([c for r in results for c in r["cpu"]])
            medians[label] = float(np.median(wall))
            print(
                f"{case:<14} {label:<10} wall {wall.min():.3f}-{wall.max():.3f} s, "
                f"median {medians[label]:.3f} s (CPU {np.median(cpu):.2f} s; {wall.size} rounds)",
                flush=True,
            )
        print(f"{case:<14} baseline / this tree: {medians['baseline'] / medians['this tree']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
