"""The `resource` pruner (Janik and Nowak): L1 resource loss on dagnet, threshold, dead paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from prunegraph.errors import ValidationError
from prunegraph.loader.models import build_model
from prunegraph.loader.pruning import PRUNERS, prune
from prunegraph.loader.pruning.resource import alive_nodes, resource_masks


def _dag(n_nodes: int = 6, channels: int = 2, num_classes: int = 3):
    return build_model(
        "dagnet",
        input_shape=(1, 8, 8),
        num_classes=num_classes,
        seed=0,
        n_nodes=n_nodes,
        channels=channels,
    )


def _plant(model, strengths: dict[tuple[int, int], float], default: float = 0.0) -> None:
    """Set |tanh w_e| per edge (``default`` for the edges not named)."""
    values = np.full(len(model.edge_pairs), default)
    for e, pair in enumerate(model.edge_pairs):
        values[e] = strengths.get(pair, default)
    with torch.no_grad():
        model.edge_weights.copy_(torch.from_numpy(np.arctanh(values)).float())


def test_alive_nodes_are_those_on_an_input_output_path() -> None:
    a = np.zeros((6, 6))
    a[0, 1] = a[1, 5] = 1  # the path 0 -> 1 -> 5
    a[0, 2] = 1  # 2 is reached but leads nowhere
    a[3, 4] = a[4, 5] = 1  # 3 -> 4 -> 5 is not fed by the input
    assert alive_nodes(a).tolist() == [True, True, False, False, False, True]
    assert not alive_nodes(np.zeros((4, 4))).any()  # no path at all: nothing is alive


def test_resource_masks_erase_thresholded_edges_and_dead_paths() -> None:
    model = _dag()  # 6 nodes, stages [0 0 1 1 2 2]
    kept = {(0, 1): 0.4, (1, 2): 0.3, (2, 5): 0.2, (0, 5): 0.01}
    dangling = {(3, 4): 0.5}  # above tau, but 3 is not reached from the input: dead
    _plant(model, {**kept, **dangling}, default=0.001)  # the rest below tau = 0.006
    masks = resource_masks(model, 0.006)
    gate = model.edge_mask.numpy() != 0
    on = {pair for pair, g in zip(model.edge_pairs, gate, strict=True) if g}
    assert on == set(kept)
    # nodes 3 and 4 are off every path: their weights go; a reduce block goes with its edges
    assert not masks["nodes.3.conv.weight"].any() and not masks["nodes.4.residual.weight"].any()
    assert masks["nodes.1.conv.weight"].all() and masks["nodes.5.conv.weight"].all()
    assert masks["stem.0.weight"].all() and masks["fc.weight"].all()
    assert masks["reduce.1_1.conv.weight"].all()  # 1 -> 2 crosses into stage 1
    assert masks["reduce.0_2.conv.weight"].all() and masks["reduce.2_2.conv.weight"].all()
    assert not masks["reduce.0_1.conv.weight"].any()  # 0 -> 2 and 0 -> 3 were erased
    assert not masks["reduce.3_2.conv.weight"].any()  # only the dead 3 -> 4 ... 3 -> 5 used it


def test_resource_masks_keep_dead_edges_when_asked_and_refuse_other_models() -> None:
    model = _dag()
    _plant(model, {(0, 5): 0.5, (3, 4): 0.5}, default=0.0)
    resource_masks(model, 0.006, remove_dead=False)
    assert int(model.edge_mask.sum()) == 2
    with pytest.raises(ValidationError, match="dagnet"):
        resource_masks(build_model("mlp", input_shape=(4,), num_classes=2), 0.006)
    with pytest.raises(ValidationError, match="tau"):
        resource_masks(_dag(), 1.5)


@pytest.mark.slow
def test_prune_trains_under_the_resource_loss_and_larger_lam_keeps_less() -> None:
    from prunegraph.loader.data import load_dataset

    data = load_dataset("digits", seed=0).train  # 1437 8x8 images: ~23 steps per epoch
    spec = PRUNERS.get("resource")
    assert spec.mode == "during" and spec.trains and spec.applies_to("dagnet") is None
    assert spec.applies_to("mlp") is not None
    kept = {}
    for lam in (0.0, 0.3):
        model = _dag(n_nodes=5, num_classes=10)
        masks = prune(model, "resource", 0.5, data=data, seed=0, lam=lam, epochs=2, lr=0.05)
        assert set(masks) <= set(dict(model.named_parameters()))
        kept[lam] = int(model.edge_mask.sum())
        # the masks are the network the gates leave: nothing kept on a dead node
        strength = model.edge_strength()
        assert ((strength == 0) | (strength >= 0.006)).all()
    assert kept[0.0] == len(_dag(n_nodes=5).edge_pairs)  # no pressure: every edge stays
    assert kept[0.3] < kept[0.0]
    with pytest.raises(ValidationError, match="lam"):
        prune(_dag(), "resource", 0.5, data=data, lam=-1.0, epochs=1)
    assert math.isclose(spec.defaults["tau"], 0.006) and math.isclose(spec.defaults["lam"], 1e-3)
