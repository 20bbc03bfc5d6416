"""Trace a PyTorch model with ``torch.fx`` and record every node's concrete output.

The encoders never look at module names: they walk the traced graph and read
each node's output shape (and every non-tensor value, such as the ``x.size(0)``
that a ``view`` uses) from one forward pass on a dummy batch. Both are cached per
architecture fingerprint (:func:`trace_model`, :func:`clear_trace_cache`).
"""

from __future__ import annotations

import dis
import enum
import operator
import os
import sys
import threading
import traceback
import types
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    """A traced model plus the concrete output of each node on a dummy batch.

    ``graph`` is the (alias-resolved) ``torch.fx`` graph; its ``call_module`` and
    ``get_attr`` targets are paths into ``root``, the model being encoded (a graph
    reused from the trace cache was traced from another instance of the same
    architecture, see :func:`trace_model`).
    """

    graph: fx.Graph
    root: nn.Module
    input_shape: tuple[int, ...]
    outputs: dict[fx.Node, Any]
    batch: int = TRACE_BATCH
    #: value of every tensor that does not depend on the input (parameter, buffer, constant)
    constants: dict[fx.Node, torch.Tensor] = field(default_factory=dict)
    #: True when the graph and shapes came from the trace cache (no trace, no forward pass)
    cached: bool = False


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
        self.extra_traceback = False  # our messages stay one line
        self.outputs: dict[fx.Node, Any] = {}
        self.constants: dict[fx.Node, torch.Tensor] = {}
        self.dependent: set[fx.Node] = set()

    def run_node(self, n: fx.Node) -> Any:
        try:
            out = super().run_node(n)
        except EncodingError:
            raise
        except Exception as exc:
            shapes = [
                tuple(meta.shape)
                for a in n.all_input_nodes
                if isinstance(meta := self.outputs.get(a), TensorMeta)
            ]
            where = (
                f" on input shape{'s' if len(shapes) > 1 else ''} "
                + ", ".join(str(s) for s in shapes)
                if shapes
                else ""
            )
            raise EncodingError(
                f"The model fails on a dummy input of shape {self._shape} at traced node "
                f"'{n.name}' ({n.op} {_target_name(n)}{where}): {type(exc).__name__}: "
                f"{_first_line(exc)}. Check 'input_shape'."
            ) from exc
        self.outputs[n] = _meta(out)
        if n.op == "placeholder" or any(a in self.dependent for a in n.all_input_nodes):
            self.dependent.add(n)
        elif isinstance(out, torch.Tensor):  # parameters, buffers and what is computed from them
            self.constants[n] = out.detach()
        return out

    _shape: tuple[int, ...] = ()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _user_frame(exc: BaseException) -> str:
    """``file:line`` of the innermost traceback frame outside torch (the model's own code)."""
    frames = traceback.extract_tb(exc.__traceback__)
    torch_dir = os.path.dirname(torch.__file__)
    for frame in reversed(frames):
        if not frame.filename.startswith(torch_dir) and frame.filename != __file__:
            return f" at {os.path.basename(frame.filename)}:{frame.lineno}"
    return ""


def _target_name(node: fx.Node) -> str:
    target = node.target
    if isinstance(target, str):
        return target
    return getattr(target, "__name__", None) or str(target)


def target_name(node: fx.Node) -> str:
    """Readable name of a node's target (function, method or module path)."""
    return _target_name(node)


# ops whose result is (or may be) a view sharing storage with their first operand
_VIEW_FUNCTIONS = {
    operator.getitem, torch.flatten, torch.reshape, torch.permute, torch.transpose,
    torch.squeeze, torch.unsqueeze, torch.narrow, torch.movedim, torch.t, torch.split,
    torch.chunk, torch.unbind, torch.select, torch.swapaxes, torch.swapdims,
}  # fmt: skip
_VIEW_METHODS = {
    "view", "view_as", "reshape", "reshape_as", "flatten", "permute", "transpose", "squeeze",
    "unsqueeze", "narrow", "movedim", "t", "unflatten", "expand", "expand_as", "split",
    "chunk", "unbind", "select", "swapaxes", "swapdims", "as_strided", "detach", "contiguous",
}  # fmt: skip
# in-place ops that leave the encoding unchanged (elementwise, unit to same unit)
_NEUTRAL_INPLACE_METHODS = {
    "relu_", "sigmoid_", "tanh_", "clamp_", "clamp_min_", "clamp_max_", "clip_",
    "hardtanh_", "leaky_relu_", "elu_", "celu_", "selu_", "silu_", "mish_", "hardswish_",
    "hardsigmoid_", "requires_grad_",
}  # fmt: skip
_INPLACE_OPERATORS = {
    operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv,
    operator.imod, operator.ipow, operator.imatmul, operator.iand, operator.ior,
    operator.ixor, operator.ilshift, operator.irshift,
}  # fmt: skip


