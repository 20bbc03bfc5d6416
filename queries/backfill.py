"""Backfill the cost of networks stored before the cost existed (``prunegraph db backfill-cost``).

The cost (:data:`~prunegraph.loader.cost.COST_COLUMNS`: ``params``,
``params_nonzero``, ``flops_dense``, ``flops_sparse``; FLOPs counted as
multiply-accumulates) is computed from the encoder's block metadata, and every
storage level keeps that metadata: per ``(:Layer)`` its kind, weight shape,
weights, unmasked weights, parameter name and target partition, and on the
``(:Network)`` the partition sizes. So the cost of a stored network is
recomputed from the store alone (no study cache, no model, no edge) with
:func:`prunegraph.loader.cost.cost_from_stored`, which applies the exporter's
own functions: the values are the ones an export writes today.

A network without Layer nodes or without partition sizes cannot be backfilled
(nothing it stores says how large its layers' outputs are); it is reported,
with the reason, and left as it is (re-export it from its study). Only complete
networks are considered: a half-written one is redone by its next export,
which writes the cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prunegraph.errors import ValidationError
from prunegraph.loader.cost import cost_from_stored

__all__ = ["CostBackfill", "backfill_cost", "networks_without_cost"]


@dataclass
class CostBackfill:
    """What :func:`backfill_cost` did.

    ``networks``/``layers``: how many it wrote (or would write, with
    ``dry_run``); ``refused``: ``network_id -> reason`` for those whose cost
    cannot be computed from what is stored.
    """

    networks: int = 0
    layers: int = 0
    studies: tuple[str, ...] = ()
    refused: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False


def networks_without_cost(store: Any, study: str | None = None) -> list[dict[str, Any]]:
    """Complete networks (of ``study``, or all) lacking a cost property on a Network or Layer node.

    Rows of the library query ``export_cost_missing``: ``network_id, study,
    layers, has_partition_sizes``.
    """
    return store.query("export_cost_missing", study=study)


def backfill_cost(
    store: Any,
    missing: Iterable[dict[str, Any]],
    *,
    batch_size: int = 200,
    dry_run: bool = False,
) -> CostBackfill:
    """Compute and write the cost of the networks ``missing`` (rows of :func:`networks_without_cost`).

    Idempotent: the write sets the values an export computes, so running it
    twice (or on a network that already has them) changes nothing.

    Parameters
    ----------
    store : Store
        A connected store.
    missing : iterable of dict
        Rows with ``network_id``, ``study``, ``layers`` and ``has_partition_sizes``.
    batch_size : int
        Networks per read and write transaction.
    dry_run : bool
        Compute, but write nothing.

    Returns
    -------
    CostBackfill
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValidationError(f"batch_size must be an int >= 1. Got {batch_size!r}.")
    rows = list(missing)
    result = CostBackfill(studies=tuple(sorted({str(r["study"]) for r in rows})), dry_run=dry_run)
    todo = []
    for row in rows:
        if not row["layers"]:
            result.refused[row["network_id"]] = "no Layer nodes are stored"
        elif not row["has_partition_sizes"]:
            result.refused[row["network_id"]] = "the Network has no partition_sizes"
        else:
            todo.append(str(row["network_id"]))
    for start in range(0, len(todo), batch_size):
        ids = todo[start : start + batch_size]
        layers: dict[str, list[dict[str, Any]]] = {}
        sizes: dict[str, Any] = {}
        for layer in store.query("export_cost_inputs", network_ids=ids):
            layers.setdefault(layer["network_id"], []).append(layer)
            sizes[layer["network_id"]] = layer["partition_sizes"]
        writes: list[dict[str, Any]] = []
        n_layers = 0
        for network_id in ids:
            try:
                network, per_layer = cost_from_stored(sizes[network_id], layers[network_id])
            except (KeyError, ValidationError) as exc:
                result.refused[network_id] = f"its stored layers do not give the cost: {exc}"
                continue
            writes.append({"network_id": network_id, **network, "layers": per_layer})
            n_layers += len(per_layer)
        if writes and not dry_run:
            (done,) = store.query("export_cost_write", rows=writes)
            result.networks += int(done["networks"])
            result.layers += int(done["layers"])
        elif writes:
            result.networks += len(writes)
            result.layers += n_layers
    return result
