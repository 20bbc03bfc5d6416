"""Report section 'janik_nowak' on a planted feature table and a planted run cache."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from prunegraph.analysis.experiments import janik_nowak as jn
from prunegraph.analysis.features import FeatureTable
from prunegraph.loader.models import build_model
from prunegraph.loader.pruning.resource import resource_masks

N_NODES = 6  # stages [0 0 1 1 2 2]: 15 edges
#: lam -> (kept edges, edges above tau but dead); all other edges sit below tau
PLANTED = {
    0.0: ({pair: 0.5 for pair in [(i, j) for j in range(1, 6) for i in range(j)]}, {}),
    0.1: ({(0, 1): 0.4, (1, 2): 0.3, (2, 5): 0.2, (0, 5): 0.05}, {(3, 4): 0.5}),
    0.3: ({(0, 5): 0.3}, {(1, 2): 0.2}),
}
ACC = {0.0: [0.95, 0.94, 0.96], 0.1: [0.92, 0.90, 0.91], 0.3: [0.80, 0.84, 0.75]}


class Recorder:
    """What a section writes, through the report's text/note/table/figure."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.texts: list[str] = []
        self.notes: list[str] = []
        self.tables: dict[str, pd.DataFrame] = {}
        self.figures: list[str] = []

    def text(self, text: str) -> None:
        self.texts.append(text)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def table(self, frame: pd.DataFrame, name: str, *, caption: str, index: bool = False) -> None:
        self.tables[name] = frame

    def figure(self, fig, caption: str) -> None:
        import matplotlib.pyplot as plt

        plt.close(fig)
        self.figures.append(caption)


def _config(lam: float, seed: int) -> dict:
    return {
        "model": "dagnet",
        "model_options": {"n_nodes": N_NODES, "channels": 2, "resource_lambda": 0.0},
        "input_shape": [1, 8, 8],
        "num_classes": 10,
        "pruner": "resource",
        "pruner_options": {"lam": lam, "tau": 0.006},
        "seed": seed,
    }


def _plant_network(lam: float, seed: int) -> dict:
    model = build_model(
        "dagnet",
        input_shape=(1, 8, 8),
        num_classes=10,
        seed=seed,
        **_config(lam, seed)["model_options"],
    )
    kept, dead = PLANTED[lam]
    strengths = np.full(len(model.edge_pairs), 0.001)
    for e, pair in enumerate(model.edge_pairs):
        strengths[e] = {**kept, **dead}.get(pair, 0.001)
    with torch.no_grad():
        model.edge_weights.copy_(torch.from_numpy(np.arctanh(strengths)).float())
    masks = resource_masks(model, 0.006)
    return {
        "state_dict": model.state_dict(),
        "masks": {k: torch.from_numpy(v) for k, v in masks.items()},
    }


@pytest.fixture
def planted(tmp_path: Path) -> tuple[FeatureTable, Recorder]:
    rows = []
    cache = tmp_path / "cache" / "networks"
    cache.mkdir(parents=True)
    for lam, accs in ACC.items():
        n_kept = len(PLANTED[lam][0])
        for seed, acc in enumerate(accs):
            network_id = f"{int(lam * 10):02d}{seed:014d}"
            torch.save(_plant_network(lam, seed), cache / f"{network_id}.pt")
            rows.append(
                {
                    "network_id": network_id,
                    "study": "planted",
                    "architecture": "dagnet",
                    "dataset": "digits",
                    "pruner": "resource",
                    "pruner_category": "magnitude",
                    "sparsity": 0.5,
                    "seed": seed,
                    "acc_dense": 0.95,
                    "acc_sparse": acc,
                    "params": 10_000,
                    "params_nonzero": 600 * n_kept,
                    "log_paths": 10.0 + n_kept + 0.1 * seed,  # MGE: rises with the edges kept
                    "config_json": json.dumps(_config(lam, seed)),
                }
            )
    rows.append({**rows[0], "network_id": "ffffffffffffffff", "pruner": "random"})  # not ours
    return FeatureTable(data=pd.DataFrame(rows)), Recorder(tmp_path / "report")


