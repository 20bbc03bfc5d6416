"""Accuracy vs sparsity, layer-density profiles and the layer-collapse detector (issue 14 item 2)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _analysis_helpers import small_table

from prunegraph.analysis import sparsity_curves as sc
from prunegraph.analysis.features import FeatureTable, load_features
from prunegraph.analysis.report import write_report
from prunegraph.analysis.synthetic import make_synthetic_features
from prunegraph.errors import ValidationError
from prunegraph.study.run import StudySummary


def _tiny() -> pd.DataFrame:
    """Two pruners x two sparsities x two seeds with hand-checkable accuracies."""
    rows = []
    acc = {  # (pruner, sparsity) -> the two seeds' sparse accuracies
        ("snip", 0.5): (0.90, 0.80),
        ("snip", 0.9): (0.60, 0.70),
        ("er", 0.5): (0.85, 0.85),
        ("er", 0.9): (0.75, 0.65),
    }
    for (pruner, sparsity), values in acc.items():
        for seed, value in enumerate(values):
            rows.append(
                {
                    "network_id": f"{pruner}-{sparsity}-{seed}",
                    "architecture": "lenet5",
                    "dataset": "digits",
                    "pruner": pruner,
                    "sparsity": sparsity,
                    "seed": seed,
                    "acc_dense": 0.95 + 0.01 * seed,
                    "acc_sparse": value,
                }
            )
    return pd.DataFrame(rows)


def test_accuracy_vs_sparsity_mean_and_sample_sd_over_seeds() -> None:
    curves = sc.accuracy_vs_sparsity(_tiny())
    assert len(curves) == 4
    row = curves[(curves["pruner"] == "snip") & (curves["sparsity"] == 0.5)].iloc[0]
    assert row["n_seeds"] == 2
    assert row["acc_sparse_mean"] == pytest.approx(0.85)
    assert row["acc_sparse_sd"] == pytest.approx(np.std([0.9, 0.8], ddof=1))
    drops = [1 - 0.90 / 0.95, 1 - 0.80 / 0.96]
    assert row["acc_drop_mean"] == pytest.approx(np.mean(drops))
    assert row["acc_drop_sd"] == pytest.approx(np.std(drops, ddof=1))
    assert row["acc_dense_mean"] == pytest.approx(0.955)
    best = sc.best_pruners(curves)
    assert list(best["pruner"]) == ["er"]  # at 0.9: er 0.70 > snip 0.65
    assert list(best["sparsity"]) == [0.9]


def test_accuracy_section_headline_names_the_best_pruner_in_percent(tmp_path: Path) -> None:
    from prunegraph.analysis.report import _Report

    table = load_features(_tiny())
    report = _Report(tmp_path)
    sentence = sc._accuracy_section(report, table)
    assert sentence is not None
    assert "At sparsity 0.9 the best pruner is er on lenet5/digits, 70.0 ± 7.1 %" in sentence
    assert "dense 95.5 %" in sentence
    assert "sd over 2 seeds" in sentence
    # panels whose highest sparsities differ name theirs in each clause
    mixed = _tiny()
    mixed = pd.concat(
        [mixed, mixed.assign(dataset="mnist", network_id=lambda f: "m" + f["network_id"])]
    )
    mixed = mixed[~((mixed["dataset"] == "mnist") & (mixed["sparsity"] == 0.9))]
    other = sc._accuracy_section(_Report(tmp_path), load_features(mixed))
    assert other is not None and other.startswith("At the highest sparsity of each")
    assert "on lenet5/digits at 0.9, 70.0" in other and "on lenet5/mnist at 0.5, 85.0" in other
    assert (tmp_path / "accuracy_vs_sparsity.csv").is_file()
    # accuracies already in percent stay as they are
    percent = _tiny().assign(acc_dense=lambda f: f["acc_dense"] * 100)
    percent["acc_sparse"] *= 100
    assert sc.percent_scale(percent) == 1.0
    assert sc.percent_scale(_tiny()) == 100.0


def test_plot_has_one_panel_per_architecture_and_dataset_with_labelled_axes() -> None:
    frame = make_synthetic_features(
        architectures=("conv6", "resnet20"),
        datasets=("cifar10",),
        pruners=("snip", "er"),
        sparsities=(0.8, 0.9),
        n_seeds=2,
    )
    assert isinstance(frame, pd.DataFrame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load_features(frame)
    fig = sc.plot_accuracy_vs_sparsity(sc.accuracy_vs_sparsity(table))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2
    for ax in visible:
        assert ax.get_ylabel() == "test accuracy (%)"
        assert "sparsity" in ax.get_xlabel()
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(dashed) == 1  # the dense reference
        colours = {line.get_color() for line in ax.get_lines() if line.get_linestyle() != "--"}
        assert colours <= set(sc.OKABE_ITO)


def _with_layers(**collapse: object) -> FeatureTable:
    frame, layers = make_synthetic_features(
        architectures=("conv6",),
        datasets=("cifar10",),
        pruners=("snip", "synflow"),
        sparsities=(0.9, 0.99),
        n_seeds=2,
        n_layers=4,
        return_layers=True,
    )
    assert isinstance(layers, pd.DataFrame)
    layers = layers.assign(
        layer_name=lambda f: "conv" + f["layer"].astype(str), n_edges=100, n_unmasked=10
    )
    frame = frame.assign(edge_connectivity=3.0)
    ids = frame.set_index(["pruner", "sparsity", "seed"])["network_id"]
    if "zero" in collapse:  # layer 2 of synflow/0.99/seed 0 has no kept weight
        nid = ids[("synflow", 0.99, 0)]
        hit = (layers["network_id"] == nid) & (layers["layer"] == 2)
        layers.loc[hit, ["layer_density", "n_unmasked", "n_edges"]] = 0
    if "no_edges" in collapse:  # kept weights but no MGE edge (e.g. all on padding)
        nid = ids[("synflow", 0.99, 1)]
        layers.loc[(layers["network_id"] == nid) & (layers["layer"] == 3), "n_edges"] = 0
    if "cut" in collapse:  # every layer non-empty, yet no input-output path
        frame.loc[frame["network_id"] == ids[("snip", 0.99, 1)], "edge_connectivity"] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_features(frame, layers=layers)


def test_a_clean_table_has_no_collapse() -> None:
    table = _with_layers()
    collapsed = sc.find_collapsed_layers(table.data, table.layers)
    assert collapsed.empty
    assert list(collapsed.columns) == list(sc.COLLAPSE_COLUMNS)
    sentence = sc.collapse_headline(collapsed, len(table), checked="x")
    assert sentence.startswith(f"No layer collapsed in {len(table)} networks")
    summary = sc.collapse_summary(collapsed, table.data)
    assert (summary["n_collapsed"] == 0).all()
    assert summary["n_networks"].sum() == len(table)


def test_planted_collapsed_layers_and_cut_networks_are_found() -> None:
    table = _with_layers(zero=True, no_edges=True, cut=True)
    collapsed = sc.find_collapsed_layers(table.data, table.layers)
    assert len(collapsed) == 3
    by_reason = collapsed.set_index("reason")
    assert by_reason.loc["density_zero", "layer_name"] == "conv2"
    assert by_reason.loc["density_zero", "pruner"] == "synflow"
    assert by_reason.loc["density_zero", "seed"] == 0
    assert by_reason.loc["no_edges", "layer"] == 3
    assert by_reason.loc["no_path", "pruner"] == "snip"
    assert pd.isna(by_reason.loc["no_path", "layer"])
    sentence = sc.collapse_headline(collapsed, len(table), checked="x")
    assert sentence.startswith(f"3 of {len(table)} networks have a collapsed layer")
    assert "synflow at 0.99 on conv6: 2 (conv2, conv3)" in sentence
    summary = sc.collapse_summary(collapsed, table.data).set_index(["pruner", "sparsity"])
    assert summary.loc[("synflow", 0.99), "n_collapsed"] == 2
    assert summary.loc[("snip", 0.99), "layers"] == "no path"
    assert summary.loc[("snip", 0.9), "n_collapsed"] == 0
    profile = sc.layer_density_profile(table)
    low = profile.set_index(["pruner", "sparsity", "layer"]).loc[("synflow", 0.99, 2)]
    assert low["density_min"] == 0 and low["n_networks"] == 2


def test_skip_connections_are_not_collapsed_layers() -> None:
    table = _with_layers()
    layers = table.layers
    assert layers is not None
    first = layers.drop_duplicates("network_id").assign(
        layer=99,
        layer_name="skip",
        kind="skip",
        n_weights=0,
        n_unmasked=0,
        layer_density=np.nan,
        n_edges=64,
    )
    with_skip = pd.concat([layers.assign(kind="conv", n_weights=1000), first], ignore_index=True)
    assert sc.find_collapsed_layers(table.data, with_skip).empty
    as_store = with_skip.drop(columns="kind")  # no kind column: n_weights 0 says it
    assert sc.find_collapsed_layers(table.data, as_store).empty
    emptied = with_skip.copy()
    emptied.loc[emptied["layer"] == 1, ["n_unmasked", "layer_density"]] = 0
    assert set(sc.find_collapsed_layers(table.data, emptied)["layer"]) == {1}
    profile = sc.layer_density_profile(FeatureTable(data=table.data, layers=with_skip))
    assert 99 not in set(profile["layer"])


def test_collapse_records_warning_and_study_summary_line(tmp_path: Path) -> None:
    table = _with_layers(zero=True)
    records = sc.collapse_records(
        table.data, table.layers, labels={nid: f"label-{nid}" for nid in table.data["network_id"]}
    )
    assert len(records) == 1
    assert records[0]["layer"] == 2 and records[0]["layer_name"] == "conv2"
    assert records[0]["label"].startswith("label-")
    line = sc.collapse_warning(records)
    assert line is not None and "layer collapse in 1 network(s)" in line
    assert "conv2: layer density 0" in line
    assert sc.collapse_warning([]) is None
    summary = StudySummary("s", tmp_path, [], {"total": 1.0}, layer_collapse=records)
    assert f"Warning: {line}" in summary.format().splitlines()
    assert "layer collapse" not in StudySummary("s", tmp_path, [], {}).format()


class _Store:
    """The two library queries ``collapse_in_store`` reads, from frames."""

    def __init__(self, table: FeatureTable) -> None:
        self.table = table

    def query_df(self, name: str, /, **params: object) -> pd.DataFrame:
        assert params == {"study": "s"}
        data = self.table.data
        if name == "network_features":
            ids = ["network_id", "study", "architecture", "dataset", "pruner"]
            ids += ["pruner_category", "sparsity", "seed", "acc_dense", "acc_sparse"]
            props = data[["edge_connectivity"]].to_dict("records")
            return data[ids].assign(props=props)
        assert name == "layer_metrics" and self.table.layers is not None
        layers = self.table.layers
        props = layers.drop(columns=["network_id", "layer"]).to_dict("records")
        return layers[["network_id", "layer"]].assign(props=props)


def test_collapse_in_store_labels_networks_like_the_run() -> None:
    table = _with_layers(zero=True, cut=True)
    records = sc.collapse_in_store(_Store(table), "s")
    assert {r["reason"] for r in records} == {
        sc.COLLAPSE_REASONS["density_zero"],
        sc.COLLAPSE_REASONS["no_path"],
    }
    assert any(re.fullmatch(r"conv6/cifar10/synflow/s=0\.99/seed=0", r["label"]) for r in records)
    kept = table.data.loc[table.data["pruner"] == "snip", "network_id"]
    only_snip = sc.collapse_in_store(_Store(table), "s", network_ids=list(kept))
    assert [r["reason"] for r in only_snip] == [sc.COLLAPSE_REASONS["no_path"]]


def test_sections_write_into_a_real_report(tmp_path: Path) -> None:
    table = _with_layers(zero=True)
    path = write_report(
        table, tmp_path, sections=("accuracy_vs_sparsity", "layer_collapse"), n_repeats=1
    )
    page = path.read_text()
    for name in (
        "accuracy_vs_sparsity.csv",
        "layer_density_profile.csv",
        "layer_collapse_summary.csv",
        "layer_collapse.csv",
    ):
        assert (tmp_path / name).is_file(), name
        assert name in page
    assert page.count("data:image/png;base64,") >= 2
    assert "skipped" not in (tmp_path / "notes.txt").read_text()
    listed = pd.read_csv(tmp_path / "layer_collapse.csv")
    assert list(listed["layer_name"]) == ["conv2"]


def test_collapse_needs_layers_or_connectivity() -> None:
    table = small_table()
    assert sc._can_check_collapse(table)
    bare = FeatureTable(data=table.data)
    assert not sc._can_check_collapse(bare)
    with pytest.raises(ValidationError, match="no per-layer densities"):
        sc.layer_density_profile(bare)
    with pytest.raises(ValidationError, match="network_id"):
        sc.find_collapsed_layers(pd.DataFrame({"x": [1]}))
