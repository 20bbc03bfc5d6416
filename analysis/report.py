"""Tables (CSV) and a self-contained HTML report that leads with its findings.

:func:`write_report` runs every analysis section on a feature table and never
crashes on a small or partial study: a section that cannot run (too few rows,
configurations or classes, missing columns or per-layer rows) is replaced by a
note saying why, in the HTML and in ``notes.txt``.

The page opens with the study in one paragraph and one headline per section: a
sentence with its number and, where one exists, its interval (e.g. the
2.5-97.5 percentile interval over CV repeats of a held-out R2). Each section
then shows its plots first (bars with intervals, curves, heatmaps; Okabe-Ito
colours, :data:`OKABE_ITO`; labelled axes; alt text) and folds its full tables
below them (``<details>``). The page is one HTML file (PNG figures inlined as
base64, inline CSS) next to one CSV per table.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prunegraph.analysis.cells import PARALLEL_MIN_WORK as PARALLEL_MIN_WORK  # re-exported
from prunegraph.analysis.cells import Pending, cell_executor, report_jobs
from prunegraph.analysis.classification import CLASSIFIER_PARAMS, classification_pending
from prunegraph.analysis.cv import single_threaded_blas
from prunegraph.analysis.features import FeatureTable, load_features
from prunegraph.analysis.importance import importance_matrix, permutation_importance_cv
from prunegraph.analysis.ramanujan import density_correlations, plot_density_profiles
from prunegraph.analysis.ranking import MIXTURE, rank_pruners
from prunegraph.analysis.regression import (
    DEFAULT_FEATURE_SETS,
    DEFAULT_REGRESSORS,
    MIN_ROWS_PER_FEATURE,
    XGBOOST_PARAMS,
    RegressionStudy,
    regress_pending,
)
from prunegraph.errors import PrunegraphError, ValidationError

SECTIONS: tuple[str, ...] = ("regression", "importance", "classification", "ranking", "ramanujan")

#: Version of the report's layout and contents: a cached report built by an older version
#: is stale even when its feature table and settings are unchanged (part of the study
#: runner's report key). 2: findings first, plots before folded tables.
REPORT_VERSION: int = 2


@dataclass(frozen=True)
class ExtraSection:
    """A report section contributed by another module (a bundled experiment, a baseline).

    Attributes
    ----------
    name : str
        Short identifier (also accepted in ``write_report(sections=...)``).
    heading : str
        The section's ``<h2>``.
    run : callable
        ``run(report, table) -> str | None`` writes the section through the
        report's ``text`` / ``note`` / ``table`` / ``figure`` methods and returns
        its headline: one sentence with its number and interval, or None.
    applies : callable
        ``applies(table) -> bool``: whether the feature table holds what the
        section needs; a section that does not apply is left out unless it was
        asked for by name (then it says why it cannot run).
    prepare : callable, optional
        ``prepare(report, table) -> Pending``: when the report has a process pool
        (``report.executor``), called before any section runs to submit the section's
        fits; ``run`` then finds the :class:`~prunegraph.analysis.cells.Pending` in
        ``report.pending[name]``. Without it (or without a pool) ``run`` does all the
        work itself.
    """

    name: str
    heading: str
    run: Callable[[Any, FeatureTable], str | None]
    applies: Callable[[FeatureTable], bool]
    prepare: Callable[[Any, FeatureTable], Pending[Any]] | None = None


EXTRA_SECTIONS: dict[str, ExtraSection] = {}
"""Registered :class:`ExtraSection` objects, run after :data:`SECTIONS` in order of registration."""

#: Modules whose import registers their report sections (imported by write_report).
SECTION_MODULES: list[str] = [
    "prunegraph.analysis.sparsity_curves",
    "prunegraph.analysis.added_value",
    "prunegraph.analysis.experiments",
]


def register_section(section: ExtraSection) -> ExtraSection:
    """Add ``section`` to :data:`EXTRA_SECTIONS` (its name must be new)."""
    if section.name in SECTIONS or section.name in EXTRA_SECTIONS:
        raise ValueError(f"Report section {section.name!r} is already registered.")
    EXTRA_SECTIONS[section.name] = section
    return section


def _load_section_modules() -> None:
    import importlib

    for module in SECTION_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a broken section module must say so, not vanish
                raise


#: The Okabe-Ito colour-blind-safe palette, ordered so that the first colours keep a
#: high contrast on white (yellow last, black kept for reference lines). Every figure of
#: the report draws from it: the report's style (:func:`report_style`) makes it the
#: default colour cycle, and extra sections should index it for fixed colours.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)

#: Short, readable names of the feature sets in headlines and legends.
FEATURE_SET_LABELS: dict[str, str] = {
    "mge": "MGE topometrics",
    "rolled": "rolled-graph topometrics",
    "rolled_channel": "channel-graph topometrics",
    "ramanujan": "Ramanujan metrics",
    "density": "density alone",
    "weights": "weight statistics",
    "all": "all features",
}

#: Order of the sections on the page (others follow in the order they ran).
PAGE_ORDER: tuple[str, ...] = (
    "accuracy_vs_sparsity",
    "layer_collapse",
    "regression",
    "topology_vs_weights",
    "importance",
    "classification",
    "ranking",
    "ramanujan",
    "stability",
)

#: Order of the headlines on the first screen (others follow in page order).
HEADLINE_ORDER: tuple[str, ...] = (
    "regression",
    "topology_vs_weights",
    "ranking",
    "layer_collapse",
    "accuracy_vs_sparsity",
    "classification",
    "importance",
    "ramanujan",
    "stability",
)

#: The label of each headline on the first screen (default: the section's heading).
HEADLINE_LABELS: dict[str, str] = {
    "regression": "Predicting the drop",
    "topology_vs_weights": "Topology vs weights",
    "ranking": "Best pruner",
    "layer_collapse": "Layer collapse",
    "accuracy_vs_sparsity": "Accuracy vs sparsity",
    "classification": "Identifying the pruner",
    "importance": "Most important topometric",
    "ramanujan": "Ramanujan metrics vs density",
    "stability": "Mask stability",
}

PERCENTILE_INTERVAL = "2.5-97.5 percentile interval"


def _agg() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def report_style() -> Any:
    """A ``matplotlib.rc_context`` with the report's style: Okabe-Ito colours, legible sizes.

    Lines cycle through the eight colours first, then the same colours dashed and
    dotted (24 distinct styles before one repeats). Every figure the report embeds,
    including those of extra sections, is drawn under it.
    """
    _agg()
    import matplotlib
    from cycler import cycler

    cycle = cycler(linestyle=["-", "--", ":"]) * cycler(color=list(OKABE_ITO))
    return matplotlib.rc_context(
        {
            "axes.prop_cycle": cycle,
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 8,
            "xtick.labelsize": 9,
            "ytick.labelsize": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "axes.grid.axis": "y",
            "grid.color": "#d9d9d9",
            "grid.linewidth": 0.6,
            "axes.axisbelow": True,
            "image.cmap": "cividis",
        }
    )


def figure_to_base64(fig: Any) -> str:
    """PNG bytes of a matplotlib figure as a base64 string (the figure is closed)."""
    plt = _agg()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)  # figures are laid out with tight_layout
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def feature_set_label(name: str) -> str:
    """Readable name of a feature set (:data:`FEATURE_SET_LABELS`, else the name itself)."""
    return FEATURE_SET_LABELS.get(name, name)


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _interval(lo: float, hi: float, digits: int = 2) -> str:
    return f"[{_fmt(lo, digits)}, {_fmt(hi, digits)}]"


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return np.nan, np.nan
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return float(lo), float(hi)


def _palette(names: Sequence[str]) -> dict[str, str]:
    return {name: OKABE_ITO[i % len(OKABE_ITO)] for i, name in enumerate(names)}


def _ordered_feature_sets(names: Sequence[str]) -> list[str]:
    known = [n for n in FEATURE_SET_LABELS if n in set(names)]
    return known + sorted(set(names) - set(known))


def score_table(
    summary: pd.DataFrame,
    *,
    metric: str = "r2_adj",
    regressor: str = "paper_mean",
    beside: str | None = None,
) -> pd.DataFrame:
    """Cunegatti et al. 2024 Table 3 layout: rows = feature set, columns = scenario/subset.

    Cells are ``mean ± sd`` over repeats (sample standard deviation, ddof = 1). With
    ``beside`` (e.g. ``'r2'`` next to ``'r2_adj'``) a cell reads ``'a ± sd | b ± sd'``.
    When the summary has a ``small_cell`` column, cells with fewer than
    :data:`~prunegraph.analysis.regression.MIN_ROWS_PER_FEATURE` rows per feature
    end with ``' †'``.
    """
    part = summary[summary["regressor"] == regressor]
    if part.empty:
        return pd.DataFrame()

    def cell(name: str) -> pd.Series:
        return (
            part[f"{name}_mean"].map(lambda v: f"{v:.3f}")
            + " ± "
            + part[f"{name}_std"].map(lambda v: "nan" if pd.isna(v) else f"{v:.3f}")
        )

    text = cell(metric)
    if beside is not None:
        text = text + " | " + cell(beside)
    if "small_cell" in part.columns:
        text = text + part["small_cell"].map(lambda small: " †" if bool(small) else "")
    cells = part.assign(cell=text, column=part["scenario"] + "=" + part["subset"].astype(str))
    return cells.pivot(index="feature_set", columns="column", values="cell")


def _regression_cells(summary: pd.DataFrame, regressor: str = "paper_mean") -> pd.DataFrame:
    """One row per (scenario, subset, feature set): the plotted R2 and its percentile interval.

    The adjusted R2 where the cell has enough rows per feature, the unadjusted R2
    (``adjusted = False``) where it does not (``small_cell``), as the tables advise.
    """
    part = summary[summary["regressor"] == regressor].copy()
    small = (
        part["small_cell"].astype(bool)
        if "small_cell" in part
        else pd.Series(False, index=part.index)
    )
    small |= ~np.isfinite(part["r2_adj_mean"].to_numpy(dtype=float))
    for stat in ("mean", "lo", "hi"):
        part[f"value_{stat}"] = part[f"r2_adj_{stat}"].where(~small, part[f"r2_{stat}"])
    part["adjusted"] = ~small
    return part


def plot_regression_bars(summary: pd.DataFrame, *, regressor: str = "paper_mean") -> Any:
    """Held-out R2 per feature set: one panel per scenario, bars per subset, percentile whiskers.

    Bars are the mean over CV repeats of the adjusted R2,
    :math:`R^2_{adj} = 1 - (1 - R^2)(n - 1)/(n - p - 1)`, of ``regressor``
    (hatched: the unadjusted :math:`R^2` of cells with fewer than
    :data:`~prunegraph.analysis.regression.MIN_ROWS_PER_FEATURE` rows per feature);
    whiskers span the 2.5-97.5 percentiles over the repeats. The axis stops at -1:
    a bar below it is drawn to -1 and labelled with its value.
    """
    plt = _agg()
    from matplotlib.patches import Patch

    cells = _regression_cells(summary, regressor)
    if cells.empty:
        raise ValidationError(f"No regression cell of regressor '{regressor}' to plot.")
    scenarios = [s for s in ("all", "architecture", "sparsity") if s in set(cells["scenario"])]
    scenarios += sorted(set(cells["scenario"]) - set(scenarios))
    sets = _ordered_feature_sets(cells["feature_set"].unique())
    colours = _palette(sets)
    width = {s: max(1, cells.loc[cells["scenario"] == s, "subset"].nunique()) for s in scenarios}
    bottom = -1.0
    # One row when the bars fit; else 'all' and 'architecture' share a row and every
    # other scenario gets its own, all rows on one x scale (a spacer fills short rows).
    if len(sets) * sum(width.values()) <= 36:
        rows_of = [scenarios]
    else:
        first = [s for s in scenarios if s in ("all", "architecture")]
        rows_of = ([first] if first else []) + [[s] for s in scenarios if s not in first]
    span = max(sum(width[s] for s in row) for row in rows_of)
    fig = plt.figure(
        figsize=(min(12.5, 2.0 + 0.3 * len(sets) * span), 0.9 + 3.0 * len(rows_of)),
        layout="constrained",
    )
    subfigs = fig.subfigures(len(rows_of), 1, squeeze=False)[:, 0]
    axes_of: dict[str, Any] = {}
    for subfig, row in zip(subfigs, rows_of, strict=True):
        ratios = [width[s] for s in row]
        spare = span - sum(ratios)
        row_axes = subfig.subplots(
            1, len(row) + (spare > 0), gridspec_kw={"width_ratios": ratios + [spare] * (spare > 0)}
        )
        row_axes = np.atleast_1d(row_axes)
        if spare > 0:
            row_axes[-1].set_axis_off()
        for i, (ax, scenario) in enumerate(zip(row_axes, row, strict=False)):
            axes_of[scenario] = ax
            if i == 0:
                ax.set_ylabel("held-out R²")
        bar = 0.8 / len(sets)
    for scenario in scenarios:
        ax = axes_of[scenario]
        rows = cells[cells["scenario"] == scenario]
        subsets = list(dict.fromkeys(rows["subset"].astype(str)))
        for k, name in enumerate(sets):
            part = rows[rows["feature_set"] == name]
            part = part.set_index(part["subset"].astype(str)).reindex(subsets)
            x = np.arange(len(subsets)) + (k - (len(sets) - 1) / 2) * bar
            value = part["value_mean"].to_numpy(dtype=float)
            shown = np.clip(value, bottom, None)
            lo = np.clip(part["value_lo"].to_numpy(dtype=float), bottom, None)
            hi = np.clip(part["value_hi"].to_numpy(dtype=float), bottom, None)
            adjusted = part["adjusted"].fillna(True).to_numpy(dtype=bool)
            ax.bar(
                x,
                shown,
                width=bar,
                color=colours[name],
                edgecolor="#333333",
                linewidth=0.5,
                hatch=[None if a else "///" for a in adjusted],
            )
            ax.errorbar(
                x,
                shown,
                yerr=np.vstack([np.clip(shown - lo, 0, None), np.clip(hi - shown, 0, None)]),
                fmt="none",
                ecolor="#1a1a1a",
                elinewidth=0.9,
                capsize=2,
            )
            for xi, v in zip(x[value < bottom], value[value < bottom], strict=True):
                ax.text(
                    xi,
                    bottom + 0.03,
                    f"{v:.3g}",
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
                )
        ax.axhline(0.0, color="#1a1a1a", linewidth=0.8)
        ticks = ["all networks"] if scenario == "all" else subsets
        ax.set_xticks(range(len(subsets)), ticks, rotation=30 if len(subsets) > 3 else 0)
        ax.set_xlabel("" if scenario == "all" else f"{scenario} (held fixed)")
        ax.set_title(f"scenario '{scenario}'")
        ax.set_ylim(bottom, 1.0)
    handles = [
        Patch(facecolor=colours[n], edgecolor="#333333", label=feature_set_label(n)) for n in sets
    ]
    handles.append(
        Patch(
            facecolor="white", edgecolor="#333333", hatch="///", label="unadjusted R² (small cell)"
        )
    )
    fig.legend(
        handles=handles,
        loc="outside upper center",
        ncol=len(handles) if len(handles) <= 4 else (len(handles) + 1) // 2,
        frameon=False,
    )
    return fig


def plot_classification_bars(result: pd.DataFrame) -> Any:
    """Balanced accuracy per feature set and cell, one panel per target, sd whiskers, chance marks."""
    plt = _agg()

    targets = list(dict.fromkeys(result["target"]))
    sets = _ordered_feature_sets(result["feature_set"].unique())
    colours = _palette(sets)
    cells = list(dict.fromkeys(result["scenario"] + "=" + result["subset"].astype(str)))
    fig, axes = plt.subplots(
        len(targets),
        1,
        figsize=(min(16.0, 2.5 + 0.35 * len(sets) * len(cells)), 2.9 * len(targets) + 0.6),
        squeeze=False,
        sharex=True,
    )
    bar = 0.8 / len(sets)
    for ax, target in zip(axes[:, 0], targets, strict=True):
        rows = result[result["target"] == target]
        labels = rows["scenario"] + "=" + rows["subset"].astype(str)
        for k, name in enumerate(sets):
            part = rows[rows["feature_set"] == name].set_index(labels[rows["feature_set"] == name])
            part = part.reindex(cells)
            x = np.arange(len(cells)) + (k - (len(sets) - 1) / 2) * bar
            ax.bar(
                x,
                part["balanced_accuracy_mean"].to_numpy(dtype=float),
                width=bar,
                yerr=part["balanced_accuracy_std"].fillna(0).to_numpy(dtype=float),
                color=colours[name],
                edgecolor="#333333",
                linewidth=0.5,
                error_kw={"ecolor": "#1a1a1a", "elinewidth": 0.9, "capsize": 2},
                label=feature_set_label(name),
            )
        chance = rows.groupby(labels)["chance"].first().reindex(cells).to_numpy(dtype=float)
        ax.hlines(
            chance,
            np.arange(len(cells)) - 0.45,
            np.arange(len(cells)) + 0.45,
            colors="#1a1a1a",
            linestyles="--",
            linewidth=1.0,
            label="chance",
        )
        ax.set_ylim(0, 1)
        ax.set_ylabel("balanced accuracy (0-1)")
        ax.set_title(f"classifying the {target.replace('_', ' ')}")
    axes[-1][0].set_xticks(range(len(cells)), cells, rotation=30, ha="right")
    axes[-1][0].set_xlabel("cell (scenario=subset)")
    axes[0][0].legend(ncol=len(sets) + 1, loc="upper right", frameon=False)
    fig.tight_layout()
    return fig


def plot_permutation_importance(perm: pd.DataFrame, *, top: int = 15) -> Any:
    """Horizontal bars of the permutation importance (mean, sd whiskers), largest on top."""
    plt = _agg()

    part = perm.sort_values("importance_mean", ascending=False).head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.0, 0.8 + 0.3 * len(part)))
    ax.barh(
        [str(i) for i in part.index],
        part["importance_mean"].to_numpy(dtype=float),
        xerr=part["importance_std"].fillna(0).to_numpy(dtype=float),
        color=OKABE_ITO[0],
        edgecolor="#333333",
        linewidth=0.5,
        error_kw={"ecolor": "#1a1a1a", "elinewidth": 0.9, "capsize": 2},
    )
    ax.axvline(0.0, color="#1a1a1a", linewidth=0.8)
    ax.grid(axis="x", color="#d9d9d9", linewidth=0.6)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("decrease of held-out R² when the feature is permuted")
    ax.set_title(f"Permutation importance, top {len(part)} MGE topometrics (XGBoost)")
    fig.tight_layout()
    return fig


def pruner_ranks(scores: pd.DataFrame) -> pd.DataFrame:
    """Rank of every pruner in the measured order of each configuration.

    The measured order (``true`` of :func:`~prunegraph.analysis.ranking.rank_pruners`)
    sorts pruners by ascending seed-mean accuracy drop; rank 1 is the smallest drop.

    Returns
    -------
    DataFrame
        One row per pruner: ``mean_rank``, ``rank_lo``/``rank_hi`` (2.5 and 97.5
        percentiles over the configurations), ``first`` (configurations it ranks
        first in), ``configurations`` and ``n_pruners`` (the most pruners in a
        configuration), sorted by mean rank (ties: more firsts first).
    """
    configs = scores.drop_duplicates(["architecture", "dataset", "sparsity"])
    orders = configs["true"].astype(str).str.split(">")
    ranks = orders.explode().to_frame("pruner")
    ranks["rank"] = ranks.groupby(level=0).cumcount() + 1
    grouped = ranks.groupby("pruner")["rank"]
    out = pd.DataFrame(
        {
            "mean_rank": grouped.mean(),
            "rank_lo": grouped.quantile(0.025),
            "rank_hi": grouped.quantile(0.975),
            "first": grouped.apply(lambda r: int((r == 1).sum())),
            "configurations": grouped.size(),
        }
    )
    out["n_pruners"] = int(orders.map(len).max())
    return out.sort_values(["mean_rank", "first"], ascending=[True, False])


def plot_ranking_bars(scores: pd.DataFrame) -> Any:
    """Mean RBO with the measured order per strategy and architecture, percentile whiskers."""
    plt = _agg()

    archs = sorted(scores["architecture"].unique())
    strategies = list(dict.fromkeys(scores["strategy"]))
    colours = _palette(strategies)
    fig, ax = plt.subplots(figsize=(min(14.0, 2.5 + 0.45 * len(archs) * len(strategies)), 3.8))
    bar = 0.8 / len(strategies)
    grouped = scores.groupby(["architecture", "strategy"])["rbo"]
    mean = grouped.mean()
    lo = grouped.quantile(0.025)
    hi = grouped.quantile(0.975)
    for k, strategy in enumerate(strategies):
        index = pd.MultiIndex.from_product([archs, [strategy]])
        m = mean.reindex(index).to_numpy(dtype=float)
        x = np.arange(len(archs)) + (k - (len(strategies) - 1) / 2) * bar
        ax.bar(
            x,
            m,
            width=bar,
            yerr=np.vstack(
                [
                    np.clip(m - lo.reindex(index).to_numpy(dtype=float), 0, None),
                    np.clip(hi.reindex(index).to_numpy(dtype=float) - m, 0, None),
                ]
            ),
            color=colours[strategy],
            edgecolor="#333333",
            linewidth=0.5,
            error_kw={"ecolor": "#1a1a1a", "elinewidth": 0.9, "capsize": 2},
            label=strategy,
        )
    ax.set_xticks(range(len(archs)), archs)
    ax.set_xlabel("architecture")
    ax.set_ylim(0, 1)
    ax.set_ylabel("RBO with the measured order (0-1)")
    ax.set_title("How well each strategy orders the pruners (mean over configurations)")
    ax.legend(
        ncol=min(len(strategies), 5), loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False
    )
    fig.tight_layout()
    return fig


def plot_pruner_ranks(ranks: pd.DataFrame) -> Any:
    """Horizontal bars of each pruner's mean rank in the measured order (1 = smallest drop)."""
    plt = _agg()

    part = ranks.iloc[::-1]
    mean = part["mean_rank"].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(7.0, 0.9 + 0.3 * len(part)))
    ax.barh(
        [str(p) for p in part.index],
        mean,
        xerr=np.vstack(
            [
                np.clip(mean - part["rank_lo"].to_numpy(dtype=float), 0, None),
                np.clip(part["rank_hi"].to_numpy(dtype=float) - mean, 0, None),
            ]
        ),
        color=OKABE_ITO[2],
        edgecolor="#333333",
        linewidth=0.5,
        error_kw={"ecolor": "#1a1a1a", "elinewidth": 0.9, "capsize": 2},
    )
    ax.grid(axis="x", color="#d9d9d9", linewidth=0.6)
    ax.grid(axis="y", visible=False)
    ax.set_xlim(0, float(ranks["n_pruners"].max()) + 0.5)
    ax.set_xlabel("rank by measured accuracy drop (1 = smallest drop)")
    ax.set_title("Pruners by measured accuracy drop: mean rank over configurations")
    fig.tight_layout()
    return fig


