"""Property-based tests (hypothesis): random tiny architectures, shapes and masks."""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F
from _encoding_oracle import check_mge_exact, random_masks
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

from prunegraph.loader.encoding import encode


def _out(n: int, k: int, s: int, p: int, d: int = 1) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


class RandomNet(nn.Module):
    def __init__(self, cfg: dict, in_shape: tuple[int, int, int]) -> None:
        super().__init__()
        c, h, w = in_shape
        self.cfg = cfg
        g1 = cfg["groups1"] if c % cfg["groups1"] == 0 and cfg["c1"] % cfg["groups1"] == 0 else 1
        pad = cfg["pad1"]
        self.conv1 = nn.Conv2d(c, cfg["c1"], cfg["k1"], stride=cfg["s1"] if pad != "same" else 1,
                               padding=pad, dilation=cfg["d1"], groups=g1)  # fmt: skip
        self.conv2 = nn.Conv2d(
            cfg["c1"], cfg["c1"], 3, padding=1, groups=cfg["c1"] if cfg["dw2"] else 1
        )
        with torch.no_grad():
            n = self.conv1(torch.zeros(1, c, h, w))
            self.adaptive = (max(1, n.shape[2] - 1), max(1, (n.shape[3] + 1) // 2))
            n = self._pool(n)
            n = self.conv2(n)
        self.fc = nn.Linear(n.numel(), cfg["n_out"])

    def _pool(self, x):
        kind, k, s = self.cfg["pool"], self.cfg["pk"], self.cfg["ps"]
        if kind == "max":
            return F.max_pool2d(x, k, s, padding=min(self.cfg["pp"], k // 2))
        if kind == "avg":
            return F.avg_pool2d(x, k, s, padding=min(self.cfg["pp"], k // 2))
        if kind == "adaptive":
            return F.adaptive_avg_pool2d(x, self.adaptive)  # overlapping windows when uneven
        return x

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = self._pool(x)
        y = self.conv2(x)
        if self.cfg["residual"]:
            y = y + x
        return self.fc(torch.flatten(y, 1))


configs = st.fixed_dictionaries(
    {
        "c1": st.sampled_from([1, 2, 4]),
        "k1": st.integers(1, 4),
        "s1": st.integers(1, 3),
        "pad1": st.sampled_from([0, 1, 2, "same"]),
        "d1": st.integers(1, 2),
        "groups1": st.sampled_from([1, 2]),
        "dw2": st.booleans(),
        "pool": st.sampled_from(["none", "max", "avg", "adaptive"]),
        "pk": st.integers(2, 3),
        "ps": st.integers(1, 3),
        "pp": st.integers(0, 1),
        "residual": st.booleans(),
        "n_out": st.integers(1, 3),
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cfg=configs,
    c=st.sampled_from([1, 2]),
    h=st.integers(3, 9),
    w=st.integers(3, 9),
    density=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**16),
)
def test_random_architectures_match_the_oracle(cfg, c, h, w, density, seed):
    pad = 0 if cfg["pad1"] == "same" else cfg["pad1"]
    stride = 1 if cfg["pad1"] == "same" else cfg["s1"]
    h1, w1 = _out(h, cfg["k1"], stride, pad, cfg["d1"]), _out(w, cfg["k1"], stride, pad, cfg["d1"])
    if cfg["pad1"] == "same":
        h1, w1 = h, w
    assume(h1 >= 1 and w1 >= 1)
    if cfg["pool"] in ("max", "avg"):
        pp = min(cfg["pp"], cfg["pk"] // 2)
        assume(_out(h1, cfg["pk"], cfg["ps"], pp) >= 1 and _out(w1, cfg["pk"], cfg["ps"], pp) >= 1)
    torch.manual_seed(seed)
    model = RandomNet(cfg, (c, h, w))
    masks = random_masks(model, density, np.random.default_rng(seed))
    graph = encode(model, masks, (c, h, w))
    check_mge_exact(model, masks, graph)
    # the rolled encodings always count the unmasked weights
    rolled = encode(model, masks, (c, h, w), kind="rolled")
    assert rolled.n_edges == sum(int(m.sum()) for m in masks.values())
    channel = encode(model, masks, (c, h, w), kind="rolled_channel")
    assert channel.n_edges <= rolled.n_edges
    assert sum(b.n_unmasked for b in channel.blocks) == rolled.n_edges


@settings(max_examples=30, deadline=None)
@given(
    f_in=st.integers(1, 12),
    hidden=st.lists(st.integers(1, 8), min_size=1, max_size=3),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_random_mlps_edges_are_the_masks(f_in, hidden, density, seed):
    sizes = [f_in, *hidden]
    model = nn.Sequential(*[nn.Linear(a, b) for a, b in itertools.pairwise(sizes)])
    rng = np.random.default_rng(seed)
    masks = {f"{k}.weight": rng.random((b, a)) < density
             for k, (a, b) in enumerate(itertools.pairwise(sizes))}  # fmt: skip
    graph = encode(model, masks, (f_in,))
    assert [p.size for p in graph.partitions] == sizes
    for k, block in enumerate(graph.blocks):
        s, d, w = graph.block_local_edges(block)
        m = masks[f"{k}.weight"]
        assert sorted(zip(d.tolist(), s.tolist(), strict=True)) == sorted(
            zip(*np.nonzero(m), strict=True)
        )
        np.testing.assert_allclose(w, np.abs(model[k].weight.detach().numpy()[d, s]))
