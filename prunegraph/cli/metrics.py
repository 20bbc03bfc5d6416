"""``prunegraph metrics``: compute topometrics of stored networks and write them back.

Examples::

    prunegraph metrics --network 0123456789abcdef
    prunegraph metrics --study demo --engine inprocess
    prunegraph metrics --missing motif4 --metrics motif4,n2
"""

from __future__ import annotations

import argparse
from typing import Any

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
    p.set_defaults(func=run)


def _network_ids(store: Any, args: argparse.Namespace) -> list[str]:
    if args.network:
        return [args.network]
    if args.study:
        return [r["network_id"] for r in store.query("metric_networks_of_study", study=args.study)]
    return [r["network_id"] for r in store.query("metric_networks_missing", metric=args.missing)]


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from prunegraph.errors import NotFoundError, ValidationError
    from prunegraph.loader.records import validate_network_id
    from prunegraph.queries.metrics import DEFAULT_BUDGET, METRICS, compute_metrics
    from prunegraph.queries.store import Store

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
