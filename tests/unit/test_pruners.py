"""Pruners: validation, the shared threshold, exact sparsity on the zoo, and formula checks."""

from __future__ import annotations

import copy
import functools
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from prunegraph.errors import UnknownNameError, ValidationError
from prunegraph.loader.masks import prunable_parameters, sparsity
from prunegraph.loader.pruning import (
    CATEGORIES,
    PRUNERS,
    er_raw_scale,
    erk_densities,
    grasp_scores,
    list_pruners,
    prospr_scores,
    prune,
    snip_scores,
    synflow_scores,
    threshold,
)
from prunegraph.loader.pruning.core import apportion

ZOO_SHAPE = (3, 8, 8)
DATA_FREE = {
    "random": {},
    "er": {},
    "erk": {},
    "magnitude": {},
    "magnitude_layer": {},
    "synflow": {"rounds": 1},
}


def expected_sparsity(n_weights: int, s: float) -> float:
    return 1.0 - max(1, round((1.0 - s) * n_weights)) / n_weights


def n_weights(masks: dict[str, np.ndarray]) -> int:
    return sum(m.size for m in masks.values())


@functools.cache
def zoo_model(name: str) -> nn.Module:
    from prunegraph.loader.models import build_model

    return build_model(name, input_shape=ZOO_SHAPE, num_classes=10)


def tiny_mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))


def tiny_cnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Conv2d(6, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    )
    net.input_shape = (3, 6, 6)  # type: ignore[assignment]
    return net


def tensor_batches(seed: int, shape=(3, 6, 6), n: int = 16, classes: int = 4):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=gen)
    y = torch.randint(0, classes, (n,), generator=gen)
    return torch.utils.data.TensorDataset(x, y)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, 0.0, 1.0, "0.5", True, None, float("nan")])
def test_sparsity_outside_open_interval_is_rejected(bad) -> None:
    with pytest.raises(ValidationError) as info:
        prune(tiny_mlp(), "random", bad)
    assert str(info.value) == (
        "The 'sparsity' parameter of prune must be a float in the range (0, 1). "
        f"Got {bad!r} instead."
    )


def test_unknown_pruner_suggests_the_closest_name() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'synflow'"):
        prune(tiny_mlp(), "synflw", 0.5)


def test_model_with_nothing_prunable() -> None:
    for model in (nn.Sequential(nn.ReLU()), nn.Sequential(nn.BatchNorm1d(3))):
        with pytest.raises(ValidationError, match="nothing to prune"):
            prune(model, "random", 0.5)


def test_unknown_option_and_bad_option_values() -> None:
    with pytest.raises(ValidationError, match=r"Unknown option\(s\) \['roundz'\]"):
        prune(tiny_cnn(), "synflow", 0.5, roundz=3)
    with pytest.raises(ValidationError, match="'rounds' option must be a positive int"):
        prune(tiny_cnn(), "synflow", 0.5, rounds=0)
    with pytest.raises(ValidationError, match="'seed' parameter"):
        prune(tiny_mlp(), "random", 0.5, seed=-1)


def test_synflow_without_input_shape_says_how_to_fix() -> None:
    with pytest.raises(ValidationError, match="input_shape"):
        prune(tiny_mlp(), "synflow", 0.5)
    masks = prune(tiny_mlp(), "synflow", 0.5, input_shape=(12,), rounds=3)
    assert sparsity(masks) == pytest.approx(0.5, abs=1 / 120)


def test_registry_categories() -> None:
    rows = list_pruners()
    assert {r["category"] for r in rows} <= set(CATEGORIES)
    by_name = {r["name"]: r["category"] for r in rows}
    assert by_name["snip"] == "pai" and by_name["erk"] == "random" and by_name["rigl"] == "dst"
    assert by_name["spectral"] == "graph" and by_name["magnitude"] == "magnitude"
    assert PRUNERS.get("synflow").defaults["rounds"] == 100


# --------------------------------------------------------------------------- threshold


def test_threshold_global_exact_count_and_order() -> None:
    rng = np.random.default_rng(0)
    scores = {"a": rng.random((5, 7)), "b": rng.random(13)}
    for s in (0.1, 0.5, 0.9):
        masks = threshold(scores, s)
        kept = sum(int(m.sum()) for m in masks.values())
        assert kept == round((1 - s) * 48)
        flat = np.concatenate([scores[n].ravel() for n in masks])
        keep = np.concatenate([masks[n].ravel() for n in masks])
        assert flat[keep].min() > flat[~keep].max()


