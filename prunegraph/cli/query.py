"""``prunegraph query``, ``prunegraph export`` and ``prunegraph delete``.

``prunegraph query NAME --param k=v ...`` runs a Cypher library query and
prints a table (``--format csv|json`` for machines); ``prunegraph query
--list`` lists the library with each query's description and parameters.
``prunegraph export`` streams saved graphs (``.npz`` from
``MultipartiteGraph.save``) into the store, or bulk-imports a manifest of
them (``--bulk --overwrite``: replaces the whole database). ``prunegraph
delete`` removes one network or a whole study, in batches.

Export and delete hold the writer lock of every study they touch
(:mod:`prunegraph.study.lock`), as ``study run`` does: while another live
command writes the study they stop with a message naming it (host, pid), or
wait for it with ``--wait [SECONDS]``. ``--bulk`` replaces every study, so it
refuses while any study has a live writer.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from pathlib import Path
from typing import Any

from prunegraph.errors import ValidationError
from prunegraph.queries.data_model import GRAPH_KINDS, LEVELS

_CELL_MAX = 60
_EXTRA_KINDS = tuple(k for k in GRAPH_KINDS if k != "mge")  # graph families besides --graph


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "query",
        help="run a read-only Cypher library query and print a table",
        description="Run one query of the Cypher library (queries/cypher/NAME.cypher) with "
        "parameters given as --param k=v (values parsed as JSON when possible: 3, 0.5, true, "
        "null, [1,2]; anything else is a string). Read-only: the query runs in a READ "
        "access-mode transaction, and library queries that write (the exporter's and the "
        "deleter's own) are refused; the store changes only through export, delete and "
        "study run/import.",
    )
    p.add_argument("name", nargs="?", help="query name (see --list)")
    p.add_argument("--list", action="store_true", help="list the library's queries")
    p.add_argument(
        "--param", "-p", action="append", default=[], metavar="K=V", help="a query parameter"
    )
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--show", action="store_true", help="print the query text (Browser-ready)")
    p.set_defaults(func=_query)

    p = subparsers.add_parser(
        "export",
        help="write saved graphs into the store (streaming, or bulk import)",
        description="Export networks into Neo4j. Either one network (--graph G.npz --record R.json) "
        "or a manifest (--manifest M.json: a list of {record: {...} or path, graph, "
        + ", ".join(_EXTRA_KINDS)
        + ", level}). Streaming is idempotent: complete networks are skipped, "
        "interrupted ones redone, lower levels upgraded. --bulk builds a NEW database with "
        "neo4j-admin import: it REPLACES everything stored and needs --overwrite.",
    )
    p.add_argument("--graph", type=Path, help="MGE saved with MultipartiteGraph.save (.npz)")
    p.add_argument("--record", type=Path, help="NetworkRecord fields as JSON")
    for family in _EXTRA_KINDS:
        p.add_argument("--" + family.replace("_", "-"), type=Path, help=f"{family} graph (.npz)")
    p.add_argument("--manifest", type=Path, help="JSON list of networks to export")
    p.add_argument("--level", choices=LEVELS, default="full")
    p.add_argument(
        "--batch-size", type=int, default=5_000, help="relationships per write transaction"
    )
    p.add_argument("--workers", type=int, default=2, help="concurrent Bolt sessions")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="streaming: replace a stored network whose graph changed; bulk: allow replacing the database",
    )
    p.add_argument(
        "--bulk", action="store_true", help="offline neo4j-admin import (replaces the database)"
    )
    p.add_argument("--no-progress", action="store_true")
    add_wait_argument(p)
    p.set_defaults(func=_export)

    p = subparsers.add_parser(
        "delete",
        help="delete a network or a study from the store (in batches)",
        description="Delete one network (--network ID) or every network of a study (--study NAME), "
        "with all their units and edges, in small transactions.",
    )
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--network", metavar="ID")
    group.add_argument("--study", metavar="NAME")
    p.add_argument("--batch-size", type=int, default=5_000)
    add_wait_argument(p)
    p.set_defaults(func=_delete)

    p = subparsers.add_parser(
        "guide",
        help="serve the Neo4j Browser guide for :play",
        description="Serve queries/guide/ on 127.0.0.1 (with the CORS headers Neo4j Browser needs) "
        "and print the :play command to paste into the Browser. Runs until Ctrl+C.",
    )
    p.add_argument("--port", type=int, default=8477)
    p.set_defaults(func=_guide)


def add_wait_argument(parser: argparse.ArgumentParser) -> None:
    """``--wait [SECONDS]``: wait for another writer of the study instead of stopping."""
    parser.add_argument(
        "--wait",
        nargs="?",
        const=-1.0,
        type=float,
        metavar="SECONDS",
        help="if another command writes the study, wait for it (at most SECONDS) instead of "
        "stopping",
    )


def wait_value(args: argparse.Namespace) -> bool | float:
    """The ``wait`` of :class:`~prunegraph.study.lock.StudyLock` from ``--wait``."""
    wait = getattr(args, "wait", None)
    return False if wait is None else (True if wait < 0 else float(wait))


def _say(message: str) -> None:
    print(f"prunegraph: {message}", file=sys.stderr)


# ------------------------------------------------------------------------ query


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict; values parsed as JSON when they are valid JSON."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValidationError(f"Parameters are given as --param name=value. Got '{item}'.")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = json.dumps(value, default=str) if isinstance(value, list | dict) else str(value)
    return text if len(text) <= _CELL_MAX else text[: _CELL_MAX - 3] + "..."


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Rows as an aligned text table (long cells shortened)."""
    if not columns:
        return "(no columns)"
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[k]) for row in cells)]) for k, c in enumerate(columns)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(line.rstrip() for line in lines)


