"""The Laenen (2023) report section on planted feature tables: its headline follows the plant."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from prunegraph.analysis.experiments import laenen
from prunegraph.analysis.features import FeatureTable
from prunegraph.analysis.report import EXTRA_SECTIONS, write_report
from prunegraph.analysis.report import _Report as _FullReport

LAYERS = ("l0", "l1", "l2")


class _Report(_FullReport):
    """The report's writer with figures counted and closed, not rendered (fast tests)."""

    def figure(self, fig, caption: str, *, alt: str | None = None) -> None:
        import matplotlib.pyplot as plt

        assert fig.axes, caption
        self.current.figures.append(f"<figure>{caption}</figure>")
        plt.close(fig)


def planted(
    effect: float,
    *,
    pruners: tuple[str, ...] = ("spectral", "synflow", "magnitude"),
    seeds: int = 4,
    score: str = "synflow",
    noise: float = 0.01,
    random_state: int = 0,
) -> FeatureTable:
    """Spectral networks are ``effect`` more accurate than every baseline at sparsity 0.9.

    Layer ``l1``'s lambda2 tracks accuracy (the planted per-layer link); ``l0`` and
    ``l2`` are noise.
    """
    rng = np.random.default_rng(random_state)
    rows, layers = [], []
    for arch in ("mlp", "lenet5"):
        for sparsity, base in ((0.5, 0.9), (0.9, 0.6)):
            for seed in range(seeds):
                seed_offset = rng.normal(0, 0.02)  # shared by the pruners of one seed
                for pruner in pruners:
                    acc = base + seed_offset + rng.normal(0, noise)
                    if pruner == "spectral" and sparsity == 0.9:
                        acc += effect
                    nid = f"{arch}-{pruner}-{sparsity}-{seed}"
                    options = {"score": score} if pruner == "spectral" else {}
                    rows.append(
                        {
                            "network_id": nid,
                            "study": "planted",
                            "architecture": arch,
                            "dataset": "digits",
                            "pruner": pruner,
                            "pruner_category": "graph",
                            "sparsity": sparsity,
                            "seed": seed,
                            "acc_dense": 0.95,
                            "acc_sparse": acc,
                            "acc_drop": 1 - acc / 0.95,
                            "mean_lambda2_nlap": rng.uniform(0.2, 0.8),
                            "config_json": json.dumps(
                                {"pruner": pruner, "pruner_options": options}
                            ),
                        }
                    )
                    for index, name in enumerate(LAYERS):
                        lam = acc + rng.normal(0, 0.005) if name == "l1" else rng.uniform(0, 1)
                        layers.append(
                            {
                                "network_id": nid,
                                "layer": index,
                                "index": index,
                                "layer_name": name,
                                "lambda2_nlap": lam,
                                "layer_density": 1 - sparsity,
                            }
                        )
    return FeatureTable(pd.DataFrame(rows), layers=pd.DataFrame(layers))


def test_section_is_registered() -> None:
    assert EXTRA_SECTIONS["laenen"] is laenen.SECTION


def test_applies_needs_spectral_and_a_matched_baseline() -> None:
    assert laenen.applies(planted(0.1))
    assert not laenen.applies(planted(0.1, pruners=("synflow", "magnitude")))
    assert not laenen.applies(planted(0.1, pruners=("spectral",)))
    table = planted(0.1)
    data = table.data.copy()
    data.loc[data["pruner"] != "spectral", "sparsity"] = 0.7  # no matched sparsity left
    assert not laenen.applies(FeatureTable(data))


