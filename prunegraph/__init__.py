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

__all__ = [
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
