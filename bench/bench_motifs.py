"""Benchmark: the motif group (triangles, motif3, motif4, n2) of one graph, in process.

Run: ``.venv/bin/python bench/bench_motifs.py [--case resnet20:0.9 ...] [--rounds 5]``

Cases are ``bench/bench_metrics.py``'s (``arch:sparsity``, CIFAR shape, random
masks, seed 0; encoded into its cache if missing) or ``tiny`` (the demo's 12
graphs: MLP and LeNet-5 on 8x8 digits at 0.5 and 0.9, three encodings). The
shared structures (``upper``, ``undirected``, ``degree``, ``directed``, the
partition tables) are built first and not timed; then each round times
``triangles``, ``motif3``, ``motif4`` and ``n2`` (kernels on one thread for
graphs of at most 200,000 edges, as the registry runs them). Prints one line of
JSON per case: per metric the minimum over rounds of CPU seconds
(``time.process_time``, which the machine's load inflates least) and of wall
seconds, the minimum of the round totals, and the values (triangles, motif3,
motif4 with its standard error, n2 with its standard error).

Side by side with an older commit: install that commit's package into a folder
and run this script from outside the working tree with ``PYTHONPATH`` on it
(the script only uses ``triangles``, ``motif3``, ``motif4``, ``n2`` and
``GraphStructure``, present since the first metric engine), alternating runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_metrics import encode_case, graph_path, leading_blocks, tiny_graphs

from prunegraph.queries import motifs as M
from prunegraph.queries._structure import GraphStructure

METRICS = ("triangles", "motif3", "motif4", "n2")


def _threads(n_edges: int) -> AbstractContextManager[None]:
    try:
        from prunegraph.queries._structure import kernel_threads
    except ImportError:  # older engines: no serial rule
        return nullcontext()
    return kernel_threads(n_edges)


def one_round(graph) -> tuple[dict[str, tuple[float, float]], list]:
    """Time the four metrics once on fresh structures; ``{metric: (cpu, wall)}`` and the values."""
    st = GraphStructure(graph)
    for name in ("upper", "undirected", "degree", "directed", "closable_pairs", "bipartite_sides"):
        getattr(st, name, None)
    times: dict[str, tuple[float, float]] = {}
    values: dict[str, object] = {}
    with _threads(graph.n_edges):
        calls = {
            "triangles": lambda: M.triangles(st),
            "motif3": lambda: M.motif3(st, values["triangles"]),
            "motif4": lambda: M.motif4(st, rng=np.random.default_rng(0), tri=values["triangles"]),
            "n2": lambda: M.n2(st, rng=np.random.default_rng(0)),
        }
        for name in METRICS:
            c, t = time.process_time(), time.perf_counter()
            values[name] = calls[name]()
            times[name] = (time.process_time() - c, time.perf_counter() - t)
    m4, nn = values["motif4"], values["n2"]
    return times, [
        values["triangles"].count,  # type: ignore[attr-defined]
        values["motif3"].value,  # type: ignore[attr-defined]
        m4.value,  # type: ignore[attr-defined]
        m4.se,  # type: ignore[attr-defined]
        nn.value,  # type: ignore[attr-defined]
        nn.se,  # type: ignore[attr-defined]
    ]


def run(label: str, graph, rounds: int) -> dict:
    one_round(leading_blocks(graph, 1))  # compile / load the kernels
    res = [one_round(graph) for _ in range(rounds)]
    cpu = {m: min(r[0][m][0] for r in res) for m in METRICS}
    wall = {m: min(r[0][m][1] for r in res) for m in METRICS}
    return {
        "case": label,
        "cpu_s": {m: round(v, 4) for m, v in cpu.items()},
        "wall_s": {m: round(v, 4) for m, v in wall.items()},
        "total_cpu_s": round(min(sum(r[0][m][0] for m in METRICS) for r in res), 4),
        "total_wall_s": round(min(sum(r[0][m][1] for m in METRICS) for r in res), 4),
        "values": res[-1][1],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", help="arch:sparsity or tiny (repeatable)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    for case in args.case or ["resnet20:0.9", "tiny"]:
        if case == "tiny":
            totals = {m: 0.0 for m in METRICS}
            for label, graphs in tiny_graphs().items():
                for kind, g in graphs.items():
                    row = run(f"{label} {kind}", g, max(args.rounds, 7))
                    print(json.dumps(row, default=float))
                    for m in METRICS:
                        totals[m] += row["cpu_s"][m]
            print(json.dumps({"case": "tiny (sum of the 12 graphs)", "cpu_s": totals}))
            continue
        if not graph_path(case).exists():
            encode_case(case)
        from prunegraph.loader.graph import MultipartiteGraph

        print(
            json.dumps(
                run(case, MultipartiteGraph.load(graph_path(case)), args.rounds), default=float
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
