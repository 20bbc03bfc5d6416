"""Benchmark: relationships/s of the streaming exporter vs the bulk import (neo4j-admin).

Run: ``.venv/bin/python bench/bench_export.py [--sparsities 0.9 0.6] [--workers 1 2]
[--max-stream-edges N]``

The network is the real ResNet-20 MGE on a 3x32x32 input (loader.encoding),
with random masks keeping exactly ``round((1 - s) * n)`` weights per layer
(about 4 M relationships at s = 0.9). Both paths write into a private scratch
server (:class:`prunegraph.stack.ScratchServer`: same installation, own
data directory and ports), never into the shared database: the bulk import
replaces a whole database, and a 10^7-edge streaming run should not burden
other users' store.

* streaming: ``export_network(level='full')`` over Bolt, batches of
  ``--batch-size`` relationships, ``--workers`` concurrent sessions; the rate is
  MGE relationships / total export time (units, relationships, verification).
  ``--max-stream-edges`` streams only the first blocks of the MGE up to that
  many edges (a real sub-network, labelled as such in the output) when the
  whole graph would take too long on a busy machine.
* bulk: CSV writing (numpy + pyarrow) plus ``neo4j-admin database import full``
  (JVM start included); the rate is MGE relationships / (write + import time).

Printed side by side per sparsity, with the server's CPU seconds per million
relationships for the streaming run (what the server itself needs, whatever
the machine's load).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def resnet20_mge(sparsity: float):
    import torch

    from prunegraph.loader.encoding import encode
    from prunegraph.loader.models import build_model

    torch.manual_seed(0)
    model = build_model("resnet20", input_shape=(3, 32, 32), num_classes=10)
    rng = np.random.default_rng(0)
    masks = {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Conv2d | torch.nn.Linear):
            n = mod.weight.numel()
            flat = np.zeros(n, dtype=bool)
            flat[rng.choice(n, size=round((1 - sparsity) * n), replace=False)] = True
            masks[name + ".weight"] = flat.reshape(tuple(mod.weight.shape))
    return encode(model, masks, (3, 32, 32))


def first_blocks(graph, max_edges: int):
    """The sub-network made of the first blocks holding at most ``max_edges`` edges."""
    from prunegraph.loader.graph import MultipartiteGraph

    keep = [b for b in graph.blocks if b.stop <= max_edges]
    if len(keep) == len(graph.blocks):
        return graph
    last_part = max(max(b.src_partition, b.dst_partition) for b in keep)
    parts = graph.partitions[: last_part + 1]
    stop = keep[-1].stop
    return MultipartiteGraph(
        "mge",
        parts,
        tuple(keep),
        graph.src[:stop],
        graph.dst[:stop],
        graph.weight[:stop],
        dict(graph.meta),
    )


def server_cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scratch_pid(server) -> int | None:
    pid_file = server.neo4j_home / "run" / "neo4j.pid"
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.9, 0.6])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--batch-size", type=int, default=None, help="rows per transaction (exporter's default)"
    )
    parser.add_argument("--max-stream-edges", type=int, default=None)
    parser.add_argument(
        "--heap",
        default=None,
        help="scratch server's maximum heap (default: the local stack's, PRUNEGRAPH_HEAP_SIZE or 3g)",
    )
    parser.add_argument(
        "--pagecache",
        default=None,
        help="scratch server's page cache (default: the local stack's, 1g unless configured)",
    )
    args = parser.parse_args()

    from prunegraph import stack
    from prunegraph.loader import bulk
    from prunegraph.loader import export as ex
    from prunegraph.loader.records import NetworkRecord
    from prunegraph.queries.store import Store

    # The scratch server gets the memory settings of the user's local stack (by default a
    # 3 GB maximum heap, 1 GB initial, 1 GB page cache), so the figures are what an export
    # into `prunegraph db start`'s server costs.
    paths = stack.stack_paths()
    batch_size = args.batch_size or ex.DEFAULT_BATCH_SIZE
    heap = args.heap or paths.heap_max
    pagecache = args.pagecache or paths.pagecache
    rows = []
    bulk_networks = []
    study_scale = None
    with (
        tempfile.TemporaryDirectory(prefix="pg-bench-export-") as tmp,
        stack.ScratchServer(os.path.join(tmp, "server"), heap=heap, pagecache=pagecache) as server,
    ):
        for s in args.sparsities:
            t0 = time.perf_counter()
            g = resnet20_mge(s)
            encode_s = time.perf_counter() - t0
            base = NetworkRecord(
                network_id=f"{int(s * 1000):04d}000000000000"[:16],
                study="bench",
                architecture="resnet20",
                dataset="cifar10-shaped",
                pruner="random",
                pruner_category="random",
                sparsity=s,
                seed=0,
                input_shape=(3, 32, 32),
            )
            # bulk: files + offline import into the (stopped) scratch server
            if server.running:
                server.stop()
            bulk_networks.append(bulk.BulkNetwork(base, g))
            files = bulk.write_bulk_files(
                [bulk.BulkNetwork(base, g)], os.path.join(tmp, f"bulk-{s}")
            )
            import_s = server.import_files(files)
            bulk_rate = g.n_edges / (files.seconds + import_s)
            server.start()
            streamed = (
                g if args.max_stream_edges is None else first_blocks(g, args.max_stream_edges)
            )
            for k, workers in enumerate(args.workers):
                rec = replace(base, network_id=f"{int(s * 1000):04d}{k + 1:012d}")
                with Store(server.settings()) as store:
                    pid = scratch_pid(server)
                    cpu0 = server_cpu_seconds(pid)
                    r = ex.export_network(
                        store,
                        streamed,
                        record=rec,
                        batch_size=batch_size,
                        workers=workers,
                        progress=False,
                    )
                    cpu = server_cpu_seconds(pid) - cpu0
                    stream_rate = streamed.n_edges / r.seconds
                    rows.append(
                        (
                            s,
                            g.n_edges,
                            streamed.n_edges,
                            workers,
                            r.seconds,
                            stream_rate,
                            cpu / streamed.n_edges * 1e6,
                            files.seconds,
                            import_s,
                            bulk_rate,
                            encode_s,
                        )
                    )
                    print(
                        f"s={s}: streamed {streamed.n_edges:,} rels with {workers} worker(s) in "
                        f"{r.seconds:.1f} s (units {r.unit_seconds:.1f} s, rels {r.relationship_seconds:.1f} s)",
                        flush=True,
                    )
        if len(bulk_networks) > 1:
            # The bulk path is meant for whole studies: every network in one import, so
            # neo4j-admin's fixed stages (JVM start, node stage, linking, post-processing)
            # are paid once.
            if server.running:
                server.stop()
            files = bulk.write_bulk_files(bulk_networks, os.path.join(tmp, "bulk-all"))
            import_s = server.import_files(files)
            total = sum(n.mge.n_edges for n in bulk_networks)
            study_scale = (len(bulk_networks), total, files.seconds, import_s)
    print()
    print(
        f"{'sparsity':>8} {'MGE rels':>10} {'streamed':>10} {'workers':>7} {'stream s':>9} "
        f"{'stream rel/s':>12} {'srv cpu s/M':>11} | {'csv s':>6} {'import s':>8} {'bulk rel/s':>10} {'bulk/stream':>11}"
    )
    for s, n, m, w, secs, rate, cpu, write_s, imp_s, brate, _ in rows:
        print(
            f"{s:>8.2f} {n:>10,} {m:>10,} {w:>7d} {secs:>9.1f} {rate:>12,.0f} {cpu:>11.1f} | "
            f"{write_s:>6.1f} {imp_s:>8.1f} {brate:>10,.0f} {brate / rate:>10.1f}x"
        )
    if study_scale is not None:
        k, total, write_s, imp_s = study_scale
        rate = total / (write_s + imp_s)
        best = max(r[5] for r in rows)
        print(
            f"\nall {k} networks in one bulk import (study scale): {total:,} rels, csv "
            f"{write_s:.1f} s, import {imp_s:.1f} s: {rate:,.0f} rel/s = {rate / best:.1f}x the "
            f"fastest streaming run ({best:,.0f} rel/s)"
        )
    print(
        f"\nscratch server: heap {heap} (max), page cache {pagecache}; batches of "
        f"{batch_size:,}; machine load average: {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
