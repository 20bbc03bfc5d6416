"""Deletes that fit the server: batches halve on MemoryPoolOutOfMemoryError and go on."""

from __future__ import annotations

from typing import Any

import pytest

from prunegraph.errors import DatabaseError
from prunegraph.queries.data_model import adaptive_batches

OOM = (
    "Neo4j error in MATCH (u:Unit ...: Neo.TransientError.General.MemoryPoolOutOfMemoryError: "
    "The allocation of an extra 2.0 MiB would use more than the limit 10.0 MiB."
)


class _SmallHeap:
    """A server whose transactions can delete at most ``limit`` units each."""

    def __init__(self, units: int, limit: int) -> None:
        self.units, self.limit, self.sizes = units, limit, []

    def run_autocommit(self, cypher: str, params: dict[str, Any]) -> list[dict[str, int]]:
        size = params["batch_size"]
        self.sizes.append(size)
        if min(size, self.units) > self.limit:
            raise DatabaseError(OOM)  # rolled back: nothing deleted
        done = min(size, self.units)
        self.units -= done
        return [{"n": done}]


def test_batches_halve_until_they_fit_and_the_delete_finishes() -> None:
    server = _SmallHeap(units=3_000, limit=700)
    assert adaptive_batches(server, "DELETE", {"network_id": "x"}, 5_000) == 3_000  # type: ignore[arg-type]
    assert server.units == 0
    assert server.sizes[:4] == [5_000, 2_500, 1_250, 625]
    assert set(server.sizes[4:]) == {625}  # the size that fits is kept


def test_a_single_item_too_large_names_the_setting() -> None:
    server = _SmallHeap(units=10, limit=0)
    with pytest.raises(DatabaseError, match=r"Even a batch of one .* db\.memory\.transaction\.max"):
        adaptive_batches(server, "DELETE", {}, 8)  # type: ignore[arg-type]
    assert server.sizes == [8, 4, 2, 1]


def test_other_errors_are_not_retried() -> None:
    class _Down:
        calls = 0

        def run_autocommit(self, cypher: str, params: dict[str, Any]) -> Any:
            self.calls += 1
            raise DatabaseError("No Neo4j server answers at bolt://127.0.0.1:7687.")

    down = _Down()
    with pytest.raises(DatabaseError, match="No Neo4j server answers"):
        adaptive_batches(down, "DELETE", {}, 100)  # type: ignore[arg-type]
    assert down.calls == 1
