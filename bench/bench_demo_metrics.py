"""Benchmark: every metric the demo computes, on every demo network, in one warm process.

The demo study (``examples/demo.toml``: MLP and LeNet-5 on 8x8 digits, twelve
pruners, five sparsities, two seeds, 240 networks) caches each network's masks
and trained weights in ``results/demo/cache/networks/<network_id>.pt`` (written
by ``make demo``). This script rebuilds each network from its cache entry
exactly as the study runner does (build the model, load the weights, encode the
MGE, rolled and rolled-channel graphs), then times the study's metric list (its
``[metrics]`` table resolved by the runner: every single-network metric but
``pca_elongation``) in ONE ``compute_metrics`` call per network, in process,
without a store, after the engine's ``warm_up``. Each network is timed
``--repeats`` times (default 3); the minimum wall and the minimum CPU time are
kept.

It prints the distribution over networks (median, p90, max, sum = the metrics
stage's compute time), per model and sparsity, every network above ``--limit-ms``
(default 50 ms) in wall and in CPU time, and for the ``--top`` slowest networks
(by ``--rank``, CPU by default) the CPU time per metric (network-scope metrics
in the registry's evaluation order on each graph, structures built lazily by
the first metric that needs them; section B as one group per graph), the
minimum over the repeats. The kernels of a demo-sized graph run on one thread
(numba and BLAS), so its CPU time is its wall time on a quiet machine; on a
shared, loaded one the wall time is inflated by waiting for a core.
``--json out.json`` saves everything, values included; ``--compare
before.json`` prints a saved run side by side with this one (same networks, by
``network_id``) and the largest relative difference of each metric's values.

To time another code version on the same networks, run the script with that
version first on the import path, from outside the working tree::

    git worktree add /tmp/h4-base e4f082c
    .venv/bin/pip install --no-deps --target /tmp/h4-base-site /tmp/h4-base
    cd /tmp && PYTHONPATH=/tmp/h4-base-site /work/main/.venv/bin/python \\
        /work/main/bench/bench_demo_metrics.py --json /tmp/base.json

Usage::

    .venv/bin/python bench/bench_demo_metrics.py                       # all 240 networks
    .venv/bin/python bench/bench_demo_metrics.py --only lenet5 --network-limit 10
    .venv/bin/python bench/bench_demo_metrics.py --only "lenet5/digits/snip/s=0.5"
    .venv/bin/python bench/bench_demo_metrics.py --json after.json --compare before.json

On a loaded machine one run against another moves the figures by a quarter; time
the two versions alternately (base, new, base, new) and compare the per-network
minimum over the rounds: ``--compare`` and ``--min-over`` take several saved runs
(``--compare base1.json --compare base2.json --min-over new1.json``: this run is
the second round of the new version; ``--repeats 0`` skips timing and only merges
the saved runs)::

    .venv/bin/python bench/bench_demo_metrics.py --repeats 0 --min-over new1.json \
        --min-over new2.json --compare base1.json --compare base2.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _load_networks(study: Path, cache: Path, only: list[str], limit: int | None) -> list[dict]:
    """The study's networks with a cache entry, encoded: ``[{label, id, graphs}]``."""
    import torch

    from prunegraph.loader.encoding import encode
    from prunegraph.study.config import expand, load_study
    from prunegraph.study.run import _build, pruner_applies

    config = load_study(study)
    specs = expand(config, applies=pruner_applies)
    kinds = list(dict.fromkeys(("mge", *config.export.encodings)))
    out = []
    for spec in specs:
        label = spec.label()
        if only and not any(o in label for o in only):
            continue
        path = cache / "networks" / f"{spec.network_id}.pt"
        if not path.is_file():
            continue
        entry = torch.load(path, map_location="cpu", weights_only=True)
        model = _build(spec)
        if entry.get("state_dict") is not None:
            model.load_state_dict(entry["state_dict"])
        masks = {k: np.asarray(v, dtype=bool) for k, v in entry["masks"].items()}
        graphs = {k: encode(model, masks, spec.input_shape, kind=k) for k in kinds}
        out.append(
            {
                "label": label,
                "id": spec.network_id,
                "model": spec.model,
                "sparsity": spec.sparsity,
                "graphs": graphs,
            }
        )
        if limit is not None and len(out) >= limit:
            break
    return out


def _metric_names(study: Path) -> list[str]:
    from prunegraph.study.config import load_study
    from prunegraph.study.run import resolve_metrics

    names = resolve_metrics(load_study(study))
    assert names is not None
    return list(names)