def test_threshold_ties_are_deterministic_first_positions_win() -> None:
    scores = {"a": np.ones(6), "b": np.ones(4)}
    masks = threshold(scores, 0.7)
    assert masks["a"].tolist() == [True, True, True, False, False, False]
    assert not masks["b"].any()
    assert threshold(scores, 0.7)["a"].tolist() == masks["a"].tolist()


def test_threshold_layer_scope_and_errors() -> None:
    scores = {"a": np.arange(10.0), "b": np.arange(30.0)}
    masks = threshold(scores, 0.5, scope="layer")
    assert masks["a"].sum() == 5 and masks["b"].sum() == 15
    assert masks["a"][5:].all() and not masks["a"][:5].any()
    with pytest.raises(ValidationError, match="scope"):
        threshold(scores, 0.5, scope="net")
    with pytest.raises(ValidationError, match="NaN"):
        threshold({"a": np.array([np.nan, 1.0])}, 0.5)


def test_apportion_hits_total_and_respects_sizes() -> None:
    sizes = np.array([10, 1000, 3])
    counts = apportion(sizes, np.array([1.0, 0.01, 1.0]), 23)
    assert counts.sum() == 23 and (counts <= sizes).all() and (counts >= 1).all()


# --------------------------------------------------------------------------- zoo coverage


@pytest.mark.parametrize("s", [0.6, 0.98])
@pytest.mark.parametrize("pruner", sorted(DATA_FREE))
@pytest.mark.parametrize(
    "model_name",
    [
        "mlp",
        "lenet5",
        "conv2",
        "conv4",
        "conv6",
        "vgg11",
        "vgg16",
        "resnet20",
        "resnet32",
        "wrn28_2",
        "mobilenetv2",
        "dagnet",
    ],
)
def test_data_free_pruners_hit_target_on_the_zoo(model_name: str, pruner: str, s: float) -> None:
    model = zoo_model(model_name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    masks = prune(model, pruner, s, seed=3, **DATA_FREE[pruner])
    params = prunable_parameters(model)
    assert list(masks) == list(params)  # every conv/linear weight, nothing else
    assert all("bias" not in n and masks[n].shape == tuple(params[n].shape) for n in masks)
    assert sparsity(masks) == pytest.approx(expected_sparsity(n_weights(masks), s), abs=1e-12)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # parameters restored/untouched


@pytest.mark.parametrize("pruner", sorted(DATA_FREE))
def test_data_free_pruners_are_deterministic_given_a_seed(pruner: str) -> None:
    model = zoo_model("lenet5")
    a = prune(model, pruner, 0.8, seed=5, **DATA_FREE[pruner])
    b = prune(model, pruner, 0.8, seed=5, **DATA_FREE[pruner])
    assert all(np.array_equal(a[n], b[n]) for n in a)
    if pruner in ("random", "er", "erk"):
        c = prune(model, pruner, 0.8, seed=6)
        assert any(not np.array_equal(a[n], c[n]) for n in a)


# --------------------------------------------------------------------------- ER / ERK


def test_erk_densities_match_the_closed_form() -> None:
    shapes = [(16, 8, 3, 3), (32, 16, 3, 3), (10, 128)]
    density = 0.2
    n = np.array([np.prod(s) for s in shapes], dtype=float)
    raw = np.array([sum(s) / np.prod(s) for s in shapes])
    eps = density * n.sum() / (raw * n).sum()
    expected = eps * raw
    assert expected.max() < 1  # no redistribution in this case
    np.testing.assert_allclose(erk_densities(shapes, density), expected, rtol=1e-12)
    # ER without the kernel: (n_in + n_out) / (n_in n_out)
    raw_er = np.array([(s[0] + s[1]) / (s[0] * s[1]) for s in shapes])
    eps_er = density * n.sum() / (raw_er * n).sum()
    np.testing.assert_allclose(erk_densities(shapes, density, kernel=False), eps_er * raw_er)
    assert er_raw_scale((10, 128), kernel=True) == er_raw_scale((10, 128), kernel=False)


def test_erk_redistributes_and_never_exceeds_one() -> None:
    shapes = [(4, 3, 3, 3), (256, 256, 3, 3), (10, 256)]
    d = erk_densities(shapes, 0.5)
    assert d.max() <= 1.0 and d[0] == 1.0
    n = np.array([np.prod(s) for s in shapes])
    assert (d * n).sum() == pytest.approx(0.5 * n.sum())
    for name in ("vgg16", "resnet20", "mobilenetv2", "mlp"):
        params = prunable_parameters(zoo_model(name))
        for s in (0.01, 0.6, 0.98):
            dens = erk_densities([tuple(p.shape) for p in params.values()], 1 - s)
            assert dens.max() <= 1.0
            masks = prune(zoo_model(name), "erk", s)
            assert all(m.mean() <= 1.0 for m in masks.values())


def test_erk_layer_counts_follow_the_densities() -> None:
    model = zoo_model("conv2")
    masks = prune(model, "erk", 0.9, seed=0)
    shapes = [m.shape for m in masks.values()]
    dens = erk_densities(shapes, 0.1)
    for m, d in zip(masks.values(), dens, strict=True):
        assert abs(int(m.sum()) - d * m.size) <= 2


# --------------------------------------------------------------------------- SNIP, GraSP, SynFlow, ProsPr


def test_snip_equals_abs_gradient_times_weight_by_hand() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(5, 3, bias=False)
    model = nn.Sequential(layer)
    x = torch.randn(8, 5)
    y = torch.randint(0, 3, (8,))
    w = layer.weight.detach().numpy().astype(np.float64)
    xn = x.numpy().astype(np.float64)
    logits = xn @ w.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(3)[y.numpy()]
    grad = (p - onehot).T @ xn / 8  # d mean-CE / dW
    expected = np.abs(grad * w)
    scores = snip_scores(model, [(x, y)])
    np.testing.assert_allclose(scores["0.weight"], expected, rtol=1e-4, atol=1e-7)
    masks = prune(
        model,
        "snip",
        0.5,
        data=torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8),
    )
    flat = expected.ravel()
    kept = np.sort(flat[masks["0.weight"].ravel()])
    assert kept.min() >= np.sort(flat)[-kept.size]


