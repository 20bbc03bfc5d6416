"""The Dask executor: a real local dask.distributed cluster, and the [run] settings that choose it."""

from __future__ import annotations

import os
from concurrent.futures import as_completed
from pathlib import Path

import pytest

from prunegraph.errors import ValidationError
from prunegraph.study import load_study
from prunegraph.study.executors import DaskExecutor, Executor, make_executor

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _pid_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def _boom(x: int) -> int:
    raise RuntimeError(f"boom {x}")


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def test_local_cluster_runs_tasks_in_worker_processes() -> None:
    with make_executor("dask", 2, resources={"GPU": 1}) as ex:
        assert isinstance(ex, DaskExecutor) and isinstance(ex, Executor)
        futures = [ex.submit(_pid_square, i) for i in range(6)]
        results = [f.result(timeout=60) for f in as_completed(futures)]
        assert sorted(r[1] for r in results) == [0, 1, 4, 9, 16, 25]
        assert os.getpid() not in {r[0] for r in results}
        assert sorted(v for _, v in ex.map(_pid_square, [2, 3])) == [4, 9]
        with pytest.raises(RuntimeError, match="boom 4"):
            ex.submit(_boom, 4).result(timeout=60)
        # one torch thread per worker, as the process pool does
        assert ex.submit(_threads).result(timeout=60) == 1
        assert len(ex.client.scheduler_info()["workers"]) == 2
        assert ex.address.startswith("tcp://") and isinstance(ex.where(), dict)


def test_unreachable_scheduler_is_one_line() -> None:
    with pytest.raises(ValidationError, match=r"Cannot reach the Dask scheduler.*dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9", workers=1, connect_timeout=2)
    with pytest.raises(ValidationError, match="'scheduler' parameter"):
        DaskExecutor("localhost")


def test_run_settings_for_dask(tmp_path: Path) -> None:
    text = (EXAMPLES / "ci-tiny.toml").read_text()
    path = tmp_path / "s.toml"
    path.write_text(
        text.replace(
            "[run]\nworkers = 2",
            '[run]\nworkers = 2\nexecutor = "dask"\nscheduler = "tcp://10.0.0.5:8786"\n'
            "resources = { GPU = 1 }",
        )
    )
    config = load_study(path)
    assert config.run.executor == "dask" and config.run.scheduler == "tcp://10.0.0.5:8786"
    assert dict(config.run.resources) == {"GPU": 1.0}
    path.write_text(
        text.replace("[run]\nworkers = 2", '[run]\nworkers = 2\nscheduler = "tcp://h:1"')
    )
    with pytest.raises(ValidationError, match="applies to executor = 'dask'"):
        load_study(path)
    path.write_text(
        text.replace("[run]\nworkers = 2", '[run]\nexecutor = "dask"\nresources = { GPU = -1 }')
    )
    with pytest.raises(ValidationError, match="positive numbers"):
        load_study(path)
    with pytest.raises(ValidationError, match="apply to executor = 'dask'"):
        make_executor("process", 2, scheduler="tcp://h:1")


def test_status_says_what_ran_where(tmp_path: Path) -> None:
    import json

    from prunegraph.cli.study import where_lines

    log = tmp_path / "run.json"
    assert where_lines(log) == []  # no run yet
    networks = [
        {"network_id": "a", "status": "complete", "worker": "gpu-1:123"},
        {"network_id": "b", "status": "complete", "worker": "gpu-1:124"},
        {"network_id": "c", "status": "complete", "worker": "gpu-2:9"},
        {"network_id": "d", "status": "failed", "worker": "gpu-2:9"},
    ]
    log.write_text(json.dumps({"networks": networks, "in_progress": True}))
    lines = where_lines(log)
    assert lines[0].endswith(": gpu-1 2, gpu-2 1") and "in progress" in lines[1]
    log.write_text("{not json")
    assert where_lines(log) == []
