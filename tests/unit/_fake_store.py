"""A recording fake of :class:`prunegraph.queries.store.Store` for unit tests.

It records every query it is asked to run, with its parameters, and answers
from canned responses, so code that talks to the store (the exporter's
protocol, deletes, the metric writer) is tested without a server, the way the
Graph Data Science client's own tests record Cypher and parameters. The
integration tier (``tests/integration``) runs the same code against a real
server.

Queries are recognised by their library name (the text of
``queries/cypher/<name>.cypher``); inline Cypher is recorded under the name
``None``. A response is a list of rows, or a callable ``params -> rows``;
``"*"`` answers every query without a response of its own (default: no rows).

Example::

    store = RecordingStore()
    store.answer("export_network_state", [])
    store.answer("export_units", lambda p: [{"ids": list(range(p["first"], p["last"] + 1))}])
    ...
    assert store.names()[:2] == ["export_network_state", "export_begin"]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from prunegraph.queries.library import list_queries, load_query

Rows = list[dict[str, Any]]
Response = Rows | Callable[[dict[str, Any]], Rows]


@cache
def _names_by_text() -> dict[str, str]:
    return {load_query(name).text: name for name in list_queries()}


@dataclass
class Call:
    """One recorded query: its library name (None for inline Cypher), text, parameters."""

    name: str | None
    cypher: str
    params: dict[str, Any]
    write: bool


@dataclass(eq=False)  # hashable by identity, as a Store is
class RecordingStore:
    """Records queries and parameters; answers canned rows (see the module docstring)."""

    calls: list[Call] = field(default_factory=list)
    responses: dict[str, Response] = field(default_factory=dict)

    def answer(self, name: str, response: Response) -> RecordingStore:
        """Answer library query ``name`` (or ``"*"``: any other) with ``response``."""
        if name != "*":
            load_query(name)  # an unknown name is a typo in the test
        self.responses[name] = response
        return self

    def answer_once(self, name: str, *responses: Rows) -> RecordingStore:
        """Answer the next calls of ``name`` with ``responses`` in turn, then no rows."""
        queue = list(responses)
        return self.answer(name, lambda _params: queue.pop(0) if queue else [])

    # ------------------------------------------------------------ the Store API
    def run(self, cypher: str, params: dict[str, Any] | None = None, *, write: bool = True) -> Rows:
        name = _names_by_text().get(cypher.strip())
        params = dict(params or {})
        self.calls.append(Call(name, cypher, params, write))
        response = self.responses.get(name or "", self.responses.get("*", []))
        rows = response(params) if callable(response) else response
        return [dict(r) for r in rows]

    def run_autocommit(self, cypher: str, params: dict[str, Any] | None = None) -> Rows:
        return self.run(cypher, params)

    def query(self, name: str, /, **params: Any) -> Rows:
        return self.run(load_query(name).text, params)

    def batched_autocommit(
        self, cypher: str, params: dict[str, Any] | None = None, *, until_zero: str = "n"
    ) -> int:
        total = 0
        while True:
            rows = self.run(cypher, params)
            done = int(rows[0][until_zero]) if rows else 0
            total += done
            if done == 0:
                return total

    def write_batches(
        self,
        cypher: str,
        rows: Sequence[Any],
        *,
        batch_size: int = 20_000,
        param: str = "rows",
        extra: dict[str, Any] | None = None,
        **_: Any,
    ) -> int:
        for start in range(0, len(rows), batch_size):
            self.run(cypher, {param: list(rows[start : start + batch_size]), **(extra or {})})
        return len(rows)

    # ------------------------------------------------------------ inspection
    def names(self) -> list[str | None]:
        """The library names of the recorded queries, in order."""
        return [c.name for c in self.calls]

    def of(self, name: str) -> list[dict[str, Any]]:
        """The parameters of every recorded call of ``name``, in order."""
        return [c.params for c in self.calls if c.name == name]