def plot_importance_heatmap(matrix: pd.DataFrame, *, title: str) -> Any:
    """Features x subsets heatmap of correlation importance in [-1, 1] (Figures 3-4).

    A diverging red-blue map (distinguishable under the common colour-vision
    deficiencies); cell labels switch to white on the dark ends for contrast.
    """
    plt = _agg()
    values = matrix.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(2.2 + 1.1 * matrix.shape[1], 1.0 + 0.32 * matrix.shape[0]))
    image = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), [str(c) for c in matrix.columns], rotation=45, ha="right")
    ax.set_yticks(range(matrix.shape[0]), [str(i) for i in matrix.index])
    ax.grid(False)
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            colour = "white" if abs(value) > 0.6 else "#1a1a1a"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=colour)
    ax.set_title(title)
    ax.set_xlabel("subset held fixed")
    ax.set_ylabel("topometric")
    fig.colorbar(image, ax=ax, label="Pearson r (-1 to 1)")
    fig.tight_layout()
    return fig


def regression_headline(
    summary: pd.DataFrame, *, protocol: str, regressor: str = "paper_mean"
) -> str:
    """Which feature set predicts the drop best, over all networks (scenario ``all``).

    The number is the mean over CV repeats of the held-out adjusted R2 of
    ``regressor`` (unadjusted where the cell is small, said so), the interval
    the 2.5-97.5 percentiles over the repeats; the other feature sets follow
    with their means.
    """
    cells = _regression_cells(summary, regressor)
    whole = cells[cells["scenario"] == "all"]
    if whole.empty:
        return "No regression over all networks could be cross-validated (see the section's notes)."
    whole = whole.sort_values("value_mean", ascending=False, na_position="last")
    best = whole.iloc[0]
    kind = (
        "held-out adjusted R²"
        if bool(best["adjusted"])
        else "held-out unadjusted R²: too few rows per feature for the adjusted one"
    )
    repeats = int(best["n_repeats"]) if "n_repeats" in best else 0
    others = ", ".join(
        f"{feature_set_label(str(r.feature_set))} {_fmt(float(r.value_mean))}"
        + ("" if r.adjusted else " (unadjusted)")
        for r in whole.iloc[1:].itertuples()
    )
    label = feature_set_label(str(best["feature_set"]))
    return (
        f"Best predictor of the accuracy drop: {label}, explaining "
        f"{_fmt(float(best['value_mean']))} {_interval(float(best['value_lo']), float(best['value_hi']))} "
        f"of its variance under {protocol} CV ({kind}, mean of the regressors; "
        f"[ ] = {PERCENTILE_INTERVAL} over {repeats} repeats)" + (f"; {others}." if others else ".")
    )


