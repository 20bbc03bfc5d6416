r"""Does topology add to what the weights already tell? (the weights-only baseline)

Unterthiner et al. (2020) predict a network's accuracy from statistics of its
trained weights alone (the ``weights`` feature set,
:mod:`prunegraph.analysis.weights`). :func:`topology_vs_weights` asks whether the
MGE topometrics add to that baseline: it cross-validates one regressor of the
accuracy drop on three feature sets, topology alone (``mge``), weights alone
(``weights``) and both (``mge+weights``), **on the same folds** (the splits
depend only on the rows, the configurations and the seed, never on the
columns), per scenario of :mod:`~prunegraph.analysis.regression` (all data,
sparsity-fixed, architecture-fixed). Scores per repeat ``r`` are computed on the
pooled out-of-fold predictions ``yhat^{(r)}`` of its ``k`` folds:

.. math::

    R^2_{F,r} = 1 - \frac{\sum_i (y_i - \hat y^{(r)}_{F,i})^2}{\sum_i (y_i - \bar y)^2},
    \qquad
    \Delta_r = R^2_{\mathrm{both},r} - R^2_{\mathrm{weights},r},

a paired difference per repeat (same folds). Two intervals are given for the gain:

* ``gain_lo, gain_hi``: the 2.5 and 97.5 percentiles of ``Delta_r`` over the
  repeats, the spread of the regression tables (how much the answer moves
  with the cut into folds);
* ``gain_ci_lo, gain_ci_hi``: a 95 % percentile bootstrap over the
  **configurations** (a configuration's seed replicates are resampled
  together) of the gain computed from the repeat-averaged squared errors
  ``e_{F,i} = (1/R) sum_r (y_i - yhat^{(r)}_{F,i})^2``:

  .. math::

      \Delta^* = \frac{\sum_i w_i (e_{\mathrm{weights},i} - e_{\mathrm{both},i}) / \sum_i w_i}
                      {\frac{1}{n} \sum_i (y_i - \bar y)^2}

  with ``w_i`` the number of times row ``i``'s configuration was drawn; the
  denominator is the variance of the observed table (a resampled variance
  makes the ratio explode in small cells where a few configurations carry
  all of it). It says how much the answer would move on other
  configurations of the same study, and it is the interval of the headline.

Adjusted ``R^2_adj = 1 - (1 - R^2)(n - 1)/(n - p - 1)`` with ``p`` the size of
each set is given beside (NaN when ``n - p - 1 <= 0``). The default regressor is
XGBoost sized small (:data:`~prunegraph.analysis.regression.XGBOOST_PARAMS`,
40 trees of depth 3): the weight statistics relate to the drop non-linearly
(Unterthiner et al. 2020 use gradient-boosted trees), and a linear model would
make a weak baseline look beaten; ``regressor='ridge'`` is the fast linear
alternative.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from prunegraph.analysis.cells import Pending, map_cells
from prunegraph.analysis.features import FeatureTable
from prunegraph.analysis.regression import (
    REGRESSORS,
    SCENARIOS,
    RegressorPanel,
    adjusted_r2,
)
from prunegraph.analysis.report import ExtraSection, register_section
from prunegraph.errors import PrunegraphError, ValidationError

#: Topology alone, weights alone, both (the third is the union of the first two).
FEATURE_SETS: tuple[str, str, str] = ("mge", "weights", "mge+weights")
DEFAULT_REGRESSOR: str = "xgboost"
#: Bootstrap resamples of the configurations for the gain's interval.
N_BOOTSTRAP: int = 2000
#: Cross-validation and regressor of the report section when the report object does not
#: carry them (``write_report`` passes its protocol, folds, seed and at most five
#: repeats). Five repeats, not ten: an XGBoost fit costs ~10 ms on a demo-sized table, and
#: the headline's interval (bootstrap over configurations) uses the repeat-averaged errors.
REPORT_CV: dict[str, Any] = {
    "protocol": "grouped",
    "n_splits": 5,
    "n_repeats": 5,
    "random_state": 0,
    "regressor": DEFAULT_REGRESSOR,
}


@dataclass
class AddedValue:
    """Result of :func:`topology_vs_weights`.

    Attributes
    ----------
    scores : DataFrame
        One row per (scenario, subset, feature_set, repeat): ``r2, r2_adj, n, p``.
    summary : DataFrame
        Per (scenario, subset, feature_set): ``n_rows, n_configurations,
        n_features, cv``, and ``r2_*`` / ``r2_adj_*`` as ``mean``, ``sd`` (ddof = 1)
        and 2.5/97.5 percentiles ``lo``/``hi`` over the repeats.
    gain : DataFrame
        Per (scenario, subset): ``r2_topology, r2_weights, r2_both`` (means over
        repeats), ``gain_mean, gain_sd, gain_lo, gain_hi`` over repeats and
        ``gain_ci_lo, gain_ci_hi`` (bootstrap over configurations).
    notes : list of str
        Cells that could not run, and why.
    regressor : str
    feature_sets : tuple of str
    n_repeats : int
        CV repeats (reshuffled k-folds) behind every score.
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    gain: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    regressor: str = DEFAULT_REGRESSOR
    feature_sets: tuple[str, ...] = FEATURE_SETS
    n_repeats: int = 0


