"""CLI on the real store: db backfill-cost, the study lock on export/delete, report stability pairs."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
from test_cost_store import _graph

from prunegraph.cli import build_parser, main
from prunegraph.errors import NotFoundError
from prunegraph.loader import export as ex
from prunegraph.loader.cost import COST_COLUMNS
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries import data_model as dm
from prunegraph.queries.store import Store
from prunegraph.study.lock import StudyLock

_LAYER_COST = (
    "MATCH (:Network {network_id: $id})-[:HAS_LAYER]->(l:Layer) RETURN l.index AS index, "
    + ", ".join(f"l.{k} AS {k}" for k in COST_COLUMNS)
    + " ORDER BY index"
)


@pytest.fixture
def study(store: Store, unique_name: str):
    name = f"{unique_name}_cli"
    yield name
    with contextlib.suppress(NotFoundError):
        dm.delete_study(store, name)
    store.run("MATCH (l:StudyLock {study: $s}) DELETE l", {"s": name})


def _record(study: str, seed: int) -> NetworkRecord:
    return NetworkRecord(
        network_id=secrets.token_hex(8),
        study=study,
        architecture="tiny",
        dataset="synthetic",
        pruner="random",
        pruner_category="pai",
        sparsity=0.5,
        seed=seed,
        input_shape=(1, 6, 6),
        acc_dense=0.9,
        acc_sparse=0.8,
    )


def _export(store: Store, study: str, seeds=(0, 1), level: str = "summary") -> list[str]:
    ids = []
    for seed in seeds:
        rec = _record(study, seed)
        ex.export_network(
            store, _graph(seed, 0.3 + 0.2 * seed), record=rec, level=level, progress=False
        )
        ids.append(rec.network_id)
    return ids


def _cost(store: Store, network_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    props = dm.get_network(store, network_id)
    return {k: props.get(k) for k in COST_COLUMNS}, store.run(_LAYER_COST, {"id": network_id})


# ------------------------------------------------------------------------- backfill-cost
def test_backfill_cost_restores_the_values_written_at_export(
    store: Store, study: str, capsys
) -> None:
    ids = _export(store, study, seeds=(0, 1, 2))
    ids.append(_export(store, study, seeds=(3,), level="full")[0])
    exported = {i: _cost(store, i) for i in ids}
    assert all(v is not None for net, _ in exported.values() for v in net.values())
    strip = ", ".join(f"x.{k}" for k in COST_COLUMNS)
    # network 0: every cost property gone (as stored before the cost existed); network 1: one
    # layer's flops_sparse only; network 2: cost and partition sizes gone (cannot be computed)
    store.run(
        f"MATCH (n:Network)-[:HAS_LAYER]->(x:Layer) WHERE n.network_id IN $ids REMOVE {strip}",
        {"ids": [ids[0], ids[3]]},
    )
    store.run(
        f"MATCH (x:Network) WHERE x.network_id IN $ids REMOVE {strip}", {"ids": [ids[0], ids[3]]}
    )
    store.run(
        "MATCH (:Network {network_id: $id})-[:HAS_LAYER]->(l:Layer {index: 1}) REMOVE l.flops_sparse",
        {"id": ids[1]},
    )
    store.run(
        f"MATCH (x:Network {{network_id: $id}}) REMOVE {strip}, x.partition_sizes", {"id": ids[2]}
    )
    assert _cost(store, ids[0])[0] == dict.fromkeys(COST_COLUMNS)

    assert main(["db", "backfill-cost", "--study", study, "--dry-run"]) == 1
    out, err = capsys.readouterr()
    assert "would write the cost of 3 networks (9 layers)" in out
    assert ids[2] in err and "no partition_sizes" in err
    assert _cost(store, ids[0])[0] == dict.fromkeys(COST_COLUMNS)  # a dry run writes nothing

    assert main(["db", "backfill-cost", "--study", study]) == 1
    out, err = capsys.readouterr()
    assert "wrote the cost of 3 networks (9 layers)" in out
    assert f"cannot compute the cost of 1 network from what is stored ({ids[2]}" in err
    for network_id in (ids[0], ids[1], ids[3]):
        assert _cost(store, network_id) == exported[network_id]
    assert _cost(store, ids[2])[0] == dict.fromkeys(COST_COLUMNS)  # left as it was

    # idempotent: a second run finds only the one it cannot compute, and changes nothing
    assert main(["db", "backfill-cost", "--study", study]) == 1
    out, _ = capsys.readouterr()
    assert "wrote the cost of 0 networks" in out
    dm.delete_network(store, ids[2])
    assert main(["db", "backfill-cost", "--study", study]) == 0
    assert "nothing to do" in capsys.readouterr().out
    for network_id in (ids[0], ids[1], ids[3]):
        assert _cost(store, network_id) == exported[network_id]


# ------------------------------------------------------------------------- study lock
def _files(tmp_path: Path, study: str, seed: int) -> tuple[NetworkRecord, list[str]]:
    rec = _record(study, seed)
    graph = tmp_path / f"g{seed}.npz"
    _graph(seed, 0.5).save(graph)
    record = tmp_path / f"r{seed}.json"
    record.write_text(json.dumps(dataclasses.asdict(rec)))
    return rec, [
        "--graph",
        str(graph),
        "--record",
        str(record),
        "--level",
        "summary",
        "--no-progress",
    ]


def test_export_and_delete_take_the_study_lock(
    store: Store, study: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    (stored,) = _export(store, study, seeds=(0,), level="full")
    rec, export_args = _files(tmp_path, study, 1)
    store.run("MATCH (n:Network {network_id: $id}) REMOVE n.params", {"id": stored})
    holder = StudyLock(store, study, ttl=30).acquire()
    try:
        named = f"host {holder.host}, pid {holder.pid}"
        for argv in (
            ["delete", "--study", study],
            ["delete", "--network", stored],
            ["export", *export_args],
            ["metrics", "--network", stored, "--metrics", "n1", "--dry-run", "--no-progress"],
            ["db", "backfill-cost", "--study", study],
        ):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert f"Study '{study}' is being written by another run: {named}" in err, argv
            assert "(--wait)" in err
        assert main(["delete", "--study", study, "--wait", "0.5"]) == 2
        assert "Gave up waiting after 0.5 s" in capsys.readouterr().err
        assert dm.network_state(store, rec.network_id) is None
        assert dm.network_state(store, stored)["status"] == "complete"

        # --bulk would replace every study: refused while one has a live writer
        from prunegraph.loader import bulk

        called = []
        monkeypatch.setattr(bulk, "bulk_load", lambda *a, **k: called.append(1))
        assert main(["export", "--bulk", "--overwrite", *export_args]) == 2
        err = capsys.readouterr().err
        assert f"study '{study}' by {named}" in err and not called
    finally:
        holder.release()

    # free again: metrics, backfill, export and delete work;
    assert main(["metrics", "--network", stored, "--metrics", "n1", "--no-progress"]) == 0
    assert main(["db", "backfill-cost", "--study", study]) == 0
    props = dm.get_network(store, stored)
    assert props["params"] == 120 and props.get("n1") is not None
    # a waiting delete goes ahead once the holder leaves
    assert main(["export", *export_args]) == 0
    assert dm.network_state(store, rec.network_id)["status"] == "complete"
    holder = StudyLock(store, study, ttl=30).acquire()
    timer = threading.Timer(1.0, holder.release)
    timer.start()
    try:
        assert main(["delete", "--network", rec.network_id, "--wait", "60"]) == 0
    finally:
        timer.join()
    assert "Waiting for it" in capsys.readouterr().err
    assert dm.network_state(store, rec.network_id) is None
    assert main(["delete", "--study", study]) == 0
    assert not store.run("MATCH (l:StudyLock {study: $s}) RETURN l", {"s": study})


# ------------------------------------------------------------------------- report stability
def test_report_reads_the_stored_stability_pairs(store: Store, study: str, tmp_path: Path) -> None:
    from prunegraph.cli.analyze import stability_pairs
    from prunegraph.queries.stability import similar_rows, write_similar

    ids = _export(store, study, seeds=(0, 1))
    graphs = {i: _graph(seed, 0.3 + 0.2 * seed) for seed, i in enumerate(ids)}
    assert write_similar(store, similar_rows(graphs, {"init": dict.fromkeys(ids, "g")})) == 1
    args = build_parser().parse_args(
        ["analyze", "report", "--study", study, "--out", str(tmp_path)]
    )
    pairs = stability_pairs(args)
    assert len(pairs) == 1 and set(pairs[["network_a", "network_b"]].iloc[0]) == set(ids)
    assert pairs["setting"].iloc[0] == "init" and 0 < pairs["jaccard"].iloc[0] <= 1
    assert pairs.to_dict("records") == store.query("similar_pairs", study=study)


def test_weights_of_a_stored_study_from_its_cache(store: Store, study: str, tmp_path: Path) -> None:
    import torch

    from prunegraph.analysis.weights import weight_features
    from prunegraph.cli.analyze import _load
    from prunegraph.errors import ValidationError

    ids = _export(store, study, seeds=(0, 1, 2))
    cache = tmp_path / "cache" / "networks"
    cache.mkdir(parents=True)
    for k, network_id in enumerate(ids):
        g = torch.Generator().manual_seed(k)
        state = {n: torch.randn(s, generator=g) * (k + 1) for n, s in (("a", (3, 4)), ("b", (5,)))}
        masks = {n: torch.rand(w.shape, generator=g) < 0.6 for n, w in state.items()}
        torch.save({"state_dict": state, "masks": masks}, cache / f"{network_id}.pt")
    argv = ["analyze", "rank", "--study", study, "--weights", str(tmp_path / "cache")]
    args = build_parser().parse_args([*argv, "--out", str(tmp_path / "out")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = _load(args)
    got = table.data.set_index("network_id")
    expected = weight_features(tmp_path / "cache", ids)
    assert set(got.index) == set(ids) and "w_mean" in got.columns
    assert got.loc[ids, "w_var"].tolist() == pytest.approx(expected.loc[ids, "w_var"].tolist())

    (cache / f"{ids[1]}.pt").unlink()
    with pytest.raises(ValidationError, match=rf"lacks the entry of 1 of the 3 networks: {ids[1]}"):
        _load(args)
