"""Trace a PyTorch model with ``torch.fx`` and record every node's concrete output.

The encoders never look at module names: they walk the traced graph and read
each node's output shape (and every non-tensor value, such as the ``x.size(0)``
that a ``view`` uses) from one forward pass on a dummy batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.fx as fx
from torch import nn

from prunegraph.errors import EncodingError

#: Batch size of the dummy forward pass: 2 so that an op mixing the batch dimension is visible.
TRACE_BATCH = 2


@dataclass(frozen=True)
class TensorMeta:
    """Shape (batch included) and dtype of one traced tensor."""

    shape: tuple[int, ...]
    dtype: torch.dtype


@dataclass
class TracedModel:
    """A traced model plus the concrete output of each node on a dummy batch."""

    module: fx.GraphModule
    input_shape: tuple[int, ...]
    outputs: dict[fx.Node, Any]
    batch: int = TRACE_BATCH

    @property
    def graph(self) -> fx.Graph:
        return self.module.graph


def validate_input_shape(input_shape: Any, caller: str = "encode") -> tuple[int, ...]:
    """Return ``input_shape`` as a tuple of 1 to 3 positive ints, or raise."""
    if isinstance(input_shape, int | np.integer) and not isinstance(input_shape, bool):
        input_shape = (int(input_shape),)
    ok = (
        isinstance(input_shape, Sequence | torch.Size | np.ndarray)
        and not isinstance(input_shape, str)
        and 1 <= len(input_shape) <= 3
        and all(
            isinstance(s, int | np.integer) and not isinstance(s, bool) and s > 0
            for s in input_shape
        )
    )
    if not ok:
        raise EncodingError(
            f"The 'input_shape' parameter of {caller} must be a tuple of 1 to 3 positive ints "
            f"((C, H, W) for images, (F,) for vectors), without the batch dimension. "
            f"Got {input_shape!r} instead."
        )
    return tuple(int(s) for s in input_shape)


def _meta(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return TensorMeta(tuple(value.shape), value.dtype)
    if isinstance(value, tuple | list):
        return type(value)(_meta(v) for v in value)
    return value


class _Recorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.outputs: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        try:
            out = super().run_node(n)
        except EncodingError:
            raise
        except Exception as exc:
            raise EncodingError(
                f"The model fails on a dummy input of shape {self._shape} at traced node "
                f"'{n.name}' ({n.op} {_target_name(n)}): {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}. Check 'input_shape'."
            ) from None
        self.outputs[n] = _meta(out)
        return out

    _shape: tuple[int, ...] = ()


def _target_name(node: fx.Node) -> str:
    target = node.target
    if isinstance(target, str):
        return target
    return getattr(target, "__name__", None) or str(target)


def target_name(node: fx.Node) -> str:
    """Readable name of a node's target (function, method or module path)."""
    return _target_name(node)


def trace_model(model: nn.Module, input_shape: Sequence[int]) -> TracedModel:
    """Symbolically trace ``model`` and run it once on a dummy batch of ``input_shape``.

    Raises
    ------
    EncodingError
        If the model is not an ``nn.Module``, cannot be traced by ``torch.fx``
        (data-dependent control flow, unsupported Python), has more than one
        tensor input, or fails on the given input shape.
    """
    if not isinstance(model, nn.Module):
        raise EncodingError(
            f"The 'model' parameter of encode must be a torch.nn.Module. Got {type(model).__name__}."
        )
    shape = validate_input_shape(input_shape)
    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:
        raise EncodingError(
            f"Model {type(model).__name__} cannot be traced with torch.fx "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
            "Data-dependent control flow and other untraceable Python cannot be encoded; "
            "rewrite the forward without it."
        ) from None
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise EncodingError(
            f"Model {type(model).__name__} takes {len(placeholders)} inputs "
            f"({', '.join(n.name for n in placeholders)}); encode supports exactly one tensor input."
        )
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    device = param.device if param is not None else torch.device("cpu")
    dummy = torch.randn((TRACE_BATCH, *shape), dtype=dtype, device=device)
    recorder = _Recorder(gm)
    recorder._shape = shape
    was_training = model.training
    threads = torch.get_num_threads()
    model.eval()
    # one thread: a batch-2 forward gains nothing from more and suffers on a busy machine
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            recorder.run(dummy)
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    return TracedModel(module=gm, input_shape=shape, outputs=recorder.outputs)
