"""MGE exactness (Jacobian oracle), closed-form counts, ResNet-20 size, rolled encodings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torch.nn.utils.prune
from _encoding_oracle import check_mge_exact, random_masks
from torch import nn

from prunegraph.loader.encoding import encode
from prunegraph.loader.graph import MultipartiteGraph


# ----------------------------------------------------------------------------- tiny models
class Seq(nn.Module):
    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class Head(nn.Module):
    """features -> flatten -> linear."""

    def __init__(self, features: nn.Module, n_flat: int, n_out: int = 3) -> None:
        super().__init__()
        self.features = features
        self.fc = nn.Linear(n_flat, n_out)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class IdentityBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return F.relu(out)


class ConvShortcutBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride=stride), nn.BatchNorm2d(c_out)
        )

    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.conv1(x))) + self.shortcut(x))


class OptionABlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)

    def forward(self, x):
        short = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 0, self.c_out - self.c_in))
        return F.relu(self.conv2(F.relu(self.conv1(x))) + short)


class Concat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 3, 3, padding=1)
        self.a = nn.Conv2d(3, 2, 1)
        self.b = nn.Conv2d(3, 4, 3, padding=1, stride=1)
        self.fc = nn.Linear(6 * 3 * 3, 4)

    def forward(self, x):
        h = F.relu(self.stem(x))
        y = torch.cat([self.a(h), F.relu(self.b(h))], dim=1)
        y = F.max_pool2d(y, 2)
        return self.fc(y.view(y.size(0), -1))


class PoolZoo(nn.Module):
    """Functional pools: overlapping max with dilation, avg with padding, mean over H, W."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(2, 3, 3)
        self.c2 = nn.Conv2d(3, 3, 2)
        self.c3 = nn.Conv2d(3, 4, 1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = F.max_pool2d(self.c1(x), 3, stride=1, dilation=2)
        x = F.avg_pool2d(self.c2(x), 3, stride=2, padding=1)
        x = self.c3(x)
        return self.fc(x.mean((2, 3)))


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(12, 7), nn.Linear(7, 5), nn.Linear(5, 3)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        return self.l3(F.relu(self.l2(torch.sigmoid(self.l1(x)))))


class Conv1dNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(2, 3, 3, stride=2, padding=1)
        self.c2 = nn.Conv1d(3, 3, 2, dilation=2)
        self.fc = nn.Linear(3 * 2, 2)

    def forward(self, x):
        x = F.max_pool1d(self.c2(F.relu(self.c1(x))), 2)
        return self.fc(torch.flatten(x, 1))


def _cases():
    return {
        "stride2_pad1_odd": (Head(Seq(nn.Conv2d(2, 3, 3, 2, 1), nn.BatchNorm2d(3), nn.ReLU()), 3 * 4 * 3), (2, 7, 5)),
        "stride3_pad2_dil2": (Head(Seq(nn.Conv2d(2, 3, 3, 3, 2, dilation=2), nn.Dropout(0.3)), 3 * 3 * 3), (2, 9, 8)),
        "same_even_kernel": (Head(Seq(nn.Conv2d(2, 3, 4, padding="same"), nn.Conv2d(3, 2, 3, padding="valid")), 2 * 3 * 4), (2, 5, 6)),
        "same_dilation": (Head(Seq(nn.Conv2d(1, 2, 3, padding="same", dilation=2)), 2 * 6 * 5), (1, 6, 5)),
        "groups2": (Head(Seq(nn.Conv2d(4, 6, 3, padding=1, groups=2), nn.GELU()), 6 * 4 * 4), (4, 4, 4)),
        "depthwise": (Head(Seq(nn.Conv2d(3, 3, 3, padding=1, groups=3), nn.Conv2d(3, 6, 1, groups=1), nn.Conv2d(6, 6, 3, groups=6, stride=2)), 6 * 2 * 2), (3, 5, 5)),
        "maxpool_nonoverlap": (Head(Seq(nn.Conv2d(2, 3, 3, padding=1), nn.MaxPool2d(2)), 3 * 3 * 2), (2, 7, 5)),
        "maxpool_overlap_pad": (Head(Seq(nn.Conv2d(2, 3, 3), nn.MaxPool2d(3, 2, padding=1)), 3 * 3 * 3), (2, 7, 7)),
        "maxpool_ceil": (Head(Seq(nn.Conv2d(2, 3, 1), nn.MaxPool2d(2, ceil_mode=True)), 3 * 3 * 2), (2, 5, 3)),
        "avgpool_overlap": (Head(Seq(nn.Conv2d(2, 3, 3, padding=1), nn.AvgPool2d(3, 2, padding=1)), 3 * 3 * 3), (2, 5, 6)),
        "adaptive_avg_uneven": (Head(Seq(nn.Conv2d(2, 3, 3), nn.AdaptiveAvgPool2d((3, 2))), 3 * 3 * 2), (2, 9, 7)),
        "adaptive_max": (Head(Seq(nn.Conv2d(2, 3, 3), nn.AdaptiveMaxPool2d(2)), 3 * 2 * 2), (2, 7, 7)),
        "global_avg": (Head(Seq(nn.Conv2d(2, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1)), 4), (2, 5, 5)),
        "functional_pools": (PoolZoo(), (2, 11, 10)),
        "identity_shortcut": (Head(Seq(nn.Conv2d(2, 3, 3, padding=1), IdentityBlock(3), IdentityBlock(3)), 3 * 4 * 3), (2, 4, 3)),
        "conv_shortcut": (Head(Seq(nn.Conv2d(2, 3, 3, padding=1), ConvShortcutBlock(3, 4, 2)), 4 * 3 * 3), (2, 5, 5)),
        "option_a_shortcut": (Head(Seq(nn.Conv2d(1, 2, 3, padding=1), OptionABlock(2, 4)), 4 * 3 * 2), (1, 5, 4)),
        "concat": (Concat(), (2, 6, 7)),
        "mlp": (MLP(), (3, 2, 2)),
        "conv1d": (Conv1dNet(), (2, 13)),
        "reflect_padding": (Head(Seq(nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect")), 3 * 4 * 5), (2, 4, 5)),
        "circular_padding": (Head(Seq(nn.Conv2d(1, 2, 3, padding=2, padding_mode="circular")), 2 * 5 * 4), (1, 3, 2)),
    }  # fmt: skip


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("density", [0.5, 1.0])
def test_mge_equals_jacobian_pattern(name, density):
    torch.manual_seed(0)
    model, shape = _cases()[name]
    masks = random_masks(model, density, np.random.default_rng(hash(name) % 2**32))
    graph = encode(model, masks, shape)
    check_mge_exact(model, masks, graph)


def test_mge_partition_shapes_follow_activations():
    model, shape = CASES["conv_shortcut"]
    graph = encode(model, None, shape)
    # input, stem, conv1, conv2 (+ folded 1x1 shortcut), fc: the shortcut makes no partition
    assert [p.shape for p in graph.partitions] == [(2, 5, 5), (3, 5, 5), (4, 3, 3), (4, 3, 3), (3,)]
    kinds = [(b.name, b.kind, b.src_partition, b.dst_partition) for b in graph.blocks]
    assert ("features.body.1.shortcut.0", "conv", 1, 3) in kinds


def test_option_a_shortcut_edges_are_one_to_one_into_first_channels():
    model, shape = CASES["option_a_shortcut"]
    graph = encode(model, None, shape)
    (skip,) = [b for b in graph.blocks if b.kind == "skip"]
    s, d, w = graph.block_local_edges(skip)
    assert np.all(w == 1.0)
    c, h, wd = graph.partitions[skip.src_partition].shape
    assert len(s) == c * ((h + 1) // 2) * ((wd + 1) // 2)  # subsampled units only
    _, ho, wo = graph.partitions[skip.dst_partition].shape
    assert set(np.unique(d // (ho * wo)).tolist()) == set(range(c))  # first c channels
    sy, sx = (s % (h * wd)) // wd, s % wd
    assert np.all(sy % 2 == 0) and np.all(sx % 2 == 0)


def test_identity_shortcut_weight_one_and_adds_make_no_partition():
    model, shape = CASES["identity_shortcut"]
    graph = encode(model, None, shape)
    skips = [b for b in graph.blocks if b.kind == "skip"]
    assert len(skips) == 2
    for b in skips:
        s, d, w = graph.block_local_edges(b)
        assert np.array_equal(s, d) and np.all(w == 1.0)
    assert graph.n_partitions == 1 + 1 + 4 + 1


def test_pooled_duplicates_are_merged_with_summed_weight():
    # overlapping 3x3/1 max-pool: the same (pre-pool unit, fc unit) pair arises from several windows
    model = Head(Seq(nn.Conv2d(1, 1, 1, bias=False), nn.MaxPool2d(3, 1)), 4, 1)
    with torch.no_grad():
        model.features.body[0].weight.fill_(2.0)
        model.fc.weight.copy_(torch.tensor([[1.0, 10.0, 100.0, 1000.0]]))
    graph = encode(model, None, (1, 4, 4))
    fc = graph.blocks[-1]
    assert fc.pool == "max3x3/s1x1"
    s, _d, w = graph.block_local_edges(fc)
    assert len(s) == len(np.unique(s)) == 16
    weights = dict(zip(s.tolist(), w.tolist(), strict=True))
    # pre-pool unit (1, 1) lies in all four windows; corner (0, 0) only in window 0
    assert weights[0] == pytest.approx(1.0)
    assert weights[5] == pytest.approx(1111.0)
    assert weights[4] == pytest.approx(101.0)  # (1, 0): windows 0 and 2
    assert weights[6] == pytest.approx(1111.0)  # (1, 2): all four windows


# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize(
    ("h", "w", "k", "c_in", "c_out"), [(5, 7, 3, 2, 3), (8, 8, 1, 4, 2), (6, 4, 2, 3, 3)]
)
def test_dense_conv_valid_closed_form(h, w, k, c_in, c_out):
    graph = encode(Seq(nn.Conv2d(c_in, c_out, k)), None, (c_in, h, w))
    assert graph.n_edges == c_out * c_in * k * k * (h - k + 1) * (w - k + 1)
    assert graph.n_nodes == c_in * h * w + c_out * (h - k + 1) * (w - k + 1)


@pytest.mark.parametrize(("h", "w"), [(4, 4), (5, 9), (1, 3)])
def test_dense_conv_same_closed_form(h, w):
    # 3x3, padding 1, stride 1: each axis contributes 3n - 2 (input, kernel-row) pairs
    graph = encode(Seq(nn.Conv2d(2, 5, 3, padding=1)), None, (2, h, w))
    assert graph.n_edges == 5 * 2 * (3 * h - 2) * (3 * w - 2)


def test_dense_strided_conv_closed_form():
    # k=3, s=2, p=1 on n: outputs m = (n-1)//2 + 1; pairs per axis = 3m - (1 if n even else 2)
    for n in (6, 7):
        m = (n - 1) // 2 + 1
        per_axis = 3 * m - (1 if n % 2 == 0 else 2)
        graph = encode(Seq(nn.Conv2d(1, 1, 3, stride=2, padding=1)), None, (1, n, n))
        assert graph.n_edges == per_axis**2


def test_dense_linear_after_pool_counts_window_replication():
    # 2x2 non-overlapping pool: each fc weight is drawn from 4 pre-pool units
    model = Head(Seq(nn.Conv2d(1, 3, 1), nn.MaxPool2d(2)), 3 * 2 * 2, 5)
    graph = encode(model, None, (1, 4, 4))
    assert graph.blocks[-1].n_edges == 5 * 12 * 4
    assert graph.blocks[-1].n_weights == 60


# ----------------------------------------------------------------------------- zoo
def _zoo():
    from prunegraph.loader import models

    return models


def test_conv6_nodes_and_pool_tags():
    model = _zoo().build_model("conv6", input_shape=(3, 32, 32), num_classes=10)
    graph = encode(model, random_masks(model, 0.005, np.random.default_rng(0)), (3, 32, 32))
    # input + 2x64x32x32 + 2x128x16x16 + 2x256x8x8 + 256 + 256 + 10: pools make no nodes
    assert graph.n_nodes == 3072 + 2 * 65536 + 2 * 32768 + 2 * 16384 + 522 == 232_970
    assert [b.pool for b in graph.blocks] == [None, None, "max2x2/s2x2", None, "max2x2/s2x2",
                                              None, "max2x2/s2x2", None, None]  # fmt: skip
    assert CASES["conv1d"][0] is not None
    g1 = encode(*CASES["conv1d"][:1], None, CASES["conv1d"][1])
    assert g1.blocks[-1].pool == "max2/s2"


def test_resnet20_has_191498_nodes():
    model = _zoo().build_model("resnet20", input_shape=(3, 32, 32), num_classes=10)
    rng = np.random.default_rng(0)
    masks = random_masks(model, 0.02, rng)
    graph = encode(model, masks, (3, 32, 32))
    assert graph.n_nodes == 191_498
    assert graph.n_partitions == 1 + 19 + 1
    convs = [b for b in graph.blocks if b.kind == "conv"]
    assert len(convs) == 19 and len([b for b in graph.blocks if b.kind == "skip"]) == 9
    assert sum(b.n_unmasked for b in graph.blocks) == sum(int(m.sum()) for m in masks.values())


@pytest.mark.parametrize(
    ("arch", "shape"),
    [
        ("resnet20", (3, 2, 2)),
        ("lenet5", (1, 8, 8)),
        pytest.param("resnet20", (3, 4, 4), marks=pytest.mark.slow),
        pytest.param("wrn28_2", (3, 2, 2), marks=pytest.mark.slow),
        pytest.param("conv2", (3, 4, 4), marks=pytest.mark.slow),
    ],
)
def test_zoo_models_tiny_inputs_exact(arch, shape):
    torch.manual_seed(0)
    model = _zoo().build_model(arch, input_shape=shape, num_classes=3)
    masks = random_masks(model, 0.3, np.random.default_rng(1))
    graph = encode(model, masks, shape)
    check_mge_exact(model, masks, graph, check_weights=False)


# ----------------------------------------------------------------------------- rolled
@pytest.mark.parametrize(
    "name", ["groups2", "depthwise", "concat", "conv_shortcut", "mlp", "conv1d"]
)
def test_rolled_edge_counts_equal_mask_nonzeros(name):
    model, shape = _cases()[name]
    masks = random_masks(model, 0.4, np.random.default_rng(3))
    rolled = encode(model, masks, shape, kind="rolled")
    assert rolled.n_edges == sum(int(m.sum()) for m in masks.values())
    assert rolled.n_partitions == 2 * len(masks)
    for b in rolled.blocks:
        assert b.n_edges == b.n_unmasked == int(masks[b.param_name].sum())
        s, d, _w = rolled.block_local_edges(b)
        assert s.max() < rolled.partitions[b.src_partition].size
        assert len(set(zip(s.tolist(), d.tolist(), strict=True))) == len(s)


def test_rolled_left_nodes_and_weights():
    conv = nn.Conv2d(4, 6, 3, groups=2, bias=False)
    mask = np.random.default_rng(0).random(conv.weight.shape) < 0.5
    graph = encode(Seq(conv), {"body.0.weight": mask}, (4, 5, 5), kind="rolled")
    assert graph.partitions[0].shape == (4, 3, 3) and graph.partitions[1].shape == (6,)
    s, d, w = graph.block_local_edges(0)
    i, rest = s // 9, s % 9
    o = d
    il = i - (o // 3) * 2  # group of o is o // 3; its first input channel is 2 * group
    assert np.all((il >= 0) & (il < 2))
    theta = conv.weight.detach().numpy()
    np.testing.assert_allclose(w, np.abs(theta[o, il, rest // 3, rest % 3]), rtol=1e-6)
    assert np.all(mask[o, il, rest // 3, rest % 3])


def test_rolled_channel_edges_and_summed_weights():
    conv = nn.Conv2d(3, 4, 3, bias=False)
    mask = np.random.default_rng(1).random(conv.weight.shape) < 0.15
    graph = encode(Seq(conv), {"body.0.weight": mask}, (3, 5, 5), kind="rolled_channel")
    assert graph.partitions[0].shape == (3,) and graph.partitions[1].shape == (4,)
    any_ = mask.any(axis=(2, 3))
    assert graph.n_edges == int(any_.sum())
    s, d, w = graph.block_local_edges(0)
    expected = (np.abs(conv.weight.detach().numpy()) * mask).sum(axis=(2, 3))
    np.testing.assert_allclose(w, expected[d, s], rtol=1e-6)
    assert graph.blocks[0].n_unmasked == int(mask.sum())


def test_unweighted_graphs_have_unit_weights():
    model, shape = CASES["maxpool_overlap_pad"]
    for kind in ("mge", "rolled", "rolled_channel"):
        g = encode(model, None, shape, kind=kind, weighted=False)
        assert np.all(g.weight == 1.0)


def test_graph_roundtrip_and_dtypes(tmp_path):
    model, shape = CASES["conv_shortcut"]
    graph = encode(model, random_masks(model, 0.5, np.random.default_rng(0)), shape)
    assert graph.src.dtype == np.int32 and graph.weight.dtype == np.float32
    back = MultipartiteGraph.load(graph.save(tmp_path / "g.npz"))
    assert back.blocks == graph.blocks and back.partitions == graph.partitions
    assert np.array_equal(back.src, graph.src) and back.meta == graph.meta


def test_prune_buffers_and_exact_zeros_are_masks():
    torch.manual_seed(0)
    model = Head(Seq(nn.Conv2d(2, 3, 3)), 3 * 3 * 3)
    mask = np.random.default_rng(0).random((3, 2, 3, 3)) < 0.5
    expected = encode(model, {"features.body.0.weight": mask, "fc.weight": "dense"}, (2, 5, 5))
    torch.nn.utils.prune.custom_from_mask(model.features.body[0], "weight", torch.as_tensor(mask))
    via_prune = encode(model, None, (2, 5, 5))
    assert via_prune.n_edges == expected.n_edges
    assert np.array_equal(via_prune.src, expected.src) and np.allclose(
        via_prune.weight, expected.weight
    )
    assert via_prune.blocks[0].param_name == "features.body.0.weight"
    # keys naming the reparametrised parameter are accepted as well
    both = encode(
        model,
        {"features.body.0.weight_orig": np.ones((3, 2, 3, 3), bool), "fc.weight": "dense"},
        (2, 5, 5),
    )
    assert both.n_edges == expected.n_edges
    # exact zeros count as pruned
    plain = Head(Seq(nn.Conv2d(2, 3, 3)), 3 * 3 * 3)
    with torch.no_grad():
        plain.features.body[0].weight.mul_(torch.as_tensor(mask, dtype=torch.float32))
    zeros = encode(plain, None, (2, 5, 5))
    assert zeros.blocks[0].n_edges == expected.blocks[0].n_edges


# ----------------------------------------------------------------------------- unusual graphs
class Functional(nn.Module):
    """Layers written with F.conv2d / F.linear on the module's own parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(3, 2, 3, 3))
        self.b1 = nn.Parameter(torch.randn(3))
        self.w2 = nn.Parameter(torch.randn(4, 3 * 2 * 2))

    def forward(self, x):
        x = F.relu(F.conv2d(x, self.w1, self.b1, stride=2, padding=1))
        return F.linear(torch.flatten(x, 1), self.w2)


class SharedMain(nn.Module):
    """The add's deepest operand is also read elsewhere: the sum gets its own partition."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2, self.c3 = (
            nn.Conv2d(1, 2, 3, padding=1),
            nn.Conv2d(2, 2, 1),
            nn.Conv2d(2, 2, 1),
        )
        self.fc = nn.Linear(2 * 3 * 3 * 2, 2)

    def forward(self, x):
        y = self.c1(x)
        z = F.relu(self.c2(y))
        s = z + y  # z is also read by c3 below
        return self.fc(torch.cat([torch.flatten(s, 1), torch.flatten(self.c3(z), 1)], 1))


class PoolSum(nn.Module):
    """An add of two parameter-free views (no layer output to adopt)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 2 * 2, 3)

    def forward(self, x):
        y = self.c1(x)
        s = F.max_pool2d(y, 2) + F.avg_pool2d(y, 3, 2, padding=1)
        return self.fc(s.flatten(1))


class SharedConv(nn.Module):
    """One conv module applied twice (weight sharing), a permute and a token-wise Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.tok = nn.Linear(2, 3)
        self.fc = nn.Linear(3 * 3 * 4, 2)

    def forward(self, x):
        y = self.conv(F.relu(self.conv(x)))
        t = self.tok(y.permute(0, 2, 3, 1))  # (N, H, W, 2) -> (N, H, W, 3)
        return self.fc(torch.flatten(t, 1))


class DenseBlock(nn.Module):
    """DenseNet-style: every conv reads the concatenation of all earlier feature maps."""

    def __init__(self) -> None:
        super().__init__()
        self.c0 = nn.Conv2d(1, 2, 3, padding=1)
        self.c1 = nn.Conv2d(2, 2, 3, padding=1)
        self.c2 = nn.Conv2d(4, 2, 1)
        self.fc = nn.Linear(6 * 2 * 2, 2)

    def forward(self, x):
        x0 = self.c0(x)
        x1 = self.c1(F.relu(x0))
        x2 = self.c2(torch.cat([x0, x1], 1))
        y = F.avg_pool2d(torch.cat([x0, x1, x2], 1), 2, ceil_mode=True)
        return self.fc(y.flatten(1))


@pytest.mark.parametrize(
    ("factory", "shape"),
    [
        (DenseBlock, (1, 3, 4)),
        (Functional, (2, 4, 3)),
        (SharedMain, (1, 3, 3)),
        (PoolSum, (1, 6, 6)),
        (SharedConv, (2, 3, 4)),
    ],
)
def test_unusual_graphs_match_the_oracle(factory, shape):
    torch.manual_seed(0)
    model = factory()
    rng = np.random.default_rng(0)
    masks = random_masks(model, 0.6, rng)
    for name, p in model.named_parameters():
        if name.startswith("w"):
            masks[name] = rng.random(tuple(p.shape)) < 0.6
    graph = encode(model, masks, shape)
    check_mge_exact(model, masks, graph)


def test_concat_reader_gets_one_block_per_source_partition():
    torch.manual_seed(0)
    model = DenseBlock()
    masks = random_masks(model, 0.5, np.random.default_rng(0))
    graph = encode(model, masks, (1, 3, 4))
    c2 = [b for b in graph.blocks if b.name == "c2"]
    assert [graph.partitions[b.src_partition].name for b in c2] == ["c0", "c1"]
    assert sum(b.n_weights for b in c2) == masks["c2.weight"].size
    assert sum(b.n_unmasked for b in c2) == int(masks["c2.weight"].sum())
    fc = [b for b in graph.blocks if b.name == "fc"]
    assert len(fc) == 3 and all(b.pool == "avg2x2/s2x2" for b in fc)


def test_junction_and_sharing_structure():
    graph = encode(SharedMain(), None, (1, 3, 3))
    names = [p.name for p in graph.partitions]
    assert "add" in names  # the sum has its own partition
    skips = [b for b in graph.blocks if b.kind == "skip"]
    assert {graph.partitions[b.src_partition].name for b in skips} == {"c1", "c2"}
    shared = encode(SharedConv(), None, (2, 3, 4))
    assert [b.name for b in shared.blocks if b.kind == "conv"] == ["conv", "conv"]
    rolled = encode(SharedConv(), None, (2, 3, 4), kind="rolled")
    assert [b.name for b in rolled.blocks] == ["conv", "tok", "fc"]  # a shared module once
    tok = next(b for b in shared.blocks if b.name == "tok")
    assert tok.n_edges == 3 * 4 * 2 * 3  # every position of the 3x4 map, dense 2 -> 3
