"""Predict the accuracy drop of a pruned network that was never trained.

    python examples/predict_new_mask.py --study demo --model lenet5 --pruner synflow --sparsity 0.85

Fits the accuracy-drop predictor on a study in the store, then builds a new
network (model + pruner + sparsity + seed), encodes it, computes its metrics
in process (nothing is written to the store, nothing is trained) and
predicts its drop with an interval, next to the study's networks of the same
model.
"""

from __future__ import annotations

import argparse

import pandas as pd

from prunegraph.analysis.features import load_features
from prunegraph.analysis.predict import predict_new
from prunegraph.loader.data import load_dataset
from prunegraph.loader.encoding import encode
from prunegraph.loader.masks import apply_masks, remove_masks
from prunegraph.loader.models import build_model
from prunegraph.loader.pruning import prune
from prunegraph.queries.data_model import GRAPH_KINDS
from prunegraph.queries.metrics import compute_metrics, wide
from prunegraph.queries.store import Store

RAMANUJAN_FEATURES = [
    "mean_delta_s",
    "mean_delta_r",
    "mean_delta_s_rel",
    "mean_delta_r_rel",
    "mean_delta_r_imdb",
    "mean_lambda_imsg",
    "mean_lambda2_nlap",
    "mean_layer_density",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="demo")
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--pruner", default="synflow")
    parser.add_argument("--sparsity", type=float, default=0.85)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--feature-set", default="ramanujan")
    args = parser.parse_args()

    with Store.connect() as store:
        table = load_features(store, study=args.study)

    data = load_dataset(args.dataset)
    model = build_model(
        args.model, input_shape=data.input_shape, num_classes=data.num_classes, seed=args.seed
    )
    masks = prune(model, args.pruner, args.sparsity, data=data.train, seed=args.seed)
    apply_masks(model, masks)
    remove_masks(model)
    graphs = {k: encode(model, masks, data.input_shape, kind=k) for k in GRAPH_KINDS}
    # Per-layer Ramanujan metrics on the rolled graphs and their network means (in process).
    long = compute_metrics(graphs, "0" * 16, write=False, metrics=RAMANUJAN_FEATURES)
    row = wide(long).reset_index(drop=True)
    candidate = pd.DataFrame(
        {
            "architecture": [args.model],
            "dataset": [args.dataset],
            "sparsity": [args.sparsity],
            "pruner": [args.pruner],
        }
    )
    candidate = pd.concat([candidate, row.drop(columns=["network_id"], errors="ignore")], axis=1)
    result = predict_new(table, candidate, feature_set=args.feature_set)
    print(
        f"new network: {args.model} / {args.pruner} / sparsity {args.sparsity} / seed {args.seed}"
    )
    shown = ["architecture", "pruner", "sparsity", "acc_drop_pred", "acc_drop_lo", "acc_drop_hi"]
    print(result[[c for c in shown if c in result.columns]].to_string(index=False))
    same = table.data[table.data["architecture"] == args.model]
    if not same.empty:
        print(f"\nmeasured drop of the study's {args.model} networks, by sparsity:")
        print(
            same.groupby("sparsity")["acc_drop"].agg(["mean", "std", "count"]).round(4).to_string()
        )


if __name__ == "__main__":
    main()
