"""The model zoo: the dense architectures the papers prune, built for any input size.

Every model is registered in :data:`MODELS` under a stable snake_case name and
built with :func:`build_model`, which validates the input shape and class
count, seeds the initialisation and applies Kaiming-normal initialisation
(He et al. 2015, ``fan_in``, ReLU gain) to every ``Conv2d``/``Linear`` weight,
zero biases and unit/zero BatchNorm affine parameters, as in Cunegatti et al. 2024, TMLR, App. A.3.

Every forward pass is traceable by :func:`torch.fx.symbolic_trace` (the MGE
encoder traces models rather than reading module names): the architecture is
fixed at construction from the known input shape, so no forward depends on
tensor sizes or values.

Image models take ``input_shape = (C, H, W)``; ``mlp`` takes any shape and
flattens it. Architectures (see ``docs/models.md`` for parameter counts):

=============  =========================================================
``mlp``        LeNet-300-100: ``F -> 300 -> 100 -> K``
``lenet5``     LeNet-5: conv5x5(6), pool, conv5x5(16), pool, 120, 84, K
``conv2/4/6``  Frankle & Carbin (2019) Conv-2/4/6 (Cunegatti et al. 2024, Table 5), BN
``vgg11/16``   CIFAR-style VGG with BatchNorm, global average pool, one FC
``resnet20/32``  CIFAR ResNet (He et al. 2016), option-A shortcuts
``wrn28_2``    Wide-ResNet-28-2 (pre-activation, 1x1 conv shortcuts)
``mobilenetv2`` CIFAR MobileNet-V2 (stride 1 stem and first stages)
``dagnet``     Janik and Nowak DAG network: conv-block nodes, weighted edges
=============  =========================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from prunegraph._registry import Registry
from prunegraph.errors import ValidationError

ModelBuilder = Callable[..., nn.Module]

MODELS: Registry[ModelBuilder] = Registry("model")

__all__ = [
    "MODELS",
    "DagNet",
    "OptionAShortcut",
    "build_model",
    "count_parameters",
    "init_kaiming_normal",
    "list_models",
]


# --------------------------------------------------------------------- helpers
def _conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution/pool: ``floor((n + 2p - k) / s) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def _require_image(name: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ValidationError(
            f"The 'input_shape' parameter of {name} must be (channels, height, width). "
            f"Got {input_shape} instead."
        )
    c, h, w = input_shape
    return c, h, w


def _too_small(name: str, input_shape: tuple[int, ...], minimum: int, why: str) -> ValidationError:
    return ValidationError(
        f"The input {tuple(input_shape)} is too small for {name}: it needs height and width "
        f"of at least {minimum} ({why})."
    )


def init_kaiming_normal(model: nn.Module) -> nn.Module:
    """Kaiming-normal weights, zero biases, BatchNorm ``gamma=1, beta=0``.

    ``W ~ N(0, 2 / fan_in)`` for every ``Conv*`` and ``Linear`` weight.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Conv1d | nn.Linear):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def count_parameters(model: nn.Module, *, prunable_only: bool = False) -> int:
    """Number of learnable scalars (or only Conv/Linear weights if ``prunable_only``)."""
    if not prunable_only:
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear))


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return MODELS.names()


