r"""Report section: Ramanujan-preserving pruning against its base pruners.

"Revisiting the Lottery Ticket Hypothesis: A Ramanujan Graph Perspective"
(under review) reads each layer of a feed-forward network as a bipartite
graph and checks the Ramanujan bounds of its Table 1 on the unweighted
bi-adjacency: with :math:`t_1 \ge t_2` its two largest distinct singular
values and :math:`d_L, d_R` the mean left/right degrees,

.. math::

    \Delta_S = 2\sqrt{t_1 - 1} - t_2, \qquad
    \Delta_R = \sqrt{d_L - 1} + \sqrt{d_R - 1} - t_2,

a layer being Ramanujan when :math:`\max(\Delta_S, \Delta_R) > 0` (the
criterion of its Algorithm 1, the ``ramanujan`` pruner). It claims

1. pruning only the layers that stay Ramanujan, on top of IMP, SNIP or SynFlow
   ("-Bound" in its Table 2), reaches accuracies close to the dense network
   where the plain pruner at 1 % density collapses;
2. accuracy stays high while every layer is Ramanujan ("fully Ramanujan"),
   starts falling when some lose it ("partially") and falls sharply when all
   have lost it ("non-Ramanujan", Figures 4-5).

The section reads the base of each ``ramanujan`` network from its stored
configuration (``pruner_options.base``; the pruner's default when unset, or a
``ramanujan_<base>`` pruner name) and writes

* paired differences ``ramanujan(base) - base`` of the test accuracy on the
  same seed at each matched (architecture, dataset, sparsity) cell, with 95 %
  t intervals and the mean number of Ramanujan layers of each arm
  (``ramanujan_pruning_matched.csv``);
* the accuracy per regime and sparsity (``ramanujan_pruning_regimes.csv``);
* Pearson ``r`` between each layer's :math:`\Delta_S`, :math:`\Delta_R` and
  accuracy, raw and within (dataset, sparsity) cells, with Fisher intervals
  (``ramanujan_pruning_layers.csv``).

With ``enforce_target = true`` (the pruner's default) the weights the bounds
leave above the target are pruned by the base scores alone, so both arms keep
the same number of weights; the paper instead stops where the bounds stop, at a
higher density than its plain pruners.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from prunegraph.analysis.experiments._stats import (
    layer_correlations,
    paired_differences,
    pruner_options,
    rounded_sparsity,
    t_interval,
    with_layers,
)
from prunegraph.analysis.features import FeatureTable
from prunegraph.analysis.report import ExtraSection, register_section

RAMANUJAN = "ramanujan"
CELL = ["architecture", "dataset", "sparsity"]
_NAMED = re.compile(r"^ramanujan[_\-](?P<base>[a-z_]+)$")
REGIMES = ("fully", "partially", "non")
#: The ramanujan pruner's default ``base`` (a test checks it against the pruner registry;
#: the report does not import the pruners, which would import torch).
DEFAULT_BASE = "synflow"


def arms(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with ``base`` (the base of a Ramanujan network, else None) and ``arm`` columns.

    ``arm`` is ``'ramanujan(<base>)'`` for Ramanujan-preserving networks and the
    pruner name otherwise.
    """
    out = data.copy()
    options = pruner_options(out)
    bases: list[str | None] = []
    for pruner, opts in zip(out["pruner"], options, strict=True):
        named = _NAMED.match(str(pruner))
        if pruner == RAMANUJAN:
            bases.append(str(opts.get("base", DEFAULT_BASE)))
        elif named is not None:
            bases.append(str(opts.get("base", named.group("base"))))
        else:
            bases.append(None)
    out["base"] = bases
    out["arm"] = [
        f"{RAMANUJAN}({b})" if b is not None else str(p)
        for p, b in zip(out["pruner"], out["base"], strict=True)
    ]
    return out


def _rows(table: FeatureTable) -> pd.DataFrame:
    data = arms(table.data)
    data["sparsity"] = rounded_sparsity(data)
    data["acc_sparse"] = pd.to_numeric(data["acc_sparse"], errors="coerce")
    return data


def applies(table: FeatureTable) -> bool:
    """The table has Ramanujan networks with accuracies and their base pruner at a matched cell."""
    if not {"pruner", "acc_sparse", *CELL}.issubset(table.data.columns):
        return False
    data = _rows(table).dropna(subset=["acc_sparse"])
    variants = data[data["base"].notna()]
    for base, part in variants.groupby("base"):
        plain = data[data["pruner"] == base]
        if not plain.empty and not part[CELL].drop_duplicates().merge(plain[CELL]).empty:
            return True
    return False


