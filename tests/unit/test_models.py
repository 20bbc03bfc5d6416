"""Model zoo: shapes, fx traceability, initialisation, reference sizes and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.fx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from prunegraph.errors import UnknownNameError, ValidationError
from prunegraph.loader.models import (
    MODELS,
    DagNet,
    OptionAShortcut,
    build_model,
    count_parameters,
    list_models,
)

EXPECTED = {
    "mlp", "lenet5", "conv2", "conv4", "conv6", "vgg11", "vgg16",
    "resnet20", "resnet32", "wrn28_2", "mobilenetv2", "dagnet",
}  # fmt: skip
SHAPES = [(3, 32, 32), (1, 8, 8), (2, 9, 11)]


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)


def test_registry_holds_every_architecture() -> None:
    assert set(list_models()) == EXPECTED
    assert set(MODELS) == EXPECTED


@pytest.mark.parametrize("shape", SHAPES, ids=["cifar", "digits", "odd"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builds_runs_and_traces(name: str, shape: tuple[int, ...]) -> None:
    model = build_model(name, input_shape=shape, num_classes=7, seed=0).eval()
    x = torch.randn(2, *shape)
    with torch.no_grad():
        out = model(x)
        traced = torch.fx.symbolic_trace(model)
        out_traced = traced(x)
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out_traced, out)
    assert model.architecture == name
    assert model.input_shape == shape
    assert model.num_classes == 7


def _mge_nodes(model: nn.Module, shape: tuple[int, ...]) -> int:
    """Units of the input plus the outputs of every Conv2d/Linear (the MGE size of Cunegatti et al. 2024)."""
    sizes: list[int] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: sizes.append(out[0].numel()))
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return int(np.prod(shape)) + sum(sizes)


def test_resnet20_is_the_standard_cifar_resnet() -> None:
    model = build_model("resnet20", input_shape=(3, 32, 32), num_classes=10, seed=0)
    assert _mge_nodes(model, (3, 32, 32)) == 191_498  # docs/conventions.md reference size
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 19  # 1 stem + 3 stages x 3 blocks x 2; option A adds none
    assert sorted({c.out_channels for c in convs}) == [16, 32, 64]
    assert sum(isinstance(m, OptionAShortcut) for m in model.modules()) == 2
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(64, 10)]


def test_resnet32_has_five_blocks_per_stage() -> None:
    model = build_model("resnet32", input_shape=(3, 32, 32), num_classes=10)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 31


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("conv6", 2.2e6, 2.4e6),  # Cunegatti et al. 2024, A.2: ~2.3M
        ("resnet20", 0.26e6, 0.28e6),  # ~270K
        ("resnet32", 0.45e6, 0.47e6),  # ~460K
        ("wrn28_2", 1.4e6, 1.5e6),  # ~1.4M
        ("mobilenetv2", 2.1e6, 2.4e6),
        ("mlp", 0.26e6, 0.27e6),
    ],
)
def test_parameter_counts_match_the_papers(name: str, low: float, high: float) -> None:
    shape = (1, 28, 28) if name == "mlp" else (3, 32, 32)
    model = build_model(name, input_shape=shape, num_classes=10)
    assert low <= count_parameters(model, prunable_only=True) <= high


def test_lenet5_classic_layout_on_mnist_shape() -> None:
    model = build_model("lenet5", input_shape=(1, 28, 28), num_classes=10)
    first_fc = next(m for m in model.modules() if isinstance(m, nn.Linear))
    assert first_fc.in_features == 16 * 5 * 5


def test_option_a_shortcut_subsamples_and_pads_after_existing_channels() -> None:
    shortcut = OptionAShortcut(2, 5, 2)
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    out = shortcut(x)
    assert out.shape == (1, 5, 2, 2)
    torch.testing.assert_close(out[:, :2], x[:, :, ::2, ::2])
    assert (out[:, 2:] == 0).all()


def test_kaiming_normal_init() -> None:
    model = build_model("conv6", input_shape=(3, 32, 32), num_classes=10, seed=1)
    conv = model.features[-4]  # conv3x3 256 -> 256 (last conv before its BN and ReLU)
    assert isinstance(conv, nn.Conv2d)
    fan_in = conv.in_channels * 9
    std = conv.weight.detach().std().item()
    assert math.isclose(std, math.sqrt(2.0 / fan_in), rel_tol=0.02)
    assert abs(conv.weight.detach().mean().item()) < 1e-3
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            assert (m.weight == 1).all() and (m.bias == 0).all()
        if isinstance(m, nn.Linear) and m.bias is not None:
            assert (m.bias == 0).all()


def test_seed_determines_weights_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("lenet5", input_shape=(1, 8, 8), num_classes=10, seed=5)
    assert torch.equal(torch.rand(1), expected_next)
    b = build_model("lenet5", input_shape=(1, 8, 8), num_classes=10, seed=5)
    c = build_model("lenet5", input_shape=(1, 8, 8), num_classes=10, seed=6)
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.features[0].weight, c.features[0].weight)


def test_vgg_drops_pools_on_tiny_maps() -> None:
    big = build_model("vgg11", input_shape=(3, 32, 32), num_classes=10)
    tiny = build_model("vgg11", input_shape=(1, 8, 8), num_classes=10)
    pools = [sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) for net in (big, tiny)]
    assert pools == [4, 3]


def test_conv_n_batch_norm_option() -> None:
    plain = build_model("conv2", input_shape=(3, 8, 8), num_classes=10, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) for m in plain.modules())
    assert all(m.bias is not None for m in plain.modules() if isinstance(m, nn.Conv2d))


# ------------------------------------------------------------------- dagnet
def test_dagnet_edges_resource_loss_and_threshold() -> None:
    model = build_model("dagnet", input_shape=(1, 8, 8), num_classes=10, seed=0, n_nodes=6)
    assert isinstance(model, DagNet)
    edges = model.edge_index
    assert edges.shape == (2, 6 * 5 // 2)
    assert (edges[0] < edges[1]).all()
    assert model.node_stage == (0, 0, 1, 1, 2, 2)
    np.testing.assert_allclose(model.edge_strength(), 0.5, rtol=1e-6)
    assert math.isclose(model.resource_loss().item(), 0.5 * edges.shape[1], rel_tol=1e-6)
    with torch.no_grad():
        model.edge_weights[:3] = 0.001
    keep = model.threshold_edges(0.006)
    assert keep.sum() == edges.shape[1] - 3
    assert math.isclose(model.resource_loss().item(), 0.5 * (edges.shape[1] - 3), rel_tol=1e-5)


def test_dagnet_edge_weights_get_gradients_and_masked_edges_do_not_matter() -> None:
    model = build_model("dagnet", input_shape=(3, 8, 8), num_classes=4, seed=0, n_nodes=6)
    model.eval()
    x = torch.randn(2, 3, 8, 8)
    loss = model(x).square().sum() + model.resource_loss()
    loss.backward()
    assert model.edge_weights.grad is not None and model.edge_weights.grad.abs().sum() > 0
    # An erased edge contributes nothing: changing its weight leaves the output unchanged.
    model.edge_mask[0] = 0.0
    with torch.no_grad():
        before = model(x)
        model.edge_weights[0] = 3.0
        after = model(x)
    torch.testing.assert_close(before, after)


def test_dagnet_max_span_limits_edges() -> None:
    model = build_model("dagnet", input_shape=(1, 8, 8), num_classes=10, n_nodes=9, max_span=2)
    src, dst = model.edge_index
    assert (dst - src <= 2).all()
    assert len(src) == 8 + 7


# ---------------------------------------------------------------- bad input
def test_unknown_model_name_suggests_the_closest() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet20'"):
        build_model("resnt20", input_shape=(3, 32, 32), num_classes=10)


@pytest.mark.parametrize("shape", [(0, 8, 8), (3, 8), (1, 2, 3, 4), "abc", (3.0, 8, 8), None, ()])
def test_bad_input_shape(shape: object) -> None:
    with pytest.raises(ValidationError, match="input_shape"):
        build_model("resnet20", input_shape=shape, num_classes=10)


def test_vector_input_for_an_image_model() -> None:
    with pytest.raises(ValidationError, match=r"\(channels, height, width\)"):
        build_model("lenet5", input_shape=(64,), num_classes=10)


@pytest.mark.parametrize("num_classes", [1, 0, 2.5, True, "10"])
def test_bad_num_classes(num_classes: object) -> None:
    with pytest.raises(ValidationError, match="num_classes"):
        build_model("mlp", input_shape=(64,), num_classes=num_classes)


@pytest.mark.parametrize(
    ("name", "shape"), [("conv6", (3, 4, 4)), ("lenet5", (1, 3, 3)), ("conv4", (1, 3, 8))]
)
def test_input_too_small(name: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValidationError, match="too small"):
        build_model(name, input_shape=shape, num_classes=10)


@pytest.mark.parametrize(
    "kwargs", [{"n_nodes": 2}, {"channels": 0}, {"max_span": 0}, {"n_nodes": 4.5}]
)
def test_dagnet_bad_options(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        build_model("dagnet", input_shape=(1, 8, 8), num_classes=10, **kwargs)


def test_bad_seed_and_bad_hidden() -> None:
    with pytest.raises(ValidationError, match="seed"):
        build_model("mlp", input_shape=(64,), num_classes=10, seed="x")
    with pytest.raises(ValidationError, match="hidden"):
        build_model("mlp", input_shape=(64,), num_classes=10, hidden=())


# ------------------------------------------------------- any input size (property)
@pytest.mark.parametrize("name", sorted(EXPECTED - {"vgg16", "mobilenetv2"}))
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=st.integers(1, 3), h=st.integers(1, 13), w=st.integers(1, 13), k=st.integers(2, 5))
def test_any_input_size_works_or_is_refused_clearly(
    name: str, c: int, h: int, w: int, k: int
) -> None:
    try:
        model = build_model(name, input_shape=(c, h, w), num_classes=k, seed=0)
    except ValidationError as exc:
        assert "too small" in str(exc)
        return
    with torch.no_grad():
        out = model.eval()(torch.randn(2, c, h, w))
    assert out.shape == (2, k)


def test_dagnet_adjacency_thresholds_and_removes_dead_paths() -> None:
    model = build_model("dagnet", input_shape=(1, 8, 8), num_classes=10, n_nodes=6)
    src, dst = model.edge_index
    full = model.adjacency()
    assert full.shape == (6, 6)
    np.testing.assert_allclose(full[src, dst], 0.5, rtol=1e-6)
    assert np.count_nonzero(full) == len(src) and np.all(np.triu(full, 1) == full)
    # Weaken every edge into node 2, every edge into node 3 but 2 -> 3, and every edge out
    # of node 3: after thresholding, 2 -> 3 survives but lies on no input-output path.
    with torch.no_grad():
        for e, (i, j) in enumerate(model.edge_pairs):
            if i == 3 or (j == 3 and i != 2) or (j == 2):
                model.edge_weights[e] = 0.001
    thresholded = model.adjacency(0.006)
    assert thresholded[2, 3] > 0 and thresholded[:, 2].sum() == 0
    alive = model.adjacency(0.006, remove_dead=True)
    # node 2 gets no input and node 3 reaches no output: both dead, with their edges
    assert alive[2].sum() == 0 and alive[:, 3].sum() == 0
    assert alive[0, 5] > 0 and alive[0, 1] > 0 and alive[1, 5] > 0
    with pytest.raises(ValidationError, match="tau"):
        model.adjacency(1.5)
