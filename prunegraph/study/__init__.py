"""Studies: a TOML grid of sparse networks, run through the pipeline into the store.

- :mod:`prunegraph.study.config`: the study file format, validation, network
  identity and the expansion of the grid into one :class:`NetworkSpec` per
  network;
- :mod:`prunegraph.study.run`: the runner (plan, skip what is stored, submit
  the rest to an executor, record, analyse);
- :mod:`prunegraph.study.importer`: import networks trained elsewhere;
- :mod:`prunegraph.study.executors`: where the per-network tasks run.

From Python::

    from prunegraph.study import load_study, run_study

    summary = run_study(load_study("examples/demo.toml"))
"""

from __future__ import annotations

from prunegraph.study.config import (
    AnalysisSettings,
    ExportSettings,
    NetworkSpec,
    Registries,
    RunSettings,
    StudyConfig,
    StudyTraining,
    check_registries,
    code_versions,
    config_hash,
    dataset_shape,
    default_registries,
    expand,
    is_network_id,
    load_study,
    parse_study,
)
from prunegraph.study.executors import Executor, SerialExecutor, make_executor
from prunegraph.study.importer import import_study
from prunegraph.study.run import NetworkOutcome, StudySummary, run_study

__all__ = [
    "AnalysisSettings",
    "Executor",
    "ExportSettings",
    "NetworkOutcome",
    "NetworkSpec",
    "Registries",
    "RunSettings",
    "SerialExecutor",
    "StudyConfig",
    "StudySummary",
    "StudyTraining",
    "check_registries",
    "code_versions",
    "config_hash",
    "dataset_shape",
    "default_registries",
    "expand",
    "import_study",
    "is_network_id",
    "load_study",
    "make_executor",
    "parse_study",
    "run_study",
]
