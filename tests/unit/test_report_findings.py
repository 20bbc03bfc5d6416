"""The report leads with its findings: one headline per section, plots before folded tables."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _analysis_helpers import SMALL, small_table

from prunegraph.analysis.features import load_features
from prunegraph.analysis.report import (
    OKABE_ITO,
    plot_classification_bars,
    plot_regression_bars,
    pruner_ranks,
    ranking_headline,
    regression_headline,
    report_style,
    write_report,
)
from prunegraph.analysis.synthetic import make_synthetic_features

FAST = ("linear", "ridge")
NUMBER = re.compile(r"\d")
INTERVAL = re.compile(r"(-?\d+\.\d+) \[(-?\d+\.\d+), (-?\d+\.\d+)\]")
BUILT_IN = ("regression", "importance", "classification", "ranking", "ramanujan", "stability")


class _Page(HTMLParser):
    """Sections of the report in document order: headlines, images and folded tables."""

    def __init__(self) -> None:
        super().__init__()
        self.findings: dict[str, list[str]] = {}  # data-section -> headline texts
        self.sections: dict[str, list[tuple[str, str]]] = {}  # id -> [(event, text)]
        self.order: list[str] = []
        self._section: str | None = None
        self._capture: tuple[str, str] | None = None  # (kind, section) being read
        self._text: list[str] = []
        self._in_label = False  # the linked section name before a finding's sentence

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section = a.get("id") or ""
            self.order.append(self._section)
            self.sections.setdefault(self._section, [])
        elif tag == "li" and a.get("class") == "headline":
            self._capture, self._text = ("finding", a.get("data-section") or ""), []
        elif tag == "p" and a.get("class") == "headline":
            self._capture, self._text = ("headline", self._section or ""), []
        elif tag == "a" and self._capture is not None:
            self._in_label = True
        elif tag == "img" and self._section is not None:
            self.sections[self._section].append(("img", a.get("alt") or ""))
        elif tag == "details" and self._section is not None:
            self.sections[self._section].append(("details", a.get("class") or ""))

    def handle_data(self, data: str) -> None:
        if self._capture is not None and not self._in_label:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_label = False
        elif self._capture is not None and tag in ("li", "p"):
            kind, name = self._capture
            text = "".join(self._text).removeprefix(": ")
            if kind == "finding":
                self.findings.setdefault(name, []).append(text)
            else:
                self.sections[name].append(("headline", text))
            self._capture = None
        elif tag == "section":
            self._section = None


def _pairs() -> pd.DataFrame:
    """Stability pairs: magnitude masks agree across seeds more than er's (planted)."""
    rows = []
    for pruner, base in (("magnitude", 0.9), ("er", 0.4)):
        for k, sparsity in enumerate((0.8, 0.9)):
            rows.append(("init", "conv6", pruner, sparsity, base - 0.05 * k, base + 0.02))
    return pd.DataFrame(
        rows, columns=["setting", "architecture", "pruner", "sparsity", "jaccard", "overlap"]
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, _Page]:
    out = tmp_path_factory.mktemp("findings")
    path = write_report(
        small_table(),
        out,
        n_repeats=3,
        n_splits=3,
        regressors=FAST,
        feature_sets=("mge", "density", "ramanujan"),
        xgboost_estimators=5,
        n_jobs=1,
        stability=_pairs(),
    )
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return out, page


def test_first_screen_is_the_study_then_one_headline_per_section(built) -> None:
    out, page = built
    html = (out / "report.html").read_text(encoding="utf-8")
    assert page.order[0] == "findings"
    study = re.search(r"<p class='study'>(.*?)</p>", html)
    assert study is not None and "60 pruned networks" in study.group(1)
    assert "30 configurations" in study.group(1)
    rendered = [s for s in page.order if s != "findings"]
    assert set(BUILT_IN) <= set(rendered)
    for name in rendered:
        headlines = [text for event, text in page.sections[name] if event == "headline"]
        assert len(headlines) == 1, name
        assert page.findings.get(name) and len(page.findings[name]) == 1, name
        assert headlines[0] == page.findings[name][0], name  # the same sentence on top
        assert NUMBER.search(headlines[0]), (name, headlines[0])
    assert "failed unexpectedly" not in (out / "notes.txt").read_text()