def importance_headline(perm: pd.DataFrame) -> str:
    """The most important MGE topometric by permutation importance (mean ± sd)."""
    part = perm.sort_values("importance_mean", ascending=False)
    if part.empty:
        return "Not computed: no permutation importance could be estimated."
    top = part.iloc[0]
    rest = ", ".join(f"{i} {_fmt(float(v))}" for i, v in part["importance_mean"].iloc[1:3].items())
    return (
        f"The drop depends most on {part.index[0]}: permuting it costs "
        f"{_fmt(float(top['importance_mean']))} ± {_fmt(float(top['importance_std']))} of held-out R² "
        f"(XGBoost on MGE topometrics; mean ± population sd over folds x repeats)"
        + (f"; next {rest}." if rest else ".")
    )


def classification_headline(result: pd.DataFrame, *, n_repeats: int) -> str:
    """How well the best feature set identifies the pruner and its category (all networks)."""
    whole = result[result["scenario"] == "all"]
    if whole.empty:
        whole = result
    parts = []
    for target in dict.fromkeys(whole["target"]):
        rows = whole[whole["target"] == target].sort_values(
            "balanced_accuracy_mean", ascending=False
        )
        best = rows.iloc[0]
        parts.append(
            f"the {str(target).replace('_', ' ')} with balanced accuracy "
            f"{_fmt(float(best['balanced_accuracy_mean']))} ± {_fmt(float(best['balanced_accuracy_std']))} "
            f"from {feature_set_label(str(best['feature_set']))} (chance {_fmt(float(best['chance']))})"
        )
    return (
        "Topology identifies "
        + " and ".join(parts)
        + f" (mean ± sample sd over {n_repeats} CV repeats)."
    )


