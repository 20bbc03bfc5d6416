"""Fixtures of the integration tier: a real Neo4j + GDS server, never a mock.

``neo4j_settings`` (session): the connection settings of a server that answers.
If nothing answers on the configured Bolt address and it is the local stack's
(127.0.0.1), the local stack is started (built first if needed) and stopped at
the end of the session; a server that was already running is left running.
If no server can be had, every test using the fixture FAILS (it never skips):
the integration tier must run, in CI and elsewhere.

``store`` (session): a connected :class:`prunegraph.queries.store.Store`.
Tests create and delete only their own data (unique names/ids); never wipe
the database, it is shared.

Every test in ``tests/integration`` is marked ``neo4j`` automatically.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from prunegraph import stack
from prunegraph.config import ConnectionSettings
from prunegraph.errors import PrunegraphError

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.neo4j)


def _bolt_address(settings: ConnectionSettings) -> tuple[str, int]:
    parts = urlsplit(settings.uri)
    return parts.hostname or "127.0.0.1", parts.port or 7687


@pytest.fixture(scope="session")
def neo4j_settings() -> Iterator[ConnectionSettings]:
    """Settings of a running Neo4j + GDS server; starts the local stack if needed."""
    started_here = False
    try:
        settings = ConnectionSettings.resolve()
        host, port = _bolt_address(settings)
        if not stack.bolt_answers(port, host=host):
            if host not in ("127.0.0.1", "localhost"):
                pytest.fail(
                    f"No Neo4j answers at {settings.uri} (NEO4J_URI), and it is not the local "
                    "stack, so the tests cannot start it.",
                    pytrace=False,
                )
            result = stack.start(echo=False)
            started_here = not result.already_running
            settings = ConnectionSettings.resolve()  # first start writes the credentials
    except PrunegraphError as exc:
        pytest.fail(
            f"The integration tier needs Neo4j + GDS and could not get it: {exc}", pytrace=False
        )
    try:
        yield settings
    finally:
        if started_here and not os.environ.get("PRUNEGRAPH_KEEP_STACK"):
            stack.stop()


@pytest.fixture(scope="session")
def store(neo4j_settings: ConnectionSettings) -> Iterator[object]:
    """A connected Store for the whole session (closed at the end)."""
    from prunegraph.queries.store import Store

    try:
        connected = Store.connect()
    except PrunegraphError as exc:
        pytest.fail(f"Cannot connect to Neo4j at {neo4j_settings.uri}: {exc}", pytrace=False)
    with connected as s:
        yield s


@pytest.fixture
def unique_name() -> str:
    """A name no other test (or engineer) uses: prefix your labels/studies with it."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def tiny_run(store: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """examples/ci-tiny.toml run once per session; deleted while the store is still open."""
    from _study_helpers import run_tiny_study

    from prunegraph.queries.data_model import delete_study

    run = run_tiny_study(store, tmp_path_factory)
    yield run
    delete_study(store, run["config"].name)