def _time_network(
    graphs: dict, names: list[str], repeats: int
) -> tuple[float, float, dict[str, float | None]]:
    """Min wall and min CPU seconds of one ``compute_metrics`` call over ``repeats``, and its values.

    Values are keyed ``graph|layer|metric`` (layer empty for network-scope rows).
    """
    import pandas as pd

    from prunegraph.queries.metrics import compute_metrics

    walls, cpus = [], []
    df = None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        df = compute_metrics(graphs, metrics=names, write=False)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    values: dict[str, float | None] = {}
    assert df is not None
    for graph, layer, metric, value in zip(
        df["graph"], df["layer"], df["metric"], df["value"], strict=True
    ):
        key = f"{graph}|{'' if pd.isna(layer) else int(layer)}|{metric}"
        values[key] = None if value != value else float(value)
    return min(walls), min(cpus), values


def _breakdown_once(graphs: dict, names: list[str]) -> dict[str, float]:
    """CPU seconds per ``<graph>:<metric>`` (section B: ``<graph>:section_B``), as the engine runs them.

    Mirrors the in-process engine (:func:`prunegraph.queries.metrics.compute_metrics`):
    per graph kind, the network-scope metrics in registry order on one shared
    context (a graph identical to one measured before reuses its values), then
    section B inside one ``shared_layers`` block.
    """
    from prunegraph.queries._structure import GraphStructure, kernel_threads
    from prunegraph.queries.data_model import GRAPH_FAMILIES
    from prunegraph.queries.metric_registry import DEFINITIONS, METRICS, MetricContext
    from prunegraph.queries.metrics import DEFAULT_BUDGET, _definition, _same_graph
    from prunegraph.queries.ramanujan import compute_section_b, shared_layers

    times: dict[str, float] = {}
    seen: list[Any] = []
    with shared_layers():
        for kind in GRAPH_FAMILIES:
            these = [METRICS[m] for m in names if METRICS[m].graph == kind]
            if not these or kind not in graphs:
                continue
            graph = graphs[kind]
            defs = [_definition(s) for s in these]
            network = {d.name for d in defs if d.scope == "network"}
            if network and not any(_same_graph(g, graph) for g in seen):
                seen.append(graph)
                t0 = time.process_time()
                ctx = MetricContext(GraphStructure(graph), budget=DEFAULT_BUDGET, seed=0)
                times[f"{kind}:structure"] = time.process_time() - t0
                order = [m for m in DEFINITIONS.values() if m.name in network]
                with kernel_threads(graph.n_edges):
                    for i, metric in enumerate(order):
                        t0 = time.process_time()
                        metric.compute(ctx)
                        ctx.release(set().union(*(m.needs for m in order[i + 1 :])))
                        times[f"{kind}:{metric.name}"] = time.process_time() - t0
            layer = list(dict.fromkeys(d.name for d in defs if d.scope == "layer"))
            if layer:
                t0 = time.process_time()
                compute_section_b(graph, layer)
                times[f"{kind}:section_B"] = time.process_time() - t0
    return times


def _breakdown(graphs: dict, names: list[str], repeats: int) -> dict[str, float]:
    runs = [_breakdown_once(graphs, names) for _ in range(repeats)]
    return {k: min(r.get(k, 0.0) for r in runs) for k in runs[0]}


def _stats(ms: np.ndarray) -> dict[str, float]:
    if not len(ms):
        return {"n": 0}
    return {
        "n": len(ms),
        "median": float(np.median(ms)),
        "p90": float(np.percentile(ms, 90)),
        "max": float(ms.max()),
        "sum_s": float(ms.sum() / 1000),
    }


def _fmt(s: dict[str, float]) -> str:
    if not s.get("n"):
        return "(none)"
    return (
        f"n={s['n']:3d}  median {s['median']:6.1f}  p90 {s['p90']:6.1f}  "
        f"max {s['max']:6.1f} ms  sum {s['sum_s']:6.2f} s"
    )


