"""The bundled experiment study files (Laenen 2023, Ramanujan-preserving pruning) are valid."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from prunegraph.study import expand, load_study
from prunegraph.study.run import pruner_applies

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "name",
    ["laenen-spectral.toml", "ci-laenen.toml", "ramanujan-pruning.toml", "ci-ramanujan.toml"],
)
def test_study_file_is_valid_and_states_its_time(name: str) -> None:
    config = load_study(EXAMPLES / name)
    specs = expand(config, applies=pruner_applies)
    assert len(specs) == config.n_networks
    assert config.training.enabled  # accuracies are what the sections compare
    if not name.startswith("ci-"):
        header = (EXAMPLES / name).read_text().split("[study]")[0]
        assert "PLACEHOLDER" not in header
        assert re.search(r"\d+ min \d+ s", header), "the measured laptop time is stated"
        assert "cifar10" in header  # the paper-scale dataset


def test_laenen_grid_has_spectral_and_its_greedy_counterpart() -> None:
    config = load_study(EXAMPLES / "laenen-spectral.toml")
    score = config.options_for("pruner", "spectral")["score"]
    assert "spectral" in config.pruners and score in config.pruners
    assert len(config.seeds) >= 3


def test_ramanujan_study_sweeps_the_three_bases() -> None:
    config = load_study(EXAMPLES / "ramanujan-pruning.toml")
    specs = expand(config, applies=pruner_applies)
    bases = {
        json.loads(s.config_json())["pruner_options"].get("base")
        for s in specs
        if s.pruner == "ramanujan"
    }
    assert bases == {"imp", "snip", "synflow"}
    assert {"imp", "snip", "synflow"} <= set(config.pruners)
    ids = [s.network_id for s in specs]
    assert len(set(ids)) == len(ids)  # each base is its own network
