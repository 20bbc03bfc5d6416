"""Neo4j Browser in headless Chromium: log in, run a library query, open the guide.

Uses Debian's chromium (/usr/bin/chromium) driven by Playwright. The
credentials come from ConnectionSettings.resolve() and are never printed.
Screenshots are kept under artifacts/ (gitignored) as test artefacts.
"""

from __future__ import annotations

import secrets
import shutil
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _graphs import resnet_block

from prunegraph.config import ConnectionSettings
from prunegraph.loader import export as ex
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries import data_model as dm
from prunegraph.queries.guide_server import serve_in_background
from prunegraph.queries.library import load_query
from prunegraph.queries.store import Store

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def browser_network(store: Store):
    study = f"t{uuid.uuid4().hex[:10]}_browser"
    g = resnet_block()
    rec = NetworkRecord(
        network_id=secrets.token_hex(8),
        study=study,
        architecture="resnet_block",
        dataset="synthetic",
        pruner="random",
        pruner_category="pai",
        sparsity=0.5,
        seed=0,
        input_shape=(2, 3, 3),
    )
    ex.export_network(store, g, record=rec, progress=False)
    yield rec
    dm.delete_study(store, study)


def _browser_url(settings: ConnectionSettings) -> str:
    from prunegraph import stack

    host = urlsplit(settings.uri).hostname or "127.0.0.1"
    return f"http://{host}:{stack.stack_paths().http_port}/browser/"


def test_browser_runs_a_library_query_and_the_guide(
    neo4j_settings: ConnectionSettings, browser_network
) -> None:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    settings = ConnectionSettings.resolve()
    query = load_query("study_networks")
    one_line = " ".join(query.text.split())
    ARTIFACTS.mkdir(exist_ok=True)
    server, guide = serve_in_background(0)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(_browser_url(settings), wait_until="networkidle", timeout=120_000)
                page.get_by_test_id("boltaddress").fill(settings.uri)
                page.get_by_test_id("username").fill(settings.user)
                if settings.password is not None:
                    page.get_by_test_id("password").fill(settings.password)
                page.get_by_test_id("connect").click()
                page.wait_for_selector("text=You are connected as user", timeout=60_000)

                def run(command: str) -> None:
                    page.get_by_test_id("activeEditor").click()
                    page.keyboard.insert_text(command)
                    page.get_by_test_id("editor-Run").click()

                run(f":param study => '{browser_network.study}'")
                page.wait_for_timeout(1500)
                run(one_line)
                cell = page.get_by_text(f'"{browser_network.network_id}"')
                cell.first.wait_for(timeout=60_000)
                assert page.get_by_text('"resnet_block"').count() >= 1
                page.screenshot(path=str(ARTIFACTS / "browser_library_query.png"))

                run(f":play {guide}")
                page.get_by_text("the topology of sparse neural networks").first.wait_for(
                    timeout=60_000
                )
                page.screenshot(path=str(ARTIFACTS / "browser_guide.png"))
            finally:
                browser.close()
    finally:
        server.shutdown()
    assert (ARTIFACTS / "browser_library_query.png").stat().st_size > 10_000
