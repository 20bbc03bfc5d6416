"""Benchmark: the analysis report at the published scale and at the demo's scale.

Run: ``.venv/bin/python bench/bench_analysis.py [--case published|demo] [--n-repeats 10]``

``published`` is a synthetic table the size of the authors' released data
(Cunegatti et al. 2024, TMLR): 4 architectures x 3 datasets x 7 pruners x 5
sparsities = 420 configurations and 2,400 networks, 16 MGE topometrics (the
paper's Table 2, i.e. without ``motif3``) with their rolled and rolled-channel
copies, the per-layer summaries and per-layer rows. The released table has
unequal replicates per configuration (2,337 networks, 5-6 each), so the bench
draws 6 seeds (2,520 rows) and removes 120 at random, keeping at least 3 per
configuration. ``demo`` is the size of the demo study: 2 models x 12 pruners x
5 sparsities x 2 seeds = 240 networks on one dataset.

The table is built once (not timed); the timed part is ``write_report`` with
every section (regression, importance, classification, ranking, Ramanujan), the
way ``prunegraph analyze report`` runs it after loading the file. Prints one line
of JSON with the wall seconds of each run and their min/median. ``--jobs 1`` keeps
every fit in the timed process, so an outside timer (``/usr/bin/time``) sees all the
CPU time (worker processes of the default parallel run may not be counted).
Targets: published <= 60 s, demo <= 15 s (2 cores, 10 repeats; issues 16 and 18).

``--parts`` times, instead of the report, each analysis it runs, one after the
other in this process (CPU seconds from ``time.process_time`` and wall seconds):
the regression cells, the correlation importance, the permutation importance, the
classification cells, the three rankings (all pruners and per category) and the
Ramanujan correlations and profile figures, with the report's settings (and
``--jobs`` workers for the cells). It only calls functions that older versions have
too, so the same script times an older checkout put first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from prunegraph.analysis.features import load_features
from prunegraph.analysis.report import write_report
from prunegraph.analysis.synthetic import make_synthetic_features

_PRUNERS_7 = ("snip", "grasp", "synflow", "uniform", "er", "erk", "prospr")
_PRUNERS_12 = (*_PRUNERS_7, "magnitude", "lamp", "imp", "set", "rigl")


def published_table(rows: int = 2400, random_state: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The published-size table (see the module docstring) and its per-layer rows."""
    frame, layers = make_synthetic_features(
        architectures=("conv6", "resnet20", "resnet32", "wrn28_2"),
        datasets=("cifar10", "cifar100", "tinyimagenet"),
        pruners=_PRUNERS_7,
        sparsities=(0.6, 0.8, 0.9, 0.95, 0.98),
        n_seeds=6,
        n_layers=8,
        random_state=random_state,
        return_layers=True,
    )
    rng = np.random.default_rng(random_state)
    removable = frame.index[frame["seed"] >= 3].to_numpy()  # keeps >= 3 per configuration
    drop = rng.choice(removable, size=len(frame) - rows, replace=False)
    frame = frame.drop(index=drop).reset_index(drop=True)
    frame = frame.drop(columns=[c for c in ("motif3",) if c in frame.columns])
    layers = layers[layers["network_id"].isin(set(frame["network_id"]))]
    return frame, layers


def demo_table(random_state: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A demo-sized table: 2 models x 12 pruners x 5 sparsities x 2 seeds = 240 networks."""
    frame, layers = make_synthetic_features(
        architectures=("mlp", "lenet5"),
        datasets=("digits",),
        pruners=_PRUNERS_12,
        sparsities=(0.5, 0.7, 0.8, 0.9, 0.95),
        n_seeds=2,
        n_layers=3,
        random_state=random_state,
        return_layers=True,
    )
    return frame, layers


def time_parts(table: Any, n_repeats: int, jobs: int | None) -> dict[str, dict[str, float]]:
    """CPU and wall seconds of each analysis the report runs (see the module docstring)."""
    from prunegraph.analysis.classification import classification_table
    from prunegraph.analysis.importance import importance_matrix, permutation_importance_cv
    from prunegraph.analysis.ramanujan import density_correlations, plot_density_profiles
    from prunegraph.analysis.ranking import rank_pruners
    from prunegraph.analysis.regression import XGBOOST_PARAMS, regress

    state: dict[str, Any] = {}
    trees = XGBOOST_PARAMS["n_estimators"]
    cv = {"n_repeats": n_repeats, "random_state": 0}

    def regression() -> None:
        state["study"] = regress(
            table,
            regressor_params={"xgboost": {"n_estimators": trees}},
            adapt_splits=True,
            keep_models=False,
            refit=False,
            n_jobs=jobs,
            **cv,
        )

    def importance() -> None:
        for scenario in ("sparsity", "architecture"):
            importance_matrix(state["study"], table, scenario=scenario, feature_set="mge")

    def permutation() -> None:
        permutation_importance_cv(
            table.X("mge"),
            table.y,
            groups=table.groups,
            n_repeats=max(1, min(n_repeats, 3)),
            random_state=0,
            regressor_params={"n_estimators": trees},
        )

    def classification() -> None:
        classification_table(
            table,
            feature_sets=[fs for fs in ("mge", "all") if table.feature_columns(fs)],
            adapt_splits=True,
            n_jobs=jobs,
            **cv,
        )

    def ranking() -> None:
        categories = sorted(table.data["pruner_category"].unique())
        for category in [None, *(categories if len(categories) > 1 else [])]:
            rank_pruners(table, category=category, random_state=0)

    def ramanujan() -> None:
        import matplotlib.pyplot as plt

        density_correlations(table)
        for sparsity in sorted(table.data["sparsity"].unique()):
            fig = plot_density_profiles(table, sparsity=float(sparsity))
            fig.savefig(io.BytesIO(), format="png", dpi=100)
            plt.close(fig)

    parts = {}
    for name, run in (
        ("regression", regression),
        ("importance", importance),
        ("permutation_importance", permutation),
        ("classification", classification),
        ("ranking", ranking),
        ("ramanujan", ramanujan),
    ):
        cpu, wall = time.process_time(), time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run()
        parts[name] = {
            "cpu": round(time.process_time() - cpu, 2),
            "wall": round(time.perf_counter() - wall, 2),
        }
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("published", "demo"), default="published")
    parser.add_argument("--n-repeats", type=int, default=10, help="CV repeats (default 10)")
    parser.add_argument("--runs", type=int, default=1, help="timed report runs (default 1)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="n_jobs of write_report (default: its own choice; 1 keeps all CPU time in one "
        "process, so an outside timer counts all of it)",
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="time each analysis of the report separately instead of the report (CPU and wall)",
    )
    args = parser.parse_args(argv)
    frame, layers = published_table() if args.case == "published" else demo_table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load_features(frame, layers=layers)
    if args.parts:
        parts = time_parts(table, args.n_repeats, args.jobs)
        total = {k: round(sum(p[k] for p in parts.values()), 2) for k in ("cpu", "wall")}
        print(
            json.dumps(
                {"case": args.case, "n_repeats": args.n_repeats, "parts": parts, "total": total}
            )
        )
        return 0
    seconds = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            extra = {} if args.jobs is None else {"n_jobs": args.jobs}  # older versions lack it
            write_report(table, out, n_repeats=args.n_repeats, **extra)
            seconds.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "case": args.case,
                "rows": len(table),
                "configurations": int(table.groups.nunique()),
                "n_repeats": args.n_repeats,
                "seconds": [round(s, 2) for s in seconds],
                "min": round(min(seconds), 2),
                "median": round(statistics.median(seconds), 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