def test_planted_advantage_is_found_in_the_headline(tmp_path) -> None:
    table = planted(0.15)
    report = _Report(tmp_path)
    sentence = laenen.run(report, table)
    assert sentence is not None
    # the greedy counterpart of SynFlow scores is the reference
    assert sentence.startswith("Spectral minus synflow")
    assert "highest sparsity 0.9" in sentence
    assert "higher in 2, lower in 0 and undecided in 0 of 2 cell(s)" in sentence
    matched = pd.read_csv(tmp_path / "laenen_matched.csv")
    high = matched[(matched["sparsity"] == 0.9) & (matched["baseline"] == "synflow")]
    assert np.allclose(high["diff_mean"], 0.15, atol=0.03)
    assert (high["ci_low"] > 0).all()
    low = matched[matched["sparsity"] == 0.5]
    assert (low["verdict"] != "higher").any() or np.allclose(low["diff_mean"], 0, atol=0.03)
    for name in ("laenen_accuracy", "laenen_lambda2_layers", "laenen_lambda2_accuracy"):
        assert (tmp_path / f"{name}.csv").is_file()
    claims = pd.read_csv(tmp_path / "laenen_claims.csv")
    assert list(claims.columns) == ["claim", "paper", "this study"]
    assert claims["this study"].iloc[0] == sentence


def test_no_effect_gives_no_verdict(tmp_path) -> None:
    sentence = laenen.run(_Report(tmp_path), planted(0.0, noise=0.05, seeds=3))
    assert sentence is not None
    assert "higher in 2" not in sentence and "lower in 2" not in sentence


def test_negative_effect_is_reported_as_lower(tmp_path) -> None:
    sentence = laenen.run(_Report(tmp_path), planted(-0.2))
    assert sentence is not None and "lower in 2" in sentence
    assert "-0.2" in sentence


def test_reference_falls_back_to_the_best_baseline(tmp_path) -> None:
    # magnitude scores: their greedy counterpart ('magnitude') is absent, so the best
    # baseline (snip, planted more accurate) is the reference
    table = planted(0.1, pruners=("spectral", "snip", "random"), score="magnitude")
    data = table.data.copy()
    data.loc[data["pruner"] == "random", "acc_sparse"] -= 0.3
    sentence = laenen.run(_Report(tmp_path), FeatureTable(data, layers=table.layers))
    assert sentence is not None and sentence.startswith("Spectral minus snip")


def test_planted_lambda2_layer_correlates_with_accuracy(tmp_path) -> None:
    laenen.run(_Report(tmp_path), planted(0.15))
    corr = pd.read_csv(tmp_path / "laenen_lambda2_accuracy.csv")
    planted_layer = corr[corr["layer_name"] == "l1"]
    noise_layers = corr[corr["layer_name"] != "l1"]
    assert (planted_layer["r"] > 0.9).all()
    assert (planted_layer["r_low"] > 0.5).all()
    assert (noise_layers["r"].abs() < planted_layer["r"].min()).all()
    assert set(corr["n"]) == {24}  # 3 pruners x 2 sparsities x 4 seeds per architecture


def test_section_without_layers_notes_why(tmp_path) -> None:
    table = planted(0.1)
    report = _Report(tmp_path)
    sentence = laenen.run(report, FeatureTable(table.data))
    assert sentence is not None
    assert any("No per-layer lambda2" in note for note in report.notes)
    assert not (tmp_path / "laenen_lambda2_layers.csv").exists()


def test_write_report_runs_the_section(tmp_path) -> None:
    path = write_report(planted(0.15), tmp_path, sections=("laenen",), n_repeats=1)
    page = path.read_text()
    assert "Laenen (2023)" in page
    assert (tmp_path / "laenen_matched.csv").is_file()
    assert "failed unexpectedly" not in page


@pytest.mark.parametrize("seeds", [1])
def test_single_seed_has_no_interval(tmp_path, seeds: int) -> None:
    sentence = laenen.run(_Report(tmp_path), planted(0.15, seeds=seeds))
    matched = pd.read_csv(tmp_path / "laenen_matched.csv")
    assert matched["ci_low"].isna().all()
    assert sentence is not None and "undecided in 2" in sentence


def test_default_score_is_the_pruners() -> None:
    from prunegraph.loader.pruning import PRUNERS

    assert PRUNERS.get("spectral").defaults["score"] == laenen.DEFAULT_SCORE
    table = planted(0.1)
    data = table.data.copy()
    data["config_json"] = json.dumps({"pruner_options": {}})
    assert laenen.spectral_score(FeatureTable(data)) == laenen.DEFAULT_SCORE
