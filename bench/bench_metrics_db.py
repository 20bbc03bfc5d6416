"""Benchmark of the database metric engine (GDS + Cypher), per metric, next to the in-process one.

For each case (``arch:sparsity``; default ResNet-20 at 0.98 and 0.9) the MGE
cached by ``bench/bench_metrics.py`` (``/tmp/prunegraph_bench/<arch>_<s>.npz``,
created by running ``bench_metrics.py --encode CASE`` when missing) is
bulk-imported (``neo4j-admin database import full``) into a private
:class:`prunegraph.stack.ScratchServer`: same installation as the local
stack, its own data directory, ports and memory settings (``--heap``,
``--pagecache``), deleted afterwards. The shared database is never touched.

Usage::

    .venv/bin/python bench/bench_metrics_db.py                       # resnet20:0.98, resnet20:0.9
    .venv/bin/python bench/bench_metrics_db.py --case resnet20:0.6   # repeatable: --case conv6:0.9
    .venv/bin/python bench/bench_metrics_db.py --repeat 5 --heap 4g --pagecache 2g

What is measured, per case:

* set-up (not part of any metric): bulk CSV writing, the offline import,
  server start, ``ensure_schema`` (indexes online);
* ``first call``: one untimed-in-the-table ``compute_metrics`` of every
  database metric at once (JIT warm-up of the server, page cache filled);
* ``projection``: ``gds_metrics.projection`` entered and left on its own,
  UNDIRECTED (``aggregation: 'SINGLE'``) and NATURAL weighted by ``w``: seconds
  to project, to drop, and the projection's node / relationship count and GDS
  memory;
* per metric group (the groups of ``bench_metrics.py`` that the database
  implements), ``compute_metrics(store, id, metrics=group, engine="database",
  write=False)`` repeated ``--repeat`` times (median reported). Each call
  includes everything the database engine does for that group: the network
  info query, for GDS metrics the relationship-type query, a fresh projection,
  the algorithm and the drop (projections are not shared between calls); for
  the Cypher metrics (``sink .. r_in`` and ``n1``) one scan over every unit's
  relationships, the same query for both groups. Columns:

  - ``wall s``: client wall time (median), ``min s`` the fastest repeat;
  - ``algo s``: the algorithm query alone on a projection made beforehand
    (GDS groups; median), i.e. ``wall`` minus projection, drop and look-ups;
  - ``srv cpu``: server CPU seconds (utime + stime of the Neo4j JVM from
    ``/proc/<pid>/stat``, median), independent of the machine's load;
  - ``srv MB``: the JVM's peak resident set during the call (``VmHWM`` after
    resetting it through ``/proc/<pid>/clear_refs``; it includes the heap the
    JVM has already touched, so it is mostly the server's baseline);
  - ``cli MB``: the client process's peak resident set during the call (the
    client only holds the driver and the returned rows; it is a separate
    process from the one that loaded the graph).

* in process, for the same groups and the same graph (another fresh
  process): ``compute_section_a(graph, group)`` from the arrays (CSR built in
  the call), after loading the numba kernels once on a 2-block sub-network;
  its wall seconds and values are printed next to the database's, with
  ``agree`` = integer metrics equal, floats within 1e-6 relative.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench_metrics.py sits next to this script (sys.path[0] when run as a script): share its
# graph cache, its metric groups and its sub-network helper.
from bench_metrics import ORDER, graph_path, leading_blocks

BENCH_METRICS = Path(__file__).with_name("bench_metrics.py")
DEFAULT_CASES = ["resnet20:0.98", "resnet20:0.9"]
# The database-implemented groups of bench_metrics.py, in its order.
DATABASE_GROUPS = {"sink", "n1", "strength", "components", "kcore", "cut_edges"}
GROUPS = [group for group in ORDER if group[0] in DATABASE_GROUPS]
INTEGER_METRICS = {
    "sink",
    "source",
    "disconnected",
    "r_out",
    "r_in",
    "components",
    "cut_edges",
    "cut_nodes",
}
# Algorithm-only queries (run on a projection made beforehand): group -> (orientation, queries).
ALGO_QUERIES = {
    "strength": ("NATURAL", [("metric_gds_degree", "degree")]),
    "components,component_size": ("UNDIRECTED", [("metric_gds_wcc", None)]),
    "kcore": ("UNDIRECTED", [("metric_gds_kcore", None)]),
    "cut_edges,cut_nodes": (
        "UNDIRECTED",
        [("metric_gds_bridges", None), ("metric_gds_articulation", None)],
    ),
}
REL_TOL = 1e-6


# ------------------------------------------------------------------ /proc helpers
def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid: int | str, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return -1


class Peak:
    """Peak resident set of this process over several VmHWM resets (``ru_maxrss`` is not usable:
    after fork + exec it keeps the parent's peak)."""

    def __init__(self) -> None:
        self.mb = 0.0

    def read(self) -> float:
        now = proc_status_kb("self", "VmHWM") / 1024
        self.mb = max(self.mb, now)
        return now

    def reset(self) -> None:
        self.read()
        reset_peak("self")


def reset_peak(pid: int | str) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def server_pid(server) -> int:
    """Pid of the scratch server's JVM: its pid file, checked against the command line."""
    home = str(server.neo4j_home)
    try:
        pid = int((server.neo4j_home / "run" / "neo4j.pid").read_text().strip())
        if home in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            return pid
    except (OSError, ValueError):
        pass
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "java" in cmd and home in cmd and "Neo4jAdmin" not in cmd:
            return int(entry.name)
    raise RuntimeError(f"No Neo4j JVM running from {home}.")


# ------------------------------------------------------------------ graphs
def ensure_graph(case: str) -> None:
    if graph_path(case).exists():
        return
    print(f"   encoding {case} (bench_metrics.py --encode) ...", flush=True)
    proc = subprocess.run(
        [sys.executable, str(BENCH_METRICS), "--encode", case],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode or not graph_path(case).exists():
        raise RuntimeError(f"encoding {case} failed:\n{(proc.stderr or proc.stdout)[-2000:]}")


def network_id_of(case: str) -> str:
    return hashlib.sha256(f"bench_metrics_db:{case}".encode()).hexdigest()[:16]


# ------------------------------------------------------------------ child: database client
def run_db(case: str, uri: str, root: str, pid: int, repeat: int) -> dict:
    import tomllib

    from prunegraph.config import ConnectionSettings
    from prunegraph.queries.gds_metrics import projection
    from prunegraph.queries.metrics import DB_METRICS, compute_metrics
    from prunegraph.queries.store import Store

    creds = tomllib.loads((Path(root) / "credentials.toml").read_text())["neo4j"]
    settings = ConnectionSettings(
        uri=uri,
        user=str(creds.get("username", "neo4j")),
        password=str(creds["password"]),
        source="scratch server",
    )
    nid = network_id_of(case)
    peak = Peak()
    out: dict = {"hwm_reset": reset_peak(pid) and proc_status_kb("self", "VmHWM") > 0}
    with Store(settings) as store:
        t = time.perf_counter()
        cpu0 = proc_cpu_seconds(pid)
        compute_metrics(store, nid, metrics=list(DB_METRICS), engine="database", write=False)
        out["first_call"] = {
            "seconds": time.perf_counter() - t,
            "srv_cpu": proc_cpu_seconds(pid) - cpu0,
        }

        # Projections on their own, and the algorithm queries on a projection made beforehand.
        proj: dict[str, dict] = {}
        algo: dict[str, list[float]] = {k: [] for k in ALGO_QUERIES}
        for orientation, weighted in (("UNDIRECTED", False), ("NATURAL", True)):
            rec: dict = {"project": [], "drop": [], "srv_cpu": []}
            for _ in range(repeat):
                cpu0 = proc_cpu_seconds(pid)
                t = time.perf_counter()
                cm = projection(store, nid, orientation, weighted=weighted)
                name = cm.__enter__()
                rec["project"].append(time.perf_counter() - t)
                rec["srv_cpu"].append(proc_cpu_seconds(pid) - cpu0)
                try:
                    info = store.run(
                        "CALL gds.graph.list($g) YIELD nodeCount, relationshipCount, memoryUsage "
                        "RETURN nodeCount, relationshipCount, memoryUsage",
                        {"g": name},
                        write=False,
                    )[0]
                    rec.update(info)
                    for key, (orient, queries) in ALGO_QUERIES.items():
                        if orient != orientation:
                            continue
                        t = time.perf_counter()
                        for qname, kind in queries:
                            params: dict = {"graph_name": name}
                            if kind == "degree":
                                params["config"] = {
                                    "orientation": "REVERSE",
                                    "relationshipWeightProperty": "w",
                                }
                            store.query(qname, **params)
                        algo[key].append(time.perf_counter() - t)
                finally:
                    t = time.perf_counter()
                    cm.__exit__(None, None, None)
                    rec["drop"].append(time.perf_counter() - t)
            proj[f"{orientation}{' weighted' if weighted else ''}"] = rec
        out["projection"] = proj

        rows = []
        for group in GROUPS:
            key = ",".join(group)
            walls, cpus, srv_hwm, cli_hwm = [], [], [], []
            values: dict = {}
            for _ in range(repeat):
                reset_peak(pid)
                peak.reset()
                cpu0 = proc_cpu_seconds(pid)
                t = time.perf_counter()
                df = compute_metrics(
                    store, nid, metrics=list(group), engine="database", write=False
                )
                walls.append(time.perf_counter() - t)
                cpus.append(proc_cpu_seconds(pid) - cpu0)
                srv_hwm.append(proc_status_kb(pid, "VmHWM") / 1024)
                cli_hwm.append(peak.read())
                values = {
                    r.metric: (None if r.value != r.value else float(r.value), r.engine)
                    for r in df.itertuples(index=False)
                }
            rows.append(
                {
                    "metrics": key,
                    "wall": statistics.median(walls),
                    "wall_min": min(walls),
                    "algo": statistics.median(algo[key]) if algo.get(key) else None,
                    "srv_cpu": statistics.median(cpus),
                    "srv_mb": max(srv_hwm),
                    "cli_mb": max(cli_hwm),
                    "values": values,
                }
            )
        out["rows"] = rows
    out["srv_rss_mb"] = proc_status_kb(pid, "VmRSS") / 1024
    peak.read()
    out["cli_peak_mb"] = peak.mb
    return out


# ------------------------------------------------------------------ child: in process
def run_inprocess(case: str, budget: float) -> dict:
    from prunegraph.loader.graph import MultipartiteGraph
    from prunegraph.queries.topometrics import compute_section_a

    peak = Peak()
    graph = MultipartiteGraph.load(graph_path(case))
    t = time.perf_counter()
    compute_section_a(leading_blocks(graph, 2), [m for g in GROUPS for m in g], budget=budget)
    warm = time.perf_counter() - t
    rows = []
    for group in GROUPS:
        peak.reset()
        engines: dict[str, str] = {}
        t = time.perf_counter()
        c = time.process_time()
        res = compute_section_a(graph, list(group), budget=budget, seed=0, engines=engines)
        rows.append(
            {
                "metrics": ",".join(group),
                "wall": time.perf_counter() - t,
                "cpu": time.process_time() - c,
                "mb": peak.read(),
                "values": {k: (e.value, engines.get(k), e.se) for k, e in res.items()},
            }
        )
    return {
        "nodes": graph.n_nodes,
        "edges": graph.n_edges,
        "warm": warm,
        "rows": rows,
        "peak_mb": max(peak.mb, peak.read()),
    }


# ------------------------------------------------------------------ parent
def child(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode:
        raise RuntimeError(f"child {args[:2]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def setup_server(case: str, server, tmp: str) -> dict:
    """Bulk-import the case's MGE into the (stopped) scratch server, start it, create the schema."""
    from prunegraph.loader import bulk
    from prunegraph.loader.graph import MultipartiteGraph
    from prunegraph.loader.records import NetworkRecord
    from prunegraph.queries.schema import ensure_schema
    from prunegraph.queries.store import Store

    arch, s = case.split(":")
    graph = MultipartiteGraph.load(graph_path(case))
    record = NetworkRecord(
        network_id=network_id_of(case),
        study="bench",
        architecture=arch,
        dataset="cifar10-shaped",
        pruner="random",
        pruner_category="random",
        sparsity=float(s),
        seed=0,
        input_shape=(3, 32, 32),
    )
    files = bulk.write_bulk_files([bulk.BulkNetwork(record, graph)], os.path.join(tmp, "bulk"))
    import_s = server.import_files(files)
    t = time.perf_counter()
    server.start()
    start_s = time.perf_counter() - t
    t = time.perf_counter()
    with Store(server.settings()) as store:
        ensure_schema(store)
    schema_s = time.perf_counter() - t
    return {
        "nodes": graph.n_nodes,
        "edges": graph.n_edges,
        "write_s": files.seconds,
        "import_s": import_s,
        "start_s": start_s,
        "schema_s": schema_s,
    }


def agree(metric: str, a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if metric in INTEGER_METRICS:
        return float(a).is_integer() and float(b).is_integer() and int(a) == int(b)
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0)


def fmt(v) -> str:
    return "null" if v is None else f"{v:.10g}"


def report(case: str, heap: str, pagecache: str, repeat: int, st: dict, db: dict, ip: dict) -> int:
    print(
        f"\n== {case}: {st['nodes']:,} nodes, {st['edges']:,} edges; scratch server heap {heap}, "
        f"page cache {pagecache}"
    )
    print(
        f"   set-up (not in the metric timings): bulk CSV {st['write_s']:.1f} s, "
        f"import {st['import_s']:.1f} s, server start {st['start_s']:.1f} s, "
        f"schema {st['schema_s']:.1f} s"
    )
    fc = db["first_call"]
    print(
        f"   first call, all {sum(len(g) for g in GROUPS)} database metrics at once (cold): "
        f"{fc['seconds']:.2f} s wall, {fc['srv_cpu']:.2f} s server cpu"
    )
    for name, rec in db["projection"].items():
        print(
            f"   projection {name:<19}: project {statistics.median(rec['project']):.2f} s "
            f"(server cpu {statistics.median(rec['srv_cpu']):.2f} s), "
            f"drop {statistics.median(rec['drop']):.2f} s; "
            f"{rec.get('nodeCount', 0):,} nodes, {rec.get('relationshipCount', 0):,} rels, "
            f"{rec.get('memoryUsage', '?')}"
        )
    print(
        f"   in process: numba kernels loaded on a 2-block sub-network in {ip['warm']:.2f} s "
        "(once per process, not in the table)"
    )
    if not db.get("hwm_reset"):
        print("   (VmHWM could not be reset: peak RSS columns are peaks since process start)")
    print(
        f"{'metrics':<36} {'engine':<7} {'wall s':>7} {'min s':>7} {'algo s':>7} {'srv cpu':>7} "
        f"{'srv MB':>7} {'cli MB':>7} | {'inproc s':>8} {'ip MB':>6} | values database / in process"
    )
    disagreements = 0
    for drow, irow in zip(db["rows"], ip["rows"], strict=True):
        engines = sorted({e for _, e in drow["values"].values()})
        parts = []
        for m in drow["metrics"].split(","):
            dv = drow["values"].get(m, (None, None))[0]
            iv, _, se = irow["values"].get(m, (None, None, None))
            ok = agree(m, dv, iv) and se is None
            disagreements += not ok
            parts.append(f"{m}={fmt(dv)}" if ok else f"{m}={fmt(dv)} / {fmt(iv)} DISAGREE")
        algo = "-" if drow["algo"] is None else f"{drow['algo']:.2f}"
        print(
            f"{drow['metrics']:<36} {'/'.join(engines):<7} {drow['wall']:7.2f} "
            f"{drow['wall_min']:7.2f} {algo:>7} {drow['srv_cpu']:7.2f} {drow['srv_mb']:7.0f} "
            f"{drow['cli_mb']:7.0f} | {irow['wall']:8.2f} {irow['mb']:6.0f} | "
            + ("agree: " if all("DISAGREE" not in p for p in parts) else "")
            + "; ".join(parts)
        )
    tot_db = sum(r["wall"] for r in db["rows"])
    tot_cpu = sum(r["srv_cpu"] for r in db["rows"])
    tot_ip = sum(r["wall"] for r in ip["rows"])
    print(
        f"TOTAL database {tot_db:.1f} s wall (median of {repeat} per group), server cpu "
        f"{tot_cpu:.1f} s, server RSS at the end {db['srv_rss_mb']:.0f} MB, client peak "
        f"{db['cli_peak_mb']:.0f} MB | in process {tot_ip:.1f} s, peak {ip['peak_mb']:.0f} MB "
        f"(graph loaded) | {disagreements} disagreement(s)"
    )
    return disagreements


def run_case(case: str, args) -> int:
    from prunegraph.stack import ScratchServer

    ensure_graph(case)
    with tempfile.TemporaryDirectory(prefix="pg-bench-metrics-db-") as tmp:
        with ScratchServer(
            os.path.join(tmp, "server"), heap=args.heap, pagecache=args.pagecache
        ) as server:
            st = setup_server(case, server, tmp)
            pid = server_pid(server)
            db = child(
                [
                    "--db-child",
                    case,
                    "--uri",
                    server.settings().uri,
                    "--root",
                    str(server.root),
                    "--pid",
                    str(pid),
                    "--repeat",
                    str(args.repeat),
                ]
            )
        ip = child(["--inproc-child", case, "--budget", str(args.budget)])
    return report(case, args.heap, args.pagecache, args.repeat, st, db, ip)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", help="arch:sparsity, repeatable")
    parser.add_argument("--heap", default="2g", help="scratch server heap (default 2g)")
    parser.add_argument("--pagecache", default="1g", help="scratch server page cache (default 1g)")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per metric group")
    parser.add_argument("--budget", type=float, default=5e7, help="in-process exact-count budget")
    parser.add_argument("--db-child", help=argparse.SUPPRESS)
    parser.add_argument("--inproc-child", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.db_child:
        res = run_db(args.db_child, args.uri, args.root, args.pid, args.repeat)
        print(json.dumps(res, default=float))
        return 0
    if args.inproc_child:
        print(json.dumps(run_inprocess(args.inproc_child, args.budget), default=float))
        return 0

    from prunegraph import stack

    if not stack.is_built(stack.stack_paths()):
        print(
            "The local Neo4j/GDS stack is not built (no installation under "
            f"{stack.stack_paths().neo4j_home}); run `.venv/bin/prunegraph db build` first.",
            file=sys.stderr,
        )
        return 2
    cases = args.case or DEFAULT_CASES
    failures = 0
    for case in cases:
        try:
            failures += run_case(case, args) > 0
        except Exception as exc:  # report and go on with the next case
            failures += 1
            print(f"\n== {case}: FAILED: {type(exc).__name__}: {exc}", flush=True)
    print(
        f"\nmachine load average: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
        f"on {os.cpu_count()} cores"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
