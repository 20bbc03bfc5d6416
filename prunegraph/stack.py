"""The local Neo4j + GDS + Browser stack: build, start, stop, status, logs, offline imports.

The stack is a real Neo4j Community server assembled from Maven Central by the
project's own build files in ``stack/``:

* ``stack/pom-neo4j.xml``: ``org.neo4j:neo4j`` (the server and its runtime
  closure) plus ``org.neo4j.client:neo4j-browser``, copied into ``lib/``;
* ``stack/pom-gds.xml``: OpenGDS shaded into one plugin jar in ``plugins/``;
* ``stack/neo4j.conf.template``: the server configuration, rendered on start.

Layout under ``$PRUNEGRAPH_HOME`` (default ``~/.cache/prunegraph``)::

    neo4j-<version>/{lib,plugins,conf,data,logs,run,import}   the installation
    neo4j-<version>/.build-stamp                             fingerprint of the poms
    build/                                                   Maven's scratch space
    credentials.toml                                         uri, username, password (0600)

The server is started with Neo4j's own bootloader
(``org.neo4j.server.startup.Neo4jCommand start``), which forks the server JVM
with the settings of ``neo4j.conf`` and writes ``run/neo4j.pid``. It listens
on 127.0.0.1 only. Auth is on: the first start of a data directory sets a
random initial password (``neo4j-admin dbms set-initial-password``) that is
stored in ``credentials.toml`` and never printed.

Every operation takes the :class:`StackPaths` of the instance it acts on
(``None``: the local stack, resolved from the environment by :func:`stack_paths`,
the only function that reads it). A second, private instance on the same
installation (:class:`ScratchServer`, for tests and benchmarks) is just other
paths; :func:`import_database` runs ``neo4j-admin database import full`` into
an instance's database.

Environment variables
---------------------
``PRUNEGRAPH_HOME``        root of installation, data and credentials.
``PRUNEGRAPH_DATA_DIR``    Neo4j's data directory (default ``<install>/data``).
``PRUNEGRAPH_BOLT_PORT``   Bolt port (default 7687).
``PRUNEGRAPH_HTTP_PORT``   HTTP port of the Browser and API (default 7474).
``PRUNEGRAPH_HEAP_SIZE``   maximum JVM heap (default ``3g``; initial is ``1g`` or less).
``PRUNEGRAPH_PAGECACHE_SIZE`` page cache (default ``1g``).
``PRUNEGRAPH_JAVA_HOME``   JDK to use (must be 17 or 21); else ``JAVA_HOME`` if it
                           is 17 or 21; else the Debian OpenJDK 17 or 21.
``PRUNEGRAPH_MVN``         Maven executable (default ``mvn`` on ``PATH``).
``PRUNEGRAPH_START_TIMEOUT`` seconds to wait for Bolt (default 180).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prunegraph.config import ConnectionSettings, prunegraph_home
from prunegraph.errors import ConfigError, StackError

SUPPORTED_JAVA = (17, 21)
"""Neo4j 5.26 runs on Java 17 or 21 only (it is the last line that supports 17)."""

DEFAULT_BOLT_PORT = 7687
DEFAULT_HTTP_PORT = 7474
DEFAULT_HEAP = "3g"
DEFAULT_PAGECACHE = "1g"
DEFAULT_START_TIMEOUT = 180.0
HOST = "127.0.0.1"
BOLT_MAGIC = b"\x60\x60\xb0\x17"

_JVM_CANDIDATES = (
    Path("/usr/lib/jvm/java-17-openjdk-amd64"),
    Path("/usr/lib/jvm/java-17-openjdk-arm64"),
    Path("/usr/lib/jvm/java-21-openjdk-amd64"),
    Path("/usr/lib/jvm/java-21-openjdk-arm64"),
)
_SIZE_RE = re.compile(r"^[1-9][0-9]*[kKmMgG]$")
_MAVEN_NETWORK_HINTS = (
    "Could not transfer artifact",
    "UnknownHostException",
    "Connection refused",
    "Connect timed out",
    "Network is unreachable",
    "No route to host",
    "Could not resolve dependencies",
    "Could not resolve host",
    "Non-resolvable",
)

MAIN_BOOTLOADER = "org.neo4j.server.startup.Neo4jCommand"
ADMIN_BOOTLOADER = "org.neo4j.server.startup.Neo4jAdminCommand"


# --------------------------------------------------------------------------- paths and pins


def stack_sources_dir() -> Path:
    """The project's ``stack/`` folder (build files), next to the package in the repository."""
    override = os.environ.get("PRUNEGRAPH_STACK_DIR")
    path = Path(override) if override else Path(__file__).resolve().parents[1] / "stack"
    if not (path / "pom-neo4j.xml").is_file():
        raise StackError(
            f"The stack build files are missing ({path}/pom-neo4j.xml). prunegraph's local stack "
            "needs the repository checkout (editable install) or PRUNEGRAPH_STACK_DIR."
        )
    return path


