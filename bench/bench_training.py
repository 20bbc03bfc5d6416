"""Benchmark: ResNet-20 training throughput (images/s) on 32x32x3 batches of 128, CPU and CUDA.

Run: ``.venv/bin/python bench/bench_training.py [--devices cpu cuda] [--images 50000]
[--epochs 2] [--amp bf16] [--compile] [--sparsity 0.9] [--threads N] [--json FILE]``

Each case trains through :func:`prunegraph.loader.training.train` itself, end to end:
the paper's protocol (SGD momentum 0.9, weight decay 1e-4, multistep schedule, random
crop 32 with padding 4 and horizontal flip), masks re-applied after every step (a
random mask at ``--sparsity``; 0 trains dense), the data held on the device
(CIFAR-10-sized random images unless ``--images`` says otherwise), channels-last
and, with ``--amp bf16``, bfloat16 autocast on CUDA. The first epoch warms up
(cuDNN autotuning, ``torch.compile``); the figure is images per second of the
later epochs, timed by the epoch hook: ``steps * 128 / seconds``.

Target (issue 12): at least 30,000 images/s on one modern GPU, i.e. the paper's
160-epoch CIFAR-10 run of ResNet-20 in under 5 minutes. The line ``160-epoch run``
extrapolates the measured rate to 160 epochs of 50,000 images plus evaluation-free
overhead (the per-epoch time times 160).

CPU cases use fewer images by default (``--cpu-images 2560``): one CPU epoch of
50,000 images takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch


def _case(
    device: str,
    images: int,
    epochs: int,
    amp: str,
    compile_: bool | str,
    sparsity: float,
    threads: int | None,
) -> dict[str, object]:
    from prunegraph.loader.data import IMAGE_DATASETS, ArrayDataset
    from prunegraph.loader.models import build_model
    from prunegraph.loader.pruning import prune
    from prunegraph.loader.training import resolve_device, train

    target = resolve_device(device)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((images, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, size=images)
    info = IMAGE_DATASETS["cifar10"]
    pad = tuple(-m / s for m, s in zip(info.mean, info.std, strict=True))
    data = ArrayDataset(x, y, pad_value=pad)
    model = build_model("resnet20", input_shape=(3, 32, 32), num_classes=10, seed=0)
    masks = prune(model, "random", sparsity, seed=0) if sparsity > 0 else None
    per_epoch: list[float] = []
    started = time.perf_counter()
    result = train(
        model,
        data,
        epochs=epochs,
        lr=0.1,
        batch_size=128,
        momentum=0.9,
        weight_decay=1e-4,
        schedule="multistep",
        milestones=[max(1, epochs // 2)],
        augment="crop_flip",
        device=str(target),
        amp=amp,
        compile=compile_,
        masks=masks,
        seed=0,
        num_threads=threads,
        epoch_hook=lambda e, loss, acc, seconds: per_epoch.append(seconds),
    )
    wall = time.perf_counter() - started
    steps_per_epoch = result.steps // epochs
    timed = per_epoch[1:] if len(per_epoch) > 1 else per_epoch
    rate = steps_per_epoch * 128 * len(timed) / sum(timed)
    if masks is not None:
        params = dict(model.named_parameters())
        leaked = sum(int((params[n].detach().numpy()[~m] != 0).sum()) for n, m in masks.items())
        assert leaked == 0, f"{leaked} masked weights are not zero after training"
    return {
        "device": str(target),
        "name": torch.cuda.get_device_name(target)
        if target.type == "cuda"
        else platform.processor(),
        "amp": amp,
        "compile": compile_,
        "sparsity": sparsity,
        "images": images,
        "epochs": epochs,
        "threads": torch.get_num_threads() if threads is None else threads,
        "epoch_seconds": per_epoch,
        "images_per_s": rate,
        "wall_s": wall,
        "paper_run_min": 160 * 50_000 / rate / 60,
        "final_loss": result.train_loss[-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--images", type=int, default=50_000, help="images per epoch on CUDA")
    parser.add_argument("--cpu-images", type=int, default=2_560, help="images per epoch on CPU")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--amp", choices=["none", "bf16"], default="bf16", help="CUDA only")
    parser.add_argument(
        "--compile",
        nargs="?",
        const=True,
        default=False,
        choices=[True, "default", "reduce-overhead", "max-autotune-no-cudagraphs"],
        help="torch.compile the model (no value: reduce-overhead, i.e. CUDA graphs, on CUDA)",
    )
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=None, help="CPU intra-op threads")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    print(
        f"torch {torch.__version__}, CUDA {'available' if torch.cuda.is_available() else 'absent'}, "
        f"{os.cpu_count()} CPUs"
    )
    results = []
    for device in args.devices:
        if device.startswith("cuda") and not torch.cuda.is_available():
            print(f"{device}: skipped (no CUDA device on this machine; not measured)")
            continue
        cuda = device.startswith("cuda")
        row = _case(
            device,
            args.images if cuda else args.cpu_images,
            args.epochs,
            args.amp if cuda else "none",
            args.compile,
            args.sparsity,
            args.threads,
        )
        results.append(row)
        print(
            f"{row['device']:7s} {row['name']!s:.40s} amp={row['amp']} compile={row['compile']} "
            f"sparsity={row['sparsity']} threads={row['threads']}: "
            f"{row['images_per_s']:,.0f} images/s ({row['images']} images x {row['epochs']} "
            f"epochs, epoch seconds {', '.join(f'{s:.2f}' for s in row['epoch_seconds'])}); "
            f"160-epoch CIFAR-10 run ~ {row['paper_run_min']:.1f} min"
        )
        sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
