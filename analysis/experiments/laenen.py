r"""Report section: the experiment of Laenen (2023), spectral-sparsification pruning.

Laenen (2023, TAG-ML workshop at ICML) prunes each layer's rolled bipartite
graph by spectral sparsification (the ``spectral`` pruner: edge ``e`` sampled
with probability :math:`p_e = \min(1, C\, w_e R_{\mathrm{eff}}(e))`) and claims

1. one-shot spectral sparsification keeps accuracy at higher sparsity than the
   one-shot greedy choice of the highest scores (its "Greedy"/"MagPrune"
   counterparts, sections 4.2-4.3, Figures 2-3), the gap opening at high
   sparsity;
2. it preserves :math:`\lambda_2` of the normalised Laplacian
   :math:`\mathcal{L} = I - D^{-1/2} A D^{-1/2}` of each layer (largest
   connected component), a connectivity measure by Cheeger's inequality
   :math:`\lambda_2 / 2 \le \Phi_G \le \sqrt{2 \lambda_2}`, where greedy pruning
   collapses a layer and with it the accuracy (Figure 3).

The section tests both on the study's feature table:

* accuracy per pruner and sparsity: mean, sample sd (``ddof = 1``) and 95 %
  t interval over seeds (``laenen_accuracy.csv``);
* paired differences ``spectral - baseline`` of the test accuracy on the same
  seed at each matched (architecture, dataset, sparsity) cell, with a t interval
  (:func:`~prunegraph.analysis.experiments._stats.paired_differences`,
  ``laenen_matched.csv``);
* per-layer :math:`\lambda_2` (``lambda2_nlap`` of the rolled graphs) per
  pruner and sparsity (``laenen_lambda2_layers.csv``) and its Pearson ``r``
  with accuracy per layer, raw and within (dataset, sparsity) cells, with
  Fisher intervals (``laenen_lambda2_accuracy.csv``).

Every pruner of a study keeps exactly the same number of weights at a given
sparsity, so every cell of the grid is a matched-sparsity comparison.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from prunegraph.analysis.experiments._stats import (
    layer_correlations,
    paired_differences,
    pooled_difference,
    pruner_options,
    rounded_sparsity,
    with_layers,
)
from prunegraph.analysis.features import FeatureTable
from prunegraph.analysis.report import ExtraSection, register_section

SPECTRAL = "spectral"
#: The spectral pruner's ``score`` option -> the pruner that keeps the highest such scores
#: (Laenen's greedy counterpart). ``magnitude`` prunes the *trained* model here, the paper's
#: MagPrune of section 4.3; there is no magnitude-at-initialisation pruner.
GREEDY: dict[str, str] = {"magnitude": "magnitude", "snip": "snip", "synflow": "synflow"}
#: The spectral pruner's default ``score`` (a test checks it against the pruner registry;
#: the report does not import the pruners, which would import torch).
DEFAULT_SCORE = "magnitude"
CELL = ["architecture", "dataset", "sparsity"]
#: A layer whose lambda2 is below this counts as collapsed (disconnected to the limit).
COLLAPSE_LAMBDA2 = 1e-3


def _rows(table: FeatureTable) -> pd.DataFrame:
    data = table.data.copy()
    data["sparsity"] = rounded_sparsity(data)
    data["acc_sparse"] = pd.to_numeric(data["acc_sparse"], errors="coerce")
    return data


def spectral_score(table: FeatureTable) -> str:
    """The ``score`` option of the study's spectral networks (the pruner's default when unset)."""
    data = table.data[table.data["pruner"] == SPECTRAL]
    scores = {str(o.get("score", DEFAULT_SCORE)) for o in pruner_options(data)}
    return ", ".join(sorted(scores)) if scores else DEFAULT_SCORE


def applies(table: FeatureTable) -> bool:
    """The table has spectral networks with accuracies and a baseline at a matched sparsity."""
    data = table.data
    if not {"pruner", "acc_sparse", *CELL}.issubset(data.columns):
        return False
    data = _rows(table).dropna(subset=["acc_sparse"])
    spectral = data[data["pruner"] == SPECTRAL]
    others = data[data["pruner"] != SPECTRAL]
    if spectral.empty or others.empty:
        return False
    return not spectral[CELL].drop_duplicates().merge(others[CELL].drop_duplicates()).empty


def accuracy_by_pruner(table: FeatureTable) -> pd.DataFrame:
    """Test accuracy per (architecture, dataset, pruner, sparsity): n, mean, sd, 95 % t interval."""
    from prunegraph.analysis.experiments._stats import t_interval

    data = _rows(table).dropna(subset=["acc_sparse"])
    out = data.groupby(["architecture", "dataset", "pruner", "sparsity"], as_index=False).agg(
        n=("acc_sparse", "size"), acc_mean=("acc_sparse", "mean"), acc_sd=("acc_sparse", "std")
    )
    bounds = [
        t_interval(m, s, int(n))
        for m, s, n in zip(out["acc_mean"], out["acc_sd"], out["n"], strict=True)
    ]
    out["ci_low"] = [lo for lo, _ in bounds]
    out["ci_high"] = [hi for _, hi in bounds]
    return out


def matched_comparison(table: FeatureTable) -> pd.DataFrame:
    """Paired ``spectral - baseline`` accuracy per baseline and matched cell (same seed).

    Returns
    -------
    DataFrame
        ``baseline, architecture, dataset, sparsity, n, spectral_mean,
        baseline_mean, diff_mean, diff_sd, ci_low, ci_high, verdict``.
    """
    data = _rows(table)
    spectral = data["pruner"] == SPECTRAL
    parts = []
    for baseline in sorted(set(data["pruner"]) - {SPECTRAL}):
        cells = paired_differences(data, spectral, data["pruner"] == baseline, keys=CELL)
        if not cells.empty:
            parts.append(cells.assign(baseline=baseline))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True).rename(
        columns={"first_mean": "spectral_mean", "second_mean": "baseline_mean"}
    )
    return out[["baseline", *[c for c in out.columns if c != "baseline"]]]


def lambda2_layers(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds of each layer's lambda2 per (architecture, pruner, sparsity)."""
    keys = ["architecture", "dataset", "pruner", "sparsity", "layer_index", "layer_name"]
    out = rows.groupby(keys, as_index=False).agg(
        n=("lambda2_nlap", "count"),
        lambda2_mean=("lambda2_nlap", "mean"),
        lambda2_sd=("lambda2_nlap", "std"),
    )
    return out.sort_values(keys, ignore_index=True)


