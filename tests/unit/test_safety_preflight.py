"""Validate everything before computing anything: each class of bad study is refused at load."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from prunegraph.errors import ValidationError
from prunegraph.study.config import parse_study
from prunegraph.study.preflight import check_memory

BASE: dict[str, Any] = {
    "study": {"name": "safety-preflight"},
    "grid": {
        "models": ["mlp", "lenet5"],
        "datasets": ["digits"],
        "pruners": ["random", "imp"],
        "sparsities": [0.5, 0.9],
        "seeds": [0],
    },
}


def study(**tables: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for name, table in tables.items():
        data.setdefault(name, {}).update(table)
    return data


def test_the_base_study_is_valid() -> None:
    assert parse_study(study()).name == "safety-preflight"


@pytest.mark.parametrize(
    ("tables", "pattern"),
    [
        # option names against each component's signature
        (
            {"models": {"mlp": {"hiden": [10]}}},
            r"Unknown option 'hiden' in \[models\.mlp\]\. Did you mean 'hidden'\?",
        ),
        (
            {"models": {"mlp": {"num_classes": 3}}},
            r"\[models\.mlp\] sets 'num_classes', which the study fills",
        ),
        (
            {"datasets": {"digits": {"n_samples": 10}}},
            r"Unknown option 'n_samples' in \[datasets\.digits\]",
        ),
        # option types against the defaults
        (
            {"pruners": {"imp": {"rounds": "many"}}},
            r"\[pruners\.imp\] rounds = 'many' must be an int \(its default is 3\)",
        ),
        ({"pruners": {"imp": {"lr": True}}}, r"\[pruners\.imp\] lr = True must be a number"),
        ({"models": {"mlp": {"hidden": 300}}}, r"\[models\.mlp\] hidden = 300 must be a list"),
        # [analysis] typos
        (
            {"analysis": {"normalize": "papr"}},
            r"\[analysis\] normalize 'papr' is not known\. Did you mean 'paper'\?",
        ),
        (
            {"analysis": {"regressors": ["xgboostt"]}},
            r"\[analysis\] regressors entry 'xgboostt' is not known\. Did you mean 'xgboost'\?",
        ),
        (
            {"analysis": {"feature_sets": ["mgee"]}},
            r"feature_sets entry 'mgee' is not known\. Did you mean 'mge'\?",
        ),
        # [export] full selectors that match nothing
        (
            {"export": {"full": [{"sparsity": 0.95}]}},
            r"full\[0\] selects sparsity = 0\.95, which matches no network .*0\.5, 0\.9",
        ),
        (
            {"export": {"full": [{"model": "mlp", "seed": 3}]}},
            r"full\[0\] selects seed = 3, which matches no network",
        ),
    ],
)
def test_bad_studies_are_refused_in_one_line(tables: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ValidationError, match=pattern) as info:
        parse_study(study(**tables))
    assert "\n" not in str(info.value)


def test_an_input_shape_too_small_for_the_model_is_refused() -> None:
    data = study()
    data["grid"]["datasets"] = ["synthetic"]
    data["grid"]["models"] = ["lenet5"]
    data["datasets"] = {"synthetic": {"input_shape": [1, 3, 3], "n_samples": 8}}
    with pytest.raises(ValidationError, match=r"Model 'lenet5'.*input shape \(1, 3, 3\)") as info:
        parse_study(data)
    assert "\n" not in str(info.value)


def test_a_synthetic_dataset_too_large_for_memory_is_refused_before_allocating() -> None:
    data = study()
    data["grid"]["datasets"] = ["synthetic"]
    # 1e6 x 3x224x224 float32: about 560 GiB, never allocated
    data["datasets"] = {"synthetic": {"input_shape": [3, 224, 224], "n_samples": 1_000_000}}
    with pytest.raises(ValidationError, match=r"\[datasets\.synthetic\] needs about 560\.\d GiB"):
        parse_study(data)
    small = parse_study(study(), check_names=False)
    check_memory(small, available=1)  # no synthetic dataset: nothing to estimate


def test_memory_counts_every_worker_process() -> None:
    data = study(run={"workers": 4})
    data["grid"]["datasets"] = ["synthetic"]
    data["datasets"] = {"synthetic": {"input_shape": [1, 8, 8], "n_samples": 1_000}}
    config = parse_study(data, check_names=False)
    need = 1_000 * (64 * 4 + 8)
    check_memory(config, available=2 * 5 * need)  # 5 processes fit in half of it
    with pytest.raises(ValidationError, match=r"\(5 processes"):
        check_memory(config, available=2 * 5 * need - 1)


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", ""])
def test_a_study_name_cannot_leave_its_folder(name: str) -> None:
    data = study()
    data["study"] = {"name": name}
    with pytest.raises(ValidationError, match=r"\[study\] name"):
        parse_study(data, check_names=False)


@pytest.mark.parametrize("name", ["../../etc", "a/b", ".."])
def test_an_imported_study_name_cannot_leave_its_folder(name: str, tmp_path: Any) -> None:
    from prunegraph.study.importer import import_study

    with pytest.raises(ValidationError, match="may not contain '/'"):
        import_study(tmp_path / "m.csv", study=name)


def test_a_metric_of_a_graph_the_study_does_not_store_is_refused() -> None:
    data = study(
        metrics={"names": ["kcore", "rolled_kcore"]}, export={"encodings": ["rolled_channel"]}
    )
    with pytest.raises(ValidationError, match=r"'rolled_kcore', a metric of the rolled graph"):
        parse_study(data)
    data["export"]["encodings"] = ["rolled"]
    assert parse_study(data).metrics == ("kcore", "rolled_kcore")


def test_the_synthetic_loader_refuses_before_allocating(monkeypatch: pytest.MonkeyPatch) -> None:
    import prunegraph.loader.data as data

    monkeypatch.setattr(data, "available_memory", lambda: 10 * 2**20)  # 10 MiB available
    with pytest.raises(ValidationError, match=r"would take 0\.1 GiB .* more than the 0\.0 GiB"):
        data.load_dataset("synthetic", n_samples=10_000, input_shape=(3, 32, 32))
    assert data.load_dataset("synthetic", n_samples=16, input_shape=(1, 4, 4)).input_shape