def _pom_property(pom: Path, name: str) -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find(f"m:properties/m:{name}", ns)
    if node is None or not (node.text or "").strip():
        raise StackError(f"{pom} has no <{name}> property.")
    return (node.text or "").strip()


@dataclass(frozen=True)
class Versions:
    """The pinned versions, read from the poms (the single source of truth)."""

    neo4j: str
    gds: str
    browser: str


def pinned_versions(sources: Path | None = None) -> Versions:
    src = sources or stack_sources_dir()
    return Versions(
        neo4j=_pom_property(src / "pom-neo4j.xml", "neo4j.version"),
        gds=_pom_property(src / "pom-gds.xml", "gds.version"),
        browser=_pom_property(src / "pom-neo4j.xml", "neo4j-browser.version"),
    )


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigError(f"{name} must be a port number between 1 and 65535. Got '{raw}'.")
    return int(raw)


def _env_size(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip() or default
    if not _SIZE_RE.match(raw):
        raise ConfigError(f"{name} must be a size such as '512m' or '2g'. Got '{raw}'.")
    return raw.lower()


def _size_bytes(size: str) -> int:
    return int(size[:-1]) * {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[size[-1].lower()]


@dataclass(frozen=True)
class StackPaths:
    """Every path and setting of one local stack installation."""

    home: Path
    neo4j_home: Path
    data_dir: Path
    bolt_port: int
    http_port: int
    heap_max: str
    pagecache: str
    versions: Versions

    @property
    def lib(self) -> Path:
        return self.neo4j_home / "lib"

    @property
    def plugins(self) -> Path:
        return self.neo4j_home / "plugins"

    @property
    def conf_dir(self) -> Path:
        return self.neo4j_home / "conf"

    @property
    def logs_dir(self) -> Path:
        return self.neo4j_home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.neo4j_home / "run"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "neo4j.pid"

    @property
    def stamp(self) -> Path:
        return self.neo4j_home / ".build-stamp"

    @property
    def gds_jar(self) -> Path:
        return self.plugins / f"open-gds-{self.versions.gds}.jar"

    @property
    def build_dir(self) -> Path:
        return self.home / "build"

    @property
    def credentials(self) -> Path:
        return self.home / "credentials.toml"

    @property
    def uri(self) -> str:
        return f"bolt://{HOST}:{self.bolt_port}"

    @property
    def browser_url(self) -> str:
        return f"http://{HOST}:{self.http_port}/browser/"

    @property
    def heap_initial(self) -> str:
        return self.heap_max if _size_bytes(self.heap_max) < (1 << 30) else "1g"


def stack_paths() -> StackPaths:
    """Resolve the local stack's paths and settings from the environment.

    The one place that reads ``PRUNEGRAPH_HOME``, ``PRUNEGRAPH_DATA_DIR`` and the
    port and memory variables; every other function of this module takes a
    :class:`StackPaths` (``None`` meaning this one), so a second instance
    (:class:`ScratchServer`) is just other paths.
    """
    versions = pinned_versions()
    home = prunegraph_home()
    neo4j_home = home / f"neo4j-{versions.neo4j}"
    data = os.environ.get("PRUNEGRAPH_DATA_DIR")
    bolt = _env_port("PRUNEGRAPH_BOLT_PORT", DEFAULT_BOLT_PORT)
    http = _env_port("PRUNEGRAPH_HTTP_PORT", DEFAULT_HTTP_PORT)
    if bolt == http:
        raise ConfigError(
            f"PRUNEGRAPH_BOLT_PORT and PRUNEGRAPH_HTTP_PORT must differ. Both are {bolt}."
        )
    return StackPaths(
        home=home,
        neo4j_home=neo4j_home,
        data_dir=Path(data).expanduser().resolve() if data else neo4j_home / "data",
        bolt_port=bolt,
        http_port=http,
        heap_max=_env_size("PRUNEGRAPH_HEAP_SIZE", DEFAULT_HEAP),
        pagecache=_env_size("PRUNEGRAPH_PAGECACHE_SIZE", DEFAULT_PAGECACHE),
        versions=versions,
    )


# --------------------------------------------------------------------------- Java and Maven


def java_major_version(java_home: Path) -> int:
    """Major Java version of a JDK/JRE directory (``release`` file, else ``java -version``)."""
    release = java_home / "release"
    text = ""
    if release.is_file():
        match = re.search(r'^JAVA_VERSION="([^"]+)"', release.read_text(errors="replace"), re.M)
        text = match.group(1) if match else ""
    if not text:
        java = java_home / "bin" / "java"
        if not java.is_file():
            raise StackError(f"{java_home} is not a Java installation (no bin/java).")
        try:
            out = subprocess.run(
                [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
            )
        except OSError as exc:
            raise StackError(f"Cannot run {java}: {exc}") from None
        match = re.search(r'version "([^"]+)"', out.stderr + out.stdout)
        if not match:
            raise StackError(f"Cannot tell the Java version of {java}.")
        text = match.group(1)
    parts = text.split(".")
    major = (
        int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(re.sub(r"\D.*", "", parts[0]))
    )
    return major


def _usable(home: Path) -> bool:
    return (home / "bin" / "java").is_file()


def find_java(candidates: tuple[Path, ...] | None = None) -> Path:
    """The JDK that runs Neo4j: Java 17 or 21, never another version.

    ``PRUNEGRAPH_JAVA_HOME`` must be 17/21 if set. ``JAVA_HOME`` is used when it
    is 17/21; otherwise the first Debian OpenJDK 17/21 found is used.
    """
    want = " or ".join(map(str, SUPPORTED_JAVA))
    explicit = os.environ.get("PRUNEGRAPH_JAVA_HOME")
    if explicit:
        home = Path(explicit)
        if not _usable(home):
            raise StackError(f"PRUNEGRAPH_JAVA_HOME={home} has no bin/java.")
        major = java_major_version(home)
        if major not in SUPPORTED_JAVA:
            raise StackError(
                f"PRUNEGRAPH_JAVA_HOME={home} is Java {major}; Neo4j 5.26 needs Java {want}."
            )
        return home
    rejected: list[str] = []
    env_home = os.environ.get("JAVA_HOME")
    ordered = [Path(env_home)] if env_home else []
    ordered += list(_JVM_CANDIDATES if candidates is None else candidates)
    which = shutil.which("java")
    if which:  # e.g. /usr/bin/java -> /usr/lib/jvm/<jdk>/bin/java
        ordered.append(Path(which).resolve().parents[1])
    for home in ordered:
        if not _usable(home):
            continue
        try:
            major = java_major_version(home)
        except StackError:
            continue
        if major in SUPPORTED_JAVA:
            return home
        rejected.append(f"{home} is Java {major}")
    found = f" Found: {'; '.join(rejected)}." if rejected else " No Java was found."
    raise StackError(
        f"Neo4j 5.26 needs Java {want} (OpenJDK 17: `apt-get install openjdk-17-jdk-headless`), "
        f"then set PRUNEGRAPH_JAVA_HOME or JAVA_HOME to it.{found}"
    )


def find_maven() -> str:
    mvn = os.environ.get("PRUNEGRAPH_MVN") or shutil.which("mvn")
    if not mvn or not (Path(mvn).is_file() or shutil.which(mvn)):
        raise StackError(
            "Maven (mvn) is not installed; it downloads Neo4j and GDS from Maven Central. "
            "Install it (`apt-get install maven`) or set PRUNEGRAPH_MVN."
        )
    return mvn


@contextlib.contextmanager
def _locked(paths: StackPaths) -> Iterator[None]:
    """Serialise build/start/stop between processes (e.g. two test runs starting at once)."""
    import fcntl

    paths.home.mkdir(parents=True, exist_ok=True)
    with (paths.home / ".stack.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- build


def build_fingerprint(sources: Path | None = None) -> str:
    """SHA-256 over the build files: a change in either pom means a rebuild."""
    src = sources or stack_sources_dir()
    digest = hashlib.sha256()
    for name in ("pom-neo4j.xml", "pom-gds.xml"):
        digest.update(name.encode())
        digest.update((src / name).read_bytes())
    return digest.hexdigest()


def is_built(paths: StackPaths) -> bool:
    """True when the installation matches the current poms."""
    if not (paths.stamp.is_file() and paths.gds_jar.is_file() and paths.lib.is_dir()):
        return False
    try:
        stamp = json.loads(paths.stamp.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return stamp.get("fingerprint") == build_fingerprint()


def _run_maven(args: list[str], java_home: Path, log: Path, what: str) -> None:
    mvn = find_maven()
    env = {**os.environ, "JAVA_HOME": str(java_home)}
    cmd = [mvn, "-B", "--no-transfer-progress", *args]
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        try:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
        except OSError as exc:
            raise StackError(f"Cannot run Maven ({mvn}): {exc}") from None
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-400:]
        errors = [ln for ln in tail if ln.startswith("[ERROR]")]
        if any(h in ln for ln in errors for h in _MAVEN_NETWORK_HINTS):
            raise StackError(
                f"Maven could not download {what} from Maven Central (offline or blocked?). "
                f"Check network/proxy settings (~/.m2/settings.xml). Details: {log}"
            )
        first = errors[0][8:].strip() if errors else f"exit code {proc.returncode}"
        raise StackError(f"Maven failed to build {what}: {first[:300]} Details: {log}")


def build(paths: StackPaths | None = None, *, force: bool = False, echo: bool = True) -> bool:
    """Assemble the installation from Maven Central if the poms changed.

    Returns True when something was built, False when the installation was
    already up to date. Idempotent; ``~/.m2`` is Maven's download cache.
    """
    paths = paths or stack_paths()
    if not force and is_built(paths):
        return False
    with _locked(paths):
        if not force and is_built(paths):  # another process built it meanwhile
            return False
        return _build_locked(paths, echo=echo)


def _build_locked(paths: StackPaths, *, echo: bool) -> bool:
    if is_running(paths):
        raise StackError(
            "The local Neo4j is running from the installation that needs a rebuild; "
            "stop it first (`prunegraph db stop`)."
        )
    java_home = find_java()
    find_maven()
    sources = stack_sources_dir()
    paths.neo4j_home.mkdir(parents=True, exist_ok=True)
    paths.build_dir.mkdir(parents=True, exist_ok=True)
    log = paths.home / "build.log"
    log.write_text(f"prunegraph stack build {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
    say = print if echo else (lambda *a, **k: None)
    v = paths.versions
    started = time.monotonic()

    say(
        f"prunegraph: fetching Neo4j {v.neo4j} + Browser {v.browser} from Maven Central (log: {log})"
    )
    lib_new = paths.neo4j_home / "lib.new"
    shutil.rmtree(lib_new, ignore_errors=True)
    _run_maven(
        [
            "-f",
            str(sources / "pom-neo4j.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={lib_new}",
        ],
        java_home,
        log,
        f"Neo4j {v.neo4j}",
    )
    say(f"prunegraph: shading OpenGDS {v.gds} into one plugin jar")
    plugins_new = paths.neo4j_home / "plugins.new"
    shutil.rmtree(plugins_new, ignore_errors=True)
    _run_maven(
        [
            "-f",
            str(sources / "pom-gds.xml"),
            "package",
            f"-Dgds.plugin.dir={plugins_new}",
            f"-Dstack.build.dir={paths.build_dir}",
        ],
        java_home,
        log,
        f"OpenGDS {v.gds}",
    )
    if not (plugins_new / paths.gds_jar.name).is_file():
        raise StackError(f"The GDS build produced no {paths.gds_jar.name}. Details: {log}")
    for new, final in ((lib_new, paths.lib), (plugins_new, paths.plugins)):
        shutil.rmtree(final, ignore_errors=True)
        new.rename(final)
    for sub in ("conf", "logs", "run", "import"):
        (paths.neo4j_home / sub).mkdir(exist_ok=True)
    paths.stamp.write_text(
        json.dumps(
            {
                "fingerprint": build_fingerprint(sources),
                "neo4j": v.neo4j,
                "gds": v.gds,
                "browser": v.browser,
                "java_home": str(java_home),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "seconds": round(time.monotonic() - started, 1),
            },
            indent=2,
        )
    )
    say(f"prunegraph: stack built in {paths.neo4j_home} ({time.monotonic() - started:.0f} s)")
    return True


# --------------------------------------------------------------------------- configuration


def render_config(paths: StackPaths, sources: Path | None = None) -> str:
    """``neo4j.conf`` for these paths, from ``stack/neo4j.conf.template``."""
    src = sources or stack_sources_dir()
    template = string.Template((src / "neo4j.conf.template").read_text())
    text = template.substitute(
        bolt_port=paths.bolt_port,
        http_port=paths.http_port,
        data_dir=paths.data_dir,
        logs_dir=paths.logs_dir,
        heap_initial=paths.heap_initial,
        heap_max=paths.heap_max,
        pagecache=paths.pagecache,
    )
    extra = paths.home / "neo4j-extra.conf"
    if extra.is_file():
        text += f"\n# --- from {extra}\n" + extra.read_text()
    return text


def _write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (mode 0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid TOML basic string


def read_local_password(paths: StackPaths) -> str | None:
    import tomllib

    if not paths.credentials.is_file():
        return None
    try:
        data = tomllib.loads(paths.credentials.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{paths.credentials} is not valid TOML: {exc}") from None
    password = data.get("neo4j", {}).get("password")
    return str(password) if password else None


def write_credentials(paths: StackPaths, password: str) -> None:
    text = (
        "# Credentials of prunegraph's local Neo4j (written by `prunegraph db start`).\n"
        "[neo4j]\n"
        f"uri = {_toml_str(paths.uri)}\n"
        'username = "neo4j"\n'
        f"password = {_toml_str(password)}\n"
    )
    _write_private(paths.credentials, text)


def _data_initialised(paths: StackPaths) -> bool:
    return (paths.data_dir / "databases" / "system").is_dir()


# --------------------------------------------------------------------------- probes


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def bolt_answers(port: int, host: str = HOST, timeout: float = 2.0) -> bool:
    """True when a Bolt server completes the version handshake on ``host:port``."""
    # Offer Bolt 5.8..5.0 (range form), 4.4 and 3; a Bolt server answers with a non-zero version.
    proposal = BOLT_MAGIC + struct.pack(">4I", 0x00080805, 0x00000404, 0x00000003, 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(proposal)
            reply = b""
            while len(reply) < 4:
                chunk = sock.recv(4 - len(reply))
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    return reply != b"\x00\x00\x00\x00"


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """Status and body of a plain GET (for probes before/without the driver)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (urllib.error.URLError, OSError):
        return 0, ""


def http_discovery(port: int, host: str = HOST) -> dict[str, str] | None:
    """Neo4j's HTTP discovery document (``neo4j_version``, ``bolt_direct``...), or None."""
    status, body = http_get(f"http://{host}:{port}/")
    if status != 200:
        return None
    try:
        doc = json.loads(body)
    except json.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) and "neo4j_version" in doc else None


def browser_answers(port: int, host: str = HOST) -> bool:
    status, body = http_get(f"http://{host}:{port}/browser/")
    return status == 200 and "<html" in body.lower() and "neo4j" in body.lower()


# --------------------------------------------------------------------------- process


def read_pid(paths: StackPaths) -> int | None:
    try:
        return int(paths.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_our_process(pid: int, paths: StackPaths) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return str(paths.neo4j_home) in cmdline and "java" in cmdline


def running_pid(paths: StackPaths) -> int | None:
    """Pid of this installation's server, None if not running (removes a stale pid file)."""
    pid = read_pid(paths)
    if pid is None:
        return None
    if _is_our_process(pid, paths):
        return pid
    with contextlib.suppress(OSError):
        paths.pid_file.unlink()
    return None


def is_running(paths: StackPaths) -> bool:
    return running_pid(paths) is not None


def _java_env(paths: StackPaths, java_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_OPTS", "HEAP_SIZE")}
    env.update(
        JAVA_HOME=str(java_home),
        NEO4J_HOME=str(paths.neo4j_home),
        NEO4J_CONF=str(paths.conf_dir),
        PATH=f"{java_home / 'bin'}:{os.environ.get('PATH', '')}",
    )
    return env


def _bootloader(paths: StackPaths, java_home: Path, main: str, *args: str) -> list[str]:
    return [
        str(java_home / "bin" / "java"),
        "-cp",
        f"{paths.lib}/*",
        f"-Dbasedir={paths.neo4j_home}",
        main,
        *args,
    ]


def log_tail(paths: StackPaths, lines: int = 20, name: str = "neo4j.log") -> list[str]:
    log = paths.logs_dir / name
    if not log.is_file():
        return []
    with log.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 256 * 1024))
        text = fh.read().decode("utf-8", errors="replace")
    return text.splitlines()[-lines:]


def _check_ports_free(paths: StackPaths) -> None:
    for port, var in (
        (paths.bolt_port, "PRUNEGRAPH_BOLT_PORT"),
        (paths.http_port, "PRUNEGRAPH_HTTP_PORT"),
    ):
        if port_in_use(port):
            other = http_discovery(paths.http_port) if port == paths.http_port else None
            what = f"another Neo4j {other['neo4j_version']}" if other else "another process"
            raise StackError(
                f"Port {port} on {HOST} is already taken by {what}, not by prunegraph's server in "
                f"{paths.neo4j_home}. Stop it, or choose another port with {var}."
            )


def _set_initial_password(paths: StackPaths, java_home: Path, password: str) -> None:
    # neo4j-admin (picocli) expands an "@file" argument into the file's contents, so the
    # password goes through a 0600 file that only lives for this call: never on a command
    # line that `ps` shows, never echoed or logged.
    fd, arg_file = tempfile.mkstemp(prefix=".initial-password-", dir=paths.home)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        proc = subprocess.run(
            _bootloader(
                paths, java_home, ADMIN_BOOTLOADER, "dbms", "set-initial-password", "@" + arg_file
            ),
            env=_java_env(paths, java_home),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        Path(arg_file).unlink(missing_ok=True)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).replace(password, "***").strip().splitlines()
        raise StackError(
            "neo4j-admin dbms set-initial-password failed: " + (message[-1] if message else "?")
        )


@dataclass
class StartResult:
    already_running: bool
    pid: int | None
    uri: str
    seconds: float = 0.0
    built: bool = False
    notes: list[str] = field(default_factory=list)


def start(
    paths: StackPaths | None = None,
    *,
    password: str | None = None,
    timeout: float | None = None,
    echo: bool = True,
) -> StartResult:
    """Start the server (building it first if needed); wait until Bolt answers.

    Idempotent: a running server is left alone. ``paths`` defaults to the local
    stack (:func:`stack_paths`), whose initial password may also come from
    ``NEO4J_PASSWORD``; ``password`` is the one to set on a first start (the
    credentials file of ``paths`` wins when it exists; a random one otherwise).
    """
    if paths is None:
        paths = stack_paths()
        password = password or os.environ.get("NEO4J_PASSWORD") or None
    with _locked(paths):
        return _start_locked(paths, timeout, password, echo=echo)


def _start_locked(
    paths: StackPaths, timeout: float | None, initial: str | None, *, echo: bool
) -> StartResult:
    pid = running_pid(paths)
    if pid is not None:
        if not bolt_answers(paths.bolt_port):
            _wait_for_bolt(paths, pid, _start_timeout(timeout))
        return StartResult(already_running=True, pid=pid, uri=paths.uri)
    java_home = find_java()
    _check_ports_free(paths)
    built = False
    if not is_built(paths):
        built = _build_locked(paths, echo=echo)
    started = time.monotonic()
    for sub in ("conf", "logs", "run", "import"):
        (paths.neo4j_home / sub).mkdir(parents=True, exist_ok=True)
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    (paths.conf_dir / "neo4j.conf").write_text(render_config(paths))

    notes: list[str] = []
    # The local credentials file wins; else NEO4J_PASSWORD (so the environment and the server
    # agree, as with Docker's NEO4J_AUTH); else a fresh random password on first start.
    password = read_local_password(paths) or initial
    if not _data_initialised(paths):
        if password is None:
            # Hex only: a password starting with "-" would read as an option to neo4j-admin.
            password = secrets.token_hex(16)
            notes.append(f"generated a password for user 'neo4j' in {paths.credentials} (0600)")
        write_credentials(paths, password)  # first, so the password is never lost
        _set_initial_password(paths, java_home, password)
    elif password is None:
        raise StackError(
            f"The data directory {paths.data_dir} was initialised with a password that is not in "
            f"{paths.credentials}. Set NEO4J_PASSWORD to it, or remove {paths.data_dir} to start afresh."
        )
    else:
        write_credentials(paths, password)  # refresh the uri (ports may have changed)

    out_log = paths.logs_dir / "bootloader.log"
    with out_log.open("a") as fh:
        proc = subprocess.run(
            _bootloader(paths, java_home, MAIN_BOOTLOADER, "start"),
            env=_java_env(paths, java_home),
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    pid = read_pid(paths)
    if proc.returncode != 0 or pid is None:
        tail = "\n".join(out_log.read_text(errors="replace").splitlines()[-10:])
        raise StackError(f"Neo4j's bootloader failed to start the server:\n{tail}")
    _wait_for_bolt(paths, pid, _start_timeout(timeout))
    return StartResult(
        already_running=False,
        pid=pid,
        uri=paths.uri,
        seconds=time.monotonic() - started,
        built=built,
        notes=notes,
    )


def _start_timeout(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    raw = os.environ.get("PRUNEGRAPH_START_TIMEOUT")
    try:
        return float(raw) if raw else DEFAULT_START_TIMEOUT
    except ValueError:
        raise ConfigError(
            f"PRUNEGRAPH_START_TIMEOUT must be a number of seconds. Got '{raw}'."
        ) from None


def _wait_for_bolt(paths: StackPaths, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bolt_answers(paths.bolt_port):
            return
        if not _is_our_process(pid, paths):
            tail = "\n  ".join(log_tail(paths, 15))
            raise StackError(
                f"Neo4j exited during start-up. Last lines of {paths.logs_dir / 'neo4j.log'}:\n  {tail}"
            )
        time.sleep(0.5)
    tail = "\n  ".join(log_tail(paths, 15))
    raise StackError(
        f"Neo4j did not answer on Bolt port {paths.bolt_port} within {timeout:.0f} s "
        f"(pid {pid} still running; `prunegraph db logs` shows more). Last lines:\n  {tail}"
    )


def stop(paths: StackPaths | None = None, *, timeout: float = 120.0) -> bool:
    """Stop the local server: SIGTERM (graceful, checkpoints), SIGKILL after ``timeout``.

    Returns True when a server was stopped, False when none was running.
    """
    paths = paths or stack_paths()
    with _locked(paths):
        return _stop_locked(paths, timeout)


def _stop_locked(paths: StackPaths, timeout: float) -> bool:
    pid = running_pid(paths)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_our_process(pid, paths):
        time.sleep(0.3)
    if _is_our_process(pid, paths):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    with contextlib.suppress(OSError):
        paths.pid_file.unlink()
    return True


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).lstat().st_size
    return total


@dataclass
class StackStatus:
    """What ``prunegraph db status`` reports."""

    uri: str
    browser_url: str
    built: bool
    pid: int | None
    bolt: bool
    http: bool
    browser: bool
    neo4j_home: Path
    data_dir: Path
    rss: int | None = None
    neo4j_version: str | None = None
    edition: str | None = None
    gds_version: str | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.pid is not None or self.bolt


def status(paths: StackPaths | None = None, *, query_versions: bool = True) -> StackStatus:
    """Probe the stack (sockets/HTTP) and, when Bolt answers, ask the server its versions."""
    local = paths is None
    paths = paths or stack_paths()
    pid = running_pid(paths)
    st = StackStatus(
        uri=paths.uri,
        browser_url=paths.browser_url,
        built=is_built(paths),
        pid=pid,
        bolt=bolt_answers(paths.bolt_port),
        http=http_discovery(paths.http_port) is not None,
        browser=browser_answers(paths.http_port),
        neo4j_home=paths.neo4j_home,
        data_dir=paths.data_dir,
        rss=rss_bytes(pid) if pid else None,
    )
    if st.bolt and query_versions:
        from prunegraph.errors import DatabaseError
        from prunegraph.queries.store import Store

        try:
            with Store.connect() if local else Store(connection_settings(paths)) as store:
                info = store.server_info()
            st.neo4j_version = info.get("neo4j_version")
            st.edition = info.get("edition")
            st.gds_version = info.get("gds_version")
        except DatabaseError as exc:
            st.error = str(exc)
    return st


def follow(path: Path, lines: int = 20, poll: float = 0.5) -> Iterator[str]:
    """Yield the last ``lines`` lines of ``path``, then new lines as they are written."""
    with path.open("r", errors="replace") as fh:
        yield from fh.readlines()[-lines:]
        while True:
            line = fh.readline()
            if line:
                yield line
            else:
                time.sleep(poll)


# --------------------------------------------------------------------------- admin


def connection_settings(paths: StackPaths) -> ConnectionSettings:
    """Bolt settings of the server of ``paths``: its URI and the password in its credentials."""
    password = read_local_password(paths)
    if password is None:
        raise StackError(
            f"No credentials in {paths.credentials}: the server of {paths.neo4j_home} was never "
            "started (`prunegraph db start` writes them)."
        )
    return ConnectionSettings(
        uri=paths.uri, user="neo4j", password=password, source=str(paths.credentials)
    )


def remove_installation(paths: StackPaths | None = None) -> bool:
    """Delete the installation (``neo4j-<version>/``: lib, plugins, conf, data, logs).

    Keeps the credentials file and Maven's cache. Refuses while the server runs;
    returns False when there was nothing to remove.
    """
    paths = paths or stack_paths()
    with _locked(paths):
        if running_pid(paths) is not None:
            raise StackError(
                f"Neo4j is running from {paths.neo4j_home}; stop it first (`prunegraph db stop`)."
            )
        if not paths.neo4j_home.exists():
            return False
        shutil.rmtree(paths.neo4j_home)
        return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def import_database(
    paths: StackPaths,
    import_arguments: list[str],
    work_dir: Path,
    *,
    threads: int = 2,
    timeout: float = 3600,
) -> float:
    """Run ``neo4j-admin database import full`` into the standard database of ``paths``.

    **Replaces that database.** The server must be stopped. ``import_arguments``
    are the ``--nodes=...``/``--relationships=...`` options (see
    :class:`prunegraph.loader.bulk.BulkFiles`); the import's log and report are
    written to ``work_dir``. Renders ``neo4j.conf`` first. Returns the
    import's wall time in seconds; raises :class:`StackError` with the tail of
    its output on failure.
    """
    if running_pid(paths) is not None:
        raise StackError(
            f"Stop the server of {paths.neo4j_home} before importing into it "
            "(the offline importer rebuilds the database)."
        )
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise StackError(f"import_database needs threads >= 1. Got {threads!r}.")
    java_home = find_java()
    paths.conf_dir.mkdir(parents=True, exist_ok=True)
    (paths.conf_dir / "neo4j.conf").write_text(render_config(paths))
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    command = _bootloader(
        paths,
        java_home,
        ADMIN_BOOTLOADER,
        "database",
        "import",
        "full",
        *import_arguments,
        "--id-type=integer",
        "--overwrite-destination=true",
        "--bad-tolerance=0",
        "--skip-bad-relationships=false",
        "--skip-duplicate-nodes=false",
        f"--threads={threads}",
        "--max-off-heap-memory=1G",
        f"--report-file={work_dir / 'import.report'}",
        "neo4j",
    )
    env = {**_java_env(paths, java_home), "HEAP_SIZE": "1g"}
    log = work_dir / "import.log"
    started = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.run(
            command, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = "\n  ".join(log.read_text(errors="replace").splitlines()[-15:])
        raise StackError(
            f"neo4j-admin database import failed (exit {proc.returncode}); {log}:\n  {tail}"
        )
    return seconds


class ScratchServer:
    """A private, temporary Neo4j instance next to the local one (for tests and benchmarks).

    It reuses the local stack's installation (``lib/`` and ``plugins/`` are
    symlinked) with its own home under ``root`` (conf, data, logs,
    credentials) and its own free ports, so importing into it never touches the
    shared database. It is just other :class:`StackPaths`: start, stop and
    import are this module's functions called with them, in this process.
    Small memory settings: it is short-lived.

    Parameters
    ----------
    root : path
        Its home; created, and removed by :meth:`close`.
    heap, pagecache : str
        JVM heap and page cache (``768m``, ``256m``).
    main : StackPaths, optional
        The installation to reuse (default: the local stack, :func:`stack_paths`).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        heap: str = "768m",
        pagecache: str = "256m",
        main: StackPaths | None = None,
    ) -> None:
        self.main = main or stack_paths()
        if not is_built(self.main):
            raise StackError("The local stack is not built; run `prunegraph db build` first.")
        for name, size in (("heap", heap), ("pagecache", pagecache)):
            if not _SIZE_RE.match(size):
                raise ConfigError(f"ScratchServer {name} must look like 768m or 2g. Got {size!r}.")
        self.root = Path(root)
        neo4j_home = self.root / self.main.neo4j_home.name
        self.paths = StackPaths(
            home=self.root,
            neo4j_home=neo4j_home,
            data_dir=neo4j_home / "data",
            bolt_port=free_port(),
            http_port=free_port(),
            heap_max=heap,
            pagecache=pagecache,
            versions=self.main.versions,
        )
        neo4j_home.mkdir(parents=True, exist_ok=True)
        for link, target in (
            (self.paths.lib, self.main.lib),
            (self.paths.plugins, self.main.plugins),
        ):
            if not link.exists():
                link.symlink_to(target, target_is_directory=True)
        shutil.copy2(self.main.stamp, self.paths.stamp)
        self._password = secrets.token_hex(16)
        self.running = False

    @property
    def bolt_port(self) -> int:
        return self.paths.bolt_port

    @property
    def http_port(self) -> int:
        return self.paths.http_port

    @property
    def neo4j_home(self) -> Path:
        return self.paths.neo4j_home

    @property
    def conf_dir(self) -> Path:
        return self.paths.conf_dir

    def start(self) -> None:
        start(self.paths, password=self._password, echo=False)
        self.running = True

    def stop(self) -> None:
        stop(self.paths)
        self.running = False

    def import_files(self, files: Any, *, threads: int = 2) -> float:
        """Import a :class:`~prunegraph.loader.bulk.BulkFiles` (replaces its database)."""
        if self.running:
            raise StackError("Stop the scratch server before importing into it.")
        return import_database(
            self.paths, files.import_arguments(), files.directory, threads=threads
        )

    def settings(self) -> ConnectionSettings:
        """Connection settings of this instance (after its first start)."""
        return connection_settings(self.paths)

    def close(self) -> None:
        if self.running:
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ScratchServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
