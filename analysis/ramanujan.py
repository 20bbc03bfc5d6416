"""Ramanujan-based per-layer metrics vs layer density (Cunegatti et al. 2024 section 4.1, Figure 2, Appendix D).

* :func:`density_correlations`: Pearson ``r`` between ``layer_density`` and each
  Ramanujan metric over the layers of every network in a group (default group:
  architecture x sparsity, as Appendix D / Figure 5); layers where a metric is
  null (e.g. ``min(dl, dr) < 3``) are left out pairwise; ``r`` is NaN when
  fewer than 3 layers remain or either side is constant.
* :func:`density_profile`: per layer index, the mean over networks of each
  metric, scaled to sum to 1 over the layers (Figure 2:
  ``v_l / sum_l' v_l'``), so trends can be compared on one axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from prunegraph.analysis.features import FeatureTable
from prunegraph.errors import ValidationError

DEFAULT_METRICS: tuple[str, ...] = ("delta_r", "delta_r_imdb", "lambda_imsg")
_IDENTITY = [
    "network_id",
    "architecture",
    "dataset",
    "pruner",
    "pruner_category",
    "sparsity",
    "seed",
]


def layer_table(table: FeatureTable) -> pd.DataFrame:
    """Per-layer rows joined with their network's identifiers."""
    if table.layers is None or table.layers.empty:
        raise ValidationError(
            "This feature table has no per-layer rows; load it from the store or pass layers=..."
        )
    layers = table.layers
    for column in ("network_id", "layer", "layer_density"):
        if column not in layers.columns:
            raise ValidationError(f"The per-layer table is missing column '{column}'.")
    ids = table.data[[c for c in _IDENTITY if c in table.data.columns]]
    return layers.merge(ids, on="network_id", how="inner")


def density_correlations(
    table: FeatureTable,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    by: Sequence[str] = ("architecture", "sparsity"),
    dataset: str | None = None,
) -> pd.DataFrame:
    """Pearson ``r`` between layer density and each metric, per group.

    Returns
    -------
    DataFrame
        Columns ``*by, metric, r, n_layers``.
    """
    layers = layer_table(table)
    if dataset is not None:
        layers = layers[layers["dataset"] == dataset]
        if layers.empty:
            raise ValidationError(f"No per-layer rows for dataset '{dataset}'.")
    present = [m for m in metrics if m in layers.columns]
    if not present:
        raise ValidationError(
            f"None of the metrics {', '.join(metrics)} is in the per-layer table."
        )
    rows: list[dict[str, Any]] = []
    for keys, part in layers.groupby(list(by), sort=True):
        key_values = keys if isinstance(keys, tuple) else (keys,)
        for metric in present:
            pair = part[["layer_density", metric]].apply(pd.to_numeric, errors="coerce").dropna()
            r = np.nan
            if len(pair) >= 3 and pair.nunique().min() > 1:
                r = float(np.corrcoef(pair["layer_density"], pair[metric])[0, 1])
            rows.append(
                dict(zip(by, key_values, strict=True))
                | {"metric": metric, "r": r, "n_layers": len(pair)}
            )
    return pd.DataFrame(rows)


def density_profile(
    table: FeatureTable,
    *,
    architecture: str,
    sparsity: float | None = None,
    dataset: str | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> pd.DataFrame:
    """Figure 2 data: per layer index, metric means over networks scaled to sum 1.

    Returns
    -------
    DataFrame
        Index = layer, columns ``layer_density`` and the present ``metrics``.
    """
    return _profile(layer_table(table), architecture, sparsity, dataset, metrics)


def _profile(
    layers: pd.DataFrame,
    architecture: str,
    sparsity: float | None,
    dataset: str | None,
    metrics: Sequence[str],
) -> pd.DataFrame:
    """:func:`density_profile` on the joined per-layer rows of :func:`layer_table`."""
    mask = layers["architecture"] == architecture
    if sparsity is not None:
        mask &= np.isclose(layers["sparsity"].astype(float), sparsity)
    if dataset is not None:
        mask &= layers["dataset"] == dataset
    part = layers[mask]
    if part.empty:
        raise ValidationError(
            f"No per-layer rows for architecture '{architecture}' with these filters."
        )
    columns = ["layer_density", *[m for m in metrics if m in part.columns]]
    means = part.groupby("layer")[columns].mean()
    totals = means.sum(axis=0).replace(0, np.nan)
    return means / totals


def plot_density_profiles(
    table: FeatureTable,
    *,
    architectures: Sequence[str] | None = None,
    sparsity: float | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> Any:
    """One panel per architecture: scaled Ramanujan metrics and layer density vs layer index."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = list(architectures or sorted(table.data["architecture"].unique()))
    layers = layer_table(table)  # joined once for every panel
    fig, axes = plt.subplots(1, len(archs), figsize=(4.5 * len(archs), 3.4), squeeze=False)
    for ax, arch in zip(axes[0], archs, strict=True):
        profile = _profile(layers, arch, sparsity, None, metrics)
        for column in profile.columns:
            style = {"color": "black", "linewidth": 2.5} if column == "layer_density" else {}
            ax.plot(profile.index, profile[column], marker="o", markersize=3, label=column, **style)
        ax.set_title(arch if sparsity is None else f"{arch}, s={sparsity}")
        ax.set_xlabel("layer")
        ax.set_ylabel("value / sum over layers")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig
