"""``prunegraph db build|start|stop|status|logs|clean``: manage the local Neo4j + GDS stack.

``prunegraph db backfill-cost [--study S]`` writes the cost (params, non-zero
params, dense and sparse FLOPs) on networks stored before the cost existed
(:mod:`prunegraph.queries.backfill`).
"""

from __future__ import annotations

import argparse
import sys

from prunegraph import stack
from prunegraph.errors import StackError, ValidationError


def register(subparsers: argparse._SubParsersAction) -> None:
    db = subparsers.add_parser(
        "db",
        help="manage the local Neo4j + GDS + Browser stack",
        description="Manage the local Neo4j Community + OpenGDS + Browser server "
        "(built from Maven Central into $PRUNEGRAPH_HOME, bound to 127.0.0.1).",
    )
    sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("build", help="assemble the installation from Maven Central (idempotent)")
    p.add_argument("--force", action="store_true", help="rebuild even if the poms did not change")
    p.set_defaults(func=_build)

    p = sub.add_parser("start", help="start the server and wait until Bolt answers (idempotent)")
    p.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait for Bolt (default 180)"
    )
    p.set_defaults(func=_start)

    p = sub.add_parser("stop", help="stop the server (graceful, then kill; idempotent)")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds before SIGKILL (default 120)"
    )
    p.set_defaults(func=_stop)

    p = sub.add_parser("status", help="URI, versions, Browser; exit code 3 when not running")
    p.set_defaults(func=_status)

    p = sub.add_parser(
        "clean",
        help="delete the installation (data included; keeps the credentials and ~/.m2)",
        description="Delete $PRUNEGRAPH_HOME/neo4j-<version> (lib, plugins, conf, data, logs): "
        "the next `db start` rebuilds it. The server must be stopped first.",
    )
    p.set_defaults(func=_clean)

    p = sub.add_parser("logs", help="show the server log")
    p.add_argument("-n", "--lines", type=int, default=50, help="number of lines (default 50)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument(
        "--file",
        default="neo4j.log",
        choices=[
            "neo4j.log",
            "debug.log",
            "query.log",
            "security.log",
            "http.log",
            "bootloader.log",
        ],
        help="which log (default neo4j.log)",
    )
    p.set_defaults(func=_logs)

    p = sub.add_parser(
        "backfill-cost",
        help="write the cost (params, FLOPs) on networks stored before it existed",
        description="Compute params, params_nonzero, flops_dense and flops_sparse (FLOPs = "
        "multiply-accumulates) of stored networks that lack them, from what every storage level "
        "keeps (the Layer nodes' block metadata and the Network's partition sizes), and write "
        "them on the Network and Layer nodes, as an export does today. Idempotent; holds the "
        "writer lock of each study it writes. Networks without Layer nodes or partition sizes "
        "are listed and left as they are (re-export them).",
    )
    p.add_argument("--study", help="only this study's networks (default: every study)")
    p.add_argument("--dry-run", action="store_true", help="compute and report, write nothing")
    p.add_argument("--batch-size", type=int, default=200, help="networks per transaction")
    p.add_argument(
        "--wait",
        nargs="?",
        const=-1.0,
        type=float,
        metavar="SECONDS",
        help="if another command writes a study, wait for it (at most SECONDS) instead of stopping",
    )
    p.set_defaults(func=_backfill_cost)


def _build(args: argparse.Namespace) -> int:
    paths = stack.stack_paths()
    if not stack.build(force=args.force):
        print(f"Stack is up to date in {paths.neo4j_home}.")
    return 0


def _start(args: argparse.Namespace) -> int:
    result = stack.start(timeout=args.timeout)
    paths = stack.stack_paths()
    if result.already_running:
        print(f"Neo4j is already running (pid {result.pid}) at {result.uri}.")
        return 0
    for note in result.notes:
        print(f"prunegraph: {note}")
    print(
        f"Neo4j started (pid {result.pid}) in {result.seconds:.0f} s: {result.uri}, "
        f"Browser {paths.browser_url} (user neo4j, password in {paths.credentials})."
    )
    return 0


