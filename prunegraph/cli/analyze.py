"""``prunegraph analyze``: regression, importance, classification, ranking, Ramanujan, report.

Every action reads a feature table from the store (``--study NAME``) or from a
CSV/Parquet file (``--features FILE``, optional ``--layers FILE`` with per-layer
rows) and writes CSV (and HTML for ``report``) into ``--out DIR``.

``--weights`` adds the ``weights`` feature set (Unterthiner et al. 2020, see
:mod:`prunegraph.analysis.weights`) from a study's cache folder or from a
CSV/Parquet file of its columns with ``network_id``; every network of the table
must be in it. ``report`` adds the stability section from the store's
``SIMILAR`` pairs when it reads the store, or from ``--stability FILE``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from prunegraph.errors import ValidationError

ACTIONS = ("regress", "importance", "classify", "rank", "ramanujan", "predict", "report")


def _common(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("input")
    src.add_argument("--study", help="study name in the store (or filter of a --features file)")
    src.add_argument("--features", type=Path, help="feature table (.csv or .parquet)")
    src.add_argument("--layers", type=Path, help="per-layer rows (.csv or .parquet) for --features")
    src.add_argument(
        "--weights",
        type=Path,
        metavar="CACHE|FILE",
        help="add the 'weights' feature set: a study's cache folder (<output>/cache, the trained "
        "weights) or a .csv/.parquet of its w_* columns with network_id",
    )
    src.add_argument(
        "--normalisation",
        default="raw",
        choices=("raw", "paper", "minmax", "zscore"),
        help="feature normalisation (default raw; 'paper' = the scale of Cunegatti et al. 2024's "
        "released data, see docs/analysis.md)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    cv = p.add_argument_group("cross-validation")
    cv.add_argument("--protocol", default="grouped", choices=("grouped", "kfold"))
    cv.add_argument("--n-splits", type=int, default=5)
    cv.add_argument("--n-repeats", type=int, default=10)
    cv.add_argument("--seed", type=int, default=0, help="random state of the first repeat")
    cv.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes for the cells (default: 1, the report chooses by table size)",
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="regress, explain, classify and rank sparse networks from their topometrics",
        description=(
            "Analyses of a feature table (Cunegatti et al. 2024, sections 4.1-4.3; "
            "Cunegatti et al. 2023, section 4)."
        ),
    )
    sub = parser.add_subparsers(dest="analyze_command", metavar="ACTION")

    p = sub.add_parser("regress", help="cross-validated accuracy-drop regression (Table 3)")
    _common(p)
    p.add_argument("--feature-sets", default="mge,rolled,rolled_channel,ramanujan,density")
    p.add_argument("--scenarios", default="sparsity,architecture,all")
    p.add_argument(
        "--regressors",
        default=None,
        help="comma list (default: the 8 of Cunegatti et al. 2024 + xgboost)",
    )
    p.set_defaults(func=_regress)

    p = sub.add_parser("importance", help="correlation (Figs 3-4) and permutation importance")
    _common(p)
    p.add_argument("--feature-set", default="mge")
    p.set_defaults(func=_importance)

    p = sub.add_parser(
        "classify", help="classify pruner and category with XGBoost (Cunegatti et al. 2023)"
    )
    _common(p)
    p.add_argument("--feature-sets", default="mge")
    p.add_argument("--targets", default="pruner_category,pruner")
    p.add_argument("--aggregate-seeds", action="store_true", help="average seed replicates first")
    p.set_defaults(func=_classify)

    p = sub.add_parser(
        "rank", help="rank pruners by topometric mixture vs baselines, RBO (Table 4)"
    )
    _common(p)
    p.add_argument("--feature-set", default="mge")
    p.add_argument("--category", help="rank only pruners of this category (Tables 11-12)")
    p.add_argument("--importance", default="prediction", choices=("prediction", "target"))
    p.add_argument(
        "--scaling",
        default="architecture",
        choices=("architecture", "table"),
        help="min-max scale the mixture's topometrics per architecture (default) or over the table",
    )
    p.set_defaults(func=_rank)

    p = sub.add_parser("ramanujan", help="Ramanujan metrics vs layer density (Fig. 2, App. D)")
    _common(p)
    p.set_defaults(func=_ramanujan)

    p = sub.add_parser(
        "predict",
        help="predict accuracy drop and rank of untrained networks (with uncertainty)",
        description=(
            "Fit on the feature table, then predict CANDIDATES (.csv/.parquet with the "
            "feature-set columns and architecture, dataset, sparsity; acc_dense optional)."
        ),
    )
    _common(p)
    p.add_argument("--candidates", type=Path, required=True, help="networks to predict")
    p.add_argument("--feature-set", default="mge")
    p.add_argument("--coverage", type=float, default=0.9, help="interval coverage (default 0.9)")
    p.add_argument(
        "--new-cells",
        action="store_true",
        help="calibrate for unseen (architecture, dataset, sparsity) cells (group CV by them)",
    )
    p.set_defaults(func=_predict)

    p = sub.add_parser("report", help="every analysis into one HTML report plus CSV tables")
    _common(p)
    p.add_argument(
        "--stability",
        type=Path,
        metavar="PAIRS",
        help="stability pairs (.csv/.parquet, the columns of the similar_pairs query) for the "
        "stability section (default with --study and no --features: the stored SIMILAR pairs)",
    )
    p.add_argument("--sections", default="regression,importance,classification,ranking,ramanujan")
    p.set_defaults(func=_report)

    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _load(args: argparse.Namespace) -> Any:
    from prunegraph.analysis.features import load_features, read_table

    if args.features is None and args.study is None:
        raise ValidationError("Give --study NAME (read from the store) or --features FILE.")
    weights = getattr(args, "weights", None)
    if args.features is not None:
        frame = read_table(args.features)
        ids: Any = []
        if weights is not None:
            if "network_id" not in frame.columns:
                raise ValidationError(f"Feature file '{args.features}' has no 'network_id' column.")
            rows = frame
            if args.study is not None and "study" in frame.columns:
                rows = frame[frame["study"].astype(str) == args.study]
            ids = rows["network_id"]
        return load_features(
            frame,
            study=args.study,
            normalisation=args.normalisation,
            layers=args.layers,
            weights=None if weights is None else weight_table(weights, _ids(ids)),
        )
    from prunegraph.queries.store import Store

    with Store.connect() as store:
        table = None
        if weights is not None:
            stored = store.query("study_network_ids", study=args.study)
            table = weight_table(
                weights, [r["network_id"] for r in stored if r["status"] == "complete"]
            )
        return load_features(
            store, study=args.study, normalisation=args.normalisation, weights=table
        )


def _ids(values: Any) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values))


def _some(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def weight_table(source: Path, network_ids: list[str]) -> Any:
    """The ``weights`` feature set of ``network_ids`` (indexed by ``network_id``) from ``--weights``.

    Parameters
    ----------
    source : Path
        A study's cache folder (``<output>/cache`` or its ``networks`` subfolder,
        holding ``<network_id>.pt``), or a ``.csv``/``.parquet`` file with a
        ``network_id`` column and columns of
        :data:`~prunegraph.analysis.weights.WEIGHT_COLUMNS`.
    network_ids : list of str
        The networks of the feature table.

    Raises
    ------
    ValidationError
        The folder or file does not exist, the file has no ``network_id`` or
        unknown columns, or it lacks some of ``network_ids`` (the message names
        them and their count).
    """
    from prunegraph.analysis.features import read_table
    from prunegraph.analysis.weights import WEIGHT_COLUMNS, weight_features

    ids = _ids(network_ids)
    if source.is_dir():
        folder = source / "networks" if (source / "networks").is_dir() else source
        missing = [i for i in ids if not (folder / f"{i}.pt").is_file()]
        if missing:
            raise ValidationError(
                f"The weights cache folder '{folder}' lacks the entry of {len(missing)} of the "
                f"{len(ids)} networks: {_some(missing)} (<network_id>.pt, written by "
                "'prunegraph study run' when the study trains). Give the cache of the study "
                "that stored them, or a CSV of the weights columns with network_id."
            )
        return weight_features(folder, ids)
    if not source.exists():
        raise ValidationError(
            f"--weights '{source}' does not exist (a study's cache folder or a .csv/.parquet)."
        )
    frame = read_table(source)
    if "network_id" not in frame.columns:
        raise ValidationError(f"The weights file '{source}' has no 'network_id' column.")
    unknown = [c for c in frame.columns if c != "network_id" and c not in WEIGHT_COLUMNS]
    if unknown:
        raise ValidationError(
            f"The weights file '{source}' has unknown column(s) {', '.join(unknown)}; "
            f"expected network_id and some of {', '.join(WEIGHT_COLUMNS)}."
        )
    frame = frame.assign(network_id=frame["network_id"].astype(str))
    present = set(frame["network_id"])
    missing = [i for i in ids if i not in present]
    if missing:
        raise ValidationError(
            f"The weights file '{source}' lacks {len(missing)} of the {len(ids)} networks: "
            f"{_some(missing)}."
        )
    return frame.drop_duplicates("network_id", keep="last").set_index("network_id")


def _cv(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "protocol": args.protocol,
        "n_splits": args.n_splits,
        "n_repeats": args.n_repeats,
        "random_state": args.seed,
    }


def _write(frame: Any, out: Path, name: str, *, index: bool = False) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.csv"
    frame.to_csv(path, index=index)
    print(f"wrote {path} ({len(frame)} rows)")
    return path


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"note: {note}")


def _regress(args: argparse.Namespace) -> int:
    from prunegraph.analysis.regression import DEFAULT_REGRESSORS, regress
    from prunegraph.analysis.report import score_table

    table = _load(args)
    study = regress(
        table,
        feature_sets=_split(args.feature_sets),
        scenarios=_split(args.scenarios),
        regressors=_split(args.regressors) if args.regressors else DEFAULT_REGRESSORS,
        adapt_splits=True,
        keep_models=False,
        refit=False,
        n_jobs=args.jobs,
        **_cv(args),
    )
    _print_notes(study.notes)
    _write(study.summary, args.out, "regression")
    if not study.summary.empty:
        _write(score_table(study.summary, metric="r2_adj"), args.out, "table3_r2_adj", index=True)
        both = score_table(study.summary, metric="r2_adj", beside="r2")
        _write(both, args.out, "table3_r2_adj_vs_r2", index=True)
        _write(score_table(study.summary, metric="mae"), args.out, "table3_mae", index=True)
    return 0


def _importance(args: argparse.Namespace) -> int:
    from prunegraph.analysis.importance import importance_matrix, permutation_importance_cv
    from prunegraph.analysis.regression import regress

    table = _load(args)
    study = regress(
        table,
        feature_sets=[args.feature_set],
        scenarios=["sparsity", "architecture"],
        adapt_splits=True,
        keep_models=False,
        refit=False,
        n_jobs=args.jobs,
        **_cv(args),
    )
    _print_notes(study.notes)
    for scenario in ("sparsity", "architecture"):
        matrix = importance_matrix(study, table, scenario=scenario, feature_set=args.feature_set)
        if not matrix.empty:
            _write(matrix, args.out, f"importance_{scenario}", index=True)
    perm = permutation_importance_cv(
        table.X(args.feature_set), table.y, groups=table.groups, **_cv(args)
    )
    _write(perm, args.out, "permutation_importance", index=True)
    return 0


def _classify(args: argparse.Namespace) -> int:
    from prunegraph.analysis.classification import classification_table

    table = _load(args)
    result, notes = classification_table(
        table,
        targets=_split(args.targets),
        feature_sets=_split(args.feature_sets),
        aggregate_seeds=args.aggregate_seeds,
        adapt_splits=True,
        n_jobs=args.jobs,
        **_cv(args),
    )
    _print_notes(notes)
    _write(result, args.out, "classification")
    return 0


def _rank(args: argparse.Namespace) -> int:
    from prunegraph.analysis.ranking import rank_pruners

    table = _load(args)
    result = rank_pruners(
        table,
        feature_set=args.feature_set,
        category=args.category,
        importance=args.importance,
        random_state=args.seed,
        scaling=args.scaling,
    )
    _print_notes(result.notes)
    _write(result.scores, args.out, "ranking_scores")
    _write(result.table(), args.out, "ranking_table")
    return 0


def _ramanujan(args: argparse.Namespace) -> int:
    from prunegraph.analysis.ramanujan import density_correlations, plot_density_profiles
    from prunegraph.analysis.report import figure_to_base64

    table = _load(args)
    _write(density_correlations(table), args.out, "ramanujan_correlations")
    import base64

    for sparsity in sorted(table.data["sparsity"].unique()):
        path = args.out / f"ramanujan_s{sparsity}.png"
        path.write_bytes(
            base64.b64decode(
                figure_to_base64(plot_density_profiles(table, sparsity=float(sparsity)))
            )
        )
        print(f"wrote {path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from prunegraph.analysis.features import CONFIGURATION_COLUMNS, read_table
    from prunegraph.analysis.predict import RANK_KEYS, predict_new

    table = _load(args)
    candidates = read_table(args.candidates)
    result = predict_new(
        table,
        candidates,
        feature_set=args.feature_set,
        group_by=RANK_KEYS if args.new_cells else CONFIGURATION_COLUMNS,
        coverage=args.coverage,
        **_cv(args),
    )
    _write(result, args.out, "predictions")
    return 0


def stability_pairs(args: argparse.Namespace) -> Any:
    """The stability pairs of ``analyze report``: ``--stability FILE``, else the store's.

    Read from the store (library query ``similar_pairs``) when the feature table
    is (``--study`` without ``--features``); None for a feature file without
    ``--stability`` (the report then has no stability section).
    """
    from prunegraph.analysis.stability_report import PAIR_COLUMNS

    if args.stability is not None:
        from prunegraph.analysis.features import read_table

        pairs = read_table(args.stability)
        missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
        if missing:
            raise ValidationError(
                f"The stability pairs '{args.stability}' lack column(s) {', '.join(missing)} "
                "(write them with: prunegraph query similar_pairs -p study=NAME --format csv)."
            )
        return pairs
    if args.features is not None:
        return None
    from prunegraph.queries.store import Store

    with Store.connect() as store:
        return store.query_df("similar_pairs", study=args.study)


def _report(args: argparse.Namespace) -> int:
    from prunegraph.analysis.report import write_report

    table = _load(args)
    path = write_report(
        table,
        args.out,
        sections=_split(args.sections),
        n_jobs=args.jobs,
        stability=stability_pairs(args),
        **_cv(args),
    )
    print(f"wrote {path}")
    return 0
