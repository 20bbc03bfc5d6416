"""The store's schema: constraints and indexes, one ``queries/cypher/schema_*.cypher`` each.

Community Edition has property uniqueness constraints (single and composite),
not node keys or existence constraints, so the schema is:

* ``Study(name)`` and ``Network(network_id)`` unique;
* ``Layer(network_id, index)``, ``Unit(network_id, uid)``,
  ``RolledUnit(network_id, uid)``, ``ChannelUnit(network_id, uid)`` unique
  (composite): their backing range indexes make a lookup by (network, uid) an
  index seek and a lookup by network alone a prefix seek;
* a range index on ``Network(study)``.

Every statement is ``IF NOT EXISTS``, so :func:`ensure_schema` is idempotent.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from prunegraph.queries.library import list_queries, load_query

if TYPE_CHECKING:
    from prunegraph.queries.store import Store

SCHEMA_PREFIX = "schema_"
_READY: weakref.WeakSet[Any] = weakref.WeakSet()  # stores whose schema this process created


def schema_queries() -> list[str]:
    """Names of the schema statements in the library."""
    return [name for name in list_queries() if name.startswith(SCHEMA_PREFIX)]


def ensure_schema(store: Store, *, wait_seconds: int = 300, force: bool = False) -> list[str]:
    """Create every constraint and index that is missing and wait until they are online.

    Runs once per store object (later calls return ``[]``) unless ``force``.
    Returns the names of the schema statements that ran.
    """
    if not force and store in _READY:
        return []
    names = schema_queries()
    for name in names:
        store.run(load_query(name).text)
    store.run("CALL db.awaitIndexes($seconds)", {"seconds": int(wait_seconds)}, write=False)
    _READY.add(store)
    return names
