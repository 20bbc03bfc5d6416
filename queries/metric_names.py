"""Metric names by section, read off the metric registry, and the graph column prefixes.

``SECTION_A`` ... ``SECTION_D`` are the base names of the registered metrics
of each section (see ``docs/metrics.md``), in registration order. They are
looked up on first access (:pep:`562`), which imports the metric engine: the
names are defined once, by the registrations next to the metric functions
(:mod:`prunegraph.queries.metric_registry`). Each access returns the current
registry contents, so a metric registered later shows up in a later lookup.

* Section A: topometrics of a whole graph (Cunegatti, Farina, Bucur and Iacca,
  2024, TMLR, Table 2).
* Section B: per-layer Ramanujan metrics on the rolled bipartite graphs
  ("Revisiting the Lottery Ticket Hypothesis: A Ramanujan Graph Perspective").
* Section C: pairwise stability of two networks (Cunegatti, Bucur and Iacca, 2023).
* Section D: path metrics of the MGE as a DAG (Janik and Nowak).
"""

from __future__ import annotations

from typing import Any

from prunegraph.queries.data_model import GRAPH_FAMILIES

#: Column prefix of each encoding's network-scope metrics in the wide table
#: (``GraphFamily.metric_prefix``: ``{"mge": "", "rolled": "rolled_", "rolled_channel": "ch_"}``).
GRAPH_PREFIXES: dict[str, str] = {k: f.metric_prefix for k, f in GRAPH_FAMILIES.items()}
#: Column prefix of per-layer metrics on each rolled encoding (network means ``mean_<prefix><name>``;
#: ``GraphFamily.layer_metric_prefix``: ``{"rolled": "", "rolled_channel": "ch_"}``).
LAYER_PREFIXES: dict[str, str] = {
    k: f.layer_metric_prefix for k, f in GRAPH_FAMILIES.items() if f.layer_metric_prefix is not None
}

_SECTIONS = {"SECTION_A": "A", "SECTION_B": "B", "SECTION_C": "C", "SECTION_D": "D"}


def section(name: str) -> tuple[str, ...]:
    """Base names of the registered metrics of section ``name`` (``'A'`` ... ``'D'``)."""
    import prunegraph.queries.metrics  # noqa: F401 - registers the built-in metrics
    from prunegraph.queries.metric_registry import SECTIONS, section_names

    if name not in SECTIONS:
        from prunegraph.errors import UnknownNameError

        raise UnknownNameError("metric section", name, SECTIONS)
    return section_names(name)


def __getattr__(name: str) -> Any:
    if name in _SECTIONS:
        return section(_SECTIONS[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SECTION_A: tuple[str, ...]
SECTION_B: tuple[str, ...]
SECTION_C: tuple[str, ...]
SECTION_D: tuple[str, ...]