@pytest.mark.parametrize("name", ["regression", "ranking", "ramanujan", "stability"])
def test_headlines_with_an_interval_bracket_their_number(built, name: str) -> None:
    _, page = built
    sentence = page.findings[name][0]
    match = INTERVAL.search(sentence)
    assert match, sentence
    value, lo, hi = map(float, match.groups())
    assert lo <= value <= hi or name == "ramanujan"  # ramanujan: median within [min, max]
    assert lo <= hi


def test_regression_headline_names_the_best_feature_set_with_its_csv_numbers(built) -> None:
    out, page = built
    summary = pd.read_csv(out / "regression.csv")
    cell = summary[(summary["scenario"] == "all") & (summary["regressor"] == "paper_mean")]
    small = cell["small_cell"].astype(bool)
    value = cell["r2_adj_mean"].where(~small, cell["r2_mean"])
    best = cell.loc[value.idxmax()]
    metric = "r2" if bool(best["small_cell"]) else "r2_adj"
    expected = (
        f"{best[f'{metric}_mean']:.2f} [{best[f'{metric}_lo']:.2f}, {best[f'{metric}_hi']:.2f}]"
    )
    sentence = page.findings["regression"][0]
    assert expected in sentence
    assert "MGE topometrics" in sentence  # the generator plants the signal in the topometrics
    assert "percentile interval over 3 repeats" in sentence


def test_ranking_headline_names_the_pruner_with_the_best_measured_rank(built) -> None:
    out, page = built
    scores = pd.read_csv(out / "ranking_scores.csv")
    positions: dict[str, list[int]] = {}
    for order in scores.drop_duplicates(["architecture", "dataset", "sparsity"])["true"]:
        for rank, pruner in enumerate(order.split(">"), start=1):
            positions.setdefault(pruner, []).append(rank)
    best = min(positions, key=lambda p: np.mean(positions[p]))
    assert page.findings["ranking"][0].startswith(f"{best} ranks first")
    assert "RBO" in page.findings["ranking"][0]


def test_every_section_shows_a_plot_with_alt_text_before_its_folded_tables(built) -> None:
    out, page = built
    for name in BUILT_IN:
        events = page.sections[name]
        kinds = [event for event, _ in events]
        assert "img" in kinds and ("details", "tables") in events, name
        first_img = kinds.index("img")
        assert first_img < events.index(("details", "tables")), name
    for name, events in page.sections.items():
        for event, alt in events:
            if event == "img":
                assert len(alt) > 20, (name, alt)  # a description, not a placeholder
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<link" not in html and "<script" not in html  # one self-contained file
    for name in (
        "regression.csv",
        "table3_r2_adj.csv",
        "table3_r2_adj_vs_r2.csv",
        "table3_r2.csv",
        "table3_mae.csv",
        "importance_sparsity.csv",
        "importance_architecture.csv",
        "permutation_importance.csv",
        "classification.csv",
        "ranking_scores.csv",
        "ranking_table.csv",
        "ramanujan_correlations.csv",
        "stability_by_pruner.csv",
    ):
        assert (out / name).is_file(), name
        assert f"<p class='file'>{name}</p>" in html, name


def test_a_section_that_cannot_run_has_a_headline_saying_why(tmp_path) -> None:
    frame = make_synthetic_features(
        **(SMALL | {"architectures": ("conv6",), "sparsities": (0.9,), "n_seeds": 1})
    )
    table = load_features(frame)  # no per-layer rows: the Ramanujan section cannot run
    path = write_report(
        table,
        tmp_path,
        sections=("ramanujan",),
        n_repeats=1,
        regressors=FAST,
        xgboost_estimators=5,
    )
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    (sentence,) = page.findings["ramanujan"]
    assert sentence.startswith("Not computed:") and "per-layer rows" in sentence


