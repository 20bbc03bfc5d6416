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

Summaries give the mean, the sample standard deviation (ddof = 1) and the
2.5-97.5 percentile interval over repeats (every ``±`` of a regression table is
that standard deviation), per regressor and for ``paper_mean`` (the per-repeat mean over the
eight Cunegatti et al. 2024 regressors, which is what Cunegatti et al. 2024 Table 3 reports).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    ARDRegression,
    BayesianRidge,
    ElasticNet,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from prunegraph._registry import Registry
from prunegraph.analysis.cells import Pending, map_cells
from prunegraph.analysis.cv import (
    check_cv_inputs,
    fast_fitting,
    fit_splits,
    repeated_splits,
)
from prunegraph.analysis.features import FeatureTable, nonfinite_to_null
from prunegraph.errors import PrunegraphError, ValidationError

RegressorFactory = Callable[[int], Any]
REGRESSORS: Registry[RegressorFactory] = Registry("regressor")


# Small penalties: with min-max scaled features and drops in [0, 1], scikit-learn's
# default alpha=1 zeroes every Lasso/ElasticNet coefficient.
class RidgeRegression(RegressorMixin, BaseEstimator):
    """Least squares with an L2 penalty on the coefficients, in closed form.

    ``min_w,c ||y - X w - c||^2 + alpha ||w||^2``, solved on centred data:
    ``w = (Xc' Xc + alpha I)^+ Xc' yc``, ``c = mean(y) - mean(X) . w``;
    ``alpha = 0`` is ordinary least squares (the minimum-norm solution when
    ``Xc' Xc`` is singular, as ``numpy.linalg.lstsq``). The same estimates as
    scikit-learn's ``LinearRegression`` / ``Ridge``, without their per-call input
    handling, which costs more than the solve on the analyses' small tables.
    """

    def __init__(self, *, alpha: float = 0.0) -> None:
        self.alpha = alpha

    def fit(self, X: Any, y: Any) -> RidgeRegression:
        """Fit on arrays; returns ``self``."""
        values, target = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        x_mean, y_mean = values.mean(axis=0), float(target.mean())
        centred = values - x_mean
        if self.alpha > 0:
            gram = centred.T @ centred + self.alpha * np.eye(values.shape[1])
            coef = np.linalg.solve(gram, centred.T @ (target - y_mean))
        else:
            coef = np.linalg.lstsq(centred, target - y_mean, rcond=None)[0]
        self.coef_, self.intercept_ = coef, y_mean - float(x_mean @ coef)
        self.n_features_in_ = values.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """``X @ coef_ + intercept_``."""
        return np.asarray(X, dtype=float) @ self.coef_ + self.intercept_


REGRESSORS.add("linear", lambda seed: RidgeRegression(alpha=0.0))
REGRESSORS.add("ridge", lambda seed: RidgeRegression(alpha=1.0))