def ranking_headline(scores: pd.DataFrame) -> str:
    """Which pruner ranks first by measured drop, and how well the mixture predicts the order."""
    ranks = pruner_ranks(scores)
    best = ranks.iloc[0]
    n_configs = scores.drop_duplicates(["architecture", "dataset", "sparsity"]).shape[0]
    sentence = (
        f"{ranks.index[0]} ranks first by measured accuracy drop: mean rank "
        f"{_fmt(float(best['mean_rank']), 1)} {_interval(float(best['rank_lo']), float(best['rank_hi']), 1)} "
        f"of {int(best['n_pruners'])} pruners over {n_configs} configurations ([ ] = "
        f"{PERCENTILE_INTERVAL} over configurations), first in {int(best['first'])}"
    )
    per_strategy = scores.groupby("strategy")["rbo"]
    if MIXTURE in per_strategy.groups:
        rbo = scores.loc[scores["strategy"] == MIXTURE, "rbo"].to_numpy(dtype=float)
        lo, hi = _percentiles(rbo)
        others = ", ".join(
            f"{s} {_fmt(float(v))}"
            for s, v in per_strategy.mean().drop(MIXTURE).sort_values(ascending=False).items()
        )
        sentence += (
            f"; the topometric mixture predicts the order with RBO {_fmt(float(np.mean(rbo)))} "
            f"{_interval(lo, hi)}" + (f" (baselines: {others})" if others else "")
        )
    return sentence + "."


def ramanujan_headline(corr: pd.DataFrame) -> str:
    """How closely the Ramanujan metrics follow layer density (median r, min-max over cells)."""
    stats = corr.groupby("metric")["r"].agg(["median", "min", "max", "size"])
    stats = stats.sort_values("median", ascending=False)
    top = stats.iloc[0]
    others = ", ".join(f"{m} {_fmt(float(v))}" for m, v in stats["median"].iloc[1:].items())
    return (
        f"Ramanujan metrics follow layer density: Pearson r of {stats.index[0]} with layer density "
        f"{_fmt(float(top['median']))} {_interval(float(top['min']), float(top['max']))} "
        f"(median, [min, max] over {int(top['size'])} architecture x sparsity cells)"
        + (f"; median r {others}." if others else ".")
    )


def stability_headline(pairs: pd.DataFrame) -> str:
    """The most and least reproducible pruner masks (mean layer-weighted Jaccard SJ)."""
    from prunegraph.analysis.stability_report import stability_by_pruner

    table = stability_by_pruner(pairs)
    setting = "init" if "init" in set(table["setting"]) else str(table["setting"].iloc[0])
    rows = table[table["setting"] == setting]
    per = rows.groupby("pruner")["sj_mean"].agg(["mean", "min", "max", "size"])
    per = per.sort_values("mean", ascending=False)
    what = "across seeds" if setting == "init" else f"in setting '{setting}'"
    sentence = (
        f"Most reproducible mask {what}: {per.index[0]}, mean SJ {_fmt(float(per['mean'].iloc[0]))} "
        f"{_interval(float(per['min'].iloc[0]), float(per['max'].iloc[0]))}"
    )
    if len(per) > 1:
        sentence += (
            f"; least: {per.index[-1]}, {_fmt(float(per['mean'].iloc[-1]))} "
            f"{_interval(float(per['min'].iloc[-1]), float(per['max'].iloc[-1]))}"
        )
    return sentence + " ([ ] = min and max over its architecture x sparsity cells)."