def test_grasp_scores_are_theta_times_hessian_gradient_product() -> None:
    model = tiny_mlp(1).double()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(10, 12, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (10,), generator=gen)
    t = 2.0
    scores = grasp_scores(model, [(x, y)], temperature=t)
    # as in Wang et al.'s code, g and H are taken over the prunable weights only
    params = [model[1].weight, model[3].weight]

    def grads(ps):
        loss = F.cross_entropy(model(x) / t, y)
        return torch.autograd.grad(loss, ps)

    g = [gi.detach() for gi in grads(params)]
    eps = 1e-5
    with torch.no_grad():
        for p, gi in zip(params, g, strict=True):
            p.add_(eps * gi)
    plus = grads(params)
    with torch.no_grad():
        for p, gi in zip(params, g, strict=True):
            p.sub_(2 * eps * gi)
    minus = grads(params)
    with torch.no_grad():
        for p, gi in zip(params, g, strict=True):
            p.add_(eps * gi)
    hg_first = ((plus[0] - minus[0]) / (2 * eps)).numpy()
    expected = model[1].weight.detach().numpy() * hg_first
    np.testing.assert_allclose(scores["1.weight"], expected, rtol=1e-4, atol=1e-9)
    # Wang et al.: remove the highest -theta*Hg, i.e. keep the highest theta*Hg
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x.float(), y), batch_size=10
    )
    masks = prune(tiny_mlp(1), "grasp", 0.5, data=loader, temperature=t)
    s = np.concatenate([scores[n].ravel() for n in masks])
    keep = np.concatenate([masks[n].ravel() for n in masks])
    assert np.sort(-s[~keep]).min() >= np.sort(-s[keep]).max() - 1e-6


def test_synflow_scores_match_the_path_product_by_hand() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3, bias=False), nn.ReLU(), nn.Linear(3, 2, bias=False))
    w1 = model[0].weight.detach().abs().numpy().astype(np.float64)
    w2 = model[2].weight.detach().abs().numpy().astype(np.float64)
    scores = synflow_scores(model, (4,))
    # R = 1^T |W2| |W1| 1; dR/dW1[i,j] = sum_k |W2[k,i]|, dR/dW2[k,i] = sum_j |W1[i,j]|
    np.testing.assert_allclose(scores["0.weight"], w1 * w2.sum(0)[:, None], rtol=1e-5)
    np.testing.assert_allclose(scores["2.weight"], w2 * w1.sum(1)[None, :], rtol=1e-5)


def test_synflow_does_not_depend_on_data() -> None:
    model = tiny_cnn()
    a = prune(model, "synflow", 0.9, data=tensor_batches(1), rounds=10)
    b = prune(model, "synflow", 0.9, data=tensor_batches(2), rounds=10)
    c = prune(model, "synflow", 0.9, rounds=10)
    assert all(np.array_equal(a[n], b[n]) and np.array_equal(a[n], c[n]) for n in a)


