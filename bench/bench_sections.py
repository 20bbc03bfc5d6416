"""Benchmark: the report sections accuracy_vs_sparsity, layer_collapse and topology_vs_weights.

Run: ``.venv/bin/python bench/bench_sections.py [--case demo|published] [--regressor xgboost]
[--n-repeats 5]``

The table is the synthetic one of ``bench/bench_analysis.py`` (``demo``: 240 networks,
``published``: 2,400) plus the 14 ``weights`` columns drawn at random (their values do
not change the cost), built once and not timed. Each section runs once into a report
object, in this process; the script prints one line of JSON per section with its CPU
seconds (``time.process_time``, what the machine's load does not inflate) and wall
seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from prunegraph.analysis import added_value, sparsity_curves
from prunegraph.analysis.cv import single_threaded_blas
from prunegraph.analysis.features import FeatureTable, load_features
from prunegraph.analysis.report import _Report
from prunegraph.analysis.weights import WEIGHT_COLUMNS


def _table(case: str) -> FeatureTable:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_analysis import demo_table, published_table

    frame, layers = demo_table() if case == "demo" else published_table()
    rng = np.random.default_rng(0)
    weights = pd.DataFrame(
        rng.normal(size=(len(frame), len(WEIGHT_COLUMNS))),
        columns=list(WEIGHT_COLUMNS),
        index=frame.index,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_features(pd.concat([frame, weights], axis=1), layers=layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("demo", "published"), default="demo")
    parser.add_argument("--regressor", default=added_value.REPORT_CV["regressor"])
    parser.add_argument("--n-repeats", type=int, default=added_value.REPORT_CV["n_repeats"])
    args = parser.parse_args()
    table = _table(args.case)
    added_value.REPORT_CV.update(regressor=args.regressor, n_repeats=args.n_repeats)
    sections = {
        "accuracy_vs_sparsity": sparsity_curves._accuracy_section,
        "layer_collapse": sparsity_curves._collapse_section,
        "topology_vs_weights": added_value._section,
    }
    with tempfile.TemporaryDirectory() as out, single_threaded_blas():
        report = _Report(Path(out))
        for name, run in sections.items():
            cpu, wall = time.process_time(), time.perf_counter()
            run(report, table)
            print(
                json.dumps(
                    {
                        "case": args.case,
                        "rows": len(table),
                        "section": name,
                        "regressor": args.regressor if name == "topology_vs_weights" else None,
                        "n_repeats": args.n_repeats if name == "topology_vs_weights" else None,
                        "cpu_s": round(time.process_time() - cpu, 2),
                        "wall_s": round(time.perf_counter() - wall, 2),
                    }
                )
            )


if __name__ == "__main__":
    main()
