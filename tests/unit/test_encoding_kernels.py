"""The encoder's numba passes against their numpy definitions: same edges, same order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from prunegraph.errors import EncodingError
from prunegraph.loader import _encoding_kernels as kernels
from prunegraph.loader import encoding as enc


def _offsets_reference(mask: np.ndarray, weight: np.ndarray, groups: int):
    """Unmasked entries per kernel offset: a stable sort of the flat indices by ``flat % kk``."""
    co, ci_g, kh, kw = mask.shape
    kk, co_g = kh * kw, co // groups
    flat = np.flatnonzero(mask)
    flat = flat[np.argsort(flat % kk, kind="stable")]
    key = flat % kk
    o = (flat // kk) // ci_g
    i = (o // co_g) * ci_g + (flat // kk) % ci_g
    absw = np.abs(weight.reshape(-1)[flat])
    return [(o[key == k], i[key == k], absw[key == k]) for k in range(kk)]


# densities on both sides of the kernel's switch to a branch-free scatter (0.15 .. 0.85)
@pytest.mark.parametrize("density", [0.0, 0.05, 0.15, 0.4, 0.85, 0.95, 1.0])
@pytest.mark.parametrize("groups", [1, 3])
def test_offset_table_is_the_stable_sort_by_kernel_offset(density, groups):
    rng = np.random.default_rng(int(density * 100) + groups)
    shape = (6, 4, 3, 2)
    weight = rng.standard_normal(shape).astype(np.float32)
    mask = rng.random(shape) < density
    layer = enc.LayerInfo(
        "c", "c", "conv", "c.weight", weight, mask, shape, (4 * groups, 5, 5), (6, 5, 5),
        groups=groups,
    )  # fmt: skip
    o, i, absw, starts, ends = layer.offset_table()
    assert int((ends - starts).sum()) == int(mask.sum())
    for k, (ro, ri, rw) in enumerate(_offsets_reference(mask, weight, groups)):
        a, b = int(starts[k]), int(ends[k])
        np.testing.assert_array_equal(o[a:b], ro)
        np.testing.assert_array_equal(i[a:b], ri)
        np.testing.assert_array_equal(absw[a:b], rw)


@pytest.mark.parametrize("with_user", [False, True])
@pytest.mark.parametrize("with_prune", [False, True])
def test_resolve_mask_is_weight_nonzero_and_user_and_prune(with_user, with_prune):
    rng = np.random.default_rng(1)
    w = rng.standard_normal(1000).astype(np.float32)
    w[rng.random(1000) < 0.3] = 0.0
    user = rng.random(1000) < 0.5
    prune = (rng.random(1000) < 0.7).astype(np.float32)
    expected = w != 0
    if with_user:
        expected &= user
    if with_prune:
        expected &= prune != 0
    mask = np.empty(1000, bool)
    bad, kept = kernels.resolve_mask(w, user, with_user, prune, with_prune, mask)
    assert bad == 0 and kept == int(expected.sum())
    np.testing.assert_array_equal(mask, expected)
    w[[3, 7, 11]] = [np.nan, np.inf, -np.inf]
    bad, _ = kernels.resolve_mask(w, user, with_user, prune, with_prune, mask)
    assert bad == 3


def test_nonfinite_weights_are_refused_by_name():
    model = nn.Sequential(nn.Conv2d(1, 2, 3))
    with torch.no_grad():
        model[0].weight[0, 0, 1, 1] = float("nan")
    with pytest.raises(EncodingError, match=r"'0\.weight' has 1 NaN"):
        enc.encode(model, None, (1, 5, 5))


class _Tables(nn.Module):
    """Layers read through every kind of window table the direct fill handles."""

    def __init__(self) -> None:
        super().__init__()
        self.c0 = nn.Conv2d(3, 3, 3, stride=2, padding=2, dilation=2, groups=3)
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=2)
        self.c3 = nn.Conv2d(8, 6, 2, padding="same")
        self.c4 = nn.Conv1d(6, 4, 3, padding=1)
        self.lin_direct = nn.Linear(9, 9)  # at 4 leading positions, read without a table
        self.lin_lead = nn.Linear(3, 5)  # applied at every leading position
        self.fc = nn.Linear(4 * 5, 7)
        self.register_buffer("gain", torch.tensor([2.0, 0.5, 0.0, 3.0, 1.0, 0.25, 4.0, 0.0]))

    def forward(self, x):
        x = F.max_pool2d(self.c0(x), 2)  # full table (non-overlapping)
        y = F.max_pool2d(F.relu(self.c1(x)), 2)
        y = y * self.gain.view(1, 8, 1, 1)  # multiplicities, and rows gated to nothing
        y = F.avg_pool2d(self.c2(y), 3, stride=1, padding=1)  # windows cut by the border
        y = self.c3(y)
        y = F.avg_pool2d(y, 1)
        z = self.lin_direct(self.c4(torch.flatten(y, 2)))  # (6, H*W) -> Conv1d -> Linear
        z = self.lin_lead(F.avg_pool1d(z, 2)[..., :3])  # a Linear with 4 leading positions
        return self.fc(torch.flatten(z, 1))


@pytest.mark.parametrize("density", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
def test_direct_fill_writes_the_chunks_of_every_block(density, id_dtype):
    torch.manual_seed(0)
    model = _Tables().eval()
    rng = np.random.default_rng(2)
    masks = {
        k: rng.random(tuple(p.shape)) < density
        for k, p in model.named_parameters()
        if k.endswith("weight")
    }
    walker = enc._walk(model, masks, (3, 48, 48))
    seen = set()
    grouped_direct = lead_direct = False
    for job in walker.jobs:
        if not job.direct_fill:
            continue
        seen.add((job.kind, job.term.cols is not None, job.term.mult is not None, job.term.full))
        grouped_direct = grouped_direct or (job.name == "c0" and job.term.cols is None)
        lead_direct = lead_direct or (job.name == "lin_direct" and job.term.cols is None)
        parts = list(job.chunks())
        d_ref, s_ref, w_ref = (np.concatenate(x) for x in zip(*parts, strict=True))
        n = job.count()
        assert n == len(d_ref)
        src, dst = np.full(n + 3, -7, id_dtype), np.full(n + 3, -7, id_dtype)
        weight = np.full(n + 3, -7, np.float32)
        end = enc._fill_layer(job, src[: n + 1], dst[: n + 1], weight[: n + 1], 1, 100, 1000)
        assert end == n + 1 and (dst[n + 1 :] == -7).all()  # never past the end of the arrays
        end = enc._fill_layer(job, src, dst, weight, 1, 100, 1000)
        assert end == n + 1
        np.testing.assert_array_equal(dst[1:end], d_ref + 1000)
        np.testing.assert_array_equal(src[1:end], s_ref + 100)
        np.testing.assert_array_equal(weight[1:end], w_ref)
        # nothing before the block, nothing past the one slot after it (the next block's
        # first, which a branch-free kernel may write before that block is written)
        assert dst[0] == src[0] == weight[0] == -7
        assert (dst[end + 1 :] == -7).all() and (weight[end + 1 :] == -7).all()
    # identity, full tables, multiplicities and cut windows, for convs and linears
    assert ("conv", False, False, True) in seen and ("conv", True, False, True) in seen
    assert ("conv", True, True, False) in seen and grouped_direct and lead_direct
    assert any(k == "conv" and t and not full for k, t, _, full in seen)
    assert ("linear", True, False, True) in seen or ("linear", False, False, True) in seen
