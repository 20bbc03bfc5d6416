"""prunegraph: a graph-database-backed analysis store for the topology of sparse neural networks.

Data flows left to right: ``prunegraph.loader`` (models, pruners, masks,
encodings, export) -> ``prunegraph.queries`` (Neo4j store, Cypher library,
metrics) -> ``prunegraph.analysis`` (feature tables, regression, ranking,
reports).
"""

from __future__ import annotations

__version__ = "0.1.0"

from prunegraph.config import ConnectionSettings
from prunegraph.errors import (
    ConfigError,
    DatabaseError,
    EncodingError,
    NotFoundError,
    PrunegraphError,
    StackError,
    UnknownNameError,
    ValidationError,
)

# Lazily imported entry points (torch, pandas and the driver load on first use).
_LAZY = {
    "MultipartiteGraph": "prunegraph.loader.graph",
    "encode": "prunegraph.loader.encoding",
    "build_model": "prunegraph.loader.models",
    "prune": "prunegraph.loader.pruning",
    "load_dataset": "prunegraph.loader.data",
    "train": "prunegraph.loader.training",
    "evaluate": "prunegraph.loader.training",
    "NetworkRecord": "prunegraph.loader.records",
    "export_network": "prunegraph.loader.export",
    "Store": "prunegraph.queries.store",
    "compute_metrics": "prunegraph.queries.metrics",
    "load_features": "prunegraph.analysis.features",
    "write_report": "prunegraph.analysis.report",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'prunegraph' has no attribute {name!r}")


__all__ = [
    *sorted(_LAZY),
    "ConfigError",
    "ConnectionSettings",
    "DatabaseError",
    "EncodingError",
    "NotFoundError",
    "PrunegraphError",
    "StackError",
    "UnknownNameError",
    "ValidationError",
    "__version__",
]
