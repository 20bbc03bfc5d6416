"""Study TOML parsing, validation, identity and executors (no database, no training)."""

from __future__ import annotations

import copy
import tomllib
from concurrent.futures import Future
from pathlib import Path

import pytest

from prunegraph.errors import UnknownNameError, ValidationError
from prunegraph.study import (
    NetworkSpec,
    Registries,
    check_registries,
    config_hash,
    expand,
    is_network_id,
    load_study,
    parse_study,
)
from prunegraph.study.executors import (
    Executor,
    SerialExecutor,
    local_process_executor,
    make_executor,
)

ROOT = Path(__file__).resolve().parents[2]

BASE = {
    "study": {"name": "unit", "output": "out/unit"},
    "grid": {
        "models": ["mlp", "conv2"],
        "datasets": ["digits"],
        "pruners": ["random", "snip", "magnitude"],
        "sparsities": [0.5, 0.9],
        "seeds": [0, 1],
    },
    "pruners": {"snip": {"batches": 2}},
    "training": {"epochs": 2, "lr": 0.1},
    "export": {"level": "summary", "full": [{"model": "conv2", "sparsity": 0.9, "seed": 0}]},
}


def fake_registries(applies=None) -> Registries:
    return Registries(
        models=["mlp", "conv2", "lenet5"],
        pruners=["random", "snip", "magnitude", "synflow"],
        metrics=["kcore", "sink", "delta_r"],
        applies=applies,
        pruner_options=lambda name: {"snip": ["batches", "batch_size"]}.get(name, []),
    )


def shapes(dataset, options):
    return ((1, 8, 8), 10)


def parse(data, **kw):
    config = parse_study(data, check_names=False)
    return check_registries(config, kw.get("registries", fake_registries()))


def test_parse_and_expand_full_grid() -> None:
    config = parse(BASE)
    specs = expand(config, shapes=shapes)
    assert len(specs) == config.n_networks == 2 * 3 * 2 * 2
    ids = [s.network_id for s in specs]
    assert len(set(ids)) == len(ids)
    assert all(is_network_id(i) for i in ids)
    full = [s for s in specs if s.level == "full"]
    assert {(s.model, s.sparsity, s.seed) for s in full} == {("conv2", 0.9, 0)}
    assert len(full) == 3  # one per pruner
    snip = next(s for s in specs if s.pruner == "snip")
    assert dict(snip.pruner_options) == {"batches": 2}
    assert snip.training.enabled and snip.training.epochs == 2


def test_identity_is_stable_and_sensitive() -> None:
    spec = expand(parse(BASE), shapes=shapes)[0]
    same = expand(parse(copy.deepcopy(BASE)), shapes=shapes)[0]
    assert spec.network_id == same.network_id
    for field, value in [
        ("sparsity", 0.51),
        ("seed", 7),
        ("pruner", "synflow"),
        ("model", "lenet5"),
        ("input_shape", (1, 16, 16)),
        ("num_classes", 3),
        ("pruner_options", (("iterations", 5),)),
    ]:
        changed = NetworkSpec(**{**spec.__dict__, field: value})
        assert changed.network_id != spec.network_id, field
    # storage level is not identity: changing it re-exports the same network
    assert NetworkSpec(**{**spec.__dict__, "level": "full"}).network_id == spec.network_id
    data = copy.deepcopy(BASE)
    data["training"]["epochs"] = 3
    assert expand(parse(data), shapes=shapes)[0].network_id != spec.network_id


def test_dense_key_shared_across_pruners_and_sparsities() -> None:
    specs = expand(parse(BASE), shapes=shapes)
    keys = {(s.model, s.seed): set() for s in specs}
    for s in specs:
        keys[(s.model, s.seed)].add(s.dense_key)
    assert all(len(v) == 1 for v in keys.values())
    assert len({next(iter(v)) for v in keys.values()}) == 4


