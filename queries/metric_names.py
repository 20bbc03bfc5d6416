"""The metric contract's names (``spec/topometrics.md``), in one place.

Pure constants, no heavy imports: the engines (``topometrics``, ``ramanujan``,
``paths``) and the analysis layer's feature table all read them from here.
"""

from __future__ import annotations

#: Section A: topometrics of the whole multipartite graph (seed 001, Table 2).
SECTION_A: tuple[str, ...] = (
    "sink",
    "source",
    "disconnected",
    "r_out",
    "r_in",
    "n1",
    "n2",
    "motif3",
    "motif4",
    "kcore",
    "strength",
    "components",
    "component_size",
    "cut_edges",
    "cut_nodes",
    "spectral_gap",
    "spectral_radius",
)

#: Section B: per-layer metrics on the rolled bipartite graphs (seed 001 4.1, seed 004).
SECTION_B: tuple[str, ...] = (
    "layer_density",
    "delta_s",
    "delta_r",
    "delta_s_rel",
    "delta_r_rel",
    "delta_r_imdb",
    "lambda_imsg",
    "lambda2_nlap",
)

#: Section C: pairwise stability (seed 000, eq. 4).
SECTION_C: tuple[str, ...] = ("stability_jaccard", "stability_overlap")

#: Section D: path metrics (seed 003, Table 6).
SECTION_D: tuple[str, ...] = (
    "log_paths",
    "mean_path",
    "max_path",
    "edge_connectivity",
    "mean_degree",
    "ln_communicability",
    "pca_elongation",
)

#: Column prefix of each encoding's metrics in the wide table.
GRAPH_PREFIXES: dict[str, str] = {"mge": "", "rolled": "rolled_", "rolled_channel": "ch_"}
