"""Masks as data: one boolean array per prunable weight, keyed by parameter name.

A mask set is a plain ``dict[str, np.ndarray]`` (``bool``), e.g.
``{"features.0.weight": array([[...]], dtype=bool), ...}``; ``True`` keeps a
weight, ``False`` prunes it. Masks are applied to a model with
:mod:`torch.nn.utils.prune` (``<module>.weight_orig`` and the
``<module>.weight_mask`` buffer) and read back from a model, a checkpoint or an
``.npz`` file.

What is prunable (the project's convention): the ``weight`` of every
convolution (``Conv1d/2d/3d``, transposed too) and every ``Linear`` layer,
first and last layer included. Biases, BatchNorm parameters and any other
parameter (e.g. the DAG network's edge scalars) are never pruned.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from prunegraph.errors import ValidationError

Masks = dict[str, np.ndarray]

PRUNABLE_TYPES: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear)
_FORMAT_KEY = "__prunegraph_masks_version__"
_FORMAT_VERSION = 1

__all__ = [
    "Masks",
    "apply_masks",
    "density_report",
    "load_masks",
    "masks_from_checkpoint",
    "masks_from_model",
    "prunable_modules",
    "prunable_parameters",
    "remove_masks",
    "save_masks",
    "sparsity",
    "validate_masks",
]


def prunable_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Conv and Linear modules of ``model``, keyed by the name of their ``weight`` parameter."""
    found: dict[str, nn.Module] = {}
    for module_name, module in model.named_modules():
        if isinstance(module, PRUNABLE_TYPES) and _weight_of(module) is not None:
            found[f"{module_name}.weight" if module_name else "weight"] = module
    return found


def prunable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """Every prunable weight of ``model``: the ``weight`` of each Conv*/Linear module.

    If a module carries a :mod:`torch.nn.utils.prune` reparametrisation, the
    trainable tensor ``weight_orig`` is returned, still keyed ``<module>.weight``,
    so mask keys do not depend on whether masks are currently applied.

    Returns
    -------
    dict[str, torch.nn.Parameter]
        In module registration order (input to output for the zoo models).
    """
    params: dict[str, nn.Parameter] = {}
    for name, module in prunable_modules(model).items():
        weight = _weight_of(module)
        assert weight is not None
        params[name] = weight
    return params


def _weight_of(module: nn.Module) -> nn.Parameter | None:
    orig = getattr(module, "weight_orig", None)
    if isinstance(orig, nn.Parameter):
        return orig
    weight = getattr(module, "weight", None)
    return weight if isinstance(weight, nn.Parameter) else None


def validate_masks(masks: Mapping[str, Any], model: nn.Module | None = None) -> Masks:
    """Check a mask set (and, with ``model``, that it matches its prunable weights).

    Arrays of 0/1 numbers are converted to ``bool``; anything else raises.

    Raises
    ------
    ValidationError
        Not a mapping, non-binary values, keys or shapes that do not match ``model``.
    """
    if not isinstance(masks, Mapping):
        raise ValidationError(
            f"Masks must be a dict of boolean arrays. Got {type(masks).__name__}."
        )
    checked: Masks = {}
    for name, value in masks.items():
        array = (
            value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        )
        if array.dtype != np.bool_:
            if array.dtype.kind not in "biuf" or not np.isin(array, (0, 1)).all():
                raise ValidationError(
                    f"The mask '{name}' must be boolean (or 0/1). Got dtype {array.dtype}."
                )
            array = array.astype(bool)
        checked[str(name)] = array
    if model is not None:
        params = prunable_parameters(model)
        unknown = sorted(set(checked) - set(params))
        if unknown:
            raise ValidationError(
                f"Masks name weights the model does not have as prunable parameters: {unknown}. "
                f"Prunable: {sorted(params)}."
            )
        for name, array in checked.items():
            expected = tuple(params[name].shape)
            if array.shape != expected:
                raise ValidationError(
                    f"The mask '{name}' has shape {array.shape}; the weight has shape {expected}."
                )
    return checked


def save_masks(path: str | os.PathLike[str], masks: Mapping[str, np.ndarray]) -> Path:
    """Write masks to a compressed ``.npz`` (one bool array per weight name)."""
    checked = validate_masks(masks)
    if _FORMAT_KEY in checked:
        raise ValidationError(f"'{_FORMAT_KEY}' is reserved and cannot name a mask.")
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {_FORMAT_KEY: np.array(_FORMAT_VERSION), **checked}
    np.savez_compressed(path, **arrays)
    return path