def _query(args: argparse.Namespace) -> int:
    from prunegraph.queries.library import list_queries, load_query

    if args.list:
        for name in list_queries():
            q = load_query(name)
            names = f"  [{', '.join(q.params)}]" if q.params else ""
            internal = "  (writes: internal, not runnable here)" if writes(q.text) else ""
            print(f"{name}{names}{internal}\n    {q.description}")
        return 0
    if not args.name:
        raise ValidationError("Name a query (prunegraph query --list shows them).")
    query = load_query(args.name)
    if args.show:
        print(query.browser_text())
        return 0
    params = parse_params(args.param)
    columns, rows = run_read_only(args.name, params)
    if args.format == "json":
        print(json.dumps(rows, default=str, indent=1))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for r in rows:
            writer.writerow(
                [
                    _cell(r.get(c)) if isinstance(r.get(c), list | dict) else r.get(c)
                    for c in columns
                ]
            )
    else:
        print(format_table(rows, columns))
    return 0


_WRITE_CLAUSE = re.compile(
    r"(?<![.$\w])(CREATE|MERGE|DELETE|DETACH|SET|REMOVE|DROP|FOREACH|LOAD\s+CSV)(?!\w)"
    r"|\.(?:WRITE|MUTATE|DROP|CREATE|DELETE|MERGE|SET|REMOVE)\w*(?:\.\w+)*\s*\(",
    re.IGNORECASE,
)
_COMMENTS_AND_STRINGS = re.compile(
    r"//[^\n]*|/\*.*?\*/|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S
)


def writes(cypher: str) -> bool:
    """Whether a query's text writes: a write clause (CREATE, MERGE, SET, DELETE, REMOVE,
    DROP, FOREACH, LOAD CSV) or a writing procedure (``gds.*.write``/``mutate``,
    ``gds.graph.drop``, ``apoc.create.*``, ...), outside comments and string literals.

    Property and parameter names (``n.dataset``, ``$offset``) are not clauses. The
    check is a first line only: the query also runs in a READ transaction.
    """
    return _WRITE_CLAUSE.search(_COMMENTS_AND_STRINGS.sub(" ", cypher)) is not None


def run_read_only(
    name: str, params: dict[str, Any], store: Any = None
) -> tuple[list[str], list[dict[str, Any]]]:
    """Run library query ``name`` read-only: ``(columns, rows)``.

    A query whose text writes is refused before anything runs; every other
    one runs in a READ access-mode transaction, so the server itself refuses
    a write the text check missed (a procedure that writes, for one).

    Raises
    ------
    ValidationError
        The query writes, or its parameters do not match.
    DatabaseError
        The server refused a write, or the query failed.
    """
    from prunegraph.errors import DatabaseError
    from prunegraph.queries.library import load_query
    from prunegraph.queries.store import Store, _return_columns

    query = load_query(name)
    if writes(query.text):
        raise ValidationError(
            f"Query '{name}' writes to the store; 'prunegraph query' is read-only. The store "
            "changes only through 'prunegraph export', 'prunegraph delete' and 'prunegraph "
            "study run/import', which keep it consistent."
        )
    missing = [p for p in query.params if p not in params]
    extra = [p for p in params if p not in query.params]
    if missing or extra:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"unexpected {', '.join(extra)}"] if extra else []
        raise ValidationError(
            f"Query '{name}' takes parameters ({', '.join(query.params) or 'none'}): "
            f"{'; '.join(parts)}."
        )
    own = store is None
    store = Store.connect() if own else store
    try:
        rows = store.run(query.text, params, write=False)  # READ access mode
    except DatabaseError as exc:
        if "access mode" in str(exc).lower() or "read only" in str(exc).lower():
            raise DatabaseError(
                f"Query '{name}' tried to write; 'prunegraph query' runs read-only and the "
                "server refused it. Nothing was changed."
            ) from None
        raise DatabaseError(f"Query '{name}': {exc}") from None
    finally:
        if own:
            store.close()
    columns = list(rows[0].keys()) if rows else _return_columns(query.text)
    return [str(c) for c in columns], rows


# ----------------------------------------------------------------------- export


def _load_record(value: Any, base: Path) -> Any:
    from prunegraph.loader.records import NetworkRecord

    if isinstance(value, str):
        path = base / value
        if not path.is_file():
            raise ValidationError(f"Record file {path} does not exist.")
        try:
            value = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Record file {path} is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise ValidationError("A record must be a JSON object of NetworkRecord fields.")
    fields = dict(value)
    if "input_shape" in fields:
        fields["input_shape"] = tuple(fields["input_shape"])
    try:
        return NetworkRecord(**fields)
    except TypeError as exc:
        raise ValidationError(f"Bad NetworkRecord fields: {exc}.") from None