def test_config_hash_is_order_independent() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert len(config_hash({})) == 16


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("grid", "sparsites"),
            [0.5],
            "Unknown key 'sparsites' in [grid]. Did you mean 'sparsities'?",
        ),
        (("training", "epoch"), 3, "Did you mean 'epochs'?"),
        (("exprt",), {}, "Did you mean 'export'?"),
        (
            ("grid", "sparsities"),
            [0.5, 1.5],
            "sparsities[1] must be a float in the range (0, 1). Got 1.5",
        ),
        (("grid", "sparsities"), [0.0], "range (0, 1). Got 0.0"),
        (("grid", "sparsities"), [0.5, 0.5], "more than once"),
        (("grid", "seeds"), [-1], "seeds[0] must be an int"),
        (("grid", "seeds"), [1.5], "seeds[0] must be an int"),
        (("grid", "models"), [], "must not be empty"),
        (("grid", "models"), "conv2", None),
        (("export", "level"), "everything", "level must be one of full, rolled, summary"),
        (("export", "encodings"), ["mge", "rolld"], "Did you mean 'rolled'?"),
        (("export", "full"), [{"modle": "x"}], "Did you mean 'model'?"),
        (("export", "full"), [{"model": "lenet5"}], "does not list"),
        (("export", "full"), [{}], "would select every network"),
        (("pruners", "synflow"), {"iterations": 3}, "which [grid] pruners does not list"),
        (("study", "name"), "bad name!", "[study] name is required"),
        (("training", "optimizer"), "adamw", "optimizer must be one of sgd, adam"),
        (("training", "lr"), 0, "lr must be a float in the range (0, 10]"),
        (("analysis", "run"), ["regres"], "Did you mean 'regress'?"),
        (("analysis", "cv"), "kfolds", "cv must be one of grouped, kfold"),
        (("run", "workers"), 0, "workers must be an int"),
    ],
)
def test_bad_values_are_named(path, value, message) -> None:
    data = copy.deepcopy(BASE)
    table = data
    for key in path[:-1]:
        table = table.setdefault(key, {})
    table[path[-1]] = value
    if message is None:  # a single string is accepted as a one-element list
        assert parse(data).models == ("conv2",)
        return
    with pytest.raises(ValidationError) as err:
        parse(data)
    assert message in str(err.value)


def test_missing_grid_key() -> None:
    data = copy.deepcopy(BASE)
    del data["grid"]["seeds"]
    with pytest.raises(ValidationError, match=r"\[grid\] needs 'seeds'"):
        parse(data)


@pytest.mark.parametrize(
    ("key", "bad", "kind", "hint"),
    [("models", "conv_2", "model", "conv2"), ("pruners", "snp", "pruner", "snip")],
)
def test_unknown_registry_names(key, bad, kind, hint) -> None:
    data = copy.deepcopy(BASE)
    data["grid"][key] = [bad]
    data["export"]["full"] = []
    data.pop("pruners")
    with pytest.raises(UnknownNameError) as err:
        parse(data)
    assert f"Unknown {kind} '{bad}'. Did you mean '{hint}'?" in str(err.value)


def test_unknown_pruner_option() -> None:
    data = copy.deepcopy(BASE)
    data["pruners"] = {"snip": {"batchs": 3}}
    with pytest.raises(
        ValidationError,
        match=r"Unknown option 'batchs' in \[pruners.snip\]. Did you mean 'batches'",
    ):
        parse(data)


def test_unknown_metric_name() -> None:
    data = copy.deepcopy(BASE)
    data["metrics"] = {"names": ["kcor"]}
    with pytest.raises(UnknownNameError, match="Did you mean 'kcore'"):
        parse(data)


def test_inapplicable_pruner_is_reported_or_dropped() -> None:
    def applies(pruner, model, dataset):
        return "needs a conv layer" if (pruner == "snip" and model == "mlp") else None

    with pytest.raises(ValidationError, match="snip x mlp on digits: needs a conv layer"):
        parse(BASE, registries=fake_registries(applies))
    data = copy.deepcopy(BASE)
    data["grid"]["pruners"] = "applicable"
    config = parse(data, registries=fake_registries(applies))
    assert set(config.pruners) == {"magnitude", "random", "snip", "synflow"}
    specs = expand(config, shapes=shapes, applies=applies)
    assert not any(s.pruner == "snip" and s.model == "mlp" for s in specs)
    assert any(s.pruner == "snip" and s.model == "conv2" for s in specs)


