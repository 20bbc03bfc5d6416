"""Cells of the analyses in worker processes, started now and collected later.

The report's analyses are grids of independent cells (one cross-validated panel per
scenario, subset and feature set; one classifier per target and cell; one ranking per
pruner category). :func:`map_cells` runs them serially, with joblib, or on a shared
process pool (:func:`cell_executor`); with the pool it only *submits* them and returns
a :class:`Pending` whose :meth:`~Pending.result` waits for and assembles the results.
So :func:`~prunegraph.analysis.report.write_report` can submit every analysis's cells
first and draw the sections that need no fit while the workers fit. Every cell is
deterministic (its seeds are its own), so where and when it runs changes no number.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Environment of the pool's workers: one BLAS / OpenMP thread each (the cells are
#: ~10^2 x 10^1 tables; the workers themselves are the parallelism).
WORKER_ENV: dict[str, str] = {
    name: "1"
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "BLIS_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "NUMBA_NUM_THREADS",
    )
}


class Pending(Generic[T]):
    """A result whose work may still be running; :meth:`result` waits and assembles it once.

    An exception raised while the work was being prepared or run is raised by
    :meth:`result` (so a report section that needs it fails there, with its note).
    """

    def __init__(self, finish: Callable[[], T]) -> None:
        self._finish: Callable[[], T] | None = finish
        self._value: T | None = None
        self._error: BaseException | None = None

    @classmethod
    def launch(cls, start: Callable[[], Pending[T]]) -> Pending[T]:
        """``start()``, or a pending result that raises what ``start`` raised."""
        try:
            return start()
        except Exception as exc:  # re-raised where the result is needed
            return cls.failed(exc)

    @classmethod
    def failed(cls, error: BaseException) -> Pending[T]:
        pending: Pending[T] = cls(lambda: None)  # type: ignore[arg-type,return-value]
        pending._finish, pending._error = None, error
        return pending

    @classmethod
    def done(cls, value: T) -> Pending[T]:
        pending: Pending[T] = cls(lambda: value)
        return pending

    def result(self) -> T:
        if self._finish is not None:
            finish, self._finish = self._finish, None
            try:
                self._value = finish()
            except Exception as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def cell_executor(n_jobs: int) -> Executor:
    """The reusable process pool (loky, as joblib's) with ``n_jobs`` workers, one thread each.

    The same pool is returned while ``n_jobs`` is unchanged, so its workers (and the
    modules they imported, ~2 s each) are kept between reports; idle workers exit
    after 300 s.
    """
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=int(n_jobs), env=WORKER_ENV, timeout=300)


def default_jobs() -> int:
    """Worker processes for a large report: ``min(cores, 4)``."""
    return max(1, min(os.cpu_count() or 1, 4))


#: Fewest (rows x feature sets) for which the report's cells go to worker processes:
#: below it, starting the workers (importing scikit-learn and XGBoost, ~2-3 s on a
#: loaded 2-core machine) costs more than the cells.
PARALLEL_MIN_WORK: int = 1_000


def report_jobs(n_rows: int, n_feature_sets: int) -> int:
    """Worker processes for a report on ``n_rows`` rows: :func:`default_jobs`, 1 for small tables."""
    if n_rows * max(n_feature_sets, 1) < PARALLEL_MIN_WORK:
        return 1
    return default_jobs()


def _import_analyses() -> int:
    """Import what the report's cells need (run once in each worker); returns the pid."""
    import importlib

    for module in ("prunegraph.analysis.report", "prunegraph.analysis.added_value"):
        importlib.import_module(module)  # the report imports every analysis module

    return os.getpid()


def start_workers(n_jobs: int) -> Executor | None:
    """Start the pool of :func:`cell_executor` now, each worker importing the analyses.

    The study runner calls it before reading the feature table, so the workers'
    imports (~2 s each) overlap with the reading instead of delaying the first cells;
    :func:`~prunegraph.analysis.report.write_report` then finds the same pool. Returns
    None (and starts nothing) for ``n_jobs <= 1``.
    """
    if n_jobs <= 1:
        return None
    executor = cell_executor(n_jobs)
    for _ in range(n_jobs):
        executor.submit(_import_analyses)
    return executor


def map_cells(
    fn: Callable[..., Any],
    cells: Sequence[tuple[Any, ...]],
    *,
    n_jobs: int | None = None,
    executor: Executor | None = None,
    order: Sequence[int] | None = None,
) -> Callable[[], list[Any]]:
    """Run ``fn(*cell)`` for every cell; returns a callable giving the results in cell order.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to the workers).
    cells : sequence of tuples
        The arguments of each call.
    n_jobs : int, optional
        Without ``executor``: worker processes of :func:`cell_executor` (``None`` / 1:
        in this process; -1: :func:`default_jobs`).
    executor : Executor, optional
        A process pool (:func:`cell_executor`): the cells are submitted now and the
        returned callable waits for them; serial and joblib runs finish before returning.
    order : sequence of int, optional
        The order in which to start the cells (e.g. largest first, so that no worker is
        left with a big cell at the end); the results are in cell order regardless.
    """
    sequence = list(range(len(cells))) if order is None else list(order)
    if executor is not None and cells:
        futures = {i: executor.submit(fn, *cells[i]) for i in sequence}
        return lambda: [futures[i].result() for i in range(len(cells))]
    if n_jobs is not None and n_jobs != 1 and len(cells) > 1:
        # The same loky pool as an explicit executor: joblib's Parallel would try to
        # reuse that pool as its own memory-mapping executor and fail on it.
        pool = cell_executor(n_jobs if n_jobs > 0 else default_jobs())
        futures = {i: pool.submit(fn, *cells[i]) for i in sequence}
        results = {i: futures[i].result() for i in sequence}
    else:
        results = {i: fn(*cells[i]) for i in sequence}
    ordered = [results[i] for i in range(len(cells))]
    return lambda: ordered
