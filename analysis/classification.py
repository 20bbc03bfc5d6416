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

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, MinMaxScaler

from prunegraph.analysis.cv import repeated_splits, single_threaded_blas
from prunegraph.analysis.features import CONFIGURATION_COLUMNS, FeatureTable, configuration_labels
from prunegraph.errors import PrunegraphError, UnknownNameError, ValidationError

TARGETS: tuple[str, ...] = ("pruner", "pruner_category")


def make_classifier(
    *, random_state: int = 0, n_estimators: int = 100, max_depth: int = 4
) -> Pipeline:
    """``SimpleImputer(median) -> MinMaxScaler -> XGBClassifier``."""
    from xgboost import XGBClassifier

    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", MinMaxScaler(clip=True)),
            (
                "model",
                XGBClassifier(
                    n_estimators=n_estimators,
                    max_depth=max_depth,
                    learning_rate=0.1,
                    n_jobs=1,
                    random_state=random_state,
                    verbosity=0,
                ),
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
    n_estimators: int = 100,
    random_state: int = 0,
) -> pd.DataFrame:
    """Per-repeat balanced accuracy of classifying ``target`` from ``feature_set``.

    Returns
    -------
    DataFrame
        Columns ``repeat, balanced_accuracy, n_rows, n_classes, chance`` where
        ``chance = 1 / n_classes`` is the balanced accuracy of a constant guess.
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
    X = frame[columns].astype(float).reset_index(drop=True)
    groups = configuration_labels(frame).to_numpy()
    oof = {r: np.full(len(X), -1) for r in range(n_repeats)}
    splits = repeated_splits(
        len(X),
        protocol=protocol,
        groups=groups,
        stratify=labels.to_numpy(),  # class names, so error messages name them
        n_splits=n_splits,
        n_repeats=n_repeats,
        random_state=random_state,
    )
    with single_threaded_blas():
        for repeat, _fold, train, test in splits:
            train_classes = np.unique(encoded[train])
            # XGBoost wants labels 0..K-1 present in training; remap per fold.
            remap = {c: i for i, c in enumerate(train_classes)}
            model = make_classifier(random_state=random_state + repeat, n_estimators=n_estimators)
            model.fit(X.iloc[train], np.array([remap[c] for c in encoded[train]]))
            oof[repeat][test] = train_classes[model.predict(X.iloc[test]).astype(int)]
    n_classes = int(labels.nunique())
    rows = [
        {
            "repeat": r,
            "balanced_accuracy": float(balanced_accuracy_score(encoded, pred)),
            "n_rows": len(X),
            "n_classes": n_classes,
            "chance": 1.0 / n_classes,
        }
        for r, pred in oof.items()
    ]
    return pd.DataFrame(rows)


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
    n_estimators: int = 100,
    random_state: int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """Cunegatti et al. 2023 Table 5: balanced accuracy mean/std per target, feature set, scenario, subset.

    Returns the table and notes on skipped cells (too few rows or classes).
    """
    rows, notes = [], []
    for target in targets:
        for feature_set in feature_sets:
            for scenario in scenarios:
                for subset, part in table.scenarios(scenario):
                    try:
                        scores = classify(
                            part,
                            target=target,
                            feature_set=feature_set,
                            protocol=protocol,
                            n_splits=n_splits,
                            n_repeats=n_repeats,
                            aggregate_seeds=aggregate_seeds,
                            n_estimators=n_estimators,
                            random_state=random_state,
                        )
                    except PrunegraphError as exc:
                        notes.append(
                            f"skipped {target} / {feature_set} / {scenario}={subset}: {exc}"
                        )
                        continue
                    acc = scores["balanced_accuracy"]
                    rows.append(
                        {
                            "target": target,
                            "feature_set": feature_set,
                            "scenario": scenario,
                            "subset": subset,
                            "balanced_accuracy_mean": float(acc.mean()),
                            "balanced_accuracy_std": float(acc.std(ddof=1))
                            if len(acc) > 1
                            else np.nan,
                            "chance": float(scores["chance"].iloc[0]),
                            "n_rows": int(scores["n_rows"].iloc[0]),
                            "n_classes": int(scores["n_classes"].iloc[0]),
                        }
                    )
    return pd.DataFrame(rows), notes
