"""``prunegraph query`` cannot write: write queries are refused, the rest run in READ mode."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest

from prunegraph.cli import main
from prunegraph.errors import DatabaseError, ValidationError


def _count(store: Any, marker: str) -> int:
    rows = store.run(
        "MATCH (n:SafetyProbe {marker: $m}) RETURN count(n) AS n", {"m": marker}, write=False
    )
    return int(rows[0]["n"])


@pytest.mark.parametrize("name", ["export_complete", "export_begin", "delete_network_nodes"])
def test_the_cli_refuses_library_queries_that_write(
    store: Any, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["query", name, "--param", "network_id=0123456789abcdef"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"Query '{name}' writes to the store" in err


def test_a_write_the_text_check_misses_is_refused_by_the_server(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prunegraph.cli.query as query_cli
    from prunegraph.queries import library

    marker = f"safety-{uuid.uuid4().hex[:8]}"
    real = library.load_query("study_networks")
    sneaky = dataclasses.replace(
        real,
        text="CREATE (n:SafetyProbe {marker: $study}) RETURN n.marker AS marker",
        params=("study",),
    )
    monkeypatch.setattr(library, "load_query", lambda name: sneaky)
    monkeypatch.setattr(query_cli, "writes", lambda text: False)  # pretend the check missed it
    try:
        with pytest.raises(DatabaseError, match=r"server refused it\. Nothing was changed"):
            query_cli.run_read_only("study_networks", {"study": marker}, store=store)
        assert _count(store, marker) == 0
    finally:
        store.run("MATCH (n:SafetyProbe {marker: $m}) DELETE n", {"m": marker})


def test_read_queries_still_run(store: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from prunegraph.cli.query import run_read_only

    columns, rows = run_read_only("study_networks", {"study": f"no-such-{uuid.uuid4().hex}"})
    assert rows == [] and columns
    with pytest.raises(ValidationError, match="missing study"):
        run_read_only("study_networks", {})
    assert main(["query", "list_studies", "--format", "json"]) == 0
    capsys.readouterr()
