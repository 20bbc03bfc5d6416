"""One writer per study: a lock in the store, a heartbeat, and a clean stop on SIGTERM.

Two runs of the same study at once would both plan the same networks and
fight over them (one deletes what the other writes). :class:`StudyLock` is a
``(:StudyLock {study})`` node holding the writer's host, pid and a random
token, created under a uniqueness constraint so concurrent attempts
serialise. The holder renews ``heartbeat_at`` every ``ttl / 4`` seconds from
a daemon thread; a lock whose holder stopped beating for ``ttl`` seconds (a
killed or crashed runner, a lost machine) is taken over by the next run, and
one whose holder ran on this machine under a pid that no longer exists is
taken over at once. A
second run while the holder is alive stops with a message naming the holder
(host, pid, since when), or waits for it with ``wait=True`` (``study run
--wait``).

Every command that writes into or deletes a study's networks holds its lock:
``study run`` and ``study import``, ``prunegraph export`` (each study of the
exported networks, :func:`study_locks`), ``prunegraph delete`` and ``prunegraph
db backfill-cost``. ``prunegraph export --bulk`` replaces the whole database, so
it refuses while any study has a live holder (:func:`live_locks`).

:func:`terminate_as_interrupt` makes SIGTERM (a plain ``kill``) behave like
Ctrl-C in the runner: the pool's workers are stopped, the outcomes recorded,
and the command exits with a message instead of vanishing while its workers
keep writing.

:func:`drop_stale_projections` removes GDS projections of a study's networks
left in the catalog by a killed run (their names are deterministic per
network, see :mod:`prunegraph.queries.gds_metrics`).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import Any

from prunegraph.errors import PrunegraphError, ValidationError

#: Seconds without a heartbeat after which a lock counts as abandoned.
DEFAULT_TTL = 60.0
#: Seconds between two attempts while waiting for a lock.
WAIT_POLL = 2.0


class StudyLockedError(PrunegraphError):
    """Another live run holds the study's writer lock."""


