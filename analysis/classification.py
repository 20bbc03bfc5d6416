"""Classification of the pruner and of its category from topometrics (Cunegatti et al. 2023 section 4.1, Table 5).

XGBoost (``SimpleImputer -> MinMaxScaler -> XGBClassifier`` on label-encoded
classes), stratified k-fold (``StratifiedGroupKFold`` under the ``grouped``
protocol, ``StratifiedKFold`` under ``kfold``), repeated; the score of a repeat
is the balanced accuracy ``(1/C) sum_c recall_c`` of its pooled out-of-fold
predictions. With ``aggregate_seeds=True`` the features of the seed replicates
of a configuration are averaged first (Cunegatti et al. 2023's protocol), so every
configuration is one row and the two protocols coincide.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, MinMaxScaler

from prunegraph.analysis.cells import Pending, map_cells
from prunegraph.analysis.cv import fast_fitting, fit_splits, repeated_splits
from prunegraph.analysis.features import CONFIGURATION_COLUMNS, FeatureTable, configuration_labels
from prunegraph.analysis.regression import FoldScaler, xgboost_train
from prunegraph.errors import PrunegraphError, UnknownNameError, ValidationError

TARGETS: tuple[str, ...] = ("pruner", "pruner_category")


#: XGBoost sized for tables of 10^2-10^4 rows: a multi-class fit grows one tree per class
#: per round at a fixed cost each, so 30 rounds of depth 3 at learning rate 0.3, 32
#: histogram bins, one thread per fit (cells run in parallel instead).
CLASSIFIER_PARAMS: dict[str, Any] = {
    "n_estimators": 30,
    "max_depth": 3,
    "learning_rate": 0.3,
    "tree_method": "hist",
    "max_bin": 32,
    "n_jobs": 1,
}


def _xgb_classifier(random_state: int, **params: Any) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(**(CLASSIFIER_PARAMS | params), random_state=random_state, verbosity=0)


def fit_predict_classes(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    *,
    random_state: int = 0,
    **params: Any,
) -> np.ndarray:
    """Fit XGBoost on ``x_train`` (labels ``0..K-1``) and return the classes predicted for ``x_test``.

    The model and the predictions of ``XGBClassifier(**(CLASSIFIER_PARAMS | params))``:
    ``binary:logistic`` for two classes (class 1 where its probability exceeds 0.5),
    ``multi:softprob`` with ``num_class = K`` otherwise (the most probable class), trained
    through XGBoost's native API (:func:`~prunegraph.analysis.regression.xgboost_train`),
    which skips the wrapper's per-fit label checks and meta-data copies (the unit tests
    compare both). The saving is that overhead only: ~10 % of the classification's CPU
    on the published-size table; the boosting itself is the rest.
    """
    n_classes = int(np.max(y_train)) + 1
    settings = {**CLASSIFIER_PARAMS, **params, "random_state": random_state}
    if n_classes > 2:
        settings["num_class"] = n_classes
        objective = "multi:softprob"
    else:
        objective = "binary:logistic"
    booster = xgboost_train(x_train, y_train, settings, objective=objective)
    proba = np.asarray(booster.inplace_predict(np.asarray(x_test, dtype=float)))
    if proba.ndim > 1:
        return proba.argmax(axis=1)
    return (proba > 0.5).astype(int)


def make_classifier(
    *, random_state: int = 0, n_estimators: int = 30, max_depth: int = 3
) -> Pipeline:
    """``SimpleImputer(median) -> MinMaxScaler -> XGBClassifier`` (:data:`CLASSIFIER_PARAMS`)."""
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", MinMaxScaler(clip=True)),
            (
                "model",
                _xgb_classifier(random_state, n_estimators=n_estimators, max_depth=max_depth),
            ),
        ]
    )


def _aggregate(table: FeatureTable, columns: list[str]) -> pd.DataFrame:
    keys = [*CONFIGURATION_COLUMNS, "pruner_category"]
    return table.data.groupby(keys, as_index=False, sort=True)[columns].mean()


def classify(
    table: FeatureTable,
    *,
    target: str = "pruner",
    feature_set: str | Sequence[str] = "mge",
    protocol: str = "grouped",
    n_splits: int = 5,
    n_repeats: int = 10,
    aggregate_seeds: bool = False,
    n_estimators: int = 30,
    random_state: int = 0,
    adapt_splits: bool = False,
) -> pd.DataFrame:
    """Per-repeat balanced accuracy of classifying ``target`` from ``feature_set``.

    Every fold is imputed and scaled once (the numpy
    :class:`~prunegraph.analysis.regression.FoldScaler`, same semantics as the
    pipeline of :func:`make_classifier`) and the classifier fitted on arrays.

    Parameters
    ----------
    adapt_splits : bool
        When a class has fewer configurations (``grouped``) or members
        (``kfold``) than ``n_splits``, use that many folds (at least 2) instead of
        refusing the cell (:func:`~prunegraph.analysis.cv.fit_splits`).

    Returns
    -------
    DataFrame
        Columns ``repeat, balanced_accuracy, n_rows, n_classes, chance, n_splits, cv``
        where ``chance = 1 / n_classes`` is the balanced accuracy of a constant
        guess and ``cv`` says how the folds were made.
    """
    if target not in TARGETS:
        raise UnknownNameError("classification target", target, TARGETS)
    columns = table.feature_columns(feature_set)
    if not columns:
        raise ValidationError(f"Feature set '{feature_set}' has no usable column in this table.")
    frame = _aggregate(table, columns) if aggregate_seeds else table.data
    labels = frame[target].astype(str)
    if labels.nunique() < 2:
        raise ValidationError(
            f"Classifying '{target}' needs at least 2 classes; this table has {labels.nunique()}."
        )
    encoded = LabelEncoder().fit_transform(labels)
    values = frame[columns].to_numpy(dtype=float)
    groups = configuration_labels(frame).to_numpy()
    cv = f"{protocol} {n_splits}-fold"
    if adapt_splits and isinstance(n_splits, int) and n_splits >= 2:
        n_splits, cv = fit_splits(
            len(values), n_splits=n_splits, protocol=protocol, groups=groups, stratify=labels
        )
    oof = {r: np.full(len(values), -1) for r in range(n_repeats)}
    splits = repeated_splits(
        len(values),
        protocol=protocol,
        groups=groups,
        stratify=labels.to_numpy(),  # class names, so error messages name them
        n_splits=n_splits,
        n_repeats=n_repeats,
        random_state=random_state,
    )
    with fast_fitting():
        for repeat, _fold, train, test in splits:
            train_classes = np.unique(encoded[train])
            # XGBoost wants labels 0..K-1 present in training; remap per fold.
            remap = np.full(int(encoded.max()) + 1, -1)
            remap[train_classes] = np.arange(len(train_classes))
            scaler = FoldScaler(values[train])
            predicted = fit_predict_classes(
                scaler.transform(values[train]),
                remap[encoded[train]],
                scaler.transform(values[test]),
                random_state=random_state + repeat,
                n_estimators=n_estimators,
            )
            oof[repeat][test] = train_classes[predicted]
    n_classes = int(labels.nunique())
    rows = [
        {
            "repeat": r,
            "balanced_accuracy": float(balanced_accuracy_score(encoded, pred)),
            "n_rows": len(values),
            "n_classes": n_classes,
            "chance": 1.0 / n_classes,
            "n_splits": int(n_splits),
            "cv": cv,
        }
        for r, pred in oof.items()
    ]
    return pd.DataFrame(rows)


def _classify_cell(
    key: tuple[str, str, str, str], part: FeatureTable, settings: dict[str, Any]
) -> tuple[tuple[str, str, str, str], pd.DataFrame | str]:
    target, feature_set = key[0], key[1]
    try:
        return key, classify(part, target=target, feature_set=feature_set, **settings)
    except PrunegraphError as exc:
        return key, str(exc)


def classification_table(
    table: FeatureTable,
    *,
    targets: Sequence[str] = ("pruner_category", "pruner"),
    feature_sets: Sequence[str] = ("mge",),
    scenarios: Sequence[str] = ("all", "sparsity", "architecture"),
    protocol: str = "grouped",
    n_splits: int = 5,
    n_repeats: int = 10,
    aggregate_seeds: bool = False,
    n_estimators: int = 30,
    random_state: int = 0,
    adapt_splits: bool = False,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Cunegatti et al. 2023 Table 5: balanced accuracy per target, feature set, scenario, subset.

    Columns ``target, feature_set, scenario, subset, balanced_accuracy_mean,
    balanced_accuracy_std`` (sample standard deviation over repeats, ddof = 1),
    ``chance, n_rows, n_classes, n_splits, cv``. ``adapt_splits`` fits the folds to
    small cells (see :func:`classify`); ``n_jobs`` runs cells in worker processes,
    ``executor`` on a process pool (:func:`~prunegraph.analysis.cells.cell_executor`).
    Returns the table and notes on skipped cells (too few rows or classes).
    """
    return classification_pending(
        table,
        targets=targets,
        feature_sets=feature_sets,
        scenarios=scenarios,
        protocol=protocol,
        n_splits=n_splits,
        n_repeats=n_repeats,
        aggregate_seeds=aggregate_seeds,
        n_estimators=n_estimators,
        random_state=random_state,
        adapt_splits=adapt_splits,
        n_jobs=n_jobs,
        executor=executor,
    ).result()


