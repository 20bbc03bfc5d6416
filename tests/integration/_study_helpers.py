"""Shared by the study integration tests: one run of the tiny study per test session."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import pytest

from prunegraph.study import AnalysisSettings, StudyConfig, load_study

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

# A cheap analysis panel: the report keeps every section, with fewer fits than the example study.
CHEAP_ANALYSIS = AnalysisSettings(
    run=("regress", "importance", "classify", "rank", "ramanujan"),
    cv="grouped",
    n_splits=3,
    n_repeats=1,
    regressors=("linear", "ridge", "bayesian_ridge"),
    feature_sets=("density", "ramanujan", "mge"),
)


def tiny_config(name: str | None = None, **changes: Any) -> StudyConfig:
    """examples/ci-tiny.toml under a unique study name (tests never share data)."""
    config = load_study(EXAMPLES / "ci-tiny.toml")
    name = name or f"t{uuid.uuid4().hex[:10]}-ci-tiny"
    return dataclasses.replace(config, name=name, analysis=CHEAP_ANALYSIS, **changes)


def run_tiny_study(store: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the tiny study (under a unique name) once; the caller deletes it afterwards."""
    from prunegraph.study.run import run_study

    config = tiny_config()
    out = tmp_path_factory.mktemp("ci-tiny")
    summary = run_study(config, out_dir=out, store=store, progress=False, workers=2)
    return {"config": config, "out": Path(out), "summary": summary}