class HuberRegression(RegressorMixin, BaseEstimator):
    """Huber regression with a jointly estimated scale, solved in a few Newton steps.

    Minimises the objective of scikit-learn's ``HuberRegressor`` (Owen 2007's
    concomitant scale), over coefficients ``w``, intercept ``c`` and scale ``sigma``::

        F = n sigma + sum_{|r_i| <= eps sigma} r_i^2 / sigma
              + sum_{|r_i| > eps sigma} (2 eps |r_i| - eps^2 sigma) + alpha ||w||^2,
        r_i = y_i - x_i . w - c,

    which is jointly convex. It alternates the exact minimum over ``sigma`` (a
    piecewise convex function of one variable, minimised over all its pieces at
    once) with a damped Newton step on ``(w, c)`` (Hessian of the inlier part),
    starting from least squares. It stops when ``F`` decreases by less than
    ``tol * max(1, |F|)``; that is typically 5-20 iterations of a few vectorised
    operations, where scikit-learn's L-BFGS needs 30-150 iterations with
    Python-level overhead each (the unit tests check ``F`` is no larger than at
    scikit-learn's solution).
    """

    def __init__(
        self, *, epsilon: float = 1.35, alpha: float = 1e-4, max_iter: int = 200, tol: float = 1e-12
    ) -> None:
        self.epsilon = epsilon
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol

    def _objective(self, r: np.ndarray, sigma: float, w: np.ndarray) -> float:
        eps, a = self.epsilon, np.abs(r)
        inlier = a <= eps * sigma
        return float(
            len(r) * sigma
            + np.sum(r[inlier] ** 2) / sigma
            + np.sum(2 * eps * a[~inlier] - eps**2 * sigma)
            + self.alpha * float(w @ w)
        )

    def _best_scale(self, r: np.ndarray) -> float:
        """Exact ``argmin_sigma F`` for fixed residuals (all pieces evaluated at once)."""
        eps, n = self.epsilon, len(r)
        a = np.sort(np.abs(r))
        breaks = a / eps  # r_i is an inlier for sigma >= breaks[i]
        k = np.arange(n + 1)  # number of inliers on the piece [breaks[k-1], breaks[k]]
        s_in = np.concatenate([[0.0], np.cumsum(a**2)])
        lin = n - (n - k) * eps**2  # F = lin * sigma + s_in / sigma + const on a piece
        with np.errstate(divide="ignore", invalid="ignore"):
            stationary = np.where(lin > 0, np.sqrt(s_in / lin), np.inf)
        low = np.concatenate([[0.0], breaks])
        high = np.concatenate([breaks, [np.inf]])
        candidates = np.clip(stationary, low, high)
        candidates = np.where(np.isfinite(candidates), candidates, high[:-1].max(initial=1.0))
        candidates = np.maximum(candidates, 1e-12)
        # F at every candidate from prefix sums: O(n log n), never candidates x rows
        inliers = np.searchsorted(a, eps * candidates, side="right")
        s_abs = np.concatenate([[0.0], np.cumsum(a)])
        value = (
            n * candidates
            + s_in[inliers] / candidates
            + 2 * eps * (s_abs[-1] - s_abs[inliers])
            - eps**2 * candidates * (n - inliers)
        )
        return float(candidates[int(np.argmin(value))])

    def fit(self, X: Any, y: Any) -> HuberRegression:
        """Fit on arrays ``X`` (rows x features) and ``y``; returns ``self``."""
        values, target = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        n, p = values.shape
        design = np.column_stack([values, np.ones(n)])
        penalty = np.full(p + 1, 2 * self.alpha)
        penalty[-1] = 0.0
        beta = np.linalg.lstsq(design, target, rcond=None)[0]
        residual = target - design @ beta
        sigma = self._best_scale(residual)
        value = self._objective(residual, sigma, beta[:-1])
        eps = self.epsilon
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 (n_iter_ is reported)
            inlier = np.abs(residual) <= eps * sigma
            grad = (
                -2.0 / sigma * design[inlier].T @ residual[inlier]
                - 2.0 * eps * design[~inlier].T @ np.sign(residual[~inlier])
                + penalty * beta
            )
            hessian = 2.0 / sigma * design[inlier].T @ design[inlier] + np.diag(penalty + 1e-10)
            try:  # positive definite (the 1e-10 ridge): a solve, not lstsq's SVD
                step = np.linalg.solve(hessian, grad)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(hessian, grad, rcond=None)[0]
            t = 1.0
            for _ in range(40):  # backtracking: accept the first step that lowers F
                trial = beta - t * step
                trial_residual = target - design @ trial
                trial_value = self._objective(trial_residual, sigma, trial[:-1])
                if trial_value <= value:
                    break
                t *= 0.5
            else:
                trial, trial_residual, trial_value = beta, residual, value
            beta, residual = trial, trial_residual
            sigma = self._best_scale(residual)
            new_value = self._objective(residual, sigma, beta[:-1])
            done = value - new_value <= self.tol * max(1.0, abs(new_value))
            value = new_value
            if done:
                break
        self.coef_, self.intercept_, self.scale_ = beta[:-1], float(beta[-1]), sigma
        self.n_iter_, self.objective_ = n_iter, value
        self.n_features_in_ = p
        return self

    def predict(self, X: Any) -> np.ndarray:
        """``X @ coef_ + intercept_``."""
        return np.asarray(X, dtype=float) @ self.coef_ + self.intercept_


