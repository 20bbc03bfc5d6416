"""Every analysis script in examples/ runs against a real study in the store."""

from __future__ import annotations

import subprocess
import sys

import pytest
from _study_helpers import EXAMPLES


@pytest.fixture(scope="module")
def tiny(tiny_run):
    return tiny_run


def _run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_query_store(tiny) -> None:
    out = _run("query_store.py", "--study", tiny["config"].name)
    assert tiny["config"].name in out
    assert "24 complete networks" in out
    assert "Mean test accuracy" in out and "snip" in out


def test_regress_drop(tiny, tmp_path) -> None:
    name = tiny["config"].name
    out = _run("regress_drop.py", "--study", name, "--out", str(tmp_path))
    assert "out-of-fold R2 =" in out and "24 networks" in out
    assert (tmp_path / f"regress_drop_{name}.png").stat().st_size > 1000


def test_predict_new_mask(tiny) -> None:
    out = _run(
        "predict_new_mask.py",
        "--study",
        tiny["config"].name,
        "--model",
        "lenet5",
        "--pruner",
        "synflow",
        "--sparsity",
        "0.85",
    )
    assert "acc_drop_pred" in out and "synflow" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("lenet5 synflow"))
    predicted, lo, hi = (float(v) for v in row.split()[-3:])
    assert lo <= predicted <= hi


# every bundled study but paper-cifar.toml, which needs CIFAR-10 on disk (refused clearly)
@pytest.mark.parametrize(
    "name", sorted(p.name for p in EXAMPLES.glob("*.toml") if p.name != "paper-cifar.toml")
)
def test_bundled_studies_validate(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "prunegraph.cli", "study", "validate", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout
