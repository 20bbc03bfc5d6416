"""The real local stack: versions, the GDS algorithms prunegraph uses, the Browser, the CLI.

Each test creates its own tiny graph under a unique label and deletes it.
Expected results come from networkx on the same edge list, not from constants.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest

from prunegraph import stack
from prunegraph.config import ConnectionSettings

# Two components: a path with three bridges and two cut nodes, and a triangle with a tail.
EDGES = [(0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (6, 4), (6, 7)]
N_NODES = 8
_LABEL_RE = re.compile(r"^T[0-9a-f]{12}$")


def _reference() -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(N_NODES))
    g.add_edges_from(EDGES)
    return g


@pytest.fixture
def tiny_graph(store, unique_name: str) -> Iterator[tuple[str, str]]:
    """A tiny labelled graph and its undirected native projection; both removed afterwards."""
    label = "T" + unique_name[1:]
    assert _LABEL_RE.match(label)  # label is interpolated: whitelist it
    graph_name = f"{unique_name}_g"
    store.run(f"UNWIND range(0, $n - 1) AS i CREATE (:{label} {{i: i}})", {"n": N_NODES})
    store.run(
        f"UNWIND $rows AS r MATCH (a:{label} {{i: r[0]}}), (b:{label} {{i: r[1]}}) "
        "CREATE (a)-[:LINK {w: 1.0 + r[0]}]->(b)",
        {"rows": [list(e) for e in EDGES]},
    )
    store.run(
        "CALL gds.graph.project($g, $label, {LINK: {orientation: 'UNDIRECTED', properties: 'w'}})",
        {"g": graph_name, "label": label},
    )
    try:
        yield label, graph_name
    finally:
        store.run(
            "CALL gds.graph.drop($g, false) YIELD graphName RETURN graphName", {"g": graph_name}
        )
        store.run(f"MATCH (n:{label}) DETACH DELETE n")


def test_server_runs_the_pinned_versions(store) -> None:
    info = store.server_info()
    pinned = stack.pinned_versions()
    assert info["neo4j_version"] == pinned.neo4j
    assert info["edition"] == "community"
    assert info["gds_version"] == pinned.gds
    assert store.run("RETURN gds.version() AS v")[0]["v"] == pinned.gds


def test_gds_wcc_matches_networkx(store, tiny_graph) -> None:
    _, g = tiny_graph
    rows = store.run(
        "CALL gds.wcc.stream($g) YIELD nodeId, componentId "
        "RETURN gds.util.asNode(nodeId).i AS i, componentId AS c",
        {"g": g},
    )
    ours = {frozenset(r["i"] for r in rows if r["c"] == c) for c in {r["c"] for r in rows}}
    expected = {frozenset(c) for c in nx.connected_components(_reference())}
    assert ours == expected


def test_gds_kcore_matches_networkx(store, tiny_graph) -> None:
    _, g = tiny_graph
    rows = store.run(
        "CALL gds.kcore.stream($g) YIELD nodeId, coreValue "
        "RETURN gds.util.asNode(nodeId).i AS i, coreValue AS k",
        {"g": g},
    )
    assert {r["i"]: r["k"] for r in rows} == nx.core_number(_reference())


def test_gds_bridges_and_articulation_points_match_networkx(store, tiny_graph) -> None:
    _, g = tiny_graph
    bridges = store.run(
        "CALL gds.bridges.stream($g) YIELD from, to "
        "RETURN gds.util.asNode(from).i AS a, gds.util.asNode(to).i AS b",
        {"g": g},
    )
    assert {frozenset((r["a"], r["b"])) for r in bridges} == {
        frozenset(e) for e in nx.bridges(_reference())
    }
    cut = store.run(
        "CALL gds.articulationPoints.stream($g) YIELD nodeId RETURN gds.util.asNode(nodeId).i AS i",
        {"g": g},
    )
    assert {r["i"] for r in cut} == set(nx.articulation_points(_reference()))


def test_gds_degree_plain_and_weighted_match_networkx(store, tiny_graph) -> None:
    _, g = tiny_graph
    ref = _reference()
    for a, b in EDGES:
        ref[a][b]["w"] = 1.0 + a
    rows = store.run(
        "CALL gds.degree.stream($g) YIELD nodeId, score RETURN gds.util.asNode(nodeId).i AS i, score",
        {"g": g},
    )
    assert {r["i"]: r["score"] for r in rows} == dict(ref.degree())
    rows = store.run(
        "CALL gds.degree.stream($g, {relationshipWeightProperty: 'w'}) YIELD nodeId, score "
        "RETURN gds.util.asNode(nodeId).i AS i, score",
        {"g": g},
    )
    assert {r["i"]: r["score"] for r in rows} == pytest.approx(dict(ref.degree(weight="w")))


def test_graphdatascience_client_works_without_arrow(store, tiny_graph) -> None:
    # OpenGDS has no gds.debug.arrow; client 2.2 must fall back to Bolt on its own.
    gds = store.gds()
    assert str(gds.server_version()) == stack.pinned_versions().gds
    _, g = tiny_graph
    graph = gds.graph.get(g)
    assert graph.node_count() == N_NODES
    wcc = gds.wcc.stream(graph)
    assert wcc["componentId"].nunique() == nx.number_connected_components(_reference())
    kcore = gds.kcore.stream(graph)
    assert sorted(kcore["coreValue"]) == sorted(nx.core_number(_reference()).values())
    cut = gds.articulation_points.stream(graph)
    assert len(cut) == len(set(nx.articulation_points(_reference())))


def test_http_discovery_and_browser_page(store) -> None:
    paths = stack.stack_paths()
    discovery = stack.http_discovery(paths.http_port)
    assert discovery is not None
    assert discovery["neo4j_version"] == stack.pinned_versions().neo4j
    assert discovery["bolt_direct"] == f"bolt://127.0.0.1:{paths.bolt_port}"
    status, body = stack.http_get(paths.browser_url)
    assert status == 200
    assert "<title>Neo4j Browser</title>" in body


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_browser_app_renders_in_chromium(store) -> None:
    """The Browser's JavaScript app boots in a real headless Chromium (Debian's package)."""
    binary = _chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; `make test` installs it (apt-get install chromium).")
        pytest.skip("chromium is not installed (run `make test`, which installs it)")
    from playwright.sync_api import sync_playwright

    url = stack.stack_paths().browser_url
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url, wait_until="load", timeout=60_000)
            # The connect form of the app appears once its bundle has run.
            page.wait_for_selector("text=/Connect/i", timeout=60_000)
            assert "Neo4j Browser" in page.title()
            assert errors == []
        finally:
            browser.close()


def test_server_listens_on_loopback_only(store) -> None:
    paths = stack.stack_paths()
    pid = stack.running_pid(paths)
    if pid is None:
        if os.environ.get("CI"):  # CI always runs the local stack
            pytest.fail("the server under test was not started by this installation")
        pytest.skip("the server under test was not started by this installation")
    listening = _listening_addresses()
    for port in (paths.bolt_port, paths.http_port):
        hosts = {host for host, p in listening if p == port}
        assert hosts == {"127.0.0.1"}, f"port {port} listens on {hosts}"


def _listening_addresses() -> set[tuple[str, int]]:
    out: set[tuple[str, int]] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            addr, port = fields[1].split(":")
            if width == 8:
                host = ".".join(str(int(addr[i : i + 2], 16)) for i in (6, 4, 2, 0))
            else:  # four little-endian 32-bit words
                raw = b"".join(bytes.fromhex(addr[i : i + 8])[::-1] for i in range(0, 32, 8))
                ip6 = ipaddress.IPv6Address(raw)
                host = str(ip6.ipv4_mapped or ip6)
            out.add((host, int(port, 16)))
    return out


def test_credentials_file_is_private(store) -> None:
    path = stack.stack_paths().credentials
    if not path.exists():
        if os.environ.get("CI"):  # CI always runs the local stack
            pytest.fail("the server under test does not use the local credentials file")
        pytest.skip("the server under test does not use the local credentials file")
    assert path.stat().st_mode & 0o777 == 0o600


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prunegraph.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_cli_status_and_idempotent_start(store) -> None:
    proc = _cli("db", "status")
    assert proc.returncode == 0, proc.stderr
    pinned = stack.pinned_versions()
    assert f"Neo4j {pinned.neo4j} community, GDS {pinned.gds}" in proc.stdout
    assert re.search(r"Browser: +http://127\.0\.0\.1:\d+/browser/ answers", proc.stdout)
    proc = _cli("db", "start")
    assert proc.returncode == 0, proc.stderr
    assert "already running" in proc.stdout


def test_wrong_password_is_one_clear_line(neo4j_settings: ConnectionSettings) -> None:
    wrong = "not-the-password-" + os.urandom(4).hex()
    proc = _cli("db", "status", env={"NEO4J_PASSWORD": wrong})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "refused the credentials" in proc.stderr
    assert wrong not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1
