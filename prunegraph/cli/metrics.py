"""``prunegraph metrics``: compute topometrics of stored networks and write them back.

Examples::

    prunegraph metrics --network 0123456789abcdef
    prunegraph metrics --study demo --engine inprocess
    prunegraph metrics --missing motif4 --metrics motif4,n2

It holds the writer lock of every study whose networks it computes
(:mod:`prunegraph.study.lock`): a study being run, imported, exported or
deleted by another command is refused with a message naming that command's
host and pid (``--wait [SECONDS]`` waits for it).
"""

from __future__ import annotations

import argparse
from typing import Any

from prunegraph.cli.query import add_wait_argument
from prunegraph.queries.metrics import ENGINES


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "metrics",
        help="compute topometrics of stored networks and write them to Neo4j",
        description=(
            "Compute the metrics of one network, every network of a study, or every complete "
            "network missing a metric, and write them as Network/Layer properties."
        ),
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--network", metavar="ID", help="one network id (16 hex characters)")
    which.add_argument("--study", metavar="NAME", help="every network of a study")
    which.add_argument("--missing", metavar="METRIC", help="every network without this metric")
    p.add_argument(
        "--metrics",
        help="comma-separated metric names (default: every metric whose graph is stored)",
    )
    p.add_argument("--engine", default="auto", choices=ENGINES)
    p.add_argument("--budget", type=float, default=None, help="work budget of exact counts")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling estimators")
    p.add_argument("--dry-run", action="store_true", help="compute and print, do not write")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_wait_argument(p)
    p.set_defaults(func=run)


def _network_ids(store: Any, args: argparse.Namespace) -> list[str]:
    if args.network:
        return [args.network]
    if args.study:
        return [r["network_id"] for r in store.query("metric_networks_of_study", study=args.study)]
    return [r["network_id"] for r in store.query("metric_networks_missing", metric=args.missing)]


def _studies(store: Any, args: argparse.Namespace, ids: list[str]) -> set[str]:
    """The studies of the networks to compute (their writer locks are held meanwhile)."""
    from prunegraph.queries.data_model import network_state

    if args.study:
        return {args.study}
    states = (network_state(store, network_id) for network_id in ids)
    return {str(s["study"]) for s in states if s and s.get("study")}


def run(args: argparse.Namespace) -> int:
    from prunegraph.cli.query import wait_value
    from prunegraph.errors import NotFoundError, ValidationError
    from prunegraph.loader.records import validate_network_id
    from prunegraph.queries.metrics import DEFAULT_BUDGET, METRICS
    from prunegraph.queries.store import Store
    from prunegraph.study.lock import study_locks

    # Validate everything before connecting: bad input fails fast, without a server.
    if args.network:
        validate_network_id(args.network, where="prunegraph metrics --network")
    if args.missing:
        METRICS.get(args.missing)  # unknown names fail with a did-you-mean
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    for m in metrics or []:
        METRICS.get(m)
    budget = DEFAULT_BUDGET if args.budget is None else args.budget
    if not budget > 0:
        raise ValidationError(f"--budget must be positive. Got {args.budget} instead.")
    with Store.connect() as store:
        ids = _network_ids(store, args)
        if not ids:
            what = f"study '{args.study}'" if args.study else f"missing '{args.missing}'"
            raise NotFoundError(f"No networks to compute ({what}).")
        with study_locks(store, _studies(store, args, ids), wait=wait_value(args), log=_say):
            return _compute(store, ids, args, metrics, budget)


def _say(message: str) -> None:
    import sys

    print(f"prunegraph: {message}", file=sys.stderr)


def _compute(
    store: Any, ids: list[str], args: argparse.Namespace, metrics: list[str] | None, budget: float
) -> int:
    from tqdm import tqdm

    from prunegraph.queries.metrics import compute_metrics

    bar = tqdm(ids, desc="metrics", unit="network", disable=args.no_progress or len(ids) == 1)
    total = 0
    for network_id in bar:
        bar.set_postfix_str(network_id)
        df = compute_metrics(
            store,
            network_id,
            metrics=metrics,
            engine=args.engine,
            write=not args.dry_run,
            budget=budget,
            seed=args.seed,
        )
        total += len(df)
        if args.dry_run or len(ids) == 1:
            net = df[df["layer"].isna()]
            for r in net.itertuples(index=False):
                se = "" if r.se != r.se else f" ± {r.se:.3g}"
                print(f"{network_id}  {r.metric:<22} {r.value!s:<24}{se}  [{r.engine}]")
    action = "computed" if args.dry_run else "computed and wrote"
    print(f"{action} {total} values for {len(ids)} network(s)")
    return 0