def test_applies_only_to_tables_with_resource_networks(planted) -> None:
    table, _ = planted
    assert jn.applies(table)
    other = table.data[table.data["pruner"] != "resource"]
    assert not jn.applies(FeatureTable(data=other))
    assert not jn.applies(FeatureTable(data=table.data.drop(columns=["config_json"])))


def test_section_counts_edges_and_recovers_the_planted_trade_off(planted) -> None:
    table, report = planted
    headline = jn.run(report, table)
    networks = report.tables["janik_nowak_networks"]
    assert len(networks) == 9 and set(networks["lam"]) == {0.0, 0.1, 0.3}
    sweep = report.tables["janik_nowak_sweep"].set_index("lam")
    assert sweep["n"].tolist() == [3, 3, 3]
    assert sweep["edges_kept_mean"].tolist() == [15, 4, 1]
    assert sweep["edges_dead_mean"].tolist() == [0, 1, 1]
    assert sweep["edges_thresholded_mean"].tolist() == [0, 10, 13]
    assert sweep["nodes_alive_mean"].tolist() == [6, 4, 2]
    # paths 0 -> 5 in the block DAG: 2^4 in the full DAG, 2 (0-1-2-5, 0-5), then 1
    assert np.allclose(sweep["dag_log_paths_mean"], [math.log(16), math.log(2), 0.0])
    assert np.allclose(sweep["dag_max_path_mean"], [5, 3, 1])
    assert np.allclose(sweep["dag_edge_connectivity_mean"], [5, 2, 1])
    assert np.allclose(sweep["params_kept_mean"], [0.9, 0.24, 0.06])
    # the accuracy drop against the dense DAG, with its Student-t interval over the seeds
    drops = 0.95 - np.array(ACC[0.3])
    half = stats.t.ppf(0.975, 2) * drops.std(ddof=1) / math.sqrt(3)
    assert sweep.loc[0.3, "acc_drop_mean"] == pytest.approx(drops.mean())
    assert sweep.loc[0.3, "acc_drop_low"] == pytest.approx(drops.mean() - half)
    assert sweep.loc[0.3, "acc_drop_high"] == pytest.approx(drops.mean() + half)
    paths = report.tables["janik_nowak_paths"]
    dag = paths[(paths["resources"] == "edges_kept") & (paths["metric"] == "log_paths")]
    dag = dag[dag["graph"] == "block DAG"].iloc[0]
    assert dag["n"] == 9 and dag["rho"] == pytest.approx(1.0) and dag["rho_low"] > 0.5
    mge = paths[(paths["graph"] == "MGE (stored)") & (paths["metric"] == "log_paths")]
    assert (mge["rho"] > 0.9).all()
    claims = report.tables["janik_nowak_claims"]
    assert len(claims) == 3 and {"claim", "paper", "this study"} <= set(claims.columns)
    assert "lam=0.3: 3 dead edges in 3 networks" in claims.iloc[2]["this study"]
    assert report.figures and not [n for n in report.notes if "run cache" in n]
    assert headline is not None and "lam=0.3" in headline and "n=3" in headline


def test_without_a_run_cache_the_section_says_so_and_keeps_the_parameters(
    planted, tmp_path
) -> None:
    table, _ = planted
    report = Recorder(tmp_path / "elsewhere" / "report")
    jn.run(report, table)
    assert any("9 of 9 networks have no trained DAG" in n for n in report.notes)
    sweep = report.tables["janik_nowak_sweep"]
    assert "edges_kept_mean" not in sweep and np.allclose(
        sweep["params_kept_mean"], [0.9, 0.24, 0.06]
    )
    assert "not measured" in report.tables["janik_nowak_claims"].iloc[2]["this study"]


def test_the_section_runs_inside_write_report(planted, tmp_path) -> None:
    from prunegraph.analysis.report import write_report

    table, _ = planted
    out = tmp_path / "report"
    path = write_report(table, out, sections=("janik_nowak",))
    html = path.read_text()
    assert "Janik and Nowak: accuracy against resources" in html
    assert (out / "janik_nowak_sweep.csv").is_file() and (out / "janik_nowak_claims.csv").is_file()
    sweep = pd.read_csv(out / "janik_nowak_sweep.csv")
    assert sweep["edges_kept_mean"].tolist() == [15, 4, 1]  # the cache beside the report folder
