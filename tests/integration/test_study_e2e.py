"""The tiny study end to end through the real stack: run, store, metrics, report, re-run."""

from __future__ import annotations

import dataclasses
import json
import time

import pandas as pd
import pytest
from _study_helpers import tiny_config

from prunegraph.queries.data_model import network_label
from prunegraph.study import expand
from prunegraph.study.executors import SerialExecutor
from prunegraph.study.run import pruner_applies, run_study


@pytest.fixture(scope="module")
def tiny(tiny_run):
    return tiny_run


def test_every_network_is_computed_and_stored_once(store, tiny) -> None:
    config, summary = tiny["config"], tiny["summary"]
    expected = {s.network_id: s for s in expand(config, applies=pruner_applies)}
    assert len(expected) == 2 * 3 * 2 * 2
    assert summary.count("failed") == 0, summary.format()
    assert summary.count("complete") == len(expected)
    rows = store.run(
        "MATCH (n:Network {study: $study}) RETURN n.network_id AS id, n.status AS status, "
        "n.level AS level, n.metric_engines AS engines, n.acc_dense AS acc_dense, "
        "n.acc_sparse AS acc_sparse, n.architecture AS arch, n.pruner AS pruner, "
        "n.sparsity AS sparsity, n.seed AS seed",
        {"study": config.name},
        write=False,
    )
    ids = [r["id"] for r in rows]
    assert sorted(ids) == sorted(expected)  # each id once, none extra
    for row in rows:
        spec = expected[row["id"]]
        assert row["status"] == "complete"
        assert row["level"] == spec.level
        assert (row["arch"], row["pruner"], row["seed"]) == (spec.model, spec.pruner, spec.seed)
        assert row["sparsity"] == pytest.approx(spec.sparsity)
        assert 0.0 <= row["acc_sparse"] <= 1.0 and 0.0 < row["acc_dense"] <= 1.0
        engines = json.loads(row["engines"])
        assert {"kcore", "mean_delta_r", "mean_layer_density"} <= set(engines)
    # the dense baseline is shared: one acc_dense per (model, seed)
    dense = {(r["arch"], r["seed"]): set() for r in rows}
    for r in rows:
        dense[(r["arch"], r["seed"])].add(r["acc_dense"])
    assert all(len(v) == 1 for v in dense.values())


def test_full_level_network_has_its_mge_in_the_store(store, tiny) -> None:
    config = tiny["config"]
    full = [s for s in expand(config, applies=pruner_applies) if s.level == "full"]
    assert len(full) == 1
    spec = full[0]
    rows = store.run(
        "MATCH (n:Network {network_id: $id}) "
        "OPTIONAL MATCH (n)-[:HAS_LAYER]->(l:Layer) "
        "RETURN n.n_edges AS n_edges, sum(l.n_edges) AS layer_edges",
        {"id": spec.network_id},
        write=False,
    )
    assert rows[0]["n_edges"] > 0 and rows[0]["layer_edges"] == rows[0]["n_edges"]
    label = network_label(spec.network_id)
    units = store.run(f"MATCH (u:Unit:`{label}`) RETURN count(u) AS c", write=False)[0]["c"]
    assert units > 0


def test_report_has_every_section_with_numbers(tiny) -> None:
    summary, out = tiny["summary"], tiny["out"]
    assert summary.analysis_error is None, summary.analysis_error
    assert summary.report is not None and summary.report.is_file()
    html = summary.report.read_text().lower()
    for section in ("regression", "importance", "classification", "ranking", "ramanujan"):
        assert section in html, section
    features = pd.read_csv(out / "report" / "features.csv")
    assert len(features) == 24
    assert features["acc_drop"].notna().all()
    r2 = pd.read_csv(out / "report" / "table3_r2_adj.csv")
    assert not r2.empty
    log = json.loads((out / "run.json").read_text())
    assert len(log["networks"]) == 24 and log["report"].endswith("report.html")


def test_rerun_recomputes_nothing_and_gives_the_same_report(store, tiny) -> None:
    config, out, first = tiny["config"], tiny["out"], tiny["summary"]
    before = pd.read_csv(out / "report" / "table3_r2_adj.csv")
    features_before = pd.read_csv(out / "report" / "features.csv")
    start = time.perf_counter()
    again = run_study(config, out_dir=out, store=store, progress=False, analyses=True)
    assert again.count("skipped") == 24 and again.count("complete") == 0
    assert again.seconds["networks"] < 1.0
    assert time.perf_counter() - start < first.seconds["total"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "report" / "table3_r2_adj.csv"), before)
    pd.testing.assert_frame_equal(pd.read_csv(out / "report" / "features.csv"), features_before)


