"""Stack functions that take their paths: scratch servers, neo4j-admin imports, clean-up.

Java and Maven are small scripts (as in ``test_stack_unit.py``): no JVM starts and
nothing is downloaded. The scratch server is only other :class:`StackPaths`; these
tests check that every operation on it uses its paths and never the environment's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_stack_unit import FAKE_MVN_OK, REPO_STACK, STACK_ENV, _free_port, _script

from prunegraph import stack
from prunegraph.errors import ConfigError, StackError


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local stack 'built' by a fake Maven, with a fake Java 17 that logs its arguments
    to ``tools/calls.log`` and exits with ``$FAKE_JAVA_EXIT`` (0 by default)."""
    for name in STACK_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRUNEGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PRUNEGRAPH_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("PRUNEGRAPH_BOLT_PORT", str(_free_port()))
    monkeypatch.setenv("PRUNEGRAPH_HTTP_PORT", str(_free_port()))
    sources = tmp_path / "stack-src"
    shutil.copytree(REPO_STACK, sources, ignore=shutil.ignore_patterns("target"))
    monkeypatch.setenv("PRUNEGRAPH_STACK_DIR", str(sources))
    tools = tmp_path / "tools"
    jdk = tools / "jdk"
    _script(
        jdk / "bin" / "java",
        f'echo "$@" >> "{tools}/calls.log"\necho "import output line" \nexit ${{FAKE_JAVA_EXIT:-0}}\n',
    )
    (jdk / "release").write_text('JAVA_VERSION="17.0.9"\n')
    monkeypatch.setenv("PRUNEGRAPH_JAVA_HOME", str(jdk))
    monkeypatch.setenv("PRUNEGRAPH_MVN", str(_script(tools / "mvn", FAKE_MVN_OK)))
    monkeypatch.setenv("GDS", stack.pinned_versions().gds)
    assert stack.build(echo=False) is True
    (tools / "calls.log").unlink(missing_ok=True)
    return tools


def _calls(tools: Path) -> list[str]:
    log = tools / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_scratch_server_is_other_paths_on_the_same_installation(
    built: Path, tmp_path: Path
) -> None:
    main = stack.stack_paths()
    env = dict(os.environ)
    with stack.ScratchServer(tmp_path / "scratch", heap="512m", pagecache="128m") as server:
        paths = server.paths
        assert paths.home == tmp_path / "scratch" and paths.neo4j_home.parent == paths.home
        assert paths.credentials == paths.home / "credentials.toml" != main.credentials
        assert paths.lib.resolve() == main.lib.resolve()
        assert paths.plugins.resolve() == main.plugins.resolve()
        assert stack.is_built(paths)
        ports = {paths.bolt_port, paths.http_port, main.bolt_port, main.http_port}
        assert len(ports) == 4
        assert (paths.heap_max, paths.pagecache) == ("512m", "128m")
        assert not stack.is_running(paths) and not server.running
        assert stack.stop(paths) is False  # nothing runs there
        st = stack.status(paths, query_versions=False)
        assert st.uri == paths.uri and st.neo4j_home == paths.neo4j_home and not st.running
        with pytest.raises(StackError, match="never started"):
            server.settings()
        stack.write_credentials(paths, "scratch-pw-1")
        settings = server.settings()
        assert (settings.uri, settings.password) == (paths.uri, "scratch-pw-1")
        assert not main.credentials.exists()  # the local stack's credentials untouched
    assert not (tmp_path / "scratch").exists()  # close() removes it
    assert dict(os.environ) == env  # no environment juggling
    assert _calls(built) == []  # nothing was run


def test_scratch_server_checks_its_settings(built: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="heap must look like"):
        stack.ScratchServer(tmp_path / "s", heap="lots")


def test_import_database_runs_neo4j_admin_on_the_given_paths(built: Path, tmp_path: Path) -> None:
    with stack.ScratchServer(tmp_path / "scratch") as server:
        work = tmp_path / "work"
        seconds = stack.import_database(
            server.paths, ["--nodes=Study=a.csv", "--relationships=HAS=b.csv"], work, threads=3
        )
        assert seconds >= 0
        (call,) = _calls(built)
        assert f"-Dbasedir={server.paths.neo4j_home}" in call
        assert "Neo4jAdminCommand database import full --nodes=Study=a.csv" in call
        assert "--relationships=HAS=b.csv" in call and "--threads=3" in call
        assert f"--report-file={work / 'import.report'}" in call and call.endswith(" neo4j")
        conf = (server.paths.conf_dir / "neo4j.conf").read_text()
        assert f"server.bolt.listen_address=127.0.0.1:{server.paths.bolt_port}" in conf
        assert "import output line" in (work / "import.log").read_text()
        with pytest.raises(StackError, match="threads"):
            stack.import_database(server.paths, [], work, threads=0)


def test_import_database_failure_names_the_log(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_JAVA_EXIT", "3")
    paths = stack.stack_paths()
    with pytest.raises(StackError, match=r"(?s)import failed \(exit 3\).*import output line"):
        stack.import_database(paths, ["--nodes=x.csv"], tmp_path / "w")


def test_remove_installation_keeps_the_credentials(built: Path) -> None:
    paths = stack.stack_paths()
    stack.write_credentials(paths, "keep-me-123")
    assert stack.remove_installation(paths) is True
    assert not paths.neo4j_home.exists() and not stack.is_built(paths)
    assert stack.read_local_password(paths) == "keep-me-123"
    assert stack.remove_installation(paths) is False