_AUGMENTED = {
    operator.add: "+=", operator.sub: "-=", operator.mul: "*=", operator.truediv: "/=",
    operator.floordiv: "//=", operator.mod: "%=", operator.pow: "**=", operator.matmul: "@=",
    operator.and_: "&=", operator.or_: "|=", operator.xor: "^=",
}  # fmt: skip


_BINARY_OP = dis.opmap.get("BINARY_OP")
_INPLACE_NB = {
    k for k, (name, _) in enumerate(getattr(dis, "_nb_ops", ())) if name.startswith("NB_INPLACE")
}
_TORCH_DIR = os.path.dirname(torch.__file__)


def _executing_augmented_assignment(frame: Any) -> bool:
    """Is ``frame`` executing an in-place binary op (``+=``, ``*=``, ...) right now?"""
    code, i = frame.f_code.co_code, frame.f_lasti
    if not 0 <= i < len(code) - 1:
        return False
    op = code[i]
    if _BINARY_OP is not None and op == _BINARY_OP:
        return code[i + 1] in _INPLACE_NB
    return dis.opname[op].startswith("INPLACE_")  # Python < 3.11


class _Tracer(fx.Tracer):
    """``torch.fx`` tracer that marks nodes traced from an augmented assignment.

    A proxy has no ``__iadd__``: ``out += y`` is traced as ``add(out, y)`` and the
    Python name is rebound, losing the fact that, run eagerly, the tensor ``out``
    named (and every alias of it) is updated in place. The instruction the model's
    frame is executing when the node is created tells the two apart.
    """

    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
        node = super().create_node(kind, target, args, kwargs, name, type_expr)
        if kind == "call_function" and target in _AUGMENTED:
            frame: Any = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename.startswith(_TORCH_DIR):
                frame = frame.f_back
            if frame is not None and _executing_augmented_assignment(frame):
                node.meta["prunegraph_inplace"] = True
        return node


def _inplace_kind(gm: fx.GraphModule, node: fx.Node) -> str | None:
    """``"neutral"`` / ``"structural"`` for an op that mutates its first operand, else None."""
    if node.meta.get("prunegraph_inplace"):
        return "structural"
    if node.op == "call_module":
        mod = gm.get_submodule(str(node.target))
        return "neutral" if getattr(mod, "inplace", False) is True else None
    if node.op == "call_method":
        name = str(node.target)
        if not name.endswith("_") or name.startswith("_"):
            return None
        return "neutral" if name in _NEUTRAL_INPLACE_METHODS else "structural"
    if node.op == "call_function":
        if node.target in _INPLACE_OPERATORS or node.target is operator.setitem:
            return "structural"
        name = getattr(node.target, "__name__", "")
        if node.kwargs.get("inplace") is True or (name.endswith("_") and not name.startswith("_")):
            return "neutral"
        if name in (
            "relu",
            "relu6",
            "selu",
            "celu",
            "silu",
            "mish",
            "hardswish",
            "hardsigmoid",
        ) and (len(node.args) > 1 and node.args[1] is True):
            return "neutral"
    return None


