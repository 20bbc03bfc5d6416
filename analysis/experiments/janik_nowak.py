r"""Report section: Janik and Nowak's performance-resources trade-off on DAG networks.

Janik and Nowak ("Connectivity Properties of Neural Networks Under
Performance-Resources Trade-off") train a fully connected DAG of conv-block
nodes (``dagnet``) whose scalar edges :math:`\tanh w_e` are pushed towards 0 by
the resource loss :math:`\lambda \sum_e |\tanh w_e|` (eqs. 1-2), erase the
edges with :math:`|\tanh w_e| < \tau` and the dead paths this leaves (section
3), and report

1. thresholding at :math:`\tau = 0.006` removes most edges "without a
   noticeable drop in performance" (Fig. 2; Table 1: sparsity 0.79-0.99 by
   dataset; Table 5: 92.79 % thresholded vs 92.85 % full DAG on CIFAR-10);
2. the smaller the learned network, the fewer and shorter its input-output
   paths and the lower its edge connectivity (Table 2: ``log_paths``,
   ``mean_path``, ``max_path``, ``edge_connectivity`` all grow with the
   resources a dataset needs);
3. thresholding leaves dead paths (edges off every input-output path, Fig.
   1c), which are removed.

The bundled study (``examples/janik-nowak-resources.toml``) sweeps the weight
:math:`\lambda` (``lam`` of the ``resource`` pruner) at the paper's
:math:`\tau`; this section reads, per network of pruner ``resource``:

* ``lam`` and ``tau`` from its configuration (``config_json``);
* resources: the kept fraction of prunable parameters
  (``params_nonzero / params``) and, from the study's run cache
  (``<output>/cache/networks/<network_id>.pt``, beside the report folder, when
  the report is written by ``prunegraph study run``), the DAG's edges: kept,
  erased by the threshold, removed as dead, and the alive nodes;
* path metrics of the block-level DAG (the paper's graph: one node per block,
  computed with the same functions as the stored metrics,
  :mod:`prunegraph.queries.paths`, on a graph with one partition per node) and
  the stored MGE path metrics (``log_paths``, ``mean_path``, ``max_path``,
  ``edge_connectivity`` of the unrolled network, where a zero gate removes the
  paths through it).

Per (architecture, dataset, ``lam``): mean, sample sd (``ddof = 1``) and 95 %
Student-t interval over seeds (``janik_nowak_sweep.csv``); across networks,
Spearman's :math:`\rho` (Pearson on ranks) of each path metric with the kept
edges (or kept parameters), with the Fisher interval
:math:`\tanh(\operatorname{artanh}\rho \pm 1.96/\sqrt{n-3})`
(``janik_nowak_paths.csv``); one row per network in
``janik_nowak_networks.csv``; the claims side by side in
``janik_nowak_claims.csv``. The accuracy drop is measured against the
study's dense baseline (the full DAG trained with the model's own
``resource_lambda``, 0 in the bundled study: no resource loss, no threshold).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prunegraph.analysis.experiments._stats import correlation, pruner_options, t_interval
from prunegraph.analysis.features import FeatureTable
from prunegraph.analysis.report import ExtraSection, register_section

PRUNER = "resource"
#: Janik and Nowak's threshold and loss weight (section 4, Appendix A).
PAPER_TAU = 0.006
PAPER_LAMBDA = 1e-3
#: Path metrics of Janik and Nowak's Table 2 that the section follows along the sweep.
PATH_METRICS = ("log_paths", "mean_path", "max_path", "edge_connectivity")
BLOCK_COLUMNS = (
    "edges_total",
    "edges_kept",
    "edges_thresholded",
    "edges_dead",
    "nodes_total",
    "nodes_alive",
    *(f"dag_{m}" for m in PATH_METRICS),
)
KEYS = ["architecture", "dataset", "lam"]


# --------------------------------------------------------------------------- block-level DAG
def dag_path_metrics(adjacency: np.ndarray) -> dict[str, float]:
    r"""``log_paths``, ``mean_path``, ``max_path``, ``edge_connectivity`` of a block DAG.

    The DAG (nodes in topological order, node 0 the input, node ``N-1`` the
    output) becomes a multipartite graph with one single-node partition per
    block and one edge block per DAG edge, so the functions of
    :mod:`prunegraph.queries.paths` count exactly the paths from node 0 to node
    ``N-1`` (:math:`\ln` of their number, their mean and maximum number of
    edges) and the minimum number of DAG edges whose removal separates them.
    Every value is NaN when no path joins them.
    """
    from prunegraph.loader.graph import EdgeBlock, MultipartiteGraph, Partition
    from prunegraph.queries.paths import edge_connectivity, path_counts

    linked = np.asarray(adjacency) != 0
    n = linked.shape[0]
    src, dst = np.nonzero(linked)  # row-major: grouped by source, then target
    order = np.lexsort((src, dst))  # blocks ordered by target partition, then source
    src, dst = src[order].astype(np.int32), dst[order].astype(np.int32)
    partitions = tuple(Partition(i, f"n{i}", (1,), i) for i in range(n))
    blocks = tuple(
        EdgeBlock(e, f"{s}->{d}", "skip", int(s), int(d), e, e + 1)
        for e, (s, d) in enumerate(zip(src.tolist(), dst.tolist(), strict=True))
    )
    graph = MultipartiteGraph(
        "mge", partitions, blocks, src, dst, np.ones(len(src), dtype=np.float32)
    )
    log_paths, mean_path, max_path = path_counts(graph)
    if log_paths is None:
        return dict.fromkeys(PATH_METRICS, float("nan"))
    connectivity = edge_connectivity(graph)
    return {
        "log_paths": float(log_paths),
        "mean_path": float(mean_path) if mean_path is not None else float("nan"),
        "max_path": float(max_path) if max_path is not None else float("nan"),
        "edge_connectivity": float(connectivity) if connectivity is not None else float("nan"),
    }


def block_summary(config: dict[str, Any], state: dict[str, Any], tau: float) -> dict[str, float]:
    """Edge and node counts and block-level path metrics of one trained ``dagnet``.

    ``config`` is the network's configuration (``config_json``), ``state`` its
    cached ``state_dict``. An edge with ``|tanh w_e| < tau`` was erased by the
    threshold; one at or above ``tau`` whose gate is 0 (``edge_mask``) was
    removed as dead; the rest are kept. A node is alive when a kept edge
    touches it.
    """
    import torch

    from prunegraph.errors import ValidationError
    from prunegraph.loader.models import DagNet, build_model

    model = build_model(
        config["model"],
        input_shape=tuple(config["input_shape"]),
        num_classes=int(config["num_classes"]),
        seed=int(config.get("seed", 0)),
        **dict(config.get("model_options") or {}),
    )
    if not isinstance(model, DagNet):
        raise ValidationError(f"Network of model {config['model']!r} is not a dagnet.")
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    strength = np.abs(np.tanh(model.edge_weights.detach().cpu().numpy().astype(np.float64)))
    gate = model.edge_mask.detach().cpu().numpy() != 0
    thresholded = strength < tau
    kept = gate & ~thresholded
    dead = ~gate & ~thresholded
    src, dst = model.edge_index
    adjacency = np.zeros((model.n_nodes, model.n_nodes))
    adjacency[src[kept], dst[kept]] = 1.0
    touched = np.zeros(model.n_nodes, dtype=bool)
    touched[src[kept]] = True
    touched[dst[kept]] = True
    paths = dag_path_metrics(adjacency)
    return {
        "edges_total": float(len(strength)),
        "edges_kept": float(kept.sum()),
        "edges_thresholded": float(thresholded.sum()),
        "edges_dead": float(dead.sum()),
        "nodes_total": float(model.n_nodes),
        "nodes_alive": float(touched.sum()),
        **{f"dag_{k}": v for k, v in paths.items()},
    }


def _cache_dir(report: Any) -> Path | None:
    out = getattr(report, "out_dir", None)
    if out is None:
        return None
    cache = Path(out).parent / "cache" / "networks"
    return cache if cache.is_dir() else None


def _block_rows(rows: pd.DataFrame, cache: Path | None) -> tuple[pd.DataFrame, int]:
    """Block-level columns per network from the run cache; ``(frame, n_missing)``."""
    if cache is None:  # no torch import for a table without its run cache
        return pd.DataFrame(columns=["network_id", *BLOCK_COLUMNS]), len(rows)
    import torch

    records = []
    missing = 0
    for network_id, text, tau in zip(
        rows["network_id"], rows["config_json"], rows["tau"], strict=True
    ):
        path = cache / f"{network_id}.pt"
        if not path.is_file():
            missing += 1
            continue
        entry = torch.load(path, map_location="cpu", weights_only=True)
        state = entry.get("state_dict") if isinstance(entry, dict) else None
        if not state or "edge_weights" not in state:
            missing += 1
            continue
        records.append({"network_id": network_id, **block_summary(json.loads(text), state, tau)})
    return pd.DataFrame.from_records(records, columns=["network_id", *BLOCK_COLUMNS]), missing


# --------------------------------------------------------------------------- table
def network_rows(table: FeatureTable) -> pd.DataFrame:
    """The ``resource`` networks with ``lam``, ``tau`` and the kept parameter fraction."""
    data = table.data
    rows = data[data["pruner"] == PRUNER].copy()
    options = pruner_options(rows)
    rows["lam"] = options.map(lambda o: float(o.get("lam", PAPER_LAMBDA)))
    rows["tau"] = options.map(lambda o: float(o.get("tau", PAPER_TAU)))
    for col in ("acc_sparse", "acc_dense", "params", "params_nonzero"):
        rows[col] = pd.to_numeric(rows[col], errors="coerce") if col in rows else np.nan
    rows["params_kept"] = rows["params_nonzero"] / rows["params"]
    rows["acc_drop"] = rows["acc_dense"] - rows["acc_sparse"]
    return rows


def applies(table: FeatureTable) -> bool:
    """The table has ``resource`` networks with accuracies and configurations."""
    data = table.data
    if not {"pruner", "acc_sparse", "config_json", "network_id"}.issubset(data.columns):
        return False
    rows = data[data["pruner"] == PRUNER]
    return bool(pd.to_numeric(rows["acc_sparse"], errors="coerce").notna().any())


def sweep_summary(rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Per (architecture, dataset, lam): ``n``, and per column mean, sd (ddof 1), 95 % t interval."""
    records = []
    for keys, part in rows.groupby(KEYS, sort=True):
        record: dict[str, Any] = dict(zip(KEYS, keys, strict=True))
        record["n"] = len(part)
        for col in columns:
            values = pd.to_numeric(part[col], errors="coerce").dropna().to_numpy(dtype=float)
            n = len(values)
            mean = float(values.mean()) if n else float("nan")
            sd = float(values.std(ddof=1)) if n > 1 else float("nan")
            lo, hi = t_interval(mean, sd, n)
            record |= {f"{col}_mean": mean, f"{col}_sd": sd, f"{col}_low": lo, f"{col}_high": hi}
        records.append(record)
    return pd.DataFrame.from_records(records)


