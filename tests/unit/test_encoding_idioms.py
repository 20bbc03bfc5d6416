"""Encoder idioms of issue 17: partition order, constant gates, trace-time pooling sizes,
in-place aliasing, one-line errors, unreached layers, stochastic depth (Jacobian oracle)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _encoding_oracle import check_mge_exact, random_masks
from torch import nn

from prunegraph.errors import EncodingError
from prunegraph.loader.encoding import encode
from prunegraph.loader.models import build_model

GATE = frozenset({"edge_weights"})


def _masks(model: nn.Module, density: float = 0.6, seed: int = 0) -> dict[str, np.ndarray]:
    return random_masks(model, density, np.random.default_rng(seed))


def _in_partition_order(graph) -> bool:
    return all(b.src_partition < b.dst_partition for b in graph.blocks)


# ----------------------------------------------------------------------------- 1. order
class LateOperand(nn.Module):
    """An add adopts a partition created before its other operand's partition."""

    def __init__(self) -> None:
        super().__init__()
        self.a1, self.a2 = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1)
        self.b = nn.Conv2d(2, 3, 1)
        self.c = nn.Conv2d(3, 3, 1)
        self.fc = nn.Linear(3 * 4 * 4, 2)

    def forward(self, x):
        deep = self.a2(F.relu(self.a1(x)))  # depth 2, fresh: adopted by the first add
        s = deep + x[:, :1].expand(-1, 3, -1, -1)  # add 1: partition of a2
        late = self.c(self.b(x))  # created after a2, also depth 2
        other = self.c(F.relu(self.b(x)))  # shares c: read twice
        return self.fc(torch.flatten(s + late + other, 1))


def test_partitions_are_numbered_topologically_and_match_the_oracle():
    model = LateOperand()
    masks = _masks(model)
    graph = encode(model, masks, (2, 4, 4))
    assert _in_partition_order(graph)
    check_mge_exact(model, masks, graph)


def test_dagnet_is_a_dag_in_partition_order_and_exact():
    torch.manual_seed(0)
    model = build_model("dagnet", input_shape=(3, 8, 8), num_classes=4, n_nodes=6, channels=2)
    masks = _masks(model, 0.7)
    graph = encode(model, masks, (3, 8, 8))
    assert _in_partition_order(graph)
    check_mge_exact(model, masks, graph, keep=GATE)


def test_dagnet_default_settings_are_in_partition_order():
    model = build_model("dagnet", input_shape=(3, 16, 16), num_classes=10)
    graph = encode(model, None, (3, 16, 16))
    assert _in_partition_order(graph)


# ----------------------------------------------------------------------------- 2. gates
class MaskedChannels(nn.Module):
    """A 0/1 channel-mask buffer, a zero-gated skip and a scaling parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.register_buffer("chan", torch.tensor([1.0, 0.0, 1.0, 0.0]).view(1, 4, 1, 1))
        self.gain = nn.Parameter(torch.tensor([2.0, -0.5, 1.0, 3.0]).view(4, 1, 1))
        self.fc = nn.Linear(4 * 3 * 3, 2)

    def forward(self, x):
        y = F.relu(self.c1(x)) * self.chan  # channels 1 and 3 carry nothing
        z = self.c2(y) * self.gain + 0.0 * y  # a skip gated off entirely
        return self.fc(torch.flatten(z / 2, 1))


def test_constant_masks_remove_paths_and_scale_weights():
    model = MaskedChannels()
    masks = {k: np.ones(v.shape, bool) for k, v in model.named_parameters() if "weight" in k}
    graph = encode(model, masks, (2, 3, 3))
    check_mge_exact(model, masks, graph, keep=frozenset({"gain"}))
    assert not any(b.kind == "skip" for b in graph.blocks)  # the zero-gated skip is gone
    c2 = next(b for b in graph.blocks if b.name == "c2")
    s, _, _ = graph.block_local_edges(c2)
    assert set(np.unique(s // 9).tolist()) == {0, 2}  # only unmasked channels feed c2
    s, d, w = graph.block_local_edges(c2)  # the gain scales the edges into its units
    w_c2 = np.abs(model.c2.weight.detach().numpy())
    np.testing.assert_allclose(
        w, w_c2[d // 9, s // 9, (s % 9) // 3 - (d % 9) // 3 + 1, s % 3 - d % 3 + 1]
        * np.array([2.0, 0.5, 1.0, 3.0])[d // 9], rtol=1e-6,
    )  # fmt: skip
    fc = next(b for b in graph.blocks if b.name == "fc")
    s, d, w = graph.block_local_edges(fc)  # x / 2 halves the edges out of its units
    np.testing.assert_allclose(w, np.abs(model.fc.weight.detach().numpy())[d, s] / 2, rtol=1e-6)


def _linked(graph, i: int, j: int) -> bool:
    """Does DAG node i's output partition feed the aggregate that node j reads?"""
    out_i = {k for k, p in enumerate(graph.partitions) if p.name == f"nodes.{i}.conv"}
    agg_j = {b.src_partition for b in graph.blocks if b.name == f"nodes.{j}.conv"}
    assert len(out_i) == 1 and agg_j
    return bool(out_i & agg_j) or any(
        b.src_partition in out_i and b.dst_partition in agg_j and b.stop > b.start
        for b in graph.blocks
    )


