"""Bulk path: the files of ``neo4j-admin database import full`` for a set of networks.

For building a *fresh* store for a large study. Community Edition has one
standard database, and the offline importer writes a whole database, so the
bulk path **replaces everything in the database**: :func:`bulk_load` refuses
to run without ``overwrite=True`` (CLI: ``prunegraph export --bulk --overwrite``).
It stops the local stack, imports, starts it again and creates the schema.

The files describe exactly the graph the streaming exporter
(:mod:`prunegraph.loader.export`) writes for the same networks, with the
same property names and types (integers as ``long``, floats as ``double``),
networks already ``complete``.

Layout of a bulk directory (one unit/relationship file pair per network and
graph family, each with a one-line header file; ID spaces are per network so
unit ids are the graph's own uids)::

    studies.csv  networks.csv  layers.csv  has_network.csv  has_layer.csv  (+ *.header.csv)
    units_<id>.csv  rels_<id>.csv  rolled_units_<id>.csv  rolled_rels_<id>.csv  ...

Writers are vectorised: numpy builds the columns and pyarrow writes them
(no Python loop over units or edges).

Running the importer (:func:`prunegraph.stack.import_database`) and private
scratch servers for tests and benchmarks (:class:`prunegraph.stack.ScratchServer`)
belong to the stack; :func:`bulk_load` only strings them together for the
local stack.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from prunegraph.errors import StackError, ValidationError
from prunegraph.loader.cost import COST_COLUMNS
from prunegraph.loader.export import check_some_family, graphs_by_family
from prunegraph.loader.graph import MultipartiteGraph
from prunegraph.loader.records import NetworkRecord
from prunegraph.queries import data_model as dm

ADMIN_MAIN = "org.neo4j.server.startup.Neo4jAdminCommand"


@dataclass(frozen=True)
class BulkNetwork:
    """One network to bulk-load: its record, its graphs by family and its storage level.

    ``graphs`` takes what :func:`~prunegraph.loader.export.export_network` takes:
    a mapping of graph family to graph holding the MGE, or the MGE alone.
    """

    record: NetworkRecord
    graphs: Mapping[str, MultipartiteGraph | None] | MultipartiteGraph
    level: str = "full"

    def __post_init__(self) -> None:
        graphs = graphs_by_family(self.graphs, "BulkNetwork")
        object.__setattr__(self, "graphs", graphs)
        dm.check_level(self.level, where="BulkNetwork")
        check_some_family(self.level, set(graphs))

    @property
    def mge(self) -> MultipartiteGraph:
        return self.by_family["mge"]

    @property
    def by_family(self) -> dict[str, MultipartiteGraph]:
        """The graphs by family (checked, in table order)."""
        return self.graphs  # type: ignore[return-value]

    def stored(self) -> dict[str, MultipartiteGraph]:
        """The graphs its level stores."""
        return {
            k: g for k, g in self.by_family.items() if dm.GRAPH_FAMILIES[k].stored_at(self.level)
        }


@dataclass
class BulkFiles:
    """The files of one bulk directory and the ``--nodes``/``--relationships`` arguments."""

    directory: Path
    nodes: list[str] = field(default_factory=list)
    relationships: list[str] = field(default_factory=list)
    n_nodes: int = 0
    n_relationships: int = 0
    seconds: float = 0.0

    def import_arguments(self) -> list[str]:
        return [f"--nodes={n}" for n in self.nodes] + [
            f"--relationships={r}" for r in self.relationships
        ]


# ------------------------------------------------------------------------ writers

_ARRAY_DELIMITER = ";"


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
        if any(_ARRAY_DELIMITER in item for item in items):
            raise ValidationError(
                f"Array value {value!r} contains the array delimiter {_ARRAY_DELIMITER!r}."
            )
        return _ARRAY_DELIMITER.join(items)
    if isinstance(value, float):
        return repr(value)
    return value


def _write_small(
    directory: Path, name: str, header: list[str], rows: Iterable[Sequence[Any]]
) -> str:
    """A header file plus a data file through the csv module (a few rows per network only)."""
    (directory / f"{name}.header.csv").write_text(",".join(header) + "\n")
    with (directory / f"{name}.csv").open("w", newline="") as fh:
        writer = csv.writer(fh, quoting=csv.QUOTE_MINIMAL)
        for row in rows:
            writer.writerow([_csv_value(v) for v in row])
    return f"{directory / f'{name}.header.csv'},{directory / f'{name}.csv'}"


def _write_table(directory: Path, name: str, header: list[str], table: pa.Table) -> str:
    (directory / f"{name}.header.csv").write_text(",".join(header) + "\n")
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    pacsv.write_csv(table, directory / f"{name}.csv", write_options=options)
    return f"{directory / f'{name}.header.csv'},{directory / f'{name}.csv'}"


def _repeat_strings(values: Sequence[str], counts: np.ndarray) -> pa.Array:
    """A string column repeating ``values[k]`` ``counts[k]`` times, built without Python loops."""
    indices = np.repeat(np.arange(len(values), dtype=np.int32), counts)
    return pa.DictionaryArray.from_arrays(
        pa.array(indices), pa.array(list(values), pa.string())
    ).cast(pa.string())


# Network properties and their neo4j-admin types (the streaming exporter writes the same).
_NETWORK_COLUMNS: list[tuple[str, str]] = [
    ("network_id", "string"),
    ("study", "string"),
    ("architecture", "string"),
    ("dataset", "string"),
    ("pruner", "string"),
    ("pruner_category", "string"),
    ("sparsity", "double"),
    ("seed", "long"),
    ("input_shape", "long[]"),
    ("acc_dense", "double"),
    ("acc_sparse", "double"),
    ("acc_drop", "double"),
    ("config_json", "string"),
    ("content_hash", "string"),
    ("n_nodes", "long"),
    ("n_edges", "long"),
    ("n_partitions", "long"),
    ("partition_sizes", "long[]"),
    ("partition_offsets", "long[]"),
    ("partition_names", "string[]"),
    ("partition_shapes_json", "string"),
    *((name, "long") for name in COST_COLUMNS),
    ("level", "string"),
    ("status", "string"),
    *((f.stored_flag, "boolean") for f in dm.GRAPH_FAMILIES.values() if f.stored_flag),
    ("created_at", "datetime"),
    ("updated_at", "datetime"),
]

_LAYER_COLUMNS: list[tuple[str, str]] = [
    ("network_id", "string"),
    ("index", "long"),
    ("name", "string"),
    ("kind", "string"),
    ("rel_type", "string"),
    ("param_name", "string"),
    ("src_partition", "long"),
    ("dst_partition", "long"),
    ("weight_shape", "long[]"),
    ("stride", "long[]"),
    ("padding", "long[]"),
    ("dilation", "long[]"),
    ("groups", "long"),
    ("pool", "string"),
    ("n_weights", "long"),
    ("n_unmasked", "long"),
    ("n_edges", "long"),
    ("layer_density", "double"),
    *((name, "long") for name in COST_COLUMNS),
]


def _header(columns: list[tuple[str, str]]) -> list[str]:
    return [name if kind == "string" else f"{name}:{kind}" for name, kind in columns]


def write_bulk_files(networks: Sequence[BulkNetwork], directory: str | Path) -> BulkFiles:
    """Write the import files of ``networks`` into ``directory`` (created; must be empty).

    Returns the file list and ``neo4j-admin`` arguments.
    """
    started = time.perf_counter()
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise ValidationError(f"The bulk directory {directory} must be empty or absent.")
    directory.mkdir(parents=True, exist_ok=True)
    ids = [n.record.network_id for n in networks]
    if len(set(ids)) != len(ids):
        raise ValidationError("Each network may appear only once in a bulk load.")
    files = BulkFiles(directory)
    now = datetime.now(UTC).isoformat()

    studies = sorted({n.record.study for n in networks})
    study_id = {name: k for k, name in enumerate(studies)}
    files.nodes.append(
        f"{dm.STUDY_LABEL}="
        + _write_small(
            directory,
            "studies",
            [f":ID({dm.STUDY_LABEL})", "name"],
            ([k, s] for s, k in study_id.items()),
        )
    )
    files.n_nodes += len(studies)

    network_rows, layer_rows, has_network, has_layer = [], [], [], []
    layer_key = 0
    for k, net in enumerate(networks):
        record = net.record
        if not record.content_hash:
            record = record.with_content_hash(dm.graph_content_hash(net.mge))
        props = {**record.to_properties(), **dm.graph_properties(net.mge)}
        props.update(
            level=net.level,
            status=dm.COMPLETE,
            **dm.stored_flags(set(net.stored())),
            created_at=now,
            updated_at=now,
        )
        network_rows.append([k, *(props.get(name) for name, _ in _NETWORK_COLUMNS)])
        has_network.append([study_id[record.study], k])
        for layer in dm.layer_properties(record.network_id, net.mge):
            layer_rows.append([layer_key, *(layer.get(name) for name, _ in _LAYER_COLUMNS)])
            has_layer.append([k, layer_key])
            layer_key += 1

    files.nodes.append(
        f"{dm.NETWORK_LABEL}="
        + _write_small(
            directory,
            "networks",
            [f":ID({dm.NETWORK_LABEL})", *_header(_NETWORK_COLUMNS)],
            network_rows,
        )
    )
    files.nodes.append(
        f"{dm.LAYER_LABEL}="
        + _write_small(
            directory, "layers", [f":ID({dm.LAYER_LABEL})", *_header(_LAYER_COLUMNS)], layer_rows
        )
    )
    files.relationships.append(
        f"{dm.HAS_NETWORK}="
        + _write_small(
            directory,
            "has_network",
            [f":START_ID({dm.STUDY_LABEL})", f":END_ID({dm.NETWORK_LABEL})"],
            has_network,
        )
    )
    files.relationships.append(
        f"{dm.HAS_LAYER}="
        + _write_small(
            directory,
            "has_layer",
            [f":START_ID({dm.NETWORK_LABEL})", f":END_ID({dm.LAYER_LABEL})"],
            has_layer,
        )
    )
    files.n_nodes += len(network_rows) + len(layer_rows)
    files.n_relationships += len(has_network) + len(has_layer)

    for net in networks:
        jobs = net.stored().items()
        for family, graph in jobs:
            nodes, rels = _write_family(directory, net.record.network_id, family, net.mge, graph)
            files.nodes.append(nodes)
            files.relationships.append(rels)
            files.n_nodes += graph.n_nodes
            files.n_relationships += graph.n_edges
    files.seconds = time.perf_counter() - started
    return files


def _write_family(
    directory: Path, network_id: str, family: str, mge: MultipartiteGraph, graph: MultipartiteGraph
) -> tuple[str, str]:
    fam = dm.GRAPH_FAMILIES[family]
    space = fam.network_label(network_id)
    stem = fam.unit_file
    sizes = np.array([p.size for p in graph.partitions], dtype=np.int64)
    uid = np.arange(graph.n_nodes, dtype=np.int64)
    part = graph.node_partition.astype(np.int64)
    columns: dict[str, pa.Array] = {
        "id": pa.array(uid),
        "network_id": _repeat_strings([network_id], np.array([graph.n_nodes])),
        "uid": pa.array(uid),
        "p": pa.array(part),
        "i": pa.array(graph.node_unit.astype(np.int64)),
    }
    header = [f":ID({space})", "network_id", "uid:long", "p:long", "i:long"]
    if fam.rel_type is None:  # the MGE: layered labels L<p>
        labels = [
            f"{fam.unit_label};{dm.partition_label(p.index)};{space}" for p in graph.partitions
        ]
        columns["labels"] = _repeat_strings(labels, sizes)
        header.append(":LABEL")
    else:
        side_layer, side_name = dm.rolled_sides(mge, graph)
        columns["layer"] = pa.array(np.asarray(side_layer, dtype=np.int64)[part])
        columns["side"] = _repeat_strings(side_name, sizes)
        columns["labels"] = _repeat_strings(
            [f"{fam.unit_label};{space}"], np.array([graph.n_nodes])
        )
        header += ["layer:long", "side", ":LABEL"]
    types, layers = dm.block_types_and_layers(graph, mge)
    nodes = _write_table(directory, f"{stem}_{network_id}", header, pa.table(columns))

    counts = np.array([b.n_edges for b in graph.blocks], dtype=np.int64)
    rel_table = pa.table(
        {
            "src": pa.array(graph.src.astype(np.int64)),
            "dst": pa.array(graph.dst.astype(np.int64)),
            "type": _repeat_strings(types, counts),
            "w": pa.array(graph.weight.astype(np.float64)),
            "layer": pa.array(np.repeat(np.asarray(layers, dtype=np.int64), counts)),
        }
    )
    rel_header = [f":START_ID({space})", f":END_ID({space})", ":TYPE", "w:double", "layer:long"]
    rels = _write_table(
        directory, f"{stem.replace('units', 'rels')}_{network_id}", rel_header, rel_table
    )
    return nodes, rels


# ------------------------------------------------------------------------- import


@dataclass
class BulkResult:
    networks: int
    nodes: int
    relationships: int
    write_seconds: float
    import_seconds: float
    restart_seconds: float
    schema_seconds: float

    @property
    def relationships_per_second(self) -> float:
        total = self.write_seconds + self.import_seconds
        return self.relationships / total if total > 0 else 0.0


def bulk_load(
    networks: Sequence[BulkNetwork],
    *,
    overwrite: bool = False,
    workdir: str | Path | None = None,
    keep_files: bool = False,
    threads: int = 2,
) -> BulkResult:
    """Build the local stack's database from scratch with the offline importer.

    **Replaces the entire database** (Community Edition has one): every study
    and network already stored is gone afterwards. Requires ``overwrite=True``.
    Stops the local server, imports, restarts it and creates the schema.
    """
    if overwrite is not True:
        raise ValidationError(
            "bulk_load REPLACES the whole Neo4j database (Community Edition has one database and "
            "the offline importer rebuilds it): every stored network would be lost. Pass "
            "overwrite=True (CLI: --overwrite) if that is what you want; otherwise use the "
            "streaming exporter (prunegraph export without --bulk)."
        )
    from prunegraph import stack
    from prunegraph.queries.schema import ensure_schema
    from prunegraph.queries.store import Store

    paths = stack.stack_paths()
    if not (paths.conf_dir / "neo4j.conf").is_file():
        raise StackError(
            "The local stack has never been started (no neo4j.conf); run `prunegraph db start` once."
        )
    directory = Path(workdir) if workdir else paths.home / "bulk" / time.strftime("%Y%m%d-%H%M%S")
    files = write_bulk_files(networks, directory)
    try:
        stack.stop(paths)
        import_seconds = stack.import_database(
            paths, files.import_arguments(), files.directory, threads=threads
        )
    finally:
        t0 = time.perf_counter()
        stack.start(paths, echo=False)
        restart = time.perf_counter() - t0
    t0 = time.perf_counter()
    with Store.connect() as store:
        ensure_schema(store)
    schema_seconds = time.perf_counter() - t0
    if not keep_files:
        shutil.rmtree(directory, ignore_errors=True)
    return BulkResult(
        len(networks),
        files.n_nodes,
        files.n_relationships,
        files.seconds,
        import_seconds,
        restart,
        schema_seconds,
    )


def describe(files: BulkFiles) -> str:
    return json.dumps(
        {"nodes": files.n_nodes, "relationships": files.n_relationships, "files": len(files.nodes)}
    )
