"""The local stack manager without a database: Java/Maven detection, build idempotence,
configuration, credentials, probes and the CLI's one-line errors.

Maven and Java are replaced by small scripts in a temporary directory, so these tests
never download anything or start a JVM.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from prunegraph import stack
from prunegraph.cli import main
from prunegraph.config import ConnectionSettings
from prunegraph.errors import ConfigError, StackError

REPO_STACK = Path(__file__).resolve().parents[2] / "stack"
STACK_ENV = (
    "PRUNEGRAPH_JAVA_HOME",
    "JAVA_HOME",
    "PRUNEGRAPH_MVN",
    "PRUNEGRAPH_DATA_DIR",
    "PRUNEGRAPH_BOLT_PORT",
    "PRUNEGRAPH_HTTP_PORT",
    "PRUNEGRAPH_HEAP_SIZE",
    "PRUNEGRAPH_PAGECACHE_SIZE",
    "PRUNEGRAPH_STACK_DIR",
    "PRUNEGRAPH_START_TIMEOUT",
    "NEO4J_URI",
    "NEO4J_PASSWORD",
    "NEO4J_USERNAME",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in STACK_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRUNEGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PRUNEGRAPH_CONFIG", str(tmp_path / "config.toml"))
    # Free ports, so nothing here ever touches the shared server on 7687/7474.
    monkeypatch.setenv("PRUNEGRAPH_BOLT_PORT", str(_free_port()))
    monkeypatch.setenv("PRUNEGRAPH_HTTP_PORT", str(_free_port()))
    return tmp_path


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def fake_jdk(root: Path, version: str, *, release: bool = True) -> Path:
    home = root / f"jdk-{version}"
    _script(
        home / "bin" / "java",
        'echo "$@" >> "$(dirname "$0")/calls.log"\n'
        f"echo 'openjdk version \"{version}\" 2025-01-01' >&2\n",
    )
    if release:
        (home / "release").write_text(f'IMPLEMENTOR="Test"\nJAVA_VERSION="{version}"\n')
    return home


FAKE_MVN_OK = r"""
echo "$@" >> "$(dirname "$0")/calls.log"
for a in "$@"; do
  case "$a" in
    -DoutputDirectory=*) d="${a#-DoutputDirectory=}"; mkdir -p "$d"; echo x > "$d/neo4j-kernel.jar";;
    -Dgds.plugin.dir=*) d="${a#-Dgds.plugin.dir=}"; mkdir -p "$d"; echo x > "$d/open-gds-$GDS.jar";;
  esac
done
"""


@pytest.fixture
def fake_tools(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Java 17 and a Maven that 'builds' instantly; returns the tools folder."""
    tools = isolated / "tools"
    jdk = fake_jdk(tools, "17.0.9")
    monkeypatch.setenv("PRUNEGRAPH_JAVA_HOME", str(jdk))
    mvn = _script(tools / "mvn", FAKE_MVN_OK)
    monkeypatch.setenv("PRUNEGRAPH_MVN", str(mvn))
    monkeypatch.setenv("GDS", stack.pinned_versions().gds)
    return tools


def _calls(tools: Path) -> list[str]:
    log = tools / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


# ------------------------------------------------------------------ pins


def test_pinned_versions_come_from_the_poms() -> None:
    v = stack.pinned_versions()
    # GDS 2.13 is the line for Neo4j 5.26; both move together.
    assert v.neo4j.startswith("5.26.")
    assert v.gds.startswith("2.13.")
    assert (REPO_STACK / "pom-neo4j.xml").read_text().count(f"<neo4j.version>{v.neo4j}<") == 1
    assert f"<gds.version>{v.gds}<" in (REPO_STACK / "pom-gds.xml").read_text()
    assert v.browser


