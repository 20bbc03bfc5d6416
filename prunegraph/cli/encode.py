"""``prunegraph encode`` (model -> graph .npz) and ``prunegraph draw`` (graph -> PNG/SVG)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from prunegraph.errors import ValidationError
from prunegraph.queries.data_model import GRAPH_KINDS


def register(subparsers: argparse._SubParsersAction) -> None:
    enc = subparsers.add_parser(
        "encode",
        help="encode a zoo model with masks as a graph (.npz)",
        description=(
            "Trace a model of the zoo, apply masks (a .npz from 'prunegraph prune', or random "
            "masks at --sparsity), and save its graph encoding (MGE, rolled or rolled-channel) "
            "as .npz."
        ),
    )
    _model_arguments(enc)
    enc.add_argument("--kind", default="mge", choices=GRAPH_KINDS, help="encoding")
    enc.add_argument("--unweighted", action="store_true", help="edge weight 1 instead of |theta|")
    enc.add_argument("--out", required=True, help="output graph file (.npz)")
    enc.set_defaults(func=_run_encode)

    draw = subparsers.add_parser(
        "draw",
        help="draw a small graph encoding layer by layer (PNG/SVG/PDF)",
        description=(
            "Draw a graph saved by 'prunegraph encode' (--graph), or encode a zoo model first "
            "(--model ...). Refuses graphs too large to draw."
        ),
    )
    draw.add_argument("--graph", help="a graph .npz written by 'prunegraph encode'")
    _model_arguments(draw, required=False)
    draw.add_argument("--kind", default="mge", choices=GRAPH_KINDS, help="encoding")
    draw.add_argument("--out", required=True, help="picture file (.png, .svg or .pdf)")
    draw.add_argument("--max-nodes", type=int, default=5_000, help="refuse larger graphs")
    draw.add_argument("--max-edges", type=int, default=50_000, help="refuse larger graphs")
    draw.set_defaults(func=_run_draw)


def _model_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--model", required=required, help="model name of the zoo (e.g. lenet5)")
    parser.add_argument(
        "--input-shape", default="3,32,32", help="C,H,W or F without batch (default 3,32,32)"
    )
    parser.add_argument("--num-classes", type=int, default=10, help="classes (default 10)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--masks", help="masks .npz (from 'prunegraph prune')")
    group.add_argument(
        "--sparsity", type=float, help="random masks with exactly this sparsity in every layer"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of model init and masks")


def parse_shape(text: str) -> tuple[int, ...]:
    """``"3,32,32"`` -> ``(3, 32, 32)``."""
    try:
        shape = tuple(int(s) for s in str(text).split(","))
    except ValueError:
        shape = ()
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise ValidationError(
            f"--input-shape must look like C,H,W or F with positive ints. Got {text!r} instead."
        )
    return shape


def uniform_random_masks(model: Any, sparsity: float, seed: int) -> dict[str, np.ndarray]:
    """Masks keeping exactly ``round((1 - sparsity) * n)`` weights of every Conv/Linear layer."""
    from torch import nn

    if not 0.0 <= sparsity < 1.0:
        raise ValidationError(
            f"The 'sparsity' parameter must be a float in the range [0, 1). Got {sparsity} instead."
        )
    rng = np.random.default_rng(seed)
    masks = {}
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv1d | nn.Conv2d | nn.Linear):
            n = mod.weight.numel()
            flat = np.zeros(n, dtype=bool)
            flat[rng.choice(n, size=max(1, round((1.0 - sparsity) * n)), replace=False)] = True
            masks[f"{name}.weight" if name else "weight"] = flat.reshape(tuple(mod.weight.shape))
    return masks


def _encode_from_args(args: argparse.Namespace, kind: str, weighted: bool):
    import torch

    from prunegraph.loader.encoding import encode
    from prunegraph.loader.models import build_model

    shape = parse_shape(args.input_shape)
    torch.manual_seed(args.seed)
    model = build_model(args.model, input_shape=shape, num_classes=args.num_classes)
    masks = None
    if args.masks:
        from prunegraph.loader.masks import load_masks

        masks = load_masks(args.masks, model)
    elif args.sparsity is not None:
        masks = uniform_random_masks(model, args.sparsity, args.seed)
    graph = encode(model, masks, shape, kind=kind, weighted=weighted)
    graph.meta.update({"architecture": args.model, "num_classes": args.num_classes,
                       "sparsity": args.sparsity, "seed": args.seed})  # fmt: skip
    return graph


def _run_encode(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    graph = _encode_from_args(args, args.kind, not args.unweighted)
    seconds = time.perf_counter() - t0
    path = graph.save(Path(args.out))
    print(
        f"{graph.kind} of {args.model} {tuple(graph.meta['input_shape'])}: "
        f"{graph.n_partitions} partitions, {graph.n_nodes:,} nodes, {graph.n_edges:,} edges "
        f"in {seconds:.2f} s -> {path}"
    )
    return 0


def _run_draw(args: argparse.Namespace) -> int:
    from prunegraph.loader.draw import draw_graph
    from prunegraph.loader.graph import MultipartiteGraph

    if bool(args.graph) == bool(args.model):
        raise ValidationError("prunegraph draw needs exactly one of --graph FILE or --model NAME.")
    if args.graph:
        graph = MultipartiteGraph.load(args.graph)
    else:
        graph = _encode_from_args(args, args.kind, True)
    draw_graph(graph, args.out, max_nodes=args.max_nodes, max_edges=args.max_edges)
    print(f"drew {graph.n_nodes:,} nodes and {graph.n_edges:,} edges -> {args.out}")
    return 0
