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

import difflib
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
    "DENSE",
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


DENSE = "dense"
"""The explicit value of a mask entry (or of ``missing=``) that keeps a whole weight dense."""

_MISSING_CHOICES = ("error", DENSE)


def validate_masks(
    masks: Mapping[str, Any],
    model: nn.Module | None = None,
    *,
    missing: str = "error",
) -> Masks:
    """Check a mask set; with ``model``, check that it covers exactly its prunable weights.

    One validation for every path that reads masks (Python ``encode``,
    ``apply_masks``, the ``encode`` CLI, ``study import``), so a mask means one
    thing everywhere:

    * a value is a boolean array, or a numeric array whose entries are all
      exactly 0 or 1 (converted to ``bool``); a fraction such as 0.5, NaN or
      inf is refused, never rounded;
    * the string ``"dense"`` keeps that weight dense (needs ``model`` for the
      shape);
    * with ``model``: a key that is not a prunable (Conv/Linear) weight is
      named, with a did-you-mean; ``"<module>.weight_orig"`` keys are read as
      ``"<module>.weight"``; every prunable weight needs an entry unless
      ``missing="dense"``, which keeps unnamed weights dense on purpose.

    Parameters
    ----------
    masks : mapping of str to array-like or "dense"
        One mask per prunable weight, keyed by parameter name.
    model : torch.nn.Module, optional
        The model the masks belong to; without it only the values are checked.
    missing : {"error", "dense"}
        What a prunable weight without an entry means: an error (default) or
        an explicitly dense weight.

    Returns
    -------
    dict of str to numpy.ndarray
        One ``bool`` array per given key, in the given order, keyed by the
        canonical weight name; a ``"dense"`` entry becomes an all-``True``
        array. With ``missing="dense"`` unnamed weights get no entry.

    Raises
    ------
    ValidationError
        Not a mapping, non-binary values, unknown or non-prunable keys,
        missing keys, or shapes that do not match ``model``.
    """
    weights = None
    others: set[str] = set()
    if model is not None:
        weights = {n: tuple(p.shape) for n, p in prunable_parameters(model).items()}
        others = {canonical_key(n) for n, _ in model.named_parameters()} - set(weights)
    owner = type(model).__name__ if model is not None else "the model"
    return check_mask_set(masks, weights, missing=missing, owner=owner, non_prunable=others)


def canonical_key(key: str) -> str:
    """``<name>_orig`` (a ``torch.nn.utils.prune`` reparametrisation) reads as ``<name>``."""
    return key[: -len("_orig")] if key.endswith("_orig") else key


def check_mask_set(
    masks: Mapping[str, Any],
    weights: Mapping[str, tuple[int, ...]] | None,
    *,
    missing: str = "error",
    owner: str = "the model",
    non_prunable: set[str] | frozenset[str] = frozenset(),
) -> Masks:
    """:func:`validate_masks` against an explicit ``{weight name: shape}`` table.

    The encoder uses it with every parameter of a model (functional layers may
    use any parameter as a weight) and checks coverage after tracing; see
    :func:`validate_masks` for the rules. ``non_prunable`` names parameters
    that exist but are never pruned (biases, normalisation), for the message.
    """
    if not isinstance(masks, Mapping):
        raise ValidationError(
            f"Masks must be a dict of boolean arrays. Got {type(masks).__name__}."
        )
    if missing not in _MISSING_CHOICES:
        raise ValidationError(
            f"missing must be one of {', '.join(_MISSING_CHOICES)}. Got {missing!r}."
        )
    checked: Masks = {}
    for key, value in masks.items():
        name = canonical_key(str(key)) if weights is not None else str(key)
        if weights is not None and name not in weights:
            if name in non_prunable:
                raise ValidationError(
                    f"Mask given for '{key}', which is not the weight of a Conv/Linear layer of "
                    f"{owner} (biases and normalisation parameters are never pruned and create "
                    "no edges)."
                )
            close = difflib.get_close_matches(name, sorted(weights), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ValidationError(
                f"Mask given for unknown parameter '{key}' of {owner}.{hint} "
                f"Prunable weights: {', '.join(weights)}."
            )
        if isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype.kind == "U"):
            if str(value) != DENSE:
                raise ValidationError(
                    f"Mask for '{key}' is the string {str(value)!r}; the only string a mask "
                    f"may be is '{DENSE}' (keep the whole weight)."
                )
            if weights is None:
                raise ValidationError(
                    f"Mask for '{key}' is '{DENSE}', which needs the model to know its shape."
                )
            checked[name] = np.ones(weights[name], dtype=bool)
            continue
        array = _binary_array(str(key), value)
        if weights is not None and array.shape != weights[name]:
            raise ValidationError(
                f"Mask for '{key}' has shape {array.shape}, but the weight has shape "
                f"{weights[name]}."
            )
        checked[name] = array
    if weights is not None and missing == "error":
        absent = [name for name in weights if name not in checked]
        if absent:
            raise missing_masks_error(absent, owner)
    return checked


