"""The training loop: deterministic on CPU, fast on a GPU, masked weights kept at exactly zero.

:func:`train` runs mini-batch SGD (with momentum) or Adam under a ``none``,
``cosine``, ``step`` or ``multistep`` learning-rate schedule, optionally with
the random-crop-and-flip augmentation of the CIFAR protocol, on a chosen
device (``"auto"``: CUDA when present) and optionally in bfloat16 autocast.
When ``masks`` are given (``dict[str, bool array]`` keyed by parameter name,
see :mod:`prunegraph.loader.masks`), each step

1. zeroes the gradients of masked entries, ``g <- g * m``,
2. takes the optimizer step,
3. re-applies the mask, ``theta <- theta * m`` (weight decay and momentum
   would otherwise move pruned weights) and clears the optimizer state of
   masked entries (so a weight regrown by dynamic sparse training starts
   fresh),
4. calls ``step_hook(model, step)``, then re-reads ``masks`` (the hook may
   change them in place or replace entries) and applies them again.

Models carrying ``torch.nn.utils.prune`` reparametrisation (``weight_orig``
and ``weight_mask``) are handled too: the mask key ``"conv.weight"`` then
addresses ``conv.weight_orig``.

Determinism: a seeded CPU ``torch.Generator`` draws the batch order and the
augmentation (so both are the same on every device), the global torch RNG is
forked and seeded (dropout etc.); on CPU deterministic algorithms are
requested and the number of intra-op threads is capped (default 1) for the
duration of the call. On CUDA, cuDNN picks its fastest kernels, which may
differ in the last bits from run to run.

Data path: an in-memory :class:`~prunegraph.loader.data.ArrayDataset` is
copied to the device once (and kept there for the next call), batches are
gathered and augmented on the device, and the loss is summed on the device,
so a GPU step never waits for the host.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from prunegraph.errors import UnknownNameError, ValidationError
from prunegraph.loader.data import ArrayDataset, DatasetSplit

__all__ = [
    "AMP_MODES",
    "AUGMENTATIONS",
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainResult",
    "TrainingSettings",
    "accuracy_drop",
    "capture_training_log",
    "evaluate",
    "resolve_device",
    "train",
]

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("cosine", "multistep", "none", "step")
AUGMENTATIONS = ("crop_flip", "flip", "none")
AMP_MODES = ("bf16", "none")
DEFAULT_THREADS = 1

log = logging.getLogger("prunegraph.training")

StepHook = Callable[[nn.Module, int], None]
EpochHook = Callable[[int, float, float, float], None]


@dataclass(frozen=True)
class TrainingSettings:
    """How a network is trained: the settings of :func:`train` shared by everything that trains.

    One object carries them from a study's ``[training]`` table (or the
    ``prune`` call) to the dense baseline, the fine-tuning and the pruners
    that train while pruning (``imp``, ``set``, ``rigl``, ``dsr``,
    ``ramanujan(base="imp")``), so none of them re-declares the keywords.
    Validated on construction; :meth:`replace` returns a validated copy.

    Attributes
    ----------
    epochs : int
        Passes over the training data (>= 1).
    lr : float
        Initial learning rate (> 0).
    batch_size : int
        Mini-batch size (>= 1).
    optimizer : {"sgd", "adam"}
        SGD with (Nesterov-free) momentum, or Adam.
    momentum : float
        SGD momentum, in [0, 1).
    weight_decay : float
        L2 penalty (>= 0), applied by the optimizer.
    schedule : {"cosine", "step", "multistep", "none"}
        Learning-rate schedule over all steps.
    milestones : tuple of int
        Epochs after which the ``multistep`` schedule divides the learning
        rate by 10 (Cunegatti et al. 2024, Appendix A.3: ``(80, 120)`` of 160).
    augment : {"none", "crop_flip", "flip"}
        ``crop_flip``: random crop to the input size after zero-padding by
        ``H / 8`` pixels (32 with padding 4, 64 with padding 8) and a random
        horizontal flip, per sample; ``flip``: the flip alone.
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:N"``. Where training runs, not what it computes: it is not part
        of a network's identity.
    amp : {"none", "bf16"}
        ``bf16``: forward and loss in bfloat16 autocast (weights, gradients and
        optimizer state stay float32).
    compile : bool or {"default", "reduce-overhead", "max-autotune-no-cudagraphs"}
        Run the forward and backward pass through ``torch.compile`` (worth it for
        long GPU runs; not part of a network's identity). ``True`` means
        ``"reduce-overhead"`` (CUDA graphs, which remove the per-kernel launch cost
        that bounds a small CIFAR network) on CUDA and ``"default"`` elsewhere.
    """

    epochs: int = 1
    lr: float = 0.05
    batch_size: int = 64
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    milestones: tuple[int, ...] = ()
    augment: str = "none"
    device: str = "auto"
    amp: str = "none"
    compile: bool | str = False

    #: Settings that say where and how fast, not what: left out of :meth:`identity`.
    EXECUTION_ONLY = ("device", "compile")
    #: Settings added after the first release: in :meth:`identity` only when not at
    #: their default, so the networks stored before keep their ids.
    LATER = (("milestones", ()), ("augment", "none"), ("amp", "none"))

    def __post_init__(self) -> None:
        who = "TrainingSettings"
        _positive_int(self.epochs, "epochs", who)
        _positive_int(self.batch_size, "batch_size", who)
        lr = self.lr
        if (
            isinstance(lr, bool)
            or not isinstance(lr, int | float)
            or not math.isfinite(lr)
            or lr <= 0
        ):
            raise ValidationError(
                f"The 'lr' parameter of {who} must be a positive float. Got {lr!r} instead."
            )
        momentum = self.momentum
        if (
            isinstance(momentum, bool)
            or not isinstance(momentum, int | float)
            or not 0.0 <= momentum < 1.0
        ):
            raise ValidationError(
                f"The 'momentum' parameter of {who} must be a float in the range [0, 1). "
                f"Got {momentum!r} instead."
            )
        decay = self.weight_decay
        if isinstance(decay, bool) or not isinstance(decay, int | float) or not decay >= 0.0:
            raise ValidationError(
                f"The 'weight_decay' parameter of {who} must be a float >= 0. Got {decay!r} instead."
            )
        if self.optimizer not in OPTIMIZERS:
            raise UnknownNameError("optimizer", str(self.optimizer), OPTIMIZERS)
        if self.schedule not in SCHEDULES:
            raise UnknownNameError("schedule", str(self.schedule), SCHEDULES)
        milestones = _check_milestones(self.milestones, self.schedule, who)
        object.__setattr__(self, "milestones", milestones)
        if self.augment not in AUGMENTATIONS:
            raise UnknownNameError("augmentation", str(self.augment), AUGMENTATIONS)
        if self.amp not in AMP_MODES:
            raise UnknownNameError("amp mode", str(self.amp), AMP_MODES)
        _check_device_name(self.device, who)
        _check_compile(self.compile, who)

    def identity(self) -> dict[str, Any]:
        """The settings that decide what training computes, for hashing into a network id.

        Every field (of a subclass too) except :attr:`EXECUTION_ONLY`; the
        :attr:`LATER` settings only when they differ from their defaults.
        """
        ident = asdict(self)
        for name in self.EXECUTION_ONLY:
            ident.pop(name, None)
        for name, default in self.LATER:
            if ident.get(name) == default:
                ident.pop(name, None)
        if "milestones" in ident:
            ident["milestones"] = list(ident["milestones"])
        return ident

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings' names, in declaration order (``epochs``, ``lr``, ...)."""
        return tuple(f.name for f in fields(TrainingSettings))

    def replace(self, **changes: Any) -> TrainingSettings:
        """A validated copy with ``changes`` applied (unknown names raise)."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise ValidationError(
                f"Unknown training setting(s) {unknown}. Settings: {', '.join(self.names())}."
            )
        values = {name: getattr(self, name) for name in self.names()}
        return TrainingSettings(**{**values, **changes})

    def train_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`train` these settings stand for."""
        return {name: getattr(self, name) for name in self.names()}


@dataclass(frozen=True)
class TrainResult:
    """What one call of :func:`train` did.

    Attributes
    ----------
    train_loss : list of float
        Mean training loss per epoch (cross-entropy plus any resource loss).
    epochs : int
    seconds : float
        Wall-clock time of the loop.
    final_train_acc : float
        Accuracy on the training data after the last epoch (eval mode).
    steps : int
        Number of optimizer steps taken.
    """

    train_loss: list[float] = field(default_factory=list)
    epochs: int = 0
    seconds: float = 0.0
    final_train_acc: float = 0.0
    steps: int = 0


# ------------------------------------------------------------------ helpers
def _check_milestones(value: object, schedule: str, who: str) -> tuple[int, ...]:
    if isinstance(value, list):
        value = tuple(value)
    if not isinstance(value, tuple) or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1 for v in value
    ):
        raise ValidationError(
            f"The 'milestones' parameter of {who} must be a list of positive epoch numbers. "
            f"Got {value!r} instead."
        )
    out = tuple(int(v) for v in value)
    if list(out) != sorted(set(out)):
        raise ValidationError(
            f"The 'milestones' parameter of {who} must be strictly increasing. Got {list(out)}."
        )
    if schedule == "multistep" and not out:
        raise ValidationError(
            f"The 'multistep' schedule of {who} needs milestones, e.g. milestones = [80, 120]."
        )
    if schedule != "multistep" and out:
        raise ValidationError(
            f"The 'milestones' parameter of {who} applies to schedule = 'multistep' only "
            f"(schedule is '{schedule}')."
        )
    return out


