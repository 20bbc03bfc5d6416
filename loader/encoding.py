"""Graph encodings of a (sparse) PyTorch model: the unrolled MGE and the rolled BGEs.

``encode(model, masks, input_shape, kind=...)`` traces the model with
``torch.fx`` (never by module names), walks the traced graph once, and returns
a :class:`~prunegraph.loader.graph.MultipartiteGraph`. The conventions are those
of ``docs/conventions.md`` (implementation notes in ``docs/encoding.md``):

* **MGE** (``kind="mge"``): every unit of every materialised activation is a
  node ``(p, i)``, ``i = c*H*W + y*W + x``. Conv/Linear layers create
  partitions; a conv with unmasked kernel entry ``(o, i_l, u, v)`` of group
  ``g`` draws ``(i, y*s_h - p_h + u*d_h, x*s_w - p_w + v*d_w) -> (o, y, x)``,
  ``i = g*C_in/groups + i_l``, for positions inside the input (no padding
  nodes), weight ``|theta|``. Pooling creates no partition: an edge drawn from a
  pooled unit is drawn from every pre-pool unit of its window, duplicates merged
  with summed weight. Residual ``add``: the output partition is that of the
  deepest operand; identity / option-A shortcuts give 1:1 edges of weight 1, a
  conv shortcut gives its unrolled conv edges into that partition.
* **Rolled BGE** (``kind="rolled"``): per layer, left ``C_in*kh*kw`` (or
  ``in_features``) nodes, right ``C_out`` nodes, an edge per unmasked weight.
* **Rolled-channel BGE** (``kind="rolled_channel"``): per layer, left ``C_in``,
  right ``C_out``, an edge iff ``W[o, i]`` has an unmasked entry, weight
  ``sum |theta|`` over the kernel slice.

How it works: every traced value is a set of *terms*, each a sparse map from
the units of one partition to the value's units, stored as a padded row table
(``cols[n_units, k]`` of partition-unit ids, ``-1`` for none) with
multiplicities. Parameter-free ops (pooling, slicing, padding, flatten, cat,
reductions) compose these tables; a Conv/Linear layer turns the table of its
input into edges. Gather-like ops (view, slicing, pad, permute, cat, ...) are
evaluated by running the op itself on a tensor of unit ids, so their index
arithmetic is PyTorch's own. Edges are counted exactly first, then every block
is written into its slice of preallocated ``int32`` / ``float32`` arrays by a
numba pass (``_encoding_kernels``: straight off the mask, or through the window
table of its term), so memory is proportional to the edge count; the numpy
generators ``_conv_chunks`` / ``_linear_chunks`` define the edges and their order
(and serve gated blocks). Traces are cached per architecture
(:func:`~prunegraph.loader.tracing.trace_model`).
"""

from __future__ import annotations

import difflib
import heapq
import operator
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from prunegraph._registry import Registry
from prunegraph.errors import EncodingError, ValidationError
from prunegraph.loader import _encoding_kernels as _kernels
from prunegraph.loader.graph import EdgeBlock, MultipartiteGraph, Partition
from prunegraph.loader.masks import (
    canonical_key,
    check_mask_set,
    missing_masks_error,
    prunable_parameters,
)
from prunegraph.loader.tracing import TensorMeta, TracedModel, target_name, trace_model
from prunegraph.queries.data_model import GRAPH_FAMILIES, GRAPH_KINDS

__all__ = ["ENCODINGS", "LayerInfo", "encode", "list_layers"]

ENCODING_VERSION = 1
_IDX = np.int32  # local unit ids (partitions never reach 2**31 units)
_Chunk = tuple[np.ndarray, np.ndarray, np.ndarray]  # (dst_local, src_local, weight)
_NO_MASK = np.ones(1, dtype=bool)  # placeholder operand of a kernel told there is no mask

# ----------------------------------------------------------------------------- op tables
_PASS_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.CELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardtanh,
    nn.Softplus,
    nn.Softsign,
    nn.Tanhshrink,
    nn.LogSigmoid,
    nn.Threshold,
    nn.Softmax,
    nn.LogSoftmax,
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    nn.Identity,
)
_PASS_FUNCTIONS: set[Any] = {
    F.relu, F.relu_, F.relu6, F.leaky_relu, F.elu, F.selu, F.celu, F.gelu, F.silu, F.mish,
    F.hardswish, F.hardsigmoid, F.hardtanh, F.softplus, F.softsign, F.logsigmoid, F.sigmoid,
    F.tanh, F.softmax, F.log_softmax, F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout,
    F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm, torch.relu, torch.sigmoid,
    torch.tanh, torch.softmax, torch.log_softmax, torch.clamp, torch.clip, operator.neg,
    operator.pos, torch.neg,
}  # fmt: skip
_PASS_METHODS = {
    "relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "clamp", "clamp_", "clip",
    "clamp_min", "clamp_max", "softmax", "log_softmax", "clone", "detach", "float", "double",
    "half", "to", "type", "neg",
}  # fmt: skip
_SCALE_FUNCTIONS = {operator.mul, operator.truediv, torch.mul, torch.div, operator.imul}
_SCALE_METHODS = {"mul", "mul_", "div", "div_"}
_ADD_FUNCTIONS = {operator.add, operator.iadd, operator.sub, operator.isub, torch.add, torch.sub}
_ADD_METHODS = {"add", "add_", "sub", "sub_"}
_GATHER_FUNCTIONS = {
    operator.getitem, torch.flatten, torch.reshape, torch.permute, torch.transpose,
    torch.squeeze, torch.unsqueeze, torch.narrow, torch.cat, torch.concat, torch.stack,
    torch.flip, torch.movedim, torch.t, F.pad,
}  # fmt: skip
_GATHER_METHODS = {
    "view", "reshape", "flatten", "permute", "transpose", "contiguous", "squeeze",
    "unsqueeze", "narrow", "flip", "movedim", "t", "unflatten", "expand", "repeat",
}  # fmt: skip
_GATHER_MODULES: tuple[type[nn.Module], ...] = (
    nn.Flatten,
    nn.Unflatten,
    nn.modules.padding._ConstantPadNd,
    nn.modules.padding._ReflectionPadNd,
    nn.modules.padding._ReplicationPadNd,
)
_REDUCE_FUNCTIONS = {torch.mean: "mean", torch.sum: "sum", torch.amax: "amax", torch.amin: "amin"}
_REDUCE_METHODS = {"mean", "sum", "amax", "amin"}