def set_columns(table: FeatureTable, name: str) -> list[str]:
    """Usable columns of a feature set, or of a union ``'a+b'`` (order kept, no duplicates)."""
    columns: list[str] = []
    for part in name.split("+"):
        columns += table.feature_columns(part.strip())
    return list(dict.fromkeys(columns))


def _check_sets(feature_sets: Sequence[str]) -> tuple[str, str, str]:
    sets = tuple(feature_sets)
    if len(sets) != 3 or any(not isinstance(s, str) for s in sets):
        raise ValidationError(
            "The 'feature_sets' parameter of topology_vs_weights must be three names "
            f"(topology, baseline, both). Got {sets!r} instead."
        )
    topology, baseline, both = sets
    union = {p.strip() for p in topology.split("+")} | {p.strip() for p in baseline.split("+")}
    if {p.strip() for p in both.split("+")} != union:
        raise ValidationError(
            f"The third feature set must be the union of the first two ('{topology}+{baseline}'). "
            f"Got '{both}' instead."
        )
    return topology, baseline, both


def bootstrap_gain(
    y: np.ndarray,
    err_base: np.ndarray,
    err_both: np.ndarray,
    groups: np.ndarray,
    *,
    n_boot: int = N_BOOTSTRAP,
    random_state: int = 0,
) -> np.ndarray:
    """Bootstrap draws of the R2 gain, resampling configurations (see the module docstring).

    Parameters
    ----------
    y : array
        Targets.
    err_base, err_both : array
        Per-row squared errors (averaged over repeats) of the baseline and of both sets.
    groups : array
        Configuration of each row (resampled as a unit).

    Returns
    -------
    ndarray
        ``n_boot`` values of ``Delta*`` (all NaN when ``y`` is constant).
    """
    codes, uniques = pd.factorize(pd.Series(np.asarray(groups)))
    n_groups = len(uniques)
    variance = float(np.var(y))
    if variance == 0:
        return np.full(n_boot, np.nan)
    sums = np.zeros((n_groups, 2))
    np.add.at(sums, codes, np.column_stack([np.ones_like(y), err_base - err_both]))
    rng = np.random.default_rng(random_state)
    counts = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot)
    n, difference = (counts @ sums).T
    return difference / n / variance