def _centre(
    values: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``(X - mean(X), y - mean(y), mean(X), mean(y))``, as scikit-learn's linear models centre."""
    x_mean, y_mean = values.mean(axis=0), float(target.mean())
    return values - x_mean, target - y_mean, x_mean, y_mean


class _LinearModel(RegressorMixin, BaseEstimator):
    """``predict(X) = X @ coef_ + intercept_`` for the numpy regressors below."""

    coef_: np.ndarray
    intercept_: float

    def predict(self, X: Any) -> np.ndarray:
        """``X @ coef_ + intercept_``."""
        return np.asarray(X, dtype=float) @ self.coef_ + self.intercept_


class PrincipalComponentRegression(_LinearModel):
    """Least squares on the leading principal components (PCR).

    The estimates of ``Pipeline(PCA(n_components=variance, svd_solver="full"),
    LinearRegression())`` in closed form: with the SVD of the centred data
    ``Xc = U S V'`` and explained variances ``S_j^2 / (n - 1)``, keep the ``k``
    leading components, the fewest whose cumulative variance ratio exceeds
    ``variance`` (scikit-learn's rule); the scores ``Z = U_k S_k`` are orthogonal, so
    least squares on them is ``b = S_k^-1 U_k' yc`` and the model in the original
    features is ``w = V_k b``, ``c = mean(y) - mean(X) . w``. One SVD and no estimator
    objects per fit (the pipeline costs ~1.5 ms per fit on the analyses' folds, this
    ~0.1 ms).
    """

    def __init__(self, *, variance: float = 0.95) -> None:
        self.variance = variance

    def fit(self, X: Any, y: Any) -> PrincipalComponentRegression:
        """Fit on arrays; returns ``self``."""
        centred, target, x_mean, y_mean = _centre(
            np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        )
        u, s, vt = np.linalg.svd(centred, full_matrices=False)
        explained = s**2
        total = explained.sum()
        if total > 0:
            ratio = np.cumsum(explained / total)
            k = min(int(np.searchsorted(ratio, self.variance, side="right")) + 1, len(s))
        else:
            k = len(s)
        s_k = s[:k]
        # lstsq's cut-off: components with a negligible singular value get no weight
        keep = s_k > np.finfo(float).eps * max(centred.shape) * (s[0] if len(s) else 0.0)
        scores = np.where(keep, (u[:, :k].T @ target) / np.where(keep, s_k, 1.0), 0.0)
        self.coef_ = vt[:k].T @ scores
        self.intercept_ = y_mean - float(x_mean @ self.coef_)
        self.n_components_ = k
        self.n_features_in_ = centred.shape[1]
        return self


class BayesianRidgeRegression(_LinearModel):
    """Bayesian ridge regression: scikit-learn's ``BayesianRidge`` evidence iterations in numpy.

    With the centred data ``Xc = U S V'`` (``n > p``), iterate from
    ``alpha = 1 / var(y)``, ``lambda = 1``::

        w      = V diag(1 / (S^2 + lambda / alpha)) V' Xc' yc
        gamma  = sum_j alpha S_j^2 / (lambda + alpha S_j^2)
        lambda = (gamma + 2 lambda_1) / (||w||^2 + 2 lambda_2)
        alpha  = (n - gamma + 2 alpha_1) / (||yc - Xc w||^2 + 2 alpha_2)

    until ``sum |w_old - w| < tol``, then ``w`` once more with the final ``alpha``,
    ``lambda`` (MacKay 1992; Tipping 2001), with scikit-learn's defaults (``tol =
    1e-3``, 300 iterations, Gamma priors ``1e-6``): the same steps and estimates as
    ``BayesianRidge().fit`` (unit-tested), without its input handling and the
    per-fit ``sigma_`` the analyses never use. ``n <= p`` falls back to scikit-learn.
    """

    def __init__(
        self,
        *,
        max_iter: int = 300,
        tol: float = 1e-3,
        alpha_1: float = 1e-6,
        alpha_2: float = 1e-6,
        lambda_1: float = 1e-6,
        lambda_2: float = 1e-6,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.alpha_1 = alpha_1
        self.alpha_2 = alpha_2
        self.lambda_1 = lambda_1
        self.lambda_2 = lambda_2

    def fit(self, X: Any, y: Any) -> BayesianRidgeRegression:
        """Fit on arrays; returns ``self``."""
        values, target = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        n, p = values.shape
        if n <= p:
            model = BayesianRidge(**self.get_params()).fit(values, target)
            self.coef_, self.intercept_ = model.coef_, float(model.intercept_)
            self.alpha_, self.lambda_, self.n_iter_ = model.alpha_, model.lambda_, model.n_iter_
            self.n_features_in_ = p
            return self
        y_var = target.var()
        centred, yc, x_mean, y_mean = _centre(values, target)
        xty = centred.T @ yc
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        eig = s**2
        projected = vt @ xty
        alpha, lam = 1.0 / (y_var + np.finfo(np.float64).eps), 1.0

        def coefficients(alpha: float, lam: float) -> tuple[np.ndarray, float]:
            coef = vt.T @ (projected / (eig + lam / alpha))
            return coef, float(np.sum((yc - centred @ coef) ** 2))

        coef_old = None
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 (n_iter_ is reported)
            coef, sse = coefficients(alpha, lam)
            gamma = float(np.sum((alpha * eig) / (lam + alpha * eig)))
            lam = (gamma + 2 * self.lambda_1) / (float(np.sum(coef**2)) + 2 * self.lambda_2)
            alpha = (n - gamma + 2 * self.alpha_1) / (sse + 2 * self.alpha_2)
            if coef_old is not None and np.sum(np.abs(coef_old - coef)) < self.tol:
                break
            coef_old = coef
        self.coef_, _ = coefficients(alpha, lam)
        self.intercept_ = y_mean - float(x_mean @ self.coef_)
        self.alpha_, self.lambda_, self.n_iter_ = alpha, lam, n_iter
        self.n_features_in_ = p
        return self


class ARDRegressionFast(_LinearModel):
    """Automatic relevance determination: scikit-learn's ``ARDRegression`` iterations on the Gram matrix.

    Each feature ``j`` has its own precision ``lambda_j``; from ``alpha = 1 /
    var(y)``, ``lambda = 1`` iterate over the kept features ``K``
    (``lambda_j < threshold_lambda``)::

        Sigma    = pinvh(diag(lambda_K) + alpha Xc_K' Xc_K)
        w_K      = alpha Sigma Xc_K' yc,   w_j = 0 for j not in K
        gamma_j  = 1 - lambda_j Sigma_jj
        lambda_j = (gamma_j + 2 lambda_1) / (w_j^2 + 2 lambda_2)
        alpha    = (n - sum gamma + 2 alpha_1) / (||yc - Xc w||^2 + 2 alpha_2)

    until ``sum |w_old - w| < tol`` (Tipping 2001), then ``w`` once more: the steps and
    defaults of ``ARDRegression().fit`` (unit-tested against it), with ``Xc' Xc`` and
    ``Xc' yc`` formed once instead of in every iteration. ``n < p`` falls back to
    scikit-learn (its Woodbury form).
    """

    def __init__(
        self,
        *,
        max_iter: int = 300,
        tol: float = 1e-3,
        alpha_1: float = 1e-6,
        alpha_2: float = 1e-6,
        lambda_1: float = 1e-6,
        lambda_2: float = 1e-6,
        threshold_lambda: float = 1e4,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.alpha_1 = alpha_1
        self.alpha_2 = alpha_2
        self.lambda_1 = lambda_1
        self.lambda_2 = lambda_2
        self.threshold_lambda = threshold_lambda

    def fit(self, X: Any, y: Any) -> ARDRegressionFast:
        """Fit on arrays; returns ``self``."""
        from scipy.linalg import pinvh

        values, target = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        n, p = values.shape
        if n < p:
            model = ARDRegression(**self.get_params()).fit(values, target)
            self.coef_, self.intercept_ = model.coef_, float(model.intercept_)
            self.n_iter_ = model.n_iter_
            self.n_features_in_ = p
            return self
        centred, yc, x_mean, y_mean = _centre(values, target)
        gram, xty = centred.T @ centred, centred.T @ yc
        coef = np.zeros(p)
        keep = np.ones(p, dtype=bool)
        alpha = 1.0 / (float(np.var(yc)) + np.finfo(np.float64).eps)
        lam = np.ones(p)

        def update(alpha: float, keep: np.ndarray) -> np.ndarray:
            sigma = pinvh(np.diag(lam[keep]) + alpha * gram[np.ix_(keep, keep)])
            coef[keep] = alpha * (sigma @ xty[keep])
            return sigma

        coef_old = None
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 (n_iter_ is reported)
            sigma = update(alpha, keep)
            sse = float(np.sum((yc - centred @ coef) ** 2))
            gamma = 1.0 - lam[keep] * np.diag(sigma)
            lam[keep] = (gamma + 2.0 * self.lambda_1) / (coef[keep] ** 2 + 2.0 * self.lambda_2)
            alpha = (n - gamma.sum() + 2.0 * self.alpha_1) / (sse + 2.0 * self.alpha_2)
            keep = lam < self.threshold_lambda
            coef[~keep] = 0
            if coef_old is not None and np.sum(np.abs(coef_old - coef)) < self.tol:
                break
            coef_old = coef.copy()
            if not keep.any():
                break
        if keep.any():
            update(alpha, keep)
        self.coef_ = coef
        self.intercept_ = y_mean - float(x_mean @ coef)
        self.alpha_, self.lambda_, self.n_iter_ = alpha, lam, n_iter
        self.n_features_in_ = p
        return self


class ElasticNetCD(_LinearModel):
    """Lasso / elastic net by scikit-learn's coordinate descent, called without its estimator.

    Minimises ``1/(2n) ||yc - Xc w||^2 + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio) / 2
    ||w||^2`` on centred data with scikit-learn's compiled cyclic coordinate descent
    (the routine ``Lasso`` / ``ElasticNet`` run, with the same arguments, so the same
    coefficients), skipping the estimator's per-fit preparation, which costs more than
    the descent on the analyses' folds. When that internal routine is not available
    (another scikit-learn version) the estimator itself is used.
    """

    def __init__(
        self,
        *,
        alpha: float = 1e-3,
        l1_ratio: float = 1.0,
        max_iter: int = 10_000,
        tol: float = 1e-4,
    ) -> None:
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X: Any, y: Any) -> ElasticNetCD:
        """Fit on arrays; returns ``self``."""
        values, target = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        n, p = values.shape
        centred, yc, x_mean, y_mean = _centre(values, target)
        coef = None
        try:
            from sklearn.linear_model import _cd_fast

            coef, _, _, n_iter = _cd_fast.enet_coordinate_descent(
                np.zeros(p, order="F"),
                self.alpha * self.l1_ratio * n,
                self.alpha * (1.0 - self.l1_ratio) * n,
                np.asfortranarray(centred),
                yc,
                self.max_iter,
                self.tol,
                np.random.RandomState(0),
                False,
                False,
                True,
            )
        except (ImportError, AttributeError, TypeError):
            model = ElasticNet(
                alpha=self.alpha, l1_ratio=self.l1_ratio, max_iter=self.max_iter, tol=self.tol
            ).fit(values, target)
            coef, n_iter = model.coef_, model.n_iter_
        self.coef_ = np.asarray(coef)
        self.intercept_ = y_mean - float(x_mean @ self.coef_)
        self.n_iter_ = n_iter
        self.n_features_in_ = p
        return self


REGRESSORS.add("huber", lambda seed: HuberRegression())
REGRESSORS.add("pcr", lambda seed: PrincipalComponentRegression(variance=0.95))
REGRESSORS.add("bayesian_ridge", lambda seed: BayesianRidgeRegression())
REGRESSORS.add("ard", lambda seed: ARDRegressionFast())
REGRESSORS.add("lasso", lambda seed: ElasticNetCD(alpha=1e-3, l1_ratio=1.0, max_iter=10_000))
REGRESSORS.add("elastic_net", lambda seed: ElasticNetCD(alpha=1e-3, l1_ratio=0.5, max_iter=10_000))


#: XGBoost sized for feature tables of 10^2-10^4 rows and ~10^1 columns: every boosting
#: round costs a fixed ~0.2-0.5 ms on such tables, so fewer, larger steps (40 rounds at
#: learning rate 0.25 instead of 200 at 0.1), 64 histogram bins and one thread per fit
#: (cells run in parallel instead).
XGBOOST_PARAMS: Mapping[str, Any] = {
    "n_estimators": 40,
    "max_depth": 3,
    "learning_rate": 0.25,
    "tree_method": "hist",
    "max_bin": 64,
    "n_jobs": 1,
}

#: scikit-learn style XGBoost parameter names and their names in XGBoost's native API.
_NATIVE_NAMES: Mapping[str, str] = {
    "learning_rate": "eta",
    "n_jobs": "nthread",
    "random_state": "seed",
    "reg_lambda": "lambda",
    "reg_alpha": "alpha",
}


def xgboost_train(
    values: np.ndarray, target: np.ndarray, params: Mapping[str, Any], *, objective: str
) -> Any:
    """Train an XGBoost booster through the native API (``xgboost.train``).

    ``params`` use the scikit-learn wrapper's names (``n_estimators``,
    ``learning_rate``, ``n_jobs``, ``random_state``, any other booster parameter
    as is; ``None`` = XGBoost's default). The booster is the one ``XGBRegressor`` /
    ``XGBClassifier`` would train with the same parameters (the unit tests compare
    their predictions), without the wrapper's per-fit work (label checks, DMatrix
    meta-data, ``xgboost.train``'s callback container and final cache reset): about
    15-20 % of a 40-round regression fit on 385 rows, less of a multi-class fit,
    where the trees dominate.
    """
    import xgboost as xgb

    settings = dict(params)
    n_rounds = int(settings.pop("n_estimators", 100))
    native = {_NATIVE_NAMES.get(k, k): v for k, v in settings.items() if v is not None}
    native.update(objective=objective, verbosity=0)
    nthread = int(native.setdefault("nthread", 1))
    dtrain = xgb.DMatrix(np.asarray(values, dtype=float), label=np.asarray(target), nthread=nthread)
    # xgboost.train's own loop: the same updates without its callback container and the
    # final cache reset; the caches go with the booster
    booster = xgb.Booster(native, [dtrain])
    if n_rounds > 0:
        booster.update(dtrain, iteration=0)  # checks and records the feature names once
    update = _update_one_round(booster, dtrain)
    for iteration in range(1, n_rounds):
        update(iteration)
    return booster


def _xgboost_update_call() -> tuple[Any, Any] | None:
    """XGBoost's ``XGBoosterUpdateOneIter`` and its error check, or None where not found."""
    from xgboost import core

    lib, check = getattr(core, "_LIB", None), getattr(core, "_check_call", None)
    native = getattr(lib, "XGBoosterUpdateOneIter", None)
    return None if native is None or check is None else (native, check)


def _update_one_round(booster: Any, dtrain: Any) -> Callable[[int], None]:
    """``booster.update(dtrain, iteration=i)`` without re-checking the feature names each round.

    ``Booster.update`` compares the DMatrix's feature names and types with the
    booster's in Python before calling ``XGBoosterUpdateOneIter``; the names cannot
    change between rounds on the same DMatrix, so after the first round the C call
    is made directly (~10 % of a small fit). Falls back to ``update`` when
    XGBoost's library handle is not where this version keeps it.
    """
    import ctypes

    library = _xgboost_update_call()
    if library is None:
        return lambda iteration: booster.update(dtrain, iteration=iteration)
    native, check = library
    handle, data = booster.handle, dtrain.handle

    def update(iteration: int) -> None:
        check(native(handle, ctypes.c_int(iteration), data))

    return update


class XGBoostRegression(RegressorMixin, BaseEstimator):
    """XGBoost squared-error boosting (``XGBRegressor``'s model) through the native API.

    The same booster as ``xgboost.XGBRegressor(**params)`` (:func:`xgboost_train`),
    at about 0.85x its cost per fit. Any other XGBoost parameter can be given to
    :meth:`set_params` (e.g. ``subsample=0.8``); it is kept in ``params``.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 40,
        max_depth: int = 3,
        learning_rate: float = 0.25,
        tree_method: str = "hist",
        max_bin: int = 64,
        n_jobs: int = 1,
        random_state: int = 0,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.tree_method = tree_method
        self.max_bin = max_bin
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.params = params

    def set_params(self, **params: Any) -> XGBoostRegression:
        """Set parameters; names that are not constructor arguments go into ``params``."""
        known = self.get_params(deep=False)
        extra = {k: v for k, v in params.items() if k not in known}
        if extra:
            params = {k: v for k, v in params.items() if k in known}
            params["params"] = {**(self.params or {}), **extra}
        super().set_params(**params)
        return self

    def fit(self, X: Any, y: Any) -> XGBoostRegression:
        """Boost ``n_estimators`` rounds on arrays; returns ``self``."""
        settings = self.get_params(deep=False)
        extra = settings.pop("params") or {}
        self.booster_ = xgboost_train(
            X, np.asarray(y, dtype=float), {**settings, **extra}, objective="reg:squarederror"
        )
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The booster's predictions for ``X``."""
        return np.asarray(self.booster_.inplace_predict(np.asarray(X, dtype=float)))


def _xgboost(seed: int) -> Any:
    return XGBoostRegression(**XGBOOST_PARAMS, random_state=seed)


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
#: Below this many rows per feature a cell is marked ``small_cell``: adjusted R2 is then
#: dominated by the ``(n - 1) / (n - p - 1)`` factor and says little (the usual rule of
#: thumb asks for 10-20 observations per predictor).
MIN_ROWS_PER_FEATURE: float = 10.0


class FoldScaler:
    """Median imputation then min-max scaling with clipping, learnt on training rows.

    The numpy equivalent of ``SimpleImputer(strategy="median", keep_empty_features=True)
    -> MinMaxScaler(clip=True)``: ``x' = clip((x - min) / (max - min), 0, 1)`` with the
    median, min and max of the training rows (an all-NaN column is imputed with 0, a
    constant column gets ``max - min = 1``). Computed once per fold and shared by every
    regressor of the panel.
    """

    def __init__(self, train: np.ndarray) -> None:
        self.complete = not np.isnan(train).any()
        if self.complete:  # np.median is nanmedian's own path without NaN, at 1/3 the cost
            median = np.median(train, axis=0) if len(train) else np.zeros(train.shape[1])
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column
                median = np.nanmedian(train, axis=0)
        self.median = np.where(np.isnan(median), 0.0, median)
        filled = train if self.complete else self._fill(train)
        self.low = filled.min(axis=0) if len(filled) else np.zeros(train.shape[1])
        span = (filled.max(axis=0) if len(filled) else self.low) - self.low
        self.span = np.where(span == 0, 1.0, span)

    def _fill(self, values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        return np.where(missing, self.median, values) if missing.any() else values

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Impute, scale and clip ``values`` (rows x the training columns)."""
        return np.clip((self._fill(values) - self.low) / self.span, 0.0, 1.0)


@dataclass
class FoldModel:
    """A model fitted on one training fold, with the :class:`FoldScaler` it was fitted after."""

    scaler: FoldScaler
    model: Any
    columns: tuple[str, ...]

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Predictions for ``X`` (a DataFrame with the fitted columns, or an array in their order)."""
        values = X[list(self.columns)] if isinstance(X, pd.DataFrame) else X
        return np.asarray(self.model.predict(self.scaler.transform(np.asarray(values, float))))


def fold_model(name: str, seed: int, params: Mapping[str, Any] | None = None) -> Any:
    """The bare model ``name`` of :data:`REGRESSORS` (no pipeline), with ``params`` set."""
    model = REGRESSORS.get(name)(seed)
    if params:
        model.set_params(**params)
    return model


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
    X = nonfinite_to_null(X, what=f"{caller}: X", stacklevel=3)
    all_nan = [c for c in X.columns if X[c].isna().all()]
    if all_nan:
        raise ValidationError(f"{caller}: feature column(s) entirely NaN: {', '.join(all_nan)}.")
    return X.reset_index(drop=True), y.reset_index(drop=True)


def summarise_scores(scores: pd.DataFrame, by: Sequence[str] = ("regressor",)) -> pd.DataFrame:
    """Mean, std and 2.5/97.5 percentiles over repeats of every score column."""
    stats = []
    columns = {col: scores[col].to_numpy(dtype=float) for col in SCORE_COLUMNS}
    for keys, rows in scores.groupby(list(by), sort=False).indices.items():
        row: dict[str, Any] = dict(
            zip(by, keys if isinstance(keys, tuple) else (keys,), strict=True)
        )
        row["n_repeats"] = len(rows)
        for col in SCORE_COLUMNS:
            values = columns[col][rows]
            finite = values[np.isfinite(values)]
            row[f"{col}_mean"] = float(finite.mean()) if finite.size else np.nan
            row[f"{col}_std"] = float(finite.std(ddof=1)) if finite.size > 1 else np.nan
            row[f"{col}_lo"] = float(np.percentile(finite, 2.5)) if finite.size else np.nan
            row[f"{col}_hi"] = float(np.percentile(finite, 97.5)) if finite.size else np.nan
        stats.append(row)
    return pd.DataFrame(stats)


class RegressorPanel(RegressorMixin, BaseEstimator):
    """Several regressors cross-validated on the same repeated splits.

    Every fold is imputed and scaled once (:class:`FoldScaler`, the numpy form of
    the ``SimpleImputer(median) -> MinMaxScaler(clip=True)`` pipeline of
    :func:`make_regressor`) and shared by all regressors, which are fitted on
    arrays.

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
    adapt_splits : bool
        Cut a cell with fewer configurations (rows for ``kfold``) than ``n_splits``
        into as many folds as it allows, down to 2 (leave-one-configuration-out),
        instead of refusing it (:func:`~prunegraph.analysis.cv.fit_splits`).
    keep_models : bool
        Keep every fold's fitted model in ``fold_estimators_`` (needed by
        :meth:`predict_ensemble`; off saves memory and pickling in parallel runs).
    refit : bool
        Refit every regressor on all rows (``estimators_``, needed by :meth:`predict`).

    Attributes
    ----------
    scores_ : DataFrame
        One row per (regressor, repeat): ``r2, r2_adj, mae, n, p``.
    summary_ : DataFrame
        :func:`summarise_scores` of ``scores_`` plus the ``paper_mean`` row.
    oof_predictions_ : DataFrame
        Out-of-fold predictions, columns ``(regressor, repeat)``.
    fold_estimators_ : dict
        ``{regressor: [FoldModel per (repeat, fold)]}`` (the CV ensemble).
    estimators_ : dict
        ``{regressor: pipeline fitted on all rows}``.
    n_splits_ : int
        Folds actually used; ``cv_`` says how (e.g. ``'grouped 5-fold'``).
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
        adapt_splits: bool = False,
        keep_models: bool = True,
        refit: bool = True,
    ) -> None:
        self.regressors = regressors
        self.protocol = protocol
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.random_state = random_state
        self.regressor_params = regressor_params
        self.adapt_splits = adapt_splits
        self.keep_models = keep_models
        self.refit = refit

    def _pipeline(self, name: str, seed: int) -> Pipeline:
        params = dict((self.regressor_params or {}).get(name, {}))
        return make_regressor(name, random_state=seed, **params)

    def fit(self, X: pd.DataFrame, y: pd.Series, groups: pd.Series | None = None) -> RegressorPanel:
        """Cross-validate every regressor, then (``refit``) refit each on all rows; returns ``self``."""
        X, y = check_xy(X, y, "RegressorPanel.fit")
        names = list(self.regressors)
        if not names:
            raise ValidationError("The 'regressors' parameter of RegressorPanel must not be empty.")
        for name in names:
            REGRESSORS.get(name)  # did-you-mean before any work
        group_values = None if groups is None else np.asarray(groups)
        n_splits, cv = self.n_splits, f"{self.protocol} {self.n_splits}-fold"
        if self.adapt_splits and isinstance(n_splits, int | np.integer) and n_splits >= 2:
            n_splits, cv = fit_splits(
                len(X),
                n_splits=int(n_splits),
                protocol=self.protocol,
                groups=group_values,
                min_splits=3,
            )
        check_cv_inputs(
            len(X),
            n_splits=n_splits,
            n_repeats=self.n_repeats,
            protocol=self.protocol,
            groups=groups,
            caller="RegressorPanel.fit",
        )
        values, target = X.to_numpy(dtype=float), y.to_numpy(dtype=float)
        columns = tuple(X.columns)
        n, p = values.shape
        params = self.regressor_params or {}
        predictions = {
            (name, r): np.full(n, np.nan) for name in names for r in range(self.n_repeats)
        }
        fold_estimators: dict[str, list[FoldModel]] = {name: [] for name in names}
        with warnings.catch_warnings(), fast_fitting():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for repeat, _fold, train, test in repeated_splits(
                n,
                protocol=self.protocol,
                groups=group_values,
                n_splits=n_splits,
                n_repeats=self.n_repeats,
                random_state=self.random_state,
            ):
                scaler = FoldScaler(values[train])
                x_train, x_test = scaler.transform(values[train]), scaler.transform(values[test])
                for name in names:
                    seed = self.random_state + repeat
                    model = fold_model(name, seed, params.get(name))
                    model.fit(x_train, target[train])
                    predictions[(name, repeat)][test] = model.predict(x_test)
                    if self.keep_models:
                        fold_estimators[name].append(FoldModel(scaler, model, columns))
            if self.refit:
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
        self.n_splits_, self.cv_ = int(n_splits), cv
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
        if not hasattr(self, "scores_"):
            raise ValidationError("This RegressorPanel is not fitted yet; call fit(X, y) first.")
        if not hasattr(self, "estimators_"):
            raise ValidationError(
                "This RegressorPanel was fitted with refit=False; it cannot predict."
            )

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


def _fit_cell(
    key: tuple[str, str, str],
    X: pd.DataFrame,
    y: pd.Series,
    groups: pd.Series,
    settings: Mapping[str, Any],
) -> tuple[tuple[str, str, str], RegressorPanel | str]:
    """Fit one (scenario, subset, feature set) cell; a cell that cannot run returns why."""
    try:
        return key, RegressorPanel(**settings).fit(X, y, groups=groups)
    except PrunegraphError as exc:
        return key, str(exc)


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
    adapt_splits: bool = False,
    keep_models: bool = True,
    refit: bool = True,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> RegressionStudy:
    """Cross-validated accuracy-drop regression for every scenario, subset and feature set.

    Returns a :class:`RegressionStudy` whose ``summary`` has columns
    ``scenario, subset, feature_set, regressor, n_rows, n_features, rows_per_feature,
    small_cell, n_splits, cv`` and the score statistics of :func:`summarise_scores`
    (``*_std``: sample standard deviation over repeats, ddof = 1; ``*_lo``/``*_hi``:
    2.5 and 97.5 percentiles over repeats). ``small_cell`` marks cells with fewer than
    :data:`MIN_ROWS_PER_FEATURE` rows per feature, where adjusted R2 says little; read
    ``r2_mean`` beside it. A (subset, feature set) that cannot be cross-validated (too
    few rows or configurations, no usable column) is skipped and explained in ``notes``.

    Parameters
    ----------
    adapt_splits : bool
        Fit the folds to small cells (see :class:`RegressorPanel`); ``cv`` says how.
    keep_models, refit : bool
        Passed to every :class:`RegressorPanel` (the report needs neither).
    n_jobs : int, optional
        Worker processes for the cells (``None``/1: in this process).
    executor : Executor, optional
        A process pool (:func:`~prunegraph.analysis.cells.cell_executor`) for the cells
        given explicitly; :func:`regress_pending` returns before they are fitted.
    """
    return regress_pending(
        table,
        scenarios=scenarios,
        feature_sets=feature_sets,
        regressors=regressors,
        protocol=protocol,
        n_splits=n_splits,
        n_repeats=n_repeats,
        random_state=random_state,
        regressor_params=regressor_params,
        adapt_splits=adapt_splits,
        keep_models=keep_models,
        refit=refit,
        n_jobs=n_jobs,
        executor=executor,
    ).result()


def regress_pending(
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
    adapt_splits: bool = False,
    keep_models: bool = True,
    refit: bool = True,
    n_jobs: int | None = None,
    executor: Executor | None = None,
) -> Pending[RegressionStudy]:
    """:func:`regress` with its cells submitted to ``executor`` and collected on ``result()``.

    The cells are cut from the table here (in the calling thread); with an ``executor``
    this returns as soon as they are submitted, so the caller can do other work while
    the workers fit them. Without one it fits them first (as :func:`regress`).
    """
    if not isinstance(table, FeatureTable):
        raise ValidationError(
            f"The 'table' parameter of regress must be a FeatureTable. Got {type(table).__name__} instead."
        )
    settings = {
        "regressors": regressors,
        "protocol": protocol,
        "n_splits": n_splits,
        "n_repeats": n_repeats,
        "random_state": random_state,
        "regressor_params": regressor_params,
        "adapt_splits": adapt_splits,
        "keep_models": keep_models,
        "refit": refit,
    }
    notes: list[str] = []
    cells = []
    for scenario in scenarios:
        for subset, part in table.scenarios(scenario):
            for feature_set in feature_sets:
                key = (scenario, subset, feature_set)
                try:
                    X = part.X(feature_set)
                except PrunegraphError as exc:
                    notes.append(f"skipped {scenario}={subset}, features={feature_set}: {exc}")
                    continue
                cells.append((key, X, part.y, part.groups))
    # largest cells first (rows x columns), so no worker is left with a big one at the end
    parallel = executor is not None or (n_jobs is not None and n_jobs != 1)
    order = sorted(range(len(cells)), key=lambda i: -cells[i][1].size) if parallel else None
    run = map_cells(
        _fit_cell,
        [(*cell, settings) for cell in cells],
        n_jobs=n_jobs,
        executor=executor,
        order=order,
    )
    return Pending(lambda: _regression_study(run(), notes))


def _regression_study(
    results: Sequence[tuple[tuple[str, str, str], RegressorPanel | str]], notes: list[str]
) -> RegressionStudy:
    """The :class:`RegressionStudy` of fitted cells (a cell that could not run is a note)."""
    notes = list(notes)
    frames, panels = [], {}
    for key, result in results:
        scenario, subset, feature_set = key
        if isinstance(result, str):
            notes.append(f"skipped {scenario}={subset}, features={feature_set}: {result}")
            continue
        panels[key] = result
        n_rows, n_features = len(result.oof_predictions_), int(result.n_features_in_)
        frames.append(
            result.summary_.assign(
                scenario=scenario,
                subset=subset,
                feature_set=feature_set,
                n_rows=n_rows,
                n_features=n_features,
                rows_per_feature=n_rows / n_features,
                small_cell=n_rows / n_features < MIN_ROWS_PER_FEATURE,
                n_splits=result.n_splits_,
                cv=result.cv_,
            )
        )
    lead = [
        "scenario",
        "subset",
        "feature_set",
        "regressor",
        "n_rows",
        "n_features",
        "rows_per_feature",
        "small_cell",
        "n_splits",
        "cv",
    ]
    summary = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=lead)
    summary = summary[lead + [c for c in summary.columns if c not in lead]]
    return RegressionStudy(summary=summary, panels=panels, notes=notes)