def _reference(matched: pd.DataFrame, score: str) -> str:
    """The greedy counterpart of the spectral score when present, else the best baseline."""
    greedy = GREEDY.get(score)
    if greedy is not None and greedy in set(matched["baseline"]):
        return greedy
    means = matched.groupby("baseline")["baseline_mean"].mean()
    return str(means.idxmax())


def _fmt(value: float, signed: bool = True) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _interval(lo: float, hi: float) -> str:
    return "no interval (one seed)" if not np.isfinite(lo) else f"95% CI [{lo:+.3f}, {hi:+.3f}]"


def headline(matched: pd.DataFrame, reference: str) -> str:
    """One sentence: spectral minus ``reference`` pooled over cells and at the highest sparsity."""
    part = matched[matched["baseline"] == reference]
    pooled = pooled_difference(part)
    top = part["sparsity"].max()
    high = part[part["sparsity"] == top]
    counts = high["verdict"].value_counts()
    n_seeds = int(high["n"].min()) if not high.empty else 0
    return (
        f"Spectral minus {reference} test accuracy at matched sparsity: "
        f"{_fmt(pooled['mean'])} on average over {pooled['n_cells']} cells "
        f"({_interval(pooled['ci_low'], pooled['ci_high'])} over cells); at the highest sparsity "
        f"{top:g}: {_fmt(float(high['diff_mean'].mean()))}, higher in {counts.get('higher', 0)}, "
        f"lower in {counts.get('lower', 0)} and undecided in {counts.get('undecided', 0)} of "
        f"{len(high)} cell(s) ({n_seeds}+ paired seeds each)."
    )