def path_correlations(rows: pd.DataFrame) -> pd.DataFrame:
    """Spearman rho of each path metric with the resources, Fisher interval, over networks."""
    from scipy.stats import rankdata

    records = []
    pairs = [
        (resource, metric)
        for resource in ("edges_kept", "params_kept")
        for metric in (*(f"dag_{m}" for m in PATH_METRICS), *PATH_METRICS)
    ]
    for resource, metric in pairs:
        if resource not in rows or metric not in rows:
            continue
        x = pd.to_numeric(rows[resource], errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(rows[metric], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        rho, n, lo, hi = correlation(rankdata(x[ok]), rankdata(y[ok]))
        graph = "block DAG" if metric.startswith("dag_") else "MGE (stored)"
        records.append(
            {
                "resources": resource,
                "metric": metric.removeprefix("dag_"),
                "graph": graph,
                "n": n,
                "rho": rho,
                "rho_low": lo,
                "rho_high": hi,
            }
        )
    return pd.DataFrame.from_records(
        records, columns=["resources", "metric", "graph", "n", "rho", "rho_low", "rho_high"]
    )


def _fmt(mean: float, lo: float, hi: float, digits: int = 3) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{mean:.{digits}f} (no interval)"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def claims(rows: pd.DataFrame, sweep: pd.DataFrame, paths: pd.DataFrame) -> pd.DataFrame:
    """Janik and Nowak's claims beside what this study measured (one row per claim)."""
    resource = "edges_kept_frac" if "edges_kept_frac" in rows else "params_kept"
    lams = sorted(rows["lam"].unique())
    lines = []
    for lam in lams:
        part = sweep[sweep["lam"] == lam]
        if part.empty:
            continue
        r = part.iloc[0]
        lines.append(
            f"lam={lam:g} (n={int(r['n'])}): kept {_fmt(r[f'{resource}_mean'], r[f'{resource}_low'], r[f'{resource}_high'])}, "
            f"accuracy drop {_fmt(r['acc_drop_mean'], r['acc_drop_low'], r['acc_drop_high'])}"
        )
    trade = "; ".join(lines) if lines else "no networks with accuracies"

    def rho_line(graph: str) -> str:
        part = paths[(paths["graph"] == graph) & (paths["resources"] == paths["resources"].iloc[0])]
        if part.empty:
            return ""
        return f"{graph}: " + "; ".join(
            f"{m} rho={_fmt(r, lo, hi, 2)} (n={n})"
            for m, r, lo, hi, n in zip(
                part["metric"],
                part["rho"],
                part["rho_low"],
                part["rho_high"],
                part["n"],
                strict=True,
            )
        )

    path_text = (
        " | ".join(t for t in (rho_line("block DAG"), rho_line("MGE (stored)")) if t)
        if not paths.empty
        else "no path metric computed"
    )
    if "edges_dead" in rows and rows["edges_dead"].notna().any():
        by_lam = rows.groupby("lam")["edges_dead"].agg(["sum", "count"])
        dead = "; ".join(
            f"lam={lam:g}: {int(s)} dead edges in {int(c)} networks"
            for lam, (s, c) in by_lam.iterrows()
        )
    else:
        dead = "not measured (no run cache beside the report)"
    basis = "kept DAG edges" if resource == "edges_kept_frac" else "kept parameters"
    return pd.DataFrame(
        [
            {
                "claim": "thresholding after training under the resource loss removes most edges "
                "with no noticeable accuracy drop",
                "paper": "tau=0.006, lam=1e-3, 100 epochs: sparsity 0.79-0.99 of the DAG by "
                "dataset (Table 1); CIFAR-10 thresholded 92.79% vs full DAG 92.85% (Table 5)",
                "this study": f"fraction of {basis} and accuracy drop vs the dense DAG, mean "
                f"[95% t interval] over seeds: {trade}",
            },
            {
                "claim": "smaller learned networks have fewer, shorter input-output paths and "
                "lower edge connectivity",
                "paper": "log_paths 4.0-21.4, mean_path 7.4-18.2, max_path 9.6-32.6, "
                "edge_connectivity 1.3-20.2, all rising with the resources the dataset needs "
                "(Table 2, 10 seeds per dataset)",
                "this study": f"Spearman rho with the {basis.replace('kept ', 'kept ')} "
                f"[95% Fisher interval]: {path_text}",
            },
            {
                "claim": "thresholding leaves dead paths, removed since they do not reach the output",
                "paper": "Fig. 1c (no count reported)",
                "this study": dead,
            },
        ]
    )


# --------------------------------------------------------------------------- figure
def _figure(rows: pd.DataFrame, resource: str, label: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in (f"dag_{p}" for p in PATH_METRICS) if m in rows and rows[m].notna().any()]
    if not metrics:
        metrics = [m for m in PATH_METRICS if m in rows and rows[m].notna().any()]
    fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(4.2 * (1 + len(metrics)), 3.6))
    axes = np.atleast_1d(axes)
    lams = sorted(rows["lam"].unique())
    cmap = plt.get_cmap("viridis", max(len(lams), 2))
    for k, lam in enumerate(lams):
        part = rows[rows["lam"] == lam]
        for ax, col in zip(axes, ["acc_sparse", *metrics], strict=True):
            ax.scatter(part[resource], part[col], color=cmap(k), label=f"lam={lam:g}", s=22)
    for ax, col in zip(axes, ["acc_sparse", *metrics], strict=True):
        ax.set_xlabel(label)
        ax.set_ylabel(col.removeprefix("dag_") + (" (block DAG)" if col.startswith("dag_") else ""))
    if "acc_dense" in rows and rows["acc_dense"].notna().any():
        axes[0].axhline(
            float(rows["acc_dense"].mean()), color="grey", ls="--", lw=1, label="dense DAG"
        )
    axes[0].legend(fontsize=7)
    axes[0].set_title("accuracy vs resources")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- section
def run(report: Any, table: FeatureTable) -> str | None:
    """Write the section (tables, figure, claims) and return its headline."""
    rows = network_rows(table)
    blocks, missing = _block_rows(rows, _cache_dir(report))
    rows = rows.merge(blocks, on="network_id", how="left") if not blocks.empty else rows
    if not blocks.empty:
        rows["edges_kept_frac"] = rows["edges_kept"] / rows["edges_total"]
    n_nets = len(rows)
    report.text(
        f"{n_nets} networks of pruner 'resource' (Janik and Nowak): DAG networks trained under the "
        f"L1 resource loss lam * sum_e |tanh w_e|, edges with |tanh w_e| < tau erased, then the "
        f"dead paths; lam values: {', '.join(f'{v:g}' for v in sorted(rows['lam'].unique()))}; "
        f"tau: {', '.join(f'{v:g}' for v in sorted(rows['tau'].unique()))}. The study's "
        "'sparsity' is nominal for this pruner: what is kept is the outcome, measured below."
    )
    if missing:
        report.note(
            f"{missing} of {n_nets} networks have no trained DAG in a run cache beside the report "
            "(<output>/cache/networks): their edge counts and block-level path metrics are missing."
        )
    network_cols = [
        c
        for c in (
            "network_id", "architecture", "dataset", "seed", "lam", "tau", "acc_dense",
            "acc_sparse", "acc_drop", "params", "params_nonzero", "params_kept",
            "edges_kept_frac", *BLOCK_COLUMNS, *PATH_METRICS,
        )
        if c in rows
    ]  # fmt: skip
    rows = rows.sort_values(["architecture", "dataset", "lam", "seed"]).reset_index(drop=True)
    report.table(
        rows[network_cols],
        "janik_nowak_networks",
        caption="Janik and Nowak: one row per network (resources, dead edges, path metrics; "
        "dag_* on the block-level DAG, the rest on the stored MGE)",
    )
    summary_cols = [
        c
        for c in (
            "acc_sparse", "acc_drop", "params_kept", "edges_kept_frac", "edges_kept",
            "edges_thresholded", "edges_dead", "nodes_alive", *(f"dag_{m}" for m in PATH_METRICS), *PATH_METRICS,
        )
        if c in rows and rows[c].notna().any()
    ]  # fmt: skip
    sweep = sweep_summary(rows, summary_cols)
    report.table(
        sweep,
        "janik_nowak_sweep",
        caption="Janik and Nowak: the lam sweep per architecture and dataset; _mean, _sd = "
        "sample sd (ddof = 1), _low/_high = 95% Student-t interval over the n seeds",
    )
    paths = path_correlations(rows)
    if not paths.empty:
        report.table(
            paths,
            "janik_nowak_paths",
            caption="Janik and Nowak: Spearman rho of the path metrics with the resources over "
            "networks, 95% Fisher interval (NaN when n < 4)",
        )
    resource = "edges_kept_frac" if "edges_kept_frac" in rows else "params_kept"
    label = (
        "kept fraction of DAG edges"
        if resource == "edges_kept_frac"
        else "kept fraction of parameters"
    )
    if rows[resource].notna().any():
        report.figure(
            _figure(rows, resource, label),
            "Janik and Nowak: accuracy and path metrics against the resources left, one point "
            "per network, coloured by lam (Fig. 2 and Table 2 as a sweep)",
        )
    side = claims(rows, sweep, paths)
    report.table(
        side,
        "janik_nowak_claims",
        caption="Janik and Nowak: the paper's claims and this study's measurements",
    )
    seeds = rows.groupby("lam")["seed"].nunique()
    report.note(
        f"Small data: {n_nets} networks, {len(seeds)} lam values with {int(seeds.min())}-"
        f"{int(seeds.max())} seeds each, one dataset per row of the sweep table; the paper used "
        "10 seeds per dataset and a 60-node DAG trained for 100 epochs. Intervals are wide at "
        "this n; read them before the means."
    )
    return _headline(sweep, paths, resource)


def _headline(sweep: pd.DataFrame, paths: pd.DataFrame, resource: str) -> str | None:
    if sweep.empty:
        return None
    low, high = sweep.iloc[0], sweep.iloc[-1]
    what = "DAG edges" if resource == "edges_kept_frac" else "parameters"
    text = (
        f"From lam={low['lam']:g} to lam={high['lam']:g} the kept fraction of {what} goes from "
        f"{low[f'{resource}_mean']:.2f} to {high[f'{resource}_mean']:.2f} and the accuracy from "
        f"{low['acc_sparse_mean']:.3f} to {high['acc_sparse_mean']:.3f} "
        f"(95% interval at lam={high['lam']:g}: {_fmt(high['acc_sparse_mean'], high['acc_sparse_low'], high['acc_sparse_high'])}, "
        f"n={int(high['n'])})"
    )
    if not paths.empty:
        first = paths.iloc[0]
        if np.isfinite(first["rho"]):
            text += (
                f"; Spearman rho({first['resources']}, {first['metric']} on the {first['graph']}) = "
                f"{_fmt(first['rho'], first['rho_low'], first['rho_high'], 2)}, n={int(first['n'])}"
            )
    return text + "."


SECTION = register_section(
    ExtraSection(
        name="janik_nowak",
        heading="Janik and Nowak: accuracy against resources under the L1 resource loss",
        run=run,
        applies=applies,
    )
)

__all__ = [
    "SECTION",
    "applies",
    "block_summary",
    "claims",
    "dag_path_metrics",
    "network_rows",
    "path_correlations",
    "run",
    "sweep_summary",
]
