"""Feature importance for the accuracy-drop regression.

* :func:`prediction_correlation` (Cunegatti et al. 2024 section 4.2.2, Figures 3-4): Pearson
  ``r`` between each feature ``x_j`` and each regressor's cross-validated
  prediction ``yhat``, ``r_j = cov(x_j, yhat) / (sd(x_j) sd(yhat))``, averaged
  over repeats and then over regressors (NaN correlations, e.g. a constant
  prediction, are skipped). ``r > 0`` means a larger feature goes with a larger
  accuracy drop.
* :func:`permutation_importance_cv` (Cunegatti et al. 2023 section 4.2): decrease of the
  held-out score when one feature column of the test fold is permuted
  (scikit-learn's ``permutation_importance``), averaged over folds and repeats.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from prunegraph.analysis.cv import fast_fitting, repeated_splits
from prunegraph.analysis.features import FeatureTable
from prunegraph.analysis.regression import (
    PAPER_REGRESSORS,
    FoldScaler,
    RegressionStudy,
    RegressorPanel,
    check_xy,
    fold_model,
)
from prunegraph.errors import UnknownNameError, ValidationError


def pearson_columns(X: pd.DataFrame, v: np.ndarray) -> pd.Series:
    """Pearson ``r`` of every column of ``X`` with ``v`` (NaN where either is constant)."""
    values = X.to_numpy(dtype=float)
    values = np.where(np.isnan(values), np.nanmean(values, axis=0), values)
    xc = values - values.mean(axis=0)
    vc = np.asarray(v, dtype=float) - float(np.mean(v))
    denom = np.sqrt((xc**2).sum(axis=0) * float((vc**2).sum()))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * vc[:, None]).sum(axis=0) / denom
    r[denom == 0] = np.nan
    return pd.Series(r, index=X.columns)


def prediction_correlation(
    panel: RegressorPanel,
    X: pd.DataFrame,
    *,
    regressors: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Correlation importance per regressor plus the ``mean`` column.

    Parameters
    ----------
    panel : RegressorPanel
        Fitted on ``X`` (its out-of-fold predictions are used).
    X : DataFrame
        The features the panel was fitted on.
    regressors : sequence of str, optional
        Which regressors to average (default: the eight of Cunegatti et al. 2024 that the
        panel has, else all of them).

    Returns
    -------
    DataFrame
        Index = features, one column per regressor and ``mean``.
    """
    if not hasattr(panel, "oof_predictions_"):
        raise ValidationError("prediction_correlation needs a fitted RegressorPanel.")
    if len(X) != len(panel.oof_predictions_):
        raise ValidationError(
            f"X has {len(X)} rows but the panel was fitted on {len(panel.oof_predictions_)}."
        )
    X = X.reset_index(drop=True)
    fitted = list(dict.fromkeys(panel.oof_predictions_.columns.get_level_values("regressor")))
    if regressors is None:
        regressors = [r for r in PAPER_REGRESSORS if r in fitted] or fitted
    out = {}
    for name in regressors:
        if name not in fitted:
            raise ValidationError(
                f"Regressor '{name}' was not fitted by the panel ({', '.join(fitted)})."
            )
        per_repeat = pd.concat(
            [
                pearson_columns(X, panel.oof_predictions_[col].to_numpy())
                for col in panel.oof_predictions_.columns
                if col[0] == name
            ],
            axis=1,
        )
        out[name] = per_repeat.mean(axis=1, skipna=True)
    frame = pd.DataFrame(out)
    frame["mean"] = frame.mean(axis=1, skipna=True)
    return frame


def importance_matrix(
    study: RegressionStudy,
    table: FeatureTable,
    *,
    scenario: str,
    feature_set: str = "mge",
) -> pd.DataFrame:
    """Mean correlation importance for each subset of a scenario (features x subsets).

    The heatmaps of Cunegatti et al. 2024 Figure 3 (``scenario='sparsity'``) and Figure 4
    (``scenario='architecture'``).
    """
    columns = {}
    for subset, part in table.scenarios(scenario):
        panel = study.panels.get((scenario, subset, feature_set))
        if panel is None:
            continue
        X = part.data[list(panel.feature_names_in_)].astype(float)
        columns[subset] = prediction_correlation(panel, X)["mean"]
    return pd.DataFrame(columns)