def topology_vs_weights(
    table: FeatureTable,
    *,
    protocol: str = "grouped",
    n_splits: int = 5,
    n_repeats: int = 10,
    random_state: int = 0,
    feature_sets: Sequence[str] = FEATURE_SETS,
    regressor: str = DEFAULT_REGRESSOR,
    scenarios: Sequence[str] = SCENARIOS,
    n_boot: int = N_BOOTSTRAP,
    executor: Executor | None = None,
) -> AddedValue:
    """Topology alone, weights alone and both under the same grouped CV, per scenario.

    Parameters
    ----------
    table : FeatureTable
        Needs the ``mge`` and ``weights`` columns (:data:`FEATURE_SETS`).
    protocol, n_splits, n_repeats, random_state
        Cross-validation (:class:`~prunegraph.analysis.regression.RegressorPanel`);
        cells with fewer configurations than ``n_splits`` are cut into as many
        folds as they allow (``cv`` says how), the same for the three sets.
    feature_sets : (str, str, str)
        Topology, baseline, and their union (``'a+b'``).
    regressor : str
        One name of :data:`~prunegraph.analysis.regression.REGRESSORS`
        (default XGBoost, see the module docstring).
    scenarios : sequence of str
        Any of ``'sparsity'``, ``'architecture'``, ``'all'``.
    n_boot : int
        Bootstrap resamples of the configurations for ``gain_ci_lo/hi``.
    executor : Executor, optional
        A process pool (:func:`~prunegraph.analysis.cells.cell_executor`) for the
        panels (one per cell and feature set); default: in this process.

    Returns
    -------
    AddedValue
        Networks without any baseline value (no weights in the cache) are left out of
        all three sets, with a note.
    """
    return topology_vs_weights_pending(
        table,
        protocol=protocol,
        n_splits=n_splits,
        n_repeats=n_repeats,
        random_state=random_state,
        feature_sets=feature_sets,
        regressor=regressor,
        scenarios=scenarios,
        n_boot=n_boot,
        executor=executor,
    ).result()


def _fit_panel(
    X: pd.DataFrame, y: pd.Series, groups: pd.Series, settings: dict[str, Any]
) -> RegressorPanel | str:
    """One feature set of one cell: the fitted panel, or why it could not be fitted."""
    try:
        return RegressorPanel(**settings).fit(X, y, groups=groups)
    except PrunegraphError as exc:
        return str(exc)


def topology_vs_weights_pending(
    table: FeatureTable,
    *,
    protocol: str = "grouped",
    n_splits: int = 5,
    n_repeats: int = 10,
    random_state: int = 0,
    feature_sets: Sequence[str] = FEATURE_SETS,
    regressor: str = DEFAULT_REGRESSOR,
    scenarios: Sequence[str] = SCENARIOS,
    n_boot: int = N_BOOTSTRAP,
    executor: Executor | None = None,
) -> Pending[AddedValue]:
    """:func:`topology_vs_weights` with its panels submitted to ``executor``, collected on ``result()``."""
    if not isinstance(table, FeatureTable):
        raise ValidationError(
            "The 'table' parameter of topology_vs_weights must be a FeatureTable. "
            f"Got {type(table).__name__} instead."
        )
    topology, baseline, both = _check_sets(feature_sets)
    REGRESSORS.get(regressor)  # did-you-mean before any work
    if not isinstance(n_boot, int | np.integer) or n_boot < 100:
        raise ValidationError(
            f"The 'n_boot' parameter of topology_vs_weights must be an int >= 100. Got {n_boot!r} instead."
        )
    notes: list[str] = []
    baseline_columns = set_columns(table, baseline)
    if baseline_columns:
        has_baseline = table.data[baseline_columns].notna().any(axis=1)
        if not has_baseline.all():
            # the same rows for the three sets, and no baseline made of imputed values
            notes.append(
                f"{int((~has_baseline).sum())} network(s) without any '{baseline}' value left "
                "out of the comparison (e.g. no trained weights in the cache)"
            )
            table = table.subset(has_baseline)
    settings: dict[str, Any] = {
        "regressors": (regressor,),
        "protocol": protocol,
        "n_splits": n_splits,
        "n_repeats": n_repeats,
        "random_state": random_state,
        "adapt_splits": True,
        "keep_models": False,
        "refit": False,
    }
    # (scenario, subset, y, groups, {set: columns}) per cell, or a note on a cell skipped
    cells: list[tuple[str, str, pd.Series, pd.Series, dict[str, list[str]]] | str] = []
    tasks: list[tuple[pd.DataFrame, pd.Series, pd.Series, dict[str, Any]]] = []
    for scenario in scenarios:
        for subset, part in table.scenarios(scenario):
            columns = {name: set_columns(part, name) for name in (topology, baseline, both)}
            empty = [name for name, cols in columns.items() if not cols]
            if empty:
                cells.append(f"skipped {scenario}={subset}: no usable column in {', '.join(empty)}")
                continue
            y, groups = part.y, part.groups
            cells.append((scenario, subset, y, groups, columns))
            tasks += [
                (part.data[cols].astype(float), y, groups, settings) for cols in columns.values()
            ]
    # the largest cells first, so no worker is left with a big one at the end
    order = sorted(range(len(tasks)), key=lambda i: -tasks[i][0].size)
    run = map_cells(_fit_panel, tasks, executor=executor, order=order)

    def finish() -> AddedValue:
        return _added_value(
            cells,
            iter(run()),
            notes=list(notes),
            regressor=regressor,
            feature_sets=(topology, baseline, both),
            n_repeats=int(n_repeats),
            n_boot=int(n_boot),
            random_state=random_state,
        )

    return Pending(finish)


