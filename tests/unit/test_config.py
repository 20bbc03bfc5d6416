"""ConnectionSettings.resolve(): precedence, files, validation, no password leaks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prunegraph.config import (
    DEFAULT_URI,
    ConnectionSettings,
    config_file_path,
    local_credentials_path,
    prunegraph_home,
)
from prunegraph.errors import ConfigError

ENV_NAMES = (
    "NEO4J_URI",
    "PRUNEGRAPH_NEO4J_URI",
    "NEO4J_USERNAME",
    "NEO4J_USER",
    "NEO4J_PASSWORD",
    "NEO4J_DATABASE",
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real environment, config file or local credentials leak into these tests."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRUNEGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PRUNEGRAPH_CONFIG", str(tmp_path / "config.toml"))
    return tmp_path


def _write(path: Path, **values: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f'{k} = "{v}"\n' for k, v in values.items())
    path.write_text("[neo4j]\n" + body)


def test_defaults_without_any_source() -> None:
    s = ConnectionSettings.resolve()
    assert (s.uri, s.user, s.password, s.database) == (DEFAULT_URI, "neo4j", None, "neo4j")
    assert s.auth is None
    assert s.source == "default"


def test_paths_follow_the_environment(isolated: Path) -> None:
    assert prunegraph_home() == isolated / "home"
    assert local_credentials_path() == isolated / "home" / "credentials.toml"
    assert config_file_path() == isolated / "config.toml"


def test_local_stack_credentials_are_the_last_resort() -> None:
    _write(
        local_credentials_path(),
        uri="bolt://127.0.0.1:17687",
        username="neo4j",
        password="local-pw",
    )
    s = ConnectionSettings.resolve()
    assert (s.uri, s.password) == ("bolt://127.0.0.1:17687", "local-pw")
    assert s.source == "local stack"


def test_config_file_beats_local_stack() -> None:
    _write(local_credentials_path(), uri="bolt://127.0.0.1:1", password="local-pw")
    _write(config_file_path(), uri="neo4j://db.example:7687", password="file-pw", database="graphs")
    s = ConnectionSettings.resolve()
    assert (s.uri, s.password, s.database) == ("neo4j://db.example:7687", "file-pw", "graphs")


def test_environment_beats_files(monkeypatch: pytest.MonkeyPatch) -> None:
    _write(config_file_path(), uri="bolt://file:1", username="fileuser", password="file-pw")
    monkeypatch.setenv("NEO4J_URI", "bolt://env:2")
    monkeypatch.setenv("NEO4J_USERNAME", "envuser")
    monkeypatch.setenv("NEO4J_PASSWORD", "env-pw")
    monkeypatch.setenv("NEO4J_DATABASE", "envdb")
    s = ConnectionSettings.resolve()
    assert (s.uri, s.user, s.password, s.database) == ("bolt://env:2", "envuser", "env-pw", "envdb")
    assert s.auth == ("envuser", "env-pw")


def test_arguments_beat_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_URI", "bolt://env:2")
    monkeypatch.setenv("NEO4J_PASSWORD", "env-pw")
    s = ConnectionSettings.resolve(uri="bolt://arg:3", password="arg-pw")
    assert (s.uri, s.password) == ("bolt://arg:3", "arg-pw")


def test_password_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret-value")
    s = ConnectionSettings.resolve()
    assert "s3cret-value" not in repr(s)
    assert "s3cret-value" not in str(s)


def test_bad_uri_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEO4J_URI", "localhost:7687")
    with pytest.raises(ConfigError, match="NEO4J_URI must look like"):
        ConnectionSettings.resolve()


def test_invalid_toml_names_the_file() -> None:
    path = config_file_path()
    path.write_text("[neo4j\nuri = ")
    with pytest.raises(ConfigError, match=str(path)):
        ConnectionSettings.resolve()


def test_neo4j_section_must_be_a_table() -> None:
    config_file_path().write_text('neo4j = "bolt://x:1"\n')
    with pytest.raises(ConfigError, match=r"\[neo4j\] must be a table"):
        ConnectionSettings.resolve()


def test_empty_environment_values_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # An exported-but-empty variable (common in CI templates) must not override the files.
    monkeypatch.setenv("NEO4J_PASSWORD", "")
    _write(local_credentials_path(), password="local-pw")
    assert ConnectionSettings.resolve().password == "local-pw"
    assert os.environ["NEO4J_PASSWORD"] == ""


@pytest.mark.parametrize(
    ("uri", "pattern"),
    [
        ("http://127.0.0.1:7474", r"got 'http'.*use 'bolt://127\.0\.0\.1:7687'"),
        ("https://db.example:7473/browser", r"got 'https'.*'bolt://db\.example:7687'"),
        ("ftp://x:1", r"must use one of the schemes bolt, .*got 'ftp'"),
        ("bolt://", r"names no host"),
    ],
)
def test_a_uri_the_driver_cannot_use_is_one_line(
    monkeypatch: pytest.MonkeyPatch, uri: str, pattern: str
) -> None:
    monkeypatch.setenv("NEO4J_URI", uri)
    with pytest.raises(ConfigError, match=pattern) as info:
        ConnectionSettings.resolve()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("uri", ["bolt://h:1", "neo4j+s://h:1", "bolt+ssc://h", "NEO4J://h:2"])
def test_driver_schemes_are_accepted(monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    monkeypatch.setenv("NEO4J_URI", uri)
    assert ConnectionSettings.resolve().uri == uri


def test_the_cli_prints_an_http_uri_as_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from prunegraph.cli import main

    monkeypatch.setenv("NEO4J_URI", "http://127.0.0.1:7474")
    assert main(["query", "study_networks", "--param", "study=x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bolt://127.0.0.1:7687" in err and "Traceback" not in err
