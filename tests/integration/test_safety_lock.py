"""One writer per study: the store lock, SIGTERM stopping every worker, stale GDS projections."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from prunegraph.errors import NotFoundError
from prunegraph.study.lock import StudyLock, StudyLockedError, drop_stale_projections

PYTHON = sys.executable


def _study_file(tmp_path: Path, name: str, *, epochs: int, workers: int, executor: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'[study]\nname = "{name}"\noutput = "{tmp_path / "out"}"\n'
        '[grid]\nmodels = ["mlp"]\ndatasets = ["digits"]\npruners = ["random"]\n'
        "sparsities = [0.5, 0.9]\nseeds = [0]\n"
        "[models.mlp]\nhidden = [16]\n"
        f"[training]\nepochs = {epochs}\nfinetune_epochs = 0\nbatch_size = 64\n"
        '[export]\nlevel = "summary"\nencodings = ["rolled"]\n'
        '[metrics]\nnames = ["kcore"]\n[analysis]\nrun = []\n'
        f'[run]\nworkers = {workers}\nexecutor = "{executor}"\n'
    )
    return path


def _delete(store: Any, study: str) -> None:
    from prunegraph.queries.data_model import delete_study

    with contextlib.suppress(NotFoundError):
        delete_study(store, study)
    store.run("MATCH (l:StudyLock {study: $s}) DELETE l", {"s": study})


def _lock_row(store: Any, study: str) -> dict[str, Any] | None:
    rows = store.run(
        "MATCH (l:StudyLock {study: $s}) RETURN l.host AS host, l.pid AS pid", {"s": study}
    )
    return rows[0] if rows else None


def test_the_lock_refuses_a_live_holder_and_takes_over_a_dead_one(
    store: Any, unique_name: str
) -> None:
    study = f"safety-lock-{unique_name}"
    try:
        with StudyLock(store, study, ttl=30) as first:
            assert _lock_row(store, study) == {"host": first.host, "pid": os.getpid()}
            with pytest.raises(StudyLockedError, match=rf"host {first.host}, pid {os.getpid()}"):
                StudyLock(store, study).acquire()
            with pytest.raises(StudyLockedError, match=r"Gave up waiting after 0\.5 s"):
                StudyLock(store, study, wait=0.5).acquire()
        assert _lock_row(store, study) is None  # released
        # a holder that died: its heartbeat stops, the lock expires after ttl
        dead = StudyLock(store, study, ttl=2).acquire()
        dead._stop.set()  # the heartbeat thread ends, as if the process were killed
        said: list[str] = []
        time.sleep(3)
        with StudyLock(store, study, ttl=2, log=said.append):
            assert any("Took over the lock" in s for s in said)
        # waiting: a second run gets the lock when the first releases it
        holder = StudyLock(store, study, ttl=30).acquire()
        threading.Timer(1.0, holder.release).start()
        with StudyLock(store, study, wait=True, log=said.append):
            assert any("Waiting for it" in s for s in said)
    finally:
        _delete(store, study)


def test_two_concurrent_runs_of_one_study(store: Any, unique_name: str, tmp_path: Path) -> None:
    from prunegraph.study.config import load_study
    from prunegraph.study.run import run_study

    study = f"safety-conc-{unique_name}"
    toml = _study_file(tmp_path, study, epochs=60, workers=1, executor="serial")
    first = subprocess.Popen(
        [PYTHON, "-m", "prunegraph.cli", "study", "run", str(toml), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _lock_row(store, study) is None:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.2)
        with pytest.raises(StudyLockedError, match=rf"pid {first.pid}") as info:
            run_study(load_study(toml), store=store, out_dir=tmp_path / "second", progress=False)
        assert "\n" not in str(info.value)
        assert not (tmp_path / "second" / "run.json").exists()  # nothing was planned or run
        _out, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        rows = store.run(
            "MATCH (n:Network {study: $s}) RETURN n.network_id AS id, n.status AS status",
            {"s": study},
        )
        ids = [r["id"] for r in rows]
        assert len(ids) == 2 and len(set(ids)) == 2
        assert {r["status"] for r in rows} == {"complete"}
        assert _lock_row(store, study) is None
    finally:
        if first.poll() is None:
            first.kill()
        _delete(store, study)


def _workers(parent: psutil.Process) -> list[psutil.Process]:
    return [
        p
        for p in parent.children(recursive=True)
        if "spawn_main" in " ".join(p.cmdline()) and "resource_tracker" not in " ".join(p.cmdline())
    ]


def test_sigterm_stops_the_runner_and_every_worker(
    store: Any, unique_name: str, tmp_path: Path
) -> None:
    study = f"safety-term-{unique_name}"
    toml = _study_file(tmp_path, study, epochs=5000, workers=2, executor="process")
    runner = subprocess.Popen(
        [PYTHON, "-m", "prunegraph.cli", "study", "run", str(toml), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    parent = psutil.Process(runner.pid)
    seen: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while len(seen) < 1:
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline, "no worker process started"
            seen = _workers(parent)
            time.sleep(0.3)
        time.sleep(2.0)  # the workers are training
        seen = _workers(parent)
        pids = [p.pid for p in seen]
        runner.send_signal(signal.SIGTERM)
        _out, err = runner.communicate(timeout=60)
        assert runner.returncode == 143, err
        assert "terminated by signal SIGTERM" in err and "Traceback" not in err
        _gone, alive = psutil.wait_procs(seen, timeout=15)
        assert not alive, f"workers still alive after SIGTERM: {[p.pid for p in alive]} of {pids}"
        log = json.loads((tmp_path / "out" / "run.json").read_text())
        assert log.get("interrupted") is True
        assert _lock_row(store, study) is None  # the lock was released on the way out
    finally:
        if runner.poll() is None:
            runner.kill()
        for p in seen:
            with contextlib.suppress(psutil.Error):
                p.kill()
        _delete(store, study)


def test_stale_projections_are_dropped_by_name(store: Any) -> None:
    network_id = uuid.uuid4().hex[:16]
    name = f"prunegraph_undirected_{network_id}"
    other = f"prunegraph_natural_{uuid.uuid4().hex[:16]}"
    marker = f"safety-{network_id}"
    store.run("CREATE (:SafetyProbe {marker: $m})", {"m": marker})
    try:
        for graph in (name, other):
            store.run(
                "MATCH (n:SafetyProbe {marker: $m}) "
                "WITH gds.graph.project($g, n, null) AS g RETURN g.graphName AS name",
                {"m": marker, "g": graph},
            )
        assert drop_stale_projections(store, [network_id]) == [name]
        names = {r["graph_name"] for r in store.query("gds_projections")}
        assert name not in names and other in names  # another network's projection stays
    finally:
        store.run("CALL gds.graph.drop($g, false) YIELD graphName RETURN 1", {"g": other})
        store.run("MATCH (n:SafetyProbe {marker: $m}) DELETE n", {"m": marker})


def test_a_lock_of_a_dead_process_on_this_host_is_taken_over_at_once(
    store: Any, unique_name: str
) -> None:
    study = f"safety-dead-{unique_name}"
    dead = subprocess.run([PYTHON, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(dead.stdout)
    try:
        ghost = StudyLock(store, study, ttl=3600)
        ghost.pid = dead_pid  # a runner killed with SIGKILL: its pid is gone, its lock is not
        ghost.token = f"{ghost.host}:{dead_pid}:feedfacefeedface"
        ghost.acquire()
        ghost._stop.set()
        said: list[str] = []
        with StudyLock(store, study, ttl=3600, log=said.append) as mine:
            assert _lock_row(store, study) == {"host": mine.host, "pid": os.getpid()}
            assert any(f"pid {dead_pid}" in s for s in said)
    finally:
        _delete(store, study)
