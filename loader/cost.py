"""The cost of a (sparse) network: parameters, non-zero parameters and FLOPs, per layer and in total.

Everything is read from what the encoder already recorded on the MGE's edge
blocks (:class:`~prunegraph.loader.graph.EdgeBlock`: the weight shape, the
number of weights and of kept weights) and from the traced output shape of each
layer (its target partition), so no weight is visited again.

Definitions, for a conv or linear layer ``l`` with weight tensor ``theta_l``,
mask ``m_l`` and output tensor of shape ``(C_out, H_out, W_out)`` (``(F_out,)``
for a linear layer, i.e. ``P_l = 1``):

.. math::

    P_l = H_{out} W_{out} \\qquad \\text{(output positions per output channel)}

    \\mathrm{params}_l = |\\theta_l|, \\qquad
    \\mathrm{params\\_nonzero}_l = \\sum_j m_{l,j}

    \\mathrm{flops\\_dense}_l = P_l \\, |\\theta_l|, \\qquad
    \\mathrm{flops\\_sparse}_l = \\sum_j m_{l,j} \\, P_l = P_l \\, \\mathrm{params\\_nonzero}_l

A convolution weight is applied once at every output position of its output
channel (grouped convolutions included: a weight of group ``g`` only feeds the
output channels of ``g``, and ``|theta_l| = C_out C_in/g k_h k_w``), so
``flops_sparse`` is the sum over kept weights of the number of output
positions each one is applied at. Positions where the kernel overlaps zero
padding are counted (the multiply-accumulate is executed by a dense kernel), as
the usual counters do; the MGE draws no edge from a padding position, so its
edge count for a conv layer is at most ``flops_sparse`` (equal without
padding, and without a pooling before the layer, which replicates edges over
the pooling windows).

**Convention: one FLOP is one multiply-accumulate** (FLOPs = MACs), the unit
in which most pruning papers report the cost of a network (e.g. the
"4.1 GFLOPs" of ResNet-50 on ImageNet is its count of multiply-accumulates;
Blalock et al., 2020, MLSys, discuss the ambiguity). Double the figures for
the "2 x MACs" convention. Biases, normalisation, activations, pooling and
skip additions are not counted, in parameters nor in FLOPs: ``params`` is the
number of prunable (conv/linear) weights, the ones the masks cover.

The network totals are the sums over the layers (a shared weight tensor counted
once in the parameters, see :func:`network_cost`); ratios are left to the
user (``flops_sparse / flops_dense``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from prunegraph.errors import ValidationError

if TYPE_CHECKING:
    from prunegraph.loader.graph import MultipartiteGraph

COST_COLUMNS: tuple[str, ...] = ("params", "params_nonzero", "flops_dense", "flops_sparse")
"""Property names of the cost, on the ``(:Layer)`` and ``(:Network)`` nodes and in the
feature table (the network's totals)."""


def layer_costs(graph: MultipartiteGraph) -> dict[str, np.ndarray]:
    """Per-block cost arrays of an MGE (one entry per edge block, 0 for skip blocks).

    Parameters
    ----------
    graph : MultipartiteGraph
        An MGE (``kind == 'mge'``), as built by :func:`prunegraph.loader.encoding.encode`.

    Returns
    -------
    dict of str to int64 array
        Keys :data:`COST_COLUMNS` plus ``positions`` (``P_l``, output
        positions per output channel); arrays aligned with ``graph.blocks``.
        See the module docstring for the formulas (FLOPs are multiply-accumulates).

    Raises
    ------
    ValidationError
        If the graph is not an MGE, or a layer's output size is not a multiple
        of its number of output channels.
    """
    if getattr(graph, "kind", None) != "mge":
        raise ValidationError(
            "Network cost needs the MGE (kind 'mge'), whose partitions are the traced "
            f"activation shapes. Got kind {getattr(graph, 'kind', type(graph).__name__)!r}."
        )
    n = len(graph.blocks)
    weighted = np.array(
        [b.kind != "skip" and bool(b.weight_shape) for b in graph.blocks], dtype=bool
    )
    n_weights = np.array([b.n_weights for b in graph.blocks], dtype=np.int64)
    n_unmasked = np.array([b.n_unmasked for b in graph.blocks], dtype=np.int64)
    out_size = np.array([graph.partitions[b.dst_partition].size for b in graph.blocks], np.int64)
    out_channels = np.array(
        [b.weight_shape[0] if b.weight_shape else 1 for b in graph.blocks], dtype=np.int64
    )
    bad = weighted & ((out_channels <= 0) | (out_size % np.maximum(out_channels, 1) != 0))
    if bad.any():
        b = graph.blocks[int(np.flatnonzero(bad)[0])]
        raise ValidationError(
            f"Layer {b.name!r}: output size {graph.partitions[b.dst_partition].size} is not a "
            f"multiple of its {b.weight_shape[0] if b.weight_shape else 0} output channels."
        )
    positions = np.where(weighted, out_size // np.maximum(out_channels, 1), 0)
    params = np.where(weighted, n_weights, 0)
    nonzero = np.where(weighted, n_unmasked, 0)
    return {
        "params": params.reshape(n),
        "params_nonzero": nonzero.reshape(n),
        "flops_dense": positions * params,
        "flops_sparse": positions * nonzero,
        "positions": positions.reshape(n),
    }


def network_cost(graph: MultipartiteGraph) -> dict[str, int]:
    """Network totals of :data:`COST_COLUMNS`, from :func:`layer_costs`.

    ``flops_dense = sum_l P_l |theta_l|`` and ``flops_sparse = sum_l P_l sum_j m_{l,j}``
    over every edge block ``l`` (FLOPs counted as multiply-accumulates; see the
    module docstring). ``params = sum_theta |theta|`` and ``params_nonzero =
    sum_theta sum_j m_j`` count each weight tensor once: the blocks of one
    parameter that write the same output (a layer reading a concatenation has one
    block per source, each with its share of the weight) are summed, and a module
    applied several times (weight sharing, one block per application) counts once
    in the parameters but once per application in the FLOPs.
    """
    costs = layer_costs(graph)
    totals = {name: int(costs[name].sum()) for name in ("flops_dense", "flops_sparse")}
    # per (parameter, output partition): the summed shares; per parameter: one application
    shares: dict[tuple[str, int], np.ndarray] = {}
    for k, b in enumerate(graph.blocks):
        if b.param_name is not None and costs["params"][k]:
            key = (b.param_name, b.dst_partition)
            pair = np.array([costs["params"][k], costs["params_nonzero"][k]], dtype=np.int64)
            shares[key] = shares.get(key, 0) + pair
    per_param: dict[str, np.ndarray] = {}
    for (name, _), pair in shares.items():
        per_param[name] = np.maximum(per_param.get(name, pair), pair)
    summed = np.sum(list(per_param.values()), axis=0) if per_param else np.zeros(2, np.int64)
    return {
        "params": int(summed[0]),
        "params_nonzero": int(summed[1]),
        "flops_dense": totals["flops_dense"],
        "flops_sparse": totals["flops_sparse"],
    }


#: Layer properties :func:`cost_from_stored` reads (what every storage level keeps on a
#: ``(:Layer)`` node), besides the network's ``partition_sizes``.
STORED_LAYER_KEYS: tuple[str, ...] = (
    "index",
    "name",
    "kind",
    "weight_shape",
    "n_weights",
    "n_unmasked",
    "param_name",
    "dst_partition",
)


def cost_from_stored(
    partition_sizes: Sequence[int], layers: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, int], list[dict[str, int]]]:
    """The cost of a stored network from its Network and Layer properties.

    Every storage level keeps, per MGE edge block, the ``(:Layer)`` properties
    :data:`STORED_LAYER_KEYS` (the block metadata the cost is computed from)
    and, on the ``(:Network)``, the partition sizes; this rebuilds the blocks
    from them and applies :func:`layer_costs` and :func:`network_cost`, so a
    network stored before the cost existed gets the values an export writes
    today (``prunegraph db backfill-cost``).

    Parameters
    ----------
    partition_sizes : sequence of int
        The Network's ``partition_sizes`` (units per MGE partition).
    layers : sequence of mapping
        One mapping per stored Layer with :data:`STORED_LAYER_KEYS`
        (``weight_shape`` and ``param_name`` may be absent on skip layers).

    Returns
    -------
    (dict, list of dict)
        The network's :data:`COST_COLUMNS`, and per layer ``index`` plus its
        :data:`COST_COLUMNS` (in the order of ``layers``).

    Raises
    ------
    ValidationError
        A layer lacks a property the cost needs, or points to a partition
        the network does not have.
    """
    from types import SimpleNamespace

    sizes = [int(s) for s in partition_sizes]
    blocks = []
    for row in layers:
        needed = ["index", "kind", "dst_partition"]
        if row.get("kind") != "skip":
            needed += ["weight_shape", "n_weights", "n_unmasked"]
        absent = [k for k in needed if row.get(k) is None]
        if absent:
            raise ValidationError(
                f"Layer {row.get('index')!r} ({row.get('name')!r}) lacks {', '.join(absent)}."
            )
        if not 0 <= int(row["dst_partition"]) < len(sizes):
            raise ValidationError(
                f"Layer {row['index']!r} writes partition {row['dst_partition']}; the network "
                f"has {len(sizes)} partitions."
            )
        shape = row.get("weight_shape")
        blocks.append(
            SimpleNamespace(
                index=int(row["index"]),
                name=str(row.get("name", row["index"])),
                kind=str(row["kind"]),
                weight_shape=tuple(int(d) for d in shape) if shape else None,
                n_weights=int(row.get("n_weights") or 0),
                n_unmasked=int(row.get("n_unmasked") or 0),
                param_name=row.get("param_name"),
                dst_partition=int(row["dst_partition"]),
            )
        )
    partitions = [SimpleNamespace(size=size) for size in sizes]
    graph = cast(
        "MultipartiteGraph", SimpleNamespace(kind="mge", blocks=blocks, partitions=partitions)
    )
    costs = layer_costs(graph)
    per_layer = [
        {"index": b.index, **{name: int(costs[name][k]) for name in COST_COLUMNS}}
        for k, b in enumerate(blocks)
    ]
    return network_cost(graph), per_layer