def layer_regimes(rows: pd.DataFrame) -> pd.DataFrame:
    """Per network: layers, Ramanujan layers (``max(delta_s, delta_r) > 0``) and the regime.

    A layer whose two bounds are undefined (too few edges) counts as not Ramanujan.
    """
    ds = pd.to_numeric(rows["delta_s"], errors="coerce").fillna(-np.inf)
    dr = pd.to_numeric(rows["delta_r"], errors="coerce").fillna(-np.inf)
    flags = rows[["network_id"]].assign(ramanujan=np.maximum(ds, dr) > 0)
    out = flags.groupby("network_id", as_index=False).agg(
        layers=("ramanujan", "size"), ramanujan_layers=("ramanujan", "sum")
    )
    out["regime"] = np.select(
        [out["ramanujan_layers"] == out["layers"], out["ramanujan_layers"] > 0],
        ["fully", "partially"],
        default="non",
    )
    return out


def matched_comparison(data: pd.DataFrame) -> pd.DataFrame:
    """Paired ``ramanujan(base) - base`` accuracy per base and matched cell (same seed).

    Returns
    -------
    DataFrame
        ``base, architecture, dataset, sparsity, n, ramanujan_mean, base_mean,
        diff_mean, diff_sd, ci_low, ci_high, verdict`` and, when the per-layer
        bounds are known, ``ramanujan_layers_variant`` / ``ramanujan_layers_base``
        (mean number of Ramanujan layers of each arm).
    """
    parts = []
    for base in sorted(b for b in data["base"].dropna().unique()):
        first = data["base"] == base
        second = (data["pruner"] == base) & data["base"].isna()
        cells = paired_differences(data, first, second, keys=CELL)
        if cells.empty:
            continue
        cells = cells.assign(base=base)
        if "ramanujan_layers" in data.columns:
            for arm, mask in (("variant", first), ("base", second)):
                counts = (
                    data[mask]
                    .groupby(CELL, as_index=False)["ramanujan_layers"]
                    .mean()
                    .rename(columns={"ramanujan_layers": f"ramanujan_layers_{arm}"})
                )
                cells = cells.merge(counts, on=CELL, how="left")
        parts.append(cells)
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True).rename(
        columns={"first_mean": "ramanujan_mean", "second_mean": "base_mean"}
    )
    return out[["base", *[c for c in out.columns if c != "base"]]]


