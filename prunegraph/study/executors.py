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
  ``workers`` processes share the cores instead of oversubscribing them.
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
    import torch

    torch.set_num_threads(threads)


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


def make_executor(kind: str, workers: int) -> Executor:
    """``'serial'`` or ``'process'`` (a pool of ``workers``; serial when ``workers == 1``)."""
    if kind == "serial" or (kind == "process" and workers == 1):
        return SerialExecutor()
    if kind == "process":
        return local_process_executor(workers)
    raise ValidationError(f"Unknown executor '{kind}'. Choose from: process, serial.")
