"""The one exception hierarchy of prunegraph.

Every error a user can cause derives from :class:`PrunegraphError`, so the CLI
can print its message without a traceback. Subclasses also derive from the
matching builtin (``ValueError``, ``KeyError``, ...) so callers that already
catch those keep working.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PrunegraphError(Exception):
    """Base class of every error prunegraph raises on purpose."""


class ValidationError(PrunegraphError, ValueError):
    """A user-supplied argument, file or configuration is invalid."""


class UnknownNameError(PrunegraphError, KeyError):
    """A name (model, pruner, metric, query, ...) is not in its registry."""

    def __init__(self, kind: str, name: str, choices: Iterable[str]) -> None:
        choices = sorted(choices)
        close = difflib.get_close_matches(name, choices, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        message = f"Unknown {kind} '{name}'.{hint} Choose from: {', '.join(choices)}."
        super().__init__(message)
        self.kind, self.name, self.choices = kind, name, choices

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class EncodingError(PrunegraphError, ValueError):
    """A model cannot be encoded as a graph (unsupported op, bad mask, ...)."""


class ConfigError(PrunegraphError):
    """Connection or stack configuration is missing or wrong."""


class StackError(PrunegraphError):
    """The local Neo4j stack cannot be built, started or stopped."""


class DatabaseError(PrunegraphError):
    """Neo4j is unreachable, refused the credentials, or a query failed."""


class NotFoundError(PrunegraphError, LookupError):
    """A study, network or layer does not exist in the store."""