SCORINGS: tuple[str, ...] = ("r2", "neg_mean_absolute_error")


def _scores(y: np.ndarray, pred: np.ndarray, scoring: str) -> np.ndarray:
    """Score of every row of ``pred`` (permutations x rows) against ``y``."""
    if scoring == "r2":
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        ss_res = np.sum((pred - y) ** 2, axis=-1)
        return 1.0 - ss_res / ss_tot if ss_tot > 0 else np.full(ss_res.shape, np.nan)
    return -np.mean(np.abs(pred - y), axis=-1)


def permutation_importance_cv(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    groups: pd.Series | None = None,
    regressor: str = "xgboost",
    protocol: str = "grouped",
    n_splits: int = 5,
    n_repeats: int = 3,
    n_permutations: int = 5,
    scoring: str = "r2",
    random_state: int = 0,
    regressor_params: dict | None = None,
) -> pd.DataFrame:
    """Held-out permutation importance, averaged over folds and repeats.

    For each fold the regressor (after the fold's :class:`FoldScaler`) is fitted
    on the training rows; on the test rows, feature ``j``'s importance is
    ``score(y, yhat) - score(y, yhat with column j permuted)``, averaged over
    ``n_permutations`` shuffles (Breiman's permutation importance, as
    scikit-learn's ``permutation_importance``). All ``p x n_permutations``
    permuted copies of a test fold are predicted in one call.

    Parameters
    ----------
    scoring : {'r2', 'neg_mean_absolute_error'}

    Returns
    -------
    DataFrame
        Index = features, columns ``importance_mean, importance_std`` (population
        standard deviation, ddof = 0, over the folds x repeats), sorted by
        decreasing mean.
    """
    if scoring not in SCORINGS:
        raise UnknownNameError("scoring", str(scoring), SCORINGS)
    if not isinstance(n_permutations, int) or n_permutations < 1:
        raise ValidationError(
            "The 'n_permutations' parameter of permutation_importance_cv must be an int >= 1. "
            f"Got {n_permutations!r} instead."
        )
    X, y = check_xy(X, y, "permutation_importance_cv")
    values, target = X.to_numpy(dtype=float), y.to_numpy(dtype=float)
    p = values.shape[1]
    column_of = np.repeat(np.arange(p), n_permutations)  # copy m permutes column column_of[m]
    results = []
    with warnings.catch_warnings(), fast_fitting():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for repeat, fold, train, test in repeated_splits(
            len(X),
            protocol=protocol,
            groups=None if groups is None else np.asarray(groups),
            n_splits=n_splits,
            n_repeats=n_repeats,
            random_state=random_state,
        ):
            scaler = FoldScaler(values[train])
            model = fold_model(regressor, random_state + repeat, regressor_params)
            model.fit(scaler.transform(values[train]), target[train])
            x_test, y_test = scaler.transform(values[test]), target[test]
            base = _scores(y_test, np.asarray(model.predict(x_test))[None, :], scoring)[0]
            rng = np.random.default_rng([random_state, repeat, fold])
            order = rng.permuted(np.tile(np.arange(len(test)), (column_of.size, 1)), axis=1)
            stacked = np.repeat(x_test[None, :, :], column_of.size, axis=0)
            copies, rows = np.arange(column_of.size)[:, None], np.arange(len(test))[None, :]
            stacked[copies, rows, column_of[:, None]] = x_test[order, column_of[:, None]]
            permuted = np.asarray(model.predict(stacked.reshape(-1, p))).reshape(
                column_of.size, len(test)
            )
            drop = base - _scores(y_test, permuted, scoring)
            results.append(drop.reshape(p, n_permutations).mean(axis=1))
    stacked_results = np.vstack(results)
    frame = pd.DataFrame(
        {
            "importance_mean": stacked_results.mean(axis=0),
            "importance_std": stacked_results.std(axis=0, ddof=0),
        },
        index=X.columns,
    )
    return frame.sort_values("importance_mean", ascending=False)
