"""A small deterministic CPU training loop that keeps masked weights at exactly zero.

:func:`train` runs mini-batch SGD (with momentum) or Adam under a ``none``,
``cosine`` or ``step`` learning-rate schedule. When ``masks`` are given
(``dict[str, bool array]`` keyed by parameter name, see
:mod:`prunegraph.loader.masks`), each step

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

Determinism: a seeded ``torch.Generator`` shuffles batches, the global torch
RNG is forked and seeded (dropout etc.), deterministic algorithms are
requested, and the number of intra-op threads is capped (default 1) for the
duration of the call.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from prunegraph.errors import UnknownNameError, ValidationError
from prunegraph.loader.data import ArrayDataset, DatasetSplit

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "TrainResult",
    "TrainingSettings",
    "accuracy_drop",
    "evaluate",
    "train",
]

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("cosine", "none", "step")
DEFAULT_THREADS = 1

StepHook = Callable[[nn.Module, int], None]


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
    schedule : {"cosine", "step", "none"}
        Learning-rate schedule over all steps.
    """

    epochs: int = 1
    lr: float = 0.05
    batch_size: int = 64
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"

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
    data: Dataset, batch_size: int, *, shuffle: bool, generator: torch.Generator | None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` batches; in-memory datasets are sliced without a DataLoader."""
    if isinstance(data, ArrayDataset):
        n = len(data)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            yield data.x[index], data.y[index]
        return
    loader = DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)
    for x, y in loader:
        yield torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y).long().reshape(-1)


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

    def __init__(self, model: nn.Module, masks: dict[str, np.ndarray]) -> None:
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

    def refresh(self) -> None:
        for name, target in self.targets.items():
            array = self.masks.get(name)
            if array is None:
                raise ValidationError(f"Mask '{name}' was removed from the masks during training.")
            if array is self._source.get(name):
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
            # from_numpy shares memory, so in-place edits of the mask arrays are seen.
            self._keep[name] = torch.from_numpy(np.ascontiguousarray(array))

    def zero_grads(self) -> None:
        for name, target in self.targets.items():
            if target.grad is not None:
                target.grad.masked_fill_(~self._keep[name], 0.0)

    @torch.no_grad()
    def apply(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        for name, target in self.targets.items():
            pruned = ~self._keep[name]
            target.masked_fill_(pruned, 0.0)
            if optimizer is not None:
                for value in optimizer.state.get(target, {}).values():
                    if isinstance(value, torch.Tensor) and value.shape == target.shape:
                        value.masked_fill_(pruned, 0.0)


def _resource_term(model: nn.Module, resource_weight: float | None) -> float:
    """Coefficient of ``model.resource_loss()`` (seed 003's L1 edge loss), 0 if none."""
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
    masks: dict[str, np.ndarray] | None = None,
    step_hook: StepHook | None = None,
    seed: int = 0,
    resource_weight: float | None = None,
    num_threads: int | None = DEFAULT_THREADS,
) -> TrainResult:
    """Train ``model`` in place on CPU with cross-entropy, keeping masked weights at zero.

    Parameters
    ----------
    model : torch.nn.Module
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
    schedule : {"cosine", "step", "none"} or None
        ``cosine``: ``eta_t = eta_0 (1 + cos(pi t / T)) / 2`` per step over
        ``T`` total steps; ``step``: ``eta_0 / 10`` after 50 % and again after
        75 % of the epochs (the 80/120-of-160 recipe of seed 001, A.3);
        ``none``/None: constant.
    batch_size : int >= 1
    masks : dict of str -> bool array, optional
        ``True`` keeps a weight. Masked weights are zero on return.
    step_hook : callable(model, step), optional
        Called after each optimizer step with the 1-based step count; it may
        edit ``masks`` (in place or by replacing entries).
    seed : int
        Seeds batch order and any randomness in the forward pass.
    resource_weight : float, optional
        Coefficient ``lambda`` of ``model.resource_loss()`` added to the loss
        (seed 003, eq. 1). None uses ``model.resource_lambda`` when the model
        has a resource loss (``dagnet``: 1e-3), else 0.
    num_threads : int or None
        Intra-op threads during training (None leaves torch's setting).

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
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValidationError(
            f"The 'seed' parameter of train must be an int. Got {seed!r} instead."
        )
    if step_hook is not None and not callable(step_hook):
        raise ValidationError("The 'step_hook' parameter of train must be callable or None.")
    if num_threads is not None:
        num_threads = _positive_int(num_threads, "num_threads", function)
    resource_coef = _resource_term(model, resource_weight)
    mask_set = _MaskSet(model, masks) if masks is not None else None

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValidationError("The model has no trainable parameters.")
    n = len(train_data)  # type: ignore[arg-type]
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch

    history: list[float] = []
    step = 0
    started = time.perf_counter()
    with _deterministic_cpu(num_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        generator = torch.Generator().manual_seed(int(seed))
        opt: torch.optim.Optimizer
        if optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
        else:
            opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        if schedule_name == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
        elif schedule_name == "step":
            milestones = sorted({max(1, round(f * epochs)) * steps_per_epoch for f in (0.5, 0.75)})
            scheduler = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
        if mask_set is not None:
            mask_set.apply()
        model.train()
        for _ in range(epochs):
            loss_sum, seen = 0.0, 0
            for x, y in _batches(train_data, batch_size, shuffle=True, generator=generator):
                if x.shape[0] == 1 and n > 1:
                    continue  # a lone trailing sample would break BatchNorm's batch statistics
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x), y)
                if resource_coef:
                    loss = loss + resource_coef * model.resource_loss()  # type: ignore[operator]
                if not torch.isfinite(loss):
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
                if mask_set is not None:
                    mask_set.apply(opt)
                if step_hook is not None:
                    step_hook(model, step)
                    if mask_set is not None:
                        mask_set.refresh()
                        mask_set.apply(opt)
                loss_sum += float(loss.detach()) * x.shape[0]
                seen += x.shape[0]
            history.append(loss_sum / max(seen, 1))
        train_acc = _accuracy(model, train_data, 256)
    seconds = time.perf_counter() - started
    return TrainResult(
        train_loss=history,
        epochs=epochs,
        seconds=seconds,
        final_train_acc=train_acc,
        steps=step,
    )


@torch.no_grad()
def _accuracy(model: nn.Module, data: Dataset, batch_size: int) -> float:
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        for x, y in _batches(data, batch_size, shuffle=False, generator=None):
            correct += int((model(x).argmax(dim=1) == y).sum())
            total += int(y.shape[0])
    finally:
        model.train(was_training)
    return correct / total


def evaluate(
    model: nn.Module,
    test_data: Dataset,
    *,
    batch_size: int = 256,
    num_threads: int | None = DEFAULT_THREADS,
) -> float:
    """Top-1 accuracy of ``model`` on ``test_data`` in eval mode, in ``[0, 1]``.

    The model's train/eval mode is restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise ValidationError(
            f"The 'model' parameter of evaluate must be a torch.nn.Module. Got {type(model).__name__} instead."
        )
    test_data = _check_dataset(test_data, "test_data", "evaluate")
    batch_size = _positive_int(batch_size, "batch_size", "evaluate")
    with _deterministic_cpu(num_threads):
        return _accuracy(model, test_data, batch_size)


def accuracy_drop(acc_dense: float, acc_sparse: float) -> float:
    """Relative accuracy drop ``1 - acc_sparse / acc_dense`` (seed 001, section 4.2).

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
