"""Hostile inputs at every public entry point: each ends in one line that names the problem.

The command line is driven through ``prunegraph.cli.main`` (exit status 2, one
``prunegraph: error: ...`` line on stderr, never a traceback); the Python
API through the functions a user calls, which raise a
:class:`~prunegraph.errors.PrunegraphError` whose message is one line. No
case needs the database: every input is refused before a connection is made.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from prunegraph.cli import main
from prunegraph.errors import PrunegraphError

GRID = """
[grid]
models = ["mlp"]
datasets = ["digits"]
pruners = ["random", "imp"]
sparsities = [0.5, 0.9]
seeds = [0]
"""


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str], status: int = 2) -> str:
    """Run the CLI; assert the exit status and a single error line without a traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == status, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("prunegraph: error: "), err
    return lines[0]


def _one_line(exc: pytest.ExceptionInfo[PrunegraphError]) -> str:
    message = str(exc.value)
    assert "\n" not in message and message
    return message


# --------------------------------------------------------------------------- study files
STUDIES: dict[str, tuple[str, str]] = {
    "broken TOML": ('[study\nname = "x"\n', "is not valid TOML"),
    "study name with a slash": ('[study]\nname = "a/b"\n' + GRID, "[study] name is required"),
    "study name that is ..": ('[study]\nname = ".."\n' + GRID, "[study] name is required"),
    "unknown model option": (
        '[study]\nname = "h"\n' + GRID + "[models.mlp]\nhiden = [10]\n",
        "Unknown option 'hiden' in [models.mlp]. Did you mean 'hidden'?",
    ),
    "pruner option of the wrong type": (
        '[study]\nname = "h"\n' + GRID + '[pruners.imp]\nrounds = "many"\n',
        "[pruners.imp] rounds = 'many' must be an int",
    ),
    "normalize typo": (
        '[study]\nname = "h"\n' + GRID + '[analysis]\nnormalize = "papr"\n',
        "[analysis] normalize 'papr' is not known. Did you mean 'paper'?",
    ),
    "regressor typo": (
        '[study]\nname = "h"\n' + GRID + '[analysis]\nregressors = ["xgboostt"]\n',
        "regressors entry 'xgboostt' is not known. Did you mean 'xgboost'?",
    ),
    "export selector matching nothing": (
        '[study]\nname = "h"\n' + GRID + "[export]\nfull = [{ sparsity = 0.95 }]\n",
        "full[0] selects sparsity = 0.95, which matches no network",
    ),
    "input shape too small": (
        '[study]\nname = "h"\n'
        + GRID.replace('"mlp"', '"lenet5"').replace('"digits"', '"synthetic"')
        + "[datasets.synthetic]\ninput_shape = [1, 3, 3]\nn_samples = 8\n",
        "Model 'lenet5'",
    ),
    "synthetic dataset too large for memory": (
        '[study]\nname = "h"\n'
        + GRID.replace('"digits"', '"synthetic"')
        + "[datasets.synthetic]\ninput_shape = [3, 224, 224]\nn_samples = 1000000\n",
        "[datasets.synthetic] needs about",
    ),
    "near-duplicate sparsities": (
        '[study]\nname = "h"\n' + GRID.replace("[0.5, 0.9]", "[0.5, 0.50000000001]"),
        "are the same sparsity",
    ),
    "sparsity out of range": (
        '[study]\nname = "h"\n' + GRID.replace("[0.5, 0.9]", "[0.5, 1.5]"),
        "sparsities[1]",
    ),
    "metric of a graph not stored": (
        '[study]\nname = "h"\n'
        + GRID
        + '[metrics]\nnames = ["rolled_kcore"]\n[export]\nencodings = ["rolled_channel"]\n',
        "'rolled_kcore', a metric of the rolled graph",
    ),
}


