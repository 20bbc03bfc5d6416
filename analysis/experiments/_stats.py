r"""Small-sample statistics shared by the bundled-experiment report sections.

Every figure a section states comes with its ``n`` and a 95 % interval, so a
reader can tell an effect from the noise of a few seeds:

* :func:`paired_differences`: per matched cell, the differences
  :math:`d_i = a_i - b_i` of two pruners' accuracies on the same seed (same
  initialisation and dense baseline), their mean :math:`\bar d`, sample sd
  :math:`s_d` (``ddof = 1``) and the Student-t interval
  :math:`\bar d \pm t_{0.975,\,n-1}\, s_d / \sqrt{n}` (NaN for ``n < 2``).
* :func:`correlation`: Pearson :math:`r` with the Fisher interval
  :math:`\tanh(\operatorname{artanh} r \pm 1.96 / \sqrt{n - 3})` (NaN for
  ``n < 4``), on the raw values and *within cells* (each value minus its cell
  mean, so that a shared driver such as the sparsity does not make the
  correlation by itself).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: Decimals sparsities are rounded to before they are matched (as network identity does).
SPARSITY_DECIMALS = 10


def t_interval(mean: float, sd: float, n: int) -> tuple[float, float]:
    r"""Two-sided 95 % Student-t interval :math:`\bar x \pm t_{0.975,n-1} s / \sqrt n` (NaN if n < 2)."""
    if n < 2 or not np.isfinite(sd):
        return float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, n - 1)) * sd / np.sqrt(n)
    return mean - half, mean + half


def verdict(lo: float, hi: float) -> str:
    """``'higher'``/``'lower'`` when the interval excludes 0, else ``'undecided'``."""
    if np.isfinite(lo) and lo > 0:
        return "higher"
    if np.isfinite(hi) and hi < 0:
        return "lower"
    return "undecided"


def paired_differences(
    data: pd.DataFrame,
    first: pd.Series,
    second: pd.Series,
    *,
    keys: Sequence[str],
    value: str = "acc_sparse",
) -> pd.DataFrame:
    """Paired differences ``first - second`` of ``value`` per cell ``keys``, paired on ``seed``.

    Parameters
    ----------
    data : DataFrame
        Network rows with ``keys``, ``seed`` and ``value``.
    first, second : Series of bool
        Row masks of the two arms (e.g. the spectral pruner and one baseline).
    keys : sequence of str
        Columns that define a matched cell (e.g. architecture, dataset, sparsity).

    Returns
    -------
    DataFrame
        One row per cell with both arms: ``keys``, ``n`` (paired seeds),
        ``first_mean``, ``second_mean``, ``diff_mean``, ``diff_sd``, ``ci_low``,
        ``ci_high`` and ``verdict`` (see :func:`verdict`). Repeated seeds within an
        arm are averaged first.
    """
    cols = [*keys, "seed"]
    a = data.loc[first, [*cols, value]].groupby(cols, as_index=False)[value].mean()
    b = data.loc[second, [*cols, value]].groupby(cols, as_index=False)[value].mean()
    pairs = a.merge(b, on=cols, suffixes=("_a", "_b"))
    pairs = pairs.dropna(subset=[f"{value}_a", f"{value}_b"])
    out_cols = [*keys, "n", "first_mean", "second_mean", "diff_mean", "diff_sd"]
    if pairs.empty:
        return pd.DataFrame(columns=[*out_cols, "ci_low", "ci_high", "verdict"])
    pairs["diff"] = pairs[f"{value}_a"] - pairs[f"{value}_b"]
    out = pairs.groupby(list(keys), as_index=False, sort=True).agg(
        n=("diff", "size"),
        first_mean=(f"{value}_a", "mean"),
        second_mean=(f"{value}_b", "mean"),
        diff_mean=("diff", "mean"),
        diff_sd=("diff", "std"),
    )
    bounds = [
        t_interval(m, s, int(n))
        for m, s, n in zip(out["diff_mean"], out["diff_sd"], out["n"], strict=True)
    ]
    out["ci_low"] = [lo for lo, _ in bounds]
    out["ci_high"] = [hi for _, hi in bounds]
    out["verdict"] = [verdict(lo, hi) for lo, hi in bounds]
    return out


def pooled_difference(cells: pd.DataFrame) -> dict[str, float]:
    """Mean of the cells' ``diff_mean`` with a t interval over the cells (one value per cell)."""
    values = cells["diff_mean"].dropna().to_numpy(dtype=float)
    n = len(values)
    mean = float(values.mean()) if n else float("nan")
    sd = float(values.std(ddof=1)) if n > 1 else float("nan")
    lo, hi = t_interval(mean, sd, n)
    return {"n_cells": n, "mean": mean, "ci_low": lo, "ci_high": hi}


