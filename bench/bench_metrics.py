"""Benchmark of the in-process metric engine: time and peak memory per metric.

Workloads: the ResNet-20 MGE (CIFAR shape 3x32x32) at sparsity 0.98, 0.9, 0.6
and the Conv-6 MGE at 0.9 and 0.6, with random masks (exact count of unmasked
weights per layer, uniform positions). Each case runs in a fresh subprocess so
its peak resident memory (``ru_maxrss``) is its own; within a case, each
metric's time is measured and the process's peak RSS after it is reported.
Before timing, the compiled kernels are loaded once on the first layer's sub-network
(numba's cache load, paid once per process); that time is printed apart.
Numba's parallel kernels use all cores (``NUMBA_NUM_THREADS`` overrides).

Per case it also prints the two spectral solves (``spectral_gap``,
``spectral_radius``): the engine's mat-vec count (Lanczos iterations; for the
gap of a bipartite graph, products of ``B B^T``, each the cost of one product of
``A_s``) and the time of one mat-vec, the solve's ratio to that floor (iterations x mat-vec), and
a plain ``scipy.sparse.linalg.eigsh`` on a scipy CSR of the same full
symmetric matrix (float64, same ``k``, tolerance and start vector) with its
time and the engine's ratio to it.

The ``tiny`` case is the demo's networks (MLP and LeNet-5 on 8x8 digits, random
masks at sparsity 0.5 and 0.9, the three encodings): every metric the demo
computes (all but ``pca_elongation``) in one ``compute_metrics`` call, in a warm
process (median of 5).

Usage::

    .venv/bin/python bench/bench_metrics.py --quick          # tiny, ResNet-20 0.98 and 0.9
    .venv/bin/python bench/bench_metrics.py                  # + ResNet-20 0.6, Conv-6 0.9
    .venv/bin/python bench/bench_metrics.py --case conv6:0.6 # the ~10^8-edge case, alone
    .venv/bin/python bench/bench_metrics.py --case tiny      # the demo's networks

Paper reference (igraph, motif4 from a 0.1 % vertex sample), same machine class:
ResNet-20 0.9 ~16 s / 2.3 GB, ResNet-20 0.6 ~78 s / 7.8 GB, Conv-6 0.9 ~150 s / 12 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CACHE = Path("/tmp/prunegraph_bench")

QUICK = ["tiny", "resnet20:0.98", "resnet20:0.9"]
DEFAULT = [*QUICK, "resnet20:0.6", "conv6:0.9"]
PAPER = {"resnet20:0.9": (16, 2.3), "resnet20:0.6": (78, 7.8), "conv6:0.9": (150, 12.0)}
ORDER = [
    ("sink", "source", "disconnected", "r_out", "r_in"),
    ("n1",),
    ("strength",),
    ("components", "component_size"),
    ("kcore",),
    ("cut_edges", "cut_nodes"),
    ("motif3", "motif4"),
    ("n2",),
    ("spectral_gap",),
    ("spectral_radius",),
    ("log_paths", "mean_path", "max_path"),
    ("edge_connectivity",),
]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_masks(model, sparsity: float, seed: int) -> dict[str, np.ndarray]:
    from prunegraph.loader.masks import prunable_parameters

    rng = np.random.default_rng(seed)
    masks = {}
    for name, p in prunable_parameters(model).items():
        n = p.numel()
        keep = max(1, round((1 - sparsity) * n))
        flat = np.zeros(n, dtype=bool)
        flat[rng.choice(n, size=keep, replace=False)] = True
        masks[name] = flat.reshape(tuple(p.shape))
    return masks


def graph_path(case: str) -> Path:
    return CACHE / f"{case.replace(':', '_')}.npz"


def encode_case(case: str) -> float:
    """Encode the case's MGE (random masks, seed 0) into the cache; returns seconds."""
    from prunegraph.loader.encoding import encode
    from prunegraph.loader.models import build_model

    arch, s = case.split(":")
    t0 = time.perf_counter()
    model = build_model(arch, input_shape=(3, 32, 32), num_classes=10, seed=0)
    graph = encode(model, random_masks(model, float(s), seed=0), (3, 32, 32), kind="mge")
    CACHE.mkdir(parents=True, exist_ok=True)
    graph.save(graph_path(case))
    return time.perf_counter() - t0


