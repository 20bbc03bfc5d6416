"""The wide feature table: one row per sparse network, read from the store or a file.

Columns (pinned; see ``docs/analysis.md``):

* identifiers :data:`IDENTIFIER_COLUMNS`
  (``network_id, study, architecture, dataset, pruner, pruner_category, sparsity, seed``);
* outcomes :data:`OUTCOME_COLUMNS` (``acc_dense, acc_sparse, acc_drop``) with
  ``acc_drop = 1 - acc_sparse / acc_dense`` (filled in when missing);
* metric columns named as in ``docs/conventions.md``: Section A topometrics on
  the MGE (``sink`` ... ``spectral_radius``), the same on the rolled BGE with
  prefix ``rolled_`` and on the rolled-channel BGE with prefix ``ch_``; the
  network-level means of the Section B per-layer metrics (``mean_<name>``,
  ``mean_ch_<name>``); Section C ``stability_*``; Section D path metrics.

Auxiliary columns (``n_nodes``, ``n_edges``, ``<metric>_se`` and the other
Network properties) are kept in the frame but are never features. Among them
the network's cost :data:`COST_COLUMNS` (``params, params_nonzero,
flops_dense, flops_sparse``, FLOPs counted as multiply-accumulates, see
:mod:`prunegraph.loader.cost`): read from the Network nodes, or summed from
the per-layer rows (store or ``layers=`` file) when the network rows lack them.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from prunegraph.analysis.weights import WEIGHT_COLUMNS, weight_features
from prunegraph.errors import UnknownNameError, ValidationError
from prunegraph.queries.metric_names import GRAPH_PREFIXES as METRIC_GRAPH_PREFIXES
from prunegraph.queries.metric_names import SECTION_A, SECTION_B, SECTION_D

IDENTIFIER_COLUMNS: tuple[str, ...] = (
    "network_id",
    "study",
    "architecture",
    "dataset",
    "pruner",
    "pruner_category",
    "sparsity",
    "seed",
)
OUTCOME_COLUMNS: tuple[str, ...] = ("acc_dense", "acc_sparse", "acc_drop")
#: The network's cost: prunable weights, kept weights, dense and sparse FLOPs
#: (multiply-accumulates of the conv/linear layers; :mod:`prunegraph.loader.cost`).
COST_COLUMNS: tuple[str, ...] = ("params", "params_nonzero", "flops_dense", "flops_sparse")
#: Columns a feature table must have (``study``, ``pruner_category``, ``seed``
#: and ``acc_drop`` are filled in when absent, see :func:`validate_features`).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "network_id",
    "architecture",
    "dataset",
    "pruner",
    "sparsity",
    "acc_dense",
    "acc_sparse",
)
#: The configuration whose seed replicates must stay in one cross-validation fold.
CONFIGURATION_COLUMNS: tuple[str, ...] = ("architecture", "dataset", "pruner", "sparsity")

#: Section A topometrics (MGE names; ``rolled_``/``ch_`` prefixed on the BGEs).
TOPOMETRICS: tuple[str, ...] = SECTION_A
#: Section B per-layer metrics (rolled BGE names; ``ch_`` prefixed on the rolled-channel BGE).
LAYER_METRICS: tuple[str, ...] = SECTION_B
#: Section D path metrics.
PATH_METRICS: tuple[str, ...] = SECTION_D
RAMANUJAN_METRICS: tuple[str, ...] = tuple(m for m in LAYER_METRICS if m != "layer_density")
#: ``paper`` normalisation: node counts over ``|V|``, edge counts over ``|E|``.
NODE_COUNT_METRICS: tuple[str, ...] = ("sink", "source", "disconnected", "component_size")
EDGE_COUNT_METRICS: tuple[str, ...] = ("r_out", "r_in", "cut_edges", "cut_nodes")
#: ``paper`` normalisation: neighbourhood sizes counted with the node itself, over ``|E|``.
HOP_METRICS: tuple[str, ...] = ("n1", "n2")
#: ``paper`` normalisation: node means divided by ``|E|`` as in the released data.
EDGE_SCALED_METRICS: tuple[str, ...] = ("kcore", "strength")
#: Divisor of every column the ``paper`` normalisation changes (the rest stay raw):
#: ``x / |V|``, ``x / |E|`` or ``(1 + x) / |E|``.
PAPER_DIVISORS: Mapping[str, str] = {
    **dict.fromkeys(NODE_COUNT_METRICS, "x / |V|"),
    **dict.fromkeys(EDGE_COUNT_METRICS, "x / |E|"),
    **dict.fromkeys(HOP_METRICS, "(1 + x) / |E|"),
    **dict.fromkeys(EDGE_SCALED_METRICS, "x / |E|"),
}

GRAPH_PREFIXES: Mapping[str, str] = METRIC_GRAPH_PREFIXES


def _feature_set_columns() -> dict[str, tuple[str, ...]]:
    # Read the metric registry on every call, so a metric registered later is a feature too.
    from prunegraph.queries import metric_names

    topo = metric_names.SECTION_A
    ramanujan = tuple(m for m in metric_names.SECTION_B if m != "layer_density")
    sets: dict[str, tuple[str, ...]] = {
        # one set per graph family: its metric column prefix on the section A names
        **{kind: tuple(prefix + m for m in topo) for kind, prefix in GRAPH_PREFIXES.items()},
        "ramanujan": tuple(f"mean_{m}" for m in ramanujan),
        "ramanujan_channel": tuple(f"mean_ch_{m}" for m in ramanujan),
        "density": ("mean_layer_density",),
        "paths": metric_names.SECTION_D,
    }
    sets["all"] = tuple(dict.fromkeys(c for cols in sets.values() for c in cols))
    # statistics of the trained weights (Unterthiner et al. 2020): a baseline, not topology,
    # so not part of ``all``
    sets["weights"] = WEIGHT_COLUMNS
    return sets


#: Named feature sets (candidate columns; a table uses those it has). ``stability``
#: is matched by prefix (``stability_*``) and is part of ``all``.
FEATURE_SETS: Mapping[str, tuple[str, ...]] = _feature_set_columns()
NORMALISATIONS: tuple[str, ...] = ("raw", "paper", "minmax", "zscore")

# Network properties that are bookkeeping, never features.
_NON_FEATURE_COLUMNS = frozenset(
    {
        *IDENTIFIER_COLUMNS,
        *OUTCOME_COLUMNS,
        *COST_COLUMNS,
        "input_shape",
        "config_json",
        "content_hash",
        "level",
        "status",
        "n_nodes",
        "n_edges",
        "n_partitions",
        "metric_engines",
        "metric_estimators",
        "acc_drop_given",
    }
)


class SupportsQueryDF(Protocol):
    """What :func:`load_features` needs from ``prunegraph.queries.store.Store``."""

    def query_df(self, name: str, /, **params: Any) -> pd.DataFrame: ...


def feature_set_columns(name: str, columns: Iterable[str]) -> list[str]:
    """Columns of feature set ``name`` that are present in ``columns`` (in canonical order).

    A name joined by ``+`` (``'mge+weights'``) is the union of its parts, in
    the order of the parts, each column once.

    Raises
    ------
    UnknownNameError
        If ``name`` (or a part of it) is not a known feature set (``stability`` included).
    """
    columns = list(columns)
    if "+" in name:
        union: dict[str, None] = {}
        for part in name.split("+"):
            union.update(dict.fromkeys(feature_set_columns(part.strip(), columns)))
        return list(union)
    if name == "stability":
        return [c for c in columns if c.startswith("stability_")]
    sets = _feature_set_columns()
    if name not in sets:
        raise UnknownNameError("feature set", name, [*sets, "stability"])
    present = set(columns)
    chosen = [c for c in sets[name] if c in present]
    if name == "all":
        chosen += [c for c in columns if c.startswith("stability_") and c not in chosen]
    return chosen


def nonfinite_to_null(
    frame: pd.DataFrame,
    columns: Iterable[str] | None = None,
    *,
    what: str = "feature table",
    stacklevel: int = 2,
) -> pd.DataFrame:
    """Treat ``+inf``/``-inf`` as undefined: replace them by NaN, warning per column.

    The metric definitions (``docs/conventions.md``) store undefined values as null; an infinite value (e.g. a
    per-layer bound of a layer where it is undefined) means the same and would
    otherwise crash scikit-learn or turn a mean or a correlation into NaN/inf.

    Parameters
    ----------
    frame : DataFrame
    columns : iterable of str, optional
        Columns to check (default: every numeric column).
    what : str
        Name of the table in the warning.

    Returns
    -------
    DataFrame
        ``frame`` itself when it has no infinite value, else a copy with NaN in
        their place. The :class:`UserWarning` names each column and its count.
    """
    if columns is None:
        columns = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    else:
        columns = [c for c in columns if pd.api.types.is_numeric_dtype(frame[c])]
    if not columns or frame.empty:
        return frame
    values = frame[columns].to_numpy(dtype=float)
    infinite = np.isinf(values)
    counts = infinite.sum(axis=0)
    if not counts.any():
        return frame
    frame = frame.copy()
    hit = np.flatnonzero(counts)
    for j in hit:
        column = columns[j]
        frame[column] = frame[column].astype(float).mask(infinite[:, j])
    listed = ", ".join(f"'{columns[j]}' ({int(counts[j])})" for j in hit)
    warnings.warn(
        f"{what}: +-inf treated as undefined (null) in {len(hit)} column(s): {listed}.",
        UserWarning,
        stacklevel=stacklevel + 1,
    )
    return frame


def pivot_layer_metrics(layers: pd.DataFrame) -> pd.DataFrame:
    """Network-level ``mean_<metric>`` summaries of per-layer rows (nulls skipped).

    Parameters
    ----------
    layers : DataFrame
        One row per (network, layer) with ``network_id`` and any of the
        :data:`LAYER_METRICS` (and their ``ch_`` versions) as columns.

    Returns
    -------
    DataFrame
        Indexed by ``network_id``, columns ``mean_<metric>``:
        ``mean_m = (1/|L_m|) sum_{l in L_m} m_l`` over the layers ``L_m`` where
        ``m`` is defined (not null).
    """
    if "network_id" not in layers.columns:
        raise ValidationError("The per-layer table must have a 'network_id' column.")
    names = [m for m in (*LAYER_METRICS, *(f"ch_{x}" for x in LAYER_METRICS)) if m in layers]
    if not names:
        return pd.DataFrame(index=pd.Index(layers["network_id"].unique(), name="network_id"))
    values = layers[["network_id", *names]].copy()
    values[names] = values[names].apply(pd.to_numeric, errors="coerce")
    values = nonfinite_to_null(values, names, what="per-layer table")
    means = values.groupby("network_id", sort=False)[names].mean()  # mean() skips NaN
    return means.rename(columns={m: f"mean_{m}" for m in names})


def cost_from_layers(layers: pd.DataFrame) -> pd.DataFrame:
    """Network totals of the :data:`COST_COLUMNS` a per-layer table has: sums over the layers.

    ``params = sum_l params_l`` and likewise for ``params_nonzero``,
    ``flops_dense`` and ``flops_sparse`` (a skip layer's cost is 0). Indexed by
    ``network_id``; a network whose layers lack a value gets null, not a partial sum.
    """
    if "network_id" not in layers.columns:
        raise ValidationError("The per-layer table must have a 'network_id' column.")
    names = [c for c in COST_COLUMNS if c in layers.columns]
    values = layers[["network_id", *names]].copy()
    values[names] = values[names].apply(pd.to_numeric, errors="coerce")
    grouped = values.groupby("network_id", sort=False)[names]
    return grouped.sum(min_count=1).where(grouped.count() == grouped.size().to_numpy()[:, None])


def _merge_missing(frame: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the columns of ``extra`` (indexed by ``network_id``) it lacks, or fills."""
    for column in extra.columns:
        if column not in frame.columns:
            frame = frame.merge(extra[[column]], left_on="network_id", right_index=True, how="left")
        elif frame[column].isna().any():
            frame = frame.copy()
            frame[column] = frame[column].fillna(frame["network_id"].map(extra[column]))
    return frame


def _weight_table(weights: pd.DataFrame | str | Path, frame: pd.DataFrame) -> pd.DataFrame:
    """The ``weights`` columns indexed by ``network_id``, from a cache folder or a DataFrame."""
    if "network_id" not in frame.columns:
        raise ValidationError("The feature table must have a 'network_id' column.")
    if isinstance(weights, str | Path):
        return weight_features(weights, frame["network_id"].astype(str))
    if not isinstance(weights, pd.DataFrame):
        raise ValidationError(
            "The 'weights' parameter of load_features must be a cache folder or a DataFrame. "
            f"Got {type(weights).__name__} instead."
        )
    table = weights.set_index("network_id") if "network_id" in weights.columns else weights
    unknown = [c for c in table.columns if c not in WEIGHT_COLUMNS]
    if unknown:
        raise ValidationError(
            f"Unknown weights column(s) {', '.join(map(repr, unknown))}; "
            f"expected some of {', '.join(WEIGHT_COLUMNS)}."
        )
    return table


def _expand_props(frame: pd.DataFrame) -> pd.DataFrame:
    """Flatten a ``props`` column of property maps (the library queries return ``properties(n)``)."""
    if "props" not in frame.columns:
        return frame
    props = pd.DataFrame(list(frame["props"]), index=frame.index)
    rest = frame.drop(columns="props")
    return pd.concat([rest, props.drop(columns=[c for c in props if c in rest])], axis=1)


def read_table(path: Path) -> pd.DataFrame:
    """A ``.csv`` or ``.parquet`` file as a DataFrame (clear errors otherwise)."""
    if not path.is_file():
        raise ValidationError(f"Feature file '{path}' does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise ValidationError(
        f"Feature file '{path}' must be .csv or .parquet (got '{suffix or 'no suffix'}')."
    )


def features_from_store(store: SupportsQueryDF, study: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the wide network table and the long per-layer table of ``study``.

    Uses the library queries ``network_features`` and ``layer_metrics``.
    ``mean_*`` columns missing on the Network nodes are computed from the layers.
    """
    networks = _expand_props(store.query_df("network_features", study=study))
    if networks.empty:
        from prunegraph.errors import NotFoundError

        raise NotFoundError(f"Study '{study}' has no complete networks in the store.")
    # NetworkRecord stores the absolute drop acc_dense - acc_sparse; the analyses use the
    # relative one, recomputed by validate_features, so keep the stored value aside.
    networks = networks.rename(columns={"acc_drop": "acc_drop_given"})
    layers = _expand_props(store.query_df("layer_metrics", study=study))
    if not layers.empty:
        means = pivot_layer_metrics(layers)
        missing = [c for c in means.columns if c not in networks.columns]
        if missing:
            networks = networks.merge(
                means[missing], left_on="network_id", right_index=True, how="left"
            )
        networks = _merge_missing(networks, cost_from_layers(layers))
    return networks, layers


def validate_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Check and complete a raw feature table; return a cleaned copy.

    * missing required columns raise :class:`ValidationError` naming them;
    * ``study`` defaults to ``''``, ``pruner_category`` to ``'unknown'``,
      ``seed`` to ``0``;
    * ``acc_drop`` is always ``1 - acc_sparse/acc_dense`` (Cunegatti et al. 2024); a given
      ``acc_drop`` that differs (the store's ``NetworkRecord`` keeps the absolute
      ``acc_dense - acc_sparse``) is moved to ``acc_drop_given`` with a warning;
    * duplicated ``network_id`` and non-numeric metric columns raise;
    * rows without a finite ``acc_drop`` (missing accuracy, ``acc_dense == 0``)
      are dropped with a warning.
    """
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(
            f"A feature table must be a pandas DataFrame. Got {type(frame).__name__} instead."
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"The feature table is missing required column(s): {', '.join(missing)}. "
            f"Required: {', '.join(REQUIRED_COLUMNS)}."
        )
    df = frame.copy()
    for column, default in (("study", ""), ("pruner_category", "unknown"), ("seed", 0)):
        if column not in df.columns:
            df[column] = default
    if df["network_id"].duplicated().any():
        dups = df.loc[df["network_id"].duplicated(), "network_id"].astype(str).unique()[:5]
        raise ValidationError(f"The feature table has duplicated network_id(s): {', '.join(dups)}.")
    for column in ("sparsity", "acc_dense", "acc_sparse"):
        df[column] = pd.to_numeric(df[column], errors="coerce")
    relative = 1.0 - df["acc_sparse"] / df["acc_dense"].replace(0, np.nan)
    if "acc_drop" in df.columns:
        given = pd.to_numeric(df["acc_drop"], errors="coerce")
        differs = (given - relative).abs() > 1e-6
        if differs.any():
            # The store's NetworkRecord keeps acc_dense - acc_sparse; the analyses use seed
            # 001's relative drop, so the given column is kept aside, not used.
            warnings.warn(
                f"acc_drop recomputed as 1 - acc_sparse/acc_dense for {int(differs.sum())} row(s) "
                "whose given acc_drop differs (e.g. acc_dense - acc_sparse); the given values "
                "are kept in 'acc_drop_given'.",
                UserWarning,
                stacklevel=3,
            )
            df["acc_drop_given"] = given
    df["acc_drop"] = relative
    no_outcome = df["acc_drop"].isna() | ~np.isfinite(df["acc_drop"].to_numpy(dtype=float))
    if no_outcome.any():
        warnings.warn(
            f"Dropping {int(no_outcome.sum())} row(s) without a finite acc_drop.",
            UserWarning,
            stacklevel=2,
        )
        df = df.loc[~no_outcome]
    for column in metric_columns(df):
        if not pd.api.types.is_numeric_dtype(df[column]):
            converted = pd.to_numeric(df[column], errors="coerce")
            bad = converted.isna() & df[column].notna()
            if bad.any():
                raise ValidationError(
                    f"Metric column '{column}' must be numeric; got e.g. {df.loc[bad, column].iloc[0]!r}."
                )
            df[column] = converted
    df = nonfinite_to_null(df, metric_columns(df), what="feature table", stacklevel=3)
    for column in ("architecture", "dataset", "pruner", "pruner_category", "study"):
        df[column] = df[column].astype(str)
    return df.reset_index(drop=True)


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that may be features: known metric names, ``mean_*``, ``stability_*``."""
    known = {c for cols in _feature_set_columns().values() for c in cols}
    return [
        c
        for c in frame.columns
        if c not in _NON_FEATURE_COLUMNS
        and not c.endswith("_se")
        and (c in known or c.startswith(("stability_", "mean_")))
    ]


def normalise(frame: pd.DataFrame, how: str = "raw") -> pd.DataFrame:
    """Return a copy of ``frame`` with its metric columns normalised.

    Parameters
    ----------
    how : {'raw', 'paper', 'minmax', 'zscore'}
        ``raw``: stored values. ``paper``: the scale of the data released with
        Cunegatti et al. (2024, TMLR), column by column (:data:`PAPER_DIVISORS`):
        node counts ``sink, source, disconnected, component_size`` divided by
        ``|V|`` (``n_nodes``); edge counts ``r_out, r_in, cut_edges, cut_nodes``
        divided by ``|E|`` (``n_edges``); the neighbourhood sizes counted with
        the node itself, ``n1 -> (1 + n1) / |E|`` and ``n2 -> (1 + n2) / |E|``;
        ``kcore -> kcore / |E|`` and ``strength -> strength / |E|``; the rest
        (``motif3/4``, ``components``, spectral values) raw. The ``n1`` divisor
        is exact (the released 1-hop value is ``(1 + |E|/|V|) / |E|`` in every
        row); the ``n2``, ``kcore`` and ``strength`` divisors are inferred from
        the released magnitudes. The ``rolled_``/``ch_`` versions use
        ``rolled_n_nodes``/``ch_n_nodes`` (and ``_n_edges``) when those columns
        exist and stay raw otherwise. ``minmax``: every metric column mapped to ``[0, 1]`` over
        the table, ``(x - min) / (max - min)``. ``zscore``: ``(x - mean) / std``.
        (Regression pipelines min-max scale inside each fold regardless.)
    """
    if how not in NORMALISATIONS:
        raise UnknownNameError("normalisation", str(how), NORMALISATIONS)
    df = frame.copy()
    if how == "raw":
        return df
    if how == "paper":
        for prefix in GRAPH_PREFIXES.values():
            for name, divisor in PAPER_DIVISORS.items():
                column = f"{prefix}{name}"
                size_col = f"{prefix}{'n_nodes' if '|V|' in divisor else 'n_edges'}"
                if column not in df.columns or size_col not in df.columns:
                    continue
                denom = pd.to_numeric(df[size_col], errors="coerce").replace(0, np.nan)
                value = df[column] + 1.0 if divisor.startswith("(1 + x)") else df[column]
                df[column] = value / denom
        return df
    cols = metric_columns(df)
    values = df[cols].astype(float)
    if how == "minmax":
        span = (values.max() - values.min()).replace(0, np.nan)
        df[cols] = ((values - values.min()) / span).fillna(0.0).where(values.notna())
    else:
        std = values.std(ddof=0).replace(0, np.nan)
        df[cols] = ((values - values.mean()) / std).fillna(0.0).where(values.notna())
    return df


@dataclass(frozen=True)
class FeatureTable:
    """A validated feature table plus, optionally, its per-layer rows.

    Attributes
    ----------
    data : DataFrame
        One row per network (identifiers, outcomes, metric columns).
    layers : DataFrame or None
        One row per (network, layer) with ``network_id, layer`` and the Section B
        metrics; used by the Ramanujan-vs-density analysis.
    normalisation : str
        How the metric columns were normalised (see :func:`normalise`).
    dropped : tuple of str
        Metric columns dropped as constant or entirely null.
    notes : tuple of str
        What loading changed in the values (e.g. ``+-inf`` treated as undefined,
        per column with its count); the report lists them.
    """

    data: pd.DataFrame
    layers: pd.DataFrame | None = None
    normalisation: str = "raw"
    dropped: tuple[str, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # +-inf is undefined (null) in every analysis, whoever built the table.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = nonfinite_to_null(self.data, metric_columns(self.data))
            layers = self.layers
            if layers is not None:
                numeric = [c for c in layers.columns if c not in ("network_id", "layer")]
                layers = nonfinite_to_null(layers, numeric, what="per-layer table")
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "layers", layers)
        messages = _reissue(caught, stacklevel=4)
        if messages:
            object.__setattr__(self, "notes", (*self.notes, *messages))

    def __len__(self) -> int:
        return len(self.data)

    @property
    def y(self) -> pd.Series:
        """The accuracy drop ``1 - acc_sparse / acc_dense``."""
        return self.data["acc_drop"]

    @property
    def groups(self) -> pd.Series:
        """Configuration label (architecture, dataset, pruner, sparsity) of each row."""
        return configuration_labels(self.data)

    def feature_columns(self, feature_set: str | Sequence[str] = "mge") -> list[str]:
        """Usable columns of ``feature_set`` (a set name or an explicit column list).

        Columns that are entirely null or constant over the table are left out
        (they carry no signal and break scaling).
        """
        if isinstance(feature_set, str):
            cols = feature_set_columns(feature_set, self.data.columns)
        else:
            absent = [c for c in feature_set if c not in self.data.columns]
            if absent:
                raise ValidationError(f"Feature column(s) not in the table: {', '.join(absent)}.")
            cols = list(feature_set)
        return [c for c in cols if self.data[c].nunique(dropna=True) > 1]

    def X(self, feature_set: str | Sequence[str] = "mge") -> pd.DataFrame:
        """The feature matrix of ``feature_set``; raises if no usable column is present."""
        cols = self.feature_columns(feature_set)
        if not cols:
            name = feature_set if isinstance(feature_set, str) else ", ".join(feature_set)
            raise ValidationError(
                f"Feature set '{name}' has no usable (present, non-constant) column in this table."
            )
        return self.data[cols].astype(float)

    def subset(self, mask: pd.Series | np.ndarray) -> FeatureTable:
        """Rows selected by a boolean mask (layers filtered to the same networks)."""
        data = self.data.loc[np.asarray(mask, dtype=bool)].reset_index(drop=True)
        layers = None
        if self.layers is not None:
            layers = self.layers[self.layers["network_id"].isin(set(data["network_id"]))]
        return self.part(data=data, layers=layers)

    def part(self, **changes: Any) -> FeatureTable:
        """A copy with some fields replaced, taken from this (already checked) table.

        Like ``dataclasses.replace`` without ``__post_init__``'s scan for ``+-inf``:
        rows and columns of a checked table have none (the scan returns the same
        frame), and the scenarios' cells cut ~50 parts per report.
        """
        table = object.__new__(FeatureTable)
        for name in (f.name for f in fields(FeatureTable)):
            object.__setattr__(table, name, changes.pop(name, getattr(self, name)))
        if changes:
            raise TypeError(f"FeatureTable has no field(s) {', '.join(changes)}.")
        return table

    def scenarios(self, scenario: str) -> list[tuple[str, FeatureTable]]:
        """Split into the Cunegatti et al. 2024 scenarios.

        ``'sparsity'`` (sparsity-fixed: one table per sparsity), ``'architecture'``
        (architecture-fixed: one per architecture), ``'all'`` (the whole table).
        """
        if scenario == "all":
            return [("all", self)]
        column = {"sparsity": "sparsity", "architecture": "architecture"}.get(scenario)
        if column is None:
            raise UnknownNameError("scenario", scenario, ("sparsity", "architecture", "all"))
        return [
            (str(value), self.subset(self.data[column] == value))
            for value in sorted(self.data[column].unique())
        ]


def configuration_labels(frame: pd.DataFrame) -> pd.Series:
    """One string label per (architecture, dataset, pruner, sparsity) configuration."""
    missing = [c for c in CONFIGURATION_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationError(f"Cannot group by configuration: missing {', '.join(missing)}.")
    parts = [frame[c].astype(str) for c in CONFIGURATION_COLUMNS]
    label = parts[0]
    for part in parts[1:]:
        label = label + "|" + part
    return label.rename("configuration")


def _reissue(caught: list[warnings.WarningMessage], *, stacklevel: int) -> tuple[str, ...]:
    """Warn again what was recorded; return the ``+-inf`` messages (for the report)."""
    unique = {(str(w.message), w.category): w for w in caught}  # the layers are seen twice
    for message, category in unique:
        warnings.warn(message, category, stacklevel=stacklevel)
    return tuple(m for m, _ in unique if "+-inf treated as undefined" in m)


def load_features(
    source: pd.DataFrame | str | Path | SupportsQueryDF,
    *,
    study: str | None = None,
    normalisation: str = "raw",
    layers: pd.DataFrame | str | Path | None = None,
    weights: pd.DataFrame | str | Path | None = None,
    drop_constant: bool = True,
) -> FeatureTable:
    """Load, validate and normalise a feature table.

    Parameters
    ----------
    source : DataFrame, path or Store
        A DataFrame, a ``.csv``/``.parquet`` file with the columns of
        ``docs/analysis.md``, or a connected ``Store`` (then ``study`` is required
        and the library queries ``network_features``/``layer_metrics`` are used).
    study : str, optional
        Study name in the store; with a file, keeps only that study's rows.
    normalisation : {'raw', 'paper', 'minmax', 'zscore'}
        See :func:`normalise`.
    layers : DataFrame or path, optional
        Per-layer rows (``network_id, layer, layer_density, delta_r, ...``) for
        file sources; ``mean_*`` columns absent from the table are computed from them.
    weights : DataFrame or path, optional
        The ``weights`` feature set (:data:`prunegraph.analysis.weights.WEIGHT_COLUMNS`,
        Unterthiner et al. 2020): a study's cache folder (``<output>/cache``, the
        trained weights and masks), or a DataFrame of those columns indexed by (or
        with a column) ``network_id``. Columns the table lacks are added.
    drop_constant : bool
        Drop metric columns that are constant or entirely null (with a warning).

    Returns
    -------
    FeatureTable
        ``+-inf`` values are null (undefined) in it, with a warning per table naming
        each column and its count; the messages are kept in ``notes``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = _load_features(
            source,
            study=study,
            normalisation=normalisation,
            layers=layers,
            weights=weights,
            drop_constant=drop_constant,
        )
    messages = _reissue(caught, stacklevel=3)
    return replace(table, notes=(*messages, *table.notes)) if messages else table


def _load_features(
    source: pd.DataFrame | str | Path | SupportsQueryDF,
    *,
    study: str | None = None,
    normalisation: str = "raw",
    layers: pd.DataFrame | str | Path | None = None,
    weights: pd.DataFrame | str | Path | None = None,
    drop_constant: bool = True,
) -> FeatureTable:
    """:func:`load_features` without the warning bookkeeping."""
    if normalisation not in NORMALISATIONS:
        raise UnknownNameError("normalisation", str(normalisation), NORMALISATIONS)
    layer_frame: pd.DataFrame | None = None
    if hasattr(source, "query_df"):
        if not study:
            raise ValidationError("Reading features from the store needs a study name (study=...).")
        frame, layer_frame = features_from_store(source, study)
    elif isinstance(source, pd.DataFrame):
        frame = source
    elif isinstance(source, str | Path):
        frame = read_table(Path(source))
    else:
        raise ValidationError(
            "The 'source' parameter of load_features must be a DataFrame, a CSV/Parquet path "
            f"or a Store. Got {type(source).__name__} instead."
        )
    if layers is not None:
        layer_frame = read_table(Path(layers)) if isinstance(layers, str | Path) else layers
        means = pivot_layer_metrics(layer_frame)
        missing = [c for c in means.columns if c not in frame.columns]
        if missing:
            frame = frame.merge(means[missing], left_on="network_id", right_index=True, how="left")
        frame = _merge_missing(frame, cost_from_layers(layer_frame))
    if weights is not None:
        frame = _merge_missing(frame, _weight_table(weights, frame))
    if study is not None and "study" in frame.columns and not hasattr(source, "query_df"):
        frame = frame[frame["study"].astype(str) == study]
        if frame.empty:
            raise ValidationError(f"No rows of study '{study}' in the feature table.")
    df = validate_features(frame)
    if "metric_engines" in df.columns and any(isinstance(v, dict) for v in df["metric_engines"]):
        df["metric_engines"] = df["metric_engines"].map(
            lambda v: json.dumps(v) if isinstance(v, dict) else v
        )
    dropped: list[str] = []
    if drop_constant:
        dropped = [c for c in metric_columns(df) if df[c].nunique(dropna=True) <= 1]
        if dropped:
            warnings.warn(
                f"Dropping {len(dropped)} constant or all-null metric column(s): "
                f"{', '.join(dropped)}.",
                UserWarning,
                stacklevel=2,
            )
            df = df.drop(columns=dropped)
    df = normalise(df, normalisation)
    return FeatureTable(
        data=df, layers=layer_frame, normalisation=normalisation, dropped=tuple(dropped)
    )
