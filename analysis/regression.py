"""Regression of the accuracy drop (Cunegatti et al. 2024 section 4.2.1 and Appendix A.6, Cunegatti et al. 2023 Table 6).

Every regressor is a ``Pipeline(SimpleImputer(median) -> MinMaxScaler(clip=True) -> model)``
so imputation and scaling are learnt on the training folds only. Test values outside
the training range are clipped to it: heavy-tailed metrics (``delta_r_rel`` divides by
an eigenvalue that can be ~0) otherwise make linear models extrapolate by 10^6+. Scores are
computed per repeat on the pooled out-of-fold predictions of its k folds:

* ``r2 = 1 - sum_i (y_i - yhat_i)^2 / sum_i (y_i - ybar)^2``;
* adjusted ``r2_adj = 1 - (1 - r2) (n - 1) / (n - p - 1)`` with ``n`` rows and
  ``p`` features (NaN when ``n - p - 1 <= 0``);
* ``mae = (1/n) sum_i |y_i - yhat_i|``.

Summaries give mean, standard deviation and the 2.5-97.5 percentile interval
over repeats, per regressor and for ``paper_mean`` (the per-repeat mean over the
eight Cunegatti et al. 2024 regressors, which is what Cunegatti et al. 2024 Table 3 reports).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    ARDRegression,
    BayesianRidge,
    ElasticNet,
    HuberRegressor,
    Lasso,
    LinearRegression,
    Ridge,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from prunegraph._registry import Registry
from prunegraph.analysis.cv import check_cv_inputs, repeated_splits, single_threaded_blas
from prunegraph.analysis.features import FeatureTable
from prunegraph.errors import PrunegraphError, ValidationError

RegressorFactory = Callable[[int], Any]
REGRESSORS: Registry[RegressorFactory] = Registry("regressor")

# Small penalties: with min-max scaled features and drops in [0, 1], scikit-learn's
# default alpha=1 zeroes every Lasso/ElasticNet coefficient.
REGRESSORS.add("linear", lambda seed: LinearRegression())
REGRESSORS.add("ridge", lambda seed: Ridge(alpha=1.0))
REGRESSORS.add("lasso", lambda seed: Lasso(alpha=1e-3, max_iter=10_000))
REGRESSORS.add("elastic_net", lambda seed: ElasticNet(alpha=1e-3, l1_ratio=0.5, max_iter=10_000))
REGRESSORS.add("huber", lambda seed: HuberRegressor(max_iter=1_000))
REGRESSORS.add(
    "pcr",
    lambda seed: Pipeline(
        [("pca", PCA(n_components=0.95, svd_solver="full")), ("linear", LinearRegression())]
    ),
)
REGRESSORS.add("bayesian_ridge", lambda seed: BayesianRidge())
REGRESSORS.add("ard", lambda seed: ARDRegression())


def _xgboost(seed: int) -> Any:
    from xgboost import XGBRegressor

    return XGBRegressor(
        n_estimators=200, max_depth=3, learning_rate=0.1, n_jobs=1, random_state=seed, verbosity=0
    )


REGRESSORS.add("xgboost", _xgboost)

#: The eight regressors of Cunegatti et al. 2024 Appendix A.6.
PAPER_REGRESSORS: tuple[str, ...] = (
    "linear",
    "ridge",
    "lasso",
    "elastic_net",
    "huber",
    "pcr",
    "bayesian_ridge",
    "ard",
)
DEFAULT_REGRESSORS: tuple[str, ...] = (*PAPER_REGRESSORS, "xgboost")
SCORE_COLUMNS: tuple[str, ...] = ("r2", "r2_adj", "mae")


def make_regressor(name: str, *, random_state: int = 0, **params: Any) -> Pipeline:
    """The pipeline ``SimpleImputer(median) -> MinMaxScaler -> <name>``.

    ``params`` are set on the model step (e.g. ``alpha=0.01`` for ``ridge``,
    ``n_estimators=20`` for ``xgboost``).
    """
    model = REGRESSORS.get(name)(random_state)
    if params:
        model.set_params(**params)
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", MinMaxScaler(clip=True)),
            ("model", model),
        ]
    )


def adjusted_r2(r2: float, n_samples: int, n_features: int) -> float:
    """``1 - (1 - r2) (n - 1) / (n - p - 1)``; NaN when ``n - p - 1 <= 0``."""
    dof = n_samples - n_features - 1
    if dof <= 0:
        return float("nan")
    return 1.0 - (1.0 - r2) * (n_samples - 1) / dof


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0:
        return float("nan")
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot


def check_xy(X: Any, y: Any, caller: str) -> tuple[pd.DataFrame, pd.Series]:
    """Validate ``X`` (DataFrame of numbers) and ``y`` (Series, no NaN) of equal length."""
    if not isinstance(X, pd.DataFrame):
        raise ValidationError(
            f"The 'X' parameter of {caller} must be a pandas DataFrame. Got {type(X).__name__} instead."
        )
    if not isinstance(y, pd.Series):
        raise ValidationError(
            f"The 'y' parameter of {caller} must be a pandas Series. Got {type(y).__name__} instead."
        )
    if len(X) != len(y):
        raise ValidationError(f"{caller}: X has {len(X)} rows but y has {len(y)}.")
    if X.shape[1] == 0:
        raise ValidationError(f"{caller}: X has no feature column.")
    if y.isna().any():
        raise ValidationError(f"{caller}: y has {int(y.isna().sum())} NaN value(s).")
    non_numeric = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if non_numeric:
        raise ValidationError(f"{caller}: non-numeric feature column(s) {', '.join(non_numeric)}.")
    all_nan = [c for c in X.columns if X[c].isna().all()]
    if all_nan:
        raise ValidationError(f"{caller}: feature column(s) entirely NaN: {', '.join(all_nan)}.")
    return X.reset_index(drop=True), y.reset_index(drop=True)


def summarise_scores(scores: pd.DataFrame, by: Sequence[str] = ("regressor",)) -> pd.DataFrame:
    """Mean, std and 2.5/97.5 percentiles over repeats of every score column."""
    stats = []
    for keys, part in scores.groupby(list(by), sort=False):
        row: dict[str, Any] = dict(
            zip(by, keys if isinstance(keys, tuple) else (keys,), strict=True)
        )
        row["n_repeats"] = len(part)
        for col in SCORE_COLUMNS:
            values = part[col].to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            row[f"{col}_mean"] = float(finite.mean()) if finite.size else np.nan
            row[f"{col}_std"] = float(finite.std(ddof=1)) if finite.size > 1 else np.nan
            row[f"{col}_lo"] = float(np.percentile(finite, 2.5)) if finite.size else np.nan
            row[f"{col}_hi"] = float(np.percentile(finite, 97.5)) if finite.size else np.nan
        stats.append(row)
    return pd.DataFrame(stats)


class RegressorPanel(RegressorMixin, BaseEstimator):
    """Several regressors cross-validated on the same repeated splits.

    Parameters
    ----------
    regressors : sequence of str
        Names in :data:`REGRESSORS` (default: the eight of Cunegatti et al. 2024 plus XGBoost).
    protocol : {'grouped', 'kfold'}
        Cross-validation protocol (see :mod:`prunegraph.analysis.cv`).
    n_splits, n_repeats : int
        ``k`` of k-fold and how many reshuffled repetitions.
    random_state : int
        Repeat ``r`` shuffles with ``random_state + r``.
    regressor_params : mapping, optional
        ``{name: {param: value}}`` set on the model steps.

    Attributes
    ----------
    scores_ : DataFrame
        One row per (regressor, repeat): ``r2, r2_adj, mae, n, p``.
    summary_ : DataFrame
        :func:`summarise_scores` of ``scores_`` plus the ``paper_mean`` row.
    oof_predictions_ : DataFrame
        Out-of-fold predictions, columns ``(regressor, repeat)``.
    fold_estimators_ : dict
        ``{regressor: [fitted pipeline per (repeat, fold)]}`` (the CV ensemble).
    estimators_ : dict
        ``{regressor: pipeline fitted on all rows}``.
    feature_names_in_ : ndarray
    """

    def __init__(
        self,
        *,
        regressors: Sequence[str] = DEFAULT_REGRESSORS,
        protocol: str = "grouped",
        n_splits: int = 5,
        n_repeats: int = 10,
        random_state: int = 0,
        regressor_params: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.regressors = regressors
        self.protocol = protocol
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.random_state = random_state
        self.regressor_params = regressor_params

    def _pipeline(self, name: str, seed: int) -> Pipeline:
        params = dict((self.regressor_params or {}).get(name, {}))
        return make_regressor(name, random_state=seed, **params)

    def fit(self, X: pd.DataFrame, y: pd.Series, groups: pd.Series | None = None) -> RegressorPanel:
        """Cross-validate every regressor, then refit each on all rows; returns ``self``."""
        X, y = check_xy(X, y, "RegressorPanel.fit")
        names = list(self.regressors)
        if not names:
            raise ValidationError("The 'regressors' parameter of RegressorPanel must not be empty.")
        for name in names:
            REGRESSORS.get(name)  # did-you-mean before any work
        check_cv_inputs(
            len(X),
            n_splits=self.n_splits,
            n_repeats=self.n_repeats,
            protocol=self.protocol,
            groups=groups,
            caller="RegressorPanel.fit",
        )
        group_values = None if groups is None else np.asarray(groups)
        values, target = X.to_numpy(dtype=float), y.to_numpy(dtype=float)
        n, p = values.shape
        predictions = {
            (name, r): np.full(n, np.nan) for name in names for r in range(self.n_repeats)
        }
        fold_estimators: dict[str, list[Pipeline]] = {name: [] for name in names}
        with warnings.catch_warnings(), single_threaded_blas():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for repeat, _fold, train, test in repeated_splits(
                n,
                protocol=self.protocol,
                groups=group_values,
                n_splits=self.n_splits,
                n_repeats=self.n_repeats,
                random_state=self.random_state,
            ):
                for name in names:
                    model = self._pipeline(name, self.random_state + repeat)
                    model.fit(X.iloc[train], target[train])
                    predictions[(name, repeat)][test] = model.predict(X.iloc[test])
                    fold_estimators[name].append(model)
            self.estimators_ = {
                name: self._pipeline(name, self.random_state).fit(X, target) for name in names
            }
        rows = []
        for (name, repeat), pred in predictions.items():
            r2 = _r2(target, pred)
            rows.append(
                {
                    "regressor": name,
                    "repeat": repeat,
                    "r2": r2,
                    "r2_adj": adjusted_r2(r2, n, p),
                    "mae": float(np.mean(np.abs(target - pred))),
                    "n": n,
                    "p": p,
                }
            )
        self.scores_ = pd.DataFrame(rows)
        self.oof_predictions_ = pd.DataFrame(predictions)
        self.oof_predictions_.columns = pd.MultiIndex.from_tuples(
            list(predictions), names=["regressor", "repeat"]
        )
        self.fold_estimators_ = fold_estimators
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = p
        self.summary_ = self._summary()
        return self

    def _summary(self) -> pd.DataFrame:
        summary = summarise_scores(self.scores_)
        paper = [r for r in PAPER_REGRESSORS if r in set(self.scores_["regressor"])]
        if paper:
            per_repeat = (
                self.scores_[self.scores_["regressor"].isin(paper)]
                .groupby("repeat")[list(SCORE_COLUMNS)]
                .mean()
                .reset_index()
                .assign(regressor="paper_mean")
            )
            summary = pd.concat([summary, summarise_scores(per_repeat)], ignore_index=True)
        return summary

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimators_"):
            raise ValidationError("This RegressorPanel is not fitted yet; call fit(X, y) first.")

    def _check_columns(self, X: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValidationError(
                f"X is missing feature column(s) seen in fit: {', '.join(missing)}."
            )
        return X[list(self.feature_names_in_)].astype(float)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Mean prediction of the full-data regressors."""
        self._check_fitted()
        X = self._check_columns(X)
        return np.mean([est.predict(X) for est in self.estimators_.values()], axis=0)

    def predict_ensemble(self, X: pd.DataFrame) -> pd.DataFrame:
        """Predictions of every CV-fold model, one column per (regressor, model index)."""
        self._check_fitted()
        X = self._check_columns(X)
        cols = {
            (name, k): est.predict(X)
            for name, models in self.fold_estimators_.items()
            for k, est in enumerate(models)
        }
        return pd.DataFrame(cols, index=X.index)


