"""Draw a small graph encoding layer by layer (Cunegatti et al. 2024, Figure 1; Cunegatti et al. 2023, Figure 13).

Partitions are columns (left to right in order), units are dots stacked in
flat-index order (channel-major, so channels appear as contiguous runs, with a
small gap between channels), and edges are thin straight lines coloured by
their block's kind. Uses matplotlib's object API (no pyplot, no GUI backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from prunegraph.errors import ValidationError
from prunegraph.loader.graph import MultipartiteGraph

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Colour of the edges of each block kind (pooled blocks use the second shade).
KIND_COLOURS = {
    "conv": ("#1f77b4", "#6baed6"),
    "linear": ("#2ca02c", "#74c476"),
    "skip": ("#ff7f0e", "#fdae6b"),
}
_FORMATS = (".png", ".svg", ".pdf")


def node_positions(graph: MultipartiteGraph, *, channel_gap: float = 0.5) -> np.ndarray:
    """``(n_nodes, 2)`` drawing coordinates: x = partition, y in [0, 1] (top = unit 0)."""
    xy = np.empty((graph.n_nodes, 2), dtype=np.float64)
    for p in graph.partitions:
        if p.size == 0:
            continue
        units = np.arange(p.size)
        per_channel = p.size // p.shape[0] if len(p.shape) > 1 else p.size
        channel = units // per_channel
        slot = units + channel * channel_gap  # a gap between channels shows the tensor layout
        span = max(float(slot[-1]), 1.0)
        y = 1.0 - slot / span if p.size > 1 else np.array([0.5])
        xy[p.offset : p.offset + p.size, 0] = p.index
        xy[p.offset : p.offset + p.size, 1] = y
    return xy


def draw_graph(
    graph: MultipartiteGraph,
    out: str | Path | None = None,
    *,
    max_nodes: int = 5_000,
    max_edges: int = 50_000,
    title: str | None = None,
    width: float | None = None,
    height: float = 6.0,
    dpi: int = 150,
) -> Figure:
    """Draw ``graph`` with partitions as columns and return the figure (saved to ``out``).

    Parameters
    ----------
    graph : MultipartiteGraph
        Any encoding (MGE or rolled); the rolled ones draw one bipartite pair per layer.
    out : path, optional
        ``.png``, ``.svg`` or ``.pdf`` file to write.
    max_nodes, max_edges : int
        Refuse larger graphs: a picture of more edges is a grey blur and slow to render.

    Raises
    ------
    ValidationError
        The graph is too large, or ``out`` has an unsupported suffix.
    """
    if not isinstance(graph, MultipartiteGraph):
        raise ValidationError(
            f"draw_graph needs a MultipartiteGraph. Got {type(graph).__name__} instead."
        )
    if graph.n_nodes > max_nodes or graph.n_edges > max_edges:
        raise ValidationError(
            f"This graph is too large to draw: {graph.n_nodes:,} nodes and {graph.n_edges:,} "
            f"edges (limits: max_nodes={max_nodes:,}, max_edges={max_edges:,}). Encode a "
            "smaller input (e.g. --input-shape 1,8,8), a sparser mask, or raise the limits."
        )
    if out is not None and Path(out).suffix.lower() not in _FORMATS:
        raise ValidationError(
            f"The picture must be saved as {', '.join(_FORMATS)}. Got '{Path(out).name}' instead."
        )
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    n_cols = max(graph.n_partitions, 1)
    fig = Figure(figsize=(width or max(4.0, 1.6 * n_cols), height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xy = node_positions(graph)
    alpha = float(np.clip(60.0 / np.sqrt(max(graph.n_edges, 1)), 0.05, 0.8))
    legend = []
    for kind, (plain, pooled) in KIND_COLOURS.items():
        for is_pooled, colour in ((False, plain), (True, pooled)):
            blocks = [
                b for b in graph.blocks if b.kind == kind and (b.pool is not None) == is_pooled
            ]
            if not blocks:
                continue
            idx = np.concatenate([np.arange(b.start, b.stop) for b in blocks])
            segments = np.stack((xy[graph.src[idx]], xy[graph.dst[idx]]), axis=1)
            ax.add_collection(
                LineCollection(list(segments), colors=colour, linewidths=0.4, alpha=alpha)
            )
            label = f"{kind} (pooled)" if is_pooled else kind
            legend.append(Line2D([0], [0], color=colour, lw=1.5, label=label))
    size = float(np.clip(400.0 / np.sqrt(max(graph.n_nodes, 1)), 0.5, 30.0))
    ax.scatter(xy[:, 0], xy[:, 1], s=size, c="black", zorder=3, linewidths=0)
    ax.set_xticks(range(n_cols))
    ax.set_xticklabels(
        [f"{p.name}\n{'x'.join(map(str, p.shape))}" for p in graph.partitions],
        fontsize=7, rotation=45 if n_cols > 8 else 0,
    )  # fmt: skip
    ax.set_yticks([])
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(-0.05, 1.05)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if legend:
        ax.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.12 if n_cols <= 8 else -0.25),
                  ncol=len(legend), fontsize=7, frameon=False)  # fmt: skip
    ax.set_title(
        title or f"{graph.kind.upper()}: {graph.n_nodes:,} nodes, {graph.n_edges:,} edges",
        fontsize=9,
    )
    fig.tight_layout()
    if out is not None:
        fig.savefig(Path(out))
    return fig