def _added_value(
    cells: Sequence[tuple[str, str, pd.Series, pd.Series, dict[str, list[str]]] | str],
    fitted: Iterator[RegressorPanel | str],
    *,
    notes: list[str],
    regressor: str,
    feature_sets: tuple[str, str, str],
    n_repeats: int,
    n_boot: int,
    random_state: int,
) -> AddedValue:
    """Scores, summary and gain of the fitted panels (three per cell, in cell order)."""
    topology, baseline, both = feature_sets
    score_frames, summary_rows, gain_rows = [], [], []
    for cell in cells:
        if isinstance(cell, str):
            notes.append(cell)
            continue
        scenario, subset, y, groups, columns = cell
        where = f"{scenario}={subset}"
        results = {name: next(fitted) for name in columns}
        failed = [r for r in results.values() if isinstance(r, str)]
        if failed:  # the first set that could not be fitted says why
            notes.append(f"skipped {where}: {failed[0]}")
            continue
        panels: dict[str, RegressorPanel] = {
            name: r for name, r in results.items() if not isinstance(r, str)
        }
        target = y.to_numpy(dtype=float)
        n_rows, n_configs = len(target), int(groups.nunique())
        cv = panels[both].cv_
        r2 = {}
        errors = {}
        for name, panel in panels.items():
            scores = panel.scores_[["repeat", "r2", "r2_adj", "n", "p"]].assign(
                scenario=scenario, subset=subset, feature_set=name
            )
            score_frames.append(scores)
            r2[name] = scores["r2"].to_numpy(dtype=float)
            predictions = panel.oof_predictions_[regressor].to_numpy(dtype=float)
            errors[name] = ((target[:, None] - predictions) ** 2).mean(axis=1)
            row: dict[str, Any] = {
                "scenario": scenario,
                "subset": subset,
                "feature_set": name,
                "n_rows": n_rows,
                "n_configurations": n_configs,
                "n_features": int(panel.n_features_in_),
                "cv": panel.cv_,
            }
            for column in ("r2", "r2_adj"):
                row.update(_stats(scores[column].to_numpy(dtype=float), column))
            summary_rows.append(row)
        gain = r2[both] - r2[baseline]
        draws = bootstrap_gain(
            target,
            errors[baseline],
            errors[both],
            groups.to_numpy(),
            n_boot=int(n_boot),
            random_state=random_state,
        )
        draws = draws[np.isfinite(draws)]
        gain_rows.append(
            {
                "scenario": scenario,
                "subset": subset,
                "n_rows": n_rows,
                "n_configurations": n_configs,
                "cv": cv,
                "r2_topology": float(np.mean(r2[topology])),
                "r2_weights": float(np.mean(r2[baseline])),
                "r2_both": float(np.mean(r2[both])),
                "r2_adj_both": adjusted_r2(float(np.mean(r2[both])), n_rows, len(columns[both])),
                **_stats(gain, "gain"),
                "gain_ci_lo": float(np.percentile(draws, 2.5)) if draws.size else np.nan,
                "gain_ci_hi": float(np.percentile(draws, 97.5)) if draws.size else np.nan,
            }
        )
    lead = ["scenario", "subset", "feature_set", "repeat"]
    scores = (
        pd.concat(score_frames, ignore_index=True) if score_frames else pd.DataFrame(columns=lead)
    )
    scores = scores[lead + [c for c in scores.columns if c not in lead]]
    return AddedValue(
        scores=scores,
        summary=pd.DataFrame(summary_rows),
        gain=pd.DataFrame(gain_rows),
        notes=notes,
        regressor=regressor,
        feature_sets=feature_sets,
        n_repeats=n_repeats,
    )


