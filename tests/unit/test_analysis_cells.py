"""Small cells (folds fitted to the cell, rows-per-feature marks), +-inf in reports, fast solvers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _analysis_helpers import SMALL, small_table
from sklearn.linear_model import HuberRegressor, LinearRegression, Ridge

from prunegraph.analysis.classification import classification_table, classify
from prunegraph.analysis.cv import fit_splits, repeated_splits
from prunegraph.analysis.features import FeatureTable, load_features
from prunegraph.analysis.ramanujan import density_correlations
from prunegraph.analysis.regression import (
    MIN_ROWS_PER_FEATURE,
    FoldScaler,
    HuberRegression,
    RegressorPanel,
    RidgeRegression,
    make_regressor,
    regress,
)
from prunegraph.analysis.report import SECTIONS, score_table, write_report
from prunegraph.analysis.synthetic import make_synthetic_features
from prunegraph.errors import ValidationError

FAST = ("linear", "ridge")


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    return small_table()


# ----------------------------------------------------------------------------- folds
def test_fit_splits_states_how_a_small_cell_is_cut() -> None:
    groups = np.repeat(["a", "b", "c", "d"], 2)
    assert fit_splits(8, n_splits=5, protocol="grouped", groups=groups) == (
        4,
        "leave-one-configuration-out (4 folds; 5 requested)",
    )
    assert fit_splits(40, n_splits=5, protocol="grouped", groups=np.arange(40)) == (
        5,
        "grouped 5-fold",
    )
    labels = np.array(["x"] * 4 + ["y"] * 4 + ["z"] * 12)
    configs = np.array([0, 0, 1, 1, 2, 2, 3, 3, *range(4, 16)])
    k, cv = fit_splits(20, n_splits=5, protocol="grouped", groups=configs, stratify=labels)
    assert k == 2 and cv == "grouped 2-fold (5 requested; class 'x' has 2 configuration(s))"
    k, cv = fit_splits(20, n_splits=5, protocol="kfold", stratify=labels)
    assert k == 4 and "class 'x' has 4 row(s)" in cv
    # Below two folds nothing fits: the requested k is returned so the check explains why.
    assert fit_splits(4, n_splits=5, protocol="grouped", groups=[0, 0, 1, 1], min_splits=3)[0] == 5


def test_classification_cell_with_a_class_smaller_than_the_folds(table: FeatureTable) -> None:
    part = dict(table.scenarios("sparsity"))["0.9"]  # 5 pruners x 2 architectures x 2 seeds
    with pytest.raises(ValidationError, match=r"class '\w+' has 4 member"):
        classify(part, target="pruner", n_splits=5, n_repeats=1)
    scores = classify(part, target="pruner", n_splits=5, n_repeats=2, adapt_splits=True)
    assert set(scores["n_splits"]) == {2}
    assert scores["cv"].iloc[0] == "grouped 2-fold (5 requested; class 'er' has 2 configuration(s))"
    assert np.isfinite(scores["balanced_accuracy"]).all()
    result, notes = classification_table(
        table,
        targets=("pruner",),
        scenarios=("sparsity",),
        n_splits=5,
        n_repeats=1,
        n_estimators=10,
        adapt_splits=True,
    )
    assert len(result) == 3 and not notes  # before: all three cells skipped
    assert (result["n_splits"] == 2).all() and result["cv"].str.contains("class 'er'").all()
    strict, strict_notes = classification_table(
        table, targets=("pruner",), scenarios=("sparsity",), n_repeats=1, n_estimators=10
    )
    assert strict.empty and len(strict_notes) == 3


def test_small_regression_cells_use_fewer_folds_and_are_marked(table: FeatureTable) -> None:
    study = regress(
        table,
        scenarios=("sparsity",),
        feature_sets=("mge", "density"),
        regressors=FAST,
        n_splits=11,
        n_repeats=1,
        adapt_splits=True,
    )
    got = study.summary[study.summary["regressor"] == "paper_mean"]
    assert len(got) == 6 and not study.notes  # without adapt_splits every cell is skipped
    assert (got["n_splits"] == 10).all()
    assert (got["cv"] == "leave-one-configuration-out (10 folds; 11 requested)").all()
    mge, density = got[got["feature_set"] == "mge"], got[got["feature_set"] == "density"]
    assert (mge["n_rows"] == 20).all() and (mge["rows_per_feature"] < MIN_ROWS_PER_FEATURE).all()
    assert mge["small_cell"].all() and not density["small_cell"].any()  # 20 rows, 1 feature
    assert {"r2_mean", "r2_adj_mean"} <= set(got.columns)
    both = score_table(study.summary, metric="r2_adj", beside="r2")
    assert both.loc["mge"].str.contains(r" \| ").all() and both.loc["mge"].str.endswith(" †").all()
    assert not both.loc["density"].str.endswith("†").any()
    panel = RegressorPanel(regressors=("ridge",), n_splits=5, n_repeats=1, adapt_splits=True)
    tiny = table.subset(table.groups.isin(table.groups.unique()[:2]).to_numpy())
    tiny = FeatureTable(data=pd.concat([tiny.data] * 3, ignore_index=True))  # 12 rows, 2 configs
    with pytest.raises(ValidationError, match="needs at least n_splits=5 configurations; got 2"):
        panel.fit(tiny.X("mge"), tiny.y, groups=tiny.groups)


# ----------------------------------------------------------------------------- +-inf
def _with_infinities() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame, layers = make_synthetic_features(**SMALL, return_layers=True)  # type: ignore[misc]
    frame.loc[::3, "mean_delta_r"] = -np.inf  # a layer bound undefined
    frame.loc[5, "kcore"] = np.inf
    layers.loc[layers["layer"] == 0, "delta_r"] = -np.inf
    return frame, layers


def test_regression_entry_point_names_infinite_columns(table: FeatureTable) -> None:
    X = table.X("mge").copy()
    X.iloc[:4, X.columns.get_loc("strength")] = -np.inf
    with pytest.warns(UserWarning, match=r"RegressorPanel.fit: X: .*'strength' \(4\)"):
        panel = RegressorPanel(regressors=FAST, n_repeats=1).fit(X, table.y, groups=table.groups)
    assert np.isfinite(panel.oof_predictions_.to_numpy()).all()


def test_report_with_infinite_values_keeps_every_section_and_says_why(tmp_path) -> None:
    frame, layers = _with_infinities()
    with pytest.warns(UserWarning, match=r"'mean_delta_r' \(20\)"):
        table = load_features(frame, layers=layers)
    assert any("'kcore' (1)" in note for note in table.notes)
    corr = density_correlations(table)  # -inf layers left out, not NaN for whole groups
    assert corr["r"].notna().all()
    path = write_report(
        table,
        tmp_path,
        n_repeats=1,
        n_splits=3,
        regressors=FAST,
        feature_sets=("mge", "ramanujan"),
        xgboost_estimators=5,
        n_jobs=1,
    )
    page = path.read_text()
    notes = (tmp_path / "notes.txt").read_text()
    assert "'mean_delta_r' (20)" in notes and "'delta_r' (" in notes
    assert "failed unexpectedly" not in notes
    for heading in ("Accuracy-drop regression", "Feature importance", "Pruner classification"):
        assert f"<h2>{heading}</h2>" in page
    for name in ("regression.csv", "table3_r2_adj_vs_r2.csv", "classification.csv"):
        assert (tmp_path / name).is_file(), name
    assert "ddof = 1" in page and "ddof = 0" in page  # every ± says which sd


def test_a_section_without_any_cell_still_appears_with_its_reason(tmp_path) -> None:
    frame = make_synthetic_features(**(SMALL | {"pruners": ("snip", "er"), "n_seeds": 1}))
    table = load_features(frame)  # one category per pruner: 'pai' and 'random'
    single = table.subset(table.data["pruner"] == "snip")  # one pruner: nothing to classify
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_report(
            single, tmp_path, sections=("classification",), n_repeats=1, xgboost_estimators=5
        )
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Pruner classification</h2>" in page
    notes = (tmp_path / "notes.txt").read_text()
    assert "Section 'classification' skipped" in notes and "needs at least 2 classes" in notes
    assert "Section &#x27;classification&#x27; skipped" in page  # in the HTML, under its heading
    assert "classification" in SECTIONS


# ----------------------------------------------------------------------------- solvers
def _huber_objective(model: HuberRegression, X: np.ndarray, y: np.ndarray, est) -> float:
    return model._objective(y - X @ est.coef_ - est.intercept_, est.scale_, est.coef_)


@pytest.mark.parametrize(("n", "p"), [(48, 17), (300, 6), (25, 30)])
def test_newton_huber_reaches_scikit_learns_optimum(n: int, p: int) -> None:
    rng = np.random.default_rng(n)
    X = rng.random((n, p))
    y = X @ rng.normal(size=p) * 0.05 + 0.01 * rng.standard_t(2, size=n)
    ours = HuberRegression().fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = HuberRegressor(max_iter=5_000).fit(X, y)
    f_ours, f_theirs = _huber_objective(ours, X, y, ours), _huber_objective(ours, X, y, theirs)
    assert f_ours <= f_theirs * (1 + 1e-7)
    if n > p:  # a unique optimum: the same fit
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), atol=1e-4)
    assert ours.n_iter_ < 60


def test_closed_form_ridge_matches_scikit_learn_and_the_pipeline_semantics() -> None:
    rng = np.random.default_rng(3)
    X, y = rng.random((40, 7)), rng.random(40)
    np.testing.assert_allclose(
        RidgeRegression(alpha=0.0).fit(X, y).predict(X), LinearRegression().fit(X, y).predict(X)
    )
    np.testing.assert_allclose(
        RidgeRegression(alpha=1.0).fit(X, y).predict(X), Ridge(alpha=1.0).fit(X, y).predict(X)
    )
    # FoldScaler is the numpy form of make_regressor's impute -> scale steps.
    X[::5, 2] = np.nan
    X[:, 4] = 1.0  # constant column
    pipe = make_regressor("linear")
    expected = pipe[:-1].fit(X[:30]).transform(X[30:])
    got = FoldScaler(X[:30]).transform(X[30:])
    np.testing.assert_allclose(got, expected)


def test_grouped_repeats_still_keep_configurations_together(table: FeatureTable) -> None:
    groups = table.groups.to_numpy()
    for _r, _f, train, test in repeated_splits(len(table), groups=groups, n_splits=3, n_repeats=2):
        assert not set(groups[train]) & set(groups[test])


def test_stratified_grouped_folds_deal_each_class_evenly(table: FeatureTable) -> None:
    """Configurations have one pruner each: every fold gets each pruner's configurations to within one."""
    groups, labels = table.groups.to_numpy(), table.data["pruner"].to_numpy()
    for _r, _f, train, test in repeated_splits(
        len(table), groups=groups, stratify=labels, n_splits=3, n_repeats=3
    ):
        assert not set(groups[train]) & set(groups[test])
    per_fold = [
        pd.Series(groups[test]).groupby(labels[test]).nunique()
        for _r, _f, _train, test in repeated_splits(
            len(table), groups=groups, stratify=labels, n_splits=3, n_repeats=1
        )
    ]
    counts = pd.concat(per_fold, axis=1).fillna(0)  # 6 configurations per pruner, 3 folds
    assert (counts.max(axis=1) - counts.min(axis=1) <= 1).all() and (counts.sum(axis=1) == 6).all()


def test_parallel_cells_give_the_same_tables(table: FeatureTable, tmp_path) -> None:
    kwargs = {
        "n_repeats": 1,
        "n_splits": 3,
        "regressors": FAST,
        "feature_sets": ("mge",),
        "xgboost_estimators": 5,
        "sections": ("regression", "classification", "ranking"),
    }
    write_report(table, tmp_path / "serial", n_jobs=1, **kwargs)
    write_report(table, tmp_path / "parallel", n_jobs=2, **kwargs)
    for name in ("regression.csv", "classification.csv", "ranking_scores.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(tmp_path / "serial" / name), pd.read_csv(tmp_path / "parallel" / name)
        )