def test_load_study_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        load_study(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nname=1")
    with pytest.raises(ValidationError, match="not valid TOML"):
        load_study(bad)


@pytest.mark.parametrize("name", ["demo.toml", "pai-cifar.toml", "ci-tiny.toml"])
def test_bundled_studies_parse(name: str) -> None:
    path = ROOT / "examples" / name
    config = parse_study(tomllib.loads(path.read_text()), source=path, check_names=False)
    assert config.n_networks >= 1


# --------------------------------------------------------------------------- executors
def _square(x: int) -> int:
    return x * x


def _boom(x: int) -> int:
    raise RuntimeError(f"boom {x}")


def test_serial_executor_runs_and_captures_errors() -> None:
    ex = make_executor("serial", 4)
    assert isinstance(ex, SerialExecutor) and isinstance(ex, Executor)
    assert ex.submit(_square, 3).result() == 9
    fut: Future[int] = ex.submit(_boom, 2)
    assert isinstance(fut.exception(), RuntimeError)
    assert list(ex.map(_square, [1, 2, 3])) == [1, 4, 9]


def test_process_executor_runs_in_other_processes() -> None:
    with local_process_executor(2) as ex:
        assert isinstance(ex, Executor)
        assert sorted(ex.map(_square, range(4))) == [0, 1, 4, 9]
        with pytest.raises(RuntimeError, match="boom 5"):
            ex.submit(_boom, 5).result()


def test_executor_bad_input() -> None:
    with pytest.raises(ValidationError, match="workers"):
        local_process_executor(0)
    with pytest.raises(ValidationError, match="Unknown executor 'ray'"):
        make_executor("ray", 2)


# --------------------------------------------------------------------------- runner helpers
def test_is_complete_needs_status_level_and_metrics() -> None:
    from prunegraph.study.run import is_complete

    spec = expand(parse(BASE), shapes=shapes)[0]  # level summary
    ok = {"status": "complete", "level": "summary", "metric_engines": '{"kcore": "numpy"}'}
    assert is_complete(ok, spec, None)
    assert is_complete({**ok, "level": "full"}, spec, None)  # a higher level is fine
    assert not is_complete({**ok, "status": "writing"}, spec, None)
    assert not is_complete({**ok, "metric_engines": None}, spec, None)
    assert not is_complete(ok, spec, ["kcore", "sink"])  # a metric is missing
    assert not is_complete(None, spec, None)
    full = NetworkSpec(**{**spec.__dict__, "level": "full"})
    assert not is_complete(ok, full, None)  # stored lower than requested


def test_pruning_modes_follow_the_registry() -> None:
    from prunegraph.study.run import pruning_mode

    assert pruning_mode("magnitude") == "trained"
    assert pruning_mode("snip") == "init"
    assert pruning_mode("random") == "init"
    assert pruning_mode("imp") == "rewind"
    assert pruning_mode("rigl") == "during"


def test_select_filters_and_limits() -> None:
    from prunegraph.study.run import select

    specs = expand(parse(BASE), shapes=shapes)
    assert len(select(specs, where={"model": "mlp", "seed": "0"})) == 6
    assert len(select(specs, where={"sparsity": "0.9"}, limit=4)) == 4
    with pytest.raises(ValidationError, match="Cannot select networks by 'colour'"):
        select(specs, where={"colour": "red"})
    with pytest.raises(ValidationError, match="limit"):
        select(specs, limit=0)


def test_import_manifest_validation(tmp_path: Path) -> None:
    import re

    from prunegraph.study.importer import read_manifest

    (tmp_path / "a.pt").write_bytes(b"x")
    good = tmp_path / "m.csv"
    good.write_text(
        "checkpoint,model,input_shape,num_classes,acc_dense,acc_sparse\na.pt,mlp,1x8x8,10,0.9,0.8\n"
    )
    [entry] = read_manifest(good)
    assert entry.input_shape == (1, 8, 8) and entry.acc_sparse == 0.8 and entry.pruner == "user"
    cases = {
        "checkpoint,modle,input_shape\na.pt,mlp,1x8x8\n": "did you mean 'model'",
        "checkpoint,input_shape\nmissing.pt,1x8x8\n": "does not exist",
        "checkpoint,input_shape\na.pt,1xax8\n": "input_shape must look like",
        "checkpoint,input_shape,acc_sparse\na.pt,1x8x8,1.5\n": "acc_sparse must be a float in [0, 1]",
        "checkpoint,input_shape\n": "lists no networks",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(ValidationError, match=re.escape(message)):
            read_manifest(bad)
    toml = tmp_path / "m.toml"
    toml.write_text(
        '[defaults]\nmodel = "mlp"\ninput_shape = [1, 8, 8]\n[[network]]\ncheckpoint = "a.pt"\n'
    )
    assert read_manifest(toml)[0].model == "mlp"


def test_readme_quickstart_commands_parse() -> None:
    """Every `prunegraph ...` line of the README quickstart parses, and its files exist."""
    import re
    import shlex

    from prunegraph.cli import build_parser

    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\.venv/bin/(prunegraph [^#\n]+)", section, flags=re.M)
    scripts = re.findall(r"^\.venv/bin/python (examples/\S+\.py)", section, flags=re.M)
    assert len(commands) >= 3 and len(scripts) == 3
    parser = build_parser()
    for command in commands:
        args = parser.parse_args(shlex.split(command)[1:])
        assert args.func is not None
        if getattr(args, "study", None) is not None and str(args.study).endswith(".toml"):
            assert (ROOT / args.study).is_file()
    for script in scripts:
        assert (ROOT / script).is_file()


def test_serial_tasks_are_reported_one_by_one() -> None:
    from prunegraph.study.run import _completed

    ran: list[int] = []

    def task(spec: int) -> int:
        ran.append(spec)
        return spec * 2

    stream = _completed(SerialExecutor(), task, [1, 2, 3])
    spec, fut = next(stream)
    assert (spec, fut.result(), ran) == (1, 2, [1])  # the second task has not run yet
    assert [f.result() for _, f in stream] == [4, 6]


def test_ramanujan_on_imp_trains_with_the_study_training(monkeypatch) -> None:
    """``ramanujan(base="imp")`` trains inside the pruner: with the study's ``[training]``,
    not with defaults of its own (the settings the runner passes to ``prune``)."""
    import warnings

    import prunegraph.loader.training as training
    from prunegraph.loader.data import load_dataset
    from prunegraph.loader.models import build_model
    from prunegraph.loader.pruning import prune
    from prunegraph.study.run import pruner_options

    study = {
        "epochs": 3,
        "lr": 0.02,
        "batch_size": 16,
        "optimizer": "adam",
        "momentum": 0.5,
        "weight_decay": 1e-3,
        "schedule": "step",
    }
    data = {
        **BASE,
        "grid": {**BASE["grid"], "models": ["mlp"], "pruners": ["ramanujan"], "sparsities": [0.5]},
        "pruners": {"ramanujan": {"base": "imp", "levels": 1, "max_iterations": 2}},
        "training": study,
        "export": {"level": "summary"},
    }
    spec = expand(parse_study(data, check_names=False), shapes=shapes)[0]
    calls: list[dict] = []

    def recording_train(model, train_data, **kwargs):
        calls.append(kwargs)
        return training.TrainResult()

    monkeypatch.setattr(training, "train", recording_train)
    model = build_model("mlp", input_shape=(1, 8, 8), num_classes=10, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prune(model, "ramanujan", 0.5, data=load_dataset("digits").train, **pruner_options(spec))
    assert calls, "ramanujan(base='imp') did not train"
    for kwargs in calls:
        assert {k: kwargs.get(k) for k in study} == study


def test_default_registries_hold_the_installed_names() -> None:
    from prunegraph.study import default_registries

    reg = default_registries()
    assert {"mlp", "lenet5"} <= set(reg.models)
    assert {"imp", "ramanujan", "snip"} <= set(reg.pruners)
    assert reg.metrics and "pca_elongation" in reg.metrics  # metrics registered on import
    assert "stability_jaccard" not in reg.metrics  # pairwise: not a per-network metric
    assert reg.applies is not None and reg.applies("imp", "mlp", "digits") is None
    assert reg.pruner_options is not None and "epochs" in reg.pruner_options("imp")
    assert "epochs" not in reg.pruner_options("snip")
