"""The analysis library queries (network_features, layer_metrics) on the real server.

Networks are exported at level ``summary`` (Study, Network, Layer nodes), metrics are
written back with ``write_metrics``; ``load_features(store, study=...)`` must return
them as the wide feature table the file source gives.
"""

from __future__ import annotations

import secrets
import uuid
import warnings

import numpy as np
import pandas as pd
import pytest
from _graphs import resnet_block

from prunegraph.analysis.features import load_features
from prunegraph.analysis.report import write_report
from prunegraph.loader import export as ex
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries import data_model as dm
from prunegraph.queries.metrics import write_metrics
from prunegraph.queries.store import Store

PRUNERS = ("snip", "er")


@pytest.fixture(scope="module")
def stored(store: Store):
    study = f"t{uuid.uuid4().hex[:10]}_analysis"
    expected = []
    rng = np.random.default_rng(0)
    for k, (pruner, seed) in enumerate((p, s) for p in PRUNERS for s in (0, 1)):
        graph = resnet_block(seed=k, density=0.4 + 0.1 * k, c=2, h=3)
        acc_dense, acc_sparse = 0.9, 0.8 - 0.05 * k
        record = NetworkRecord(
            network_id=secrets.token_hex(8),
            study=study,
            architecture="resnet_block",
            dataset="synthetic",
            pruner=pruner,
            pruner_category="pai" if pruner == "snip" else "random",
            sparsity=0.5,
            seed=seed,
            input_shape=(2, 3, 3),
            acc_dense=acc_dense,
            acc_sparse=acc_sparse,
        )
        ex.export_network(store, graph, record=record, level="summary", progress=False)
        layers = store.query("network_layers", network_id=record.network_id)
        kcore, sink = float(rng.random()), float(rng.integers(0, 20))
        delta_r = {int(row["layer"]): float(rng.random()) for row in layers}
        delta_r[min(delta_r)] = np.nan  # undefined for one layer: stored as null
        long = pd.DataFrame(
            [
                {
                    "network_id": record.network_id,
                    "layer": None,
                    "metric": "kcore",
                    "value": kcore,
                    "se": None,
                    "engine": "numpy",
                },
                {
                    "network_id": record.network_id,
                    "layer": None,
                    "metric": "sink",
                    "value": sink,
                    "se": None,
                    "engine": "numpy",
                },
            ]
            + [
                {
                    "network_id": record.network_id,
                    "layer": i,
                    "metric": "delta_r",
                    "value": v,
                    "se": None,
                    "engine": "numpy",
                }
                for i, v in delta_r.items()
            ]
        )
        write_metrics(store, long)
        expected.append(
            {
                "network_id": record.network_id,
                "acc_drop": 1 - acc_sparse / acc_dense,
                "kcore": kcore,
                "sink": sink,
                "n_nodes": graph.n_nodes,
                "mean_delta_r": np.nanmean(list(delta_r.values())),
                "n_layers": len(layers),
            }
        )
    yield study, pd.DataFrame(expected).set_index("network_id")
    dm.delete_study(store, study)


def test_feature_table_from_the_store(store: Store, stored) -> None:
    study, expected = stored
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the store's absolute acc_drop is set aside silently
        table = load_features(store, study=study)
    data = table.data.set_index("network_id").loc[expected.index]
    # NetworkRecord stores the relative drop; the stored value is kept aside as acc_drop_given.
    np.testing.assert_allclose(data["acc_drop_given"], 1 - data["acc_sparse"] / data["acc_dense"])
    assert set(data["study"]) == {study}
    np.testing.assert_allclose(data["acc_drop"], expected["acc_drop"])
    np.testing.assert_allclose(data["kcore"], expected["kcore"])
    np.testing.assert_allclose(data["mean_delta_r"], expected["mean_delta_r"])
    assert (data["pruner"].to_numpy() == np.repeat(PRUNERS, 2)).all()
    assert table.layers is not None
    assert (
        table.layers.groupby("network_id").size().loc[expected.index].tolist()
        == expected["n_layers"].tolist()
    )
    density = table.layers["layer_density"]
    assert density.notna().any() and density.dropna().between(0, 1).all()  # null on skip layers
    paper = load_features(store, study=study, normalisation="paper").data.set_index("network_id")
    np.testing.assert_allclose(
        paper.loc[expected.index, "sink"], expected["sink"] / expected["n_nodes"]
    )


def test_report_from_the_store_never_crashes_on_a_tiny_study(
    store: Store, stored, tmp_path
) -> None:
    study, _ = stored
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load_features(store, study=study)
    path = write_report(table, tmp_path, n_repeats=1, regressors=("ridge",), xgboost_estimators=5)
    notes = (tmp_path / "notes.txt").read_text()
    assert path.is_file() and "failed unexpectedly" not in notes
    assert "needs at least n_splits=5" in notes  # four networks, two configurations
