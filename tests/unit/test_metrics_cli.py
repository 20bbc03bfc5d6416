"""``prunegraph metrics`` argument validation (no database needed: it fails before connecting)."""

from __future__ import annotations

import pytest

from prunegraph.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["metrics", "--network", "xyz"], "16 lowercase hex"),
        (["metrics", "--missing", "kcor"], "Did you mean 'kcore'"),
        (["metrics", "--network", "0123456789abcdef", "--metrics", "motif5"], "Unknown metric"),
        (["metrics", "--network", "0123456789abcdef", "--budget", "0"], "--budget"),
    ],
)
def test_bad_arguments_print_one_line(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_one_target_is_required(capsys):
    with pytest.raises(SystemExit):
        main(["metrics"])
    assert "one of the arguments" in capsys.readouterr().err
