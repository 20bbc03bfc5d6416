"""Stability stored as a graph: SIMILAR relationships between Network nodes in the live server."""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from typing import Any

import pandas as pd
import pytest
from _graphs import resnet_block

from prunegraph.loader import export as ex
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries import data_model as dm
from prunegraph.queries.stability import similar_rows, stability, write_similar
from prunegraph.queries.store import Store

COUNT = "MATCH (a:Network {study: $study})-[r:SIMILAR]-() RETURN count(DISTINCT r) AS n"


def _record(study: str, pruner: str, seed: int, dataset: str = "synthetic") -> NetworkRecord:
    return NetworkRecord(
        network_id=secrets.token_hex(8),
        study=study,
        architecture="resnet_block",
        dataset=dataset,
        pruner=pruner,
        pruner_category="pai",
        sparsity=0.5,
        seed=seed,
        input_shape=(2, 4, 4),
    )


@pytest.fixture(scope="module")
def stored(store: Store) -> Any:
    """Five tiny networks: pruner 'stable' (3 seeds, dense masks that mostly agree), pruner
    'shaky' (2 seeds, sparse masks), and one 'stable' seed-0 network on a second dataset."""
    study = f"t{uuid.uuid4().hex[:10]}_stability"
    specs = [
        ("stable", 0, "synthetic", 0, 0.9),
        ("stable", 1, "synthetic", 1, 0.9),
        ("stable", 2, "synthetic", 2, 0.9),
        ("shaky", 0, "synthetic", 3, 0.3),
        ("shaky", 1, "synthetic", 4, 0.3),
        ("stable", 0, "digits", 5, 0.9),
    ]
    graphs, records = {}, []
    for pruner, seed, dataset, graph_seed, density in specs:
        rec = _record(study, pruner, seed, dataset)
        g = resnet_block(seed=graph_seed, density=density, c=2, h=4)
        ex.export_network(store, {"mge": g}, record=rec, level="summary", progress=False)
        graphs[rec.network_id], records = g, [*records, rec]
    init = {r.network_id: (r.pruner, r.dataset) for r in records}
    data = {r.network_id: (r.pruner, r.seed) for r in records}
    rows = similar_rows(graphs, {"init": init, "data": data})
    yield {"study": study, "graphs": graphs, "records": records, "rows": rows}
    dm.delete_study(store, study)


def test_similar_relationships_round_trip(store: Store, stored) -> None:
    study, graphs, rows = stored["study"], stored["graphs"], stored["rows"]
    # 3 'stable' seed pairs + 1 'shaky' seed pair (init), 1 dataset pair (data)
    assert sorted(r["setting"] for r in rows) == ["data"] + ["init"] * 4
    assert write_similar(store, rows) == 5
    back = store.query("similar_pairs", study=study)
    assert len(back) == 5
    for row in back:
        ref = stability(graphs[row["network_a"]], graphs[row["network_b"]])
        assert row["jaccard"] == pytest.approx(ref["stability_jaccard"])
        assert row["overlap"] == pytest.approx(ref["stability_overlap"])
        assert row["network_a"] < row["network_b"]
    data = [r for r in back if r["setting"] == "data"]
    assert {data[0]["dataset_a"], data[0]["dataset_b"]} == {"synthetic", "digits"}
    assert data[0]["seed_a"] == data[0]["seed_b"] == 0


def test_similar_write_is_idempotent(store: Store, stored) -> None:
    study, rows = stored["study"], stored["rows"]
    write_similar(store, rows)
    changed = [dict(r, jaccard=0.25) for r in rows]
    write_similar(store, changed)
    assert store.run(COUNT, {"study": study}, write=False)[0]["n"] == 5
    assert {r["jaccard"] for r in store.query("similar_pairs", study=study)} == {0.25}
    write_similar(store, rows)  # back to the true values
    assert store.run(COUNT, {"study": study}, write=False)[0]["n"] == 5