def regime_accuracy(data: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy per (architecture, dataset, sparsity, regime): n, mean, sd, 95 % t interval."""
    keys = ["architecture", "dataset", "sparsity", "regime"]
    out = (
        data.dropna(subset=["acc_sparse", "regime"])
        .groupby(keys, as_index=False)
        .agg(
            n=("acc_sparse", "size"),
            acc_mean=("acc_sparse", "mean"),
            acc_sd=("acc_sparse", "std"),
        )
    )
    bounds = [
        t_interval(m, s, int(n))
        for m, s, n in zip(out["acc_mean"], out["acc_sd"], out["n"], strict=True)
    ]
    out["ci_low"] = [lo for lo, _ in bounds]
    out["ci_high"] = [hi for _, hi in bounds]
    out["regime"] = pd.Categorical(out["regime"], categories=list(REGIMES), ordered=True)
    return out.sort_values(keys, ignore_index=True).assign(regime=lambda f: f["regime"].astype(str))


def _fmt(value: float) -> str:
    return f"{value:+.3f}" if np.isfinite(value) else "n/a"


def headline(matched: pd.DataFrame) -> str:
    """One sentence: per base, the cells' verdicts, the largest difference and the highest sparsity.

    For each base: in how many matched cells ``ramanujan(base)`` is higher / lower
    (95 % interval excluding 0), the largest difference whose interval excludes 0
    (if any), and the mean difference at the highest matched sparsity.
    """
    parts = []
    for base, part in matched.groupby("base", sort=True):
        verdicts = part["verdict"].value_counts()
        text = (
            f"{base} higher in {verdicts.get('higher', 0)}, lower in {verdicts.get('lower', 0)} "
            f"of {len(part)} cells"
        )
        decided = part[part["verdict"] != "undecided"]
        if not decided.empty:
            row = decided.loc[decided["diff_mean"].abs().idxmax()]
            text += (
                f" (largest {_fmt(float(row['diff_mean']))} [{row['ci_low']:+.3f}, "
                f"{row['ci_high']:+.3f}], {row['architecture']} at {row['sparsity']:g})"
            )
        top = part["sparsity"].max()
        high = part[part["sparsity"] == top]
        text += f", {_fmt(float(high['diff_mean'].mean()))} at {top:g}"
        parts.append(text)
    n_pairs = int(matched["n"].min()) if not matched.empty else 0
    return (
        "Ramanujan-preserving minus plain pruner test accuracy at matched sparsity (paired on "
        f"the seed, {n_pairs}+ pairs per cell, 95% t intervals): " + "; ".join(parts) + "."
    )


def _plot_accuracy(data: pd.DataFrame, bases: list[str]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keep = data[data["base"].isin(bases) | (data["pruner"].isin(bases) & data["base"].isna())]
    panels = keep[["architecture", "dataset"]].drop_duplicates().to_records(index=False)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 3.6), squeeze=False)
    for ax, (arch, dataset) in zip(axes[0], panels, strict=True):
        part = keep[(keep["architecture"] == arch) & (keep["dataset"] == dataset)]
        for i, base in enumerate(bases):
            for arm, style in ((f"{RAMANUJAN}({base})", "-"), (base, "--")):
                rows = part[part["arm"] == arm].groupby("sparsity")["acc_sparse"]
                if rows.ngroups == 0:
                    continue
                mean, sd = rows.mean(), rows.std().fillna(0.0)
                ax.errorbar(
                    mean.index,
                    mean.to_numpy(),
                    yerr=sd.to_numpy(),
                    linestyle=style,
                    color=f"C{i % 10}",
                    marker="o",
                    markersize=3,
                    capsize=2,
                    label=arm,
                )
        ax.set_title(f"{arch} / {dataset}")
        ax.set_xlabel("sparsity")
        ax.set_ylabel("test accuracy (mean ± sd over seeds)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _plot_gap(rows: pd.DataFrame) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = sorted(rows["architecture"].unique())
    fig, axes = plt.subplots(2, len(archs), figsize=(4.8 * len(archs), 6.4), squeeze=False)
    for j, arch in enumerate(archs):
        part = rows[rows["architecture"] == arch].sort_values("layer_index")
        for i, metric in enumerate(("delta_s", "delta_r")):
            ax = axes[i][j]
            for k, (name, layer) in enumerate(part.groupby("layer_name", sort=False)):
                ax.scatter(
                    pd.to_numeric(layer[metric], errors="coerce"),
                    layer["acc_sparse"],
                    s=8,
                    color=f"C{k % 10}",
                    label=name,
                )
            ax.axvline(0.0, color="grey", linewidth=0.8)
            ax.set_title(f"{arch}: accuracy vs {metric} per layer")
            ax.set_xlabel(f"{metric} (> 0: bound holds)")
            ax.set_ylabel("test accuracy")
            ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def run(report: Any, table: FeatureTable) -> str | None:
    """Write the section; return its headline (per base, the difference at the highest sparsity)."""
    data = _rows(table)
    rows = with_layers(data, table.layers)
    has_layers = not rows.empty and {"delta_s", "delta_r"}.issubset(rows.columns)
    if has_layers:
        data = data.merge(layer_regimes(rows), on="network_id", how="left")
    matched = matched_comparison(data)
    bases = sorted(matched["base"].unique())
    report.text(
        "Paper (Revisiting the Lottery Ticket Hypothesis: A Ramanujan Graph Perspective): "
        "pruning only the layers whose bipartite graph stays Ramanujan, on top of IMP, SNIP and "
        "SynFlow, keeps accuracy close to the dense network where the plain pruner collapses at "
        "1% density (Table 2: Lenet/MNIST SynFlow 49.1% at 1% density vs SynFlow-Bound 93.8% at "
        "1.33%), and accuracy falls sharply once every layer has lost the property (Figures 4-5). "
        f"This study: {int(data['base'].notna().sum())} Ramanujan-preserving networks on "
        f"{', '.join(bases)} against the same pruners at the same sparsities and seeds (matched "
        "weight counts, unlike the paper's Table 2, whose Bound variants stop at a higher "
        "density). Differences are paired on the seed; an interval containing 0 means no "
        "evidence either way."
    )
    report.table(
        matched,
        "ramanujan_pruning_matched",
        caption="ramanujan(base) minus base test accuracy at matched sparsity, paired on the "
        "seed: mean, sample sd (ddof = 1) and 95% t interval over the n pairs; verdict only when "
        "the interval excludes 0; mean number of Ramanujan layers (max(delta_s, delta_r) > 0) "
        "of each arm",
    )
    report.figure(
        _plot_accuracy(data, bases),
        "Test accuracy vs sparsity: Ramanujan-preserving (solid) and plain (dashed) per base "
        "pruner, ± sd over seeds",
    )
    sentence = headline(matched)
    claims = [
        {
            "claim": "Preserving the Ramanujan property improves IMP, SNIP and SynFlow at high "
            "compression",
            "paper": "Table 2, Lenet/MNIST: IMP 45.4% at 1% density vs IMP-Bound 96.7% at 3.6%; "
            "SNIP 49.8% vs 95.4% at 7.6%; SynFlow 49.1% vs 93.8% at 1.33%; Conv4/CIFAR-10: little "
            "or no gain",
            "this study": sentence,
        }
    ]
    if not has_layers:
        report.note(
            "No per-layer delta_s / delta_r in this feature table (load it from the store, or "
            "keep the delta_s and delta_r metrics of the rolled graphs): the per-layer part of "
            "the section is skipped."
        )
    else:
        regimes = regime_accuracy(data)
        report.table(
            regimes,
            "ramanujan_pruning_regimes",
            caption="Test accuracy per regime at each sparsity: fully (every layer Ramanujan), "
            "partially, non-Ramanujan; mean, sample sd and 95% t interval over the n networks "
            "(every pruner of the study)",
        )
        corr = layer_correlations(
            rows.merge(data[["network_id"]], on="network_id"),
            ["delta_s", "delta_r"],
            by=("architecture", "layer_index", "layer_name"),
        )
        report.table(
            corr,
            "ramanujan_pruning_layers",
            caption="Pearson r between a layer's Ramanujan gap (delta_s, delta_r; unweighted) "
            "and the network's test accuracy over the n networks, with 95% Fisher intervals; "
            "r_within after subtracting the (dataset, sparsity) cell means from both",
        )
        report.figure(
            _plot_gap(rows),
            "Test accuracy vs the Ramanujan gap of each layer (delta_s top, delta_r bottom; "
            "right of the grey line the bound holds)",
        )
        by_regime = regimes.groupby("regime")
        pooled = (by_regime["n"].sum(), by_regime["acc_mean"].mean())
        regime_text = ", ".join(
            f"{r} {pooled[1][r]:.3f} (n = {int(pooled[0][r])})" for r in REGIMES if r in pooled[0]
        )
        same_cell = regimes.groupby(["architecture", "dataset", "sparsity"])["regime"].nunique()
        mixed = int((same_cell > 1).sum())
        claims.append(
            {
                "claim": "Accuracy falls sharply once every layer loses the Ramanujan property",
                "paper": "Lenet/MNIST and Conv4/CIFAR-10: accuracy near the dense one while all "
                "layers are Ramanujan, falling in the partially Ramanujan regime and sharply in "
                "the non-Ramanujan one (Figures 4-5)",
                "this study": f"Mean of the cells' accuracies per regime: {regime_text}; "
                f"{mixed} (architecture, sparsity) cell(s) hold networks of two regimes, the "
                "only place where the regime is not confounded with sparsity "
                "(ramanujan_pruning_regimes.csv).",
            }
        )
        valid = corr.dropna(subset=["r"])
        summary = []
        for metric in ("delta_s", "delta_r"):
            part = valid[valid["metric"] == metric]
            if not part.empty:
                summary.append(
                    f"{metric}: median r {_fmt(float(part['r'].median()))}, within cells "
                    f"{_fmt(float(part['r_within'].median()))} over {len(part)} layers"
                )
        claims.append(
            {
                "claim": "The per-layer Ramanujan gap goes with accuracy",
                "paper": "Layers losing the bound (delta from positive to negative) mark the "
                "sparsity where accuracy drops",
                "this study": "; ".join(summary) + " (ramanujan_pruning_layers.csv)."
                if summary
                else "No layer with a defined correlation.",
            }
        )
    report.table(
        pd.DataFrame(claims),
        "ramanujan_pruning_claims",
        caption="The Ramanujan-graph paper's claims and what this study shows, side by side",
    )
    if len(data) < 60:
        report.note(
            f"Ramanujan-preserving pruning section: {len(data)} networks only; read the "
            "intervals, not the point estimates."
        )
    return sentence


SECTION = register_section(
    ExtraSection(
        name="ramanujan_pruning",
        heading="Ramanujan-preserving pruning vs IMP, SNIP and SynFlow (Ramanujan-graph LTH paper)",
        run=run,
        applies=applies,
    )
)

__all__ = [
    "SECTION",
    "applies",
    "arms",
    "headline",
    "layer_regimes",
    "matched_comparison",
    "regime_accuracy",
    "run",
]