def test_dagnet_thresholding_changes_the_graph_as_the_kept_edges_say():
    torch.manual_seed(0)
    model = build_model("dagnet", input_shape=(3, 8, 8), num_classes=4, n_nodes=6, channels=2)
    masks = _masks(model, 0.7)
    before = encode(model, masks, (3, 8, 8))
    dropped = [model.edge_pairs.index((2, 3)), model.edge_pairs.index((4, 5))]
    with torch.no_grad():  # weaken two same-stage edges below the threshold
        model.edge_weights[dropped] = 0.001
    keep = model.threshold_edges(0.006)
    assert keep.sum() == len(keep) - 2
    after = encode(model, masks, (3, 8, 8))
    assert _in_partition_order(after)
    check_mge_exact(model, masks, after, keep=GATE)
    assert after.n_edges < before.n_edges
    for i, j in [(2, 3), (4, 5)]:  # dropped: linked before, not after
        assert _linked(before, i, j) and not _linked(after, i, j)
    for i, j in [(1, 2), (3, 4)]:  # kept same-stage edges stay
        assert _linked(after, i, j)


# ----------------------------------------------------------------------------- 3. pooling
class GlobalPoolSize(nn.Module):
    def __init__(self, idiom: str) -> None:
        super().__init__()
        self.idiom = idiom
        self.c = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        x = self.c(x)
        if self.idiom == "size_slice":
            x = F.avg_pool2d(x, x.size()[2:])
        elif self.idiom == "size_int":
            x = F.avg_pool2d(x, x.size(3))
        else:
            x = F.max_pool2d(x, kernel_size=x.shape[2:], stride=x.size(2))
        return self.fc(torch.flatten(x, 1))


@pytest.mark.parametrize("idiom", ["size_slice", "size_int", "shape_kw"])
def test_global_pool_with_traced_sizes(idiom):
    model = GlobalPoolSize(idiom)
    masks = _masks(model)
    graph = encode(model, masks, (2, 5, 5))
    check_mge_exact(model, masks, graph)
    assert graph.blocks[-1].pool is not None and "3x3" in graph.blocks[-1].pool


def test_pool_size_from_a_tensor_is_an_encoding_error():
    class TensorKernel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(2, 3, 3)

        def forward(self, x):
            y = self.c(x)
            return F.avg_pool2d(y, x.mean().int().item() + 1)

    with pytest.raises(EncodingError):
        encode(TensorKernel(), None, (2, 5, 5))


