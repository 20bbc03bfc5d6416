"""The ``weights`` feature set: statistics of the trained weights (Unterthiner et al., 2020).

Unterthiner, Keysers, Gelly, Bousquet and Tolstikhin (2020, "Predicting Neural
Network Accuracy from Weights", arXiv:2002.11448) predict a CNN's accuracy
from, per layer, the mean, the variance and the 0/25/50/75/100 % quantiles of
its trained weights. Their networks share one architecture, so they
concatenate the per-layer values; the networks of a study do not, so here each
statistic is summarised over the conv/linear layers by its mean and its
standard deviation across the layers:

.. math::

    s_l \\in \\{\\bar\\theta_l,\\ \\mathrm{Var}(\\theta_l),\\ Q_0(\\theta_l),\\
    Q_{25}(\\theta_l),\\ Q_{50}(\\theta_l),\\ Q_{75}(\\theta_l),\\ Q_{100}(\\theta_l)\\}

    \\texttt{w\\_<s>} = \\frac{1}{|L|} \\sum_{l \\in L} s_l, \\qquad
    \\texttt{w\\_<s>\\_sd} = \\sqrt{\\frac{1}{|L|} \\sum_{l \\in L} (s_l - \\texttt{w\\_<s>})^2}

where ``theta_l`` are the **kept (unmasked) weights** of layer ``l`` (the
weights of a sparse network that are not pruned; the pruned zeros would make
every quantile a function of the density), the variance is the population
variance and the quantiles use linear interpolation (``numpy.quantile``). A
layer with no kept weight has no statistics and is left out of ``L``.

The weights come from the study's cache (``<output>/cache/networks/<network_id>.pt``,
written by ``prunegraph study run`` when the study trains, read with
``torch.load(weights_only=True)``): a study without training has no trained
weights, and its networks get nulls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prunegraph.errors import ValidationError

#: Per-layer statistics of Unterthiner et al. (2020), in their order.
WEIGHT_STATISTICS: tuple[str, ...] = ("mean", "var", "q0", "q25", "q50", "q75", "q100")
#: The pinned columns of the ``weights`` feature set: the layer mean of each statistic,
#: then its standard deviation over the layers.
WEIGHT_COLUMNS: tuple[str, ...] = (
    *(f"w_{s}" for s in WEIGHT_STATISTICS),
    *(f"w_{s}_sd" for s in WEIGHT_STATISTICS),
)
_QUANTILES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])


def layer_weight_statistics(weights: Mapping[str, Any], masks: Mapping[str, Any]) -> pd.DataFrame:
    """Per-layer statistics of the kept weights: one row per masked parameter.

    Parameters
    ----------
    weights : mapping of str to array-like
        A state dict (tensors or arrays) holding every masked parameter.
    masks : mapping of str to bool array-like
        One mask per conv/linear weight, keyed by parameter name (the layers).

    Returns
    -------
    DataFrame
        Index: parameter name; columns :data:`WEIGHT_STATISTICS` (all NaN for a
        layer without kept weights).
    """
    if not masks:
        raise ValidationError("Weight statistics need at least one masked layer (masks is empty).")
    rows = {}
    for name, mask in masks.items():
        if name not in weights:
            raise ValidationError(f"The weights have no parameter {name!r} of the masks.")
        w = np.asarray(_as_numpy(weights[name]), dtype=np.float64)
        m = np.asarray(_as_numpy(mask), dtype=bool)
        if w.shape != m.shape:
            raise ValidationError(
                f"Parameter {name!r}: weight shape {w.shape} differs from mask shape {m.shape}."
            )
        kept = w[m]
        if kept.size == 0:
            rows[name] = np.full(len(WEIGHT_STATISTICS), np.nan)
            continue
        rows[name] = np.concatenate(([kept.mean(), kept.var()], np.quantile(kept, _QUANTILES)))
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(WEIGHT_STATISTICS))


def summarise_layers(layers: pd.DataFrame) -> dict[str, float]:
    """The :data:`WEIGHT_COLUMNS` of one network from its per-layer statistics (nulls skipped)."""
    means = layers[list(WEIGHT_STATISTICS)].mean()
    sds = layers[list(WEIGHT_STATISTICS)].std(ddof=0)
    return {
        **{f"w_{s}": float(means[s]) for s in WEIGHT_STATISTICS},
        **{f"w_{s}_sd": float(sds[s]) for s in WEIGHT_STATISTICS},
    }


def weight_features(cache: str | Path, network_ids: Iterable[str]) -> pd.DataFrame:
    """The ``weights`` feature set of ``network_ids`` from a study's cache folder.

    Parameters
    ----------
    cache : path
        The study's ``cache`` folder (``<output>/cache``) or its ``networks``
        subfolder, holding ``<network_id>.pt`` entries with ``masks`` and
        ``state_dict``.
    network_ids : iterable of str

    Returns
    -------
    DataFrame
        Indexed by ``network_id``, columns :data:`WEIGHT_COLUMNS`; a network
        without a cache entry or without trained weights gets nulls.
    """
    import torch

    folder = Path(cache)
    if not folder.is_dir():
        raise ValidationError(f"The weights cache folder '{folder}' does not exist.")
    if (folder / "networks").is_dir():
        folder = folder / "networks"
    ids = list(dict.fromkeys(str(i) for i in network_ids))
    rows: dict[str, dict[str, float]] = {}
    for network_id in ids:
        path = folder / f"{network_id}.pt"
        if not path.is_file():
            continue
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # an unreadable entry is named, not guessed around
            raise ValidationError(f"Cannot read the cache entry '{path}': {exc}") from exc
        state = entry.get("state_dict") if isinstance(entry, dict) else None
        masks = entry.get("masks") if isinstance(entry, dict) else None
        if not state or not masks:
            continue
        rows[network_id] = summarise_layers(layer_weight_statistics(state, masks))
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(WEIGHT_COLUMNS))
    frame = frame.reindex(pd.Index(ids, name="network_id"))
    return frame.astype(float)


def _as_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)
