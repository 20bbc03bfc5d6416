"""Ramanujan-vs-density analysis, the HTML report (full and tiny studies) and ``prunegraph analyze``."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from _analysis_helpers import SMALL, small_table

from prunegraph.analysis.features import FeatureTable, load_features
from prunegraph.analysis.ramanujan import (
    density_correlations,
    density_profile,
    plot_density_profiles,
)
from prunegraph.analysis.report import score_table, write_report
from prunegraph.analysis.synthetic import make_synthetic_features
from prunegraph.cli import main
from prunegraph.errors import ValidationError

FAST = ("linear", "ridge")


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    return small_table()


def test_ramanujan_metrics_track_layer_density(table: FeatureTable) -> None:
    corr = density_correlations(table)
    assert set(corr["metric"]) == {"delta_r", "delta_r_imdb", "lambda_imsg"}
    assert len(corr) == 2 * 3 * 3  # architectures x sparsities x metrics
    assert (corr["r"] > 0.9).all()  # the generator makes them grow with sqrt(density)
    assert (corr["n_layers"] == 5 * 5 * 2).all()  # layers x pruners x seeds
    by_layer = density_correlations(table, by=("architecture", "layer"))
    assert set(by_layer["layer"]) == set(range(5))
    profile = density_profile(table, architecture="conv6", sparsity=0.9)
    np.testing.assert_allclose(profile.sum(axis=0), 1.0)
    assert list(profile.columns) == ["layer_density", "delta_r", "delta_r_imdb", "lambda_imsg"]
    fig = plot_density_profiles(table, sparsity=0.9)
    assert len(fig.axes) == 2


def test_ramanujan_needs_layers_and_metrics(table: FeatureTable) -> None:
    no_layers = FeatureTable(data=table.data)
    with pytest.raises(ValidationError, match="no per-layer rows"):
        density_correlations(no_layers)
    with pytest.raises(ValidationError, match="None of the metrics"):
        density_correlations(table, metrics=("nonexistent",))
    with pytest.raises(ValidationError, match="No per-layer rows for architecture 'vgg'"):
        density_profile(table, architecture="vgg")


def test_full_report_has_every_section(table: FeatureTable, tmp_path) -> None:
    path = write_report(
        table,
        tmp_path,
        n_repeats=1,
        n_splits=3,
        regressors=FAST,
        feature_sets=("mge", "density"),
        xgboost_estimators=5,
    )
    page = path.read_text()
    for name in (
        "regression.csv",
        "table3_r2_adj.csv",
        "table3_r2.csv",
        "table3_mae.csv",
        "importance_sparsity.csv",
        "importance_architecture.csv",
        "permutation_importance.csv",
        "classification.csv",
        "ranking_table.csv",
        "ramanujan_correlations.csv",
    ):
        assert (tmp_path / name).is_file(), name
        assert name in page

    def figures_in(section: str) -> int:
        found = re.search(rf"<section id='{section}'.*?</section>", page, re.S)
        assert found is not None, section
        return found.group(0).count("data:image/png;base64,")

    assert figures_in("regression") == 1  # R2 bars per feature set and scenario
    assert figures_in("importance") == 2 + 1  # two heatmaps, permutation-importance bars
    assert figures_in("classification") == 1
    assert figures_in("ranking") == 2  # pruners' mean rank, RBO per strategy
    assert figures_in("ramanujan") == 3  # one Fig. 2 per sparsity
    t3 = pd.read_csv(tmp_path / "table3_r2_adj.csv", index_col=0)
    assert list(t3.index) == ["density", "mge"]
    assert "architecture=conv6" in t3.columns
    assert "failed unexpectedly" not in page


def test_tiny_study_report_explains_instead_of_crashing(tmp_path) -> None:
    frame = make_synthetic_features(
        **(
            SMALL
            | {
                "architectures": ("conv6",),
                "sparsities": (0.9,),
                "pruners": ("snip", "er"),
                "n_seeds": 1,
            }
        )
    )
    table = load_features(frame)  # no per-layer rows
    path = write_report(table, tmp_path, n_repeats=1, regressors=FAST, xgboost_estimators=5)
    page = path.read_text()
    notes = (tmp_path / "notes.txt").read_text()
    assert "needs at least n_splits=5" in notes
    assert "Section 'ramanujan' skipped" in notes and "no per-layer rows" in notes
    assert "failed unexpectedly" not in notes
    assert "ranking_table.csv" in page  # two pruners can still be ranked
    with pytest.raises(ValidationError, match="Unknown report section"):
        write_report(table, tmp_path, sections=("plots",))


def test_score_table_layout() -> None:
    summary = pd.DataFrame(
        {
            "scenario": ["all", "all"],
            "subset": ["all", "all"],
            "feature_set": ["mge", "density"],
            "regressor": ["paper_mean", "paper_mean"],
            "r2_adj_mean": [0.5, 0.1],
            "r2_adj_std": [0.01, np.nan],
        }
    )
    got = score_table(summary)
    assert got.loc["mge", "all=all"] == "0.500 ± 0.010"
    assert got.loc["density", "all=all"] == "0.100 ± nan"


def test_cli_analyze_actions_from_a_feature_file(tmp_path, capsys) -> None:
    frame, layers = make_synthetic_features(**SMALL, return_layers=True)  # type: ignore[misc]
    frame.to_csv(tmp_path / "features.csv", index=False)
    layers.to_parquet(tmp_path / "layers.parquet", index=False)
    src = ["--features", str(tmp_path / "features.csv"), "--n-repeats", "1", "--n-splits", "3"]
    out = tmp_path / "out"
    args = [
        "analyze",
        "regress",
        *src,
        "--out",
        str(out),
        "--feature-sets",
        "mge",
        "--scenarios",
        "all",
        "--regressors",
        "ridge",
    ]
    assert main(args) == 0
    assert pd.read_csv(out / "regression.csv")["regressor"].tolist() == ["ridge", "paper_mean"]
    assert main(["analyze", "rank", *src, "--out", str(out), "--importance", "target"]) == 0
    assert (out / "ranking_table.csv").is_file()
    ram = [
        "analyze",
        "ramanujan",
        *src,
        "--layers",
        str(tmp_path / "layers.parquet"),
        "--out",
        str(out),
    ]
    assert main(ram) == 0
    assert (out / "ramanujan_correlations.csv").is_file() and (out / "ramanujan_s0.9.png").is_file()
    new = frame[(frame["sparsity"] == 0.9) & (frame["seed"] == 0)]
    new.drop(columns=["acc_sparse", "acc_drop"]).to_csv(tmp_path / "new.csv", index=False)
    pred = [
        "analyze",
        "predict",
        *src,
        "--candidates",
        str(tmp_path / "new.csv"),
        "--out",
        str(out),
    ]
    assert main([*pred, "--new-cells"]) == 0
    got = pd.read_csv(out / "predictions.csv")
    assert {"pruner", "acc_drop_pred", "acc_drop_lo", "acc_drop_hi", "rank", "p_best"} <= set(
        got.columns
    )
    assert len(got) == len(new) and sorted(got["rank"].unique()) == [1, 2, 3, 4, 5]
    capsys.readouterr()
    assert main(["analyze", "classify", "--out", str(out)]) == 2
    assert "Give --study NAME" in capsys.readouterr().err
    assert (
        main(["analyze", "regress", "--features", str(tmp_path / "x.csv"), "--out", str(out)]) == 2
    )
    assert "does not exist" in capsys.readouterr().err