def load_masks(path: str | os.PathLike[str], model: nn.Module | None = None) -> Masks:
    """Read masks written by :func:`save_masks` (validated; against ``model`` if given).

    Raises
    ------
    ValidationError
        Missing or unreadable file, no masks in it, non-boolean arrays, or a
        mismatch with ``model``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"Mask file '{path}' does not exist.")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as exc:  # zipfile/pickle/format errors all mean "not a mask file"
        raise ValidationError(f"Cannot read masks from '{path}': {exc}") from exc
    version = arrays.pop(_FORMAT_KEY, None)
    if version is not None and int(version) > _FORMAT_VERSION:
        raise ValidationError(
            f"Mask file '{path}' has format version {int(version)}; this prunegraph reads up to {_FORMAT_VERSION}."
        )
    if not arrays:
        raise ValidationError(f"Mask file '{path}' contains no masks.")
    return validate_masks(arrays, model)


def apply_masks(model: nn.Module, masks: Mapping[str, np.ndarray]) -> nn.Module:
    """Attach ``masks`` to ``model`` with :func:`torch.nn.utils.prune.custom_from_mask`.

    A module that already carries a mask gets its ``weight_mask`` buffer
    replaced (not combined), so applying twice is idempotent. Weights not named
    in ``masks`` stay dense. Returns ``model`` (modified in place).
    """
    checked = validate_masks(masks, model)
    modules = prunable_modules(model)
    for name, mask in checked.items():
        module = modules[name]
        weight = _weight_of(module)
        assert weight is not None
        tensor = torch.as_tensor(mask, device=weight.device).to(weight.dtype)
        buffer = getattr(module, "weight_mask", None)
        if isinstance(buffer, torch.Tensor):
            with torch.no_grad():
                buffer.copy_(tensor)
            # the pre-forward hook recomputes it too; keep the attribute current meanwhile
            setattr(module, "weight", weight * buffer)  # noqa: B010
        else:
            torch_prune.custom_from_mask(module, "weight", tensor)
    return model


def remove_masks(model: nn.Module) -> nn.Module:
    """Make applied masks permanent (masked weights become exact zeros) and drop the hooks."""
    for module in prunable_modules(model).values():
        if torch_prune.is_pruned(module) and hasattr(module, "weight_mask"):
            torch_prune.remove(module, "weight")
    return model


def masks_from_model(model: nn.Module) -> Masks:
    """Masks of every prunable weight: the ``weight_mask`` buffer if present, else ``weight != 0``."""
    masks: Masks = {}
    for name, module in prunable_modules(model).items():
        buffer = getattr(module, "weight_mask", None)
        if isinstance(buffer, torch.Tensor):
            masks[name] = buffer.detach().cpu().numpy() != 0
        else:
            weight = _weight_of(module)
            assert weight is not None
            masks[name] = weight.detach().cpu().numpy() != 0
    if not masks:
        raise ValidationError(f"{type(model).__name__} has no prunable (Conv/Linear) weights.")
    return masks


def masks_from_checkpoint(
    state_dict_or_path: Mapping[str, Any] | str | os.PathLike[str], model: nn.Module
) -> Masks:
    """Masks from a checkpoint: ``<m>.weight_mask`` buffers, else exact zeros of the weights.

    Accepts a ``state_dict`` (or a path to one saved with :func:`torch.save`,
    possibly wrapped as ``{"state_dict": ...}``), from a model with or without
    :mod:`torch.nn.utils.prune` reparametrisation. A leading ``module.``
    (DataParallel) is stripped.

    Raises
    ------
    ValidationError
        Unreadable file, keys that do not belong to ``model`` (all listed),
        prunable weights missing from the checkpoint, or wrong shapes.
    """
    state = _read_state_dict(state_dict_or_path)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    params = prunable_parameters(model)
    model_keys = set(model.state_dict().keys())
    # A checkpoint of a reparametrised model names weights '<m>.weight_orig' + '<m>.weight_mask'.
    normalised = {_strip_prune_suffix(k) for k in state}
    known = {_strip_prune_suffix(k) for k in model_keys}
    unknown = sorted(k for k in state if _strip_prune_suffix(k) not in known)
    missing = sorted(name for name in params if name not in normalised)
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"keys not in the model: {unknown}")
        if missing:
            parts.append(f"prunable weights missing from the checkpoint: {missing}")
        raise ValidationError(
            f"The checkpoint does not match {type(model).__name__}: " + "; ".join(parts) + "."
        )
    masks: Masks = {}
    for name, param in params.items():
        if f"{name}_mask" in state:
            source = state[f"{name}_mask"]
        elif name in state:
            source = state[name]
        else:
            source = state[f"{name}_orig"]
        array = _to_numpy(source)
        if array.shape != tuple(param.shape):
            raise ValidationError(
                f"The checkpoint's '{name}' has shape {array.shape}; the model's weight has shape "
                f"{tuple(param.shape)}."
            )
        masks[name] = array != 0
    return masks


def _strip_prune_suffix(key: str) -> str:
    for suffix in ("_orig", "_mask"):
        if key.endswith(f".weight{suffix}"):
            return key[: -len(suffix)]
    return key


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _read_state_dict(source: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ValidationError(f"Checkpoint '{path}' does not exist.")
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValidationError(f"Cannot read checkpoint '{path}': {exc}") from exc
    else:
        loaded = source
    if (
        isinstance(loaded, Mapping)
        and "state_dict" in loaded
        and isinstance(loaded["state_dict"], Mapping)
    ):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not all(isinstance(k, str) for k in loaded):
        raise ValidationError("A checkpoint must be a state_dict: a mapping of names to tensors.")
    return dict(loaded)


def density_report(masks: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Per-layer density table.

    Returns
    -------
    pandas.DataFrame
        Columns ``layer, shape, n_weights, n_unmasked, density`` with
        ``density = n_unmasked / n_weights``, one row per mask in order.
    """
    checked = validate_masks(masks)
    rows = [
        {
            "layer": name,
            "shape": tuple(int(s) for s in mask.shape),
            "n_weights": int(mask.size),
            "n_unmasked": int(np.count_nonzero(mask)),
            "density": float(np.count_nonzero(mask) / mask.size) if mask.size else float("nan"),
        }
        for name, mask in checked.items()
    ]
    return pd.DataFrame(rows, columns=["layer", "shape", "n_weights", "n_unmasked", "density"])


def sparsity(masks: Mapping[str, np.ndarray]) -> float:
    """Global sparsity ``1 - sum(unmasked) / sum(weights)`` over all masks."""
    checked = validate_masks(masks)
    total = sum(int(m.size) for m in checked.values())
    if total == 0:
        raise ValidationError("Cannot compute the sparsity of an empty mask set.")
    kept = sum(int(np.count_nonzero(m)) for m in checked.values())
    return 1.0 - kept / total