class StudyLock:
    """The writer lock of one study in the store (a context manager).

    Parameters
    ----------
    store : Store
        A connected store.
    study : str
        The study name.
    ttl : float
        Seconds without a heartbeat after which the lock may be taken over.
    wait : bool or float
        ``False``: refuse at once when another live run holds the lock.
        ``True``: wait until it is free. A number: wait at most that many seconds.
    log : callable, optional
        Receives one-line progress messages (waiting, taking over a stale lock).
    wait_hint : str
        How the refusal message tells the user to wait (the command's option).
    """

    def __init__(
        self,
        store: Any,
        study: str,
        *,
        ttl: float = DEFAULT_TTL,
        wait: bool | float = False,
        log: Callable[[str], None] | None = None,
        wait_hint: str = "study run --wait",
    ) -> None:
        if not isinstance(ttl, int | float) or isinstance(ttl, bool) or ttl < 1:
            raise ValidationError(f"The lock's ttl must be a number >= 1 (seconds). Got {ttl!r}.")
        if isinstance(wait, bool):
            self.wait_seconds: float | None = float("inf") if wait else None
        elif isinstance(wait, int | float) and wait >= 0:
            self.wait_seconds = float(wait)
        else:
            raise ValidationError(f"wait must be true, false or seconds >= 0. Got {wait!r}.")
        self.store, self.study, self.ttl = store, study, float(ttl)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.token = f"{self.host}:{self.pid}:{secrets.token_hex(8)}"
        self.log = log or (lambda msg: None)
        self.wait_hint = wait_hint
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ protocol
    def _attempt(self, ttl: float | None = None) -> dict[str, Any]:
        rows = self.store.query(
            "study_lock_acquire",
            study=self.study,
            token=self.token,
            host=self.host,
            pid=self.pid,
            ttl=int(self.ttl if ttl is None else ttl),
        )
        return rows[0]

    def acquire(self) -> StudyLock:
        """Take the lock (or wait for it); start the heartbeat.

        Raises
        ------
        StudyLockedError
            Another live run holds it (and waiting is off or timed out).
        """
        self.store.query("schema_study_lock")
        deadline = None if self.wait_seconds is None else time.monotonic() + self.wait_seconds
        said = False
        while True:
            row = self._attempt()
            if not row["acquired"] and row["host"] == self.host and not _alive(row["pid"]):
                row = self._attempt(ttl=0)  # the holder ran on this machine and is gone
            if row["acquired"]:
                if row.get("took_over"):
                    self.log(
                        f"Took over the lock of study '{self.study}' from host "
                        f"{row['previous_host']} (pid {row['previous_pid']}), which is gone."
                    )
                break
            holder = (
                f"Study '{self.study}' is being written by another run: host {row['host']}, "
                f"pid {row['pid']}, since {row['started_at']} (last heartbeat "
                f"{row['seconds_since_heartbeat']} s ago)."
            )
            if deadline is None:
                raise StudyLockedError(
                    f"{holder} Wait for it ({self.wait_hint}) or stop it; a lock whose holder "
                    f"died expires {self.ttl:g} s after its last heartbeat."
                )
            if time.monotonic() >= deadline:
                raise StudyLockedError(f"{holder} Gave up waiting after {self.wait_seconds:g} s.")
            if not said:
                self.log(f"{holder} Waiting for it...")
                said = True
            time.sleep(min(WAIT_POLL, max(0.05, deadline - time.monotonic())))
        self._thread = threading.Thread(
            target=self._beat, name=f"study-lock-{self.study}", daemon=True
        )
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                rows = self.store.query("study_lock_heartbeat", study=self.study, token=self.token)
            except PrunegraphError:
                continue  # the server is briefly away: the next beat retries
            if not rows:
                self.lost = True
                self.log(f"Lost the lock of study '{self.study}' (another run took it over).")
                return

    def release(self) -> None:
        """Stop the heartbeat and delete the lock (if still held)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(PrunegraphError):
            self.store.query("study_lock_release", study=self.study, token=self.token)

    def __enter__(self) -> StudyLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def study_locks(
    store: Any,
    studies: Iterable[str],
    *,
    wait: bool | float = False,
    log: Callable[[str], None] | None = None,
    wait_hint: str = "--wait",
) -> Iterator[list[StudyLock]]:
    """Hold the writer locks of several studies while the block runs (a context manager).

    The locks are taken in sorted order, so two commands that need overlapping
    studies never hold one each while waiting for the other's. A refusal
    releases the locks already taken.

    Parameters
    ----------
    store : Store
        A connected store.
    studies : iterable of str
        Study names (duplicates ignored).
    wait, log, wait_hint
        As for :class:`StudyLock`.

    Raises
    ------
    StudyLockedError
        Another live run holds one of them (and waiting is off or timed out).
    """
    with contextlib.ExitStack() as held:
        locks = [
            held.enter_context(StudyLock(store, study, wait=wait, log=log, wait_hint=wait_hint))
            for study in sorted(set(studies))
        ]
        yield locks


def live_locks(store: Any, *, ttl: float = DEFAULT_TTL) -> list[dict[str, Any]]:
    """The study locks whose holder is alive: a heartbeat younger than ``ttl`` seconds.

    A lock held on this machine by a pid that no longer exists is not live.
    Rows of the library query ``study_lock_list`` (``study, host, pid,
    started_at, seconds_since_heartbeat``).
    """
    host = socket.gethostname()
    return [
        row
        for row in store.query("study_lock_list")
        if (row["seconds_since_heartbeat"] or 0) < ttl
        and not (row["host"] == host and not _alive(row["pid"]))
    ]


def describe_holder(row: dict[str, Any]) -> str:
    """One holder of :func:`live_locks` in words (study, host, pid, since when)."""
    return (
        f"study '{row['study']}' by host {row['host']}, pid {row['pid']}, since {row['started_at']}"
    )


def _alive(pid: object) -> bool:
    """Whether a process with this id exists on this machine (conservative: True if unsure)."""
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, owned by someone else
        return True
    return True


# --------------------------------------------------------------------------- signals
class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM (a plain ``kill``)."""


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` (a ``KeyboardInterrupt``) while the block runs.

    The runner already stops its workers and records the outcomes on Ctrl-C;
    with this a ``kill`` takes the same path. Outside the main thread (where
    signal handlers cannot be set) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"terminated by signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------- projections
_PROJECTION = re.compile(r"^prunegraph_[a-z_]+_([0-9a-f]{16})(?:_[0-9a-f]{8})?$")


def drop_stale_projections(store: Any, network_ids: Iterable[str]) -> list[str]:
    """Drop GDS projections of ``network_ids`` left in the catalog (by a killed run).

    Called by the holder of a study's lock, so no live run of the study owns
    them. Returns the names dropped.
    """
    ids = set(network_ids)
    if not ids:
        return []
    dropped = []
    for row in store.query("gds_projections"):
        name = str(row["graph_name"])
        match = _PROJECTION.match(name)
        if match and match.group(1) in ids:
            store.query("metric_gds_drop", graph_name=name)
            dropped.append(name)
    return dropped