def missing_masks_error(absent: list[str], owner: str) -> ValidationError:
    """The one message for prunable weights a mask set leaves out."""
    plural = len(absent) > 1
    return ValidationError(
        f"Masks have no entry for the prunable weight{'s' if plural else ''} "
        f"{', '.join(repr(a) for a in absent)} of {owner}; give {'each' if plural else 'it'} "
        f"a mask, or '{DENSE}' to keep it dense on purpose."
    )


def _binary_array(key: str, value: Any) -> np.ndarray:
    """``value`` as a ``bool`` array; entries must be booleans or exactly 0/1."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"Mask for '{key}' must be a boolean (or 0/1) array; cannot read "
            f"{type(value).__name__} as one: {exc}"
        ) from None
    if array.dtype == np.bool_:
        return array
    if array.dtype.kind not in "biuf":
        raise ValidationError(
            f"Mask for '{key}' must be a boolean (or 0/1) array; got dtype {array.dtype} "
            "(a mask must be boolean: True keeps a weight)."
        )
    bad = ~((array == 0) | (array == 1))
    if bad.any():
        example = array[bad].flat[0].item()
        raise ValidationError(
            f"Mask for '{key}' must be a boolean (or 0/1) array; got dtype {array.dtype} with "
            f"{int(bad.sum())} entries that are neither 0 nor 1 (e.g. {example!r}); a mask "
            "must be boolean, never a fraction or NaN."
        )
    return array.astype(bool)


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


def load_masks(
    path: str | os.PathLike[str], model: nn.Module | None = None, *, missing: str = "error"
) -> Masks:
    """Read masks written by :func:`save_masks` (validated; against ``model`` if given).

    Validation is :func:`validate_masks`'s: 0/1 or boolean values, an entry
    per prunable weight of ``model`` (the string ``"dense"`` keeps one dense;
    ``missing="dense"`` keeps every unnamed one dense), no unknown keys.

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
    return validate_masks(arrays, model, missing=missing)


def apply_masks(model: nn.Module, masks: Mapping[str, Any], *, missing: str = "error") -> nn.Module:
    """Attach ``masks`` to ``model`` with :func:`torch.nn.utils.prune.custom_from_mask`.

    ``masks`` is validated by :func:`validate_masks`: every prunable weight
    needs an entry (a mask, or ``"dense"``) unless ``missing="dense"``, in
    which case weights not named are left as they are. A module that already
    carries a mask gets its ``weight_mask`` buffer replaced (not combined), so
    applying twice is idempotent. Returns ``model`` (modified in place).
    """
    checked = validate_masks(masks, model, missing=missing)
    named = {canonical_key(str(k)) for k in masks}
    modules = prunable_modules(model)
    for name, mask in checked.items():
        if name not in named:
            continue
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
