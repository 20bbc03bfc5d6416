"""ln_communicability compiled on the shared undirected pattern: the scipy matrix's values to rounding."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _metric_graphs import build, full, random_layered

from prunegraph.queries._structure import GraphStructure
from prunegraph.queries.paths import (
    _lanczos_ln_exp_entry,
    _terminal_sides,
    _with_terminals,
    ln_communicability,
)


def dense_value(g):
    """``ln [exp(A_u)]_{s,t}`` from the full eigendecomposition of the matrix with terminals."""
    a = _with_terminals(g).toarray()
    lam, phi = np.linalg.eigh(a)
    s, t = g.n_nodes, g.n_nodes + 1
    top = lam.max()
    return top + math.log(float((phi[s] * phi[t] * np.exp(lam - top)).sum()))


def matrix_value(g):
    """The Python Lanczos on the scipy CSR matrix with the terminals appended (the former path)."""
    n = g.n_nodes
    return _lanczos_ln_exp_entry(_with_terminals(g), n, n + 1, _terminal_sides(g))


@pytest.mark.parametrize(("seed", "skip"), [(0, False), (1, False), (2, True), (3, True)])
def test_pattern_operator_matches_the_matrix_operator(seed, skip):
    g = random_layered(seed, sizes=(9, 25, 20, 7), density=0.35, skip=skip)
    st = GraphStructure(g)
    value = ln_communicability(g, st)
    assert value == pytest.approx(matrix_value(g), rel=1e-13)
    assert value == pytest.approx(dense_value(g), rel=1e-11)
    assert ln_communicability(g) == value  # with or without a shared structure


def test_parallel_edges_count_once():
    pairs = [(0, 0), (0, 0), (1, 0), (1, 1), (1, 1)]
    g = build([2, 2, 1], [(0, 1, pairs, None, "conv"), (1, 2, [(0, 0), (1, 0)], None, "conv")])
    simple = build(
        [2, 2, 1],
        [(0, 1, sorted(set(pairs)), None, "conv"), (1, 2, [(0, 0), (1, 0)], None, "conv")],
    )
    assert ln_communicability(g) == pytest.approx(ln_communicability(simple), rel=1e-14)
    assert ln_communicability(g) == pytest.approx(dense_value(simple), rel=1e-11)


def test_growing_the_basis_changes_nothing(monkeypatch):
    from prunegraph.queries import paths

    g = random_layered(5, sizes=(10, 30, 30, 10), density=0.3, skip=True)
    value = ln_communicability(g)
    monkeypatch.setattr(paths, "LANCZOS_FIRST_ROWS", 1)  # grown at steps 1, 2, 4, 8, 16...
    assert ln_communicability(g) == value
    assert value == pytest.approx(dense_value(g), rel=1e-11)


def test_self_loops_take_the_matrix_path():
    g = build([3, 3], [(0, 1, full(3, 3), None, "linear"), (1, 1, [(0, 0), (1, 2)], None, "x")])
    assert _terminal_sides(g) is None
    assert ln_communicability(g) == pytest.approx(dense_value(g), rel=1e-11)


def test_one_partition_joins_both_terminals():
    g = build([4], [(0, 0, [(0, 1), (2, 3)], None, "x")])
    assert ln_communicability(g) == pytest.approx(dense_value(g), rel=1e-11)


def test_no_path_is_null_and_no_partition_is_null():
    g = build([2, 2, 2], [(0, 1, [(0, 0)], None, "conv"), (1, 2, [(1, 1)], None, "conv")])
    assert ln_communicability(g) is None
    assert ln_communicability(build([], [])) is None


def test_engine_value_is_the_standalone_value():
    from prunegraph.queries.metrics import compute_metrics

    g = random_layered(4, sizes=(8, 16, 16, 8), density=0.4, skip=True)
    df = compute_metrics(g, write=False)
    row = df[df["metric"] == "ln_communicability"]
    assert float(row["value"].iloc[0]) == pytest.approx(ln_communicability(g), rel=1e-14)


def test_zero_weight_edges_are_edges():
    """The pattern keeps an edge whose weight is 0, as the matrix with the terminals does."""
    g = build(
        [3, 3, 2],
        [
            (0, 1, full(3, 3), np.zeros(9), "linear"),
            (1, 2, full(3, 2), np.array([0, 1, 0, 2, 0, 0.0]), "linear"),
        ],
    )
    assert ln_communicability(g) == pytest.approx(matrix_value(g), rel=1e-13)
    assert ln_communicability(g) == pytest.approx(dense_value(g), rel=1e-11)
