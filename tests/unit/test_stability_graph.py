"""The vectorised pairwise stability pass agrees with the in-process ``stability`` function."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest
from _metric_graphs import build, full, random_layered

from prunegraph.analysis.stability_report import KEYS, PAIR_COLUMNS, stability_by_pruner
from prunegraph.errors import PrunegraphError
from prunegraph.queries import data_model as dm
from prunegraph.queries.library import load_query
from prunegraph.queries.stability import (
    SETTINGS,
    layer_keys,
    pairwise_stability,
    similar_rows,
    stability,
)


def _ids(n: int) -> list[str]:
    return [f"{i:016x}" for i in range(1, n + 1)]


def _graphs(seeds, density=0.4):
    return [random_layered(s, density=density) for s in seeds]


def test_pairwise_equals_in_process_on_random_masks() -> None:
    graphs = [*_graphs(range(6)), random_layered(9, density=0.9), random_layered(10, density=0.05)]
    jac, ovl = pairwise_stability([layer_keys(g) for g in graphs])
    assert jac.shape == ovl.shape == (len(graphs), len(graphs))
    for a, b in itertools.combinations(range(len(graphs)), 2):
        ref = stability(graphs[a], graphs[b])
        assert jac[a, b] == pytest.approx(ref["stability_jaccard"], abs=1e-12)
        assert ovl[a, b] == pytest.approx(ref["stability_overlap"], abs=1e-12)
        assert jac[b, a] == jac[a, b] and ovl[b, a] == ovl[a, b]
    np.testing.assert_allclose(np.diag(jac), 1.0)
    # distinct random masks are not identical: the pass does not return a constant
    assert jac[0, 1] < 1.0 and jac.min() < ovl.max()


def test_pairwise_handles_empty_layers_like_the_reference() -> None:
    sizes = [3, 4, 2]
    a = build(sizes, [(0, 1, full(3, 4), None, "linear"), (1, 2, [], None, "linear")])
    b = build(sizes, [(0, 1, [(0, 0), (1, 1)], None, "linear"), (1, 2, [(0, 0)], None, "linear")])
    empty = build(sizes, [(0, 1, [], None, "linear"), (1, 2, [], None, "linear")])
    jac, ovl = pairwise_stability([layer_keys(g) for g in (a, b, empty)])
    ref = stability(a, b)
    assert jac[0, 1] == pytest.approx(ref["stability_jaccard"])
    assert ovl[0, 1] == pytest.approx(ref["stability_overlap"])
    assert jac[0, 2] == pytest.approx(0.0) and ovl[0, 2] == pytest.approx(0.0)
    assert np.isnan(jac[2, 2]) and stability(empty, empty)["stability_jaccard"] is None


def test_similar_rows_both_settings_match_reference() -> None:
    graphs = _graphs(range(6))
    ids = _ids(6)
    networks = dict(zip(ids, graphs, strict=True))
    # init: 2 groups of 3 seeds (pruner p0 / p1); data: pairs across the two groups
    init = {nid: ("p0" if k < 3 else "p1") for k, nid in enumerate(ids)}
    data = {nid: ("seed", k % 3) for k, nid in enumerate(ids)}
    rows = similar_rows(networks, {"init": init, "data": data})
    got = {(r["a"], r["b"], r["setting"]): r for r in rows}
    expected_init = [(a, b) for a, b in itertools.combinations(ids, 2) if init[a] == init[b]]
    expected_data = [(a, b) for a, b in itertools.combinations(ids, 2) if data[a] == data[b]]
    assert set(got) == {(a, b, "init") for a, b in expected_init} | {
        (a, b, "data") for a, b in expected_data
    }
    assert len(expected_init) == 6 and len(expected_data) == 3
    for (a, b, _), row in got.items():
        assert a < b
        ref = stability(networks[a], networks[b])
        assert row["jaccard"] == pytest.approx(ref["stability_jaccard"], abs=1e-12)
        assert row["overlap"] == pytest.approx(ref["stability_overlap"], abs=1e-12)


def test_similar_rows_never_pairs_different_architectures() -> None:
    small = random_layered(0, sizes=(6, 8, 8, 6))
    large = random_layered(1, sizes=(6, 9, 8, 6))
    ids = _ids(2)
    rows = similar_rows(
        dict(zip(ids, (small, large), strict=True)), {"data": dict.fromkeys(ids, 0)}
    )
    assert rows == []


def test_similar_rows_validates() -> None:
    g = random_layered(0)
    with pytest.raises(PrunegraphError, match="setting"):
        similar_rows({_ids(1)[0]: g}, {"seeds": {}})
    with pytest.raises(PrunegraphError, match="network_id"):
        similar_rows({"not-an-id": g}, {"init": {}})
    with pytest.raises(PrunegraphError, match="same architecture"):
        pairwise_stability([layer_keys(g), layer_keys(g)[:1]])


def test_vocabulary_in_data_model() -> None:
    assert dm.SIMILAR == "SIMILAR"
    assert dm.SIMILAR_PROPERTIES == ("setting", "jaccard", "overlap")
    assert SETTINGS == ("init", "data")
    write = load_query("similar_write")
    assert f"[r:{dm.SIMILAR} {{setting: row.setting}}]" in write.text and "MERGE" in write.text
    assert write.params == ("rows",)
    for name in ("similar_pairs", "stability_by_pruner"):
        q = load_query(name)
        assert q.params == ("study",) and f":{dm.SIMILAR}]" in q.text


def _pairs() -> pd.DataFrame:
    rows = [
        ("init", "mlp", "snip", 0.5, 0.8, 0.9),
        ("init", "mlp", "snip", 0.5, 0.6, 0.7),
        ("init", "mlp", "random", 0.5, 0.2, 0.3),
        ("init", "mlp", "random", 0.9, 0.1, 0.4),
        ("data", "mlp", "snip", 0.5, 0.5, 0.6),
    ]
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS))


def test_stability_by_pruner_aggregates_pairs() -> None:
    table = stability_by_pruner(_pairs())
    assert list(table.columns) == [*KEYS, "pairs", "sj_mean", "sj_sd", "so_mean", "so_sd"]
    assert len(table) == 4
    snip = table[(table["setting"] == "init") & (table["pruner"] == "snip")].iloc[0]
    assert snip["pairs"] == 2
    assert snip["sj_mean"] == pytest.approx(0.7) and snip["so_mean"] == pytest.approx(0.8)
    assert snip["sj_sd"] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    single = table[(table["pruner"] == "random") & (table["sparsity"] == 0.9)].iloc[0]
    assert single["pairs"] == 1 and np.isnan(single["sj_sd"])
    with pytest.raises(PrunegraphError, match="No stability pairs"):
        stability_by_pruner(_pairs().iloc[:0])
    with pytest.raises(PrunegraphError, match="overlap"):
        stability_by_pruner(_pairs().drop(columns="overlap"))


def test_report_has_the_stability_section() -> None:
    from prunegraph.analysis.stability_report import stability_section

    class _Collect:
        def __init__(self) -> None:
            self.tables: dict[str, pd.DataFrame] = {}
            self.figures: list[str] = []
            self.texts: list[str] = []

        def text(self, text: str) -> None:
            self.texts.append(text)

        def table(self, frame: pd.DataFrame, name: str, *, caption: str) -> None:
            self.tables[name] = frame

        def figure(self, fig: object, caption: str) -> None:
            self.figures.append(caption)

    report = _Collect()
    stability_section(report, _pairs())
    assert list(report.tables) == ["stability_by_pruner"]
    assert len(report.tables["stability_by_pruner"]) == 4
    assert report.figures == [
        "Mean SJ vs sparsity per pruner, setting 'data'",
        "Mean SJ vs sparsity per pruner, setting 'init'",
    ]
    assert "5 pairs" in report.texts[0]


def test_write_report_hook(tmp_path) -> None:
    from _analysis_helpers import small_table

    from prunegraph.analysis.report import write_report

    path = write_report(small_table(), tmp_path, sections=(), stability=_pairs())
    page = path.read_text()
    assert "Stability per pruner and sparsity (Cunegatti et al. 2023)" in page
    assert (tmp_path / "stability_by_pruner.csv").is_file()
    stability_html = re.search(r"<section id='stability'.*?</section>", page, re.S)
    assert stability_html is not None and stability_html.group(0).count("<figure>") == 2
    empty = write_report(small_table(), tmp_path / "none", sections=(), stability=_pairs()[:0])
    assert "No stability pairs are stored" in empty.read_text()
    plain = write_report(small_table(), tmp_path / "plain", sections=())
    assert "Stability per pruner" not in plain.read_text()
