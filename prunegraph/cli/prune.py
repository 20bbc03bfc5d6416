"""``prunegraph prune``: prune a zoo model and write its masks, or list the pruners."""

from __future__ import annotations

import argparse
import json
import warnings
from typing import Any

from prunegraph.errors import ValidationError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prune",
        help="prune a model and write its masks (.npz), or 'prune list' the pruners",
        description=(
            "Prune a model of the zoo with a registered pruner and save the masks as .npz. "
            "'prunegraph prune list' shows every pruner with its category."
        ),
    )
    parser.add_argument("action", nargs="?", choices=["list"], help="'list': show the pruners")
    parser.add_argument("--model", help="model name (see loader.models.MODELS)")
    parser.add_argument("--pruner", help="pruner name (see 'prunegraph prune list')")
    parser.add_argument("--sparsity", type=float, help="target sparsity in (0, 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--out", help="output .npz file for the masks")
    parser.add_argument(
        "--dataset",
        default=None,
        help="data for data-dependent pruners: 'digits', 'synthetic' or an .npz path "
        "(default: none, synthetic batches are used when a pruner needs data)",
    )
    parser.add_argument(
        "--input-shape",
        default=None,
        help="input shape as C,H,W or F (default: the dataset's, else 3,32,32)",
    )
    parser.add_argument(
        "--num-classes", type=int, default=None, help="classes (default: the dataset's, else 10)"
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="pruner option, repeatable; VALUE is parsed as JSON when possible (e.g. rounds=10)",
    )
    parser.set_defaults(func=_run)


def _parse_options(items: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"Pruner options must look like KEY=VALUE. Got {item!r} instead.")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        shape = ()
    if not shape or any(s <= 0 for s in shape):
        raise ValidationError(
            f"--input-shape must be positive ints like 3,32,32. Got {text!r} instead."
        )
    return shape


def _list() -> int:
    from prunegraph.loader.pruning import list_pruners

    rows = list_pruners()
    width = max(len(r["name"]) for r in rows)
    print(f"{'name'.ljust(width)}  category   mode     data  summary")
    for r in rows:
        data = "yes " if r["needs_data"] else "no  "
        print(
            f"{r['name'].ljust(width)}  {r['category'].ljust(9)}  {r['mode'].ljust(7)}  {data}  "
            f"{r['summary']}"
        )
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list()
    missing = [
        flag
        for flag, value in (
            ("--model", args.model),
            ("--pruner", args.pruner),
            ("--sparsity", args.sparsity),
            ("--out", args.out),
        )
        if value is None
    ]
    if missing:
        raise ValidationError(
            f"prunegraph prune needs {', '.join(missing)} (or 'prunegraph prune list')."
        )

    from prunegraph.loader.masks import density_report, save_masks, sparsity
    from prunegraph.loader.models import build_model
    from prunegraph.loader.pruning import PRUNERS, prune

    PRUNERS.get(args.pruner)  # unknown names fail before any model is built
    options = _parse_options(args.option)
    data = None
    if args.dataset is not None:
        from prunegraph.loader.data import load_dataset

        kwargs: dict[str, Any] = {"seed": args.seed}
        if args.dataset == "synthetic":
            if args.input_shape:
                kwargs["input_shape"] = _parse_shape(args.input_shape)
            if args.num_classes:
                kwargs["num_classes"] = args.num_classes
        data = load_dataset(args.dataset, **kwargs)
    if args.input_shape:
        shape = _parse_shape(args.input_shape)
        if data is not None and tuple(data.input_shape) != shape:
            raise ValidationError(
                f"--input-shape {','.join(map(str, shape))} does not match dataset "
                f"'{args.dataset}', whose samples have shape "
                f"{','.join(map(str, data.input_shape))}; drop --input-shape or use a dataset "
                "of that shape."
            )
        if data is not None and args.num_classes and args.num_classes != data.num_classes:
            raise ValidationError(
                f"--num-classes {args.num_classes} does not match dataset '{args.dataset}', "
                f"which has {data.num_classes} classes."
            )
    elif data is not None:
        shape = tuple(data.input_shape)
    else:
        shape = (3, 32, 32)
    num_classes = args.num_classes or (data.num_classes if data is not None else 10)
    model = build_model(args.model, input_shape=shape, num_classes=num_classes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        masks = prune(model, args.pruner, args.sparsity, data=data, seed=args.seed, **options)
    for warning in caught:
        print(f"note: {warning.message}")
    path = save_masks(args.out, masks)
    report = density_report(masks)
    print(report.to_string(index=False))
    kept = int(report["n_unmasked"].sum())
    total = int(report["n_weights"].sum())
    print(
        f"wrote {path}: {args.model} pruned by {args.pruner}, sparsity {sparsity(masks):.4f} "
        f"({kept} of {total} weights kept)"
    )
    return 0
