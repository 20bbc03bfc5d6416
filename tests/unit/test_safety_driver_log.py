"""Driver retry chatter goes to the run's log file, counted in the summary, never to the console."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from prunegraph.config import (
    count_driver_retries,
    driver_log_size,
    route_driver_log,
    unroute_driver_log,
)


def _retry_warning(n: int) -> None:
    log = logging.getLogger("neo4j.session")  # where the driver's retry loop logs
    for i in range(n):
        log.warning(
            "Transaction failed and will be retried in %ss (%s)",
            0.9 + i,
            "{code: Neo.TransientError.Transaction.DeadlockDetected}\n{message: ForsetiClient[2] "
            "can't acquire ExclusiveLock{owner=ForsetiClient[3]} ...}",
        )


def test_retry_warnings_reach_the_log_file_not_the_console(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "out" / "driver.log"
    _retry_warning(1)  # before routing: it reaches the root logger's handlers (the console)
    assert "will be retried" in caplog.text
    caplog.clear()
    start = driver_log_size(path)
    assert start == 0
    route_driver_log(path)
    route_driver_log(path)  # idempotent: one handler, each record written once
    try:
        _retry_warning(3)
        logging.getLogger("neo4j").info("routine pool chatter")  # below WARNING: dropped
    finally:
        unroute_driver_log(path)
    captured = capfd.readouterr()
    assert "will be retried" not in captured.err + captured.out + caplog.text
    text = path.read_text()
    assert text.count("DeadlockDetected") == 3 and "routine pool chatter" not in text
    assert count_driver_retries(path, start) == 3
    # a second run counts only its own records
    start = driver_log_size(path)
    route_driver_log(path)
    try:
        _retry_warning(2)
    finally:
        unroute_driver_log(path)
    assert count_driver_retries(path, start) == 2 and count_driver_retries(path) == 5
    assert logging.getLogger("neo4j").propagate  # restored after the last unroute


def test_summary_names_the_retry_count(tmp_path: Path) -> None:
    from prunegraph.study.run import StudySummary

    summary = StudySummary("s", tmp_path, [], {"total": 1.0})
    assert "retried" not in summary.format()
    summary.driver_retries = 7
    line = next(x for x in summary.format().splitlines() if "retried" in x)
    assert "7 transaction" in line and str(tmp_path / "driver.log") in line