@dataclass
class RegressionStudy:
    """Results of :func:`regress`: a tidy summary and the fitted panels."""

    summary: pd.DataFrame
    panels: dict[tuple[str, str, str], RegressorPanel] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


SCENARIOS: tuple[str, ...] = ("sparsity", "architecture", "all")
DEFAULT_FEATURE_SETS: tuple[str, ...] = ("mge", "rolled", "rolled_channel", "ramanujan", "density")


def regress(
    table: FeatureTable,
    *,
    scenarios: Sequence[str] = SCENARIOS,
    feature_sets: Sequence[str] = DEFAULT_FEATURE_SETS,
    regressors: Sequence[str] = DEFAULT_REGRESSORS,
    protocol: str = "grouped",
    n_splits: int = 5,
    n_repeats: int = 10,
    random_state: int = 0,
    regressor_params: Mapping[str, Mapping[str, Any]] | None = None,
) -> RegressionStudy:
    """Cross-validated accuracy-drop regression for every scenario, subset and feature set.

    Returns a :class:`RegressionStudy` whose ``summary`` has columns
    ``scenario, subset, feature_set, regressor, n_rows, n_features`` and the score
    statistics of :func:`summarise_scores`. A (subset, feature set) that cannot be
    cross-validated (too few rows or configurations, no usable column) is skipped
    and explained in ``notes``.
    """
    if not isinstance(table, FeatureTable):
        raise ValidationError(
            f"The 'table' parameter of regress must be a FeatureTable. Got {type(table).__name__} instead."
        )
    frames, panels, notes = [], {}, []
    for scenario in scenarios:
        for subset, part in table.scenarios(scenario):
            for feature_set in feature_sets:
                key = (scenario, subset, feature_set)
                try:
                    X = part.X(feature_set)
                    panel = RegressorPanel(
                        regressors=regressors,
                        protocol=protocol,
                        n_splits=n_splits,
                        n_repeats=n_repeats,
                        random_state=random_state,
                        regressor_params=regressor_params,
                    ).fit(X, part.y, groups=part.groups)
                except PrunegraphError as exc:
                    notes.append(f"skipped {scenario}={subset}, features={feature_set}: {exc}")
                    continue
                panels[key] = panel
                frames.append(
                    panel.summary_.assign(
                        scenario=scenario,
                        subset=subset,
                        feature_set=feature_set,
                        n_rows=len(X),
                        n_features=X.shape[1],
                    )
                )
    lead = ["scenario", "subset", "feature_set", "regressor", "n_rows", "n_features"]
    summary = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=lead)
    summary = summary[lead + [c for c in summary.columns if c not in lead]]
    return RegressionStudy(summary=summary, panels=panels, notes=notes)
