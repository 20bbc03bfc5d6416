"""The CI-tiny bundled experiment studies run end to end through `prunegraph study run`.

Each runs its study file (under a unique name) against the real Neo4j store and
checks that the report holds the experiment's section and its CSV tables.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
from _study_helpers import EXAMPLES

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

CASES = {
    "ci-laenen.toml": (
        "laenen",
        "Laenen (2023): spectral-sparsification pruning",
        ["laenen_matched", "laenen_accuracy", "laenen_lambda2_layers", "laenen_claims"],
    ),
    "ci-ramanujan.toml": (
        "ramanujan_pruning",
        "Ramanujan-preserving pruning vs IMP, SNIP and SynFlow",
        ["ramanujan_pruning_matched", "ramanujan_pruning_regimes", "ramanujan_pruning_layers"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ci_experiment_study_runs_with_its_section(store, tmp_path: Path, name: str) -> None:
    from prunegraph.queries.data_model import delete_study

    section, heading, tables = CASES[name]
    text = (EXAMPLES / name).read_text()
    original = name.removesuffix(".toml")
    study = f"t{uuid.uuid4().hex[:10]}-{original}"
    assert f'name = "{original}"' in text
    study_file = tmp_path / name
    study_file.write_text(text.replace(f'name = "{original}"', f'name = "{study}"'))
    out = tmp_path / "out"
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "prunegraph.cli",
                "study",
                "run",
                str(study_file),
                "--out",
                str(out),
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        page = (out / "report" / "report.html").read_text()
        assert heading in page
        assert "failed unexpectedly" not in page and f"Section '{section}'" not in page
        for table in tables:
            frame = pd.read_csv(out / "report" / f"{table}.csv")
            assert not frame.empty, table
        matched = pd.read_csv(out / "report" / f"{tables[0]}.csv")
        assert (matched["n"] == 2).all()  # two seeds paired in every matched cell
        assert set(matched["sparsity"]) == set(
            pd.read_csv(out / "report" / "features.csv")["sparsity"]
        )
    finally:
        delete_study(store, study)
