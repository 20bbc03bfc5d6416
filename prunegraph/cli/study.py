"""``prunegraph study``: validate, run, inspect and import studies."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from prunegraph.errors import ValidationError
from prunegraph.study.config import LEVELS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "study",
        help="define, run, resume and import studies of sparse networks",
        description="Studies: a TOML grid of models x pruners x sparsities x seeds x datasets.",
    )
    sub = parser.add_subparsers(dest="study_command", metavar="ACTION")

    p = sub.add_parser("validate", help="check a study file and print its grid")
    p.add_argument("study", type=Path, help="study TOML file")
    p.add_argument("--list", action="store_true", help="print every network id and label")
    p.set_defaults(func=_validate)

    p = sub.add_parser("run", help="run (or resume) a study, then write its report")
    p.add_argument("study", type=Path, help="study TOML file")
    p.add_argument("--out", type=Path, help="output folder (default: [study] output)")
    p.add_argument("--workers", type=int, help="worker processes (default: [run] workers)")
    p.add_argument("--serial", action="store_true", help="run in this process (debugging)")
    p.add_argument("--limit", type=int, help="run only the first N networks of the grid")
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="run only networks with model/dataset/pruner/sparsity/seed = VALUE (repeatable)",
    )
    p.add_argument("--no-analysis", action="store_true", help="skip the analyses and report")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--wait",
        nargs="?",
        const=-1.0,
        type=float,
        metavar="SECONDS",
        help="if another run writes this study, wait for it (at most SECONDS) instead of stopping",
    )
    p.set_defaults(func=_run)

    p = sub.add_parser("status", help="which networks of a study are stored and complete")
    p.add_argument("study", type=Path, help="study TOML file")
    p.set_defaults(func=_status)

    p = sub.add_parser(
        "import",
        help="import your own pruned checkpoints (with measured accuracies) as a study",
        description=(
            "Manifest (CSV or TOML) rows: checkpoint, model (registry name, needed for "
            "state_dicts), input_shape, num_classes, masks (optional .npz), acc_dense, "
            "acc_sparse, pruner, seed, dataset. See prunegraph.study.importer."
        ),
    )
    p.add_argument("manifest", type=Path, help="CSV or TOML manifest")
    p.add_argument("--study", required=True, help="study name to store the networks under")
    p.add_argument("--level", default="summary", choices=LEVELS)
    p.add_argument(
        "--out", type=Path, help="output folder for the report (default results/<study>)"
    )
    p.add_argument("--no-analysis", action="store_true", help="skip the analyses and report")
    p.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help=(
            "also unpickle checkpoints that hold Python objects (a saved nn.Module); this runs "
            "code from the files: only for files you trust (default: tensors only, no code runs)"
        ),
    )
    p.set_defaults(func=_import)

    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _parse_where(items: list[str]) -> dict[str, str]:
    where = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"--where expects KEY=VALUE. Got '{item}' instead.")
        where[key.strip()] = value.strip()
    return where


def _validate(args: argparse.Namespace) -> int:
    from prunegraph.study import expand, load_study
    from prunegraph.study.run import pruner_applies

    config = load_study(args.study)
    specs = expand(config, applies=pruner_applies)
    levels = Counter(s.level for s in specs)
    print(f"Study '{config.name}' ({args.study}) is valid.")
    print(f"  models     : {', '.join(config.models)}")
    print(f"  datasets   : {', '.join(config.datasets)}")
    print(f"  pruners    : {', '.join(config.pruners)}")
    print(f"  sparsities : {', '.join(f'{s:g}' for s in config.sparsities)}")
    print(f"  seeds      : {', '.join(map(str, config.seeds))}")
    train = config.training
    print(
        "  training   : "
        + (
            f"{train.epochs} epochs ({train.finetune_epochs} fine-tune), {train.optimizer}, lr {train.lr}"
            if train.enabled
            else "none (no accuracies)"
        )
    )
    print(
        f"  networks   : {len(specs)} ({', '.join(f'{n} {k}' for k, n in sorted(levels.items()))})"
    )
    print(f"  output     : {config.output}")
    if args.list:
        for spec in specs:
            print(f"{spec.network_id}  {spec.level:7s}  {spec.label()}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from prunegraph.study import load_study
    from prunegraph.study.executors import SerialExecutor
    from prunegraph.study.run import run_study

    config = load_study(args.study)
    summary = run_study(
        config,
        out_dir=args.out,
        workers=args.workers,
        executor=SerialExecutor() if args.serial else None,
        limit=args.limit,
        where=_parse_where(args.where),
        analyses=not args.no_analysis,
        progress=not args.quiet and sys.stderr.isatty(),
        wait=False if args.wait is None else (True if args.wait < 0 else args.wait),
    )
    print(summary.format())
    # non-zero whenever something asked for did not happen: a network, the analyses, the selection
    return 1 if summary.failed or summary.analysis_error or summary.warning else 0


def _status(args: argparse.Namespace) -> int:
    from prunegraph.queries.store import Store
    from prunegraph.study import expand, load_study
    from prunegraph.study.run import (
        is_complete,
        network_level_metrics,
        pruner_applies,
        resolve_metrics,
        stored_networks,
    )

    config = load_study(args.study)
    specs = expand(config, applies=pruner_applies)
    with Store.connect() as store:
        rows = stored_networks(store, config.name)
    wanted = network_level_metrics(resolve_metrics(config))
    counts: Counter[str] = Counter()
    for spec in specs:
        row = rows.get(spec.network_id)
        if is_complete(row, spec, wanted):
            counts["complete"] += 1
        elif row is None:
            counts["missing"] += 1
        elif row.get("status") != "complete":
            counts["half-written"] += 1
        else:
            counts["needs re-export or metrics"] += 1
    stale = set(rows) - {s.network_id for s in specs}
    print(f"Study '{config.name}': {len(specs)} networks in the grid.")
    for key in ("complete", "missing", "half-written", "needs re-export or metrics"):
        print(f"  {key:28s}: {counts[key]}")
    if stale:
        print(f"  stored but not in the grid  : {len(stale)} (from an earlier configuration)")
    for line in where_lines(Path(config.output) / "run.json"):
        print(line)
    return 0


def where_lines(run_log: Path) -> list[str]:
    """What ran where, from a study's run log: networks per worker host, and a run in progress."""
    import json

    try:
        log = json.loads(run_log.read_text())
    except (OSError, ValueError):
        return []
    hosts: Counter[str] = Counter()
    for network in log.get("networks", []) if isinstance(log, dict) else []:
        worker = network.get("worker") if isinstance(network, dict) else None
        if worker and network.get("status") == "complete":
            hosts[str(worker).rsplit(":", 1)[0]] += 1
    lines = []
    if hosts:
        where = ", ".join(f"{host} {n}" for host, n in hosts.most_common())
        lines.append(f"  computed on (run.json)      : {where}")
    if isinstance(log, dict) and log.get("in_progress"):
        lines.append(
            "  a run is in progress (or was killed): half-written networks are running now"
        )
    return lines


def _import(args: argparse.Namespace) -> int:
    from prunegraph.study.importer import import_study

    summary = import_study(
        args.manifest,
        study=args.study,
        level=args.level,
        out_dir=args.out,
        analyses=not args.no_analysis,
        trust_checkpoint=args.trust_checkpoint,
    )
    print(summary.format())
    return 1 if summary.failed or summary.analysis_error else 0
