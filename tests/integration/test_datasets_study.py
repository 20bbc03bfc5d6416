"""A study over every standard dataset, read from tiny files in their real formats, end to end:
train with crop-and-flip augmentation and the multistep schedule, prune, encode, export, measure,
report, against the real Neo4j server."""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

_HELPER = Path(__file__).resolve().parents[1] / "unit" / "_dataset_files.py"


def _write_all(root: Path) -> dict[str, Path]:
    spec = importlib.util.spec_from_file_location("_dataset_files", _HELPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_all(root)


def test_every_dataset_runs_end_to_end(store, tmp_path: Path) -> None:
    from prunegraph.queries.data_model import delete_study
    from prunegraph.study import load_study
    from prunegraph.study.run import run_study

    roots = _write_all(tmp_path / "data")
    name = f"t{uuid.uuid4().hex[:10]}-datasets"
    extra = {"tinyimagenet": "image_size = [32, 32]\n"}
    tables = "\n".join(
        f'[datasets.{d}]\nroot = "{roots[d]}"\n{extra.get(d, "")}' for d in sorted(roots)
    )
    study = tmp_path / "study.toml"
    study.write_text(
        f"""
[study]
name = "{name}"
output = "{tmp_path / "out"}"
[grid]
models = ["mlp"]
datasets = {json.dumps(sorted(roots))}
pruners = ["random", "snip"]
sparsities = [0.9]
seeds = [0]
[models.mlp]
hidden = [16]
{tables}
[pruners.snip]
batch_size = 8
n_batches = 1
[training]
enabled = true
epochs = 3
finetune_epochs = 1
lr = 0.05
batch_size = 8
schedule = "multistep"
milestones = [1, 2]
augment = "crop_flip"
device = "cpu"
[export]
level = "summary"
[metrics]
exclude = ["pca_elongation"]
[analysis]
run = ["regress", "rank", "ramanujan"]
cv = "kfold"
n_splits = 2
n_repeats = 1
regressors = ["linear"]
[run]
workers = 1
"""
    )
    config = load_study(study)
    assert config.training.milestones == (1, 2) and config.training.augment == "crop_flip"
    try:
        summary = run_study(config, store=store, progress=False)
        assert summary.count("complete") == 12, summary.format()
        rows = store.query_df("network_features", study=name)
        assert len(rows) == 12
        by_dataset = rows.groupby("dataset")["network_id"].count().to_dict()
        assert by_dataset == {d: 2 for d in roots}
        assert rows["acc_sparse"].between(0, 1).all() and rows["acc_dense"].between(0, 1).all()
        from prunegraph.study import expand

        specs = {spec.network_id: spec for spec in expand(config)}
        assert set(rows["network_id"]) == set(specs)
        shapes = {s.dataset: s.input_shape for s in specs.values()}
        assert shapes["cifar10"] == (3, 32, 32) and shapes["mnist"] == (1, 28, 28)
        assert shapes["tinyimagenet"] == (3, 32, 32) and shapes["imagefolder"] == (3, 16, 16)
        classes = {s.dataset: s.num_classes for s in specs.values()}
        assert classes == {
            "cifar10": 10, "cifar100": 100, "mnist": 10, "fashion_mnist": 10,
            "tinyimagenet": 200, "imagefolder": 3,
        }  # fmt: skip
        # the per-epoch lines of every sparse training are in the run log, with the rate
        # divided by 10 after each milestone
        log = json.loads((tmp_path / "out" / "run.json").read_text())
        assert all(n["status"] == "complete" for n in log["networks"])
        for n in log["networks"]:
            lines = n["training_log"]
            assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
            rates = [float(line.split(" lr ")[1].split()[0]) for line in lines]
            np.testing.assert_allclose(rates, [0.005, 0.0005, 0.0005])
        assert summary.report is not None and Path(summary.report).is_file()
    finally:
        delete_study(store, name)