def test_stability_by_pruner_lists_most_and_least_stable(store: Store, stored) -> None:
    study, rows = stored["study"], stored["rows"]
    write_similar(store, rows)
    got = store.query("stability_by_pruner", study=study)
    init = [r for r in got if r["setting"] == "init"]
    assert len(init) == 1 and init[0]["pruners"] == 2
    by_pruner: dict[str, list[float]] = {}
    for r in rows:
        if r["setting"] == "init":
            pruner = next(x.pruner for x in stored["records"] if x.network_id == r["a"])
            by_pruner.setdefault(pruner, []).append(r["jaccard"])
    means = {p: sum(v) / len(v) for p, v in by_pruner.items()}
    assert means["stable"] > means["shaky"]  # the fixture's premise
    assert init[0]["most_stable"] == "stable" and init[0]["least_stable"] == "shaky"
    assert init[0]["most_jaccard"] == pytest.approx(means["stable"])
    assert init[0]["least_jaccard"] == pytest.approx(means["shaky"])
    data = [r for r in got if r["setting"] == "data"]
    assert len(data) == 1 and data[0]["most_stable"] == data[0]["least_stable"] == "stable"


def test_deleting_a_network_removes_its_similar_relationships(store: Store, stored) -> None:
    study, rows = stored["study"], stored["rows"]
    write_similar(store, rows)
    victim = stored["records"][0].network_id
    mine = sum(victim in (r["a"], r["b"]) for r in rows)
    assert mine == 3  # two seed partners and one dataset partner
    dm.delete_network(store, victim)
    assert store.run(COUNT, {"study": study}, write=False)[0]["n"] == 5 - mine
    assert all(
        victim not in (r["network_a"], r["network_b"])
        for r in store.query("similar_pairs", study=study)
    )


def test_study_run_stores_similar_relationships(store: Store, tmp_path) -> None:
    """The study runner's stability stage: two seeds of one configuration give one 'init' pair,
    equal to the in-process function on the cached masks; a second run writes no duplicate."""
    from _study_helpers import tiny_config

    from prunegraph.loader.encoding import encode
    from prunegraph.study.executors import SerialExecutor
    from prunegraph.study.run import _build, _load_cache, run_study

    config = tiny_config()
    config = dataclasses.replace(config, metrics=("components",), metrics_exclude=())
    where = {"model": "mlp", "pruner": "magnitude", "sparsity": 0.5}
    try:
        for analyses in (False, True):  # the second run recomputes nothing but stability
            summary = run_study(
                config,
                out_dir=tmp_path,
                store=store,
                progress=False,
                analyses=analyses,
                executor=SerialExecutor(),
                where=where,
            )
            assert not summary.failed and summary.analysis_error is None
        page = (tmp_path / "report" / "report.html").read_text()
        assert "Stability per pruner and sparsity" in page
        table = pd.read_csv(tmp_path / "report" / "stability_by_pruner.csv")
        assert table[["setting", "pruner", "pairs"]].values.tolist() == [["init", "magnitude", 1]]
        pairs = store.query("similar_pairs", study=config.name)
        assert len(pairs) == 1 and pairs[0]["setting"] == "init"
        assert {pairs[0]["seed_a"], pairs[0]["seed_b"]} == {0, 1}
        graphs = []
        for nid in (pairs[0]["network_a"], pairs[0]["network_b"]):
            spec = next(s for s in _specs(config) if s.network_id == nid)
            cached = _load_cache(tmp_path / "cache" / "networks" / f"{nid}.pt")
            model = _build(spec)
            model.load_state_dict(cached["state_dict"])
            masks = {k: v.numpy().astype(bool) for k, v in cached["masks"].items()}
            graphs.append(encode(model, masks, spec.input_shape))
        ref = stability(*graphs)
        assert pairs[0]["jaccard"] == pytest.approx(ref["stability_jaccard"])
        assert pairs[0]["overlap"] == pytest.approx(ref["stability_overlap"])
        assert 0 < pairs[0]["jaccard"] < 1
    finally:
        dm.delete_study(store, config.name)


def _specs(config):
    from prunegraph.study.config import expand
    from prunegraph.study.run import pruner_applies

    return expand(config, applies=pruner_applies)
