"""Tables (CSV) and a self-contained HTML report (matplotlib PNGs embedded as base64).

:func:`write_report` runs every analysis section on a feature table and never
crashes on a small or partial study: a section that cannot run (too few rows,
configurations or classes, missing columns or per-layer rows) is replaced by a
note saying why, in the HTML and in ``notes.txt``.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prunegraph.analysis.classification import CLASSIFIER_PARAMS, classification_table
from prunegraph.analysis.cv import single_threaded_blas
from prunegraph.analysis.features import FeatureTable, load_features
from prunegraph.analysis.importance import importance_matrix, permutation_importance_cv
from prunegraph.analysis.ramanujan import density_correlations, plot_density_profiles
from prunegraph.analysis.ranking import rank_pruners
from prunegraph.analysis.regression import (
    DEFAULT_FEATURE_SETS,
    DEFAULT_REGRESSORS,
    MIN_ROWS_PER_FEATURE,
    XGBOOST_PARAMS,
    RegressionStudy,
    regress,
)
from prunegraph.errors import PrunegraphError, ValidationError

SECTIONS: tuple[str, ...] = ("regression", "importance", "classification", "ranking", "ramanujan")


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
    """

    name: str
    heading: str
    run: Callable[[Any, FeatureTable], str | None]
    applies: Callable[[FeatureTable], bool]


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


def _agg() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_to_base64(fig: Any) -> str:
    """PNG bytes of a matplotlib figure as a base64 string (the figure is closed)."""
    plt = _agg()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)  # figures are laid out with tight_layout
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


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


def plot_importance_heatmap(matrix: pd.DataFrame, *, title: str) -> Any:
    """Features x subsets heatmap of correlation importance in [-1, 1] (Figures 3-4)."""
    plt = _agg()
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * matrix.shape[1], 0.8 + 0.32 * matrix.shape[0]))
    image = ax.imshow(matrix.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), [str(c) for c in matrix.columns], rotation=45, ha="right")
    ax.set_yticks(range(matrix.shape[0]), [str(i) for i in matrix.index])
    for (i, j), value in np.ndenumerate(matrix.to_numpy(dtype=float)):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="Pearson r")
    fig.tight_layout()
    return fig


