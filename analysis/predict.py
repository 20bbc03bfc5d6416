"""Predict the accuracy drop and the rank of networks that were never trained.

Fit on a study's feature table, then give a pruned-but-untrained network's
topometrics (computed from its masks alone) to :meth:`AccuracyDropPredictor.predict_interval`.

Uncertainty, two parts:

* ``std``: the spread of the CV ensemble (every fold model of every repeat and
  regressor), ``sd_k yhat_k(x)`` - model uncertainty;
* ``lo, hi``: ``yhat(x) -/+ q`` with ``q`` the ``coverage`` quantile of the
  absolute out-of-fold residuals ``|y_i - yhat_oof(x_i)|`` (split-conformal
  style; valid on average for rows exchangeable with the training rows, which
  under the ``grouped`` protocol means new configurations).

Ranks: within each (architecture, dataset, sparsity) the candidates are ranked
by predicted drop (1 = best) by every ensemble member; ``rank_mean``,
``rank_std`` and ``p_best`` (share of members ranking it first) summarise them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from prunegraph.analysis.features import CONFIGURATION_COLUMNS, FeatureTable, feature_set_columns
from prunegraph.analysis.regression import RegressorPanel
from prunegraph.errors import ValidationError

RANK_KEYS: tuple[str, ...] = ("architecture", "dataset", "sparsity")


class AccuracyDropPredictor(RegressorMixin, BaseEstimator):
    """Accuracy-drop predictor with an ensemble spread and a residual interval.

    Parameters
    ----------
    regressors : sequence of str
        Regressors averaged (names of :data:`prunegraph.analysis.regression.REGRESSORS`).
    protocol, n_splits, n_repeats, random_state
        Cross-validation that builds the ensemble and the residuals.
    coverage : float in (0, 1)
        Target coverage of ``[lo, hi]``.
    regressor_params : mapping, optional
        ``{name: {param: value}}``.
    """

    def __init__(
        self,
        *,
        regressors: Sequence[str] = ("ridge", "bayesian_ridge", "huber"),
        protocol: str = "grouped",
        n_splits: int = 5,
        n_repeats: int = 5,
        coverage: float = 0.9,
        random_state: int = 0,
        regressor_params: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.regressors = regressors
        self.protocol = protocol
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.coverage = coverage
        self.random_state = random_state
        self.regressor_params = regressor_params

    def fit(
        self, X: pd.DataFrame, y: pd.Series, groups: pd.Series | None = None
    ) -> AccuracyDropPredictor:
        """Cross-validate and refit the regressors; returns ``self``."""
        if not (isinstance(self.coverage, float) and 0.0 < self.coverage < 1.0):
            raise ValidationError(
                "The 'coverage' parameter of AccuracyDropPredictor must be a float in the range "
                f"(0, 1). Got {self.coverage!r} instead."
            )
        self.panel_ = RegressorPanel(
            regressors=self.regressors,
            protocol=self.protocol,
            n_splits=self.n_splits,
            n_repeats=self.n_repeats,
            random_state=self.random_state,
            regressor_params=self.regressor_params,
        ).fit(X, y, groups=groups)
        oof = self.panel_.oof_predictions_.mean(axis=1).to_numpy()
        residuals = np.abs(y.to_numpy(dtype=float) - oof)
        n = len(residuals)
        level = min(1.0, np.ceil((n + 1) * self.coverage) / n)  # finite-sample conformal quantile
        self.residual_quantile_ = float(np.quantile(residuals, level))
        self.feature_names_in_ = self.panel_.feature_names_in_
        self.n_features_in_ = self.panel_.n_features_in_
        return self

    def fit_table(
        self,
        table: FeatureTable,
        *,
        feature_set: str = "mge",
        group_by: Sequence[str] = CONFIGURATION_COLUMNS,
    ) -> AccuracyDropPredictor:
        """:meth:`fit` on a feature table's ``feature_set`` columns.

        ``group_by`` sets the CV groups of the ``grouped`` protocol. The default
        (configuration) measures the error on a new pruner/seed of known
        (architecture, dataset, sparsity) cells; to calibrate the interval for a
        never-seen (architecture, dataset, sparsity), group by those three columns.
        """
        missing = [c for c in group_by if c not in table.data.columns]
        if missing:
            raise ValidationError(f"Cannot group by missing column(s): {', '.join(missing)}.")
        groups = table.data[list(group_by)].astype(str).agg("|".join, axis=1)
        return self.fit(table.X(feature_set), table.y, groups=groups)

    def _check(self) -> None:
        if not hasattr(self, "panel_"):
            raise ValidationError("This AccuracyDropPredictor is not fitted yet; call fit first.")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Mean predicted accuracy drop of the full-data regressors."""
        self._check()
        return self.panel_.predict(X)

    def predict_interval(self, X: pd.DataFrame) -> pd.DataFrame:
        """Columns ``acc_drop_pred, acc_drop_std, acc_drop_lo, acc_drop_hi`` (index of ``X``).

        If ``X`` has ``acc_dense``, also ``acc_sparse_pred = acc_dense (1 - acc_drop_pred)``
        with its interval.
        """
        self._check()
        pred = self.predict(X)
        ensemble = self.panel_.predict_ensemble(X).to_numpy()
        out = pd.DataFrame(
            {
                "acc_drop_pred": pred,
                "acc_drop_std": ensemble.std(axis=1, ddof=1) if ensemble.shape[1] > 1 else np.nan,
                "acc_drop_lo": pred - self.residual_quantile_,
                "acc_drop_hi": pred + self.residual_quantile_,
            },
            index=X.index,
        )
        if "acc_dense" in X.columns:
            dense = X["acc_dense"].astype(float)
            out["acc_sparse_pred"] = dense * (1 - out["acc_drop_pred"])
            out["acc_sparse_lo"] = dense * (1 - out["acc_drop_hi"])
            out["acc_sparse_hi"] = dense * (1 - out["acc_drop_lo"])
        return out

    def rank(self, candidates: pd.DataFrame, *, by: Sequence[str] = RANK_KEYS) -> pd.DataFrame:
        """Rank candidate networks within each group of ``by`` (1 = smallest predicted drop).

        ``candidates`` holds the feature columns and the ``by`` columns (for
        instance one row per pruner for a new architecture/dataset/sparsity).
        Returns :meth:`predict_interval` plus ``rank, rank_mean, rank_std, p_best``.
        """
        self._check()
        missing = [c for c in by if c not in candidates.columns]
        if missing:
            raise ValidationError(
                f"Candidates are missing the ranking column(s): {', '.join(missing)}."
            )
        out = self.predict_interval(candidates)
        ensemble = self.panel_.predict_ensemble(candidates)
        out["rank"] = np.nan
        out["rank_mean"] = np.nan
        out["rank_std"] = np.nan
        out["p_best"] = np.nan
        for _keys, index in candidates.groupby(list(by), sort=False).groups.items():
            member_ranks = ensemble.loc[index].rank(axis=0, method="min")
            out.loc[index, "rank"] = out.loc[index, "acc_drop_pred"].rank(method="min")
            out.loc[index, "rank_mean"] = member_ranks.mean(axis=1)
            out.loc[index, "rank_std"] = member_ranks.std(axis=1, ddof=0)
            out.loc[index, "p_best"] = (member_ranks == 1).mean(axis=1)
        return out


def predict_new(
    table: FeatureTable,
    candidates: pd.DataFrame,
    *,
    feature_set: str = "mge",
    group_by: Sequence[str] = CONFIGURATION_COLUMNS,
    **params: Any,
) -> pd.DataFrame:
    """Fit :class:`AccuracyDropPredictor` on ``table`` and rank ``candidates``.

    ``candidates`` needs the columns of ``feature_set`` used in the fit and the
    ranking keys (architecture, dataset, sparsity); other columns are carried over.
    """
    columns = [
        c
        for c in feature_set_columns(feature_set, table.data.columns)
        if c in table.feature_columns(feature_set)
    ]
    missing = [c for c in columns if c not in candidates.columns]
    if missing:
        raise ValidationError(f"Candidates are missing feature column(s): {', '.join(missing)}.")
    model = AccuracyDropPredictor(**params).fit(
        table.data[columns].astype(float), table.y, groups=table.groups
    )
    ranked = model.rank(candidates)
    keep = [c for c in candidates.columns if c not in columns]
    return pd.concat([candidates[keep], ranked], axis=1)