def leading_blocks(graph, n_blocks: int):
    """The sub-network of the first ``n_blocks`` blocks (a real, smaller MGE)."""
    from prunegraph.loader.graph import MultipartiteGraph

    keep = graph.blocks[:n_blocks]
    last = max(max(b.src_partition, b.dst_partition) for b in keep)
    stop = keep[-1].stop
    return MultipartiteGraph(
        graph.kind,
        graph.partitions[: last + 1],
        tuple(keep),
        graph.src[:stop].copy(),
        graph.dst[:stop].copy(),
        graph.weight[:stop].copy(),
        dict(graph.meta),
    )


def warm_up(graph, budget: float) -> float:
    """Load the compiled kernels once (numba's on-disk cache) on the first layer alone; seconds."""
    from prunegraph.queries.paths import compute_section_d
    from prunegraph.queries.topometrics import compute_section_a

    t = time.perf_counter()
    small = leading_blocks(graph, 1)
    compute_section_a(small, budget=budget, seed=0)
    compute_section_d(small, ["log_paths", "mean_path", "max_path", "edge_connectivity"])
    return time.perf_counter() - t


def _time_calls(fn, reps: int = 10) -> tuple[float, float]:
    """Wall and CPU seconds of one call of ``fn`` (after one untimed call), mean of ``reps``."""
    fn()
    t, c = time.perf_counter(), time.process_time()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps, (time.process_time() - c) / reps