def _listing(values: Sequence[Any], what: str) -> str:
    values = list(values)
    names = ", ".join(str(v) for v in values)
    return f"{len(values)} {what}{'' if len(values) == 1 else 's'} ({names})"


def study_paragraph(table: FeatureTable, *, protocol: str, n_splits: int, n_repeats: int) -> str:
    """The study in one paragraph: what was pruned, how much accuracy it cost, how it is tested.

    The accuracy drop is ``1 - acc_sparse / acc_dense``; its mean is given at the
    lowest and the highest sparsity.
    """
    data = table.data
    studies = ", ".join(sorted(data["study"].astype(str).unique())) if "study" in data else "?"
    sparsities = sorted(data["sparsity"].astype(float).unique())
    seeds = data["seed"].nunique() if "seed" in data else 1
    text = (
        f"Study '{studies}': {len(data)} pruned networks, "
        f"{_listing(sorted(data['architecture'].unique()), 'architecture')} on "
        f"{_listing(sorted(data['dataset'].unique()), 'dataset')}, "
        f"{_listing(sorted(data['pruner'].unique()), 'pruner')}, sparsities "
        f"{', '.join(f'{s:g}' for s in sparsities)} and {seeds} seed{'' if seeds == 1 else 's'}: "
        f"{table.groups.nunique()} configurations (architecture, dataset, pruner, sparsity)."
    )
    if "acc_dense" in data and data["acc_dense"].notna().any():
        dense = data["acc_dense"].astype(float)
        text += (
            f" Dense test accuracy {dense.mean():.3f} (range {dense.min():.3f}-{dense.max():.3f})."
        )
    if "acc_drop" in data and data["acc_drop"].notna().any():
        drop = data.groupby(data["sparsity"].astype(float))["acc_drop"].mean()
        text += (
            f" Mean accuracy drop (1 - sparse/dense accuracy) {drop.iloc[0]:.3f} at sparsity "
            f"{drop.index[0]:g}"
            + (f" and {drop.iloc[-1]:.3f} at {drop.index[-1]:g}." if len(drop) > 1 else ".")
        )
    text += (
        f" Metrics normalised '{table.normalisation}'; every cross-validated number uses the "
        f"'{protocol}' protocol, {n_splits}-fold x {n_repeats} repeats"
        + (" (all seeds of a configuration in the same fold)" if protocol == "grouped" else "")
        + ". Each finding below gives its number and, in [ ], its interval, saying which."
    )
    return text


def regression_alt(summary: pd.DataFrame) -> str:
    """Alt text of :func:`plot_regression_bars`: what it shows and the all-networks values."""
    cells = _regression_cells(summary)
    whole = cells[cells["scenario"] == "all"].sort_values("value_mean", ascending=False)
    values = ", ".join(
        f"{feature_set_label(str(r.feature_set))} {_fmt(float(r.value_mean))}"
        for r in whole.itertuples()
    )
    return (
        "Grouped bar chart of held-out R² per feature set, one panel per scenario "
        "(all networks, architecture fixed, sparsity fixed), with percentile whiskers"
        + (f"; over all networks: {values}." if values else ".")
    )


def classification_alt(result: pd.DataFrame) -> str:
    """Alt text of :func:`plot_classification_bars`."""
    whole = result[result["scenario"] == "all"]
    values = "; ".join(
        f"{r.target} from {feature_set_label(str(r.feature_set))} {_fmt(float(r.balanced_accuracy_mean))} "
        f"(chance {_fmt(float(r.chance))})"
        for r in whole.itertuples()
    )
    return (
        "Grouped bar chart of balanced accuracy per feature set and cell, one panel per "
        "target, with sd whiskers and dashed chance levels"
        + (f"; over all networks: {values}." if values else ".")
    )


def ranking_alt(scores: pd.DataFrame) -> str:
    """Alt text of :func:`plot_ranking_bars`."""
    mean = scores.groupby("strategy")["rbo"].mean().sort_values(ascending=False)
    return (
        "Grouped bar chart of the mean RBO with the measured pruner order per strategy and "
        "architecture; over all configurations: "
        + ", ".join(f"{s} {v:.2f}" for s, v in mean.items())
        + "."
    )


@dataclass
class _Section:
    name: str
    heading: str | None  # None: the study's preamble (notes on loading)
    figures: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    plain_notes: list[str] = field(default_factory=list)  # notes.txt, in this section's order
    block: int = -1  # the position of the section run that wrote it (the preamble: -1)