def _stats(values: np.ndarray, name: str) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {f"{name}_{s}": np.nan for s in ("mean", "sd", "lo", "hi")}
    return {
        f"{name}_mean": float(finite.mean()),
        f"{name}_sd": float(finite.std(ddof=1)) if finite.size > 1 else np.nan,
        f"{name}_lo": float(np.percentile(finite, 2.5)),
        f"{name}_hi": float(np.percentile(finite, 97.5)),
    }


def headline(result: AddedValue) -> str | None:
    """The section's sentence, from the ``all`` scenario (else the first cell).

    The number is the mean gain over the repeats, the interval the 95 % bootstrap
    over configurations; the verdict says on which side of 0 the interval lies.
    """
    if result.gain.empty:
        return None
    rows = result.gain[result.gain["scenario"] == "all"]
    row = (rows if not rows.empty else result.gain).iloc[0]
    topology, baseline, _ = result.feature_sets
    gain, lo, hi = row["gain_mean"], row["gain_ci_lo"], row["gain_ci_hi"]
    change = f"raises R2 by {gain:.2f}" if gain >= 0 else f"changes R2 by {gain:.2f}"
    where = "all data" if row["scenario"] == "all" else f"{row['scenario']}={row['subset']}"
    if lo > 0:
        verdict = "topology adds to the weights"
    elif hi < 0:
        verdict = "the extra columns cost more than they add"
    else:
        verdict = "no detectable gain (the interval contains 0)"
    return (
        f"Adding {topology.upper()} topology to the {baseline} {change} [{lo:.2f}, {hi:.2f}] "
        f"({baseline} alone {row['r2_weights']:.2f}, {topology} alone "
        f"{row['r2_topology']:.2f}, both {row['r2_both']:.2f}; 95 % bootstrap interval over "
        f"configurations; {where}, {result.regressor}, {row['cv']} x {result.n_repeats} repeats): "
        f"{verdict}."
    )