# ----------------------------------------------------------------------------- 4. in-place
class AliasedInplace(nn.Module):
    """``identity = out; out += f(out); g(identity)``: g reads the updated tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.f = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1)
        self.g = nn.Conv2d(3, 3, 1)
        self.fc = nn.Linear(3 * 4 * 4, 2)

    def forward(self, x):
        out = self.c1(x)
        identity = out
        out += self.f(out)
        return self.fc(torch.flatten(self.g(identity), 1))


class ExplicitUpdate(AliasedInplace):
    """The same network written out of place: ``out = out + f(out); g(out)``."""

    def forward(self, x):
        out = self.c1(x)
        out = out + self.f(out)
        return self.fc(torch.flatten(self.g(out), 1))


def test_inplace_update_of_an_alias_is_encoded():
    torch.manual_seed(0)
    model = AliasedInplace()
    explicit = ExplicitUpdate()
    explicit.load_state_dict(model.state_dict())
    masks = _masks(model)
    graph = encode(model, masks, (2, 4, 4))
    reference = encode(explicit, masks, (2, 4, 4))
    check_mge_exact(explicit, masks, reference)
    assert graph.n_edges == reference.n_edges and graph.n_nodes == reference.n_nodes
    a, b = (np.lexsort((g.dst, g.src)) for g in (graph, reference))
    np.testing.assert_array_equal(graph.src[a], reference.src[b])
    np.testing.assert_array_equal(graph.dst[a], reference.dst[b])
    np.testing.assert_array_equal(graph.weight[a], reference.weight[b])
    # the updated tensor equals what the model computes
    x = torch.randn(2, 2, 4, 4)
    torch.testing.assert_close(model.eval()(x), explicit.eval()(x))


def test_inplace_update_of_a_view_that_is_read_again_is_refused():
    class ViewUpdate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c, self.d = nn.Conv2d(2, 4, 1), nn.Conv2d(4, 2, 1)
            self.fc = nn.Linear(4 * 9, 2)

        def forward(self, x):
            y = self.c(x)
            head = y[:, :2]
            head += self.d(y)
            return self.fc(torch.flatten(y, 1))

    with pytest.raises(EncodingError, match=r"in-place op 'add' \(\+=\).*shares memory"):
        encode(ViewUpdate(), None, (2, 3, 3))


def test_inplace_relu_on_aliases_is_harmless():
    class ReluInplace(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c, self.d = nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1)
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            y = self.c(x)
            z = y[:, :1]
            self.relu(y)
            return self.d(y) + torch.cat([z, z], 1)

    model = ReluInplace()
    masks = _masks(model, 1.0)
    check_mge_exact(model, masks, encode(model, masks, (2, 3, 3)))


# ----------------------------------------------------------------------------- 5. errors
def test_shape_failure_is_one_line_with_op_node_shape_and_cause():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(99, 2))
    with pytest.raises(EncodingError) as info:
        encode(model, None, (3, 6, 6))
    message = str(info.value)
    assert "\n" not in message
    assert "'_2'" in message and "(2, 64)" in message and "Linear" not in message.split(":")[0]
    assert isinstance(info.value.__cause__, RuntimeError)  # torch's own error is kept


def test_trace_failure_is_one_line_with_location_and_cause():
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return -self.fc(x)

    with pytest.raises(EncodingError) as info:
        encode(Branchy(), None, (4,))
    assert "\n" not in str(info.value)
    assert "test_encoding_idioms.py:" in str(info.value)
    assert info.value.__cause__ is not None


# ----------------------------------------------------------------------------- 6. unreached
class WithAux(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv2d(2, 3, 3)
        self.aux = nn.Linear(27, 2)
        self.fc = nn.Linear(27, 2)

    def forward(self, x):
        y = torch.flatten(self.c(x), 1)
        if self.training:
            return self.fc(y), self.aux(y)
        return self.fc(y)


def test_masks_of_unreached_layers_are_ignored_with_a_warning():
    model = WithAux().train()
    masks = _masks(model)
    with pytest.warns(UserWarning, match=r"'aux\.weight'.*never reaches"):
        graph = encode(model, masks, (2, 5, 5))
    assert model.training  # restored
    assert {b.name for b in graph.blocks} == {"c", "fc"}
    check_mge_exact(model.eval(), {k: v for k, v in masks.items() if "aux" not in k}, graph)


def test_a_mask_for_a_bias_is_still_refused():
    model = WithAux()
    masks = _masks(model) | {"c.bias": np.ones(3, bool)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(EncodingError, match=r"c\.bias"):
            encode(model, masks, (2, 5, 5))


def test_stochastic_depth_in_eval_is_the_identity():
    pytest.importorskip("torchvision")
    from torchvision.ops import StochasticDepth

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)
            self.sd = StochasticDepth(0.5, "row")

        def forward(self, x):
            y = self.c1(x)
            return y + self.sd(self.c2(F.relu(y)))

    model = Block().train()
    masks = _masks(model)
    graph = encode(model, masks, (2, 4, 4))
    check_mge_exact(model.eval(), masks, graph)