@dataclass
class _Report:
    out_dir: Path
    parts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    headlines: list[tuple[str, str]] = field(default_factory=list)  # (section, sentence)

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def text(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.parts.append(f'<p class="note">{html.escape(text)}</p>')

    def table(self, frame: pd.DataFrame, name: str, *, caption: str, index: bool = False) -> None:
        path = self.out_dir / f"{name}.csv"
        frame.to_csv(path, index=index)
        self.files.append(path.name)
        self.parts.append(f"<h3>{html.escape(caption)}</h3><p class='file'>{path.name}</p>")
        self.parts.append(
            frame.to_html(index=index, float_format=lambda v: f"{v:.3f}", na_rep="", border=0)
        )

    def figure(self, fig: Any, caption: str) -> None:
        data = figure_to_base64(fig)
        self.parts.append(
            f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'/>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def guarded(self, section: str, run: Callable[[], None]) -> None:
        """Run a section; whatever happens, the section says what it found or why not."""
        before = len(self.files), len(self.parts)
        try:
            with warnings.catch_warnings(), single_threaded_blas():
                warnings.simplefilter("ignore")
                run()
        except PrunegraphError as exc:
            self.note(f"Section '{section}' skipped: {exc}")
        except Exception as exc:  # a report must never crash the study runner
            self.note(f"Section '{section}' failed unexpectedly ({type(exc).__name__}: {exc}).")
        else:
            produced = len(self.files) > before[0] or any(
                "<figure>" in part for part in self.parts[before[1] :]
            )
            if not produced:
                self.note(
                    f"Section '{section}' has no table: no cell could be computed (see the notes above)."
                )


#: Fewest (rows x feature sets) for which the report's cells go to worker processes:
#: below it, starting the workers (importing scikit-learn and XGBoost, ~2-3 s on a
#: loaded 2-core machine) costs more than the cells.
PARALLEL_MIN_WORK: int = 1_000


def auto_jobs(table: FeatureTable, n_feature_sets: int) -> int:
    """Worker processes for the report's cells: ``min(cores, 4)``, 1 for small tables."""
    import os

    if len(table) * max(n_feature_sets, 1) < PARALLEL_MIN_WORK:
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;font-size:12px;margin-bottom:1em}
th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}
.note{color:#8a4b00;background:#fff6e6;padding:4px 8px}
.file{color:#777;font-size:11px;margin:0}
img{max-width:100%}
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
        Worker processes for the regression and classification cells (joblib);
        default: :func:`auto_jobs`.
    stability : DataFrame, optional
        The study's stability pairs (library query ``similar_pairs``): adds the
        section of :mod:`~prunegraph.analysis.stability_report` at the end.

    Cells smaller than ``n_splits`` folds allow are cut into as many folds as they
    allow (down to leave-one-configuration-out); the ``cv`` column says how. Every
    ``±`` is stated in the table's caption (which standard deviation, over what).

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
    report = _Report(out)
    data = table.data
    n_configs = table.groups.nunique()
    report.text(
        f"{len(data)} networks, {n_configs} configurations (architecture, dataset, pruner, sparsity); "
        f"architectures: {', '.join(sorted(data['architecture'].unique()))}; "
        f"datasets: {', '.join(sorted(data['dataset'].unique()))}; "
        f"pruners: {', '.join(sorted(data['pruner'].unique()))}; "
        f"sparsities: {', '.join(map(str, sorted(data['sparsity'].unique())))}. "
        f"Normalisation '{table.normalisation}', CV protocol '{protocol}', {n_splits}-fold x {n_repeats} repeats."
    )
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
    sd_repeats = f"± = sample standard deviation (ddof = 1) over the {n_repeats} CV repeats"

    def run_regression() -> None:
        study = regress(
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
            n_jobs=jobs,
        )
        state["study"] = study
        for note in study.notes:
            report.note(note)
        if study.summary.empty:
            raise ValidationError("no (scenario, feature set) had enough data to cross-validate")
        if "regression" in sections:
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
            )
        perm = permutation_importance_cv(
            table.X("mge"),
            table.y,
            groups=table.groups,
            protocol=protocol,
            n_splits=n_splits,
            n_repeats=max(1, min(n_repeats, 3)),
            random_state=random_state,
            regressor_params={"n_estimators": reg_trees},
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
        result, notes = classification_table(
            table,
            feature_sets=[fs for fs in ("mge", "all") if table.feature_columns(fs)],
            protocol=protocol,
            n_splits=n_splits,
            n_repeats=n_repeats,
            n_estimators=cls_trees,
            random_state=random_state,
            adapt_splits=True,
            n_jobs=jobs,
        )
        for note in notes:
            report.note(note)
        if result.empty:
            raise ValidationError("no classification cell had enough rows and classes")
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
        pruners_per_category = data.groupby("pruner_category")["pruner"].nunique()
        categories = sorted(pruners_per_category.index[pruners_per_category >= 2])
        if len(pruners_per_category) < 2:
            categories = []  # one category: the overall ranking already is the per-category one
        wanted_categories: list[str | None] = [None, *categories]
        if jobs > 1 and len(wanted_categories) > 1:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=jobs)(
                delayed(rank_pruners)(table, category=c, random_state=random_state)
                for c in wanted_categories
            )
        else:
            results = [
                rank_pruners(table, category=c, random_state=random_state)
                for c in wanted_categories
            ]
        for category, result in zip(wanted_categories, results, strict=True):
            suffix = "" if category is None else f"_{category}"
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
        report.table(
            corr,
            "ramanujan_correlations",
            caption="Pearson r of Ramanujan metrics with layer density (Appendix D)",
        )
        for sparsity in sorted(data["sparsity"].unique()):
            report.figure(
                plot_density_profiles(table, sparsity=float(sparsity)),
                f"Ramanujan metrics vs layer density, s={sparsity} (Figure 2 layout)",
            )

    runners = {
        "regression": ("Accuracy-drop regression", run_regression),
        "importance": ("Feature importance", run_importance),
        "classification": ("Pruner classification", run_classification),
        "ranking": ("Ranking pruners (RBO_ext, alpha in 0.25/0.5/0.75)", run_ranking),
        "ramanujan": ("Ramanujan metrics vs layer density", run_ramanujan),
    }
    wanted = list(sections)
    if "importance" in wanted and "regression" not in wanted:
        wanted.insert(0, "regression")
    for name in SECTIONS:
        if name not in wanted:
            continue
        heading, run = runners[name]
        if name in sections:
            report.heading(heading)
        report.guarded(name, run)
    for extra in EXTRA_SECTIONS.values():
        asked = extra.name in sections
        if not asked and not extra.applies(table):
            continue
        report.heading(extra.heading)

        def run_extra(extra: ExtraSection = extra) -> None:
            if not extra.applies(table):
                raise ValidationError(f"the feature table lacks what section '{extra.name}' needs")
            headline = extra.run(report, table)
            if headline:
                report.headlines.append((extra.name, headline))

        report.guarded(extra.name, run_extra)
    if stability is not None:
        from prunegraph.analysis.stability_report import stability_section

        pairs = stability
        report.heading("Stability per pruner and sparsity (Cunegatti et al. 2023)")
        report.guarded("stability", lambda: stability_section(report, pairs))
    (out / "notes.txt").write_text("\n".join(report.notes) + ("\n" if report.notes else ""))
    doc_title = html.escape(
        title or f"prunegraph analysis: {', '.join(sorted(data['study'].unique()))}"
    )
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{doc_title}</title>"
        f"<style>{_CSS}</style></head><body><h1>{doc_title}</h1>{''.join(report.parts)}</body></html>"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
