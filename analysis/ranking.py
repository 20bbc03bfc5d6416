"""Ranking pruners by the topometric mixture (Cunegatti et al. 2024 section 4.3, eq. 5) scored with RBO.

Rank-biased overlap (Webber, Moffat & Zobel 2010), **extrapolated variant
``RBO_ext``** (their eq. 32). For lists ``S`` (length ``s``) and ``L`` (length
``l >= s``), ``X_d = |S[:d] ∩ L[:d]|`` and persistence ``p`` (Cunegatti et al. 2024's ``alpha``)::

    RBO_ext = (1-p)/p * ( sum_{d=1}^{l} X_d/d p^d + sum_{d=s+1}^{l} X_s (d-s)/(s d) p^d )
              + ( (X_l - X_s)/l + X_s/s ) p^l

For two lists of the same length ``k`` this is
``(1-p)/p sum_{d<=k} (X_d/d) p^d + (X_k/k) p^k``: 1 for identical lists, 0 for
disjoint ones, and the limit of Cunegatti et al. 2024's truncated sum
``(1-p) sum_d p^(d-1) X_d/d`` when the agreement at depth ``k`` is assumed to
continue. Cunegatti et al. 2024 Table 12 reports 1.0 for identical 3-item rankings, which the
truncated sum (``1 - p^3``) cannot give, so ``RBO_ext`` is the variant that
reproduces it. The ranking score is the mean over ``alpha in {0.25, 0.5, 0.75}``.

The mixture of eq. 5: for a target configuration ``(M, D, s)`` and pruner ``p``
with topometrics ``x^p`` min-max scaled over the rows of architecture ``M``
(``scaling="architecture"``, default; ``"table"``: over the whole table), ``r^p = sum_i x^p_i (w^M_i + w^s_i) / 2``
where ``w^M`` (architecture-fixed) and ``w^s`` (sparsity-fixed) are importance
vectors estimated on the rows of architecture ``M`` resp. sparsity ``s``
**excluding every row of the target configuration (M, D, s)**. Pruners are
sorted by ascending ``r^p`` (lower predicted accuracy drop first). Baselines
sort by the descending network mean of a per-layer metric (denser / larger
bound difference = better): ``mean_layer_density``, ``mean_delta_r``,
``mean_delta_r_imdb``, ``mean_lambda_imsg``. The truth sorts pruners by
ascending seed-mean ``acc_drop``. Ties break by pruner name.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from prunegraph.analysis.cv import fast_fitting, single_threaded_blas
from prunegraph.analysis.features import FeatureTable
from prunegraph.analysis.importance import pearson_columns
from prunegraph.analysis.regression import PAPER_REGRESSORS, FoldScaler, fold_model
from prunegraph.errors import UnknownNameError, ValidationError

DEFAULT_ALPHAS: tuple[float, ...] = (0.25, 0.5, 0.75)
BASELINES: dict[str, str] = {
    "layer_density": "mean_layer_density",
    "delta_r": "mean_delta_r",
    "delta_r_imdb": "mean_delta_r_imdb",
    "lambda_imsg": "mean_lambda_imsg",
}
MIXTURE = "mixture"
#: How the mixture min-max scales the topometrics: within the target's architecture
#: (default) or over the whole table.
SCALINGS: tuple[str, ...] = ("architecture", "table")
IMPORTANCE_KINDS: tuple[str, ...] = ("prediction", "target")
#: Cunegatti et al. 2024's regressors without Huber: the mixture re-fits them for every target
#: configuration and Huber's iterative fit costs ~100x the others for the same weights.
RANKING_REGRESSORS: tuple[str, ...] = tuple(r for r in PAPER_REGRESSORS if r != "huber")


def _check_ranking(items: Sequence[Hashable], name: str) -> list[Hashable]:
    items = list(items)
    if len(set(items)) != len(items):
        raise ValidationError(f"Ranking '{name}' has duplicated items; RBO needs distinct items.")
    return items


def rbo(a: Sequence[Hashable], b: Sequence[Hashable], *, p: float = 0.5) -> float:
    """Extrapolated rank-biased overlap ``RBO_ext(a, b; p)`` (Webber et al. 2010, eq. 32).

    Parameters
    ----------
    a, b : sequence
        Rankings, best first, without duplicates (may differ in length and items).
    p : float in (0, 1)
        Persistence: the weight of depth ``d`` decays as ``p^(d-1)``.

    Returns
    -------
    float in [0, 1]
    """
    if not (isinstance(p, float | int) and 0.0 < float(p) < 1.0):
        raise ValidationError(
            f"The 'p' parameter of rbo must be a float in the range (0, 1). Got {p!r} instead."
        )
    a, b = _check_ranking(a, "a"), _check_ranking(b, "b")
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    s, l_ = len(short), len(long_)
    if s == 0:
        return 1.0 if l_ == 0 else 0.0
    # Depth at which each item enters the overlap: max of its ranks (inf if in one list only).
    rank_short = {item: d for d, item in enumerate(short, start=1)}
    rank_long = {item: d for d, item in enumerate(long_, start=1)}
    entry = [max(rank_short[i], rank_long[i]) for i in rank_short if i in rank_long]
    overlap = np.cumsum(np.bincount(np.asarray(entry, dtype=int), minlength=l_ + 1)[1:])
    depth = np.arange(1, l_ + 1, dtype=float)
    weights = float(p) ** depth
    x_s, x_l = float(overlap[s - 1]), float(overlap[l_ - 1])
    tail = depth > s
    total = np.sum(overlap / depth * weights) + np.sum(
        x_s * (depth[tail] - s) / (s * depth[tail]) * weights[tail]
    )
    value = (1 - p) / p * total + ((x_l - x_s) / l_ + x_s / s) * float(p) ** l_
    return float(min(max(value, 0.0), 1.0))


def mean_rbo(
    a: Sequence[Hashable], b: Sequence[Hashable], *, alphas: Sequence[float] = DEFAULT_ALPHAS
) -> float:
    """``RBO_ext`` averaged over the persistences ``alphas`` (Cunegatti et al. 2024: 0.25, 0.5, 0.75)."""
    if len(alphas) == 0:
        raise ValidationError("The 'alphas' parameter of mean_rbo must not be empty.")
    return float(np.mean([rbo(a, b, p=alpha) for alpha in alphas]))


def order_by(scores: pd.Series, *, ascending: bool) -> list[str]:
    """Index labels sorted by value (NaN last), ties broken by label."""
    values = scores.to_numpy(dtype=float)
    names = np.asarray(scores.index.astype(str), dtype=str)
    missing = np.isnan(values)
    key = np.where(missing, 0.0, values if ascending else -values)
    order = np.lexsort((names, key, missing))  # NaN last, then by score, ties by name
    return names[order].tolist()


def importance_weights(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    kind: str = "prediction",
    regressors: Sequence[str] = RANKING_REGRESSORS,
    random_state: int = 0,
) -> pd.Series:
    """Importance vector ``w`` for the mixture, NaN -> 0.

    ``kind='prediction'``: mean over ``regressors`` of the Pearson ``r`` between
    each feature and the regressor's fitted prediction (Cunegatti et al. 2024's importance
    without the CV repeats, so the per-target re-estimation stays cheap);
    ``kind='target'``: Pearson ``r`` between each feature and ``y``.
    """
    if kind not in IMPORTANCE_KINDS:
        raise UnknownNameError("importance kind", kind, IMPORTANCE_KINDS)
    if kind == "target":
        return pearson_columns(X, y.to_numpy(dtype=float)).fillna(0.0)
    values, target = X.to_numpy(dtype=float), y.to_numpy(dtype=float)
    return pd.Series(_prediction_weights(values, target, regressors, random_state), index=X.columns)


def _prediction_weights(
    values: np.ndarray, target: np.ndarray, regressors: Sequence[str], random_state: int
) -> np.ndarray:
    """:func:`importance_weights` (``kind='prediction'``) on arrays.

    Every regressor is fitted on the imputed and scaled rows, and the Pearson ``r``
    of every feature (NaN -> the column mean, as
    :func:`~prunegraph.analysis.importance.pearson_columns`) with every prediction is
    one matrix product ``Xc' Pc / sqrt(diag(Xc' Xc) diag(Pc' Pc)')``.
    """
    scaler = FoldScaler(values)  # the make_regressor pipeline's steps, computed once
    scaled = scaler.transform(values)
    predictions = np.empty((len(target), len(regressors)))
    with warnings.catch_warnings(), fast_fitting():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for j, name in enumerate(regressors):
            predictions[:, j] = fold_model(name, random_state).fit(scaled, target).predict(scaled)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column
        filled = np.where(np.isnan(values), np.nanmean(values, axis=0), values)
    xc = filled - filled.mean(axis=0)
    pc = predictions - predictions.mean(axis=0)
    denom = np.sqrt(np.outer((xc**2).sum(axis=0), (pc**2).sum(axis=0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc.T @ pc) / denom
    r[~(denom > 0)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a feature with no finite r
        mean = np.nanmean(r, axis=1)
    return np.where(np.isnan(mean), 0.0, mean)


def minmax_scale_by(features: pd.DataFrame, by: pd.Series | None = None) -> pd.DataFrame:
    """``(x - min) / (max - min)`` per column, within each group of ``by`` (or the whole frame).

    No outcome is used. A column constant within a group (or NaN) maps to 0.
    """
    if by is None:
        low, high = features.min(), features.max()
    else:
        grouped = features.groupby(by.to_numpy(), sort=False)
        low, high = grouped.transform("min"), grouped.transform("max")
    span = (high - low).replace(0, np.nan)
    return ((features - low) / span).fillna(0.0)


@dataclass
class RankingResult:
    """Output of :func:`rank_pruners`.

    ``scores``: one row per (architecture, dataset, sparsity, strategy) with
    ``rbo``, ``predicted`` and ``true`` orders (``'>'``-joined, best first).
    ``notes``: configurations or strategies skipped and why.
    """

    scores: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """Cunegatti et al. 2024 Table 4: ``'mean ± sd'`` per (architecture, strategy) x sparsity, plus ``avg``.

        The mean and the population standard deviation (ddof = 0, as numpy's
        default) are taken over the datasets; ``avg`` averages each dataset over
        the sparsities first, then gives mean ± sd (ddof = 0) over the datasets.
        """
        if self.scores.empty:
            return pd.DataFrame()
        grouped = self.scores.groupby(["architecture", "strategy", "sparsity"])["rbo"]
        mean, std = grouped.mean().unstack("sparsity"), grouped.std(ddof=0).unstack("sparsity")
        cells = mean.map(lambda v: f"{v:.2f}") + " ± " + std.map(lambda v: f"{v:.2f}")
        avg = self.scores.groupby(["architecture", "strategy", "dataset"])["rbo"].mean()
        avg_grouped = avg.groupby(["architecture", "strategy"])
        cells["avg"] = (
            avg_grouped.mean().map(lambda v: f"{v:.2f}")
            + " ± "
            + avg_grouped.std(ddof=0).map(lambda v: f"{v:.2f}")
        )
        cells.columns = [str(c) for c in cells.columns]
        return cells.reset_index()


def rank_pruners(
    table: FeatureTable,
    *,
    feature_set: str | Sequence[str] = "mge",
    baselines: dict[str, str] | None = None,
    importance: str = "prediction",
    regressors: Sequence[str] = RANKING_REGRESSORS,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    category: str | None = None,
    min_training_rows: int = 4,
    random_state: int = 0,
    scaling: str = "architecture",
) -> RankingResult:
    """Rank the pruners of every (architecture, dataset, sparsity) and score each strategy.

    Parameters
    ----------
    feature_set : str or list of str
        Topometrics of the mixture (default the MGE set).
    baselines : dict, optional
        ``{strategy: column}``; default :data:`BASELINES` (those present are used).
    importance : {'prediction', 'target'}
        See :func:`importance_weights`.
    category : str, optional
        Only rank pruners of this ``pruner_category`` (Cunegatti et al. 2024 Tables 11-12).
    min_training_rows : int
        A scenario with fewer rows (after excluding the target) contributes no weights.
    scaling : {'architecture', 'table'}
        Min-max scale each topometric over the rows of the target's architecture
        (default: ranking is done per architecture, and the importance weights are
        correlations, which no scale enters) or over the whole table. The scale of a
        topometric differs by orders of magnitude between architectures, so over
        the whole table one architecture's spread can flatten another's and leave
        one topometric deciding its ranking. On the data released by Cunegatti et
        al. (2024), a comparison with their ranking table found per-architecture
        scaling agreeing in 17 of its 20 cells and whole-table scaling in 6.
    """
    if scaling not in SCALINGS:
        raise UnknownNameError("mixture scaling", str(scaling), SCALINGS)
    data = table.data
    if category is not None:
        if category not in set(data["pruner_category"]):
            raise UnknownNameError(
                "pruner category", category, sorted(set(data["pruner_category"]))
            )
        table = table.subset(data["pruner_category"] == category)
        data = table.data
    columns = table.feature_columns(feature_set)
    if not columns:
        raise ValidationError(f"Feature set '{feature_set}' has no usable column for the mixture.")
    baselines = dict(BASELINES if baselines is None else baselines)
    notes = [
        f"baseline '{k}' skipped: column '{c}' not in the table"
        for k, c in baselines.items()
        if c not in data
    ]
    baselines = {k: c for k, c in baselines.items() if c in data}
    features = data[columns].astype(float)
    scaled = minmax_scale_by(features, data["architecture"] if scaling == "architecture" else None)
    rows = []
    config_keys = ["architecture", "dataset", "sparsity"]
    values, drops = features.to_numpy(dtype=float), data["acc_drop"].to_numpy(dtype=float)
    scaled_values = scaled.to_numpy(dtype=float)
    architecture, sparsities = data["architecture"].to_numpy(), data["sparsity"].to_numpy()
    position = pd.Series(np.arange(len(data)), index=data.index)
    with single_threaded_blas():  # once for every refit below
        for (arch, dataset, sparsity), target_rows in data.groupby(config_keys, sort=True):
            pruner_means = target_rows.groupby("pruner")
            if pruner_means.ngroups < 2:
                notes.append(f"{arch}/{dataset}/{sparsity}: fewer than 2 pruners, nothing to rank")
                continue
            true_order = order_by(pruner_means["acc_drop"].mean(), ascending=True)
            at = position.loc[target_rows.index].to_numpy()
            in_target = np.zeros(len(data), dtype=bool)
            in_target[at] = True
            weights = []
            for mask in (architecture == arch, sparsities == sparsity):
                train = mask & ~in_target
                train_drops = drops[train]
                if train.sum() < min_training_rows or pd.Series(train_drops).nunique() < 2:
                    continue
                if importance == "prediction":
                    weights.append(
                        _prediction_weights(values[train], drops[train], regressors, random_state)
                    )
                else:
                    weights.append(
                        importance_weights(
                            features.loc[train],
                            data.loc[train, "acc_drop"],
                            kind=importance,
                            regressors=regressors,
                            random_state=random_state,
                        ).to_numpy()
                    )
            strategies: dict[str, tuple[pd.Series, bool]] = {}
            if weights:
                w = np.mean(weights, axis=0)  # (w^M + w^s) / 2
                mixture = pd.Series(scaled_values[at] @ w, index=target_rows.index)
                r = mixture.groupby(target_rows["pruner"]).mean()
                strategies[MIXTURE] = (r, True)
            else:
                notes.append(
                    f"{arch}/{dataset}/{sparsity}: no training rows outside the target for the mixture"
                )
            for name, column in baselines.items():
                strategies[name] = (pruner_means[column].mean(), False)
            for name, (score, ascending) in strategies.items():
                predicted = order_by(score, ascending=ascending)
                rows.append(
                    {
                        "architecture": arch,
                        "dataset": dataset,
                        "sparsity": sparsity,
                        "strategy": name,
                        "rbo": mean_rbo(predicted, true_order, alphas=alphas),
                        "n_pruners": len(true_order),
                        "predicted": ">".join(predicted),
                        "true": ">".join(true_order),
                    }
                )
    return RankingResult(scores=pd.DataFrame(rows), notes=notes)
