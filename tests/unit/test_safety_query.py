"""The query command's write check: clauses and writing procedures, not names that contain them."""

from __future__ import annotations

import pytest

from prunegraph.cli.query import writes


@pytest.mark.parametrize(
    "text",
    [
        "MATCH (n) SET n.x = 1",
        "match (n) detach delete n",
        "MERGE (n:Network {network_id: $id})",
        "UNWIND $rows AS r CREATE (:Unit {k: r})",
        "MATCH (n) REMOVE n.target_level",
        "CALL gds.graph.drop($name, false)",
        "CALL gds.wcc.write('g', {writeProperty: 'c'})",
        "CALL gds.degree.mutate('g', {})",
        "CALL apoc.create.node(['X'], {})",
        "FOREACH (x IN $xs | CREATE (:X))",
        "LOAD CSV FROM 'file:///x' AS row RETURN row",
        "DROP CONSTRAINT c",
    ],
)
def test_writes_are_recognised(text: str) -> None:
    assert writes(text)


@pytest.mark.parametrize(
    "text",
    [
        "MATCH (n:Network) RETURN n.dataset AS dataset, n.offset AS offset",  # 'SET' inside names
        "// SET, CREATE and DELETE in a comment\nMATCH (n) RETURN n",
        "MATCH (n) WHERE n.note = 'CREATE me' RETURN n",
        "MATCH (n) RETURN n.set AS s, $create AS c",
        "CALL gds.graph.project('g', 'Unit', 'W')",  # in-memory projection, not a store write
    ],
)
def test_reads_are_not_mistaken_for_writes(text: str) -> None:
    assert not writes(text)


def test_every_library_query_that_writes_is_an_internal_one() -> None:
    from prunegraph.queries.library import list_queries, load_query

    writing = {n for n in list_queries() if writes(load_query(n).text)}
    assert {"export_begin", "export_complete", "delete_network_nodes"} <= writing
    assert "study_networks" not in writing and "network_features" not in writing
    internal = ("export_", "delete_", "metric_", "schema_", "study_lock_", "similar_write")
    assert all(n.startswith(internal) for n in writing), sorted(writing)