def _is_view(node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target in _VIEW_FUNCTIONS
    return node.op == "call_method" and node.target in _VIEW_METHODS


def resolve_inplace_aliases(gm: fx.GraphModule, model_name: str = "model") -> int:
    """Make in-place updates visible in the traced graph; return how many uses were rewritten.

    ``torch.fx`` records ``out += y`` as a node ``iadd(out, y)``, but a Python alias
    taken before (``identity = out``) still names the *old* node, although at run
    time it is the mutated tensor. Every use of the mutated node after the in-place
    node is redirected to the in-place node (whose result is the mutated tensor).
    A structural in-place update (add, mul, setitem, ...) of a *view*, or of a
    tensor that a view taken earlier still reads afterwards, cannot be expressed
    this way and raises :class:`EncodingError`; elementwise in-place activations
    (``ReLU(inplace=True)``) never change the encoding and are only redirected.
    """
    nodes = list(gm.graph.nodes)
    order = {n: k for k, n in enumerate(nodes)}
    rewritten = 0
    for n in nodes:
        kind = _inplace_kind(gm, n)
        if kind is None or not n.args or not isinstance(n.args[0], fx.Node):
            continue
        target = n.args[0]
        if target.op == "get_attr":
            continue  # mutating a parameter or buffer is not an activation update
        if kind == "structural":
            aliases: set[fx.Node] = set()
            base = target
            while _is_view(base) and isinstance(base.args[0], fx.Node):
                base = base.args[0]
            stack = [base]
            while stack:  # the base and every view taken from it, transitively
                a = stack.pop()
                if a in aliases:
                    continue
                aliases.add(a)
                stack.extend(u for u in a.users if _is_view(u))
            for a in aliases - {target}:
                later = [u for u in a.users if order[u] > order[n] and u is not n]
                if later:
                    raise EncodingError(
                        f"Cannot encode {model_name}: in-place op '{_target_name(n)}'"
                        f"{' (' + _AUGMENTED[n.target] + ')' if n.meta.get('prunegraph_inplace') else ''} at traced "
                        f"node '{n.name}' updates '{target.name}', which shares memory with "
                        f"'{a.name}', and '{later[0].name}' reads '{a.name}' afterwards; "
                        "use an out-of-place op (out = out + y)."
                    )
            if n.target is operator.setitem:
                if any(order[u] > order[n] for u in target.users):
                    raise EncodingError(
                        f"Cannot encode {model_name}: item assignment at traced node '{n.name}' "
                        f"updates '{target.name}' in place, which is read afterwards; build the "
                        "tensor with torch.cat or F.pad instead."
                    )
                continue
        for user in list(target.users):
            if user is not n and order[user] > order[n]:
                user.replace_input_with(target, n)
                rewritten += 1
    if rewritten:
        gm.graph.lint()
        gm.recompile()
    return rewritten


# ----------------------------------------------------------------------------- trace cache
#: Traced graphs kept (least recently used dropped first); 0 disables the cache.
TRACE_CACHE_SIZE = 16
_CACHE: OrderedDict[Any, _Entry] = OrderedDict()
_CACHE_LOCK = threading.Lock()


class _Uncacheable(Exception):
    """The model's state cannot be summarised safely: trace it every time."""


@dataclass(eq=False)
class _Entry:
    """A cached trace: the graph, every node's output metadata, the input-free nodes."""

    graph: fx.Graph
    outputs: dict[fx.Node, Any]
    independent: tuple[fx.Node, ...]  # nodes not depending on the input, in graph order


def clear_trace_cache() -> None:
    """Forget every cached trace (the next encode of each architecture traces it again)."""
    with _CACHE_LOCK:
        _CACHE.clear()


_PLAIN_TYPES = (
    type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device,
    torch.memory_format, torch.layout, enum.Enum,
)  # fmt: skip


def _plain(value: Any) -> Any:
    """A hashable summary of a module attribute that determines how the module traces.

    Numbers, strings, dtypes and containers of them are taken as they are, tensors by
    shape and dtype (their values are read afresh on every encode), classes and
    closure-free functions by identity. Anything else raises :class:`_Uncacheable`.
    """
    if isinstance(value, _PLAIN_TYPES):
        return value
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), value.dtype, value.device.type)
    if isinstance(value, tuple | list):
        return (type(value), tuple(_plain(v) for v in value))
    if isinstance(value, set | frozenset):
        return (type(value), frozenset(_plain(v) for v in value))
    if isinstance(value, dict):
        return (type(value), tuple((_plain(k), _plain(v)) for k, v in value.items()))
    if isinstance(value, type):
        return value
    if isinstance(value, types.FunctionType) and not value.__closure__:
        return value
    if isinstance(value, types.BuiltinFunctionType | types.MethodDescriptorType):
        return value
    raise _Uncacheable(type(value).__name__)


def _hooks(value: Any) -> Any:
    """Hook dicts: empty, or holding only ``torch.nn.utils.prune`` methods (by name)."""
    if not value:
        return ()
    from torch.nn.utils import prune

    out = []
    for hook in value.values():
        if not isinstance(hook, prune.BasePruningMethod):
            raise _Uncacheable("hook")
        out.append((type(hook), getattr(hook, "_tensor_name", None)))
    return tuple(out)


