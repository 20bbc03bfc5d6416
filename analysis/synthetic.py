"""Synthetic feature tables with a known signal, for tests, examples and docs.

The generative model (all draws from one ``numpy.random.Generator``):

* every pruner ``p`` has a fixed effect vector ``u_p ~ N(0, I)`` on the
  Section A topometrics; every configuration (architecture, dataset, sparsity)
  a small offset ``c ~ N(0, config_scale^2 I)``; every seed a jitter
  ``e ~ N(0, seed_scale^2 I)``; the MGE topometrics are ``x = u_p + c + e``;
* ``acc_drop = 0.5 * sparsity + x . beta + N(0, noise^2)`` with ``beta``
  non-zero on :data:`INFORMATIVE` only (``beta = signal * (1, -1, 0.5, -0.5)``),
  so within a configuration the pruners are ordered by ``u_p . beta``;
* ``rolled_*`` and ``ch_*`` copies carry the same signal diluted with noise,
  per-layer rows have densities around ``1 - sparsity`` and Ramanujan metrics
  that grow with the layer density.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from prunegraph.analysis.features import RAMANUJAN_METRICS, TOPOMETRICS

INFORMATIVE: tuple[str, ...] = ("kcore", "sink", "strength", "spectral_gap")
_CATEGORY = {
    "snip": "pai",
    "grasp": "pai",
    "synflow": "pai",
    "prospr": "pai",
    "uniform": "random",
    "er": "random",
    "erk": "random",
}


def _network_id(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def planted_pruner_order(
    pruners: Sequence[str] = ("snip", "grasp", "synflow", "uniform", "er"),
    *,
    signal: float = 0.05,
    random_state: int = 0,
) -> list[str]:
    """Pruners from best (smallest expected ``acc_drop``) to worst under the generator."""
    effects = _pruner_effects(pruners, random_state)
    beta = _beta(signal)
    score = {p: float(effects[p] @ beta) for p in pruners}
    return sorted(pruners, key=score.__getitem__)


def _beta(signal: float) -> np.ndarray:
    beta = np.zeros(len(TOPOMETRICS))
    for name, coef in zip(INFORMATIVE, (1.0, -1.0, 0.5, -0.5), strict=True):
        beta[TOPOMETRICS.index(name)] = signal * coef
    return beta


def _pruner_effects(pruners: Sequence[str], random_state: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([random_state, 7])
    return {p: rng.normal(size=len(TOPOMETRICS)) for p in pruners}


def make_synthetic_features(
    *,
    architectures: Sequence[str] = ("conv6", "resnet20"),
    datasets: Sequence[str] = ("cifar10", "cifar100"),
    pruners: Sequence[str] = ("snip", "grasp", "synflow", "uniform", "er"),
    sparsities: Sequence[float] = (0.8, 0.9, 0.95),
    n_seeds: int = 3,
    n_layers: int = 6,
    signal: float = 0.05,
    noise: float = 0.005,
    config_scale: float = 1.0,
    seed_scale: float = 0.1,
    study: str = "synthetic",
    random_state: int = 0,
    return_layers: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """A feature table (and optionally its per-layer rows) with a planted signal.

    See the module docstring for the model. Columns follow ``docs/analysis.md``.
    """
    rng = np.random.default_rng(random_state)
    effects = _pruner_effects(pruners, random_state)
    beta = _beta(signal)
    rows: list[dict[str, object]] = []
    layer_rows: list[dict[str, object]] = []
    for arch in architectures:
        acc_dense_arch = 0.9 - 0.1 * rng.random()
        for dataset in datasets:
            for sparsity in sparsities:
                offset = rng.normal(scale=config_scale, size=len(TOPOMETRICS))
                for pruner in pruners:
                    layer_profile = rng.uniform(0.5, 1.5, size=n_layers)
                    for seed in range(n_seeds):
                        x = (
                            effects[pruner]
                            + offset
                            + rng.normal(scale=seed_scale, size=len(TOPOMETRICS))
                        )
                        drop = 0.5 * sparsity + float(x @ beta) + rng.normal(scale=noise)
                        nid = _network_id(study, arch, dataset, pruner, sparsity, seed)
                        n_nodes, n_edges = 10_000, int(1e6 * (1 - sparsity))
                        row: dict[str, object] = {
                            "network_id": nid,
                            "study": study,
                            "architecture": arch,
                            "dataset": dataset,
                            "pruner": pruner,
                            "pruner_category": _CATEGORY.get(pruner, "other"),
                            "sparsity": sparsity,
                            "seed": seed,
                            "acc_dense": acc_dense_arch,
                            "acc_sparse": acc_dense_arch * (1 - drop),
                            "acc_drop": drop,
                            "n_nodes": n_nodes,
                            "n_edges": n_edges,
                        }
                        row.update(zip(TOPOMETRICS, x, strict=True))
                        rolled = 0.4 * x + rng.normal(scale=1.0, size=x.size)
                        channel = 0.6 * x + rng.normal(scale=1.0, size=x.size)
                        row.update(
                            {f"rolled_{m}": v for m, v in zip(TOPOMETRICS, rolled, strict=True)}
                        )
                        row.update(
                            {f"ch_{m}": v for m, v in zip(TOPOMETRICS, channel, strict=True)}
                        )
                        density = np.clip(
                            (1 - sparsity) * layer_profile * rng.uniform(0.95, 1.05, n_layers),
                            1e-3,
                            1,
                        )
                        per_layer = {"layer_density": density}
                        for k, name in enumerate(RAMANUJAN_METRICS):
                            per_layer[name] = (2 + k) * np.sqrt(density) + rng.normal(
                                scale=0.02, size=n_layers
                            )
                        for layer in range(n_layers):
                            layer_rows.append(
                                {"network_id": nid, "layer": layer}
                                | {name: float(v[layer]) for name, v in per_layer.items()}
                            )
                        for name, v in per_layer.items():
                            row[f"mean_{name}"] = float(np.mean(v))
                        rows.append(row)
    frame = pd.DataFrame(rows)
    if return_layers:
        return frame, pd.DataFrame(layer_rows)
    return frame
