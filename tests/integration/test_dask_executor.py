"""examples/ci-tiny.toml on a real dask.distributed LocalCluster gives what the process pool gives."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _study_helpers import tiny_config

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]


def _stored(store, study: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    from prunegraph.analysis.features import features_from_store

    networks, layers = features_from_store(store, study)
    networks = networks.sort_values("network_id").reset_index(drop=True)
    layers = layers.sort_values(list(layers.columns[:3])).reset_index(drop=True)
    return networks, layers


def _when(column: str) -> bool:
    """Columns that record when or how long, not what: they differ between any two runs."""
    return column.endswith("_at") or "seconds" in column or column.endswith("_time")


def _assert_same(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    assert list(a.columns) == list(b.columns), what
    compared = [c for c in a.columns if not _when(c)]
    assert len(compared) > 20, compared  # ids, accuracies, metrics
    for column in compared:
        x, y = a[column], b[column]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            np.testing.assert_allclose(
                x.to_numpy(float), y.to_numpy(float), rtol=1e-9, atol=0, equal_nan=True,
                err_msg=f"{what}: column {column}",
            )  # fmt: skip
        else:
            assert x.astype(str).tolist() == y.astype(str).tolist(), f"{what}: column {column}"


def test_ci_tiny_on_a_local_dask_cluster_matches_the_process_pool(store, tmp_path: Path) -> None:
    from prunegraph.queries.data_model import delete_study
    from prunegraph.study.executors import DaskExecutor
    from prunegraph.study.run import run_study

    config = tiny_config()  # a unique study name, deleted at the end
    assert config.run.workers == 2
    try:
        by_process = run_study(
            config, out_dir=tmp_path / "process", store=store, analyses=False, progress=False
        )
        assert by_process.count("complete") == 24, by_process.format()
        networks_p, layers_p = _stored(store, config.name)
        delete_study(store, config.name)

        dask_config = dataclasses.replace(
            config, run=dataclasses.replace(config.run, executor="dask")
        )
        with DaskExecutor(workers=2) as pool:
            assert len(pool.client.scheduler_info()["workers"]) == 2
            by_dask = run_study(
                dask_config,
                out_dir=tmp_path / "dask",
                store=store,
                executor=pool,
                analyses=False,
                progress=False,
            )
        assert by_dask.count("complete") == 24, by_dask.format()
        networks_d, layers_d = _stored(store, config.name)

        # the same networks, with the same ids, accuracies and metrics
        assert sorted(networks_p["network_id"]) == sorted(networks_d["network_id"])
        assert {o.network_id for o in by_process.outcomes} == {
            o.network_id for o in by_dask.outcomes
        }
        _assert_same(networks_p, networks_d, "networks")
        _assert_same(layers_p, layers_d, "layers")
        assert networks_d["acc_sparse"].notna().all()
    finally:
        delete_study(store, config.name)


def test_the_study_file_chooses_a_local_dask_cluster(store, tmp_path: Path) -> None:
    """`[run] executor = "dask"` without a scheduler: run_study starts and closes a LocalCluster."""
    from prunegraph.queries.data_model import delete_study
    from prunegraph.study.run import run_study

    config = tiny_config()
    config = dataclasses.replace(config, run=dataclasses.replace(config.run, executor="dask"))
    try:
        summary = run_study(
            config,
            out_dir=tmp_path,
            store=store,
            where={"model": "mlp", "seed": "0", "pruner": "random"},
            analyses=False,
            progress=False,
        )
        assert summary.count("complete") == 2, summary.format()
    finally:
        delete_study(store, config.name)
