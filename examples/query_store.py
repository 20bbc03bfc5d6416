"""Open the store and run library queries into DataFrames.

    python examples/query_store.py --study demo

Every query of ``queries/cypher/`` runs the same way from Python
(``store.query_df(name, **params)``), from the CLI (``prunegraph query NAME
--param k=v``) and, pasted as is, in Neo4j Browser.
"""

from __future__ import annotations

import argparse

from prunegraph.queries.library import list_queries
from prunegraph.queries.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="demo")
    args = parser.parse_args()

    with Store.connect() as store:
        print(f"{len(list_queries())} library queries, e.g. {', '.join(list_queries()[:5])} ...")
        studies = store.query_df("list_studies")
        print(studies.to_string(index=False))

        networks = store.query_df("network_features", study=args.study)
        if networks.empty:
            raise SystemExit(f"Study '{args.study}' has no complete networks: run it first.")
        print(f"\n{len(networks)} complete networks in study '{args.study}'.")
        # Mean sparse accuracy per pruner and sparsity: plain pandas on the query's DataFrame.
        table = networks.pivot_table(
            index="pruner", columns="sparsity", values="acc_sparse", aggfunc="mean"
        )
        print("\nMean test accuracy of the sparse networks:")
        print(table.round(3).to_string())

        # One network's layers: sizes and densities.
        first = networks.iloc[0]["network_id"]
        layers = store.query_df("network_layers", network_id=first)
        print(f"\nLayers of network {first}:")
        print(layers.to_string(index=False))


if __name__ == "__main__":
    main()