def spectral_diagnostics(st) -> list[dict]:
    """The spectral solves: steps, product time, solve / floor, the ARPACK engine before, scipy.

    Three solves: both spectra in one lockstep pass (``spectral_pair``, as the
    metric set runs them) and each alone. The floor of a solve is its products
    alone: (lockstep steps x one two-column product) + (other steps x that
    recurrence's one-column product), each product timed on its own. "Before"
    is the engine of commit e4f082c (ARPACK over the same products, the folded
    gap on a bipartite graph), still in the code as the fallback; "scipy" is
    plain ``eigsh`` over scipy's CSR product.
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    from prunegraph.queries import _spectral as S
    from prunegraph.queries import topometrics as T
    from prunegraph.queries._structure import one_blas_thread

    n = st.n
    if n <= T.PLAIN_LANCZOS_MIN_NODES:
        return []
    kernel = T.matvec_kernel(st)  # chosen (and timed) before anything is counted
    wdeg = st.weighted_degree
    x = np.random.default_rng(1).uniform(size=n)
    x2 = np.random.default_rng(2).uniform(size=(n, 2))
    sides = T._folded_sides(st)
    small = len(st.symmetric[1]) < T.PARALLEL_MATVEC_MIN_ENTRIES
    if sides:  # the engine's folded products (B B^T, and the half after a joint product)
        gap_product, half = T._plain_folded(st, sides, small)
    else:
        gap_product = T._product(st, kernel, False)
    t_gap = _time_calls(lambda: gap_product(x))
    radius_product = T._product(st, kernel, True)  # built once, as a solve builds it
    t_rad = _time_calls(lambda: radius_product(x))
    joint = T._joint_product(st, kernel)
    t_half = None
    if sides:

        def joint_folded(v):
            y = joint(v)
            y[0] = half(y[0])
            return y

        t_joint = _time_calls(lambda: joint_folded(x2))
        t_half = _time_calls(lambda: half(x))
    else:
        t_joint = _time_calls(lambda: joint(x2))
    record: list = []
    original = S.lockstep

    def spy(runs, single, joint_fn):
        original(runs, single, joint_fn)
        record.append(([r.steps for r in runs], [r.gap for r in runs], joint_fn is not None))

    def arpack_gap():
        folded = T._folded_gap(st, 1e-8)
        return folded if folded is not None else T._gap_general(st, 1e-8)

    def arpack_radius():
        return float(T._top_eigenvalues(st, True, 1, 1e-7)[0])

    full = sp.csr_matrix((st.symmetric[2].astype(np.float64), st.symmetric[1], st.symmetric[0]))
    if st.symmetric[3].shape[0] == n:
        full = (full + sp.diags(st.symmetric[3])).tocsr()
    v0 = np.random.default_rng(0).uniform(0.5, 1.5, n)

    def scipy_solve(laplacian, k, tol):
        matrix = (sp.diags(wdeg) - full).tocsr() if laplacian else full
        with one_blas_thread():
            return spla.eigsh(matrix, k=k, which="LA", tol=tol, v0=v0, return_eigenvectors=False)

    out = []
    for name, gap, radius in (
        ("both (lockstep)", True, True),
        ("spectral_gap", True, False),
        ("spectral_radius", False, True),
    ):
        record.clear()
        S.lockstep = spy
        try:
            t, c = time.perf_counter(), time.process_time()
            value = T.spectral_pair(st, gap=gap, radius=radius)
            solve, solve_cpu = time.perf_counter() - t, time.process_time() - c
        finally:
            S.lockstep = original
        steps, kinds, joined = record[0] if record else ([], [], False)
        together = min(steps) if joined and len(steps) == 2 else 0
        floor = [together * t_joint[i] for i in range(2)]
        for count, is_gap in zip(steps, kinds, strict=True):
            one = t_gap if is_gap else t_rad
            for i in range(2):
                floor[i] += (count - together) * one[i]
        t, c = time.perf_counter(), time.process_time()
        before = (arpack_gap() if gap else None, arpack_radius() if radius else None)
        before_s, before_cpu = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        if gap:
            scipy_solve(False, 2, 1e-8)
        if radius:
            scipy_solve(True, 1, 1e-7)
        scipy_s, scipy_cpu = time.perf_counter() - t, time.process_time() - c
        diff = max(abs(a - b) / abs(b) for a, b in zip(value, before, strict=True) if b is not None)
        out.append(
            {
                "metric": name,
                "kernel": kernel + (", gap folded B B^T" if sides and gap else ""),
                "value": value,
                "steps": steps,
                "lockstep_steps": together,
                "solve_s": solve,
                "solve_cpu": solve_cpu,
                "floor_s": floor[0],
                "floor_cpu": floor[1],
                "product_ms": {
                    "gap": 1e3 * t_gap[0],
                    "radius": 1e3 * t_rad[0],
                    "two-column": 1e3 * t_joint[0],
                    **({"folded half": 1e3 * t_half[0]} if t_half else {}),
                },
                "before_s": before_s,
                "before_cpu": before_cpu,
                "before_rel_diff": diff,
                "scipy_s": scipy_s,
                "scipy_cpu": scipy_cpu,
            }
        )
    return out


def tiny_graphs() -> dict[str, dict]:
    """The demo's networks: ``{'mlp 0.5': {kind: graph}, ...}`` (random masks, seed 0)."""
    from prunegraph.loader.encoding import encode
    from prunegraph.loader.models import build_model
    from prunegraph.queries.data_model import GRAPH_KINDS

    out = {}
    for arch in ("mlp", "lenet5"):
        model = build_model(arch, input_shape=(1, 8, 8), num_classes=10, seed=0)
        for sparsity in (0.5, 0.9):
            masks = random_masks(model, sparsity, seed=0)
            out[f"{arch} {sparsity}"] = {
                kind: encode(model, masks, (1, 8, 8), kind=kind) for kind in GRAPH_KINDS
            }
    return out