def plot_added_value(result: AddedValue) -> Any:
    """Left: R2 of the three sets per cell (bars, 2.5-97.5 % over repeats); right: the gain."""
    from prunegraph.analysis.report import _agg
    from prunegraph.analysis.sparsity_curves import OKABE_ITO

    plt = _agg()
    summary, gain = result.summary, result.gain
    cells = list(dict.fromkeys(zip(gain["scenario"], gain["subset"], strict=True)))
    labels = ["all" if s == "all" else f"{s}={v}" for s, v in cells]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(max(8.0, 1.3 * len(cells) + 5), 3.8), gridspec_kw={"width_ratios": [3, 2]}
    )
    x = np.arange(len(cells))
    width = 0.8 / len(result.feature_sets)
    for k, name in enumerate(result.feature_sets):
        part = summary[summary["feature_set"] == name].set_index(["scenario", "subset"])
        part = part.reindex(cells)
        mean = part["r2_mean"].to_numpy(dtype=float)
        err = np.vstack(
            [mean - part["r2_lo"].to_numpy(float), part["r2_hi"].to_numpy(float) - mean]
        )
        left.bar(
            x + (k - 1) * width,
            mean,
            width,
            yerr=np.clip(err, 0, None),
            capsize=2,
            label=name,
            color=OKABE_ITO[[1, 5, 0][k % 3]],
            hatch=["", "//", ".."][k % 3],
            edgecolor="black",
            linewidth=0.4,
        )
    left.axhline(0, color="black", linewidth=0.6)
    left.set_xticks(x, labels, rotation=45, ha="right")
    left.set_ylabel("R2 of the accuracy drop (out of fold)")
    left.set_title(f"{result.regressor}: mean, 2.5-97.5 % over CV repeats", fontsize=9)
    left.legend(fontsize=8)
    left.grid(axis="y", alpha=0.3)
    g = gain["gain_mean"].to_numpy(dtype=float)
    lo, hi = gain["gain_ci_lo"].to_numpy(dtype=float), gain["gain_ci_hi"].to_numpy(dtype=float)
    right.errorbar(
        g,
        x,
        xerr=np.clip(np.vstack([g - lo, hi - g]), 0, None),
        fmt="o",
        color=OKABE_ITO[3],
        capsize=3,
    )
    right.axvline(0, color="black", linewidth=0.8, linestyle="--")
    right.set_yticks(x, labels)
    right.invert_yaxis()
    _, baseline, both = result.feature_sets
    right.set_xlabel(f"R2 gain: {both} - {baseline}")
    right.set_title("gain, 95 % bootstrap over configurations", fontsize=9)
    right.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _settings(report: Any) -> dict[str, Any]:
    return {key: getattr(report, key, value) for key, value in REPORT_CV.items()}


def _prepare(report: Any, table: FeatureTable) -> Pending[AddedValue]:
    """Submit the section's panels to the report's pool (``report.executor``)."""
    return topology_vs_weights_pending(
        table, **_settings(report), executor=getattr(report, "executor", None)
    )


def _section(report: Any, table: FeatureTable) -> str | None:
    settings = _settings(report)
    pending = getattr(report, "pending", {}).get("topology_vs_weights")
    result = pending.result() if pending is not None else topology_vs_weights(table, **settings)
    for note in result.notes:
        report.note(f"topology_vs_weights: {note}")
    if result.gain.empty:
        raise ValidationError("no scenario had enough data to compare the feature sets")
    report.figure(
        plot_added_value(result),
        f"Accuracy-drop R2 of topology ({result.feature_sets[0]}), weights ({result.feature_sets[1]}) "
        f"and both under the same {settings['protocol']} CV folds ({result.regressor}); right: gain "
        "of adding topology to the weights with its 95 % bootstrap interval over configurations",
    )
    report.table(
        result.gain,
        "topology_vs_weights_gain",
        caption=(
            "Gain in R2 of adding topology to the weights, per scenario: paired per repeat on the "
            "same folds; gain_mean, gain_sd (ddof = 1) and gain_lo/hi (2.5-97.5 percentiles) over "
            f"the {settings['n_repeats']} repeats; gain_ci_lo/hi = 95 % bootstrap over "
            "configurations of the repeat-averaged errors"
        ),
    )
    report.table(
        result.summary,
        "topology_vs_weights",
        caption=(
            "R2 and adjusted R2 per scenario and feature set: mean, sample sd (ddof = 1) and "
            f"2.5-97.5 percentiles over the {settings['n_repeats']} CV repeats ({result.regressor})"
        ),
    )
    return headline(result)


def _applies(table: FeatureTable) -> bool:
    try:
        return bool(table.feature_columns("weights")) and bool(table.feature_columns("mge"))
    except PrunegraphError:
        return False


register_section(
    ExtraSection(
        name="topology_vs_weights",
        heading="Does topology add to the weights? (weights-only baseline, Unterthiner et al. 2020)",
        run=_section,
        applies=_applies,
        prepare=_prepare,
    )
)
