"""CV protocols, accuracy-drop regression, importance, classification and prediction on planted signals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _analysis_helpers import small_table

from prunegraph.analysis.classification import classification_table, classify
from prunegraph.analysis.cv import repeated_splits
from prunegraph.analysis.features import FeatureTable, configuration_labels
from prunegraph.analysis.importance import (
    importance_matrix,
    pearson_columns,
    permutation_importance_cv,
    prediction_correlation,
)
from prunegraph.analysis.predict import AccuracyDropPredictor, predict_new
from prunegraph.analysis.regression import (
    REGRESSORS,
    RegressorPanel,
    adjusted_r2,
    make_regressor,
    regress,
)
from prunegraph.analysis.synthetic import INFORMATIVE, make_synthetic_features
from prunegraph.errors import UnknownNameError, ValidationError

FAST = ("linear", "ridge", "bayesian_ridge")


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    return small_table()


# ----------------------------------------------------------------------------- CV protocols
def test_grouped_protocol_keeps_each_configuration_in_one_fold(table: FeatureTable) -> None:
    groups = table.groups.to_numpy()
    assert (pd.Series(groups).value_counts() == 2).all()  # two seeds per configuration
    for repeat in range(3):
        seen: dict[str, int] = {}
        covered = []
        for r, fold, _train, test in repeated_splits(
            len(table), protocol="grouped", groups=groups, n_splits=5, n_repeats=3
        ):
            if r != repeat:
                continue
            covered.extend(test)
            for g in set(groups[test]):
                assert g not in seen, f"configuration {g} in folds {seen[g]} and {fold}"
                seen[g] = fold
        assert sorted(covered) == list(range(len(table)))


def test_plain_kfold_splits_replicates_and_repeats_reshuffle(table: FeatureTable) -> None:
    groups = table.groups.to_numpy()
    folds_per_group: dict[str, set[int]] = {}
    tests_by_repeat: dict[int, list[list[int]]] = {}
    for r, fold, _train, test in repeated_splits(
        len(table), protocol="kfold", n_splits=5, n_repeats=2
    ):
        tests_by_repeat.setdefault(r, []).append(sorted(test))
        if r == 0:
            for g in groups[test]:
                folds_per_group.setdefault(g, set()).add(fold)
    assert any(len(f) > 1 for f in folds_per_group.values())  # the leak grouped CV prevents
    assert tests_by_repeat[0] != tests_by_repeat[1]


def test_cv_input_errors() -> None:
    with pytest.raises(ValidationError, match="at least n_splits=5 rows; got 3"):
        list(repeated_splits(3, protocol="kfold", n_splits=5, n_repeats=1))
    with pytest.raises(ValidationError, match="at least n_splits=5 configurations; got 2"):
        list(repeated_splits(10, protocol="grouped", groups=[0, 1] * 5, n_splits=5, n_repeats=1))
    with pytest.raises(ValidationError, match=r"'n_splits' parameter .* int >= 2"):
        list(repeated_splits(10, protocol="kfold", n_splits=1, n_repeats=1))
    with pytest.raises(UnknownNameError, match="Did you mean 'grouped'"):
        list(repeated_splits(10, protocol="groupd", n_splits=2, n_repeats=1))
    with pytest.raises(ValidationError, match="class 'x' has 2 member"):
        list(
            repeated_splits(
                12,
                protocol="grouped",
                groups=list(range(12)),
                stratify=["x"] * 2 + ["y"] * 10,
                n_splits=5,
                n_repeats=1,
            )
        )
    with pytest.raises(ValidationError, match="class 'b' has 1 member"):
        list(
            repeated_splits(
                6, protocol="kfold", stratify=["a"] * 5 + ["b"], n_splits=2, n_repeats=1
            )
        )


# ----------------------------------------------------------------------------- regression
def test_adjusted_r2_formula() -> None:
    assert adjusted_r2(0.5, 11, 2) == pytest.approx(1 - 0.5 * 10 / 8)
    assert np.isnan(adjusted_r2(0.9, 5, 4))


def test_every_paper_regressor_is_a_minmax_pipeline() -> None:
    assert set(REGRESSORS.names()) >= {
        "linear",
        "ridge",
        "lasso",
        "elastic_net",
        "huber",
        "pcr",
        "bayesian_ridge",
        "ard",
        "xgboost",
    }
    pipe = make_regressor("pcr")
    assert [name for name, _ in pipe.steps] == ["impute", "scale", "model"]
    assert type(pipe.named_steps["scale"]).__name__ == "MinMaxScaler"
    with pytest.raises(UnknownNameError, match="Did you mean 'ridge'"):
        make_regressor("rigde")


def test_regressors_recover_the_planted_signal(table: FeatureTable) -> None:
    regressors = (
        "linear",
        "ridge",
        "lasso",
        "elastic_net",
        "huber",
        "pcr",
        "bayesian_ridge",
        "ard",
    )
    panel = RegressorPanel(regressors=regressors, n_repeats=2).fit(
        table.X("mge"), table.y, groups=table.groups
    )
    summary = panel.summary_.set_index("regressor")
    assert summary.loc["paper_mean", "r2_adj_mean"] > 0.6
    assert summary.loc["linear", "r2_adj_mean"] > 0.8
    assert (summary["r2_adj_lo"] <= summary["r2_adj_mean"] + 1e-12).all()
    assert (summary["r2_adj_mean"] <= summary["r2_adj_hi"] + 1e-12).all()
    assert set(panel.scores_["repeat"]) == {0, 1}
    # The layer density carries the sparsity trend but none of the pruner signal.
    density = RegressorPanel(regressors=("linear",), n_repeats=1).fit(
        table.X("density"), table.y, groups=table.groups
    )
    density_r2 = density.summary_.set_index("regressor").loc["linear", "r2_adj_mean"]
    assert density_r2 < summary.loc["linear", "r2_adj_mean"] - 0.3


def test_heavy_tailed_test_values_are_clipped_not_extrapolated(table: FeatureTable) -> None:
    X = table.X("mge").copy()
    outlier = (table.groups == table.groups.iloc[0]).to_numpy()
    X.loc[outlier, "strength"] = 3e7  # like delta_r_rel when t2 ~ 0
    panel = RegressorPanel(regressors=("linear", "ridge"), n_repeats=1).fit(
        X, table.y, groups=table.groups
    )
    assert make_regressor("linear").named_steps["scale"].clip
    assert panel.scores_["mae"].max() < 0.2  # unclipped: ~1e5


def test_xgboost_regressor_runs_with_few_trees(table: FeatureTable) -> None:
    panel = RegressorPanel(
        regressors=("xgboost",), n_repeats=1, regressor_params={"xgboost": {"n_estimators": 10}}
    ).fit(table.X("mge"), table.y, groups=table.groups)
    assert np.isfinite(panel.summary_["mae_mean"]).all()
    assert panel.predict(table.X("mge")).shape == (len(table),)


def test_nan_features_are_imputed_and_bad_inputs_rejected(table: FeatureTable) -> None:
    X = table.X("mge").copy()
    X.iloc[::4, 0] = np.nan
    panel = RegressorPanel(regressors=("ridge",), n_repeats=1).fit(X, table.y, groups=table.groups)
    assert np.isfinite(panel.oof_predictions_.to_numpy()).all()
    with pytest.raises(ValidationError, match=r"must be a pandas DataFrame\. Got ndarray"):
        RegressorPanel(regressors=("ridge",)).fit(X.to_numpy(), table.y)
    y = table.y.copy()
    y.iloc[0] = np.nan
    with pytest.raises(ValidationError, match="y has 1 NaN"):
        RegressorPanel(regressors=("ridge",)).fit(X, y, groups=table.groups)
    X["kcore"] = np.nan
    with pytest.raises(ValidationError, match="entirely NaN: kcore"):
        RegressorPanel(regressors=("ridge",)).fit(X, table.y, groups=table.groups)
    with pytest.raises(ValidationError, match="not fitted"):
        RegressorPanel().predict(X)


def test_regress_scenarios_and_skips_small_subsets(table: FeatureTable) -> None:
    study = regress(
        table,
        scenarios=("sparsity", "architecture", "all"),
        feature_sets=("mge", "density", "paths"),
        regressors=FAST,
        n_splits=5,
        n_repeats=1,
    )
    got = study.summary
    assert set(got["scenario"]) == {"sparsity", "architecture", "all"}
    assert {"mge", "density"} <= set(got["feature_set"])
    assert any("features=paths" in note and "no usable" in note for note in study.notes)
    # Sparsity subsets have 20 rows for 17 features (under-determined folds): compare the others.
    big = got[(got["scenario"] != "sparsity") & (got["regressor"] == "paper_mean")]
    mge, dens = big[big["feature_set"] == "mge"], big[big["feature_set"] == "density"]
    assert mge["r2_adj_mean"].mean() > dens["r2_adj_mean"].mean() + 0.3
    # Sparsity subsets have 10 configurations: 11 folds cannot be made.
    small = regress(
        table,
        scenarios=("sparsity",),
        feature_sets=("mge",),
        regressors=FAST,
        n_splits=11,
        n_repeats=1,
    )
    assert small.summary.empty and len(small.notes) == 3
    assert "needs at least n_splits=11" in small.notes[0]


# ----------------------------------------------------------------------------- importance
def test_pearson_columns_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(30, 3)), columns=list("abc"))
    v = rng.normal(size=30)
    X["const"] = 1.0
    r = pearson_columns(X, v)
    for col in "abc":
        assert r[col] == pytest.approx(np.corrcoef(X[col], v)[0, 1])
    assert np.isnan(r["const"])


def test_correlation_importance_finds_the_informative_features(table: FeatureTable) -> None:
    X = table.X("mge")
    panel = RegressorPanel(regressors=FAST, n_repeats=2).fit(X, table.y, groups=table.groups)
    imp = prediction_correlation(panel, X)
    assert list(imp.columns) == [*FAST, "mean"]
    assert imp.loc["kcore", "mean"] > 0.3 and imp.loc["sink", "mean"] < -0.3  # beta signs
    top = imp["mean"].abs().sort_values(ascending=False).index[:2]
    assert set(top) <= set(INFORMATIVE)
    with pytest.raises(ValidationError, match="was not fitted"):
        prediction_correlation(panel, X, regressors=["ard"])
    study = regress(
        table, scenarios=("sparsity",), feature_sets=("mge",), regressors=FAST, n_repeats=1
    )
    matrix = importance_matrix(study, table, scenario="sparsity")
    assert list(matrix.columns) == ["0.8", "0.9", "0.95"] and "kcore" in matrix.index


def test_permutation_importance_ranks_informative_features_first(table: FeatureTable) -> None:
    perm = permutation_importance_cv(
        table.X("mge"),
        table.y,
        groups=table.groups,
        regressor="ridge",
        n_repeats=1,
        n_permutations=3,
    )
    assert list(perm.columns) == ["importance_mean", "importance_std"]
    assert set(perm.index[:2]) <= set(INFORMATIVE)


# ----------------------------------------------------------------------------- classification
def test_classifying_pruners_beats_chance(table: FeatureTable) -> None:
    scores = classify(table, target="pruner", n_repeats=1, n_estimators=15)
    assert scores["chance"].iloc[0] == pytest.approx(0.2)
    assert scores["balanced_accuracy"].mean() > 0.6
    agg = classify(
        table,
        target="pruner_category",
        n_repeats=1,
        n_estimators=15,
        aggregate_seeds=True,
        n_splits=3,
    )
    assert agg["n_rows"].iloc[0] == table.groups.nunique()


def test_classification_table_and_errors(table: FeatureTable) -> None:
    result, notes = classification_table(
        table,
        targets=("pruner_category",),
        scenarios=("all", "architecture"),
        n_repeats=1,
        n_estimators=5,
    )
    assert list(result["subset"]) == ["all", "conv6", "resnet20"]
    assert result["balanced_accuracy_mean"].between(0, 1).all() and not notes
    one_class = table.subset(table.data["pruner_category"] == "pai")
    with pytest.raises(ValidationError, match="at least 2 classes"):
        classify(one_class, target="pruner_category")
    with pytest.raises(UnknownNameError, match="classification target"):
        classify(table, target="dataset")


# ----------------------------------------------------------------------------- prediction
def test_predictor_interval_and_ranks_for_an_unseen_configuration() -> None:
    frame = make_synthetic_features(
        architectures=("a", "b", "c"), datasets=("d", "e"), sparsities=(0.8, 0.9), n_seeds=2
    )
    train_mask = ~(
        (frame["architecture"] == "c") & (frame["sparsity"] == 0.9) & (frame["dataset"] == "e")
    )
    from prunegraph.analysis.features import load_features

    table = load_features(frame[train_mask])
    new = frame[~train_mask & (frame["seed"] == 0)].reset_index(drop=True)
    model = AccuracyDropPredictor(regressors=("ridge", "linear"), n_repeats=2, coverage=0.9)
    # Calibrate on held-out (architecture, dataset, sparsity) cells: the target is a new cell.
    assert model.fit_table(table, group_by=("architecture", "dataset", "sparsity")) is model
    out = model.predict_interval(new)
    assert (out["acc_drop_lo"] <= out["acc_drop_pred"]).all() and (
        out["acc_drop_pred"] <= out["acc_drop_hi"]
    ).all()
    assert (out["acc_drop_std"] > 0).all()
    inside = (new["acc_drop"] >= out["acc_drop_lo"]) & (new["acc_drop"] <= out["acc_drop_hi"])
    assert inside.mean() >= 0.6
    np.testing.assert_allclose(
        out["acc_sparse_pred"], new["acc_dense"] * (1 - out["acc_drop_pred"])
    )
    ranked = model.rank(new)
    true_rank = new["acc_drop"].rank(method="min")
    assert np.corrcoef(ranked["rank"], true_rank)[0, 1] > 0.8
    assert ranked["p_best"].between(0, 1).all() and ranked["p_best"].sum() >= 1 - 1e-9
    via_helper = predict_new(table, new, regressors=("ridge",), n_repeats=1)
    assert {"pruner", "rank", "acc_drop_pred"} <= set(via_helper.columns)
    with pytest.raises(ValidationError, match="'coverage' parameter"):
        AccuracyDropPredictor(coverage=1.5).fit_table(table)
    with pytest.raises(ValidationError, match="not fitted"):
        AccuracyDropPredictor().predict(new)
    with pytest.raises(ValidationError, match="Cannot group by missing column"):
        model.fit_table(table, group_by=("architecture", "optimizer"))
    with pytest.raises(ValidationError, match="missing the ranking column"):
        model.rank(new.drop(columns=["dataset"]))


def test_configuration_labels_need_the_configuration_columns(table: FeatureTable) -> None:
    assert configuration_labels(table.data).nunique() == 30
    with pytest.raises(ValidationError, match="missing pruner"):
        configuration_labels(table.data.drop(columns=["pruner"]))