def test_pruner_ranks_and_ranking_headline_on_a_hand_checked_case() -> None:
    scores = pd.DataFrame(
        {
            "architecture": ["m"] * 6,
            "dataset": ["d"] * 6,
            "sparsity": [0.5, 0.5, 0.7, 0.7, 0.9, 0.9],
            "strategy": ["mixture", "layer_density"] * 3,
            "rbo": [0.9, 0.5, 0.7, 0.5, 0.8, 0.2],
            "true": ["a>b>c", "a>b>c", "b>a>c", "b>a>c", "a>c>b", "a>c>b"],
        }
    )
    ranks = pruner_ranks(scores)
    assert list(ranks.index) == ["a", "b", "c"]
    np.testing.assert_allclose(ranks["mean_rank"], [4 / 3, 2.0, 8 / 3])
    assert ranks.loc["a", "first"] == 2 and ranks.loc["b", "first"] == 1
    sentence = ranking_headline(scores)
    assert sentence.startswith("a ranks first by measured accuracy drop: mean rank 1.3")
    assert "of 3 pruners over 3 configurations" in sentence and "first in 2" in sentence
    assert "RBO 0.80" in sentence and "layer_density 0.40" in sentence


def _summary(values: dict[str, tuple[float, float, float, bool]]) -> pd.DataFrame:
    rows = []
    for name, (mean, lo, hi, small) in values.items():
        rows.append(
            {
                "scenario": "all",
                "subset": "all",
                "feature_set": name,
                "regressor": "paper_mean",
                "small_cell": small,
                "n_repeats": 10,
                "r2_mean": mean + 0.05,
                "r2_lo": lo + 0.05,
                "r2_hi": hi + 0.05,
                "r2_adj_mean": mean,
                "r2_adj_lo": lo,
                "r2_adj_hi": hi,
            }
        )
    return pd.DataFrame(rows)


def test_regression_headline_reads_like_the_issue_example() -> None:
    summary = _summary({"density": (0.13, 0.11, 0.15, False), "mge": (0.36, 0.34, 0.38, False)})
    sentence = regression_headline(summary, protocol="grouped")
    assert sentence.startswith("Best predictor of the accuracy drop: MGE topometrics, explaining")
    assert "0.36 [0.34, 0.38] of its variance under grouped CV" in sentence
    assert sentence.endswith("; density alone 0.13.")
    small = _summary({"mge": (0.5, 0.4, 0.6, True), "density": (0.2, 0.1, 0.3, False)})
    sentence = regression_headline(small, protocol="kfold")
    assert "MGE topometrics, explaining 0.55 [0.45, 0.65]" in sentence  # unadjusted there
    assert "unadjusted R²" in sentence


def test_plots_use_the_okabe_ito_palette_and_label_their_axes() -> None:
    from matplotlib.colors import to_hex

    summary = _summary({"mge": (0.36, 0.34, 0.38, False), "density": (-3.0, -3.5, -2.5, False)})
    palette = {c.lower() for c in OKABE_ITO}
    with report_style():
        import matplotlib.pyplot as plt

        assert [to_hex(c["color"]) for c in plt.rcParams["axes.prop_cycle"]][:8] == [
            c.lower() for c in OKABE_ITO
        ]
        fig = plot_regression_bars(summary)
    ax = fig.axes[0]
    colours = {to_hex(p.get_facecolor()) for p in ax.patches}
    assert colours and colours <= palette
    assert "R²" in ax.get_ylabel()
    assert ax.get_ylim()[0] == -1.0  # the -3 bar is cut at -1 and labelled with its value
    assert any(t.get_text() == "-3" for t in ax.texts)
    result = pd.DataFrame(
        {
            "target": ["pruner", "pruner"],
            "feature_set": ["mge", "all"],
            "scenario": ["all", "all"],
            "subset": ["all", "all"],
            "balanced_accuracy_mean": [0.6, 0.7],
            "balanced_accuracy_std": [0.05, 0.04],
            "chance": [0.2, 0.2],
        }
    )
    fig = plot_classification_bars(result)
    (ax,) = fig.axes
    assert {to_hex(p.get_facecolor()) for p in ax.patches} <= palette
    assert ax.get_ylabel() and fig.axes[-1].get_xlabel()