def run_tiny(budget: float) -> dict:
    """Every demo metric of each demo network in one call, warm process; median of 5."""
    import statistics

    from prunegraph.queries.metrics import METRICS, compute_metrics, warm_up

    warm_s = warm_up()
    rows = []
    for label, graphs in tiny_graphs().items():
        names = [
            n
            for n, spec in METRICS.items()
            if not spec.pairwise and spec.graph in graphs and spec.base != "pca_elongation"
        ]
        compute_metrics(graphs, "0123456789abcdef", metrics=names, budget=budget)
        walls, cpus = [], []
        for _ in range(5):
            t, c = time.perf_counter(), time.process_time()
            compute_metrics(graphs, "0123456789abcdef", metrics=names, budget=budget)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        per_kind = {}
        for kind, g in graphs.items():
            these = [n for n in names if METRICS[n].graph == kind]
            t = time.perf_counter()
            compute_metrics({kind: g}, "0123456789abcdef", metrics=these, budget=budget)
            per_kind[kind] = (time.perf_counter() - t, g.n_nodes, g.n_edges)
        rows.append(
            {
                "network": label,
                "metrics": len(names),
                "wall_ms": 1e3 * statistics.median(walls),
                "cpu_ms": 1e3 * statistics.median(cpus),
                "per_kind": per_kind,
            }
        )
    return {"case": "tiny", "warm_s": warm_s, "peak_mb": peak_mb(), "rows": rows}


def report_tiny(res: dict) -> None:
    print(
        f"\n== tiny: the demo's networks, every demo metric (all but pca_elongation) of the "
        f"three encodings in one call, warm process (kernel loading {res['warm_s']:.2f} s once)"
    )
    print(
        f"{'network':<12} {'metrics':>7} {'wall ms':>8} {'cpu ms':>8}  per encoding (ms, nodes, edges)"
    )
    for r in res["rows"]:
        kinds = "; ".join(
            f"{k} {1e3 * s:.1f} ({n:,}, {e:,})" for k, (s, n, e) in r["per_kind"].items()
        )
        print(
            f"{r['network']:<12} {r['metrics']:7d} {r['wall_ms']:8.1f} {r['cpu_ms']:8.1f}  {kinds}"
        )


def run_case(case: str, budget: float) -> dict:
    # No torch in this process: its peak memory is the metric engine's own.
    import numba

    from prunegraph.loader.graph import MultipartiteGraph
    from prunegraph.queries._structure import GraphStructure
    from prunegraph.queries.paths import compute_section_d
    from prunegraph.queries.topometrics import compute_section_a

    graph = MultipartiteGraph.load(graph_path(case))
    base_mb = peak_mb()
    warm_s = warm_up(graph, budget)
    st = GraphStructure(graph)
    rows = []
    total = total_cpu = 0.0
    for group in ORDER:
        t = time.perf_counter()
        c = time.process_time()
        if group[0] in ("log_paths", "edge_connectivity"):
            vals = compute_section_d(graph, list(group))
            res = {k: (v, None) for k, v in vals.items()}
        else:
            out = compute_section_a(st, list(group), budget=budget, seed=0)
            res = {k: (e.value, e.se) for k, e in out.items()}
        # Free what later groups do not read, as compute_section_a does internally.
        later = {m for g in ORDER[ORDER.index(group) + 1 :] for m in g}
        st.release_unneeded(later)
        dt = time.perf_counter() - t
        cpu = time.process_time() - c
        total += dt
        total_cpu += cpu
        rows.append(
            {
                "metrics": ",".join(group),
                "seconds": dt,
                "cpu": cpu,
                "peak_mb": peak_mb(),
                "values": res,
            }
        )
    peak = peak_mb()  # before the diagnostics, which hold scipy copies of the matrices
    del st
    spectral = spectral_diagnostics(GraphStructure(graph))
    return {
        "case": case,
        "spectral": spectral,
        "nodes": graph.n_nodes,
        "edges": graph.n_edges,
        "warm_s": warm_s,
        "threads": numba.get_num_threads(),
        "graph_mb": base_mb,
        "total_s": total,
        "total_cpu": total_cpu,
        "peak_mb": peak,
        "rows": rows,
    }


