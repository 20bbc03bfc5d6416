"""``prunegraph demo``: the end-to-end smoke demo of the stack.

Trains a tiny MLP on scikit-learn's bundled 8x8 digits, prunes it by global
weight magnitude, writes its unrolled graph to Neo4j in the shared data model
(``(:Unit:L<p>:N_<network_id> {uid, p, i})`` nodes and ``LINEAR {w, layer}``
relationships, under ``(:Study {name: 'smoke-demo'})-[:HAS_NETWORK]->(:Network)``),
runs GDS weakly connected components on a native projection of that one
network, and checks the count against scipy on the same edges.

Re-running replaces the demo network with the same configuration; nothing
else in the database is touched.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from prunegraph.errors import DatabaseError, ValidationError
from prunegraph.queries.data_model import network_label

STUDY = "smoke-demo"
HIDDEN = (32, 16)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="smoke demo: tiny pruned MLP -> Neo4j -> GDS WCC",
        description="Train and prune a tiny MLP, write its graph to Neo4j, run GDS WCC on it.",
    )
    p.add_argument(
        "--sparsity", type=float, default=0.8, help="fraction of weights pruned (default 0.8)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--epochs", type=int, default=60, help="full-batch training epochs (default 60)")
    p.set_defaults(func=_demo)


@dataclass
class DemoNetwork:
    """A pruned MLP as layered units and masked edges (global unit ids, earlier -> later)."""

    network_id: str
    sizes: list[int]
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    layer: np.ndarray
    acc_dense: float
    acc_sparse: float
    config: dict[str, Any]

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)])


def build_demo_network(sparsity: float, seed: int, epochs: int) -> DemoNetwork:
    """Train a 64-32-16-10 MLP on digits, prune globally by |w|, return its edge list.

    Global magnitude pruning keeps the weights with
    :math:`|\\theta| > q_s(|\\theta|)`, the ``sparsity`` quantile over all layers.
    """
    if not isinstance(sparsity, float | int) or not 0.0 < sparsity < 1.0:
        raise ValidationError(
            f"The 'sparsity' parameter of demo must be a float in the range (0, 1). Got {sparsity!r} instead."
        )
    if epochs < 1:
        raise ValidationError(f"The 'epochs' parameter of demo must be >= 1. Got {epochs} instead.")
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from torch import nn
    from torch.nn.utils import prune

    torch.manual_seed(seed)
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target, test_size=0.3, random_state=seed)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    xe, ye = torch.from_numpy(x_te), torch.from_numpy(y_te)
    sizes = [x.shape[1], *HIDDEN, 10]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    linears = [m for m in model if isinstance(m, nn.Linear)]

    def accuracy() -> float:
        with torch.no_grad():
            return float((model(xe).argmax(1) == ye).float().mean())

    def fit(n: int) -> None:
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(n):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt), yt).backward()
            opt.step()

    fit(epochs)
    acc_dense = accuracy()
    prune.global_unstructured(
        [(m, "weight") for m in linears],
        pruning_method=prune.L1Unstructured,
        amount=float(sparsity),
    )
    fit(max(1, epochs // 2))  # fine-tune; the pruning hooks keep masked weights at zero
    acc_sparse = accuracy()

    offsets = np.concatenate([[0], np.cumsum(sizes)])
    src, dst, w, lay = [], [], [], []
    for k, m in enumerate(linears):
        mask = cast("torch.Tensor", m.weight_mask)  # buffer added by torch.nn.utils.prune
        weight = (m.weight * mask).detach().numpy()  # (out, in)
        out_idx, in_idx = np.nonzero(weight)
        src.append(offsets[k] + in_idx)
        dst.append(offsets[k + 1] + out_idx)
        w.append(np.abs(weight[out_idx, in_idx]))
        lay.append(np.full(out_idx.size, k))
    config = {
        "architecture": "mlp",
        "sizes": sizes,
        "dataset": "digits",
        "pruner": "global_magnitude",
        "sparsity": float(sparsity),
        "seed": seed,
        "epochs": epochs,
    }
    network_id = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return DemoNetwork(
        network_id=network_id,
        sizes=sizes,
        src=np.concatenate(src).astype(np.int64),
        dst=np.concatenate(dst).astype(np.int64),
        weight=np.concatenate(w).astype(np.float64),
        layer=np.concatenate(lay).astype(np.int64),
        acc_dense=acc_dense,
        acc_sparse=acc_sparse,
        config=config,
    )


def scipy_components(net: DemoNetwork) -> int:
    """Weakly connected components of the unit graph (reference for GDS)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n = int(net.offsets[-1])
    adj = sp.coo_matrix((np.ones(net.src.size), (net.src, net.dst)), shape=(n, n))
    return int(connected_components(adj, directed=True, connection="weak")[0])


