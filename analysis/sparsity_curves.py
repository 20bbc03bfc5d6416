"""Accuracy vs sparsity per pruner, per-layer density profiles and layer collapse.

Every pruning paper's first figure (e.g. Blalock et al. 2020) and the failure it
must rule out (Tanaka et al. 2020):

* :func:`accuracy_vs_sparsity`: per (architecture, dataset, pruner, sparsity) the
  number of seeds, the mean and the sample standard deviation (ddof = 1) over the
  seeds of the sparse accuracy and of the relative drop
  ``acc_drop = 1 - acc_sparse / acc_dense``, and the dense accuracy (mean over
  the seeds' dense baselines) as the reference;
* :func:`layer_density_profile`: per (architecture, pruner, sparsity, layer) the
  mean, sd and minimum over networks of the layer density
  ``d_l = kept weights of l / weights of l``;
* :func:`find_collapsed_layers`: the layers that **collapsed**, i.e. cut the
  network (Tanaka et al. 2020, "layer-collapse"): a layer with density 0 (or no
  kept weight), or one whose kept weights make no edge of the MGE (every one of
  its units is disconnected from its inputs); and the networks with no path from
  the input to the output at all (``edge_connectivity = 0``, Section D), which
  one or more layers must have cut even when no single layer is empty.

Both register report sections (``accuracy_vs_sparsity`` and ``layer_collapse``);
the study runner prints :func:`collapse_warning` at the end of a run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from prunegraph.analysis.features import FeatureTable, validate_features
from prunegraph.analysis.report import ExtraSection, register_section
from prunegraph.errors import ValidationError

#: Okabe and Ito's colour-blind-safe palette, high-contrast colours first (yellow last),
#: the same order as the report's own palette.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#000000",
    "#F0E442",
)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LINESTYLES = ("-", "-.", ":")
_GROUP = ["architecture", "dataset", "pruner", "sparsity"]
#: Why a layer or a network counts as collapsed (the ``reason`` column).
COLLAPSE_REASONS: Mapping[str, str] = {
    "density_zero": "layer density 0 (no kept weight)",
    "no_edges": "no edge in the MGE (all the layer's units disconnected)",
    "no_path": "no input-to-output path (edge_connectivity 0)",
}
COLLAPSE_COLUMNS: tuple[str, ...] = (
    "network_id",
    "architecture",
    "dataset",
    "pruner",
    "sparsity",
    "seed",
    "layer",
    "layer_name",
    "reason",
)


#: Line colours: the palette without yellow (too little contrast on white for a thin line).
_LINE_COLOURS = OKABE_ITO[:-1]


def style(i: int) -> dict[str, Any]:
    """Colour (Okabe-Ito, no yellow), marker and line style of the ``i``-th line of a plot.

    Colours repeat every 7 lines with the next line style, markers every 8, so 21
    lines stay distinct.
    """
    return {
        "color": _LINE_COLOURS[i % len(_LINE_COLOURS)],
        "marker": _MARKERS[i % len(_MARKERS)],
        "linestyle": _LINESTYLES[(i // len(_LINE_COLOURS)) % len(_LINESTYLES)],
    }


def _frame(table: FeatureTable | pd.DataFrame) -> pd.DataFrame:
    if isinstance(table, FeatureTable):
        return table.data
    if isinstance(table, pd.DataFrame):
        return validate_features(table)
    raise ValidationError(
        "The 'table' parameter must be a FeatureTable or a DataFrame. "
        f"Got {type(table).__name__} instead."
    )


def percent_scale(frame: pd.DataFrame) -> float:
    """100 when the accuracies are fractions in [0, 1], 1 when they are already percent."""
    values = pd.to_numeric(frame["acc_dense"], errors="coerce").to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    return 1.0 if finite.size and finite.max() > 1.5 else 100.0


def accuracy_vs_sparsity(table: FeatureTable | pd.DataFrame) -> pd.DataFrame:
    r"""Sparse accuracy and drop per (architecture, dataset, pruner, sparsity), over seeds.

    .. math::

        \bar a = \frac{1}{n} \sum_{k=1}^{n} a_k, \qquad
        s_a = \sqrt{\frac{1}{n - 1} \sum_{k=1}^{n} (a_k - \bar a)^2}

    over the ``n`` seeds of the configuration, for ``a = acc_sparse`` and for
    ``a = acc_drop = 1 - acc_sparse / acc_dense`` (``s`` is NaN for one seed).

    Parameters
    ----------
    table : FeatureTable or DataFrame
        The feature table (a DataFrame is validated first).

    Returns
    -------
    DataFrame
        Columns ``architecture, dataset, pruner, sparsity, n_seeds, acc_sparse_mean,
        acc_sparse_sd, acc_drop_mean, acc_drop_sd, acc_dense_mean`` (accuracies in the
        table's unit), sorted by the first four.
    """
    data = _frame(table)
    grouped = data.groupby(_GROUP, sort=True)
    out = grouped.agg(
        n_seeds=("acc_sparse", "size"),
        acc_sparse_mean=("acc_sparse", "mean"),
        acc_sparse_sd=("acc_sparse", lambda v: v.std(ddof=1)),
        acc_drop_mean=("acc_drop", "mean"),
        acc_drop_sd=("acc_drop", lambda v: v.std(ddof=1)),
        acc_dense_mean=("acc_dense", "mean"),
    )
    return out.reset_index()


def best_pruners(curves: pd.DataFrame) -> pd.DataFrame:
    """Per (architecture, dataset): the pruner with the highest mean sparse accuracy at the highest sparsity."""
    top = curves[
        curves["sparsity"]
        == curves.groupby(["architecture", "dataset"])["sparsity"].transform("max")
    ]
    index = top.groupby(["architecture", "dataset"])["acc_sparse_mean"].idxmax()
    return top.loc[index].reset_index(drop=True)


def plot_accuracy_vs_sparsity(curves: pd.DataFrame, *, scale: float = 100.0) -> Any:
    """One panel per (architecture, dataset): accuracy (%) vs sparsity, one line per pruner.

    The band is mean ± sample sd (ddof = 1) over the seeds; the dashed line is the
    dense accuracy (mean over the seeds' dense baselines).
    """
    from prunegraph.analysis.report import _agg

    plt = _agg()
    panels = list(curves.groupby(["architecture", "dataset"], sort=True))
    ncols = min(3, len(panels))
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.6 * ncols + 1.8, 3.6 * nrows), squeeze=False, sharey=False
    )
    pruners = sorted(curves["pruner"].unique())
    for ax, ((arch, dataset), part) in zip(axes.flat, panels, strict=False):
        for i, pruner in enumerate(pruners):
            line = part[part["pruner"] == pruner].sort_values("sparsity")
            if line.empty:
                continue
            x = line["sparsity"].to_numpy(dtype=float)
            mean = line["acc_sparse_mean"].to_numpy(dtype=float) * scale
            sd = np.nan_to_num(line["acc_sparse_sd"].to_numpy(dtype=float)) * scale
            look = style(i)
            ax.plot(x, mean, label=pruner, markersize=4, linewidth=1.4, **look)
            low, high = (
                np.clip(mean - sd, 0, 100),
                np.clip(mean + sd, 0, 100),
            )  # accuracy is in [0, 100] %
            ax.fill_between(x, low, high, color=look["color"], alpha=0.15, linewidth=0)
        dense = float(part["acc_dense_mean"].mean()) * scale
        ax.axhline(dense, color="#555555", linestyle="--", linewidth=1.2, label="dense")
        ax.set_title(f"{arch} / {dataset}")
        ax.set_xlabel("sparsity (fraction of weights pruned)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_xticks(sorted(part["sparsity"].unique()))
        ax.tick_params(axis="x", labelrotation=45)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8, title="pruner")
    fig.tight_layout(rect=(0, 0, (4.6 * ncols) / (4.6 * ncols + 1.8), 1))
    return fig


def _accuracy_section(report: Any, table: FeatureTable) -> str | None:
    data = table.data
    curves = accuracy_vs_sparsity(table)
    scale = percent_scale(data)
    report.figure(
        plot_accuracy_vs_sparsity(curves, scale=scale),
        "Test accuracy (%) vs sparsity per pruner: line = mean over seeds, band = ± sample sd "
        "(ddof = 1) over seeds; dashed = dense accuracy (mean over the seeds' dense baselines)",
    )
    report.table(
        curves,
        "accuracy_vs_sparsity",
        caption=(
            "Sparse accuracy and relative drop 1 - acc_sparse/acc_dense per configuration: mean "
            "and sample sd (ddof = 1) over the seeds (n_seeds); acc_dense_mean = dense reference"
        ),
    )
    best = best_pruners(curves)
    one_sparsity = best["sparsity"].nunique() == 1
    clauses = []
    for row in best.itertuples(index=False):
        sd = "" if pd.isna(row.acc_sparse_sd) else f" ± {row.acc_sparse_sd * scale:.1f}"
        at = "" if one_sparsity else f" at {row.sparsity:g}"
        clauses.append(
            f"{row.pruner} on {row.architecture}/{row.dataset}{at}, "
            f"{row.acc_sparse_mean * scale:.1f}{sd} % (dense {row.acc_dense_mean * scale:.1f} %)"
        )
    lead = (
        f"At sparsity {best['sparsity'].iloc[0]:g} the best pruner is "
        if one_sparsity
        else "At the highest sparsity of each architecture and dataset the best pruner is "
    )
    seeds = int(curves["n_seeds"].min())
    spread = f"± = sd over {seeds} seeds" if seeds > 1 else "one seed, no spread"
    shown = clauses[:4]
    if len(clauses) > 4:
        shown.append(f"{len(clauses) - 4} more in accuracy_vs_sparsity.csv")
    return lead + "; ".join(shown) + f" ({spread})."


def _has_accuracy(table: FeatureTable) -> bool:
    data = table.data
    return bool(
        len(data)
        and {"acc_sparse", "acc_dense", "sparsity"} <= set(data.columns)
        and data["acc_sparse"].notna().any()
    )


# ------------------------------------------------------------------ layer profiles, collapse
def _layers(table: FeatureTable) -> pd.DataFrame | None:
    from prunegraph.analysis.ramanujan import layer_table

    if table.layers is None or table.layers.empty or "layer_density" not in table.layers:
        return None
    return layer_table(table)


def layer_density_profile(table: FeatureTable) -> pd.DataFrame:
    """Layer density per (architecture, pruner, sparsity, layer) over networks (seeds, datasets).

    Returns
    -------
    DataFrame
        Columns ``architecture, pruner, sparsity, layer, layer_name, n_networks,
        density_mean, density_sd`` (sample sd, ddof = 1) and ``density_min``.
    """
    rows = _layers(table)
    if rows is None:
        raise ValidationError(
            "This feature table has no per-layer densities; load it from the store or pass layers=..."
        )
    rows = rows.assign(layer_density=pd.to_numeric(rows["layer_density"], errors="coerce"))
    rows = rows[rows["layer_density"].notna()]  # skip connections have no density
    if "layer_name" not in rows.columns:
        rows = rows.assign(layer_name=rows["layer"].astype(str))
    keys = ["architecture", "pruner", "sparsity", "layer"]
    out = rows.groupby(keys, sort=True).agg(
        layer_name=("layer_name", "first"),
        n_networks=("network_id", "nunique"),
        density_mean=("layer_density", "mean"),
        density_sd=("layer_density", lambda v: v.std(ddof=1)),
        density_min=("layer_density", "min"),
    )
    return out.reset_index()


def find_collapsed_layers(
    networks: pd.DataFrame, layers: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Collapsed layers and cut networks (see the module docstring for the criteria).

    Parameters
    ----------
    networks : DataFrame
        One row per network with ``network_id`` and, when present, its identifiers
        and ``edge_connectivity``.
    layers : DataFrame, optional
        One row per (network, layer) with ``network_id``, ``layer`` and any of
        ``layer_density``, ``n_unmasked``, ``n_weights``, ``n_edges``, ``kind``,
        ``layer_name``. Skip connections (``kind`` ``'skip'`` or ``n_weights`` 0)
        have no weights and are never collapsed.

    Returns
    -------
    DataFrame
        Columns :data:`COLLAPSE_COLUMNS`, one row per collapsed layer (``reason``
        ``density_zero`` or ``no_edges``) and per network without an
        input-to-output path (``no_path``, ``layer`` null).
    """
    if "network_id" not in networks.columns:
        raise ValidationError("The network table must have a 'network_id' column.")
    ids = networks.drop_duplicates("network_id").set_index("network_id")
    found = []
    if layers is not None and not layers.empty:
        if "network_id" not in layers.columns:
            raise ValidationError("The per-layer table must have a 'network_id' column.")
        rows = layers[layers["network_id"].isin(ids.index)]

        def numeric(column: str) -> pd.Series:
            if column not in rows.columns:
                return pd.Series(np.nan, index=rows.index)
            return pd.to_numeric(rows[column], errors="coerce")

        # skip connections are blocks without weights (n_weights 0, density null): never collapsed
        kind = rows["kind"].astype(str) if "kind" in rows.columns else pd.Series("", rows.index)
        weighted = (kind != "skip") & (numeric("n_weights") != 0)
        empty = weighted & ((numeric("layer_density") == 0) | (numeric("n_unmasked") == 0))
        no_edges = weighted & ~empty & (numeric("n_edges") == 0)
        for mask, reason in ((empty, "density_zero"), (no_edges, "no_edges")):
            hit = rows.loc[mask]
            if hit.empty:
                continue
            name = hit["layer_name"] if "layer_name" in hit else hit.get("layer", "")
            found.append(
                pd.DataFrame(
                    {
                        "network_id": hit["network_id"].to_numpy(),
                        "layer": hit["layer"].to_numpy() if "layer" in hit else np.nan,
                        "layer_name": np.asarray(name, dtype=object),
                        "reason": reason,
                    }
                )
            )
    if "edge_connectivity" in ids.columns:
        connectivity = pd.to_numeric(ids["edge_connectivity"], errors="coerce")
        cut = connectivity.index[connectivity == 0]
        if len(cut):
            found.append(
                pd.DataFrame(
                    {"network_id": cut, "layer": np.nan, "layer_name": "", "reason": "no_path"}
                )
            )
    if not found:
        return pd.DataFrame(columns=list(COLLAPSE_COLUMNS))
    out = pd.concat(found, ignore_index=True)
    for column in ("architecture", "dataset", "pruner", "sparsity", "seed"):
        out[column] = out["network_id"].map(ids[column]) if column in ids.columns else np.nan
    out = out[list(COLLAPSE_COLUMNS)]
    return out.sort_values(["architecture", "pruner", "sparsity", "seed", "layer"]).reset_index(
        drop=True
    )


def collapse_summary(collapsed: pd.DataFrame, networks: pd.DataFrame) -> pd.DataFrame:
    """Per (architecture, pruner, sparsity): networks, networks with a collapse, which layers."""
    keys = ["architecture", "pruner", "sparsity"]
    total = networks.groupby(keys, sort=True)["network_id"].nunique().rename("n_networks")
    if collapsed.empty:
        out = total.to_frame().assign(n_collapsed=0, layers="")
        return out.reset_index()
    hit = collapsed.groupby(keys, sort=True)
    named = collapsed.assign(
        where=np.where(
            collapsed["reason"] == "no_path",
            "no path",
            collapsed["layer_name"].astype(str),
        )
    )
    layers = named.groupby(keys, sort=True)["where"].agg(lambda v: ", ".join(dict.fromkeys(v)))
    out = total.to_frame().join(hit["network_id"].nunique().rename("n_collapsed")).join(layers)
    out["n_collapsed"] = out["n_collapsed"].fillna(0).astype(int)
    out["layers"] = out["where"].fillna("")
    return out.drop(columns="where").reset_index()


def collapse_headline(collapsed: pd.DataFrame, n_networks: int, *, checked: str) -> str:
    """One sentence: no collapse in ``n_networks``, or how many and where (worst first)."""
    if collapsed.empty:
        return f"No layer collapsed in {n_networks} networks ({checked})."
    keys = ["architecture", "pruner", "sparsity"]
    per = (
        collapsed.assign(
            where=np.where(collapsed["reason"] == "no_path", "no path", collapsed["layer_name"])
        )
        .groupby(keys, sort=False)
        .agg(n=("network_id", "nunique"), where=("where", lambda v: ", ".join(dict.fromkeys(v))))
        .reset_index()
        .sort_values(["n", "sparsity"], ascending=False)
    )
    n_hit = collapsed["network_id"].nunique()
    parts = [
        f"{r.pruner} at {r.sparsity:g} on {r.architecture}: {r.n} ({r.where})"
        for r in per.head(3).itertuples(index=False)
    ]
    more = f"; {len(per) - 3} more configurations" if len(per) > 3 else ""
    return (
        f"{n_hit} of {n_networks} networks have a collapsed layer: " + "; ".join(parts) + more + "."
    )


def plot_layer_density_profiles(profile: pd.DataFrame, collapsed: pd.DataFrame) -> Any:
    """Rows = architectures, columns = sparsities: mean layer density vs layer index per pruner.

    Log y axis; a layer of density 0 is drawn at the axis floor with a red cross.
    """
    from prunegraph.analysis.report import _agg

    plt = _agg()
    from matplotlib.ticker import MaxNLocator

    archs = sorted(profile["architecture"].unique())
    sparsities = sorted(profile["sparsity"].unique())
    pruners = sorted(profile["pruner"].unique())
    fig, axes = plt.subplots(
        len(archs),
        len(sparsities),
        figsize=(2.9 * len(sparsities) + 1.8, 2.7 * len(archs)),
        squeeze=False,
        sharey=True,
    )
    positive = profile["density_mean"][profile["density_mean"] > 0]
    floor = float(positive.min()) / 3 if len(positive) else 1e-3
    # the rows of each panel and of each line, cut once (rows keep the table's order)
    panels = dict(list(profile.groupby(["architecture", "sparsity"], sort=False)))
    lines = dict(list(profile.groupby(["architecture", "sparsity", "pruner"], sort=False)))
    for r, arch in enumerate(archs):
        for c, sparsity in enumerate(sparsities):
            ax = axes[r][c]
            part = panels.get((arch, sparsity), profile.iloc[:0])
            for i, pruner in enumerate(pruners):
                line = lines.get((arch, sparsity, pruner))
                if line is None or line.empty:
                    continue
                line = line.sort_values("layer")
                y = line["density_mean"].to_numpy(dtype=float)
                ax.plot(
                    line["layer"].to_numpy(dtype=float),
                    np.where(y > 0, y, floor),
                    label=pruner,
                    markersize=3,
                    linewidth=1.1,
                    **style(i),
                )
            zero = part[part["density_min"] == 0]
            if not zero.empty:
                ax.scatter(
                    zero["layer"],
                    np.full(len(zero), floor),
                    marker="x",
                    color="#D55E00",
                    s=60,
                    linewidths=2,
                    zorder=5,
                    label="density 0",
                )
            ax.set_yscale("log")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(f"{arch}, s={sparsity:g}", fontsize=9)
            if r == len(archs) - 1:
                ax.set_xlabel("layer index")
            if c == 0:
                ax.set_ylabel("layer density (kept / all)")
            ax.grid(alpha=0.3)
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    fig.legend(
        list(handles.values()), list(handles), loc="center right", fontsize=8, title="pruner"
    )
    width = 2.9 * len(sparsities)
    fig.tight_layout(rect=(0, 0, width / (width + 1.8), 1))
    return fig


def _checked(table: FeatureTable) -> str:
    parts = []
    if _layers(table) is not None:
        parts.append("every layer has density > 0")
        if table.layers is not None and "n_edges" in table.layers.columns:
            parts.append("at least one MGE edge")
    if "edge_connectivity" in table.data.columns:
        parts.append("every network an input-to-output path")
    return ", ".join(parts) or "nothing to check"


def _collapse_section(report: Any, table: FeatureTable) -> str | None:
    data = table.data
    layers = _layers(table)
    collapsed = find_collapsed_layers(data, table.layers)
    if layers is not None:
        profile = layer_density_profile(table)
        report.figure(
            plot_layer_density_profiles(profile, collapsed),
            "Layer density (kept weights / all weights, log scale) vs layer index per pruner: "
            "mean over the networks (seeds, datasets) of each architecture and sparsity; "
            "red cross = a layer of density 0 in at least one network",
        )
        report.table(
            profile,
            "layer_density_profile",
            caption=(
                "Layer density per architecture, pruner, sparsity and layer: mean, sample sd "
                "(ddof = 1) and minimum over the networks (seeds, datasets)"
            ),
        )
    else:
        report.note(
            "No per-layer rows in this feature table: only whole-network cuts "
            "(edge_connectivity = 0) are checked."
        )
    report.table(
        collapse_summary(collapsed, data),
        "layer_collapse_summary",
        caption="Networks with a collapsed layer per architecture, pruner and sparsity",
    )
    if not collapsed.empty:
        report.table(
            collapsed.assign(reason=collapsed["reason"].map(COLLAPSE_REASONS)),
            "layer_collapse",
            caption="Every collapsed layer (and every network without an input-to-output path)",
        )
    return collapse_headline(collapsed, int(data["network_id"].nunique()), checked=_checked(table))


def _can_check_collapse(table: FeatureTable) -> bool:
    has_layers = table.layers is not None and "layer_density" in table.layers.columns
    return bool(len(table.data)) and (has_layers or "edge_connectivity" in table.data.columns)


# ------------------------------------------------------------------ the study run's summary
def collapse_records(
    networks: pd.DataFrame,
    layers: pd.DataFrame | None,
    *,
    labels: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """:func:`find_collapsed_layers` as JSON-ready dicts (``run.json``'s ``layer_collapse``)."""
    collapsed = find_collapsed_layers(networks, layers)
    records = []
    for row in collapsed.itertuples(index=False):
        records.append(
            {
                "network_id": str(row.network_id),
                "label": (labels or {}).get(str(row.network_id), ""),
                "layer": None if pd.isna(row.layer) else int(row.layer),
                "layer_name": str(row.layer_name or ""),
                "reason": COLLAPSE_REASONS[row.reason],
            }
        )
    return records


def collapse_in_store(
    store: Any, study: str, network_ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Collapsed layers of a study's complete networks in the store (``network_ids`` only if given)."""
    from prunegraph.analysis.features import features_from_store

    networks, layers = features_from_store(store, study)
    if network_ids is not None:
        wanted = set(map(str, network_ids))
        networks = networks[networks["network_id"].astype(str).isin(wanted)]
    labels = {
        str(r.network_id): f"{r.architecture}/{r.dataset}/{r.pruner}/s={r.sparsity:g}/seed={r.seed}"
        for r in networks.itertuples(index=False)
    }
    return collapse_records(networks, layers, labels=labels)


def collapse_warning(records: Sequence[Mapping[str, Any]], *, limit: int = 3) -> str | None:
    """One warning line naming the first ``limit`` collapsed layers, or None."""
    if not records:
        return None
    networks = {r["network_id"] for r in records}
    shown = [
        f"{r.get('label') or r['network_id']} ({r.get('layer_name') or 'network'}: {r['reason']})"
        for r in records[:limit]
    ]
    more = f" and {len(records) - limit} more" if len(records) > limit else ""
    return (
        f"layer collapse in {len(networks)} network(s): {'; '.join(shown)}{more} "
        "(run.json 'layer_collapse')"
    )


register_section(
    ExtraSection(
        name="accuracy_vs_sparsity",
        heading="Accuracy vs sparsity per pruner",
        run=_accuracy_section,
        applies=_has_accuracy,
    )
)
register_section(
    ExtraSection(
        name="layer_collapse",
        heading="Layer density per pruner and layer collapse",
        run=_collapse_section,
        applies=_can_check_collapse,
    )
)
