"""examples/ci-janik-nowak.toml end to end through `prunegraph study run` against Neo4j."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prunegraph.cli", *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_ci_janik_nowak_runs_and_reports_the_sweep(store, unique_name, tmp_path) -> None:
    from prunegraph.queries.data_model import delete_study

    name = f"{unique_name}-ci-janik-nowak"
    text = (EXAMPLES / "ci-janik-nowak.toml").read_text()
    study = tmp_path / "study.toml"
    study.write_text(re.sub(r'(?m)^name = "ci-janik-nowak"$', f'name = "{name}"', text))
    out = tmp_path / "out"
    try:
        result = _cli("study", "run", str(study), "--out", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 computed" in result.stdout
        report = out / "report"
        html = (report / "report.html").read_text()
        assert "Janik and Nowak: accuracy against resources" in html
        networks = pd.read_csv(report / "janik_nowak_networks.csv")
        assert sorted(networks["lam"]) == [0.0, 0.3] and len(set(networks["network_id"])) == 2
        # lam = 0 trains exactly like the dense baseline (same seed, no resource loss): same
        # accuracy; its edges all stay above tau = 0.006 after 2 epochs
        plain = networks[networks["lam"] == 0.0].iloc[0]
        assert plain["acc_sparse"] == pytest.approx(plain["acc_dense"])
        assert plain["edges_kept"] == plain["edges_total"] == 15
        pressed = networks[networks["lam"] == 0.3].iloc[0]
        assert pressed["edges_kept"] < plain["edges_kept"]
        assert pressed["params_nonzero"] < plain["params_nonzero"]
        assert (
            pressed["edges_kept"] + pressed["edges_thresholded"] + pressed["edges_dead"]
            == pressed["edges_total"]
        )
        for column in ("log_paths", "dag_log_paths", "dag_edge_connectivity"):
            assert networks[column].notna().all(), column
        sweep = pd.read_csv(report / "janik_nowak_sweep.csv")
        assert sweep["n"].tolist() == [1, 1]
        stored = store.query_df("network_features", study=name)
        assert len(stored) == 2 and set(stored["pruner"]) == {"resource"}
    finally:
        delete_study(store, name)


@pytest.mark.parametrize("name", ["janik-nowak-resources.toml", "ci-janik-nowak.toml"])
def test_janik_nowak_studies_validate(name: str) -> None:
    result = _cli("study", "validate", str(EXAMPLES / name), "--list")
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout and "resource[lam=" in result.stdout