def fisher_interval(r: float, n: int) -> tuple[float, float]:
    r"""95 % Fisher interval :math:`\tanh(\operatorname{artanh} r \pm 1.96/\sqrt{n-3})` (NaN if n < 4)."""
    if n < 4 or not np.isfinite(r):
        return float("nan"), float("nan")
    z = np.arctanh(np.clip(r, -0.999999, 0.999999))
    half = 1.959963984540054 / np.sqrt(n - 3)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def correlation(x: np.ndarray, y: np.ndarray) -> tuple[float, int, float, float]:
    """Pearson ``r`` of the finite pairs, their count and the Fisher interval (NaN if undefined)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan"), n, float("nan"), float("nan")
    r = float(np.corrcoef(x[ok], y[ok])[0, 1])
    lo, hi = fisher_interval(r, n)
    return r, n, lo, hi


def layer_correlations(
    rows: pd.DataFrame,
    metrics: Sequence[str],
    *,
    by: Sequence[str] = ("architecture", "layer"),
    within: Sequence[str] = ("dataset", "sparsity"),
    value: str = "acc_sparse",
) -> pd.DataFrame:
    """Pearson r of ``value`` with each per-layer metric, per group ``by``, raw and within cells.

    ``rows`` has one row per (network, layer) with ``value`` joined from the
    network. The within-cell r correlates the residuals of both sides from
    their means over the cells ``within`` (inside each group), i.e. what is
    left once the sparsity explains what it can.

    Returns
    -------
    DataFrame
        ``by``, ``metric``, ``n``, ``r``, ``r_low``, ``r_high``, ``r_within``,
        ``r_within_low``, ``r_within_high``.
    """
    records = []
    for keys, part in rows.groupby(list(by), sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        for metric in metrics:
            if metric not in part.columns:
                continue
            sub = part[[*within, metric, value]].copy()
            sub[metric] = pd.to_numeric(sub[metric], errors="coerce")
            sub[value] = pd.to_numeric(sub[value], errors="coerce")
            sub = sub.dropna()
            r, n, lo, hi = correlation(sub[metric].to_numpy(), sub[value].to_numpy())
            if within and not sub.empty:
                centred = sub[[metric, value]] - sub.groupby(list(within))[
                    [metric, value]
                ].transform("mean")
                rw, _, rw_lo, rw_hi = correlation(
                    centred[metric].to_numpy(), centred[value].to_numpy()
                )
            else:
                rw = rw_lo = rw_hi = float("nan")
            records.append(
                dict(zip(by, keys, strict=True))
                | {
                    "metric": metric,
                    "n": n,
                    "r": r,
                    "r_low": lo,
                    "r_high": hi,
                    "r_within": rw,
                    "r_within_low": rw_lo,
                    "r_within_high": rw_hi,
                }
            )
    return pd.DataFrame.from_records(records)


def with_layers(table_data: pd.DataFrame, layers: pd.DataFrame | None) -> pd.DataFrame:
    """Per-layer rows joined with their network's identifiers and accuracy (empty if none)."""
    if layers is None or layers.empty or "network_id" not in layers.columns:
        return pd.DataFrame()
    ids = [
        c
        for c in (
            "network_id",
            "architecture",
            "dataset",
            "pruner",
            "arm",
            "sparsity",
            "seed",
            "acc_sparse",
        )
        if c in table_data.columns
    ]
    merged = layers.drop(columns=[c for c in ids if c != "network_id"], errors="ignore").merge(
        table_data[ids], on="network_id", how="inner"
    )
    merged["layer_index"] = pd.to_numeric(
        merged["index"] if "index" in merged.columns else merged["layer"], errors="coerce"
    )
    if "layer_name" not in merged.columns:
        merged["layer_name"] = merged["layer"].astype(str)
    return merged


def pruner_options(data: pd.DataFrame) -> pd.Series:
    """Each row's ``pruner_options`` from its ``config_json`` (empty dict when absent)."""
    if "config_json" not in data.columns:
        return pd.Series([{}] * len(data), index=data.index, dtype=object)

    def parse(text: object) -> dict:
        if not isinstance(text, str) or not text:
            return {}
        try:
            options = json.loads(text).get("pruner_options", {})
        except (ValueError, AttributeError):
            return {}
        return options if isinstance(options, dict) else {}

    return data["config_json"].map(parse)


def rounded_sparsity(data: pd.DataFrame) -> pd.Series:
    """``sparsity`` as floats rounded to :data:`SPARSITY_DECIMALS` (for matching cells)."""
    return pd.to_numeric(data["sparsity"], errors="coerce").round(SPARSITY_DECIMALS)