def _manifest(args: argparse.Namespace) -> list[dict[str, Any]]:
    from prunegraph.loader.graph import MultipartiteGraph

    if args.manifest:
        path = args.manifest
        if not path.is_file():
            raise ValidationError(f"Manifest {path} does not exist.")
        try:
            entries = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Manifest {path} is not valid JSON: {exc}.") from None
        base = path.parent
    else:
        if not (args.graph and args.record):
            raise ValidationError("Give --graph G.npz and --record R.json, or --manifest M.json.")
        entries = [
            {
                "record": str(args.record.resolve()),
                "graph": str(args.graph.resolve()),
                **{
                    family: str(getattr(args, family).resolve()) if getattr(args, family) else None
                    for family in _EXTRA_KINDS
                },
                "level": args.level,
            }
        ]
        base = Path("/")
    if not isinstance(entries, list) or not entries:
        raise ValidationError("A manifest is a non-empty JSON list of networks.")
    out = []
    for entry in entries:
        out.append(
            {
                "record": _load_record(entry["record"], base),
                "graphs": {
                    "mge": MultipartiteGraph.load(base / entry["graph"]),
                    **{
                        family: MultipartiteGraph.load(base / entry[family])
                        for family in _EXTRA_KINDS
                        if entry.get(family)
                    },
                },
                "level": entry.get("level", args.level),
            }
        )
    return out


def _export(args: argparse.Namespace) -> int:
    if args.bulk and not args.overwrite:
        raise ValidationError(
            "--bulk REPLACES the whole Neo4j database (Community Edition has one database; the "
            "offline importer rebuilds it), deleting every stored network. Add --overwrite if "
            "that is intended; otherwise export without --bulk (streaming, idempotent)."
        )
    networks = _manifest(args)
    if args.bulk:
        from prunegraph.loader.bulk import BulkNetwork, bulk_load
        from prunegraph.queries.store import Store
        from prunegraph.study.lock import StudyLockedError, describe_holder, live_locks

        with Store.connect() as store:
            holders = live_locks(store)
        if holders:
            raise StudyLockedError(
                "--bulk replaces every stored study, and "
                f"{len(holders)} stud{'ies are' if len(holders) != 1 else 'y is'} being written: "
                + "; ".join(describe_holder(row) for row in holders)
                + ". Wait for them to finish (or stop them) first."
            )

        result = bulk_load([BulkNetwork(**n) for n in networks], overwrite=args.overwrite)
        print(
            f"bulk import: {result.networks} networks, {result.nodes} nodes, {result.relationships} "
            f"relationships; files {result.write_seconds:.1f} s, import {result.import_seconds:.1f} s, "
            f"restart {result.restart_seconds:.1f} s, schema {result.schema_seconds:.1f} s"
        )
        return 0
    from prunegraph.loader.export import export_network
    from prunegraph.queries.store import Store
    from prunegraph.study.lock import study_locks

    studies = {str(n["record"].study) for n in networks}
    with (
        Store.connect() as store,
        study_locks(store, studies, wait=wait_value(args), log=_say),
    ):
        for n in networks:
            r = export_network(
                store,
                n["graphs"],
                record=n["record"],
                level=n["level"],
                batch_size=args.batch_size,
                workers=args.workers,
                progress=not args.no_progress,
                overwrite=args.overwrite,
            )
            print(
                f"{r.network_id}: {r.action} at level {r.level} ({r.units} units, "
                f"{r.relationships} relationships, {r.seconds:.1f} s)"
            )
    return 0


def _delete(args: argparse.Namespace) -> int:
    from prunegraph.queries.data_model import delete_network, delete_study, network_state
    from prunegraph.queries.store import Store
    from prunegraph.study.lock import study_locks

    with Store.connect() as store:
        if args.network:
            state = network_state(store, args.network)
            # an unknown id has no study to lock: delete_network says it is not stored
            studies = [str(state["study"])] if state and state.get("study") else []
            with study_locks(store, studies, wait=wait_value(args), log=_say):
                counts = delete_network(store, args.network, batch_size=args.batch_size)
            print(
                f"deleted network {args.network}: "
                + ", ".join(f"{k} {v}" for k, v in counts.items())
            )
        else:
            with study_locks(store, [args.study], wait=wait_value(args), log=_say):
                n = delete_study(store, args.study, batch_size=args.batch_size)
            print(f"deleted study {args.study!r} with {n} network{'s' if n != 1 else ''}")
    return 0


def _guide(args: argparse.Namespace) -> int:
    from prunegraph.queries.guide_server import guide_url, make_server

    try:
        server = make_server(args.port)
    except OSError as exc:
        raise ValidationError(f"Cannot serve the guide on 127.0.0.1:{args.port}: {exc}.") from None
    print(f"In Neo4j Browser (http://127.0.0.1:7474/browser/) run:\n  :play {guide_url(args.port)}")
    print("(Ctrl+C stops the guide server)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
