"""Pluggable executors: where the networks of a study are computed.

An executor is anything with ``submit(fn, *args) -> Future`` and
``map(fn, iterable) -> iterator`` plus ``shutdown()`` (the subset of
:class:`concurrent.futures.Executor` the study runner uses), so a cluster
engine (Dask, Ray, a batch-queue adapter) can run the same study by passing
its own object. Two are built in:

- :class:`SerialExecutor` runs each call in the calling process when it is
  submitted (tests, debugging, ``pdb``);
- :func:`local_process_executor` is a :class:`~concurrent.futures.ProcessPoolExecutor`
  with the ``spawn`` start method (torch and the Neo4j driver are not
  fork-safe once threads exist) whose workers use one torch thread each, so
  ``workers`` processes share the cores instead of oversubscribing them;
- :class:`DaskExecutor` submits to a ``dask.distributed`` cluster, an
  existing one (``scheduler="tcp://host:8786"``) or a local one it starts
  (``workers`` processes of one thread), through
  ``Client.get_executor`` (``[run] executor = "dask"``).

Every executor runs :func:`prunegraph.study.run.run_network_task` in its
workers; each worker process opens its own Neo4j connection from the
connection settings the study was started with (so the server must be
reachable from every worker under that URI) and writes its own network. A
worker that dies mid-network leaves that network ``status: 'writing'``,
which no reader trusts: Dask reschedules the task on another worker (or the
next run redoes it), and the export first deletes the half-written data.
Cache files (dense baselines, masks) are written to a temporary name and
renamed, so a half-written one is never read either.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable

from prunegraph.errors import ValidationError

T = TypeVar("T")


@runtime_checkable
class Executor(Protocol):
    """What the study runner needs from an executor."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]: ...

    def map(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> Iterator[T]: ...

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None: ...


class SerialExecutor:
    """Run every submitted call immediately, in this process.

    Exceptions are captured in the returned future, as a pool would, so the
    caller handles failures the same way with either executor.
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            result = fn(*args, **kwargs)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    def map(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> Iterator[T]:
        for args in zip(*iterables, strict=False):
            yield fn(*args)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _exit_with_parent(parent: int, poll: float = 1.0) -> None:
    """Daemon loop of a pool worker: end this process when its parent is gone.

    A runner killed with SIGKILL cannot stop its workers; without this they
    would go on writing networks nobody records.
    """
    while True:
        time.sleep(poll)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(threads: int) -> None:
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), name="exit-with-parent", daemon=True
    ).start()
    # Each worker owns `threads` cores' worth of torch; set before any model is built.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("NUMBA_NUM_THREADS", str(threads))  # before numba is imported
    import torch

    torch.set_num_threads(threads)
    # Load the metric engine's compiled kernels once per worker, not per network; the
    # runner reports these seconds apart ("warmup") with the worker's first network.
    from prunegraph.queries.metrics import warm_up

    warm_up()


def local_process_executor(workers: int, *, threads_per_worker: int = 1) -> ProcessPoolExecutor:
    """A spawn-based process pool with ``workers`` processes of ``threads_per_worker`` threads."""
    if not isinstance(workers, int) or workers < 1:
        raise ValidationError(
            f"The 'workers' parameter of local_process_executor must be an int >= 1. Got {workers!r} instead."
        )
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads_per_worker,),
    )


class DaskExecutor:
    """Run a study's tasks on a ``dask.distributed`` cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``"tcp://host:8786"``). None starts a
        :class:`distributed.LocalCluster` of ``workers`` processes with one
        thread each, closed again by :meth:`shutdown`.
    workers : int
        Worker processes of the local cluster (ignored with ``scheduler``).
    resources : mapping of str to float, optional
        Abstract resources every task needs, e.g. ``{"GPU": 1}``: a worker
        started with ``--resources GPU=1`` then runs one network at a time
        (a local cluster declares them on each of its workers). Tasks wait
        forever on a cluster whose workers declare none, so only ask for
        resources the workers have.
    threads_per_worker : int
        Torch threads of each local worker (the CPU budget of one network).
    connect_timeout : float
        Seconds to wait for the scheduler.
    """

    def __init__(
        self,
        scheduler: str | None = None,
        *,
        workers: int = 1,
        resources: dict[str, float] | None = None,
        threads_per_worker: int = 1,
        connect_timeout: float = 30.0,
    ) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ValidationError(
                f"executor = 'dask' needs dask.distributed (pip install 'dask[distributed]'): {exc}"
            ) from None
        if scheduler is not None and (not isinstance(scheduler, str) or "://" not in scheduler):
            raise ValidationError(
                "The 'scheduler' parameter of DaskExecutor must be an address such as "
                f"'tcp://host:8786'. Got {scheduler!r} instead."
            )
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValidationError(
                f"The 'workers' parameter of DaskExecutor must be an int >= 1. Got {workers!r}."
            )
        self.resources = dict(resources or {})
        self._cluster: Any = None
        if scheduler is None:
            self._cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # any free port, never a fixed one
                resources=self.resources or None,
                silence_logs=40,  # logging.ERROR
            )
            address = self._cluster.scheduler_address
        else:
            address = scheduler
        try:
            self.client = Client(address, timeout=f"{float(connect_timeout)}s")
        except OSError as exc:
            self._close_cluster()
            raise ValidationError(
                f"Cannot reach the Dask scheduler at {address}: {exc}. Start one with "
                "`dask scheduler` and workers with `dask worker <address>`, or leave "
                "[run] scheduler out for a local cluster."
            ) from None
        self._address = str(address)
        if self._cluster is not None:
            self.client.run(_init_worker, threads_per_worker)
        kwargs: dict[str, Any] = {"pure": False}
        if self.resources:
            kwargs["resources"] = self.resources
        self._executor = self.client.get_executor(**kwargs)

    @property
    def address(self) -> str:
        """The scheduler's address."""
        return self._address

    def where(self) -> dict[str, list[str]]:
        """What runs where: worker address -> keys of the tasks it is processing now."""
        processing = self.client.processing()
        return {str(w): [str(k) for k in keys] for w, keys in processing.items()}

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return self._executor.submit(fn, *args, **kwargs)

    def map(self, fn: Callable[..., T], *iterables: Iterable[Any]) -> Iterator[T]:
        return self._executor.map(fn, *iterables)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            futures = list(getattr(self._executor, "_futures", ()))
            if futures:
                self.client.cancel(futures)
        self._executor.shutdown(wait=wait)
        self.client.close()
        self._close_cluster()

    def _close_cluster(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


EXECUTOR_KINDS = ("dask", "process", "serial")


def make_executor(
    kind: str,
    workers: int,
    *,
    scheduler: str | None = None,
    resources: dict[str, float] | None = None,
) -> Executor:
    """``'serial'``, ``'process'`` (a pool of ``workers``; serial when ``workers == 1``) or
    ``'dask'`` (the cluster at ``scheduler``, or a local one of ``workers`` processes)."""
    if kind == "dask":
        return DaskExecutor(scheduler, workers=workers, resources=resources)
    if scheduler is not None or resources:
        raise ValidationError(
            f"[run] scheduler and resources apply to executor = 'dask', not '{kind}'."
        )
    if kind == "serial" or (kind == "process" and workers == 1):
        return SerialExecutor()
    if kind == "process":
        return local_process_executor(workers)
    raise ValidationError(f"Unknown executor '{kind}'. Choose from: {', '.join(EXECUTOR_KINDS)}.")