def test_missing_build_files_are_a_stack_error(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRUNEGRAPH_STACK_DIR", str(isolated / "nowhere"))
    with pytest.raises(StackError, match="stack build files are missing"):
        stack.stack_paths()


# ------------------------------------------------------------------ Java


@pytest.mark.parametrize(
    ("text", "major"),
    [("17.0.15", 17), ("21", 21), ("1.8.0_292", 8), ("25-ea", 25), ("11.0.2", 11)],
)
def test_java_major_version_from_release_file(isolated: Path, text: str, major: int) -> None:
    assert stack.java_major_version(fake_jdk(isolated, text)) == major


def test_java_major_version_from_java_version_output(isolated: Path) -> None:
    assert stack.java_major_version(fake_jdk(isolated, "21.0.3", release=False)) == 21


def test_explicit_java_of_wrong_version_fails_clearly(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRUNEGRAPH_JAVA_HOME", str(fake_jdk(isolated, "25.0.1")))
    with pytest.raises(StackError, match=r"is Java 25; Neo4j 5.26 needs Java 17 or 21"):
        stack.find_java(candidates=())


def test_explicit_java_without_binary_fails(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated / "empty-jdk").mkdir()
    monkeypatch.setenv("PRUNEGRAPH_JAVA_HOME", str(isolated / "empty-jdk"))
    with pytest.raises(StackError, match="has no bin/java"):
        stack.find_java(candidates=())


def test_wrong_java_home_falls_back_to_a_supported_jdk(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(fake_jdk(isolated, "25.0.1")))
    monkeypatch.setenv("PATH", str(isolated / "empty-path"))
    jdk17 = fake_jdk(isolated, "17.0.9")
    assert stack.find_java(candidates=(jdk17,)) == jdk17


def test_java_home_of_supported_version_wins(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jdk21 = fake_jdk(isolated, "21.0.3")
    monkeypatch.setenv("JAVA_HOME", str(jdk21))
    assert stack.find_java(candidates=(fake_jdk(isolated, "17.0.9"),)) == jdk21


def test_only_unsupported_java_names_what_it_found(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(fake_jdk(isolated, "25.0.1")))
    monkeypatch.setenv("PATH", str(isolated / "empty-path"))
    with pytest.raises(StackError, match=r"needs Java 17 or 21.*is Java 25"):
        stack.find_java(candidates=(fake_jdk(isolated, "11.0.2"),))


def test_no_java_at_all(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(isolated / "empty-path"))
    with pytest.raises(StackError, match="No Java was found"):
        stack.find_java(candidates=())


def test_cli_reports_java_missing_in_one_line(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(isolated / "empty-path"))
    monkeypatch.setattr(stack, "_JVM_CANDIDATES", ())
    assert main(["db", "start"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("prunegraph: error: Neo4j 5.26 needs Java 17 or 21")


# ------------------------------------------------------------------ Maven and build


def test_maven_missing(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(isolated / "empty-path"))
    with pytest.raises(StackError, match=r"Maven \(mvn\) is not installed"):
        stack.find_maven()


def test_build_is_idempotent_and_follows_the_poms(
    fake_tools: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = isolated / "stack-src"
    shutil.copytree(REPO_STACK, sources, ignore=shutil.ignore_patterns("target"))
    monkeypatch.setenv("PRUNEGRAPH_STACK_DIR", str(sources))
    assert stack.build(echo=False) is True
    first = _calls(fake_tools)
    assert len(first) == 2
    assert "dependency:copy-dependencies" in first[0] and "-DincludeScope=runtime" in first[0]
    assert "package" in first[1]
    paths = stack.stack_paths()
    assert stack.is_built(paths)
    assert paths.gds_jar.is_file() and (paths.lib / "neo4j-kernel.jar").is_file()
    assert paths.home in paths.neo4j_home.parents  # outside the repository
    assert stack.build(echo=False) is False  # nothing changed: no Maven call
    assert len(_calls(fake_tools)) == 2
    pom = sources / "pom-gds.xml"
    pom.write_text(pom.read_text().replace("</project>", "<!-- changed --></project>"))
    assert not stack.is_built(paths)
    assert stack.build(echo=False) is True
    assert len(_calls(fake_tools)) == 4


def test_maven_unreachable_is_one_clear_error(
    fake_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offline = _script(
        fake_tools / "mvn-offline",
        'echo "[ERROR] Failed to execute goal on project neo4j-runtime: Could not resolve '
        "dependencies for project: Could not transfer artifact org.neo4j:neo4j:pom:5.26.24 "
        'from/to central: Unknown host repo.example: Name or service not known"\nexit 1\n',
    )
    monkeypatch.setenv("PRUNEGRAPH_MVN", str(offline))
    with pytest.raises(StackError, match=r"Maven could not download Neo4j .* from Maven Central"):
        stack.build(echo=False)


def test_other_maven_failure_names_the_first_error(
    fake_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = _script(fake_tools / "mvn-broken", 'echo "[ERROR] Malformed POM: bad thing"\nexit 1\n')
    monkeypatch.setenv("PRUNEGRAPH_MVN", str(broken))
    with pytest.raises(StackError, match=r"Maven failed to build Neo4j .*Malformed POM: bad thing"):
        stack.build(echo=False)


def test_build_without_plugin_jar_fails(fake_tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDS", "0.0.0")  # the fake Maven writes a jar of the wrong name
    with pytest.raises(StackError, match="produced no open-gds-"):
        stack.build(echo=False)


# ------------------------------------------------------------------ configuration


def test_rendered_config_binds_loopback_and_enables_gds(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRUNEGRAPH_BOLT_PORT", "17001")
    monkeypatch.setenv("PRUNEGRAPH_HTTP_PORT", "17002")
    monkeypatch.setenv("PRUNEGRAPH_HEAP_SIZE", "2g")
    monkeypatch.setenv("PRUNEGRAPH_PAGECACHE_SIZE", "768m")
    monkeypatch.setenv("PRUNEGRAPH_DATA_DIR", str(isolated / "mydata"))
    conf = stack.render_config(stack.stack_paths())
    settings = dict(
        line.split("=", 1) for line in conf.splitlines() if "=" in line and not line.startswith("#")
    )
    assert settings["server.default_listen_address"] == "127.0.0.1"
    assert settings["server.bolt.listen_address"] == "127.0.0.1:17001"
    assert settings["server.http.listen_address"] == "127.0.0.1:17002"
    assert settings["server.https.enabled"] == "false"
    assert settings["dbms.security.auth_enabled"] == "true"
    assert settings["dbms.security.procedures.unrestricted"] == "gds.*"
    assert settings["server.memory.heap.max_size"] == "2g"
    assert settings["server.memory.heap.initial_size"] == "1g"
    assert settings["server.memory.pagecache.size"] == "768m"
    assert settings["server.directories.data"] == str(isolated / "mydata")
    assert "0.0.0.0" not in conf
    assert "${" not in conf


def test_extra_config_is_appended(isolated: Path) -> None:
    extra = isolated / "home" / "neo4j-extra.conf"
    extra.parent.mkdir(parents=True)
    extra.write_text("db.transaction.timeout=10m\n")
    conf = stack.render_config(stack.stack_paths())
    assert conf.rstrip().endswith("db.transaction.timeout=10m")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PRUNEGRAPH_BOLT_PORT", "abc", "must be a port number"),
        ("PRUNEGRAPH_HTTP_PORT", "70000", "must be a port number"),
        ("PRUNEGRAPH_HEAP_SIZE", "lots", "must be a size such as"),
        ("PRUNEGRAPH_PAGECACHE_SIZE", "0g", "must be a size such as"),
    ],
)
def test_bad_settings_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"{name} {message}"):
        stack.stack_paths()


def test_equal_ports_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRUNEGRAPH_BOLT_PORT", "17003")
    monkeypatch.setenv("PRUNEGRAPH_HTTP_PORT", "17003")
    with pytest.raises(ConfigError, match="must differ"):
        stack.stack_paths()


def test_small_heap_is_also_the_initial_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRUNEGRAPH_HEAP_SIZE", "512M")
    paths = stack.stack_paths()
    assert (paths.heap_max, paths.heap_initial) == ("512m", "512m")


# ------------------------------------------------------------------ credentials


def test_credentials_file_is_private_toml_and_resolvable() -> None:
    paths = stack.stack_paths()
    password = 'p"a\\ss word'
    stack.write_credentials(paths, password)
    assert paths.credentials.stat().st_mode & 0o777 == 0o600
    data = tomllib.loads(paths.credentials.read_text())["neo4j"]
    assert data == {"uri": paths.uri, "username": "neo4j", "password": password}
    assert stack.read_local_password(paths) == password
    settings = ConnectionSettings.resolve()
    assert (settings.uri, settings.password) == (paths.uri, password)


def test_initialised_data_without_credentials_refuses_to_start(
    fake_tools: Path, isolated: Path
) -> None:
    paths = stack.stack_paths()
    (paths.data_dir / "databases" / "system").mkdir(parents=True)
    with pytest.raises(StackError, match="password that is not in"):
        stack.start(echo=False)


def _java_calls(tools: Path) -> list[str]:
    log = tools / "jdk-17.0.9" / "bin" / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_first_start_uses_neo4j_password_and_stores_it_first(
    fake_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEO4J_PASSWORD", "from-env-1234")
    # The fake JVM starts nothing, so start fails after setting the password.
    with pytest.raises(StackError, match="bootloader failed to start"):
        stack.start(echo=False)
    paths = stack.stack_paths()
    assert stack.read_local_password(paths) == "from-env-1234"
    assert paths.credentials.stat().st_mode & 0o777 == 0o600
    calls = _java_calls(fake_tools)
    assert any("Neo4jAdminCommand dbms set-initial-password" in c for c in calls)
    assert calls[-1].endswith("org.neo4j.server.startup.Neo4jCommand start")
    assert "auth_enabled=true" in (paths.conf_dir / "neo4j.conf").read_text()


def test_first_start_without_password_generates_a_strong_one(
    fake_tools: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(StackError):
        stack.start(echo=False)
    password = stack.read_local_password(stack.stack_paths())
    assert password is not None and len(password) >= 24
    out = capsys.readouterr()
    assert password not in out.out + out.err


# ------------------------------------------------------------------ probes and process


@pytest.fixture
def listener() -> Iterator[tuple[dict[str, bytes], int]]:
    """A TCP server that accepts and answers four bytes (set by the test) then closes."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    reply = {"bytes": b""}
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1.0)
                try:
                    conn.recv(20)
                    conn.sendall(reply["bytes"])
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield reply, int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


def test_probes_on_a_free_port() -> None:
    port = _free_port()
    assert not stack.port_in_use(port)
    assert not stack.bolt_answers(port)
    assert stack.http_discovery(port) is None
    assert not stack.browser_answers(port)


def test_bolt_probe_needs_a_real_handshake(listener: tuple[dict[str, bytes], int]) -> None:
    reply, port = listener
    assert stack.port_in_use(port)
    assert not stack.bolt_answers(port)  # accepts, but says nothing
    reply["bytes"] = b"\x00\x00\x00\x00"
    assert not stack.bolt_answers(port)  # "no common version"
    reply["bytes"] = b"\x00\x00\x08\x05"
    assert stack.bolt_answers(port)


def test_start_refuses_a_port_taken_by_something_else(
    fake_tools: Path, listener: tuple[dict[str, bytes], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, port = listener
    monkeypatch.setenv("PRUNEGRAPH_BOLT_PORT", str(port))
    with pytest.raises(
        StackError, match=rf"Port {port} on 127.0.0.1 is already taken by another process"
    ):
        stack.start(echo=False)
    assert _calls(fake_tools) == []  # refused before building anything


def test_stale_pid_file_is_ignored_and_removed() -> None:
    paths = stack.stack_paths()
    paths.run_dir.mkdir(parents=True)
    paths.pid_file.write_text(str(os.getpid()))  # alive, but not our Neo4j
    assert stack.running_pid(paths) is None
    assert not paths.pid_file.exists()
    assert stack.stop() is False


def test_log_tail_reads_the_end(isolated: Path) -> None:
    paths = stack.stack_paths()
    paths.logs_dir.mkdir(parents=True)
    (paths.logs_dir / "neo4j.log").write_text("".join(f"line {i}\n" for i in range(1000)))
    assert stack.log_tail(paths, 3) == ["line 997", "line 998", "line 999"]
    assert stack.log_tail(paths, 3, name="debug.log") == []


# ------------------------------------------------------------------ CLI without a server


def test_cli_status_when_not_running(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "status"]) == 3
    out = capsys.readouterr().out
    assert "not running" in out
    assert "prunegraph db start" in out


def test_cli_stop_when_not_running(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "stop"]) == 0
    assert "not running" in capsys.readouterr().out


def test_cli_logs_without_logs_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "logs"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No log yet" in err[0]


def test_cli_logs_rejects_negative_count(capsys: pytest.CaptureFixture[str]) -> None:
    paths = stack.stack_paths()
    paths.logs_dir.mkdir(parents=True)
    (paths.logs_dir / "neo4j.log").write_text("a\nb\n")
    assert main(["db", "logs", "-n", "-1"]) == 2
    assert "'--lines' option of db logs must be >= 0" in capsys.readouterr().err
    assert main(["db", "logs", "-n", "1"]) == 0
    assert capsys.readouterr().out == "b\n"


def test_cli_build_when_up_to_date(fake_tools: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "build"]) == 0
    assert main(["db", "build"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert len(_calls(fake_tools)) == 2


# ------------------------------------------------------------------ a command without a server


def test_a_command_without_a_server_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{port}")
    monkeypatch.setenv("NEO4J_PASSWORD", "whatever-123")
    study = Path(__file__).resolve().parents[2] / "examples" / "ci-tiny.toml"
    assert main(["study", "status", str(study)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"No Neo4j server answers at bolt://127.0.0.1:{port}" in err[0]
    assert "prunegraph db start" in err[0]
