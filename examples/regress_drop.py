"""Fit a regression of the accuracy drop on topological features and plot it.

    python examples/regress_drop.py --study demo --out results/demo/examples

Reads the study's feature table from the store (one row per network), fits a
ridge regression of ``acc_drop`` on the Ramanujan and layer-density features
with min-max scaling, predicts it out of fold (grouped 5-fold: the seed
replicates of one configuration stay in one fold), and plots predicted
against measured drop.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GroupKFold, cross_val_predict

from prunegraph.analysis.features import feature_set_columns, load_features
from prunegraph.analysis.regression import make_regressor
from prunegraph.queries.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="demo")
    parser.add_argument("--out", type=Path, default=Path("results/examples"))
    args = parser.parse_args()

    with Store.connect() as store:
        table = load_features(store, study=args.study)
    data = table.data
    columns = [
        c
        for c in [*feature_set_columns("ramanujan", data.columns), "mean_layer_density", "sparsity"]
        if c in data.columns and data[c].notna().all()
    ]
    X, y, groups = data[columns].astype(float), table.y, table.groups
    n_splits = min(5, groups.nunique())
    model = make_regressor("ridge")  # Pipeline(MinMaxScaler, Ridge)
    predicted = cross_val_predict(model, X, y, cv=GroupKFold(n_splits=n_splits), groups=groups)
    r2, mae = r2_score(y, predicted), mean_absolute_error(y, predicted)
    print(f"{len(data)} networks, {len(columns)} features: {', '.join(columns)}")
    print(f"out-of-fold R2 = {r2:.3f}, MAE = {mae:.4f} (grouped {n_splits}-fold)")

    fitted = model.fit(X, y)
    coefs = dict(zip(columns, np.ravel(fitted[-1].coef_), strict=True))
    for name, coef in sorted(coefs.items(), key=lambda kv: -abs(kv[1]))[:5]:
        print(f"  {name:28s} {coef:+.4f}")

    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 5))
    for arch, rows in data.groupby("architecture"):
        ax.scatter(y[rows.index], predicted[rows.index], s=12, label=arch)
    lo, hi = float(min(y.min(), predicted.min())), float(max(y.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(
        xlabel="measured accuracy drop",
        ylabel="predicted (out of fold)",
        title=f"{args.study}: R2 {r2:.2f}, MAE {mae:.3f}",
    )
    ax.legend()
    path = args.out / f"regress_drop_{args.study}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
