"""The report's process pool: fits submitted first, fit-free sections drawn meanwhile, same page."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _analysis_helpers import SMALL

import prunegraph.analysis.report as report_module
from prunegraph.analysis.cells import Pending, map_cells
from prunegraph.analysis.features import FeatureTable, load_features
from prunegraph.analysis.report import EXTRA_SECTIONS, ExtraSection, register_section, write_report
from prunegraph.analysis.synthetic import make_synthetic_features
from prunegraph.analysis.weights import WEIGHT_COLUMNS

FAST = ("linear", "ridge")


def _square_plus(x: int, k: int) -> int:
    return x * x + k


class _Held(Executor):
    """An executor that records what is submitted and runs it only when told to."""

    def __init__(self) -> None:
        self.calls: list[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.calls.append((future, fn, args))
        return future

    def run_all(self) -> None:
        for future, fn, args in self.calls:
            future.set_result(fn(*args))


def test_pending_computes_once_and_raises_where_the_result_is_needed() -> None:
    calls: list[int] = []
    pending = Pending(lambda: calls.append(1) or len(calls))
    assert calls == []  # nothing runs before result()
    assert pending.result() == 1 and pending.result() == 1 and calls == [1]

    def no_columns() -> Pending[int]:
        raise ValueError("no usable column")

    failed = Pending.launch(no_columns)  # the error is kept, not raised here
    for _ in range(2):
        with pytest.raises(ValueError, match="no usable column"):
            failed.result()
    assert Pending.done(7).result() == 7


def test_map_cells_returns_results_in_cell_order_however_they_are_started() -> None:
    cells = [(i, 1) for i in range(7)]
    order = [6, 0, 5, 1, 4, 2, 3]
    expected = [i * i + 1 for i in range(7)]
    assert map_cells(_square_plus, cells)() == expected
    assert map_cells(_square_plus, cells, order=order)() == expected
    assert map_cells(_square_plus, cells, n_jobs=2, order=order)() == expected  # joblib
    held = _Held()
    results = map_cells(_square_plus, cells, executor=held, order=order)
    # submitted in the given order and returned before any cell ran
    assert [args[0] for _, _, args in held.calls] == order
    assert not any(future.done() for future, _, _ in held.calls)
    held.run_all()
    assert results() == expected


def _table_with_weights() -> FeatureTable:
    """The small synthetic table plus a weights feature set (for topology vs weights)."""
    frame, layers = make_synthetic_features(**SMALL, return_layers=True)  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    drop = frame["acc_drop"].to_numpy(dtype=float)
    for k, column in enumerate(WEIGHT_COLUMNS[:4]):
        frame[column] = drop * (k + 1) + rng.normal(0, 0.05, len(frame))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_features(frame, layers=layers)


def _pairs() -> pd.DataFrame:
    rows = [
        ("init", "conv6", pruner, sparsity, base - 0.05 * k, base + 0.02)
        for pruner, base in (("snip", 0.9), ("er", 0.4))
        for k, sparsity in enumerate((0.8, 0.9))
    ]
    return pd.DataFrame(
        rows, columns=["setting", "architecture", "pruner", "sparsity", "jaccard", "overlap"]
    )


def test_pooled_report_runs_fit_free_sections_first_and_writes_the_serial_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table_with_weights()
    log: list[str] = []
    original = report_module.regress_pending

    def logged_regression(*args: Any, **kwargs: Any) -> Pending[Any]:
        started = original(*args, **kwargs)

        def finish() -> Any:
            log.append("regression collected")
            return started.result()

        return Pending(finish)

    def probe(report: Any, frame: FeatureTable) -> str:
        log.append("fit-free section")
        report.note("probe note")
        report.table(frame.data[["network_id", "acc_drop"]].head(3), "probe", caption="probe")
        return "The probe ran."

    monkeypatch.setattr(report_module, "regress_pending", logged_regression)
    register_section(ExtraSection("probe_h5", "Probe", run=probe, applies=lambda t: True))
    kwargs: dict[str, Any] = {
        "n_repeats": 2,
        "n_splits": 3,
        "regressors": FAST,
        "feature_sets": ("mge", "density"),
        "xgboost_estimators": 5,
        "stability": _pairs(),
    }
    try:
        write_report(table, tmp_path / "serial", n_jobs=1, **kwargs)
        serial_log, log[:] = list(log), []
        write_report(table, tmp_path / "pooled", n_jobs=2, **kwargs)
    finally:
        EXTRA_SECTIONS.pop("probe_h5", None)
    assert serial_log == ["regression collected", "fit-free section"]
    assert log == ["fit-free section", "regression collected"]  # drawn while the pool fitted
    serial, pooled = tmp_path / "serial", tmp_path / "pooled"
    written = sorted(p.name for p in serial.iterdir())
    assert written == sorted(p.name for p in pooled.iterdir())
    assert {"topology_vs_weights_gain.csv", "stability_by_pruner.csv", "probe.csv"} <= set(written)
    for name in written:  # every table, notes.txt and the page (figures included), byte for byte
        assert (serial / name).read_bytes() == (pooled / name).read_bytes(), name


def test_part_of_a_checked_table_equals_a_rechecked_copy() -> None:
    from dataclasses import replace

    table = _table_with_weights()
    mask = table.data["sparsity"] == table.data["sparsity"].max()
    part = table.subset(mask)
    rechecked = replace(part)  # dataclasses.replace runs __post_init__'s scan again
    pd.testing.assert_frame_equal(part.data, rechecked.data)
    assert part.layers is not None and rechecked.layers is not None
    pd.testing.assert_frame_equal(part.layers, rechecked.layers)
    assert (part.normalisation, part.dropped, part.notes) == (
        rechecked.normalisation,
        rechecked.dropped,
        rechecked.notes,
    )
    assert len(part) == int(mask.sum()) and set(part.layers["network_id"]) == set(
        part.data["network_id"]
    )
    assert table.part(layers=None).layers is None and table.part().data is table.data
    with pytest.raises(TypeError, match="no field"):
        table.part(rows=3)


def test_workers_are_started_once_and_only_for_a_large_report() -> None:
    from prunegraph.analysis.cells import (
        PARALLEL_MIN_WORK,
        cell_executor,
        default_jobs,
        report_jobs,
        start_workers,
    )

    assert report_jobs(PARALLEL_MIN_WORK // 5 - 1, 5) == 1
    assert report_jobs(PARALLEL_MIN_WORK // 5, 5) == default_jobs()
    assert start_workers(1) is None
    pool = start_workers(2)
    assert pool is not None and cell_executor(2) is pool  # the report finds the same pool
    assert [pool.submit(_square_plus, 3, k).result() for k in range(2)] == [9, 10]


@pytest.mark.parametrize("rounds", [1, 2, 7])
def test_xgboost_rounds_through_the_library_call_equal_booster_update(
    rounds: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xgboost

    import prunegraph.analysis.regression as regression
    from prunegraph.analysis.regression import XGBOOST_PARAMS, xgboost_train

    rng = np.random.default_rng(rounds)
    X, y = rng.random((120, 6)), rng.random(120)
    params = dict(XGBOOST_PARAMS) | {"n_estimators": rounds, "subsample": 0.8, "random_state": 2}
    direct = xgboost_train(X, y, params, objective="reg:squarederror")
    assert regression._xgboost_update_call() is not None  # this XGBoost has the library call
    # the fallback (a version without it): Booster.update every round
    monkeypatch.setattr(regression, "_xgboost_update_call", lambda: None)
    fallback = xgboost_train(X, y, params, objective="reg:squarederror")
    monkeypatch.undo()
    reference = xgboost.train(
        {"max_depth": 3, "eta": 0.25, "tree_method": "hist", "max_bin": 64, "nthread": 1}
        | {"subsample": 0.8, "seed": 2, "objective": "reg:squarederror", "verbosity": 0},
        xgboost.DMatrix(X, label=y),
        num_boost_round=rounds,
    )
    expected = reference.inplace_predict(X)
    np.testing.assert_array_equal(direct.inplace_predict(X), expected)
    np.testing.assert_array_equal(fallback.inplace_predict(X), expected)
    assert direct.num_boosted_rounds() == rounds
