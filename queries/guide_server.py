"""Serve the Neo4j Browser guide (``queries/guide/``) so ``:play`` can load it.

Neo4j Browser fetches remote guides itself (cross-origin XHR from the page at
``http://127.0.0.1:7474``) and only from hosts in the server setting
``browser.remote_content_hostname_allowlist`` (default
``guides.neo4j.com,localhost``). Neo4j 5 has no setting to serve extra static
files, so prunegraph runs a tiny HTTP server on 127.0.0.1 that adds the CORS
header, and the guide is opened with::

    :play http://localhost:8477/prunegraph.html

(``localhost``, not ``127.0.0.1``: the allowlist compares host names.)
``prunegraph guide`` runs it in the foreground.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

GUIDE_DIR = Path(__file__).resolve().parent / "guide"
GUIDE_FILE = "prunegraph.html"
DEFAULT_PORT = 8477


class _CorsHandler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_OPTIONS(self) -> None:  # CORS preflight: Browser sends custom headers
        self.send_response(204)
        self.send_header("Access-Control-Allow-Methods", "GET, OPTIONS")
        self.send_header(
            "Access-Control-Allow-Headers",
            self.headers.get("Access-Control-Request-Headers", "*"),
        )
        self.send_header("Access-Control-Allow-Private-Network", "true")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def make_server(port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """An HTTP server for the guide directory bound to 127.0.0.1 (port 0: any free port)."""
    handler = functools.partial(_CorsHandler, directory=str(GUIDE_DIR))
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


def guide_url(port: int) -> str:
    return f"http://localhost:{port}/{GUIDE_FILE}"


def serve_in_background(port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start the guide server on a daemon thread; returns it and the ``:play`` URL."""
    server = make_server(port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, guide_url(int(server.server_address[1]))