def _groups(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {"all": rows}
    for r in rows:
        groups.setdefault(r["model"], []).append(r)
    for r in rows:
        groups.setdefault(f"{r['model']} s={r['sparsity']:g}", []).append(r)
    return groups


def merge_min(runs: list[dict]) -> dict:
    """One run from several of one code version: per network the minimum wall and CPU time.

    Networks are matched by ``network_id``; values and breakdowns come from the
    first run that has them, networks missing from a run keep the others' times.
    """
    out = dict(runs[0])
    rows: dict[str, dict] = {}
    for run in runs:
        for r in run["networks"]:
            if r["id"] not in rows:
                rows[r["id"]] = dict(r)
                continue
            row = rows[r["id"]]
            row["wall_ms"] = min(row["wall_ms"], r["wall_ms"])
            row["cpu_ms"] = min(row["cpu_ms"], r["cpu_ms"])
            for key in ("values", "breakdown"):
                if key not in row and key in r:
                    row[key] = r[key]
    out["networks"] = list(rows.values())
    out["rounds"] = sum(run.get("rounds", 1) for run in runs)
    return out


def report(res: dict, limit_ms: float) -> None:
    rows = res["networks"]
    print(
        f"\n== demo metrics: {len(rows)} networks, {res['n_metrics']} metric columns, "
        f"min of {res['repeats']} in one warm process (warm-up {res['warm_up_s']:.2f} s)"
        + (f", then the minimum over {res['rounds']} rounds" if res.get("rounds", 1) > 1 else "")
    )
    for key in ("wall_ms", "cpu_ms"):
        print(f"-- {key}")
        for name, group in _groups(rows).items():
            print(f"  {name:16s} {_fmt(_stats(np.array([r[key] for r in group])))}")
    for key in ("wall_ms", "cpu_ms"):
        slow = sorted((r for r in rows if r[key] > limit_ms), key=lambda r: -r[key])
        print(f"-- {len(slow)} networks above {limit_ms:g} ms ({key[:-3]}):")
        for r in slow:
            edges = r["edges"]
            print(
                f"  {r['wall_ms']:6.1f} ms (cpu {r['cpu_ms']:6.1f})  {r['label']:40s} "
                f"mge {edges['mge']:>7,} / rolled {edges.get('rolled', 0):>6,} / "
                f"ch {edges.get('rolled_channel', 0):>5,} edges"
            )
    if any(r.get("breakdown") for r in rows):
        print(
            "-- (each cached structure is timed with the first metric that reads it: on the "
            "MGE, ln_communicability builds the undirected pattern that section A reads next)"
        )
    for r in rows:
        if not r.get("breakdown"):
            continue
        parts = r["breakdown"]
        total = sum(parts.values())
        print(
            f"-- per metric (cpu), {r['label']} ({r['cpu_ms']:.1f} ms cpu in one call; "
            f"parts sum {1000 * total:.1f} ms):"
        )
        for name, s in sorted(parts.items(), key=lambda kv: -kv[1]):
            if s * 1000 >= 0.3:
                print(f"  {1000 * s:6.2f} ms  {name}")


def _compare_values(before: dict[str, dict], after: list[dict]) -> None:
    """The largest relative difference of each metric between two runs (same networks)."""
    worst: dict[str, tuple[float, str]] = {}
    missing = 0
    for r in after:
        old = before[r["id"]].get("values")
        if old is None or "values" not in r:
            continue
        for key, v in r["values"].items():
            metric = key.rsplit("|", 1)[1]
            w = old.get(key, "missing")
            if w == "missing" or (w is None) != (v is None):
                missing += 1
                rel = float("inf")
            elif v is None or w == v:
                rel = 0.0
            else:
                rel = abs(v - w) / max(abs(w), 1e-300)
            if rel > worst.get(metric, (-1.0, ""))[0]:
                worst[metric] = (rel, f"{r['label']} {key}")
    if not worst:
        return
    n_values = sum(len(r.get("values", {})) for r in after)
    print(f"-- values: {n_values} compared, {missing} null/missing mismatches")
    exact = sorted(m for m, (rel, _) in worst.items() if rel == 0.0)
    print(f"  identical: {len(exact)} metrics")
    for m, (rel, where) in sorted(worst.items(), key=lambda kv: -kv[1][0]):
        if rel > 0:
            print(f"  {m:28s} max rel diff {rel:.2e}  ({where})")


def compare(before: dict, after: dict, limit_ms: float) -> None:
    """Distributions of two runs side by side, on the networks both measured."""
    common = {r["id"] for r in before["networks"]} & {r["id"] for r in after["networks"]}
    b = [r for r in before["networks"] if r["id"] in common]
    a = [r for r in after["networks"] if r["id"] in common]
    print(f"\n== side by side on {len(common)} common networks (before | after)")
    for key in ("wall_ms", "cpu_ms"):
        print(f"-- {key}")
        bg, ag = _groups(b), _groups(a)
        for name in ag:
            print(
                f"  {name:16s} {_fmt(_stats(np.array([r[key] for r in bg[name]])))}  |  "
                f"{_fmt(_stats(np.array([r[key] for r in ag[name]])))}"
            )
    for tag, rows in (("before", b), ("after", a)):
        n = sum(r["wall_ms"] > limit_ms for r in rows)
        n_cpu = sum(r["cpu_ms"] > limit_ms for r in rows)
        print(f"  {tag}: {n} networks above {limit_ms:g} ms wall, {n_cpu} above it in cpu")
    by_id = {r["id"]: r for r in b}
    _compare_values(by_id, a)
    for key in ("wall_ms", "cpu_ms"):
        ratio = np.array([by_id[r["id"]][key] / r[key] for r in a])
        if len(ratio):
            print(
                f"  speed-up per network ({key[:-3]} before / after): median "
                f"{np.median(ratio):.2f}x, min {ratio.min():.2f}x, max {ratio.max():.2f}x"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", type=Path, default=ROOT / "examples" / "demo.toml")
    parser.add_argument("--cache", type=Path, default=ROOT / "results" / "demo" / "cache")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help="keep networks whose label (model/dataset/pruner/s=../seed=..) contains this "
        "(repeatable; e.g. lenet5, 's=0.5/', 'mlp/digits/snip')",
    )
    parser.add_argument("--network-limit", type=int, default=None, help="first N networks only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit-ms", type=float, default=50.0)
    parser.add_argument("--top", type=int, default=3, help="per-metric times of the N slowest")
    parser.add_argument(
        "--rank",
        choices=("cpu", "wall"),
        default="cpu",
        help="slowest by CPU time (default: robust to the load of a shared machine) or wall",
    )
    parser.add_argument("--json", type=Path, default=None, help="save the results here")
    parser.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        help="a saved run to compare (repeatable: rounds of one version, minimum per network)",
    )
    parser.add_argument(
        "--min-over",
        type=Path,
        action="append",
        default=[],
        help="saved runs of this code version: report the minimum per network over them and "
        "this run (repeatable; with --repeats 0 only the saved runs)",
    )
    args = parser.parse_args(argv)
    if args.repeats == 0:
        if not args.min_over:
            parser.error("--repeats 0 needs --min-over (the saved runs to merge)")
        res = merge_min([json.loads(p.read_text()) for p in args.min_over])
        report(res, args.limit_ms)
        if args.json:
            args.json.write_text(json.dumps(res, indent=1))
            print(f"saved {args.json}")
        if args.compare:
            before = merge_min([json.loads(p.read_text()) for p in args.compare])
            compare(before, res, args.limit_ms)
        return 0

    from prunegraph.queries.metrics import warm_up

    t0 = time.perf_counter()
    networks = _load_networks(args.study, args.cache, args.only, args.network_limit)
    encode_s = time.perf_counter() - t0
    if not networks:
        print(f"No cached demo network under {args.cache} matches (run `make demo`).")
        return 1
    names = _metric_names(args.study)
    warm_s = warm_up()
    rows = []
    for net in networks:
        wall, cpu, values = _time_network(net["graphs"], names, args.repeats)
        rows.append(
            {
                "label": net["label"],
                "id": net["id"],
                "model": net["model"],
                "sparsity": net["sparsity"],
                "edges": {k: int(g.n_edges) for k, g in net["graphs"].items()},
                "wall_ms": 1000 * wall,
                "cpu_ms": 1000 * cpu,
                "values": values,
            }
        )
    by_id = {n["id"]: n for n in networks}
    for r in sorted(rows, key=lambda r: -r[f"{args.rank}_ms"])[: max(args.top, 0)]:
        r["breakdown"] = _breakdown(by_id[r["id"]]["graphs"], names, args.repeats)
    res = {
        "python": sys.version.split()[0],
        "prunegraph": str(Path(__import__("prunegraph").__file__).parent),
        "n_metrics": len(names),
        "repeats": args.repeats,
        "warm_up_s": warm_s,
        "encode_s": encode_s,
        "networks": rows,
    }
    print(f"prunegraph from {res['prunegraph']}; {len(rows)} networks encoded in {encode_s:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
        print(f"saved {args.json}")
    if args.min_over:
        res = merge_min([res, *(json.loads(p.read_text()) for p in args.min_over)])
    report(res, args.limit_ms)
    if args.compare:
        before = merge_min([json.loads(p.read_text()) for p in args.compare])
        compare(before, res, args.limit_ms)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
