"""The store's Cypher files: headers, parameters, whitelisted dynamic labels/types, schema."""

from __future__ import annotations

import re

import pytest

from prunegraph.queries.data_model import REL_TYPES
from prunegraph.queries.library import list_queries, load_query
from prunegraph.queries.schema import schema_queries

# Files owned by other components follow their own conventions.
FOREIGN = re.compile(r"^(metric_.*|network_features|layer_metrics|study_network_status)$")
MINE = [q for q in list_queries() if not FOREIGN.match(q)]
READ_QUERIES = [
    "list_studies",
    "list_networks",
    "study_networks",
    "list_incomplete_networks",
    "network_info",
    "network_layers",
    "dead_units",
    "pruned_units",
    "paths_to_output",
    "unit_neighbourhood",
    "compare_networks",
    "network_sample",
    "network_edges",
    "rolled_edges",
    "channel_edges",
    "study_network_ids",
]


def test_the_required_questions_are_in_the_library() -> None:
    assert set(READ_QUERIES) <= set(MINE)


@pytest.mark.parametrize("name", MINE)
def test_query_header_and_params(name: str) -> None:
    q = load_query(name)
    assert len(q.description) > 20, "a header comment says what the query answers"
    missing = set(q.params) - set(q.examples)
    assert not missing, f"every $param needs a // :param example for Browser: {missing}"
    assert ";" not in q.text.replace("';'", ""), "one statement per file"
    # no string building: dynamic labels/types only through $(...) of whitelisted parameters
    for expr in re.findall(r"\$\(([^)]*)\)", q.text):
        assert expr in ("$labels", "$type"), f"{name}: dynamic label/type from {expr!r}"


@pytest.mark.parametrize("name", READ_QUERIES)
def test_read_queries_use_whitelisted_types_and_hide_incomplete_networks(name: str) -> None:
    q = load_query(name)
    for types in re.findall(r"\[[a-z]*:([A-Z_|]+)", q.text):
        assert set(types.split("|")) <= REL_TYPES | {"HAS_NETWORK", "HAS_LAYER"}
    assert not re.search(r"\b(CREATE|MERGE|DELETE|SET)\b", q.text), "read queries do not write"
    if "Network" in q.text and name not in (
        "list_incomplete_networks",
        "network_info",
        "study_network_ids",
    ):
        if name.endswith("_edges"):
            return
        assert "'complete'" in q.text, f"{name} must only show complete networks"


def test_schema_statements_are_idempotent_and_community_compatible() -> None:
    names = schema_queries()
    assert len(names) >= 6
    for name in names:
        text = load_query(name).text
        assert "IF NOT EXISTS" in text
        assert "IS NODE KEY" not in text and "IS NOT NULL" not in text  # Enterprise-only forms
    unit = load_query("schema_unit_key").text
    assert "(u.network_id, u.uid) IS UNIQUE" in unit


def test_export_rel_query_takes_its_type_as_a_parameter() -> None:
    q = load_query("export_rels")
    assert "$($type)" in q.text and {"src", "dst", "w", "type", "layer"} == set(q.params)
