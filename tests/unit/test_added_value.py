"""Topology vs the weights-only baseline under the same grouped CV (issue 14 item 3)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _analysis_helpers import small_table

from prunegraph.analysis import added_value as av
from prunegraph.analysis.features import FeatureTable, load_features
from prunegraph.analysis.report import write_report
from prunegraph.analysis.synthetic import INFORMATIVE, make_synthetic_features
from prunegraph.analysis.weights import WEIGHT_COLUMNS
from prunegraph.errors import UnknownNameError, ValidationError

FAST = {"n_splits": 4, "n_repeats": 4, "regressor": "ridge", "n_boot": 500}


def _planted(source: str, random_state: int = 0) -> FeatureTable:
    """A table whose drop comes from the topology only or from the weights only.

    ``topology``: the synthetic generator's drop (a linear function of four MGE
    topometrics); the weight statistics are independent noise.
    ``weights``: the drop is a linear function of two weight statistics; the
    topometrics are the generator's, now unrelated to the drop.
    """
    frame = make_synthetic_features(
        architectures=("conv6", "resnet20"),
        datasets=("cifar10", "cifar100"),
        pruners=("snip", "grasp", "synflow", "uniform", "er"),
        sparsities=(0.8, 0.9, 0.95),
        n_seeds=2,
        random_state=random_state,
    )
    assert isinstance(frame, pd.DataFrame)
    rng = np.random.default_rng([random_state, 1])
    weights = rng.normal(size=(len(frame), len(WEIGHT_COLUMNS)))
    frame = pd.concat(
        [frame, pd.DataFrame(weights, columns=list(WEIGHT_COLUMNS), index=frame.index)], axis=1
    )
    if source == "weights":
        drop = 0.3 + 0.05 * weights[:, 0] - 0.05 * weights[:, 3] + rng.normal(0, 0.01, len(frame))
        frame["acc_sparse"] = frame["acc_dense"] * (1 - drop)
        frame = frame.drop(columns="acc_drop")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_features(frame)


def test_drop_from_topology_only_gains_from_topology() -> None:
    result = av.topology_vs_weights(_planted("topology"), scenarios=("all",), **FAST)
    row = result.gain.iloc[0]
    assert row["r2_topology"] > 0.6 and row["r2_weights"] < 0.2
    assert row["gain_mean"] > 0.5
    assert row["gain_ci_lo"] > 0  # the interval excludes 0
    assert row["gain_lo"] > 0
    sentence = av.headline(result)
    assert sentence is not None
    assert sentence.startswith(
        f"Adding MGE topology to the weights raises R2 by {row['gain_mean']:.2f} "
        f"[{row['gain_ci_lo']:.2f}, {row['gain_ci_hi']:.2f}]"
    )
    assert sentence.endswith(": topology adds to the weights.")


def test_drop_from_weights_only_gains_nothing_from_topology() -> None:
    result = av.topology_vs_weights(_planted("weights"), scenarios=("all",), **FAST)
    row = result.gain.iloc[0]
    assert row["r2_weights"] > 0.8 and row["r2_topology"] < 0.2
    # Out of fold, columns without signal cost a little (the model fits their noise):
    # no gain, and the interval does not reach above 0 by more than noise.
    assert -0.1 < row["gain_mean"] < 0.01
    assert row["gain_ci_hi"] < 0.02
    assert row["gain_ci_lo"] < 0
    assert "topology adds" not in (av.headline(result) or "")


def test_the_three_sets_share_their_folds() -> None:
    """Three copies of one set score the same in every repeat: the gain is exactly 0."""
    table = _planted("topology")
    result = av.topology_vs_weights(
        table, scenarios=("all", "sparsity"), feature_sets=("mge", "mge", "mge+mge"), **FAST
    )
    assert (
        (result.gain[["gain_mean", "gain_lo", "gain_hi", "gain_ci_lo", "gain_ci_hi"]] == 0)
        .all()
        .all()
    )
    pivot = result.scores.pivot_table(
        index=["scenario", "subset", "repeat"], columns="feature_set", values="r2"
    )
    assert pivot.nunique(axis=1).eq(1).all()


def test_scenarios_adjusted_r2_and_summary_columns() -> None:
    table = _planted("topology")
    result = av.topology_vs_weights(table, **FAST)
    cells = set(zip(result.gain["scenario"], result.gain["subset"], strict=True))
    assert cells == {
        ("all", "all"),
        ("sparsity", "0.8"),
        ("sparsity", "0.9"),
        ("sparsity", "0.95"),
        ("architecture", "conv6"),
        ("architecture", "resnet20"),
    }
    summary = result.summary.set_index(["scenario", "subset", "feature_set"])
    n_mge = len(table.feature_columns("mge"))
    assert summary.loc[("all", "all", "mge"), "n_features"] == n_mge
    assert summary.loc[("all", "all", "mge+weights"), "n_features"] == n_mge + len(WEIGHT_COLUMNS)
    n = summary.loc[("all", "all", "weights"), "n_rows"]
    scores = result.scores.set_index(["scenario", "subset", "feature_set"]).loc[
        ("all", "all", "weights")
    ]
    expected = 1 - (1 - scores["r2"]) * (n - 1) / (n - len(WEIGHT_COLUMNS) - 1)
    np.testing.assert_allclose(scores["r2_adj"], expected)
    assert (summary["r2_lo"] <= summary["r2_mean"]).all() and (
        summary["r2_mean"] <= summary["r2_hi"]
    ).all()
    assert set(INFORMATIVE) <= set(table.feature_columns("mge"))


def test_networks_without_weights_are_left_out_of_all_three_sets() -> None:
    table = _planted("topology")
    data = table.data.copy()
    data.loc[:9, list(WEIGHT_COLUMNS)] = np.nan  # ten networks without a cache entry
    partial = FeatureTable(data=data)
    result = av.topology_vs_weights(partial, scenarios=("all",), **FAST)
    assert (result.summary["n_rows"] == len(data) - 10).all()
    assert any("10 network(s) without any 'weights' value" in note for note in result.notes)


def test_bootstrap_gain_is_the_mse_difference_over_the_variance() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=40)
    groups = np.repeat(np.arange(20), 2)
    base, both = rng.random(40), rng.random(40)
    draws = av.bootstrap_gain(y, base, both, groups, n_boot=4000, random_state=1)
    point = (base - both).mean() / y.var()
    assert abs(np.median(draws) - point) < 0.05
    assert np.percentile(draws, 2.5) < point < np.percentile(draws, 97.5)
    assert np.isnan(av.bootstrap_gain(np.ones(4), base[:4], both[:4], groups[:4])).all()


def test_bad_arguments_fail_with_one_line() -> None:
    table = _planted("topology")
    with pytest.raises(ValidationError, match="union of the first two"):
        av.topology_vs_weights(table, feature_sets=("mge", "weights", "mge+rolled"))
    with pytest.raises(ValidationError, match="three names"):
        av.topology_vs_weights(table, feature_sets=("mge", "weights"))
    with pytest.raises(UnknownNameError, match="xgbost"):
        av.topology_vs_weights(table, regressor="xgbost")
    with pytest.raises(ValidationError, match="FeatureTable"):
        av.topology_vs_weights(table.data)  # type: ignore[arg-type]


def test_the_section_applies_only_with_weights_and_writes_into_a_real_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(av.REPORT_CV, "regressor", "ridge")
    monkeypatch.setitem(av.REPORT_CV, "n_repeats", 2)
    assert not av._applies(small_table())  # no weights columns
    table = _planted("topology")
    assert av._applies(table)
    path = write_report(
        table,
        tmp_path,
        sections=("topology_vs_weights",),
        n_splits=3,
        n_repeats=2,
        regressors=("ridge",),
    )
    page = path.read_text()
    for name in ("topology_vs_weights.csv", "topology_vs_weights_gain.csv"):
        assert (tmp_path / name).is_file(), name
        assert name in page
    assert "Does topology add to the weights?" in page
    gain = pd.read_csv(tmp_path / "topology_vs_weights_gain.csv")
    assert "all" in set(gain["scenario"])
    assert (gain.loc[gain["scenario"] == "all", "gain_ci_lo"] > 0).all()
    assert "skipped" not in (tmp_path / "notes.txt").read_text()
