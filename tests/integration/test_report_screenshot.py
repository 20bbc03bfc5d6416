"""The report as a person sees it: rendered by headless Chromium, the first screen is not blank.

Needs no database: the report is built from a synthetic feature table. It lives in the
integration tier because that tier installs Chromium (``make test-deps``); without
Chromium it skips, except under CI, where it fails. The screenshot is kept under
``artifacts/`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from prunegraph.analysis.features import load_features
from prunegraph.analysis.report import OKABE_ITO, write_report
from prunegraph.analysis.synthetic import make_synthetic_features

WIDTH, HEIGHT = 1280, 2000
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    binary = _chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; `make test` installs it (apt-get install chromium).")
        pytest.skip("chromium is not installed (run `make test`, which installs it)")
    frame, layers = make_synthetic_features(
        architectures=("conv6", "resnet20"),
        datasets=("cifar10",),
        pruners=("snip", "grasp", "synflow", "uniform", "er"),
        sparsities=(0.8, 0.9, 0.95),
        n_seeds=2,
        n_layers=5,
        return_layers=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load_features(frame, layers=layers)
    report = write_report(
        table,
        tmp_path / "report",
        n_repeats=2,
        n_splits=3,
        regressors=("linear", "ridge"),
        feature_sets=("mge", "density"),
        xgboost_estimators=5,
        n_jobs=1,
    )
    shot = tmp_path / "report.png"
    done = subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            f"--screenshot={shot}",
            f"--window-size={WIDTH},{HEIGHT}",
            report.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert shot.is_file(), (
        f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-800:]}"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report_first_screen.png")
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (WIDTH, HEIGHT)
        pixels = np.asarray(image.convert("RGB"), dtype=float)
    assert shot.stat().st_size > 50_000  # text and plots, not an empty page (~5 kB)
    assert pixels.std() > 25  # not blank: a white page has sd 0
    not_white = (pixels < 235).any(axis=2)
    assert not_white.mean() > 0.03
    assert not_white[: HEIGHT // 2].mean() > 0.03  # the first screen is used, not scrolled away
    # The findings box (CSS background #f2f6fa) sits at the top of the page.
    box = np.all(np.abs(pixels[: HEIGHT // 3] - _rgb("#f2f6fa")) <= 2, axis=2)
    assert box.mean() > 0.10
    # Plots were decoded and drawn: Okabe-Ito colours other than the blue of the CSS appear.
    plotted = sum(
        int(np.all(np.abs(pixels - _rgb(c)) <= 6, axis=2).sum())
        for c in OKABE_ITO[1:4]  # orange, bluish green, vermillion
    )
    assert plotted > 2_000