def test_synflow_default_rounds_and_precision_option() -> None:
    model = zoo_model("resnet20")
    masks = prune(model, "synflow", 0.98, precision="float64", rounds=5)
    assert sparsity(masks) == pytest.approx(expected_sparsity(n_weights(masks), 0.98))
    full = prune(tiny_cnn(), "synflow", 0.9)  # 100 rounds
    assert sparsity(full) == pytest.approx(expected_sparsity(n_weights(full), 0.9))
    with pytest.raises(ValidationError, match="precision"):
        prune(tiny_cnn(), "synflow", 0.5, precision="half")


def test_prospr_without_inner_steps_movement_equals_snip() -> None:
    model = tiny_cnn(2)
    data = tensor_batches(3, n=8)
    x, y = data.tensors
    batches = [(x, y), (x, y)]
    meta = prospr_scores(model, batches, steps=1, lr=0.0)
    snip = snip_scores(model, [(x, y)])
    for name in meta:
        np.testing.assert_allclose(meta[name], snip[name], rtol=1e-4, atol=1e-8)
    moved = prospr_scores(model, batches, steps=1, lr=0.5)
    assert any(not np.allclose(moved[n], snip[n]) for n in meta)


DATA_PRUNERS = {
    "snip": {"batch_size": 16},
    "grasp": {"batch_size": 16},
    "prospr": {"rounds": 2, "steps": 1, "batch_size": 8},
}


@pytest.mark.parametrize("s", [0.6, 0.98])
@pytest.mark.parametrize("pruner", sorted(DATA_PRUNERS))
@pytest.mark.parametrize("model_name", ["lenet5", "resnet20", "mlp"])
def test_data_pruners_hit_target(model_name: str, pruner: str, s: float) -> None:
    model = zoo_model(model_name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(UserWarning, match="synthetic"):
        masks = prune(model, pruner, s, **DATA_PRUNERS[pruner])
    assert list(masks) == list(prunable_parameters(model))
    assert sparsity(masks) == pytest.approx(expected_sparsity(n_weights(masks), s), abs=1e-12)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_data_pruners_accept_a_dataset_split() -> None:
    from prunegraph.loader.data import load_dataset
    from prunegraph.loader.models import build_model

    split = load_dataset("digits")
    model = build_model("lenet5", input_shape=split.input_shape, num_classes=split.num_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # data given: no synthetic-data warning
        masks = prune(model, "snip", 0.9, data=split, batch_size=64)
    assert sparsity(masks) == pytest.approx(expected_sparsity(n_weights(masks), 0.9))


def test_scores_ignore_already_masked_weights() -> None:
    from prunegraph.loader.masks import apply_masks

    model = copy.deepcopy(tiny_cnn())
    first = prune(model, "magnitude", 0.5)
    apply_masks(model, first)  # a model carrying torch.nn.utils.prune masks
    data = tensor_batches(0)
    for pruner in ("magnitude", "snip", "grasp", "synflow", "prospr"):
        options = {"rounds": 3} if pruner == "synflow" else {}
        second = prune(model, pruner, 0.75, data=data, **options)
        assert all(not (second[n] & ~first[n]).any() for n in first), pruner


# --------------------------------------------------------------------------- CLI


def test_cli_list_and_prune(tmp_path, capsys) -> None:
    from prunegraph.cli import main
    from prunegraph.loader.masks import load_masks

    assert main(["prune", "list"]) == 0
    out = capsys.readouterr().out
    assert "synflow" in out and "dst" in out and "graph" in out
    out_file = tmp_path / "m.npz"
    code = main(
        [
            "prune",
            "--model",
            "lenet5",
            "--pruner",
            "er",
            "--sparsity",
            "0.9",
            "--seed",
            "1",
            "--input-shape",
            "1,8,8",
            "--out",
            str(out_file),
        ]
    )
    assert code == 0
    masks = load_masks(out_file)
    assert sparsity(masks) == pytest.approx(expected_sparsity(n_weights(masks), 0.9))
    assert (
        main(
            [
                "prune",
                "--model",
                "lenet5",
                "--pruner",
                "synflw",
                "--sparsity",
                "0.9",
                "--out",
                str(out_file),
            ]
        )
        == 2
    )
    assert "Did you mean 'synflow'" in capsys.readouterr().err
    assert (
        main(
            [
                "prune",
                "--model",
                "lenet5",
                "--pruner",
                "er",
                "--sparsity",
                "1.5",
                "--out",
                str(out_file),
            ]
        )
        == 2
    )
    assert "range (0, 1)" in capsys.readouterr().err
    assert main(["prune", "--model", "lenet5"]) == 2
    assert "needs --pruner" in capsys.readouterr().err