def _validate_shape(input_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if (
        not shape
        or len(shape) > 3
        or not all(isinstance(s, int | np.integer) and not isinstance(s, bool) for s in shape)
        or any(int(s) < 1 for s in shape)
    ):
        raise ValidationError(
            "The 'input_shape' parameter of build_model must be a tuple of 1 to 3 positive "
            f"ints, (features,) or (channels, height, width). Got {input_shape!r} instead."
        )
    return tuple(int(s) for s in shape)


def build_model(
    name: str,
    *,
    input_shape: Sequence[int],
    num_classes: int,
    seed: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model with Kaiming-normal initialisation.

    Parameters
    ----------
    name : str
        Registry name (see :func:`list_models`); unknown names raise
        :class:`~prunegraph.errors.UnknownNameError` with a did-you-mean hint.
    input_shape : sequence of int
        Shape of one sample without the batch dimension: ``(C, H, W)`` for
        image models, anything for ``mlp`` (flattened).
    num_classes : int
        Number of output logits, at least 2.
    seed : int, optional
        Seeds the initialisation (the global RNG state is left untouched).
    **kwargs
        Architecture options (e.g. ``batch_norm`` for Conv-n, ``n_nodes`` and
        ``channels`` for ``dagnet``).

    Returns
    -------
    torch.nn.Module
        The model, with attributes ``architecture``, ``input_shape`` and
        ``num_classes`` recording how it was built.
    """
    builder = MODELS.get(name)
    shape = _validate_shape(input_shape)
    if (
        not isinstance(num_classes, int | np.integer)
        or isinstance(num_classes, bool)
        or num_classes < 2
    ):
        raise ValidationError(
            "The 'num_classes' parameter of build_model must be an int >= 2. "
            f"Got {num_classes!r} instead."
        )
    if seed is not None and (not isinstance(seed, int | np.integer) or isinstance(seed, bool)):
        raise ValidationError(
            f"The 'seed' parameter of build_model must be an int or None. Got {seed!r} instead."
        )
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))
        model = builder(shape, int(num_classes), **kwargs)
        init_kaiming_normal(model)
        if isinstance(model, DagNet):
            model.reset_edge_weights()
    # Plain attributes (nn.Module stores non-tensor values in __dict__ anyway).
    model.__dict__.update(architecture=name, input_shape=shape, num_classes=int(num_classes))
    return model


# ------------------------------------------------------------------------ MLP
class MLP(nn.Module):
    """Fully connected ReLU network; ``hidden=(300, 100)`` is LeNet-300-100."""

    def __init__(self, in_features: int, num_classes: int, hidden: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@MODELS.register("mlp")
def _mlp(
    input_shape: tuple[int, ...], num_classes: int, hidden: Sequence[int] = (300, 100)
) -> nn.Module:
    if not hidden or any(int(h) < 1 for h in hidden):
        raise ValidationError(
            f"The 'hidden' parameter of mlp must be a non-empty list of positive ints. "
            f"Got {hidden!r} instead."
        )
    return MLP(int(np.prod(input_shape)), num_classes, [int(h) for h in hidden])


# --------------------------------------------------------------------- LeNet-5
class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling.

    ``conv5x5(6, pad 2) - pool2 - conv5x5(16, pad p2) - pool2 - 120 - 84 - K``.
    ``p2 = 0`` (the classic layout: 28x28 -> 5x5x16) when the second conv's
    input is at least 10x10, else ``p2 = 2`` so that small inputs such as the
    8x8 digits keep a valid shape.
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        c, h, w = _require_image("lenet5", input_shape)
        if min(h, w) < 4:
            raise _too_small("lenet5", input_shape, 4, "two 2x2 max-pools")
        h1, w1 = h // 2, w // 2
        pad2 = 0 if min(h1, w1) >= 10 else 2
        h2, w2 = _conv_out(h1, 5, 1, pad2) // 2, _conv_out(w1, 5, 1, pad2) // 2
        self.features = nn.Sequential(
            nn.Conv2d(c, 6, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, padding=pad2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * h2 * w2, 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@MODELS.register("lenet5")
def _lenet5(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return LeNet5(input_shape, num_classes)


# ------------------------------------------------------------ Conv-2 / 4 / 6
class ConvN(nn.Module):
    """Frankle & Carbin (2019) Conv-2/4/6: VGG-like stacks of two 3x3 convs.

    Stage ``s`` (widths 64, 128, 256) is ``[conv3x3, conv3x3] + max-pool 2``;
    then ``FC 256 - 256 - K``. BatchNorm after every conv and hidden linear
    layer (Cunegatti et al. 2024, App. A.2) unless ``batch_norm=False``.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        n_stages: int,
        *,
        batch_norm: bool = True,
        name: str = "conv",
    ) -> None:
        super().__init__()
        c, h, w = _require_image(name, input_shape)
        minimum = 2**n_stages
        if min(h, w) < minimum:
            raise _too_small(name, input_shape, minimum, f"{n_stages} 2x2 max-pools")
        widths = (64, 128, 256)[:n_stages]
        layers: list[nn.Module] = []
        in_ch = c
        for width in widths:
            for _ in range(2):
                layers.append(nn.Conv2d(in_ch, width, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(nn.ReLU(inplace=True))
                in_ch = width
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Flatten()]
        width_in = in_ch * h * w
        for width in (256, 256):
            head.append(nn.Linear(width_in, width, bias=not batch_norm))
            if batch_norm:
                head.append(nn.BatchNorm1d(width))
            head.append(nn.ReLU(inplace=True))
            width_in = width
        head.append(nn.Linear(width_in, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _register_conv_n(n_stages: int) -> None:
    name = f"conv{2 * n_stages}"

    def builder(
        input_shape: tuple[int, ...], num_classes: int, batch_norm: bool = True
    ) -> nn.Module:
        return ConvN(input_shape, num_classes, n_stages, batch_norm=batch_norm, name=name)

    builder.__doc__ = f"Conv-{2 * n_stages} of Frankle & Carbin (2019)."
    MODELS.add(name, builder)


for _stages in (1, 2, 3):
    _register_conv_n(_stages)


# ------------------------------------------------------------------------- VGG
_VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
}


class VGG(nn.Module):
    """CIFAR-style VGG with BatchNorm (as in the lottery-ticket literature).

    3x3 convs (padding 1) with BN and ReLU, 2x2 max-pools at ``"M"``, then a
    global average pool and one linear layer ``512 -> K``. On 32x32 inputs the
    four pools leave 2x2 maps. A pool whose input is already 1x1 is left out,
    so small inputs (8x8 digits) stay valid.
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, config: str) -> None:
        super().__init__()
        c, h, w = _require_image(config, input_shape)
        layers: list[nn.Module] = []
        in_ch = c
        for item in _VGG_CONFIGS[config]:
            if item == "M":
                if min(h, w) >= 2:
                    layers.append(nn.MaxPool2d(2))
                    h, w = h // 2, w // 2
                continue
            width = int(item)
            layers += [
                nn.Conv2d(in_ch, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            in_ch = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.fc(torch.flatten(x, 1))


def _register_vgg(config: str) -> None:
    def builder(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        return VGG(input_shape, num_classes, config)

    MODELS.add(config, builder)


for _config in _VGG_CONFIGS:
    _register_vgg(_config)


# ---------------------------------------------------------------- CIFAR ResNet
class OptionAShortcut(nn.Module):
    """Parameter-free ResNet shortcut (He et al. 2016, option A).

    Subsamples space with stride ``stride`` (``x[:, :, ::s, ::s]``) and pads
    the channel axis with zeros *after* the existing channels, so input
    channel ``c`` maps 1:1 to output channel ``c`` (the MGE convention of
    ``docs``/spec: edges to the first channels).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValidationError("An option-A shortcut cannot reduce the channel count.")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        # F.pad pads the last dims first: (W_left, W_right, H_top, H_bottom, C_front, C_back).
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))


class BasicBlock(nn.Module):
    """``relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x))``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = (
            OptionAShortcut(in_channels, out_channels, stride)
            if stride != 1 or in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR ResNet-(6n+2): conv3x3(16), 3 stages of ``n`` basic blocks, GAP, FC.

    Stage widths 16/32/64, stages 2 and 3 start with stride 2 and an option-A
    shortcut. ResNet-20 has ``n = 3`` (~0.27 M weights), ResNet-32 ``n = 5``.
    Stride-2 convs map any size ``>= 1`` to ``ceil(n / 2)``, so every input
    size is valid.
    """

    def __init__(self, input_shape: tuple[int, ...], num_classes: int, depth: int) -> None:
        super().__init__()
        c, _, _ = _require_image(f"resnet{depth}", input_shape)
        blocks_per_stage = (depth - 2) // 6
        self.conv1 = nn.Conv2d(c, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages: list[nn.Module] = []
        in_ch = 16
        for stage, width in enumerate((16, 32, 64)):
            blocks: list[nn.Module] = []
            for b in range(blocks_per_stage):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(in_ch, width, stride))
                in_ch = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def _register_resnet(depth: int) -> None:
    def builder(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        return CifarResNet(input_shape, num_classes, depth)

    MODELS.add(f"resnet{depth}", builder)


for _depth in (20, 32):
    _register_resnet(_depth)


# ----------------------------------------------------------- Wide-ResNet-28-2
class WideBasicBlock(nn.Module):
    """Pre-activation wide block: ``conv(relu(bn(conv(relu(bn(x)))))) + shortcut``.

    When the width or stride changes, the shortcut is a 1x1 conv applied to
    ``relu(bn1(x))`` (Zagoruyko & Komodakis 2016).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.equal_in_out = in_channels == out_channels and stride == 1
        self.shortcut: nn.Module | None = (
            None
            if self.equal_in_out
            else nn.Conv2d(in_channels, out_channels, 1, stride, 0, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        if self.shortcut is None:
            return out + x
        return out + self.shortcut(pre)


class WideResNet(nn.Module):
    """Wide-ResNet-``depth``-``k``: stem conv(16), 3 stages of widths 16k/32k/64k."""

    def __init__(
        self, input_shape: tuple[int, ...], num_classes: int, depth: int, widen: int
    ) -> None:
        super().__init__()
        c, _, _ = _require_image(f"wrn{depth}_{widen}", input_shape)
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(c, 16, 3, 1, 1, bias=False)
        stages: list[nn.Module] = []
        in_ch = 16
        for stage, width in enumerate((16 * widen, 32 * widen, 64 * widen)):
            blocks: list[nn.Module] = []
            for b in range(n):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(WideBasicBlock(in_ch, width, stride))
                in_ch = width
            stages.append(nn.Sequential(*blocks))
        self.block1, self.block2, self.block3 = stages
        self.bn = nn.BatchNorm2d(in_ch)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        x = F.relu(self.bn(x))
        return self.fc(torch.flatten(self.pool(x), 1))


@MODELS.register("wrn28_2")
def _wrn28_2(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return WideResNet(input_shape, num_classes, depth=28, widen=2)


# ---------------------------------------------------------------- MobileNet-V2
class InvertedResidual(nn.Module):
    """MobileNet-V2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection.

    The identity residual is used only when ``stride == 1`` and the width is
    unchanged (Sandler et al. 2018).
    """

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [
                nn.Conv2d(in_channels, hidden, 1, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU6(inplace=True),
            ]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.block(x)
        return self.block(x)


# (expansion t, output channels c, blocks n, first stride s); the CIFAR variant uses
# stride 1 in the stem and the second stage, keeping 32x32 inputs at 4x4 before pooling.
_MOBILENETV2_CIFAR = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                      (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip


class MobileNetV2(nn.Module):
    """CIFAR MobileNet-V2: conv3x3(32, stride 1), 17 inverted residuals, conv1x1(1280), GAP, FC."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        c, _, _ = _require_image("mobilenetv2", input_shape)
        layers: list[nn.Module] = [
            nn.Conv2d(c, 32, 3, 1, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU6(inplace=True),
        ]
        in_ch = 32
        for t, width, n, s in _MOBILENETV2_CIFAR:
            for i in range(n):
                layers.append(InvertedResidual(in_ch, width, t, s if i == 0 else 1))
                in_ch = width
        layers += [
            nn.Conv2d(in_ch, 1280, 1, bias=False),
            nn.BatchNorm2d(1280),
            nn.ReLU6(inplace=True),
        ]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


@MODELS.register("mobilenetv2")
def _mobilenetv2(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return MobileNetV2(input_shape, num_classes)


# ------------------------------------------- DAG network (Janik and Nowak)
class DagNode(nn.Module):
    """One computational node: ``y = BN(conv3x3(relu(a))) + conv1x1(a)``.

    ``a`` is the node's weighted aggregate of its inputs (Janik and Nowak, Fig. 1a).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.residual = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(F.relu(a))) + self.residual(a)


class ReduceBlock(nn.Module):
    """Moves a node output ``d`` stages down: ``BN(conv3x3(relu(x), stride 2**d))``.

    Channels grow by ``2**d`` and resolution shrinks by ``2**d`` (``ceil``), the
    same as ``d`` successive stride-2 convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(F.relu(x)))


class DagNet(nn.Module):
    """Janik and Nowak's DAG network: conv-block nodes joined by trainable scalar edges.

    Nodes ``0..N-1`` form a DAG with an edge ``i -> j`` for every ``i < j``
    (optionally only ``j - i <= max_span``, Janik and Nowak's local variant). Node 0
    is the input node (``BN(conv3x3(x))`` to ``channels`` channels). Node
    ``j > 0`` computes :class:`DagNode` on the aggregate

    .. math:: a_j = \\sum_{i \\to j} \\tanh(w_{ij})\\, m_{ij}\\, R_{s(i) \\to s(j)}(y_i)

    where ``m`` is the edge mask buffer (1 = kept), ``s(.)`` the stage (three
    equal stages, widths ``C, 2C, 4C``, resolutions ``H, H/2, H/4``) and
    ``R`` the identity within a stage or the source node's shared
    :class:`ReduceBlock` into the target stage. The last node is followed by
    ReLU, global average pooling and a linear layer. Edge weights start at
    ``tanh(w) = 0.5``; :meth:`resource_loss` is ``sum_e |tanh w_e|`` (eq. 2).
    In the MGE (:func:`prunegraph.loader.encoding.encode`) each coefficient
    ``tanh(w_ij) m_ij`` is a constant gate: an edge removed by
    :meth:`threshold_edges` removes its paths, a kept one scales the weights of
    the edges through it by ``|tanh w_ij|``; partitions are numbered in a
    topological order, so the path metrics apply.
    """

    edge_mask: torch.Tensor

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        *,
        n_nodes: int = 9,
        channels: int = 8,
        max_span: int | None = None,
        resource_lambda: float = 1e-3,
    ) -> None:
        super().__init__()
        c, _, _ = _require_image("dagnet", input_shape)
        if not isinstance(n_nodes, int) or n_nodes < 3:
            raise ValidationError(
                f"The 'n_nodes' parameter of dagnet must be an int >= 3. Got {n_nodes!r} instead."
            )
        if not isinstance(channels, int) or channels < 1:
            raise ValidationError(
                f"The 'channels' parameter of dagnet must be a positive int. Got {channels!r} instead."
            )
        if max_span is not None and (not isinstance(max_span, int) or max_span < 1):
            raise ValidationError(
                f"The 'max_span' parameter of dagnet must be a positive int or None. "
                f"Got {max_span!r} instead."
            )
        self.n_nodes = n_nodes
        self.resource_lambda = float(resource_lambda)
        self.node_stage: tuple[int, ...] = tuple(
            int(s)
            for s in np.repeat(
                np.arange(3), [len(a) for a in np.array_split(np.arange(n_nodes), 3)]
            )
        )
        widths = [channels * 2**s for s in range(3)]
        edges = [
            (i, j)
            for j in range(1, n_nodes)
            for i in range(j)
            if max_span is None or j - i <= max_span
        ]
        self.edge_pairs: tuple[tuple[int, int], ...] = tuple(edges)
        self._incoming: tuple[tuple[tuple[int, int], ...], ...] = tuple(
            tuple((e, i) for e, (i, t) in enumerate(edges) if t == j) for j in range(n_nodes)
        )
        self.stem = nn.Sequential(
            nn.Conv2d(c, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0])
        )
        self.nodes = nn.ModuleList(
            [nn.Identity()] + [DagNode(widths[self.node_stage[j]]) for j in range(1, n_nodes)]
        )
        # One reduce block per (source node, deeper target stage) that some edge uses.
        reduce: dict[str, nn.Module] = {}
        for i, j in edges:
            si, sj = self.node_stage[i], self.node_stage[j]
            key = f"{i}_{sj}"
            if sj > si and key not in reduce:
                reduce[key] = ReduceBlock(widths[si], widths[sj], 2 ** (sj - si))
        self.reduce = nn.ModuleDict(reduce)
        self.edge_weights = nn.Parameter(torch.empty(len(edges)))
        self.register_buffer("edge_mask", torch.ones(len(edges)))
        self.fc = nn.Linear(widths[2], num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reset_edge_weights()

    def reset_edge_weights(self) -> None:
        """Constant initialisation ``tanh(w) = 0.5`` (Janik and Nowak: no a-priori bias)."""
        with torch.no_grad():
            self.edge_weights.fill_(math.atanh(0.5))

    @property
    def edge_index(self) -> np.ndarray:
        """``(2, E)`` int array of node ids ``[src; dst]``, in edge-weight order."""
        return np.asarray(self.edge_pairs, dtype=np.int64).T.reshape(2, -1)

    def edge_strength(self) -> np.ndarray:
        """``|tanh w_e| * m_e`` per edge, the magnitudes Janik and Nowak analyse."""
        with torch.no_grad():
            return (torch.tanh(self.edge_weights).abs() * self.edge_mask).cpu().numpy()

    def resource_loss(self) -> torch.Tensor:
        """L1 resource loss ``sum_e |tanh w_e|`` over kept edges (Janik and Nowak, eq. 2)."""
        return (torch.tanh(self.edge_weights).abs() * self.edge_mask).sum()

    def threshold_edges(self, tau: float = 0.006) -> np.ndarray:
        """Erase edges with ``|tanh w_e| < tau`` (sets their mask to 0); returns the kept mask."""
        if not 0.0 <= tau < 1.0:
            raise ValidationError(
                f"The 'tau' parameter of threshold_edges must be a float in [0, 1). Got {tau!r} instead."
            )
        keep = self.edge_strength() >= tau
        with torch.no_grad():
            self.edge_mask.mul_(torch.from_numpy(keep).to(self.edge_mask.dtype))
        return keep

    def adjacency(self, tau: float | None = None, *, remove_dead: bool = False) -> np.ndarray:
        """Weighted block-level adjacency ``A[i, j] = |tanh w_ij| m_ij`` (float64, N x N).

        Parameters
        ----------
        tau : float, optional
            Drop edges with ``|tanh w| < tau`` (does not change the model).
        remove_dead : bool
            Also drop "dead paths" (Janik and Nowak, section 3): edges not on any
            path from the input node 0 to the output node ``N-1``.
        """
        strength = self.edge_strength().astype(np.float64)
        if tau is not None:
            if not 0.0 <= tau < 1.0:
                raise ValidationError(
                    f"The 'tau' parameter of adjacency must be a float in [0, 1). Got {tau!r}."
                )
            strength = np.where(strength >= tau, strength, 0.0)
        src, dst = self.edge_index
        adjacency = np.zeros((self.n_nodes, self.n_nodes))
        adjacency[src, dst] = strength
        if remove_dead:
            linked = adjacency > 0
            # Node ids are a topological order, so one forward and one backward sweep suffice.
            from_input = np.zeros(self.n_nodes, dtype=bool)
            from_input[0] = True
            for j in range(1, self.n_nodes):
                from_input[j] = bool(np.any(from_input[:j] & linked[:j, j]))
            to_output = np.zeros(self.n_nodes, dtype=bool)
            to_output[-1] = True
            for i in range(self.n_nodes - 2, -1, -1):
                to_output[i] = bool(np.any(to_output[i + 1 :] & linked[i, i + 1 :]))
            alive = np.outer(from_input & to_output, from_input & to_output)
            adjacency = np.where(alive, adjacency, 0.0)
        return adjacency

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        coef = torch.tanh(self.edge_weights) * self.edge_mask
        outputs: list[torch.Tensor] = [self.stem(x)]
        # The loops run over the static DAG structure, so torch.fx unrolls them.
        for j in range(1, self.n_nodes):
            sj = self.node_stage[j]
            aggregate: torch.Tensor | None = None
            for e, i in self._incoming[j]:
                y = outputs[i]
                if self.node_stage[i] < sj:
                    y = self.reduce[f"{i}_{sj}"](y)
                term = coef[e] * y
                aggregate = term if aggregate is None else aggregate + term
            assert aggregate is not None  # every node j > 0 has the edge j-1 -> j
            outputs.append(self.nodes[j](aggregate))
        out = F.relu(outputs[-1])
        return self.fc(torch.flatten(self.pool(out), 1))


@MODELS.register("dagnet")
def _dagnet(input_shape: tuple[int, ...], num_classes: int, **kwargs: Any) -> nn.Module:
    return DagNet(input_shape, num_classes, **kwargs)
