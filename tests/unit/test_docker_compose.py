"""docker/compose.yml validates with docker-compose (no engine needed) and is safe by default.

The Debian package `docker-compose` (1.29) is installed by `make test`; outside CI the
test is skipped only when the binary is missing. The compose file must refuse to render
without NEO4J_PASSWORD, bind its ports to 127.0.0.1 and enable the GDS plugin.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker" / "compose.yml"


def _compose() -> list[str]:
    binary = shutil.which("docker-compose")
    if binary:
        return [binary]
    if os.environ.get("CI"):
        pytest.fail(
            "docker-compose is missing; `make test` installs it (apt-get install docker-compose)."
        )
    pytest.skip("docker-compose is not installed (run `make test`, which installs it)")


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    return subprocess.run(
        [*_compose(), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **env},
        check=False,
    )


def test_compose_config_renders_with_a_password() -> None:
    password = "unit-test-" + os.urandom(4).hex()
    proc = _config({"NEO4J_PASSWORD": password})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"NEO4J_AUTH: neo4j/{password}" in out
    assert "graph-data-science" in out
    assert re.search(r"NEO4J_dbms_security_procedures_unrestricted: ['\"]?gds\.\*", out)
    assert re.search(r"image: neo4j:5\.26[.\d]*-community", out)
    ports = re.findall(r"^\s*- ['\"]?([\d.]+:\d+:\d+)", out, re.M)
    assert sorted(p.split(":", 1)[1] for p in ports) == ["7474:7474", "7687:7687"]
    assert all(p.startswith("127.0.0.1:") for p in ports)
    assert re.search(r"neo4j-data:/data", out)


def test_compose_config_ports_are_overridable() -> None:
    proc = _config(
        {"NEO4J_PASSWORD": "x" * 12, "NEO4J_BOLT_PORT": "17687", "NEO4J_HTTP_PORT": "17474"}
    )
    assert proc.returncode == 0, proc.stderr
    assert "127.0.0.1:17687:7687" in proc.stdout
    assert "127.0.0.1:17474:7474" in proc.stdout


def test_compose_config_fails_without_password() -> None:
    proc = _config({})
    assert proc.returncode != 0
    assert "NEO4J_PASSWORD" in proc.stderr + proc.stdout


def test_compose_file_holds_no_secret() -> None:
    text = COMPOSE_FILE.read_text()
    assert re.search(r"NEO4J_AUTH:\s*\"neo4j/\$\{NEO4J_PASSWORD:\?", text)
    assert "0.0.0.0" not in text