@dataclass
class _Report:
    """What the sections write: figures first, then texts and notes, tables folded below.

    Sections write through :meth:`text`, :meth:`note`, :meth:`table` and
    :meth:`figure` (extra sections and the stability section too); the page is
    assembled at the end, in :data:`PAGE_ORDER`, whatever order the sections ran in.
    """

    out_dir: Path
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    headlines: list[tuple[str, str]] = field(default_factory=list)  # (section, sentence)
    sections: list[_Section] = field(default_factory=lambda: [_Section("preamble", None)])
    # The report's cross-validation, for registered sections that cross-validate.
    protocol: str = "grouped"
    n_splits: int = 5
    n_repeats: int = 5
    random_state: int = 0
    # The process pool for the sections' cells (None: every fit in this process), the
    # sections' submitted work by section name, and the section run now writing.
    executor: Executor | None = None
    pending: dict[str, Pending[Any]] = field(default_factory=dict)
    block: int = -1

    @property
    def current(self) -> _Section:
        return self.sections[-1]

    @property
    def parts(self) -> list[str]:
        """The page body, section by section (rendered from what the sections wrote)."""
        return [self._render(section) for section in self._page_order()]

    def begin(self, name: str, heading: str) -> None:
        """Start section ``name`` under ``heading`` (what follows is written into it)."""
        self.sections.append(_Section(name, heading, block=self.block))

    def heading(self, text: str) -> None:
        self.begin(_slug(text), text)

    def text(self, text: str) -> None:
        self.current.texts.append(f"<p>{html.escape(text)}</p>")

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.current.plain_notes.append(text)
        self.current.notes.append(f'<p class="note">{html.escape(text)}</p>')

    def table(self, frame: pd.DataFrame, name: str, *, caption: str, index: bool = False) -> None:
        path = self.out_dir / f"{name}.csv"
        frame.to_csv(path, index=index)
        self.files.append(path.name)
        self.current.files.append(path.name)
        rendered = frame.to_html(
            index=index, float_format=lambda v: f"{v:.3f}", na_rep="", border=0
        )
        self.current.tables.append(
            f"<h3>{html.escape(caption)}</h3><p class='file'>{path.name}</p>"
            f"<div class='scroll'>{rendered}</div>"
        )

    def figure(self, fig: Any, caption: str, *, alt: str | None = None) -> None:
        """Embed a figure; ``alt`` (default: the caption) describes it for screen readers."""
        data = figure_to_base64(fig)
        self.current.figures.append(
            f"<figure><img alt='{html.escape(alt or caption)}' src='data:image/png;base64,{data}'/>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def headline(self, section: str, sentence: str) -> None:
        """Record the one-sentence finding of ``section`` for the first screen."""
        self.headlines.append((section, sentence))

    def has_headline(self, section: str) -> bool:
        return any(name == section for name, _ in self.headlines)

    def guarded(self, section: str, run: Callable[[], None], *, headline: bool = True) -> None:
        """Run a section; whatever happens, the section says what it found or why not.

        With ``headline`` a section that recorded no headline gets one: why it could
        not run, or that it ran without a one-line summary.
        """
        files, figures = len(self.current.files), len(self.current.figures)
        failure: str | None = None
        try:
            with warnings.catch_warnings(), single_threaded_blas(), report_style():
                warnings.simplefilter("ignore")
                run()
        except PrunegraphError as exc:
            self.note(f"Section '{section}' skipped: {exc}")
            failure = f"Not computed: {_sentence(str(exc))}"
        except Exception as exc:  # a report must never crash the study runner
            self.note(f"Section '{section}' failed unexpectedly ({type(exc).__name__}: {exc}).")
            failure = f"Not computed: the section failed unexpectedly ({type(exc).__name__})."
        else:
            produced = len(self.current.files) > files or len(self.current.figures) > figures
            if not produced:
                self.note(
                    f"Section '{section}' has no table: no cell could be computed (see the notes above)."
                )
                failure = "Not computed: no cell had enough data (see the section's notes)."
        if headline and not self.has_headline(section):
            self.headline(section, failure or "Computed; see the section's plots and tables.")

    def in_run_order(self) -> None:
        """Put the sections (and the notes) back in the order of the section runs.

        Sections that were run ahead of others (while the pool fitted) land where a
        serial run would have written them, so the page and ``notes.txt`` do not
        depend on which ran first.
        """
        self.sections = [self.sections[0], *sorted(self.sections[1:], key=lambda s: s.block)]
        self.notes = [note for section in self.sections for note in section.plain_notes]

    def _page_order(self) -> list[_Section]:
        body = self.sections[1:]
        rank = {name: i for i, name in enumerate(PAGE_ORDER)}
        return sorted(body, key=lambda s: rank.get(s.name, len(rank)))  # stable for the rest

    def _render(self, section: _Section) -> str:
        out = [f"<section id='{html.escape(section.name)}' class='section'>"]
        if section.heading is not None:
            out.append(f"<h2>{html.escape(section.heading)}</h2>")
        for name, sentence in self.headlines:
            if name == section.name:
                out.append(f"<p class='headline'>{html.escape(sentence)}</p>")
        out.extend(section.figures)
        out.extend(section.texts)
        if len(section.notes) > 3:
            out.append(
                f"<details class='notes'><summary>{len(section.notes)} notes (also in "
                f"notes.txt)</summary>{''.join(section.notes)}</details>"
            )
        else:
            out.extend(section.notes)
        if section.tables:
            out.append(
                f"<details class='tables'><summary>Full tables ({len(section.tables)}): "
                f"{html.escape(', '.join(section.files))}</summary>{''.join(section.tables)}</details>"
            )
        out.append("</section>")
        return "".join(out)

    def findings(self, study: str) -> str:
        """The first screen: the study paragraph, then one headline per section, linked."""
        present = {s.name: s for s in self.sections[1:]}
        order = [n for n in HEADLINE_ORDER if n in present]
        order += [s.name for s in self._page_order() if s.name not in order]
        items = []
        for name in order:
            label = HEADLINE_LABELS.get(name) or present[name].heading or name
            for section, sentence in self.headlines:
                if section == name:
                    items.append(
                        f"<li class='headline' data-section='{html.escape(name)}'>"
                        f"<a href='#{html.escape(name)}'>{html.escape(label)}</a>: "
                        f"{html.escape(sentence)}</li>"
                    )
        preamble = self.sections[0]
        data_notes = ""
        if preamble.notes or preamble.texts:
            data_notes = (
                f"<details class='notes'><summary>Notes on the data ({len(preamble.notes)})"
                f"</summary>{''.join(preamble.texts)}{''.join(preamble.notes)}</details>"
            )
        return (
            "<section id='findings' class='findings'><h2>Findings</h2>"
            f"<p class='study'>{html.escape(study)}</p>"
            f"<ul class='headlines'>{''.join(items)}</ul>{data_notes}</section>"
        )


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "section"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def auto_jobs(table: FeatureTable, n_feature_sets: int) -> int:
    """Worker processes for the report's cells: ``min(cores, 4)``, 1 for small tables.

    :func:`~prunegraph.analysis.cells.report_jobs` of the table's rows (fewer than
    :data:`PARALLEL_MIN_WORK` rows x feature sets: 1).
    """
    return report_jobs(len(table), n_feature_sets)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#1a1a1a;
line-height:1.45}
h1{font-size:1.6em;margin-bottom:.3em}
h2{font-size:1.3em;margin:1.6em 0 .4em;border-bottom:2px solid #0072B2;padding-bottom:.15em}
h3{font-size:1em;margin:1.2em 0 .2em}
.findings{background:#f2f6fa;border-left:5px solid #0072B2;padding:.4em 1.2em 1em}
.findings h2{border:0;margin-top:.4em}
.headlines{padding-left:1.2em}
.headlines li{margin:.35em 0}
.headlines a{font-weight:600;color:#00497a}
p.headline{font-size:1.05em;font-weight:600;margin:.4em 0 .8em}
table{border-collapse:collapse;font-size:12px;margin-bottom:1em}
th,td{padding:3px 8px;border-bottom:1px solid #ccc;text-align:right}
.scroll{overflow-x:auto}
.note{color:#7a4200;background:#fff6e6;padding:4px 8px}
.file{color:#595959;font-size:11px;margin:0}
figure{display:inline-block;vertical-align:top;margin:.6em 1.5em 1em 0;max-width:100%}
figcaption{color:#404040;font-size:.9em}
img{max-width:100%;height:auto}
details{margin:.6em 0;border:1px solid #ccc;border-radius:4px;padding:.3em .8em}
summary{cursor:pointer;font-weight:600;color:#00497a}
"""


def write_report(
    features: FeatureTable | pd.DataFrame | str | Path,
    out_dir: str | Path,
    *,
    sections: Sequence[str] = SECTIONS,
    protocol: str = "grouped",
    n_splits: int = 5,
    n_repeats: int = 10,
    feature_sets: Sequence[str] = DEFAULT_FEATURE_SETS,
    regressors: Sequence[str] = DEFAULT_REGRESSORS,
    xgboost_estimators: int | None = None,
    random_state: int = 0,
    title: str | None = None,
    n_jobs: int | None = None,
    stability: pd.DataFrame | None = None,
) -> Path:
    """Run the analyses and write ``report.html`` plus one CSV per table into ``out_dir``.

    Parameters
    ----------
    features : FeatureTable, DataFrame or path
        The study's feature table (DataFrames and files go through
        :func:`~prunegraph.analysis.features.load_features` with defaults).
    sections : sequence of str
        Any of :data:`SECTIONS`; ``importance`` reuses the regression fits (it
        runs the regression itself when ``regression`` is not selected).
    protocol, n_splits, n_repeats, random_state
        Cross-validation settings shared by every section.
    xgboost_estimators : int
        ``n_estimators`` of the XGBoost regressor and classifier (default: their
        own sizes, :data:`~prunegraph.analysis.regression.XGBOOST_PARAMS` and
        :data:`~prunegraph.analysis.classification.CLASSIFIER_PARAMS`).
    n_jobs : int, optional
        Worker processes for the regression and classification cells;
        default: :func:`auto_jobs`.
    stability : DataFrame, optional
        The study's stability pairs (library query ``similar_pairs``): adds the
        section of :mod:`~prunegraph.analysis.stability_report` at the end.

    Cells smaller than ``n_splits`` folds allow are cut into as many folds as they
    allow (down to leave-one-configuration-out); the ``cv`` column says how. Every
    ``±`` is stated in the table's caption (which standard deviation, over what).

    The page opens with the study in one paragraph and one headline per section
    (its finding in one sentence, with its number and interval: e.g. the regression's
    held-out adjusted R2 with its 2.5-97.5 percentile interval over the CV repeats);
    a section that could not run has a headline saying why. Each section shows its
    plots first and folds its full tables below (``<details>``).

    Returns
    -------
    Path
        The written ``report.html``.
    """
    _load_section_modules()
    known = (*SECTIONS, *EXTRA_SECTIONS)
    unknown = [s for s in sections if s not in known]
    if unknown:
        raise ValidationError(
            f"Unknown report section(s) {', '.join(unknown)}; choose from {', '.join(known)}."
        )
    table = features if isinstance(features, FeatureTable) else load_features(features)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Registered sections share the report's folds; at most 5 repeats each (their
    # headlines' intervals come from bootstraps over configurations, not from repeats).
    report = _Report(
        out,
        protocol=protocol,
        n_splits=n_splits,
        n_repeats=min(n_repeats, 5),
        random_state=random_state,
    )
    data = table.data
    paragraph = study_paragraph(table, protocol=protocol, n_splits=n_splits, n_repeats=n_repeats)
    if table.dropped:
        report.note(f"Constant or empty metric columns dropped: {', '.join(table.dropped)}.")
    for note in table.notes:
        report.note(note)
    reg_trees = XGBOOST_PARAMS["n_estimators"] if xgboost_estimators is None else xgboost_estimators
    cls_trees = (
        CLASSIFIER_PARAMS["n_estimators"] if xgboost_estimators is None else xgboost_estimators
    )
    params = {"xgboost": {"n_estimators": reg_trees}}
    state: dict[str, RegressionStudy] = {}
    jobs = auto_jobs(table, len(feature_sets)) if n_jobs is None else n_jobs
    # With a pool every section's fits are submitted first (below), and the sections
    # that fit nothing are drawn while the workers fit; without one each section does
    # its own work when it runs, in page order.
    executor = cell_executor(jobs) if jobs > 1 else None
    report.executor = executor
    sd_repeats = f"± = sample standard deviation (ddof = 1) over the {n_repeats} CV repeats"

    def deferred(start: Callable[[], Pending[Any]]) -> Pending[Any]:
        """Submitted now with a pool; otherwise computed when its section first needs it."""
        if executor is None:
            return Pending(lambda: start().result())
        return Pending.launch(start)

    def start_regression() -> Pending[RegressionStudy]:
        return regress_pending(
            table,
            feature_sets=feature_sets,
            regressors=regressors,
            protocol=protocol,
            n_splits=n_splits,
            n_repeats=n_repeats,
            random_state=random_state,
            regressor_params=params,
            adapt_splits=True,
            keep_models=False,
            refit=False,
            executor=executor,
        )

    def start_permutation() -> Pending[pd.DataFrame]:
        arguments = (table.X("mge"), table.y)
        options = {
            "groups": table.groups,
            "protocol": protocol,
            "n_splits": n_splits,
            "n_repeats": max(1, min(n_repeats, 3)),
            "random_state": random_state,
            "regressor_params": {"n_estimators": reg_trees},
        }
        if executor is None:
            return Pending.done(permutation_importance_cv(*arguments, **options))
        future = executor.submit(permutation_importance_cv, *arguments, **options)
        return Pending(future.result)

    def start_classification() -> Pending[tuple[pd.DataFrame, list[str]]]:
        return classification_pending(
            table,
            feature_sets=[fs for fs in ("mge", "all") if table.feature_columns(fs)],
            protocol=protocol,
            n_splits=n_splits,
            n_repeats=n_repeats,
            n_estimators=cls_trees,
            random_state=random_state,
            adapt_splits=True,
            executor=executor,
        )

    def start_ranking() -> Pending[tuple[list[str | None], list[Any]]]:
        pruners_per_category = data.groupby("pruner_category")["pruner"].nunique()
        categories = sorted(pruners_per_category.index[pruners_per_category >= 2])
        if len(pruners_per_category) < 2:
            categories = []  # one category: the overall ranking already is the per-category one
        wanted_categories: list[str | None] = [None, *categories]
        if executor is None:
            results = [
                rank_pruners(table, category=c, random_state=random_state)
                for c in wanted_categories
            ]
            return Pending.done((wanted_categories, results))
        futures = [
            executor.submit(rank_pruners, table, category=c, random_state=random_state)
            for c in wanted_categories
        ]
        return Pending(lambda: (wanted_categories, [f.result() for f in futures]))

    regression_needed = "regression" in sections or "importance" in sections
    pending: dict[str, Pending[Any]] = {}
    for name, start, needed in (
        ("regression", start_regression, regression_needed),
        ("importance", start_permutation, "importance" in sections),
        ("classification", start_classification, "classification" in sections),
        ("ranking", start_ranking, "ranking" in sections),
    ):
        if needed:
            pending[name] = deferred(start)
    extras = [
        extra for extra in EXTRA_SECTIONS.values() if extra.name in sections or extra.applies(table)
    ]
    if executor is not None:
        for extra in extras:
            if extra.prepare is not None:
                prepare = extra.prepare
                report.pending[extra.name] = Pending.launch(
                    lambda prepare=prepare: prepare(report, table)  # type: ignore[misc]
                )

    def run_regression() -> None:
        study = pending["regression"].result()
        state["study"] = study
        for note in study.notes:
            report.note(note)
        if study.summary.empty:
            raise ValidationError("no (scenario, feature set) had enough data to cross-validate")
        if "regression" in sections:
            report.headline("regression", regression_headline(study.summary, protocol=protocol))
            report.figure(
                plot_regression_bars(study.summary),
                "Held-out R² of the accuracy-drop regression per feature set, scenario and "
                f"subset (mean of the regressors; whiskers: {PERCENTILE_INTERVAL} over the "
                f"{n_repeats} CV repeats; hatched: unadjusted R² where a cell has fewer than "
                f"{MIN_ROWS_PER_FEATURE:g} rows per feature)",
                alt=regression_alt(study.summary),
            )
            report.table(
                study.summary,
                "regression",
                caption=(
                    "All regressors per cell: mean, sample sd (ddof = 1) and 2.5-97.5 "
                    "percentile interval over repeats; cv = how the cell was cut into folds; "
                    f"small_cell = fewer than {MIN_ROWS_PER_FEATURE:g} rows per feature"
                ),
            )
            both = score_table(study.summary, metric="r2_adj", beside="r2")
            report.table(
                both,
                "table3_r2_adj_vs_r2",
                caption=(
                    "Adjusted R2 | unadjusted R2 of the mean of the eight regressors of "
                    f"Cunegatti et al. 2024 (Table 3 layout); {sd_repeats}; † = fewer than "
                    f"{MIN_ROWS_PER_FEATURE:g} rows per feature, adjusted R2 not meaningful "
                    "there, read the unadjusted R2"
                ),
                index=True,
            )
            for metric, label in (
                ("r2_adj", "Adjusted R2"),
                ("r2", "R2 (unadjusted)"),
                ("mae", "MAE"),
            ):
                report.table(
                    score_table(study.summary, metric=metric),
                    f"table3_{metric}",
                    caption=(
                        f"{label} of the mean of the eight regressors of Cunegatti et al. "
                        f"2024 (Table 3 layout); {sd_repeats}"
                    ),
                    index=True,
                )
            reduced = study.summary.loc[
                study.summary["regressor"] == "paper_mean",
                ["scenario", "subset", "feature_set", "cv"],
            ]
            reduced = reduced[~reduced["cv"].str.fullmatch(rf"{protocol} {n_splits}-fold")]
            if not reduced.empty:
                report.text(
                    f"{len(reduced)} cell(s) had too few configurations for {n_splits} folds and "
                    "were cut into fewer (column cv of regression.csv)."
                )

    def run_importance() -> None:
        if "study" not in state:
            raise ValidationError(
                "the regression did not run, so there are no predictions to correlate"
            )
        for scenario, figure in (("sparsity", "Figure 3"), ("architecture", "Figure 4")):
            matrix = importance_matrix(state["study"], table, scenario=scenario, feature_set="mge")
            if matrix.empty:
                report.note(
                    f"Importance ({scenario}-fixed) skipped: no fitted MGE regression in this scenario."
                )
                continue
            report.table(
                matrix,
                f"importance_{scenario}",
                caption=f"Correlation importance, {scenario}-fixed ({figure})",
                index=True,
            )
            report.figure(
                plot_importance_heatmap(matrix, title=f"{scenario}-fixed"),
                f"Pearson r between topometrics and CV predictions ({figure} layout)",
                alt=(
                    f"Heatmap of the Pearson correlation between each MGE topometric and the "
                    f"cross-validated predictions of the drop, one column per {scenario}; "
                    "red positive, blue negative, values printed in the cells."
                ),
            )
        perm = pending["importance"].result()
        report.headline("importance", importance_headline(perm))
        report.figure(
            plot_permutation_importance(perm),
            "Permutation importance of the MGE topometrics (XGBoost, held-out R² lost when "
            "a feature is permuted; whiskers: population sd over folds x repeats)",
            alt=(
                "Horizontal bars of permutation importance, largest first: "
                + ", ".join(
                    f"{i} {v:.2f}"
                    for i, v in perm["importance_mean"].sort_values(ascending=False).head(5).items()
                )
                + "."
            ),
        )
        report.table(
            perm,
            "permutation_importance",
            caption=(
                "XGBoost permutation importance (held-out R2 decrease, all data): mean and "
                "population sd (ddof = 0) over the folds x repeats"
            ),
            index=True,
        )

    def run_classification() -> None:
        result, notes = pending["classification"].result()
        for note in notes:
            report.note(note)
        if result.empty:
            raise ValidationError("no classification cell had enough rows and classes")
        report.headline("classification", classification_headline(result, n_repeats=n_repeats))
        report.figure(
            plot_classification_bars(result),
            "Balanced accuracy of classifying the pruner and its category per feature set "
            f"and cell (whiskers: sample sd over the {n_repeats} CV repeats; dashed: chance)",
            alt=classification_alt(result),
        )
        report.table(
            result,
            "classification",
            caption=(
                "Balanced accuracy of pruner / category classification (Cunegatti et al. 2023, "
                f"Table 5): mean and sample sd (ddof = 1) over the {n_repeats} CV repeats; cv = "
                "the folds used (fewer where a class has fewer configurations than folds)"
            ),
        )

    def run_ranking() -> None:
        wanted_categories, results = pending["ranking"].result()
        for category, result in zip(wanted_categories, results, strict=True):
            suffix = "" if category is None else f"_{category}"
            if category is None and not result.scores.empty:
                ranks = pruner_ranks(result.scores)
                report.headline("ranking", ranking_headline(result.scores))
                report.figure(
                    plot_pruner_ranks(ranks),
                    "Pruners by measured accuracy drop: mean rank over the configurations "
                    f"(1 = smallest drop; whiskers: {PERCENTILE_INTERVAL} over configurations)",
                    alt=(
                        "Horizontal bars of each pruner's mean rank, best first: "
                        + ", ".join(f"{p} {r:.1f}" for p, r in ranks["mean_rank"].head(5).items())
                        + "."
                    ),
                )
                report.figure(
                    plot_ranking_bars(result.scores),
                    "RBO between each strategy's predicted pruner order and the measured one, "
                    f"per architecture (mean; whiskers: {PERCENTILE_INTERVAL} over configurations)",
                    alt=ranking_alt(result.scores),
                )
            for note in result.notes:
                report.note(f"ranking{suffix}: {note}")
            if result.scores.empty:
                report.note(f"ranking{suffix} skipped: no configuration with two or more pruners.")
                continue
            report.table(
                result.scores,
                f"ranking_scores{suffix}",
                caption=(
                    "RBO_ext (mean over alpha) per configuration"
                    f"{'' if category is None else f' ({category} pruners)'}; the mixture "
                    "min-max scales each topometric within the target's architecture"
                ),
            )
            which = "" if category is None else f", {category} pruners (Tables 11-12)"
            report.table(
                result.table(),
                f"ranking_table{suffix}",
                caption=(
                    f"RBO over datasets (Table 4 layout{which}): mean ± population sd "
                    "(ddof = 0) over the datasets; avg = each dataset averaged over the "
                    "sparsities, then mean ± sd (ddof = 0) over the datasets"
                ),
            )

    def run_ramanujan() -> None:
        corr = density_correlations(table)
        report.headline("ramanujan", ramanujan_headline(corr))
        report.table(
            corr,
            "ramanujan_correlations",
            caption="Pearson r of Ramanujan metrics with layer density (Appendix D)",
        )
        for sparsity in sorted(data["sparsity"].unique()):
            report.figure(
                plot_density_profiles(table, sparsity=float(sparsity)),
                f"Ramanujan metrics vs layer density, s={sparsity} (Figure 2 layout)",
                alt=(
                    f"Line plot per architecture at sparsity {sparsity}: layer density (black) "
                    "and the Ramanujan metrics, each scaled to sum 1 over the layers, against "
                    "the layer index."
                ),
            )

    runners = {
        "regression": ("Accuracy-drop regression", run_regression),
        "importance": ("Feature importance", run_importance),
        "classification": ("Pruner classification", run_classification),
        "ranking": ("Ranking pruners (RBO_ext, alpha in 0.25/0.5/0.75)", run_ranking),
        "ramanujan": ("Ramanujan metrics vs layer density", run_ramanujan),
    }
    # The section runs in page order: (name, run, fits in the pool).
    steps: list[tuple[str, Callable[[], None], bool]] = []

    def core_step(name: str) -> Callable[[], None]:
        heading, run = runners[name]

        def step() -> None:
            if name == "regression" and "regression" not in sections:
                report.begin("importance", runners["importance"][0])  # the fit's notes go there
            if name in sections and report.current.name != name:
                report.begin(name, heading)
            report.guarded(name, run, headline=name in sections)

        return step

    for name in SECTIONS:
        if name in sections or (name == "regression" and regression_needed):
            steps.append((name, core_step(name), name != "ramanujan"))

    def extra_step(extra: ExtraSection) -> Callable[[], None]:
        def run_extra() -> None:
            if not extra.applies(table):
                raise ValidationError(f"the feature table lacks what section '{extra.name}' needs")
            headline = extra.run(report, table)
            if headline:
                report.headline(extra.name, headline)

        def step() -> None:
            report.begin(extra.name, extra.heading)
            report.guarded(extra.name, run_extra)

        return step

    for extra in extras:
        steps.append((extra.name, extra_step(extra), extra.name in report.pending))
    if stability is not None:
        from prunegraph.analysis.stability_report import stability_section

        pairs = stability

        def run_stability() -> None:
            stability_section(report, pairs)
            report.headline("stability", stability_headline(pairs))

        def stability_step() -> None:
            report.begin("stability", "Stability per pruner and sparsity (Cunegatti et al. 2023)")
            report.guarded("stability", run_stability)

        steps.append(("stability", stability_step, False))
    order = list(range(len(steps)))
    if executor is not None:  # what needs no fit first, while the workers fit
        order.sort(key=lambda i: steps[i][2])
    for i in order:
        report.block = i
        steps[i][1]()
    report.in_run_order()
    (out / "notes.txt").write_text("\n".join(report.notes) + ("\n" if report.notes else ""))
    doc_title = html.escape(
        title or f"prunegraph analysis: {', '.join(sorted(data['study'].unique()))}"
    )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{doc_title}</title><style>{_CSS}</style></head><body><h1>{doc_title}</h1>"
        f"{report.findings(paragraph)}{''.join(report.parts)}</body></html>"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
