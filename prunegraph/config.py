"""Connection settings and local paths, from the environment or a config file.

Credentials never live in code or logs. Resolution order for every setting:
explicit argument > environment variable > config file > local stack
credentials file (written by ``prunegraph db start``) > default.

Environment variables
---------------------
``NEO4J_URI`` (default ``bolt://127.0.0.1:7687``), ``NEO4J_USERNAME``
(default ``neo4j``), ``NEO4J_PASSWORD``, ``NEO4J_DATABASE`` (default
``neo4j``), ``PRUNEGRAPH_CONFIG`` (path of a TOML config file, default
``~/.config/prunegraph/config.toml``), ``PRUNEGRAPH_HOME`` (cache and data of
the local stack, default ``~/.cache/prunegraph``).

Config file (TOML)::

    [neo4j]
    uri = "bolt://127.0.0.1:7687"
    username = "neo4j"
    password = "..."
    database = "neo4j"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prunegraph.errors import ConfigError

DEFAULT_URI = "bolt://127.0.0.1:7687"
DEFAULT_USER = "neo4j"
DEFAULT_DATABASE = "neo4j"


def prunegraph_home() -> Path:
    """Root of the local stack's installation, data and credentials."""
    return Path(
        os.environ.get("PRUNEGRAPH_HOME", Path.home() / ".cache" / "prunegraph")
    ).expanduser()


def config_file_path() -> Path:
    return Path(
        os.environ.get("PRUNEGRAPH_CONFIG", Path.home() / ".config" / "prunegraph" / "config.toml")
    ).expanduser()


def local_credentials_path() -> Path:
    """Credentials of the local stack, written by ``prunegraph db start`` (mode 0600)."""
    return prunegraph_home() / "credentials.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}") from None
    section = data.get("neo4j", {})
    if not isinstance(section, dict):
        raise ConfigError(f"Config file {path}: [neo4j] must be a table.")
    return section


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to reach Neo4j. The password is never shown in ``repr``."""

    uri: str = DEFAULT_URI
    user: str = DEFAULT_USER
    password: str | None = field(default=None, repr=False)
    database: str = DEFAULT_DATABASE
    source: str = "default"

    @property
    def auth(self) -> tuple[str, str] | None:
        return None if self.password is None else (self.user, self.password)

    @classmethod
    def resolve(
        cls,
        uri: str | None = None,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
    ) -> ConnectionSettings:
        """Resolve settings from arguments, environment, config file and local stack."""
        env = os.environ
        cfg = _read_toml(config_file_path())
        local = _read_toml(local_credentials_path())
        sources: list[str] = []

        def pick(
            arg: str | None, env_names: tuple[str, ...], key: str, default: str | None
        ) -> str | None:
            if arg is not None:
                sources.append("argument")
                return arg
            for name in env_names:
                if env.get(name):
                    sources.append("environment")
                    return env[name]
            if key in cfg:
                sources.append(str(config_file_path()))
                return str(cfg[key])
            if key in local:
                sources.append("local stack")
                return str(local[key])
            return default

        # The local stack's Bolt port can be moved with PRUNEGRAPH_BOLT_PORT; follow it.
        port = env.get("PRUNEGRAPH_BOLT_PORT")
        default_uri = f"bolt://127.0.0.1:{port}" if port else DEFAULT_URI
        resolved_uri = pick(uri, ("PRUNEGRAPH_NEO4J_URI", "NEO4J_URI"), "uri", default_uri)
        resolved_user = pick(user, ("NEO4J_USERNAME", "NEO4J_USER"), "username", DEFAULT_USER)
        resolved_password = pick(password, ("NEO4J_PASSWORD",), "password", None)
        resolved_db = pick(database, ("NEO4J_DATABASE",), "database", DEFAULT_DATABASE)
        assert resolved_uri is not None and resolved_user is not None and resolved_db is not None
        if "://" not in resolved_uri:
            raise ConfigError(
                f"NEO4J_URI must look like 'bolt://host:port' or 'neo4j://host:port'. Got '{resolved_uri}'."
            )
        return cls(
            uri=resolved_uri,
            user=resolved_user,
            password=resolved_password,
            database=resolved_db,
            source=", ".join(sorted(set(sources))) or "default",
        )
