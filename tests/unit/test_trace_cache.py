"""The trace cache: reused across instances of one architecture, never stale."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from prunegraph.loader import tracing
from prunegraph.loader.encoding import encode
from prunegraph.loader.models import build_model


@pytest.fixture(autouse=True)
def _empty_cache():
    tracing.clear_trace_cache()
    yield
    tracing.clear_trace_cache()


def _masks(model: nn.Module, seed: int, density: float = 0.5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        k: rng.random(tuple(p.shape)) < density
        for k, p in model.named_parameters()
        if k.endswith("weight") and p.ndim > 1
    }


def _same(a, b) -> bool:
    return (
        a.n_nodes == b.n_nodes
        and [(x.name, x.start, x.stop, x.pool) for x in a.blocks]
        == [(x.name, x.start, x.stop, x.pool) for x in b.blocks]
        and np.array_equal(a.src, b.src)
        and np.array_equal(a.dst, b.dst)
        and np.array_equal(a.weight, b.weight)
    )


def _fresh(model, masks, shape, **kw):
    """The graph as an empty cache gives it (traced from scratch)."""
    tracing.clear_trace_cache()
    return encode(model, masks, shape, **kw)


def test_a_second_network_of_the_architecture_reuses_the_trace():
    torch.manual_seed(0)
    first = build_model("resnet20", input_shape=(3, 16, 16), num_classes=10)
    other = build_model("resnet20", input_shape=(3, 16, 16), num_classes=10)
    assert not tracing.trace_model(first, (3, 16, 16)).cached
    traced = tracing.trace_model(other, (3, 16, 16))
    assert traced.cached and traced.root is other
    masks = _masks(other, 1)
    warm = encode(other, masks, (3, 16, 16))
    assert _same(warm, _fresh(other, masks, (3, 16, 16)))
    for kind in ("rolled", "rolled_channel"):
        assert _same(
            encode(other, masks, (3, 16, 16), kind=kind),
            _fresh(other, masks, (3, 16, 16), kind=kind),
        )


def test_other_shapes_and_widths_are_traced_anew():
    torch.manual_seed(0)
    model = build_model("resnet20", input_shape=(3, 16, 16), num_classes=10)
    tracing.trace_model(model, (3, 16, 16))
    assert not tracing.trace_model(model, (3, 8, 8)).cached
    wider = build_model("resnet20", input_shape=(3, 16, 16), num_classes=12)
    assert not tracing.trace_model(wider, (3, 16, 16)).cached
    assert tracing.trace_model(model, (3, 16, 16)).cached


class _Gated(nn.Module):
    """Constant gates (a parameter without a mask, a buffer) and a Python switch."""

    def __init__(self, skip: bool = True) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.gain = nn.Parameter(torch.ones(4, 1, 1))
        self.register_buffer("gate", torch.ones(4))
        self.skip = skip
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        y = F.relu(self.c1(x)) * self.gain
        z = self.c2(y)
        if self.skip:
            z = z + y
        return self.fc(torch.flatten(z, 1))


class _BufferGated(_Gated):
    def forward(self, x):  # torch.fx evaluates the view of the buffer at trace time
        y = F.relu(self.c1(x)) * self.gate.view(1, 4, 1, 1)
        return self.fc(torch.flatten(self.c2(y), 1))


def _gated_masks(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v for k, v in _masks(model, 3).items() if k != "gain"}


def test_constants_are_read_from_the_model_at_every_encode():
    model = _Gated()
    masks = _gated_masks(model)
    before = encode(model, masks, (2, 4, 4))
    with torch.no_grad():
        model.gain[1] = 0.0  # channel 1 now carries nothing
        model.gain[2] = 3.0
    assert tracing.trace_model(model, (2, 4, 4)).cached
    after = encode(model, masks, (2, 4, 4))
    assert after.n_edges < before.n_edges
    assert _same(after, _fresh(model, masks, (2, 4, 4)))


def test_a_trace_that_bakes_in_buffer_values_is_never_reused():
    model = _BufferGated()
    masks = _gated_masks(model)
    before = encode(model, masks, (2, 4, 4))
    with torch.no_grad():
        model.gate[1] = 0.0  # channel 1 now carries nothing
    assert not tracing.trace_model(model, (2, 4, 4)).cached
    after = encode(model, masks, (2, 4, 4))
    assert after.n_edges < before.n_edges
    assert _same(after, _fresh(model, masks, (2, 4, 4)))
    other = _BufferGated()
    assert not tracing.trace_model(other, (2, 4, 4)).cached


def test_a_changed_python_attribute_is_a_new_trace():
    model = _Gated(skip=True)
    masks = _gated_masks(model)
    with_skip = encode(model, masks, (2, 4, 4))
    model.skip = False
    assert not tracing.trace_model(model, (2, 4, 4)).cached
    without = encode(model, masks, (2, 4, 4))
    assert any(b.kind == "skip" for b in with_skip.blocks)
    assert not any(b.kind == "skip" for b in without.blocks)
    assert _same(without, _fresh(model, masks, (2, 4, 4)))


class _Opaque:
    """An attribute the fingerprint cannot summarise."""

    scale = 1


class _WithObject(_Gated):
    def __init__(self) -> None:
        super().__init__()
        self.helper = _Opaque()


def test_models_with_unsummarisable_attributes_are_traced_every_time():
    model = _WithObject()
    masks = _gated_masks(model)
    first = encode(model, masks, (2, 4, 4))
    assert not tracing.trace_model(model, (2, 4, 4)).cached
    assert _same(first, encode(model, masks, (2, 4, 4)))


def test_cache_size_zero_disables_it(monkeypatch):
    monkeypatch.setattr(tracing, "TRACE_CACHE_SIZE", 0)
    model = _Gated()
    tracing.trace_model(model, (2, 4, 4))
    assert not tracing.trace_model(model, (2, 4, 4)).cached


def test_the_cache_keeps_no_model_alive_and_leaves_the_rng_alone():
    model = _Gated()
    masks = _gated_masks(model)
    torch.manual_seed(7)
    state = torch.get_rng_state()
    encode(model, masks, (2, 4, 4))
    assert torch.equal(torch.get_rng_state(), state)  # the dummy batch has its own generator
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
    assert len(tracing._CACHE) == 1


def _pruned(amount: float, seed: int) -> nn.Module:
    from torch.nn.utils import prune

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3), nn.Flatten())
    for layer in (model[0], model[2]):
        prune.random_unstructured(layer, "weight", amount=amount)
    return model.eval()


def test_torch_prune_buffers_are_read_from_each_network():
    first, other = _pruned(0.3, 0), _pruned(0.7, 1)
    a = encode(first, None, (2, 6, 6))
    assert tracing.trace_model(other, (2, 6, 6)).cached
    b = encode(other, None, (2, 6, 6))
    assert b.n_edges < a.n_edges
    assert _same(b, _fresh(other, None, (2, 6, 6)))
    assert _same(a, _fresh(first, None, (2, 6, 6)))
