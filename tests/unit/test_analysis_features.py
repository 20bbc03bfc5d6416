"""Feature table: pinned columns, validation messages, NaN/constant handling, normalisations, sources."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _analysis_helpers import SMALL, small_table

from prunegraph.analysis import features as F
from prunegraph.analysis.synthetic import make_synthetic_features
from prunegraph.errors import NotFoundError, UnknownNameError, ValidationError


def _frame() -> pd.DataFrame:
    return make_synthetic_features(**SMALL)  # type: ignore[return-value]


def test_identifier_and_outcome_columns_are_pinned() -> None:
    assert F.IDENTIFIER_COLUMNS == (
        "network_id",
        "study",
        "architecture",
        "dataset",
        "pruner",
        "pruner_category",
        "sparsity",
        "seed",
    )
    assert F.OUTCOME_COLUMNS == ("acc_dense", "acc_sparse", "acc_drop")
    assert F.CONFIGURATION_COLUMNS == ("architecture", "dataset", "pruner", "sparsity")
    assert len(F.TOPOMETRICS) == 17 and "spectral_radius" in F.TOPOMETRICS
    table = small_table()
    assert list(table.data.columns[: len(F.IDENTIFIER_COLUMNS)]) == list(F.IDENTIFIER_COLUMNS)


def test_feature_sets_follow_column_name_conventions() -> None:
    cols = _frame().columns
    assert F.feature_set_columns("mge", cols) == list(F.TOPOMETRICS)
    assert F.feature_set_columns("rolled", cols) == [f"rolled_{m}" for m in F.TOPOMETRICS]
    assert F.feature_set_columns("rolled_channel", cols) == [f"ch_{m}" for m in F.TOPOMETRICS]
    assert F.feature_set_columns("density", cols) == ["mean_layer_density"]
    assert "mean_delta_r_imdb" in F.feature_set_columns("ramanujan", cols)
    assert "mean_layer_density" not in F.feature_set_columns("ramanujan", cols)
    with pytest.raises(UnknownNameError, match="Did you mean 'rolled'"):
        F.feature_set_columns("roled", cols)


def test_missing_required_columns_are_named() -> None:
    frame = _frame().drop(columns=["pruner", "acc_dense"])
    with pytest.raises(ValidationError, match="missing required column\\(s\\): pruner, acc_dense"):
        F.load_features(frame)


def test_acc_drop_and_optional_identifiers_are_filled_in() -> None:
    frame = _frame().drop(columns=["acc_drop", "study", "pruner_category"])
    table = F.load_features(frame)
    expected = 1 - frame["acc_sparse"] / frame["acc_dense"]
    np.testing.assert_allclose(table.y, expected)
    assert set(table.data["pruner_category"]) == {"unknown"}


def test_acc_drop_is_the_relative_drop_even_when_the_store_gave_the_absolute_one() -> None:
    frame = _frame()
    relative = frame["acc_drop"].copy()
    frame["acc_drop"] = frame["acc_dense"] - frame["acc_sparse"]  # NetworkRecord's convention
    with pytest.warns(UserWarning, match="acc_drop recomputed as 1 - acc_sparse/acc_dense"):
        table = F.load_features(frame)
    np.testing.assert_allclose(table.y, relative)
    np.testing.assert_allclose(table.data["acc_drop_given"], frame["acc_drop"])
    assert "acc_drop_given" not in F.metric_columns(table.data)


def test_rows_without_outcome_are_dropped_with_a_warning() -> None:
    frame = _frame()
    frame.loc[0, "acc_sparse"] = np.nan
    frame.loc[3, "acc_dense"] = 0.0
    with pytest.warns(UserWarning, match="Dropping 2 row"):
        table = F.load_features(frame)
    assert len(table) == len(frame) - 2


def test_constant_and_empty_metric_columns_are_dropped_with_a_warning() -> None:
    frame = _frame()
    frame["kcore"] = 3.0
    frame["motif4"] = np.nan
    with pytest.warns(UserWarning, match="constant or all-null metric column"):
        table = F.load_features(frame)
    assert set(table.dropped) == {"kcore", "motif4"}
    assert "kcore" not in table.X("mge").columns


def test_duplicated_ids_and_non_numeric_metrics_are_rejected() -> None:
    frame = _frame()
    frame.loc[1, "network_id"] = frame.loc[0, "network_id"]
    with pytest.raises(ValidationError, match="duplicated network_id"):
        F.load_features(frame)
    frame = _frame()
    frame["sink"] = frame["sink"].astype(object)
    frame.loc[2, "sink"] = "many"
    with pytest.raises(ValidationError, match="'sink' must be numeric"):
        F.load_features(frame)


def test_empty_feature_set_message() -> None:
    table = small_table()
    with pytest.raises(ValidationError, match="Feature set 'paths' has no usable"):
        table.X("paths")


def test_paper_normalisation_divides_counts_by_graph_size() -> None:
    frame = _frame()
    raw = F.load_features(frame).data
    paper = F.load_features(frame, normalisation="paper").data
    np.testing.assert_allclose(paper["sink"], raw["sink"] / raw["n_nodes"])
    np.testing.assert_allclose(paper["component_size"], raw["component_size"] / raw["n_nodes"])
    np.testing.assert_allclose(paper["r_out"], raw["r_out"] / raw["n_edges"])
    np.testing.assert_allclose(paper["cut_nodes"], raw["cut_nodes"] / raw["n_edges"])
    # The authors' released data: 1-hop counts the node itself and is divided by |E|.
    np.testing.assert_allclose(paper["n1"], (1 + raw["n1"]) / raw["n_edges"])
    np.testing.assert_allclose(paper["n2"], (1 + raw["n2"]) / raw["n_edges"])
    np.testing.assert_allclose(paper["kcore"], raw["kcore"] / raw["n_edges"])
    np.testing.assert_allclose(paper["strength"], raw["strength"] / raw["n_edges"])
    for name in ("spectral_gap", "spectral_radius", "components", "motif4"):
        np.testing.assert_allclose(paper[name], raw[name])  # kept raw
    # No rolled_n_nodes column: the rolled counts stay raw (documented).
    np.testing.assert_allclose(paper["rolled_sink"], raw["rolled_sink"])
    np.testing.assert_allclose(paper["rolled_n1"], raw["rolled_n1"])


def test_paper_one_hop_matches_the_released_formula() -> None:
    """A planted MGE with |V| nodes and |E| edges: 1-hop is exactly (1 + |E|/|V|) / |E|."""
    frame = _frame()
    n_nodes, n_edges = frame["n_nodes"].to_numpy(float), frame["n_edges"].to_numpy(float)
    frame["n1"] = n_edges / n_nodes  # our n1 on a simple graph: mean out-degree |E|/|V|
    paper = F.load_features(frame, normalisation="paper").data
    np.testing.assert_allclose(paper["n1"], (1 + n_edges / n_nodes) / n_edges, rtol=1e-12)
    assert F.PAPER_DIVISORS["n1"] == "(1 + x) / |E|" and F.PAPER_DIVISORS["sink"] == "x / |V|"
    assert set(F.PAPER_DIVISORS) == {
        "sink", "source", "disconnected", "component_size", "r_out", "r_in", "cut_edges",
        "cut_nodes", "n1", "n2", "kcore", "strength",
    }  # fmt: skip


def test_infinite_metric_values_become_null_with_a_warning_naming_the_column() -> None:
    frame = _frame()
    frame.loc[:6, "mean_delta_r"] = -np.inf
    frame.loc[3, "kcore"] = np.inf
    with pytest.warns(
        UserWarning,
        match=r"'kcore' \(1\).*'mean_delta_r' \(7\)|'mean_delta_r' \(7\).*'kcore' \(1\)",
    ):
        table = F.load_features(frame)
    assert table.data["mean_delta_r"].isna().sum() == 7 and table.data["kcore"].isna().sum() == 1
    assert np.isfinite(table.data[F.metric_columns(table.data)].fillna(0).to_numpy()).all()
    # Per-layer rows: -inf is undefined too, so the layer mean skips it.
    layers = pd.DataFrame(
        {"network_id": ["a", "a", "b"], "layer": [0, 1, 0], "delta_r": [-np.inf, 2.0, 3.0]}
    )
    with pytest.warns(UserWarning, match=r"per-layer table.*'delta_r' \(1\)"):
        means = F.pivot_layer_metrics(layers)
    assert means.loc["a", "mean_delta_r"] == 2.0
    # A FeatureTable built by hand is cleaned as well (every analysis entry point).
    raw = F.validate_features(_frame())
    raw.loc[0, "sink"] = np.inf
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = F.FeatureTable(data=raw, layers=layers)
    messages = [str(w.message) for w in caught]
    assert any("feature table" in m and "'sink' (1)" in m for m in messages), messages
    assert any("per-layer table" in m and "'delta_r' (1)" in m for m in messages), messages
    assert np.isnan(built.data.loc[0, "sink"]) and built.layers["delta_r"].isna().sum() == 1


def test_minmax_and_zscore_normalisations() -> None:
    frame = _frame()
    mm = F.load_features(frame, normalisation="minmax").data
    assert mm["kcore"].min() == pytest.approx(0) and mm["kcore"].max() == pytest.approx(1)
    z = F.load_features(frame, normalisation="zscore").data
    assert z["kcore"].mean() == pytest.approx(0, abs=1e-12)
    with pytest.raises(UnknownNameError, match="normalisation"):
        F.load_features(frame, normalisation="papers")


def test_csv_and_parquet_sources_match_the_dataframe(tmp_path) -> None:
    frame = _frame()
    frame.to_csv(tmp_path / "f.csv", index=False)
    frame.to_parquet(tmp_path / "f.parquet", index=False)
    ref = F.load_features(frame).data
    for name in ("f.csv", "f.parquet"):
        got = F.load_features(tmp_path / name).data
        pd.testing.assert_frame_equal(
            got[ref.columns], ref, check_dtype=False, check_exact=False, rtol=1e-12
        )
    with pytest.raises(ValidationError, match=r"must be \.csv or \.parquet"):
        (tmp_path / "f.txt").write_text("x")
        F.load_features(tmp_path / "f.txt")
    with pytest.raises(ValidationError, match="does not exist"):
        F.load_features(tmp_path / "nope.csv")
    with pytest.raises(ValidationError, match="No rows of study 'other'"):
        F.load_features(frame, study="other")


def test_layer_means_skip_nulls() -> None:
    layers = pd.DataFrame(
        {
            "network_id": ["a", "a", "a", "b"],
            "layer": [0, 1, 2, 0],
            "layer_density": [0.2, 0.4, 0.6, 1.0],
            "delta_r": [1.0, np.nan, 3.0, np.nan],
        }
    )
    means = F.pivot_layer_metrics(layers)
    assert means.loc["a", "mean_layer_density"] == pytest.approx(0.4)
    assert means.loc["a", "mean_delta_r"] == pytest.approx(2.0)
    assert np.isnan(means.loc["b", "mean_delta_r"])


class _RecordedStore:
    """Stands in for Store.query_df with rows shaped like the two library queries return."""

    def __init__(self, networks: pd.DataFrame, layers: pd.DataFrame) -> None:
        self.networks, self.layers, self.calls = networks, layers, []

    def query_df(self, name: str, /, **params: object) -> pd.DataFrame:
        self.calls.append((name, params))
        return {"network_features": self.networks, "layer_metrics": self.layers}[name]


def test_store_source_flattens_props_and_averages_layers() -> None:
    frame, layers = make_synthetic_features(**SMALL, return_layers=True)  # type: ignore[misc]
    ids = ["network_id", "architecture", "dataset", "pruner", "sparsity", "acc_dense", "acc_sparse"]
    metric_cols = [c for c in frame.columns if c not in ids and not c.startswith("mean_")]
    networks = frame[ids].assign(props=frame[metric_cols].to_dict("records"))
    layer_rows = layers[["network_id", "layer"]].assign(
        props=layers.drop(columns=["network_id", "layer"]).to_dict("records")
    )
    store = _RecordedStore(networks, layer_rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = F.load_features(store, study="synthetic")
    assert [c[0] for c in store.calls] == ["network_features", "layer_metrics"]
    assert store.calls[0][1] == {"study": "synthetic"}
    np.testing.assert_allclose(table.data["mean_delta_r"], frame["mean_delta_r"])
    np.testing.assert_allclose(table.data["kcore"], frame["kcore"])
    assert table.layers is not None and "delta_r" in table.layers
    with pytest.raises(ValidationError, match="needs a study name"):
        F.load_features(store)
    empty = _RecordedStore(networks.iloc[:0], layer_rows.iloc[:0])
    with pytest.raises(NotFoundError, match="no complete networks"):
        F.load_features(empty, study="nothing")


def test_bad_source_type() -> None:
    with pytest.raises(ValidationError, match="must be a DataFrame, a CSV/Parquet path or a Store"):
        F.load_features(42)  # type: ignore[arg-type]


def test_scenarios_split_by_sparsity_and_architecture() -> None:
    table = small_table()
    parts = dict(table.scenarios("sparsity"))
    assert set(parts) == {"0.8", "0.9", "0.95"}
    assert all(p.data["sparsity"].nunique() == 1 for p in parts.values())
    assert sum(len(p) for p in parts.values()) == len(table)
    assert [name for name, _ in table.scenarios("architecture")] == ["conv6", "resnet20"]
    with pytest.raises(UnknownNameError, match="scenario"):
        table.scenarios("dataset")


def test_cost_columns_are_pinned_and_summed_from_layers(tmp_path) -> None:
    from prunegraph.loader.cost import COST_COLUMNS

    assert F.COST_COLUMNS == ("params", "params_nonzero", "flops_dense", "flops_sparse")
    assert F.COST_COLUMNS == COST_COLUMNS
    frame = _frame()
    ids = frame["network_id"].tolist()
    # two layers per network (hand values), the second network's first layer lacks flops_sparse
    layers = pd.DataFrame(
        {
            "network_id": [i for i in ids for _ in range(2)],
            "layer": [0, 1] * len(ids),
            "params": [18, 48] * len(ids),
            "params_nonzero": [9, 20] * len(ids),
            "flops_dense": [648, 48] * len(ids),
            "flops_sparse": [324.0, 20.0] * len(ids),
        }
    )
    layers.loc[2, "flops_sparse"] = np.nan
    path = tmp_path / "layers.csv"
    layers.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = F.load_features(frame, layers=path)
    data = table.data.set_index("network_id")
    assert data.loc[ids[0], "params"] == 66 and data.loc[ids[0], "params_nonzero"] == 29
    assert data.loc[ids[0], "flops_dense"] == 696 and data.loc[ids[0], "flops_sparse"] == 344
    assert np.isnan(data.loc[ids[1], "flops_sparse"])  # no partial sums
    # constant over the table, yet kept (not a metric column, never a feature)
    assert set(F.COST_COLUMNS) <= set(table.data.columns)
    assert not set(F.COST_COLUMNS) & set(F.metric_columns(table.data))
    assert not set(F.COST_COLUMNS) & set(table.feature_columns("all"))
    # a value given on the network rows wins over the layer sums
    given = frame.assign(params=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = F.load_features(given, layers=layers)
    assert (table.data["params"] == 7).all()
    assert table.data.set_index("network_id").loc[ids[0], "flops_dense"] == 696


def test_feature_set_union_with_plus() -> None:
    from prunegraph.analysis.features import _feature_set_columns, feature_set_columns

    sets = _feature_set_columns()
    columns = [*sets["weights"], *sets["mge"]]
    both = feature_set_columns("mge+weights", columns)
    assert both == [*feature_set_columns("mge", columns), *feature_set_columns("weights", columns)]
    assert len(both) == len(set(both))
    assert feature_set_columns("mge+mge", columns) == feature_set_columns("mge", columns)
    with pytest.raises(UnknownNameError, match="bogus"):
        feature_set_columns("mge+bogus", columns)
