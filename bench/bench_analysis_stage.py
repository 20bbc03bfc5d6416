"""Benchmark: the study runner's analysis stage on a stored study (the demo's by default).

Calls :func:`prunegraph.study.run.run_analyses` as ``prunegraph study run`` does after
its networks (feature table from the store, the weights cache of the study's output
folder, then every report section), into a fresh temporary folder, so the report cache
of the study is neither read nor written. Prints one JSON line per run: the stage's wall
seconds, the CPU seconds of this process and of its worker processes (the pool is shut
down and its workers reaped after each run, so their CPU is counted), and the load
average. An older checkout put first on ``PYTHONPATH`` runs the same script::

    .venv/bin/python bench/bench_analysis_stage.py --study demo --runs 2
    PYTHONPATH=/path/to/old/site .venv/bin/python bench/bench_analysis_stage.py

It only reads the store; it never writes to the study.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path


def _cpu() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _stop_workers() -> None:
    """Shut the analyses' process pools down and reap their workers (their CPU is then counted)."""
    try:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True, kill_workers=False)
    except Exception:  # an older checkout may have no pool: nothing to stop
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="demo", help="study name in the store (default demo)")
    parser.add_argument(
        "--config", default="examples/demo.toml", help="its study file (analysis settings)"
    )
    parser.add_argument(
        "--output",
        default=None,
        help="its output folder, for the weights cache (default: the file's)",
    )
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()

    from prunegraph.queries.store import Store
    from prunegraph.study.config import load_study
    from prunegraph.study.run import run_analyses

    config = load_study(args.config)
    cache = Path(args.output or config.output) / "cache"
    with Store.connect() as store:
        for run in range(args.runs):
            folder = Path(tempfile.mkdtemp(prefix="bench_stage_"))
            try:
                if cache.is_dir():
                    (folder / "cache").symlink_to(cache.resolve())
                wall0, (own0, kids0) = time.perf_counter(), _cpu()
                run_analyses(
                    store, args.study, config.analysis, folder, outcomes=config.training.enabled
                )
                wall = time.perf_counter() - wall0
                own1, _ = _cpu()
                _stop_workers()
                _, kids1 = _cpu()
                print(
                    json.dumps(
                        {
                            "run": run,
                            "study": args.study,
                            "stage_wall_s": round(wall, 2),
                            "cpu_main_s": round(own1 - own0, 2),
                            "cpu_workers_s": round(kids1 - kids0, 2),
                            "load_average": os.getloadavg()[0],
                        }
                    ),
                    flush=True,
                )
            finally:
                shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
