"""Never lose the record: run.json merges runs, an empty selection warns and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prunegraph.config import ConnectionSettings
from prunegraph.study.config import parse_study
from prunegraph.study.run import NetworkOutcome, _write_run_log, run_study

STUDY = {
    "study": {"name": "safety-runlog"},
    "grid": {
        "models": ["mlp"],
        "datasets": ["digits"],
        "pruners": ["random", "snip"],
        "sparsities": [0.5, 0.9],
        "seeds": [0],
    },
}


class _NoStore:
    """A store nobody may use: an empty selection must stop before touching it."""

    settings = ConnectionSettings()

    def query(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the store was queried for an empty selection")

    run = query


def _outcome(nid: str, status: str, **kw: Any) -> NetworkOutcome:
    return NetworkOutcome(nid, f"net {nid}", status, **kw)


def test_run_log_merges_runs_and_keeps_history(tmp_path: Path) -> None:
    config = parse_study(STUDY, check_names=False)
    path = tmp_path / "run.json"
    first = {"a": _outcome("a", "failed", error="boom", traceback="Traceback ..."),
             "b": _outcome("b", "complete", seconds={"export": 2.0})}  # fmt: skip
    _write_run_log(path, config, first, {"seconds": {}}, run={"run_id": "r1", "where": {}})
    # a second run over another slice: 'c' computed, 'b' only skipped
    second = {"c": _outcome("c", "complete"), "b": _outcome("b", "skipped")}
    _write_run_log(path, config, second, {"in_progress": True}, run={"run_id": "r2"})
    _write_run_log(path, config, second, {"seconds": {}}, run={"run_id": "r2"})
    log = json.loads(path.read_text())
    nets = {n["network_id"]: n for n in log["networks"]}
    assert set(nets) == {"a", "b", "c"}
    assert nets["a"]["traceback"] == "Traceback ..."  # the earlier failure is still there
    assert nets["b"]["status"] == "complete" and nets["b"]["seconds"] == {"export": 2.0}
    assert [r["run_id"] for r in log["runs"]] == ["r1", "r2"]  # r2 updated in place
    assert log["runs"][1]["counts"] == {"complete": 1, "skipped": 1}
    assert "in_progress" not in log
    # a retried failure replaces the failed record
    _write_run_log(path, config, {"a": _outcome("a", "complete")}, {}, run={"run_id": "r3"})
    assert {n["network_id"]: n["status"] for n in json.loads(path.read_text())["networks"]}[
        "a"
    ] == "complete"


def test_an_unreadable_run_log_is_kept_aside(tmp_path: Path) -> None:
    config = parse_study(STUDY, check_names=False)
    path = tmp_path / "run.json"
    path.write_text("{ half written")
    _write_run_log(path, config, {"a": _outcome("a", "complete")}, {}, run={"run_id": "r"})
    assert len(json.loads(path.read_text())["networks"]) == 1
    (kept,) = tmp_path.glob("run.unreadable-*.json")
    assert kept.read_text() == "{ half written"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (
            {"pruner": "snipp"},
            "pruner=snipp matches no network (did you mean 'snip'?); pruner is one of random, snip",
        ),
        ({"sparsity": "0.95"}, "sparsity is one of 0.5, 0.9"),
        ({"pruner": "snip", "sparsity": "0.5", "seed": "0", "model": "mlp"}, None),
    ],
)
def test_an_empty_selection_warns_and_keeps_run_json(
    tmp_path: Path, where: dict[str, str], expected: str | None
) -> None:
    config = parse_study(STUDY, check_names=False)
    path = tmp_path / "run.json"
    path.write_text('{"networks": [{"network_id": "x", "status": "failed"}]}')
    before = path.read_bytes()
    said: list[str] = []
    if expected is None:  # a real selection: proceeds to the store
        with pytest.raises(AssertionError, match="store was queried"):
            run_study(config, out_dir=tmp_path, where=where, store=_NoStore(), log=said.append)  # type: ignore[arg-type]
        return
    summary = run_study(
        config,
        out_dir=tmp_path,
        where=where,
        store=_NoStore(),
        log=said.append,  # type: ignore[arg-type]
    )
    assert summary.outcomes == [] and summary.warning is not None
    assert expected in summary.warning and "run.json is unchanged" in summary.warning
    assert said == [f"Warning: {summary.warning}"]
    assert path.read_bytes() == before
    assert f"Warning: {summary.warning}" in summary.format()


def test_the_cli_exits_non_zero_on_an_empty_selection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import prunegraph.study.run as run_module
    from prunegraph.cli import main

    study = tmp_path / "s.toml"
    study.write_text(
        '[study]\nname = "safety-runlog"\noutput = "' + str(tmp_path / "out") + '"\n'
        '[grid]\nmodels = ["mlp"]\ndatasets = ["digits"]\npruners = ["random"]\n'
        "sparsities = [0.5]\nseeds = [0]\n"
    )
    monkeypatch.setattr(run_module, "route_driver_log", lambda path: path)

    class _Connect:
        @staticmethod
        def connect() -> _NoStore:
            store = _NoStore()
            store.close = lambda: None  # type: ignore[attr-defined]
            return store

    monkeypatch.setattr("prunegraph.queries.store.Store", _Connect)
    code = main(["study", "run", str(study), "--where", "pruner=rnadom", "--quiet"])
    out = capsys.readouterr()
    assert code == 1
    assert "did you mean 'random'" in out.out + out.err