def _stop(args: argparse.Namespace) -> int:
    if stack.stop(timeout=args.timeout):
        print("Neo4j stopped.")
    else:
        print("Neo4j is not running.")
    return 0


def _clean(args: argparse.Namespace) -> int:
    paths = stack.stack_paths()
    if stack.remove_installation(paths):
        print(f"Removed {paths.neo4j_home} (credentials and Maven's cache kept).")
    else:
        print(f"Nothing to remove: {paths.neo4j_home} does not exist.")
    return 0


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.0f} MiB"


def _status(args: argparse.Namespace) -> int:
    st = stack.status()
    pinned = stack.pinned_versions()
    yes = {True: "yes", False: "no"}
    print(f"URI:        {st.uri}")
    state = "running" if st.running else "not running"
    if st.pid:
        state += f" (pid {st.pid}, RSS {_fmt_bytes(st.rss)})"
    elif st.bolt:
        state += " (not started by this installation)"
    print(f"Server:     {state}")
    print(f"Installed:  {yes[st.built]} ({st.neo4j_home}; data {st.data_dir})")
    print(f"Pinned:     Neo4j {pinned.neo4j}, GDS {pinned.gds}, Browser {pinned.browser}")
    if st.bolt:
        if st.error:
            print("Versions:   unknown (the server refused the query; see the error below)")
        else:
            edition = f" {st.edition}" if st.edition else ""
            gds = st.gds_version or "NOT INSTALLED"
            print(f"Versions:   Neo4j {st.neo4j_version}{edition}, GDS {gds}")
    print(f"Bolt:       {'answers' if st.bolt else 'no answer'}")
    print(f"Browser:    {st.browser_url} {'answers' if st.browser else 'no answer'}")
    if not st.running:
        print("Start it with `prunegraph db start`.")
        return 3
    if st.error:
        raise StackError(st.error)
    return 0


def _logs(args: argparse.Namespace) -> int:
    if args.lines < 0:
        raise ValidationError(f"The '--lines' option of db logs must be >= 0. Got {args.lines}.")
    paths = stack.stack_paths()
    log = paths.logs_dir / args.file
    if not log.is_file():
        raise StackError(f"No log yet at {log}; start the server with `prunegraph db start`.")
    if args.follow:
        try:
            for line in stack.follow(log, args.lines):
                sys.stdout.write(line)
                sys.stdout.flush()
        except KeyboardInterrupt:
            return 0
        return 0
    for line in stack.log_tail(paths, args.lines, name=args.file) if args.lines else []:
        print(line)
    return 0


def _backfill_cost(args: argparse.Namespace) -> int:
    from prunegraph.cli.query import wait_value
    from prunegraph.queries.backfill import backfill_cost, networks_without_cost
    from prunegraph.queries.store import Store
    from prunegraph.study.lock import study_locks

    def say(message: str) -> None:
        print(f"prunegraph: {message}", file=sys.stderr)

    with Store.connect() as store:
        studies = {str(r["study"]) for r in networks_without_cost(store, args.study)}
        with study_locks(store, studies, wait=wait_value(args), log=say):
            # read again under the locks: what a writer finished meanwhile is not redone
            missing = networks_without_cost(store, args.study)
            result = backfill_cost(store, missing, batch_size=args.batch_size, dry_run=args.dry_run)
    where = f"study '{args.study}'" if args.study else "the store"
    if not missing:
        print(f"Every complete network of {where} has its cost; nothing to do.")
        return 0
    verb = "would write" if args.dry_run else "wrote"
    print(
        f"{verb} the cost of {result.networks} network{'s' if result.networks != 1 else ''} "
        f"({result.layers} layers) of {where} (studies: {', '.join(result.studies)})."
    )
    if result.refused:
        shown = "; ".join(f"{k}: {v}" for k, v in list(result.refused.items())[:10])
        more = f" and {len(result.refused) - 10} more" if len(result.refused) > 10 else ""
        print(
            f"prunegraph: cannot compute the cost of {len(result.refused)} network"
            f"{'s' if len(result.refused) != 1 else ''} from what is stored ({shown}{more}); "
            "delete them (prunegraph delete --network ID) and export them again (their study "
            "run, or prunegraph export).",
            file=sys.stderr,
        )
        return 1
    return 0
