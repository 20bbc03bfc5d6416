"""``prunegraph analyze``: --weights (cache folder or CSV) and report --stability from the CLI."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _analysis_helpers import SMALL

from prunegraph.analysis.synthetic import make_synthetic_features
from prunegraph.analysis.weights import WEIGHT_COLUMNS, weight_features
from prunegraph.cli import analyze as A
from prunegraph.cli import build_parser, main


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A small synthetic feature table on disk and a study cache with one entry per network."""
    root = tmp_path_factory.mktemp("analyze-inputs")
    frame = make_synthetic_features(**SMALL)  # type: ignore[arg-type]
    assert isinstance(frame, pd.DataFrame)
    features = root / "features.csv"
    frame.to_csv(features, index=False)
    cache = root / "cache" / "networks"
    cache.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k, network_id in enumerate(frame["network_id"].astype(str)):
        state, masks = {}, {}
        for layer, shape in (("conv.weight", (2, 1, 3, 3)), ("fc.weight", (4, 6))):
            scale = 0.1 + 0.01 * k * (2 if layer == "fc.weight" else 1)
            state[layer] = torch.tensor(rng.normal(scale=scale, size=shape), dtype=torch.float32)
            masks[layer] = torch.tensor(rng.random(shape) < 0.5)
            masks[layer].view(-1)[0] = True
        torch.save({"masks": masks, "state_dict": state}, cache / f"{network_id}.pt")
    return {"frame": frame, "features": features, "cache": root / "cache", "root": root}


def _args(*argv: str) -> object:
    return build_parser().parse_args(list(argv))


def _load(*argv: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return A._load(_args(*argv))


def test_weights_from_a_cache_folder_reach_the_regression(tables, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    rc = main(
        [
            "analyze", "regress", "--features", str(tables["features"]),
            "--weights", str(tables["cache"]), "--feature-sets", "weights",
            "--scenarios", "all", "--regressors", "linear", "--n-splits", "2",
            "--n-repeats", "1", "--out", str(out),
        ]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    result = pd.read_csv(out / "regression.csv")
    assert set(result["feature_set"]) == {"weights"}
    linear = result[result["regressor"] == "linear"]
    assert len(linear) == 1 and int(linear["n_features"].iloc[0]) >= 10
    assert np.isfinite(linear["r2_mean"]).all()
    # the values are the cache's statistics, per network
    table = _load(
        "analyze", "regress", "--features", str(tables["features"]),
        "--weights", str(tables["cache"]), "--out", str(tmp_path),
    )  # fmt: skip
    expected = weight_features(tables["cache"], table.data["network_id"])
    got = table.data.set_index("network_id")
    present = [c for c in WEIGHT_COLUMNS if c in got.columns]
    assert len(present) >= 10
    pd.testing.assert_frame_equal(got[present], expected[present], check_names=False)


def test_a_cache_lacking_networks_is_refused_naming_them(tables, tmp_path: Path, capsys) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    ids = list(tables["frame"]["network_id"].astype(str))
    for network_id in ids[3:]:
        (partial / f"{network_id}.pt").symlink_to(tables["cache"] / "networks" / f"{network_id}.pt")
    rc = main(
        [
            "analyze", "rank", "--features", str(tables["features"]),
            "--weights", str(partial), "--out", str(tmp_path / "out"),
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert f"lacks the entry of 3 of the {len(ids)} networks" in err
    assert all(network_id in err for network_id in ids[:3])
    assert not (tmp_path / "out").exists()


def test_weights_from_a_csv(tables, tmp_path: Path, capsys) -> None:
    ids = tables["frame"]["network_id"].astype(str)
    values = weight_features(tables["cache"], ids).reset_index()
    values["w_mean"] = np.arange(len(values), dtype=float)  # recognisable values
    path = tmp_path / "weights.csv"
    values.to_csv(path, index=False)
    table = _load(
        "analyze", "classify", "--features", str(tables["features"]),
        "--weights", str(path), "--out", str(tmp_path),
    )  # fmt: skip
    got = table.data.set_index("network_id")["w_mean"]
    assert got.to_dict() == dict(zip(values["network_id"], values["w_mean"], strict=True))

    values.iloc[2:].to_csv(path, index=False)
    rc = main(
        [
            "analyze", "classify", "--features", str(tables["features"]),
            "--weights", str(path), "--out", str(tmp_path / "o"),
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and f"lacks 2 of the {len(ids)} networks" in err
    assert ids.iloc[0] in err and ids.iloc[1] in err

    values.assign(w_bogus=1.0).to_csv(path, index=False)
    rc = main(["analyze", "rank", "--features", str(tables["features"]), "--weights", str(path),
               "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2 and "unknown column(s) w_bogus" in capsys.readouterr().err


def _pairs(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["architecture", "pruner", "sparsity"]
    rows = []
    for (arch, pruner, sparsity), part in frame.groupby(keys):
        a, b = sorted(part["network_id"].astype(str))[:2]
        jaccard = 0.2 + 0.5 * float(sparsity) * (1 + len(pruner) / 10)
        rows.append(
            {"network_a": a, "network_b": b, "setting": "init", "architecture": arch,
             "pruner": pruner, "sparsity": sparsity, "jaccard": jaccard,
             "overlap": min(1.0, jaccard + 0.1)}
        )  # fmt: skip
    return pd.DataFrame(rows)


def test_report_passes_the_stability_pairs_of_a_file(
    tables, tmp_path: Path, monkeypatch, capsys
) -> None:
    from prunegraph.analysis import report

    pairs = _pairs(tables["frame"])
    path = tmp_path / "pairs.csv"
    pairs.to_csv(path, index=False)
    seen: dict[str, object] = {}

    def fake_write_report(table, out, **kwargs):
        seen.update(kwargs)
        return Path(out) / "report.html"

    monkeypatch.setattr(report, "write_report", fake_write_report)
    base = ["analyze", "report", "--features", str(tables["features"]), "--out", str(tmp_path)]
    assert main([*base, "--stability", str(path)]) == 0
    got = seen["stability"]
    assert isinstance(got, pd.DataFrame)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), pairs, check_dtype=False)
    # a feature file without --stability: no pairs, and no store is contacted
    monkeypatch.setattr(
        "prunegraph.queries.store.Store.connect", lambda *a, **k: pytest.fail("store contacted")
    )
    assert main(base) == 0 and seen["stability"] is None
    # pairs without the columns the section needs: refused before any analysis runs
    pairs.drop(columns=["overlap"]).to_csv(path, index=False)
    seen.clear()
    assert main([*base, "--stability", str(path)]) == 2
    assert "lack column(s) overlap" in capsys.readouterr().err and not seen


def test_report_with_stability_file_has_the_section(tables, tmp_path: Path, capsys) -> None:
    path = tmp_path / "pairs.csv"
    _pairs(tables["frame"]).to_csv(path, index=False)
    out = tmp_path / "report"
    rc = main(
        [
            "analyze", "report", "--features", str(tables["features"]), "--sections",
            "ramanujan", "--stability", str(path), "--n-splits", "2", "--n-repeats", "1",
            "--jobs", "1", "--out", str(out),
        ]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    table = pd.read_csv(out / "stability_by_pruner.csv")
    assert len(table) == len(_pairs(tables["frame"])) and set(table["setting"]) == {"init"}
    assert "stability_by_pruner" in (out / "report.html").read_text()
