"""The ``weights`` feature set (Unterthiner et al. 2020): hand-computed statistics, cache, table."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from _analysis_helpers import SMALL

from prunegraph.analysis import features as F
from prunegraph.analysis.synthetic import make_synthetic_features
from prunegraph.analysis.weights import (
    WEIGHT_COLUMNS,
    layer_weight_statistics,
    summarise_layers,
    weight_features,
)
from prunegraph.errors import ValidationError


def _entry(scale: float = 1.0) -> dict:
    # layer a: kept weights 1, 2, 3, 4 (the masked 100 is ignored); layer b: kept -2, 2
    a = torch.tensor([[1.0, 2.0, 100.0], [3.0, 4.0, 100.0]]) * scale
    b = torch.tensor([-2.0, 0.0, 2.0]) * scale
    masks = {
        "a.weight": torch.tensor([[True, True, False], [True, True, False]]),
        "b.weight": torch.tensor([True, False, True]),
    }
    return {"masks": masks, "state_dict": {"a.weight": a, "b.weight": b, "a.bias": b}}


def test_pinned_columns() -> None:
    assert WEIGHT_COLUMNS == (
        "w_mean",
        "w_var",
        "w_q0",
        "w_q25",
        "w_q50",
        "w_q75",
        "w_q100",
        "w_mean_sd",
        "w_var_sd",
        "w_q0_sd",
        "w_q25_sd",
        "w_q50_sd",
        "w_q75_sd",
        "w_q100_sd",
    )
    assert F.FEATURE_SETS["weights"] == WEIGHT_COLUMNS
    assert not set(WEIGHT_COLUMNS) & set(F.FEATURE_SETS["all"])  # a baseline, not topology


def test_hand_computed_statistics() -> None:
    e = _entry()
    layers = layer_weight_statistics(e["state_dict"], e["masks"])
    # a: mean 2.5, population variance 1.25, quantiles 1, 1.75, 2.5, 3.25, 4
    np.testing.assert_allclose(layers.loc["a.weight"], [2.5, 1.25, 1.0, 1.75, 2.5, 3.25, 4.0])
    # b: mean 0, variance 4, quantiles -2, -1, 0, 1, 2
    np.testing.assert_allclose(layers.loc["b.weight"], [0.0, 4.0, -2.0, -1.0, 0.0, 1.0, 2.0])
    summary = summarise_layers(layers)
    assert summary["w_mean"] == pytest.approx(1.25) and summary["w_mean_sd"] == pytest.approx(1.25)
    assert summary["w_var"] == pytest.approx(2.625) and summary["w_var_sd"] == pytest.approx(1.375)
    assert summary["w_q100"] == pytest.approx(3.0) and summary["w_q0_sd"] == pytest.approx(1.5)


def test_layer_without_kept_weights_is_left_out() -> None:
    e = _entry()
    e["masks"]["b.weight"] = torch.zeros(3, dtype=torch.bool)
    layers = layer_weight_statistics(e["state_dict"], e["masks"])
    assert layers.loc["b.weight"].isna().all()
    summary = summarise_layers(layers)
    assert summary["w_mean"] == pytest.approx(2.5) and summary["w_mean_sd"] == 0.0


def test_bad_inputs_are_named() -> None:
    e = _entry()
    with pytest.raises(ValidationError, match=r"no parameter 'c\.weight'"):
        layer_weight_statistics(e["state_dict"], {"c.weight": np.ones(2, bool)})
    with pytest.raises(ValidationError, match="differs from mask shape"):
        layer_weight_statistics(e["state_dict"], {"b.weight": np.ones(2, bool)})
    with pytest.raises(ValidationError, match="masks is empty"):
        layer_weight_statistics(e["state_dict"], {})


def test_features_from_the_cache_folder(tmp_path) -> None:
    frame = make_synthetic_features(**SMALL)
    ids = frame["network_id"].astype(str).tolist()
    folder = tmp_path / "cache" / "networks"
    folder.mkdir(parents=True)
    for k, network_id in enumerate(ids[:-1]):  # the last network has no cache entry
        torch.save(_entry(scale=1.0 + k), folder / f"{network_id}.pt")
    untrained = _entry()
    untrained["state_dict"] = None
    torch.save(untrained, folder / f"{ids[0]}.pt")  # untrained study: nulls
    table = weight_features(tmp_path / "cache", ids)
    assert list(table.columns) == list(WEIGHT_COLUMNS) and list(table.index) == ids
    assert table.loc[ids[0]].isna().all() and table.loc[ids[-1]].isna().all()
    assert table.loc[ids[1], "w_mean"] == pytest.approx(1.25 * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = F.load_features(frame, weights=tmp_path / "cache")
    assert loaded.feature_columns("weights") == list(WEIGHT_COLUMNS)
    x = loaded.X("weights")
    assert x.shape == (len(frame), len(WEIGHT_COLUMNS))
    # the same columns from a file (a features.csv written with them)
    path = tmp_path / "features.csv"
    loaded.data.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = F.load_features(path)
    np.testing.assert_allclose(again.data["w_var"], loaded.data["w_var"])
    with pytest.raises(ValidationError, match="does not exist"):
        weight_features(tmp_path / "nope", ids)
    with pytest.raises(ValidationError, match="Unknown weights column"):
        F.load_features(frame, weights=pd.DataFrame({"network_id": ids, "w_bogus": 1.0}))
