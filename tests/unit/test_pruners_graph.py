"""Graph pruners: effective resistances, spectral sparsification, Ramanujan bounds and pruning."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from prunegraph.errors import ValidationError
from prunegraph.loader.masks import prunable_parameters, sparsity
from prunegraph.loader.pruning import graph as pruning_graph
from prunegraph.loader.pruning import prune
from prunegraph.loader.pruning.core import n_keep as keep_count
from prunegraph.loader.pruning.graph import (
    effective_resistances,
    layer_bounds,
    ramanujan_prune,
    rolled,
    sample_exact,
    spectral_layer_mask,
)


@functools.cache
def zoo_model(name: str, shape=(3, 8, 8)) -> nn.Module:
    from prunegraph.loader.models import build_model

    return build_model(name, input_shape=shape, num_classes=10)


def exact_target(masks, s: float) -> int:
    return keep_count(sum(m.size for m in masks.values()), s)


def n_keep(masks) -> int:
    return sum(int(m.sum()) for m in masks.values())


# --------------------------------------------------------------------------- effective resistance


def test_effective_resistance_of_tree_edges_is_inverse_weight() -> None:
    # star-like tree: left 0 - right 0, left 1 - right 0, left 1 - right 1
    left = np.array([0, 1, 1])
    right = np.array([0, 0, 1])
    w = np.array([2.0, 0.5, 4.0])
    np.testing.assert_allclose(effective_resistances(2, 2, left, right, w), 1 / w, rtol=1e-10)


def test_effective_resistance_of_a_four_cycle() -> None:
    # K_{2,2} is a 4-cycle: R = 1 * 3 / (1 + 3) for unit weights
    left = np.array([0, 0, 1, 1])
    right = np.array([0, 1, 0, 1])
    r = effective_resistances(2, 2, left, right, np.ones(4))
    np.testing.assert_allclose(r, 0.75, rtol=1e-10)


def test_effective_resistance_per_component_of_a_disconnected_graph() -> None:
    # two disjoint 4-cycles (left 0,1 x right 0,1 and left 2,3 x right 2,3) plus an isolated node
    left = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    right = np.array([0, 1, 0, 1, 2, 3, 2, 3])
    r = effective_resistances(5, 4, left, right, np.ones(8))
    np.testing.assert_allclose(r, 0.75, rtol=1e-10)


def test_random_projection_approximates_exact_resistances() -> None:
    rng = np.random.default_rng(0)
    w = rng.random((60, 40)) * (rng.random((60, 40)) < 0.5)
    left, right = np.nonzero(w)
    weights = w[left, right]
    exact = effective_resistances(60, 40, left, right, weights)
    assert (weights * exact).sum() == pytest.approx(60 + 40 - 1, rel=1e-8)  # Foster's theorem
    approx = effective_resistances(
        60, 40, left, right, weights, exact_max_nodes=10, n_projections=400
    )
    rel = np.abs(approx - exact) / exact
    assert np.median(rel) < 0.1
    assert rel.max() < 0.6
    assert (weights * approx).sum() == pytest.approx(99, rel=0.05)


def test_sample_exact_count_and_certain_edges() -> None:
    rng = np.random.default_rng(0)
    leverage = np.array([1.0, 1.0, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6, 1e-6])
    keep = sample_exact(leverage, 2, rng)
    assert keep.sum() == 2 and keep[:2].all()
    assert sample_exact(np.zeros(10), 3, rng).sum() == 3  # no signal: random fill


def test_spectral_keeps_a_weak_bridge_that_magnitude_drops() -> None:
    # left node 0 connects to the graph only through one weak edge: R_eff * w = 1 (maximal)
    rng = np.random.default_rng(0)
    score = 1.0 + rng.random((6, 10))  # weight shape (out=6, in=10): rolled 10 x 6
    score[:, 0] = 0.0
    score[2, 0] = 0.01
    k = 30
    kept = [spectral_layer_mask(score, k, np.random.default_rng(i))[2, 0] for i in range(10)]
    assert all(kept)
    by_magnitude = np.zeros(score.size, dtype=bool)
    by_magnitude[np.argsort(-score.ravel())[:k]] = True
    assert not by_magnitude.reshape(score.shape)[2, 0]


def test_rolled_layout() -> None:
    w = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    bi = rolled(w)
    assert bi.shape == (12, 2)  # left C_in*kh*kw, right C_out
    assert bi[5, 1] == w[1].reshape(-1)[5]


# --------------------------------------------------------------------------- spectral pruner


@pytest.mark.parametrize("s", [0.6, 0.98])
@pytest.mark.parametrize("score", ["magnitude", "synflow", "snip"])
def test_spectral_hits_target(score: str, s: float) -> None:
    model = zoo_model("lenet5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masks = prune(model, "spectral", s, score=score, seed=1)
    assert list(masks) == list(prunable_parameters(model))
    assert n_keep(masks) == exact_target(masks, s)


@pytest.mark.parametrize("allocation", ["uniform", "erk", "epsilon"])
def test_spectral_allocations_and_approximate_path(allocation: str) -> None:
    model = zoo_model("lenet5")
    # exact_max_nodes=20 sends the larger layers through the random-projection path
    masks = prune(
        model, "spectral", 0.9, allocation=allocation, exact_max_nodes=20, n_projections=16
    )
    assert n_keep(masks) == exact_target(masks, 0.9)
    if allocation == "uniform":
        dens = [m.mean() for m in masks.values()]
        assert max(dens) - min(dens) < 0.1
    a = prune(model, "spectral", 0.9, allocation=allocation, exact_max_nodes=20, n_projections=16)
    assert all(np.array_equal(a[n], masks[n]) for n in a)  # deterministic given the seed


def test_spectral_rejects_bad_options() -> None:
    with pytest.raises(ValidationError, match="'score' option"):
        prune(zoo_model("lenet5"), "spectral", 0.5, score="grasp")
    with pytest.raises(ValidationError, match="'allocation' option"):
        prune(zoo_model("lenet5"), "spectral", 0.5, allocation="global")


# --------------------------------------------------------------------------- Ramanujan


def test_layer_bounds_match_singular_values() -> None:
    rng = np.random.default_rng(0)
    m = rng.random((30, 12)) < 0.4
    b = layer_bounds(m)
    sv = np.linalg.svd(m.astype(float), compute_uv=False)
    assert b.t1 == pytest.approx(sv[0]) and b.t2 == pytest.approx(sv[1])
    keep_rows = m.any(1)
    keep_cols = m.any(0)
    assert b.dl == pytest.approx(m.sum() / keep_rows.sum())
    assert b.dr == pytest.approx(m.sum() / keep_cols.sum())
    assert b.delta_s == pytest.approx(2 * math.sqrt(sv[0] - 1) - sv[1])
    assert b.delta_r == pytest.approx(math.sqrt(b.dl - 1) + math.sqrt(b.dr - 1) - sv[1])
    assert b.delta_r_rel == pytest.approx(b.delta_r / sv[1])
    complete = layer_bounds(np.ones((4, 5), dtype=bool))
    assert complete.t2 == 0.0 and complete.delta_s > 0  # K_{m,n} is Ramanujan


def test_ramanujan_stops_pruning_a_layer_whose_bound_is_violated(monkeypatch) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 5)
    )
    original = pruning_graph.layer_bounds

    def violated_for_middle_layer(bi: np.ndarray):
        b = original(bi)
        if bi.shape == (30, 20):  # rolled shape of the middle layer: always violated
            return pruning_graph.LayerBounds(b.t1, b.t2, b.dl, b.dr, -1.0, -1.0)
        return b

    monkeypatch.setattr(pruning_graph, "layer_bounds", violated_for_middle_layer)
    masks = {n: np.ones(tuple(p.shape), dtype=bool) for n, p in prunable_parameters(model).items()}
    scores = {n: p.detach().abs().numpy() for n, p in prunable_parameters(model).items()}
    out, report = ramanujan_prune(masks, lambda m, i: scores, target_keep=100, max_iterations=20)
    assert report.stopped["2.weight"] == "bound"
    assert out["2.weight"].all()  # never pruned
    assert not out["0.weight"].all()  # other layers were pruned
    assert report.bound_sparsity > 0


def test_ramanujan_stopped_layers_really_fail_the_next_step() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 6))
    params = prunable_parameters(model)
    masks = {n: np.ones(tuple(p.shape), dtype=bool) for n, p in params.items()}
    scores = {n: p.detach().abs().numpy() for n, p in params.items()}
    out, report = ramanujan_prune(
        masks, lambda m, i: scores, target_keep=1, percentile=0.4, levels=3
    )
    assert report.stopped  # pruning to a single weight must hit the bounds or collapse
    for name, reason in report.stopped.items():
        alive = int(out[name].sum())
        layer_scores = np.where(out[name], scores[name], -np.inf)
        for k in range(1, 4):
            n_remove = round(alive * 0.4 / 2**k)
            if n_remove < 1:
                continue
            flat = layer_scores.ravel()
            keep = np.zeros(flat.size, dtype=bool)
            keep[np.argsort(-flat, kind="stable")[: alive - n_remove]] = True
            b = layer_bounds(rolled(keep.reshape(layer_scores.shape)))
            if reason == "collapse":
                assert min(b.dl, b.dr) < 2
                break
            unweighted_ok = (
                max(np.nan_to_num(b.delta_s, nan=-1), np.nan_to_num(b.delta_r, nan=-1)) > 0
            )
            assert not unweighted_ok


def test_ramanujan_without_enforcement_may_stop_above_target() -> None:
    model = zoo_model("lenet5")
    masks = prune(model, "ramanujan", 0.98, base="magnitude", enforce_target=False)
    assert sparsity(masks) < 0.98
    with pytest.warns(UserWarning, match="bounds stop pruning"):
        filled = prune(model, "ramanujan", 0.98, base="magnitude")
    assert n_keep(filled) == exact_target(filled, 0.98)


@pytest.mark.parametrize("s", [0.6, 0.98])
@pytest.mark.parametrize("base", ["synflow", "snip"])
def test_ramanujan_hits_target(base: str, s: float) -> None:
    model = zoo_model("lenet5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masks = prune(model, "ramanujan", s, base=base, batch_size=32)
    assert n_keep(masks) == exact_target(masks, s)


def test_ramanujan_on_imp_with_digits() -> None:
    from prunegraph.loader.data import load_dataset
    from prunegraph.loader.models import build_model

    split = load_dataset("digits")
    model = build_model("lenet5", input_shape=split.input_shape, num_classes=split.num_classes)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masks = prune(model, "ramanujan", 0.6, data=split, base="imp", max_iterations=3, epochs=1)
    assert n_keep(masks) == exact_target(masks, 0.6)
    assert all(torch.equal(init[k], v) for k, v in model.state_dict().items())  # rewound


def test_ramanujan_rejects_bad_options() -> None:
    with pytest.raises(ValidationError, match="'base' option"):
        prune(zoo_model("lenet5"), "ramanujan", 0.5, base="grasp")
    with pytest.raises(ValidationError, match="'percentile' option"):
        prune(zoo_model("lenet5"), "ramanujan", 0.5, base="magnitude", percentile=1.5)
