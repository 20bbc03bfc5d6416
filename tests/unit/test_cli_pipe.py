"""The CLI when its reader goes away (`prunegraph query --list | head -1`)."""

from __future__ import annotations

import io
import sys

from prunegraph.cli import main


class _ClosedPipe(io.TextIOBase):
    """A stdout whose reader has exited: every write raises, as on a closed pipe."""

    def __init__(self, backing) -> None:
        self.backing = backing

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        return self.backing.fileno()


def test_closed_pipe_exits_quietly(monkeypatch, tmp_path, capsys):
    with open(tmp_path / "stdout", "w") as backing:
        monkeypatch.setattr(sys, "stdout", _ClosedPipe(backing))
        assert main(["query", "--list"]) == 0
    assert "Traceback" not in capsys.readouterr().err
