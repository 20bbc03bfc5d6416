"""torchvision architectures encode exactly (Jacobian oracle on sampled source units).

resnet18 (overlapping max-pool stem, identity and 1x1 shortcuts), mobilenet_v2
(depthwise convs, ReLU6, inverted residuals), densenet121 (channel ``cat`` of every
earlier feature map, functional ReLU, average-pool transitions), squeezenet1_1
(``cat`` of 1x1 and 3x3 expands, ``ceil_mode`` pools, a conv classifier) and
googlenet without auxiliary heads (four-branch ``cat``, ``ceil_mode`` pools) at
small inputs, with random masks. Each partition's edges are checked from a random
sample of its units against the direct Jacobian of the linearised model; every
edge block from those units must match, weights included.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _encoding_oracle import check_mge_exact, random_masks

from prunegraph.loader.encoding import encode

torchvision = pytest.importorskip("torchvision")

CASES = {
    "resnet18": (lambda: torchvision.models.resnet18(num_classes=5), (3, 16, 16)),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(num_classes=5), (3, 16, 16)),
    "densenet121": (lambda: torchvision.models.densenet121(num_classes=5), (3, 32, 32)),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(num_classes=5), (3, 32, 32)),
    "googlenet": (
        lambda: torchvision.models.googlenet(
            num_classes=5, aux_logits=False, init_weights=False, transform_input=False
        ),
        (3, 32, 32),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_torchvision_models_match_the_jacobian(name):
    factory, shape = CASES[name]
    torch.manual_seed(0)
    model = factory().eval()
    masks = random_masks(model, 0.3, np.random.default_rng(1))
    graph = encode(model, masks, shape)
    assert all(b.src_partition < b.dst_partition for b in graph.blocks)
    # densenet121 has 121 partitions: fewer probes, structure only (weights: the small one)
    big = name == "densenet121"
    check_mge_exact(model, masks, graph, max_units=4 if big else 12, check_weights=not big)


@pytest.mark.slow
def test_small_densenet_cat_weights_match_the_jacobian():
    torch.manual_seed(0)
    model = torchvision.models.DenseNet(
        growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2, num_classes=3
    ).eval()
    masks = random_masks(model, 0.4, np.random.default_rng(2))
    graph = encode(model, masks, (3, 16, 16))
    check_mge_exact(model, masks, graph, max_units=24)


@pytest.mark.slow
def test_googlenet_aux_heads_are_ignored_with_a_warning():
    torch.manual_seed(0)
    model = torchvision.models.googlenet(num_classes=5, aux_logits=True, init_weights=False)
    masks = random_masks(model, 0.3, np.random.default_rng(1))
    with pytest.warns(UserWarning, match=r"'aux1\.conv\.conv\.weight'.*never reaches"):
        graph = encode(model, masks, (3, 32, 32))
    assert not any(b.name.startswith("aux") for b in graph.blocks)
    assert model.training  # the caller's mode is restored


@pytest.mark.slow
def test_resnet18_stem_pool_merges_overlapping_windows():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=5).eval()
    graph = encode(model, None, (3, 16, 16))
    pooled = [b for b in graph.blocks if b.pool and b.pool.startswith("max3x3/s2x2/p1x1")]
    assert {b.name for b in pooled} >= {"layer1.0.conv1"}
    s, d, _ = graph.block_edges(pooled[0])
    pairs = d.astype(np.int64) * graph.n_nodes + s
    assert len(np.unique(pairs)) == len(pairs)  # replicas merged into one edge each
