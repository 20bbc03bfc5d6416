"""Killing a study run midway and re-running it completes the study with no duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from _study_helpers import EXAMPLES

from prunegraph.study import expand, load_study
from prunegraph.study.run import pruner_applies, run_study


def test_killed_run_resumes_without_duplicates(store, tmp_path: Path) -> None:
    from prunegraph.queries.data_model import delete_study

    name = f"t{uuid.uuid4().hex[:10]}-resume"
    text = (EXAMPLES / "ci-tiny.toml").read_text().replace('name = "ci-tiny"', f'name = "{name}"')
    study_file = tmp_path / "study.toml"
    study_file.write_text(text)
    out = tmp_path / "out"
    config = load_study(study_file)
    # LeNet-5 only (12 networks, including the one stored at level 'full')
    specs = [s for s in expand(config, applies=pruner_applies) if s.model == "lenet5"]
    cmd = [
        sys.executable,
        "-m",
        "prunegraph.cli",
        "study",
        "run",
        str(study_file),
        "--out",
        str(out),
        "--workers",
        "1",
        "--no-analysis",
        "--quiet",
        "--where",
        "model=lenet5",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 600
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            log = out / "run.json"
            if log.is_file():
                try:
                    networks = json.loads(log.read_text())["networks"]
                except (ValueError, KeyError):
                    networks = []
                done = sum(n["status"] == "complete" for n in networks)
                if done >= 1:
                    break
            time.sleep(0.2)
        assert proc.poll() is None, "the run finished before it could be killed: " + (
            proc.stdout.read().decode() if proc.stdout else ""
        )
        assert done >= 1, "no network completed within the deadline"
        os.killpg(proc.pid, signal.SIGKILL)  # no cleanup: as hard as a crash
        proc.wait(timeout=60)

        killed_state = store.run(
            "MATCH (n:Network {study: $study}) RETURN n.network_id AS id, n.status AS status",
            {"study": name},
            write=False,
        )
        assert 1 <= len(killed_state) < len(specs)

        summary = run_study(
            config,
            out_dir=out,
            store=store,
            where={"model": "lenet5"},
            analyses=False,
            progress=False,
            workers=1,
        )
        assert summary.count("failed") == 0, summary.format()
        assert summary.count("skipped") >= 1
        assert summary.count("skipped") + summary.count("complete") == len(specs)
        rows = store.run(
            "MATCH (n:Network {study: $study}) RETURN n.network_id AS id, n.status AS status, "
            "n.metric_engines AS engines",
            {"study": name},
            write=False,
        )
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)), "duplicate networks after resume"
        assert sorted(ids) == sorted(s.network_id for s in specs)
        assert all(r["status"] == "complete" and r["engines"] for r in rows)
        study_nodes = store.run(
            "MATCH (s:Study {name: $study}) RETURN count(s) AS c", {"study": name}, write=False
        )
        assert study_nodes[0]["c"] == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        delete_study(store, name)