def _check_device_name(device: object, who: str) -> str:
    ok = isinstance(device, str) and (
        device in ("auto", "cpu", "cuda") or (device.startswith("cuda:") and device[5:].isdigit())
    )
    if not ok:
        raise ValidationError(
            f"The 'device' parameter of {who} must be 'auto', 'cpu', 'cuda' or 'cuda:N'. "
            f"Got {device!r} instead."
        )
    return str(device)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The ``torch.device`` a device setting names, checked against this machine.

    ``"auto"`` is CUDA (the current device) when ``torch.cuda.is_available()``,
    else the CPU. Asking for CUDA where there is none, or for a device index
    that does not exist, is a :class:`~prunegraph.errors.ValidationError`.
    """
    if isinstance(device, torch.device):
        device = str(device)
    name = _check_device_name(device, "resolve_device")
    if name == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValidationError(
            f"Device '{name}' was asked for but CUDA is not available on this machine "
            "(torch.cuda.is_available() is False); use device = 'auto' or 'cpu'."
        )
    index = int(name[5:]) if ":" in name else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        raise ValidationError(
            f"Device '{name}' does not exist: this machine has {torch.cuda.device_count()} "
            "CUDA device(s)."
        )
    return torch.device("cuda", index)


#: ``torch.compile`` modes a study may name; ``True`` picks one per device (:func:`_compile_mode`).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs")


def _check_compile(value: object, who: str) -> None:
    if isinstance(value, bool) or value in COMPILE_MODES:
        return
    raise ValidationError(
        f"The 'compile' parameter of {who} must be true, false or one of "
        f"{', '.join(COMPILE_MODES)}. Got {value!r} instead."
    )


def _compile_mode(value: bool | str, device: torch.device) -> str | None:
    """The ``torch.compile`` mode for ``value`` on ``device`` (``None``: do not compile)."""
    if value is False:
        return None
    if value is True:
        return "reduce-overhead" if device.type == "cuda" else "default"
    return str(value)


@contextlib.contextmanager
def _execution(device: torch.device, num_threads: int | None) -> Iterator[None]:
    """Deterministic CPU kernels with capped threads, or fast cuDNN kernels on CUDA."""
    if device.type != "cuda":
        with _deterministic_cpu(num_threads):
            yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


def _autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager[Any]:
    if amp == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _on_device(data: Dataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(x, y)`` of an in-memory dataset on ``device``, copied once and kept on the dataset."""
    if not isinstance(data, ArrayDataset):
        return None
    if device.type == "cpu":
        return data.x, data.y
    cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = data.__dict__.setdefault(
        "_device_copies", {}
    )
    key = str(device)
    if key not in cache:
        cache[key] = (data.x.to(device, non_blocking=False), data.y.to(device))
    return cache[key]


