"""The numpy / native-API fits of the analyses give the estimates of the scikit-learn and XGBoost estimators they replace."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ARDRegression, BayesianRidge, ElasticNet, Lasso, LinearRegression
from sklearn.pipeline import Pipeline

from prunegraph.analysis.classification import CLASSIFIER_PARAMS, fit_predict_classes
from prunegraph.analysis.regression import (
    XGBOOST_PARAMS,
    ARDRegressionFast,
    BayesianRidgeRegression,
    ElasticNetCD,
    PrincipalComponentRegression,
    XGBoostRegression,
    fold_model,
)


def _data(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min-max-like features (two nearly collinear columns, one constant) and a planted drop."""
    rng = np.random.default_rng(seed)
    X = rng.random((n + 40, p))
    X[:, 1] = X[:, 0] + rng.normal(0, 1e-3, n + 40)
    X[:, -1] = 0.5
    beta = np.zeros(p)
    beta[[0, 2, 3]] = (0.4, -0.3, 0.2)
    y = X @ beta + rng.normal(0, 0.05, n + 40)
    return X[:n], y[:n], X[n:]


CASES = [(385, 16, 0), (96, 7, 1), (480, 17, 2), (30, 12, 3)]


@pytest.mark.parametrize(("n", "p", "seed"), CASES)
def test_pcr_matches_pca_then_least_squares(n: int, p: int, seed: int) -> None:
    X, y, X_test = _data(n, p, seed)
    theirs = Pipeline(
        [("pca", PCA(n_components=0.95, svd_solver="full")), ("linear", LinearRegression())]
    ).fit(X, y)
    ours = PrincipalComponentRegression(variance=0.95).fit(X, y)
    assert ours.n_components_ == theirs.named_steps["pca"].n_components_
    np.testing.assert_allclose(ours.predict(X_test), theirs.predict(X_test), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(("n", "p", "seed"), [*CASES, (10, 12, 4)])
def test_bayesian_ridge_matches_scikit_learn(n: int, p: int, seed: int) -> None:
    X, y, X_test = _data(n, p, seed)
    theirs = BayesianRidge().fit(X, y)
    ours = BayesianRidgeRegression().fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.predict(X_test), theirs.predict(X_test), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(("n", "p", "seed"), [*CASES, (10, 12, 4)])
def test_ard_matches_scikit_learn(n: int, p: int, seed: int) -> None:
    X, y, X_test = _data(n, p, seed)
    theirs = ARDRegression().fit(X, y)
    ours = ARDRegressionFast().fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ours.predict(X_test), theirs.predict(X_test), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("n", "p", "seed"), CASES)
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_coordinate_descent_matches_lasso_and_elastic_net(
    n: int, p: int, seed: int, l1_ratio: float
) -> None:
    X, y, X_test = _data(n, p, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if l1_ratio == 1.0:
            theirs = Lasso(alpha=1e-3, max_iter=10_000).fit(X, y)
        else:
            theirs = ElasticNet(alpha=1e-3, l1_ratio=l1_ratio, max_iter=10_000).fit(X, y)
        ours = ElasticNetCD(alpha=1e-3, l1_ratio=l1_ratio, max_iter=10_000).fit(X, y)
    assert np.count_nonzero(theirs.coef_) < p  # the penalty is active
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.predict(X_test), theirs.predict(X_test), rtol=1e-10)


def test_xgboost_regression_is_xgbregressor() -> None:
    from xgboost import XGBRegressor

    X, y, X_test = _data(300, 12, 5)
    theirs = XGBRegressor(**XGBOOST_PARAMS, random_state=3, verbosity=0).fit(X, y)
    np.testing.assert_array_equal(
        fold_model("xgboost", 3).fit(X, y).predict(X_test), theirs.predict(X_test)
    )
    # any other XGBoost parameter goes through set_params
    extra = {"n_estimators": 10, "subsample": 0.7}
    model = fold_model("xgboost", 3, extra)
    assert isinstance(model, XGBoostRegression) and model.params == {"subsample": 0.7}
    theirs = XGBRegressor(**(dict(XGBOOST_PARAMS) | extra), random_state=3, verbosity=0).fit(X, y)
    np.testing.assert_array_equal(model.fit(X, y).predict(X_test), theirs.predict(X_test))


@pytest.mark.parametrize("n_classes", [2, 3, 7])
def test_native_classifier_predicts_as_xgbclassifier(n_classes: int) -> None:
    from xgboost import XGBClassifier

    rng = np.random.default_rng(n_classes)
    X = rng.random((300, 10))
    y = np.clip((X[:, 0] * n_classes + rng.normal(0, 0.5, 300)).astype(int), 0, n_classes - 1)
    X_test = rng.random((80, 10))
    theirs = XGBClassifier(**CLASSIFIER_PARAMS, random_state=5, verbosity=0).fit(X, y)
    got = fit_predict_classes(X, y, X_test, random_state=5)
    np.testing.assert_array_equal(got, theirs.predict(X_test))
    assert len(np.unique(got)) > 1
