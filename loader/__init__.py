"""Models, pruners, masks, encodings and the exporter (no analysis, one-way data flow).

The common entry points are re-exported lazily, so ``import prunegraph.loader``
does not import torch until one of them is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from prunegraph.loader.graph import EdgeBlock, MultipartiteGraph, Partition

_LAZY = {
    "encode": "prunegraph.loader.encoding",
    "build_model": "prunegraph.loader.models",
    "MODELS": "prunegraph.loader.models",
    "prune": "prunegraph.loader.pruning",
    "PRUNERS": "prunegraph.loader.pruning",
    "threshold": "prunegraph.loader.pruning",
    "apply_masks": "prunegraph.loader.masks",
    "load_masks": "prunegraph.loader.masks",
    "save_masks": "prunegraph.loader.masks",
    "masks_from_model": "prunegraph.loader.masks",
    "masks_from_checkpoint": "prunegraph.loader.masks",
    "density_report": "prunegraph.loader.masks",
    "load_dataset": "prunegraph.loader.data",
    "train": "prunegraph.loader.training",
    "evaluate": "prunegraph.loader.training",
    "accuracy_drop": "prunegraph.loader.training",
    "draw_graph": "prunegraph.loader.draw",
    "NetworkRecord": "prunegraph.loader.records",
    "export_network": "prunegraph.loader.export",
    "delete_network": "prunegraph.queries.data_model",
    "delete_study": "prunegraph.queries.data_model",
}

__all__ = ["EdgeBlock", "MultipartiteGraph", "Partition", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'prunegraph.loader' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