def fmt_value(v, se) -> str:
    if v is None:
        return "null"
    text = f"{v:.6g}"
    if se is not None:
        text += f" ± {se:.3g} ({100 * se / abs(v):.3f} %)" if v else f" ± {se:.3g}"
    return text


def report(res: dict) -> None:
    print(
        f"\n== {res['case']}: {res['nodes']:,} nodes, {res['edges']:,} edges "
        f"(graph loaded: peak {res['graph_mb']:.0f} MB; numba threads {res['threads']}; "
        f"kernel loading + warm-up on the first layer {res['warm_s']:.2f} s, "
        "once per process, not in the totals)"
    )
    print(f"{'metrics':<40} {'engine':<9} {'wall s':>7} {'cpu s':>7} {'peak MB':>8}  values")
    for r in res["rows"]:
        vals = "; ".join(f"{k}={fmt_value(*v)}" for k, v in r["values"].items())
        print(
            f"{r['metrics']:<40} {'inprocess':<9} {r['seconds']:7.2f} {r['cpu']:7.2f} "
            f"{r['peak_mb']:8.0f}  {vals}"
        )
    line = (
        f"TOTAL metrics wall {res['total_s']:.1f} s, cpu {res['total_cpu']:.1f} s, "
        f"process peak {res['peak_mb'] / 1024:.2f} GB"
    )
    if res["case"] in PAPER:
        ps, pg = PAPER[res["case"]]
        line += (
            f"  (paper {ps} s, {pg} GB: {ps / res['total_s']:.1f}x faster wall, "
            f"{ps / res['total_cpu']:.1f}x cpu, {pg * 1024 / res['peak_mb']:.1f}x less memory; "
            f"with the one-off warm-up {ps / (res['total_s'] + res['warm_s']):.1f}x faster)"
        )
    print(line)
    for d in res.get("spectral", []):
        prods = ", ".join(f"{k} {v:.1f}" for k, v in d["product_ms"].items())
        print(
            f"  {d['metric']:<16} {d['solve_s']:.3f} s wall / {d['solve_cpu']:.3f} s cpu, "
            f"steps {d['steps']} ({d['lockstep_steps']} in lockstep; {d['kernel']}; products ms "
            f"{prods}); solve / floor {d['solve_s'] / d['floor_s']:.2f} wall, "
            f"{d['solve_cpu'] / d['floor_cpu']:.2f} cpu; before (ARPACK) {d['before_s']:.3f} s "
            f"wall / {d['before_cpu']:.3f} s cpu (values within {d['before_rel_diff']:.1e}); "
            f"plain scipy eigsh {d['scipy_s']:.3f} s wall / {d['scipy_cpu']:.3f} s cpu"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the small ResNet-20 cases")
    parser.add_argument("--case", action="append", help="arch:sparsity, repeatable")
    parser.add_argument("--budget", type=float, default=5e7, help="exact-count work budget")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--encode", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.encode:
        print(json.dumps({"encode_s": encode_case(args.encode)}))
        return 0
    if args.child:
        if args.child == "tiny":
            print(json.dumps(run_tiny(args.budget), default=float))
        else:
            print(json.dumps(run_case(args.child, args.budget), default=float))
        return 0
    cases = args.case or (QUICK if args.quick else DEFAULT)
    for case in cases:
        if case != "tiny" and not graph_path(case).exists():
            enc = subprocess.run(
                [sys.executable, __file__, "--encode", case], capture_output=True, text=True
            )
            if enc.returncode:
                print(f"== {case}: encoding FAILED\n{enc.stderr[-2000:]}")
                continue
        proc = subprocess.run(
            [sys.executable, __file__, "--child", case, "--budget", str(args.budget)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode:
            print(f"== {case}: FAILED\n{proc.stderr[-2000:]}")
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        report_tiny(res) if case == "tiny" else report(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