def _plot_accuracy(acc: pd.DataFrame) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = acc[["architecture", "dataset"]].drop_duplicates().to_records(index=False)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.6), squeeze=False)
    for ax, (arch, dataset) in zip(axes[0], panels, strict=True):
        part = acc[(acc["architecture"] == arch) & (acc["dataset"] == dataset)]
        for pruner, rows in part.groupby("pruner"):
            spectral = pruner == SPECTRAL
            ax.errorbar(
                rows["sparsity"],
                rows["acc_mean"],
                yerr=rows["acc_sd"].fillna(0.0),
                marker="o",
                markersize=3,
                capsize=2,
                linewidth=2.2 if spectral else 1.0,
                color="tab:blue" if spectral else None,
                label=pruner,
                zorder=3 if spectral else 2,
            )
        ax.set_title(f"{arch} / {dataset}")
        ax.set_xlabel("sparsity")
        ax.set_ylabel("test accuracy (mean ± sd over seeds)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _plot_lambda2(lam: pd.DataFrame, pruners: list[str]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = sorted(lam["architecture"].unique())
    fig, axes = plt.subplots(1, len(archs), figsize=(4.8 * len(archs), 3.6), squeeze=False)
    styles = {p: s for p, s in zip(pruners, ("-", ":", "--", "-."), strict=False)}
    for ax, arch in zip(axes[0], archs, strict=True):
        part = lam[lam["architecture"] == arch]
        names = part.sort_values("layer_index")["layer_name"].drop_duplicates().tolist()
        colours = {name: f"C{i % 10}" for i, name in enumerate(names)}
        for (pruner, name), rows in part.groupby(["pruner", "layer_name"]):
            if pruner not in styles:
                continue
            rows = rows.groupby("sparsity", as_index=False)["lambda2_mean"].mean()
            ax.plot(
                rows["sparsity"],
                rows["lambda2_mean"],
                linestyle=styles[pruner],
                color=colours[name],
                marker="o",
                markersize=2,
                label=f"{pruner} {name}",
            )
        ax.set_title(f"{arch}: lambda2 per layer ({' solid, '.join(styles)} dotted)")
        ax.set_xlabel("sparsity")
        ax.set_ylabel("lambda2 of the normalised Laplacian")
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def _plot_lambda2_accuracy(rows: pd.DataFrame) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = sorted(rows["architecture"].unique())
    fig, axes = plt.subplots(1, len(archs), figsize=(4.8 * len(archs), 3.6), squeeze=False)
    for ax, arch in zip(axes[0], archs, strict=True):
        part = rows[rows["architecture"] == arch]
        for i, (name, layer) in enumerate(part.groupby("layer_name", sort=False)):
            ax.scatter(
                layer["lambda2_nlap"], layer["acc_sparse"], s=8, color=f"C{i % 10}", label=name
            )
        ax.set_title(f"{arch}: accuracy vs per-layer lambda2")
        ax.set_xlabel("lambda2 of the normalised Laplacian (layer)")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def run(report: Any, table: FeatureTable) -> str | None:
    """Write the section; return its headline (spectral minus its reference baseline)."""
    score = spectral_score(table)
    acc = accuracy_by_pruner(table)
    matched = matched_comparison(table)
    reference = _reference(matched, score)
    data = _rows(table)
    n_spectral = int((data["pruner"] == SPECTRAL).sum())
    report.text(
        "Paper (Laenen 2023): one-shot pruning by spectral sparsification of each layer's rolled "
        "graph keeps accuracy at higher sparsity than the one-shot greedy choice of the highest "
        "scores, the gap opening at high sparsity (sections 4.2-4.3), and it preserves lambda2 of "
        "each layer's normalised Laplacian where greedy pruning collapses a layer. This study: "
        f"{n_spectral} spectral networks (scores: {score}) against "
        f"{', '.join(sorted(set(matched['baseline'])))} at the same sparsities and seeds; the "
        f"reference baseline is {reference}"
        + (" (the greedy counterpart of these scores)." if GREEDY.get(score) == reference else ".")
        + " Differences are paired on the seed (same initialisation and dense model); with few "
        "seeds an interval that contains 0 means no evidence either way, not equality."
    )
    report.table(
        acc,
        "laenen_accuracy",
        caption="Test accuracy per pruner and sparsity: mean, sample sd (ddof = 1) and 95% t "
        "interval over the seeds (n)",
    )
    report.table(
        matched,
        "laenen_matched",
        caption="Spectral minus baseline test accuracy at matched sparsity, paired on the seed: "
        "mean, sample sd and 95% t interval over the n pairs; verdict 'higher'/'lower' only when "
        "the interval excludes 0",
    )
    report.figure(_plot_accuracy(acc), "Test accuracy vs sparsity per pruner (± sd over seeds)")
    sentence = headline(matched, reference)
    claims = [
        {
            "claim": "Spectral sparsification keeps accuracy at higher sparsity than greedy pruning",
            "paper": "Higher accuracy than the greedy counterpart at high sparsity on CIFAR-10/100 "
            "and Tiny ImageNet (Figures 2-3); similar at low sparsity",
            "this study": sentence,
        }
    ]
    rows = with_layers(data, table.layers)
    if rows.empty or "lambda2_nlap" not in rows.columns:
        report.note(
            "No per-layer lambda2 in this feature table (load it from the store, or keep the "
            "lambda2_nlap metric of the rolled graphs): the layer part of the section is skipped."
        )
    else:
        rows["lambda2_nlap"] = pd.to_numeric(rows["lambda2_nlap"], errors="coerce")
        lam = lambda2_layers(rows)
        report.table(
            lam,
            "laenen_lambda2_layers",
            caption="lambda2 of the normalised Laplacian (largest connected component) per layer, "
            "pruner and sparsity: mean and sample sd over the n seeds",
        )
        pruners = [SPECTRAL, reference]
        report.figure(
            _plot_lambda2(lam, pruners),
            f"lambda2 per layer vs sparsity: {SPECTRAL} (solid) and {reference} (dotted), one "
            "colour per layer (Laenen 2023, Figure 3)",
        )
        corr = layer_correlations(
            rows, ["lambda2_nlap"], by=("architecture", "layer_index", "layer_name")
        )
        report.table(
            corr,
            "laenen_lambda2_accuracy",
            caption="Pearson r between a layer's lambda2 and the network's test accuracy over the "
            "n networks, with 95% Fisher intervals; r_within after subtracting the (dataset, "
            "sparsity) cell means from both (what sparsity alone does not explain)",
        )
        report.figure(
            _plot_lambda2_accuracy(rows), "Test accuracy vs per-layer lambda2, every network"
        )
        top = lam["sparsity"].max()
        at_top = lam[lam["sparsity"] == top].groupby("pruner")["lambda2_mean"]
        lowest = at_top.min()
        collapsed = (
            rows[(rows["sparsity"] == top)]
            .assign(collapsed=lambda f: f["lambda2_nlap"].fillna(0.0) < COLLAPSE_LAMBDA2)
            .groupby("pruner")["collapsed"]
            .sum()
        )
        parts = [
            f"{p}: lowest layer mean {lowest.get(p, float('nan')):.3f}, "
            f"{int(collapsed.get(p, 0))} collapsed layer(s)"
            for p in pruners
            if p in lowest.index
        ]
        valid = corr.dropna(subset=["r"])
        median_r = float(valid["r"].median()) if not valid.empty else float("nan")
        median_rw = float(valid["r_within"].median()) if not valid.empty else float("nan")
        claims.append(
            {
                "claim": "Spectral sparsification preserves per-layer lambda2; greedy pruning "
                "collapses a layer",
                "paper": "VGG-11 / CIFAR-10 after training: greedy magnitude pruning collapses "
                "layer 10 (lambda2 -> 0) where accuracy collapses; Sparsify does not (Figure 3)",
                "this study": f"At sparsity {top:g} ({'; '.join(parts)}; collapsed: lambda2 < "
                f"{COLLAPSE_LAMBDA2:g} or undefined, summed over seeds).",
            }
        )
        claims.append(
            {
                "claim": "lambda2 (connectivity) goes with accuracy",
                "paper": "Connectivity decreases with sparsity for both methods; the accuracy "
                "collapse coincides with a layer's collapse",
                "this study": f"Median over {len(valid)} layers of r(lambda2, accuracy) = "
                f"{_fmt(median_r)}, within (dataset, sparsity) cells {_fmt(median_rw)} "
                "(per-layer intervals in laenen_lambda2_accuracy.csv).",
            }
        )
    report.table(
        pd.DataFrame(claims),
        "laenen_claims",
        caption="Laenen (2023): the paper's claims and what this study shows, side by side",
    )
    if len(data) < 60:
        report.note(
            f"Laenen (2023) section: {len(data)} networks only; read the intervals, not the "
            "point estimates."
        )
    return sentence


SECTION = register_section(
    ExtraSection(
        name="laenen",
        heading="Laenen (2023): spectral-sparsification pruning vs baselines at matched sparsity",
        run=run,
        applies=applies,
    )
)

__all__ = [
    "SECTION",
    "accuracy_by_pruner",
    "applies",
    "headline",
    "lambda2_layers",
    "matched_comparison",
    "run",
    "spectral_score",
]
