"""``analyze report`` on a stored study without accuracies ends cleanly, not in a traceback."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from prunegraph.errors import NotFoundError


def test_report_of_a_study_without_accuracies(
    store: Any, unique_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prunegraph.cli import main
    from prunegraph.queries.data_model import delete_study
    from prunegraph.study.config import parse_study
    from prunegraph.study.executors import SerialExecutor
    from prunegraph.study.run import run_study

    study = f"safety-noacc-{unique_name}"
    config = parse_study(
        {
            "study": {"name": study, "output": str(tmp_path / "out")},
            "grid": {
                "models": ["mlp"],
                "datasets": ["digits"],
                "pruners": ["random"],
                "sparsities": [0.5, 0.9],
                "seeds": [0],
            },
            "models": {"mlp": {"hidden": [16]}},
            "export": {"encodings": ["rolled"]},
            "metrics": {"names": ["kcore", "layer_density"]},
            "analysis": {"run": []},
        }
    )
    try:
        summary = run_study(config, store=store, executor=SerialExecutor(), progress=False)
        assert summary.count("complete") == 2
        code = main(["analyze", "report", "--study", study, "--out", str(tmp_path / "report")])
        err = capsys.readouterr().err
        assert "Traceback" not in err and "unexpected error" not in err, err
        assert code == 0 and (tmp_path / "report" / "report.html").is_file()
        # and the per-layer metric counts as done: a second run computes nothing
        again = run_study(config, store=store, executor=SerialExecutor(), progress=False)
        assert again.count("skipped") == 2 and again.count("complete") == 0
    finally:
        with contextlib.suppress(NotFoundError):
            delete_study(store, study)
