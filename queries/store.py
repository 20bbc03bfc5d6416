"""The one module that talks to Neo4j (the only importer of ``neo4j``).

:class:`Store` wraps a driver for one database: parameterised queries, library
queries by name, batched ``UNWIND $rows`` writes (optionally over several
connections), server versions, and a ``graphdatascience`` client sharing the
same settings. Driver errors become :class:`~prunegraph.errors.DatabaseError`
with a message naming the URI, user or query (never the password).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import neo4j
import numpy as np
from neo4j import exceptions as neo4j_errors

from prunegraph.config import ConnectionSettings
from prunegraph.errors import DatabaseError, ValidationError
from prunegraph.queries.library import load_query

if TYPE_CHECKING:
    import pandas as pd
    from graphdatascience import GraphDataScience

T = TypeVar("T")


def _translate(exc: Exception, settings: ConnectionSettings, what: str = "") -> DatabaseError:
    """Map a driver exception to a DatabaseError with an actionable message."""
    where = f"Neo4j at {settings.uri}"
    if isinstance(exc, neo4j_errors.AuthError):
        return DatabaseError(
            f"{where} refused the credentials of user '{settings.user}' "
            f"(settings from: {settings.source}). Set NEO4J_USERNAME / NEO4J_PASSWORD or the "
            "config file; for the local stack, `prunegraph db start` writes its credentials."
        )
    if isinstance(exc, neo4j_errors.ServiceUnavailable | ConnectionError | OSError):
        return DatabaseError(
            f"No Neo4j server answers at {settings.uri}. Start the local stack with "
            "`prunegraph db start` (or `make demo`), or point NEO4J_URI at a running server."
        )
    if isinstance(exc, neo4j_errors.Neo4jError):
        code = exc.code or ""
        if code.endswith("DatabaseNotFound"):
            return DatabaseError(
                f"{where} has no database '{settings.database}'. Set NEO4J_DATABASE "
                "(Community Edition has one standard database, usually 'neo4j')."
            )
        if code.endswith("ProcedureNotFound") and "gds." in (exc.message or ""):
            return DatabaseError(
                f"{where} lacks the Graph Data Science plugin ({exc.message}). The local stack "
                "installs it; with Docker use docker/compose.yml."
            )
        detail = f" in {what}" if what else ""
        return DatabaseError(f"Neo4j error{detail}: {code}: {exc.message}")
    if isinstance(exc, neo4j_errors.DriverError):
        return DatabaseError(f"Neo4j driver error talking to {settings.uri}: {exc}")
    return DatabaseError(f"{type(exc).__name__} talking to {settings.uri}: {exc}")


def _as_rows(rows: Sequence[Any] | np.ndarray) -> list[Any]:
    """Rows as plain Python lists (the driver cannot pack numpy scalars)."""
    if isinstance(rows, np.ndarray):
        return rows.tolist()
    return list(rows)


class Store:
    """A connection to one Neo4j database.

    Parameters
    ----------
    settings : ConnectionSettings, optional
        Where to connect; resolved from the environment/config file when omitted.
    driver : neo4j.Driver, optional
        Reuse an existing driver instead of creating one.

    Use :meth:`connect` to get a store that has checked the server answers.
    The store is a context manager and closes its driver on exit.
    """

    def __init__(self, settings: ConnectionSettings | None = None, *, driver: Any = None) -> None:
        self.settings = settings or ConnectionSettings.resolve()
        self._owns_driver = driver is None
        self._driver = driver or neo4j.GraphDatabase.driver(
            self.settings.uri,
            auth=self.settings.auth,
            user_agent="prunegraph",
            connection_acquisition_timeout=60.0,
            # Server notifications (deprecations, unknown property keys on an empty store)
            # would be logged once per batch; the library's queries are reviewed instead.
            notifications_min_severity="OFF",
        )
        self._gds: GraphDataScience | None = None
        self._lock = threading.Lock()

    # ----------------------------------------------------------- lifecycle
    @classmethod
    def connect(
        cls,
        uri: str | None = None,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
    ) -> Store:
        """Resolve settings, open a driver and check that the database answers."""
        settings = ConnectionSettings.resolve(
            uri=uri, user=user, password=password, database=database
        )
        try:
            store = cls(settings)
        except (ValueError, neo4j_errors.ConfigurationError) as exc:
            raise DatabaseError(f"Bad Neo4j connection settings ({settings.uri}): {exc}") from None
        try:
            store._driver.verify_connectivity()
            store.run("RETURN 1 AS ok", write=False)
        except DatabaseError:
            store.close()
            raise
        except Exception as exc:
            store.close()
            raise _translate(exc, settings) from None
        return store

    def close(self) -> None:
        # The GDS client shares our driver: drop it, closing the driver closes both.
        self._gds = None
        if self._owns_driver:
            self._driver.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store(uri={self.settings.uri!r}, user={self.settings.user!r}, database={self.settings.database!r})"

    # ------------------------------------------------------------- queries
    def run(
        self, cypher: str, params: dict[str, Any] | None = None, *, write: bool = True
    ) -> list[dict[str, Any]]:
        """Run one parameterised query in a managed transaction; records as dicts."""
        routing = neo4j.RoutingControl.WRITE if write else neo4j.RoutingControl.READ
        try:
            records, _, _ = self._driver.execute_query(
                cypher, params or {}, database_=self.settings.database, routing_=routing
            )
        except Exception as exc:
            raise _translate(exc, self.settings, what=_short(cypher)) from None
        return [r.data() for r in records]

    def run_autocommit(
        self, cypher: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run in an implicit transaction (needed by ``CALL { ... } IN TRANSACTIONS``)."""
        try:
            with self._driver.session(database=self.settings.database) as session:
                return [r.data() for r in session.run(cypher, params or {})]
        except Exception as exc:
            raise _translate(exc, self.settings, what=_short(cypher)) from None

    def query(self, name: str, /, **params: Any) -> list[dict[str, Any]]:
        """Run library query ``name`` with exactly the parameters it uses."""
        q = load_query(name)
        missing = [p for p in q.params if p not in params]
        extra = [p for p in params if p not in q.params]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected {', '.join(extra)}")
            raise ValidationError(
                f"Query '{name}' takes parameters ({', '.join(q.params) or 'none'}): {'; '.join(parts)}."
            )
        try:
            return self.run(q.text, params, write=_is_write(q.text))
        except DatabaseError as exc:
            raise DatabaseError(f"Query '{name}': {exc}") from None

    def query_df(self, name: str, /, **params: Any) -> pd.DataFrame:
        """:meth:`query` as a DataFrame (columns in the query's RETURN order)."""
        import pandas as pd

        q = load_query(name)
        rows = self.query(name, **params)
        if rows:
            return pd.DataFrame.from_records(rows, columns=list(rows[0].keys()))
        return pd.DataFrame(columns=_return_columns(q.text))

    # -------------------------------------------------------------- writes
    def write_batches(
        self,
        cypher: str,
        rows: Sequence[Any] | np.ndarray,
        *,
        batch_size: int = 20_000,
        param: str = "rows",
        extra: dict[str, Any] | None = None,
        progress: str | None = None,
        workers: int = 1,
    ) -> int:
        """Write ``rows`` with ``UNWIND $rows`` in batches, one transaction per batch.

        Batches run on ``workers`` concurrent sessions (only safe when batches
        touch disjoint data, e.g. relationships of a network whose nodes exist).
        Returns the number of rows written. ``progress`` is a tqdm label.
        """
        if batch_size < 1:
            raise ValidationError(f"batch_size must be >= 1. Got {batch_size}.")
        if workers < 1:
            raise ValidationError(f"workers must be >= 1. Got {workers}.")
        n = len(rows)
        if n == 0:
            return 0
        extra = dict(extra or {})
        starts = range(0, n, batch_size)
        bar = _progress(progress, n)

        def write_one(session: Any, start: int) -> int:
            batch = _as_rows(rows[start : start + batch_size])
            session.execute_write(lambda tx: tx.run(cypher, {param: batch, **extra}).consume())
            if bar is not None:
                with self._lock:
                    bar.update(len(batch))
            return len(batch)

        try:
            if workers == 1:
                with self._driver.session(database=self.settings.database) as session:
                    written = sum(write_one(session, s) for s in starts)
            else:
                local = threading.local()
                sessions: list[Any] = []

                def in_thread(start: int) -> int:
                    if not hasattr(local, "session"):
                        local.session = self._driver.session(database=self.settings.database)
                        with self._lock:
                            sessions.append(local.session)
                    return write_one(local.session, start)

                try:
                    with ThreadPoolExecutor(max_workers=workers) as pool:
                        written = sum(pool.map(in_thread, starts))
                finally:
                    for s in sessions:
                        s.close()
        except DatabaseError:
            raise
        except Exception as exc:
            raise _translate(exc, self.settings, what=_short(cypher)) from None
        finally:
            if bar is not None:
                bar.close()
        return written

    def batched_autocommit(
        self, cypher: str, params: dict[str, Any] | None = None, *, until_zero: str = "n"
    ) -> int:
        """Repeat a bounded write (e.g. a ``LIMIT``-ed batched delete) until it
        reports ``until_zero`` = 0; returns the total. Keeps transactions small."""
        total = 0
        while True:
            rows = self.run(cypher, params)
            done = int(rows[0][until_zero]) if rows else 0
            total += done
            if done == 0:
                return total

    # ------------------------------------------------------------- server
    def server_info(self) -> dict[str, Any]:
        """Neo4j version and edition, and the GDS version (None without GDS)."""
        comp = self.run(
            "CALL dbms.components() YIELD name, versions, edition RETURN name, versions, edition",
            write=False,
        )
        info: dict[str, Any] = {"neo4j_version": None, "edition": None, "gds_version": None}
        for row in comp:
            if row["name"] == "Neo4j Kernel":
                info["neo4j_version"] = row["versions"][0]
                info["edition"] = row["edition"]
        try:
            info["gds_version"] = self.run("RETURN gds.version() AS v", write=False)[0]["v"]
        except DatabaseError:
            info["gds_version"] = None
        return info

    def gds(self) -> GraphDataScience:
        """A ``graphdatascience`` client on the same driver (Bolt only; OpenGDS has no Arrow)."""
        if self._gds is None:
            from graphdatascience import GraphDataScience

            try:
                self._gds = GraphDataScience(
                    self._driver, database=self.settings.database, arrow=False
                )
            except Exception as exc:
                raise _translate(exc, self.settings, what="GraphDataScience client") from None
        return self._gds

    def retry(self, fn: Callable[[Any], T], *, write: bool = True) -> T:
        """Run ``fn(tx)`` in a managed transaction with the driver's retries."""
        try:
            with self._driver.session(database=self.settings.database) as session:
                if write:
                    return session.execute_write(fn)
                return session.execute_read(fn)
        except DatabaseError:
            raise
        except Exception as exc:
            raise _translate(exc, self.settings) from None


