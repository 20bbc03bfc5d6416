"""Drawing a small MGE, and the 'prunegraph encode' / 'prunegraph draw' commands."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from prunegraph.cli import main
from prunegraph.errors import ValidationError
from prunegraph.loader.draw import draw_graph, node_positions
from prunegraph.loader.encoding import encode
from prunegraph.loader.graph import MultipartiteGraph


def _small_graph(kind: str = "mge") -> MultipartiteGraph:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(2 * 2 * 2, 3))  # fmt: skip
    return encode(model, None, (1, 4, 4), kind=kind)


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_draw_writes_a_picture(tmp_path, suffix):
    graph = _small_graph()
    out = tmp_path / f"g{suffix}"
    fig = draw_graph(graph, out)
    assert out.is_file() and out.stat().st_size > 1000
    ax = fig.axes[0]
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == [
        p.name for p in graph.partitions
    ]
    # one line per edge, split into one collection per (kind, pooled) pair
    assert sum(len(c.get_segments()) for c in ax.collections[:-1]) == graph.n_edges
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["conv", "linear (pooled)"]


def test_node_positions_columns_and_order():
    graph = _small_graph()
    xy = node_positions(graph)
    assert np.array_equal(xy[:, 0], graph.node_partition.astype(float))
    for p in graph.partitions:
        y = xy[p.offset : p.offset + p.size, 1]
        assert np.all(np.diff(y) < 0) and y.max() <= 1.0 and y.min() >= 0.0


def test_draw_rolled_graph(tmp_path):
    fig = draw_graph(_small_graph("rolled"), tmp_path / "r.png")
    assert len(fig.axes[0].get_xticklabels()) == 4


def test_draw_refuses_large_graphs_and_bad_suffix(tmp_path):
    graph = _small_graph()
    with pytest.raises(ValidationError, match=r"too large to draw: .* nodes .*max_edges=10"):
        draw_graph(graph, max_edges=10)
    with pytest.raises(ValidationError, match=r"must be saved as \.png, \.svg, \.pdf.*'g\.jpg'"):
        draw_graph(graph, tmp_path / "g.jpg")
    with pytest.raises(ValidationError, match="needs a MultipartiteGraph"):
        draw_graph("graph.npz")  # type: ignore[arg-type]


def test_cli_encode_then_draw(tmp_path, capsys):
    out = tmp_path / "lenet.npz"
    code = main(["encode", "--model", "lenet5", "--input-shape", "1,8,8", "--sparsity", "0.9",
                 "--out", str(out)])  # fmt: skip
    assert code == 0 and out.is_file()
    graph = MultipartiteGraph.load(out)
    assert graph.kind == "mge" and graph.meta["architecture"] == "lenet5"
    assert "nodes" in capsys.readouterr().out
    # exact per-layer sparsity of the random masks
    for b in graph.blocks:
        assert b.n_unmasked == max(1, round(0.1 * b.n_weights))
    png = tmp_path / "g.png"
    assert main(["draw", "--graph", str(out), "--out", str(png)]) == 0
    assert png.is_file()
    svg = tmp_path / "g.svg"
    assert main(["draw", "--model", "lenet5", "--input-shape", "1,8,8", "--sparsity", "0.9",
                 "--out", str(svg)]) == 0  # fmt: skip
    assert svg.read_text().lstrip().startswith("<?xml")


def test_cli_rolled_encode(tmp_path):
    out = tmp_path / "r.npz"
    assert main(["encode", "--model", "lenet5", "--input-shape", "1,8,8", "--kind",
                 "rolled_channel", "--out", str(out)]) == 0  # fmt: skip
    assert MultipartiteGraph.load(out).kind == "rolled_channel"


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["draw", "--out", str(tmp_path / "g.png")]) == 2
    assert "exactly one of --graph FILE or --model NAME" in capsys.readouterr().err
    assert (
        main(["draw", "--graph", str(tmp_path / "none.npz"), "--out", str(tmp_path / "g.png")]) == 2
    )
    assert "does not exist" in capsys.readouterr().err
    assert (
        main(
            ["encode", "--model", "lenet5", "--input-shape", "1,x,8", "--out", str(tmp_path / "a")]
        )
        == 2
    )
    assert "--input-shape must look like C,H,W" in capsys.readouterr().err
    assert main(["encode", "--model", "lenet5", "--input-shape", "1,8,8", "--sparsity", "1.5",
                 "--out", str(tmp_path / "a")]) == 2  # fmt: skip
    assert "'sparsity' parameter must be a float in the range [0, 1)" in capsys.readouterr().err
    big = tmp_path / "big.npz"
    assert main(["encode", "--model", "lenet5", "--input-shape", "1,16,16", "--out", str(big)]) == 0
    assert (
        main(["draw", "--graph", str(big), "--out", str(tmp_path / "b.png"), "--max-edges", "100"])
        == 2
    )
    assert "too large to draw" in capsys.readouterr().err