@pytest.mark.parametrize("case", sorted(STUDIES))
def test_study_validate_refuses(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body, phrase = STUDIES[case]
    path = tmp_path / "study.toml"
    path.write_text(body)
    line = _cli(["study", "validate", str(path)], capsys)
    assert phrase in line, line


def test_study_run_refuses_a_malformed_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "study.toml"
    path.write_text('[study]\nname = "h"\n' + GRID)
    line = _cli(["study", "run", str(path), "--where", "pruner"], capsys)
    assert "--where expects KEY=VALUE" in line


# --------------------------------------------------------------------------- masks
def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


@pytest.mark.parametrize(
    ("masks", "phrase"),
    [
        ({"1.weight": np.full((3, 4), 0.5), "3.weight": "dense"}, "neither 0 nor 1 (e.g. 0.5)"),
        ({"1.weight": np.ones((3, 4), bool)}, "no entry for the prunable weight '3.weight'"),
        ({"1.weight": "dense", "3.weight": "dense", "9.weight": "dense"}, "'9.weight'"),
        ({"1.weight": np.ones((4, 3), bool), "3.weight": "dense"}, "has shape (4, 3)"),
        ({"1.weight": "keep", "3.weight": "dense"}, "only string a mask may be is 'dense'"),
    ],
)
def test_encode_refuses_bad_masks(masks: dict[str, Any], phrase: str) -> None:
    from prunegraph.loader.encoding import encode

    with pytest.raises(PrunegraphError) as info:
        encode(_model(), masks, (4,))
    assert phrase in _one_line(info)


def test_cli_encode_refuses_a_masks_file_missing_a_layer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prunegraph.loader.masks import prunable_parameters, save_masks
    from prunegraph.loader.models import build_model

    model = build_model("mlp", input_shape=(1, 8, 8), num_classes=10)
    first, weight = next(iter(prunable_parameters(model).items()))
    save_masks(tmp_path / "m.npz", {first: np.ones(tuple(weight.shape), bool)})
    argv = ["encode", "--model", "mlp", "--input-shape", "1,8,8", "--num-classes", "10"]
    line = _cli([*argv, "--masks", str(tmp_path / "m.npz"), "--out", str(tmp_path / "g")], capsys)
    assert "no entry for the prunable weights" in line


def test_cli_encode_refuses_a_file_that_is_not_masks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    argv = ["encode", "--model", "mlp", "--input-shape", "1,8,8", "--masks", str(junk)]
    line = _cli([*argv, "--out", str(tmp_path / "g")], capsys)
    assert "Cannot read masks" in line


# --------------------------------------------------------------------------- prune, analyze
def test_prune_refuses_a_dataset_shape_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["prune", "--model", "lenet5", "--pruner", "snip", "--sparsity", "0.5"]
    argv += ["--dataset", "digits", "--input-shape", "3,32,32", "--out", str(tmp_path / "m")]
    line = _cli(argv, capsys)
    assert "--input-shape 3,32,32 does not match dataset 'digits'" in line
    assert not list(tmp_path.iterdir())


def test_analyze_report_refuses_a_table_without_accuracies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "features.csv"
    table.write_text(
        "network_id,study,architecture,dataset,pruner,sparsity,seed,kcore\n"
        + "".join(f"{i:016x},s,mlp,digits,random,0.5,{i},1.0\n" for i in range(6))
    )
    line = _cli(
        ["analyze", "report", "--features", str(table), "--out", str(tmp_path / "r")], capsys
    )
    assert "acc_dense" in line and "acc_sparse" in line


# --------------------------------------------------------------------------- store access
def test_an_http_uri_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEO4J_URI", "http://127.0.0.1:7474")
    line = _cli(["query", "study_networks", "--param", "study=x"], capsys)
    assert "bolt://127.0.0.1:7687" in line


@pytest.mark.parametrize(
    "name", ["export_complete", "delete_network_nodes", "metric_write_network"]
)
def test_query_refuses_to_write(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = _cli(["query", name, "--param", "network_id=0123456789abcdef"], capsys)
    assert f"Query '{name}' writes to the store" in line


def test_query_refuses_a_malformed_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    line = _cli(["query", "study_networks", "--param", "not a pair"], capsys)
    assert "--param name=value" in line


# --------------------------------------------------------------------------- study import
class _Evil:
    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.sentinel}",))


def test_import_never_runs_a_malicious_checkpoint(tmp_path: Path) -> None:
    from prunegraph.study.importer import ImportEntry, load_entry

    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "x": _Evil(sentinel)}, path)
    entry = ImportEntry(path, "mlp", (1, 8, 8), 10, None, None, None, "user", 0, "user", 1)
    with pytest.raises(PrunegraphError) as info:
        load_entry(entry)
    assert "--trust-checkpoint" in _one_line(info)
    assert not sentinel.exists()


@pytest.mark.parametrize(
    ("manifest", "study", "phrase"),
    [
        (None, "ok", "does not exist"),
        ("checkpoint,input_shape\n", "ok", "lists no networks"),
        ("checkpoint,colour\nx.pt,red\n", "ok", "colour"),
        ("checkpoint,input_shape\nx.pt,4\n", "../../etc", "may not contain '/'"),
    ],
)
def test_import_refuses_bad_manifests(
    tmp_path: Path, manifest: str | None, study: str, phrase: str
) -> None:
    from prunegraph.study.importer import import_study

    path = tmp_path / "manifest.csv"
    if manifest is not None:
        path.write_text(textwrap.dedent(manifest))
    with pytest.raises(PrunegraphError) as info:
        import_study(path, study=study, analyses=False)
    assert phrase in _one_line(info)


def test_unexpected_errors_are_one_line_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import prunegraph.cli.query as query_cli

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("something nobody anticipated\nsecond line")

    monkeypatch.setattr(query_cli, "run_read_only", boom)
    monkeypatch.delenv("PRUNEGRAPH_DEBUG", raising=False)
    code = main(["query", "study_networks", "--param", "study=x"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1
    assert "unexpected error: RuntimeError: something nobody anticipated second line" in err
    trace = Path(err.split("traceback in ")[1].split(";")[0])
    assert "Traceback" in trace.read_text()
    trace.unlink()
