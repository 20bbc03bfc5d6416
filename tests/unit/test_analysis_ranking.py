"""RBO (checked against an independently written definition) and the topometric-mixture ranking."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from _analysis_helpers import SMALL, small_table

from prunegraph.analysis.features import FeatureTable, load_features
from prunegraph.analysis.ranking import MIXTURE, mean_rbo, order_by, rank_pruners, rbo
from prunegraph.analysis.synthetic import planted_pruner_order
from prunegraph.errors import UnknownNameError, ValidationError


def rbo_by_truncated_sum(a: list, b: list, p: float, depth: int = 4000) -> float:
    """Webber et al.'s definition summed term by term with Python sets.

    ``(1-p) sum_{d>=1} p^(d-1) A_d`` where ``A_d`` is the agreement at depth d;
    past the end of the shorter list its unseen items are assumed to agree at
    the rate seen so far, and past the longer list the agreement stays at
    its last value (the extrapolation behind RBO_ext).
    """
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    s, l_ = len(short), len(long_)
    x_s = len(set(short) & set(long_[:s]))
    total, agreement = 0.0, 0.0
    for d in range(1, depth + 1):
        if d <= l_:
            seen = len(set(short[: min(d, s)]) & set(long_[:d]))
            extra = (d - s) * x_s / s if d > s else 0.0
            agreement = (seen + extra) / d
        total += (1 - p) * p ** (d - 1) * agreement
    return total


FAST = ("linear", "ridge")
LISTS = [
    (list("abcdefg"), list("abcdefg")),
    (list("abcdefg"), list("gfedcba")),
    (list("abcdefg"), list("bacdefg")),
    (list("abcdefg"), list("abcdegf")),
    (list("abcdef"), list("cafebd")),
    (list("abcde"), list("axbyc")),
    (list("abc"), list("abcdefg")),
    (list("abcd"), list("xaybzc")),
    (list("abc"), list("xyz")),
]


@pytest.mark.parametrize(("a", "b"), LISTS)
@pytest.mark.parametrize("p", [0.25, 0.5, 0.75, 0.9])
def test_closed_form_matches_the_truncated_sum_definition(a: list, b: list, p: float) -> None:
    assert rbo(a, b, p=p) == pytest.approx(rbo_by_truncated_sum(a, b, p), abs=1e-9)


def test_rbo_fixed_values_and_properties() -> None:
    assert rbo(list("abcdefg"), list("abcdefg"), p=0.25) == pytest.approx(1.0)
    assert rbo(list("abc"), list("xyz"), p=0.75) == 0.0
    assert rbo([], [], p=0.5) == 1.0
    # Swapped pair: X_1 = 0, X_2 = 2 -> (1-p)/p * p^2 + p^2 = 0.5 at p = 0.5.
    assert rbo(["a", "b"], ["b", "a"], p=0.5) == pytest.approx(0.5)
    for a, b in itertools.combinations([list("abcde"), list("baced"), list("edcba")], 2):
        assert rbo(a, b, p=0.6) == pytest.approx(rbo(b, a, p=0.6))
        assert 0.0 <= rbo(a, b, p=0.6) <= 1.0
    # Top-weighted: a swap at the top costs more than a swap at the bottom.
    base = list("abcdef")
    assert rbo(base, list("bacdef"), p=0.5) < rbo(base, list("abcdfe"), p=0.5)
    assert mean_rbo(base, base) == pytest.approx(1.0)
    expected = np.mean([rbo(base, list("fedcba"), p=q) for q in (0.25, 0.5, 0.75)])
    assert mean_rbo(base, list("fedcba")) == pytest.approx(expected)


def test_rbo_rejects_bad_input() -> None:
    with pytest.raises(
        ValidationError,
        match=r"'p' parameter of rbo must be a float in the range \(0, 1\)\. Got 1\.5",
    ):
        rbo(["a"], ["a"], p=1.5)
    with pytest.raises(ValidationError, match="duplicated items"):
        rbo(["a", "a"], ["a", "b"])
    with pytest.raises(ValidationError, match="must not be empty"):
        mean_rbo(["a"], ["a"], alphas=[])


def test_order_by_breaks_ties_by_name_and_puts_nan_last() -> None:
    import pandas as pd

    scores = pd.Series({"b": 1.0, "a": 1.0, "c": np.nan, "d": 0.5})
    assert order_by(scores, ascending=True) == ["d", "a", "b", "c"]
    assert order_by(scores, ascending=False) == ["a", "b", "d", "c"]


@pytest.fixture(scope="module")
def table() -> FeatureTable:
    return small_table(datasets=("cifar10", "cifar100"))


def test_mixture_recovers_the_planted_order(table: FeatureTable) -> None:
    result = rank_pruners(table, regressors=FAST)
    scores = result.scores
    assert set(scores["strategy"]) == {
        MIXTURE,
        "layer_density",
        "delta_r",
        "delta_r_imdb",
        "lambda_imsg",
    }
    assert len(scores) == 2 * 2 * 3 * 5  # architectures x datasets x sparsities x strategies
    mixture = scores[scores["strategy"] == MIXTURE]
    assert mixture["rbo"].mean() > 0.85
    assert mixture["rbo"].mean() > scores[scores["strategy"] != MIXTURE]["rbo"].max() - 0.2
    planted = planted_pruner_order(SMALL["pruners"])  # type: ignore[arg-type]
    to_planted = [mean_rbo(order.split(">"), planted) for order in mixture["predicted"]]
    assert np.mean(to_planted) > 0.85
    assert all(order.split(">")[0] == planted[0] for order in mixture["predicted"])
    table4 = result.table()
    assert list(table4.columns) == ["architecture", "strategy", "0.8", "0.9", "0.95", "avg"]
    assert table4["avg"].str.contains("±").all()


def test_mixture_weights_never_see_the_target_configuration(table: FeatureTable) -> None:
    """Scrambling the target's accuracies changes the truth, never the mixture's prediction."""
    before = rank_pruners(table, baselines={}, regressors=FAST).scores.set_index(
        ["architecture", "dataset", "sparsity"]
    )
    data = table.data.copy()
    target = (
        (data["architecture"] == "conv6")
        & (data["dataset"] == "cifar10")
        & (data["sparsity"] == 0.9)
    )
    data.loc[target, "acc_drop"] = data.loc[target, "acc_drop"].to_numpy()[::-1] + 0.3
    scrambled = FeatureTable(data=data, layers=table.layers)
    after = rank_pruners(scrambled, baselines={}, regressors=FAST).scores.set_index(
        ["architecture", "dataset", "sparsity"]
    )
    key = ("conv6", "cifar10", 0.9)
    assert after.loc[key, "predicted"] == before.loc[key, "predicted"]
    assert after.loc[key, "true"] != before.loc[key, "true"]


def test_ranking_by_category_and_notes(table: FeatureTable) -> None:
    pai = rank_pruners(table, category="pai", importance="target")
    assert set(pai.scores["n_pruners"]) == {3}
    with pytest.raises(UnknownNameError, match="pruner category"):
        rank_pruners(table, category="dst")
    one = table.subset(table.data["pruner"] == "snip")
    empty = rank_pruners(one, importance="target")
    assert empty.scores.empty and empty.table().empty
    assert any("fewer than 2 pruners" in note for note in empty.notes)
    missing = rank_pruners(
        table.subset(np.ones(len(table), bool)),
        baselines={"x": "mean_nothing"},
        importance="target",
    )
    assert any("'mean_nothing' not in the table" in note for note in missing.notes)


# ----------------------------------------------------------------------------- mixture scaling
PLANTED = {  # pruner: (u1, u2); the accuracy drop grows with u1 - u2
    "p0": (0.1, 0.1),
    "p1": (1.0, 0.7),
    "p2": (0.0, 0.85),
    "p3": (0.9, 0.0),
    "p4": (0.5, 0.95),
}


def planted_scales_table() -> FeatureTable:
    """Two architectures whose 'kcore' lives on scales 1000x apart.

    Within each architecture the drop is ``0.1 (u1 - u2)``, ``kcore`` an affine
    image of ``u1`` and ``strength`` of ``u2``. Over the whole table, conv6's
    ``kcore`` spans 1/2000 of the range, so whole-table min-max scaling leaves
    ``strength`` alone deciding conv6's ranking.
    """
    rng = np.random.default_rng(0)
    rows = []
    for arch, (offset, scale) in {"conv6": (0.0, 1.0), "resnet20": (1000.0, 1000.0)}.items():
        for dataset in ("cifar10", "cifar100"):
            for sparsity in (0.5, 0.7, 0.9):
                for pruner, (u1, u2) in PLANTED.items():
                    for seed in range(2):
                        j1, j2 = rng.normal(scale=0.01, size=2)
                        drop = 0.3 + 0.1 * (u1 - u2) + 0.2 * sparsity + rng.normal(scale=1e-3)
                        rows.append(
                            {
                                "network_id": f"{arch}-{dataset}-{sparsity}-{pruner}-{seed}",
                                "architecture": arch,
                                "dataset": dataset,
                                "pruner": pruner,
                                "sparsity": sparsity,
                                "seed": seed,
                                "acc_dense": 0.9,
                                "acc_sparse": 0.9 * (1 - drop),
                                "kcore": offset + scale * (u1 + j1),
                                "strength": u2 + j2,
                            }
                        )
    return load_features(pd.DataFrame(rows))


def test_per_architecture_scaling_recovers_a_planted_order_whole_table_scaling_misses() -> None:
    table = planted_scales_table()
    truth = sorted(PLANTED, key=lambda p: PLANTED[p][0] - PLANTED[p][1])
    kwargs = {"feature_set": ["kcore", "strength"], "baselines": {}, "importance": "target"}
    per_arch = rank_pruners(table, **kwargs).scores  # the default
    whole = rank_pruners(table, scaling="table", **kwargs).scores
    assert (per_arch["true"].str.split(">").map(list) == pd.Series([truth] * len(per_arch))).all()
    # Correlation weights make the mixture a near-, not an exact, copy of u1 - u2: the
    # top of the planted order is recovered in both architectures.
    assert (per_arch["predicted"].str.split(">").str[:2] == pd.Series([truth[:2]] * 12)).all()
    assert per_arch["rbo"].min() > 0.9
    # Whole-table scaling flattens conv6's kcore: strength alone orders its pruners.
    by_strength = sorted(PLANTED, key=lambda p: -PLANTED[p][1])
    assert (whole.loc[whole["architecture"] == "conv6", "predicted"] == ">".join(by_strength)).all()
    assert whole.loc[whole["architecture"] == "conv6", "rbo"].max() < 0.6
    assert per_arch["rbo"].mean() > whole["rbo"].mean() + 0.2
    with pytest.raises(UnknownNameError, match="mixture scaling"):
        rank_pruners(table, scaling="global", **kwargs)