def _fingerprint(model: nn.Module, shape: tuple[int, ...]) -> Any:
    """Key of the trace cache: everything a ``torch.fx`` trace of ``model`` can depend on.

    The model's class, the input shape, and per submodule (in order, shared ones at
    every path) its class, every plain attribute (``_plain``), its hooks, and the
    names, shapes and dtypes of its parameters and buffers. Raises
    :class:`_Uncacheable` when an attribute cannot be summarised.
    """
    parts: list[Any] = [type(model), shape]
    for name, mod in model.named_modules(remove_duplicate=False):
        attrs = []
        for key, value in mod.__dict__.items():
            if key in ("_parameters", "_buffers", "_modules"):
                continue
            if "hooks" in key:
                attrs.append((key, _hooks(value)))
            else:
                attrs.append((key, _plain(value)))
        tensors = tuple(
            (key, None if t is None else (tuple(t.shape), t.dtype, t.device.type))
            for key, t in (*mod._parameters.items(), *mod._buffers.items())
        )
        parts.append((name, type(mod), tuple(attrs), tensors))
    return tuple(parts)


def _cacheable_outputs(outputs: dict[fx.Node, Any], dependent: set[fx.Node]) -> bool:
    """The metadata of input-dependent nodes holds only shapes (no value read off the data)."""

    def shape_like(v: Any) -> bool:
        if isinstance(v, TensorMeta | int | bool | type(None) | torch.dtype | torch.device):
            return True
        if isinstance(v, tuple | list):  # torch.Size is a tuple
            return all(shape_like(x) for x in v)
        return False

    return all(shape_like(outputs.get(n)) for n in dependent)


def _fetch(root: nn.Module, target: str) -> Any:
    value: Any = root
    for atom in target.split("."):
        value = getattr(value, atom)
    return value


class _Stale(Exception):
    """A cached trace does not fit this model after all (it is traced again)."""


def _replay(entry: _Entry, model: nn.Module) -> tuple[dict[fx.Node, Any], dict[fx.Node, Any]]:
    """Evaluate the input-free nodes of a cached graph on ``model``: ``(outputs, constants)``.

    Parameters, buffers and what is computed from them are read from this model;
    the metadata of the input-dependent nodes (shapes) is the cached one, valid
    because it depends only on the fingerprint. Raises :class:`_Stale` if a
    value the shapes could depend on differs from the cached one.
    """
    outputs = dict(entry.outputs)
    constants: dict[fx.Node, torch.Tensor] = {}
    env: dict[fx.Node, Any] = {}
    for n in entry.independent:
        args = fx.node.map_arg(n.args, env.__getitem__)
        kwargs = fx.node.map_arg(n.kwargs, env.__getitem__)
        try:
            if n.op == "get_attr":
                out = _fetch(model, str(n.target))
            elif n.op == "call_function":
                out = n.target(*args, **kwargs)  # type: ignore[operator]
            elif n.op == "call_method":
                out = getattr(args[0], str(n.target))(*args[1:], **kwargs)
            elif n.op == "call_module":
                out = model.get_submodule(str(n.target))(*args, **kwargs)
            else:
                raise _Stale(n.op)
        except _Stale:
            raise
        except Exception as exc:  # e.g. a constant the trace stowed on another instance
            raise _Stale(str(exc)) from exc
        env[n] = out
        meta = _meta(out)
        cached = entry.outputs.get(n)
        if isinstance(out, torch.Tensor):
            if meta != cached:
                raise _Stale(n.name)
            constants[n] = out.detach()
        elif not _same_value(meta, cached):
            raise _Stale(n.name)
        outputs[n] = meta
    return outputs, constants