class _Augmenter:
    """Random crop after padding by ``H // 8`` and/or a horizontal flip, per sample, vectorised.

    The random draws of a whole epoch come from the CPU generator at once
    (:meth:`draw`) and go to the device in one copy, so the augmentation is the
    same on every device and a GPU step never waits for the host. Padding uses
    ``pad_value`` per channel (a black pixel after normalisation), zeros when
    unknown; constants live on the device from the start.
    """

    def __init__(
        self,
        mode: str,
        sample_shape: tuple[int, ...],
        pad_value: tuple[float, ...] | None,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.mode = mode if len(sample_shape) == 3 else "none"
        self.device = device
        if self.mode == "none":
            return
        c, h, w = sample_shape
        self.pad = max(1, h // 8)
        size = (h + 2 * self.pad, w + 2 * self.pad)
        self.border: torch.Tensor | None = None
        if pad_value is not None and len(pad_value) == c and any(pad_value):
            fill = torch.tensor(pad_value, dtype=dtype).view(1, c, 1, 1)
            border = torch.ones(1, 1, *size, dtype=dtype)
            border[..., self.pad : self.pad + h, self.pad : self.pad + w] = 0
            self.border = (border * fill).to(device)  # added to the zero-padded batch
        self.rows = torch.arange(h, device=device)
        self.cols = torch.arange(w, device=device)

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Crop offsets ``(2, n)`` and flips ``(n,)`` for ``n`` samples, on the device."""
        if self.mode == "none":
            return None
        high = 2 * self.pad + 1 if self.mode == "crop_flip" else 1
        offsets = torch.randint(0, high, (2, n), generator=generator)
        flips = torch.rand(n, generator=generator) < 0.5
        both = torch.cat([offsets, flips[None].long()]).to(self.device)
        return both[:2], both[2].bool()

    def __call__(
        self, x: torch.Tensor, drawn: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        if self.mode == "none" or drawn is None or x.ndim != 4:
            return x
        offsets, flips = drawn
        b = x.shape[0]
        if self.mode == "crop_flip":
            p = self.pad
            padded = F.pad(x, (p, p, p, p))
            if self.border is not None:
                padded = padded + self.border
            rows = offsets[0, :b, None] + self.rows  # (B, H)
            cols = offsets[1, :b, None] + self.cols  # (B, W)
            batch = torch.arange(b, device=x.device)[:, None, None]
            # (B, H, W, C) by advanced indexing on the padded batch; as (B, C, H, W) this is
            # already the channels-last layout
            x = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(
                0, 3, 1, 2
            )
        return torch.where(flips[:b, None, None, None], x.flip(3), x)


def _augment(
    x: torch.Tensor,
    mode: str,
    generator: torch.Generator,
    pad_value: tuple[float, ...] | None,
) -> torch.Tensor:
    """Augment one batch (see :class:`_Augmenter`) with fresh draws from ``generator``."""
    if mode == "none" or x.ndim != 4:
        return x
    augmenter = _Augmenter(mode, tuple(x.shape[1:]), pad_value, x.device, x.dtype)
    return augmenter(x, augmenter.draw(x.shape[0], generator))


@contextlib.contextmanager
def _deterministic_cpu(num_threads: int | None) -> Iterator[None]:
    """Cap intra-op threads and request deterministic kernels; restore both on exit."""
    previous_threads = torch.get_num_threads()
    previous_det = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_det, warn_only=previous_warn)


def _check_dataset(data: object, argument: str, function: str) -> Dataset:
    if isinstance(data, DatasetSplit):
        raise ValidationError(
            f"The '{argument}' parameter of {function} must be a Dataset, not a DatasetSplit; "
            f"pass split.{'train' if argument == 'train_data' else 'test'}."
        )
    if not isinstance(data, Dataset):
        raise ValidationError(
            f"The '{argument}' parameter of {function} must be a torch Dataset. "
            f"Got {type(data).__name__} instead."
        )
    try:
        n = len(data)  # type: ignore[arg-type]
    except TypeError:
        raise ValidationError(
            f"The '{argument}' dataset of {function} must define __len__."
        ) from None
    if n == 0:
        raise ValidationError(f"The '{argument}' dataset of {function} is empty.")
    return data


def _batches(
    data: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None,
    device: torch.device | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` batches on ``device``; in-memory datasets are sliced there directly.

    The order is drawn on the CPU from ``generator``, so it does not depend on
    the device.
    """
    device = device or torch.device("cpu")
    held = _on_device(data, device)
    if held is not None:
        x_all, y_all = held
        n = int(y_all.shape[0])
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        order = order.to(device)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            yield x_all[index], y_all[index]
        return
    loader = DataLoader(
        data,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        pin_memory=device.type == "cuda",
    )
    for x, y in loader:
        yield (
            torch.as_tensor(x, dtype=torch.float32).to(device, non_blocking=True),
            torch.as_tensor(y).long().reshape(-1).to(device, non_blocking=True),
        )


def _positive_int(value: object, name: str, function: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValidationError(
            f"The '{name}' parameter of {function} must be a positive int. Got {value!r} instead."
        )
    return int(value)


class _MaskSet:
    """Binds ``masks`` (name -> bool array) to the parameters they zero.

    Keeps a torch view per mask and re-reads the dict when the caller (a
    dynamic-sparse-training hook) replaced an entry.
    """

    def __init__(
        self, model: nn.Module, masks: dict[str, np.ndarray], device: torch.device | None = None
    ) -> None:
        self.device = device or torch.device("cpu")
        # accelerators: one fused multiply per step instead of one masked_fill per tensor
        self.fused = self.device.type != "cpu"
        if not isinstance(masks, dict):
            raise ValidationError(
                f"The 'masks' parameter of train must be a dict of name -> bool array. "
                f"Got {type(masks).__name__} instead."
            )
        self.masks = masks
        params = dict(model.named_parameters())
        self.targets: dict[str, nn.Parameter] = {}
        for name in masks:
            target = params.get(name)
            if target is None and name.endswith(".weight"):
                target = params.get(name + "_orig")  # torch.nn.utils.prune reparametrisation
            if target is None:
                raise ValidationError(
                    f"Mask '{name}' matches no parameter of the model "
                    f"(known prunable names look like {sorted(params)[:3]})."
                )
            self.targets[name] = target
        self._source: dict[str, np.ndarray] = {}
        self._keep: dict[str, torch.Tensor] = {}
        self.refresh()

    def refresh(self, *, force: bool = False) -> None:
        """Re-read the masks; ``force`` re-copies unchanged arrays to an accelerator
        (in-place edits are only seen through shared memory on the CPU)."""
        on_cpu = self.device.type == "cpu"
        for name, target in self.targets.items():
            array = self.masks.get(name)
            if array is None:
                raise ValidationError(f"Mask '{name}' was removed from the masks during training.")
            if array is self._source.get(name) and (on_cpu or not force):
                continue  # same array object: the torch view below already shares its memory
            array = np.asarray(array)
            if array.shape != tuple(target.shape):
                raise ValidationError(
                    f"Mask '{name}' has shape {array.shape} but the parameter has shape "
                    f"{tuple(target.shape)}."
                )
            if array.dtype != np.bool_:
                if not np.isin(array, (0, 1)).all():
                    raise ValidationError(f"Mask '{name}' must be boolean (or 0/1).")
                array = array.astype(bool)
            self._source[name] = self.masks[name]
            # from_numpy shares memory, so in-place edits of the mask arrays are seen (CPU).
            keep = torch.from_numpy(np.ascontiguousarray(array))
            self._keep[name] = keep if on_cpu else keep.to(self.device)

    def _factors(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Parameters and their 0/1 factors (accelerators: one fused multiply per step)."""
        names = list(self.targets)
        factors = [
            self._keep[n].to(dtype=self.targets[n].dtype, memory_format=torch.preserve_format)
            if self._keep[n].dtype == torch.bool
            else self._keep[n]
            for n in names
        ]
        for n, f in zip(names, factors, strict=True):
            self._keep[n] = f  # keep the float factor for the next step
        return [self.targets[n] for n in names], factors

    def zero_grads(self) -> None:
        if self.fused:
            params, factors = self._factors()
            pairs = [
                (p.grad, f) for p, f in zip(params, factors, strict=True) if p.grad is not None
            ]
            if pairs:
                torch._foreach_mul_([g for g, _ in pairs], [f for _, f in pairs])
            return
        for name, target in self.targets.items():
            if target.grad is not None:
                target.grad.masked_fill_(~self._keep[name], 0.0)

    @torch.no_grad()
    def apply(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        if self.fused:
            # x * 0 is 0 for every finite x: the pruned entries are exactly zero
            params, factors = self._factors()
            torch._foreach_mul_(params, factors)
            if optimizer is not None:
                states = [
                    (value, f)
                    for p, f in zip(params, factors, strict=True)
                    for value in optimizer.state.get(p, {}).values()
                    if isinstance(value, torch.Tensor) and value.shape == p.shape
                ]
                if states:
                    torch._foreach_mul_([v for v, _ in states], [f for _, f in states])
            return
        for name, target in self.targets.items():
            pruned = ~self._keep[name]
            target.masked_fill_(pruned, 0.0)
            if optimizer is not None:
                for value in optimizer.state.get(target, {}).values():
                    if isinstance(value, torch.Tensor) and value.shape == target.shape:
                        value.masked_fill_(pruned, 0.0)


def _resource_term(model: nn.Module, resource_weight: float | None) -> float:
    """Coefficient of ``model.resource_loss()`` (the L1 edge loss of Janik and Nowak), 0 if none."""
    if not callable(getattr(model, "resource_loss", None)):
        if resource_weight:
            raise ValidationError(
                "The 'resource_weight' parameter of train needs a model with a resource_loss() "
                f"method (e.g. dagnet); {type(model).__name__} has none."
            )
        return 0.0
    if resource_weight is None:
        return float(getattr(model, "resource_lambda", 0.0))
    return float(resource_weight)


# ------------------------------------------------------------------- public
def train(
    model: nn.Module,
    train_data: Dataset,
    *,
    epochs: int,
    lr: float,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str | None = "cosine",
    batch_size: int = 64,
    milestones: Sequence[int] = (),
    augment: str = "none",
    device: str | torch.device = "auto",
    amp: str = "none",
    compile: bool | str = False,
    masks: dict[str, np.ndarray] | None = None,
    step_hook: StepHook | None = None,
    seed: int = 0,
    resource_weight: float | None = None,
    num_threads: int | None = DEFAULT_THREADS,
    epoch_hook: EpochHook | None = None,
) -> TrainResult:
    """Train ``model`` in place with cross-entropy, keeping masked weights at zero.

    Parameters
    ----------
    model : torch.nn.Module
        Trained on ``device`` and returned to the device it was on.
    train_data : torch.utils.data.Dataset
        ``(x, y)`` samples, typically ``load_dataset(...).train``.
    epochs : int >= 1
    lr : float > 0
        Initial learning rate ``eta_0``.
    optimizer : {"sgd", "adam"}
        SGD uses ``momentum``; Adam uses its default betas.
    momentum : float in [0, 1)
    weight_decay : float >= 0
        L2 penalty (coupled, PyTorch convention).
    schedule : {"cosine", "step", "multistep", "none"} or None
        ``cosine``: ``eta_t = eta_0 (1 + cos(pi t / T)) / 2`` per step over
        ``T`` total steps; ``step``: ``eta_0 / 10`` after 50 % and again after
        75 % of the epochs; ``multistep``: ``eta_0 / 10^k`` after the ``k``-th
        of ``milestones`` (Cunegatti et al. 2024, Appendix A.3: 80 and 120 of
        160 epochs); ``none``/None: constant.
    batch_size : int >= 1
    milestones : sequence of int
        Epochs of the ``multistep`` schedule.
    augment : {"none", "crop_flip", "flip"}
        Per-sample random crop (zero-padding ``H // 8``, filled with the
        dataset's normalised black) and horizontal flip, drawn from the seed.
    device : {"auto", "cpu", "cuda", "cuda:N"}
        Where to train (see :func:`resolve_device`).
    amp : {"none", "bf16"}
        bfloat16 autocast of the forward pass and loss.
    compile : bool or str
        Compile the model with ``torch.compile`` (see :class:`TrainingSettings`).
    masks : dict of str -> bool array, optional
        ``True`` keeps a weight. Masked weights are zero on return (and on the
        device after every step).
    step_hook : callable(model, step), optional
        Called after each optimizer step with the 1-based step count; it may
        edit ``masks`` (in place or by replacing entries).
    seed : int
        Seeds batch order, augmentation and any randomness in the forward pass.
    resource_weight : float, optional
        Coefficient ``lambda`` of ``model.resource_loss()`` added to the loss
        (Janik and Nowak, eq. 1). None uses ``model.resource_lambda`` when the
        model has a resource loss (``dagnet``: 1e-3), else 0.
    num_threads : int or None
        Intra-op CPU threads during training (None leaves torch's setting).
    epoch_hook : callable(epoch, loss, accuracy, seconds), optional
        Called after every epoch with its mean training loss and running
        training accuracy (also logged to the ``prunegraph.training`` logger).

    Returns
    -------
    TrainResult
    """
    function = "train"
    if not isinstance(model, nn.Module):
        raise ValidationError(
            f"The 'model' parameter of train must be a torch.nn.Module. Got {type(model).__name__} instead."
        )
    train_data = _check_dataset(train_data, "train_data", function)
    epochs = _positive_int(epochs, "epochs", function)
    batch_size = _positive_int(batch_size, "batch_size", function)
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr) or lr <= 0:
        raise ValidationError(
            f"The 'lr' parameter of train must be a positive float. Got {lr!r} instead."
        )
    if not isinstance(momentum, int | float) or not 0.0 <= momentum < 1.0:
        raise ValidationError(
            f"The 'momentum' parameter of train must be a float in the range [0, 1). Got {momentum!r} instead."
        )
    if not isinstance(weight_decay, int | float) or not weight_decay >= 0.0:
        raise ValidationError(
            f"The 'weight_decay' parameter of train must be a float >= 0. Got {weight_decay!r} instead."
        )
    if optimizer not in OPTIMIZERS:
        raise UnknownNameError("optimizer", str(optimizer), OPTIMIZERS)
    schedule_name = "none" if schedule is None else schedule
    if schedule_name not in SCHEDULES:
        raise UnknownNameError("schedule", str(schedule), SCHEDULES)
    epoch_marks = _check_milestones(milestones, schedule_name, function)
    if augment not in AUGMENTATIONS:
        raise UnknownNameError("augmentation", str(augment), AUGMENTATIONS)
    if amp not in AMP_MODES:
        raise UnknownNameError("amp mode", str(amp), AMP_MODES)
    _check_compile(compile, function)
    target = resolve_device(device)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValidationError(
            f"The 'seed' parameter of train must be an int. Got {seed!r} instead."
        )
    if step_hook is not None and not callable(step_hook):
        raise ValidationError("The 'step_hook' parameter of train must be callable or None.")
    if epoch_hook is not None and not callable(epoch_hook):
        raise ValidationError("The 'epoch_hook' parameter of train must be callable or None.")
    if num_threads is not None:
        num_threads = _positive_int(num_threads, "num_threads", function)
    resource_coef = _resource_term(model, resource_weight)

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValidationError("The model has no trainable parameters.")
    n = len(train_data)  # type: ignore[arg-type]
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch
    pad_value = getattr(train_data, "pad_value", None)
    home = _model_device(model)
    accelerated = target.type != "cpu"

    history: list[float] = []
    step = 0
    started = time.perf_counter()
    fork_devices = [target.index or 0] if target.type == "cuda" else []
    with (
        _execution(target, num_threads),
        torch.random.fork_rng(devices=fork_devices),
        _placed(model, home, target),
    ):
        mask_set = _MaskSet(model, masks, target) if masks is not None else None
        torch.manual_seed(int(seed))
        generator = torch.Generator().manual_seed(int(seed))
        opt: torch.optim.Optimizer
        # CUDA: one fused kernel for the whole update instead of a few per parameter group
        fused = True if target.type == "cuda" else None
        if optimizer == "sgd":
            opt = torch.optim.SGD(
                params, lr=lr, momentum=momentum, weight_decay=weight_decay, fused=fused
            )
        else:
            opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused)
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        if schedule_name == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
        elif schedule_name in ("step", "multistep"):
            if schedule_name == "step":
                marks = sorted({max(1, round(f * epochs)) for f in (0.5, 0.75)})
            else:
                marks = list(epoch_marks)
            scheduler = torch.optim.lr_scheduler.MultiStepLR(
                opt, milestones=[m * steps_per_epoch for m in marks], gamma=0.1
            )
        compile_mode = _compile_mode(compile, target)
        forward = (
            cast(nn.Module, torch.compile(model, mode=compile_mode))
            if compile_mode is not None
            else model
        )
        graphs = compile_mode == "reduce-overhead" and target.type == "cuda"
        sample_shape = tuple(int(v) for v in train_data[0][0].shape)
        augmenter = (
            None if augment == "none" else _Augmenter(augment, sample_shape, pad_value, target)
        )
        if mask_set is not None:
            mask_set.apply()
        model.train()
        for epoch in range(1, epochs + 1):
            epoch_started = time.perf_counter()
            loss_sum = torch.zeros((), dtype=torch.float64, device=target)
            correct = torch.zeros((), dtype=torch.int64, device=target)
            seen = 0
            drawn = augmenter.draw(n, generator) if augmenter is not None else None
            position = 0
            for x, y in _batches(
                train_data, batch_size, shuffle=True, generator=generator, device=target
            ):
                start, position = position, position + x.shape[0]
                if x.shape[0] == 1 and n > 1:
                    continue  # a lone trailing sample would break BatchNorm's batch statistics
                if augmenter is not None and drawn is not None:
                    x = augmenter(x, (drawn[0][:, start:position], drawn[1][start:position]))
                if accelerated and x.ndim == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                opt.zero_grad(set_to_none=True)
                if graphs:
                    # a new step: the previous replay's outputs were consumed (loss, argmax)
                    torch.compiler.cudagraph_mark_step_begin()
                with _autocast(target, amp):
                    out = forward(x)
                    loss = F.cross_entropy(out.float(), y)
                if resource_coef:
                    loss = loss + resource_coef * model.resource_loss()  # type: ignore[operator]
                if not accelerated and not torch.isfinite(loss):
                    raise ValidationError(
                        f"Training diverged (loss {loss.item()}) at step {step + 1}; lower 'lr'."
                    )
                loss.backward()
                if mask_set is not None:
                    mask_set.zero_grads()
                opt.step()
                if scheduler is not None:
                    scheduler.step()
                step += 1
                if mask_set is not None and not mask_set.fused:
                    # accelerators skip this: a pruned entry has zero gradient (zero_grads),
                    # zero weight and zero optimizer state, so SGD and Adam leave it exactly 0
                    mask_set.apply(opt)
                if step_hook is not None:
                    step_hook(model, step)
                    if mask_set is not None:
                        mask_set.refresh(force=True)
                        mask_set.apply(opt)
                loss_sum += loss.detach().double() * x.shape[0]
                correct += (out.detach().argmax(dim=1) == y).sum()
                seen += x.shape[0]
            mean_loss = float(loss_sum) / max(seen, 1)  # one device sync per epoch
            if not math.isfinite(mean_loss):
                raise ValidationError(
                    f"Training diverged (mean loss {mean_loss}) in epoch {epoch}; lower 'lr'."
                )
            history.append(mean_loss)
            accuracy = int(correct) / max(seen, 1)
            seconds = time.perf_counter() - epoch_started
            log.info(
                "epoch %d/%d loss %.4f train_acc %.4f lr %.4g %.1fs (%s)",
                epoch,
                epochs,
                mean_loss,
                accuracy,
                opt.param_groups[0]["lr"],
                seconds,
                target,
            )
            if epoch_hook is not None:
                epoch_hook(epoch, mean_loss, accuracy, seconds)
        train_acc = _accuracy(model, train_data, 256, target, amp)
    seconds = time.perf_counter() - started
    return TrainResult(
        train_loss=history,
        epochs=epochs,
        seconds=seconds,
        final_train_acc=train_acc,
        steps=step,
    )


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def capture_training_log() -> Iterator[list[str]]:
    """Collect the per-epoch lines :func:`train` logs inside the block (e.g. for a run log)."""
    lines: list[str] = []
    handler = _ListHandler(lines)
    previous = log.level
    log.addHandler(handler)
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def _placed(model: nn.Module, home: torch.device, target: torch.device) -> Iterator[None]:
    """Move ``model`` to ``target`` (channels-last on accelerators) and back to ``home``."""
    if target == home and target.type == "cpu":
        yield
        return
    if target.type != "cpu":
        cast(Any, model).to(device=target, memory_format=torch.channels_last)
    else:
        model.to(target)
    try:
        yield
    finally:
        cast(Any, model).to(device=home, memory_format=torch.contiguous_format)


@torch.no_grad()
def _accuracy(
    model: nn.Module,
    data: Dataset,
    batch_size: int,
    device: torch.device | None = None,
    amp: str = "none",
) -> float:
    device = device or torch.device("cpu")
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    total = 0
    try:
        for x, y in _batches(data, batch_size, shuffle=False, generator=None, device=device):
            if device.type != "cpu" and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with _autocast(device, amp):
                out = model(x)
            correct += (out.argmax(dim=1) == y).sum()
            total += int(y.shape[0])
    finally:
        model.train(was_training)
    return int(correct) / total


def evaluate(
    model: nn.Module,
    test_data: Dataset,
    *,
    batch_size: int = 256,
    num_threads: int | None = DEFAULT_THREADS,
    device: str | torch.device = "auto",
    amp: str = "none",
) -> float:
    """Top-1 accuracy of ``model`` on ``test_data`` in eval mode, in ``[0, 1]``.

    Runs on ``device`` (see :func:`resolve_device`; the model returns to the
    device it was on), in bfloat16 autocast when ``amp="bf16"``. The model's
    train/eval mode is restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise ValidationError(
            f"The 'model' parameter of evaluate must be a torch.nn.Module. Got {type(model).__name__} instead."
        )
    test_data = _check_dataset(test_data, "test_data", "evaluate")
    batch_size = _positive_int(batch_size, "batch_size", "evaluate")
    if amp not in AMP_MODES:
        raise UnknownNameError("amp mode", str(amp), AMP_MODES)
    target = resolve_device(device)
    with _execution(target, num_threads), _placed(model, _model_device(model), target):
        return _accuracy(model, test_data, batch_size, target, amp)


def accuracy_drop(acc_dense: float, acc_sparse: float) -> float:
    """Relative accuracy drop ``1 - acc_sparse / acc_dense`` (Cunegatti et al. 2024, section 4.2).

    Negative when the sparse network beats the dense one.

    Parameters
    ----------
    acc_dense : float in (0, 1]
    acc_sparse : float in [0, 1]
    """
    for name, value, low_open in (
        ("acc_dense", acc_dense, True),
        ("acc_sparse", acc_sparse, False),
    ):
        ok = (
            not isinstance(value, bool)
            and isinstance(value, int | float | np.floating)
            and math.isfinite(value)
            and (0.0 < value <= 1.0 if low_open else 0.0 <= value <= 1.0)
        )
        if not ok:
            interval = "(0, 1]" if low_open else "[0, 1]"
            raise ValidationError(
                f"The '{name}' parameter of accuracy_drop must be a float in the range {interval}. "
                f"Got {value!r} instead."
            )
    return 1.0 - float(acc_sparse) / float(acc_dense)
