"""Cross-validation protocols: ``grouped`` (default) and the papers' plain ``kfold``.

``grouped`` keeps every configuration (architecture, dataset, pruner, sparsity),
i.e. all its seed replicates, inside one test fold, because replicates are
near-duplicates and would otherwise leak between train and test. It uses
scikit-learn's ``GroupKFold(shuffle=True)``, reshuffled per repeat; with a class
label whose value is the same for every row of a configuration (the pruner or its
category), each class's configurations are shuffled and dealt to the folds in turn
(exact stratification), otherwise ``StratifiedGroupKFold``. ``kfold`` is ``KFold``
(``StratifiedKFold``) with ``shuffle=True``, as Cunegatti et al. 2024 section 4.2.1 and
Cunegatti et al. 2023 Table 5 describe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from prunegraph.errors import UnknownNameError, ValidationError

PROTOCOLS: tuple[str, ...] = ("grouped", "kfold")
#: Fewest folds a cell may be cut into when its folds are fitted to it (see :func:`fit_splits`).
MIN_SPLITS: int = 2


_LIMITED = threading.local()


@contextmanager
def _one_thread() -> Iterator[None]:
    if getattr(_LIMITED, "depth", 0):  # an enclosing block already holds the limit
        yield
        return
    from threadpoolctl import threadpool_limits

    _LIMITED.depth = 1
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        _LIMITED.depth = 0


def single_threaded_blas() -> AbstractContextManager[object]:
    """Limit BLAS/OpenMP pools to one thread while many tiny models are fitted.

    The analyses fit thousands of models on matrices of ~10^2 x 10^1; threaded BLAS
    only adds contention there (measured 4-8x slower on a loaded 2-core machine).
    Nested blocks reuse the enclosing limit: setting it scans every loaded library
    (threadpoolctl), ~5-10 ms a time, which the ranking's per-target refits paid 120
    times per ranking.
    """
    return _one_thread()


@contextmanager
def fast_fitting() -> Iterator[None]:
    """One BLAS thread and scikit-learn's input checks off, for many tiny fits on clean arrays.

    Inside, scikit-learn skips its finiteness scan and parameter validation
    (``assume_finite``, ``skip_parameter_validation``): the analyses only fit
    arrays they imputed and scaled themselves (finite by construction) with
    parameters they set, and on tables of 10^2-10^3 rows those checks cost as
    much as the fits.
    """
    from sklearn import config_context

    with single_threaded_blas(), config_context(assume_finite=True, skip_parameter_validation=True):
        yield


def check_cv_inputs(
    n_samples: int,
    *,
    n_splits: int,
    n_repeats: int,
    protocol: str,
    groups: pd.Series | np.ndarray | None = None,
    stratify: pd.Series | np.ndarray | None = None,
    caller: str = "cross-validation",
) -> None:
    """Raise :class:`ValidationError` with a scikit-learn style message on bad CV settings."""
    if protocol not in PROTOCOLS:
        raise UnknownNameError("cross-validation protocol", str(protocol), PROTOCOLS)
    if not isinstance(n_splits, int | np.integer) or n_splits < 2:
        raise ValidationError(
            f"The 'n_splits' parameter of {caller} must be an int >= 2. Got {n_splits!r} instead."
        )
    if not isinstance(n_repeats, int | np.integer) or n_repeats < 1:
        raise ValidationError(
            f"The 'n_repeats' parameter of {caller} must be an int >= 1. Got {n_repeats!r} instead."
        )
    if n_samples < n_splits:
        raise ValidationError(f"{caller} needs at least n_splits={n_splits} rows; got {n_samples}.")
    if protocol == "grouped":
        if groups is None:
            raise ValidationError(f"The 'grouped' protocol of {caller} needs groups.")
        n_groups = len(pd.unique(np.asarray(groups)))
        if n_groups < n_splits:
            raise ValidationError(
                f"{caller} with the 'grouped' protocol needs at least n_splits={n_splits} "
                f"configurations; got {n_groups}. Use fewer splits or protocol='kfold'."
            )
    if stratify is not None:
        counts = pd.Series(np.asarray(stratify)).value_counts()
        if counts.min() < n_splits:
            # scikit-learn only warns (or fails when every class is small); name the class.
            raise ValidationError(
                f"{caller}: class '{counts.idxmin()}' has {counts.min()} member(s), fewer than "
                f"n_splits={n_splits}."
            )


def fit_splits(
    n_samples: int,
    *,
    n_splits: int,
    protocol: str,
    groups: pd.Series | np.ndarray | None = None,
    stratify: pd.Series | np.ndarray | None = None,
    min_splits: int = MIN_SPLITS,
) -> tuple[int, str]:
    """The number of folds a small cell allows, and how to state it in a table.

    ``k = min(n_splits, units)`` where ``units`` is the number of configurations
    (``grouped``) or rows (``kfold``); with a class label, also at most the
    smallest class's number of configurations (``grouped``) or members
    (``kfold``), so every test fold can hold one of them. When ``k`` equals the
    number of configurations the folds are leave-one-configuration-out. When
    ``k < min_splits`` the requested ``n_splits`` is returned unchanged, so that
    :func:`check_cv_inputs` explains why the cell cannot be cross-validated.

    Returns
    -------
    (int, str)
        ``k`` and a description such as ``'grouped 5-fold'``,
        ``'leave-one-configuration-out (4 folds; 5 requested)'`` or
        ``"grouped 2-fold (5 requested; class 'snip' has 2 configurations)"``.
    """
    unit = "configuration" if protocol == "grouped" else "row"
    if protocol == "grouped" and groups is not None:
        n_units = len(pd.unique(np.asarray(groups)))
    else:
        n_units = n_samples
    k, reason = min(n_splits, n_units), f"{n_units} {unit}s"
    if stratify is not None:
        labels = pd.Series(np.asarray(stratify))
        if protocol == "grouped" and groups is not None:
            per_class = pd.Series(np.asarray(groups)).groupby(labels.to_numpy()).nunique()
        else:
            per_class = labels.value_counts()
        smallest = int(per_class.min())
        if smallest < k:
            k = smallest
            reason = f"class '{per_class.idxmin()}' has {smallest} {unit}(s)"
    if k < min_splits:
        return n_splits, f"{protocol} {n_splits}-fold"
    if k == n_splits:
        return k, f"{protocol} {k}-fold"
    if protocol == "grouped" and stratify is None and k == n_units:
        return k, f"leave-one-configuration-out ({k} folds; {n_splits} requested)"
    return k, f"{protocol} {k}-fold ({n_splits} requested; {reason})"


def _dealt_folds(
    labels: np.ndarray, groups: np.ndarray, n_splits: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified grouped folds when every group has one label (a configuration has one pruner).

    The groups of each class, shuffled, are dealt to the folds in turn, continuing
    from where the previous class stopped: each fold gets every class's groups to
    within one and the same number of groups to within one (what
    ``StratifiedGroupKFold`` approximates greedily for mixed groups, at a fraction of
    its cost).
    """
    rng = np.random.default_rng(seed)
    codes, uniques = pd.factorize(groups)
    group_label = pd.Series(labels).groupby(codes).first().sort_index().to_numpy()
    fold_of_group = np.empty(len(uniques), dtype=int)
    position = int(rng.integers(n_splits))
    classes = pd.unique(group_label)
    for label in rng.permutation(len(classes)):
        members = rng.permutation(np.flatnonzero(group_label == classes[label]))
        fold_of_group[members] = (position + np.arange(len(members))) % n_splits
        position = (position + len(members)) % n_splits
    fold_of_row = fold_of_group[codes]
    rows = np.arange(len(groups))
    return [(rows[fold_of_row != k], rows[fold_of_row == k]) for k in range(n_splits)]


