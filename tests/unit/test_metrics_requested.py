"""The evaluation context knows which metrics were asked for (lockstep spectra only when both are)."""

from __future__ import annotations

import pytest

from prunegraph.queries import topometrics
from prunegraph.queries._structure import GraphStructure
from prunegraph.queries.metric_registry import DEFINITIONS, MetricContext, evaluate
from prunegraph.queries.metrics import _warm_up_graph


@pytest.fixture()
def pair_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each spectral_pair call also solved the radius."""
    calls: list[bool] = []
    real = topometrics.spectral_pair

    def counting(st, *args, **kwargs):
        calls.append(bool(kwargs.get("radius", True)))
        return real(st, *args, **kwargs)

    monkeypatch.setattr(topometrics, "spectral_pair", counting)
    return calls


def _run(names: list[str]) -> tuple[MetricContext, dict]:
    ctx = MetricContext(GraphStructure(_warm_up_graph()), budget=1e7)
    out = evaluate(ctx, [DEFINITIONS[n] for n in names])
    return ctx, out


def test_evaluate_records_the_requested_metrics() -> None:
    ctx, _ = _run(["sink", "kcore"])
    assert ctx.requested == frozenset({"sink", "kcore"})
    assert MetricContext(GraphStructure(_warm_up_graph()), budget=1.0).requested is None


def test_gap_alone_does_not_solve_the_radius(pair_calls: list[bool]) -> None:
    _, alone = _run(["spectral_gap"])
    assert pair_calls == [False]
    _, both = _run(["spectral_gap", "spectral_radius"])
    assert pair_calls == [False, True]  # one solve gave both
    assert alone["spectral_gap"].value == pytest.approx(both["spectral_gap"].value, rel=1e-7)
    single = topometrics.spectral_radius(GraphStructure(_warm_up_graph()))
    assert both["spectral_radius"].value == pytest.approx(single, rel=1e-6)
