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

import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prunegraph.errors import ConfigError

DEFAULT_URI = "bolt://127.0.0.1:7687"
DEFAULT_USER = "neo4j"
DEFAULT_DATABASE = "neo4j"


URI_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
"""The schemes the Neo4j Python driver connects with (Bolt, direct or routed; TLS variants)."""


def check_uri(uri: str) -> str:
    """Refuse a connection URI the driver cannot use, in one line that names the problem.

    An HTTP address (``http://127.0.0.1:7474``, the Browser's port) is the
    common mistake: the driver speaks Bolt, so the message names the Bolt URI
    to use instead.

    Raises
    ------
    ConfigError
        No scheme, a scheme outside :data:`URI_SCHEMES`, or no host.
    """
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise ConfigError(
            f"NEO4J_URI must look like 'bolt://host:port' or 'neo4j://host:port'. Got '{uri}'."
        )
    if scheme.lower() not in URI_SCHEMES:
        hint = ""
        if scheme.lower() in ("http", "https"):
            host = rest.split("/", 1)[0].rsplit(":", 1)[0] or "127.0.0.1"
            hint = (
                f" HTTP is the Browser's protocol; the driver speaks Bolt: use "
                f"'bolt://{host}:7687'."
            )
        raise ConfigError(
            f"NEO4J_URI must use one of the schemes {', '.join(URI_SCHEMES)}; got '{scheme}' "
            f"in '{uri}'.{hint}"
        )
    if not rest.split("/", 1)[0].split("?", 1)[0]:
        raise ConfigError(f"NEO4J_URI '{uri}' names no host; e.g. 'bolt://127.0.0.1:7687'.")
    return uri


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable``; free physical pages as a fallback; 0
    when unknown), for estimates made before allocating large arrays."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0


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
        check_uri(resolved_uri)
        return cls(
            uri=resolved_uri,
            user=resolved_user,
            password=resolved_password,
            database=resolved_db,
            source=", ".join(sorted(set(sources))) or "default",
        )


# --------------------------------------------------------------------------- driver log
DRIVER_LOGGER = "neo4j"
RETRY_MARKER = "will be retried"
"""Text of the driver's log record for a transaction it retries (deadlock, leader switch)."""

_ROUTED: dict[str, logging.Handler] = {}


def route_driver_log(path: str | os.PathLike[str]) -> Path:
    """Send the Neo4j driver's log records to ``path`` instead of the console.

    The driver retries a transaction that hit a transient error (a
    ``DeadlockDetected`` between two writers, for one) and logs a multi-line
    warning each time; with no handler configured Python prints those on
    stderr, in the middle of progress bars. After this call every record of
    the ``neo4j`` logger at WARNING or above is appended to ``path`` (one
    handler per process and path, so calling it again is harmless; spawned
    workers call it themselves) and nothing reaches the console.
    :func:`count_driver_retries` counts the retries afterwards.

    Returns
    -------
    pathlib.Path
        The log file.
    """
    target = Path(path).resolve()
    logger = logging.getLogger(DRIVER_LOGGER)
    if str(target) not in _ROUTED:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(target, encoding="utf-8", delay=True)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(
            logging.Formatter("%(asctime)s pid=%(process)d %(levelname)s %(name)s: %(message)s")
        )
        logger.addHandler(handler)
        _ROUTED[str(target)] = handler
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)
    logger.propagate = False  # never to the root logger's (or Python's last-resort) console
    return target


def unroute_driver_log(path: str | os.PathLike[str]) -> None:
    """Undo :func:`route_driver_log` for ``path`` in this process (closes the file)."""
    handler = _ROUTED.pop(str(Path(path).resolve()), None)
    if handler is not None:
        logger = logging.getLogger(DRIVER_LOGGER)
        logger.removeHandler(handler)
        handler.close()
        if not _ROUTED:
            logger.propagate = True


def driver_log_size(path: str | os.PathLike[str]) -> int:
    """Current size of the driver log in bytes (0 if absent): where a run's records start."""
    target = Path(path)
    return target.stat().st_size if target.is_file() else 0


def count_driver_retries(path: str | os.PathLike[str], start: int = 0) -> int:
    """Transactions the driver retried, from the records logged to ``path`` after byte ``start``.

    Counts the records that say a transaction "will be retried" (one per
    retry, whichever process wrote it).
    """
    target = Path(path)
    if not target.is_file():
        return 0
    with target.open("rb") as fh:
        fh.seek(start)
        text = fh.read().decode("utf-8", errors="replace")
    return text.count(RETRY_MARKER)
