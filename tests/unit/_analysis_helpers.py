"""Shared small synthetic tables for the analysis tests (kept tiny: the machine is shared)."""

from __future__ import annotations

import warnings

from prunegraph.analysis.features import FeatureTable, load_features
from prunegraph.analysis.synthetic import make_synthetic_features

SMALL = {
    "architectures": ("conv6", "resnet20"),
    "datasets": ("cifar10",),
    "pruners": ("snip", "grasp", "synflow", "uniform", "er"),
    "sparsities": (0.8, 0.9, 0.95),
    "n_seeds": 2,
    "n_layers": 5,
}


def small_table(**overrides: object) -> FeatureTable:
    frame, layers = make_synthetic_features(**(SMALL | overrides), return_layers=True)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_features(frame, layers=layers)
