"""``[grid.sweep.<pruner>]``: option sweeps as a grid axis, part of network identity."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from prunegraph.errors import ValidationError
from prunegraph.study import Registries, check_registries, expand, load_study, parse_study

ROOT = Path(__file__).resolve().parents[2]

BASE = {
    "study": {"name": "sweep-unit"},
    "grid": {
        "models": ["dagnet"],
        "datasets": ["digits"],
        "pruners": ["resource", "random"],
        "sparsities": [0.5],
        "seeds": [0, 1],
        "sweep": {"resource": {"lam": [0.0, 0.01, 0.1]}},
    },
    "pruners": {"resource": {"tau": 0.006}},
    "training": {"epochs": 2},
}


def shapes(dataset, options):
    return ((1, 8, 8), 10)


def registries() -> Registries:
    return Registries(
        models=["dagnet"],
        pruners=["resource", "random"],
        pruner_options=lambda name: {"resource": ["lam", "tau", "remove_dead"]}.get(name, []),
    )


def parse(data):
    return check_registries(parse_study(data, check_names=False), registries())


def test_sweep_expands_one_network_per_value_with_the_value_in_its_identity() -> None:
    config = parse(BASE)
    specs = expand(config, shapes=shapes)
    # 2 seeds x (3 resource variants + random)
    assert len(specs) == config.n_networks == 8
    resource = [s for s in specs if s.pruner == "resource"]
    assert [dict(s.pruner_options)["lam"] for s in resource] == [0.0, 0.01, 0.1] * 2
    assert all(dict(s.pruner_options)["tau"] == 0.006 for s in resource)  # fixed options kept
    assert len({s.network_id for s in specs}) == len(specs)
    assert resource[1].label() == "dagnet/digits/resource[lam=0.01]/s=0.5/seed=0"
    random = next(s for s in specs if s.pruner == "random")
    assert random.sweep == () and random.pruner_options == ()
    assert "sweep" not in resource[0].identity()  # the values are in pruner_options already


def test_a_swept_value_has_the_id_of_the_same_value_set_as_an_option() -> None:
    swept = next(s for s in expand(parse(BASE), shapes=shapes) if s.sweep == (("lam", 0.1),))
    fixed = copy.deepcopy(BASE)
    del fixed["grid"]["sweep"]
    fixed["pruners"]["resource"]["lam"] = 0.1
    same = next(s for s in expand(parse(fixed), shapes=shapes) if s.pruner == "resource")
    assert swept.network_id == same.network_id


def test_two_swept_options_cross_and_a_study_without_sweep_is_unchanged() -> None:
    data = copy.deepcopy(BASE)
    data["grid"]["sweep"]["resource"]["remove_dead"] = [True, False]
    config = parse(data)
    assert config.variants("resource")[:2] == [
        (("lam", 0.0), ("remove_dead", True)),
        (("lam", 0.0), ("remove_dead", False)),
    ]
    assert len(expand(config, shapes=shapes)) == config.n_networks == 2 * (6 + 1)
    plain = copy.deepcopy(BASE)
    del plain["grid"]["sweep"]
    config = parse(plain)
    assert config.sweeps == () and config.variants("resource") == [()]
    assert config.n_networks == len(expand(config, shapes=shapes)) == 4


@pytest.mark.parametrize(
    ("sweep", "fixed", "message"),
    [
        ({"snip": {"lam": [0.1]}}, {}, "does not list"),
        ({"resource": {"tau": [0.01]}}, {"tau": 0.006}, "also sets"),
        ({"resource": {"lam": []}}, {}, "non-empty list"),
        ({"resource": {"lam": 0.1}}, {}, "non-empty list"),
        ({"resource": {"lam": [0.1, 0.1]}}, {}, "more than once"),
        ({"resource": {}}, {}, "is empty"),
        ({"resource": {"lamb": [0.1]}}, {}, "Did you mean 'lam'"),
    ],
)
def test_bad_sweeps_are_refused(sweep, fixed, message) -> None:
    data = copy.deepcopy(BASE)
    data["grid"]["sweep"] = sweep
    data["pruners"] = {"resource": fixed} if fixed else {}
    with pytest.raises(ValidationError, match=message):
        parse(data)


def test_sweep_values_are_type_checked_against_the_pruner() -> None:
    data = copy.deepcopy(BASE)
    data["grid"]["sweep"]["resource"]["lam"] = [0.1, "big"]
    with pytest.raises(ValidationError, match=r"lam\[1\] = 'big' must be a number"):
        parse_study(data)


@pytest.mark.parametrize("name", ["janik-nowak-resources.toml", "ci-janik-nowak.toml"])
def test_bundled_janik_nowak_studies_sweep_lam(name: str) -> None:
    config = load_study(ROOT / "examples" / name)
    lams = dict(dict(config.sweeps)["resource"])["lam"]
    specs = expand(config, shapes=shapes)
    assert len(specs) == len(lams) * len(config.seeds)
    assert sorted({dict(s.pruner_options)["lam"] for s in specs}) == sorted(lams)
    assert dict(config.model_options)["dagnet"] == tuple(
        sorted({**dict(dict(config.model_options)["dagnet"]), "resource_lambda": 0.0}.items())
    )  # the dense baseline is the full DAG without resource loss