def write_demo_network(store: Any, net: DemoNetwork) -> None:
    """Replace this demo network in Neo4j (nodes, relationships, Network/Study nodes)."""
    nid = net.network_id
    label = network_label(nid)  # nid is 16 hex chars (validated): safe to interpolate
    store.run("CREATE INDEX unit_uid IF NOT EXISTS FOR (u:Unit) ON (u.uid)")
    store.batched_autocommit(
        f"MATCH (u:{label}) WITH u LIMIT 10000 DETACH DELETE u RETURN count(*) AS n"
    )
    store.run("MATCH (n:Network {network_id: $id}) DETACH DELETE n", {"id": nid})
    store.run(
        "MERGE (s:Study {name: $study}) "
        "CREATE (s)-[:HAS_NETWORK]->(:Network {network_id: $id, study: $study, architecture: 'mlp', "
        "dataset: 'digits', pruner: 'global_magnitude', pruner_category: 'magnitude', "
        "sparsity: $sparsity, seed: $seed, input_shape: [64], acc_dense: $acc_dense, "
        "acc_sparse: $acc_sparse, acc_drop: 1.0 - $acc_sparse / $acc_dense, config_json: $config, "
        "content_hash: $id, level: 'full', status: 'writing', n_nodes: $n_nodes, "
        "n_edges: $n_edges, n_partitions: $n_partitions})",
        {
            "study": STUDY,
            "id": nid,
            "sparsity": net.config["sparsity"],
            "seed": net.config["seed"],
            "acc_dense": net.acc_dense,
            "acc_sparse": net.acc_sparse,
            "config": json.dumps(net.config, sort_keys=True),
            "n_nodes": int(net.offsets[-1]),
            "n_edges": int(net.src.size),
            "n_partitions": len(net.sizes),
        },
    )
    offsets = net.offsets
    for p, size in enumerate(net.sizes):
        idx = np.arange(size, dtype=np.int64)
        rows = np.column_stack([offsets[p] + idx, np.full(size, p), idx])
        store.write_batches(
            f"UNWIND $rows AS r CREATE (:Unit:L{p}:{label} {{uid: r[0], p: r[1], i: r[2]}})", rows
        )
    # (src, dst, layer, w) tuples: ints stay ints for the uid index, w stays a float.
    edge_rows = list(
        zip(
            net.src.tolist(), net.dst.tolist(), net.layer.tolist(), net.weight.tolist(), strict=True
        )
    )
    store.write_batches(
        f"UNWIND $rows AS r MATCH (a:Unit:{label} {{uid: r[0]}}) MATCH (b:Unit:{label} {{uid: r[1]}}) "
        "CREATE (a)-[:LINEAR {w: r[3], layer: r[2]}]->(b)",
        edge_rows,
    )
    store.run("MATCH (n:Network {network_id: $id}) SET n.status = 'complete'", {"id": nid})


def gds_components(store: Any, net: DemoNetwork) -> dict[str, Any]:
    """GDS WCC on a native projection of the one network; the projection is dropped after."""
    graph = f"smoke_demo_{net.network_id}_{int(time.time() * 1000)}"
    store.run(
        "CALL gds.graph.project($g, $label, {LINEAR: {orientation: 'UNDIRECTED', properties: 'w'}})",
        {"g": graph, "label": network_label(net.network_id)},
    )
    try:
        rows = store.run(
            "CALL gds.wcc.stream($g) YIELD componentId "
            "WITH componentId, count(*) AS size ORDER BY size DESC "
            "RETURN count(*) AS components, collect(size) AS sizes",
            {"g": graph},
        )
    finally:
        store.run("CALL gds.graph.drop($g, false) YIELD graphName RETURN graphName", {"g": graph})
    return rows[0]


def _demo(args: argparse.Namespace) -> int:
    from prunegraph.queries.store import Store

    t0 = time.monotonic()
    # Connect first: a stopped server is reported before any training happens.
    with Store.connect() as store:
        info = store.server_info()
        if info["gds_version"] is None:
            raise DatabaseError(
                f"Neo4j at {store.settings.uri} has no Graph Data Science plugin; the demo needs it."
            )
        print(
            f"Neo4j {info['neo4j_version']} {info['edition']} with GDS {info['gds_version']} "
            f"at {store.settings.uri}"
        )
        import torch

        torch.set_num_threads(1)  # a 3-layer MLP gains nothing from threads on a shared machine
        net = build_demo_network(args.sparsity, args.seed, args.epochs)
        print(
            f"Trained and pruned MLP {'-'.join(map(str, net.sizes))} on digits: sparsity "
            f"{args.sparsity:.0%}, accuracy {net.acc_dense:.3f} dense -> {net.acc_sparse:.3f} "
            f"pruned ({net.src.size} of {sum(a * b for a, b in itertools.pairwise(net.sizes))} "
            "weights kept)."
        )
        t1 = time.monotonic()
        write_demo_network(store, net)
        print(
            f"Wrote network {net.network_id}: {int(net.offsets[-1])} (:Unit) nodes, "
            f"{net.src.size} :LINEAR relationships in {time.monotonic() - t1:.1f} s."
        )
        result = gds_components(store, net)
    expected = scipy_components(net)
    sizes = result["sizes"]
    print(
        f"gds.wcc: {result['components']} weakly connected components; largest {sizes[0]} units, "
        f"{sum(1 for s in sizes if s == 1)} isolated units (pruned away). scipy agrees: "
        f"{'yes' if expected == result['components'] else f'NO ({expected})'}."
    )
    print(
        f"Explore it in the Browser ({_browser_hint()}): "
        f"MATCH (n:{network_label(net.network_id)})-[r:LINEAR]->(m) RETURN n, r, m LIMIT 300"
    )
    print(f"Done in {time.monotonic() - t0:.1f} s.")
    return 0 if expected == result["components"] else 1


def _browser_hint() -> str:
    from prunegraph import stack

    try:
        return stack.stack_paths().browser_url
    except Exception:  # only a hint; the build files may be absent in an installed copy
        return "http://127.0.0.1:7474/browser/"
