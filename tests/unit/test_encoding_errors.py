"""Every bad input to encode raises EncodingError with a message naming the problem."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from prunegraph.errors import EncodingError
from prunegraph.loader.encoding import ENCODINGS, encode


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(3 * 3 * 3, 2)

    def forward(self, x):
        return self.fc(torch.flatten(F.relu(self.conv(x)), 1))


SHAPE = (2, 5, 5)


def test_mask_shape_mismatch():
    with pytest.raises(
        EncodingError, match=r"Mask for 'conv.weight' has shape \(3, 2, 2, 2\).*\(3, 2, 3, 3\)"
    ):
        encode(Small(), {"conv.weight": np.ones((3, 2, 2, 2), bool)}, SHAPE)


def test_mask_for_unknown_parameter_suggests_a_name():
    with pytest.raises(
        EncodingError, match=r"unknown parameter 'conv.wieght'.*Did you mean 'conv.weight'"
    ):
        encode(Small(), {"conv.wieght": np.ones((3, 2, 3, 3), bool)}, SHAPE)


def test_mask_for_a_bias_is_refused():
    with pytest.raises(EncodingError, match=r"'fc.bias'.*not the weight of a Conv/Linear layer"):
        encode(Small(), {"fc.bias": np.ones(2, bool)}, SHAPE)


def test_mask_with_nan_entries_is_refused():
    bad = np.ones((3, 2, 3, 3))
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(EncodingError, match=r"Mask for 'conv\.weight' must be a boolean"):
        encode(Small(), {"conv.weight": bad}, SHAPE)


def test_masks_must_be_a_mapping():
    with pytest.raises(EncodingError, match="'masks' parameter of encode must be a dict"):
        encode(Small(), [np.ones(3)], SHAPE)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_or_inf_weights(value):
    model = Small()
    with torch.no_grad():
        model.fc.weight[0, 1] = value
    with pytest.raises(EncodingError, match=r"Parameter 'fc.weight' has 1 NaN or infinite"):
        encode(model, None, SHAPE)


@pytest.mark.parametrize("shape", [(3, 5, 5), (2, 2, 2), (2, 6, 6)])
def test_wrong_input_shape_names_the_failing_node(shape):
    with pytest.raises(
        EncodingError,
        match=rf"fails on a dummy input of shape \({shape[0]}, .*at traced node '(conv|fc)'",
    ):
        encode(Small(), None, shape)


@pytest.mark.parametrize(
    "shape", [(0, 5, 5), (2, 5, 5, 5, 5), "2,5,5", (2.0, 5, 5), None, (True, 5)]
)
def test_invalid_input_shape_parameter(shape):
    with pytest.raises(EncodingError, match="'input_shape' parameter of encode"):
        encode(Small(), None, shape)


def test_untraceable_model():
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow
                return self.fc(x)
            return -self.fc(x)

    with pytest.raises(EncodingError, match=r"Branchy cannot be traced with torch\.fx"):
        encode(Branchy(), None, (4,))


def test_unsupported_module_names_op_and_node():
    class WithLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.up = nn.Upsample(scale_factor=2)

        def forward(self, x):
            return self.up(self.fc(x).view(-1, 1, 2, 2))

    with pytest.raises(
        EncodingError, match=r"Cannot encode op 'up' \(call_module\) at traced node 'up'.*Upsample"
    ):
        encode(WithLSTM(), None, (4,))


def test_unsupported_function_names_op_and_node():
    class Gated(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x):
            return self.a(x) * torch.sigmoid(self.b(x))

    with pytest.raises(
        EncodingError, match=r"Cannot encode op 'mul' .* at traced node 'mul'.*gating"
    ):
        encode(Gated(), None, (4,))


def test_unknown_function_is_refused():
    class Sorts(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.cumsum(self.fc(x), 1)

    with pytest.raises(
        EncodingError, match=r"Cannot encode op 'cumsum'.*traced node 'cumsum'.*not supported"
    ):
        encode(Sorts(), None, (4,))


def test_batch_mixing_reshape_is_refused():
    class Mixer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x).view(-1)

    with pytest.raises(EncodingError, match=r"traced node 'view'.*batch"):
        encode(Mixer(), None, (4,))


def test_model_without_layers():
    class NoLayers(nn.Module):
        def forward(self, x):
            return F.relu(x)

    with pytest.raises(EncodingError, match="has no Conv/Linear layer"):
        encode(NoLayers(), None, (4,))


def test_not_a_module_and_bad_kind():
    with pytest.raises(EncodingError, match=r"must be a torch\.nn\.Module"):
        encode(lambda x: x, None, (4,))  # type: ignore[arg-type]
    with pytest.raises(
        EncodingError, match=r"'kind' parameter of encode.*Got 'rolld'.*Did you mean 'rolled'"
    ):
        encode(Small(), None, SHAPE, kind="rolld")
    with pytest.raises(EncodingError, match="'weighted' parameter of encode must be a bool"):
        encode(Small(), None, SHAPE, weighted="yes")  # type: ignore[arg-type]


def test_registry_names_and_did_you_mean():
    assert sorted(ENCODINGS) == ["mge", "rolled", "rolled_channel"]
    g = ENCODINGS.get("rolled")(Small(), None, SHAPE)
    assert g.kind == "rolled"
    with pytest.raises(KeyError, match="Did you mean 'mge'"):
        ENCODINGS.get("mgee")


def test_encode_restores_training_mode():
    model = Small().train()
    encode(model, None, SHAPE)
    assert model.training


def test_broadcasting_residual_add_is_refused():
    class Broadcast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return y + y.mean((2, 3), keepdim=True)  # per-channel broadcast

    with pytest.raises(EncodingError, match=r"traced node 'add'.*broadcast to \(2, 4, 4\)"):
        encode(Broadcast(), None, (1, 4, 4))