def classification_pending(
    table: FeatureTable,
    *,
    targets: Sequence[str] = ("pruner_category", "pruner"),
    feature_sets: Sequence[str] = ("mge",),
    scenarios: Sequence[str] = ("all", "sparsity", "architecture"),
    protocol: str = "grouped",
    n_splits: int = 5,
    n_repeats: int = 10,
    aggregate_seeds: bool = False,
    n_estimators: int = 30,
    random_state: int = 0,
    adapt_splits: bool = False,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> Pending[tuple[pd.DataFrame, list[str]]]:
    """:func:`classification_table` with its cells submitted to ``executor``, collected on ``result()``."""
    settings = {
        "protocol": protocol,
        "n_splits": n_splits,
        "n_repeats": n_repeats,
        "aggregate_seeds": aggregate_seeds,
        "n_estimators": n_estimators,
        "random_state": random_state,
        "adapt_splits": adapt_splits,
    }
    cells = [
        ((target, feature_set, scenario, subset), part)
        for target in targets
        for feature_set in feature_sets
        for scenario in scenarios
        for subset, part in table.scenarios(scenario)
    ]
    if executor is not None or (n_jobs is not None and n_jobs != 1 and len(cells) > 1):
        # workers get the rows without the per-layer table (unused here), largest cells
        # first (rows x columns x classes), so no worker is left with a big one at the end
        def size(cell: tuple[tuple[str, str, str, str], FeatureTable]) -> int:
            (target, feature_set, _, _), part = cell
            n_classes = part.data[target].nunique()
            return len(part) * len(part.feature_columns(feature_set)) * max(n_classes, 2)

        order = sorted(range(len(cells)), key=lambda i: -size(cells[i]))
        run = map_cells(
            _classify_cell,
            [(key, part.part(layers=None), settings) for key, part in cells],
            n_jobs=n_jobs,
            executor=executor,
            order=order,
        )
    else:
        run = map_cells(_classify_cell, [(key, part, settings) for key, part in cells])
    return Pending(lambda: _classification_rows(run()))


def _classification_rows(
    results: Sequence[tuple[tuple[str, str, str, str], pd.DataFrame | str]],
) -> tuple[pd.DataFrame, list[str]]:
    rows, notes = [], []
    for (target, feature_set, scenario, subset), scores in results:
        if isinstance(scores, str):
            notes.append(f"skipped {target} / {feature_set} / {scenario}={subset}: {scores}")
            continue
        acc = scores["balanced_accuracy"]
        rows.append(
            {
                "target": target,
                "feature_set": feature_set,
                "scenario": scenario,
                "subset": subset,
                "balanced_accuracy_mean": float(acc.mean()),
                "balanced_accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else np.nan,
                "chance": float(scores["chance"].iloc[0]),
                "n_rows": int(scores["n_rows"].iloc[0]),
                "n_classes": int(scores["n_classes"].iloc[0]),
                "n_splits": int(scores["n_splits"].iloc[0]),
                "cv": str(scores["cv"].iloc[0]),
            }
        )
    return pd.DataFrame(rows), notes