def _short(cypher: str, limit: int = 80) -> str:
    text = " ".join(cypher.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_WRITE_WORDS = (
    "CREATE",
    "MERGE",
    "DELETE",
    "SET ",
    "REMOVE",
    "DETACH",
    "DROP",
    "CALL GDS.GRAPH.DROP",
)


def _is_write(cypher: str) -> bool:
    upper = " ".join(cypher.upper().split())
    return any(w in upper for w in _WRITE_WORDS) or ".WRITE(" in upper or ".MUTATE(" in upper


def _return_columns(cypher: str) -> list[str]:
    """Best-effort column names of the final RETURN clause (for empty results)."""
    upper = cypher.upper()
    pos = upper.rfind("RETURN")
    if pos < 0:
        return []
    clause = cypher[pos + 6 :]
    for stop in ("ORDER BY", "SKIP", "LIMIT"):
        cut = clause.upper().find(stop)
        if cut >= 0:
            clause = clause[:cut]
    columns = []
    depth = 0
    current = ""
    for ch in clause:  # split on top-level commas only
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            columns.append(current)
            current = ""
        else:
            current += ch
    columns.append(current)
    names = []
    for col in columns:
        col = col.strip()
        if not col:
            continue
        parts = col.rsplit(" AS ", 1) if " AS " in col.upper() else [col]
        if len(parts) == 1 and " as " in col:
            parts = col.rsplit(" as ", 1)
        names.append(parts[-1].strip().strip("`"))
    return [n for n in names if n and n.upper() != "DISTINCT"]


def _progress(label: str | None, total: int) -> Any:
    if label is None:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="row", unit_scale=True, leave=False)