def repeated_splits(
    n_samples: int,
    *,
    protocol: str = "grouped",
    groups: pd.Series | np.ndarray | None = None,
    stratify: pd.Series | np.ndarray | None = None,
    n_splits: int = 5,
    n_repeats: int = 10,
    random_state: int = 0,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Yield ``(repeat, fold, train_idx, test_idx)`` for ``n_repeats`` reshuffled k-folds.

    Repeat ``r`` shuffles with seed ``random_state + r``.
    """
    check_cv_inputs(
        n_samples,
        n_splits=n_splits,
        n_repeats=n_repeats,
        protocol=protocol,
        groups=groups,
        stratify=stratify,
    )
    index = np.zeros((n_samples, 1))
    group_array = None if groups is None else np.asarray(groups)
    label_array = None if stratify is None else np.asarray(stratify)
    pure = (
        protocol == "grouped"
        and label_array is not None
        and group_array is not None
        and bool((pd.Series(label_array).groupby(group_array).nunique() == 1).all())
    )
    for repeat in range(n_repeats):
        seed = random_state + repeat
        splitter: GroupKFold | KFold | StratifiedGroupKFold | StratifiedKFold
        if pure:
            assert label_array is not None and group_array is not None
            folds = _dealt_folds(label_array, group_array, n_splits, seed)
            for fold, (train, test) in enumerate(folds):
                yield repeat, fold, train, test
            continue
        if protocol == "grouped":
            if label_array is None:
                splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            else:
                splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            splits = splitter.split(index, label_array, group_array)
        else:
            if label_array is None:
                splitter = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
            else:
                splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            splits = splitter.split(index, label_array)
        try:
            folds = list(splits)
        except ValueError as exc:  # a split scikit-learn cannot make: say it our way
            raise ValidationError(f"Cannot make {n_splits} {protocol} folds: {exc}") from exc
        for fold, (train, test) in enumerate(folds):
            yield repeat, fold, train, test