def _same_value(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


def trace_model(model: nn.Module, input_shape: Sequence[int]) -> TracedModel:
    """Symbolically trace ``model`` in eval mode and run it once on a dummy batch.

    The trace is taken in eval mode (``model.training`` is restored afterwards), so
    branches such as auxiliary heads or stochastic depth follow their inference
    path. In-place updates of aliased tensors are resolved by
    :func:`resolve_inplace_aliases`.

    Traces are cached (:data:`TRACE_CACHE_SIZE` entries) under a fingerprint of
    everything a trace can depend on: the model's class, the input shape, and per
    submodule its class, plain attributes, hooks, and parameter and buffer names,
    shapes and dtypes (see ``_fingerprint``). Another instance of the same
    architecture (a network of the same study with other weights and masks), or
    the same model encoded again, reuses the graph and the output shapes; only
    the nodes that do not depend on the input (parameters, buffers, constant
    gates) are evaluated again, on this model. Models with attributes that cannot
    be summarised (objects of other classes, closures, hooks other than
    ``torch.nn.utils.prune``'s), and models whose trace bakes in a tensor computed
    at trace time (``torch.fx`` evaluates ops on buffers eagerly and stows the
    result on the model) are traced every time; :func:`clear_trace_cache`
    empties the cache. The dummy batch comes from a fixed-seed generator, so the
    global torch RNG is never touched and a cached and a fresh trace agree.

    Raises
    ------
    EncodingError
        If the model is not an ``nn.Module``, cannot be traced by ``torch.fx``
        (data-dependent control flow, unsupported Python), has more than one
        tensor input, updates a shared tensor in place in a way that cannot be
        encoded, or fails on the given input shape. The message is one line; the
        original exception is kept as ``__cause__``.
    """
    if not isinstance(model, nn.Module):
        raise EncodingError(
            f"The 'model' parameter of encode must be a torch.nn.Module. Got {type(model).__name__}."
        )
    shape = validate_input_shape(input_shape)
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    device = param.device if param is not None else torch.device("cpu")
    key: Any = None
    if TRACE_CACHE_SIZE > 0:
        try:
            key = (_fingerprint(model, shape), dtype, device.type)
            hash(key)
        except (_Uncacheable, TypeError):
            key = None
    if key is not None:
        with _CACHE_LOCK:
            entry = _CACHE.get(key)
            if entry is not None:
                _CACHE.move_to_end(key)
        if entry is not None:
            was_training = model.training
            model.eval()
            try:
                with torch.no_grad():
                    outputs, constants = _replay(entry, model)
            except _Stale:
                with _CACHE_LOCK:
                    _CACHE.pop(key, None)
            else:
                return TracedModel(
                    entry.graph, model, shape, outputs, constants=constants, cached=True
                )
            finally:
                model.train(was_training)
    own = {*model.__dict__, *model._parameters, *model._buffers, *model._modules}
    traced, dependent = _trace(model, shape, dtype, device)
    stowed = any(  # a tensor the tracer baked in and stowed on this model (a buffer op's value)
        n.op == "get_attr" and "." not in str(n.target) and str(n.target) not in own
        for n in traced.graph.nodes
    )
    if key is not None and not stowed and _cacheable_outputs(traced.outputs, dependent):
        independent = tuple(
            n for n in traced.graph.nodes if n not in dependent and n.op != "output"
        )
        with _CACHE_LOCK:
            _CACHE[key] = _Entry(traced.graph, dict(traced.outputs), independent)
            while len(_CACHE) > TRACE_CACHE_SIZE:
                _CACHE.popitem(last=False)
    return traced


def _trace(
    model: nn.Module, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> tuple[TracedModel, set[fx.Node]]:
    """Trace and record ``model`` (no cache); also return the input-dependent nodes."""
    name = type(model).__name__
    was_training = model.training
    threads = torch.get_num_threads()
    model.eval()
    try:
        try:
            tracer = _Tracer()
            graph = tracer.trace(model)
            gm = fx.GraphModule(tracer.root, graph, name)
        except Exception as exc:
            raise EncodingError(
                f"Model {name} cannot be traced with torch.fx{_user_frame(exc)} "
                f"({type(exc).__name__}: {_first_line(exc)}). "
                "Data-dependent control flow and other untraceable Python cannot be encoded; "
                "rewrite the forward without it."
            ) from exc
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise EncodingError(
                f"Model {name} takes {len(placeholders)} inputs "
                f"({', '.join(n.name for n in placeholders)}); encode supports exactly one "
                "tensor input."
            )
        resolve_inplace_aliases(gm, name)
        generator = torch.Generator(device=device)
        generator.manual_seed(0)
        dummy = torch.randn((TRACE_BATCH, *shape), dtype=dtype, device=device, generator=generator)
        recorder = _Recorder(gm)
        recorder._shape = shape
        # one thread: a batch-2 forward gains nothing from more and suffers on a busy machine
        torch.set_num_threads(1)
        with torch.no_grad():
            recorder.run(dummy)
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    graph = gm.graph
    graph.owning_module = None  # the cache must not keep this model's modules alive
    traced = TracedModel(graph, model, shape, recorder.outputs, constants=recorder.constants)
    return traced, recorder.dependent
