r"""Report section: pairwise stability per pruner and sparsity (Cunegatti et al. 2023).

The study runner stores the stability of every pair of networks that differ
only in their seed (``init``) or only in their dataset (``data``) as
``SIMILAR`` relationships (:mod:`prunegraph.queries.stability`); the
``similar_pairs`` library query reads them back, one row per pair. This
module aggregates those rows per setting, architecture, pruner and sparsity:

.. math::

    \overline{SJ} = \frac{1}{|P|} \sum_{(a, b) \in P} SJ_{ab},\qquad
    \overline{SO} = \frac{1}{|P|} \sum_{(a, b) \in P} SO_{ab}

over the pairs ``P`` of one cell, with the sample standard deviation
(``ddof = 1``) over the same pairs (NaN for a single pair).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from prunegraph.errors import ValidationError

PAIR_COLUMNS: tuple[str, ...] = (
    "setting",
    "architecture",
    "pruner",
    "sparsity",
    "jaccard",
    "overlap",
)
"""Columns :func:`stability_by_pruner` needs (``similar_pairs`` returns them, and more)."""

KEYS = ["setting", "architecture", "pruner", "sparsity"]


def stability_by_pruner(pairs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample sd of SJ and SO per setting, architecture, pruner and sparsity.

    Parameters
    ----------
    pairs : DataFrame
        One row per stored ``SIMILAR`` pair (``similar_pairs``), with at least
        :data:`PAIR_COLUMNS`.

    Returns
    -------
    DataFrame
        Columns ``setting, architecture, pruner, sparsity, pairs, sj_mean,
        sj_sd, so_mean, so_sd``, sorted by the keys.
    """
    if not isinstance(pairs, pd.DataFrame):
        raise ValidationError(
            f"stability_by_pruner needs a DataFrame of pairs. Got {type(pairs).__name__}."
        )
    missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
    if missing:
        raise ValidationError(
            f"The stability pairs lack column(s) {', '.join(missing)} (see the similar_pairs query)."
        )
    if pairs.empty:
        raise ValidationError(
            "No stability pairs are stored for this study: it needs two or more seeds (init) "
            "or datasets (data) of one configuration."
        )
    grouped = pairs.groupby(KEYS, sort=True)
    out = grouped.agg(
        pairs=("jaccard", "size"),
        sj_mean=("jaccard", "mean"),
        sj_sd=("jaccard", "std"),
        so_mean=("overlap", "mean"),
        so_sd=("overlap", "std"),
    )
    return out.reset_index()


def plot_stability(table: pd.DataFrame, setting: str) -> Any:
    """Mean SJ against sparsity, one line per pruner, one panel per architecture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table[table["setting"] == setting]
    archs = sorted(rows["architecture"].unique())
    fig, axes = plt.subplots(1, len(archs), figsize=(4.5 * len(archs), 3.4), squeeze=False)
    for ax, arch in zip(axes[0], archs, strict=True):
        for pruner, part in rows[rows["architecture"] == arch].groupby("pruner"):
            ax.plot(part["sparsity"], part["sj_mean"], marker="o", markersize=3, label=pruner)
        ax.set_title(f"{arch}, setting '{setting}'")
        ax.set_xlabel("sparsity")
        ax.set_ylabel("mean SJ")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def stability_section(report: Any, pairs: pd.DataFrame) -> None:
    """Write the stability section into a report (``_Report`` of :mod:`~prunegraph.analysis.report`)."""
    table = stability_by_pruner(pairs)
    report.text(
        "Cunegatti et al. (2023) measure how reproducible a pruner's mask is by the "
        "layer-weighted Jaccard (SJ) and overlap (SO) of the edge sets of two networks that "
        "differ only in their seed ('init') or only in their dataset ('data'), and plot them per "
        "pruning algorithm against sparsity. This study's values, from its stored SIMILAR "
        f"pairs ({len(pairs)} pairs): with few seeds per configuration the sd rests on one or "
        "two pairs, so small differences between pruners are not evidence of a ranking."
    )
    report.table(
        table,
        "stability_by_pruner",
        caption=(
            "Stability per pruner and sparsity: mean ± sample sd (ddof = 1) of SJ and SO "
            "over the pairs of each cell"
        ),
    )
    for setting in sorted(table["setting"].unique()):
        report.figure(
            plot_stability(table, setting),
            f"Mean SJ vs sparsity per pruner, setting '{setting}'",
        )