# ----------------------------------------------------------------------------- layers
@dataclass(eq=False)
class LayerInfo:
    """One traced Conv/Linear layer: its (effective) weight and mask, as numpy arrays.

    Convolutions are stored as 2-D: a ``Conv1d`` has ``weight`` of shape
    ``(C_out, C_in/groups, 1, k)`` and ``in_shape``/``out_shape`` ``(C, 1, L)``.
    ``padding`` is the top/left padding actually applied (``'same'`` resolved).
    """

    name: str
    node: str
    kind: str  # 'conv' | 'linear'
    param_name: str
    weight: np.ndarray  # float32, effective weight (pruned entries are 0)
    mask: np.ndarray  # bool, unmasked and non-zero
    weight_shape: tuple[int, ...]  # the parameter's own shape
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    value_shape: tuple[int, ...] = ()  # output shape as traced (``out_shape`` is 2-D for convs)
    _table: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    _counts: np.ndarray | None = None
    _n_unmasked: int | None = None

    @property
    def n_weights(self) -> int:
        return int(self.mask.size)

    @property
    def n_unmasked(self) -> int:
        if self._n_unmasked is None:
            self._n_unmasked = int(np.count_nonzero(self.mask))
        return self._n_unmasked

    def offset_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Unmasked conv entries grouped by kernel offset: ``(o, i, |w|, starts, ends)``.

        Offset ``k = u * kw + v`` owns the slice ``starts[k]:ends[k]`` of the output
        channels ``o``, global input channels ``i`` and absolute weights ``|w|``,
        in C order of ``(o, i)`` within the slice (one counting-sort pass in numba,
        cached).
        """
        if self._table is None:
            co, ci_g, kh, kw = self.weight.shape
            kk = kh * kw
            cap = self.n_unmasked + kk
            o, i = np.empty(cap, _IDX), np.empty(cap, _IDX)
            absw = np.empty(cap, np.float32)
            starts, ends = np.empty(kk, np.int64), np.empty(kk, np.int64)
            _kernels.conv_offsets(
                self.mask.reshape(-1), self.weight.reshape(-1), co, ci_g, co // self.groups, kk,
                o, i, absw, starts, ends,
            )  # fmt: skip
            self._table = (o, i, absw, starts, ends)
        return self._table

    def offset_counts(self) -> np.ndarray:
        """Unmasked entries per kernel offset ``k = u * kw + v`` (int64, cached)."""
        if self._counts is None:
            if self._table is not None:
                self._counts = self._table[4] - self._table[3]
            else:
                kk = int(self.weight.shape[2] * self.weight.shape[3])
                self._counts = np.empty(kk, np.int64)
                _kernels.offset_counts(self.mask.reshape(-1), kk, self._counts)
        return self._counts

    def kernel_offsets(self) -> list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
        """Per kernel offset ``(u, v)``: unmasked ``(o, i)`` pairs (global ``i``) and ``|w|``."""
        o, i, absw, starts, ends = self.offset_table()
        kw = self.weight.shape[3]
        return [
            (k // kw, k % kw, o[a:b], i[a:b], absw[a:b])
            for k, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True))
            if b > a
        ]


def _pair(x: Any) -> tuple[int, int]:
    if isinstance(x, tuple | list):
        return (int(x[0]), int(x[1])) if len(x) == 2 else (int(x[0]), int(x[0]))
    return (int(x), int(x))


# ----------------------------------------------------------------------------- masks
class _Masks:
    """Resolves the effective weight and mask of each traced layer.

    Sources, combined with AND: the user's dict, ``torch.nn.utils.prune``
    buffers (``<module>.weight_mask``, the parameter is ``weight_orig``), and
    exact zeros of the effective weight.
    """

    def __init__(self, model: nn.Module, masks: Mapping[str, Any] | None) -> None:
        self.user: dict[str, np.ndarray] = {}
        self.used: set[str] = set()
        self.absent: list[str] = []
        self.given = False
        if masks is None:
            return
        if not isinstance(masks, Mapping):
            raise EncodingError(
                "The 'masks' parameter of encode must be a dict mapping parameter names to "
                f"boolean arrays, or None. Got {type(masks).__name__} instead."
            )
        # The one validation of every path that reads masks (loader.masks): 0/1 or
        # boolean values, unknown keys named. Functional layers may use any parameter
        # as a weight, so coverage (an entry, or "dense", for every traced layer's
        # weight) is checked after the trace, in check_all_used.
        self.owner = type(model).__name__
        shapes = {canonical_key(n): tuple(p.shape) for n, p in model.named_parameters()}
        try:
            self.user = check_mask_set(masks, shapes, missing="dense", owner=self.owner)
        except ValidationError as exc:
            raise EncodingError(str(exc)) from None
        self.given = True
        # an explicit all-True mask of a Conv/Linear the trace never reaches changes nothing
        prunable = set(prunable_parameters(model))
        self.prunable = prunable
        self.used = {name for name, arr in self.user.items() if name in prunable and arr.all()}

    def resolve(
        self, param_name: str, weight: torch.Tensor, prune_mask: torch.Tensor | None
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """``(w, mask, n_unmasked)``: the float32 weight (a view of the parameter when it is
        float32 on the CPU), ``mask = (w != 0) & user & prune`` and its count (one numba pass)."""
        w = np.ascontiguousarray(weight.detach().cpu().to(torch.float32).numpy())
        flat = w.reshape(-1)
        user = None
        if param_name in self.user:
            user = np.ascontiguousarray(self.user[param_name], dtype=bool).reshape(-1)
            self.used.add(param_name)
        elif self.given and param_name not in self.absent:
            self.absent.append(param_name)
        prune = None
        if prune_mask is not None:
            prune = np.ascontiguousarray(prune_mask.detach().cpu().numpy()).reshape(-1)
        mask = np.empty(w.shape, dtype=bool)
        bad, kept = _kernels.resolve_mask(
            flat,
            user if user is not None else _NO_MASK,
            user is not None,
            prune if prune is not None else _NO_MASK,
            prune is not None,
            mask.reshape(-1),
        )
        if bad:
            raise EncodingError(
                f"Parameter '{param_name}' has {bad} NaN or infinite entries; cannot encode it."
            )
        return w, mask, int(kept)

    def check_all_used(self) -> None:
        """Extra keys (a mask no traced layer reads) and missing ones, each named."""
        unused = sorted(set(self.user) - self.used)
        unreached = [u for u in unused if u in getattr(self, "prunable", ())]
        if unreached:  # e.g. auxiliary heads that the eval-mode forward never calls
            warnings.warn(
                f"Ignoring the mask{'s' if len(unreached) > 1 else ''} of "
                f"{', '.join(repr(u) for u in unreached)}: the traced forward pass (eval mode) "
                f"never reaches {'these layers' if len(unreached) > 1 else 'this layer'}.",
                UserWarning,
                stacklevel=4,
            )
            unused = [u for u in unused if u not in unreached]
        if unused:
            raise EncodingError(
                f"Mask given for {', '.join(repr(u) for u in unused)}, which "
                f"{'is' if len(unused) == 1 else 'are'} not the weight of a Conv/Linear layer "
                "of the traced model (biases and normalisation parameters create no edges)."
            )
        if self.absent:
            raise EncodingError(str(missing_masks_error(self.absent, self.owner)))


# ----------------------------------------------------------------------------- unit maps
@dataclass(frozen=True, eq=False)
class _Term:
    """Sparse map from the units of ``partition`` to the units of a value.

    ``cols[r]`` lists the partition units feeding value unit ``r`` (``-1``
    pads), ``mult`` their multiplicities (None: all 1). ``cols=None`` is the
    identity. ``repeats``: a partition unit occurs more than once, so edges
    drawn through this map may coincide and must be merged.
    """

    partition: int
    cols: np.ndarray | None
    mult: np.ndarray | None = None
    full: bool = True
    repeats: bool = False
    pools: tuple[str, ...] = ()

    def table(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if self.cols is None:
            return np.arange(n, dtype=_IDX)[:, None], np.ones((n, 1), np.float32)
        mult = self.mult if self.mult is not None else np.ones(self.cols.shape, np.float32)
        return self.cols, mult

    def row_counts(self, n: int) -> np.ndarray:
        if self.cols is None:
            return np.ones(n, dtype=np.int64)
        if self.full:
            return np.full(n, self.cols.shape[1], dtype=np.int64)
        return (self.cols >= 0).sum(axis=1)


def _make_term(
    partition: int,
    cols: np.ndarray,
    mult: np.ndarray | None,
    pools: tuple[str, ...],
    partition_size: int,
) -> _Term:
    """Normalise a row table: pack valid entries left, trim, detect identity and repeats."""
    cols = cols.astype(_IDX, copy=False)
    valid = cols >= 0
    if not valid.all():
        order = np.argsort(~valid, axis=1, kind="stable")
        cols = np.take_along_axis(cols, order, axis=1)
        if mult is not None:
            mult = np.take_along_axis(mult, order, axis=1)
        valid = np.take_along_axis(valid, order, axis=1)
        k = int(valid.sum(axis=1).max()) if len(cols) else 0
        cols, valid = cols[:, :k], valid[:, :k]
        if mult is not None:
            mult = mult[:, :k]
        cols = np.where(valid, cols, -1).astype(_IDX)
    full = bool(valid.all())
    if mult is not None:
        mult = np.where(valid, mult, 0).astype(np.float32)
        if np.all(mult[valid] == 1):
            mult = None
    flat = cols[valid]
    repeats = bool(len(flat)) and int(np.bincount(flat, minlength=1).max()) > 1
    if (
        full
        and cols.shape[1] == 1
        and mult is None
        and len(cols) == partition_size
        and np.array_equal(cols[:, 0], np.arange(partition_size))
    ):
        return _Term(partition, None, None, True, False, pools)
    return _Term(partition, np.ascontiguousarray(cols), mult, full, repeats, pools)


@dataclass(eq=False)
class _Pending:
    """A Conv/Linear output not yet given a partition (it may be folded into an add)."""

    layer: LayerInfo
    input: _Value
    partition: int | None = None
    folded: bool = False


@dataclass(frozen=True, eq=False)
class _Value:
    """What the encoder knows about one traced tensor (shape without batch)."""

    shape: tuple[int, ...]
    terms: tuple[_Term, ...] = ()
    pending: _Pending | None = None
    chain_ok: bool = True  # no node between the pending layer and here is shared
    exclusive: bool = False  # identity of a partition whose current value nobody else uses
    scale: np.ndarray | None = None  # |factor| per unit applied after the pending layer

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class _Const:
    """A tensor that does not depend on the input (parameter, buffer, constant)."""


_CONST = _Const()


# ----------------------------------------------------------------------------- edge jobs
@dataclass(eq=False)
class _Job:
    """One edge block to generate: a layer (or skip) from one term into one partition."""

    name: str
    kind: str
    src: int
    dst: int
    term: _Term
    n_in: int  # units of the layer's input value (rows of the term)
    layer: LayerInfo | None = None
    n_weights: int = 0
    n_unmasked: int = 0
    dst_scale: np.ndarray | None = None  # |constant| per output unit (0 removes the unit's edges)
    _cache: _Chunk | None = field(default=None, repr=False)

    @property
    def pool(self) -> str | None:
        return "+".join(self.term.pools) or None

    def _raw(self) -> Iterator[_Chunk]:
        """Edges with ``src`` as a unit of the layer's *input value*."""
        if self.layer is None:
            n = self.n_in
            yield np.arange(n, dtype=_IDX), np.arange(n, dtype=_IDX), np.ones(n, np.float32)
        elif self.dst_scale is not None:
            chunks = (
                _conv_chunks(self.layer)
                if self.layer.kind == "conv"
                else _linear_chunks(self.layer)
            )
            for dst, src, w in chunks:
                f = self.dst_scale[dst]
                keep = f != 0
                yield dst[keep], src[keep], (w[keep] * f[keep]).astype(np.float32)
        elif self.layer.kind == "conv":
            yield from _conv_chunks(self.layer)
        else:
            yield from _linear_chunks(self.layer)

    @property
    def direct_fill(self) -> bool:
        """A layer block with no replicas to merge and no gate: written straight to the output."""
        return self.layer is not None and self.dst_scale is None and not self.term.repeats

    @property
    def _materialise(self) -> bool:
        """Edges must be generated to be counted (merged replicas, or units gated to zero)."""
        return self.term.repeats or (
            self.dst_scale is not None and bool((self.dst_scale == 0).any())
        )

    def _expanded(self) -> Iterator[_Chunk]:
        term = self.term
        if term.cols is None:
            yield from self._raw()
            return
        cols, mult = term.table(self.n_in)
        k = cols.shape[1]
        for dst, src, w in self._raw():
            c = cols[src]
            if term.full and term.mult is None:  # the common case: non-overlapping pooling
                yield np.repeat(dst, k), c.ravel(), np.repeat(w, k)
                continue
            m = mult[src] * w[:, None]
            if term.full:
                yield np.repeat(dst, k), c.ravel(), m.ravel()
            else:
                valid = c >= 0
                yield np.repeat(dst, valid.sum(axis=1)), c[valid], m[valid]

    def _merged(self) -> _Chunk:
        """All edges of the block, window replicas merged (summed weights), cached."""
        if self._cache is None:
            if self.term.cols is None or not self.term.repeats:  # only gated units to drop
                parts = list(self._expanded())
                if parts:
                    dst, src, w = (np.concatenate(x) for x in zip(*parts, strict=True))
                else:
                    dst = src = np.empty(0, _IDX)
                    w = np.empty(0, np.float32)
                self._cache = (dst, src, w)
            else:
                self._cache = self._merge_rows()
        return self._cache

    def _n_dst(self) -> int:
        if self.layer is None:
            return self.n_in
        return int(np.prod(self.layer.value_shape, dtype=np.int64))

    def _merge_rows(self) -> _Chunk:
        """Merge window replicas output unit by output unit (numba, no global sort)."""
        cols, mult = self.term.table(self.n_in)
        has_mult = self.term.mult is not None
        n_src = int(cols.max(initial=-1)) + 1
        cap = min(self._expanded_count(), self._n_dst() * n_src)
        out_d, out_s = np.empty(cap, _IDX), np.empty(cap, _IDX)
        out_w = np.empty(cap, np.float32)
        marker = np.full(n_src, -1, dtype=np.int64)
        acc = np.zeros(n_src, dtype=np.float64)
        touched = np.empty(n_src, dtype=_IDX)
        has_scale = self.dst_scale is not None
        scale = (
            self.dst_scale.astype(np.float32)
            if self.dst_scale is not None
            else np.ones(1, np.float32)
        )
        pos = 0
        layer = self.layer
        if layer is not None and layer.kind == "conv":
            co, ci_g = layer.weight.shape[:2]
            o, il, u, v = np.nonzero(layer.mask)  # C order: grouped by output channel
            in_ch = ((o // (co // layer.groups)) * ci_g + il).astype(np.int64)
            indptr = np.zeros(co + 1, dtype=np.int64)
            np.cumsum(np.bincount(o, minlength=co), out=indptr[1:])
            kw = np.abs(layer.weight[o, il, u, v]).astype(np.float32)
            _, h, wd = layer.in_shape
            _, ho, wo = layer.out_shape
            (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
            pos = _kernels.merge_conv(
                indptr, in_ch, u.astype(np.int64), v.astype(np.int64), kw, h, wd, ho, wo,
                sh, sw, ph, pw, dh, dw, cols, mult, has_mult, scale, has_scale, marker, acc,
                touched, out_d, out_s, out_w, pos,
            )  # fmt: skip
        elif layer is not None:
            lead = int(np.prod(layer.in_shape[:-1], dtype=np.int64))
            pos = _kernels.merge_linear(
                layer.mask, layer.weight, lead, cols, mult, has_mult, scale, has_scale, marker,
                acc, touched, out_d, out_s, out_w, pos,
            )  # fmt: skip
        else:  # a skip through a window table: one run per value unit
            ids = np.arange(self.n_in, dtype=_IDX)
            pos = _kernels.merge_runs(
                ids, ids, np.ones(self.n_in, np.float32), cols, mult, has_mult, scale,
                has_scale, marker, acc, touched, out_d, out_s, out_w, pos,
            )  # fmt: skip
        if pos < 0.9 * cap:  # give the spare capacity back
            return out_d[:pos].copy(), out_s[:pos].copy(), out_w[:pos].copy()
        return out_d[:pos], out_s[:pos], out_w[:pos]

    def chunks(self) -> Iterator[_Chunk]:
        if self._materialise:
            yield self._merged()
        else:
            yield from self._expanded()

    def count(self) -> int:
        """Exact number of edges, computed without generating them (unless merging)."""
        if self._materialise:
            return len(self._merged()[0])
        return self._expanded_count()

    def _expanded_count(self) -> int:
        """Edges before merging window replicas (and before dropping gated units)."""
        rows = self.term.row_counts(self.n_in)
        if self.layer is None:
            return int(rows.sum())
        if self.layer.kind == "conv" and self.term.cols is None:
            return _conv_count_direct(self.layer)
        if self.layer.kind == "linear":
            f_in = self.layer.weight.shape[1]
            per_feature = rows.reshape(-1, f_in).sum(axis=0)  # summed over leading positions
            return int(self.layer.mask.sum(axis=0) @ per_feature)
        return _conv_count(self.layer, rows)


def _valid_range(n_out: int, stride: int, shift: int, n_in: int) -> tuple[int, int]:
    """Outputs ``y`` in ``[0, n_out)`` with ``0 <= y*stride + shift < n_in`` (a range)."""
    lo = max(0, -(shift // stride))  # ceil(-shift / stride)
    hi = min(n_out, (n_in - 1 - shift) // stride + 1)
    return lo, max(lo, hi)


def _conv_geometry(layer: LayerInfo, u: int, v: int):
    _, h, w = layer.in_shape
    _, ho, wo = layer.out_shape
    (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
    y0, y1 = _valid_range(ho, sh, u * dh - ph, h)
    x0, x1 = _valid_range(wo, sw, v * dw - pw, w)
    return y0, y1, x0, x1


def _conv_chunks(layer: LayerInfo) -> Iterator[_Chunk]:
    """Unrolled conv edges, one chunk per kernel offset ``(u, v)``.

    Output ``(o, y, x)`` <- input ``(i, y*s_h - p_h + u*d_h, x*s_w - p_w + v*d_w)``;
    the valid ``(y, x)`` form a rectangle, so each chunk is an outer sum.
    """
    _, h, w = layer.in_shape
    _, ho, wo = layer.out_shape
    (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
    for u, v, o, i, wt in layer.kernel_offsets():
        y0, y1, x0, x1 = _conv_geometry(layer, u, v)
        if y0 >= y1 or x0 >= x1:
            continue
        oy = np.arange(y0, y1, dtype=_IDX)
        ox = np.arange(x0, x1, dtype=_IDX)
        out_pos = (oy[:, None] * wo + ox[None, :]).ravel()
        in_pos = (
            (oy * sh + (u * dh - ph))[:, None] * w + (ox * sw + (v * dw - pw))[None, :]
        ).ravel()
        dst = (o * _IDX(ho * wo))[:, None] + out_pos[None, :]
        src = (i * _IDX(h * w))[:, None] + in_pos[None, :]
        yield dst.ravel(), src.ravel(), np.repeat(wt, len(out_pos))


_NO_TABLE = (np.full((1, 1), -1, dtype=_IDX), np.ones((1, 1), np.float32))


def _fill_layer(
    job: _Job,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    pos: int,
    src_off: int,
    dst_off: int,
) -> int:
    """A layer block written straight into the output arrays (global ids, numba).

    The same edges, in the same order, as :meth:`_Job.chunks` for a block with no
    replicas to merge and no gate: the layer's edges, read through the window
    table of its term when there is one.
    """
    layer = job.layer
    assert layer is not None
    term = job.term
    has_table = term.cols is not None
    cols = term.cols if term.cols is not None else _NO_TABLE[0]
    mult = term.mult if term.mult is not None else _NO_TABLE[1]
    has_mult = term.mult is not None
    if layer.kind == "conv" and not has_table:  # straight off the mask, no offset table
        _, h, w = layer.in_shape
        _, ho, wo = layer.out_shape
        (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
        co, ci_g, _, kw = layer.weight.shape
        end = _kernels.fill_conv_direct(
            layer.mask.reshape(-1), layer.weight.reshape(-1), co, ci_g, co // layer.groups, kw,
            layer.offset_counts(), h, w, ho, wo, sh, sw, ph, pw, dh, dw, src, dst, weight, pos,
            src_off, dst_off,
        )  # fmt: skip
    elif layer.kind == "conv":
        _, h, w = layer.in_shape
        _, ho, wo = layer.out_shape
        (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
        o, i, wt, starts, ends = layer.offset_table()
        end = _kernels.fill_conv(
            starts, ends, layer.weight.shape[3], o, i, wt, h, w, ho, wo, sh, sw, ph, pw, dh, dw,
            cols, mult, has_table, has_mult, src, dst, weight, pos, src_off, dst_off,
        )  # fmt: skip
    else:
        f_in = layer.weight.shape[1]
        lead = int(np.prod(layer.in_shape[:-1], dtype=np.int64))
        end = _kernels.fill_linear(
            layer.mask, layer.weight, lead, _linear_rows_per(f_in, lead), cols, mult, has_table,
            has_mult, src, dst, weight, pos, src_off, dst_off,
        )  # fmt: skip
    return int(end)


def _conv_count_direct(layer: LayerInfo) -> int:
    """Edges of a conv read through the identity map: entries times valid positions, per offset."""
    kw = layer.weight.shape[3]
    total = 0
    for k, n in enumerate(layer.offset_counts().tolist()):
        if n:
            y0, y1, x0, x1 = _conv_geometry(layer, k // kw, k % kw)
            total += n * max(0, y1 - y0) * max(0, x1 - x0)
    return total


def _conv_count(layer: LayerInfo, rows: np.ndarray) -> int:
    c_in, h, w = layer.in_shape
    rows3 = rows.reshape(c_in, h, w)
    (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
    total = 0
    for u, v, _o, i, _wt in layer.kernel_offsets():
        y0, y1, x0, x1 = _conv_geometry(layer, u, v)
        if y0 >= y1 or x0 >= x1:
            continue
        iy0, ix0 = y0 * sh + u * dh - ph, x0 * sw + v * dw - pw
        window = rows3[
            :, iy0 : iy0 + (y1 - y0 - 1) * sh + 1 : sh, ix0 : ix0 + (x1 - x0 - 1) * sw + 1 : sw
        ]
        per_channel = window.sum(axis=(1, 2))
        total += int(np.bincount(i, minlength=c_in) @ per_channel)
    return total


def _linear_rows_per(f_in: int, lead: int, max_chunk: int = 1 << 22) -> int:
    """Output rows per chunk of :func:`_linear_chunks` (which fixes the edge order)."""
    return max(1, max_chunk // max(1, f_in * lead))


def _linear_chunks(layer: LayerInfo, max_chunk: int = 1 << 22) -> Iterator[_Chunk]:
    """``in_j -> out_k`` for unmasked ``W[k, j]``, at every leading position (usually one)."""
    f_out, f_in = layer.weight.shape
    lead = int(np.prod(layer.in_shape[:-1], dtype=np.int64))
    absw = np.abs(layer.weight)
    rows_per = _linear_rows_per(f_in, lead, max_chunk)
    for r0 in range(0, f_out, rows_per):
        k, j = np.nonzero(layer.mask[r0 : r0 + rows_per])
        wt = absw[r0 + k, j]
        k = (k + r0).astype(_IDX)
        j = j.astype(_IDX)
        if lead == 1:
            yield k, j, wt
        else:
            pos = np.arange(lead, dtype=_IDX)
            yield (
                ((pos * f_out)[:, None] + k[None, :]).ravel(),
                ((pos * f_in)[:, None] + j[None, :]).ravel(),
                np.tile(wt, lead),
            )


# ----------------------------------------------------------------------------- windows
def _pool_windows(
    in_shape: tuple[int, int, int],
    out_shape: tuple[int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """Window table ``(C*Ho*Wo, kh*kw)`` of input units (``-1`` outside the input)."""
    c, h, w = in_shape
    _, ho, wo = out_shape
    oy = np.arange(ho)[:, None, None]
    ox = np.arange(wo)[None, :, None]
    a = np.repeat(np.arange(kernel[0]), kernel[1])[None, None, :]
    b = np.tile(np.arange(kernel[1]), kernel[0])[None, None, :]
    iy = oy * stride[0] - padding[0] + a * dilation[0]
    ix = ox * stride[1] - padding[1] + b * dilation[1]
    return _windows_from_positions(c, h, w, iy, ix)


def _windows_from_positions(c: int, h: int, w: int, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    valid = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w) & np.ones_like(iy * ix, dtype=bool)
    spatial = np.where(valid, iy * w + ix, -1)  # (ho, wo, k)
    spatial = spatial.reshape(-1, spatial.shape[-1])
    chan = (np.arange(c) * (h * w))[:, None, None]
    table = np.where(spatial[None] >= 0, spatial[None] + chan, -1)
    return table.reshape(-1, spatial.shape[-1]).astype(_IDX)


def _adaptive_windows(
    in_shape: tuple[int, int, int], out_shape: tuple[int, int, int]
) -> np.ndarray:
    """PyTorch's adaptive pooling windows: ``[floor(o*H/Ho), ceil((o+1)*H/Ho))``."""
    c, h, w = in_shape
    _, ho, wo = out_shape

    def axis(n_in: int, n_out: int) -> np.ndarray:
        o = np.arange(n_out)
        start = (o * n_in) // n_out
        stop = -((-(o + 1) * n_in) // n_out)
        k = int((stop - start).max())
        pos = start[:, None] + np.arange(k)[None, :]
        return np.where(pos < stop[:, None], pos, -(10**9))  # far outside: invalid

    ry, rx = axis(h, ho), axis(w, wo)
    iy = np.broadcast_to(ry[:, None, :, None], (ho, wo, ry.shape[1], rx.shape[1]))
    ix = np.broadcast_to(rx[None, :, None, :], (ho, wo, ry.shape[1], rx.shape[1]))
    k = ry.shape[1] * rx.shape[1]
    return _windows_from_positions(c, h, w, iy.reshape(ho, wo, k), ix.reshape(ho, wo, k))


def _reduce_windows(shape: tuple[int, ...], dims: tuple[int, ...]) -> np.ndarray:
    """Window table of a reduction over ``dims`` (value dims, batch excluded)."""
    ids = np.arange(int(np.prod(shape)), dtype=_IDX).reshape(shape)
    keep = [d for d in range(len(shape)) if d not in dims]
    moved = np.transpose(ids, keep + sorted(dims))
    n_out = int(np.prod([shape[d] for d in keep], dtype=np.int64))
    return moved.reshape(n_out, -1)


def _as_image(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 3:
        return (shape[0], shape[1], shape[2])
    if len(shape) == 2:
        return (shape[0], 1, shape[1])
    raise ValueError(shape)


# ----------------------------------------------------------------------------- the walk
_POOL_MODULES: dict[type[nn.Module], str] = {
    nn.MaxPool1d: "max", nn.MaxPool2d: "max", nn.AvgPool1d: "avg", nn.AvgPool2d: "avg",
    nn.AdaptiveAvgPool1d: "adaptive_avg", nn.AdaptiveAvgPool2d: "adaptive_avg",
    nn.AdaptiveMaxPool1d: "adaptive_max", nn.AdaptiveMaxPool2d: "adaptive_max",
}  # fmt: skip
# functional pools: name, parameter order after the input
_POOL_FUNCTIONS: dict[Any, tuple[str, tuple[str, ...]]] = {
    F.max_pool1d: ("max", ("kernel_size", "stride", "padding", "dilation")),
    F.max_pool2d: ("max", ("kernel_size", "stride", "padding", "dilation")),
    F.avg_pool1d: ("avg", ("kernel_size", "stride", "padding")),
    F.avg_pool2d: ("avg", ("kernel_size", "stride", "padding")),
    F.adaptive_avg_pool1d: ("adaptive_avg", ()),
    F.adaptive_avg_pool2d: ("adaptive_avg", ()),
    F.adaptive_max_pool1d: ("adaptive_max", ()),
    F.adaptive_max_pool2d: ("adaptive_max", ()),
}


def _is_stochastic_depth(target: Any) -> bool:
    return getattr(target, "__name__", None) == "stochastic_depth" and getattr(
        target, "__module__", ""
    ).startswith("torchvision.ops")


class _Walker:
    """Interprets a traced model symbolically, producing partitions and edge jobs."""

    def __init__(self, traced: TracedModel, masks: _Masks) -> None:
        self.traced = traced
        self.gm = traced.root  # parameters and submodules of the model being encoded
        self.graph = traced.graph
        self.masks = masks
        self.partitions: list[dict[str, Any]] = []
        self.jobs: list[_Job] = []
        self.layers: list[LayerInfo] = []
        self.env: dict[fx.Node, Any] = {}

    # ------------------------------------------------------------------ helpers
    def error(self, node: fx.Node, why: str) -> EncodingError:
        return EncodingError(
            f"Cannot encode op '{target_name(node)}' ({node.op}) at traced node '{node.name}': {why}"
        )

    def out_shape(self, node: fx.Node) -> tuple[int, ...]:
        meta = self.traced.outputs.get(node)
        if not isinstance(meta, TensorMeta):
            raise self.error(node, "its output is not a single tensor.")
        if not meta.shape or meta.shape[0] != self.traced.batch:
            raise self.error(node, f"it changes the batch dimension (output shape {meta.shape}).")
        return tuple(meta.shape[1:])

    def new_partition(self, name: str, shape: tuple[int, ...], node: str, depth: int) -> int:
        self.partitions.append({"name": name, "shape": shape, "node": node, "depth": depth})
        return len(self.partitions) - 1

    def depth(self, v: _Value) -> int:
        if v.pending is not None:
            if v.pending.partition is not None:
                return int(self.partitions[v.pending.partition]["depth"])
            return 1 + self.depth(v.pending.input)
        return max((int(self.partitions[t.partition]["depth"]) for t in v.terms), default=-1)

    def resolve(self, v: _Value) -> _Value:
        """The value as maps from partitions, giving a pending layer its partition."""
        if v.pending is None:
            return v
        pend = v.pending
        if pend.folded:
            raise EncodingError(f"Layer {pend.layer.name} was folded into a residual add twice.")
        if pend.partition is None:
            p = self.new_partition(
                pend.layer.name, pend.layer.value_shape, pend.layer.node, self.depth(v)
            )
            self.add_layer_jobs(pend.layer, pend.input, p)
            pend.partition = p
        out = _Value(v.shape, (_Term(pend.partition, None),))
        return out if v.scale is None else self.apply_scale(out, v.scale)

    def apply_scale(self, v: _Value, factor: np.ndarray) -> _Value:
        """``v`` multiplied unit-wise by a constant (``|factor|``; zero removes the unit's paths)."""
        if v.pending is not None:
            return replace(v, scale=factor if v.scale is None else v.scale * factor)
        keep = factor != 0
        terms = []
        for t in v.terms:
            size = int(np.prod(self.partitions[t.partition]["shape"], dtype=np.int64))
            cols, mult = t.table(v.size)
            new_cols = np.where(keep[:, None], cols, -1)
            if not (new_cols >= 0).any():
                continue  # every path through this term is gated off
            new_mult = (mult * factor[:, None]).astype(np.float32)
            terms.append(_make_term(t.partition, new_cols, new_mult, t.pools, size))
        return _Value(v.shape, tuple(terms))

    def add_layer_jobs(
        self, layer: LayerInfo, inp: _Value, dst: int, dst_scale: np.ndarray | None = None
    ) -> None:
        n_in = inp.size
        for term in inp.terms:
            covered = term.row_counts(n_in) > 0
            if layer.kind == "conv":
                c_in = layer.in_shape[0]
                chan: np.ndarray = np.asarray(covered.reshape(c_in, -1).any(axis=1))
                co, ci_g = layer.weight.shape[:2]
                i_of = (np.arange(co)[:, None] // (co // layer.groups)) * ci_g + np.arange(ci_g)
                w_cov = chan[i_of][:, :, None, None]
            else:
                f_in = layer.weight.shape[1]
                w_cov = np.asarray(covered.reshape(-1, f_in).any(axis=0))[None, :]
            if w_cov.all():  # the term covers every input: the layer's own counts
                n_w, n_u = layer.n_weights, layer.n_unmasked
            else:
                n_w = int(np.broadcast_to(w_cov, layer.mask.shape).sum())
                n_u = int((layer.mask & w_cov).sum())
            self.jobs.append(
                _Job(
                    layer.name, layer.kind, term.partition, dst, term, n_in, layer, n_w, n_u,
                    dst_scale,
                )
            )  # fmt: skip

    def compose(
        self, v: _Value, table: np.ndarray, tag: str | None, shape: tuple[int, ...]
    ) -> _Value:
        """Apply a window/gather table (``n_out x k`` of input units, ``-1`` none) to ``v``."""
        terms = []
        for t in v.terms:
            size = int(np.prod(self.partitions[t.partition]["shape"], dtype=np.int64))
            cols, mult = t.table(v.size)
            valid = table >= 0
            safe = np.where(valid, table, 0)
            new_cols = np.where(valid[:, :, None], cols[safe], -1).reshape(len(table), -1)
            new_mult = np.where(valid[:, :, None], mult[safe], 0).reshape(len(table), -1)
            pools = (*t.pools, tag) if tag else t.pools
            terms.append(_make_term(t.partition, new_cols, new_mult, pools, size))
        return _Value(shape, tuple(terms))

    def merge_terms(self, terms: list[_Term], n: int) -> tuple[_Term, ...]:
        by_part: dict[int, list[_Term]] = {}
        for t in terms:
            by_part.setdefault(t.partition, []).append(t)
        out = []
        for p, ts in by_part.items():
            if len(ts) == 1:
                out.append(ts[0])
                continue
            size = int(np.prod(self.partitions[p]["shape"], dtype=np.int64))
            tables = [t.table(n) for t in ts]
            cols = np.concatenate([c for c, _ in tables], axis=1)
            mult = np.concatenate([m for _, m in tables], axis=1)
            pools = tuple(dict.fromkeys(x for t in ts for x in t.pools))
            out.append(_make_term(p, cols, mult, pools, size))
        return tuple(out)

    def concrete(self, node: fx.Node, arg: Any) -> Any:
        """``arg`` with traced nodes replaced by the values they had (``x.size()[2:]``...)."""

        def sub(a: fx.Node) -> Any:
            held = self.env.get(a)
            if isinstance(held, _Value) or held is _CONST:
                raise self.error(
                    node, f"argument '{a.name}' is a tensor, not a size known at trace time."
                )
            return held

        return fx.node.map_arg(arg, sub)

    def value_args(self, node: fx.Node) -> list[fx.Node]:
        return [a for a in node.all_input_nodes if isinstance(self.env.get(a), _Value)]

    # ------------------------------------------------------------------ run
    def run(self) -> None:
        for node in self.graph.nodes:
            self.env[node] = self.visit(node)

    def visit(self, node: fx.Node) -> Any:
        meta = self.traced.outputs.get(node)
        if node.op == "placeholder":
            shape = self.out_shape(node)
            p = self.new_partition("input", shape, node.name, 0)
            return _Value(shape, (_Term(p, None),))
        if node.op == "output":
            for a in node.all_input_nodes:
                if isinstance(self.env.get(a), _Value):
                    self.resolve(self.env[a])
            return None
        if node.op == "get_attr":
            return _CONST
        inputs = self.value_args(node)
        if not isinstance(meta, TensorMeta):
            if (
                inputs
                and isinstance(meta, tuple | list)
                and any(isinstance(m, TensorMeta) for m in meta)
            ):
                raise self.error(node, "ops returning several tensors are not supported.")
            return meta  # sizes, shapes, python values
        if not inputs:
            return _CONST
        return self.visit_tensor(node, inputs)

    def visit_tensor(self, node: fx.Node, inputs: list[fx.Node]) -> _Value:
        op, target = node.op, node.target
        if op == "call_module":
            mod = self.gm.get_submodule(str(target))
            if isinstance(mod, nn.Conv2d | nn.Conv1d | nn.Linear):
                return self.layer_module(node, mod, inputs)
            if isinstance(mod, _PASS_MODULES):
                return self.pass_through(node, inputs)
            if type(mod) in _POOL_MODULES:
                return self.pool_module(node, mod, inputs)
            if isinstance(mod, _GATHER_MODULES):
                return self.gather(node, inputs)
            raise self.error(node, f"module type {type(mod).__name__} is not supported.")
        if op == "call_function":
            if target in (F.conv1d, F.conv2d, F.linear):
                return self.layer_functional(node, inputs)
            if target in _ADD_FUNCTIONS:
                return self.residual(node, inputs)
            if target in _PASS_FUNCTIONS:
                return self.pass_through(node, inputs)
            if target in _SCALE_FUNCTIONS:
                return self.scale(node, inputs)
            if target in _POOL_FUNCTIONS:
                return self.pool_functional(node, inputs)
            if target in _REDUCE_FUNCTIONS:
                return self.reduce(node, inputs)
            if target in _GATHER_FUNCTIONS:
                return self.gather(node, inputs)
            if _is_stochastic_depth(target):
                return self.stochastic_depth(node, inputs)
        if op == "call_method":
            if target in _ADD_METHODS:
                return self.residual(node, inputs)
            if target in _PASS_METHODS:
                return self.pass_through(node, inputs)
            if target in _SCALE_METHODS:
                return self.scale(node, inputs)
            if target in _REDUCE_METHODS:
                return self.reduce(node, inputs)
            if target in _GATHER_METHODS:
                return self.gather(node, inputs)
        raise self.error(node, "this op is not supported by the graph encodings.")

    # ------------------------------------------------------------------ handlers
    def stochastic_depth(self, node: fx.Node, inputs: list[fx.Node]) -> _Value:
        """``torchvision.ops.stochastic_depth``: the identity in eval mode (or with ``p = 0``)."""
        names = ("input", "p", "mode", "training")
        bound = dict(zip(names, node.args, strict=False)) | dict(node.kwargs)
        p, training = (
            self.concrete(node, bound.get("p", 0.0)),
            self.concrete(node, bound.get("training", True)),
        )
        if training and p != 0:
            raise self.error(
                node, "stochastic depth in training mode drops units at random; call model.eval()."
            )
        return self.pass_through(node, inputs)

    def pass_through(self, node: fx.Node, inputs: list[fx.Node]) -> _Value:
        if len(inputs) != 1:
            raise self.error(
                node, "an elementwise op must have exactly one input-dependent operand."
            )
        a = inputs[0]
        v: _Value = self.env[a]
        shape = self.out_shape(node)
        if shape != v.shape:
            raise self.error(node, f"it changes the shape {v.shape} -> {shape}.")
        single = len(a.users) == 1
        return replace(v, chain_ok=v.chain_ok and single, exclusive=v.exclusive and single)

    def scale(self, node: fx.Node, inputs: list[fx.Node]) -> _Value:
        """``x * c``, ``c * x``, ``x / c`` with ``c`` independent of the input (a gate).

        ``c`` (a Python number, buffer, parameter, or anything computed from them
        only) is read at its current value and broadcast to the units of ``x``:
        a unit where ``c`` is zero loses every path through it, a non-zero ``c``
        multiplies the weight of the edges through the unit by ``|c|``.
        """
        if len(inputs) != 1:
            raise self.error(
                node,
                "multiplying two input-dependent tensors (gating, attention) is not linear "
                "in the units and has no edge encoding.",
            )
        a = inputs[0]
        operands = [*node.args, *node.kwargs.values()]
        others = [x for x in operands if x is not a]
        if len(others) != 1 or len(operands) != 2:
            raise self.error(node, "expected one tensor and one constant operand.")
        divide = target_name(node) in ("truediv", "div", "div_")
        if divide and operands[0] is not a:
            raise self.error(node, "dividing by an input-dependent tensor is not linear.")
        if divide and "rounding_mode" in node.kwargs:
            raise self.error(node, "division with a rounding mode is not linear.")
        v = self.pass_through(node, inputs)
        factor = self.constant_factor(node, others[0], v.shape, divide)
        return v if factor is None else self.apply_scale(v, factor)

    def constant_factor(
        self, node: fx.Node, operand: Any, shape: tuple[int, ...], divide: bool
    ) -> np.ndarray | None:
        """``|c|`` (or ``1/|c|``) per unit of a value of ``shape``; None when it is all ones."""
        if isinstance(operand, fx.Node):
            held = self.env.get(operand)
            value: Any = self.traced.constants.get(operand) if held is _CONST else held
            if value is None:
                raise self.error(
                    node, f"the value of constant operand '{operand.name}' is unknown."
                )
        else:
            value = operand
        if isinstance(value, torch.Tensor):
            c = value.detach().cpu().to(torch.float64).numpy()
        elif isinstance(value, int | float | bool | np.number):
            c = np.asarray(float(value))
        else:
            raise self.error(node, f"cannot multiply by a {type(value).__name__}.")
        batch = self.traced.batch
        try:
            full = np.broadcast_to(np.abs(c), (batch, *shape))
        except ValueError:
            raise self.error(
                node, f"constant of shape {tuple(c.shape)} does not broadcast to {shape}."
            ) from None
        if not (full == full[:1]).all():
            raise self.error(node, "the constant differs across the batch dimension.")
        factor = full[0].reshape(-1)
        if not np.isfinite(factor).all():
            raise self.error(node, "the constant has NaN or infinite entries.")
        if divide:
            if (factor == 0).any():
                raise self.error(node, "division by a constant that is zero.")
            factor = 1.0 / factor
        if (factor == 1).all():
            return None
        return np.ascontiguousarray(factor)

    def residual(self, node: fx.Node, inputs: list[fx.Node]) -> _Value:
        """``add``/``sub`` of input-dependent tensors: a residual connection."""
        if len(inputs) == 1:
            return self.pass_through(node, inputs)
        shape = self.out_shape(node)
        values = [self.env[a] for a in inputs]
        for a, v in zip(inputs, values, strict=True):
            if v.shape != shape:
                raise self.error(
                    node,
                    f"operand '{a.name}' of shape {v.shape} is broadcast to {shape}; "
                    "residual adds need operands of equal shape.",
                )
        single = [len(a.users) == 1 and list(node.all_input_nodes).count(a) == 1 for a in inputs]

        def adoptable(k: int) -> bool:
            v = values[k]
            if not single[k]:
                return False
            if v.pending is not None:
                return v.chain_ok and v.pending.partition is None and not v.pending.folded
            return v.exclusive and len(v.terms) == 1 and v.terms[0].cols is None

        depths = [self.depth(v) for v in values]
        deepest = max(depths)
        main = next((k for k in range(len(values)) if depths[k] == deepest and adoptable(k)), None)
        foldable = [
            k != main
            and v.pending is not None
            and v.chain_ok
            and single[k]
            and v.pending.partition is None
            and not v.pending.folded
            for k, v in enumerate(values)
        ]
        # operands that need partitions get them first, so edges point to later partitions
        resolved = {
            k: self.resolve(v) for k, v in enumerate(values) if k != main and not foldable[k]
        }
        if main is not None:
            mv = values[main]
            if mv.pending is not None and mv.scale is not None:  # c * conv(x) + ...
                pend = mv.pending
                p = self.new_partition(pend.layer.name, shape, node.name, deepest)
                self.add_layer_jobs(pend.layer, pend.input, p, dst_scale=mv.scale)
                pend.partition = p
            else:
                p = self.resolve(mv).terms[0].partition
            self.partitions[p]["node"] = node.name
        else:  # nothing to adopt: the sum becomes its own partition
            p = self.new_partition(node.name, shape, node.name, deepest + 1)
        n = int(np.prod(shape, dtype=np.int64))
        for k, v in enumerate(values):
            if foldable[k]:
                assert v.pending is not None
                self.add_layer_jobs(v.pending.layer, v.pending.input, p, v.scale)  # shortcut
                v.pending.folded = True
            elif k in resolved:
                for term in resolved[k].terms:
                    self.jobs.append(_Job(node.name, "skip", term.partition, p, term, n))
        self.partitions[p]["depth"] = max(int(self.partitions[p]["depth"]), deepest)
        return _Value(shape, (_Term(p, None),), exclusive=True)

    def layer_module(self, node: fx.Node, mod: nn.Module, inputs: list[fx.Node]) -> _Value:
        path = str(node.target)
        param_name = f"{path}.weight" if path else "weight"
        if hasattr(mod, "weight_orig") and hasattr(mod, "weight_mask"):
            prune_mask = cast(torch.Tensor, mod.weight_mask)
            weight = cast(torch.Tensor, mod.weight_orig) * prune_mask
        else:
            weight, prune_mask = cast(torch.Tensor, mod.weight), None
        if isinstance(mod, nn.Linear):
            return self.make_layer(node, inputs, path, param_name, weight, prune_mask, "linear")
        assert isinstance(mod, nn.Conv1d | nn.Conv2d)
        v = self.resolve(self.env[inputs[0]])
        if mod.padding_mode != "zeros":
            # reflect/replicate/circular padding gathers real units: pad first, then a valid conv
            pad = list(mod._reversed_padding_repeated_twice)  # last dim first: (l, r, t, b)
            mode = mod.padding_mode
            grown = list(v.shape)
            for d in range(1, len(v.shape)):
                before, after = pad[2 * (len(v.shape) - 1 - d)], pad[2 * (len(v.shape) - 1 - d) + 1]
                grown[d] += before + after
            padded_shape = tuple(grown)
            v = self.gather_fn(node, [v], lambda ts: F.pad(ts[0], pad, mode=mode), padded_shape)
            padding: Any = 0
        else:
            padding = mod.padding
        return self.make_layer(
            node,
            inputs,
            path,
            param_name,
            weight,
            prune_mask,
            "conv",
            stride=mod.stride,
            padding=padding,
            dilation=mod.dilation,
            groups=mod.groups,
            value=v,
        )

    def layer_functional(self, node: fx.Node, inputs: list[fx.Node]) -> _Value:
        names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
        bound = dict(zip(names, node.args, strict=False)) | dict(node.kwargs)
        for key in ("stride", "padding", "dilation", "groups"):
            if key in bound:
                bound[key] = self.concrete(node, bound[key])
        wnode = bound.get("weight")
        if not isinstance(wnode, fx.Node) or wnode.op != "get_attr":
            raise self.error(node, "the weight must be a parameter of the model (a get_attr node).")
        if any(a is wnode for a in inputs) or len(inputs) != 1:
            raise self.error(node, "the weight must not depend on the input.")
        weight = self.gm.get_parameter(str(wnode.target))
        kind = "linear" if node.target is F.linear else "conv"
        path = str(wnode.target).rsplit(".", 1)[0] if "." in str(wnode.target) else node.name
        kwargs: dict[str, Any] = {}
        if kind == "conv":
            kwargs = {
                "stride": bound.get("stride", 1), "padding": bound.get("padding", 0),
                "dilation": bound.get("dilation", 1), "groups": bound.get("groups", 1),
            }  # fmt: skip
        return self.make_layer(node, inputs, path, str(wnode.target), weight, None, kind, **kwargs)

    def make_layer(
        self,
        node: fx.Node,
        inputs: list[fx.Node],
        path: str,
        param_name: str,
        weight: torch.Tensor,
        prune_mask: torch.Tensor | None,
        kind: str,
        *,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        value: _Value | None = None,
    ) -> _Value:
        if len(inputs) != 1:
            raise self.error(node, "a layer must have exactly one input-dependent operand.")
        v = value if value is not None else self.resolve(self.env[inputs[0]])
        out_shape = self.out_shape(node)
        w, mask, n_unmasked = self.masks.resolve(param_name, weight, prune_mask)
        weight_shape = tuple(w.shape)
        name = path or node.name
        if kind == "linear":
            if not v.shape or v.shape[-1] != w.shape[1]:
                raise self.error(node, f"input shape {v.shape} does not end in {w.shape[1]}.")
            layer = LayerInfo(name, node.name, "linear", param_name, w, mask, weight_shape,
                              v.shape, out_shape, stride=(1, 1))  # fmt: skip
        else:
            if w.ndim == 3:  # Conv1d as a 2-D conv over a height-1 image
                w, mask = w[:, :, None, :], mask[:, :, None, :]
                stride, dilation = (1, _pair(stride)[0]), (1, _pair(dilation)[0])
                if not isinstance(padding, str):
                    padding = (0, _pair(padding)[0])
            if len(v.shape) not in (2, 3) or len(out_shape) != len(v.shape):
                raise self.error(node, f"unsupported convolution input shape {v.shape}.")
            in_img, out_img = _as_image(v.shape), _as_image(out_shape)
            kh, kw = w.shape[2:]
            stride_t, dil_t = _pair(stride), _pair(dilation)
            if isinstance(padding, str):
                if padding == "valid":
                    pad_t = (0, 0)
                else:  # 'same': PyTorch puts the smaller half before
                    pad_t = ((dil_t[0] * (kh - 1)) // 2, (dil_t[1] * (kw - 1)) // 2)
            else:
                pad_t = _pair(padding)
            layer = LayerInfo(
                name,
                node.name,
                "conv",
                param_name,
                np.ascontiguousarray(w),
                np.ascontiguousarray(mask),
                weight_shape,
                in_img,
                out_img,
                stride_t,
                pad_t,
                dil_t,
                int(groups),
            )
        layer.value_shape = out_shape
        layer._n_unmasked = n_unmasked
        self.layers.append(layer)
        return _Value(out_shape, (), pending=_Pending(layer, v))

    def pool_params(self, node: fx.Node, kind: str, names: tuple[str, ...], mod: nn.Module | None):
        if mod is not None:
            get = {
                n: getattr(mod, n, None) for n in ("kernel_size", "stride", "padding", "dilation")
            }
        else:
            get = dict(zip(names, self.concrete(node, node.args[1:]), strict=False)) | {
                k: self.concrete(node, v) for k, v in node.kwargs.items() if k in names
            }
        try:
            kernel = _pair(get["kernel_size"])
            stride = _pair(get.get("stride") or get["kernel_size"])
            padding = _pair(get.get("padding") or 0)
            dilation = _pair(get.get("dilation") or 1)
        except (TypeError, ValueError, IndexError, KeyError):
            shown = {k: v for k, v in get.items() if k in names}
            raise self.error(node, f"cannot read the pooling parameters {shown}.") from None
        return kernel, stride, padding, dilation

    def pool_module(self, node: fx.Node, mod: nn.Module, inputs: list[fx.Node]) -> _Value:
        kind = _POOL_MODULES[type(mod)]
        if getattr(mod, "return_indices", False):
            raise self.error(node, "pooling with return_indices=True is not supported.")
        return self.pool(node, inputs, kind, ("kernel_size", "stride", "padding", "dilation"), mod)

    def pool_functional(self, node: fx.Node, inputs: list[fx.Node]) -> _Value:
        kind, names = _POOL_FUNCTIONS[node.target]
        if node.kwargs.get("return_indices"):
            raise self.error(node, "pooling with return_indices=True is not supported.")
        return self.pool(node, inputs, kind, names, None)

    def pool(self, node, inputs, kind, names, mod) -> _Value:
        if len(inputs) != 1:
            raise self.error(node, "a pooling op must have exactly one input-dependent operand.")
        v = self.resolve(self.env[inputs[0]])
        shape = self.out_shape(node)
        if len(v.shape) not in (2, 3) or len(shape) != len(v.shape):
            raise self.error(node, f"unsupported pooling input shape {v.shape}.")
        in_img, out_img = _as_image(v.shape), _as_image(shape)
        one_d = len(v.shape) == 2
        if kind.startswith("adaptive"):
            table = _adaptive_windows(in_img, out_img)
            tag = f"{kind}{out_img[1]}x{out_img[2]}"
        else:
            kernel, stride, padding, dilation = self.pool_params(node, kind, names, mod)
            if one_d:
                kernel, stride, padding, dilation = (
                    (1, kernel[0]),
                    (1, stride[0]),
                    (0, padding[0]),
                    (1, dilation[0]),
                )
            table = _pool_windows(in_img, out_img, kernel, stride, padding, dilation)

            def fmt(pair: tuple[int, int]) -> str:
                return str(pair[1]) if one_d else f"{pair[0]}x{pair[1]}"

            tag = f"{kind}{fmt(kernel)}/s{fmt(stride)}"
            if padding != (0, 0):
                tag += f"/p{fmt(padding)}"
            if dilation != (1, 1):
                tag += f"/d{fmt(dilation)}"
        return self.compose(v, table, tag, shape)

    def reduce(self, node: fx.Node, inputs: list[fx.Node]) -> _Value:
        if len(inputs) != 1:
            raise self.error(node, "a reduction must have exactly one input-dependent operand.")
        v = self.resolve(self.env[inputs[0]])
        dim = self.concrete(node, node.args[1] if len(node.args) > 1 else node.kwargs.get("dim"))
        if dim is None:
            raise self.error(node, "reducing over all dimensions mixes the batch.")
        dims = (dim,) if isinstance(dim, int) else tuple(cast(Any, dim))
        ndim = len(v.shape) + 1
        dims = tuple(sorted({d % ndim for d in dims}))
        if 0 in dims:
            raise self.error(node, "reducing over the batch dimension is not supported.")
        shape = self.out_shape(node)
        table = _reduce_windows(v.shape, tuple(d - 1 for d in dims))
        name = target_name(node) if node.op == "call_method" else _REDUCE_FUNCTIONS[node.target]  # type: ignore[index]
        return self.compose(v, table, f"{name}{list(dims)}", shape)

    # ------------------------------------------------------------------ gathers
    def gather(self, node: fx.Node, inputs: list[fx.Node]) -> _Value:
        """Evaluate a rearranging op on tensors of unit ids to learn where each unit comes from."""
        shape = self.out_shape(node)
        resolved = {a: self.resolve(self.env[a]) for a in inputs}
        op, target = node.op, node.target
        outputs = self.traced.outputs

        def run(index_of: Callable[[fx.Node], torch.Tensor]) -> torch.Tensor:
            def sub(a: Any) -> Any:
                if a in resolved:
                    return index_of(a)
                if isinstance(self.env.get(a), _Const):
                    meta = outputs.get(a)
                    if isinstance(meta, TensorMeta):
                        return torch.zeros(meta.shape, dtype=torch.float64)
                    raise self.error(node, f"constant operand '{a.name}' is not a tensor.")
                return self.env[a]

            args = fx.node.map_arg(node.args, sub)
            kwargs = fx.node.map_arg(node.kwargs, sub)
            if op == "call_module":
                mod = self.gm.get_submodule(str(target))
                if isinstance(mod, nn.modules.padding._ConstantPadNd):
                    return F.pad(cast(torch.Tensor, args[0]), mod.padding, value=0.0)
                return mod(*args, **kwargs)
            if op == "call_method":
                return getattr(args[0], str(target))(*args[1:], **kwargs)
            if target is F.pad:
                pad = args[1] if len(args) > 1 else kwargs["pad"]
                mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
                if mode == "constant":
                    return F.pad(args[0], pad, mode="constant", value=0.0)
                return F.pad(args[0], pad, mode=mode)
            return target(*args, **kwargs)  # type: ignore[operator]

        return self._gather_with(node, list(resolved.values()), list(resolved), run, shape)

    def gather_fn(self, node, values: list[_Value], fn, shape) -> _Value:
        keys = list(range(len(values)))
        return self._gather_with(
            node, values, keys, lambda index_of: fn([index_of(k) for k in keys]), shape
        )

    def _gather_with(self, node, values: list[_Value], keys: list[Any], run, shape) -> _Value:
        batch = self.traced.batch
        bases, total = {}, 0
        for key, v in zip(keys, values, strict=True):
            bases[key] = total
            total += v.size

        def index_of(key: Any) -> torch.Tensor:
            v = values[keys.index(key)]
            ids = torch.arange(v.size, dtype=torch.float64) + 1 + bases[key]
            per_batch = ids[None, :] + total * torch.arange(batch, dtype=torch.float64)[:, None]
            return per_batch.reshape(batch, *v.shape)

        with torch.no_grad():
            out = run(index_of)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (batch, *shape):
            raise self.error(node, "re-running it on unit ids gave an unexpected result.")
        ids = out[0].reshape(-1).round().to(torch.int64).numpy()
        if ids.min(initial=0) < 0 or ids.max(initial=0) > total:
            raise self.error(node, "it mixes units of different batch elements.")
        terms: list[_Term] = []
        for key, v in zip(keys, values, strict=True):
            local = ids - 1 - bases[key]
            src = np.where((local >= 0) & (local < v.size), local, -1)
            if (src >= 0).any():
                terms.extend(self.compose(v, src[:, None], None, shape).terms)
        n = int(np.prod(shape, dtype=np.int64))
        return _Value(shape, self.merge_terms(terms, n))


# ----------------------------------------------------------------------------- assembly
def _walk(model: nn.Module, masks: Mapping[str, Any] | None, input_shape: Any) -> _Walker:
    if not isinstance(model, nn.Module):
        raise EncodingError(
            f"The 'model' parameter of encode must be a torch.nn.Module. Got {type(model).__name__}."
        )
    resolver = _Masks(model, masks)  # validates names and shapes before tracing
    traced = trace_model(model, input_shape)
    walker = _Walker(traced, resolver)
    walker.run()
    resolver.check_all_used()
    if not walker.layers:
        raise EncodingError(f"Model {type(model).__name__} has no Conv/Linear layer to encode.")
    return walker


def _offsets(shapes: list[tuple[int, ...]]) -> list[int]:
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    return [0, *np.cumsum(sizes).tolist()][:-1]


def _topological_order(n: int, arcs: set[tuple[int, int]]) -> list[int]:
    """Partitions in a topological order of the block DAG, creation order among ties.

    Kahn's algorithm with a min-heap: when creation order is already topological
    (every chain model) the numbering is unchanged.
    """
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for a, b in arcs:
        succ[a].append(b)
        indeg[b] += 1
    ready = [k for k in range(n) if indeg[k] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        for b in succ[k]:
            indeg[b] -= 1
            if indeg[b] == 0:
                heapq.heappush(ready, b)
    if len(order) != n:
        raise EncodingError("The traced model's partitions form a cycle; cannot order them.")
    return order


def _assemble_mge(walker: _Walker, weighted: bool, meta: dict[str, Any]) -> MultipartiteGraph:
    # number partitions in a topological order of the traced graph: an add may adopt a
    # partition created before one of its operands' partitions
    order = _topological_order(len(walker.partitions), {(job.src, job.dst) for job in walker.jobs})
    if order != list(range(len(order))):
        new_index = {old: new for new, old in enumerate(order)}
        walker.partitions = [walker.partitions[old] for old in order]
        for job in walker.jobs:
            job.src, job.dst = new_index[job.src], new_index[job.dst]
    parts = walker.partitions
    offsets = _offsets([p["shape"] for p in parts])
    partitions = tuple(
        Partition(k, str(p["name"]), tuple(p["shape"]), int(offsets[k]))
        for k, p in enumerate(parts)
    )
    n_nodes = partitions[-1].offset + partitions[-1].size
    id_dtype = np.int32 if n_nodes < np.iinfo(np.int32).max else np.int64
    counts = [job.count() for job in walker.jobs]
    total = int(sum(counts))
    src: np.ndarray = np.empty(total, dtype=id_dtype)
    dst: np.ndarray = np.empty(total, dtype=id_dtype)
    weight = np.empty(total, dtype=np.float32)
    blocks = []
    pos = 0
    for index, (job, count) in enumerate(zip(walker.jobs, counts, strict=True)):
        start = pos
        src_off, dst_off = partitions[job.src].offset, partitions[job.dst].offset
        if job.direct_fill:  # the common case: written in place, offsets added on the way
            pos = _fill_layer(job, src, dst, weight, pos, src_off, dst_off)
        else:
            for d, s, w in job.chunks():
                n = len(d)
                np.add(d, dst_off, out=dst[pos : pos + n], casting="unsafe")
                np.add(s, src_off, out=src[pos : pos + n], casting="unsafe")
                weight[pos : pos + n] = w
                pos += n
        if pos - start != count:
            raise AssertionError(
                f"edge count of block {job.name} changed: {count} != {pos - start}"
            )
        layer = job.layer
        blocks.append(
            EdgeBlock(
                index=index,
                name=job.name,
                kind=job.kind,
                src_partition=job.src,
                dst_partition=job.dst,
                start=start,
                stop=pos,
                param_name=layer.param_name if layer else None,
                weight_shape=layer.weight_shape if layer else None,
                stride=layer.stride if layer and layer.kind == "conv" else None,
                padding=layer.padding if layer and layer.kind == "conv" else None,
                dilation=layer.dilation if layer and layer.kind == "conv" else None,
                groups=layer.groups if layer else 1,
                pool=job.pool,
                n_weights=job.n_weights,
                n_unmasked=job.n_unmasked,
            )
        )
    if not weighted:
        weight[:] = 1.0
    meta = {
        **meta,
        "partition_nodes": [str(p["node"]) for p in parts],
        "partition_depth": [int(p["depth"]) for p in parts],
    }
    return MultipartiteGraph("mge", partitions, tuple(blocks), src, dst, weight, meta)


def _assemble_rolled(
    walker: _Walker, kind: str, weighted: bool, meta: dict[str, Any]
) -> MultipartiteGraph:
    first_use: dict[str, LayerInfo] = {}
    for ly in walker.layers:  # a shared module is one rolled layer
        first_use.setdefault(ly.param_name, ly)
    layers = list(first_use.values())
    shapes: list[tuple[int, ...]] = []
    names: list[str] = []
    for ly in layers:
        c_out, ci_g = ly.weight.shape[:2]
        c_in = ci_g * ly.groups if ly.kind == "conv" else ci_g
        if ly.kind == "conv":
            kh, kw = ly.weight.shape[2:]
            left_shape = (c_in, kh, kw) if kind == "rolled" else (c_in,)
        else:
            left_shape = (c_in,)
        shapes += [left_shape, (c_out,)]
        names += [f"{ly.name}:in", f"{ly.name}:out"]
    offsets = _offsets(shapes)
    partitions = tuple(Partition(k, names[k], shapes[k], offsets[k]) for k in range(len(shapes)))
    n_nodes = partitions[-1].offset + partitions[-1].size
    id_dtype = np.int32 if n_nodes < np.iinfo(np.int32).max else np.int64
    srcs, dsts, ws, blocks = [], [], [], []
    pos = 0
    for k, ly in enumerate(layers):
        absw = np.abs(ly.weight) * ly.mask
        if ly.kind == "conv":
            co, ci_g, kh, kw = ly.weight.shape
            # first input channel of the group of each output channel o
            group_base = (np.arange(co) // (co // ly.groups)) * ci_g
            if kind == "rolled":
                o, il, u, v = np.nonzero(ly.mask)
                left = ((group_base[o] + il) * kh + u) * kw + v
                w = absw[o, il, u, v]
            else:
                slice_any = ly.mask.any(axis=(2, 3))
                o, il = np.nonzero(slice_any)
                left = group_base[o] + il
                w = absw.sum(axis=(2, 3))[o, il]
        else:
            o, left_j = np.nonzero(ly.mask)
            left, w = left_j, absw[o, left_j]
        srcs.append(left.astype(id_dtype) + partitions[2 * k].offset)
        dsts.append(o.astype(id_dtype) + partitions[2 * k + 1].offset)
        ws.append(w.astype(np.float32))
        blocks.append(
            EdgeBlock(
                index=k,
                name=ly.name,
                kind=ly.kind,
                src_partition=2 * k,
                dst_partition=2 * k + 1,
                start=pos,
                stop=pos + len(o),
                param_name=ly.param_name,
                weight_shape=ly.weight_shape,
                stride=ly.stride if ly.kind == "conv" else None,
                padding=ly.padding if ly.kind == "conv" else None,
                dilation=ly.dilation if ly.kind == "conv" else None,
                groups=ly.groups,
                n_weights=ly.n_weights,
                n_unmasked=ly.n_unmasked,
            )
        )
        pos += len(o)
    src = np.concatenate(srcs) if srcs else np.empty(0, id_dtype)
    dst = np.concatenate(dsts) if dsts else np.empty(0, id_dtype)
    weight = np.concatenate(ws) if ws else np.empty(0, np.float32)
    if not weighted:
        weight[:] = 1.0
    return MultipartiteGraph(kind, partitions, tuple(blocks), src, dst, weight, meta)


def encode(
    model: nn.Module,
    masks: Mapping[str, Any] | None,
    input_shape: Any,
    *,
    kind: str = "mge",
    weighted: bool = True,
) -> MultipartiteGraph:
    """Encode a (sparse) model as a graph.

    Parameters
    ----------
    model : torch.nn.Module
        Any model ``torch.fx.symbolic_trace`` can trace, built from the ops
        listed in ``docs/encoding.md``.
    masks : dict of str to bool array, or None
        One mask per Conv/Linear weight, keyed by parameter name
        (``"features.0.weight"``; ``"...weight_orig"`` is accepted too). They
        are combined (AND) with ``torch.nn.utils.prune`` buffers and with the
        exact zeros of the weights; ``None`` uses only the latter two.
    input_shape : tuple of int
        ``(C, H, W)`` or ``(F,)``, without the batch dimension.
    kind : {"mge", "rolled", "rolled_channel"}
        The unrolled multipartite encoding, or the per-layer rolled bipartite
        (``C_in*kh*kw x C_out``) or rolled-channel (``C_in x C_out``) ones.
    weighted : bool
        Edge weight ``|theta|`` (summed when edges merge) if True, else 1.

    Returns
    -------
    MultipartiteGraph
        For the MGE, ``meta["partition_nodes"]`` names the traced node whose
        output each partition is, ``meta["partition_depth"]`` its depth.

    Raises
    ------
    EncodingError
        Unsupported op (the message names it and the traced node), untraceable
        model, wrong input shape, bad or unknown mask, NaN/inf weights.
    """
    if kind not in GRAPH_KINDS:
        close = difflib.get_close_matches(str(kind), GRAPH_KINDS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise EncodingError(
            f"The 'kind' parameter of encode must be one of {', '.join(GRAPH_KINDS)}. "
            f"Got {kind!r} instead.{hint}"
        )
    if not isinstance(weighted, bool):
        raise EncodingError(
            f"The 'weighted' parameter of encode must be a bool. Got {weighted!r} instead."
        )
    walker = _walk(model, masks, input_shape)
    meta = {
        "encoding_version": ENCODING_VERSION,
        "model": type(model).__name__,
        "architecture": getattr(model, "name", None) or getattr(model, "architecture", None),
        "input_shape": list(walker.traced.input_shape),
        "weighted": weighted,
    }
    meta = {k: v for k, v in meta.items() if v is None or isinstance(v, str | int | bool | list)}
    family = GRAPH_FAMILIES[kind]  # the builder named by the family's row
    return family.build_function()(
        walker, weighted=weighted, meta=meta, **dict(family.builder_options)
    )


def list_layers(model: nn.Module, input_shape: Any, masks: Mapping[str, Any] | None = None):
    """The Conv/Linear layers of ``model`` in traced order (``LayerInfo`` list)."""
    return _walk(model, masks, input_shape).layers


ENCODINGS: Registry[Callable[..., MultipartiteGraph]] = Registry("encoding")
for _kind in GRAPH_KINDS:
    ENCODINGS.add(
        _kind,
        (
            lambda k: (
                lambda model, masks, input_shape, **kw: encode(
                    model, masks, input_shape, kind=k, **kw
                )
            )
        )(_kind),
    )