def test_a_failing_network_is_recorded_and_does_not_stop_the_others(
    store, tmp_path, monkeypatch
) -> None:
    from prunegraph.queries.data_model import delete_study
    from prunegraph.study import run as study_run

    config = tiny_config()
    real = study_run.store_network

    def flaky(store_, model, masks, record, **kw):
        if record.pruner == "snip":
            raise RuntimeError("injected failure")
        return real(store_, model, masks, record, **kw)

    monkeypatch.setattr(study_run, "store_network", flaky)
    try:
        summary = run_study(
            config,
            out_dir=tmp_path,
            store=store,
            executor=SerialExecutor(),
            where={"model": "mlp", "seed": "0", "sparsity": "0.9"},
            analyses=False,
            progress=False,
        )
        assert summary.count("complete") == 2 and summary.count("failed") == 1
        failed = summary.failed[0]
        assert "snip" in failed.label and "injected failure" in failed.error
        log = json.loads((tmp_path / "run.json").read_text())
        logged = {n["network_id"]: n for n in log["networks"]}
        assert logged[failed.network_id]["status"] == "failed"
        assert "RuntimeError: injected failure" in logged[failed.network_id]["traceback"]
        assert "FAILED" in summary.format()
        # the next run retries only the failed one
        monkeypatch.setattr(study_run, "store_network", real)
        retry = run_study(
            dataclasses.replace(config),
            out_dir=tmp_path,
            store=store,
            executor=SerialExecutor(),
            where={"model": "mlp", "seed": "0", "sparsity": "0.9"},
            analyses=False,
            progress=False,
        )
        assert retry.count("complete") == 1 and retry.count("skipped") == 2
    finally:
        delete_study(store, config.name)


def test_import_own_checkpoints(store, tmp_path) -> None:
    """A state_dict (zeros as masks) and a pruned module (weight_mask buffers) become a study."""
    import uuid

    import torch
    from torch.nn.utils import prune as torch_prune

    from prunegraph.loader.models import build_model
    from prunegraph.queries.data_model import delete_study
    from prunegraph.study.importer import import_study

    lenet = build_model("lenet5", input_shape=(1, 8, 8), num_classes=10, seed=3)
    with torch.no_grad():
        for module in lenet.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                weight = module.weight
                cut = weight.abs().flatten().kthvalue(int(0.8 * weight.numel())).values
                weight[weight.abs() <= cut] = 0.0  # ~80 % exact zeros
    torch.save(lenet.state_dict(), tmp_path / "lenet.pt")
    mlp = build_model("mlp", input_shape=(1, 8, 8), num_classes=10, seed=4)
    for module in mlp.modules():
        if isinstance(module, torch.nn.Linear):
            torch_prune.random_unstructured(module, "weight", amount=0.6)
    torch.save(mlp, tmp_path / "mlp_module.pt")
    (tmp_path / "manifest.csv").write_text(
        "checkpoint,model,input_shape,num_classes,acc_dense,acc_sparse,pruner,seed,dataset\n"
        "lenet.pt,lenet5,1x8x8,10,0.95,0.90,magnitude,3,digits\n"
        "mlp_module.pt,my_mlp,1x8x8,,0.96,0.80,random,4,digits\n"
    )
    study = f"t{uuid.uuid4().hex[:10]}-import"
    try:
        summary = import_study(
            tmp_path / "manifest.csv",
            study=study,
            store=store,
            analyses=False,
            out_dir=tmp_path / "out",
            trust_checkpoint=True,  # mlp_module.pt is a pickled module this test wrote
        )
        assert summary.count("complete") == 2, summary.format()
        rows = store.run(
            "MATCH (n:Network {study: $study}) RETURN n.architecture AS arch, n.sparsity AS s, "
            "n.acc_sparse AS acc, n.pruner_category AS cat, n.status AS status, "
            "n.metric_engines AS engines ORDER BY arch",
            {"study": study},
            write=False,
        )
        assert [r["arch"] for r in rows] == ["lenet5", "my_mlp"]
        assert rows[0]["s"] == pytest.approx(0.8, abs=0.01) and rows[0]["acc"] == 0.90
        assert rows[1]["s"] == pytest.approx(0.6, abs=0.01) and rows[1]["cat"] == "random"
        assert all(r["status"] == "complete" and r["engines"] for r in rows)
        again = import_study(
            tmp_path / "manifest.csv",
            study=study,
            store=store,
            analyses=False,
            out_dir=tmp_path / "out",
            trust_checkpoint=True,  # mlp_module.pt is a pickled module this test wrote
        )
        assert again.count("skipped") == 2
    finally:
        delete_study(store, study)
